"""Odd and even symmetry: proven by simplification, refuted by a witness point."""

from __future__ import annotations

import mpmath
import sympy as sp

from ..limits import LIMIT_SECONDS
from ..mpeval import mp_evaluate
from ..timelimit import TimeLimitExceeded, time_limit
from .records import Fact

__all__ = ["symmetry_fact"]


def symmetry_fact(expr: sp.Expr, x: sp.Symbol, sign: int) -> Fact:
    """Odd (sign = -1: f(-x) = -f(x)) or even (sign = +1) symmetry."""
    what = "odd" if sign < 0 else "even"
    reflected = expr.subs(x, -x)
    try:
        with time_limit(LIMIT_SECONDS):
            diff = sp.simplify(reflected - sign * expr)
    except TimeLimitExceeded:
        diff = None
    if diff == 0:
        return Fact(True, "symbolic", f"simplify(f(-x) {'+' if sign < 0 else '-'} f(x)) = 0")
    # Look for a witness point; a clear nonzero value at 60 digits refutes the symmetry.
    for t in (0.3, 1.0, 1.7, 2.5, 4.0, 7.5, 0.05):
        a = mp_evaluate(reflected, {x: t}, 60)
        b = mp_evaluate(expr, {x: t}, 60)
        if mpmath.isnan(a) or mpmath.isnan(b):
            continue
        with mpmath.workdps(60):  # at the default 15 digits, sign*b would round b first
            refuted = abs(a - sign * b) > mpmath.mpf(10) ** -40 * (1 + abs(b))
        if refuted:
            return Fact(False, "symbolic", f"witness x = {t}: f(-x) = {mpmath.nstr(a, 8)}, f(x) = {mpmath.nstr(b, 8)}")
    return Fact(True, "estimated", f"no counterexample among sample points; simplify could not prove {what}ness")
