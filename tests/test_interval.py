"""Tests of funclib.interval: enclosures against mpmath, extrema against known values."""

from __future__ import annotations

import math
import time

import flint
import mpmath
import pytest
import sympy as sp
from flint import arb
from hypothesis import given, settings
from hypothesis import strategies as st

from funclib.interval import (
    Interval,
    IntervalDomainError,
    IntervalError,
    IntervalFunction,
    bound_extremum,
    bound_extremum_on_real_line,
    enclose,
)
from funclib.special import expm1, log1p, sigmoid, softplus

x = sp.Symbol("x", real=True)
R = sp.Rational

# --------------------------------------------------------------------------------------------
# Enclosures contain the mpmath value at every point of the box
# --------------------------------------------------------------------------------------------

def _mp_sigmoid(t):
    # 1 / (1 + e^{-t}) for t >= 0, e^t / (1 + e^t) otherwise: no cancellation.
    if t >= 0:
        return 1 / (1 + mpmath.exp(-t))
    e = mpmath.exp(t)
    return e / (1 + e)


def _mp_softplus(t):
    return max(t, 0) + mpmath.log1p(mpmath.exp(-abs(t)))


def _mp_erfc(t):
    """erfc, with the asymptotic series where mpmath's erfc overflows (|t| > 1e20).

    Truncation after two terms has relative error below 3/(4 t^4) < 1e-80 there.
    """
    if abs(t) <= 10**20:
        return mpmath.erfc(t)
    if t < 0:
        return 2 - _mp_erfc(-t)
    return mpmath.exp(-t * t) / (t * mpmath.sqrt(mpmath.pi)) * (1 - 1 / (2 * t * t))


def _mp_heaviside(t):
    return mpmath.mpf(0) if t < 0 else mpmath.mpf(1) if t > 0 else mpmath.mpf(0.5)


