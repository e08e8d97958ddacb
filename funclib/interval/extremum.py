"""Rigorous bounds of extrema by branch and bound: :func:`bound_extremum` on a box and
:func:`bound_extremum_on_real_line` with shells out to infinity."""

from __future__ import annotations

import dataclasses
import heapq
import itertools
import math
from dataclasses import dataclass
from typing import Optional, Sequence, Union

import sympy as sp
from flint import arb

from .endpoints import amax, amin, DEFAULT_PREC, float_down, float_up, Interval, IntervalDomainError, IntervalError, mag_bits, NEG_INF, Number, POS_INF, upper_end, working_precision
from .arithmetic import add_iv, eneg, mul_iv, neg_iv, sub_iv
from .compile import number_to_bounds
from .evaluate import as_box, IntervalFunction


# --------------------------------------------------------------------------------------------
# Branch and bound
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Extremum:
    r"""Rigorous bracket of :math:`\sup_D f` (``maximize``) or :math:`\inf_D f`.

    Attributes
    ----------
    lower, upper : float
        The extremum lies in :math:`[\mathrm{lower}, \mathrm{upper}]` (floats rounded outward;
        may be :math:`\pm\infty`).
    argbest : float or None
        A point whose certified value is the best found: :math:`f(\mathrm{argbest}) \ge
        \mathrm{lower}` when maximizing, :math:`\le \mathrm{upper}` when minimizing.  Boxes
        are split at floats, so it is an exact float when the box endpoints are floats of
        magnitude below 1e300 (otherwise the nearest float to the sample point).
    maximize : bool
        Which extremum.
    converged : bool
        ``upper - lower <= tol (+ rtol * scale)``; False when the box budget ran out.
    domain : (float, float)
        The interval :math:`D` actually covered (rounded inward).
    boxes : int
        Boxes evaluated.
    undefined_at : float or None
        A sample point where :math:`f` was undefined (skipped), if any.
    proved : bool or None
        With a ``target`` :math:`c`: True when the bracket proves :math:`\sup f \le c`
        (:math:`\inf f \ge c` when minimizing), False when it refutes it, None when undecided
        or when no target was given.
    derivative_used : bool
        Whether mean-value / monotonicity bounds with :math:`f'` were available.
    """

    lower: float
    upper: float
    argbest: Optional[float]
    maximize: bool
    converged: bool
    domain: tuple[float, float]
    boxes: int
    undefined_at: Optional[float] = None
    proved: Optional[bool] = None
    derivative_used: bool = False

    @property
    def gap(self) -> float:
        """``upper - lower`` (rounded up)."""
        return self.upper - self.lower

    @property
    def bound(self) -> float:
        """The safe side: ``upper`` for a maximum, ``lower`` for a minimum."""
        return self.upper if self.maximize else self.lower


class _Objective:
    """:math:`\\pm f` (sign chosen so that we always maximize) with optional derivative."""

    def __init__(self, f: IntervalFunction, df: Optional[IntervalFunction], negate: bool) -> None:
        self.f = f
        self.df = df
        self.negate = negate

    def _sign(self, iv: Interval) -> Interval:
        return neg_iv(iv) if self.negate else iv

    def box(self, box: Interval) -> tuple[arb, bool]:
        """Upper bound on the box and whether f is certified continuous there."""
        try:
            out, cont = self.f.evaluate(box)
        except IntervalDomainError:
            return POS_INF, False
        return self._sign(out).hi, cont

    def point(self, t: arb) -> Optional[Interval]:
        try:
            out, _ = self.f.evaluate(Interval(t, t))
        except IntervalDomainError:
            return None
        return self._sign(out)

    def slope(self, box: Interval) -> Optional[Interval]:
        if self.df is None:
            return None
        try:
            out, _ = self.df.evaluate(box)
        except IntervalDomainError:
            return None
        return self._sign(out) if out.is_finite else None


