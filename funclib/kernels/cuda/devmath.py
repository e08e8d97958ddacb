r"""Device math for the generated CUDA kernels, under the names the printer emits.

:class:`funclib.kernels.printer.Printer` calls ``vm.NAME_f64`` / ``vm.NAME_f32`` (or ``lm.``)
and a few ``math.NAME`` functions; a generated CUDA module binds ``vm``, ``lm`` *and*
``math`` to this module, so the code printed for the CPU runs on the GPU unchanged. Every
function here is a CUDA device function in the argument's precision:

* on a GPU the transcendental calls are ``math.*`` in Numba-CUDA, i.e. NVIDIA's libdevice
  (``__nv_expf`` for a float32 argument, ``__nv_exp`` for float64). NVIDIA's published
  maximum errors (CUDA C++ Programming Guide, appendix "Mathematical Functions"; from
  extensive, not exhaustive, tests) are, float32 / float64 in ULP: exp 2/1, expm1 1/1,
  log 1/1, log1p 1/1, tanh 2/1, erf 2/2, erfc 4/5, cosh 2/1, sinh 3/2, sqrt 0/0;
* under the CUDA simulator (``NUMBA_ENABLE_CUDASIM=1``) libdevice does not exist and
  Python's ``math`` raises on overflow and domain errors, so each function is a plain Python
  version that returns what IEEE/libdevice returns there (``exp(1000) = inf``,
  ``log(0) = -inf``, ``sqrt(-1) = NaN``) and rounds to the argument's dtype. The choice is
  made once, at import, from ``numba.config.ENABLE_CUDASIM``.

The composite functions use the stable forms of :mod:`funclib.kernels.mathlib.libm` (same names,
same formulas): :math:`\sigma(x) = (1 \text{ or } e)/(1+e)`, :math:`e = e^{-|x|}`;
softplus :math:`\max(x,0) + \mathrm{log1p}(e^{-|x|})`; :math:`\mathrm{sech}^2 a = 4q/(1+q)^2`,
:math:`q = e^{-2|a|}`; tanhshrink :math:`x - \tanh x` as mathlib's (no difference formed; float32
through float64); ``tanh_sq`` :math:`\tanh^2 x` through float64 too. ``erfc_scaled(u, c_hi, c_lo)`` :math:`= \mathrm{erfc}(cu)` and
``exp_sq(u, c_hi, c_lo)`` :math:`= e^{cu^2}` carry the rounding error of the product
(:math:`c u` or :math:`c u^2`, formed exactly with an FMA on the GPU) as a first-order
correction, :math:`\mathrm{erfc}(p + \delta) \approx \mathrm{erfc}(p) - \delta\,\tfrac{2}{\sqrt\pi} e^{-p^2}`
and :math:`e^{p + \delta} \approx e^p (1 + \delta)`, so exact GELU keeps its accuracy in the
tail (as :mod:`funclib.kernels.mathlib.vecmath` does on the CPU; the CPU ``libm`` fallback does not).

Note that NVVM contracts ``a*b + c`` into one FMA by default (Numba-CUDA without
``fastmath``), so GPU results may also differ from the CPU kernels by the rounding of
such pairs; the simulator evaluates every operation separately.
"""

from __future__ import annotations

import math as _m
from types import FunctionType as _FunctionType

import numpy as np
from numba import config as _config
from numba import cuda
from numba.cuda import libdevice

from ..mathlib.coefficients import TANH_F64, TANH_SMALL as _TANH_SMALL
from ..mathlib.libm import SINC_D1_SERIES, SINC_SERIES