#: name -> (SymPy expression, independent mpmath oracle written in a stable form)
BATTERY = {
    "silu": (x * sigmoid(x), lambda t: t * _mp_sigmoid(t)),
    "softplus": (softplus(x), _mp_softplus),
    "sigmoid_prime": (sigmoid(x) * (1 - sigmoid(x)), lambda t: _mp_sigmoid(t) * _mp_sigmoid(-t)),
    "mish": (x * sp.tanh(softplus(x)), lambda t: t * mpmath.tanh(_mp_softplus(t))),
    "gelu": (x / 2 * sp.erfc(-x / sp.sqrt(2)), lambda t: t / 2 * _mp_erfc(-t / mpmath.sqrt(2))),
    "gelu_prime": (
        sp.erfc(-x / sp.sqrt(2)) / 2 + x * sp.exp(-(x**2) / 2) / sp.sqrt(2 * sp.pi),
        lambda t: _mp_erfc(-t / mpmath.sqrt(2)) / 2
        + t * mpmath.exp(-t * t / 2) / mpmath.sqrt(2 * mpmath.pi),
    ),
    "erf": (sp.erf(x) - sp.erfc(x), lambda t: 1 - 2 * _mp_erfc(t)),
    "gauss": (x * sp.exp(-(x**2) / 2), lambda t: t * mpmath.exp(-t * t / 2)),
    "abs_max": (sp.Abs(x) - sp.Max(x, 0) + sp.Min(x, -1),
                lambda t: abs(t) - max(t, 0) + min(t, -1)),
    "leaky_relu": (sp.Piecewise((x, x > 0), (x / 10, True)), lambda t: t if t > 0 else t / 10),
    "elu": (sp.Piecewise((expm1(x), x < 0), (x, True)), lambda t: mpmath.expm1(t) if t < 0 else t),
    "hardtanh": (sp.Piecewise((-1, x < -1), (x, x <= 1), (1, True)),
                 lambda t: -1 if t < -1 else t if t <= 1 else 1),
    "jump": (sp.Piecewise((x**2, sp.And(x > -1, x < 2)), (-x, True)),
             lambda t: t * t if -1 < t < 2 else -t),
    "stable_softplus": (sp.Max(x, 0) + log1p(sp.exp(-sp.Abs(x))), _mp_softplus),
    "trig": (sp.sin(x) * sp.cos(3 * x) + sp.atan(x) + sp.asinh(x),
             lambda t: mpmath.sin(t) * mpmath.cos(3 * t) + mpmath.atan(t) + mpmath.asinh(t)),
    "hyper": (sp.tanh(x) ** 2 + sp.sinh(x / 1000) - sp.cosh(x / 1000),
              lambda t: mpmath.tanh(t) ** 2 - mpmath.exp(-t / 1000)),
    "rational": (expm1(x / 100) / (1 + x**2), lambda t: mpmath.expm1(t / 100) / (1 + t * t)),
    "poly": (x**3 - 2 * x + R(1, 3), lambda t: t**3 - 2 * t + mpmath.mpf(1) / 3),
    "steps": (sp.sign(x) * x**2 + sp.Heaviside(x) + sp.floor(x / 7),
              lambda t: mpmath.sign(t) * t * t + _mp_heaviside(t) + mpmath.floor(t / 7)),
    "roots": (sp.sqrt(x**2 + 1) + sp.Abs(x) ** R(2, 3),
              lambda t: mpmath.sqrt(t * t + 1) + mpmath.cbrt(abs(t)) ** 2),
    "erfc_exp": (sp.erfc(x) * sp.exp(-sp.Abs(x)), lambda t: _mp_erfc(t) * mpmath.exp(-abs(t))),
    "inverse": (
        sp.asin(sp.tanh(x)) + sp.acos(sp.tanh(x / 2)) + sp.atanh(sp.tanh(x) / 2)
        + sp.acosh(1 + x**2 / 7),
        lambda t: mpmath.asin(mpmath.tanh(t)) + mpmath.acos(mpmath.tanh(t / 2))
        + mpmath.atanh(mpmath.tanh(t) / 2) + mpmath.acosh(1 + t * t / 7),
    ),
    "tan_steps": (sp.tan(x) + sp.ceiling(x / 3) + sp.Heaviside(x - 1, 1),
                  lambda t: mpmath.tan(t) + mpmath.ceil(t / 3) + (1 if t >= 1 else 0)),
    "powers": ((1 + x**2) ** sp.sin(x) + 2 ** (x / 1000) + sp.Abs(x) ** sp.pi,
               lambda t: (1 + t * t) ** mpmath.sin(t) + mpmath.mpf(2) ** (t / 1000)
               + abs(t) ** mpmath.pi),
}

_COMPILED = {name: IntervalFunction(e, x) for name, (e, _) in BATTERY.items()}

magnitudes = st.sampled_from([1.0, 10.0, 100.0, 1e5, 1e30, 1e300])
box_ends = st.tuples(st.floats(-1, 1), st.floats(-1, 1), magnitudes)


def _reference(name: str, t: float) -> mpmath.mpf:
    """Oracle value at the exact float t, at 100 digits."""
    with mpmath.workdps(100):
        return +BATTERY[name][1](mpmath.mpf(t))


def _exact_arb(v) -> arb:
    """Exact arb of an mpmath mpf (binary floating point)."""
    sign, man, exp, _ = mpmath.mpf(v)._mpf_ if not isinstance(v, mpmath.mpf) else v._mpf_
    with flint.ctx.workprec(max(int(man).bit_length(), 64)):
        a = arb(int(man)) * arb(2) ** int(exp)
    return -a if sign else a


def _contains(iv: Interval, v) -> bool:
    # Slack for the oracle's own rounding (100 digits vs 128-bit enclosures).
    a = _exact_arb(v)
    with flint.ctx.workprec(256):
        slack = abs(a) * arb(10) ** -45
        return bool(iv.lo <= (a + slack).upper() and (a - slack).lower() <= iv.hi)


