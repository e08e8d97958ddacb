r"""Exact rewrites of expressions that round badly as written: cancelling sums, overflowing squares.

Each rule maps an expression to one equal to it for every real input where it is defined
(the tests evaluate both sides at 40 digits, and :func:`funclib.stable_forms.evaluation_form`
is checked against the plain derivative for every catalog entry). They are written for
floating-point evaluation, so they belong to the calculus layer that every consumer reads:
the CPU and CUDA kernel printers, the source export and :meth:`funclib.Entry.evaluation_form`.

==========================  ===========================================================
``log1mexp``                :math:`\log(-\mathrm{expm1}(u))` in Mächler's two branches
``log_odds_sum``            :math:`k\log u - k\,\mathrm{log1p}(-u)` as one log1p of an exact quotient
``conjugate_sqrt_sum``      :math:`R + k\sqrt Q` as :math:`(k^2Q - R^2)/(k\sqrt Q - R)` where R < 0
``atan_half_sum``           :math:`k\arctan u + k\pi/2` as :math:`-k\arctan(1/u)` for u < 0
``difference_of_squares``   :math:`c - a u^2` as :math:`a(k - u)(k + u)` for an exact u
``sqrt_without_overflow``   :math:`\sqrt{u^2 + c}` as :math:`|u|\sqrt{1 + c/u^2}` for |u| > 1
``simplify_rational``       an output rational in x and |x| over one cancelled denominator per side
==========================  ===========================================================
"""

from __future__ import annotations

import sympy as sp
from sympy.codegen.cfunctions import expm1, log1p

from ..special import sigmoid

__all__ = ["log1mexp", "is_log_of_neg_expm1", "log_odds_sum", "conjugate_splits", "conjugate_sqrt_sum", "atan_half_sum",
           "difference_of_squares", "is_sqrt_of_square_plus", "sqrt_without_overflow", "simplify_rational"]


#: Functions whose values lie in [-1, 1]: their squares never overflow.
_BOUNDED = (sp.tanh, sp.sin, sp.cos, sp.erf, sigmoid)


def log_odds_sum(e: sp.Add) -> sp.Expr:
    r"""A sum with terms :math:`k\log u` and :math:`-k\,\mathrm{log1p}(-u)` (numeric k): the
    log-odds :math:`\log(u/(1-u))`, which cancels next to :math:`u = 1/2` (logit was 1,024 ULP
    off there in float32). Written :math:`k\,\mathrm{log1p}((2u - 1)/(1 - u))` for
    :math:`u \ge 1/2` and :math:`-k\,\mathrm{log1p}((1 - 2u)/u)` for :math:`1/4 \le u < 1/2`:
    numerator and denominator are exact there (Sterbenz), so only the quotient is rounded, and
    log1p's condition number is below 1 for a nonnegative argument. The difference is kept
    below 1/4, where it does not cancel (:math:`\log u < -1.38`,
    :math:`|\mathrm{log1p}(-u)| < 0.29`) and :math:`1/u` could overflow."""
    for term in e.args:
        k, rest = term.as_coeff_Mul()
        if isinstance(rest, sp.log) and k.is_number:
            u = rest.args[0]
            partner = -k * log1p(-u)
            if partner not in e.args:
                continue
            half, quarter = sp.S.Half, sp.Rational(1, 4)
            odds = sp.Piecewise((log1p((2 * u - 1) / (1 - u)), u >= half),
                                (-log1p((1 - 2 * u) / u), u >= quarter),
                                (rest - log1p(-u), True))
            return e - term - partner + k * odds
    return e


