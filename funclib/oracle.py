"""Correctly rounded float64 reference values of an expression at float64 points.

A fixed working precision is not enough for an oracle: at 40 digits ``log(-expm1(-700))``
evaluates to 0 instead of -9.86e-305 (1 - 9.9e-305 rounds to 1), and doubling the precision
does not reveal it because both runs give the same wrong answer. Ball arithmetic does: the
python-flint ``arb`` enclosure of the exact value (:mod:`funclib.interval`) carries its own
error bound, so the precision is raised until both ends of the ball round to the same float64.
That float is the correctly rounded value. Where the interval engine does not support a
function, mpmath at ``dps`` digits is used instead (and the result is not guaranteed).
"""

from __future__ import annotations

import math

import mpmath
import sympy as sp

from . import interval
from .mpeval import mp_evaluate

__all__ = ["reference_value", "PRECISIONS"]

#: Working precisions (bits) tried in turn; 1 - 1e-4000 needs about 13300 bits.
PRECISIONS = (128, 320, 1024, 4096, 16384)


def _nearest_float(a) -> float:
    """Round an exact arb endpoint to the nearest float64 (through an exact mpmath value)."""
    if not a.is_finite():
        return math.inf if a > 0 else -math.inf
    man, exp = a.mid().man_exp()
    with mpmath.workprec(max(64, int(man).bit_length() + 8)):
        return float(mpmath.mpf((int(man), int(exp)))) + 0.0


def reference_value(expr: sp.Expr, x: sp.Symbol, t: float, *, dps: int = 40) -> float:
    """The float64 nearest to ``expr(x = t)`` for a finite float64 ``t``.

    Returns NaN where the expression is undefined at ``t``.
    """
    for prec in PRECISIONS:
        try:
            ball = interval.enclose(expr, x, t, t, prec=prec)
        except interval.IntervalDomainError:
            return math.nan
        except interval.IntervalError:
            break  # unsupported function: fall back to mpmath below
        lo, hi = _nearest_float(ball.lo), _nearest_float(ball.hi)
        if lo == hi:
            return lo
    value = mp_evaluate(expr, {x: t}, dps)
    return float(value) + 0.0 if not mpmath.isnan(value) else math.nan
