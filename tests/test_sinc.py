"""The normalized sinc special function (funclib.sinc): SymPy class, mpmath/NumPy evaluation,
interval enclosures and kernels, each against an independent reference (mpmath's ``sincpi``
and numerical differentiation at 50 digits)."""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest
import sympy as sp

from funclib.formula import make_symbol, parse_formula, to_formula
from funclib.interval import enclose
from funclib.kernels.mathlib import libm
from funclib.kernels.printer import KernelError, Printer
from funclib.mpeval import mp_evaluate
from funclib.npeval import np_evaluate
from funclib.sinc import mp_sinc_d, np_sinc_d, sinc, sinc_d, sinc_derivative_bound
from helpers import max_ulp_distance

pytestmark = pytest.mark.filterwarnings("ignore:overflow encountered in cast:RuntimeWarning")

X = make_symbol("x")
SUBNORMAL = 5e-324
POINTS = [0.0, -0.0, 1e-300, -SUBNORMAL, 1.7976931348623157e308, 1e-8, 0.1, 0.2499, 0.25, 0.4999, 0.5, 0.75, 1.0, -1.0,
          1.4302966531242027, 2.5, -3.0000001, 7.25, 1e3 + 0.1, -1e10 - 0.3, 2.0**52 + 1, 2.0**53, 1e300]


def _reference(k: int, t: float) -> mpmath.mpf:
    """Independent oracle: mpmath's sincpi and its numerical derivatives at 50 digits."""
    with mpmath.workdps(50):
        if k == 0:
            return mpmath.sincpi(mpmath.mpf(t))
        return mpmath.diff(mpmath.sincpi, mpmath.mpf(t), k)


# -- symbolic ---------------------------------------------------------------------------------

def test_parse_roundtrip_and_derivatives():
    f = parse_formula("pi*sinc(x/pi - 1)")
    assert parse_formula(to_formula(f)) == f
    d = sp.diff(parse_formula("sinc(2*x)"), X, 2)
    assert d == 4 * sinc_d(2, 2 * X)
    assert parse_formula(to_formula(d)) == d
    assert sp.diff(sinc_d(3, X), X) == sinc_d(4, X)


def test_special_values_and_symmetry():
    assert sinc(0) == 1 and sinc(3) == 0 and sinc(sp.oo) == 0 and sinc(sp.Rational(1, 2)) == 2 / sp.pi
    assert sinc(-X) == sinc(X) and sinc_d(3, -X) == -sinc_d(3, X) and sinc_d(0, X) == sinc(X)
    assert sinc_d(1, 0) == 0 and sinc_d(2, 0) == -sp.pi**2 / 3 and sinc_d(4, 0) == sp.pi**4 / 5
    with pytest.raises(ValueError, match="nonnegative integer"):
        sinc_d(-1, X)
    rewritten = sinc(X).rewrite(sp.sin)
    assert rewritten.subs(X, sp.Rational(1, 3)) == sinc(sp.Rational(1, 3))


# -- values and derivatives ------------------------------------------------------------------

@pytest.mark.parametrize("t", POINTS)
def test_values_against_mpmath_sincpi(t):
    ref = _reference(0, t)
    with mpmath.workdps(50):
        assert abs(mp_sinc_d(0, mpmath.mpf(t)) - ref) <= mpmath.mpf(10) ** -45 * max(1, abs(ref))
    assert float(sp.N(sinc(sp.Float(t, 30)), 30)) == pytest.approx(float(ref), rel=1e-15, abs=1e-300)
    assert float(np_sinc_d(0, np.array([t]))[0]) == pytest.approx(float(ref), rel=4e-16, abs=1e-300)


def test_nonfinite_inputs():
    for f in (lambda t: mp_sinc_d(0, mpmath.mpf(t)), lambda t: mp_sinc_d(2, mpmath.mpf(t))):
        assert f(math.inf) == 0 and f(-math.inf) == 0 and mpmath.isnan(f(math.nan))
    out = np_sinc_d(1, np.array([math.inf, -math.inf, math.nan]))
    assert out[0] == 0 and out[1] == 0 and math.isnan(out[2])
    assert float(mp_evaluate(parse_formula("sinc(x)"), {X: math.nan})) != float(mp_evaluate(parse_formula("sinc(x)"), {X: 0.0}))