def difference_of_squares(e: sp.Add) -> sp.Expr:
    r"""``c - a u**2`` (numbers c, a > 0; u the input or a parameter, exact in the kernel) as
    :math:`a(k - u)(k + u)`, :math:`k = \sqrt{c/a}`:
    near :math:`u = \pm k` the squares cancel after both were rounded (dsu's
    :math:`\pi^2 - x^2`: thousands of ULP within 0.01 of :math:`\pi`), while ``k - u`` is exact
    there (an irrational ``k`` prints as two terms, :meth:`Printer._add`); and ``u**2`` no
    longer overflows where the product is finite."""
    if len(e.args) != 2:
        return e
    c, term = (e.args[0], e.args[1]) if e.args[0].is_number else (e.args[1], e.args[0])
    if not c.is_number or term.is_number or not c.is_positive:
        return e
    a, square = term.as_coeff_Mul()
    if not (a.is_number and a.is_negative) or not (isinstance(square, sp.Pow) and square.exp == 2):
        return e
    if not isinstance(square.base, sp.Symbol):
        return e  # a rounded u (tanh(x) near -1) makes k + u cancel as badly: only exact inputs gain
    k = sp.sqrt(c / -a)
    return -a * (k - square.base) * (k + square.base)


def conjugate_splits(e: sp.Add, *, positive: bool = True):
    r"""Every way of reading the sum ``e`` as :math:`R + k\sqrt Q` (one term :math:`k\sqrt Q`
    with a number k, positive if ``positive``): yields ``(term, k, Q, R, N)`` with the conjugate
    numerator :math:`N = k^2 Q - R^2` expanded, so that :math:`e = N/(k\sqrt Q - R)`."""
    for term in e.args:
        k, rest = term.as_coeff_Mul()
        if not (k.is_positive if positive else k.is_number):
            continue
        if isinstance(rest, sp.Pow) and rest.exp == sp.S.Half:
            r = e - term
            yield term, k, rest.base, r, sp.expand(k**2 * rest.base - r**2)


def _conjugate_form(e: sp.Add) -> sp.Expr | None:
    r"""``R + k sqrt(Q)`` with ``c = k^2 Q - R^2`` free of R's symbols, written as
    :math:`c/(k\sqrt Q - R)` where R < 0, where the sum cancels (squareplus for x << 0)."""
    for term, _, q, r, c in conjugate_splits(e):
        if r == 0 or not r.free_symbols:
            continue
        if c.free_symbols & r.free_symbols or c.has(sp.Pow(q, sp.S.Half)):
            continue
        return sp.Piecewise((e, r >= 0), (c / (term - r), True))
    return None


def conjugate_sqrt_sum(e: sp.Add) -> sp.Expr:
    """The conjugate form of a cancelling ``R + k sqrt(Q)``, also as the numerator of a sum
    over a common denominator (squareplus' derivative ``(1 + x/sqrt(x**2 + b))/2``)."""
    if not e.has(sp.Pow) or e.has(sp.Piecewise):
        return e
    direct = _conjugate_form(e)
    if direct is not None:
        return direct
    if not any(isinstance(p, sp.Pow) and p.exp == -sp.S.Half for p in e.atoms(sp.Pow)):
        return e
    num, den = sp.fraction(sp.together(e))
    if isinstance(num, sp.Add):
        rewritten = _conjugate_form(num)
        # a Piecewise that SymPy collapsed (its keep condition always holds) needs no conjugate
        if isinstance(rewritten, sp.Piecewise) and len(rewritten.args) == 2:  # keep the sum where it does not cancel
            (_, keep), (conjugate, _) = rewritten.args
            return sp.Piecewise((e, keep), (conjugate / den, True))
    return e


def atan_half_sum(e: sp.Add) -> sp.Expr:
    r""":math:`k\arctan u + k\pi/2` (inside a longer sum too) as :math:`-k\arctan(1/u)`
    for u < 0, where the two terms cancel (ATLU's gate atan(x)/pi + 1/2 as x -> -inf)."""
    numeric = sum((a for a in e.args if a.is_number), sp.S.Zero)
    if numeric == 0:
        return e
    for term in e.args:
        atans = [f for f in sp.Mul.make_args(term) if isinstance(f, sp.atan)]
        if len(atans) != 1:
            continue
        rest = atans[0]
        k = term / rest
        if k.is_number and sp.simplify(numeric - k * sp.pi / 2) == 0:
            u = rest.args[0]
            others = e - term - numeric
            gate = sp.Piecewise((term + numeric, u >= 0), (-k * sp.atan(1 / u), True))
            return others + gate
    return e