__all__ = [
    "SIMULATOR",
    "ACCURACY_ULP",
    "exp_f64", "expm1_f64", "log_f64", "log1p_f64", "tanh_f64", "erf_f64", "erfc_f64",
    "sigmoid_f64", "softplus_f64", "cosh_f64", "sinh_f64", "sech2_f64", "erfc_scaled_f64", "exp_sq_f64",
    "exp_f32", "expm1_f32", "log_f32", "log1p_f32", "tanh_f32", "erf_f32", "erfc_f32",
    "sigmoid_f32", "softplus_f32", "cosh_f32", "sinh_f32", "sech2_f32", "erfc_scaled_f32", "exp_sq_f32",
    "sqrt", "copysign", "sin", "cos", "tan", "asin", "acos", "atan", "asinh", "acosh", "atanh",
    "gamma", "lgamma", "sinc_f64", "sinc_d1_f64", "sinc_f32", "sinc_d1_f32",
    "cbrt_f64", "cbrt_pow_f64", "cbrt_pow_f32", "scale_f64", "scale_f32", "tanhshrink_f64", "tanhshrink_f32",
    "tanh_sq_f64", "tanh_sq_f32",
]

#: True when Numba-CUDA runs the simulator (decided when this module is imported).
SIMULATOR: bool = bool(_config.ENABLE_CUDASIM)

#: NVIDIA's published maximum ULP errors of the libdevice functions used here
#: (float32, float64); the composite functions add the rounding of their few operations.
ACCURACY_ULP = {
    "exp": (2, 1), "expm1": (1, 1), "log": (1, 1), "log1p": (1, 1), "tanh": (2, 1),
    "erf": (2, 2), "erfc": (4, 5), "cosh": (2, 1), "sinh": (3, 2), "sqrt": (0, 0),
}

_DEV = dict(device=True) if SIMULATOR else dict(device=True, forceinline=True)
_F = np.float32
_D = np.float64
_TWO_OVER_SQRTPI = 1.1283791670955126


def _dev(fn):
    return cuda.jit(**_DEV)(fn)


# --------------------------------------------------------------------------------------
# primitives: libdevice on a GPU, IEEE-faithful Python under the simulator
# --------------------------------------------------------------------------------------
if SIMULATOR:

    def _cast(x, v):
        t = type(x)
        if t is float or t is int:
            return float(v)
        with np.errstate(all="ignore"):
            return t(v)

    def _call(f, x, overflow=None):
        if x != x:
            return x
        try:
            return _cast(x, f(float(x)))
        except OverflowError:
            return _cast(x, overflow(float(x)))
        except ValueError:
            return _cast(x, _m.nan)

    def _inf_like(v):
        return _m.copysign(_m.inf, v)

    def _exp(x):
        return _call(_m.exp, x, lambda v: _m.inf)

    def _expm1(x):
        return _call(_m.expm1, x, lambda v: _m.inf)

    def _log(x):
        if x == 0:
            return _cast(x, -_m.inf)
        return _call(_m.log, x)

    def _log1p(x):
        if x == -1:
            return _cast(x, -_m.inf)
        return _call(_m.log1p, x)

    def _tanh(x):
        return _call(_m.tanh, x)

    def _erf(x):
        return _call(_m.erf, x)

    def _erfc(x):
        return _call(_m.erfc, x)

    def _cosh(x):
        return _call(_m.cosh, x, lambda v: _m.inf)

    def _sinh(x):
        return _call(_m.sinh, x, _inf_like)

    def _two_prod_err(a, b, p):
        """Exact ``a*b - p`` (``p = fl(a*b)``) without an FMA (the simulator's is not fused)."""
        if type(a) is _F or type(p) is _F:
            return _F(float(a) * float(b) - float(p))
        from fractions import Fraction

        fa, fb, fp = float(a), float(b), float(p)
        if not (_m.isfinite(fa) and _m.isfinite(fb) and _m.isfinite(fp)):
            return _D(_m.nan)
        return _D(float(Fraction(fa) * Fraction(fb) - Fraction(fp)))

    def _fma_(a, b, c):
        """``a*b + c`` rounded once to the type of ``a`` (exact rational arithmetic; a float32
        result is rounded twice, to float64 first, which can differ from the GPU's fused
        float32 FMA at a float32 midpoint only)."""
        from fractions import Fraction

        fa, fb, fc = float(a), float(b), float(c)
        if not (_m.isfinite(fa) and _m.isfinite(fb) and _m.isfinite(fc)):
            with np.errstate(all="ignore"):
                return _cast(a, fa * fb + fc)
        exact = Fraction(fa) * Fraction(fb) + Fraction(fc)
        try:
            return _cast(a, float(exact))
        except OverflowError:
            return _cast(a, _m.copysign(_m.inf, exact))

    _fma = _dev(_fma_)
    sqrt = _dev(lambda x: _call(_m.sqrt, x) if not (x == _m.inf) else x)
    copysign = _dev(lambda x, y: _cast(x, _m.copysign(float(x), float(y))))
    sin = _dev(lambda x: _call(_m.sin, x))
    cos = _dev(lambda x: _call(_m.cos, x))
    tan = _dev(lambda x: _call(_m.tan, x))
    asin = _dev(lambda x: _call(_m.asin, x))
    acos = _dev(lambda x: _call(_m.acos, x))
    atan = _dev(lambda x: _call(_m.atan, x))
    asinh = _dev(lambda x: _call(_m.asinh, x))
    acosh = _dev(lambda x: _call(_m.acosh, x))
    atanh = _dev(lambda x: _cast(x, _m.copysign(_m.inf, float(x))) if abs(x) == 1 else _call(_m.atanh, x))
    gamma = _dev(lambda x: _call(_m.gamma, x, lambda v: _m.inf))
    lgamma = _dev(lambda x: _call(_m.lgamma, x, lambda v: _m.inf))
    _cbrt = _dev(lambda x: _cast(x, float(np.cbrt(float(x)))))
