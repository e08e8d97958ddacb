"""Numba kernels of the sparse normalizers: sparsemax, 1.5-entmax and α-entmax.

For :math:`\\alpha \\in (1, 2]` the α-entmax of a row is

.. math::

   p_i = [\\,z_i - \\tau\\,]_+^{1/(\\alpha - 1)}, \\qquad z = (\\alpha - 1)(x - \\max x),
   \\qquad \\sum_i p_i = 1,

(sparsemax is :math:`\\alpha = 2`, the Euclidean projection onto the simplex). The threshold
satisfies :math:`-1 \\le \\tau \\le -n^{1-\\alpha}` (the largest entry alone gives
:math:`[0 - \\tau]^{k} \\le 1`), so only entries with :math:`z_i > -1` can be in the support.
All threshold arithmetic is in float64 (also for float32 inputs); the output is rounded once.

Algorithms (each its own row kernel):

``sparsemax_row_condat``
    Condat (2016), "Fast projection onto the simplex and the l1 ball": a single pass with a
    running threshold over a growing candidate list (discarded candidates set aside and
    re-examined), then removal sweeps; O(n) expected. The row maximum is fed first, so the
    running threshold starts at the bound -1 and most entries cost one comparison. The
    threshold is then recomputed from the identified support with a compensated sum and
    checked against every entry while writing the output (Michelot iterations over the row if
    any entry changed side).
``sparsemax_row_sort``
    the sort-based reference (Martins & Astudillo 2016): the largest :math:`k` with
    :math:`1 + k z_{(k)} > \\sum_{j \\le k} z_{(j)}`.
``entmax15_row_sort``
    exact 1.5-entmax (Peters, Niculae & Martins 2019, Algorithm 2) on the sorted candidates
    :math:`z_i > -1`: the support size is the largest :math:`k` with
    :math:`\\tau_k \\le z_{(k)}`, :math:`\\tau_k = \\mu_k - \\sqrt{(1 - k\\,\\sigma_k^2)/k}`;
    :math:`\\tau` is then recomputed on the support with centred moments.
``entmax_bisect_row``
    bisection on :math:`f(\\tau) = \\sum_i [z_i - \\tau]_+^{1/(\\alpha-1)} - 1` over
    :math:`[-1, -n^{1-\\alpha}]` (Blondel et al. 2019; Peters et al. 2019), stopped as soon as
    no candidate lies strictly inside the bracket (the support is then known), followed by the
    exact support pass: Newton's method from the left end, which converges monotonically
    because :math:`f` is convex and decreasing (for :math:`\\alpha = 2` it is Michelot's
    algorithm and ends in one step).

Jacobian (all maps): :math:`J = \\mathrm{diag}(g) - g g^\\top / \\sum_i g_i` with
:math:`g_i = p_i^{2-\\alpha}` on the support and 0 elsewhere (sparsemax: the support
indicator; 1.5-entmax: :math:`\\sqrt{p}`). :math:`J` is symmetric, so JVP and VJP share
:func:`sparse_product_row`.

Conventions: masked entries give 0; a row with no kept entry gives zeros; a row whose kept
maximum is NaN or infinite (``+inf``, or all kept entries ``-inf``) gives NaN.

References
----------
.. [1] L. Condat, "Fast projection onto the simplex and the l1 ball", Math. Program. 158
   (2016) 575-585.
.. [2] A. F. T. Martins and R. F. Astudillo, "From Softmax to Sparsemax", ICML 2016.
.. [3] B. Peters, V. Niculae and A. F. T. Martins, "Sparse Sequence-to-Sequence Models",
   ACL 2019.
.. [4] M. Blondel, A. F. T. Martins and V. Niculae, "Learning Classifiers with Fenchel-Young
   Losses: Generalized Entropies, Margins, and Algorithms", AISTATS 2019.
.. [5] C. Michelot, "A finite algorithm for finding the projection of a point onto the
   canonical simplex of R^n", J. Optim. Theory Appl. 50 (1986) 195-200.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from .. import numba_cache  # noqa: F401 - Numba caches go to the funclib cache, not the package

from funclib.kernels.rowwise.reduce import JIT, JIT_PARALLEL, JIT_SUM, count_kept, fill, masked_max

__all__ = [
    "KINDS",
    "sparsemax_row_condat",
    "sparsemax_row_sort",
    "entmax15_row_sort",
    "entmax_bisect_row",
    "sparse_product_row",
    "sparse_serial",
    "sparse_parallel",
    "sparse_product_serial",
    "sparse_product_parallel",
]

#: Map name -> code passed to the drivers.
KINDS = {"sparsemax_condat": 0, "sparsemax_sort": 1, "entmax15_sort": 2, "entmax_bisect": 3}





@njit(**JIT)
def _fsum(a, k):
    """Neumaier-compensated sum of ``a[:k]`` (float64)."""
    s = 0.0
    comp = 0.0
    for i in range(k):
        v = a[i]
        t = s + v
        if abs(s) >= abs(v):
            comp += (s - t) + v
        else:
            comp += (v - t) + s
        s = t
    return s + comp


@njit(**JIT)
def _prologue(x, mk, has_mask, out):
    """Kept count and maximum; fills ``out`` and returns ``ok=False`` for the special rows."""
    n = x.shape[0]
    cnt = count_kept(mk) if has_mask else n
    if cnt == 0:
        fill(out, x.dtype.type(0.0))
        return cnt, 0.0, False
    m = masked_max(x, mk, has_mask, x.dtype.type(1.0))
    if m == -np.inf:  # every kept entry is -inf: the row behaves as fully masked
        fill(out, x.dtype.type(0.0))
        return cnt, 0.0, False
    if not np.isfinite(m):
        fill(out, x.dtype.type(np.nan))
        return cnt, 0.0, False
    return cnt, np.float64(m), True


@njit(**JIT)
def _write_power(x, mk, has_mask, m, scale, tau, kpow, kint, out):
    """``out_i = [scale (x_i - m) - tau]_+^kpow`` over the row (0 where masked)."""
    dt = x.dtype.type
    n = x.shape[0]
    if kint == 1:
        for i in range(n):
            w = scale * (np.float64(x[i]) - m) - tau
            w = w if w > 0.0 else 0.0
            out[i] = dt(w) if (not has_mask or mk[i]) else dt(0.0)
    elif kint == 2:
        for i in range(n):
            w = scale * (np.float64(x[i]) - m) - tau
            w = w if w > 0.0 else 0.0
            out[i] = dt(w * w) if (not has_mask or mk[i]) else dt(0.0)
    else:
        for i in range(n):
            w = scale * (np.float64(x[i]) - m) - tau
            if w > 0.0 and (not has_mask or mk[i]):
                out[i] = dt(w**kpow)
            else:
                out[i] = dt(0.0)


@njit(**JIT)
def _support_sum(x, mk, has_mask, m, tau):
    """``(sum z_i, count)`` over kept ``z_i = x_i - m > tau``."""
    s = 0.0
    c = 0
    for i in range(x.shape[0]):
        if has_mask and not mk[i]:
            continue
        z = np.float64(x[i]) - m
        if z > tau:
            s += z
            c += 1
    return s, c


@njit(**JIT)
def _michelot(x, mk, has_mask, m, tau, count):
    """Michelot sweeps ``tau <- (sum_{z > tau} z - 1)/#{z > tau}`` until the support is stable."""
    for _ in range(64):
        s, c = _support_sum(x, mk, has_mask, m, tau)
        if c == 0:
            break
        new = (s - 1.0) / c
        if c == count and new == tau:
            break
        tau = new
        count = c
    return tau


