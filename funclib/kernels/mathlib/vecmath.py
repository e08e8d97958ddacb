r"""Vectorizable elementary functions for float64 and float32 (Numba, no libm calls).

Numba's ``math.exp``/``log``/``erf``/``tanh`` are scalar libm calls (pip builds have no SVML),
so a loop that calls them is not vectorized. The functions here are straight-line code —
range reduction, a minimax polynomial (coefficients from :mod:`funclib.kernels.mathlib.remez`) and
exponent arithmetic on the IEEE bits — with every branch written as a select, so LLVM
vectorizes loops that call them. Each has a ``_f64`` and a ``_f32`` version; the float32 ones
use only float32 constants and float32 arithmetic.

Algorithms (every constant below is derived in ``remez.py`` or in the comments):

``exp``
    :math:`x = n\ln 2 + r`, :math:`|r| \le \ln 2/2`, :math:`n` rounded with the
    :math:`1.5\cdot 2^{52}` trick (no float-to-int conversion), :math:`r` by Cody–Waite with a
    split :math:`\ln 2`; :math:`e^r = 1 + (r + r^2 P(r))`; :math:`2^n` assembled in the
    exponent field in two halves so that overflow gives inf and gradual underflow rounds once.
``expm1``
    The same reduction but with :math:`n = 0` for :math:`|x| < \ln 2`, so small arguments keep
    full relative accuracy; :math:`\mathrm{expm1}(x) = 2^n q + (2^n - 1)` with
    :math:`q = r + r^2 P(r)`.
``log``, ``log1p``
    :math:`x = 2^k m`, :math:`m \in [\sqrt{1/2}, \sqrt 2)`, :math:`f = m - 1`,
    :math:`s = f/(2+f)`: :math:`\log(1+f) = f - f^2/2 + s(f^2/2 + s^2 L(s^2))`; ``log1p``
    adds the rounding error of :math:`1+x` as the correction :math:`c/u` (the classic fdlibm
    scheme, with our own minimax :math:`L`).
``tanh``
    :math:`x + x^3 T(x^2)` for :math:`|x| < 0.625`, else :math:`1 - 2/(e^{2|x|}+1)`.
``erf``, ``erfc``
    :math:`\mathrm{erf}(x) = x + x E(x^2)` for :math:`|x| < 0.875`.
    :math:`\mathrm{erfc}(a) = e^{-a^2}\,H(s)` for :math:`a \ge 0` with :math:`H` a minimax
    fit of :math:`\mathrm{erfcx}(a) = e^{a^2}\mathrm{erfc}(a)` in
    :math:`s = (t - t_0)/(1 - t_0)`, :math:`t = 1/(1 + a/4)`; :math:`a^2` is split exactly with an FMA and fed to ``exp`` as a
    double-length argument; :math:`t` is computed double-length and the residual is applied
    through the known derivative :math:`\mathrm{erfcx}'(a) = 2a\,\mathrm{erfcx}(a) - 2/\sqrt\pi`
    (the change of variable multiplies the rounding error of :math:`t` by up to 5 otherwise).
    :math:`\mathrm{erfc}(x) = 2 - \mathrm{erfc}(-x)` for :math:`x \le -0.875`,
    :math:`(1 - x) - x E(x^2)` for :math:`|x| < 0.875`, and
    :math:`\mathrm{erf}(x) = \pm(1 - \mathrm{erfc}(|x|))` for :math:`|x| \ge 0.875`.
``erfc_scaled(u, c_hi, c_lo)``, ``exp_sq(u, c_hi, c_lo)``
    :math:`\mathrm{erfc}(cu)` and :math:`e^{cu^2}` for a constant :math:`c` given as two floats:
    the product (and :math:`u^2`) are formed exactly with FMAs and passed on double-length, so
    exact GELU and its derivative do not lose :math:`\approx x^2` ULP to the rounding of
    :math:`-x/\sqrt 2` and :math:`-x^2/2` in the tail (the printer emits these for
    ``erfc(c*u)`` and ``exp(c*u**2)``).
``sigmoid``, ``softplus``, ``cosh``, ``sinh``, ``sech2``
    From ``exp``/``expm1``/``log1p`` in stable forms: :math:`\sigma(x) = (1 \text{ or } e)/(1+e)`
    with :math:`e = e^{-|x|}`; :math:`\max(x,0) + \mathrm{log1p}(e^{-|x|})`;
    :math:`\cosh a = 2^{n-1}p + 2^{-n-1}/p` from :math:`e^a = 2^n p` (no premature overflow);
    :math:`\mathrm{sech}^2 a = 4q/(1+q)^2`, :math:`q = e^{-2|a|}`.

Special values follow C99 Annex F: NaN propagates, ``exp(-inf) = 0``, ``log(0) = -inf``,
``log(x<0) = NaN``, ``log1p(-1) = -inf``, and odd functions keep the sign of zero.

``exp_parts_f64(hi, lo)`` returns :math:`(p, n)` with :math:`e^{hi+lo} = p\cdot 2^n` and
:math:`p \in [\sqrt{1/2}, \sqrt 2]` without ever overflowing: the extended-range exponential
of the two-pass softmax (Dukhan & Ablavatski 2020).

References
----------
.. [1] W. J. Cody, W. Waite, *Software Manual for the Elementary Functions*, 1980
   (argument reduction with a split constant).
.. [2] Sun Microsystems fdlibm, ``e_log.c``/``s_log1p.c`` (the ``f - hfsq + s(hfsq+R)``
   decomposition and the ``1+x`` correction term).
.. [3] J.-M. Muller et al., *Handbook of Floating-Point Arithmetic*, 2nd ed., 2018
   (exact products with FMA, 2Sum).
.. [4] M. Dukhan, A. Ablavatski, "The Two-Pass Softmax Algorithm", arXiv:2001.04438, 2020.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from . import coefficients as C
from .intrinsics import f32_bits, f32_from_bits, f64_bits, f64_from_bits, fma, madd

__all__ = [
    "FUNCTIONS",
    "exp_f64", "expm1_f64", "log_f64", "log1p_f64", "tanh_f64", "erf_f64", "erfc_f64",
    "sigmoid_f64", "softplus_f64", "cosh_f64", "sinh_f64", "sech2_f64",
    "exp_f32", "expm1_f32", "log_f32", "log1p_f32", "tanh_f32", "erf_f32", "erfc_f32",
    "sigmoid_f32", "softplus_f32", "cosh_f32", "sinh_f32", "sech2_f32",
    "exp_parts_f64", "exp_parts_f32", "exp_split_f64", "exp_split_f32",
    "erfc_scaled_f64", "erfc_scaled_f32", "exp_sq_f64", "exp_sq_f32", "ldexp_f64", "ldexp_f32",
    "scale_f64", "scale_f32", "tanhshrink_f64", "tanhshrink_f32", "tanh_sq_f64", "tanh_sq_f32",
]

#: The functions this module implements (each as ``NAME_f64`` and ``NAME_f32``).
FUNCTIONS = ("exp", "expm1", "log", "log1p", "tanh", "erf", "erfc", "sigmoid", "softplus", "cosh", "sinh", "sech2",
             "tanhshrink", "tanh_sq")

# forceinline: LLVM's "alwaysinline". These functions are too big for LLVM's inlining
# threshold, and a call left in the element loop stops vectorization. No disk cache: the
# generated kernels are cached with everything inlined, so these compile only when a new
# kernel does.
_JIT = dict(cache=False, error_model="numpy", nogil=True, forceinline=True)

F = np.float32

# -- float64 constants ---------------------------------------------------------------------
_LOG2E = 1.4426950408889634
_LN2_HI = 0.6931471803691238  # ln 2 truncated to 32 bits: n*_LN2_HI is exact for |n| < 2^21
_LN2_LO = 1.9082149292705877e-10  # ln 2 - _LN2_HI
_LN2 = 0.6931471805599453
_MAGIC = 6755399441055744.0  # 1.5 * 2^52: x + _MAGIC rounds x to an integer in the low bits
_MAGIC_BITS = 0x4338000000000000
_SQRT_HALF_BITS = 0x3FE6A09E667F3BCD
_MANT = 0x000FFFFFFFFFFFFF
_SQRT2_M1 = 0.41421356237309503
_SQRT_HALF_M1 = -0.2928932188134525
_TWO_OVER_SQRTPI = 1.1283791670955126
_TINY = 2.2250738585072014e-308  # smallest normal
_TWO54 = 18014398509481984.0
_INF = math.inf
_NAN = math.nan
_EXP_LO, _EXP_HI = -746.0, 712.0  # exp(-746) = 0; 712 > log(2 * max) (cosh overflows at 710.48)
_EXPM1_LO = -40.0  # expm1(x) rounds to -1 below
_EXP_C = C.EXP_F64
_EXPM1_C = C.EXPM1_F64
_LOG_C = C.LOG_F64
_TANH_C = C.TANH_F64
_ERF_C = C.ERF_F64
_ERFC_C_COEFFS = C.ERFC_F64
_ERFC_C = C.ERFC_C
_ERFC_T0 = C.ERFC_T_MIN_F64
_ERFC_AMAX = (1.0 / _ERFC_T0 - 1.0) / _ERFC_C  # 28: erfc(28) is below half the least subnormal
_ERFC_W = 1.0 - _ERFC_T0  # exact (t0 is a power of two)
_ERFC_WINV = 1.0 / _ERFC_W
_ERF_SMALL = C.ERF_SMALL
_TANH_SMALL = C.TANH_SMALL

# -- float32 constants ---------------------------------------------------------------------
_LOG2E_F = F(1.4426950408889634)
_LN2_HI_F = F(0.693145751953125)  # 16 bits: n*_LN2_HI_F exact for |n| < 2^8
_LN2_LO_F = F(1.428606765330187e-06)
_LN2_F = F(0.6931471805599453)
_MAGIC_F = F(12582912.0)  # 1.5 * 2^23
_MAGIC_BITS_F = 0x4B400000
_SQRT_HALF_BITS_F = 0x3F3504F3
_MANT_F = 0x007FFFFF
_SQRT2_M1_F = F(0.41421356237309503)
_SQRT_HALF_M1_F = F(-0.2928932188134525)
_TWO_OVER_SQRTPI_F = F(1.1283791670955126)
_TINY_F = F(1.1754943508222875e-38)
_TWO24_F = F(16777216.0)
_INF_F = F(math.inf)
_NAN_F = F(math.nan)
_EXP_LO_F, _EXP_HI_F = F(-104.0), F(90.0)
_EXPM1_LO_F = F(-20.0)
_ZERO_F, _HALF_F, _ONE_F, _TWO_F, _FOUR_F = F(0.0), F(0.5), F(1.0), F(2.0), F(4.0)
_QUARTER_F = F(0.25)
_SIXTH_F = F(1.0 / 6.0)
_EXP_C_F = tuple(F(c) for c in C.EXP_F32)
_EXPM1_C_F = tuple(F(c) for c in C.EXPM1_F32)
_LOG_C_F = tuple(F(c) for c in C.LOG_F32)
_TANH_C_F = tuple(F(c) for c in C.TANH_F32)
_ERF_C_F = tuple(F(c) for c in C.ERF_F32)
_ERFC_C_COEFFS_F = tuple(F(c) for c in C.ERFC_F32)
_ERFC_C_F = F(C.ERFC_C)
_ERFC_T0_F = F(C.ERFC_T_MIN_F32)
_ERFC_AMAX_F = F((1.0 / C.ERFC_T_MIN_F32 - 1.0) / C.ERFC_C)  # 12
_ERFC_W_F = F(1.0 - C.ERFC_T_MIN_F32)
_ERFC_WINV_F = F(1.0 / (1.0 - C.ERFC_T_MIN_F32))
_ERF_SMALL_F = F(C.ERF_SMALL)
_TANH_SMALL_F = F(C.TANH_SMALL)


_MAX_TERMS = 24


@njit(**_JIT)
def _horner(s, c):
    """sum_k c[k] s**k by Horner's rule, straight-line for up to 24 terms.

    ``n = len(c)`` is a constant of the tuple type, so LLVM folds the ``if n >= k`` tests and
    the indices away and keeps one chain of FMAs: no loop is left in the element loop (LLVM
    does not fully unroll a 20-term loop, and an inner loop stops vectorization).
    """
    n = len(c)
    acc = c[n - 1]
    if n >= 2:
        acc = madd(acc, s, c[n - 2])
    if n >= 3:
        acc = madd(acc, s, c[n - 3])
    if n >= 4:
        acc = madd(acc, s, c[n - 4])
    if n >= 5:
        acc = madd(acc, s, c[n - 5])
    if n >= 6:
        acc = madd(acc, s, c[n - 6])
    if n >= 7:
        acc = madd(acc, s, c[n - 7])
    if n >= 8:
        acc = madd(acc, s, c[n - 8])
    if n >= 9:
        acc = madd(acc, s, c[n - 9])
    if n >= 10:
        acc = madd(acc, s, c[n - 10])
    if n >= 11:
        acc = madd(acc, s, c[n - 11])
    if n >= 12:
        acc = madd(acc, s, c[n - 12])
    if n >= 13:
        acc = madd(acc, s, c[n - 13])
    if n >= 14:
        acc = madd(acc, s, c[n - 14])
    if n >= 15:
        acc = madd(acc, s, c[n - 15])
    if n >= 16:
        acc = madd(acc, s, c[n - 16])
    if n >= 17:
        acc = madd(acc, s, c[n - 17])
    if n >= 18:
        acc = madd(acc, s, c[n - 18])
    if n >= 19:
        acc = madd(acc, s, c[n - 19])
    if n >= 20:
        acc = madd(acc, s, c[n - 20])
    if n >= 21:
        acc = madd(acc, s, c[n - 21])
    if n >= 22:
        acc = madd(acc, s, c[n - 22])
    if n >= 23:
        acc = madd(acc, s, c[n - 23])
    if n >= 24:
        acc = madd(acc, s, c[n - 24])
    return acc


_EXP_P = _EXP_C
_EXPM1_P = _EXPM1_C
_LOG_P = _LOG_C
_TANH_P = _TANH_C
_ERF_P = _ERF_C
_ERFC_P = _ERFC_C_COEFFS
_EXP_P_F = _EXP_C_F
_EXPM1_P_F = _EXPM1_C_F
_LOG_P_F = _LOG_C_F
_TANH_P_F = _TANH_C_F
_ERF_P_F = _ERF_C_F
_ERFC_P_F = _ERFC_C_COEFFS_F
assert max(len(c) for c in (_EXP_P, _EXPM1_P, _LOG_P, _TANH_P, _ERF_P, _ERFC_P)) <= _MAX_TERMS


# == float64 ===============================================================================

@njit(**_JIT)
def ldexp_f64(v, n):
    """``v * 2**n`` for integer ``n`` in [-2044, 2046] (two exact scalings; one rounding)."""
    n1 = n >> 1
    n2 = n - n1
    return v * f64_from_bits((n1 + 1023) << 52) * f64_from_bits((n2 + 1023) << 52)


@njit(**_JIT)
def _exp_mant_f64(hi, lo):
    """``(p, p_lo, n)``: ``exp(hi + lo) = (p + p_lo) * 2**n``, ``p`` in [0.7, 1.42].

    ``hi`` is clamped to [-746, 712] first, so ``n`` stays in [-1077, 1028]; ``p_lo`` is the
    rounding error of ``p = 1 + w`` (exact Fast2Sum), so ``p + p_lo`` is accurate to about
    0.15 ULP; NaN gives a NaN ``p``.
    """
    inside = (hi > _EXP_LO) & (hi < _EXP_HI)
    xc = hi if hi > _EXP_LO else _EXP_LO
    xc = xc if xc < _EXP_HI else _EXP_HI
    k = xc * _LOG2E + _MAGIC
    n = k - _MAGIC
    ni = f64_bits(k) - _MAGIC_BITS
    r = (xc - n * _LN2_HI) - n * _LN2_LO + (lo if inside else 0.0)  # lo means nothing once clamped
    w = madd(r * r, _horner(r, _EXP_P), r)
    p = 1.0 + w
    p_lo = (1.0 - p) + w
    p = p if hi == hi else hi
    return p, p_lo, ni


@njit(**_JIT)
def exp_parts_f64(hi, lo):
    """``(p, n)`` with ``exp(hi + lo) = p * 2**n`` (``n`` int64), ``|lo|`` small against 1.

    ``hi`` is clamped to [-746, 712] first, so ``n`` stays in [-1077, 1028]; NaN gives a
    NaN ``p``. ``(p, n)`` is the extended-range exponential: it never overflows.
    """
    p, p_lo, ni = _exp_mant_f64(hi, lo)
    return p, ni


@njit(**_JIT)
def exp_split_f64(x):
    """``(e_hi, e_lo)`` with ``e_hi + e_lo = exp(x)`` to about 0.15 ULP of ``e_hi``.

    ``e_hi`` is :func:`exp_f64`; ``e_lo`` carries the rounding error of its last addition.
    """
    p, p_lo, ni = _exp_mant_f64(x, 0.0)
    return ldexp_f64(p, ni), ldexp_f64(p_lo, ni)


@njit(**_JIT)
def exp_f64(x):
    """:math:`e^x`."""
    p, n = exp_parts_f64(x, 0.0)
    return ldexp_f64(p, n)


@njit(**_JIT)
def expm1_f64(x):
    """:math:`e^x - 1`, accurate near 0."""
    xc = x if x > _EXPM1_LO else _EXPM1_LO
    xc = xc if xc < _EXP_HI else _EXP_HI
    k = xc * _LOG2E + _MAGIC
    small = abs(xc) < _LN2
    n = 0.0 if small else k - _MAGIC
    ni = 0 if small else f64_bits(k) - _MAGIC_BITS
    r = (xc - n * _LN2_HI) - n * _LN2_LO
    q = madd(r * r, _horner(r, _EXPM1_P), r)
    nc = ni if ni < 1023 else 1023
    s = f64_from_bits((nc + 1023) << 52)
    near = madd(s, q, s - 1.0)
    far = ldexp_f64(1.0 + q, ni)
    res = far if ni > 60 else near
    return x if (x == 0.0) | (x != x) else res


@njit(**_JIT)
def _log1p_reduced_f64(f, kf, c):
    """kf*ln2 + log1p(f) + c for f in [sqrt(1/2)-1, sqrt(2)-1] (fdlibm's ordering)."""
    s = f / (2.0 + f)
    z = s * s
    hfsq = 0.5 * f * f
    r = z * _horner(z, _LOG_P)
    return kf * _LN2_HI + (f - (hfsq - (s * (hfsq + r) + (kf * _LN2_LO + c))))


@njit(**_JIT)
def log_f64(x):
    """:math:`\\log x` (NaN for x < 0, -inf at 0)."""
    tiny = x < _TINY
    xs = x * _TWO54 if tiny else x
    u = f64_bits(xs) - _SQRT_HALF_BITS
    k = (u >> 52) - (54 if tiny else 0)
    m = f64_from_bits((u & _MANT) + _SQRT_HALF_BITS)
    kf = f64_from_bits(k + _MAGIC_BITS) - _MAGIC
    res = _log1p_reduced_f64(m - 1.0, kf, 0.0)
    res = res if x > 0.0 else (-_INF if x == 0.0 else _NAN)
    return _INF if x == _INF else res


@njit(**_JIT)
def log1p_f64(x):
    """:math:`\\log(1 + x)`, accurate near 0."""
    u = 1.0 + x
    ub = f64_bits(u) - _SQRT_HALF_BITS
    k = ub >> 52
    m = f64_from_bits((ub & _MANT) + _SQRT_HALF_BITS)
    c = ((1.0 - (u - x)) if k >= 2 else (x - (u - 1.0))) / u
    c = 0.0 if k >= 54 else c
    small = (x < _SQRT2_M1) & (x > _SQRT_HALF_M1)
    f = x if small else m - 1.0
    c = 0.0 if small else c
    k = 0 if small else k
    kf = f64_from_bits(k + _MAGIC_BITS) - _MAGIC
    res = _log1p_reduced_f64(f, kf, c)
    res = res if x > -1.0 else (-_INF if x == -1.0 else _NAN)
    res = _INF if x == _INF else res
    return x if (x == 0.0) | (x != x) else res


@njit(**_JIT)
def tanh_f64(x):
    """:math:`\\tanh x`."""
    a = abs(x)
    z = x * x
    near = madd(x * z, _horner(z, _TANH_P), x)
    e = exp_f64(2.0 * a)
    far = math.copysign(1.0 - 2.0 / (e + 1.0), x)
    res = near if a < _TANH_SMALL else far
    return x if x == 0.0 else res  # tanh(-0) = -0 (x + x^3 T flips it: T < 0)


@njit(**_JIT)
def tanhshrink_f64(x):
    r""":math:`x - \tanh x` without the cancellation of the difference.

    Below :math:`|x| = 0.625` it is :math:`-x^3 T(x^2)` with the polynomial :math:`T` of
    :func:`tanh_f64` (:math:`\tanh x = x + x^3 T(x^2)`, fitted with a relative error of
    6e-17) and :math:`x^3` formed double-length: the difference is never formed. Above, it is
    :math:`\operatorname{sign}(x)\,((|x| - 1) + 2q)` with :math:`q = e/(1 + e) = 1/(e^{2|x|} + 1)`,
    :math:`e = e^{-2|x|}`: :math:`|x| - 1` is exact below 2 (Sterbenz) and :math:`q` is carried
    double-length (:math:`e` with its rounding error, the quotient's remainder from an FMA), so
    the sum, which cancels up to 6-fold at 0.625, loses nothing; it is added as a TwoSum.
    """
    a = abs(x)
    z = x * x
    p = x * z
    p_lo = fma(x, z, -p) + x * fma(x, x, -z)  # x^3 = p + p_lo (to ~2^-104)
    c = _horner(z, _TANH_P)
    near = -fma(p, c, p_lo * c)
    e, e_lo = exp_split_f64(-2.0 * a)
    d = 1.0 + e
    d_lo = ((1.0 - d) + e) + e_lo  # 1 + e + e_lo = d + d_lo
    q = e / d
    q_lo = ((fma(-q, d, e) + e_lo) - q * d_lo) / d  # q + q_lo = (e + e_lo)/(d + d_lo)
    h = a - 1.0
    t = 2.0 * q
    s = h + t
    b = s - h
    err = (h - (s - b)) + (t - b)  # TwoSum: h + t = s + err exactly
    far = math.copysign(s + (err + 2.0 * q_lo), x)
    res = near if a < _TANH_SMALL else far
    return x if (x == 0.0) | (a == _INF) else res  # -0 stays -0; x - tanh x = x at +-inf


@njit(**_JIT)
def tanh_sq_f64(x):
    """:math:`\\tanh^2 x` (float64): the square of :func:`tanh_f64` (about 2.5 ULP)."""
    t = tanh_f64(x)
    return t * t


@njit(**_JIT)
def sigmoid_f64(x):
    """:math:`1/(1+e^{-x})` without overflow: :math:`(1 \text{ or } e)/(1+e)`, :math:`e = e^{-|x|}`.

    :math:`e` and :math:`1+e` are carried with their rounding errors (about 0.6 ULP in all).
    """
    e, e_lo = exp_split_f64(-abs(x))
    d = 1.0 + e
    d_lo = ((1.0 - d) + e) + e_lo  # 1 + e + e_lo = d + d_lo
    pos = x >= 0.0
    num = 1.0 if pos else e
    num_lo = 0.0 if pos else e_lo
    q = num / d
    return q + (num_lo - q * d_lo) / d


@njit(**_JIT)
def softplus_f64(x):
    """:math:`\\log(1+e^x) = \\max(x,0) + \\mathrm{log1p}(e^{-|x|})`."""
    e = exp_f64(-abs(x))
    m = x if x > 0.0 else 0.0
    return m + log1p_f64(e)


@njit(**_JIT)
def _erfc_pos_f64(a, a_lo):
    """erfc(a + a_lo) for a >= 0, |a_lo| tiny against a (a NaN gives a finite value;
    callers select)."""
    inside = a < _ERFC_AMAX
    ac = a if inside else _ERFC_AMAX
    al = a_lo if inside else 0.0
    # t = 1/(1 + c a) as t_hi + t_lo (c = 1/4 so c*a is exact)
    ca = _ERFC_C * ac
    d = 1.0 + ca
    bb = d - 1.0
    d_lo = (1.0 - (d - bb)) + (ca - bb)  # 2Sum: 1 + ca = d + d_lo exactly
    t = 1.0 / d
    t_lo = t * (fma(-t, d, 1.0) - t * d_lo)
    u = t - _ERFC_T0
    u_lo = (t - u) - _ERFC_T0  # Fast2Sum (t >= t0): t - t0 = u + u_lo exactly
    s = u * _ERFC_WINV
    s_err = fma(s, _ERFC_W, -u)  # s*(1 - t0) - u exactly (1 - t0 is exact)
    h = _horner(s, _ERFC_P)  # erfcx at t_eff = t0 + s (1 - t0) = t - u_lo + s_err
    # the exact t is t + t_lo: first-order correction through d erfcx/dt = erfcx'(a) da/dt,
    # erfcx' = 2a erfcx - 2/sqrt(pi), da/dt = -1/(c t^2) = -d^2/c
    dx = 2.0 * ac * h - _TWO_OVER_SQRTPI
    dedt = dx * (-(d * d) / _ERFC_C)
    e = h + (dedt * (t_lo + (u_lo - s_err)) + dx * al)  # and the argument's own low part
    sq = ac * ac
    sq_lo = fma(ac, ac, -sq) + 2.0 * ac * al  # (a + a_lo)^2 = sq + sq_lo to first order
    p, p_lo, n = _exp_mant_f64(-sq, -sq_lo)
    return ldexp_f64(fma(p, e, p_lo * e), n)


@njit(**_JIT)
def erfc_f64(x):
    """:math:`\\mathrm{erfc}(x) = 1 - \\mathrm{erf}(x)` with full relative accuracy in the tail."""
    a = abs(x)
    near = (1.0 - x) - x * _horner(x * x, _ERF_P)  # 1 - erf(x), erf(x) = x + x E(x^2)
    ep = _erfc_pos_f64(a, 0.0)
    far = ep if x >= 0.0 else 2.0 - ep
    res = near if a < _ERF_SMALL else far
    return res if x == x else x


@njit(**_JIT)
def erfc_scaled_f64(u, c_hi, c_lo):
    r""":math:`\mathrm{erfc}(c\,u)` for a constant :math:`c = c_{hi} + c_{lo}`, with the product
    carried double-length (exact GELU's erfc(-x/sqrt 2) stays accurate where erfc is tiny)."""
    hi = c_hi * u
    lo = fma(c_hi, u, -hi) + c_lo * u
    lo = lo if lo == lo else 0.0  # infinite u
    neg = hi < 0.0
    a = abs(hi)
    q = hi * hi
    # erfc(hi + lo) = erfc(hi) - lo (2/sqrt(pi)) e^{-hi^2}; e^{-q} to 0.5% by its cubic Taylor
    slope = _TWO_OVER_SQRTPI * (1.0 - q * (1.0 - q * (0.5 - q * (1.0 / 6.0))))
    near = ((1.0 - hi) - hi * _horner(q, _ERF_P)) - lo * slope
    ep = _erfc_pos_f64(a, -lo if neg else lo)
    far = 2.0 - ep if neg else ep
    res = near if a < _ERF_SMALL else far
    return res if hi == hi else hi


@njit(**_JIT)
def exp_sq_f64(u, c_hi, c_lo):
    r""":math:`e^{c u^2}` for a constant :math:`c = c_{hi} + c_{lo}` (:math:`u^2` split exactly,
    so the rounding of the exponent does not cost :math:`|c| u^2` ULP)."""
    sq = u * u
    sq_lo = fma(u, u, -sq)
    hi = c_hi * sq
    lo = fma(c_hi, sq, -hi) + (c_hi * sq_lo + c_lo * sq)
    lo = lo if lo == lo else 0.0
    p, p_lo, n = _exp_mant_f64(hi, lo)
    return ldexp_f64(p, n)


@njit(**_JIT)
def erf_f64(x):
    """:math:`\\mathrm{erf}(x)`."""
    a = abs(x)
    near = madd(x, _horner(x * x, _ERF_P), x)
    far = math.copysign(1.0 - _erfc_pos_f64(a, 0.0), x)
    res = near if a < _ERF_SMALL else far
    return res if x == x else x


@njit(**_JIT)
def cosh_f64(x):
    """:math:`\\cosh x = 2^{n-1}p + 2^{-n-1}/p` from :math:`e^{|x|} = 2^n p`."""
    p, n = exp_parts_f64(abs(x), 0.0)
    return ldexp_f64(p, n - 1) + ldexp_f64(0.5 / p, -n)


@njit(**_JIT)
def sinh_f64(x):
    """:math:`\\sinh x` (from ``expm1`` below |x| = 20, from the exponent parts above)."""
    a = abs(x)
    em = expm1_f64(a)
    near = 0.5 * (em + em / (em + 1.0))
    p, n = exp_parts_f64(a, 0.0)
    far = ldexp_f64(p, n - 1) - ldexp_f64(0.5 / p, -n)
    res = math.copysign(near if a < 20.0 else far, x)
    return res


@njit(**_JIT)
def sech2_f64(x):
    """:math:`\\mathrm{sech}^2 x = 4q/(1+q)^2`, :math:`q = e^{-2|x|}` (no overflow)."""
    q, q_lo = exp_split_f64(-2.0 * abs(x))
    d = 1.0 + q
    d_lo = ((1.0 - d) + q) + q_lo  # 1 + q + q_lo = d + d_lo
    dd = d * d
    dd_lo = fma(d, d, -dd) + 2.0 * d * d_lo  # (d + d_lo)^2 = dd + dd_lo to first order
    r = 4.0 * q / dd
    return r + (4.0 * q_lo - r * dd_lo) / dd


# == float32 ===============================================================================

@njit(**_JIT)
def ldexp_f32(v, n):
    """``v * 2**n`` (float32) for integer ``n`` in [-252, 254]."""
    n1 = n >> 1
    n2 = n - n1
    return v * f32_from_bits((n1 + 127) << 23) * f32_from_bits((n2 + 127) << 23)


@njit(**_JIT)
def scale_f64(t, c_hi, c_lo):
    r"""``c * t`` for a constant :math:`c = c_{hi} + c_{lo}` that float64 cannot hold.

    :math:`\mathrm{fma}(c_{hi}, t, c_{lo} t)` rounds once: the product loses nothing to the
    rounding of :math:`c` (half an ULP with :math:`c_{hi}` alone) and overflows only where
    :math:`ct` does (:math:`\lambda x` of SELU just below the overflow threshold). Correctly
    rounded (``tests/test_rounded_products.py`` against exact rationals) except where
    :math:`c_{lo} t` falls into the subnormal range (results below :math:`2^{-1022+53}`): there
    within one ULP. At :math:`t = \pm 0, \pm\infty` or NaN :math:`c_{hi} t` is returned:
    :math:`c_{lo}` may have the other sign, and :math:`\infty - \infty` would be NaN,
    :math:`-0 + 0` the wrong zero.
    """
    r = fma(c_hi, t, c_lo * t)
    return r if 0.0 < abs(t) < math.inf else c_hi * t


@njit(**_JIT)
def scale_f32(t, c_hi, c_lo):
    """``c * t`` in float32, rounded once (as :func:`scale_f64`)."""
    r = fma(c_hi, t, c_lo * t)
    return r if F(0.0) < abs(t) < F(math.inf) else c_hi * t


@njit(**_JIT)
def _exp_mant_f32(hi, lo):
    """``(p, p_lo, n)`` with ``exp(hi + lo) = (p + p_lo) * 2**n`` in float32."""
    inside = (hi > _EXP_LO_F) & (hi < _EXP_HI_F)
    xc = hi if hi > _EXP_LO_F else _EXP_LO_F
    xc = xc if xc < _EXP_HI_F else _EXP_HI_F
    k = xc * _LOG2E_F + _MAGIC_F
    n = k - _MAGIC_F
    ni = f32_bits(k) - _MAGIC_BITS_F
    r = (xc - n * _LN2_HI_F) - n * _LN2_LO_F + (lo if inside else _ZERO_F)
    w = madd(r * r, _horner(r, _EXP_P_F), r)
    p = _ONE_F + w
    p_lo = (_ONE_F - p) + w
    p = p if hi == hi else hi
    return p, p_lo, ni


@njit(**_JIT)
def exp_parts_f32(hi, lo):
    """``(p, n)`` with ``exp(hi + lo) = p * 2**n`` in float32 (``hi`` clamped to [-104, 90])."""
    p, p_lo, ni = _exp_mant_f32(hi, lo)
    return p, ni


@njit(**_JIT)
def exp_split_f32(x):
    """``(e_hi, e_lo)`` with ``e_hi + e_lo = exp(x)`` (float32)."""
    p, p_lo, ni = _exp_mant_f32(x, _ZERO_F)
    return ldexp_f32(p, ni), ldexp_f32(p_lo, ni)


@njit(**_JIT)
def exp_f32(x):
    """:math:`e^x` (float32)."""
    p, n = exp_parts_f32(x, _ZERO_F)
    return ldexp_f32(p, n)


@njit(**_JIT)
def expm1_f32(x):
    """:math:`e^x - 1` (float32)."""
    xc = x if x > _EXPM1_LO_F else _EXPM1_LO_F
    xc = xc if xc < _EXP_HI_F else _EXP_HI_F
    k = xc * _LOG2E_F + _MAGIC_F
    small = abs(xc) < _LN2_F
    n = _ZERO_F if small else k - _MAGIC_F
    ni = 0 if small else f32_bits(k) - _MAGIC_BITS_F
    r = (xc - n * _LN2_HI_F) - n * _LN2_LO_F
    q = madd(r * r, _horner(r, _EXPM1_P_F), r)
    nc = ni if ni < 127 else 127
    s = f32_from_bits((nc + 127) << 23)
    near = madd(s, q, s - _ONE_F)
    far = ldexp_f32(_ONE_F + q, ni)
    res = far if ni > 25 else near
    return x if (x == _ZERO_F) | (x != x) else res


@njit(**_JIT)
def _log1p_reduced_f32(f, kf, c):
    s = f / (_TWO_F + f)
    z = s * s
    hfsq = _HALF_F * f * f
    r = z * _horner(z, _LOG_P_F)
    return kf * _LN2_HI_F + (f - (hfsq - (s * (hfsq + r) + (kf * _LN2_LO_F + c))))


@njit(**_JIT)
def log_f32(x):
    """:math:`\\log x` (float32)."""
    tiny = x < _TINY_F
    xs = x * _TWO24_F if tiny else x
    u = f32_bits(xs) - _SQRT_HALF_BITS_F
    k = (u >> 23) - (24 if tiny else 0)
    m = f32_from_bits((u & _MANT_F) + _SQRT_HALF_BITS_F)
    kf = f32_from_bits(k + _MAGIC_BITS_F) - _MAGIC_F
    res = _log1p_reduced_f32(m - _ONE_F, kf, _ZERO_F)
    res = res if x > _ZERO_F else (-_INF_F if x == _ZERO_F else _NAN_F)
    return _INF_F if x == _INF_F else res


@njit(**_JIT)
def log1p_f32(x):
    """:math:`\\log(1 + x)` (float32)."""
    u = _ONE_F + x
    ub = f32_bits(u) - _SQRT_HALF_BITS_F
    k = ub >> 23
    m = f32_from_bits((ub & _MANT_F) + _SQRT_HALF_BITS_F)
    c = ((_ONE_F - (u - x)) if k >= 2 else (x - (u - _ONE_F))) / u
    c = _ZERO_F if k >= 25 else c
    small = (x < _SQRT2_M1_F) & (x > _SQRT_HALF_M1_F)
    f = x if small else m - _ONE_F
    c = _ZERO_F if small else c
    k = 0 if small else k
    kf = f32_from_bits(k + _MAGIC_BITS_F) - _MAGIC_F
    res = _log1p_reduced_f32(f, kf, c)
    res = res if x > -_ONE_F else (-_INF_F if x == -_ONE_F else _NAN_F)
    res = _INF_F if x == _INF_F else res
    return x if (x == _ZERO_F) | (x != x) else res


@njit(**_JIT)
def tanh_f32(x):
    """:math:`\\tanh x` (float32)."""
    a = abs(x)
    z = x * x
    near = madd(x * z, _horner(z, _TANH_P_F), x)
    e = exp_f32(_TWO_F * a)
    far = math.copysign(_ONE_F - _TWO_F / (e + _ONE_F), x)
    res = near if a < _TANH_SMALL_F else far
    return x if x == _ZERO_F else res


@njit(**_JIT)
def tanhshrink_f32(x):
    """:math:`x - \\tanh x` (float32): :func:`tanhshrink_f64` of the exact float64 argument,
    rounded once (its error of about one float64 ULP makes the result correctly rounded except
    within ~2^-28 ULP of a float32 midpoint)."""
    return F(tanhshrink_f64(np.float64(x)))


@njit(**_JIT)
def tanh_sq_f32(x):
    """:math:`\\tanh^2 x` (float32): :func:`tanh_f64` of the exact float64 argument, squared and
    rounded once (correctly rounded except next to a midpoint; squaring a float32 tanh of 1.5 ULP
    doubles its error: 3.4 ULP in tanhshrink's derivative)."""
    t = tanh_f64(np.float64(x))
    return F(t * t)


@njit(**_JIT)
def sigmoid_f32(x):
    """:math:`1/(1+e^{-x})` (float32)."""
    e, e_lo = exp_split_f32(-abs(x))
    d = _ONE_F + e
    d_lo = ((_ONE_F - d) + e) + e_lo
    pos = x >= _ZERO_F
    num = _ONE_F if pos else e
    num_lo = _ZERO_F if pos else e_lo
    q = num / d
    return q + (num_lo - q * d_lo) / d


@njit(**_JIT)
def softplus_f32(x):
    """:math:`\\log(1+e^x)` (float32)."""
    e = exp_f32(-abs(x))
    m = x if x > _ZERO_F else _ZERO_F
    return m + log1p_f32(e)


@njit(**_JIT)
def _erfc_pos_f32(a, a_lo):
    inside = a < _ERFC_AMAX_F
    ac = a if inside else _ERFC_AMAX_F
    al = a_lo if inside else _ZERO_F
    ca = _ERFC_C_F * ac
    d = _ONE_F + ca
    bb = d - _ONE_F
    d_lo = (_ONE_F - (d - bb)) + (ca - bb)
    t = _ONE_F / d
    t_lo = t * (fma(-t, d, _ONE_F) - t * d_lo)
    u = t - _ERFC_T0_F
    u_lo = (t - u) - _ERFC_T0_F
    s = u * _ERFC_WINV_F
    s_err = fma(s, _ERFC_W_F, -u)
    h = _horner(s, _ERFC_P_F)
    dx = _TWO_F * ac * h - _TWO_OVER_SQRTPI_F
    dedt = dx * (-(d * d) / _ERFC_C_F)
    e = h + (dedt * (t_lo + (u_lo - s_err)) + dx * al)
    sq = ac * ac
    sq_lo = fma(ac, ac, -sq) + _TWO_F * ac * al
    p, p_lo, n = _exp_mant_f32(-sq, -sq_lo)
    return ldexp_f32(fma(p, e, p_lo * e), n)


@njit(**_JIT)
def erfc_f32(x):
    """:math:`\\mathrm{erfc}(x)` (float32)."""
    a = abs(x)
    near = (_ONE_F - x) - x * _horner(x * x, _ERF_P_F)
    ep = _erfc_pos_f32(a, _ZERO_F)
    far = ep if x >= _ZERO_F else _TWO_F - ep
    res = near if a < _ERF_SMALL_F else far
    return res if x == x else x


@njit(**_JIT)
def erfc_scaled_f32(u, c_hi, c_lo):
    r""":math:`\mathrm{erfc}(c\,u)` (float32), the product carried double-length."""
    hi = c_hi * u
    lo = fma(c_hi, u, -hi) + c_lo * u
    lo = lo if lo == lo else _ZERO_F
    neg = hi < _ZERO_F
    a = abs(hi)
    q = hi * hi
    slope = _TWO_OVER_SQRTPI_F * (_ONE_F - q * (_ONE_F - q * (_HALF_F - q * _SIXTH_F)))
    near = ((_ONE_F - hi) - hi * _horner(q, _ERF_P_F)) - lo * slope
    ep = _erfc_pos_f32(a, -lo if neg else lo)
    far = _TWO_F - ep if neg else ep
    res = near if a < _ERF_SMALL_F else far
    return res if hi == hi else hi


@njit(**_JIT)
def exp_sq_f32(u, c_hi, c_lo):
    """:math:`e^{c u^2}` (float32), :math:`u^2` split exactly."""
    sq = u * u
    sq_lo = fma(u, u, -sq)
    hi = c_hi * sq
    lo = fma(c_hi, sq, -hi) + (c_hi * sq_lo + c_lo * sq)
    lo = lo if lo == lo else _ZERO_F
    p, p_lo, n = _exp_mant_f32(hi, lo)
    return ldexp_f32(p, n)


@njit(**_JIT)
def erf_f32(x):
    """:math:`\\mathrm{erf}(x)` (float32)."""
    a = abs(x)
    near = madd(x, _horner(x * x, _ERF_P_F), x)
    far = math.copysign(_ONE_F - _erfc_pos_f32(a, _ZERO_F), x)
    res = near if a < _ERF_SMALL_F else far
    return res if x == x else x


@njit(**_JIT)
def cosh_f32(x):
    """:math:`\\cosh x` (float32)."""
    p, n = exp_parts_f32(abs(x), _ZERO_F)
    return ldexp_f32(p, n - 1) + ldexp_f32(_HALF_F / p, -n)


@njit(**_JIT)
def sinh_f32(x):
    """:math:`\\sinh x` (float32)."""
    a = abs(x)
    em = expm1_f32(a)
    near = _HALF_F * (em + em / (em + _ONE_F))
    p, n = exp_parts_f32(a, _ZERO_F)
    far = ldexp_f32(p, n - 1) - ldexp_f32(_HALF_F / p, -n)
    return math.copysign(near if a < F(9.0) else far, x)


@njit(**_JIT)
def sech2_f32(x):
    """:math:`\\mathrm{sech}^2 x` (float32)."""
    q, q_lo = exp_split_f32(-_TWO_F * abs(x))
    d = _ONE_F + q
    d_lo = ((_ONE_F - d) + q) + q_lo
    dd = d * d
    dd_lo = fma(d, d, -dd) + _TWO_F * d * d_lo
    r = _FOUR_F * q / dd
    return r + (_FOUR_F * q_lo - r * dd_lo) / dd
