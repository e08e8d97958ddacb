r"""Plots of catalog functions: values, derivatives, proven slope bands, simplex maps, ULP errors.

Everything drawn here is computed from the catalog entry (or from a formula parsed by the
allow-list parser), never typed in:

* values in float64 with :func:`funclib.npeval.np_evaluate` of ``entry.numeric_expr(...)``;
* derivatives from ``entry.derivative(order, numeric=True)`` (stable symbolic forms);
* the slope band :math:`[\alpha, \beta] \supseteq [\inf f', \sup f']` from
  ``entry.properties()``, labelled with the method that proved it;
* zero crossings and extrema: strict sign changes of :math:`f` and :math:`f'` on a fine grid,
  each refined by bisection with :mod:`mpmath` at 30 digits (a sign change of :math:`f'` at a
  kink converges to the kink).

The functions return matplotlib objects and never call ``show``; they work under any backend,
including ``Agg``. :data:`STYLE` fixes fonts, sizes and colours, and :func:`save` writes files
whose bytes depend only on the picture (fixed SVG hash salt, no dates or versions in the
metadata).

Examples
--------
>>> import funclib.plotting as fp
>>> ax = fp.plot("gelu", second=True)                     # doctest: +SKIP
>>> fp.save(ax.figure, "gelu.svg")                        # doctest: +SKIP
>>> fig = fp.compare(["gelu", ("gelu", "tanh")], difference=True)   # doctest: +SKIP
>>> fig = fp.compare("silu", sweep={"beta": [0.5, 1, 2]})  # doctest: +SKIP
>>> fig = fp.simplex_map("softmax", n=3)                  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Union

import mpmath
import numpy as np
import sympy as sp

from . import calculus, registry
from .entry import Entry, Param
from .formula import make_symbol, parse_formula, to_formula
from .mpeval import mp_function
from .npeval import np_evaluate
from .ranges import Interval

__all__ = [
    "STYLE",
    "COLORS",
    "PLOT_VERSION",
    "CurveData",
    "Feature",
    "SlopeBand",
    "SimplexData",
    "ErrorData",
    "resolve",
    "curve",
    "plot",
    "compare",
    "simplex_data",
    "simplex_map",
    "SurfaceData",
    "surface_data",
    "surface",
    "ulp_error",
    "error_data",
    "error_plot",
    "error_points",
    "save",
    "close",
    "style",
]

#: Bump when the pictures change, so that cached images (the docs) are redrawn.
PLOT_VERSION = "1"

#: Colour cycle (colour-blind safe, Okabe–Ito); the first four have fixed roles in :func:`plot`.
COLORS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442")

#: Fixed rc parameters applied while drawing and saving (deterministic, backend-independent).
STYLE: dict[str, Any] = {
    "figure.figsize": (6.4, 4.0),
    "figure.dpi": 100,
    "savefig.dpi": 100,
    "font.family": "DejaVu Sans",
    "font.size": 9.5,
    "axes.titlesize": 10.5,
    "axes.labelsize": 9.5,
    "legend.fontsize": 8.5,
    "legend.framealpha": 0.9,
    "axes.grid": True,
    "grid.alpha": 0.25,
    "grid.linewidth": 0.6,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "lines.solid_capstyle": "round",
    "svg.hashsalt": "funclib",
    "svg.fonttype": "path",
    "path.simplify": True,
    "image.interpolation": "nearest",
    "axes.prop_cycle": "cycler('color', [" + ", ".join(repr(c) for c in COLORS) + "])",
}

#: Default x-range for functions on the real line.
DEFAULT_RANGE = (-5.0, 5.0)
GRID_POINTS = 1201

Target = Union[str, Entry, sp.Expr]


@contextmanager
def style():
    """Context manager applying :data:`STYLE` (used by every function of this module)."""
    import matplotlib

    with matplotlib.rc_context(STYLE):
        yield


def _new_axes(nrows: int = 1, *, height_ratios: Sequence[float] | None = None, figsize=None, ncols: int = 1):
    import matplotlib.pyplot as plt

    with style():
        fig = plt.figure(figsize=figsize or STYLE["figure.figsize"], layout="constrained")
        kw = {"height_ratios": height_ratios} if height_ratios else {}
        grid = fig.add_gridspec(nrows, ncols, **kw)
        axes = [fig.add_subplot(grid[r, c]) for r in range(nrows) for c in range(ncols)]
    return fig, axes


# -- targets ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Resolved:
    """An elementwise target made concrete: an entry (real or synthesized for a formula)."""

    entry: Entry
    label: str
    variant: str | None
    params: dict[str, float]
    from_formula: bool


def _replace_defaults(entry: Entry, params: Mapping[str, float], variant: str | None) -> Entry:
    """``entry`` with parameter defaults (entry's and ``variant``'s) set to ``params``.

    Everything downstream (values, derivatives, properties) is then evaluated "at defaults",
    so the proven slope band always belongs to the parameters that are drawn.
    """
    if not params:
        return entry
    entry.param_values(params, variant)  # validates names and ranges (ParameterError)
    new_params = {
        n: dataclasses.replace(p, default=float(params[n])) if n in params else p for n, p in entry.params.items()
    }
    variants = dict(entry.variants)
    if variant is not None:
        v = entry.variant(variant)
        vparams = {
            n: dataclasses.replace(p, default=float(params[n])) if n in params else p for n, p in v.params.items()
        }
        variants[variant] = dataclasses.replace(v, params=vparams)
    return dataclasses.replace(entry, params=new_params, variants=variants)


def _formula_entry(text: str, params: Mapping[str, float], variable: str) -> Entry:
    expr = parse_formula(text, (variable,), list(params), field="plot formula")
    return Entry(
        id="formula",
        name=to_formula(expr),
        kind="elementwise",
        family="formula",
        summary="a formula given by the user",
        formula=text,
        expr=expr,
        references=(),
        source="<formula>",
        variables=(variable,),
        params={n: Param(n, float(v), Interval.real_line()) for n, v in params.items()},
    )


def resolve(
    target: Target,
    params: Mapping[str, float] | None = None,
    variant: str | None = None,
    *,
    variable: str = "x",
) -> _Resolved:
    """Turn a catalog name, an :class:`~funclib.entry.Entry` or a formula into a plot target.

    A string is looked up in the catalog first (ids and aliases); if it names no entry it is
    parsed as a formula in ``variable`` with the names in ``params`` as parameters.

    Raises
    ------
    funclib.FormulaError
        If a string is neither a catalog name nor a valid formula.
    funclib.ParameterError
        For unknown parameters or values outside their range.
    """
    params = {k: float(v) for k, v in (params or {}).items()}
    if isinstance(target, Entry):
        entry, from_formula = target, False
    elif isinstance(target, sp.Expr):
        entry, from_formula = _formula_entry(to_formula(target), params, variable), True
    elif isinstance(target, str):
        try:
            entry, from_formula = registry.get(target), False
        except registry.UnknownEntryError as missing:
            try:
                entry, from_formula = _formula_entry(target, params, variable), True
            except Exception as exc:  # neither a name nor a formula: say both
                raise type(exc)(f"{missing}; as a formula: {exc}") from None
    else:
        raise TypeError(f"plot target must be a catalog name, an Entry or a formula, not {type(target).__name__}")
    if variant is not None:
        entry.variant(variant)  # KeyError naming the entry and its variants
    entry = _replace_defaults(entry, params, variant) if not from_formula else entry
    label = entry.name if not from_formula else f"f(x) = {entry.name}"
    if variant is not None:
        label += f" [{variant}]"
    if params and not from_formula:
        label += " (" + ", ".join(f"{k}={_num(v)}" for k, v in params.items()) + ")"
    return _Resolved(entry, label, variant, params, from_formula)


def _num(v: float) -> str:
    return f"{v:g}"


def _elementwise(res: _Resolved) -> None:
    if res.entry.kind != "elementwise" or len(res.entry.variables) != 1:
        hint = " (use funclib.plotting.simplex_map for row-wise maps)" if res.entry.kind == "rowwise" else ""
        raise TypeError(
            f"entry {res.entry.id!r} is {res.entry.kind}; plot() draws elementwise functions of one variable{hint}"
        )


def _default_range(entry: Entry, x_range: tuple[float, float] | None) -> tuple[float, float]:
    lo, hi = x_range if x_range is not None else DEFAULT_RANGE
    lo, hi = float(lo), float(hi)
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise ValueError(f"x_range must be two finite numbers lo < hi, got {x_range!r}")
    dom = entry.domain
    lo, hi = max(lo, dom.lo), min(hi, dom.hi)  # never sample outside the domain
    if not lo < hi:
        if x_range is not None:
            raise ValueError(f"x_range {x_range!r} lies outside the domain {dom} of {entry.id!r}")
        lo, hi = (dom.lo, dom.lo + 10.0) if math.isfinite(dom.lo) else (dom.hi - 10.0, dom.hi)
    width = hi - lo
    if lo == dom.lo and not dom.lo_closed:
        lo += 1e-6 * width
    if hi == dom.hi and not dom.hi_closed:
        hi -= 1e-6 * width
    return lo, hi


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


def _features(res: _Resolved, x: np.ndarray, f: np.ndarray, df: np.ndarray, f_expr: sp.Expr, df_expr: sp.Expr) -> tuple[Feature, ...]:
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


def _band(res: _Resolved) -> tuple[SlopeBand | None, str]:
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
    _elementwise(res)
    if points < 3:
        raise ValueError(f"points must be >= 3, got {points}")
    lo, hi = _default_range(res.entry, x_range)
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


def _robust_ylim(ax, arrays: Sequence[np.ndarray], extra: Sequence[float] = ()) -> None:
    finite = np.concatenate([a[np.isfinite(a)] for a in arrays] + [np.asarray([v for v in extra if math.isfinite(v)])])
    if finite.size == 0:
        return
    lo, hi = float(finite.min()), float(finite.max())
    pad = 0.06 * (hi - lo) if hi > lo else 0.5
    ax.set_ylim(lo - pad, hi + pad)


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
        _, (ax,) = _new_axes()
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
        _robust_ylim(ax, [data.values[k] for k in orders], extra)
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
    fig, axes = _new_axes(panels, height_ratios=ratios, figsize=(6.4, 3.2 + 1.6 * (panels - 1)))
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
        return [f"{base}, {name}={_num(c.params[name])}" for c in curves]
    return [c.label for c in curves]


# -- row-wise maps on simplices ------------------------------------------------------------


@dataclass(frozen=True)
class SimplexData:
    """Outputs of a row-wise map on a grid of rows of length 2 or 3.

    For ``n = 2`` the grid is the square ``inputs[..., 0], inputs[..., 1]``; for ``n = 3`` it
    is the plane :math:`x_0 + x_1 + x_2 = 0` with coordinates ``plane`` (u, v) and rows
    ``x = u a + v b`` for the orthonormal ``a = (1, -1, 0)/\\sqrt 2``, ``b = (1, 1, -2)/\\sqrt 6``.
    ``outputs[..., i]`` is component i. ``probability`` is True when every output row is a
    probability vector (non-negative, summing to 1 within 1e-9).
    """

    entry_id: str
    n: int
    extent: float
    plane: np.ndarray
    inputs: np.ndarray
    outputs: np.ndarray
    probability: bool


_PLANE = np.array([[1.0, -1.0, 0.0], [1.0, 1.0, -2.0]]) / np.array([[math.sqrt(2.0)], [math.sqrt(6.0)]])


def simplex_data(
    target: str | Entry,
    n: int = 3,
    *,
    params: Mapping[str, float] | None = None,
    extent: float = 4.0,
    resolution: int = 121,
) -> SimplexData:
    """Evaluate a row-wise entry on a grid of rows of length ``n`` (2 or 3) in float64.

    The formula is expanded for the concrete length with
    :func:`funclib.calculus.expand_rowwise` and each output is evaluated by
    :func:`funclib.npeval.np_evaluate`.

    Raises
    ------
    TypeError
        If the entry is not row-wise.
    funclib.npeval.NpEvalError
        If the NumPy evaluator cannot evaluate the expanded formula.
    """
    entry = target if isinstance(target, Entry) else registry.get(target)
    if entry.kind != "rowwise":
        raise TypeError(f"entry {entry.id!r} is {entry.kind}; simplex maps are for row-wise entries")
    if n not in (2, 3):
        raise ValueError(f"simplex maps take rows of length 2 or 3, got n={n!r}")
    if resolution < 3:
        raise ValueError(f"resolution must be >= 3, got {resolution}")
    xs, ys = calculus.expand_rowwise(entry.numeric_expr(params=params), n)
    t = np.linspace(-extent, extent, int(resolution))
    u, v = np.meshgrid(t, t)
    plane = np.stack([u, v], axis=-1)
    inputs = plane if n == 2 else plane @ _PLANE
    env = {xs[k]: inputs[..., k] for k in range(n)}
    outputs = np.stack([np_evaluate(y, env) for y in ys], axis=-1)
    finite = np.isfinite(outputs).all()
    probability = bool(finite and (outputs >= -1e-12).all() and np.allclose(outputs.sum(-1), 1.0, atol=1e-9, rtol=0))
    return SimplexData(entry.id, n, float(extent), plane, inputs, outputs, probability)


def _triangle(p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Barycentric (p0, p1, p2) → plane coordinates of the equilateral triangle."""
    corners = np.array([[0.0, 0.0], [1.0, 0.0], [0.5, math.sqrt(3.0) / 2]])
    xy = p @ corners
    return xy[..., 0], xy[..., 1]


