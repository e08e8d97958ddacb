"""Limits at ±inf and far branches: the calculus layer that proofs, entries and kernels share.

* :func:`far_branches`: the formula that holds for all large ±x (every piecewise construct
  replaced by its far branch);
* :func:`limit_at`: lim_{x→±∞} as a float, from ``sympy.limit`` (:func:`symbolic_limit`) or,
  failing that, from mpmath values far out (:func:`numeric_limit`, an estimate);
* :func:`end_limit`: the limit at an open end of a domain (±inf, or a finite end from inside).

Used by :mod:`funclib.properties` (limits and the tail argument of the proofs),
:meth:`funclib.entry.Entry.limits` and :mod:`funclib.kernels.limits`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from functools import lru_cache

import mpmath
import sympy as sp

from .mpeval import mp_evaluate
from .special import expm1, log1p, sigmoid, softplus
from .timelimit import TimeLimitExceeded, time_limit

__all__ = ["LIMIT_SECONDS", "far_branches", "limit_at", "symbolic_limit", "numeric_limit", "end_limit"]

#: Seconds one SymPy limit (or simplification in the proofs) may take before it is given up.
LIMIT_SECONDS = 20


def _to_float(value: sp.Expr) -> float:
    if value is sp.oo:
        return math.inf
    if value is sp.S.NegativeInfinity:
        return -math.inf
    return float(value)


def far_branches(expr: sp.Expr, x: sp.Symbol, direction: float, env: Mapping | None = None) -> sp.Expr:
    """Replace every piecewise construct by the branch that holds for all large ±x.

    Conditions are decided at x = ±1e300 (60 digits), with other symbols at their values in
    ``env``; catalog conditions are comparisons with constants, so the branch chosen there
    holds on a whole neighbourhood of ±∞.

    Parameters
    ----------
    expr : sympy.Expr
        The formula.
    x : sympy.Symbol
        Its variable.
    direction : float
        > 0 for +∞, < 0 for -∞.
    env : Mapping, optional
        Values of the other symbols (parameters).

    Returns
    -------
    sympy.Expr
        ``expr`` without ``Piecewise``/``Abs``/``Max``/``Min``/``Heaviside``/``sign`` at the
        top of its branches (``nan`` where no condition holds far out).
    """
    from .mpeval import condition_truth

    far = {s: mpmath.mpf(v) for s, v in (env or {}).items()}
    far[x] = mpmath.mpf(10) ** 300 * (1 if direction > 0 else -1)
    rewritten = expr.rewrite(sp.Piecewise) if expr.has(sp.Abs, sp.Max, sp.Min, sp.Heaviside, sp.sign) else expr

    def pick(pw: sp.Piecewise) -> sp.Expr:
        with mpmath.workdps(60):
            for value, cond in pw.args:
                if condition_truth(cond, far):
                    return value
        return sp.nan

    while rewritten.has(sp.Piecewise):
        rewritten = rewritten.replace(lambda e: isinstance(e, sp.Piecewise), pick)
    return rewritten


def _for_limits(expr: sp.Expr) -> sp.Expr:
    """The same function in the vocabulary sympy.limit knows (exp/log instead of ours)."""
    from .special import erfc as stable_erfc

    expr = expr.replace(lambda e: isinstance(e, stable_erfc), lambda e: sp.erfc(e.args[0]))
    expr = expr.replace(lambda e: isinstance(e, (sigmoid, softplus)), lambda e: e.rewrite(sp.exp))
    return expr.rewrite(sp.log).replace(lambda e: isinstance(e, (log1p, expm1)), lambda e: e.rewrite(sp.log))


def symbolic_limit(expr: sp.Expr, x: sp.Symbol, direction: float) -> float | None:
    """lim_{x→±∞} ``expr`` from ``sympy.limit`` on its far branch, as a float.

    Returns
    -------
    float or None
        The limit (±inf included; -0.0 given as 0.0), or None where SymPy fails, runs past
        :data:`LIMIT_SECONDS`, or finds no real number (oscillation, complex value).
    """
    target = sp.oo if direction > 0 else -sp.oo
    try:
        expr = _for_limits(far_branches(expr, x, direction))
        with time_limit(LIMIT_SECONDS):
            value = sp.limit(expr, x, target)
    except (TimeLimitExceeded, NotImplementedError, ValueError, TypeError, RecursionError, AttributeError):
        return None
    if value.is_extended_real is False or value.has(sp.AccumBounds) or value is sp.zoo or value is sp.nan:
        return None
    if value.is_number:
        try:
            return _to_float(value) + 0.0  # + 0.0 turns -0.0 into 0.0
        except TypeError:
            return None
    return None


def numeric_limit(expr: sp.Expr, x: sp.Symbol, direction: float) -> float:
    """Limit estimated from mpmath values at ±1e8 ... ±1e64 (an estimate, not a proof).

    Returns
    -------
    float
        The value at ±1e64 where it agrees with the one at ±1e32 to 1e-12 (relative), ±inf
        where its magnitude is above 1e40, else NaN.
    """
    values = []
    for e in (8, 16, 32, 64):
        v = mp_evaluate(expr, {x: math.copysign(10.0**e, direction)}, 60)
        values.append(v)
    last, prev = values[-1], values[-2]
    if mpmath.isnan(last):
        return math.nan
    if abs(last) > 1e40:
        return math.copysign(math.inf, float(last))
    if abs(last - prev) <= 1e-12 * max(1, abs(last)):
        return float(last) + 0.0
    return math.nan


@lru_cache(maxsize=4096)
def limit_at(expr: sp.Expr, x: sp.Symbol, direction: float) -> float:
    """lim_{x→±∞} expr as float (symbolic, else estimated numerically; NaN if neither)."""
    value = symbolic_limit(expr, x, direction)
    if value is not None:
        return value
    return numeric_limit(expr, x, direction)


@lru_cache(maxsize=4096)
def end_limit(expr: sp.Expr, x: sp.Symbol, end: float, direction: int) -> float:
    """Limit of expr at an open end of the domain (±inf, or a finite end from inside).

    Parameters
    ----------
    end : float
        The end of the domain (±inf or finite).
    direction : int
        +1 for the upper end (approached from below), -1 for the lower end.

    Returns
    -------
    float
        The limit (NaN where it was not found).
    """
    if math.isinf(end):
        return limit_at(expr, x, direction)
    try:
        with time_limit(LIMIT_SECONDS):
            value = sp.limit(_for_limits(expr), x, sp.nsimplify(end), "-" if direction > 0 else "+")
        return _to_float(value) if value.is_number and value.is_extended_real else math.nan
    except (TimeLimitExceeded, NotImplementedError, ValueError, TypeError):
        return math.nan