@pytest.mark.parametrize("k", range(1, 7))
def test_derivatives_against_numerical_differentiation(k):
    expr = sp.diff(parse_formula("sinc(x)"), X, k)
    pts = [t for t in POINTS if abs(t) < 1e4]  # mpmath.diff's step needs a moderate x
    got_np = np_evaluate(expr, {X: np.array(pts)})
    for t, g in zip(pts, got_np):
        ref = _reference(k, t)
        got = mp_evaluate(expr, {X: t}, dps=40)
        assert abs(got - ref) <= mpmath.mpf(10) ** -30 * max(1, abs(ref)), (k, t)
        assert g == pytest.approx(float(ref), rel=1e-12, abs=1e-13 * math.pi**k)


def test_derivative_bound_holds():
    ts = np.linspace(-6, 6, 241)
    for k in range(7):
        assert np.all(np.abs(np_sinc_d(k, ts)) <= float(sinc_derivative_bound(k)) * (1 + 1e-14))


# -- interval enclosures ----------------------------------------------------------------------

BOXES = [(0, 0), (-1e-3, 1e-3), (-0.5, 0.3), (0.9, 1.1), (3, 3.5), (-7.2, -7.1), (10, 11), (1e-300, 1e-299),
         (-0.01, 2), (100, 1e6)]


@pytest.mark.parametrize("k", range(7))
def test_enclosures_contain_sampled_values(k):
    expr = sp.diff(parse_formula("sinc(x)"), X, k)
    for a, b in BOXES:
        iv = enclose(expr, X, a, b)
        for t in np.linspace(a, b, 9):
            with mpmath.workdps(40):
                v = mp_sinc_d(k, mpmath.mpf(float(t)))
            assert iv.lower() <= v <= iv.upper(), (k, a, b, t)
    # unbounded boxes: the tail bound, and the global bound pi^k/(k+1)
    far = enclose(expr, X, 1e6, sp.oo)
    assert far.upper() <= 2 * math.pi ** max(k - 1, 0) / 1e6
    assert enclose(expr, X, -sp.oo, sp.oo).upper() <= float(sinc_derivative_bound(k)) * (1 + 1e-12)


def test_enclosures_are_tight_at_zero():
    # the series, not the 0/0 quotient: widths shrink with the box
    f, d1, d2 = (sp.diff(parse_formula("sinc(x)"), X, k) for k in range(3))
    assert enclose(f, X, -1e-8, 1e-8).lower() >= 1 - 1e-15
    assert enclose(d1, X, -1e-8, 1e-8).upper() <= 4e-8
    lo2, hi2 = enclose(d2, X, -1e-8, 1e-8).lower(), enclose(d2, X, -1e-8, 1e-8).upper()
    assert hi2 - lo2 <= 1e-14 and lo2 <= -math.pi**2 / 3 <= hi2


# -- kernels ----------------------------------------------------------------------------------

KERNEL_POINTS = np.concatenate([
    np.array(POINTS + [-t for t in POINTS]),
    np.random.default_rng(3).uniform(-4, 4, 400),
    np.random.default_rng(4).uniform(-0.6, 0.6, 200),
    10.0 ** np.random.default_rng(5).uniform(-300, 300, 200),
])


def _kappa(k: int, t: float, ref: mpmath.mpf) -> float:
    if ref == 0:
        return math.inf
    return max(1.0, float(abs(mpmath.mpf(t) * mp_sinc_d(k + 1, mpmath.mpf(t)) / ref)))


