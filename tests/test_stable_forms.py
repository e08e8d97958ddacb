"""The calculus layer's exact rewrites (:mod:`funclib.stable_forms`) are identities.

Each rule is checked at 40 digits on points on both sides of its branch conditions, and the
evaluation form of catalog entries (value and derivative, what the kernels print) is checked
against the plain stabilized forms: a second, independent evaluation of the same function.
"""

from __future__ import annotations

import mpmath
import numpy as np
import pytest
import sympy as sp
from sympy.codegen.cfunctions import expm1, log1p

import funclib
from catalog_sample import slow_entries
from funclib.formula import make_symbol
from funclib.mpeval import mp_evaluate
from funclib.npeval import np_evaluate
from funclib.stable_forms import (
    atan_half_sum,
    conjugate_sqrt_sum,
    difference_of_squares,
    evaluation_form,
    log1mexp,
    log_odds_sum,
    simplify_rational,
    sqrt_without_overflow,
)

x = make_symbol("x")
b = make_symbol("b")

#: Points on both sides of every rule's branch (0, ±1/4, 1/2, ±1, -ln 2) and in the tails.
POINTS = (-1e6, -37.5, -7.25, -1.5, -1.0, -0.6931, -0.5, -0.3, -1e-3, -1e-12, 1e-12, 1e-3, 0.2, 0.25,
          0.3, 0.4999, 0.5, 0.5001, 0.75, 0.999, 1.0, 1.5, 3.0, 7.25, 37.5, 1e6)


def _close(a, c) -> bool:
    if mpmath.isnan(a) or mpmath.isnan(c):
        return bool(mpmath.isnan(a) and mpmath.isnan(c))
    if mpmath.isinf(a) or mpmath.isinf(c):
        return a == c
    return abs(a - c) <= mpmath.mpf(10) ** -25 * max(abs(a), abs(c), mpmath.mpf(10) ** -300)


def assert_identity(before: sp.Expr, after: sp.Expr, env: dict | None = None) -> int:
    """``before`` and ``after`` agree at 60 digits at every point of :data:`POINTS` where
    ``before`` is defined; returns how many points were compared."""
    env = env or {}
    compared = 0
    for t in POINTS:
        try:
            want = mp_evaluate(before, {**env, x: t}, 60)
        except ZeroDivisionError:  # a pole of the plain form (logit' at 1)
            continue
        if mpmath.isnan(want) or mpmath.isinf(want):
            continue
        got = mp_evaluate(after, {**env, x: t}, 60)
        assert _close(got, want), (before, after, t, got, want)
        compared += 1
    return compared


@pytest.mark.parametrize("rule, expr, changes", [
    (log_odds_sum, 2 * sp.log(x) - 2 * log1p(-x) + x, True),
    (log_odds_sum, sp.log(x) - log1p(x), False),
    (conjugate_sqrt_sum, x + sp.sqrt(x**2 + 3), True),
    (conjugate_sqrt_sum, x - sp.sqrt(x**2 + 3), False),  # cancels for x > 0: a different sum
    (conjugate_sqrt_sum, sp.Rational(1, 2) + x / (2 * sp.sqrt(x**2 + 3)), True),
    (atan_half_sum, sp.atan(x) / sp.pi + sp.Rational(1, 2) + x, True),
    (atan_half_sum, sp.atan(x) + 1, False),
    (difference_of_squares, sp.pi**2 - x**2, True),
    (difference_of_squares, x**2 - 1, False),
    (lambda e: evaluation_form(e, x), sp.log(x) - log1p(-x) + sp.atan(x) + sp.pi / 2 + sp.sqrt(x**2 + 3), True),
])
def test_each_rule_is_an_identity(rule, expr, changes):
    out = rule(expr)
    assert (out != expr) == changes
    assert assert_identity(expr, out) >= 10


def test_overflow_free_sqrt_and_log1mexp_are_identities():
    root = sp.sqrt(x**2 + b)
    env = {b: 0.75}
    assert assert_identity(root, sqrt_without_overflow(root), env) == len(POINTS)
    assert assert_identity(1 / root, sqrt_without_overflow(1 / root), env) == len(POINTS)
    e = sp.log(-expm1(x))
    out = log1mexp(e)
    assert out.has(sp.Piecewise)
    assert assert_identity(e, out) >= 10  # defined for x < 0 only


def test_rational_in_abs_is_brought_over_one_denominator():
    d = sp.diff(x / (1 + sp.Abs(x)), x)
    out = simplify_rational(d, x)
    assert sp.count_ops(out) < sp.count_ops(d)
    assert assert_identity(d, out) == len(POINTS)


def test_evaluation_form_does_not_cancel_where_the_plain_form_does():
    """squareplus' derivative at x = -1e6 in float64: as written, 1 + x/sqrt(x**2 + b) keeps
    5 digits; the evaluation form all of them."""
    entry = funclib.get("squareplus")
    plain, stable = entry.derivative(1, numeric=True), entry.evaluation_form(1, params={})
    t = np.array([-1e6])
    exact = float(mp_evaluate(plain, {x: t[0]}, 60))
    got_plain, got_stable = (float(np_evaluate(e, {x: t})[0]) for e in (plain, stable))
    assert got_stable == pytest.approx(exact, rel=1e-14)
    assert abs(got_plain - exact) > 1e-8 * exact  # what the rewrite is for


def _check_entry(entry) -> int:
    compared = 0
    for variant in (None, *entry.variants):
        params = entry.param_values(None, variant)
        for order in (0, 1):
            plain = (entry.derivative(order, variant=variant, params=params) if order
                     else entry.numeric_expr(variant, params))
            compared += assert_identity(plain, entry.evaluation_form(order, variant=variant, params=params))
    return compared


#: Entries where a rule fires (one or more each) and the framework activations most used.
RULE_ENTRIES = ["squareplus", "logit", "atlu", "dsu", "softsign", "log1mexp", "tanhshrink", "gelu", "mish", "elu"]


@pytest.mark.parametrize("name", RULE_ENTRIES)
def test_evaluation_form_of_entries(name):
    assert _check_entry(funclib.get(name)) > 0


@pytest.mark.slow
@pytest.mark.parametrize("entry", slow_entries([e for e in funclib.entries() if e.kind == "elementwise"]),
                         ids=lambda e: e.id)
def test_evaluation_form_of_the_catalog(entry):
    """Every sampled entry (FUNCLIB_FULL_CATALOG=1: all): value and derivative, every variant."""
    assert _check_entry(entry) > 0  # some point of POINTS lies in every entry's domain
