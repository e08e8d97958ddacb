"""Evaluate SymPy expressions with an array library's operations (PyTorch, jax.numpy), by walking
the tree.

The framework adapters (:mod:`funclib.torch`, :mod:`funclib.jax`) need a catalog formula and its
stabilized derivatives as *framework* operations: JAX traces them into XLA (``jit``, ``vmap``,
``grad``), PyTorch records them for higher derivatives. No source text is generated and nothing
is ``exec``'d or ``lambdify``'d: each SymPy node maps to one library call through a
:class:`Backend` table, so an expression the table does not cover is refused with a message
naming the function (:class:`ArrayEvalError`).

Expressions should be the stabilized forms (:func:`funclib.calculus.stabilize`): ``sigmoid``
and ``softplus`` are evaluated by their overflow-free formulas here, and ``Piecewise`` by
``where`` (both branches are evaluated; the stable forms keep the unused one finite).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import sympy as sp
from sympy.codegen.cfunctions import expm1, log1p

from .special import sigmoid, softplus

__all__ = ["ArrayEvalError", "Backend", "evaluate"]


class ArrayEvalError(ValueError):
    """The expression uses something the backend's table does not cover."""


@dataclass(frozen=True)
class Backend:
    """An array library as seen by :func:`evaluate`.

    Attributes
    ----------
    name : str
        For messages (``"torch"``, ``"jax"``).
    ns : Any
        The module with ``exp``, ``log``, ``tanh``, ``where``, ``maximum``, ... (``torch``,
        ``jax.numpy``).
    funcs : mapping
        Extra SymPy-function → callable entries (``erf``, ``erfc``, ...) where the name differs
        from SymPy's or the function lives elsewhere (``torch.special``, ``jax.scipy.special``).
    """

    name: str
    ns: Any
    funcs: Mapping[type, Callable] = field(default_factory=dict)

    def call(self, func: type, args: list) -> Any:
        fn = self.funcs.get(func)
        if fn is None:
            fn = _COMMON.get(func)
            if fn is None:
                raise ArrayEvalError(f"the {self.name} evaluator does not support {func.__name__}")
            return fn(self.ns, *args)
        return fn(*args)


def _sigmoid(ns, x):
    # Branch on the sign so that exp never overflows.
    e = ns.exp(-ns.abs(x))
    return ns.where(x >= 0, 1 / (1 + e), e / (1 + e))


def _softplus(ns, x):
    return ns.maximum(x, ns.zeros_like(x)) + ns.log1p(ns.exp(-ns.abs(x)))


_COMMON: dict[type, Callable] = {
    sp.exp: lambda ns, x: ns.exp(x),
    sp.log: lambda ns, x: ns.log(x),
    sp.sin: lambda ns, x: ns.sin(x),
    sp.cos: lambda ns, x: ns.cos(x),
    sp.tan: lambda ns, x: ns.tan(x),
    sp.sinh: lambda ns, x: ns.sinh(x),
    sp.cosh: lambda ns, x: ns.cosh(x),
    sp.tanh: lambda ns, x: ns.tanh(x),
    sp.asin: lambda ns, x: ns.arcsin(x),
    sp.acos: lambda ns, x: ns.arccos(x),
    sp.atan: lambda ns, x: ns.arctan(x),
    sp.asinh: lambda ns, x: ns.arcsinh(x),
    sp.acosh: lambda ns, x: ns.arccosh(x),
    sp.atanh: lambda ns, x: ns.arctanh(x),
    sp.Abs: lambda ns, x: ns.abs(x),
    sp.sign: lambda ns, x: ns.sign(x),
    sp.floor: lambda ns, x: ns.floor(x),
    sp.ceiling: lambda ns, x: ns.ceil(x),
    log1p: lambda ns, x: ns.log1p(x),
    expm1: lambda ns, x: ns.expm1(x),
    sp.Heaviside: lambda ns, x, h0=0.0: ns.where(x > 0, 1.0, ns.where(x < 0, 0.0, h0)),
    sigmoid: _sigmoid,
    softplus: _softplus,
}