@pytest.mark.parametrize("name", sorted(BATTERY))
@settings(max_examples=40, deadline=None, database=None)
@given(ends=box_ends, frac=st.floats(0, 1))
def test_enclosure_contains_mpmath_values(name, ends, frac):
    a, b, scale = ends
    lo, hi = sorted((a * scale, b * scale))
    t = min(max(lo + frac * (hi - lo), lo), hi)
    iv = _COMPILED[name](lo, hi)
    v = _reference(name, t)
    assert _contains(iv, v), (name, lo, hi, t, iv, v)
    assert _contains(_COMPILED[name](t), v), (name, t, v)


@pytest.mark.parametrize("name", sorted(BATTERY))
@settings(max_examples=8, deadline=None, database=None)
@given(ends=box_ends.filter(lambda e: e[2] <= 1e5), fracs=st.lists(st.floats(0, 1), max_size=5),
       maximize=st.booleans())
def test_extremum_brackets_sampled_values(name, ends, fracs, maximize):
    a, b, scale = ends
    lo, hi = sorted((a * scale, b * scale))
    r = bound_extremum(BATTERY[name][0], x, lo, hi, maximize=maximize, tol=1e-6, max_boxes=300)
    sign = 1 if maximize else -1
    with mpmath.workdps(100):
        # Every sampled value lies on the near side of the safe bound ...
        for frac in fracs:
            t = min(max(lo + frac * (hi - lo), lo), hi)
            assert _le(sign * _reference(name, t), sign * mpmath.mpf(r.bound)), (t, r)
        # ... and the other bound is attained at argbest.
        other = r.lower if maximize else r.upper
        assert _le(sign * mpmath.mpf(other), sign * _reference(name, r.argbest)), r
    if r.converged:
        assert r.upper - r.lower <= 1e-6 + 1e-15 * max(abs(r.upper), abs(r.lower))


def _le(a: mpmath.mpf, b: mpmath.mpf) -> bool:
    """a <= b up to the oracle's rounding (relative 1e-40)."""
    return a <= b + mpmath.mpf(10) ** -40 * (abs(a) + abs(b))


@pytest.mark.parametrize("t", [0.0, 0.1, -3.0, 20.0, 35.0, 88.7, 709.8, -745.0, 1e30, -1e300])
def test_point_enclosures_are_tight(t):
    for name in ("silu", "softplus", "gelu", "mish", "sigmoid_prime"):
        iv = _COMPILED[name](t)
        v = _reference(name, t)
        assert _contains(iv, v)
        assert float(iv.hi - iv.lo) <= 1e-30 * max(1.0, abs(float(v))), (name, t, iv)


def test_huge_arguments():
    assert enclose(sp.exp(x), x, -1e300, -1e299).upper() < 1e-300
    assert enclose(sp.exp(x), x, -1e300, -1e299).lower() == 0.0
    wide = enclose(sp.exp(x), x, -1e300, 1e300)
    assert wide.lower() == 0.0 and wide.upper() == math.inf
    s = enclose(sigmoid(x), x, 1e300, 1e301)
    assert s.lower() == pytest.approx(1.0) and s.upper() == 1.0
    assert enclose(softplus(x), x, -1e300, -1e299).upper() < 1e-300
    # 1 - sigma(x) stays resolved at large x: precision grows with the magnitude.
    assert enclose(x * sigmoid(x) * (1 - sigmoid(x)), x, 2**99, 2**100).upper() < 1e-30
    assert enclose(sp.erfc(x), x, 1e300, 2e300).upper() < 1e-300
    cos = enclose(sp.cos(x), x, 1e300, 1e300)
    assert float(cos.hi - cos.lo) < 1e-30
    with mpmath.workdps(60):
        assert _contains(cos, mpmath.cos(mpmath.mpf(1e300)))
    assert not _contains(cos, mpmath.mpf(0.5))


def test_box_endpoints_are_rounded_outward():
    iv = enclose(x, x, R(1, 3), sp.pi)
    with flint.ctx.workprec(300):
        assert iv.lo < arb(1) / 3 and iv.hi > arb.pi()
    assert iv.as_arb().contains(arb(2))
    lo, hi = iv.to_rationals()
    assert lo < R(1, 3) and hi > sp.pi


# --------------------------------------------------------------------------------------------
# Semantics of individual nodes
# --------------------------------------------------------------------------------------------