def simplex_map(
    target: str | Entry,
    n: int = 3,
    *,
    params: Mapping[str, float] | None = None,
    extent: float = 4.0,
    resolution: int = 121,
):
    r"""Picture a row-wise map (softmax, sparsemax, ...) on rows of length 2 or 3.

    ``n = 2``: heat map of :math:`y_0(x_0, x_1)` over the square :math:`[-e, e]^2` (left)
    and :math:`y_0` along the diagonal direction :math:`x_0 - x_1` (right).

    ``n = 3``: inputs on the plane :math:`x_0+x_1+x_2 = 0` (every row is a shift of one
    there, for the shift-invariant maps); left, each input coloured by its output, read as
    RGB when the outputs are probability vectors (otherwise :math:`y_0` as a heat map);
    right, where the grid lands on the 2-simplex (sparse maps reach its faces and corners,
    softmax stays inside).

    Returns
    -------
    matplotlib.figure.Figure
        With ``fig.funclib_simplex`` (:class:`SimplexData`); images carry ``gid``
        ``"simplex_input"``, the landing points ``"simplex_image"``.
    """
    data = simplex_data(target, n, params=params, extent=extent, resolution=resolution)
    entry = target if isinstance(target, Entry) else registry.get(target)
    fig, (left, right) = _new_axes(1, ncols=2, figsize=(7.6, 3.6))
    e = data.extent
    with style():
        if n == 2:
            im = left.imshow(data.outputs[..., 0], origin="lower", extent=(-e, e, -e, e), cmap="viridis",
                             gid="simplex_input", aspect="equal")
            fig.colorbar(im, ax=left, fraction=0.046, pad=0.04, label="y₀")
            left.set_xlabel("x₀")
            left.set_ylabel("x₁")
            left.grid(False)
            diag = np.argmin(np.abs(data.plane[..., 1] + data.plane[..., 0]), axis=0)  # x1 = -x0
            cols = np.arange(data.plane.shape[1])
            d = data.plane[diag, cols, 0] - data.plane[diag, cols, 1]
            for k in range(2):
                right.plot(d, data.outputs[diag, cols, k], color=COLORS[k], lw=1.8, label=f"y{k}", gid=f"simplex_image:{k}")
            right.set_xlabel("x₀ − x₁ (on x₀ + x₁ = 0)")
            right.legend(loc="best")
        else:
            if data.probability:
                rgb = np.clip(data.outputs, 0.0, 1.0)
                left.imshow(rgb, origin="lower", extent=(-e, e, -e, e), gid="simplex_input", aspect="equal")
                left.set_title("colour = (y₀, y₁, y₂) as RGB", fontsize=9)
                px, py = _triangle(data.outputs.reshape(-1, 3))
                right.scatter(px, py, s=2, c=rgb.reshape(-1, 3), linewidths=0, gid="simplex_image", rasterized=True)
                tri = np.array([[0, 0], [1, 0], [0.5, math.sqrt(3) / 2], [0, 0]])
                right.plot(tri[:, 0], tri[:, 1], color="0.3", lw=0.8)
                for (cx, cy), name in zip(tri[:3], ("e₀", "e₁", "e₂")):
                    right.annotate(name, (cx, cy), textcoords="offset points", xytext=(0, -10 if cy == 0 else 4),
                                   ha="center", fontsize=8)
                right.set_aspect("equal")
                right.set_xlim(-0.08, 1.08)
                right.set_ylim(-0.12, 0.95)
                right.set_axis_off()
                right.set_title("outputs on the 2-simplex", fontsize=9)
            else:
                im = left.imshow(data.outputs[..., 0], origin="lower", extent=(-e, e, -e, e), cmap="viridis",
                                 gid="simplex_input", aspect="equal")
                fig.colorbar(im, ax=left, fraction=0.046, pad=0.04, label="y₀")
                right.hist(data.outputs[..., 0].ravel(), bins=40, color=COLORS[0], gid="simplex_image")
                right.set_xlabel("y₀ over the grid")
            left.set_xlabel("u  (x = u·(1,−1,0)/√2 + v·(1,1,−2)/√6)")
            left.set_ylabel("v")
            left.grid(False)
        fig.suptitle(f"{entry.name} on rows of length {n}")
    fig.funclib_simplex = data
    return fig


