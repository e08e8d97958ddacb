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

__all__ = [
    "exp_f64", "expm1_f64", "log_f64", "log1p_f64", "tanh_f64", "erf_f64", "erfc_f64",
    "sigmoid_f64", "softplus_f64", "cosh_f64", "sinh_f64", "sech2_f64",
    "exp_f32", "expm1_f32", "log_f32", "log1p_f32", "tanh_f32", "erf_f32", "erfc_f32",
    "sigmoid_f32", "softplus_f32", "cosh_f32", "sinh_f32", "sech2_f32",
    "erfc_scaled_f64", "exp_sq_f64", "erfc_scaled_f32", "exp_sq_f32", "digamma_f64",
    "gamma_f32", "lgamma_f32", "digamma_f32",
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