def _split_point(lo: arb, hi: arb) -> Optional[arb]:
    """A float strictly inside ``(lo, hi)``; None if there is none (the box is then final).

    Staying on floats keeps every sample point, hence ``argbest``, an exact float.  Only boxes
    beyond the float range are split at arbitrary-precision midpoints.
    """
    a, b = float(lo), float(hi)
    if math.isfinite(a) and math.isfinite(b) and max(abs(a), abs(b)) < 1e300:
        fm = arb(a / 2 + b / 2)
        if not lo < fm < hi:
            fm = arb(math.nextafter(a, b))
        return fm if lo < fm < hi else None
    with working_precision(256 + max(mag_bits(lo), mag_bits(hi), 0)):
        m = ((lo + hi) / 2).mid()
    return m if lo < m < hi else None


@dataclass
class _Box:
    lo: arb
    hi: arb
    mid: Optional[arb]
    f_lo: Optional[Interval]
    f_mid: Optional[Interval]
    f_hi: Optional[Interval]


class _BranchAndBound:
    """Maximize :math:`g = \\pm f` over a union of boxes (see :func:`bound_extremum`)."""

    def __init__(
        self, obj: _Objective, tol: float, rtol: float, max_boxes: int, target: Optional[arb]
    ) -> None:
        self.obj = obj
        self.target = target
        self.tol = tol
        self.rtol = rtol
        self.max_boxes = max_boxes
        self.best = NEG_INF
        self.argbest: Optional[arb] = None
        self.undefined: Optional[arb] = None
        self.heap: list = []
        self.stuck = NEG_INF
        self.count = 0
        self.ticket = itertools.count()

    def sample(self, t: Optional[arb]) -> Optional[Interval]:
        if t is None:
            return None
        v = self.obj.point(t)
        if v is None:
            self.undefined = self.undefined if self.undefined is not None else t
            return None
        if v.lo > self.best or self.argbest is None:
            self.best, self.argbest = amax(self.best, v.lo), t
        return v

    def push(self, lo: arb, hi: arb, f_lo: Optional[Interval], f_hi: Optional[Interval]) -> None:
        box = Interval(lo, hi)
        self.count += 1
        upper, continuous = self.obj.box(box)
        mid = _split_point(lo, hi)
        f_mid = self.sample(mid)
        if continuous and upper > self.best:
            upper = amin(upper, self._refine(box, mid, f_lo, f_mid, f_hi))
        if upper > self.best:
            item = _Box(lo, hi, mid, f_lo, f_mid, f_hi)
            heapq.heappush(self.heap, (-float_up(upper), next(self.ticket), upper, item))

    def _refine(self, box: Interval, mid, f_lo, f_mid, f_hi) -> arb:
        r"""Monotonicity or mean-value bound :math:`g(m) + g'(X)(X - m)` (g continuous on X)."""
        d = self.obj.slope(box)
        if d is None:
            return POS_INF
        if d.lo >= 0 and f_hi is not None:
            return f_hi.hi
        if d.hi <= 0 and f_lo is not None:
            return f_lo.hi
        if f_mid is None or mid is None:
            return POS_INF
        with working_precision(self.obj.f.precision_for(box)):
            return add_iv(f_mid, mul_iv(d, sub_iv(box, Interval(mid, mid)))).hi

    def upper(self) -> arb:
        # The float keys are rounded up, so the top key bounds every queued box.
        top = arb(-self.heap[0][0]) if self.heap else NEG_INF
        return amax(amax(top, self.stuck), self.best)

    def decided(self) -> Optional[bool]:
        """With a target c: True if sup g <= c is proved, False if refuted, else None."""
        if self.target is None:
            return None
        if self.upper() <= self.target:
            return True
        if self.best > self.target:
            return False
        return None

    def stop(self) -> bool:
        # With a target the search runs until the sign question is decided (or the budget).
        if self.target is not None:
            return self.decided() is not None
        return self.done()

    def done(self) -> bool:
        up, lo = self.upper(), self.best
        if not (up.is_finite() and lo.is_finite()):
            return False
        scale = max(abs(float_up(up)), abs(float_down(lo)))
        return upper_end(up - lo) <= arb(self.tol) + arb(self.rtol * scale)

    def run(self, boxes: Sequence[tuple[arb, arb]]) -> bool:
        for lo, hi in boxes:
            self.push(lo, hi, self.sample(lo), self.sample(hi))
        while self.heap and not self.stop():
            if self.count >= self.max_boxes:
                return False
            _, _, upper, b = heapq.heappop(self.heap)
            if not upper > self.best:
                continue
            if b.mid is None:
                # No float strictly inside: the box is final, keep its bound.
                self.stuck = amax(self.stuck, upper)
                continue
            self.push(b.lo, b.mid, b.f_lo, b.f_mid)
            self.push(b.mid, b.hi, b.f_mid, b.f_hi)
        return self.done()


