"""The Mittag-Leffler function E_{alpha,beta}(z) and the unified gated activation family.

Every numeric claim is checked by a second, independent method:

* the arbitrary-precision evaluator (series / asymptotic expansion / Laplace inversion) against
  closed forms written here directly in mpmath, to 30 digits;
* its three methods against each other where they overlap;
* the float64 evaluator against the 40-digit reference on the published grid below;
* the symbolic derivative against finite differences and against the closed-form derivatives;
* each catalog member's Mittag-Leffler form against its closed form, symbolically and to 30
  digits.
"""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

import funclib
from funclib.formula import ALLOWED_FUNCTIONS, FormulaError, make_symbol, parse_formula, to_formula
from funclib.mittag_leffler import (
    MittagLefflerError,
    closed_form,
    mittag_leffler,
    mittag_leffler_mp,
    mittag_leffler_np,
)
from funclib.mpeval import mp_evaluate
from funclib.npeval import np_evaluate
from funclib.properties import claim_status
from funclib.special import SPECIAL_FUNCTIONS

E = mittag_leffler
x = make_symbol("x")
z = sp.Symbol("z")
ML_IDS = ["ml_sigmoid", "ml_swish", "ml_tanh", "ml_softsign", "ml_gelu"]


def rel(a, b) -> float:
    """Relative difference, computed at 60 digits (whatever the caller's precision)."""
    with mpmath.workdps(60):
        a, b = mpmath.mpf(a), mpmath.mpf(b)
        if a == b:
            return 0.0
        return float(abs(a - b) / abs(b))


# ---------------------------------------------------------------------------------------
# Symbolic function
# ---------------------------------------------------------------------------------------


def test_registered_in_the_formula_language():
    assert SPECIAL_FUNCTIONS["mittag_leffler"] is mittag_leffler
    assert "mittag_leffler" in ALLOWED_FUNCTIONS
    expr = parse_formula("mittag_leffler(a, b, x**2)", ["x"], ["a", "b"])
    assert expr == E(make_symbol("a"), make_symbol("b"), x**2)
    assert parse_formula(to_formula(expr), ["x"], ["a", "b"]) == expr
    with pytest.raises(FormulaError):
        parse_formula("mittag_leffler(1, x)", ["x"])
    with pytest.raises(FormulaError):
        parse_formula("mittag_leffler(1, 1, x, 2)", ["x"])


def test_special_values():
    assert E(1, 1, 0) == 1
    assert E(sp.Rational(1, 2), 3, 0) == sp.Rational(1, 2)
    assert E(2, -1, 0) == 0  # 1/Gamma(-1)
    assert E(0, 1, -1) == sp.Rational(1, 2)
    assert E(0, 2, sp.Rational(1, 3)) == sp.Rational(3, 2)
    assert E(0, -2, x) == 0
    assert E(1, 2, sp.oo) is sp.oo
    assert E(sp.Rational(1, 2), 1, -sp.oo) == 0
    assert E(2, 1, -sp.oo).func is mittag_leffler  # cos: no limit
    assert E(1, 1, sp.nan) is sp.nan
    assert isinstance(E(1, 1, x), mittag_leffler)  # no automatic closed form


def test_bad_parameters_raise():
    with pytest.raises(ValueError, match="alpha"):
        E(-1, 1, x)
    with pytest.raises(ValueError, match="beta"):
        E(1, sp.I, x)
    with pytest.raises(MittagLefflerError, match="alpha"):
        mittag_leffler_mp(-0.5, 1, 1)
    with pytest.raises(MittagLefflerError, match="alpha"):
        mittag_leffler_np(2.5, 1, [1.0])
    with pytest.raises(MittagLefflerError, match="method"):
        mittag_leffler_mp(1, 1, 1, method="taylor")