# --------------------------------------------------------------------------------------
# sparsemax
# --------------------------------------------------------------------------------------


@njit(**JIT)
def _first_index(x, mk, has_mask, v):
    """First kept index ``i`` with ``x[i] == v``."""
    for i in range(x.shape[0]):
        if x[i] == v and (not has_mask or mk[i]):
            return i
    return 0


@njit(**JIT)
def _write_sparsemax_checked(x, mk, has_mask, m, tau, nv, out):
    """Write ``[x_i - m - tau]_+``; if the support size differs from ``nv``, refine and rewrite."""
    dt = x.dtype.type
    c = 0
    for i in range(x.shape[0]):
        w = (np.float64(x[i]) - m) - tau
        keep = w > 0.0 and (not has_mask or mk[i])
        c += 1 if keep else 0
        out[i] = dt(w) if keep else dt(0.0)
    if c != nv:
        tau = _michelot(x, mk, has_mask, m, tau, c)
        _write_power(x, mk, has_mask, m, 1.0, tau, 1.0, 1, out)


@njit(**JIT)
def sparsemax_row_condat(x, mk, has_mask, buf, buf2, out):
    """Sparsemax of one row by Condat's O(n) filter (``buf``, ``buf2``: float64 scratch, length n).

    The row maximum (``z = 0``) is taken first, so the running threshold starts at the lower
    bound ``-1`` of :math:`\\tau` and entries with ``z <= -1`` cost one comparison.
    """
    n = x.shape[0]
    cnt, m, ok = _prologue(x, mk, has_mask, out)
    if not ok:
        return
    imax = _first_index(x, mk, has_mask, x.dtype.type(m))
    # Steps 1-2: one pass building the candidate list v (buf) and the set-aside list (buf2).
    buf[0] = 0.0
    nv = 1
    nt = 0
    rho = -1.0
    for i in range(n):
        if i == imax or (has_mask and not mk[i]):
            continue
        y = np.float64(x[i]) - m
        if y > rho:
            rho += (y - rho) / (nv + 1)
            if rho > y - 1.0:
                buf[nv] = y
                nv += 1
            else:
                for j in range(nv):
                    buf2[nt] = buf[j]
                    nt += 1
                buf[0] = y
                nv = 1
                rho = y - 1.0
    # Step 3: re-examine the set-aside candidates.
    for j in range(nt):
        y = buf2[j]
        if y > rho:
            buf[nv] = y
            nv += 1
            rho += (y - rho) / nv
    # Step 4: remove entries below the threshold until nothing changes.
    while True:
        old = nv
        k = 0
        for j in range(old):
            y = buf[j]
            if y > rho:
                buf[k] = y
                k += 1
            else:
                rest = k + old - j - 1
                if rest > 0:
                    rho += (rho - y) / rest
        nv = k
        if nv == old or nv == 0:
            break
    # Exact support pass: tau from the support with a compensated sum, checked on every entry.
    tau = (_fsum(buf, nv) - 1.0) / nv if nv > 0 else rho
    _write_sparsemax_checked(x, mk, has_mask, m, tau, nv, out)