def _derivative_function(
    expr: sp.Expr, x: sp.Symbol, dexpr, prec: int
) -> Optional[IntervalFunction]:
    """Compiled f' (given or by ``sympy.diff``); None when absent or not enclosable.

    f' is only used on boxes where f is certified continuous, and there only its values
    almost everywhere matter, so ``DiracDelta`` terms (from differentiating ``sign`` or
    ``Heaviside``) are dropped.  f' only sharpens bounds: one that still cannot be compiled
    is ignored, and ``Extremum.derivative_used`` says so.
    """
    if dexpr is False:
        return None
    d = sp.diff(expr, x) if dexpr is None else dexpr
    d = d.replace(lambda e: isinstance(e, sp.DiracDelta), lambda e: sp.S.Zero)
    try:
        return IntervalFunction(d, x, prec=prec)
    except IntervalError:
        return None


def _solve(
    expr: sp.Expr,
    x: sp.Symbol,
    boxes: Sequence[tuple[arb, arb]],
    *,
    maximize: bool,
    tol: float,
    rtol: float,
    dexpr,
    max_boxes: int,
    prec: int,
    domain: tuple[float, float],
    target: Optional[Number] = None,
) -> Extremum:
    f = IntervalFunction(expr, x, prec=prec)
    df = _derivative_function(expr, x, dexpr, prec)
    goal = None
    if target is not None:
        # In the maximized objective g = -f for a minimum: inf f >= c iff sup g <= -c.
        c_lo, c_hi = number_to_bounds(target, prec)
        goal = c_lo if maximize else eneg(c_hi)
    bb = _BranchAndBound(_Objective(f, df, negate=not maximize), tol, rtol, max_boxes, goal)
    bb.run(boxes)
    converged, proved = bb.done(), bb.decided()
    lo, hi = bb.best, bb.upper()
    if not maximize:
        lo, hi = eneg(hi), eneg(lo)
    return Extremum(
        lower=float_down(lo),
        upper=float_up(hi),
        argbest=None if bb.argbest is None else float(bb.argbest),
        maximize=maximize,
        converged=converged,
        domain=domain,
        boxes=bb.count,
        undefined_at=None if bb.undefined is None else float(bb.undefined),
        proved=proved,
        derivative_used=df is not None,
    )


