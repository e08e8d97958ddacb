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

Row-wise formulas (``docs/catalog-format.md``) are expanded for a concrete row length by
:func:`expand_rowwise`; an implicitly defined threshold (sparsemax, entmax) is represented by
:class:`RowThreshold` before expansion and by an :class:`ImplicitRoot` function of the row
after it, whose derivative is the implicit-function derivative and whose value is solved
numerically at the working precision of :mod:`funclib.mpeval`.
"""

from __future__ import annotations

from collections.abc import Sequence

import sympy as sp
from sympy.codegen.cfunctions import expm1, log1p
from sympy.core.parameters import evaluate as sp_evaluate

from .formula import RowMax, RowMin, RowSum, make_symbol
from .special import sigmoid, softplus

__all__ = [
    "derivative",
    "stabilize",
    "cse_outputs",
    "expand_rowwise",
    "ae_derivative",
    "rowwise_jacobian",
    "closed_form_jacobian",
    "RowThreshold",
    "ImplicitRoot",
    "ThresholdError",
    "row_vectors",
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
    # SymPy distributes numeric factors, so c*(1 - tanh(u)**2) arrives as c - c*tanh(u)**2:
    # match the constant term c with a term of coefficient -c (c = 1 is the common case).
    terms = list(e.args)
    for c in [t for t in terms if t.is_Number and t != 0]:
        others = list(terms)
        others.remove(c)
        for k, t in enumerate(others):
            coeff, core = t.as_coeff_Mul()
            rest = others[:k] + others[k + 1 :]
            if coeff == -c:
                # c - c*tanh(u)**2 -> c*cosh(u)**-2 (no cancellation where tanh(u) ~ 1)
                if core.is_Pow and isinstance(core.base, sp.tanh) and core.exp == 2:
                    return sp.Add(*rest, c * sp.cosh(core.base.args[0]) ** -2)
                # c - c*sigmoid(u) -> c*sigmoid(-u)
                if isinstance(core, sigmoid):
                    return sp.Add(*rest, c * sigmoid(-core.args[0]))
                # a*exp(u) - a -> a*expm1(u) (here a = -c)
                if isinstance(core, sp.exp):
                    return sp.Add(*rest, coeff * expm1(core.args[0]))
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


#: Highest derivative order computed symbolically (bounded work for any caller, the CLI included).
MAX_DERIVATIVE_ORDER = 20


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
    if order > MAX_DERIVATIVE_ORDER:
        # Symbolic derivatives grow combinatorially (GELU's 200th takes most of a minute).
        raise ValueError(f"derivative order {order} is above the limit of {MAX_DERIVATIVE_ORDER}")
    result = stabilize(expr) if stable else expr
    for _ in range(order):
        written = result.atoms(sp.Heaviside)
        result = _heaviside_zero(sp.diff(result, symbol), keep=written)
        # a.e. derivative: the Dirac masses of differentiated jumps are dropped (kinks are
        # reported by funclib.properties, which checks jumps separately).
        result = result.replace(sp.DiracDelta, lambda *args: sp.S.Zero)
        # floor and ceiling are locally constant: derivative 0 off the integers (their jumps
        # are reported by funclib.properties like any other discontinuity)
        result = result.replace(_is_step_derivative, lambda e: sp.S.Zero)
        result = result.replace(lambda e: isinstance(e, sp.Subs) and not e.expr.free_symbols, lambda e: e.expr)
        result = result.replace(_has_symbolic_power_pair, lambda e: sp.powsimp(e, combine="exp", deep=False))
        if stable:
            result = stabilize(result)
    return result


def _is_step_derivative(e: sp.Basic) -> bool:
    """``d floor(u)/du`` as SymPy leaves it (inside a ``Subs`` when u is not x: the emptied
    ``Subs(0, ...)`` is then dropped by the caller)."""
    return isinstance(e, sp.Derivative) and isinstance(e.expr, (sp.floor, sp.ceiling))


def _has_symbolic_power_pair(e: sp.Basic) -> bool:
    """A product with two powers of one base and a symbolic exponent: SymPy differentiates
    ``x**p`` to ``p*x**p/x``, which overflows (and is 0/0 at 0) where ``p*x**(p - 1)`` is not."""
    if not isinstance(e, sp.Mul):
        return False
    exponents: dict[sp.Expr, list[sp.Expr]] = {}
    for factor in e.args:
        base, exp = factor.as_base_exp()
        exponents.setdefault(base, []).append(exp)
    return any(len(exps) > 1 and any(not x.is_number for x in exps) for exps in exponents.values())


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


#: Suffixes of the running index of nested row reductions, outermost first (``x_j`` inside
#: ``sum()``, ``x_k`` inside a ``sum()`` nested in it, ...), as :mod:`funclib.formula` names them.
BOUND_SUFFIXES = ("j", "k", "l", "m")


class ThresholdError(ValueError):
    """An implicit threshold that cannot be solved (bracket without a sign change, NaN)."""


class RowThreshold(sp.Function):
    r"""An implicitly defined row threshold before expansion: ``RowThreshold(F, t, lo, hi)``.

    Stands for the value :math:`\tau(x)` with :math:`F(x, \tau) = 0`, where ``F`` is a
    row formula (with row reductions) in the unknown ``t``, nonincreasing in ``t`` and with
    :math:`F(lo) \ge 0 \ge F(hi)`. :func:`expand_rowwise` turns it into an
    :class:`ImplicitRoot` of the concrete row.
    """

    nargs = 4

    def _eval_is_real(self):
        return True


class ImplicitRoot(sp.Function):
    r"""The root :math:`\tau(x_0, \dots, x_{n-1})` of :math:`F(x, \tau) = 0` for one row length.

    Concrete subclasses are made by :func:`implicit_root_class` (one per equation); their
    arguments are the row entries, so SymPy's chain rule applies, with the derivative of the
    implicit function theorem

    .. math:: \partial\tau/\partial x_j = -\frac{\partial F/\partial x_j}{\partial F/\partial \tau}.

    ``_mpmath_`` (used by :func:`funclib.mpeval.mp_evaluate`) solves the equation at the working
    precision: bisection on the bracket until the sign pattern of ``F`` is fixed, then Newton
    steps safeguarded by the bracket (``F`` is smooth once its active set is fixed).
    """

    _equation: sp.Expr
    _unknown: sp.Symbol
    _lower: sp.Expr
    _upper: sp.Expr
    _inputs: tuple[sp.Symbol, ...]

    def _eval_is_real(self):
        return True

    def fdiff(self, argindex=1):
        cls = type(self)
        with sp_evaluate(True):
            dF_dx = ae_derivative(cls._equation, cls._inputs[argindex - 1])
            subs = dict(zip(cls._inputs, self.args))
            subs[cls._unknown] = self
            return (-dF_dx / cls._dF_dt).subs(subs, simultaneous=True)

    @classmethod
    def _mpmath_(cls, *values):
        import mpmath

        key = (tuple(values), mpmath.mp.prec)
        cache = cls._roots
        if key not in cache:
            if len(cache) > 4096:
                cache.clear()
            cache[key] = _solve_threshold(cls, values)
        return cache[key]


_IMPLICIT_CLASSES: dict[tuple, type] = {}


def implicit_root_class(
    equation: sp.Expr, unknown: sp.Symbol, lower: sp.Expr, upper: sp.Expr, inputs: Sequence[sp.Symbol]
) -> type:
    """The :class:`ImplicitRoot` subclass for an expanded equation ``F(inputs, unknown) = 0``."""
    key = (equation, unknown, lower, upper, tuple(inputs))
    cls = _IMPLICIT_CLASSES.get(key)
    if cls is None:
        with sp_evaluate(True):  # callers may expand unevaluated; derivatives need evaluation
            dF_dt = ae_derivative(equation, unknown)
        cls = type(
            unknown.name,
            (ImplicitRoot,),
            {
                "nargs": len(inputs),
                "_equation": equation,
                "_unknown": unknown,
                "_lower": lower,
                "_upper": upper,
                "_inputs": tuple(inputs),
                "_roots": {},
                "_dF_dt": dF_dt,
            },
        )
        _IMPLICIT_CLASSES[key] = cls
    return cls


def _solve_threshold(cls: type, values: Sequence) -> object:
    """Solve ``F(values, t) = 0`` for ``t`` at the current mpmath precision (see ImplicitRoot)."""
    import mpmath

    from .mpeval import mp_evaluate

    prec = mpmath.mp.prec
    dps = mpmath.mp.dps + 5
    env = dict(zip(cls._inputs, values))
    if any(mpmath.isnan(v) for v in values):
        return mpmath.nan

    def F(t):
        return mp_evaluate(cls._equation, {**env, cls._unknown: t}, dps)

    lo = mp_evaluate(cls._lower, env, dps)
    hi = mp_evaluate(cls._upper, env, dps)
    if not (mpmath.isfinite(lo) and mpmath.isfinite(hi)):
        return mpmath.nan  # e.g. a fully masked row: no finite bracket
    f_lo, f_hi = F(lo), F(hi)
    if mpmath.isnan(f_lo) or mpmath.isnan(f_hi) or f_lo < 0 or f_hi > 0 or lo > hi:
        raise ThresholdError(
            f"threshold {cls._unknown} of equation {cls._equation} = 0: bracket [{lo}, {hi}] "
            f"gives F = ({f_lo}, {f_hi}); need F(lo) >= 0 >= F(hi)"
        )
    if f_lo == 0:
        return lo
    if f_hi == 0:
        return hi
    # Bisection to about 60 bits relative to the bracket: enough to fix which terms are active.
    width = hi - lo
    for _ in range(64):
        mid = (lo + hi) / 2
        f_mid = F(mid)
        if f_mid == 0:
            return mid
        if f_mid > 0:
            lo = mid
        else:
            hi = mid
        if hi - lo <= width * mpmath.mpf(2) ** -60:
            break
    # Newton from the midpoint, kept inside [lo, hi]; bisect whenever a step leaves it.
    t = (lo + hi) / 2
    tol = mpmath.mpf(2) ** (-prec + 4) * max(abs(t), mpmath.mpf(2) ** -prec)
    for _ in range(8 + prec // 8):
        f_t = F(t)
        if f_t == 0:
            return t
        if f_t > 0:
            lo = t
        else:
            hi = t
        slope = mp_evaluate(cls._dF_dt, {**env, cls._unknown: t}, dps)
        step = f_t / slope if slope != 0 else mpmath.inf
        new = t - step
        if not (lo <= new <= hi) or not mpmath.isfinite(new):
            new = (lo + hi) / 2
        if abs(new - t) <= tol or hi - lo <= tol:
            return new
        t = new
    return t


def _lazy(expr: sp.Basic):
    """Unevaluated construction for expressions with an implicit threshold (see below)."""
    return sp_evaluate(not expr.has(RowThreshold, ImplicitRoot))


def row_vectors(expr: sp.Basic, vector: str = "x") -> list[str]:
    """Names of the row vectors an unexpanded row formula uses: ``vector`` first, then every
    other name ``v`` that appears as a component ``v_i`` or running element ``v_j``, ``v_k``..."""
    names = {vector}
    for s in expr.free_symbols | {a for e in expr.atoms(RowSum, RowMax, RowMin) for a in e.args[1:]}:
        base, sep, suffix = s.name.rpartition("_")
        if sep and base.isidentifier() and suffix in ("i",) + BOUND_SUFFIXES:
            names.add(base)
    return [vector] + sorted(names - {vector})


def _expand_reductions(expr: sp.Expr, xs: Sequence[sp.Symbol], others: dict[str, Sequence[sp.Symbol]] | None = None) -> sp.Expr:
    """Expand row reductions (and implicit thresholds) over the concrete row ``xs``.

    ``others`` maps the names of further row vectors (Gumbel noise ``g``, a row ``w`` of a
    weight matrix) to their symbols: inside a reduction whose running element is ``x_j``,
    ``g_j`` is the same position of ``g``.
    """
    others = dict(others or {})
    reducers = {RowSum: sp.Add, RowMax: sp.Max, RowMin: sp.Min}

    def expand_one(e):
        body, bound = e.args
        suffix = bound.name.rpartition("_")[2]
        terms = []
        for k, xk in enumerate(xs):
            subs = {bound: xk}
            for name, symbols in others.items():
                subs[make_symbol(f"{name}_{suffix}")] = symbols[k]
            terms.append(body.subs(subs, simultaneous=True))
        return reducers[type(e)](*terms)

    def expand_threshold(e):
        equation, unknown, lower, upper = e.args
        equation = _expand_reductions(equation, xs, others)
        lower = _expand_reductions(lower, xs, others)
        upper = _expand_reductions(upper, xs, others)
        inputs = list(xs) + [s for name in sorted(others) for s in others[name]]
        used = [s for s in inputs if s in (equation.free_symbols | lower.free_symbols | upper.free_symbols)]
        cls = implicit_root_class(equation, unknown, lower, upper, used)
        return cls(*used)

    # With an implicit threshold, expanded terms are built unevaluated: SymPy's Max/Min try to
    # order their arguments symbolically, which costs seconds once an ImplicitRoot is inside.
    # The tree is the same up to that canonicalization (the substitutions only rename leaves).
    with _lazy(expr):
        while expr.has(RowThreshold):
            expr = expr.replace(lambda e: isinstance(e, RowThreshold), expand_threshold)
        while expr.has(RowSum, RowMax, RowMin):
            expr = expr.replace(lambda e: type(e) in reducers, expand_one)
    return expr


def expand_rowwise(
    expr: sp.Expr, n: int, *, vector: str = "x", index: str = "i", vectors: Sequence[str] | None = None
) -> tuple[list[sp.Symbol], list[sp.Expr]]:
    """Expand a row-wise formula over ``x_i`` and row reductions for a concrete length ``n``.

    Returns the input symbols ``x0..x{n-1}`` and the ``n`` output expressions. Further row
    vectors (``vectors``; by default every ``v`` that the formula uses as ``v_i`` or ``v_j``,
    see :func:`row_vectors`) become ``v0..v{n-1}`` in the outputs.
    """
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"row length must be a positive integer, got {n!r}")
    xs = _vector(vector, n)
    names = list(vectors) if vectors is not None else row_vectors(expr, vector)
    others = {name: _vector(name, n) for name in names if name != vector}
    length = make_symbol("n")
    outputs = []
    for i in range(n):
        subs = {make_symbol(f"{vector}_{index}"): xs[i], length: sp.Integer(n)}
        for name, symbols in others.items():
            subs[make_symbol(f"{name}_{index}")] = symbols[i]
        with _lazy(expr):  # leaf renaming only; see _expand_reductions
            component = expr.xreplace(subs)
        outputs.append(_expand_reductions(component, xs, others))
    return xs, outputs


def ae_derivative(expr: sp.Expr, symbol: sp.Symbol) -> sp.Expr:
    """Derivative almost everywhere: H(0) = 0 for created Heavisides, Dirac masses dropped."""
    return _heaviside_zero(sp.diff(expr, symbol)).replace(sp.DiracDelta, lambda *args: sp.S.Zero)


def rowwise_jacobian(expr: sp.Expr, n: int, *, vectors: Sequence[str] | None = None) -> tuple[list[sp.Symbol], sp.Matrix]:
    """Symbolic Jacobian ``J[i, j] = d y_i / d x_j`` of a row-wise formula for length ``n``.

    The derivative is taken almost everywhere: Dirac masses from differentiated jumps
    (``Heaviside`` in a top-k selection) are dropped, as :func:`derivative` does.
    """
    xs, ys = expand_rowwise(expr, n, vectors=vectors)
    jac = sp.Matrix(n, n, lambda i, j: ae_derivative(ys[i], xs[j]))
    return xs, jac


def closed_form_jacobian(
    jacobian: sp.Expr, expr: sp.Expr, n: int, *, vectors: Sequence[str] | None = None
) -> tuple[list[sp.Symbol], sp.Matrix]:
    """Instantiate a stored general-n Jacobian formula for a concrete ``n``.

    The formula may use ``x_i``, ``x_j``, ``y_i``, ``y_j`` (the outputs), ``delta_ij``
    (Kronecker delta), ``n`` and row reductions over ``x`` (and an implicit threshold,
    already given as a :class:`RowThreshold`).
    """
    names_of_vectors = list(vectors) if vectors is not None else row_vectors(expr)
    xs, ys = expand_rowwise(expr, n, vectors=names_of_vectors)
    others = {name: _vector(name, n) for name in names_of_vectors if name != "x"}
    names = {name: make_symbol(name) for name in ("x_i", "x_j", "y_i", "y_j", "delta_ij", "n")}
    # Reductions first, once: their running element x_j is bound, unlike the column x_j.
    lazy = jacobian.has(RowThreshold) or expr.has(RowThreshold)
    with sp_evaluate(not lazy):
        template = _expand_reductions(jacobian.xreplace({names["n"]: sp.Integer(n)}), xs, others)
    jac = sp.zeros(n, n)
    for i in range(n):
        for j in range(n):
            subs = {
                names["y_i"]: ys[i], names["y_j"]: ys[j], names["delta_ij"]: sp.Integer(1 if i == j else 0),
                names["x_i"]: xs[i], names["x_j"]: xs[j],
            }
            for name, symbols in others.items():
                subs[make_symbol(f"{name}_i")] = symbols[i]
                subs[make_symbol(f"{name}_j")] = symbols[j]
            with sp_evaluate(not lazy):  # leaf replacement, as in expand_rowwise
                jac[i, j] = template.xreplace(subs)
    return xs, jac