else:
    _exp = _dev(lambda x: _m.exp(x))
    _expm1 = _dev(lambda x: _m.expm1(x))
    _log = _dev(lambda x: _m.log(x))
    _log1p = _dev(lambda x: _m.log1p(x))
    _tanh = _dev(lambda x: _m.tanh(x))
    _erf = _dev(lambda x: _m.erf(x))
    _erfc = _dev(lambda x: _m.erfc(x))
    _cosh = _dev(lambda x: _m.cosh(x))
    _sinh = _dev(lambda x: _m.sinh(x))
    _two_prod_err = _dev(lambda a, b, p: cuda.fma(a, b, -p))
    _fma = _dev(lambda a, b, c: cuda.fma(a, b, c))
    sqrt = _dev(lambda x: _m.sqrt(x))
    copysign = _dev(lambda x, y: _m.copysign(x, y))
    sin = _dev(lambda x: _m.sin(x))
    cos = _dev(lambda x: _m.cos(x))
    tan = _dev(lambda x: _m.tan(x))
    asin = _dev(lambda x: _m.asin(x))
    acos = _dev(lambda x: _m.acos(x))
    atan = _dev(lambda x: _m.atan(x))
    asinh = _dev(lambda x: _m.asinh(x))
    acosh = _dev(lambda x: _m.acosh(x))
    atanh = _dev(lambda x: _m.atanh(x))
    gamma = _dev(lambda x: _m.gamma(x))
    lgamma = _dev(lambda x: _m.lgamma(x))
    _cbrt = _dev(lambda x: libdevice.cbrt(x))  # float64; float32 goes through it (rounded once)

    # Python-level entry points are not needed on the GPU: the device functions above are
    # what generated kernels call.


_TANH_FROM_TOP = tuple(reversed(TANH_F64))  # Horner order of mathlib's tanh polynomial


def _tanhshrink_double(x):
    """x - tanh x in float64 as :func:`funclib.kernels.mathlib.vecmath.tanhshrink_f64`:
    -x^3 T(x^2) below 0.625 (x^3 double-length), (|x| - 1) + 2/(e^{2|x|} + 1) above with the
    quotient's remainder from an FMA (exp is libdevice's, 1 ULP, where the CPU's carries its
    rounding error: up to ~6 ULP more where the sum cancels, next to 0.625)."""
    a = abs(x)
    z = x * x
    p = x * z
    p_lo = _fma(x, z, -p) + x * _fma(x, x, -z)
    c = _D(0.0)
    for k in _TANH_FROM_TOP:
        c = c * z + k
    near = -_fma(p, c, p_lo * c)
    e = _exp(_D(-2.0) * a)
    d = _D(1.0) + e
    d_lo = (_D(1.0) - d) + e
    q = e / d
    q_lo = (_fma(-q, d, e) - q * d_lo) / d
    h = a - _D(1.0)
    t = _D(2.0) * q
    sm = h + t
    b = sm - h
    err = (h - (sm - b)) + (t - b)
    far = copysign(sm + (err + _D(2.0) * q_lo), x)
    res = near if a < _TANH_SMALL else far
    return x if (x == _D(0.0)) or (a == _D(_m.inf)) else res


