r"""Proven cell tables: on each cell of a dyadic grid, a line with a proven gap to :math:`f`.

The real line is cut into cells :math:`C_j = [j h, (j+1) h]` with :math:`h = 2^k` for a
*level* :math:`k`.  On each cell the table holds a line anchored at the cell's left end
:math:`a_j`, with value :math:`y_j` and slope :math:`c_j` (floats: the chord through the
arb-midpoint values of :math:`f` at the knots), and a proven enclosure of the gap

.. math:: e_j^- \le f(x) - \bigl(y_j + c_j (x - a_j)\bigr) \le e_j^+ \qquad (x \in C_j).

The gap is enclosed with python-flint ``arb`` (:mod:`funclib.interval`) by the mean-value form

.. math:: e(X) \subseteq e(m) + \bigl(f'(X) - c_j\bigr)(X - m),

valid where the interval engine certifies :math:`f` continuous on the cell (the a.e.
derivative suffices, so kinks are fine), intersected with the plain enclosure
:math:`f(X) - \mathrm{line}(X)`.  The overestimate is :math:`O(h^2 \max|f''|)`.  On a cell
where continuity is not certified (a jump), the line is the constant 0 and the gap is the plain
enclosure of :math:`f`.

Tables are built lazily in blocks of :data:`BLOCK` cells and kept per function, so a query
pays arb only for blocks it has not seen.  Any query on a window of cells is then float
arithmetic with a rounding allowance (see :meth:`Window.min_gap`): a bound derived from a
table is proven.

A cell that leaves the function's domain (``log`` at 0, a pole) is not tabulated; a query that
meets it is proven on the exact sub-interval it covers instead (:meth:`ProvenCells.piece`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import sympy as sp
from flint import arb

from .. import calculus
from ..interval import Interval, IntervalDomainError, IntervalError, IntervalFunction

__all__ = ["BLOCK", "CELLS", "MIN_LEVEL", "ProvenCells", "Window"]

#: Cells per lazily built block.
BLOCK = 64
#: Most cells one interval spans (the level is chosen so); more is tighter and slower.
CELLS = 16
#: Finest level: cells of width 2**MIN_LEVEL (the proof slack is about h**2 |f''| / 8).
MIN_LEVEL = -6
#: Relative rounding allowance of the float evaluation of a few-term sum of lines (≥ 8 u).
_ROUND = 2.0**-47
#: Absolute allowance for underflow.
_TINY = 1e-300
#: Most sub-pieces one cell's gap is split into when its first enclosure is loose.
_SPLITS = 64


def _split(a: float, b: float) -> float | None:
    """A float strictly inside (a, b): 0 if it is inside, else a geometric or plain midpoint."""
    if a < 0 < b:
        return 0.0
    if a >= 0 and b > 4 * max(a, 1.0):
        cut = math.sqrt(max(a, 1.0)) * math.sqrt(b)
    elif b <= 0 and a < 4 * min(b, -1.0):
        cut = -math.sqrt(-min(b, -1.0)) * math.sqrt(-a)
    else:
        cut = a / 2 + b / 2
    return cut if a < cut < b else None


def _float_interval(iv: Interval) -> tuple[float, float]:
    return iv.lower(), iv.upper()


def _nan_to(value: float, fill: float) -> float:
    return fill if math.isnan(value) else value


class ProvenCells:
    """The cell table of one function :math:`f(x)` (built lazily; not thread-safe).

    Parameters
    ----------
    expr : sympy.Expr
        :math:`f`, with ``x`` its only free symbol.
    x : sympy.Symbol
        The variable.
    name : str
        Who :math:`f` is (an entry id), for error messages.
    domain : (float, float)
        Where :math:`f` is defined; cells are clipped to it.
    continuous : bool
        :math:`f` is known to be continuous on its domain (the catalog's smoothness fact:
        breakpoints solved by SymPy, one-sided values compared at 60 digits).  The interval
        engine cannot certify continuity on a box that touches a ``Piecewise`` breakpoint
        (ReLU's cells at 0), so without this such cells fall back to plain enclosures.

    Raises
    ------
    funclib.interval.IntervalError
        When the interval engine cannot enclose :math:`f` (unsupported function).
    """

    def __init__(self, expr: sp.Expr, x: sp.Symbol, name: str, domain: tuple[float, float] = (-math.inf, math.inf),
                 continuous: bool = False):
        self.name = name
        self.continuous = continuous
        self.domain = domain
        self.f = IntervalFunction(expr, x)
        d = calculus.derivative(expr, x, 1)
        # Only used on cells where f is certified continuous: the a.e. derivative is enough.
        d = d.replace(lambda e: isinstance(e, sp.DiracDelta), lambda e: sp.S.Zero)
        try:
            self.df: IntervalFunction | None = IntervalFunction(d, x)
        except IntervalError:
            self.df = None
        self._blocks: dict[tuple[int, int], np.ndarray] = {}

    # -- proofs on one piece --------------------------------------------------------------
    def _point(self, t: float) -> float:
        try:
            out, _ = self.f.evaluate(Interval(arb(t), arb(t)))
        except IntervalDomainError:
            return math.nan
        if not out.is_finite:
            return math.nan
        return float(out.as_arb().mid())

    def piece(self, a: float, b: float, ya: float | None = None, yb: float | None = None) -> tuple[float, float, float, float]:
        """``(y, c, e_lo, e_hi)`` with :math:`e^- \\le f(x) - (y + c(x - a)) \\le e^+` on :math:`[a, b]`.

        Raises :class:`~funclib.interval.IntervalDomainError` when :math:`f` is not defined on
        the whole piece.
        """
        fx, continuous = self.f.evaluate(Interval(arb(a), arb(b)))  # raises outside the domain
        continuous = continuous or (self.continuous and fx.is_finite)
        ya = self._point(a) if ya is None else ya
        yb = self._point(b) if yb is None else yb
        c = (yb - ya) / (b - a) if b > a else 0.0
        if not (continuous and math.isfinite(ya) and math.isfinite(c)):
            ya, c = 0.0, 0.0  # a jump (or no finite value): the constant line, gap = f itself
        lo, hi = self._gap(a, b, arb(ya), arb(c), a, fx, continuous, [_SPLITS])
        return ya, c, _nan_to(lo, -math.inf), _nan_to(hi, math.inf)

    def _gap(self, a: float, b: float, y: arb, slope: arb, anchor: float, fx: Interval | None,
             continuous: bool, budget: list[int]) -> tuple[float, float]:
        """Proven enclosure of f(x) - (y + slope (x - anchor)) on [a, b], split while loose
        (``budget``: pieces left, shared by the whole recursion)."""
        budget[0] -= 1
        box = Interval(arb(a), arb(b))
        if fx is None:
            fx, continuous = self.f.evaluate(box)
            continuous = continuous or (self.continuous and fx.is_finite)
        line_a = Interval.from_ball(y + slope * (arb(a) - arb(anchor)))
        line_b = Interval.from_ball(y + slope * (arb(b) - arb(anchor)))
        line_lo = line_a.lo if line_a.lo <= line_b.lo else line_b.lo  # the line's range on the box
        line_hi = line_a.hi if line_a.hi >= line_b.hi else line_b.hi
        lo = Interval.from_ball(fx.lo - line_hi).lower() if fx.lo.is_finite() else -math.inf
        hi = Interval.from_ball(fx.hi - line_lo).upper() if fx.hi.is_finite() else math.inf
        em = None
        if continuous and self.df is not None and b > a:
            m = a / 2 + b / 2
            try:
                fm, _ = self.f.evaluate(Interval(arb(m), arb(m)))
                dx, _ = self.df.evaluate(box)
            except IntervalDomainError:
                dx = None
            if dx is not None and dx.is_finite and fm.is_finite:
                em = fm.as_arb() - (y + slope * (arb(m) - arb(anchor)))
                half = arb(0, max(m - a, b - m))  # X - m, rounded outward
                ball = em + (dx.as_arb() - slope) * half
                mv_lo, mv_hi = _float_interval(Interval.from_ball(ball))
                lo, hi = max(lo, mv_lo), min(hi, mv_hi)
        if budget[0] <= 0:
            return lo, hi
        # Loose compared with the gap actually seen at the midpoint: split (geometrically on
        # long cells far from 0, where the function's scale changes).
        seen = abs(float(em.mid())) if em is not None else 0.0
        if math.isfinite(lo) and math.isfinite(hi) and hi - lo <= 4 * seen + 2.0**-40 * (1 + abs(float(y.mid()))):
            return lo, hi
        cut = _split(a, b)
        if cut is None:
            return lo, hi
        try:
            l1, h1 = self._gap(a, cut, y, slope, anchor, None, False, budget)
            l2, h2 = self._gap(cut, b, y, slope, anchor, None, False, budget)
        except IntervalDomainError:
            return lo, hi
        return max(lo, min(l1, l2)), min(hi, max(h1, h2))

    # -- tables ---------------------------------------------------------------------------
    def _cell_box(self, level: int, j: int) -> tuple[float, float]:
        a, b = math.ldexp(j, level), math.ldexp(j + 1, level)
        return max(a, self.domain[0]), min(b, self.domain[1])

    def _build(self, level: int, q: int) -> np.ndarray:
        """Rows (a, b, y, c, e_lo, e_hi, ok) of the cells q*BLOCK ... (q+1)*BLOCK-1."""
        out = np.empty((BLOCK, 7))
        knots = [self._cell_box(level, q * BLOCK + i) for i in range(BLOCK)]
        ys = [self._point(a) for a, _ in knots] + [self._point(knots[-1][1])]
        for i, (a, b) in enumerate(knots):
            if not a < b:  # outside the domain
                out[i] = (a, b, 0.0, 0.0, -math.inf, math.inf, 0.0)
                continue
            end = ys[i + 1] if b == math.ldexp(q * BLOCK + i + 1, level) else None
            try:
                y, c, lo, hi = self.piece(a, b, ya=ys[i] if a == math.ldexp(q * BLOCK + i, level) else None, yb=end)
                out[i] = (a, b, y, c, lo, hi, 1.0)
            except IntervalDomainError:
                out[i] = (a, b, 0.0, 0.0, -math.inf, math.inf, 0.0)
        return out

    def block(self, level: int, q: int) -> np.ndarray:
        """The (cached) table block ``q`` of ``level``."""
        key = (level, q)
        table = self._blocks.get(key)
        if table is None:
            table = self._blocks[key] = self._build(level, q)
        return table

    def window(self, lo: np.ndarray, hi: np.ndarray) -> "Window":
        """The cells covering each finite interval ``[lo_i, hi_i]`` (1-D arrays, lo <= hi)."""
        n = lo.shape[0]
        width = hi - lo
        mag = np.maximum(np.abs(lo), np.abs(hi))
        with np.errstate(divide="ignore"):
            level = np.maximum(np.ceil(np.log2(width / CELLS)), np.ceil(np.log2(mag)) - 50)
        level = np.maximum(np.nan_to_num(level, nan=MIN_LEVEL, neginf=MIN_LEVEL), MIN_LEVEL).astype(np.int64)
        cols = CELLS + 1
        rows = np.empty((n, cols, 7))
        for k in np.unique(level):
            sel = np.flatnonzero(level == k)
            j0 = np.floor(np.ldexp(lo[sel], -int(k))).astype(np.int64)
            j = j0[:, None] + np.arange(cols)
            q, r = np.divmod(j, BLOCK)
            uq, inv = np.unique(q, return_inverse=True)
            tables = np.stack([self.block(int(k), int(b)) for b in uq])
            rows[sel] = tables[inv.reshape(q.shape), r]
        a, b = rows[..., 0], rows[..., 1]
        used = (b >= lo[:, None]) & (a <= hi[:, None])
        used[:, 0] |= ~used.any(axis=1)  # a point interval on a knot
        bad = used & (rows[..., 6] == 0.0)
        for i, col in zip(*np.nonzero(bad)):
            rows[i, col] = self._exact_piece(max(a[i, col], lo[i]), min(b[i, col], hi[i]))
        xa = np.maximum(a, lo[:, None])
        xb = np.minimum(b, hi[:, None])
        return Window.of(self.name, rows[..., 0], rows[..., 2:6], xa, xb, used)

    def _exact_piece(self, a: float, b: float) -> tuple:
        try:
            y, c, lo, hi = self.piece(a, b)
        except IntervalDomainError:
            lo, hi, y, c = -math.inf, math.inf, 0.0, 0.0
        return (a, b, y, c, lo, hi, 1.0)


@dataclass
class Window:
    r"""The proven cell lines over a batch of intervals (rows) and their cells (columns).

    For the extremes of :math:`f(x) - s x`, each piece contributes its two ends :math:`x_k`
    with the proven values :math:`p_k^\pm = y + c(x_k - a) + e^\pm` of its bounding lines,
    precomputed and moved outward by a rounding allowance (:math:`2^{-47}` times the sum of
    the absolute terms, more than the rounding of the three operations and of the shift).
    """

    name: str
    anchor: np.ndarray  # (n, cols): a_j
    lines: np.ndarray  # (n, cols, 4): y, c, e_lo, e_hi
    xa: np.ndarray  # (n, cols): the part of each cell inside the interval
    xb: np.ndarray
    used: np.ndarray  # (n, cols) bool
    x: np.ndarray  # (n, 2 cols): piece ends
    low: np.ndarray  # (n, 2 cols): proven lower values there (+inf where unused)
    high: np.ndarray  # (n, 2 cols): proven upper values there (-inf where unused)

    @classmethod
    def of(cls, name: str, anchor, lines, xa, xb, used) -> "Window":
        x = np.concatenate([xa, xb], axis=1)
        a2 = np.concatenate([anchor, anchor], axis=1)
        y, c, e_lo, e_hi = (np.concatenate([lines[..., i]] * 2, axis=1) for i in range(4))
        u2 = np.concatenate([used, used], axis=1)
        with np.errstate(invalid="ignore", over="ignore"):
            dx = c * (x - a2)
            size = np.abs(y) + np.abs(dx)
            low = y + dx + e_lo
            high = y + dx + e_hi
            low = low - (_ROUND * (size + np.abs(e_lo)) + _TINY)
            high = high + (_ROUND * (size + np.abs(e_hi)) + _TINY)
        low = np.where(u2, np.where(np.isnan(low), -np.inf, low), np.inf)
        high = np.where(u2, np.where(np.isnan(high), np.inf, high), -np.inf)
        return cls(name, anchor.copy(), lines.copy(), xa, xb, used, x, low, high)

    def extreme_gap(self, slope: np.ndarray, upper: bool) -> tuple[np.ndarray, np.ndarray]:
        r"""Proven :math:`\min_{[l,u]} (f(x) - s x)` (or :math:`\max` when ``upper``) per row.

        ``slope`` has shape ``(..., n)``.  On each piece the bounding line minus :math:`s x`
        is linear, so its extreme is at a piece end.  Returns the bound and the abscissa where
        it is attained (the α-gradient of the intercept is minus that abscissa).
        """
        s = np.asarray(slope, dtype=np.float64)[..., None]
        with np.errstate(invalid="ignore", over="ignore"):
            sx = s * self.x
            slack = _ROUND * np.abs(sx) + _TINY
            v = (self.high - sx + slack) if upper else (self.low - sx - slack)
        v = np.where(np.isnan(v), np.inf if upper else -np.inf, v)  # inf - inf: unprovable
        idx = np.argmax(v, axis=-1) if upper else np.argmin(v, axis=-1)
        best = np.take_along_axis(v, idx[..., None], axis=-1)[..., 0]
        where = np.take_along_axis(np.broadcast_to(self.x, v.shape), idx[..., None], axis=-1)[..., 0]
        return best, where
