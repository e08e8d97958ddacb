"""The ``accuracy="libm"`` counterparts of :mod:`funclib.kernels.mathlib.vecmath`.

Same names and stable forms, but every transcendental is the C library's (``math.exp``,
``math.log1p``, ``math.erfc``...), which Numba calls in the argument's own precision
(``expf`` for float32). These calls are not vectorized; they are the accurate fallback and
the baseline the benchmarks compare the vectorizable math against.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from .intrinsics import fma
from .vecmath import scale_f32, scale_f64  # c*t rounded once: no libm call, the same in both modes
# x - tanh x: the C library has no routine for it (x - tanh(x) from libm cancels to nothing next
# to 0); the vectorizable one, built on its own exp, serves both modes
from .vecmath import tanhshrink_f32, tanhshrink_f64

__all__ = [
    "scale_f64", "scale_f32", "tanhshrink_f64", "tanhshrink_f32", "tanh_sq_f64", "tanh_sq_f32",
    "exp_f64", "expm1_f64", "log_f64", "log1p_f64", "tanh_f64", "erf_f64", "erfc_f64",
    "sigmoid_f64", "softplus_f64", "cosh_f64", "sinh_f64", "sech2_f64",
    "exp_f32", "expm1_f32", "log_f32", "log1p_f32", "tanh_f32", "erf_f32", "erfc_f32",
    "sigmoid_f32", "softplus_f32", "cosh_f32", "sinh_f32", "sech2_f32",
    "erfc_scaled_f64", "exp_sq_f64", "erfc_scaled_f32", "exp_sq_f32", "digamma_f64",
    "gamma_f32", "lgamma_f32", "digamma_f32", "sinc_f64", "sinc_d1_f64", "sinc_f32", "sinc_d1_f32",
    "cbrt_f64", "cbrt_pow_f64", "cbrt_pow_f32",
]

# not cached: see funclib/kernels/mathlib/vecmath.py (cached callees are not inlined)
_JIT = dict(cache=False, error_model="numpy", nogil=True)
F = np.float32
_Z, _H, _O, _TWO, _FOUR = F(0.0), F(0.5), F(1.0), F(2.0), F(4.0)


# float64 ------------------------------------------------------------------------------


@njit(**_JIT)
def digamma_f64(x):
    """psi(x) = Gamma'(x)/Gamma(x) (the derivative of ``loggamma``; float64 only).

    NaN at the poles 0, -1, -2, ...; reflection psi(x) = psi(1 - x) - pi cot(pi x) for x < 0;
    the recurrence psi(x) = psi(x + 1) - 1/x up to x >= 10, then the asymptotic series
    log x - 1/(2x) - sum B_2k/(2k x^2k) to x^-12 (truncation error below 2^-60 there).
    Near its root x0 = 1.4616... the absolute error is a few ULP of 1 (relative error grows
    as the condition number does).
    """
    if math.isnan(x) or x == -math.inf:
        return math.nan
    if x == math.inf:
        return math.inf
    result = 0.0
    if x <= 0.0:
        if x == math.floor(x):
            return math.nan
        result = -math.pi / math.tan(math.pi * x)
        x = 1.0 - x
    while x < 10.0:
        result -= 1.0 / x
        x += 1.0
    r = 1.0 / (x * x)
    series = r * (1.0 / 12 - r * (1.0 / 120 - r * (1.0 / 252 - r * (1.0 / 240 - r * (1.0 / 132 - r * (691.0 / 32760 - r / 12))))))
    return result + math.log(x) - 0.5 / x - series
@njit(**_JIT)
def exp_f64(x):
    return math.exp(x)


@njit(**_JIT)
def expm1_f64(x):
    return math.expm1(x)


@njit(**_JIT)
def log_f64(x):
    return math.log(x) if x > 0.0 else (-math.inf if x == 0.0 else (x if x != x else math.nan))


@njit(**_JIT)
def log1p_f64(x):
    return math.log1p(x) if x > -1.0 else (-math.inf if x == -1.0 else (x if x != x else math.nan))


@njit(**_JIT)
def tanh_f64(x):
    return math.tanh(x)


@njit(**_JIT)
def erf_f64(x):
    return math.erf(x)


@njit(**_JIT)
def erfc_f64(x):
    return math.erfc(x)


@njit(**_JIT)
def sigmoid_f64(x):
    e = math.exp(-abs(x))
    return (1.0 if x >= 0.0 else e) / (1.0 + e)


@njit(**_JIT)
def softplus_f64(x):
    return (x if x > 0.0 else 0.0) + math.log1p(math.exp(-abs(x)))


@njit(**_JIT)
def cosh_f64(x):
    return math.cosh(x)


@njit(**_JIT)
def sinh_f64(x):
    return math.sinh(x)


@njit(**_JIT)
def sech2_f64(x):
    q = math.exp(-2.0 * abs(x))
    d = 1.0 + q
    return 4.0 * q / (d * d)


@njit(**_JIT)
def tanh_sq_f64(x):
    t = math.tanh(x)
    return t * t


@njit(**_JIT)
def erfc_scaled_f64(u, c_hi, c_lo):
    return math.erfc(c_hi * u)


@njit(**_JIT)
def exp_sq_f64(u, c_hi, c_lo):
    return math.exp(c_hi * (u * u))


# float32 ------------------------------------------------------------------------------
@njit(**_JIT)
def exp_f32(x):
    return math.exp(x)


@njit(**_JIT)
def expm1_f32(x):
    return math.expm1(x)


@njit(**_JIT)
def log_f32(x):
    return math.log(x) if x > _Z else (-F(math.inf) if x == _Z else (x if x != x else F(math.nan)))


@njit(**_JIT)
def log1p_f32(x):
    return math.log1p(x) if x > -_O else (-F(math.inf) if x == -_O else (x if x != x else F(math.nan)))


@njit(**_JIT)
def tanh_f32(x):
    return math.tanh(x)


@njit(**_JIT)
def erf_f32(x):
    return math.erf(x)


@njit(**_JIT)
def erfc_f32(x):
    return math.erfc(x)


@njit(**_JIT)
def sigmoid_f32(x):
    e = math.exp(-abs(x))
    return (_O if x >= _Z else e) / (_O + e)


@njit(**_JIT)
def softplus_f32(x):
    return (x if x > _Z else _Z) + math.log1p(math.exp(-abs(x)))


@njit(**_JIT)
def cosh_f32(x):
    return math.cosh(x)


@njit(**_JIT)
def sinh_f32(x):
    return math.sinh(x)


@njit(**_JIT)
def sech2_f32(x):
    q = math.exp(-_TWO * abs(x))
    d = _O + q
    return _FOUR * q / (d * d)


@njit(**_JIT)
def tanh_sq_f32(x):
    t = math.tanh(np.float64(x))  # through float64, rounded once (as vecmath.tanh_sq_f32)
    return F(t * t)


@njit(**_JIT)
def erfc_scaled_f32(u, c_hi, c_lo):
    return math.erfc(c_hi * u)


@njit(**_JIT)
def exp_sq_f32(u, c_hi, c_lo):
    return math.exp(c_hi * (u * u))


# float32 through float64: no float32 libm routine exists; the float32 argument is exact in
# float64, the double result has a few ULP of float64 error, so rounding it once to float32
# is faithful (and correctly rounded except within ~2^-29 ULP of a midpoint). Overflow rounds
# to inf, as float32 arithmetic would.
@njit(**_JIT)
def gamma_f32(x):
    return F(math.gamma(np.float64(x)))


@njit(**_JIT)
def lgamma_f32(x):
    return F(math.lgamma(np.float64(x)))


@njit(**_JIT)
def digamma_f32(x):
    return F(digamma_f64(np.float64(x)))


# sinc(x) = sin(pi x)/(pi x) and its derivative, used by both accuracy modes (sin and cos are
# libm calls there too). Near 0 the Taylor series in t = x^2 (no 0/0, no cancellation:
# |x| < 1/4 for the value, |x| < 1/2 for the derivative, where (pi x) cos(pi x) - sin(pi x)
# would cancel); beyond, sin(pi a) and cos(pi a) after the exact reduction a = n/2 + r,
# |r| <= 1/4 (a - n/2 is exact by Sterbenz' lemma), so the zeros at the integers keep their
# relative accuracy. |x| >= 2^52 is an integer: sin(pi x) = 0, cos(pi x) = (-1)^x.
SINC_SERIES = tuple((-1) ** n * math.pi ** (2 * n) / math.factorial(2 * n + 1) for n in range(10))
SINC_D1_SERIES = tuple(
    (-1) ** n * math.pi ** (2 * n) * 2 * n / math.factorial(2 * n + 1) for n in range(1, 15)
)
_C0, _C1, _C2, _C3, _C4, _C5, _C6, _C7, _C8, _C9 = SINC_SERIES
(_D1, _D2, _D3, _D4, _D5, _D6, _D7, _D8, _D9, _D10, _D11, _D12, _D13, _D14) = SINC_D1_SERIES


@njit(**_JIT)
def _sincospi_f64(a):
    """``(sin(pi a), cos(pi a))`` for ``0 <= a < 2**52``."""
    n = np.rint(2.0 * a)
    u = math.pi * (a - 0.5 * n)
    sr, cr = math.sin(u), math.cos(u)
    q = np.int64(n) & 3
    if q == 0:
        return sr, cr
    if q == 1:
        return cr, -sr
    if q == 2:
        return -sr, -cr
    return -cr, sr


@njit(**_JIT)
def sinc_f64(x):
    """Normalized sinc: series for |x| < 1/4, sin(pi |x|)/(pi |x|) beyond (0 at +-inf)."""
    a = abs(x)
    if a < 0.25:
        t = x * x
        return _C0 + t * (_C1 + t * (_C2 + t * (_C3 + t * (_C4 + t * (_C5 + t * (_C6 + t * (_C7 + t * (_C8 + t * _C9))))))))
    if a >= 4503599627370496.0:  # 2**52: an integer (or inf)
        return 0.0
    if a != a:
        return x
    s, c = _sincospi_f64(a)
    return s / (math.pi * a)


@njit(**_JIT)
def sinc_d1_f64(x):
    """sinc'(x): x*Q(x^2) for |x| < 1/2, (cos(pi a) - sin(pi a)/(pi a))/a with sign beyond."""
    a = abs(x)
    if a < 0.5:
        t = x * x
        q = _D1 + t * (_D2 + t * (_D3 + t * (_D4 + t * (_D5 + t * (_D6 + t * (_D7 + t * (
            _D8 + t * (_D9 + t * (_D10 + t * (_D11 + t * (_D12 + t * (_D13 + t * _D14))))))))))))
        return x * q
    if a != a:
        return x
    if a >= 4503599627370496.0:  # 2**52: sin(pi a) = 0, cos(pi a) = +-1 by parity
        c = 1.0 if a >= 9007199254740992.0 or np.int64(a) % 2 == 0 else -1.0
        d = c / a
    else:
        s, c = _sincospi_f64(a)
        d = (c - s / (math.pi * a)) / a
    return d if x >= 0.0 else -d


