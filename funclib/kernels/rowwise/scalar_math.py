"""Vectorizable scalar math for the row-wise kernels (Numba, float32 and float64).

Numba's ``math.exp`` is a scalar libm call that blocks SIMD vectorization, so the softmax
family evaluates the exponential itself:

.. math::

   e^x = 2^n \\, e^r, \\qquad n = \\operatorname{rint}(x \\log_2 e), \\qquad
   r = x - n \\ln 2 \\in [-\\tfrac{\\ln 2}{2}, \\tfrac{\\ln 2}{2}],

with :math:`r` computed by two fused multiply-adds against a two-word :math:`\\ln 2`
(Cody & Waite), :math:`e^r = 1 + r + r^2 Q(r)` with a minimax polynomial :math:`Q` and
:math:`2^n` built from its bits. The pair :math:`(e^r, n)` is exactly the (mantissa,
exponent) representation of the Two-Pass softmax algorithm (Dukhan & Ablavatski 2020), so
:func:`exp_reduce` returns it directly.

Every helper here is dispatched on the argument's type (``numba.extending.overload``), so a
float32 kernel only ever sees float32 literals and computes in float32.

The polynomial :math:`Q` and the ``fma`` intrinsic are shared with
:mod:`funclib.kernels.mathlib.vecmath` (:mod:`funclib.kernels.mathlib.coefficients`, degree 10 for float64 and
4 for float32, relative minimax error ``6.1e-18`` and ``1.3e-7``). The range reduction is
this module's own: the Two-Pass algorithm needs :func:`exp_reduce` unclamped up to
``TWO_PASS_LIMIT`` (vecmath's exp clamps at the overflow thresholds) and :func:`vexp_sub`
carries the TwoSum error of ``a - b`` into the reduced argument.
``tests/test_rowwise_kernels.py`` checks the results against mpmath in ULPs.

References
----------
.. [1] W. J. Cody and W. Waite, *Software Manual for the Elementary Functions*,
   Prentice-Hall 1980 (two-constant range reduction).
.. [2] M. Dukhan and A. Ablavatski, "The Two-Pass Softmax Algorithm", arXiv:2001.04438 (2020).
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic, overload

from .. import numba_cache  # noqa: F401 - Numba caches go to the funclib cache, not the package

from ..mathlib import coefficients as _coefficients
from ..mathlib.intrinsics import fma

__all__ = [
    "exp2i",
    "fma",
    "fmaximum",
    "fminimum",
    "vexp",
    "vexp_sub",
    "exp_reduce",
    "scale_pow2",
    "sub_n_ln2",
    "log2e",
    "exp_kernel",
    "exp_reduce_kernel",
    "TWO_PASS_LIMIT",
]

# --------------------------------------------------------------------------------------
# LLVM intrinsics
# --------------------------------------------------------------------------------------


def _float_ir(ty):
    return ir.FloatType() if ty == types.float32 else ir.DoubleType()


def _llvm_name(ty):
    return "f32" if ty == types.float32 else "f64"


@intrinsic
def exp2i(typingctx, n):
    """``2**n`` for an integer-valued float ``n`` in the normal exponent range (bit construction)."""
    if n == types.float32:
        ity, fty, bias, shift = ir.IntType(32), ir.FloatType(), 127, 23
    elif n == types.float64:
        ity, fty, bias, shift = ir.IntType(64), ir.DoubleType(), 1023, 52
    else:
        return None

    def codegen(context, builder, sig, args):
        k = builder.fptosi(args[0], ity)
        k = builder.add(k, ir.Constant(ity, bias))
        k = builder.shl(k, ir.Constant(ity, shift))
        return builder.bitcast(k, fty)

    return n(n), codegen


def _binary_intrinsic(name):
    def typer(typingctx, a, b):
        if a != b or a not in (types.float32, types.float64):
            return None

        def codegen(context, builder, sig, args):
            fty = _float_ir(a)
            fnty = ir.FunctionType(fty, [fty, fty])
            fn = cgutils.get_or_insert_function(builder.module, fnty, f"llvm.{name}.{_llvm_name(a)}")
            return builder.call(fn, args)

        return a(a, b), codegen

    typer.__name__ = f"_{name}"
    return intrinsic(typer)


fmaximum = _binary_intrinsic("maximum")
fmaximum.__doc__ = "IEEE 754-2019 ``maximum``: NaN-propagating max (``llvm.maximum``); vectorizes as a reduction."
fminimum = _binary_intrinsic("minimum")
fminimum.__doc__ = "IEEE 754-2019 ``minimum``: NaN-propagating min (``llvm.minimum``)."


# --------------------------------------------------------------------------------------
# Constants
# --------------------------------------------------------------------------------------

# Q(r) = (e^r - 1 - r)/r^2 on [-ln2/2, ln2/2]: the same minimax polynomials as
# funclib.kernels.mathlib.vecmath's exp (funclib.kernels.mathlib.coefficients, from funclib.kernels.mathlib.remez).
_Q64 = _coefficients.EXP_F64
_Q32 = _coefficients.EXP_F32

#: ``|x|`` up to which :func:`exp_reduce` is accurate (|n| < 2**16 / 2**21 keeps the
#: two-word reduction's error below 1e-11 / 1e-27 absolute).
TWO_PASS_LIMIT = {np.dtype(np.float32): 32768.0, np.dtype(np.float64): 1048576.0}


class _Consts:
    def __init__(self, dt, q, ln2_hi, ln2_lo, log2e, lo, hi, emin, emax):
        f = dt.type
        self.q = tuple(f(c) for c in q)
        self.ln2_hi, self.ln2_lo, self.log2e = f(ln2_hi), f(ln2_lo), f(log2e)
        self.lo, self.hi = f(lo), f(hi)  # exp(lo) rounds to 0, exp(hi) overflows
        self.emin, self.emax = f(emin), f(emax)  # normal exponent range
        self.one = f(1.0)


_C32 = _Consts(np.dtype(np.float32), _Q32, float.fromhex("0x1.62e43p-1"), -float.fromhex("0x1.05c61p-29"),
               float.fromhex("0x1.715476p+0"), -104.0, 89.0, -126.0, 127.0)
_C64 = _Consts(np.dtype(np.float64), _Q64, float.fromhex("0x1.62e42fefa39efp-1"),
               float.fromhex("0x1.abc9e3b39803fp-56"), float.fromhex("0x1.71547652b82fep+0"),
               -746.0, 710.0, -1022.0, 1023.0)


def _consts(ty):
    if ty == types.float32:
        return _C32
    if ty == types.float64:
        return _C64
    return None


# --------------------------------------------------------------------------------------
# exp, exp_reduce, scale_pow2
# --------------------------------------------------------------------------------------


def _horner_q(C):
    q = C.q
    if len(q) == 5:
        q0, q1, q2, q3, q4 = q

        @njit(inline="always")
        def poly(r):
            p = fma(q4, r, q3)
            p = fma(p, r, q2)
            p = fma(p, r, q1)
            return fma(p, r, q0)

        return poly
    q0, q1, q2, q3, q4, q5, q6, q7, q8, q9, q10 = q

    @njit(inline="always")
    def poly(r):
        p = fma(q10, r, q9)
        p = fma(p, r, q8)
        p = fma(p, r, q7)
        p = fma(p, r, q6)
        p = fma(p, r, q5)
        p = fma(p, r, q4)
        p = fma(p, r, q3)
        p = fma(p, r, q2)
        p = fma(p, r, q1)
        return fma(p, r, q0)

    return poly


def log2e(x):
    """``log2(e)`` rounded to the type of ``x``."""
    raise NotImplementedError("log2e is only callable from Numba-compiled code")


@overload(log2e)
def _ov_log2e(x):
    C = _consts(x)
    if C is None:
        return None
    v = C.log2e
    return lambda x: v


def exp_reduce(x):
    """Return ``(m, n)`` with ``e**x = m * 2**n``, ``m`` in ``[1/sqrt 2, sqrt 2]``, ``n`` integer-valued.

    Accurate (about 1 ULP in ``m``) for ``|x| <= TWO_PASS_LIMIT[dtype]``; the caller clamps.
    """
    raise NotImplementedError("exp_reduce is only callable from Numba-compiled code")


def vexp(x):
    """``e**x`` for every float (0 for ``-inf``, ``inf`` on overflow, NaN kept, gradual underflow)."""
    raise NotImplementedError("vexp is only callable from Numba-compiled code")


def vexp_sub(a, b):
    """``e**(a - b)`` with the difference kept exact (Knuth's TwoSum) through the reduction."""
    raise NotImplementedError("vexp_sub is only callable from Numba-compiled code")


def sub_n_ln2(v, n):
    """``v - n*ln 2`` with a two-word ``ln 2`` (accurate when ``v`` is close to ``n ln 2``)."""
    raise NotImplementedError("sub_n_ln2 is only callable from Numba-compiled code")


def scale_pow2(v, d):
    """``v * 2**d`` for integer-valued ``d <= 1`` with gradual underflow (``d`` may be ``-inf``)."""
    raise NotImplementedError("scale_pow2 is only callable from Numba-compiled code")


@overload(exp_reduce, jit_options={"error_model": "numpy"})
def _ov_exp_reduce(x):
    C = _consts(x)
    if C is None:
        return None
    poly = _horner_q(C)
    log2e, ln2_hi, ln2_lo, one = C.log2e, C.ln2_hi, C.ln2_lo, C.one

    def impl(x):
        n = np.rint(x * log2e)
        r = fma(-n, ln2_hi, x)
        r = fma(-n, ln2_lo, r)
        m = fma(r * r, poly(r), r) + one
        return m, n

    return impl


@overload(scale_pow2, jit_options={"error_model": "numpy"})
def _ov_scale_pow2(v, d):
    C = _consts(v)
    if C is None or d != v:
        return None
    emin, emax = C.emin, C.emax
    dmin = emin + emin

    def impl(v, d):
        d = d if d > dmin else dmin  # also maps -inf and NaN to dmin
        d = d if d < emax else emax
        d1 = d if d > emin else emin
        return (v * exp2i(d1)) * exp2i(d - d1)

    return impl


@overload(vexp_sub, jit_options={"error_model": "numpy"})
def _ov_vexp_sub(a, b):
    C = _consts(a)
    if C is None or b != a:
        return None
    poly = _horner_q(C)
    log2e, ln2_hi, ln2_lo, one = C.log2e, C.ln2_hi, C.ln2_lo, C.one
    lo, hi, emin, emax = C.lo, C.hi, C.emin, C.emax
    d2lo = emin + emin
    zero = C.one - C.one

    def impl(a, b):
        # s + err == a - b exactly (TwoSum); err is dropped where s is clamped, infinite or NaN.
        s = a - b
        bp = s - a
        ap = s - bp
        err = (a - ap) - (b + bp)
        xc = lo if s < lo else s
        xc = hi if xc > hi else xc
        err = err if xc == s else zero  # |err| <= ulp(s)/2 matters only inside the range
        n = np.rint(xc * log2e)
        r = fma(-n, ln2_hi, xc)
        r = fma(-n, ln2_lo, r) + err
        m = fma(r * r, poly(r), r) + one
        n = n if n > d2lo else d2lo
        n1 = n if n > emin else emin
        n1 = n1 if n1 < emax else emax
        return (m * exp2i(n1)) * exp2i(n - n1)

    return impl


@overload(sub_n_ln2, jit_options={"error_model": "numpy"})
def _ov_sub_n_ln2(v, n):
    C = _consts(v)
    if C is None or n != v:
        return None
    ln2_hi, ln2_lo = C.ln2_hi, C.ln2_lo

    def impl(v, n):
        return fma(-n, ln2_lo, fma(-n, ln2_hi, v))

    return impl


@overload(vexp, jit_options={"error_model": "numpy"})
def _ov_vexp(x):
    C = _consts(x)
    if C is None:
        return None
    poly = _horner_q(C)
    log2e, ln2_hi, ln2_lo, one = C.log2e, C.ln2_hi, C.ln2_lo, C.one
    lo, hi, emin, emax = C.lo, C.hi, C.emin, C.emax
    d2lo = emin + emin

    def impl(x):
        xc = lo if x < lo else x  # NaN passes through
        xc = hi if xc > hi else xc
        n = np.rint(xc * log2e)
        r = fma(-n, ln2_hi, xc)
        r = fma(-n, ln2_lo, r)
        m = fma(r * r, poly(r), r) + one
        n = n if n > d2lo else d2lo  # NaN -> finite, keeps exp2i defined
        n1 = n if n > emin else emin
        n1 = n1 if n1 < emax else emax
        return (m * exp2i(n1)) * exp2i(n - n1)

    return impl


@njit(cache=True, error_model="numpy")
def exp_kernel(x, out):
    """``out[i] = vexp(x[i])`` over 1-D arrays (used by the ULP tests and the docs)."""
    for i in range(x.shape[0]):
        out[i] = vexp(x[i])


@njit(cache=True, error_model="numpy")
def exp_reduce_kernel(x, m, n):
    """``(m[i], n[i]) = exp_reduce(x[i])`` over 1-D arrays (tests)."""
    for i in range(x.shape[0]):
        a, b = exp_reduce(x[i])
        m[i] = a
        n[i] = b