def bound_extremum(
    expr: sp.Expr,
    x: sp.Symbol,
    lo: Number,
    hi: Number,
    *,
    maximize: bool,
    tol: float = 1e-9,
    rtol: float = 0.0,
    dexpr: Union[sp.Expr, None, bool] = None,
    max_boxes: int = 20000,
    prec: int = DEFAULT_PREC,
    target: Optional[Number] = None,
) -> Extremum:
    r"""Bracket :math:`\sup_{[lo,hi]} f` or :math:`\inf_{[lo,hi]} f` by branch and bound.

    Boxes sit in a priority queue keyed by their upper bound (for a maximum).  A box's bound is
    the plain enclosure, intersected, where :math:`f` is certified continuous on the box, with

    * :math:`f(b)` or :math:`f(a)` when :math:`f'(X) \ge 0` or :math:`\le 0` (monotone box), else
    * the mean-value form :math:`f(m) + f'(X)\,(X - m)`, whose overestimate is
      :math:`O(h^2)` near a smooth extremum, so tolerances like :math:`10^{-9}` are reachable.

    Point values at midpoints and endpoints (tight ``arb`` balls) raise the incumbent.  The
    search stops when ``upper - lower <= tol + rtol * max(|lower|, |upper|)`` or after
    ``max_boxes`` boxes, then with ``converged=False`` and the honest, wider bracket.  With a
    ``target`` :math:`c` it instead stops once :math:`\sup f \le c` (:math:`\inf f \ge c`) is
    proved or refuted, which is what sign proofs need (a bracket of width ``tol`` around an
    infimum of 0 cannot show :math:`f' \ge 0`).

    Parameters
    ----------
    expr : sympy.Expr
        :math:`f`, with ``x`` its only free symbol.
    x : sympy.Symbol
        The variable.
    lo, hi : number
        Finite box endpoints (inexact ones rounded outward).
    maximize : bool
        Supremum (True) or infimum (False).
    tol, rtol : float
        Absolute and relative target width of the bracket.
    dexpr : sympy.Expr, None or False
        :math:`f'`, equal to the derivative of :math:`f` wherever it exists; None: computed
        with ``sympy.diff`` (dropped if it has unsupported nodes such as ``DiracDelta``);
        False: plain enclosures only.  It is only used on boxes where :math:`f` is certified
        continuous (no pole, no jump, one ``Piecewise`` branch), so kinks and jumps are safe.
    max_boxes : int
        Budget of evaluated boxes.
    prec : int
        Base working precision in bits.
    target : number, optional
        Decide :math:`\sup f \le c` (maximize) or :math:`\inf f \ge c` (minimize); the
        answer is ``Extremum.proved``.

    Returns
    -------
    Extremum
        ``lower <= extremum <= upper``.  Points where :math:`f` is undefined are skipped (the
        extremum is over the points where it is defined) and one is reported in
        ``undefined_at``; unbounded :math:`f` gives an infinite bound.

    Examples
    --------
    >>> x = sp.Symbol("x", real=True)
    >>> r = bound_extremum(x * sp.exp(-x), x, 0, 4, maximize=True)
    >>> r.lower <= 1 / math.e <= r.upper and r.converged
    True
    """
    box = as_box(lo, hi, prec)
    if not box.is_finite:
        raise IntervalError("bound_extremum needs a finite box; see bound_extremum_on_real_line")
    domain = (float_up(box.lo), float_down(box.hi))
    return _solve(expr, x, [(box.lo, box.hi)], maximize=maximize, tol=tol, rtol=rtol,
                  dexpr=dexpr, max_boxes=max_boxes, prec=prec, domain=domain, target=target)


def _shells(start: arb, far: arb) -> list[tuple[arb, arb]]:
    r"""Boxes :math:`[s, 2s], [2s, 4s], \dots` from ``start > 0`` up to ``far`` (last clipped)."""
    out = []
    s = start
    with working_precision(4 * DEFAULT_PREC + mag_bits(far)):  # doubling stays exact
        while s < far:
            e = amin(s * 2, far)
            out.append((s, e))
            s = e
    return out