_RUN = 16


@njit(**JIT)
def _insertion(a, lo, hi):
    for i in range(lo + 1, hi):
        v = a[i]
        j = i - 1
        while j >= lo and a[j] > v:
            a[j + 1] = a[j]
            j -= 1
        a[j + 1] = v


@njit(**JIT)
def _merge(src, dst, lo, mid, hi):
    i = lo
    j = mid
    for o in range(lo, hi):
        vi = src[i] if i < mid else np.inf
        vj = src[j] if j < hi else np.inf
        left = vi <= vj
        dst[o] = vi if left else vj
        i += 1 if left else 0
        j += 0 if left else 1


@njit(**JIT)
def _sort(a, k, tmp):
    """Sort ``a[:k]`` ascending (insertion-sorted runs of 16, then bottom-up merges via ``tmp``).

    O(k log k) worst case; the merge uses selects rather than unpredictable branches.
    """
    for lo in range(0, k, _RUN):
        _insertion(a, lo, min(lo + _RUN, k))
    width = _RUN
    src = a
    dst = tmp
    swapped = False
    while width < k:
        for lo in range(0, k, 2 * width):
            mid = min(lo + width, k)
            hi = min(lo + 2 * width, k)
            _merge(src, dst, lo, mid, hi)
        src, dst = dst, src
        swapped = not swapped
        width *= 2
    if swapped:
        for i in range(k):
            a[i] = tmp[i]


