r"""Candidate rewrites for the rewrite search: exact identities of real analysis.

Each rule maps an output to an equal expression (or returns it unchanged) that may round
better in floating point; :mod:`funclib.kernels.rewrite_search` measures which one does. The
rules (every one is an identity for all real x where the input is defined; the tests evaluate
both sides at 40 digits):

``expm1``
    :math:`c e^u - c \to c\,\mathrm{expm1}(u)`, :math:`c\cosh u - c \to 2c\sinh^2(u/2)`,
    :math:`c - c\,\sigma(u) \to c\,\sigma(-u)`, and :math:`\log A \to \mathrm{log1p}(A - 1)`
    where :math:`A - 1` has such a form (:math:`\log\cosh x = \mathrm{log1p}(2\sinh^2(x/2))`).
``conjugate``
    :math:`R + k\sqrt Q \to (k^2 Q - R^2)/(k\sqrt Q - R)` where :math:`k^2Q - R^2` expands to
    a shorter expression without :math:`\sqrt Q` (:math:`\sqrt{x^2+1} - 1 = x^2/(\sqrt{x^2+1}+1)`).
``cancel``
    :math:`x\,\mathrm{sign}(x) \to |x|`, then every sum over one denominator with common
    factors cancelled (:math:`1/(1+|x|) - |x|/(1+|x|)^2 = 1/(1+|x|)^2`).
``radicand``
    :math:`(x^{-2q}B)^r = |x|^{-2qr} B^r` for a radicand with negative even powers of x
    (:math:`1/\sqrt{1 + x^{-2}} = |x|/\sqrt{x^2 + 1}`: no :math:`x^{-2}` overflow near 0).
``factor_x``
    a sum whose terms all have the factor x as :math:`x(\dots)` (one rounding fewer near 0).
``log_domain``
    :math:`\log(c\cosh u) = \log c + |u| - \log 2 + \mathrm{log1p}(e^{-2|u|})` and
    :math:`\tanh u = \mathrm{sign}(u)(1 - 2e^{-2|u|}/(1 + e^{-2|u|}))`, products expanded, so
    that the large terms :math:`|u|` cancel symbolically (:math:`x\tanh x - \log\cosh x` for
    large |x|).
``exp_rational``
    an output that is a rational function of :math:`E = e^{gx}` (sigmoid, expm1, tanh, cosh,
    sinh written with exponentials) over one cancelled denominator; where that is
    :math:`N(E)/(1 + E)^b` with :math:`\deg N \le b`, as
    :math:`\sum_j c_j\,\sigma(gx)^j\sigma(-gx)^{b-j}` (no overflow):
    :math:`\sigma(x) - \mathrm{expm1}(x)\sigma(x)\sigma(-x) = 2\sigma(x)\sigma(-x)`.
"""

from __future__ import annotations

from collections.abc import Callable

import sympy as sp
from sympy.codegen.cfunctions import expm1, log1p

from ..special import sigmoid
from .cancelling import conjugate_splits

__all__ = ["RULES", "expm1_forms", "conjugate_forms", "cancel_forms", "radicand_forms", "factor_x", "log_domain",
           "exp_rational"]


def _numeric_part(e: sp.Add) -> sp.Expr:
    return sp.Add(*[a for a in e.args if a.is_number])


def _complement(e: sp.Add) -> sp.Expr:
    """One pass of the ``expm1`` patterns over a sum with a numeric term."""
    c0 = _numeric_part(e)
    if c0 == 0:
        return e
    for term in e.args:
        k, rest = term.as_coeff_Mul()
        if not (k.is_number and (k + c0) == 0):
            continue
        others = e - term - c0
        if isinstance(rest, sp.exp):
            return others + k * expm1(rest.args[0])
        if isinstance(rest, sp.cosh):
            return others + 2 * k * sp.sinh(rest.args[0] / 2) ** 2
        if isinstance(rest, sigmoid):
            return others + c0 * sigmoid(-rest.args[0])
    return e


