"""Numba kernels of the selection maps of issue 15: k-winners-take-all, hardmax, ev-softmax's support.

* :func:`kwta_row` -- k-WTA (Xiao, Zhong & Zheng 2020): :math:`y_i = x_i` if fewer than ``k``
  kept entries are strictly larger, else 0 (ties at the k-th value all kept, as the catalog
  entry); the k-th largest value by an in-place quickselect (branch-free three-way partition,
  median of three), O(n) expected. The Jacobian is :math:`\\mathrm{diag}(\\text{kept})` (locally constant selection).
* :func:`gate_row` -- the DeepSeek-V3 sigmoid top-k gate (selection of the ``k`` largest
  :math:`s_i + b_i`, :math:`s = \\mathrm{sigmoid}(x)`, then :math:`s` renormalized over it), fused
  (see :mod:`funclib.kernels.rowwise.routers` for the definition and conventions).
* :func:`hardmax_row` -- :math:`y_i = [x_i = \\max x]/\\#\\{j : x_j = \\max x\\}` (ONNX ``Hardmax``
  with ties shared equally, the catalog's convention); its Jacobian is 0.
* :func:`ev_support_row` -- ev-softmax's support (Chen et al. 2021): the kept entries with
  :math:`x_i \\ge \\bar x`, decided as :math:`n x_i \\ge \\sum_j x_j` with :math:`n x_i` exact (FMA)
  and the sum compensated (Neumaier), so ties with the mean are decided exactly unless the row
  sum is itself below the compensated sum's error :math:`O(n\\varepsilon^2)\\sum_j|x_j|`. The
  softmax over that support is the softmax kernel with the support as its mask.

Conventions: masked and ``-inf`` entries are left out (mask rule ``remove``; hardmax: ``limit``,
the same value) and get 0; a row with no kept entry gives zeros; a kept NaN gives NaN at the kept
entries; ``+inf`` is an ordinary largest value for k-WTA and hardmax (it wins).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from .. import numba_cache  # noqa: F401 - Numba caches go to the funclib cache, not the package

from funclib.kernels.mathlib.intrinsics import fma
from funclib.kernels.rowwise.scalar_math import vexp
from funclib.kernels.rowwise.reduce import JIT, JIT_PARALLEL, fill
from funclib.kernels.rowwise.weighted import pow2_scale, row_extremes

__all__ = ["kth_largest", "kwta_row", "kwta_serial", "kwta_parallel", "gate_row", "gate_serial", "gate_parallel", "hardmax_row", "hardmax_serial",
           "hardmax_parallel", "ev_support_row", "ev_support_serial", "ev_support_parallel"]


@njit(**JIT)
def _partition(a, lo, hi, pivot, strict):
    """Move the entries of ``a[lo:hi+1]`` that are ``> pivot`` (``>=`` if not ``strict``) to the
    front; return the end of that block. Branch-free (the swap is two selects): with a branch on
    the comparison, random rows mispredict half the time (3x slower here)."""
    store = lo
    for i in range(lo, hi + 1):
        v = a[i]
        c = (v > pivot) if strict else (v >= pivot)
        t = a[store]
        a[i] = t if c else v
        a[store] = v if c else t
        store += 1 if c else 0
    return store


@njit(**JIT)
def kth_largest(a, cnt, k):
    """The ``k``-th largest (1-based, with multiplicity) of ``a[:cnt]``, reordering ``a`` (NaN-free).

    Quickselect with a median-of-three pivot and a three-way split (larger, equal, smaller), so
    rows of ties take one pass.
    """
    lo = 0
    hi = cnt - 1
    t = k - 1
    while lo < hi:
        mid = (lo + hi) >> 1
        p, q, r = a[lo], a[mid], a[hi]
        pivot = max(min(p, q), min(max(p, q), r))
        s1 = _partition(a, lo, hi, pivot, True)  # a[lo:s1] > pivot
        if t < s1:
            hi = s1 - 1
            continue
        s2 = _partition(a, s1, hi, pivot, False)  # a[s1:s2] == pivot (s2 > s1: the pivot is an entry)
        if t < s2:
            return pivot
        lo = s2
    return a[t]


@njit(**JIT)
def kwta_row(x, w, mk, has_mask, k, buf, out):
    """``w_i`` where k-WTA selects ``x_i``, else 0 (``w = x``: the value; a tangent or cotangent:
    the JVP/VJP, the Jacobian being the diagonal selection); ``buf`` float64 scratch."""
    dt = x.dtype.type
    cnt = 0
    bad = False
    for i in range(x.shape[0]):
        xi = np.float64(x[i])
        if not (mk[i if has_mask else 0] & (xi != -np.inf)):
            continue
        bad = bad or np.isnan(xi)
        buf[cnt] = xi
        cnt += 1
    kth = -np.inf if (cnt <= k or bad) else kth_largest(buf, cnt, k)
    for i in range(x.shape[0]):
        xi = np.float64(x[i])
        if not (mk[i if has_mask else 0] & (xi != -np.inf)):
            out[i] = dt(0.0)
        elif bad:
            out[i] = dt(np.nan)
        else:
            out[i] = dt(w[i]) if xi >= kth else dt(0.0)


@njit(**JIT)
def kwta_serial(x, w, mk, has_mask, k, out):
    """Row loop of :func:`kwta_row`."""
    buf = np.empty(x.shape[1])
    for r in range(x.shape[0]):
        kwta_row(x[r], w[r], mk[r if has_mask else 0], has_mask, k, buf, out[r])


@njit(**JIT_PARALLEL)
def kwta_parallel(x, w, mk, has_mask, k, out):
    """Parallel :func:`kwta_serial` (chunks of rows with their own scratch; bitwise equal)."""
    rows = x.shape[0]
    nch = min(rows, 256)
    for c in prange(nch):
        ci = np.int64(c)
        buf = np.empty(x.shape[1])
        for r in range(ci * rows // nch, (ci + 1) * rows // nch):
            kwta_row(x[r], w[r], mk[r if has_mask else 0], has_mask, k, buf, out[r])


@njit(**JIT)
def gate_row(x, b, mk, has_mask, k, buf, s, g):
    """DeepSeek-V3 gate of one row: ``s`` = sigmoid(x) (0 at masked entries, the limit), ``g`` the
    gates: ``s`` renormalized over the ``k`` largest ``s + b`` (ties kept); float64 outputs."""
    n = x.shape[0]
    nan_count = 0
    for i in range(n):  # branch-free, vectorizable exponential
        xi = np.float64(x[i])
        kept = mk[i if has_mask else 0] & (xi != -np.inf)
        e = vexp(-abs(xi))
        si = (1.0 / (1.0 + e) if xi >= 0.0 else e / (1.0 + e)) if kept else 0.0
        nan_count += 1 if (kept & (xi != xi)) else 0
        s[i] = si
        buf[i] = si + b[i]
    bad = nan_count > 0
    kth = -np.inf if (n <= k or bad) else kth_largest(buf, n, k)
    total = 0.0
    for i in range(n):
        total += s[i] if s[i] + b[i] >= kth else 0.0
    for i in range(n):
        kept = mk[i if has_mask else 0] & (np.float64(x[i]) != -np.inf)
        if not kept:
            g[i] = 0.0
        elif bad:
            g[i] = np.nan
        else:
            g[i] = s[i] / total if (s[i] + b[i] >= kth and total > 0.0) else 0.0


@njit(**JIT)
def gate_serial(x, b, mk, has_mask, k, s, g):
    """Row loop of :func:`gate_row`."""
    buf = np.empty(x.shape[1])
    for r in range(x.shape[0]):
        gate_row(x[r], b[r], mk[r if has_mask else 0], has_mask, k, buf, s[r], g[r])


@njit(**JIT_PARALLEL)
def gate_parallel(x, b, mk, has_mask, k, s, g):
    """Parallel :func:`gate_serial` (chunks of rows with their own scratch; bitwise equal)."""
    rows = x.shape[0]
    nch = min(rows, 256)
    for c in prange(nch):
        ci = np.int64(c)
        buf = np.empty(x.shape[1])
        for r in range(ci * rows // nch, (ci + 1) * rows // nch):
            gate_row(x[r], b[r], mk[r if has_mask else 0], has_mask, k, buf, s[r], g[r])


@njit(**JIT)
def hardmax_row(x, mk, has_mask, out):
    """Hardmax of one row: the maxima share the mass equally."""
    dt = x.dtype.type
    m, _, cnt = row_extremes(x, mk, has_mask)
    if cnt == 0:
        fill(out, dt(0.0))
        return
    ties = 0
    for i in range(x.shape[0]):
        kept = mk[i if has_mask else 0]
        ties += 1 if (kept and np.float64(x[i]) == m) else 0
    w = dt(1.0 / ties) if ties > 0 else dt(np.nan)  # ties = 0: the maximum is NaN
    for i in range(x.shape[0]):
        xi = np.float64(x[i])
        if not (mk[i if has_mask else 0] & (xi != -np.inf)):
            out[i] = dt(0.0)
        elif np.isnan(m):
            out[i] = dt(np.nan)
        else:
            out[i] = w if xi == m else dt(0.0)


@njit(**JIT)
def hardmax_serial(x, mk, has_mask, out):
    """Row loop of :func:`hardmax_row`."""
    for r in range(x.shape[0]):
        hardmax_row(x[r], mk[r if has_mask else 0], has_mask, out[r])


@njit(**JIT_PARALLEL)
def hardmax_parallel(x, mk, has_mask, out):
    """Parallel :func:`hardmax_serial`."""
    for r in prange(x.shape[0]):
        hardmax_row(x[r], mk[r if has_mask else r - r], has_mask, out[r])


@njit(**JIT)
def ev_support_row(x, mk, has_mask, keep):
    """``keep[i]`` = kept and :math:`x_i \\ge` the mean of the kept entries (all kept entries if
    the row holds NaN or ``+inf``, so that the softmax kernel returns its NaN row)."""
    m, lo, cnt = row_extremes(x, mk, has_mask)
    if cnt == 0 or not m < np.inf:
        for i in range(x.shape[0]):
            keep[i] = mk[i if has_mask else 0] & (np.float64(x[i]) != -np.inf)
        return
    c = pow2_scale(max(abs(m), abs(lo)))  # exact scaling: no overflow of the sum
    s = 0.0
    comp = 0.0
    for i in range(x.shape[0]):
        xi = np.float64(x[i])
        if not (mk[i if has_mask else 0] & (xi != -np.inf)):
            continue
        v = xi * c
        t = s + v
        comp += (s - t) + v if abs(s) >= abs(v) else (v - t) + s  # Neumaier
        s = t
    n = np.float64(cnt)
    for i in range(x.shape[0]):
        xi = np.float64(x[i])
        if not (mk[i if has_mask else 0] & (xi != -np.inf)):
            keep[i] = False
            continue
        p = n * (xi * c)
        perr = fma(n, xi * c, -p)  # n x_i = p + perr exactly
        keep[i] = (p - s) + (perr - comp) >= 0.0


@njit(**JIT)
def ev_support_serial(x, mk, has_mask, keep):
    """Row loop of :func:`ev_support_row`."""
    for r in range(x.shape[0]):
        ev_support_row(x[r], mk[r if has_mask else 0], has_mask, keep[r])


@njit(**JIT_PARALLEL)
def ev_support_parallel(x, mk, has_mask, keep):
    """Parallel :func:`ev_support_serial`."""
    for r in prange(x.shape[0]):
        ev_support_row(x[r], mk[r if has_mask else r - r], has_mask, keep[r])