def test_assumptions_and_printing():
    assert E(1, 1, x).is_real and E(1, 1, x).is_finite
    assert E(sp.Rational(1, 2), 2, x**2).is_positive
    assert E(0, 1, x).is_finite is None  # pole at x = 1
    assert E(0, 1, -x**2).is_finite
    assert sp.latex(E(2, 2, x**2)) == r"E_{2, 2}\left(x^{2}\right)"
    assert sp.latex(E(1, 1, x) ** 2) == r"E_{1, 1}\left(x\right)^{2}"
    assert sp.N(E(1, 1, sp.log(2)), 30) == pytest.approx(2, rel=1e-28)
    assert abs(sp.N(E(sp.Rational(1, 2), 1, -3), 40) - sp.exp(9) * sp.erfc(3)).evalf(40) < 1e-38


def test_derivative_formula():
    a, b = sp.symbols("a b", positive=True)
    assert sp.diff(E(a, b, z), z) == (E(a, a + b - 1, z) + (1 - b) * E(a, a + b, z)) / a
    assert sp.diff(E(0, b, z), z) == sp.gamma(b) * E(0, b, z) ** 2
    assert sp.diff(E(1, 1, z), z) == E(1, 1, z)
    c = sp.Symbol("c", real=True)  # sign unknown: alpha = 0 is possible
    assert isinstance(sp.diff(E(c, 1, z), z), sp.Piecewise)


CLOSED_TABLE = [
    (0, sp.Rational(3, 2)), (1, 1), (1, 2), (1, 3), (1, 0), (2, 1), (2, 2), (2, 3), (2, 4),
    (sp.Rational(1, 2), 1), (sp.Rational(1, 2), sp.Rational(1, 2)), (sp.Rational(1, 2), sp.Rational(3, 2)),
]


@pytest.mark.parametrize("alpha,beta", CLOSED_TABLE)
def test_derivative_matches_closed_form_derivative(alpha, beta):
    """d/dz of the closed form equals the closed form of the symbolic derivative (SymPy
    simplify; for alpha = 2 at z = u**2, u > 0, where the forms are cosh u, sinh u / u)."""
    u = sp.Symbol("u", positive=True)
    if alpha == 2:
        arg, dz = u**2, lambda e: sp.diff(e, u) / (2 * u)
    else:
        arg, dz = z, lambda e: sp.diff(e, z)
    lhs = dz(closed_form(alpha, beta, arg))
    rhs = sp.diff(E(alpha, beta, z), z).subs(z, arg).rewrite("closed_form")
    assert not rhs.has(mittag_leffler)
    assert sp.simplify((lhs - rhs).rewrite(sp.exp)) == 0


def test_closed_forms_symbolic():
    u = make_symbol("u")
    assert closed_form(1, 1, z) == sp.exp(z)
    assert closed_form(2, 1, u**2) == sp.cosh(u)
    assert closed_form(2, 2, u**2) == sp.sinh(u) / u
    assert sp.simplify(closed_form(1, 2, z) - (sp.exp(z) - 1) / z) == 0
    assert sp.simplify(closed_form(0, 3, z) - 1 / (2 * (1 - z))) == 0
    assert closed_form(sp.Rational(7, 10), 1, z) is None
    assert E(2, 2, u**2).rewrite("closed_form") == sp.sinh(u) / u
    assert E(1, 1, z).rewrite(sp.exp) == sp.exp(z)
    assert sp.limit(x * E(2, 2, x**2) / E(2, 1, x**2), x, sp.oo) == 1  # via rewrite("tractable")


# ---------------------------------------------------------------------------------------
# Arbitrary precision: 30 digits against closed forms written directly in mpmath
# ---------------------------------------------------------------------------------------

MP_CLOSED = {
    (0, 1.5): lambda t: mpmath.rgamma(1.5) / (1 - t),
    (1, 1): mpmath.exp,
    (1, 2): lambda t: mpmath.expm1(t) / t,
    (1, 3): lambda t: (mpmath.expm1(t) - t) / t**2,
    (2, 1): lambda t: mpmath.cosh(mpmath.sqrt(t)) if t > 0 else mpmath.cos(mpmath.sqrt(-t)),
    (2, 2): lambda t: mpmath.sinh(mpmath.sqrt(t)) / mpmath.sqrt(t) if t > 0 else mpmath.sin(mpmath.sqrt(-t)) / mpmath.sqrt(-t),
    (2, 3): lambda t: (mpmath.cosh(mpmath.sqrt(t)) - 1) / t if t > 0 else (mpmath.cos(mpmath.sqrt(-t)) - 1) / t,
    (0.5, 1): lambda t: mpmath.exp(t * t) * mpmath.erfc(-t),
    (0.5, 0.5): lambda t: 1 / mpmath.sqrt(mpmath.pi) + t * mpmath.exp(t * t) * mpmath.erfc(-t),
}
MP_POINTS = ["-50", "-31.7", "-17.3", "-8", "-3.1", "-1", "-0.37", "-0.02", "0.2", "0.9", "2.5", "6", "10", "27.5"]