# -- functions of two variables (gates) ---------------------------------------------------


@dataclass(frozen=True)
class SurfaceData:
    """Values of a scalar function of two variables on a square grid (``grid[..., k]`` is variable k)."""

    entry_id: str
    variables: tuple[str, str]
    grid: np.ndarray
    values: np.ndarray


def surface_data(
    target: str | Entry,
    *,
    params: Mapping[str, float] | None = None,
    extent: float = 4.0,
    resolution: int = 121,
) -> SurfaceData:
    """Evaluate a scalar entry of two variables (a gate ``f(a, b)``) on ``[-extent, extent]^2``.

    Raises
    ------
    TypeError
        If the entry does not have exactly two variables and one scalar formula.
    """
    entry = target if isinstance(target, Entry) else registry.get(target)
    if len(entry.variables) != 2 or not isinstance(entry.expr, sp.Expr):
        raise TypeError(f"entry {entry.id!r} is not a scalar function of two variables")
    if resolution < 3:
        raise ValueError(f"resolution must be >= 3, got {resolution}")
    expr = entry.numeric_expr(params=params)
    t = np.linspace(-extent, extent, int(resolution))
    u, v = np.meshgrid(t, t)
    a, b = (make_symbol(n) for n in entry.variables)
    values = np_evaluate(expr, {a: u, b: v})
    return SurfaceData(entry.id, tuple(entry.variables), np.stack([u, v], axis=-1), values)


