"""Derivatives, stable rewrites, common-subexpression elimination and row-wise Jacobians.

Automatic derivatives of formulas such as Mish or GoLU contain products like
``x*exp(-x)*exp(-exp(-x))`` that evaluate to ``inf*0 = NaN`` in float64 long before the true
value leaves the float range. :func:`stabilize` rewrites such patterns into forms whose
float64 evaluation stays finite:

=================================  ==================================
pattern                            stable form
=================================  ==================================
``1/(1 + exp(u))``                 ``sigmoid(-u)``
``exp(v)*sigmoid(-v)``             ``sigmoid(v)``
``1 - sigmoid(u)``                 ``sigmoid(-u)``
``log(1 + exp(u))``                ``softplus(u)``
``log(sigmoid(u))``                ``-softplus(-u)``
``log(1 + u)``                     ``log1p(u)``
``exp(u) - 1``                     ``expm1(u)``
``exp(a)*exp(b)``                  ``exp(a + b)``
``exp(a)*(exp(b) + c)``            ``exp(a + b) + c*exp(a)``
``1 - tanh(u)**2``                 ``cosh(u)**(-2)``
``sinh(u)*cosh(u)**(-k)``          ``tanh(u)*cosh(u)**(1-k)``
=================================  ==================================

Products of an exponential with a sum that contains exponentials are distributed first, so
that every pair of exponentials is merged into one exponent before ``exp(b) - 1`` becomes
``expm1(b)`` (the second derivative of GoLU at x = -1000 needs that order).

Every rule is an identity of real analysis, so the rewritten expression equals the input
exactly; the tests check that by evaluating both at 40 digits.
"""

from __future__ import annotations

from collections.abc import Sequence

import sympy as sp
from sympy.codegen.cfunctions import expm1, log1p

from .formula import RowMax, RowMin, RowSum, make_symbol
from .special import sigmoid, softplus

__all__ = [
    "derivative",
    "stabilize",
    "cse_outputs",
    "expand_rowwise",
    "rowwise_jacobian",
    "closed_form_jacobian",
]

_MAX_PASSES = 6


def _is_one_plus_exp(e: sp.Expr) -> sp.Expr | None:
    """If ``e == 1 + exp(u)``, return ``u``."""
    if e.is_Add and len(e.args) == 2 and sp.S.One in e.args:
        other = e.args[0] if e.args[1] is sp.S.One else e.args[1]
        if isinstance(other, sp.exp):
            return other.args[0]
    return None


def _rewrite_pow(e: sp.Pow) -> sp.Expr:
    # (1 + exp(u))**(-k) -> sigmoid(-u)**k
    if e.exp.is_Integer and e.exp < 0:
        u = _is_one_plus_exp(e.base)
        if u is not None:
            return sigmoid(-u) ** (-e.exp)
    return e


def _rewrite_mul(e: sp.Mul) -> sp.Expr:
    factors = list(e.args)
    # exp(v) * sigmoid(-v)**k -> sigmoid(v) * sigmoid(-v)**(k-1)
    for i, f in enumerate(factors):
        if not isinstance(f, sp.exp):
            continue
        v = f.args[0]
        for j, g in enumerate(factors):
            base, power = (g.base, g.exp) if g.is_Pow else (g, sp.S.One)
            if (
                isinstance(base, sigmoid)
                and power.is_Integer
                and power >= 1
                and sp.expand(base.args[0] + v) == 0
            ):
                rest = [h for k, h in enumerate(factors) if k not in (i, j)]
                return sp.Mul(*rest, sigmoid(v), base ** (power - 1))
    # sinh(u) * cosh(u)**(-k) -> tanh(u) * cosh(u)**(1-k): the quotient inf/inf becomes 1*0.
    for i, f in enumerate(factors):
        if isinstance(f, sp.sinh):
            for j, g in enumerate(factors):
                if g.is_Pow and isinstance(g.base, sp.cosh) and g.base.args[0] == f.args[0] and g.exp.is_Integer and g.exp <= -1:
                    rest = [h for k, h in enumerate(factors) if k not in (i, j)]
                    return sp.Mul(*rest, sp.tanh(f.args[0]), g.base ** (g.exp + 1))
    # exp(a)*exp(b) -> exp(a+b): one exponent cannot overflow where the product would be inf*0.
    exps = [f for f in factors if isinstance(f, sp.exp)]
    if len(exps) > 1:
        rest = [f for f in factors if not isinstance(f, sp.exp)]
        return sp.Mul(*rest, sp.exp(sp.Add(*[f.args[0] for f in exps])))
    return e


