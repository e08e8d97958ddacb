"""Curve data (values, derivatives, proven slope band, zero crossings, extrema) and the plots
:func:`plot` and :func:`compare` drawn from it."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Union

import mpmath
import numpy as np
import sympy as sp

from ..entry import Entry
from ..mpeval import mp_function
from ..npeval import np_evaluate
from .figure import COLORS, GRID_POINTS, Target, new_axes, robust_ylim, style
from .resolve import Resolved, default_range, num, require_elementwise, resolve


# -- curve data ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Feature:
    """A point of interest on the curve: a zero crossing or a local extremum of f."""

    kind: str  # "zero", "minimum" or "maximum"
    x: float
    y: float


@dataclass(frozen=True)
class SlopeBand:
    r"""Outer bounds :math:`[\alpha, \beta] \supseteq [\inf f', \sup f']` with their method."""

    low: float
    high: float
    method: str
    detail: str = ""

    @property
    def label(self) -> str:
        return f"f′ ∈ [{_fmt_bound(self.low)}, {_fmt_bound(self.high)}] ({self.method})"


def _fmt_bound(v: float) -> str:
    if math.isinf(v):
        return "∞" if v > 0 else "−∞"
    return f"{v:.6g}".replace("-", "−")


@dataclass(frozen=True)
class CurveData:
    """Sampled values and derivatives of an elementwise function with its marked features.

    ``values[k]`` is the k-th derivative (k = 0 is f) in float64 on ``x``; ``features`` lists
    the zero crossings and extrema (refined at 30 digits); ``slope_band`` is the proven band
    (None when not requested or not available, with the reason in ``band_note``).
    """

    label: str
    entry_id: str
    variant: str | None
    params: dict[str, float]
    x: np.ndarray
    values: dict[int, np.ndarray]
    expressions: dict[int, sp.Expr]
    features: tuple[Feature, ...]
    slope_band: SlopeBand | None
    band_note: str = ""

    @property
    def zeros(self) -> list[float]:
        return [f.x for f in self.features if f.kind == "zero"]

    @property
    def extrema(self) -> list[Feature]:
        return [f for f in self.features if f.kind != "zero"]


def _bisect(func: Callable, a: float, b: float, fa_sign: float) -> float:
    """Root of ``func`` in [a, b] (sign change) by bisection to float64 resolution."""
    lo, hi = mpmath.mpf(a), mpmath.mpf(b)
    for _ in range(200):
        mid = (lo + hi) / 2
        if float(mid) in (float(lo), float(hi)):
            break
        value = func(mid)
        if mpmath.isnan(value):
            return float(mid)
        s = mpmath.sign(value)
        if s == 0:
            return float(mid)
        if s == fa_sign:
            lo = mid
        else:
            hi = mid
    return float((lo + hi) / 2)


def _sign_changes(x: np.ndarray, y: np.ndarray, func: Callable) -> list[float]:
    """Points where ``y`` changes sign strictly (refined with ``func`` at high precision)."""
    s = np.sign(y)
    roots: list[float] = []
    finite = np.isfinite(y)
    for i in range(len(x) - 1):
        if not (finite[i] and finite[i + 1]):
            continue
        if s[i] * s[i + 1] < 0:
            roots.append(_bisect(func, float(x[i]), float(x[i + 1]), float(s[i])))
        elif s[i + 1] == 0 and i + 2 < len(x) and finite[i + 2] and s[i] * s[i + 2] < 0:
            roots.append(float(x[i + 1]))
    return roots


def _features(res: Resolved, x: np.ndarray, f: np.ndarray, df: np.ndarray, f_expr: sp.Expr, df_expr: sp.Expr) -> tuple[Feature, ...]:
    sym = res.entry.symbol
    f_mp = mp_function(f_expr, sym, 30)
    df_mp = mp_function(df_expr, sym, 30)
    out: list[Feature] = []
    for z in _sign_changes(x, f, f_mp):
        out.append(Feature("zero", z, 0.0))
    s = np.sign(df)
    for r in _sign_changes(x, df, df_mp):
        i = int(np.searchsorted(x, r))
        left = s[max(i - 1, 0)] if s[max(i - 1, 0)] != 0 else s[max(i - 2, 0)]
        kind = "maximum" if left > 0 else "minimum"
        out.append(Feature(kind, r, float(f_mp(r))))
    return tuple(sorted(out, key=lambda ft: (ft.x, ft.kind)))


def _band(res: Resolved) -> tuple[SlopeBand | None, str]:
    try:
        props = res.entry.properties(res.variant)
        fact = props["slope_bounds"]
    except Exception as exc:  # properties can fail for formulas the provers cannot handle
        return None, f"slope bounds unavailable: {exc}"
    low, high = fact.value
    return SlopeBand(float(low), float(high), fact.method, fact.detail), ""


def curve(
    target: Target,
    *,
    orders: Iterable[int] = (0, 1),
    params: Mapping[str, float] | None = None,
    variant: str | None = None,
    x_range: tuple[float, float] | None = None,
    points: int = GRID_POINTS,
    slope_band: bool = True,
    features: bool = True,
) -> CurveData:
    """Sample an elementwise function and its derivatives; find zeros, extrema and the band.

    Parameters
    ----------
    target : str, Entry or sympy.Expr
        Catalog name/alias, entry, or formula in ``x`` (see :func:`resolve`).
    orders : iterable of int
        Derivative orders to sample (0 = the function).
    params : mapping, optional
        Parameter values (validated against the entry's ranges).
    variant : str, optional
        A named variant of the entry.
    x_range : (float, float), optional
        Plot window; default [-5, 5] clipped to the entry's domain.
    points : int
        Grid size (uniform grid, endpoints included).
    slope_band : bool
        Look up (or prove) the slope bounds of f' with ``entry.properties()``.
    features : bool
        Find zero crossings and extrema.

    Returns
    -------
    CurveData
    """
    res = resolve(target, params, variant)
    require_elementwise(res)
    if points < 3:
        raise ValueError(f"points must be >= 3, got {points}")
    lo, hi = default_range(res.entry, x_range)
    x = np.linspace(lo, hi, int(points))
    sym = res.entry.symbol
    wanted = sorted(set(int(k) for k in orders) | ({0, 1} if features else set()))
    exprs: dict[int, sp.Expr] = {}
    values: dict[int, np.ndarray] = {}
    for k in wanted:
        if k < 0:
            raise ValueError(f"derivative order must be >= 0, got {k}")
        exprs[k] = (
            res.entry.numeric_expr(res.variant) if k == 0 else res.entry.derivative(k, variant=res.variant, numeric=True)
        )
        values[k] = np_evaluate(exprs[k], {sym: x})
    feats = _features(res, x, values[0], values[1], exprs[0], exprs[1]) if features else ()
    band, note = _band(res) if slope_band else (None, "")
    keep = sorted(set(int(k) for k in orders))
    return CurveData(
        label=res.label,
        entry_id=res.entry.id,
        variant=res.variant,
        params=res.params,
        x=x,
        values={k: values[k] for k in keep},
        expressions={k: exprs[k] for k in keep},
        features=feats,
        slope_band=band,
        band_note=note,
    )


# -- plot -----------------------------------------------------------------------------------

_DERIV_LABEL = {0: "f(x)", 1: "f′(x)", 2: "f″(x)", 3: "f‴(x)"}
_DERIV_STYLE = {0: dict(lw=2.0, ls="-"), 1: dict(lw=1.5, ls="--"), 2: dict(lw=1.2, ls=":"), 3: dict(lw=1.0, ls="-.")}


def plot(
    entry_or_formula: Target,
    derivative: bool = True,
    second: bool = False,
    slope_band: bool = True,
    params: Mapping[str, float] | None = None,
    variant: str | None = None,
    x_range: tuple[float, float] | None = None,
    ax=None,
    *,
    features: bool = True,
    points: int = GRID_POINTS,
):
    r"""Draw f, f′ (and f″), the proven slope band and the zero crossings and extrema.

    Parameters
    ----------
    entry_or_formula : str, Entry or sympy.Expr
        A catalog name or alias (``"gelu"``), an entry, or a formula in ``x`` parsed by the
        allow-list parser (``"x*tanh(softplus(x))"``).
    derivative : bool
        Draw :math:`f'` (dashed).
    second : bool
        Draw :math:`f''` (dotted).
    slope_band : bool
        Shade the proven band :math:`\alpha \le f' \le \beta` from ``entry.properties()``,
        labelled with its method (``symbolic``, ``interval`` or ``estimated``). Drawn with the
        derivative only, since it bounds :math:`f'`; for a formula it is proven on the spot.
    params : mapping, optional
        Parameter values; the band is proven for these values.
    variant : str, optional
        A named variant (``"tanh"`` for GELU).
    x_range : (float, float), optional
        Window; default [-5, 5] clipped to the domain.
    ax : matplotlib.axes.Axes, optional
        Draw into these axes; otherwise a new figure is made (with :data:`STYLE`).
    features : bool
        Mark zero crossings (circles) and local minima/maxima (triangles).
    points : int
        Grid size.

    Returns
    -------
    matplotlib.axes.Axes
        The axes. Each drawn artist has a ``gid`` (``"f0"``, ``"f1"``, ``"f2"``,
        ``"slope_band"``, ``"zeros"``, ``"minima"``, ``"maxima"``) and the sampled data is
        attached as ``ax.funclib_curve`` (:class:`CurveData`).
    """
    orders = [0] + ([1] if derivative else []) + ([2] if second else [])
    data = curve(
        entry_or_formula, orders=orders, params=params, variant=variant, x_range=x_range, points=points,
        slope_band=slope_band and derivative, features=features,
    )
    if ax is None:
        _, (ax,) = new_axes()
    with style():
        for k in orders:
            ax.plot(data.x, data.values[k], color=COLORS[k], label=_DERIV_LABEL[k], gid=f"f{k}", **_DERIV_STYLE[k])
        extra: list[float] = []
        if data.slope_band is not None:
            band = data.slope_band
            ylo, yhi = ax.get_ylim()
            lo = band.low if math.isfinite(band.low) else min(ylo, -1e300)
            hi = band.high if math.isfinite(band.high) else max(yhi, 1e300)
            ax.axhspan(lo, hi, color=COLORS[1], alpha=0.10, lw=0, label=f"proven {band.label}", gid="slope_band")
            for v in (band.low, band.high):
                if math.isfinite(v):
                    ax.axhline(v, color=COLORS[1], lw=0.7, alpha=0.6)
                    extra.append(v)
        zeros = [f for f in data.features if f.kind == "zero"]
        if zeros:
            ax.plot([f.x for f in zeros], [f.y for f in zeros], ls="none", marker="o", ms=5, mfc="white",
                    mec=COLORS[6], mew=1.2, label="zero crossings", gid="zeros", zorder=5)
        for kind, marker in (("minimum", "v"), ("maximum", "^")):
            pts = [f for f in data.features if f.kind == kind]
            if pts:
                ax.plot([f.x for f in pts], [f.y for f in pts], ls="none", marker=marker, ms=6, color=COLORS[3],
                        label=f"local {kind} ({', '.join(f'x={p.x:.4g}' for p in pts[:3])})", gid=kind.replace("mum", "ma"),
                        zorder=5)
        ax.axhline(0, color="0.35", lw=0.6, zorder=0)
        ax.axvline(0, color="0.35", lw=0.6, zorder=0)
        ax.set_xlim(data.x[0], data.x[-1])
        robust_ylim(ax, [data.values[k] for k in orders], extra)
        ax.set_xlabel("x")
        ax.set_title(data.label)
        ax.legend(loc="best")
    ax.funclib_curve = data
    return ax


# -- compare --------------------------------------------------------------------------------

CurveSpec = Union[Target, tuple]


def _spec(item: CurveSpec) -> tuple[Target, str | None, dict[str, float]]:
    if isinstance(item, tuple):
        if not 1 <= len(item) <= 3:
            raise ValueError(f"a curve is NAME, (NAME, VARIANT) or (NAME, VARIANT, PARAMS), got {item!r}")
        target = item[0]
        variant = item[1] if len(item) > 1 else None
        params = dict(item[2]) if len(item) > 2 and item[2] else {}
        return target, variant, params
    return item, None, {}


def compare(
    targets: CurveSpec | Sequence[CurveSpec],
    *,
    sweep: Mapping[str, Sequence[float]] | None = None,
    params: Mapping[str, float] | None = None,
    derivative: bool = False,
    difference: bool = False,
    x_range: tuple[float, float] | None = None,
    points: int = GRID_POINTS,
    labels: Sequence[str] | None = None,
):
    r"""Several functions (or one function over a parameter sweep) on shared axes.

    Parameters
    ----------
    targets : curve or list of curves
        Each curve is a name/entry/formula, ``(name, variant)`` or ``(name, variant, params)``.
    sweep : {name: values}, optional
        With a single target: one curve per value of one parameter (``{"beta": [0.5, 1, 2]}``).
    params : mapping, optional
        Parameters applied to every curve (before the curve's own).
    derivative : bool
        Add a panel with the first derivatives.
    difference : bool
        Add a panel with :math:`f_k - f_0` for every curve after the first (e.g. the tanh
        approximation of GELU minus the exact GELU).
    x_range, points
        As in :func:`plot`.
    labels : list of str, optional
        Legend labels (default: names with variant and parameters).

    Returns
    -------
    matplotlib.figure.Figure
        Panels in order: values, derivatives (if asked), differences (if asked). Lines carry
        ``gid`` ``"f0:i"``, ``"f1:i"``, ``"diff:i"`` for curve ``i``; the sampled curves are
        ``fig.funclib_curves`` (list of :class:`CurveData`).
    """
    items = [targets] if isinstance(targets, (str, Entry, sp.Expr, tuple)) else list(targets)
    specs = [_spec(t) for t in items]
    if sweep:
        if len(specs) != 1 or len(sweep) != 1:
            raise ValueError("sweep takes exactly one target and one parameter")
        (name, values), = sweep.items()
        target, variant, own = specs[0]
        specs = [(target, variant, {**own, name: float(v)}) for v in values]
    if not specs:
        raise ValueError("compare() needs at least one curve")
    if difference and len(specs) < 2:
        raise ValueError("difference=True needs at least two curves")
    orders = [0, 1] if derivative else [0]
    curves = [
        curve(t, orders=orders, params={**(params or {}), **p}, variant=v, x_range=x_range, points=points,
              slope_band=False, features=False)
        for t, v, p in specs
    ]
    if not all(np.array_equal(c.x, curves[0].x) for c in curves):
        raise ValueError("curves have different x windows (different domains); pass x_range")
    if labels is not None and len(labels) != len(curves):
        raise ValueError(f"{len(labels)} labels for {len(curves)} curves")
    names = list(labels) if labels is not None else _short_labels(curves, sweep)
    panels = 1 + int(derivative) + int(difference)
    ratios = [3] + [2] * (panels - 1)
    fig, axes = new_axes(panels, height_ratios=ratios, figsize=(6.4, 3.2 + 1.6 * (panels - 1)))
    with style():
        ax = axes[0]
        for i, (c, name) in enumerate(zip(curves, names)):
            ax.plot(c.x, c.values[0], color=COLORS[i % len(COLORS)], lw=1.8, label=name, gid=f"f0:{i}")
        ax.set_ylabel("f(x)")
        panel = 1
        if derivative:
            dax = axes[panel]
            panel += 1
            for i, (c, name) in enumerate(zip(curves, names)):
                dax.plot(c.x, c.values[1], color=COLORS[i % len(COLORS)], lw=1.4, ls="--", label=name, gid=f"f1:{i}")
            dax.set_ylabel("f′(x)")
        if difference:
            fax = axes[panel]
            for i, (c, name) in enumerate(zip(curves[1:], names[1:]), start=1):
                fax.plot(c.x, c.values[0] - curves[0].values[0], color=COLORS[i % len(COLORS)], lw=1.4,
                         label=f"{name} − {names[0]}", gid=f"diff:{i}")
            fax.set_ylabel("difference")
            fax.ticklabel_format(axis="y", style="sci", scilimits=(-3, 3))
        for a in axes:
            a.axhline(0, color="0.35", lw=0.6, zorder=0)
            a.set_xlim(curves[0].x[0], curves[0].x[-1])
            a.legend(loc="best")
        for a in axes[:-1]:
            a.tick_params(labelbottom=False)
        axes[-1].set_xlabel("x")
        fig.align_ylabels(axes)
    fig.funclib_curves = curves
    return fig


def _short_labels(curves: Sequence[CurveData], sweep) -> list[str]:
    if sweep:
        (name, _), = sweep.items()
        base = curves[0].label.split(" (")[0]
        return [f"{base}, {name}={num(c.params[name])}" for c in curves]
    return [c.label for c in curves]