@pytest.mark.parametrize("params", list(MP_CLOSED), ids=lambda p: f"E_{p[0]},{p[1]}")
def test_mp_general_algorithm_matches_closed_forms_to_30_digits(params):
    alpha, beta = params
    closed = MP_CLOSED[params]
    checked = 0
    for text in MP_POINTS:
        t = mpmath.mpf(text)
        if alpha == 0 and abs(t) >= 1 and t > 0:
            continue
        with mpmath.workdps(60):
            exact = closed(t)
        with mpmath.workdps(35):
            value = mittag_leffler_mp(alpha, beta, t, method="general")
            auto = mittag_leffler_mp(alpha, beta, t)
        assert rel(value, exact) < 1e-30, (params, text, value, exact)
        assert rel(auto, exact) < 1e-30, (params, text, auto, exact)
        checked += 1
    assert checked >= 10


@pytest.mark.parametrize("params", list(MP_CLOSED), ids=lambda p: f"E_{p[0]},{p[1]}")
def test_symbolic_closed_form_evaluates_to_the_reference(params):
    alpha, beta = (sp.nsimplify(p) for p in params)
    expr = closed_form(alpha, beta, x)
    for text in ("-17.3", "-3.1", "-0.37", "0.9", "6"):
        with mpmath.workdps(40):
            point = mpmath.mpf(text)
            reference = MP_CLOSED[params](point)
        assert rel(mp_evaluate(expr, {x: point}, 40), reference) < 1e-30


#: (alpha, beta, z) where two or three of the methods apply; they must agree to 30 digits.
METHOD_POINTS = [
    (0.5, 1.0, -3.0), (0.7, 1.3, -5.0), (0.7, 1.3, 5.0), (1.5, 0.8, -20.0), (0.3, 2.5, 2.0),
    (1.5, 2.9, -7.0), (2.0, 1.3, -30.0), (0.25, 0.75, -3.0), (0.5, 0.5, -50.0), (0.75, 0.75, -50.0),
    (1.0, 1.5, -300.0), (0.5, 1.5, -200.0), (2.0, 2.0, 1e4), (0.25, 3.0, 10.0),
]


@pytest.mark.parametrize("alpha,beta,t", METHOD_POINTS)
def test_mp_methods_agree(alpha, beta, t):
    values = {}
    with mpmath.workdps(35):
        for method in ("series", "asymptotic", "integral"):
            if method == "series" and abs(t) ** (1 / alpha) > 500:
                continue  # thousands of terms: correct but slow (checked at smaller |z|)
            try:
                values[method] = mittag_leffler_mp(alpha, beta, t, method=method)
            except MittagLefflerError:
                pass  # the method declines outside its range
    assert len(values) >= 2, values
    first = next(iter(values.values()))
    for method, value in values.items():
        assert rel(value, first) < 1e-30, (method, value, first)


def test_mp_precision_is_respected():
    """A 30-digit and a 70-digit evaluation agree to 30 digits (no silent precision loss),
    including where the series cancels (large negative z) and near a zero of E_{2,1}."""
    for alpha, beta, t in [(0.6, 1.7, -9.0), (1.3, 0.4, -25.0), (0.9, 2.2, 3.5), (2.0, 1.0, -2.46740110027)]:
        with mpmath.workdps(30):
            low = mittag_leffler_mp(alpha, beta, t, method="general")
        with mpmath.workdps(70):
            high = mittag_leffler_mp(alpha, beta, t, method="general")
        assert rel(low, high) < 1e-28