def surface(
    target: str | Entry,
    *,
    params: Mapping[str, float] | None = None,
    extent: float = 4.0,
    resolution: int = 121,
):
    """Heat map with contour lines of a gate ``f(a, b)`` (e.g. GLU ``a·σ(b)``).

    Returns
    -------
    matplotlib.figure.Figure
        With ``fig.funclib_surface`` (:class:`SurfaceData`); the image has ``gid`` ``"surface"``.
    """
    data = surface_data(target, params=params, extent=extent, resolution=resolution)
    entry = target if isinstance(target, Entry) else registry.get(target)
    fig, (ax,) = _new_axes(figsize=(5.2, 4.2))
    e = extent
    with style():
        im = ax.imshow(data.values, origin="lower", extent=(-e, e, -e, e), cmap="viridis", gid="surface",
                       aspect="equal")
        finite = data.values[np.isfinite(data.values)]
        if finite.size and finite.max() > finite.min():
            ax.contour(data.grid[..., 0], data.grid[..., 1], data.values, levels=9, colors="white",
                       linewidths=0.6, alpha=0.8)
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="f")
        ax.set_xlabel(data.variables[0])
        ax.set_ylabel(data.variables[1])
        ax.grid(False)
        ax.set_title(f"{entry.name}: f({', '.join(data.variables)})")
    fig.funclib_surface = data
    return fig