def test_constants_are_exact_or_enclosed():
    assert enclose(sp.Float(0.1) + x, x, 0, 0).contains(0.1)
    third = enclose(R(1, 3) + 0 * x, x, 0, 0)
    with flint.ctx.workprec(300):
        assert third.lo < arb(1) / 3 < third.hi
    with mpmath.workdps(60):
        ref = +(mpmath.pi + mpmath.e + mpmath.euler + mpmath.catalan + mpmath.phi)
        iv = enclose(sp.pi + sp.E + sp.EulerGamma + sp.Catalan + sp.GoldenRatio + x, x, 0, 0)
        assert _contains(iv, ref) and float(iv.hi - iv.lo) < 1e-35
    e = enclose(sp.pi * x, x, 1, 1)
    with flint.ctx.workprec(300):
        assert e.lo < arb.pi() < e.hi


def test_powers():
    assert tuple(map(float, enclose(x**2, x, -2, 1))) == (0.0, 4.0)
    assert tuple(map(float, enclose(x**2.0, x, -2, 1))) == (0.0, 4.0)
    assert tuple(map(float, enclose(x**3, x, -2, 1))) == (-8.0, 1.0)
    assert tuple(map(float, enclose(x**-2, x, 1, 2))) == (0.25, 1.0)
    assert enclose(1 / x, x, 0, 1).upper() == math.inf
    assert enclose(1 / x, x, -1, 1).lower() == -math.inf
    assert enclose(sp.sqrt(x), x, 0, 4).contains(0) and enclose(sp.sqrt(x), x, 0, 4).contains(2)
    cube_root = enclose(x ** R(1, 3), x, 0, 8)
    assert cube_root.lower() == 0.0 and cube_root.upper() == pytest.approx(2.0)
    with pytest.raises(IntervalDomainError):  # principal branch: (-8)**(1/3) is complex
        enclose(x ** R(1, 3), x, -8, 1)
    with pytest.raises(IntervalDomainError):
        enclose(1 / x, x, 0, 0)
    xx = enclose(x**x, x, 0, 1)  # 0**0 = 1, 0**g = 0 for g > 0
    assert xx.lower() <= 0.0 and xx.upper() >= 1.0 and xx.upper() < math.inf
    assert enclose(2**x, x, -1, 3).contains(0.5) and enclose(2**x, x, -1, 3).contains(8)


def test_log_domain():
    assert enclose(sp.log(x), x, 0, 1).lower() == -math.inf
    assert enclose(log1p(x), x, -1, 0).lower() == -math.inf
    with pytest.raises(IntervalDomainError, match="log"):
        enclose(sp.log(x), x, -1, 1)
    with pytest.raises(IntervalDomainError):
        enclose(sp.log(x), x, 0, 0)
    with mpmath.workdps(60):
        assert _contains(enclose(sp.log(x), x, math.e, math.e), mpmath.log(mpmath.mpf(math.e)))


def test_trig_extrema():
    s = enclose(sp.sin(x), x, 0, 4)
    assert s.upper() == 1.0 and s.lower() == pytest.approx(math.sin(4))
    c = enclose(sp.cos(x), x, 0.1, 6.2)  # max at 6.2 (nearer to 2 pi than 0.1 is to 0)
    assert c.lower() == -1.0 and c.upper() == pytest.approx(math.cos(6.2))
    assert enclose(sp.tan(x), x, 1, 2).upper() == math.inf
    assert enclose(sp.tan(x), x, -1, 1).upper() == pytest.approx(math.tan(1))
    assert tuple(map(float, enclose(sp.sin(x), x, -math.inf, 0))) == (-1.0, 1.0)


def test_heaviside_and_sign_conventions():
    assert sp.Heaviside(0) == R(1, 2)  # SymPy's default H(0)
    assert tuple(map(float, enclose(sp.Heaviside(x), x, 0, 0))) == (0.5, 0.5)
    assert tuple(map(float, enclose(sp.Heaviside(x, 0), x, 0, 0))) == (0.0, 0.0)
    assert tuple(map(float, enclose(sp.Heaviside(x, 1), x, -1, 0))) == (0.0, 1.0)
    assert tuple(map(float, enclose(sp.Heaviside(x), x, 1e-300, 1))) == (1.0, 1.0)
    assert tuple(map(float, enclose(sp.sign(x), x, 0, 3))) == (0.0, 1.0)
    assert tuple(map(float, enclose(sp.sign(x), x, -3, -1))) == (-1.0, -1.0)