def bound_extremum_on_real_line(
    expr: sp.Expr,
    x: sp.Symbol,
    *,
    maximize: bool,
    tol: float = 1e-9,
    rtol: float = 0.0,
    dexpr: Union[sp.Expr, None, bool] = None,
    core: tuple[Number, Number] = (-64, 64),
    far: Number = 1e30,
    max_boxes: int = 20000,
    prec: int = DEFAULT_PREC,
    target: Optional[Number] = None,
    lo: Number = -math.inf,
    hi: Number = math.inf,
) -> Extremum:
    r"""Bracket :math:`\sup f` or :math:`\inf f` over :math:`[lo, hi] \cap [-R, R]` by shells.

    :math:`R` is ``far``.  The core interval :math:`[c_0, c_1] \ni 0` and the shells
    :math:`[2^k c_1, 2^{k+1} c_1]`, :math:`[2^{k+1} c_0, 2^k c_0]` up to :math:`\pm R`, each
    clipped to :math:`[\mathrm{lo}, \mathrm{hi}]` (a half-line domain such as
    :math:`(0, \infty)` keeps only what lies in it), enter one branch-and-bound queue; a whole
    shell is often settled by one enclosure because exponentially small factors dominate there.

    Then each infinite side's tail, :math:`[R, \infty)` or :math:`(-\infty, -R]`, is tried with
    one plain enclosure; if it stays within the bracket, ``domain`` extends to infinity on that
    side.  Otherwise ``domain`` stops at :math:`\pm R` and the caller must bound :math:`|x| > R`
    itself (e.g. from limits at :math:`\pm\infty`).

    Parameters
    ----------
    core : (number, number)
        Inner interval, containing 0.
    far : number
        :math:`R`.
    lo, hi : number
        The domain to cover (``±inf`` for the real line or a half-line); finite ends are
        included as closed ends (a singular end gives an infinite bound, honestly).
    others
        As in :func:`bound_extremum`.

    Returns
    -------
    Extremum
        Bracket over ``domain`` (see above).
    """
    c0, c1 = as_box(core[0], core[0], prec).lo, as_box(core[1], core[1], prec).hi
    if not (c0 < 0 < c1):
        raise IntervalError(f"core {core!r} must contain 0 in its interior")
    r = as_box(far, far, prec).lo
    if not (r.is_finite() and r >= c1 and eneg(r) <= c0):
        raise IntervalError(f"far={far!r} must be finite and cover the core")
    a = amax(as_box(lo, lo, prec).lo, eneg(r))
    b = amin(as_box(hi, hi, prec).hi, r)
    if not a <= b:
        raise IntervalError(f"empty domain [{lo!r}, {hi!r}] within far={far!r}")
    left = [(eneg(v), eneg(u)) for u, v in _shells(eneg(c0), r)]
    boxes = _clip_boxes([(c0, c1)] + _shells(c1, r) + left, a, b)
    res = _solve(expr, x, boxes, maximize=maximize, tol=tol, rtol=rtol, dexpr=dexpr,
                 max_boxes=max_boxes, prec=prec, domain=(float_up(a), float_down(b)),
                 target=target)
    ends = list(res.domain)
    for side, tail in ((0, Interval(NEG_INF, eneg(r))), (1, Interval(r, POS_INF))):
        infinite = (a == eneg(r)) if side == 0 else (b == r)
        if infinite and number_to_bounds(lo if side == 0 else hi, prec)[side].is_finite():
            infinite = False  # the domain itself ends exactly at -R or R
        if infinite and _tail_within(expr, x, tail, res, prec):
            ends[side] = -math.inf if side == 0 else math.inf
    return dataclasses.replace(res, domain=(ends[0], ends[1]))


def _clip_boxes(boxes: list[tuple[arb, arb]], a: arb, b: arb) -> list[tuple[arb, arb]]:
    """The parts of ``boxes`` inside ``[a, b]`` (empty ones dropped)."""
    out = []
    for u, v in boxes:
        u, v = amax(u, a), amin(v, b)
        if u <= v:
            out.append((u, v))
    return out


def _tail_within(expr: sp.Expr, x: sp.Symbol, tail: Interval, res: Extremum, prec: int) -> bool:
    """Whether a plain enclosure on an infinite tail stays inside the bracket."""
    try:
        iv, _ = IntervalFunction(expr, x, prec=prec).evaluate(tail)
    except IntervalDomainError:
        return False
    if res.maximize:
        return bool(iv.hi <= arb(res.upper))
    return bool(iv.lo >= arb(res.lower))
