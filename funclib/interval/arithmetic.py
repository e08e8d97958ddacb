"""Interval arithmetic on :class:`~.endpoints.Interval`: ``+``, ``-``, ``*``, reciprocal, abs, integer
and constant powers, square root (outward rounded)."""

from __future__ import annotations

from typing import Callable, Optional

from flint import arb

from .endpoints import amax, amin, clip, Interval, IntervalDomainError, lower_end, NEG_INF, ONE, POS_INF, upper_end, ZERO


# --------------------------------------------------------------------------------------------
# Arithmetic
# --------------------------------------------------------------------------------------------


def eneg(a: arb) -> arb:
    """Exact negation (``-a`` would round to the context precision)."""
    return a.neg(exact=True)


def neg_iv(x: Interval) -> Interval:
    return Interval(eneg(x.hi), eneg(x.lo))


def add_iv(x: Interval, y: Interval) -> Interval:
    lo, hi = lower_end(x.lo + y.lo), upper_end(x.hi + y.hi)
    # Rounding must not push 1 + tiny below 1 (acosh, log1p domains): a + b >= a when b >= 0.
    if y.lo >= 0 and x.lo > lo:
        lo = x.lo
    if x.lo >= 0 and y.lo > lo:
        lo = y.lo
    if y.hi <= 0 and x.hi < hi:
        hi = x.hi
    if x.hi <= 0 and y.hi < hi:
        hi = y.hi
    return Interval(lo, hi)


def sub_iv(x: Interval, y: Interval) -> Interval:
    return Interval(lower_end(x.lo - y.hi), upper_end(x.hi - y.lo))


def _prod(a: arb, b: arb) -> arb:
    # Interval convention 0 * inf = 0: the infinite endpoint is a limit, never attained.
    if a == 0 or b == 0:
        return ZERO
    return a * b


def mul_iv(x: Interval, y: Interval) -> Interval:
    if x.is_point and y.is_point:
        return Interval.from_ball(_prod(x.lo, y.lo))
    ps = (_prod(x.lo, y.lo), _prod(x.lo, y.hi), _prod(x.hi, y.lo), _prod(x.hi, y.hi))
    lo = lower_end(ps[0])
    hi = upper_end(ps[0])
    for p in ps[1:]:
        lo = amin(lo, lower_end(p))
        hi = amax(hi, upper_end(p))
    return Interval(lo, hi)


def _recip(x: Interval) -> Interval:
    r"""Enclosure of :math:`1/t`; a zero endpoint gives an infinite one (pole)."""
    if x.lo > 0 or x.hi < 0:
        return Interval(lower_end(ONE / x.hi), upper_end(ONE / x.lo))
    if x.lo == 0 and x.hi == 0:
        raise IntervalDomainError("division by zero")
    if x.lo == 0:
        return Interval(lower_end(ONE / x.hi), POS_INF)
    if x.hi == 0:
        return Interval(NEG_INF, upper_end(ONE / x.lo))
    return Interval(NEG_INF, POS_INF)


def abs_iv(x: Interval) -> Interval:
    if x.lo >= 0:
        return x
    if x.hi <= 0:
        return neg_iv(x)
    return Interval(ZERO, amax(eneg(x.lo), x.hi))


def pow_int_iv(x: Interval, n: int) -> Interval:
    r"""Enclosure of :math:`t^n` for an integer :math:`n`."""
    if n == 0:
        return Interval(ONE, ONE)
    if n < 0:
        return _recip(pow_int_iv(x, -n))
    if n == 1:
        return x
    if n % 2 == 1:
        return Interval(lower_end(x.lo**n), upper_end(x.hi**n))
    if x.lo >= 0:
        return Interval(lower_end(x.lo**n), upper_end(x.hi**n))
    if x.hi <= 0:
        return Interval(lower_end(x.hi**n), upper_end(x.lo**n))
    return Interval(ZERO, amax(upper_end(x.lo**n), upper_end(x.hi**n)))


def _pow_endpoint(t: arb, p: Interval, positive: bool) -> arb:
    # t >= 0 exact; p is the enclosure of a constant exponent of known sign.
    if t == 0:
        return ZERO if positive else POS_INF
    if not t.is_finite():
        return POS_INF if positive else ZERO
    return t ** p.as_arb()


def pow_const_iv(x: Interval, p: Interval, positive: bool) -> Interval:
    r"""Enclosure of :math:`t^p` for a constant non-integer :math:`p` (principal branch)."""
    if x.lo < 0:
        raise IntervalDomainError(f"non-integer power of a possibly negative base {x!r}")
    if not positive and x.hi == 0:
        raise IntervalDomainError("0 raised to a negative power")
    a = _pow_endpoint(x.lo, p, positive)
    b = _pow_endpoint(x.hi, p, positive)
    if not positive:
        a, b = b, a
    return clip(Interval(lower_end(a), upper_end(b)), ZERO, None)




def sqrt_iv(x: Interval) -> Interval:
    if x.lo < 0:
        raise IntervalDomainError(f"sqrt of a possibly negative argument {x!r}")
    return monotone(x, arb.sqrt, True, ZERO, None)


def monotone(
    x: Interval,
    f: Callable[[arb], arb],
    increasing: bool,
    lo: Optional[arb] = None,
    hi: Optional[arb] = None,
) -> Interval:
    r"""Enclosure of a monotone :math:`f` from its endpoint values, clipped to its range."""
    if x.is_point:
        return clip(Interval.from_ball(f(x.lo)), lo, hi)
    if increasing:
        out = Interval(lower_end(f(x.lo)), upper_end(f(x.hi)))
    else:
        out = Interval(lower_end(f(x.hi)), upper_end(f(x.lo)))
    return clip(out, lo, hi)