def test_piecewise_uses_only_possible_branches():
    relu = sp.Piecewise((0, x < 0), (x, True))
    assert tuple(map(float, enclose(relu, x, -1, 1))) == (0.0, 1.0)
    guarded = sp.Piecewise((sp.log(x), x > 0), (0, True))
    assert enclose(guarded, x, -2, -1).upper() == 0.0  # log branch never evaluated
    assert enclose(guarded, x, -2, 1).lower() == -math.inf
    partial = sp.Piecewise((x, x < 0), (x**2, x > 0))  # undefined at 0
    with pytest.raises(IntervalDomainError, match="Piecewise"):
        enclose(partial, x, -1, 1)
    assert tuple(map(float, enclose(partial, x, 0.5, 1))) == (0.25, 1.0)
    both = sp.Piecewise((1, sp.Or(x < -1, x > 1)), (2, sp.Ne(x, 0)), (3, True))
    assert tuple(map(float, enclose(both, x, 2, 3))) == (1.0, 1.0)
    assert tuple(map(float, enclose(both, x, 0, 0))) == (3.0, 3.0)
    assert tuple(map(float, enclose(both, x, -0.5, 0.5))) == (2.0, 3.0)
    nonlinear = sp.Piecewise((1, x**2 < 1), (0, True))
    assert tuple(map(float, enclose(nonlinear, x, 2, 3))) == (0.0, 0.0)
    assert tuple(map(float, enclose(nonlinear, x, 0, 3))) == (0.0, 1.0)


def test_errors_name_the_offender():
    for f, name in [(sp.gamma(x), "gamma"), (sp.besselj(0, x), "besselj"),
                    (sp.Function("g")(x), "g"), (sp.DiracDelta(x), "DiracDelta"),
                    (sp.zeta(x), "zeta")]:
        with pytest.raises(IntervalError, match=name):
            enclose(f, x, 1, 2)
    with pytest.raises(IntervalError, match="substitute"):
        enclose(x * sp.Symbol("alpha"), x, 1, 2)
    with pytest.raises(IntervalError):
        enclose(x + sp.I, x, 1, 2)
    with pytest.raises(IntervalError):
        enclose(x, x, 2, 1)


# --------------------------------------------------------------------------------------------
# Extrema
# --------------------------------------------------------------------------------------------


def _brackets(r, value) -> bool:
    return r.lower <= value <= r.upper


def test_known_maxima():
    r = bound_extremum(x * sp.exp(-x), x, 0, 4, maximize=True)
    assert r.converged and _brackets(r, 1 / math.e) and r.gap <= 1e-9
    assert r.argbest == pytest.approx(1, abs=1e-3)
    r = bound_extremum(sp.sin(x), x, 0, 4, maximize=True)
    assert r.converged and _brackets(r, 1.0)
    r = bound_extremum(sp.sin(x), x, 0, 4, maximize=False)
    assert r.converged and _brackets(r, math.sin(4)) and r.argbest == 4.0


def test_kinks():
    r = bound_extremum(-sp.Abs(x - R(1, 3)), x, -1, 1, maximize=True)
    assert r.converged and _brackets(r, 0.0)
    relu = sp.Max(x, 0)
    assert _brackets(bound_extremum(relu, x, -2, 3, maximize=True), 3.0)
    assert _brackets(bound_extremum(relu, x, -2, 3, maximize=False), 0.0)
    leaky = sp.Piecewise((x, x > 0), (x / 10, True))
    r = bound_extremum(leaky**2 - leaky, x, -1, 1, maximize=False)  # min -1/4 at x = 1/2
    assert r.converged and _brackets(r, -0.25)
    for expr in (sp.Piecewise((0, x < 0), (1, True)), sp.Heaviside(x)):
        lo = bound_extremum(expr, x, -1, 1, maximize=False)
        hi = bound_extremum(expr, x, -1, 1, maximize=True)
        assert lo.converged and hi.converged and _brackets(lo, 0.0) and _brackets(hi, 1.0)