def test_mp_special_inputs():
    with mpmath.workdps(30):
        assert mpmath.isnan(mittag_leffler_mp(0.5, 1, mpmath.nan))
        assert mpmath.isnan(mittag_leffler_mp(0, 1, 1))  # pole of E_{0,1}
        assert mittag_leffler_mp(0.5, 1, mpmath.inf) == mpmath.inf
        assert mittag_leffler_mp(0.5, 1, -mpmath.inf) == 0
        assert mpmath.isnan(mittag_leffler_mp(2, 1, -mpmath.inf))
        assert mittag_leffler_mp(1.3, 2, 0) == mpmath.rgamma(2)
        # Huge arguments through the asymptotic expansion.
        assert rel(mittag_leffler_mp(0.5, 1, -1e20), 1 / (mpmath.mpf(10) ** 20 * mpmath.sqrt(mpmath.pi))) < 1e-25


# ---------------------------------------------------------------------------------------
# float64: the published accuracy grid
# ---------------------------------------------------------------------------------------

#: The published grid (alpha, beta, z): every point must be within 1e-14 relative of the
#: 40-digit reference. It covers z = 0, negative z down to -50, the closed-form cases and the
#: regions of every method (series |z| <= 1/2, contour, asymptotic |z|^(1/alpha) >= 45,
#: double-double poles, extended-precision rescue).
GRID_ALPHA = [0.125, 0.3, 0.5, 0.75, 0.9, 1.0, 1.1, 1.25, 1.5, 1.75, 1.9, 2.0]
GRID_BETA = [0.25, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0]
GRID_Z = [-50.0, -37.5, -25.0, -15.0, -8.0, -4.5, -2.5, -1.25, -0.6, -0.25, 0.0, 0.1, 0.4, 0.75,
          1.5, 3.0, 5.0, 7.5, 10.0]
GRID_TOL = 1e-14


def _reference(alpha, beta, points):
    with mpmath.workdps(40):
        return np.array([float(mittag_leffler_mp(alpha, beta, t)) for t in points])


def _relative_errors(got, ref):
    with np.errstate(divide="ignore", invalid="ignore"):
        err = np.abs(got / ref - 1)
    err[(got == ref)] = 0.0  # equal, including inf == inf (beyond the float range)
    return np.where(np.isnan(err), np.inf, err)


@pytest.mark.parametrize("alpha", GRID_ALPHA)
def test_float64_grid(alpha):
    points = np.array(GRID_Z)
    worst = 0.0
    for beta in GRID_BETA:
        ref = _reference(alpha, beta, points)
        got = mittag_leffler_np(alpha, beta, points)
        err = _relative_errors(got, ref)
        assert err.max() <= GRID_TOL, (alpha, beta, points[err.argmax()], got[err.argmax()], ref[err.argmax()])
        worst = max(worst, float(err.max()))
    assert worst <= GRID_TOL


@pytest.mark.parametrize("alpha,beta", [(1, 1), (1, 2), (2, 1), (2, 2), (0.5, 1), (0, 1), (0, 2.5)])
def test_float64_special_cases(alpha, beta):
    points = np.array([-50.0, -20.0, -7.0, -1.0, -0.3, 0.0, 0.3, 0.99 if alpha == 0 else 1.0, 4.0, 10.0])
    ref = _reference(alpha, beta, points)
    assert _relative_errors(mittag_leffler_np(alpha, beta, points), ref).max() <= GRID_TOL


def test_float64_at_zero_is_exact():
    """z = 0 gives 1/Gamma(beta) exactly (pymittagleffler returns NaN for (1, 2) and (2, 2))."""
    for alpha, beta, value in [(1, 2, 1.0), (2, 2, 1.0), (0.5, 1, 1.0), (1.7, 3, 0.5), (0.3, 0.5, 1 / math.sqrt(math.pi))]:
        assert mittag_leffler_np(alpha, beta, 0.0) == pytest.approx(value, rel=1e-16)
        assert mittag_leffler_np(alpha, beta, 0.0, method="general") == pytest.approx(value, rel=1e-16)


