r"""Stable forms: exact rewrites that make an expression round well in floating point.

:func:`funclib.calculus.stabilize` removes overflow (``log(1 + exp(x))`` as ``softplus``);
this package removes cancellation. Every rule is an identity of real analysis, proven by
evaluating both sides at 40 digits in the tests, so the forms can be read by anything that
evaluates an expression in floating point: the CPU and CUDA kernel printers, the source export
and :meth:`funclib.Entry.evaluation_form`. The printers only choose how to print.

Modules
-------
:mod:`~funclib.stable_forms.sums`
    Sums over a common denominator (sqrt forms, rational sums, :math:`c - c\tanh^2 u`).
:mod:`~funclib.stable_forms.cancelling`
    Named cancelling patterns (log-odds, conjugate square roots, :math:`\arctan u + \pi/2`,
    differences of squares, :math:`\log(1 - e^u)`) and overflow-free square roots.
:mod:`~funclib.stable_forms.candidates`
    Further identities that help only sometimes; the kernels' rewrite search measures them
    one by one on user formulas (:mod:`funclib.kernels.rewrite_search`).
"""

from __future__ import annotations

import sympy as sp
from sympy.codegen.cfunctions import log1p

from .cancelling import (
    atan_half_sum,
    conjugate_sqrt_sum,
    difference_of_squares,
    is_log_of_neg_expm1,
    is_sqrt_of_square_plus,
    log1mexp,
    log_odds_sum,
    simplify_rational,
    sqrt_without_overflow,
)
from .sums import stable_sum

__all__ = ["evaluation_form", "stable_sum", "simplify_rational", "log1mexp", "log_odds_sum", "conjugate_sqrt_sum",
           "atan_half_sum", "difference_of_squares", "sqrt_without_overflow"]


def _is_sum(e: sp.Basic) -> bool:
    return isinstance(e, sp.Add)


def evaluation_form(expr: sp.Expr, x: sp.Symbol) -> sp.Expr:
    r"""``expr`` with every cancelling pattern of this package rewritten: the form the kernels
    evaluate.

    Parameters
    ----------
    expr : sympy.Expr
        A stabilized output (:func:`funclib.calculus.stabilize` or
        :func:`funclib.calculus.derivative`).
    x : sympy.Symbol
        The input variable (:func:`simplify_rational` splits at :math:`x = 0`).

    Returns
    -------
    sympy.Expr
        An expression equal to ``expr`` wherever ``expr`` is defined, often with
        ``Piecewise`` branches (a conjugate form only where the sum cancels); the branches
        keep ``expr``'s values at its kinks.

    Notes
    -----
    The order matters: rational simplification first (it needs the sums whole), then the
    logarithmic and common-denominator rules, whose results the conjugate, arctan and
    difference-of-squares rules may rewrite further; the overflow-free square root last, since
    it hides the square the others look for.
    """
    expr = simplify_rational(expr, x)
    expr = expr.replace(is_log_of_neg_expm1, log1mexp)
    expr = expr.replace(lambda e: isinstance(e, sp.Add) and e.has(log1p), log_odds_sum)
    for rule in (stable_sum, conjugate_sqrt_sum, atan_half_sum, difference_of_squares):
        expr = expr.replace(_is_sum, rule)
    return expr.replace(is_sqrt_of_square_plus, sqrt_without_overflow)