_RELATIONS = {"<": "less", "<=": "less_equal", ">": "greater", ">=": "greater_equal", "==": "equal",
              "!=": "not_equal"}


class _Walker:
    def __init__(self, backend: Backend, env: Mapping[sp.Symbol, Any], like: Any):
        self.b, self.ns, self.env, self.like = backend, backend.ns, env, like

    def cond(self, c: sp.Basic):
        ns = self.ns
        if c is sp.true:
            return ns.ones_like(self.like, dtype=bool)
        if c is sp.false:
            return ns.zeros_like(self.like, dtype=bool)
        if isinstance(c, (sp.And, sp.Or)):
            parts = [self.cond(a) for a in c.args]
            out = parts[0]
            for p in parts[1:]:
                out = ns.logical_and(out, p) if isinstance(c, sp.And) else ns.logical_or(out, p)
            return out
        if isinstance(c, sp.Not):
            return ns.logical_not(self.cond(c.args[0]))
        if isinstance(c, sp.core.relational.Relational):
            return getattr(ns, _RELATIONS[c.rel_op])(self.value(c.lhs), self.value(c.rhs))
        raise ArrayEvalError(f"the {self.b.name} evaluator cannot evaluate the condition {c}")

    def value(self, e: sp.Basic):  # noqa: C901 - one case per node type, as in npeval
        ns = self.ns
        if e.is_Symbol:
            try:
                return self.env[e]
            except KeyError:
                raise ArrayEvalError(f"no value for symbol {e}") from None
        if not e.free_symbols:
            # constants fold to Python floats (sqrt(2/pi), ...): weakly typed, so the library
            # keeps the array's dtype (a float32 input is not promoted)
            return float(e) if e.is_Number else float(sp.N(e, 20))
        if e.is_Add or e.is_Mul:
            args = [self.value(a) for a in e.args]
            out = args[0]
            for a in args[1:]:
                out = out + a if e.is_Add else out * a
            return out
        if e.is_Pow:
            base = self.value(e.base)
            if e.exp == sp.S.Half:
                return ns.sqrt(base)
            if e.exp == -1:
                return 1 / base
            if e.exp.is_Integer and 0 < int(e.exp) <= 4:
                out = base
                for _ in range(int(e.exp) - 1):
                    out = out * base
                return out
            return base ** self.value(e.exp)
        if isinstance(e, sp.Piecewise):
            # Last branch first: where() nests so that the first true condition wins.
            out = None
            for expr, c in reversed(e.args):
                v = self.value(expr)
                if out is None:
                    if c is not sp.true:
                        raise ArrayEvalError(f"Piecewise without a final 'otherwise' branch: {e}")
                    out = v
                else:
                    out = ns.where(self.cond(c), v, out)
            return out
        if isinstance(e, (sp.Max, sp.Min)):
            args = [self.value(a) for a in e.args]
            op = ns.maximum if isinstance(e, sp.Max) else ns.minimum
            out = args[0]
            for a in args[1:]:
                out = op(out, a)
            return out
        return self.b.call(e.func, [self.value(a) for a in e.args])


def evaluate(expr: sp.Expr, env: Mapping[sp.Symbol, Any], backend: Backend, like: Any) -> Any:
    r"""The value of ``expr`` at the arrays in ``env``, computed with ``backend``'s operations.

    Parameters
    ----------
    expr : sympy.Expr
        A (stabilized) expression in the symbols of ``env``.
    env : mapping
        Symbol → array (or Python float); arrays broadcast like the library broadcasts them.
    backend : Backend
        The operations to use.
    like : array
        An array of the result's dtype and device (for boolean constants).

    Returns
    -------
    array or float
        A Python float when ``expr`` is constant (callers broadcast it).
    """
    return _Walker(backend, env, like).value(expr)