@njit(**JIT)
def _gather(x, mk, has_mask, m, scale, lower, buf):
    """Copy the kept ``z_i = scale (x_i - m) > lower`` into ``buf``; return their count."""
    k = 0
    for i in range(x.shape[0]):
        z = scale * (np.float64(x[i]) - m)
        buf[k] = z
        k += 1 if (z > lower and (not has_mask or mk[i])) else 0
    return k


@njit(**JIT)
def _gather_sorted(x, mk, has_mask, m, scale, lower, buf, tmp):
    """:func:`_gather`, then sort ``buf[:k]`` ascending (``tmp``: scratch of the same length)."""
    k = _gather(x, mk, has_mask, m, scale, lower, buf)
    _sort(buf, k, tmp)
    return k


@njit(**JIT)
def sparsemax_row_sort(x, mk, has_mask, buf, tmp, out):
    """Sparsemax of one row by sorting all kept entries (reference algorithm)."""
    cnt, m, ok = _prologue(x, mk, has_mask, out)
    if not ok:
        return
    k = _gather_sorted(x, mk, has_mask, m, 1.0, -np.inf, buf, tmp)
    cs = 0.0
    support = 1
    csk = buf[k - 1]
    for j in range(k):
        z = buf[k - 1 - j]
        cs += z
        if 1.0 + (j + 1) * z > cs:
            support = j + 1
            csk = cs
    tau = (csk - 1.0) / support
    _write_power(x, mk, has_mask, m, 1.0, tau, 1.0, 1, out)


# --------------------------------------------------------------------------------------
# 1.5-entmax (sort) and alpha-entmax (bisection)
# --------------------------------------------------------------------------------------


@njit(**JIT)
def _tau15_support(buf, k, support):
    """Exact 1.5-entmax threshold on the ``support`` largest sorted values (centred moments)."""
    lo = k - support
    s = 0.0
    comp = 0.0
    for j in range(lo, k):
        v = buf[j]
        t = s + v
        if abs(s) >= abs(v):
            comp += (s - t) + v
        else:
            comp += (v - t) + s
        s = t
    mean = (s + comp) / support
    ss = 0.0
    for j in range(lo, k):
        d = buf[j] - mean
        ss += d * d
    delta = (1.0 - ss) / support
    return mean - math.sqrt(delta if delta > 0.0 else 0.0)


@njit(**JIT)
def _newton_bound(buf, k, tau, steps):
    """``steps`` Newton steps of ``sum [z - tau]_+^2 = 1`` from ``tau`` (a lower bound stays one)."""
    for _ in range(steps):
        f = -1.0
        fp = 0.0
        for j in range(k):
            w = buf[j] - tau
            w = w if w > 0.0 else 0.0
            f += w * w
            fp += w
        if f <= 0.0 or fp == 0.0:
            break
        tau = tau + f / (2.0 * fp)
    return tau


@njit(**JIT)
def _compact_above(buf, k, lower):
    """Keep the ``buf[:k]`` entries ``> lower`` (order not kept); return the new count."""
    c = 0
    for j in range(k):
        v = buf[j]
        buf[c] = v
        c += 1 if v > lower else 0
    return c


