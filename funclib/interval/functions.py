"""Enclosures of the elementary and special functions (monotone pieces, periodic functions,
jumps, max/min) and of variable powers ``b**g``."""

from __future__ import annotations

from typing import Callable, Optional, Sequence

import sympy as sp
from flint import arb
from sympy.codegen.cfunctions import expm1, log1p

from ..special import sigmoid, sinc, softplus
from .endpoints import amax, amin, clip, hull, Interval, IntervalDomainError, lower_end, NEG_INF, ONE, POS_INF, upper_end, working_precision, ZERO
from .arithmetic import abs_iv, eneg, monotone, mul_iv
from .sinc import sinc_iv


# --------------------------------------------------------------------------------------------
# Elementary and special functions
# --------------------------------------------------------------------------------------------




def _sigmoid_point(t: arb) -> arb:
    # Branch on the sign so that exp never sees a large positive argument.
    if t >= 0:
        return ONE / (ONE + eneg(t).exp())
    e = t.exp()
    return e / (ONE + e)


def _softplus_point(t: arb) -> arb:
    # max(t, 0) + log1p(exp(-|t|)): exact at any magnitude.
    pos = t if t >= 0 else ZERO
    return pos + eneg(t if t >= 0 else eneg(t)).exp().log1p()


def _log_like(x: Interval, f: Callable[[arb], arb], pole: int, name: str) -> Interval:
    r"""Increasing :math:`f` on :math:`[p, \infty)` with :math:`f(p) = -\infty` (p = ``pole``)."""
    if x.lo < pole:
        raise IntervalDomainError(f"{name} of an argument possibly below {pole}: {x!r}")
    if x.hi == pole:
        raise IntervalDomainError(f"{name}({pole}) is -oo")
    if x.lo == pole:
        return Interval(NEG_INF, upper_end(f(x.hi)))
    return monotone(x, f, True)


def log_iv(x: Interval) -> Interval:
    return _log_like(x, arb.log, 0, "log")


def _log1p(x: Interval) -> Interval:
    return _log_like(x, arb.log1p, -1, "log1p")


def exp_iv(x: Interval) -> Interval:
    return monotone(x, arb.exp, True, ZERO, None)


def _expm1(x: Interval) -> Interval:
    return monotone(x, arb.expm1, True, -ONE, None)


def _sinh(x: Interval) -> Interval:
    return monotone(x, arb.sinh, True)


def _cosh(x: Interval) -> Interval:
    return monotone(abs_iv(x), arb.cosh, True, ONE, None)


def _tanh(x: Interval) -> Interval:
    return monotone(x, arb.tanh, True, -ONE, ONE)


def _asinh(x: Interval) -> Interval:
    return monotone(x, arb.asinh, True)


def _acosh(x: Interval) -> Interval:
    if x.lo < 1:
        raise IntervalDomainError(f"acosh of an argument possibly below 1: {x!r}")
    return monotone(x, arb.acosh, True, ZERO, None)


def _atanh(x: Interval) -> Interval:
    if x.lo < -1 or x.hi > 1:
        raise IntervalDomainError(f"atanh of an argument possibly outside [-1, 1]: {x!r}")
    if x.is_point and abs(x.lo) == 1:
        raise IntervalDomainError("atanh(+-1) is infinite")
    lo = NEG_INF if x.lo == -1 else lower_end(x.lo.atanh())
    hi = POS_INF if x.hi == 1 else upper_end(x.hi.atanh())
    return Interval(lo, hi)


def _asin(x: Interval) -> Interval:
    if x.lo < -1 or x.hi > 1:
        raise IntervalDomainError(f"asin of an argument possibly outside [-1, 1]: {x!r}")
    return monotone(x, arb.asin, True, _NEG_HALF_PI_DOWN, _HALF_PI_UP)


def _acos(x: Interval) -> Interval:
    if x.lo < -1 or x.hi > 1:
        raise IntervalDomainError(f"acos of an argument possibly outside [-1, 1]: {x!r}")
    return monotone(x, arb.acos, False, ZERO, _PI_UP)


def _atan(x: Interval) -> Interval:
    return monotone(x, arb.atan, True, _NEG_HALF_PI_DOWN, _HALF_PI_UP)


def _erf(x: Interval) -> Interval:
    return monotone(x, arb.erf, True, -ONE, ONE)


def _erfc(x: Interval) -> Interval:
    return monotone(x, arb.erfc, False, ZERO, arb(2))


def _sigmoid(x: Interval) -> Interval:
    return monotone(x, _sigmoid_point, True, ZERO, ONE)


def _softplus(x: Interval) -> Interval:
    return monotone(x, _softplus_point, True, ZERO, None)


def _may_hit(x: Interval, offset: arb, period: arb) -> bool:
    r"""Whether :math:`[lo, hi]` may contain :math:`c + kP` for an integer :math:`k`.

    :math:`c` is ``offset``, :math:`P` is ``period``.

    :math:`k_0 = \lceil \underline{(lo - \mathrm{offset})/\mathrm{period}} \rceil` is at most the
    first admissible :math:`k`, so answering from :math:`k_0` can only over-report a hit.
    """
    t = (x.lo - offset) / period
    k0 = lower_end(t).ceil()
    return not (offset + k0 * period > x.hi)