# -- ULP errors -----------------------------------------------------------------------------


def ulp_error(values: np.ndarray, reference: np.ndarray, dtype: str | np.dtype = "float64") -> np.ndarray:
    r"""Error of ``values`` in units in the last place of ``dtype`` at the reference value.

    :math:`|y - r| / \mathrm{ulp}(r)` with :math:`\mathrm{ulp}(r)` the spacing of ``dtype``
    at :math:`|r|` (``numpy.spacing``; the smallest subnormal spacing near 0). Both NaN, or
    equal infinities, count as 0; one NaN or a wrong infinity counts as ``inf``.
    """
    dt = np.dtype(dtype)
    y = np.asarray(values, dtype=np.float64)
    r = np.asarray(reference, dtype=np.float64)
    with np.errstate(all="ignore"):
        spacing = np.spacing(np.abs(r).astype(dt)).astype(np.float64)
        spacing = np.where(spacing > 0, spacing, np.finfo(dt).smallest_subnormal)
        err = np.abs(y - r) / spacing
    both_nan = np.isnan(y) & np.isnan(r)
    same_inf = np.isinf(y) & np.isinf(r) & (np.sign(y) == np.sign(r))
    err = np.where(both_nan | same_inf, 0.0, err)
    return np.where(np.isnan(err), np.inf, err)