_tanhshrink_d = _dev(_tanhshrink_double)


# --------------------------------------------------------------------------------------
# the printer's names (float64 then float32: the same formulas with typed constants)
# --------------------------------------------------------------------------------------
def _make(T):
    zero, one, two, four = T(0.0), T(1.0), T(2.0), T(4.0)
    k_erfc = T(_TWO_OVER_SQRTPI)
    inf = T(_m.inf)

    def exp(x):
        return _exp(x)

    def expm1(x):
        return _expm1(x)

    def log(x):
        return _log(x)

    def log1p(x):
        return _log1p(x)

    def tanh(x):
        return _tanh(x)

    def erf(x):
        return _erf(x)

    def erfc(x):
        return _erfc(x)

    def cosh(x):
        return _cosh(x)

    def sinh(x):
        return _sinh(x)

    def sigmoid(x):
        e = _exp(-abs(x))
        return (one if x >= zero else e) / (one + e)

    def softplus(x):
        return (x if x > zero else zero) + _log1p(_exp(-abs(x)))

    def sech2(x):
        q = _exp(-two * abs(x))
        d = one + q
        return four * q / (d * d)

    def erfc_scaled(u, c_hi, c_lo):
        p = c_hi * u
        d = _two_prod_err(c_hi, u, p) + c_lo * u
        d = d if d == d else zero
        return _erfc(p) - d * k_erfc * _exp(-(p * p))

    def scale(t, c_hi, c_lo):
        # c*t rounded once, as mathlib.vecmath.scale_f64 (c_hi*t alone at zero, infinite or NaN t)
        r = _fma(c_hi, t, c_lo * t)
        return r if zero < abs(t) < inf else c_hi * t

    def exp_sq(u, c_hi, c_lo):
        t = u * u
        p = c_hi * t
        d = _two_prod_err(c_hi, t, p) + c_hi * _two_prod_err(u, u, t) + c_lo * t
        d = d if d == d else zero
        r = _exp(p)
        return r + r * d

    def tanh_sq(x):
        # tanh(x)**2 through float64, rounded once (as mathlib.vecmath.tanh_sq_f32)
        t = _tanh(_D(x))
        return T(t * t)

    def tanhshrink(x):
        # float32 through float64, rounded once (as mathlib.vecmath.tanhshrink_f32)
        return T(_tanhshrink_d(_D(x)))

    # sinc and sinc' as in mathlib.libm (series near 0, reduction a = n/2 + r beyond: r is
    # exact, and a rounded n only moves r, never the identity sin(pi a) = +-sin/cos(pi r)),
    # in the argument's precision; |a| >= big (2**52, float32 2**23) is an integer
    s0, s1, s2, s3, s4, s5, s6, s7, s8, s9 = (T(v) for v in SINC_SERIES)
    d1, d2, d3, d4, d5, d6, d7, d8, d9, d10, d11, d12, d13, d14 = (T(v) for v in SINC_D1_SERIES)
    big = T(2.0**52) if T is _D else T(2.0**23)
    pi_t, quarter, half = T(_m.pi), T(0.25), T(0.5)

    def sincospi_(a):
        n = T(_m.floor(two * a + half))
        u = pi_t * (a - half * n)
        sr, cr = sin(u), cos(u)
        q = int(n) & 3
        if q == 0:
            return sr, cr
        if q == 1:
            return cr, -sr
        if q == 2:
            return -sr, -cr
        return -cr, sr

    sincospi = _dev(sincospi_)

    def sinc(x):
        a = abs(x)
        if a < quarter:
            t = x * x
            return s0 + t * (s1 + t * (s2 + t * (s3 + t * (s4 + t * (s5 + t * (s6 + t * (s7 + t * (s8 + t * s9))))))))
        if a >= big:
            return zero
        if a != a:
            return x
        sp_, cp_ = sincospi(a)
        return sp_ / (pi_t * a)

    def sinc_d1(x):
        a = abs(x)
        if a < half:
            t = x * x
            q = d1 + t * (d2 + t * (d3 + t * (d4 + t * (d5 + t * (d6 + t * (d7 + t * (
                d8 + t * (d9 + t * (d10 + t * (d11 + t * (d12 + t * (d13 + t * d14))))))))))))
            return x * q
        if a != a:
            return x
        if a >= big:
            d = (one if a >= two * big or int(a) % 2 == 0 else -one) / a
        else:
            sp_, cp_ = sincospi(a)
            d = (cp_ - sp_ / (pi_t * a)) / a
        return d if x >= zero else -d

    # b**(p/3) as in mathlib.libm.cbrt_pow_f64 (computed in float64, rounded once for float32)
    def cbrt_pow(b, p):
        d = _D(b)
        if not d >= _D(0.0):
            return T(_m.nan)
        c = _cbrt(d)
        regular = _D(0.0) < d < _D(_m.inf)
        if p == 1:
            r = c
        elif p == -1:
            r = _D(1.0) / c
        elif p == 2:
            r = d / c if regular else c * c
        elif p == -2:
            r = c / d if regular else _D(1.0) / (c * c)
        elif p == 4:
            r = d * c
        else:
            r = (_D(1.0) / c) / d
        return T(r)

    return {name: _dev(f) for name, f in locals().items()
            if isinstance(f, _FunctionType) and not name.startswith("_") and not name.endswith("_")}


