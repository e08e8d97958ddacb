"""The periodicity argument (funclib.periodicity): detection, refusals, facts proven over one
period against brute force on several periods, and the Darknet stair entry against a NumPy
transcription of its C source."""

from __future__ import annotations

import math
import re

import mpmath
import numpy as np
import pytest
import sympy as sp

import funclib
from funclib import calculus
from funclib.mpeval import mp_evaluate
from funclib.periodicity import NotPeriodic, detect_periodicity, exact_extremum, period_breakpoints, periodicity_of
from funclib.properties import compute_properties

x = sp.Symbol("x", real=True)
STAIR = sp.Max(sp.floor(x / 2), x - sp.ceiling(x / 2))


@pytest.mark.parametrize(
    "expr, period, shift",
    [
        (sp.sin(x), 2 * sp.pi, 0),
        (sp.tanh(sp.sin(x)), 2 * sp.pi, 0),
        (sp.sin(3 * x) + sp.cos(2 * x), 2 * sp.pi, 0),  # lcm of 2 pi/3 and pi
        (2 * sp.sin(x / 2) ** 2, 4 * sp.pi, 0),
        (x + sp.sin(x) ** 2, 2 * sp.pi, 2 * sp.pi),  # snake: quasi-periodic
        (-x + sp.cos(x), 2 * sp.pi, -2 * sp.pi),
        (STAIR, 2, 1),
        (sp.floor(x) + sp.sin(2 * sp.pi * x), 1, 1),
        (sp.Abs(sp.sin(x)), 2 * sp.pi, 0),
    ],
)
def test_detects_period_and_shift(expr, period, shift):
    per = detect_periodicity(expr, x)
    assert sp.simplify(per.period - period) == 0
    assert sp.simplify(per.shift - shift) == 0
    assert per.checks == 8
    # independently: f(t + P) - f(t) = c at points the detector did not use
    for t in (-7.3, -0.4, 0.9, 5.55, 31.7):
        with mpmath.workdps(40):
            a = mp_evaluate(expr, {x: t}, 40)
            b = mp_evaluate(expr, {x: mpmath.mpf(t) + mpmath.mpf(sp.N(period, 50))}, 40)
            assert abs(b - a - mpmath.mpf(sp.N(shift, 40))) < 1e-25


@pytest.mark.parametrize(
    "expr, why",
    [
        (sp.sin(x**2), "not a*x + b"),
        (sp.sin(x) + sp.sin(sp.sqrt(2) * x), "incommensurate"),
        (x * sp.cos(x), "not a constant"),
        (sp.Max(x, 0) + sp.sin(x) / 10, "not a constant"),  # periodic only far out
        (sp.floor(x) + sp.sin(x), "incommensurate"),
        (sp.exp(x), "no sin"),
    ],
)
def test_refuses_what_is_not_periodic(expr, why):
    with pytest.raises(NotPeriodic, match=re.escape(why)):
        detect_periodicity(expr, x)
    assert periodicity_of(expr, x) is None


def test_breakpoints_in_one_period():
    per = detect_periodicity(STAIR, x)
    assert period_breakpoints(STAIR, x, per) == [0, 1]
    abs_sin = sp.Abs(sp.sin(x))
    assert period_breakpoints(abs_sin, x, detect_periodicity(abs_sin, x)) == [0, sp.pi]


def test_exact_extremum_of_a_smooth_periodic_function():
    per = detect_periodicity(sp.exp(sp.cos(x)), x)
    assert exact_extremum(sp.exp(sp.cos(x)), x, per, maximize=True)[0] == sp.E
    assert exact_extremum(sp.exp(sp.cos(x)), x, per, maximize=False)[0] == sp.exp(-1)
    assert exact_extremum(STAIR, x, detect_periodicity(STAIR, x), maximize=True) is None  # not smooth


def _brute(expr, lo, hi, n=20001):
    """Min and max of expr on a grid over [lo, hi] (mpmath, 30 digits)."""
    ts = np.linspace(lo, hi, n)
    vals = [float(mp_evaluate(expr, {x: float(t)}, 30)) for t in ts]
    return min(vals), max(vals)


# (entry, period): facts proven on one period must hold (and be nearly attained) over three.
PERIODIC_ENTRIES = [("sine", 2 * math.pi), ("snake", 2 * math.pi), ("expcos", 2 * math.pi),
                    ("hosc", 2 * math.pi), ("sincos", 2 * math.pi), ("darknet_stair", 2.0)]