def test_float64_general_path_without_closed_forms():
    """The general algorithm alone (closed forms skipped) also meets the grid tolerance for
    the closed-form parameters, except E_{1,1} at large negative z, where E = e^z is
    exponentially small against the contour's scale (there the closed form is used)."""
    points = np.array(GRID_Z)
    for alpha, beta in [(1, 2), (2, 1), (2, 2), (0.5, 1), (0.5, 0.5), (1, 3), (2, 3)]:
        ref = _reference(alpha, beta, points)
        err = _relative_errors(mittag_leffler_np(alpha, beta, points, method="general"), ref)
        assert err.max() <= GRID_TOL, (alpha, beta, points[err.argmax()])
    keep = points > -15
    ref = _reference(1, 1, points[keep])
    assert _relative_errors(mittag_leffler_np(1, 1, points[keep], method="general"), ref).max() <= GRID_TOL


def test_float64_special_inputs_and_broadcasting():
    out = mittag_leffler_np(0.5, 1, [np.nan, np.inf, -np.inf, 0.0])
    assert np.isnan(out[0]) and out[1] == np.inf and out[2] == 0 and out[3] == 1
    assert np.isnan(mittag_leffler_np(2, 1.0, -np.inf))
    assert np.isnan(mittag_leffler_np(np.nan, 1, 1.0)) and np.isnan(mittag_leffler_np(0, 1, 1.0))
    assert mittag_leffler_np(0.3, 1, 10.0) == np.inf  # beyond the float range
    grid = mittag_leffler_np(np.array([[0.5], [1.0]]), np.array([1.0, 2.0, 3.0]), -2.0)
    assert grid.shape == (2, 3)
    for i, a in enumerate([0.5, 1.0]):
        for j, b in enumerate([1.0, 2.0, 3.0]):
            assert grid[i, j] == mittag_leffler_np(a, b, -2.0)
    assert mittag_leffler_np(1, 1, np.array([], dtype=float)).shape == (0,)


def test_numpy_and_mpmath_hooks():
    expr = x * E(sp.Rational(3, 4), sp.Rational(5, 4), -(x**2))
    points = np.array([-3.0, -0.5, 0.0, 1.25, 4.0])
    got = np_evaluate(expr, {x: points})
    ref = np.array([float(mp_evaluate(expr, {x: t}, 40)) for t in points])
    assert _relative_errors(got, ref).max() <= GRID_TOL


# ---------------------------------------------------------------------------------------
# Derivative
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "alpha,beta,t",
    [(0.5, 1.0, 0.0), (0.7, 1.3, 0.0), (1.6, 0.4, 0.0), (0.7, 1.3, -4.2), (1.6, 0.4, -11.0),
     (0.35, 2.6, 1.7), (2.0, 2.0, -9.0), (0.0, 1.5, -3.0), (1.0, 0.5, 2.5)],
)
def test_derivative_against_finite_differences(alpha, beta, t):
    a, b = sp.Rational(str(alpha)), sp.Rational(str(beta))  # the same exact numbers on both sides
    d = sp.diff(E(a, b, x), x)
    with mpmath.workdps(40):
        exact = mp_evaluate(d, {x: t}, 40)
        fd = mpmath.diff(lambda s: mittag_leffler_mp(mpmath.mpf(a.p) / a.q, mpmath.mpf(b.p) / b.q, s), mpmath.mpf(t))
    assert rel(exact, fd) < 1e-28, (exact, fd)


def test_second_derivative_against_finite_differences():
    d2 = sp.diff(E(sp.Rational(3, 5), sp.Rational(6, 5), x), x, 2)
    with mpmath.workdps(40):
        exact = mp_evaluate(d2, {x: -2.5}, 40)
        fd = mpmath.diff(lambda s: mittag_leffler_mp(mpmath.mpf(3) / 5, mpmath.mpf(6) / 5, s), mpmath.mpf(-2.5), 2)
    assert rel(exact, fd) < 1e-26


# ---------------------------------------------------------------------------------------
# Property tests
# ---------------------------------------------------------------------------------------

alphas = st.floats(min_value=0.05, max_value=2.0)
betas = st.floats(min_value=0.1, max_value=3.0)