def _has_top_exp(term: sp.Expr) -> bool:
    return isinstance(term, sp.exp) or (term.is_Mul and any(isinstance(f, sp.exp) for f in term.args))


def _distribute_once(e: sp.Basic) -> sp.Basic:
    """exp(a) * (exp(b) + c) -> exp(a)*exp(b) + c*exp(a), bottom-up."""
    if not e.args or e.is_Atom:
        return e
    args = [_distribute_once(a) for a in e.args]
    if any(a is not b for a, b in zip(args, e.args)):
        e = e.func(*args)
    if e.is_Mul and any(isinstance(f, sp.exp) for f in e.args):
        for k, f in enumerate(e.args):
            if f.is_Add and any(_has_top_exp(t) for t in f.args):
                rest = e.args[:k] + e.args[k + 1 :]
                return sp.Add(*[sp.Mul(*rest, t) for t in f.args])
    return e


def _rewrite_add(e: sp.Add) -> sp.Expr:
    terms = list(e.args)
    if sp.S.One in terms:
        others = [t for t in terms if t is not sp.S.One]
        for k, t in enumerate(others):
            # 1 - tanh(u)**2 -> cosh(u)**-2 (no cancellation where tanh(u) ~ 1)
            if (
                t.is_Mul and len(t.args) == 2 and t.args[0] is sp.S.NegativeOne
                and t.args[1].is_Pow and isinstance(t.args[1].base, sp.tanh) and t.args[1].exp == 2
            ):
                rest = others[:k] + others[k + 1 :]
                return sp.Add(*rest, sp.cosh(t.args[1].base.args[0]) ** -2)
            # 1 - sigmoid(u) -> sigmoid(-u)
            if t.is_Mul and t.args[0] is sp.S.NegativeOne and len(t.args) == 2:
                inner = t.args[1]
                if isinstance(inner, sigmoid):
                    rest = others[:k] + others[k + 1 :]
                    return sp.Add(*rest, sigmoid(-inner.args[0]))
    if sp.S.NegativeOne in terms:
        others = [t for t in terms if t is not sp.S.NegativeOne]
        for k, t in enumerate(others):
            # exp(u) - 1 -> expm1(u)
            if isinstance(t, sp.exp):
                rest = others[:k] + others[k + 1 :]
                return sp.Add(*rest, expm1(t.args[0]))
    return e


def _rewrite_log(e: sp.log) -> sp.Expr:
    arg = e.args[0]
    u = _is_one_plus_exp(arg)
    if u is not None:
        return softplus(u)
    if isinstance(arg, sigmoid):
        return -softplus(-arg.args[0])
    if arg.is_Add and sp.S.One in arg.args:
        return log1p(arg - 1)
    return e


_RULES = {
    sp.Pow: _rewrite_pow,
    sp.Mul: _rewrite_mul,
    sp.Add: _rewrite_add,
    sp.log: _rewrite_log,
}


def _rewrite_once(e: sp.Basic) -> sp.Basic:
    if not e.args or e.is_Atom:
        return e
    args = [_rewrite_once(a) for a in e.args]
    if any(a is not b for a, b in zip(args, e.args)):
        e = e.func(*args)
    rule = _RULES.get(type(e)) or _RULES.get(e.func)
    return rule(e) if rule is not None else e


def stabilize(expr: sp.Expr) -> sp.Expr:
    """Rewrite overflow-prone patterns into numerically stable, exactly equal forms.

    Parameters
    ----------
    expr : sympy.Expr
        Any expression.

    Returns
    -------
    sympy.Expr
        The same function, written with ``sigmoid``, ``softplus``, ``log1p``, ``expm1`` and
        merged exponentials where the table in the module docstring applies.
    """
    for _ in range(_MAX_PASSES):
        new = _distribute_once(expr)
        if new == expr:
            break
        expr = new
    for _ in range(_MAX_PASSES):
        new = _rewrite_once(expr)
        if new == expr:
            return new
        expr = new
    return expr


def derivative(
    expr: sp.Expr, symbol: sp.Symbol, order: int = 1, *, stable: bool = True
) -> sp.Expr:
    r"""The ``order``-th derivative :math:`d^k f/dx^k`, stabilized after each step.

    Kinks follow the formula's own branch structure (``where(x > 0, x, 0)`` has derivative 0
    at 0); ``Heaviside`` is 0 at 0 unless written otherwise, so ``Max(0, x)`` also gives
    ``relu'(0) = 0``.
    """
    if not isinstance(order, int) or order < 0:
        raise ValueError(f"derivative order must be a nonnegative integer, got {order!r}")
    result = stabilize(expr) if stable else expr
    for _ in range(order):
        written = result.atoms(sp.Heaviside)
        result = _heaviside_zero(sp.diff(result, symbol), keep=written)
        # a.e. derivative: the Dirac masses of differentiated jumps are dropped (kinks are
        # reported by funclib.properties, which checks jumps separately).
        result = result.replace(sp.DiracDelta, lambda *args: sp.S.Zero)
        if stable:
            result = stabilize(result)
    return result