@pytest.mark.parametrize("name, period", PERIODIC_ENTRIES)
def test_facts_match_brute_force_over_several_periods(name, period):
    entry = funclib.get(name)
    props = compute_properties(entry)
    f = entry.numeric_expr()
    df = calculus.derivative(f, entry.symbol, 1)
    lo, hi = props.slope_bounds
    assert props["slope_bounds"].method != "estimated"
    assert "proven by periodicity" in props["slope_bounds"].detail
    # f' sampled off the kinks over [-3P, 3P] (shifted grid: no sample on an integer)
    smin, smax = _brute(df, -3 * period + 1e-3, 3 * period + 1e-3, 6001)
    assert lo - 1e-12 <= smin and smax <= hi + 1e-12
    assert smin - lo < 1e-5 and hi - smax < 1e-5  # attained, not just bounded
    rlo, rhi = props.range
    per = detect_periodicity(f, entry.symbol)
    if per.periodic:
        vmin, vmax = _brute(f, -3 * period, 3 * period, 6001)
        assert rlo - 1e-12 <= vmin and vmax <= rhi + 1e-12
        assert vmin - rlo < 1e-5 and rhi - vmax < 1e-5
        assert math.isnan(props.get("limit_at_inf")) and props["limit_at_inf"].method == "interval"
    else:
        assert (rlo, rhi) == (-math.inf, math.inf)


def test_snake_facts_by_hand():
    # x + sin(x)^2: f' = 1 + sin(2x) in [0, 2], zero only at x = 3 pi/4 + k pi: increasing
    props = funclib.get("snake").properties()
    assert props.slope_bounds == (0.0, 2.0)
    assert props.monotonic == "increasing"
    assert props.lipschitz == 2.0
    assert props["slope_bounds"].method == "interval" and props["monotonic"].method == "symbolic"


def _darknet_stair_c(x: np.ndarray) -> np.ndarray:
    """Darknet's stair_activate (src/activations.h), transcribed element by element:
    n = floor(x); n % 2 == 0 -> floor(x/2); else (x - n) + floor(x/2). C's % keeps the sign
    of n, so a negative odd n gives -1, not 0: odd either way."""
    dtype = x.dtype.type
    out = np.empty_like(x)
    for i, xi in enumerate(x):
        n = math.floor(xi)
        half = dtype(math.floor(xi / dtype(2)))
        out[i] = half if math.fmod(n, 2) == 0 else dtype(dtype(xi - dtype(n)) + half)
    return out


def _darknet_stair_gradient_c(y: np.ndarray) -> np.ndarray:
    """Darknet's stair_gradient, applied (as Darknet does) to the layer output y."""
    return np.where(np.floor(y) == y, 0.0, 1.0).astype(y.dtype)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_darknet_stair_against_the_c_code(dtype):
    rng = np.random.default_rng(7)
    pts = np.concatenate([rng.uniform(-20, 20, 2000), np.arange(-12, 13), np.arange(-12, 13) + 0.5,
                          rng.uniform(-1e6, 1e6, 200)]).astype(dtype)
    value, slope = funclib.get("darknet_stair").kernel(dtype=dtype)(pts)
    ref = _darknet_stair_c(pts)
    # The C code rounds (x - n) + floor(x/2) twice, the kernel's x - ceiling(x/2) once.
    np.testing.assert_allclose(value, ref, rtol=4 * np.finfo(dtype).eps, atol=np.finfo(dtype).eps)
    # Away from the integers, the C gradient (from the output) equals the kernel's derivative.
    off = np.abs(pts - np.round(pts)) > 1e-3
    np.testing.assert_array_equal(slope[off], _darknet_stair_gradient_c(ref)[off])
    # At the integer kinks both give 0 (the convention of the entry).
    ints = np.arange(-12, 13).astype(dtype)
    assert np.all(funclib.get("darknet_stair").kernel(dtype=dtype)(ints)[1] == 0)
    assert np.all(_darknet_stair_gradient_c(_darknet_stair_c(ints)) == 0)


def test_darknet_stair_is_continuous_with_slopes_zero_and_one():
    entry = funclib.get("darknet_stair")
    f = entry.numeric_expr()
    with mpmath.workdps(50):
        for k in range(-6, 7):
            left = mp_evaluate(f, {x: mpmath.mpf(k) - mpmath.mpf(10) ** -30}, 50)
            right = mp_evaluate(f, {x: mpmath.mpf(k) + mpmath.mpf(10) ** -30}, 50)
            assert abs(right - left) < 1e-25
    # difference quotients inside each unit piece are exactly 0 (even floor) or 1 (odd)
    for k in range(-6, 6):
        a, b = k + 0.25, k + 0.75
        q = (float(mp_evaluate(f, {x: b}, 30)) - float(mp_evaluate(f, {x: a}, 30))) / (b - a)
        assert q == (0.0 if k % 2 == 0 else 1.0)
    props = entry.properties()
    assert props.smoothness == "C0"
    assert props.slope_bounds == (0.0, 1.0)
    assert props.monotonic == "nondecreasing"
    assert props.range == (-math.inf, math.inf)
    assert "proven by periodicity (P = 2, c = 1)" in props["smoothness"].detail
