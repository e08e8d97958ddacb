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
:math:`q = e^{-2|a|}`. ``erfc_scaled(u, c_hi, c_lo)`` :math:`= \mathrm{erfc}(cu)` and
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

__all__ = [
    "SIMULATOR",
    "ACCURACY_ULP",
    "exp_f64", "expm1_f64", "log_f64", "log1p_f64", "tanh_f64", "erf_f64", "erfc_f64",
    "sigmoid_f64", "softplus_f64", "cosh_f64", "sinh_f64", "sech2_f64", "erfc_scaled_f64", "exp_sq_f64",
    "exp_f32", "expm1_f32", "log_f32", "log1p_f32", "tanh_f32", "erf_f32", "erfc_f32",
    "sigmoid_f32", "softplus_f32", "cosh_f32", "sinh_f32", "sech2_f32", "erfc_scaled_f32", "exp_sq_f32",
    "sqrt", "copysign", "sin", "cos", "tan", "asin", "acos", "atan", "asinh", "acosh", "atanh",
    "gamma", "lgamma",
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

    # Python-level entry points are not needed on the GPU: the device functions above are
    # what generated kernels call.


# --------------------------------------------------------------------------------------
# the printer's names (float64 then float32: the same formulas with typed constants)
# --------------------------------------------------------------------------------------
def _make(T):
    zero, one, two, four = T(0.0), T(1.0), T(2.0), T(4.0)
    k_erfc = T(_TWO_OVER_SQRTPI)

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

    def exp_sq(u, c_hi, c_lo):
        t = u * u
        p = c_hi * t
        d = _two_prod_err(c_hi, t, p) + c_hi * _two_prod_err(u, u, t) + c_lo * t
        d = d if d == d else zero
        r = _exp(p)
        return r + r * d

    return {name: _dev(f) for name, f in locals().items() if isinstance(f, _FunctionType) and not name.startswith("_")}


_f64 = _make(_D)
_f32 = _make(_F)

exp_f64, expm1_f64, log_f64, log1p_f64 = _f64["exp"], _f64["expm1"], _f64["log"], _f64["log1p"]
tanh_f64, erf_f64, erfc_f64 = _f64["tanh"], _f64["erf"], _f64["erfc"]
sigmoid_f64, softplus_f64, cosh_f64, sinh_f64 = _f64["sigmoid"], _f64["softplus"], _f64["cosh"], _f64["sinh"]
sech2_f64, erfc_scaled_f64, exp_sq_f64 = _f64["sech2"], _f64["erfc_scaled"], _f64["exp_sq"]
exp_f32, expm1_f32, log_f32, log1p_f32 = _f32["exp"], _f32["expm1"], _f32["log"], _f32["log1p"]
tanh_f32, erf_f32, erfc_f32 = _f32["tanh"], _f32["erf"], _f32["erfc"]
sigmoid_f32, softplus_f32, cosh_f32, sinh_f32 = _f32["sigmoid"], _f32["softplus"], _f32["cosh"], _f32["sinh"]
sech2_f32, erfc_scaled_f32, exp_sq_f32 = _f32["sech2"], _f32["erfc_scaled"], _f32["exp_sq"]
