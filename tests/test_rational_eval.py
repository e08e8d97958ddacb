"""Exact rational evaluation and correct rounding (:mod:`funclib.rational_eval`), checked
against Python's correctly rounded ``Fraction -> float`` (float64) and the float32 neighbours."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from funclib.rational_eval import rational_function, round_rational

x = sp.Symbol("x")
rationals = st.builds(Fraction, st.integers(-(2**200), 2**200), st.integers(1, 2**200)) | st.builds(
    lambda m, e: Fraction(m) * Fraction(2) ** e, st.integers(-(2**60), 2**60), st.integers(-1200, 1100))


@settings(max_examples=400, deadline=None)
@given(rationals)
def test_float64_rounding_is_pythons(q):
    try:
        expected = float(q)  # int / int true division: correctly rounded, half to even
    except OverflowError:
        expected = math.inf if q > 0 else -math.inf
    assert round_rational(q, "float64") == expected


@settings(max_examples=400, deadline=None)
@given(rationals)
def test_float32_rounding_is_nearest_and_half_even(q):
    r = round_rational(q, "float32")
    f = np.float32(r)
    assert float(f) == r  # a float32 number (or inf)
    if math.isinf(r):
        assert abs(q) >= Fraction(2) ** 128 - Fraction(2) ** 103  # at or past the overflow midpoint
        return
    for neighbour in (np.nextafter(f, np.float32(-np.inf)), np.nextafter(f, np.float32(np.inf))):
        if not np.isfinite(neighbour):
            continue
        d_r, d_n = abs(q - Fraction(r)), abs(q - Fraction(float(neighbour)))
        assert d_r <= d_n
        if d_r == d_n:  # a tie: the even neighbour wins
            assert int(f.view(np.uint32)) % 2 == 0 or r == 0


def test_rounding_at_the_edges():
    tiny = Fraction(2) ** -149
    assert round_rational(tiny / 2, "float32") == 0.0  # half of the least subnormal: ties to 0
    assert round_rational(tiny * 3 / 2, "float32") == 2 * 2.0**-149  # 1.5 -> 2 (even)
    assert round_rational(-tiny * 5 / 2, "float32") == -2 * 2.0**-149  # 2.5 -> 2
    top = Fraction(2) ** 128 - Fraction(2) ** 103  # midpoint of FLT_MAX and 2^128
    assert round_rational(top, "float32") == math.inf
    assert round_rational(top - Fraction(1, 10**30), "float32") == float(np.finfo(np.float32).max)
    assert round_rational(Fraction(0), "float32") == 0.0


def test_piecewise_rational_expressions_evaluate_exactly():
    f = rational_function(sp.Piecewise((x, x > 0), (x / 100, True)), x)
    assert f(Fraction(-150)) == Fraction(-3, 2)
    g = rational_function(sp.Piecewise((0, x <= -3), (x, x >= 3), (x * (x + 3) / 6, True)), x)
    assert g(Fraction(1, 2)) == Fraction(7, 24) and g(Fraction(-3)) == 0 and g(Fraction(5)) == 5
    h = rational_function(sp.Piecewise((1, (x > sp.Rational(1, 2)) | (x < -sp.Rational(1, 2))), (0, True)), x)
    assert h(Fraction(-1)) == 1 and h(Fraction(0)) == 0
    assert rational_function(sp.sign(x) + sp.Abs(x) + sp.Max(x, 0) + sp.floor(x), x)(Fraction(-5, 2)) == Fraction(-3, 2)
    assert rational_function(sp.Heaviside(x), x)(Fraction(0)) == Fraction(1, 2)
    with pytest.raises(ZeroDivisionError):
        rational_function(1 / x, x)(Fraction(0))


@pytest.mark.parametrize("expr", [sp.sqrt(x), sp.exp(x), x + sp.Float(0.1), x ** sp.Rational(1, 3), sp.tanh(x)])
def test_non_rational_expressions_are_refused(expr):
    assert rational_function(expr, x) is None