def _periodic(x: Interval, f: Callable[[arb], arb], peak: arb, trough: arb) -> Interval:
    r"""Enclosure of sin or cos: endpoint values plus :math:`\pm 1` where a peak may lie."""
    if not x.is_finite:
        return Interval(-ONE, ONE)
    a, b = f(x.lo), f(x.hi)
    lo, hi = amin(lower_end(a), lower_end(b)), amax(upper_end(a), upper_end(b))
    if x.is_point:
        return clip(Interval(lo, hi), -ONE, ONE)
    two_pi = 2 * arb.pi()
    if _may_hit(x, peak, two_pi):
        hi = ONE
    if _may_hit(x, trough, two_pi):
        lo = -ONE
    return clip(Interval(lo, hi), -ONE, ONE)


def _sin(x: Interval) -> Interval:
    half = arb.pi() / 2
    return _periodic(x, arb.sin, half, -half)


def _cos(x: Interval) -> Interval:
    return _periodic(x, arb.cos, ZERO, arb.pi())


def _tan(x: Interval) -> Interval:
    pi = arb.pi()
    if not x.is_finite or _may_hit(x, pi / 2, pi):
        if x.is_point:
            raise IntervalDomainError("tan at a pole")
        return Interval(NEG_INF, POS_INF)
    return monotone(x, arb.tan, True)


def _floor(x: Interval) -> Interval:
    return monotone(x, arb.floor, True)


def _ceiling(x: Interval) -> Interval:
    return monotone(x, arb.ceil, True)


def _sign(x: Interval) -> Interval:
    return step_values(x, -ONE, Interval(ZERO, ZERO), ONE)


def step_values(x: Interval, left: arb, at0: Interval, right: arb) -> Interval:
    r"""Hull of a step function's values on the box.

    The function is ``left`` on :math:`(-\infty, 0)`, ``at0`` at 0 and ``right`` on
    :math:`(0, \infty)`.
    """
    parts = []
    if x.lo < 0:
        parts.append(Interval(left, left))
    if x.lo <= 0 <= x.hi:
        parts.append(at0)
    if x.hi > 0:
        parts.append(Interval(right, right))
    return hull(parts)


def max_iv(args: Sequence[Interval]) -> Interval:
    lo, hi = args[0].lo, args[0].hi
    for a in args[1:]:
        lo = amax(lo, a.lo)
        hi = amax(hi, a.hi)
    return Interval(lo, hi)


def min_iv(args: Sequence[Interval]) -> Interval:
    lo, hi = args[0].lo, args[0].hi
    for a in args[1:]:
        lo = amin(lo, a.lo)
        hi = amin(hi, a.hi)
    return Interval(lo, hi)


def _const_bounds() -> tuple[arb, arb]:
    # Valid at any working precision: computed once, rounded outward.
    with working_precision(256):
        return upper_end(arb.pi() / 2), upper_end(arb.pi())


_HALF_PI_UP, _PI_UP = _const_bounds()
_NEG_HALF_PI_DOWN = eneg(_HALF_PI_UP)

#: One-argument functions: SymPy class -> interval map.
_UNARY: dict[type, Callable[[Interval], Interval]] = {
    sp.exp: exp_iv,
    sp.log: log_iv,
    log1p: _log1p,
    expm1: _expm1,
    sp.sin: _sin,
    sp.cos: _cos,
    sp.tan: _tan,
    sp.sinh: _sinh,
    sp.cosh: _cosh,
    sp.tanh: _tanh,
    sp.asinh: _asinh,
    sp.acosh: _acosh,
    sp.atanh: _atanh,
    sp.asin: _asin,
    sp.acos: _acos,
    sp.atan: _atan,
    sp.erf: _erf,
    sp.erfc: _erfc,
    sp.Abs: abs_iv,
    sp.sign: _sign,
    sp.floor: _floor,
    sp.ceiling: _ceiling,
    sigmoid: _sigmoid,
    softplus: _softplus,
    sinc: lambda x: sinc_iv(0, x),
}

def unary_for(cls: type) -> Optional[Callable[[Interval], Interval]]:
    """Handler for a function class or its nearest registered base (e.g. a stable ``erfc``)."""
    for base in cls.__mro__:
        fn = _UNARY.get(base)
        if fn is not None:
            return fn
    return None


#: Functions with jumps: a box where they are not constant is not certified continuous.
JUMPS = (sp.sign, sp.floor, sp.ceiling, sp.Heaviside)


def pow_var_iv(b: Interval, g: Interval) -> Interval:
    r"""Enclosure of :math:`b^g = e^{g \log b}` for a variable exponent (real for :math:`b \ge 0`).

    SymPy's conventions at a zero base: :math:`0^g = 0` for :math:`g > 0`, :math:`0^0 = 1`,
    :math:`0^g` undefined for :math:`g < 0`.  With :math:`0 \cdot \infty = 0` the product
    :math:`g \log b` then covers all three cases when :math:`b` touches 0.
    """
    if b.lo < 0:
        raise IntervalDomainError(f"variable power of a possibly negative base {b!r}")
    if b.hi == 0:
        if g.lo < 0:
            raise IntervalDomainError("0 raised to a possibly negative power")
        parts = ([Interval(ZERO, ZERO)] if g.hi > 0 else []) + (
            [Interval(ONE, ONE)] if g.lo == 0 else [])
        return hull(parts)
    return exp_iv(mul_iv(g, log_iv(b)))
