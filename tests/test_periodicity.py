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
from funclib.periodicity import (
    NotPeriodic,
    chirp_of,
    decompose_linear_periodic,
    detect_periodicity,
    exact_extremum,
    explicit_branches,
    linear_periodic_of,
    period_breakpoints,
    periodicity_of,
    sign_witnesses,
)
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


# -- linear times periodic: f = x p + q -------------------------------------------------------


@pytest.mark.parametrize(
    "expr, p, q",
    [
        (x * sp.cos(x), sp.cos(x), 0),  # GCU
        (x * sp.sin(x), sp.sin(x), 0),  # ASU
        (x * (2 + sp.cos(x)) + sp.sin(3 * x), sp.cos(x) + 2, sp.sin(3 * x)),
        ((x + 1) * sp.sin(x) ** 2, sp.sin(x) ** 2, sp.sin(x) ** 2),
        (x * sp.floor(x) - x**1 * sp.floor(x) + x * sp.cos(2 * sp.pi * x), sp.cos(2 * sp.pi * x), 0),
    ],
)
def test_linear_periodic_decomposition(expr, p, q):
    lp = decompose_linear_periodic(expr, x)
    assert sp.simplify(lp.p - p) == 0 and sp.simplify(lp.q - q) == 0
    assert lp.checks == 8
    # independently: f(t) = t p(t) + q(t) and f(t + P) - f(t) = P p(t) at fresh points
    step = float(sp.N(lp.period, 30))
    for t in (-9.1, -0.7, 2.2, 13.4):
        ft, fp = float(mp_evaluate(expr, {x: t}, 30)), float(mp_evaluate(expr, {x: t + step}, 30))
        pt, qt = float(mp_evaluate(lp.p, {x: t}, 30)), float(mp_evaluate(lp.q, {x: t}, 30))
        assert ft == pytest.approx(t * pt + qt, abs=1e-12)
        assert fp - ft == pytest.approx(step * pt, abs=1e-9)


@pytest.mark.parametrize(
    "expr, why",
    [
        (x**2 * sp.sin(x), "degree 2"),
        (sp.exp(x) * sp.sin(x), "not a polynomial"),
        (x + sp.sin(x), "constant"),  # quasi-periodic: detect_periodicity's case
        (x * sp.sin(x**2), "not a*x + b"),
        (x * (sp.sin(x) + sp.sin(sp.sqrt(2) * x)), "incommensurate"),
        (sp.exp(x), "no sin"),
    ],
)
def test_linear_periodic_refusals(expr, why):
    with pytest.raises(NotPeriodic, match=re.escape(why)):
        decompose_linear_periodic(expr, x)
    assert linear_periodic_of(expr, x) is None


def test_sign_witnesses_are_proven_and_real():
    found = sign_witnesses(sp.cos(x), x, 2 * sp.pi)
    assert set(found) == {1, -1}
    for sign, (t, lo, hi) in found.items():
        assert t.is_Rational and 0 <= t < 2 * sp.pi
        assert lo <= math.cos(float(t)) <= hi and sign * lo > 0 and sign * hi > 0
    assert set(sign_witnesses(2 + sp.cos(x), x, 2 * sp.pi)) == {1}
    assert sign_witnesses(sp.S.Zero * x, x, 2 * sp.pi) == {}


@pytest.mark.parametrize("name", ["gcu", "asu"])
def test_linear_periodic_entries_unbounded_with_witnesses(name):
    entry = funclib.get(name)
    props = compute_properties(entry)
    for fact in ("range", "slope_bounds", "lipschitz", "monotonic", "convex", "concave",
                 "limit_at_inf", "limit_at_neg_inf"):
        assert props[fact].method == "interval", fact
        assert "linear-times-periodic" in props[fact].detail, fact
    assert props.range == (-math.inf, math.inf) and props.slope_bounds == (-math.inf, math.inf)
    assert props.lipschitz == math.inf and props.monotonic == "none"
    assert props.get("convex") is False and props.get("concave") is False
    assert math.isnan(props.get("limit_at_inf")) and math.isnan(props.get("limit_at_neg_inf"))
    # By hand: the witness sequences. gcu: f' = cos x - x sin x; asu: f' = sin x + x cos x.
    f = entry.numeric_expr()
    df = calculus.derivative(f, x, 1)
    lp = decompose_linear_periodic(f, x)
    step = 2 * math.pi
    t1 = float(sp.Rational(re.search(r"f'\((\S+) \+ k P\)", props["slope_bounds"].detail).group(1)))
    slopes = [float(mp_evaluate(df, {x: t1 + k * step}, 30)) for k in (-1000, -10, 0, 10, 1000)]
    assert min(slopes) < -5000 and max(slopes) > 5000  # f' -> -inf one way, +inf the other
    hand = {"gcu": lambda t: math.cos(t) - t * math.sin(t), "asu": lambda t: math.sin(t) + t * math.cos(t)}[name]
    assert slopes == pytest.approx([hand(t1 + k * step) for k in (-1000, -10, 0, 10, 1000)], rel=1e-9)
    values = [float(mp_evaluate(f, {x: 1.0 + k * step}, 30)) for k in (-1000, 1000)]
    p1 = float(mp_evaluate(lp.p, {x: 1.0}, 30))
    assert values[1] - values[0] == pytest.approx(2000 * step * p1, rel=1e-9)


