"""High-precision reference evaluation of SymPy expressions with mpmath, by walking the tree.

This is the oracle the accuracy tests compare against. It does not use ``lambdify`` (which
generates and executes source code) and it never overflows: mpmath numbers have an unbounded
exponent, so the textbook derivative of Mish evaluates fine at x = -1000.

It can fail, though, or run for minutes, where a function gets an argument of astronomic
magnitude (``cosh(exp(1e300))`` raises ``OverflowError`` inside mpmath, ``gamma(exp(1e10))``
does not return). ``max_exponent`` makes such calls fail fast with ``OverflowError`` instead
(the oracle, :mod:`funclib.oracle`, then reports the point as undecided).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextvars import ContextVar

import mpmath
import sympy as sp
from sympy.codegen.cfunctions import expm1, log1p

from .special import mp_sigmoid, mp_softplus, erfc, sigmoid, softplus

__all__ = ["MpEvalError", "mp_evaluate", "mp_function"]


class MpEvalError(ValueError):
    """The expression contains something the mpmath evaluator cannot handle."""


#: Largest binary exponent of a function argument (None: no limit); set by mp_evaluate.
_MAX_EXPONENT: ContextVar[int | None] = ContextVar("funclib_mpeval_max_exponent", default=None)
#: Functions that are cheap at any argument (no transcendental evaluation).
_CHEAP = (sp.Abs, sp.sign, sp.Heaviside, sp.Max, sp.Min, sp.floor, sp.ceiling)


def _check_magnitude(func: sp.Basic, args: list) -> None:
    limit = _MAX_EXPONENT.get()
    if limit is None or isinstance(func, _CHEAP):
        return
    for a in args:
        if mpmath.isfinite(a) and a != 0 and abs(int(mpmath.mag(a))) > limit:
            raise OverflowError(f"argument of {func.func.__name__} has a binary exponent beyond {limit}")


def _heaviside(arg, h0=mpmath.mpf(0)):
    if mpmath.isnan(arg):
        return mpmath.nan
    return mpmath.mpf(1) if arg > 0 else mpmath.mpf(0) if arg < 0 else h0


def _sign(arg):
    if mpmath.isnan(arg):
        return mpmath.nan
    return mpmath.mpf(mpmath.sign(arg))


def _max(*args):
    if any(mpmath.isnan(a) for a in args):
        return mpmath.nan
    return max(args)


def _min(*args):
    if any(mpmath.isnan(a) for a in args):
        return mpmath.nan
    return min(args)


def _nan_guard(func: Callable) -> Callable:
    def wrapped(*args):
        if any(mpmath.isnan(a) for a in args):
            return mpmath.nan
        return func(*args)

    return wrapped


_FUNCS: dict[type, Callable] = {
    sp.exp: mpmath.exp,
    sp.log: mpmath.log,
    sp.sin: mpmath.sin,
    sp.cos: mpmath.cos,
    sp.tan: mpmath.tan,
    sp.sinh: mpmath.sinh,
    sp.cosh: mpmath.cosh,
    sp.tanh: mpmath.tanh,
    sp.asin: mpmath.asin,
    sp.acos: mpmath.acos,
    sp.atan: mpmath.atan,
    sp.asinh: mpmath.asinh,
    sp.acosh: mpmath.acosh,
    sp.atanh: mpmath.atanh,
    sp.erf: mpmath.erf,
    sp.erfc: mpmath.erfc,
    erfc: mpmath.erfc,
    sp.erfinv: _nan_guard(mpmath.erfinv),
    sp.Abs: abs,
    sp.sign: _sign,
    sp.Heaviside: _heaviside,
    sp.Max: _max,
    sp.Min: _min,
    sp.floor: _nan_guard(mpmath.floor),
    sp.ceiling: _nan_guard(mpmath.ceil),
    sp.gamma: mpmath.gamma,
    sp.loggamma: mpmath.loggamma,
    sp.LambertW: lambda z, k=0: mpmath.lambertw(z, int(k)).real,
    log1p: mpmath.log1p,
    expm1: mpmath.expm1,
    sigmoid: _nan_guard(mp_sigmoid),
    softplus: _nan_guard(mp_softplus),
}


def condition_truth(cond: sp.Basic, env: Mapping[sp.Symbol, mpmath.mpf]) -> bool | None:
    """Truth of a Piecewise condition; ``None`` when an operand is NaN."""
    if cond is sp.true:
        return True
    if cond is sp.false:
        return False
    if isinstance(cond, sp.And):
        parts = [condition_truth(c, env) for c in cond.args]
        return None if None in parts else all(parts)
    if isinstance(cond, sp.Or):
        parts = [condition_truth(c, env) for c in cond.args]
        return None if None in parts else any(parts)
    if isinstance(cond, sp.Not):
        inner = condition_truth(cond.args[0], env)
        return None if inner is None else not inner
    if isinstance(cond, sp.ITE):  # SymPy's form of a condition on a Piecewise value
        first = condition_truth(cond.args[0], env)
        return None if first is None else condition_truth(cond.args[1] if first else cond.args[2], env)
    if isinstance(cond, sp.core.relational.Relational):
        lhs = _eval(cond.lhs, env)
        rhs = _eval(cond.rhs, env)
        if mpmath.isnan(lhs) or mpmath.isnan(rhs):
            return None
        op = cond.rel_op
        return {
            "<": lhs < rhs,
            "<=": lhs <= rhs,
            ">": lhs > rhs,
            ">=": lhs >= rhs,
            "==": lhs == rhs,
            "!=": lhs != rhs,
        }[op]
    raise MpEvalError(f"cannot evaluate condition {cond}")


def _eval(expr: sp.Basic, env: Mapping[sp.Symbol, mpmath.mpf]):
    if expr.is_Symbol:
        try:
            return env[expr]
        except KeyError:
            raise MpEvalError(f"no value for symbol {expr}") from None
    if expr.is_Integer:
        return mpmath.mpf(int(expr))
    if expr.is_Rational:
        return mpmath.mpf(int(expr.p)) / int(expr.q)
    if expr.is_Float:
        return mpmath.mpf(expr._to_mpmath(mpmath.mp.prec))
    if expr is sp.pi:
        return +mpmath.pi
    if expr is sp.E:
        return mpmath.e()
    if expr is sp.oo:
        return mpmath.inf
    if expr is sp.S.NegativeInfinity:
        return -mpmath.inf
    if expr is sp.nan:
        return mpmath.nan
    if expr.is_Add:
        total = mpmath.mpf(0)
        for arg in expr.args:
            total += _eval(arg, env)
        return total
    if expr.is_Mul:
        prod = mpmath.mpf(1)
        for arg in expr.args:
            prod *= _eval(arg, env)
        return prod
    if expr.is_Pow:
        base = _eval(expr.base, env)
        exp = expr.exp
        if exp.is_Integer:
            return base ** int(exp)
        if exp == sp.S.Half:
            return mpmath.sqrt(base) if base >= 0 else mpmath.nan
        value = base ** _eval(exp, env)
        return value.real if isinstance(value, mpmath.mpc) and value.imag == 0 else (
            mpmath.nan if isinstance(value, mpmath.mpc) else value
        )
    if isinstance(expr, sp.Piecewise):
        for value, cond in expr.args:
            truth = condition_truth(cond, env)
            if truth is None:
                return mpmath.nan
            if truth:
                return _eval(value, env)
        return mpmath.nan  # no branch holds: outside the domain
    # Project special functions carry their own mpmath implementation (``_mpmath_``).
    func = _FUNCS.get(type(expr)) or _FUNCS.get(expr.func) or getattr(type(expr), "_mpmath_", None)
    if func is None:
        raise MpEvalError(f"mpmath evaluator does not support {expr.func.__name__}")
    args = [_eval(a, env) for a in expr.args]
    _check_magnitude(expr, args)
    value = func(*args)
    if isinstance(value, mpmath.mpc):
        return value.real if value.imag == 0 else mpmath.nan
    return value


def _number(value) -> mpmath.mpf:
    """An input value as mpf without rounding: SymPy numbers exactly, floats as their binary value."""
    if isinstance(value, mpmath.mpf):
        return value
    if isinstance(value, sp.Basic):
        return _eval(value, {})
    return mpmath.mpf(value)


def mp_evaluate(
    expr: sp.Expr, env: Mapping[sp.Symbol, object], dps: int = 40, *, max_exponent: int | None = None
):
    """Evaluate ``expr`` at the point ``env`` (symbol → number) with ``dps`` decimal digits.

    Numbers in ``env`` are converted exactly (a float64 input is its exact binary value).
    Returns an ``mpmath.mpf`` (NaN outside the real domain). With ``max_exponent``, a function
    argument whose binary exponent exceeds ``max_exponent`` in magnitude raises ``OverflowError``
    (Abs, sign, Heaviside, Max, Min, floor and ceiling excepted).
    """
    token = _MAX_EXPONENT.set(max_exponent)
    try:
        with mpmath.workdps(dps):
            point = {s: _number(v) for s, v in env.items()}
            return _eval(expr, point)
    finally:
        _MAX_EXPONENT.reset(token)


def mp_function(expr: sp.Expr, symbol: sp.Symbol, dps: int = 40) -> Callable[[object], object]:
    """A one-argument callable ``t ↦ expr(symbol=t)`` evaluated by :func:`mp_evaluate`."""

    def call(t):
        return mp_evaluate(expr, {symbol: t}, dps)

    return call