def is_sqrt_of_square_plus(e: sp.Basic) -> bool:
    """``sqrt(u**2 + c)`` with ``c`` free of ``u``'s symbols (overflows in ``u**2``)."""
    if not (isinstance(e, sp.Pow) and e.exp in (sp.S.Half, -sp.S.Half) and isinstance(e.base, sp.Add)):
        return False
    squares = [a for a in e.base.args if isinstance(a, sp.Pow) and a.exp == 2]
    if len(squares) != 1:
        return False
    if isinstance(squares[0].base, _BOUNDED):
        return False  # |u| <= 1: u**2 cannot overflow (tanh(x)/sqrt(tanh(x)**2 + 1))
    rest = e.base - squares[0]
    return rest != 0 and not (rest.free_symbols & squares[0].free_symbols)


def sqrt_without_overflow(e: sp.Pow) -> sp.Expr:
    r""":math:`\sqrt{u^2 + c} = |u|\sqrt{1 + c/u^2}` for :math:`|u| > 1`: no overflow of
    :math:`u^2` (:math:`|u| > 1.3\cdot10^{154}` in float64), same accuracy."""
    square = next(a for a in e.base.args if isinstance(a, sp.Pow) and a.exp == 2)
    u, c = square.base, e.base - square
    far = sp.Abs(u) * sp.sqrt(1 + c / u**2)
    return sp.Piecewise((e, sp.Abs(u) <= 1), (far if e.exp > 0 else 1 / far, True))


def is_log_of_neg_expm1(e: sp.Basic) -> bool:
    if not isinstance(e, sp.log):
        return False
    arg = e.args[0]
    return arg.is_Mul and len(arg.args) == 2 and arg.args[0] == -1 and isinstance(arg.args[1], expm1)


def log1mexp(e: sp.log) -> sp.Expr:
    r"""``log(-expm1(u))`` = :math:`\log(1 - e^u)` (u < 0) in Mächler's two branches:
    ``log(-expm1(u))`` for u > -ln 2, ``log1p(-exp(u))`` below, where ``-expm1(u)`` is close
    to 1 and its log would cancel (M. Mächler, "Accurately computing log(1 - exp(-|a|))", 2012)."""
    u = e.args[0].args[1].args[0]
    return sp.Piecewise((e, u > -sp.log(2)), (log1p(-sp.exp(u)), True))


def simplify_rational(expr: sp.Expr, x: sp.Symbol) -> sp.Expr:
    """Bring an output that is rational in ``x`` and ``|x|`` over one denominator on each side
    of 0, cancelling common factors: the derivative of ``x/(1 + |x|)`` is written by the chain
    rule as ``1/(1 + |x|) - x sign(x)/(1 + |x|)**2``, whose terms cancel for large |x| (9 ULP
    at x = 9), and is ``1/(1 + |x|)**2`` once cancelled. Anything else is returned unchanged.
    """
    if not expr.has(x) or not expr.has(sp.Abs, sp.sign) or expr.has(sp.Piecewise):
        return expr
    a = sp.Symbol("_a", positive=True)
    sides = []
    for sign in (1, -1):
        side = expr.subs(x, sign * a)
        if side.has(sp.Abs, sp.sign) or not side.is_rational_function(a):
            return expr
        side = sp.factor(sp.cancel(sp.together(side)))  # factored: (1 + x)**2, not x**2 + 2x + 1
        sides.append(side.subs(a, sign * x))
    if sp.count_ops(sides[0]) + sp.count_ops(sides[1]) >= 2 * sp.count_ops(expr):
        return expr
    # same value at 0 from both sides and as written: kinks keep their conventions
    at_zero = [sp.simplify(e.subs(x, 0)) for e in (*sides, expr)]
    if any(v.has(sp.nan, sp.zoo) or not v.is_finite for v in at_zero) or len(set(at_zero)) != 1:
        return expr
    if sides[0] == sides[1]:
        return sides[0]
    return sp.Piecewise((sides[0], x >= 0), (sides[1], True))