def test_linear_periodic_limits_without_sign_change():
    # x (2 + cos x) + sin x: p >= 1, so f -> +inf at +inf and -inf at -inf, still not monotone-provable
    # by bounds (f' = 2 + cos x - x sin x + cos x is unbounded both ways).
    from funclib.entry import Entry

    entry = Entry.from_formula("x*(2 + cos(x)) + sin(x)")
    props = compute_properties(entry)
    assert props.get("limit_at_inf") == math.inf and props.get("limit_at_neg_inf") == -math.inf
    assert props["limit_at_inf"].method == "interval"
    assert props.slope_bounds == (-math.inf, math.inf)


# -- explicit branches: periodic on a half-line -----------------------------------------------


def test_explicit_branches():
    rowdy = sp.Piecewise((x, x > 0), (0, True)) + sp.sin(x) / 10
    assert explicit_branches(rowdy, x) == [(x + sp.sin(x) / 10, sp.Interval.open(0, sp.oo)),
                                           (sp.sin(x) / 10, sp.Interval(-sp.oo, 0))]
    assert explicit_branches(sp.Abs(sp.sin(x)), x) is None  # infinitely many pieces
    assert explicit_branches(sp.sin(x), x) is None


# (entry, slope bounds, range) by hand: minsin = sin on [0, inf), x below; sine_relu = x above
# 0, (sin - cos)/400 below (jumps up at 0); rowdy = relu + sin/10.
ONE_SIDED = [
    ("minsin", (-1.0, 1.0), (-math.inf, 1.0)),
    ("sine_relu", (-math.sqrt(2) / 400, math.inf), (-math.sqrt(2) / 400, math.inf)),
    ("rowdy", (-0.1, 1.1), (-0.1, math.inf)),
]


@pytest.mark.parametrize("name, slopes, value_range", ONE_SIDED)
def test_one_sided_periodic_entries(name, slopes, value_range):
    entry = funclib.get(name)
    props = compute_properties(entry)
    for fact in ("slope_bounds", "range", "monotonic", "limit_at_inf", "limit_at_neg_inf"):
        assert props[fact].method != "estimated", fact
    assert props.slope_bounds == pytest.approx(slopes, abs=1e-12)
    assert props.range == pytest.approx(value_range, abs=1e-12)
    assert props.monotonic == "none"
    assert "by branches" in props["slope_bounds"].detail
    # brute force over several periods on both sides (off the breakpoint 0)
    f = entry.numeric_expr()
    df = calculus.derivative(f, x, 1)
    smin, smax = _brute(df, -20.0 + 1e-3, 20.0 + 1e-3, 4001)
    assert slopes[0] - 1e-12 <= smin and smax <= slopes[1] + 1e-12
    vmin, vmax = _brute(f, -20.0 + 1e-3, 20.0 + 1e-3, 4001)
    assert value_range[0] - 1e-12 <= vmin and vmax <= value_range[1] + 1e-12
    assert vmin - value_range[0] < 1e-3 or math.isinf(value_range[0])


# -- chirps: sin(g(x)) with a polynomial g of degree >= 2 on a half-line ------------------------

G = 30 * x * (x + 1)  # FINER's phase on x > 0


def test_chirp_detection_and_refusals():
    bounded = chirp_of(2 * sp.sin(G) + 1, x, 1)
    assert bounded.bounded and (bounded.u, bounded.v) == (2, 1)
    slope = chirp_of((60 * x + 30) * sp.cos(G), x, 1)
    assert not slope.bounded and sp.simplify(slope.u - (60 * x + 30)) == 0
    assert chirp_of(sp.sin(x), x, 1) is None  # periodic: the periodicity argument's case
    assert chirp_of(sp.sin(G) + sp.cos(G), x, 1) is None  # two atoms
    assert chirp_of(sp.sin(G) + x, x, 1) is None  # v/u does not vanish, u, v not constants
    assert chirp_of(x**2 * sp.sin(G) ** 2, x, 1) is None  # not linear in the atom


def test_chirp_witness_sequences_by_hand():
    # f' = (60 x + 30) cos(30 x (x + 1)): at 30 x (x + 1) = 2 pi k it is 60 x_k + 30, at (2k + 1) pi
    # it is -(60 x_k + 30): unbounded both ways, as the chirp argument says.
    def root(phase):
        return (-1 + mpmath.sqrt(1 + 4 * phase / 30)) / 2

    df = (60 * x + 30) * sp.cos(G)
    with mpmath.workdps(40):
        for k in (10, 1000, 100000):
            up, down = root(2 * mpmath.pi * k), root((2 * k + 1) * mpmath.pi)
            vu, vd = mp_evaluate(df, {x: up}, 40), mp_evaluate(df, {x: down}, 40)
            assert abs(vu - (60 * up + 30)) < 1e-20 and abs(vd + (60 * down + 30)) < 1e-20
    assert float(vu) > 5e3 and float(vd) < -5e3  # x_k near 145 at k = 1e5


@pytest.mark.slow
def test_finer_proven_by_the_chirp_argument():
    props = compute_properties(funclib.get("finer"))
    assert props.slope_bounds == (-math.inf, math.inf) and props["slope_bounds"].method == "interval"
    assert props.range == (-1.0, 1.0) and props["range"].method == "interval"
    assert props.monotonic == "none" and props["monotonic"].method == "interval"
    assert math.isnan(props.get("limit_at_inf")) and props["limit_at_inf"].method == "symbolic"
    assert "chirp argument" in props["slope_bounds"].detail
