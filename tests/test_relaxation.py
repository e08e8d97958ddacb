"""Proven linear relaxations (funclib.relaxation): soundness, tightness, special cases, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

import funclib
from funclib import registry
from funclib.interval import bound_extremum
from funclib.relaxation import RelaxationError, relax_formula

from catalog_sample import slow_entries

FAST = ("relu", "gelu", "silu", "mish", "hardtanh", "sigmoid", "tanh", "elu", "softplus", "leaky_relu")
SMALL_GRID = [(-1.0, 2.0), (-3.0, 1.0), (0.25, 0.75), (-0.5, -0.5), (-40.0, -30.0), (-1e3, 1e3)]
FULL_GRID = SMALL_GRID + [(-8.0, 8.0), (2.0, 3.0), (-1e-3, 2e-3), (30.0, 35.0), (-1e30, 1e30),
                          (-700.0, 710.0), (1.0, 1.0 + 2**-40), (-0.1, 0.0)]


def _points(l: float, u: float, n: int = 41) -> np.ndarray:
    inner = np.linspace(l, u, n)
    return np.unique(np.concatenate([[l, u, np.nextafter(l, u), np.nextafter(u, l)], inner]))


def check_sound(entry, grid, variant=None):
    """Sampled points (ends included) never leave the relaxation; returns how many were checked."""
    l, u = np.array(grid).T
    rel = entry.relaxation(l, u, variant=variant)
    checked = 0
    for i, (a, b) in enumerate(grid):
        x = _points(a, b)
        f = entry.reference(x, variant=variant)
        ok = np.isfinite(f)
        x, f = x[ok], f[ok]
        # The lines hold in exact arithmetic; evaluating them in float64 adds a few ulps.
        tol = 4 * np.spacing(np.abs(f) + np.abs(rel.lower_slope[i] * x) + abs(rel.lower_intercept[i]))
        assert np.all(f >= rel.lower_slope[i] * x + rel.lower_intercept[i] - tol), (entry.id, variant, a, b)
        tol = 4 * np.spacing(np.abs(f) + np.abs(rel.upper_slope[i] * x) + abs(rel.upper_intercept[i]))
        assert np.all(f <= rel.upper_slope[i] * x + rel.upper_intercept[i] + tol), (entry.id, variant, a, b)
        checked += x.size
    return checked


@pytest.mark.parametrize("name", FAST)
def test_sampled_points_stay_inside(name):
    assert check_sound(funclib.get(name), SMALL_GRID) > 100


@pytest.mark.slow
def test_every_elementwise_entry_full_grid():
    """Every sampled elementwise entry and variant: proven bounds on the full grid, or an error
    that names the entry (never a silent estimate)."""
    refused, checked, functions = [], 0, 0
    for entry in slow_entries(registry.entries("elementwise")):
        for variant in (None, *entry.variants):
            grid = [(a, b) for a, b in FULL_GRID
                    if entry.domain.lo <= a and b <= entry.domain.hi and (a, b) != (entry.domain.lo,) * 2]
            grid = [(a, b) for a, b in grid if (a in entry.domain) and (b in entry.domain)]
            if not grid:
                continue
            functions += 1
            try:
                checked += check_sound(entry, grid, variant)
            except RelaxationError as exc:
                assert entry.id in str(exc), str(exc)
                refused.append(entry.id)
    assert checked > 1000
    assert len(refused) < 0.2 * functions  # refusals are the exception, and each names its entry


def test_relu_and_hardtanh_are_the_triangle_relaxations():
    relu = funclib.get("relu").relaxation([-1.0, -3.0, 0.5, -2.0], [2.0, 1.0, 1.5, -1.0])
    l, u = np.array([-1.0, -3.0]), np.array([2.0, 1.0])
    np.testing.assert_allclose(relu.upper_slope[:2], u / (u - l))
    np.testing.assert_allclose(relu.upper_intercept[:2], -u * l / (u - l))
    np.testing.assert_array_equal(relu.lower_slope[:2], [1.0, 0.0])  # the larger side wins
    np.testing.assert_allclose(relu.lower_intercept, 0.0, atol=1e-12)
    np.testing.assert_array_equal(relu.lower_slope[2:], [1.0, 0.0])  # stable neurons: exact
    np.testing.assert_allclose(relu.upper_slope[2:], [1.0, 0.0])
    ht = funclib.get("hardtanh").relaxation([-1.0], [2.0])  # concave there: chord below, x above
    np.testing.assert_allclose([ht.lower_slope[0], ht.lower_intercept[0]], [2 / 3, -1 / 3], atol=1e-12)
    np.testing.assert_allclose([ht.upper_slope[0], ht.upper_intercept[0]], [1.0, 0.0], atol=1e-10)


@pytest.mark.parametrize("name", ["gelu", "silu", "sigmoid"])
def test_intercepts_agree_with_branch_and_bound(name):
    """Second method: arb branch and bound of inf (f - a x) brackets the proven intercept."""
    entry = funclib.get(name)
    x = entry.symbol
    f = entry.numeric_expr()
    l, u = np.array([-1.0, -3.0, 0.5]), np.array([2.0, 1.0, 4.0])
    rel = entry.relaxation(l, u)
    for i in range(3):
        a = sp.Rational(float(rel.lower_slope[i]))
        ext = bound_extremum(f - a * x, x, float(l[i]), float(u[i]), maximize=False, tol=1e-10)
        assert rel.lower_intercept[i] <= ext.lower + 1e-15  # sound
        # and tight: the cell tables lose about h**2 max|f''| / 8 with cells h <= (u - l) / 16
        assert rel.lower_intercept[i] >= ext.lower - 2e-3 * (u[i] - l[i]) ** 2
        a = sp.Rational(float(rel.upper_slope[i]))
        ext = bound_extremum(f - a * x, x, float(l[i]), float(u[i]), maximize=True, tol=1e-10)
        assert ext.upper - 1e-15 <= rel.upper_intercept[i] <= ext.upper + 2e-3 * (u[i] - l[i]) ** 2


def test_convex_piece_gets_the_secant_and_concave_the_tangent():
    sp_ = funclib.get("softplus").relaxation([-2.0], [3.0])  # convex: upper = secant
    sp_f = lambda t: math.log1p(math.exp(t))  # noqa: E731
    assert sp_.upper_slope[0] == pytest.approx((sp_f(3) - sp_f(-2)) / 5, rel=1e-3)
    th = funclib.get("tanh").relaxation([0.5], [2.5])  # concave: upper = tangent at the midpoint
    assert th.upper_slope[0] == pytest.approx(1 - math.tanh(1.5) ** 2, rel=2e-2)


def test_tunable_lower_slope_and_its_gradient():
    entry = funclib.get("gelu")
    rel = entry.relaxation([-2.0, -1.0], [1.0, 3.0])
    lo, hi = rel.lower_slope_range
    assert np.all(lo <= rel.lower_slope) and np.all(rel.lower_slope <= hi)
    slopes = np.stack([lo, (lo + hi) / 2, hi])
    b, where = rel.lower_intercept_for(slopes)
    given_rel = entry.relaxation([-2.0, -1.0], [1.0, 3.0], lower_slope=slopes[1])
    np.testing.assert_array_equal(given_rel.lower_intercept, b[1])
    assert np.all((where >= [-2.0, -1.0]) & (where <= [1.0, 3.0]))
    db = (rel.lower_intercept_for(slopes[1] + 1e-4)[0] - b[1]) / 1e-4  # b(a) is concave, slope -x*
    np.testing.assert_allclose(db, -where[1], atol=0.05)
    check = entry.reference(np.linspace(-2, 1, 301))
    assert np.all(check >= slopes[0, 0] * np.linspace(-2, 1, 301) + b[0, 0] - 1e-12)


@pytest.mark.parametrize("name", ["gelu", "silu", "mish", "golu", "tanh", "relu"])
def test_tunable_upper_slope_is_proven_and_its_gradient(name):
    """Upper slopes across their range: sampled points (ends included) stay below the lines,
    the intercept is the maximum of f - a x up to the cell tolerance, db/da = -x*."""
    entry = funclib.get(name)
    ls, us = np.array([-2.0, -1.0, -4.0, 0.3]), np.array([1.0, 3.0, -1.5, 2.5])
    rel = entry.relaxation(ls, us)
    lo, hi = rel.upper_slope_range
    assert np.all(lo <= rel.upper_slope) and np.all(rel.upper_slope <= hi)
    slopes = np.stack([lo, (lo + hi) / 2, hi, rel.upper_slope])
    b, where = rel.upper_intercept_for(slopes)
    np.testing.assert_array_equal(b[3], rel.upper_intercept)  # the same proof as the default line
    assert np.all((where >= ls) & (where <= us))
    for i, (l, u) in enumerate(zip(ls, us)):
        x = _points(l, u, 2001)
        gap = entry.reference(x)[None, :] - slopes[:, i, None] * x[None, :]
        assert np.all(gap <= b[:, i, None] + 1e-12), (name, l, u)
        # tight up to the cell tables' loss (see test_intercepts_agree_with_branch_and_bound)
        assert np.all(b[:, i] <= gap.max(axis=1) + 2e-3 * (u - l) ** 2), (name, l, u)
    # b(a) is convex with subgradient -x*: b(a') >= b(a) - x* (a' - a) (up to the cell tolerance).
    for shift in (-0.3, -1e-3, 1e-3, 0.3):
        moved = rel.upper_intercept_for(slopes + shift)[0]
        assert np.all(moved >= b - where * shift - 2e-3 * (us - ls) ** 2), (name, shift)
    with pytest.raises(RelaxationError, match="upper slope is not finite"):
        rel.upper_intercept_for(np.full(4, np.nan))
    with pytest.raises(RelaxationError, match="finite intervals"):
        funclib.get("tanh").relaxation([-np.inf], [1.0]).upper_intercept_for(np.zeros(1))


def test_infinite_and_huge_intervals():
    sig = funclib.get("sigmoid").relaxation([-np.inf, -1e300], [np.inf, 1e300])
    assert np.all(sig.lower_intercept <= 0) and np.all(sig.upper_intercept >= 1)
    assert np.all(sig.lower_intercept > -2) and np.all(sig.upper_intercept < 3)
    with pytest.raises(RelaxationError, match="relu"):
        funclib.get("relu").relaxation(0.0, np.inf)
    big = funclib.get("gelu").relaxation(-1e30, 1e30)
    assert np.isfinite(big.lower_intercept) and np.isfinite(big.upper_intercept)


def test_bad_input_is_refused_with_the_entry_named():
    relu = funclib.get("relu")
    with pytest.raises(RelaxationError, match="relu.*l > u"):
        relu.relaxation(1.0, 0.0)
    with pytest.raises(RelaxationError, match="NaN"):
        relu.relaxation(np.nan, 0.0)
    with pytest.raises(RelaxationError, match="real numbers"):
        relu.relaxation(np.array([1j]), np.array([2j]))
    with pytest.raises(RelaxationError, match="not finite"):
        relu.relaxation(0.0, 1.0, lower_slope=np.inf)
    with pytest.raises(TypeError, match="softmax"):
        funclib.get("softmax").relaxation(0.0, 1.0)


def test_user_formula():
    rel = relax_formula("x*tanh(x)", [-2.0, 0.0], [1.0, 3.0])
    for i, (a, b) in enumerate([(-2.0, 1.0), (0.0, 3.0)]):
        x = np.linspace(a, b, 201)
        f = x * np.tanh(x)
        assert np.all(f >= rel.lower_at(x[:, None])[:, i] - 1e-12)
        assert np.all(f <= rel.upper_at(x[:, None])[:, i] + 1e-12)


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(["relu", "gelu", "silu"]), st.floats(-60, 60), st.floats(0, 30))
def test_random_intervals(name, centre, width):
    check_sound(funclib.get(name), [(centre - width / 2, centre + width / 2)])