_f64 = _make(_D)
_f32 = _make(_F)

exp_f64, expm1_f64, log_f64, log1p_f64 = _f64["exp"], _f64["expm1"], _f64["log"], _f64["log1p"]
tanh_f64, erf_f64, erfc_f64 = _f64["tanh"], _f64["erf"], _f64["erfc"]
sigmoid_f64, softplus_f64, cosh_f64, sinh_f64 = _f64["sigmoid"], _f64["softplus"], _f64["cosh"], _f64["sinh"]
sech2_f64, erfc_scaled_f64, exp_sq_f64 = _f64["sech2"], _f64["erfc_scaled"], _f64["exp_sq"]
scale_f64, scale_f32 = _f64["scale"], _f32["scale"]
tanhshrink_f64, tanhshrink_f32 = _f64["tanhshrink"], _f32["tanhshrink"]
tanh_sq_f64, tanh_sq_f32 = _f64["tanh_sq"], _f32["tanh_sq"]
exp_f32, expm1_f32, log_f32, log1p_f32 = _f32["exp"], _f32["expm1"], _f32["log"], _f32["log1p"]
tanh_f32, erf_f32, erfc_f32 = _f32["tanh"], _f32["erf"], _f32["erfc"]
sigmoid_f32, softplus_f32, cosh_f32, sinh_f32 = _f32["sigmoid"], _f32["softplus"], _f32["cosh"], _f32["sinh"]
sech2_f32, erfc_scaled_f32, exp_sq_f32 = _f32["sech2"], _f32["erfc_scaled"], _f32["exp_sq"]
sinc_f64, sinc_d1_f64, sinc_f32, sinc_d1_f32 = _f64["sinc"], _f64["sinc_d1"], _f32["sinc"], _f32["sinc_d1"]
cbrt_pow_f64, cbrt_pow_f32 = _f64["cbrt_pow"], _f32["cbrt_pow"]
cbrt_f64 = _cbrt  # libdevice's cbrt is within 1 ULP (CUDA Programming Guide); the simulator's is NumPy's