# float32 through float64 (as for gamma above): one rounding of a result with a few float64 ULP
@njit(**_JIT)
def sinc_f32(x):
    return F(sinc_f64(np.float64(x)))


@njit(**_JIT)
def sinc_d1_f32(x):
    return F(sinc_d1_f64(np.float64(x)))


@njit(**_JIT)
def cbrt_f64(b):
    """Real cube root to about half an ULP: Numba's ``np.cbrt`` (up to 3 ULP) and one Newton
    step whose residual c^3 - b is formed exactly with FMAs (c^3 - b itself is exact by
    Sterbenz' lemma); |b| < 2^-900 and |b| > 2^900 are scaled by 2^(-+900) so that the
    residual neither underflows nor overflows."""
    c = np.cbrt(b)
    a = abs(b)
    if not (0.0 < a < math.inf):
        return c
    scale = 1.0
    if a < 2.0**-900:
        b = b * 2.0**900
        c = np.cbrt(b)
        scale = 2.0**-300
    elif a > 2.0**900:  # c^3 may round above the largest double
        b = b * 2.0**-900
        c = np.cbrt(b)
        scale = 2.0**300
    c2 = c * c
    e2 = fma(c, c, -c2)
    c3 = c2 * c
    e3 = fma(c2, c, -c3)
    residual = (c3 - b) + (e3 + e2 * c)
    return (c - residual / (3.0 * c2)) * scale


# b**(p/3) for b >= 0 and p in {+-1, +-2, +-4}, used for the derivatives of cube roots
# (b**(-2/3)/3): pow(b, p/3) with p/3 rounded is off by |ln b| * p/3 * 2**-53 relative, hundreds
# of ULP at b = 1e300. Here one accurate cbrt and one or two roundings: b/cbrt(b) for b**(2/3)
# (cbrt(b)**2 takes one more). The float32 version computes in float64 and rounds once.
# Negative b is NaN, as pow gives it (the principal power is complex).
@njit(**_JIT)
def cbrt_pow_f64(b, p):
    if not b >= 0.0:
        return math.nan
    c = cbrt_f64(b)
    regular = 0.0 < b < math.inf
    if p == 1:
        return c
    if p == -1:
        return 1.0 / c
    if p == 2:
        return b / c if regular else c * c
    if p == -2:
        return c / b if regular else 1.0 / (c * c)
    if p == 4:
        return b * c
    return (1.0 / c) / b  # p == -4: no overflow of b*c where b**(-4/3) is still normal


@njit(**_JIT)
def cbrt_pow_f32(b, p):
    return F(cbrt_pow_f64(np.float64(b), p))