def _heaviside_zero(expr: sp.Expr, keep: set[sp.Basic] = frozenset()) -> sp.Expr:
    """Give every Heaviside that differentiation created (from Max/Min/Abs) the value 0 at 0.

    SymPy's own default is H(0) = 1/2, which would make relu'(0) = 1/2 for ``Max(0, x)``;
    frameworks return 0. Heaviside terms the user wrote (``keep``) are left alone.
    """
    return expr.replace(
        lambda e: isinstance(e, sp.Heaviside) and e not in keep and e.args[1:] != (sp.S.Zero,),
        lambda e: sp.Heaviside(e.args[0], 0),
    )


def cse_outputs(exprs: Sequence[sp.Expr]) -> tuple[list[tuple[sp.Symbol, sp.Expr]], list[sp.Expr]]:
    """Common-subexpression elimination over several outputs at once (value, derivative, ...).

    Returns ``(replacements, reduced)`` as :func:`sympy.cse` does; the temporaries are named
    ``t0, t1, ...``.
    """
    symbols = sp.numbered_symbols("t", real=True)
    return sp.cse(list(exprs), symbols=symbols, order="none")


def _vector(name: str, n: int) -> list[sp.Symbol]:
    return [make_symbol(f"{name}{k}") for k in range(n)]


def _expand_reductions(expr: sp.Expr, xs: Sequence[sp.Symbol]) -> sp.Expr:
    reducers = {RowSum: sp.Add, RowMax: sp.Max, RowMin: sp.Min}
    while expr.has(RowSum, RowMax, RowMin):
        expr = expr.replace(
            lambda e: type(e) in reducers,
            lambda e: reducers[type(e)](*[e.args[0].subs(e.args[1], xk) for xk in xs]),
        )
    return expr


def expand_rowwise(
    expr: sp.Expr, n: int, *, vector: str = "x", index: str = "i"
) -> tuple[list[sp.Symbol], list[sp.Expr]]:
    """Expand a row-wise formula over ``x_i`` and row reductions for a concrete length ``n``.

    Returns the input symbols ``x0..x{n-1}`` and the ``n`` output expressions.
    """
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"row length must be a positive integer, got {n!r}")
    xs = _vector(vector, n)
    component = make_symbol(f"{vector}_{index}")
    length = make_symbol("n")
    outputs = [
        _expand_reductions(expr.subs({component: xs[i], length: n}), xs) for i in range(n)
    ]
    return xs, outputs


def rowwise_jacobian(expr: sp.Expr, n: int) -> tuple[list[sp.Symbol], sp.Matrix]:
    """Symbolic Jacobian ``J[i, j] = d y_i / d x_j`` of a row-wise formula for length ``n``."""
    xs, ys = expand_rowwise(expr, n)
    jac = sp.Matrix(n, n, lambda i, j: _heaviside_zero(sp.diff(ys[i], xs[j])))
    return xs, jac


def closed_form_jacobian(jacobian: sp.Expr, expr: sp.Expr, n: int) -> tuple[list[sp.Symbol], sp.Matrix]:
    """Instantiate a stored general-n Jacobian formula for a concrete ``n``.

    The formula may use ``x_i``, ``x_j``, ``y_i``, ``y_j`` (the outputs), ``delta_ij``
    (Kronecker delta), ``n`` and row reductions over ``x``.
    """
    xs, ys = expand_rowwise(expr, n)
    names = {name: make_symbol(name) for name in ("x_i", "x_j", "y_i", "y_j", "delta_ij", "n")}
    jac = sp.zeros(n, n)
    for i in range(n):
        for j in range(n):
            entry = jacobian.subs(
                {
                    names["y_i"]: ys[i],
                    names["y_j"]: ys[j],
                    names["delta_ij"]: 1 if i == j else 0,
                    names["n"]: n,
                },
                simultaneous=True,
            )
            entry = entry.subs({names["x_i"]: xs[i], names["x_j"]: xs[j]}, simultaneous=True)
            jac[i, j] = _expand_reductions(entry, xs)
    return xs, jac
