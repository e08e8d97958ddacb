"""Plain float64 evaluation of SymPy expressions over NumPy arrays, by walking the tree.

This is the straightforward evaluator (no code generation, no ``lambdify``): it shows what a
formula gives in float64 when each operation is rounded, which is exactly where overflow-prone
textbook derivatives produce ``inf*0 = NaN``. It is used for plots, sampling estimates and the
stability tests; the fast path is the generated kernels.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import scipy.special as sc
import sympy as sp
from sympy.codegen.cfunctions import expm1, log1p

from .special import erfc, sigmoid, softplus

__all__ = ["np_evaluate", "numpy_function", "NpEvalError"]


class NpEvalError(ValueError):
    """The expression contains something the NumPy evaluator cannot handle."""


def _sigmoid(x: np.ndarray) -> np.ndarray:
    # Branch on the sign so that exp never overflows.
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


def _softplus(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))


def _heaviside(x: np.ndarray, h0=0.0) -> np.ndarray:
    return np.heaviside(x, h0)


_FUNCS: dict[type, Callable] = {
    sp.exp: np.exp,
    sp.log: np.log,
    sp.sin: np.sin,
    sp.cos: np.cos,
    sp.tan: np.tan,
    sp.sinh: np.sinh,
    sp.cosh: np.cosh,
    sp.tanh: np.tanh,
    sp.asin: np.arcsin,
    sp.acos: np.arccos,
    sp.atan: np.arctan,
    sp.asinh: np.arcsinh,
    sp.acosh: np.arccosh,
    sp.atanh: np.arctanh,
    sp.erf: sc.erf,
    sp.erfc: sc.erfc,
    erfc: sc.erfc,
    sp.erfinv: sc.erfinv,
    sp.Abs: np.abs,
    sp.sign: np.sign,
    sp.Heaviside: _heaviside,
    sp.floor: np.floor,
    sp.ceiling: np.ceil,
    sp.gamma: sc.gamma,
    sp.loggamma: sc.gammaln,
    sp.LambertW: lambda z, k=0: np.real(sc.lambertw(z, int(k))),
    log1p: np.log1p,
    expm1: np.expm1,
    sigmoid: _sigmoid,
    softplus: _softplus,
}


def numpy_function(expr: sp.Basic) -> Callable | None:
    """The NumPy/SciPy function that evaluates the head of the function application ``expr``
    (``sp.exp(x)`` -> ``np.exp``), or None when there is none.

    The table above covers SymPy's functions and funclib's :mod:`funclib.special` ones; a
    project special function without an entry carries its own float64 implementation as the
    class attribute ``_numpy_``.
    """
    return _FUNCS.get(type(expr)) or _FUNCS.get(expr.func) or getattr(type(expr), "_numpy_", None)


def _cond(cond: sp.Basic, env) -> np.ndarray:
    if cond is sp.true:
        return np.True_
    if cond is sp.false:
        return np.False_
    if isinstance(cond, sp.And):
        return np.logical_and.reduce([_cond(c, env) for c in cond.args])
    if isinstance(cond, sp.Or):
        return np.logical_or.reduce([_cond(c, env) for c in cond.args])
    if isinstance(cond, sp.Not):
        return np.logical_not(_cond(cond.args[0], env))
    if isinstance(cond, sp.core.relational.Relational):
        lhs, rhs = _eval(cond.lhs, env), _eval(cond.rhs, env)
        ops = {"<": np.less, "<=": np.less_equal, ">": np.greater, ">=": np.greater_equal,
               "==": np.equal, "!=": np.not_equal}
        return ops[cond.rel_op](lhs, rhs)
    raise NpEvalError(f"cannot evaluate condition {cond}")


def _eval(expr: sp.Basic, env):
    if expr.is_Symbol:
        try:
            return env[expr]
        except KeyError:
            raise NpEvalError(f"no value for symbol {expr}") from None
    if expr.is_Number or expr.is_NumberSymbol:
        return np.float64(float(expr)) if expr is not sp.nan else np.float64(np.nan)
    if expr is sp.oo:
        return np.float64(np.inf)
    if expr is sp.S.NegativeInfinity:
        return np.float64(-np.inf)
    if expr.is_Add:
        args = [_eval(a, env) for a in expr.args]
        total = args[0]
        for a in args[1:]:
            total = total + a
        return total
    if expr.is_Mul:
        args = [_eval(a, env) for a in expr.args]
        prod = args[0]
        for a in args[1:]:
            prod = prod * a
        return prod
    if expr.is_Pow:
        base = _eval(expr.base, env)
        if expr.exp == sp.S.Half:
            return np.sqrt(base)
        if expr.exp == -1:
            return 1 / base
        return np.power(base, _eval(expr.exp, env))
    if isinstance(expr, sp.Piecewise):
        values = [_eval(v, env) for v, _ in expr.args]
        conds = [_cond(c, env) for _, c in expr.args]
        return np.select(conds, values, default=np.nan)
    if isinstance(expr, (sp.Max, sp.Min)):
        args = [_eval(a, env) for a in expr.args]
        op = np.maximum if isinstance(expr, sp.Max) else np.minimum
        out = args[0]
        for a in args[1:]:
            out = op(out, a)
        return out
    func = numpy_function(expr)
    if func is None:
        raise NpEvalError(f"NumPy evaluator does not support {expr.func.__name__}")
    return func(*[_eval(a, env) for a in expr.args])


def np_evaluate(expr: sp.Expr, env: Mapping[sp.Symbol, np.ndarray]) -> np.ndarray:
    """Evaluate ``expr`` in float64 with NumPy at the arrays in ``env`` (symbol → array).

    Floating-point warnings (overflow, invalid) are silenced: the result shows them as
    inf/NaN, which is what the stability tests look for.
    """
    with np.errstate(all="ignore"):
        arrays = {s: np.asarray(v, dtype=np.float64) for s, v in env.items()}
        out = _eval(expr, arrays)
        shape = np.broadcast_shapes(*[a.shape for a in arrays.values()]) if arrays else ()
        return np.broadcast_to(np.asarray(out, dtype=np.float64), shape).copy()