@njit(**JIT)
def entmax15_row_sort(x, mk, has_mask, buf, tmp, out):
    """Exact 1.5-entmax of one row.

    Candidates ``z > -1`` are gathered, pruned below a Newton lower bound of the threshold
    (two steps from -1; convexity keeps them below it), sorted, and scanned as in Peters et
    al.'s Algorithm 2; the threshold is then recomputed on the support with centred moments.
    The pruning never removes a support entry, so the scan finds the same support.
    """
    cnt, m, ok = _prologue(x, mk, has_mask, out)
    if not ok:
        return
    k = _gather(x, mk, has_mask, m, 0.5, -1.0, buf)
    bound = _newton_bound(buf, k, -1.0, 2)
    k = _compact_above(buf, k, bound - 1e-12 * (1.0 + abs(bound)))
    _sort(buf, k, tmp)
    s1 = 0.0
    s2 = 0.0
    support = 1
    for j in range(k):
        z = buf[k - 1 - j]
        kk = j + 1
        s1 += z
        s2 += z * z
        mean = s1 / kk
        ss = s2 - s1 * mean
        delta = (1.0 - ss) / kk
        tau = mean - math.sqrt(delta if delta > 0.0 else 0.0)
        if tau <= z:
            support = kk
    tau = _tau15_support(buf, k, support)
    _write_power(x, mk, has_mask, m, 0.5, tau, 2.0, 2, out)


@njit(**JIT)
def _f_and_counts(buf, k, tau, kpow, kint, lo, hi):
    """``sum [z - tau]_+^kpow - 1`` over ``buf[:k]`` and the counts of ``z`` in ``(lo, tau)``, ``(tau, hi)``."""
    f = 0.0
    c_lo = 0
    c_hi = 0
    for j in range(k):
        z = buf[j]
        w = z - tau
        w = w if w > 0.0 else 0.0
        if kint == 1:
            f += w
        elif kint == 2:
            f += w * w
        else:
            f += w**kpow
        c_lo += 1 if (lo < z and z < tau) else 0
        c_hi += 1 if (tau < z and z < hi) else 0
    return f - 1.0, c_lo, c_hi


@njit(**JIT)
def _newton_left(buf, k, tau, kpow, kint):
    """Newton on ``f(tau) = sum [z - tau]_+^kpow - 1`` from a point with ``f >= 0`` (monotone)."""
    for _ in range(100):
        f = -1.0
        fp = 0.0
        for j in range(k):
            w = buf[j] - tau
            w = w if w > 0.0 else 0.0
            if kint == 1:
                f += w
                fp += 1.0 if w > 0.0 else 0.0
            elif kint == 2:
                f += w * w
                fp += 2.0 * w
            else:
                p1 = w ** (kpow - 1.0)
                f += p1 * w
                fp += kpow * p1
        if f <= 0.0 or fp == 0.0:
            break
        new = tau + f / fp
        if not new > tau:
            break
        tau = new
    return tau


@njit(**JIT)
def entmax_bisect_row(x, mk, has_mask, alpha, buf, out):
    """α-entmax of one row by bisection until the support is known, then Newton on it."""
    cnt, m, ok = _prologue(x, mk, has_mask, out)
    if not ok:
        return
    am1 = alpha - 1.0
    kpow = 1.0 / am1
    kint = 1 if alpha == 2.0 else (2 if alpha == 1.5 else 0)
    k = _gather(x, mk, has_mask, m, am1, -1.0, buf)
    lo = -1.0
    hi = -math.exp(-am1 * math.log(cnt))
    inside = 0
    for j in range(k):
        if lo < buf[j] < hi:
            inside += 1
    for _ in range(200):
        if inside == 0:
            break
        mid = 0.5 * (lo + hi)
        if not (lo < mid < hi):
            break
        f, c_lo, c_hi = _f_and_counts(buf, k, mid, kpow, kint, lo, hi)
        if f >= 0.0:
            lo = mid
            inside = c_hi
            k = _compact_above(buf, k, lo)
        else:
            hi = mid
            inside = c_lo
    tau = _newton_left(buf, k, lo, kpow, kint)
    _write_power(x, mk, has_mask, m, am1, tau, kpow, kint, out)


# --------------------------------------------------------------------------------------
# drivers
# --------------------------------------------------------------------------------------


@njit(**JIT)
def _sparse_row(x, mk, has_mask, kind, alpha, buf, buf2, out):
    if kind == 0:
        sparsemax_row_condat(x, mk, has_mask, buf, buf2, out)
    elif kind == 1:
        sparsemax_row_sort(x, mk, has_mask, buf, buf2, out)
    elif kind == 2:
        entmax15_row_sort(x, mk, has_mask, buf, buf2, out)
    else:
        entmax_bisect_row(x, mk, has_mask, alpha, buf, out)