def test_discontinuity_is_never_smoothed_over():
    # A wrong "derivative" (0 a.e. is true for a step) must not be trusted across the jump.
    step = sp.Piecewise((0, x < R(1, 3)), (1, True))
    r = bound_extremum(step, x, 0, 1, maximize=True, dexpr=sp.S.Zero)
    assert _brackets(r, 1.0)
    # Sup not attained: x -> 1- gives 1, the right branch is below.
    jump = sp.Piecewise((x, x < 1), (x - 2, True))
    r = bound_extremum(jump, x, 0, 2, maximize=True)
    assert r.converged and _brackets(r, 1.0)
    # Pole: atan(1/x) jumps from -pi/2 to pi/2 at 0; its derivative is bounded elsewhere.
    r = bound_extremum(sp.atan(1 / x), x, -1, 1, maximize=True, dexpr=-1 / (1 + x**2))
    assert _brackets(r, math.pi / 2) and r.undefined_at == 0.0


def test_non_convergence_is_flagged():
    r = bound_extremum(sp.sin(50 * x), x, 0, 1, maximize=True, tol=1e-12, max_boxes=5)
    assert not r.converged and _brackets(r, 1.0)
    r = bound_extremum(1 / x, x, 0, 1, maximize=True, max_boxes=100)
    assert not r.converged and r.upper == math.inf
    r = bound_extremum(sp.log(x), x, -1, 1, maximize=True, max_boxes=100)
    assert not r.converged and r.undefined_at is not None and _brackets(r, 0.0)
    with pytest.raises(IntervalError):
        bound_extremum(x, x, 0, math.inf, maximize=True)


# --------------------------------------------------------------------------------------------
# Slope bounds on the real line
# --------------------------------------------------------------------------------------------


MP_ACTIVATIONS = {
    "gelu": (x / 2 * sp.erfc(-x / sp.sqrt(2)), lambda t: t / 2 * mpmath.erfc(-t / mpmath.sqrt(2))),
    "silu": (x * sigmoid(x), lambda t: t * _mp_sigmoid(t)),
    "mish": (x * sp.tanh(softplus(x)), lambda t: t * mpmath.tanh(_mp_softplus(t))),
}


def _mp_slope_extremum(f, guess):
    """Extremum of f' by Newton on f'' = 0 (mpmath, 30 digits)."""
    with mpmath.workdps(30):
        t = mpmath.findroot(lambda s: mpmath.diff(f, s, 2), guess)
        return mpmath.diff(f, t, 1)


@pytest.mark.parametrize("name, guess_max, guess_min", [
    ("gelu", 1.4, -1.4), ("silu", 2.4, -2.4), ("mish", 1.5, -2.3)])
def test_slope_bounds(name, guess_max, guess_min):
    expr, mp_f = MP_ACTIVATIONS[name]
    d1 = sp.diff(expr, x)
    d2 = sp.diff(d1, x)
    start = time.perf_counter()
    sup = bound_extremum_on_real_line(d1, x, maximize=True, dexpr=d2, tol=1e-9)
    inf = bound_extremum_on_real_line(d1, x, maximize=False, dexpr=d2, tol=1e-9)
    elapsed = time.perf_counter() - start
    assert sup.converged and inf.converged
    for r in (sup, inf):  # at least [-R, R]; a tail is added where its enclosure allows
        assert r.domain[0] <= -1e30 and r.domain[1] >= 1e30
    assert _brackets(sup, float(_mp_slope_extremum(mp_f, guess_max)))
    assert _brackets(inf, float(_mp_slope_extremum(mp_f, guess_min)))
    assert sup.gap <= 1e-8 and inf.gap <= 1e-8
    assert elapsed < 5.0


