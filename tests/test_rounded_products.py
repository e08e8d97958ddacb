"""Constant products and affine roots in the kernels' printer, found by the exhaustive float32 runs.

* ``vm.scale`` / ``lm.scale``: ``c*t`` for a constant the dtype cannot hold, rounded once (an FMA
  with ``c`` split in two). Checked against exact rational arithmetic, and at the two places it
  was found: SELU's value was ``inf`` just below the float32 overflow threshold (``lambda*x`` with
  ``lambda`` rounded up), and SELU's negative branch multiplied two rounded constants.
* ``c*u + b`` printed as ``c*(u - r)`` at its root ``r = -b/c``: hard sigmoid ``x/6 + 1/2`` was
  2.8 million ULP off next to ``x = -3``.
* an irrational constant of a sum (``pi - x``) printed as two terms ``(hi + rest) + lo``, and
  ``c - a*u**2`` factored as ``a*(k - u)*(k + u)``: ssu and dsu were hundreds to thousands of
  ULP off next to ``x = pi``.
* ``exp(c*u**2)`` with ``u**2`` split exactly (``exp_sq``) also for ``c = -1``: erf's float32
  derivative :math:`2e^{-x^2}/\sqrt\pi` was 64.6 ULP off at large ``|x|`` (rounding ``x**2`` costs
  :math:`x^2` ULP of the result).
* ``log u - log1p(-u)`` printed as one ``log1p`` of an exact quotient for u >= 1/4: logit was
  1,024 ULP off next to x = 1/2.
* ``tanh(u)**2`` printed as ``tanh_sq(u)``, in float32 through float64 and rounded once: tanhshrink's
  float32 derivative was 3.43 ULP at x = 0.6365.
* ``k u - k tanh u`` printed as ``k tanhshrink(u)`` (``vm.tanhshrink``, no difference formed):
  tanhshrink's float32 value was 0 for |x| < 1e-4 (1.68e7 ULP at x = 1.4e-4).
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
import sympy as sp

import funclib
import mpmath
from funclib.accuracy import ulp_error
from helpers import max_ulp_distance
from funclib.kernels.mathlib import libm, vecmath
from funclib.kernels.printer import Printer, rewrite_for_kernel
from funclib.stable_forms import evaluation_form

x = sp.Symbol("x")


def _exact_product(c: Fraction, t: float, dtype) -> float:
    """``c*t`` rounded once to ``dtype`` (float64 via Fraction's correct rounding, then dtype
    when that is float32: a double rounding that can only differ at a float32 midpoint)."""
    v = c * Fraction(float(t))
    try:
        return dtype(float(v))
    except OverflowError:
        return dtype(np.copysign(np.inf, float(np.sign(v))))


@pytest.mark.parametrize("dtype, name", [(np.float64, "scale_f64"), (np.float32, "scale_f32")])
@pytest.mark.parametrize("module", [vecmath, libm])
def test_scale_is_the_product_rounded_once(dtype, name, module):
    scale = getattr(module, name)
    rng = np.random.default_rng(7)
    digits = 53 if dtype is np.float64 else 24
    for c_exact in (Fraction(2101401974710961, 2000000000000000), Fraction(1, 6), Fraction(-7, 3)):
        c = float(c_exact)
        hi = dtype(c)
        lo = dtype(float(c_exact - Fraction(float(hi))))
        assert lo != 0
        ts = np.concatenate([rng.standard_normal(2000) * 10.0 ** rng.integers(-30, 30, 2000),
                             [np.finfo(dtype).max / 1.04, np.finfo(dtype).max]]).astype(dtype)
        with np.errstate(over="ignore"):
            got = np.array([scale(t, hi, lo) for t in ts], dtype=dtype)
            want = np.array([_exact_product(c_exact, t, dtype) for t in ts], dtype=dtype)
        assert np.array_equal(got, want), (digits, ts[got != want], got[got != want], want[got != want])
        # at the bottom of the normal range c_lo*t rounds in the subnormal range: within one ULP
        tiny = np.finfo(dtype).tiny * np.array([3.0, 1.5, 1.0, 0.5, 2.0**-digits], dtype)
        got = np.array([scale(t, hi, lo) for t in tiny], dtype=dtype)
        want = np.array([_exact_product(c_exact, t, dtype) for t in tiny], dtype=dtype)
        assert np.all(np.abs(got - want) <= np.spacing(np.abs(want))), (got, want)
        # infinite or NaN t: c_hi * t (c_lo of the other sign must not give inf - inf = NaN)
        for t in (np.inf, -np.inf):
            assert scale(dtype(t), hi, lo) == hi * dtype(t)
        assert np.isnan(scale(dtype(np.nan), hi, lo))
        # a zero keeps c_hi * t's sign (c_lo * -0 = +0 when c_lo < 0, and -0 + 0 = +0)
        for t in (0.0, -0.0):
            assert np.signbit(scale(dtype(t), hi, lo)) == np.signbit(hi * dtype(t))


def test_selu_float32_below_the_overflow_threshold():
    entry = funclib.get("selu")
    k = entry.kernel(dtype="float32", outputs="value")
    big = np.array([3.23862215e38, 3.2e38, np.finfo(np.float32).max], np.float32)
    ref = entry.reference(big.astype(np.float64))
    got = k(big)
    with np.errstate(over="ignore"):
        want = ref.astype(np.float32)
    assert np.array_equal(got, want), (got, want)
    assert np.isfinite(got[0]) and np.isinf(got[2])


def test_selu_negative_branch_has_one_rounded_constant():
    """lambda*alpha*expm1(x): SymPy merges the two constants once the coefficient goes into the arm."""
    p = Printer("float32", "fast", {x: "xi"})
    c = sp.Rational(3, 7)
    text = p.expr(sp.Mul(c, sp.Piecewise((x, x > 0), (sp.Rational(5, 3) * sp.exp(x), True)), evaluate=False))
    source = "\n".join([*p.lines, text])
    assert source.count("scale_f32") == 2, source  # one per arm, none around the select
    assert "scale_f32(vm.exp_f32(xi)" in source, source


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_hard_sigmoid_next_to_its_root(dtype):
    entry = funclib.get("hard_sigmoid")
    t = np.dtype(dtype).type
    xs = np.nextafter(t(-3), t(0)) + np.arange(4000, dtype=dtype) * t(2.0**-14)
    xs = np.concatenate([xs, np.linspace(-2.99, 2.99, 999, dtype=dtype)])
    got = entry.kernel(dtype=dtype, outputs="value")(xs)
    ref = entry.reference(xs.astype(np.float64)) if dtype == "float32" else entry.reference(xs)
    assert np.max(ulp_error(got, ref, dtype)) <= 1.0


def test_affine_root_only_where_the_root_is_a_dtype_number():
    p = Printer("float32", "fast", {x: "xi"})
    assert "xi + K" in p.expr(x / 6 + sp.Rational(1, 2))  # root -3: (x + 3)/6
    q = Printer("float32", "fast", {x: "xi"})
    text = q.expr(x / 3 + sp.Rational(1, 10))  # root -3/10 is not a float32 number
    assert "scale_f32(xi" in text and "+ K" in text
    huge = Printer("float32", "fast", {x: "xi"})
    text = huge.expr(x / 2 + sp.Integer(2) ** 120)  # root -2^121: x + 2^121 could overflow, x/2 + 2^120 not
    assert text == "((K0 * xi) + K1)", text  # printed as c*x + b


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_erf_derivative_keeps_the_square_exact(dtype):
    entry = funclib.get("erf")
    xs = np.linspace(-10.0, 10.0, 801, dtype=dtype)
    got = entry.kernel(dtype=dtype, outputs="derivative")(xs)
    with mpmath.workprec(200):
        exact = [2 / mpmath.sqrt(mpmath.pi) * mpmath.exp(-mpmath.mpf(float(v)) ** 2) for v in xs]
    # subnormal results carry an absolute error: measure in ULPs of the smallest normal there
    floor = float(np.finfo(dtype).tiny)
    assert max_ulp_distance(got, exact, dtype, floor=floor) <= 2.0
    assert "exp_sq" in Printer(dtype, "fast", {x: "xi"}).expr(rewrite_for_kernel(sp.exp(-x**2)))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_two_term_irrational_constant_next_to_its_root(dtype):
    t = np.dtype(dtype).type
    p = Printer(dtype, "fast", {x: "xi"})
    text = p.expr(sp.pi - x)
    assert text.count("+") + text.count("-") == 3, text  # (-xi + hi) + lo
    entry = funclib.get("ssu")  # pi sin(x)/(pi - x)
    xs = t(np.pi) + np.arange(-300, 301) * np.spacing(t(np.pi)) * 7
    got = entry.kernel(dtype=dtype, outputs="value")(xs)
    with mpmath.workprec(200):
        exact = [mpmath.pi * mpmath.sin(v) / (mpmath.pi - v) for v in (mpmath.mpf(float(v)) for v in xs)]
    assert max_ulp_distance(got, exact, dtype) <= 2.0


def test_difference_of_squares_is_factored():
    assert evaluation_form(sp.pi**2 - x**2, x) == (sp.pi - x) * (sp.pi + x)
    assert evaluation_form(3 - 12 * x**2, x) == 12 * (sp.Rational(1, 2) - x) * (sp.Rational(1, 2) + x)
    assert evaluation_form(x**2 - 1, x) == x**2 - 1  # only c - a u**2 with c, a > 0
    assert evaluation_form(4 - sp.log(x) ** 2, x) == 4 - sp.log(x) ** 2  # a rounded u: no gain
    entry = funclib.get("dsu")  # pi^2 sin(x)/(pi^2 - x^2)
    xs = np.pi + np.arange(1, 400) * 2.0**-40
    got = entry.kernel(dtype="float64", outputs="value")(xs)
    with mpmath.workprec(200):
        exact = [mpmath.pi**2 * mpmath.sin(v) / (mpmath.pi**2 - v**2) for v in (mpmath.mpf(float(v)) for v in xs)]
    assert max_ulp_distance(got, exact, "float64") <= 2.0


def test_difference_with_tanh_is_tanhshrink():
    """``k u - k tanh u`` prints as ``k tanhshrink(u)`` (the exhaustive float32 run found
    tanhshrink's value 0 for |x| < 1e-4, where it is x**3/3: the difference cancels)."""
    from funclib.kernels.printer import TanhShrink

    y = sp.Symbol("y")
    assert rewrite_for_kernel(x - sp.tanh(x)) == TanhShrink(x)
    assert rewrite_for_kernel(3 * sp.tanh(2 * x) - 6 * x + y) == y - 3 * TanhShrink(2 * x)
    assert rewrite_for_kernel(x - 2 * sp.tanh(x)) == x - 2 * sp.tanh(x)  # k u - m tanh u, k != m: no rule
    entry = funclib.get("tanhshrink")
    for dtype in (np.float64, np.float32):
        xs = np.concatenate([np.geomspace(1e-30, 3.0, 400), -np.geomspace(1e-30, 3.0, 400)]).astype(dtype)
        got = entry.kernel(dtype=dtype, outputs="value")(xs)
        exact = []
        for v in xs:
            with mpmath.workdps(120):
                exact.append(+(mpmath.mpf(float(v)) - mpmath.tanh(mpmath.mpf(float(v)))))
        assert max_ulp_distance(got, exact, dtype) <= (2.0 if dtype is np.float64 else 0.5)


def test_log_odds_is_one_log1p():
    """``log u - log1p(-u)`` is evaluated as one ``log1p`` of an exactly formed quotient for u >= 1/4
    (the exhaustive float32 run found logit 1,024 ULP off next to x = 1/2)."""
    from sympy.codegen.cfunctions import log1p

    out = evaluation_form(2 * sp.log(x) - 2 * log1p(-x), x)
    assert isinstance(out, sp.Mul) and out.has(sp.Piecewise) and out.args[0] == 2
    assert evaluation_form(sp.log(x) - log1p(x), x) == sp.log(x) - log1p(x)  # not the log-odds
    entry = funclib.get("logit")
    for dtype, bound in ((np.float64, 2.5), (np.float32, 2.0)):
        xs = np.concatenate([np.linspace(0.0, 1.0, 2001)[1:-1], 0.5 + np.arange(-200, 201) * 2.0**-30]).astype(dtype)
        got = entry.kernel(dtype=dtype, outputs="value")(xs)
        with mpmath.workdps(60):
            exact = [mpmath.log(v / (1 - v)) for v in (mpmath.mpf(float(t)) for t in xs)]
        assert max_ulp_distance(got, exact, dtype) <= bound


def test_tanh_square_is_rounded_once_in_float32():
    """``tanh(u)**2`` prints as ``tanh_sq(u)``: squaring a float32 tanh (1.5 ULP) doubled its error
    (the exhaustive run found tanhshrink's derivative 3.43 ULP at x = 0.6365, where kappa = 1.55)."""
    from funclib.kernels.printer import TanhSq

    assert rewrite_for_kernel(sp.tanh(x) ** 2) == TanhSq(x)
    assert rewrite_for_kernel(1 / (sp.tanh(2 * x) ** 4 + 1)) == 1 / (TanhSq(2 * x) ** 2 + 1)
    assert rewrite_for_kernel(sp.tanh(x) ** 3) == sp.tanh(x) ** 3  # odd powers keep the sign of tanh
    entry = funclib.get("tanhshrink")
    xs = (np.float32(0.6365136) + np.arange(-2000, 2001, dtype=np.float32) * np.float32(2.0**-16)).astype(np.float32)
    got = entry.kernel(dtype="float32", outputs="derivative")(xs)
    with mpmath.workdps(40):
        exact = [mpmath.tanh(mpmath.mpf(float(v))) ** 2 for v in xs]
    assert max_ulp_distance(got, exact, "float32") <= 0.501
