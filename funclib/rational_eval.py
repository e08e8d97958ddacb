r"""Exact evaluation of rational expressions at rational points, and correct rounding of a rational.

A piecewise rational function (ReLU-like rectifiers, hard sigmoid :math:`x/6 + 1/2`, hard swish
:math:`x(x+3)/6`, leaky ReLU with slope 1/100, their derivatives) takes rational values at the
float inputs, so its correctly rounded result is decided by exact arithmetic: no enclosure, no
escalating precision. Ball arithmetic cannot decide an *exact* midpoint of such a function
(:math:`x/100` at :math:`x = 150 \cdot 2^{-149}` is :math:`1.5 \cdot 2^{-149}` exactly, but a
ball around it has a positive radius), and is ~10× slower per point than
:class:`fractions.Fraction` for these small expressions.

:func:`rational_function` compiles a SymPy expression into nested closures over
:class:`~fractions.Fraction` (once per expression); :func:`round_rational` rounds a Fraction to
float32 or float64, half to even, subnormals and overflow included.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from fractions import Fraction

import sympy as sp

__all__ = ["rational_function", "round_rational"]

Evaluator = Callable[[Fraction], Fraction]

_RELATIONS = {
    sp.StrictGreaterThan: operator.gt, sp.GreaterThan: operator.ge,
    sp.StrictLessThan: operator.lt, sp.LessThan: operator.le,
    sp.Equality: operator.eq, sp.Unequality: operator.ne,
}
#: (precision p, least normal exponent, largest exponent) of the binary formats.
_FORMATS = {"float32": (24, -126, 127), "float64": (53, -1022, 1023)}


class _NotRational(Exception):
    """A node whose value need not be rational at a rational point (sqrt, exp, a Float, ...)."""


def rational_function(expr: sp.Expr, symbol: sp.Symbol) -> Evaluator | None:
    r"""``q -> expr(q)`` in exact rational arithmetic, or None when ``expr`` has a node outside
    the rational operations.

    Allowed: the symbol, integers and rationals, ``+``, ``*``, integer powers, ``Abs``,
    ``sign``, ``Heaviside`` (its value at 0 a rational), ``Max``/``Min``, ``floor``/``ceiling``,
    and ``Piecewise`` whose conditions are comparisons joined by ``And``/``Or``/``Not``. A
    ``Float`` is refused (its decimal value is not what the catalog meant). Evaluating raises
    :class:`ArithmeticError` where the expression is undefined (a pole: ZeroDivisionError; a
    Piecewise with no arm that holds).
    """
    try:
        return _compile(expr, symbol)
    except _NotRational:
        return None


def _compile(e, symbol) -> Evaluator:  # noqa: C901 - one branch per node type, flat
    if e == symbol:
        return lambda q: q
    if e.is_Rational:
        c = Fraction(int(e.p), int(e.q))
        return lambda q: c
    if e is sp.true or e is sp.false:
        b = bool(e)
        return lambda q: b
    if isinstance(e, sp.Add):
        parts = [_compile(a, symbol) for a in e.args]
        return lambda q: sum((f(q) for f in parts), Fraction(0))
    if isinstance(e, sp.Mul):
        parts = [_compile(a, symbol) for a in e.args]

        def product(q):
            out = Fraction(1)
            for f in parts:
                out *= f(q)
            return out
        return product
    if isinstance(e, sp.Pow):
        if not e.exp.is_Integer:
            raise _NotRational
        base, n = _compile(e.base, symbol), int(e.exp)
        return lambda q: base(q) ** n
    if isinstance(e, sp.Abs):
        inner = _compile(e.args[0], symbol)
        return lambda q: abs(inner(q))
    if isinstance(e, sp.sign):
        inner = _compile(e.args[0], symbol)
        return lambda q: Fraction((v := inner(q)) > 0) - Fraction(v < 0)
    if isinstance(e, sp.Heaviside):
        inner = _compile(e.args[0], symbol)
        at0 = _compile(e.args[1], symbol) if len(e.args) > 1 else (lambda q: Fraction(1, 2))
        return lambda q: Fraction(1) if (v := inner(q)) > 0 else (Fraction(0) if v < 0 else at0(q))
    if isinstance(e, (sp.Max, sp.Min)):
        parts, pick = [_compile(a, symbol) for a in e.args], max if isinstance(e, sp.Max) else min
        return lambda q: pick(f(q) for f in parts)
    if isinstance(e, (sp.floor, sp.ceiling)):
        inner, rnd = _compile(e.args[0], symbol), math.floor if isinstance(e, sp.floor) else math.ceil
        return lambda q: Fraction(rnd(inner(q)))
    if isinstance(e, sp.Piecewise):
        arms = [(_compile(value, symbol), _compile(cond, symbol)) for value, cond in e.args]

        def piecewise(q):
            for value, cond in arms:
                if cond(q):
                    return value(q)
            raise ArithmeticError("no arm of the Piecewise holds")  # undefined here
        return piecewise
    if type(e) in _RELATIONS:
        lhs, rhs, op = _compile(e.lhs, symbol), _compile(e.rhs, symbol), _RELATIONS[type(e)]
        return lambda q: op(lhs(q), rhs(q))
    if isinstance(e, (sp.And, sp.Or)):
        parts, join = [_compile(a, symbol) for a in e.args], all if isinstance(e, sp.And) else any
        return lambda q: join(f(q) for f in parts)
    if isinstance(e, sp.Not):
        inner = _compile(e.args[0], symbol)
        return lambda q: not inner(q)
    raise _NotRational


def round_rational(q: Fraction, dtype: str) -> float:
    """``q`` rounded to the nearest ``dtype`` number (``"float32"`` or ``"float64"``), ties to
    even, with gradual underflow and overflow to ±inf; returned as a Python float (which holds
    every float32 number exactly). A zero result is +0."""
    p, emin, emax = _FORMATS[dtype]
    if q == 0:
        return 0.0
    a = abs(q)
    n, d = a.numerator, a.denominator
    e = n.bit_length() - d.bit_length()  # 2^(e - 1) < a < 2^(e + 1)
    if (n << max(0, -e)) < (d << max(0, e)):
        e -= 1  # now 2^e <= a < 2^(e + 1)
    k = max(e, emin) - (p - 1)  # the spacing 2^k of the format at a
    m = round(a / Fraction(2) ** k)  # Fraction.__round__ rounds half to even
    sign = -1.0 if q < 0 else 1.0  # not copysign(.., q): float(q) overflows
    if m.bit_length() + k > emax + 1:  # m * 2^k >= 2^(emax + 1)
        return sign * math.inf
    return sign * math.ldexp(m, k)
