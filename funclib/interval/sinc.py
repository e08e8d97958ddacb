r"""Enclosures of the normalized sinc and its derivatives :math:`\operatorname{sinc}^{(k)}`.

Three rigorous pieces, intersected:

* near 0 (the removable singularity of :math:`\sin(\pi x)/(\pi x)`), the Taylor series
  :math:`\sum_{2n \ge k} c_n x^{2n-k}`, :math:`c_n = (-1)^n \pi^{2n}/((2n+1)(2n-k)!)`, summed
  to a term :math:`N` past which the ratio of consecutive term bounds,
  :math:`\pi^2 r^2 (2n+1)/((2n+3)(2n-k+1)(2n-k+2))` for :math:`|x| \le r`, is at most 1/2,
  plus the tail :math:`\le 2\,|c_N| r^{2N-k}` as an error ball: no 0/0;
* away from 0, Leibniz' rule on :math:`\sin(\pi x)\cdot(\pi x)^{-1}` in ball arithmetic, and
  for unbounded boxes the tail bound
  :math:`|\operatorname{sinc}^{(k)}(x)| \le \sum_j \binom{k}{j} \pi^{j-1} (k-j)!/|x|^{k-j+1}`;
* everywhere :math:`|\operatorname{sinc}^{(k)}| \le \pi^k/(k+1)` (from
  :math:`\operatorname{sinc}(x) = \int_0^1 \cos(\pi t x)\,dt`), and for the value
  :math:`-1/\pi \le \operatorname{sinc} \le 1` (it is positive on :math:`(-1, 1)` and
  :math:`|\operatorname{sinc}(x)| \le 1/(\pi |x|)`).
"""

from __future__ import annotations

import math

import flint
from flint import arb

from .endpoints import Interval, ONE, upper_end

__all__ = ["sinc_iv"]

#: Most series terms tried before the series gives way to the closed form or the global bound.
_MAX_TERMS = 400


def _global_range(k: int) -> tuple[arb, arb]:
    if k == 0:
        return -ONE / arb.pi(), ONE
    b = arb.pi() ** k / (k + 1)
    return -upper_end(b), upper_end(b)


def _series(k: int, ball: arb, r: arb) -> arb | None:
    """The Taylor series on ``ball`` (contained in ``[-r, r]``) with its tail as error radius."""
    pi2 = arb.pi() ** 2
    # even powers from x^2 >= 0 (arb's ball ** m goes through log and is NaN at 0)
    x2 = ball * ball
    x2 = arb.union(arb(0), upper_end(x2)) if x2.contains(0) else x2
    odd = ball if k % 2 else arb(1)
    total = arb(0)
    n = (k + 1) // 2
    eps = arb(2) ** (-flint.ctx.prec - 4)
    for _ in range(_MAX_TERMS):
        m = 2 * n - k
        coeff = (-1) ** n * arb.pi() ** (2 * n) / ((2 * n + 1) * arb(math.factorial(m)))
        bound = upper_end(abs(coeff) * _power(r, m))
        ratio = upper_end(pi2 * r * r * (2 * n + 1) / ((2 * n + 3) * (m + 1) * (m + 2)))
        if ratio <= 0.5 and bound <= upper_end(eps * (1 + abs(total.mid()))):
            # the remaining terms are bounded by a geometric series of ratio 1/2
            return total + arb(0, upper_end(2 * bound))
        total += coeff * odd * _power(x2, m // 2)
        n += 1
    return None


def _power(b: arb, m: int) -> arb:
    out = arb(1)
    for _ in range(m):
        out *= b
    return out


def _leibniz(k: int, ball: arb) -> arb:
    s, c = ball.sin_pi(), ball.cos_pi()
    quadrant = (s, c, -s, -c)
    total = arb(0)
    for j in range(k + 1):
        m = k - j
        total += (math.comb(k, j) * math.factorial(m) * (-1) ** m) * arb.pi() ** (j - 1) * quadrant[j % 4] / _power(ball, m + 1)
    return total


def _tail_bound(k: int, r: arb) -> arb:
    """Bound on :math:`|\\operatorname{sinc}^{(k)}(x)|` for :math:`|x| \\ge r > 0`."""
    total = arb(0)
    for j in range(k + 1):
        m = k - j
        total += math.comb(k, j) * math.factorial(m) * arb.pi() ** (j - 1) / _power(r, m + 1)
    return upper_end(total)


def sinc_iv(k: int, x: Interval) -> Interval:
    r"""Enclosure of :math:`\{\operatorname{sinc}^{(k)}(t) : t \in x\}` (``k = 0``: the value)."""
    lo, hi = _global_range(k)
    if x.lo.is_nan() or x.hi.is_nan():
        return Interval(lo, hi)
    has_zero = x.lo <= 0 <= x.hi
    values = []
    if not has_zero:
        t = _tail_bound(k, x.lo if x.lo > 0 else -x.hi)
        values.append(arb.union(-t, t))
    if x.is_finite:
        ball = x.as_arb()
        r = upper_end(abs(ball))
        if k == 0:
            values.append(ball.sinc_pi())
        else:
            # the series where the box reaches 0, the closed form away from it, both in between
            if has_zero or r <= 2:
                values.append(_series(k, ball, r))
            if not has_zero and r > 1:
                values.append(_leibniz(k, ball))
    for v in values:
        if v is not None and v.is_finite():
            lo, hi = max(lo, v.lower()), min(hi, v.upper())
    return Interval(lo, hi)