def _log1p_form(e: sp.log) -> sp.Expr:
    arg = e.args[0]
    d = arg - 1
    if isinstance(d, sp.Add):
        d2 = _complement(d)
        if d2 == d and _numeric_part(d) != 0:
            return e  # A - 1 still cancels: log1p gains nothing
        d = d2
    return log1p(d)


def expm1_forms(e: sp.Expr) -> sp.Expr:
    """The ``expm1`` rule (module docstring), bottom-up."""
    e = e.replace(lambda a: isinstance(a, sp.Add), _complement)
    return e.replace(lambda a: isinstance(a, sp.log), _log1p_form)


def _conjugate(e: sp.Add) -> sp.Expr:
    for term, k, q, r, num in conjugate_splits(e, positive=False):
        if num.has(sp.sqrt(q)) or num == 0:
            continue
        if sp.count_ops(num) > sp.count_ops(k**2 * q) + sp.count_ops(r):
            continue  # nothing cancelled
        return num / (term - r)
    return e


def conjugate_forms(e: sp.Expr) -> sp.Expr:
    """The ``conjugate`` rule (module docstring), on every sum with a square root term."""
    return e.replace(lambda a: isinstance(a, sp.Add) and a.has(sp.Pow), _conjugate)


def cancel_forms(e: sp.Expr, x: sp.Symbol) -> sp.Expr:
    """The ``cancel`` rule (module docstring); |x| is a positive symbol while cancelling,
    which keeps every step a polynomial identity."""
    e = _sign_abs(e, x)
    a = sp.Symbol("_abs_x", positive=True)
    plain = e.xreplace({sp.Abs(x): a})

    def one(s: sp.Add) -> sp.Expr:
        if not (s.has(x) or s.has(a)) or s.has(sp.Piecewise):
            return s
        c = sp.factor(sp.cancel(sp.together(s)))
        return c if sp.count_ops(c) <= sp.count_ops(s) + 2 else s

    return plain.replace(lambda s: isinstance(s, sp.Add), one).xreplace({a: sp.Abs(x)})


def _radicand(p: sp.Pow, x: sp.Symbol) -> sp.Expr:
    if not (isinstance(p.base, sp.Add) and p.exp.is_Rational and not p.exp.is_Integer):
        return p
    worst = 0
    for t in p.base.args:
        for f in sp.Mul.make_args(t):
            if isinstance(f, sp.Pow) and f.base == x and f.exp.is_Integer and f.exp < 0:
                worst = min(worst, int(f.exp))
            elif f.has(x) and f != x and not (isinstance(f, sp.Pow) and f.base == x):
                return p  # x inside another function: not a polynomial in x and 1/x
    q = -worst // 2 + (-worst) % 2  # x**(-2q) with 2q >= the largest negative power
    if q == 0:
        return p
    scale = -2 * q * p.exp
    if not scale.is_positive:
        return p
    b = sp.expand(p.base * x ** (2 * q))
    return sp.Abs(x) ** scale * b**p.exp


def radicand_forms(e: sp.Expr, x: sp.Symbol) -> sp.Expr:
    """The ``radicand`` rule (module docstring)."""
    return e.replace(lambda a: isinstance(a, sp.Pow), lambda a: _radicand(a, x))


def factor_x(e: sp.Expr, x: sp.Symbol) -> sp.Expr:
    """The ``factor_x`` rule (module docstring), on the outermost sum."""
    if not isinstance(e, sp.Add):
        return e

    def has_x(t: sp.Expr) -> bool:
        return any(f == x or (isinstance(f, sp.Pow) and f.base == x and f.exp.is_positive)
                   for f in sp.Mul.make_args(t))

    if not all(has_x(t) for t in e.args):
        return e
    return x * sp.Add(*[t / x for t in e.args])


def _sign_abs(e: sp.Expr, x: sp.Symbol) -> sp.Expr:
    """``x*sign(x)`` -> ``|x|`` in every product (an identity, also at 0)."""
    return e.replace(lambda a: a.is_Mul and x in a.args and sp.sign(x) in a.args,
                     lambda a: a / (x * sp.sign(x)) * sp.Abs(x))