@pytest.mark.parametrize(("k", "f64", "f32"), [(0, libm.sinc_f64, libm.sinc_f32), (1, libm.sinc_d1_f64, libm.sinc_d1_f32)])
def test_math_library_within_target(k, f64, f32):
    # 4 ULP (float64) and 2 ULP (float32) scaled by the condition number, as the harness does
    worst = {np.float64: 0.0, np.float32: 0.0}
    with mpmath.workdps(40):
        for t in KERNEL_POINTS:
            for dtype, fn, budget in ((np.float64, f64, 4.0), (np.float32, f32, 2.0)):
                x = dtype(t)
                if not np.isfinite(x):
                    continue
                ref = mp_sinc_d(k, mpmath.mpf(float(x)))
                if dtype is np.float32 and abs(ref) < 1e-38:
                    continue  # float32 subnormal results: absolute, not relative, accuracy
                err = max_ulp_distance([float(fn(x))], [ref], dtype) / _kappa(k, float(x), ref)
                assert err <= budget, (k, dtype.__name__, float(x), err)
                worst[dtype] = max(worst[dtype], err)
    assert worst[np.float64] > 0  # the check compared something
    for fn in (f64, f32):
        assert fn(np.float64(math.inf)) == 0 and math.isnan(fn(np.float64(math.nan)))


def test_printer_calls_the_library_and_rejects_higher_orders():
    p = Printer("float32", "fast", {X: "xi"})
    assert p.expr(sinc(2 * X)) == "lm.sinc_f32((K0 * xi))"
    assert p.expr(sinc_d(1, X)) == "lm.sinc_d1_f32(xi)"
    with pytest.raises(KernelError, match="order 2"):
        p.expr(sinc_d(2, X))


def test_entry_kernel_matches_numpy_sinc():
    import funclib

    entry = funclib.get("sinc")
    xs = np.concatenate([np.linspace(-30, 30, 1201), [0.0, 1e-200, 1e20, -1e300]])
    value, deriv = entry.kernel(outputs=("value", "derivative"))(xs)
    # numpy.sinc rounds pi*x, so it misses the zeros at the integers by ~1e-16 (-1.1e-16 at
    # x = -30, -1.3e-21 at 1e20, where the kernel's exact reduction gives 0)
    np.testing.assert_allclose(value, np.sinc(xs), rtol=1e-13, atol=2e-16)
    assert value[0] == 0.0 and value[-2] == 0.0
    np.testing.assert_allclose(deriv, np_sinc_d(1, xs), rtol=1e-12, atol=1e-15)


# -- cube-root powers (the derivative of cbrt) ------------------------------------------------

@pytest.mark.parametrize("p", [-4, -2, -1, 1, 2, 4])
def test_cbrt_pow_within_target(p):
    """cbrt_pow against mpmath; cbrt_f64 (one Newton step on Numba's np.cbrt) to half an ULP."""
    rng = np.random.default_rng(p + 10)
    bs = np.concatenate([10.0 ** rng.uniform(-300, 300, 300), [1.0, 8.0, 0.125, 1.7976931348623157e308, 1e-310]])
    with mpmath.workdps(40):
        for b in bs:
            ref = mpmath.mpf(float(b)) ** (mpmath.mpf(p) / 3)
            if abs(ref) < 1e-300 or abs(ref) > 1e300:
                continue
            assert max_ulp_distance([float(libm.cbrt_pow_f64(float(b), p))], [ref], np.float64) <= 2.0, (p, b)
            if p == 1:
                assert max_ulp_distance([float(libm.cbrt_f64(float(b)))], [ref], np.float64) <= 0.5, b
                assert libm.cbrt_f64(-float(b)) == -libm.cbrt_f64(float(b))
            b32 = np.float32(b)
            if 1e-30 < b32 < 1e30 and float(b32) ** (p / 3) < 3e38:
                ref32 = mpmath.mpf(float(b32)) ** (mpmath.mpf(p) / 3)
                assert max_ulp_distance([float(libm.cbrt_pow_f32(b32, p))], [ref32], np.float32) <= 0.51, (p, b32)
    assert math.isnan(libm.cbrt_pow_f64(-1.0, 2)) and libm.cbrt_pow_f64(0.0, 2) == 0.0
    assert libm.cbrt_pow_f64(0.0, -2) == math.inf and libm.cbrt_pow_f64(math.inf, 2) == math.inf
