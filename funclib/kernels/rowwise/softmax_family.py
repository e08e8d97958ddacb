"""Numba kernels of the softmax family over the rows of a C-contiguous 2-D array.

Each row ``x`` (length ``n``, boolean ``mask`` with ``True`` = kept) is mapped with a scale
``c`` (``c = 1`` for softmax, ``c = s log n_kept`` for SSMax) to

.. math::

   y_i = \\frac{e^{c x_i}}{\\sum_{j\\,\\mathrm{kept}} e^{c x_j}}, \\qquad
   \\log y_i = c x_i - \\log \\sum_{j\\,\\mathrm{kept}} e^{c x_j},

in one of three published algorithms, each its own row kernel:

``three_pass`` (:func:`softmax_row_three`)
    the safe softmax: pass 1 the maximum :math:`m`, pass 2 :math:`e^{c x_i - m}` stored and
    summed, pass 3 the scaling (log-softmax: pass 2 only sums, pass 3 writes
    :math:`(c x_i - m) - \\log s`).
``online`` (:func:`softmax_row_online`)
    Milakov & Gimelshein (2018): the pair :math:`(m, d)` of running maximum and normalizer is
    built in one pass with the associative merge
    :math:`(m_1, d_1) \\oplus (m_2, d_2) = (\\max, d_1 e^{m_1 - \\max} + d_2 e^{m_2 - \\max})`
    (here per block of ``BLOCK`` elements, whose max and sum vectorize), then one output pass.
``two_pass`` (:func:`softmax_row_two`)
    Dukhan & Ablavatski (2020): every :math:`e^{c x_i}` is kept as a (mantissa, exponent)
    pair :math:`m_i 2^{n_i}` that cannot overflow, the pairs are summed against a running
    maximum exponent (per block), and the output pass recomputes the pairs and scales them by
    :math:`2^{n_i - N} / V`; no separate max pass. The pair reduction is exact only for
    :math:`|c x_i| \\le` ``TWO_PASS_LIMIT`` (32768 in float32, 2**20 in float64); a row
    outside that range (or holding NaN) is recomputed with the three-pass kernel.

Conventions: masked entries give 0 (softmax) / ``-inf`` (log-softmax); a row with no kept
entry gives all zeros / all ``-inf``; a kept NaN, or a row whose kept entries are all
``-inf``, gives NaN (as ``torch.softmax``). Sums are float64; the element math is in the
input dtype.

Derivatives use the closed-form Jacobians :math:`J = c(\\mathrm{diag}(y) - y y^\\top)`
(softmax, SSMax; symmetric, so JVP and VJP share :func:`sym_product_row`) and
:math:`J = I - \\mathbf{1} y^\\top` (log-softmax).

References
----------
.. [1] M. Milakov and N. Gimelshein, "Online normalizer calculation for softmax",
   arXiv:1805.02867 (2018).
.. [2] M. Dukhan and A. Ablavatski, "The Two-Pass Softmax Algorithm", arXiv:2001.04438 (2020).
.. [3] K. M. Nakanishi, "Scalable-Softmax Is Superior for Attention", arXiv:2501.19399 (2025).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from .. import numba_cache  # noqa: F401 - Numba caches go to the funclib cache, not the package

from funclib.kernels.rowwise.scalar_math import exp_reduce, log2e, scale_pow2, sub_n_ln2, vexp, vexp_sub
from funclib.kernels.rowwise.reduce import (
    JIT,
    JIT_PARALLEL,
    count_kept,
    dot_masked,
    fill,
    masked_max,
    sum_exp,
    sum_exp_store,
    sum_ext_exp,
    sum_masked,
)

__all__ = [
    "ALGORITHMS",
    "BLOCK",
    "softmax_row_three",
    "softmax_row_online",
    "softmax_row_two",
    "sym_product_row",
    "log_softmax_product_row",
    "softmax_serial",
    "softmax_parallel",
    "logsumexp_serial",
    "logsumexp_parallel",
    "sym_product_serial",
    "sym_product_parallel",
    "log_softmax_product_serial",
    "log_softmax_product_parallel",
    "ssmax_s_grad_serial",
]

#: Algorithm name -> code passed to the kernels.
ALGORITHMS = {"three_pass": 0, "online": 1, "two_pass": 2}
#: Block length of the online and two-pass reductions (fits L1 with room to spare).
BLOCK = 1024





@njit(**JIT)
def _row_scale(x, mk, has_mask, ssmax, s):
    """``(kept count, c)`` of a row; ``c = s log(count)`` for SSMax, else 1."""
    n = x.shape[0]
    cnt = count_kept(mk) if has_mask else n
    one = x.dtype.type(1.0)
    if ssmax:
        c = x.dtype.type(s * math.log(cnt)) if cnt > 0 else one
    else:
        c = one
    return cnt, c


@njit(**JIT)
def _write_log(x, mk, has_mask, c, m, ls, out):
    """``out[i] = (c x_i - m) - ls`` (``-inf`` where masked)."""
    ninf = x.dtype.type(-np.inf)
    if has_mask:
        for i in range(x.shape[0]):
            out[i] = ((c * x[i] - m) - ls) if mk[i] else ninf
    else:
        for i in range(x.shape[0]):
            out[i] = (c * x[i] - m) - ls


@njit(**JIT)
def softmax_row_three(x, mk, has_mask, c, log, out):
    """Three-pass safe (log-)softmax of one row with scale ``c``."""
    n = x.shape[0]
    m = masked_max(x, mk, has_mask, c)
    if log:
        s = sum_exp(x, mk, has_mask, c, m)
        _write_log(x, mk, has_mask, c, m, x.dtype.type(math.log(s)), out)
    else:
        s = sum_exp_store(x, mk, has_mask, c, m, out)
        w = x.dtype.type(1.0 / s)
        for i in range(n):
            out[i] = out[i] * w


@njit(**JIT)
def softmax_row_online(x, mk, has_mask, c, log, out):
    """Online-normalizer (log-)softmax of one row: one pass for ``(m, d)``, one output pass."""
    n = x.shape[0]
    ninf = x.dtype.type(-np.inf)
    m = ninf
    d = 0.0
    for lo in range(0, n, BLOCK):
        hi = min(lo + BLOCK, n)
        xb = x[lo:hi]
        mkb = mk[lo:hi] if has_mask else mk
        mb = masked_max(xb, mkb, has_mask, c)
        if mb == ninf:
            continue
        db = sum_exp(xb, mkb, has_mask, c, mb)
        if mb > m:
            d = d * math.exp(np.float64(m) - np.float64(mb)) + db
            m = mb
        else:
            d = d + db * math.exp(np.float64(mb) - np.float64(m))
    if log:
        _write_log(x, mk, has_mask, c, m, x.dtype.type(math.log(d)), out)
        return
    w = x.dtype.type(1.0 / d)
    zero = x.dtype.type(0.0)
    if has_mask:
        for i in range(n):
            v = c * x[i] if mk[i] else ninf
            e = vexp_sub(v, m) * w
            out[i] = e if mk[i] else zero
    else:
        for i in range(n):
            out[i] = vexp_sub(c * x[i], m) * w


@njit(**JIT)
def softmax_row_two(x, mk, has_mask, c, log, out):
    """Two-Pass (log-)softmax of one row with (mantissa, exponent) accumulation.

    Falls back to :func:`softmax_row_three` when a kept ``c x_i`` is NaN or outside
    ``[-TWO_PASS_LIMIT + margin, TWO_PASS_LIMIT]`` for the row maximum.
    """
    n = x.shape[0]
    dt = x.dtype.type
    f32 = x.itemsize == 4
    limit = dt(32768.0) if f32 else dt(1048576.0)  # scalar_math.TWO_PASS_LIMIT
    margin = dt(110.0) if f32 else dt(800.0)
    floor = -(limit + margin)
    ninf = dt(-np.inf)
    l2e = log2e(dt(1.0))
    big_n = ninf
    big_v = 0.0
    row_max = ninf
    ok = True
    for lo in range(0, n, BLOCK):
        hi = min(lo + BLOCK, n)
        xb = x[lo:hi]
        mkb = mk[lo:hi] if has_mask else mk
        mb = masked_max(xb, mkb, has_mask, c)
        if not (mb <= limit):
            ok = False
            break
        row_max = max(row_max, mb)
        if mb <= floor:
            continue
        nb = np.rint(mb * l2e)
        vb = sum_ext_exp(xb, mkb, has_mask, c, floor, nb)
        if nb > big_n:
            big_v = scale_pow2(big_v, np.float64(big_n) - np.float64(nb)) + vb
            big_n = nb
        else:
            big_v = big_v + scale_pow2(vb, np.float64(nb) - np.float64(big_n))
    if not ok or not (row_max >= floor + margin + margin):
        softmax_row_three(x, mk, has_mask, c, log, out)
        return
    if log:
        lv = dt(math.log(big_v))
        if has_mask:
            for i in range(n):
                out[i] = (sub_n_ln2(c * x[i], big_n) - lv) if mk[i] else ninf
        else:
            for i in range(n):
                out[i] = sub_n_ln2(c * x[i], big_n) - lv
        return
    vd = dt(big_v)  # divide (not multiply by 1/V): a lone entry gives exactly m/m = 1
    zero = dt(0.0)
    if has_mask:
        for i in range(n):
            v = c * x[i] if mk[i] else floor
            v = v if v > floor else floor
            mant, ex = exp_reduce(v)
            e = scale_pow2(mant / vd, ex - big_n)
            out[i] = e if mk[i] else zero
    else:
        for i in range(n):
            v = c * x[i]
            v = v if v > floor else floor
            mant, ex = exp_reduce(v)
            out[i] = scale_pow2(mant / vd, ex - big_n)


@njit(**JIT)
def softmax_row(x, mk, has_mask, algo, log, ssmax, s, out):
    """Dispatch one row to the chosen algorithm; fully masked rows give 0 / ``-inf``."""
    cnt, c = _row_scale(x, mk, has_mask, ssmax, s)
    if cnt == 0:
        fill(out, x.dtype.type(-np.inf) if log else x.dtype.type(0.0))
        return
    if algo == 0:
        softmax_row_three(x, mk, has_mask, c, log, out)
    elif algo == 1:
        softmax_row_online(x, mk, has_mask, c, log, out)
    else:
        softmax_row_two(x, mk, has_mask, c, log, out)
    if out[0] != out[0]:  # a NaN or all -inf row makes every output NaN: restore the conventions
        _masked_conventions(x, mk, has_mask, log, out)


@njit(**JIT)
def _masked_conventions(x, mk, has_mask, log, out):
    """The catalog's conventions (``mask`` of the softmax entries): an entry that is masked or
    ``-inf`` gives 0 (``-inf`` for log-softmax) whatever the rest of the row holds, and a row
    whose kept entries are all ``-inf`` is fully masked."""
    ninf = x.dtype.type(-np.inf)
    fill = ninf if log else x.dtype.type(0.0)
    full = True
    for i in range(x.shape[0]):
        if (not has_mask or mk[i]) and x[i] != ninf:
            full = False
    for i in range(x.shape[0]):
        if full or (has_mask and not mk[i]) or x[i] == ninf:
            out[i] = fill


@njit(**JIT)
def softmax_serial(x, mk, has_mask, algo, log, ssmax, s, out):
    """Row loop (single thread) of :func:`softmax_row`."""
    for r in range(x.shape[0]):
        softmax_row(x[r], mk[r if has_mask else r - r], has_mask, algo, log, ssmax, s, out[r])


@njit(**JIT_PARALLEL)
def softmax_parallel(x, mk, has_mask, algo, log, ssmax, s, out):
    """Row loop (``prange``) of :func:`softmax_row`; bitwise equal to :func:`softmax_serial`."""
    for r in prange(x.shape[0]):
        softmax_row(x[r], mk[r if has_mask else r - r], has_mask, algo, log, ssmax, s, out[r])


@njit(**JIT)
def _logsumexp_row(x, mk, has_mask):
    one = x.dtype.type(1.0)
    if has_mask and count_kept(mk) == 0:
        return -np.inf
    m = masked_max(x, mk, has_mask, one)
    if m == -np.inf:
        return -np.inf  # every kept entry is -inf: log(0), as for a fully masked row
    s = sum_exp(x, mk, has_mask, one, m)
    return np.float64(m) + math.log(s)


@njit(**JIT)
def logsumexp_serial(x, mk, has_mask, out):
    """``out[r] = log sum_kept exp(x[r, i])`` (three-pass; ``-inf`` for fully masked rows)."""
    for r in range(x.shape[0]):
        out[r] = _logsumexp_row(x[r], mk[r if has_mask else r - r], has_mask)


@njit(**JIT_PARALLEL)
def logsumexp_parallel(x, mk, has_mask, out):
    """Parallel :func:`logsumexp_serial`."""
    for r in prange(x.shape[0]):
        out[r] = _logsumexp_row(x[r], mk[r if has_mask else r - r], has_mask)


# --------------------------------------------------------------------------------------
# Jacobian products
# --------------------------------------------------------------------------------------


@njit(**JIT)
def sym_product_row(y, w, mk, has_mask, c, out):
    """``out = c (diag(y) - y y^T) w = c y * (w - <y, w>)`` over kept entries (0 elsewhere).

    The softmax/SSMax Jacobian is symmetric, so this is both the JVP (``w`` = tangent) and
    the VJP (``w`` = cotangent).
    """
    dt = y.dtype.type
    d = dt(dot_masked(y, w, mk, has_mask))
    zero = dt(0.0)
    if has_mask:
        for i in range(y.shape[0]):
            out[i] = (c * (y[i] * (w[i] - d))) if mk[i] else zero
    else:
        for i in range(y.shape[0]):
            out[i] = c * (y[i] * (w[i] - d))


@njit(**JIT)
def _sym_row(y, w, mk, has_mask, ssmax, s, out):
    cnt, c = _row_scale(y, mk, has_mask, ssmax, s)
    if cnt == 0:
        fill(out, y.dtype.type(0.0))
        return
    sym_product_row(y, w, mk, has_mask, c, out)


@njit(**JIT)
def sym_product_serial(y, w, mk, has_mask, ssmax, s, out):
    """Row loop of :func:`sym_product_row` (``c`` = 1, or ``s log n_kept`` for SSMax)."""
    for r in range(y.shape[0]):
        _sym_row(y[r], w[r], mk[r if has_mask else r - r], has_mask, ssmax, s, out[r])


@njit(**JIT_PARALLEL)
def sym_product_parallel(y, w, mk, has_mask, ssmax, s, out):
    """Parallel :func:`sym_product_serial`."""
    for r in prange(y.shape[0]):
        _sym_row(y[r], w[r], mk[r if has_mask else r - r], has_mask, ssmax, s, out[r])


@njit(**JIT)
def log_softmax_product_row(ly, w, mk, has_mask, vjp, out):
    """Log-softmax Jacobian products from the log-softmax output ``ly`` (``y = exp(ly)``).

    JVP (``vjp=False``): ``out_i = w_i - <y, w>``; VJP: ``out_j = w_j - y_j sum_i w_i``;
    kept entries only, 0 elsewhere (and for fully masked rows).
    """
    n = ly.shape[0]
    dt = ly.dtype.type
    zero = dt(0.0)
    if has_mask and count_kept(mk) == 0:
        fill(out, zero)
        return
    if vjp:
        t = dt(sum_masked(w, mk, has_mask))
        if has_mask:
            for i in range(n):
                out[i] = (w[i] - vexp(ly[i]) * t) if mk[i] else zero
        else:
            for i in range(n):
                out[i] = w[i] - vexp(ly[i]) * t
    else:
        t = 0.0
        for i in range(n):
            if not has_mask or mk[i]:
                t += np.float64(vexp(ly[i])) * np.float64(w[i])
        td = dt(t)
        if has_mask:
            for i in range(n):
                out[i] = (w[i] - td) if mk[i] else zero
        else:
            for i in range(n):
                out[i] = w[i] - td


@njit(**JIT)
def log_softmax_product_serial(ly, w, mk, has_mask, vjp, out):
    """Row loop of :func:`log_softmax_product_row`."""
    for r in range(ly.shape[0]):
        log_softmax_product_row(ly[r], w[r], mk[r if has_mask else r - r], has_mask, vjp, out[r])


@njit(**JIT_PARALLEL)
def log_softmax_product_parallel(ly, w, mk, has_mask, vjp, out):
    """Parallel :func:`log_softmax_product_serial`."""
    for r in prange(ly.shape[0]):
        log_softmax_product_row(ly[r], w[r], mk[r if has_mask else r - r], has_mask, vjp, out[r])


@njit(**JIT)
def ssmax_s_grad_serial(x, y, u, mk, has_mask, out):
    """Per row, ``d<u, y>/ds = log(n_kept) (<u y, x> - <u, y><y, x>)`` (float64).

    Entries with ``y_i = 0`` contribute nothing (they may hold ``x_i = -inf``).
    """
    for r in range(x.shape[0]):
        n = x.shape[1]
        cnt = count_kept(mk[r]) if has_mask else n
        if cnt <= 1:
            out[r] = 0.0
            continue
        uy = 0.0
        uyx = 0.0
        yx = 0.0
        for i in range(n):
            if has_mask and not mk[r, i]:
                continue
            yi = np.float64(y[r, i])
            if yi == 0.0:
                continue
            xi = np.float64(x[r, i])
            ui = np.float64(u[r, i])
            uy += ui * yi
            uyx += ui * yi * xi
            yx += yi * xi
        out[r] = math.log(cnt) * (uyx - uy * yx)
