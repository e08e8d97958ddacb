r"""Proven linear relaxations of elementwise functions, as bound propagation (CROWN) needs them.

For :math:`f: \mathbb{R} \to \mathbb{R}` and intervals :math:`[l, u]` (arrays of them),
:func:`relax` returns lines with

.. math:: a_L x + b_L \;\le\; f(x) \;\le\; a_U x + b_U \qquad (x \in [l, u]).

**The slopes are chosen, the intercepts are proven.**  Slopes come from a float heuristic
that is tight for every shape: with sample points :math:`(t_i, f(t_i))` on :math:`[l, u]`,
the upper line is the edge of the samples' *upper convex hull* above the midpoint
:math:`m = (l+u)/2` and the lower line the edge of the lower hull below it.  Among lines
above the samples, the upper one has the least area :math:`\int_l^u (a x + b - f)`, so it is the
secant on a convex piece, (nearly) the tangent at :math:`m` on a concave piece, the tightest
chord otherwise; for ReLU and hard-tanh it is the classic triangle relaxation (upper: the chord
from :math:`(l, f(l))` to :math:`(u, f(u))`; lower: slope 0 or 1, whichever side holds the
larger part of the interval, as CROWN's adaptive choice).  Other slopes may be given (α-CROWN
tunes both sides): :attr:`Relaxation.lower_slope_range` and :attr:`Relaxation.upper_slope_range`
are the ranges in which tight ones lie, and :meth:`Relaxation.lower_intercept_for` /
:meth:`Relaxation.upper_intercept_for` prove the intercept of any slope.

Whatever the slope :math:`a`, the intercept is :math:`b_L = \min_{[l,u]} (f(x) - a x)` (or the
max for :math:`b_U`), *proven*: the gap is enclosed with python-flint ``arb`` interval
arithmetic on a table of small cells (:mod:`funclib.relaxation.cells`) and the intercept is
moved outward by the enclosure and by a float rounding allowance.  So every returned bound
holds for all real :math:`x` in :math:`[l, u]`, not only at samples.

Intervals with an infinite end get constant bounds from the arb enclosure of :math:`f` over the
interval; where that is infinite on a needed side, or the function cannot be enclosed (outside
its domain, an unsupported special function), :class:`RelaxationError` names the function and
the interval.  Nothing is ever estimated.

References
----------
.. [1] H. Zhang, T.-W. Weng, P.-Y. Chen, C.-J. Hsieh, L. Daniel, "Efficient Neural Network
   Robustness Certification with General Activation Functions" (CROWN), NeurIPS 2018,
   arXiv:1811.00866.
.. [2] K. Xu et al., "Fast and Complete: Enabling Complete Neural Network Verification with
   Rapid and Massively Parallel Incomplete Verifiers" (α-CROWN), ICLR 2021, arXiv:2011.13824.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import sympy as sp
from flint import arb

from ..interval import Interval, IntervalDomainError, IntervalError
from .cells import ProvenCells, Window

if TYPE_CHECKING:  # pragma: no cover
    from ..entry import Entry

__all__ = ["Relaxation", "RelaxationError", "relax", "relax_entry", "relax_formula", "cells_for"]

_CHUNK = 4096  # rows per batch of the hull search (bounds its memory)
_CACHE_SIZE = 64


class RelaxationError(ValueError):
    """A relaxation that cannot be proven (or bad input); the message names the function."""


@dataclass(frozen=True)
class Relaxation:
    r"""Proven lines :math:`a_L x + b_L \le f(x) \le a_U x + b_U` on intervals :math:`[l, u]`.

    Every array has the broadcast shape of the ``l`` and ``u`` given.

    Attributes
    ----------
    name : str
        The function (entry id, ``entry:variant`` or the formula).
    l, u : ndarray
        The intervals.
    lower_slope, lower_intercept, upper_slope, upper_intercept : ndarray
        The lines (float64).
    lower_slope_range : (ndarray, ndarray)
        Slopes of the first and last edge of the lower convex hull of :math:`f` on
        :math:`[l, u]`: a lower line of maximal intercept-at-some-point has its slope here, so
        α-CROWN projects its tuned slopes onto this range.
    upper_slope_range : (ndarray, ndarray)
        The same for upper lines: slopes of the last and first edge of the upper concave hull
        (its least and greatest slope), where α-CROWN tunes the upper slopes.
    """

    name: str
    l: np.ndarray
    u: np.ndarray
    lower_slope: np.ndarray
    lower_intercept: np.ndarray
    upper_slope: np.ndarray
    upper_intercept: np.ndarray
    lower_slope_range: tuple[np.ndarray, np.ndarray]
    upper_slope_range: tuple[np.ndarray, np.ndarray]
    _window: Window | None = field(default=None, repr=False, compare=False)

    @property
    def shape(self) -> tuple[int, ...]:
        return self.l.shape

    def lower_at(self, x: np.ndarray) -> np.ndarray:
        """The lower line at ``x`` (broadcast against the intervals)."""
        return self.lower_slope * x + self.lower_intercept

    def upper_at(self, x: np.ndarray) -> np.ndarray:
        """The upper line at ``x``."""
        return self.upper_slope * x + self.upper_intercept

    def lower_intercept_for(self, slope: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        r"""Proven :math:`b(a) = \min_{[l,u]} (f(x) - a x)` for other lower slopes ``a``.

        ``slope`` has shape ``(..., *self.shape)``.  Returns ``(b, x*)`` where :math:`x^*` is
        the abscissa where the minimum is attained, so :math:`\partial b / \partial a = -x^*`
        (the gradient α-CROWN follows).  Every interval must be finite.
        """
        return self._intercept_for(slope, upper=False)

    def upper_intercept_for(self, slope: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        r"""Proven :math:`b(a) = \max_{[l,u]} (f(x) - a x)` for other upper slopes ``a``.

        As :meth:`lower_intercept_for`: returns ``(b, x*)`` with
        :math:`\partial b / \partial a = -x^*` (:math:`b` is convex in :math:`a`).
        """
        return self._intercept_for(slope, upper=True)

    def _intercept_for(self, slope: np.ndarray, upper: bool) -> tuple[np.ndarray, np.ndarray]:
        side = "upper" if upper else "lower"
        if self._window is None:
            raise RelaxationError(f"{self.name}: tunable slopes need finite intervals")
        s = np.asarray(slope, dtype=np.float64)
        if s.shape[s.ndim - len(self.shape):] != self.shape:
            raise RelaxationError(f"{self.name}: slopes of shape {s.shape} do not end with the interval shape {self.shape}")
        if not np.all(np.isfinite(s)):
            raise RelaxationError(f"{self.name}: a {side} slope is not finite")
        lead = s.shape[: s.ndim - len(self.shape)]
        b, where = self._window.extreme_gap(s.reshape(lead + (-1,)), upper=upper)
        if not np.all(np.isfinite(b)):
            i = int(np.flatnonzero(~np.isfinite(b.reshape(-1, b.shape[-1])).any(axis=0))[0])
            raise RelaxationError(
                f"{self.name}: no proven {side} line on [{float(self.l.reshape(-1)[i])!r}, {float(self.u.reshape(-1)[i])!r}]"
            )
        return b.reshape(s.shape), where.reshape(s.shape)


# -- cell tables, one per function -----------------------------------------------------------

_TABLES: OrderedDict[tuple, ProvenCells] = OrderedDict()


def _continuous(expr: sp.Expr, x: sp.Symbol) -> bool:
    """Whether :math:`f` is continuous on the real line (the catalog's smoothness fact)."""
    from ..properties import smoothness_fact

    try:
        fact, _ = smoothness_fact(expr, x)
    except Exception:  # noqa: BLE001 - SymPy may fail in many ways; then nothing is assumed
        return False
    return fact.value not in (None, "discontinuous")


def cells_for(expr: sp.Expr, x: sp.Symbol, name: str, domain: tuple[float, float] = (-math.inf, math.inf)) -> ProvenCells:
    """The (cached) proven cell table of :math:`f` = ``expr``."""
    key = (name, sp.srepr(expr), str(x), domain)
    table = _TABLES.get(key)
    if table is None:
        try:
            table = ProvenCells(expr, x, name, domain, continuous=_continuous(expr, x))
        except IntervalError as exc:
            raise RelaxationError(f"{name}: the interval engine cannot enclose it ({exc}), so no relaxation can be proven") from None
        _TABLES[key] = table
        while len(_TABLES) > _CACHE_SIZE:
            _TABLES.popitem(last=False)
    _TABLES.move_to_end(key)
    return table


# -- slope choice ------------------------------------------------------------------------------


def _samples(w: Window, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Points (left end of every used piece, and ``u``) and the cell lines' values there."""
    y, c = w.lines[..., 0], w.lines[..., 1]
    with np.errstate(invalid="ignore", over="ignore"):
        v = y + c * (w.xa - w.anchor)
        last = w.used.shape[1] - 1 - np.argmax(w.used[:, ::-1], axis=1)
        rows = np.arange(w.used.shape[0])
        vu = y[rows, last] + c[rows, last] * (hi - w.anchor[rows, last])
    x = np.concatenate([np.where(w.used, w.xa, np.nan), hi[:, None]], axis=1)
    v = np.concatenate([np.where(w.used, v, np.nan), vu[:, None]], axis=1)
    return x, v


def _hull_slopes(x: np.ndarray, v: np.ndarray, lo: np.ndarray, hi: np.ndarray):
    """Slopes of the lower / upper hull edges over the midpoint, and both hulls' end slopes."""
    m = (lo / 2 + hi / 2)[:, None, None]
    xi, vi = x[:, :, None], v[:, :, None]
    xj, vj = x[:, None, :], v[:, None, :]
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        slope = (vj - vi) / (xj - xi)
        at_m = vi + slope * (m - xi)
    # Strictly straddling pairs: the minimizing one is then an edge of the hull (a line below
    # every sample), not a chord that merely ends at a sample on m.
    ok = (xi < m) & (xj > m) & np.isfinite(at_m)
    n = x.shape[0]
    low = np.where(ok, at_m, np.inf).reshape(n, -1)
    up = np.where(ok, at_m, -np.inf).reshape(n, -1)
    flat = np.where(ok, slope, 0.0).reshape(n, -1)
    lower = np.take_along_axis(flat, np.argmin(low, axis=1)[:, None], axis=1)[:, 0]
    upper = np.take_along_axis(flat, np.argmax(up, axis=1)[:, None], axis=1)[:, 0]
    none = ~ok.reshape(n, -1).any(axis=1)  # a point interval: any slope is tight
    lower[none] = upper[none] = 0.0
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        first = (v - v[:, :1]) / (x - x[:, :1])
        final = (v[:, -1:] - v) / (x[:, -1:] - x)
    # Lower hull: its first edge has the least chord slope from the left end, its last edge the
    # greatest into the right end; the upper hull the other way round.
    right, left = (x > x[:, :1]) & np.isfinite(first), (x < x[:, -1:]) & np.isfinite(final)
    lo0 = np.where(right, first, np.inf).min(axis=1)
    lo1 = np.where(left, final, -np.inf).max(axis=1)
    up1 = np.where(right, first, -np.inf).max(axis=1)
    up0 = np.where(left, final, np.inf).min(axis=1)
    lo0, lo1 = np.where(np.isfinite(lo0), lo0, lower), np.where(np.isfinite(lo1), lo1, lower)
    up0, up1 = np.where(np.isfinite(up0), up0, upper), np.where(np.isfinite(up1), up1, upper)
    return (lower, upper, (np.minimum(lo0, lower), np.maximum(lo1, lower)),
            (np.minimum(up0, upper), np.maximum(up1, upper)))


# -- the relaxation ----------------------------------------------------------------------------


def _as_arrays(name: str, l: Any, u: Any) -> tuple[np.ndarray, np.ndarray]:
    try:
        lo, hi = np.broadcast_arrays(np.asarray(l), np.asarray(u))
    except ValueError:
        raise RelaxationError(f"{name}: l and u have incompatible shapes {np.shape(l)} and {np.shape(u)}") from None
    for arr, what in ((lo, "l"), (hi, "u")):
        if arr.dtype.kind not in "iuf":
            raise RelaxationError(f"{name}: {what} must hold real numbers, got dtype {arr.dtype}")
    lo, hi = lo.astype(np.float64), hi.astype(np.float64)
    if np.isnan(lo).any() or np.isnan(hi).any():
        raise RelaxationError(f"{name}: an interval end is NaN")
    bad = lo > hi
    if bad.any():
        i = np.flatnonzero(bad.reshape(-1))[0]
        raise RelaxationError(f"{name}: empty interval [{float(lo.reshape(-1)[i])!r}, {float(hi.reshape(-1)[i])!r}] (l > u)")
    return lo, hi


def _check_domain(name: str, lo: np.ndarray, hi: np.ndarray, domain) -> None:
    if domain is None:
        return
    d_lo, d_hi = domain.lo, domain.hi
    out = (lo < d_lo) | (hi > d_hi)
    if not domain.lo_closed and math.isfinite(d_lo):  # an infinite end stands for the open ray
        out |= lo == d_lo
    if not domain.hi_closed and math.isfinite(d_hi):
        out |= hi == d_hi
    if out.any():
        i = np.flatnonzero(out.reshape(-1))[0]
        raise RelaxationError(
            f"{name}: interval [{float(lo.reshape(-1)[i])!r}, {float(hi.reshape(-1)[i])!r}] leaves the domain {domain}"
        )


def _constant(cells: ProvenCells, a: float, b: float) -> tuple[float, float]:
    """Proven :math:`[\\inf f, \\sup f]` on ``[a, b]`` (plain arb enclosure; ends may be infinite)."""
    end = {math.inf: arb.pos_inf(), -math.inf: arb.neg_inf()}
    box = Interval(end.get(a, arb(a)) if math.isinf(a) else arb(a), end.get(b, arb(b)) if math.isinf(b) else arb(b))
    try:
        out, _ = cells.f.evaluate(box)
    except IntervalDomainError:
        return -math.inf, math.inf
    return out.lower(), out.upper()


def relax(
    expr: sp.Expr,
    x: sp.Symbol,
    l: Any,
    u: Any,
    *,
    name: str | None = None,
    domain=None,
    lower_slope: Any = None,
) -> Relaxation:
    r"""Proven linear bounds of :math:`f` = ``expr`` on each interval :math:`[l, u]`.

    Parameters
    ----------
    expr : sympy.Expr
        :math:`f`, with ``x`` its only free symbol (parameters substituted).
    x : sympy.Symbol
        The variable.
    l, u : array_like
        Interval ends (broadcast together; ``±inf`` allowed, ``l <= u``).
    name : str, optional
        Who :math:`f` is, for messages (default: the formula).
    domain : funclib.ranges.Range, optional
        Where :math:`f` is defined; intervals must lie inside it.
    lower_slope : array_like, optional
        Lower slopes to use instead of the hull choice (α-CROWN); their intercepts are proven
        the same way.

    Returns
    -------
    Relaxation

    Raises
    ------
    RelaxationError
        Bad intervals, or a bound that cannot be proven (the message names the function and
        the interval).
    """
    name = name or str(expr)
    lo, hi = _as_arrays(name, l, u)
    _check_domain(name, lo, hi, domain)
    span = (-math.inf, math.inf) if domain is None else (domain.lo, domain.hi)
    cells = cells_for(expr, x, name, span)
    shape = lo.shape
    lo_f, hi_f = lo.reshape(-1), hi.reshape(-1)
    n = lo_f.shape[0]
    out = {k: np.zeros(n) for k in ("aL", "bL", "aU", "bU", "r0", "r1", "q0", "q1")}
    finite = np.isfinite(lo_f) & np.isfinite(hi_f)
    window = None
    fin = np.flatnonzero(finite)
    if fin.size:
        window = cells.window(lo_f[fin], hi_f[fin])
        x_s, v_s = _samples(window, hi_f[fin])
        parts = [_hull_slopes(x_s[s], v_s[s], lo_f[fin][s], hi_f[fin][s])
                 for s in (slice(i, i + _CHUNK) for i in range(0, fin.size, _CHUNK))]
        aL = np.concatenate([p[0] for p in parts])
        aU = np.concatenate([p[1] for p in parts])
        r0, r1 = (np.concatenate([p[2][i] for p in parts]) for i in (0, 1))
        q0, q1 = (np.concatenate([p[3][i] for p in parts]) for i in (0, 1))
        if lower_slope is not None:
            given = np.broadcast_to(np.asarray(lower_slope, dtype=np.float64), shape).reshape(-1)
            if not np.all(np.isfinite(given)):
                raise RelaxationError(f"{name}: a given lower slope is not finite")
            aL = given[fin]
        bL, _ = window.extreme_gap(aL, upper=False)
        bU, _ = window.extreme_gap(aU, upper=True)
        out["aL"][fin], out["bL"][fin], out["aU"][fin], out["bU"][fin] = aL, bL, aU, bU
        out["r0"][fin], out["r1"][fin] = r0, r1
        out["q0"][fin], out["q1"][fin] = q0, q1
    # Infinite ends, and finite rows whose lines could not be proven: constants from arb.
    for i in np.flatnonzero(~finite | ~np.isfinite(out["bL"]) | ~np.isfinite(out["bU"])):
        f_lo, f_hi = _constant(cells, float(lo_f[i]), float(hi_f[i]))
        if not (math.isfinite(f_lo) and math.isfinite(f_hi)):
            raise RelaxationError(
                f"{name}: no proven linear bounds on [{float(lo_f[i])!r}, {float(hi_f[i])!r}]: the enclosure of f there is "
                f"[{f_lo!r}, {f_hi!r}] and no finite line was proven"
            )
        if finite[i] and lower_slope is not None:
            raise RelaxationError(f"{name}: the given lower slope on [{float(lo_f[i])!r}, {float(hi_f[i])!r}] has no proven intercept")
        out["aL"][i], out["bL"][i], out["aU"][i], out["bU"][i] = 0.0, f_lo, 0.0, f_hi
        out["r0"][i] = out["r1"][i] = out["q0"][i] = out["q1"][i] = 0.0
    if not finite.all():
        window = None  # tunable slopes need every interval finite
    return Relaxation(
        name, lo, hi,
        out["aL"].reshape(shape), out["bL"].reshape(shape), out["aU"].reshape(shape), out["bU"].reshape(shape),
        (out["r0"].reshape(shape), out["r1"].reshape(shape)), (out["q0"].reshape(shape), out["q1"].reshape(shape)),
        window,
    )


def relax_entry(
    entry: "Entry",
    l: Any,
    u: Any,
    *,
    variant: str | None = None,
    params: Mapping[str, float] | None = None,
    lower_slope: Any = None,
) -> Relaxation:
    """:func:`relax` for a catalog entry (or one of its variants), parameters at ``params``."""
    if entry.kind != "elementwise":
        raise TypeError(f"entry {entry.id!r} is {entry.kind}; relaxations are for elementwise entries")
    from ..properties import provable_form

    x = entry.symbol
    expr, _ = provable_form(entry.numeric_expr(variant, params), x)
    name = entry.id + (f":{variant}" if variant else "")
    if params:
        name += "(" + ", ".join(f"{k}={v!r}" for k, v in sorted(params.items())) + ")"
    return relax(expr, x, l, u, name=f"entry {name!r}", domain=entry.domain, lower_slope=lower_slope)


def relax_formula(text: str, l: Any, u: Any, *, variable: str = "x", lower_slope: Any = None) -> Relaxation:
    """:func:`relax` for a formula in funclib's syntax (parsed by the allow-list parser)."""
    from ..formula import make_symbol, parse_formula

    expr = parse_formula(text, (variable,))
    return relax(expr, make_symbol(variable), l, u, name=f"formula {text!r}", lower_slope=lower_slope)
