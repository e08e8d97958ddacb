"""Vectorized row reductions shared by the row-wise kernels (Numba, float32 and float64).

LLVM vectorizes a floating-point sum only when it may reassociate it, so each accumulation
loop lives in its own small function compiled with ``fastmath={"reassoc"}``; the element
math those loops call (:func:`~funclib.kernels.rowwise.scalar_math.vexp_sub`, ...) is compiled
separately without that flag, so reassociation never reaches it. Each inner block of
``SUM_BLOCK`` elements is summed in the input dtype (full SIMD width; every lane adds only a
few terms) and the block sums are added in float64. The summation order is fixed by the compiled code (vector
width and interleave chosen for the machine), so a given machine and build always returns
the same bits, whatever the thread count.

Maxima use ``llvm.maximum`` (:func:`~funclib.kernels.rowwise.scalar_math.fmaximum`), which
propagates NaN and vectorizes without fast-math flags.

Masks are boolean rows; ``has_mask=False`` ignores the mask argument (callers pass a dummy).
A masked entry is replaced by ``-inf`` before any arithmetic.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .. import numba_cache  # noqa: F401 - Numba caches go to the funclib cache, not the package

from funclib.kernels.rowwise.scalar_math import exp_reduce, exp2i, fmaximum, vexp_sub

__all__ = [
    "JIT",
    "JIT_SUM",
    "JIT_PARALLEL",
    "fill",
    "count_kept",
    "masked_max",
    "sum_exp",
    "sum_exp_store",
    "sum_ext_exp",
    "dot_masked",
    "sum_masked",
]

#: Numba options of every row-wise kernel: cached machine code, NumPy's error model (1/0 = inf,
#: not an exception); JIT_SUM lets LLVM reassociate (vectorize) sums; JIT_PARALLEL for the
#: loops over rows.
JIT = dict(cache=True, error_model="numpy")
JIT_SUM = dict(cache=True, error_model="numpy", fastmath={"reassoc"})
JIT_PARALLEL = dict(cache=True, error_model="numpy", parallel=True)

#: Length of the inner blocks summed in the input dtype (each SIMD lane adds only a few
#: terms) before the block sums are added in float64.
SUM_BLOCK = 128

# Every loop below runs over ``range(a.shape[0])`` of a (sliced) array: with a start index
# that Numba cannot prove non-negative it emits negative-index wraparound code, and LLVM then
# assembles vectors element by element instead of loading them.


@njit(**JIT)
def fill(out, v):
    """``out[:] = v`` for a 1-D slice (a loop Numba vectorizes, without a temporary)."""
    for i in range(out.shape[0]):
        out[i] = v


@njit(**JIT)
def count_kept(mk):
    """Number of ``True`` entries of ``mk``."""
    c = 0
    for i in range(mk.shape[0]):
        c += 1 if mk[i] else 0
    return c


@njit(**JIT)
def masked_max(x, mk, has_mask, c):
    """``max(c * x[i])`` over the kept entries (NaN-propagating; ``-inf`` if none)."""
    ninf = x.dtype.type(-np.inf)
    m = ninf
    if has_mask:
        for i in range(x.shape[0]):
            v = c * x[i] if mk[i] else ninf
            m = fmaximum(m, v)
    else:
        for i in range(x.shape[0]):
            m = fmaximum(m, c * x[i])
    return m


@njit(**JIT_SUM)
def _sum_exp_blk(x, mk, has_mask, c, m):
    ninf = x.dtype.type(-np.inf)
    s = x.dtype.type(0.0)
    if has_mask:
        for i in range(x.shape[0]):
            v = c * x[i] if mk[i] else ninf
            s += vexp_sub(v, m)
    else:
        for i in range(x.shape[0]):
            s += vexp_sub(c * x[i], m)
    return s


@njit(**JIT)
def sum_exp(x, mk, has_mask, c, m):
    """``sum exp(c*x[i] - m)`` over the kept entries, returned in float64."""
    n = x.shape[0]
    s = 0.0
    for b in range(0, n, SUM_BLOCK):
        e = min(b + SUM_BLOCK, n)
        s += np.float64(_sum_exp_blk(x[b:e], mk[b:e] if has_mask else mk, has_mask, c, m))
    return s


@njit(**JIT_SUM)
def _sum_exp_store_blk(x, mk, has_mask, c, m, out):
    ninf = x.dtype.type(-np.inf)
    s = x.dtype.type(0.0)
    if has_mask:
        for i in range(x.shape[0]):
            v = c * x[i] if mk[i] else ninf
            e = vexp_sub(v, m)
            out[i] = e
            s += e
    else:
        for i in range(x.shape[0]):
            e = vexp_sub(c * x[i], m)
            out[i] = e
            s += e
    return s


@njit(**JIT)
def sum_exp_store(x, mk, has_mask, c, m, out):
    """``out[i] = exp(c*x[i] - m)`` (0 where masked) and return their sum in float64."""
    n = x.shape[0]
    s = 0.0
    for b in range(0, n, SUM_BLOCK):
        e = min(b + SUM_BLOCK, n)
        s += np.float64(_sum_exp_store_blk(x[b:e], mk[b:e] if has_mask else mk, has_mask, c, m, out[b:e]))
    return s


@njit(**JIT_SUM)
def _sum_ext_exp_blk(x, mk, has_mask, c, floor, big_n):
    dt = x.dtype.type
    zero = dt(0.0)
    emin = dt(-126.0) if x.itemsize == 4 else dt(-1022.0)
    s = zero
    if has_mask:
        for i in range(x.shape[0]):
            v = c * x[i] if mk[i] else floor
            v = v if v > floor else floor
            mant, ex = exp_reduce(v)
            d = ex - big_n
            sc = exp2i(d if d > emin else emin)
            s += (mant * sc) if d >= emin else zero
    else:
        for i in range(x.shape[0]):
            v = c * x[i]
            v = v if v > floor else floor
            mant, ex = exp_reduce(v)
            d = ex - big_n
            sc = exp2i(d if d > emin else emin)
            s += (mant * sc) if d >= emin else zero
    return s


@njit(**JIT)
def sum_ext_exp(x, mk, has_mask, c, floor, big_n):
    """Mantissa sum of the extended exponentials ``e^{c x_i} = m_i 2^{n_i}`` against exponent ``big_n``.

    Returns ``sum m_i 2^{n_i - big_n}`` (float64) over the kept entries, the arguments being
    clamped below at ``floor``; terms with ``n_i - big_n < emin`` count as 0 (as in XNNPACK's
    ``raddextexp``). ``big_n`` must be at least every ``n_i``.
    """
    n = x.shape[0]
    s = 0.0
    for b in range(0, n, SUM_BLOCK):
        e = min(b + SUM_BLOCK, n)
        s += np.float64(_sum_ext_exp_blk(x[b:e], mk[b:e] if has_mask else mk, has_mask, c, floor, big_n))
    return s


@njit(**JIT_SUM)
def _dot_blk(a, b, mk, has_mask):
    s = a.dtype.type(0.0)
    zero = a.dtype.type(0.0)
    if has_mask:
        for i in range(a.shape[0]):
            s += (a[i] * b[i]) if mk[i] else zero
    else:
        for i in range(a.shape[0]):
            s += a[i] * b[i]
    return s


@njit(**JIT)
def dot_masked(a, b, mk, has_mask):
    """``sum a[i]*b[i]`` over kept entries (masked ``b`` entries never enter), in float64."""
    n = a.shape[0]
    s = 0.0
    for k in range(0, n, SUM_BLOCK):
        e = min(k + SUM_BLOCK, n)
        s += np.float64(_dot_blk(a[k:e], b[k:e], mk[k:e] if has_mask else mk, has_mask))
    return s


@njit(**JIT_SUM)
def _sum_blk(a, mk, has_mask):
    s = a.dtype.type(0.0)
    zero = a.dtype.type(0.0)
    if has_mask:
        for i in range(a.shape[0]):
            s += a[i] if mk[i] else zero
    else:
        for i in range(a.shape[0]):
            s += a[i]
    return s


@njit(**JIT)
def sum_masked(a, mk, has_mask):
    """``sum a[i]`` over kept entries, in float64."""
    n = a.shape[0]
    s = 0.0
    for k in range(0, n, SUM_BLOCK):
        e = min(k + SUM_BLOCK, n)
        s += np.float64(_sum_blk(a[k:e], mk[k:e] if has_mask else mk, has_mask))
    return s