@njit(**JIT)
def sparse_serial(x, mk, has_mask, kind, alpha, out):
    """Row loop (single thread) of the sparse maps (``kind`` from :data:`KINDS`)."""
    n = x.shape[1]
    buf = np.empty(n)
    buf2 = np.empty(n)
    for r in range(x.shape[0]):
        _sparse_row(x[r], mk[r if has_mask else 0], has_mask, kind, alpha, buf, buf2, out[r])


@njit(**JIT_PARALLEL)
def sparse_parallel(x, mk, has_mask, kind, alpha, out):
    """Parallel row loop (chunks of rows with their own scratch); bitwise equal to the serial one."""
    rows, n = x.shape
    nch = min(rows, 256)
    for c in prange(nch):
        ci = np.int64(c)
        buf = np.empty(n)
        buf2 = np.empty(n)
        for r in range(ci * rows // nch, (ci + 1) * rows // nch):
            _sparse_row(x[r], mk[r if has_mask else r - r], has_mask, kind, alpha, buf, buf2, out[r])


# --------------------------------------------------------------------------------------
# Jacobian products
# --------------------------------------------------------------------------------------


@njit(**JIT)
def _g(pi, keep, kint, gpow):
    """``g = p^gpow`` on the support (``keep``), else 0; branch-free for sparsemax and 1.5-entmax."""
    if kint == 1:
        return 1.0 if keep else 0.0
    if kint == 2:
        return math.sqrt(pi if keep else 0.0)
    return pi**gpow if keep else 0.0


@njit(**JIT_SUM)
def _gsums_blk(p, w, mk, has_mask, kint, gpow):
    """Block sums ``(sum g w, sum g)`` (kept support entries)."""
    sgw = 0.0
    sg = 0.0
    for i in range(p.shape[0]):
        pi = np.float64(p[i])
        keep = pi > 0.0 and (not has_mask or mk[i])
        g = _g(pi, keep, kint, gpow)
        sgw += g * (np.float64(w[i]) if keep else 0.0)
        sg += g
    return sgw, sg


@njit(**JIT)
def sparse_product_row(p, w, mk, has_mask, alpha, out):
    """``out = (diag(g) - g g^T / sum g) w`` with ``g = p^{2-alpha}`` on the support of ``p``.

    Both the JVP (``w`` = tangent) and the VJP (``w`` = cotangent); 0 off the support and for
    fully masked rows.
    """
    n = p.shape[0]
    kint = 1 if alpha == 2.0 else (2 if alpha == 1.5 else 0)
    gpow = 2.0 - alpha
    sgw = 0.0
    sg = 0.0
    for b in range(0, n, 256):
        e = min(b + 256, n)
        a, c = _gsums_blk(p[b:e], w[b:e], mk[b:e] if has_mask else mk, has_mask, kint, gpow)
        sgw += a
        sg += c
    q = sgw / sg if sg > 0.0 else 0.0
    dt = p.dtype.type
    for i in range(n):
        pi = np.float64(p[i])
        keep = pi > 0.0 and (not has_mask or mk[i])
        g = _g(pi, keep, kint, gpow)
        wi = np.float64(w[i]) if keep else 0.0
        out[i] = dt(g * (wi - q))


@njit(**JIT)
def sparse_product_serial(p, w, mk, has_mask, alpha, out):
    """Row loop of :func:`sparse_product_row`."""
    for r in range(p.shape[0]):
        sparse_product_row(p[r], w[r], mk[r if has_mask else 0], has_mask, alpha, out[r])


@njit(**JIT_PARALLEL)
def sparse_product_parallel(p, w, mk, has_mask, alpha, out):
    """Parallel :func:`sparse_product_serial`."""
    for r in prange(p.shape[0]):
        sparse_product_row(p[r], w[r], mk[r if has_mask else r - r], has_mask, alpha, out[r])