@dataclass(frozen=True)
class ErrorData:
    """Per-point ULP errors of an implementation against the correctly rounded reference."""

    label: str
    implementation: str
    dtype: str
    order: int
    x: np.ndarray
    values: np.ndarray
    reference: np.ndarray
    ulp: np.ndarray
    tolerance: np.ndarray | None = None  # funclib.accuracy's B*max(1, kappa) where available

    @property
    def max_ulp(self) -> float:
        return float(np.max(self.ulp))

    @property
    def p99_ulp(self) -> float:
        return float(np.percentile(self.ulp, 99))


def error_points(domain: Interval = Interval.real_line(), count: int = 200, largest: float = 700.0) -> np.ndarray:
    """Points spread over linear and logarithmic scales: ±[1e-8, ``largest``] and [-4, 4], in the domain."""
    half = max(count // 4, 4)
    logs = np.logspace(-8, math.log10(largest), half)
    pts = np.concatenate([-logs, logs, np.linspace(-4, 4, 2 * half), [0.0]])
    pts = np.unique(pts)
    return np.asarray([p for p in pts if p in domain], dtype=np.float64)


def _implementation(res: _Resolved, implementation, dtype: str, order: int) -> tuple[str, Callable]:
    entry = res.entry
    if callable(implementation):
        return getattr(implementation, "__name__", "callable"), implementation
    if implementation in ("auto", "kernel"):
        kernel_factory = getattr(entry, "kernel", None)
        if kernel_factory is not None:
            kernel = kernel_factory(dtype=dtype, outputs=("value", "derivative"),
                                    **({"params": res.params} if res.params else {}))

            def run(x):
                out = kernel(np.asarray(x, dtype=dtype))
                return out[order] if isinstance(out, tuple) else out

            return f"funclib kernel ({dtype})", run
        if implementation == "kernel":
            raise RuntimeError("funclib kernels are not available (entry.kernel is missing in this installation)")
    if implementation in ("auto", "numpy"):
        if order > 2:
            raise ValueError("the NumPy evaluator path draws orders 0..2")
        expr = entry.numeric_expr(res.variant) if order == 0 else entry.derivative(order, variant=res.variant, numeric=True)

        def run(x):
            return np_evaluate(expr, {entry.symbol: np.asarray(x, dtype=np.float64)}).astype(dtype)

        return "NumPy formula evaluation (npeval)", run
    raise ValueError(f"implementation must be 'auto', 'kernel', 'numpy' or a callable, got {implementation!r}")


def error_data(
    target: Target,
    *,
    dtype: str = "float64",
    order: int = 0,
    implementation: str | Callable = "auto",
    params: Mapping[str, float] | None = None,
    variant: str | None = None,
    x: Sequence[float] | None = None,
) -> ErrorData:
    """ULP errors of an implementation of f (``order=0``) or f′ (``order=1``) at ``x``.

    ``implementation``: ``"kernel"`` (``entry.kernel(dtype=..., outputs=("value",
    "derivative"))`` of :mod:`funclib.kernels`), ``"numpy"`` (the float64 NumPy evaluation of
    the formula, :func:`funclib.npeval.np_evaluate`), ``"auto"`` (kernel when available) or a
    callable ``x -> y``. The reference is the correctly rounded float64 value
    (``entry.reference``); errors are measured in ULPs of ``dtype``.
    """
    res = resolve(target, params, variant)
    _elementwise(res)
    if order not in (0, 1, 2):
        raise ValueError(f"order must be 0, 1 or 2, got {order}")
    pts = np.asarray(x, dtype=np.float64) if x is not None else error_points(res.entry.domain)
    pts = pts.astype(dtype).astype(np.float64)  # inputs exactly representable in dtype
    name, run = _implementation(res, implementation, dtype, order)
    values = np.asarray(run(pts.astype(dtype)), dtype=np.float64)
    reference = res.entry.reference(pts, variant=res.variant, order=order)
    errors, tolerance = ulp_error(values, reference, dtype), None
    try:  # the accuracy harness's measure and tolerance, when it is installed
        from . import accuracy
    except ImportError:
        accuracy = None
    if accuracy is not None:
        errors = accuracy.ulp_error(values, reference, str(np.dtype(dtype)))
        sym = res.entry.symbol
        exprs = [res.entry.numeric_expr(res.variant) if order == 0 else
                 res.entry.derivative(order, variant=res.variant, numeric=True),
                 res.entry.derivative(order + 1, variant=res.variant, numeric=True)]
        f, fprime = (np_evaluate(e, {sym: pts}) for e in exprs)
        kappa = accuracy.condition_number(f, fprime, pts)
        tolerance = accuracy.TARGET_ULP[str(np.dtype(dtype))] * np.maximum(1.0, kappa)
    return ErrorData(res.label, name, str(np.dtype(dtype)), order, pts, values, reference, errors, tolerance)


def accuracy_floor(data: ErrorData) -> float:
    """The smallest tolerance drawn (B ULP where the function is well conditioned)."""
    return float(np.nanmin(data.tolerance)) if data.tolerance is not None else 0.0


def error_plot(
    target: Target,
    *,
    dtype: str = "float64",
    order: int = 0,
    implementation: str | Callable = "auto",
    params: Mapping[str, float] | None = None,
    variant: str | None = None,
    x: Sequence[float] | None = None,
    ax=None,
):
    """Plot ULP error against x (symmetric-log x axis); see :func:`error_data`.

    Returns
    -------
    matplotlib.axes.Axes
        With ``ax.funclib_errors`` (:class:`ErrorData`); the points carry ``gid`` ``"ulp"``.
    """
    data = error_data(target, dtype=dtype, order=order, implementation=implementation, params=params,
                      variant=variant, x=x)
    if ax is None:
        _, (ax,) = _new_axes()
    with style():
        finite = np.isfinite(data.ulp)
        shown = np.where(finite, data.ulp, np.nan)
        ax.plot(data.x, shown, ls="none", marker=".", ms=3, color=COLORS[0], gid="ulp",
                label=f"max {data.max_ulp:.3g} ULP, 99th percentile {data.p99_ulp:.3g}")
        if data.tolerance is not None:
            order_x = np.argsort(data.x)
            ax.plot(data.x[order_x], data.tolerance[order_x], color=COLORS[2], lw=1.0, gid="tolerance",
                    label="tolerance B·max(1, κ) (funclib.accuracy)")
            top = np.nanmax(np.where(finite, data.ulp, np.nan)) if finite.any() else 1.0
            if top <= 50:
                ax.set_ylim(-0.05 * max(top, 1.0), 1.15 * max(top, 1.0, accuracy_floor(data)))
        if not finite.all():
            bad = data.x[~finite]
            ax.plot(bad, np.zeros_like(bad), ls="none", marker="x", color=COLORS[1], gid="ulp_nonfinite",
                    label=f"{bad.size} points NaN/inf where the reference is finite")
        if finite.any() and np.nanmax(np.where(finite, data.ulp, np.nan)) > 50:
            ax.set_yscale("symlog", linthresh=1.0)  # errors spanning orders of magnitude
        ax.set_xscale("symlog", linthresh=1e-8, linscale=0.5)
        ticks = [t for t in (-1e2, -1.0, -1e-4, 0.0, 1e-4, 1.0, 1e2) if data.x.min() <= t <= data.x.max()]
        ax.set_xticks(ticks, [_tick(t) for t in ticks])
        ax.minorticks_off()
        ax.set_xlabel("x")
        ax.set_ylabel(f"error in {data.dtype} ULPs")
        what = "f" if order == 0 else "f′" if order == 1 else "f″"
        ax.set_title(f"{data.label}: {what}, {data.implementation}")
        ax.legend(loc="best")
    ax.funclib_errors = data
    return ax


def _tick(t: float) -> str:
    if t == 0:
        return "0"
    exp = int(round(math.log10(abs(t))))
    return ("−" if t < 0 else "") + ("1" if exp == 0 else f"10$^{{{exp}}}$")


# -- saving ---------------------------------------------------------------------------------

_METADATA = {
    "png": {"Software": None},
    "svg": {"Date": None, "Creator": None},
    "pdf": {"CreationDate": None, "ModDate": None, "Creator": None, "Producer": None},
}


def save(fig, path: str | Path, *, dpi: int | None = None) -> Path:
    """Write ``fig`` to ``path`` (``.png``, ``.svg`` or ``.pdf``) deterministically.

    The same figure gives the same bytes on every run: the SVG hash salt is fixed and the
    metadata carries no date, creator or library version.

    Raises
    ------
    ValueError
        For another file extension.
    """
    path = Path(path)
    fmt = path.suffix.lower().lstrip(".")
    if fmt not in _METADATA:
        raise ValueError(f"cannot write {path.name!r}: use a .png, .svg or .pdf file name")
    with style():
        fig.savefig(path, format=fmt, metadata=_METADATA[fmt], dpi=dpi or STYLE["savefig.dpi"], bbox_inches="tight",
                    pad_inches=0.08)
    return path


def close(fig) -> None:
    """Release a figure made by this module (pyplot keeps a reference until closed)."""
    import matplotlib.pyplot as plt

    plt.close(fig)