@settings(max_examples=20, deadline=None)
@given(alpha=st.floats(min_value=0.2, max_value=2.0), beta=betas, t=st.floats(min_value=-30.0, max_value=4.0))
def test_recurrence_identity_mp(alpha, beta, t):
    """E_{a,b}(z) = 1/Gamma(b) + z E_{a,a+b}(z), at 30 digits."""
    with mpmath.workdps(30):
        a, b = mpmath.mpf(alpha), mpmath.mpf(beta)
        shifted = t * mittag_leffler_mp(a, a + b, t)  # a + b exactly, not its float rounding
        lhs = mittag_leffler_mp(a, b, t)
        rhs = mpmath.rgamma(b) + shifted
        scale = abs(mpmath.rgamma(b)) + abs(shifted)
    assert abs(lhs - rhs) <= mpmath.mpf(10) ** -26 * scale


@settings(max_examples=40, deadline=None)
@given(alpha=st.floats(min_value=0.05, max_value=1.0), beta=betas, t=st.floats(min_value=0.0, max_value=50.0))
def test_completely_monotone_on_the_negative_axis(alpha, beta, t):
    """For 0 < alpha <= 1 and beta >= alpha, x -> E_{alpha,beta}(-x) is completely monotone
    (Schneider 1996): positive and nonincreasing."""
    if beta < alpha:
        beta = alpha
    values = mittag_leffler_np(alpha, beta, np.array([-t, -t - 0.25, -t - 1.0]))
    assert (values > 0).all()
    assert values[0] >= values[1] * (1 - 1e-14) and values[1] >= values[2] * (1 - 1e-14)


@settings(max_examples=25, deadline=None)
@given(alpha=st.floats(min_value=0.2, max_value=2.0), beta=betas, t=st.floats(min_value=-50.0, max_value=10.0))
def test_float64_against_mp_random(alpha, beta, t):
    """Random points of the validated range. Next to a zero of E (oscillating alpha > 1) the
    relative error is governed by the condition number kappa = |z E'(z)/E(z)|: tolerance
    1e-14 * max(1, kappa * 1e-2) (kappa * eps is what any float64 evaluator that rounds its
    intermediate quantities can reach)."""
    if abs(t) ** (1 / alpha) > 700:
        return  # beyond the float range
    with mpmath.workdps(40):
        ref = mittag_leffler_mp(alpha, beta, t)
    got = mittag_leffler_np(alpha, beta, t)
    error = rel(got, ref)
    if error <= 1e-14:
        return
    with mpmath.workdps(40):  # E' from the derivative formula (two more evaluations)
        a, b = mpmath.mpf(alpha), mpmath.mpf(beta)
        deriv = (mittag_leffler_mp(a, a + b - 1, t) + (1 - b) * mittag_leffler_mp(a, a + b, t)) / a
        kappa = float(abs(t * deriv / ref)) if ref != 0 else math.inf
    assert error <= 1e-14 * max(1.0, kappa * 1e-2), (got, ref, kappa)


@settings(max_examples=25, deadline=None)
@given(alpha=st.floats(min_value=0.05, max_value=2.0), beta=st.floats(min_value=0.1, max_value=3.0),
       t=st.floats(min_value=0.0, max_value=5.0))
def test_increasing_and_positive_for_positive_z(alpha, beta, t):
    if (t + 0.5) ** (1 / alpha) > 700:
        return  # beyond the float range (inf)
    values = mittag_leffler_np(alpha, beta, np.array([t, t + 0.5]))
    assert (values > 0).all() and values[1] > values[0]


# ---------------------------------------------------------------------------------------
# The unified gated activation family (catalog/gated/unified_mittag_leffler.toml)
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ML_IDS)
def test_member_is_proven_equal_to_its_closed_form_symbolically(name):
    entry = funclib.get(name)
    main = entry.numeric_expr().rewrite("closed_form")
    assert not main.has(mittag_leffler)
    closed = entry.numeric_expr("closed_form")
    difference = sp.simplify((main - closed).rewrite(sp.exp))
    assert difference == 0, difference