def log_domain(e: sp.Expr, x: sp.Symbol) -> sp.Expr:
    """The ``log_domain`` rule (module docstring)."""
    if not e.has(sp.cosh, sp.tanh):
        return e

    def log_cosh(a: sp.log) -> sp.Expr:
        c, rest = a.args[0].as_coeff_Mul()
        if not (isinstance(rest, sp.cosh) and c.is_positive):
            return a
        u = sp.Abs(rest.args[0])
        return sp.log(c) + u - sp.log(2) + log1p(sp.exp(-2 * u))

    def tanh(a: sp.tanh) -> sp.Expr:
        u = a.args[0]
        w = sp.exp(-2 * sp.Abs(u))
        return sp.sign(u) * (1 - 2 * w / (1 + w))

    out = e.replace(lambda a: isinstance(a, sp.log), log_cosh)
    out = out.replace(lambda a: isinstance(a, sp.tanh), tanh)
    return _sign_abs(sp.expand_mul(out), x)


def _in_exponentials(e: sp.Expr) -> sp.Expr:
    e = e.replace(lambda a: isinstance(a, sigmoid), lambda a: 1 / (1 + sp.exp(-a.args[0])))
    e = e.replace(lambda a: isinstance(a, expm1), lambda a: sp.exp(a.args[0]) - 1)
    e = e.replace(lambda a: isinstance(a, sp.tanh),
                  lambda a: (sp.exp(2 * a.args[0]) - 1) / (sp.exp(2 * a.args[0]) + 1))
    e = e.replace(lambda a: isinstance(a, sp.cosh), lambda a: (sp.exp(a.args[0]) + sp.exp(-a.args[0])) / 2)
    return e.replace(lambda a: isinstance(a, sp.sinh), lambda a: (sp.exp(a.args[0]) - sp.exp(-a.args[0])) / 2)


def _back(r: sp.Expr, big: sp.Symbol, u: sp.Expr) -> sp.Expr:
    """``E -> exp(u)``, with the factor ``E - 1`` as ``expm1(u)`` (no cancellation near 0)."""
    return r.xreplace({big - 1: expm1(u)}).xreplace({big: sp.exp(u)})


def exp_rational(e: sp.Expr, x: sp.Symbol) -> sp.Expr:
    """The ``exp_rational`` rule (module docstring); unchanged unless every exponential is
    :math:`e^{kx}` with rational k."""
    f = _in_exponentials(e)
    exps = f.atoms(sp.exp)
    if not exps:
        return e
    ks = []
    for a in exps:
        k = sp.simplify(a.args[0] / x)
        if not k.is_Rational:
            return e
        ks.append(k)
    g = ks[0]
    for k in ks[1:]:
        g = sp.gcd(g, k)
    big = sp.Symbol("_E", positive=True)
    sub = f.xreplace({a: big ** (k / g) for a, k in zip(exps, ks)})
    if sub.has(x) or not sub.is_rational_function(big):
        return e
    num, den = sp.fraction(sp.factor(sp.cancel(sp.together(sub))))
    c, rest = den.as_coeff_Mul()
    b = 0
    if rest == 1:
        b = 0
    elif rest == big + 1:
        b = 1
    elif isinstance(rest, sp.Pow) and rest.base == big + 1 and rest.exp.is_Integer:
        b = int(rest.exp)
    else:
        return _back(num / den, big, g * x)
    poly = sp.Poly(sp.expand(num), big)
    if poly.degree() > b or b == 0:
        return _back(num / den, big, g * x)
    s_pos, s_neg = sigmoid(g * x), sigmoid(-g * x)
    return sp.Add(*[coef / c * s_pos**j * s_neg ** (b - j) for (j,), coef in poly.terms()])


#: Rule name -> function of (expression, variable).
RULES: dict[str, Callable[[sp.Expr, sp.Symbol], sp.Expr]] = {
    "expm1": lambda e, x: expm1_forms(e),
    "conjugate": lambda e, x: conjugate_forms(e),
    "cancel": cancel_forms,
    "radicand": radicand_forms,
    "factor_x": factor_x,
    "log_domain": log_domain,
    "exp_rational": exp_rational,
}