def test_gelu_values_and_auto_derivative():
    d1 = sp.erfc(-x / sp.sqrt(2)) / 2 + x * sp.exp(-(x**2) / 2) / sp.sqrt(2 * sp.pi)
    sup = bound_extremum_on_real_line(d1, x, maximize=True, tol=1e-9)  # dexpr by sympy.diff
    exact = float(mpmath.ncdf(mpmath.sqrt(2)) + mpmath.sqrt(2) * mpmath.npdf(mpmath.sqrt(2)))
    assert sup.converged and _brackets(sup, exact)
    assert abs(sup.argbest - math.sqrt(2)) < 1e-3


def test_tails_extend_domain_when_provable():
    r = bound_extremum_on_real_line(sigmoid(x) * (1 - sigmoid(x)), x, maximize=True)
    assert r.converged and _brackets(r, 0.25) and r.domain == (-math.inf, math.inf)
    r = bound_extremum_on_real_line(x * sp.exp(-(x**2)), x, maximize=False, core=(-8, 8), far=1e6)
    # x e^{-x^2} >= 0 on [R, oo) is enclosed; on (-oo, -R] the plain enclosure is unbounded.
    assert r.converged and r.domain == (-1e6, math.inf)
    assert _brackets(r, -1 / math.sqrt(2 * math.e))
    gelu_prime = sp.erfc(-x / sp.sqrt(2)) / 2 + x * sp.exp(-(x**2) / 2) / sp.sqrt(2 * sp.pi)
    assert bound_extremum_on_real_line(gelu_prime, x, maximize=True).domain == (-math.inf, 1e30)


def test_half_line_domain():
    # log(1 - e^{-x}) on (0, oo): f' = e^{-x} / (1 - e^{-x}) is unbounded at 0+ and tends to 0.
    f = sp.log(-expm1(-x))
    d1 = sp.diff(f, x)
    sup = bound_extremum_on_real_line(d1, x, maximize=True, lo=0, max_boxes=500)
    assert sup.upper == math.inf and not sup.converged and sup.domain == (0.0, math.inf)
    inf = bound_extremum_on_real_line(d1, x, maximize=False, lo=0)
    assert inf.converged and _brackets(inf, 0.0) and inf.domain == (0.0, math.inf)
    r = bound_extremum_on_real_line(sp.exp(-x), x, maximize=True, lo=-1, hi=1)
    assert r.domain == (-1.0, 1.0) and _brackets(r, math.e)


def test_target_decides_signs():
    # inf tanh(x)^2 = 0 exactly: a tolerance bracket may dip below 0, a target proof may not.
    r = bound_extremum_on_real_line(sp.tanh(x) ** 2, x, maximize=False, target=0)
    assert r.proved is True and r.lower >= 0.0
    r = bound_extremum(x * sp.exp(-(x**2)), x, -3, 3, maximize=False, target=0)
    assert r.proved is False and r.upper < 0.0
    r = bound_extremum(sp.sin(x), x, 0, 3, maximize=True, target=1)
    assert r.proved is True
    assert bound_extremum(sp.sin(x), x, 0, 3, maximize=True).proved is None


def test_derivative_with_dirac_delta_is_used_almost_everywhere():
    f = x / (1 + sp.Abs(x))  # softsign: f'' has a DiracDelta term from sign'(x)
    d1 = sp.diff(f, x)
    d2 = sp.diff(d1, x)
    assert d2.has(sp.DiracDelta)
    r = bound_extremum(d1, x, -5, 5, maximize=True, dexpr=d2)
    assert r.derivative_used and r.converged and _brackets(r, 1.0)
    r = bound_extremum(d1, x, -5, 5, maximize=True, dexpr=sp.gamma(x))  # not enclosable
    assert not r.derivative_used and _brackets(r, 1.0)


def test_function_subclasses_are_recognised():
    class stable_erfc(sp.erfc):  # like funclib.special's erfc that keeps erfc(-u) as written
        @classmethod
        def eval(cls, arg):
            return None

    iv = enclose(stable_erfc(-x), x, 30, 30)
    assert iv.lower() == pytest.approx(2.0) and iv.upper() <= 2.0