@pytest.mark.parametrize("name", ML_IDS)
def test_member_equals_its_closed_form_to_30_digits(name):
    entry = funclib.get(name)
    main, closed = entry.numeric_expr(), entry.numeric_expr("closed_form")
    d_main = entry.derivative(numeric=True)
    d_closed = entry.derivative(variant="closed_form", numeric=True)
    points = [-25.0, -9.5, -4.0, -2.25, -1.0, -0.4, -1e-3, 0.0, 0.03, 0.5, 1.0, 1.7, 3.3, 6.0, 12.0, 25.0]
    for t in points:
        a, b = mp_evaluate(main, {x: t}, 45), mp_evaluate(closed, {x: t}, 45)
        assert abs(a - b) <= mpmath.mpf(10) ** -30 * max(abs(b), mpmath.mpf(10) ** -300), (t, a, b)
        if t != 0 or name != "ml_softsign":  # |x|: one-sided derivatives agree (kink convention)
            da, db = mp_evaluate(d_main, {x: t}, 45), mp_evaluate(d_closed, {x: t}, 45)
            assert abs(da - db) <= mpmath.mpf(10) ** -30 * max(abs(db), 1), (t, da, db)


def test_swish_member_with_another_beta():
    entry = funclib.get("ml_swish").with_params(beta=1.702)
    for t in (-3.0, 0.7, 2.0):
        assert rel(mp_evaluate(entry.numeric_expr(), {x: t}), mp_evaluate(entry.numeric_expr("closed_form"), {x: t})) < 1e-30


@pytest.mark.parametrize("name", ML_IDS)
def test_member_matches_the_existing_catalog_entry(name):
    """Each member is the same function as the catalog's own entry (third, independent form)."""
    other = funclib.get({"ml_sigmoid": "sigmoid", "ml_swish": "silu", "ml_tanh": "tanh",
                         "ml_softsign": "softsign", "ml_gelu": "gelu"}[name])
    entry = funclib.get(name)
    for t in (-7.0, -1.3, 0.2, 2.9):
        assert rel(mp_evaluate(entry.numeric_expr(), {x: t}), mp_evaluate(other.numeric_expr(), {x: t})) < 1e-30


@pytest.mark.parametrize("name", ML_IDS)
def test_member_in_float64_where_it_does_not_overflow(name):
    entry = funclib.get(name)
    points = np.linspace(-20, 20, 81)
    got = np_evaluate(entry.numeric_expr(), {x: points})
    ref = np_evaluate(entry.numeric_expr("closed_form"), {x: points})
    np.testing.assert_allclose(got, ref, rtol=1e-13, atol=1e-300)


@pytest.mark.parametrize("name", ML_IDS)
def test_member_properties(name):
    """The interval engine does not enclose E, so the main (Mittag-Leffler) form's facts are
    proven on its exact closed-form rewrite (``rewrite("closed_form")``, an identity); they
    must be proven, say so, and equal the facts proven from the hand-written closed_form
    variant. Every hand-written claim is proven."""
    entry = funclib.get(name)
    main = entry.properties()
    closed = entry.properties("closed_form")
    for fact in ("slope_bounds", "range", "monotonic", "convex", "lipschitz"):
        assert closed[fact].method in ("interval", "symbolic"), fact
        assert main[fact].method in ("interval", "symbolic"), fact
        assert "closed-form rewrite" in main.facts[fact].detail, fact
    for fact in ("value_at_zero", "slope_at_zero", "limit_at_inf", "limit_at_neg_inf", "odd", "even",
                 "smoothness", "monotonic", "convex", "concave"):
        assert main[fact].value == closed[fact].value, fact
    for fact in ("slope_bounds", "range"):
        for got, want in zip(main[fact].value, closed[fact].value):
            assert got == pytest.approx(want, rel=1e-8, abs=1e-8), fact
    for which in (main, closed):
        status = claim_status(entry, which)
        assert {k: v[0] for k, v in status.items()} == {k: "proven" for k in status}, status


def test_rewrite_is_skipped_without_a_closed_form():
    from funclib.properties import provable_form

    x = make_symbol("x")
    general = x * mittag_leffler(sp.Rational(3, 4), 1, -x**2)
    assert provable_form(general, x) == (general, "")
