r"""CUDA row kernels of the softmax family, sparsemax/α-entmax and softpick (device code).

Rows are processed by *groups* of threads: a warp per row for short rows (``R = WARPS``
rows per block, ``G = 32`` lanes) or a block per row for long rows (``R = 1``,
``G = ROW_TPB``). Every map is written once, as a factory over the group shape and the
group reductions, and compiled for each (dtype, path) pair on first use:

* block path: shared-memory tree reductions (``syncthreads``), the same on a GPU and in the
  simulator;
* warp path: butterfly ``shfl_xor_sync`` reductions on a GPU; under the simulator (no warp
  shuffles, no ``syncwarp``) the same shared-memory tree on the warp's slice of shared
  memory. The choice is made at import from ``numba.config.ENABLE_CUDASIM``; the tests run
  the shared-memory paths.

Control flow is uniform per group: all lanes see the same reduced values, so every lane of a
group takes the same branches and loop trip counts. Rows beyond the end are processed as a
copy of the last row and not written, so block-wide barriers are always reached.

All sums are accumulated in float64 (each thread over its strided elements, then the
reduction tree); the element math (``exp`` of the shifted input, the output scaling) is in the
input dtype, as in the CPU kernels. Reductions have a fixed order, so results are bitwise
reproducible run to run; they differ from the CPU kernels' order by a few ULP.

Algorithms:

softmax (``algo`` 0, three-pass)
    max, then :math:`\sum e^{c x_i - m}`, then :math:`y_i = e^{c x_i - m} \cdot (1/s)`;
    log-softmax writes :math:`(c x_i - m) - \log s`.
softmax (``algo`` 1, online normalizer; Milakov & Gimelshein 2018)
    each thread builds its pair :math:`(m_t, d_t)` in one pass, the pairs are merged with
    :math:`(m_1,d_1)\oplus(m_2,d_2) = (M, d_1 e^{m_1-M} + d_2 e^{m_2-M})`, then one output pass.
sparsemax / α-entmax
    :math:`z = (\alpha-1)(x - \max x)`, bisection for :math:`\tau \in [-1, -n^{1-\alpha}]` on
    :math:`f(\tau) = \sum [z_i-\tau]_+^{1/(\alpha-1)} - 1` until no :math:`z_i` lies strictly
    inside the bracket (the support is then known), then the exact support pass: Newton from
    the left end (monotone, since :math:`f` is convex and decreasing; for sparsemax one step
    gives :math:`\tau = (\sum_S z - 1)/|S|`), as :mod:`funclib.kernels.rowwise.sparse`.
softpick
    :math:`y_i = \mathrm{ReLU}(e^{x_i}-1)/(\sum_j |e^{x_j}-1| + \epsilon)` with the max shift of
    :mod:`funclib.kernels.rowwise.softpick_family` (float64 arithmetic).

Conventions are those of the CPU kernels (masked entries 0 / ``-inf``, fully masked rows zeros
/ ``-inf``, NaN rows NaN).
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any, NamedTuple

import numpy as np
from numba import config, cuda

__all__ = ["SIMULATOR", "WARP", "WARPS", "ROW_TPB", "kernels"]

SIMULATOR = bool(config.ENABLE_CUDASIM)
WARP = 32
#: Warps (rows) per block on the warp path, and threads per block on the block path.
WARPS = 2 if SIMULATOR else 4
ROW_TPB = 64 if SIMULATOR else 256
_FULL = 0xFFFFFFFF
_DEV = dict(device=True) if SIMULATOR else dict(device=True, forceinline=True)
_INF = math.inf


def _dev(fn):
    return cuda.jit(**_DEV)(fn)


@_dev
def _maxnan(a, b):
    return a if (a > b or a != a) else b


@_dev
def _merge(m1, d1, m2, d2):
    """Online-normalizer merge of ``(m1, d1)`` and ``(m2, d2)`` (float64; ``-inf`` = empty)."""
    mm = _maxnan(m1, m2)
    if mm == -_INF:
        return mm, d1 + d2
    # an empty side (m = -inf) contributes its d as is: 0, or NaN if it met a NaN
    t1 = d1 * math.exp(m1 - mm) if m1 != -_INF else d1
    t2 = d2 * math.exp(m2 - mm) if m2 != -_INF else d2
    return mm, t1 + t2


def _tree_reducers(G, sync):
    """Shared-memory tree reductions over the ``G`` lanes of group ``w`` (``sh``: (R, G) float64)."""

    @_dev
    def gsum(v, sh, sh2, w, lane):
        sh[w, lane] = v
        sync()
        s = G // 2
        while s > 0:
            if lane < s:
                sh[w, lane] += sh[w, lane + s]
            sync()
            s //= 2
        r = sh[w, 0]
        sync()
        return r

    @_dev
    def gmax(v, sh, sh2, w, lane):
        sh[w, lane] = v
        sync()
        s = G // 2
        while s > 0:
            if lane < s:
                sh[w, lane] = _maxnan(sh[w, lane], sh[w, lane + s])
            sync()
            s //= 2
        r = sh[w, 0]
        sync()
        return r

    @_dev
    def gpair(m, d, sh, sh2, w, lane):
        sh[w, lane] = m
        sh2[w, lane] = d
        sync()
        s = G // 2
        while s > 0:
            if lane < s:
                a, b = _merge(sh[w, lane], sh2[w, lane], sh[w, lane + s], sh2[w, lane + s])
                sh[w, lane] = a
                sh2[w, lane] = b
            sync()
            s //= 2
        rm = sh[w, 0]
        rd = sh2[w, 0]
        sync()
        return rm, rd

    return gsum, gmax, gpair


def _shuffle_reducers():
    """Butterfly warp reductions (GPU only: the simulator has no shuffles)."""

    @_dev
    def gsum(v, sh, sh2, w, lane):
        off = 16
        while off > 0:
            v += cuda.shfl_xor_sync(_FULL, v, off)
            off //= 2
        return v

    @_dev
    def gmax(v, sh, sh2, w, lane):
        off = 16
        while off > 0:
            v = _maxnan(v, cuda.shfl_xor_sync(_FULL, v, off))
            off //= 2
        return v

    @_dev
    def gpair(m, d, sh, sh2, w, lane):
        off = 16
        while off > 0:
            m2 = cuda.shfl_xor_sync(_FULL, m, off)
            d2 = cuda.shfl_xor_sync(_FULL, d, off)
            m, d = _merge(m, d, m2, d2)
            off //= 2
        return m, d

    return gsum, gmax, gpair


@_dev
def _sync_block():
    cuda.syncthreads()


if SIMULATOR:
    _sync_warp = _sync_block  # the simulator has no syncwarp; a block barrier is stronger
else:

    @_dev
    def _sync_warp():
        cuda.syncwarp(_FULL)


class _Group(NamedTuple):
    """The group shape of one (dtype, path) pair and the device functions every row kernel shares."""

    T: type
    G: int
    R: int
    gsum: Any
    gmax: Any
    gpair: Any
    kept: Any
    row_count_max: Any
    lane_of: Any
    row_at: Any


def _group(dtype: str, path: str) -> _Group:
    """Group shape, reductions and the shared row preamble for ``dtype`` and ``path``."""
    T = np.float32 if dtype == "float32" else np.float64
    if path == "block":
        G, R = ROW_TPB, 1
        gsum, gmax, gpair = _tree_reducers(G, _sync_block)
    elif path == "warp":
        G, R = WARP, WARPS
        gsum, gmax, gpair = _tree_reducers(G, _sync_warp) if SIMULATOR else _shuffle_reducers()
    else:
        raise ValueError(f"path must be 'warp' or 'block', got {path!r}")

    @_dev
    def kept(mk, has_mask, r, i):
        return (not has_mask) or mk[r, i]

    @_dev
    def row_count_max(x, mk, has_mask, r, c, sh, sh2, w, lane):
        """``(kept count, max_kept c*x)`` of row ``r``."""
        n = x.shape[1]
        cnt = 0.0
        m = -_INF
        for i in range(lane, n, G):
            if kept(mk, has_mask, r, i):
                cnt += 1.0
                m = _maxnan(m, float(c * x[r, i]))
        cnt = gsum(cnt, sh, sh2, w, lane)
        m = gmax(m, sh, sh2, w, lane)
        return cnt, m

    @_dev
    def lane_of():
        """``(group, lane)`` of this thread: its row slot in the block and its place in the group."""
        tid = cuda.threadIdx.x
        return tid // G, tid % G

    @_dev
    def row_at(base, w, rows):
        """``(row, active)``: rows past the end are a copy of the last row, computed (so every
        barrier is reached) but not written."""
        r0 = base + w
        active = r0 < rows
        return (r0 if active else rows - 1), active

    return _Group(T, G, R, gsum, gmax, gpair, kept, row_count_max, lane_of, row_at)


def _softmax_kernels(g: _Group) -> dict:
    """Softmax / log-softmax / SSMax values and their JVP/VJP products."""
    T, G, R, gsum, gmax, gpair, kept, row_count_max, lane_of, row_at = g
    zero_t, one_t = T(0.0), T(1.0)
    ninf_t = T(-_INF)

    @cuda.jit
    def softmax(x, mk, has_mask, algo, log, ssmax, s, out):
        sh = cuda.shared.array((R, G), dtype=np.float64)
        sh2 = cuda.shared.array((R, G), dtype=np.float64)
        w, lane = lane_of()
        rows, n = x.shape
        for base in range(cuda.blockIdx.x * R, rows, cuda.gridDim.x * R):
            r, active = row_at(base, w, rows)
            cnt, m1 = row_count_max(x, mk, has_mask, r, one_t, sh, sh2, w, lane)
            c = one_t
            if ssmax:
                c = T(s * math.log(cnt)) if cnt > 0.0 else one_t
            if cnt == 0.0:
                for i in range(lane, n, G):
                    if active:
                        out[r, i] = ninf_t if log else zero_t
                continue
            if algo == 1:
                # online normalizer: one pass for (m, d) per thread, merged across the group
                mt = -_INF
                dt = 0.0
                for i in range(lane, n, G):
                    if kept(mk, has_mask, r, i):
                        v = float(c * x[r, i])
                        if v > mt:
                            dt = (dt * math.exp(mt - v) if mt != -_INF else dt) + 1.0  # dt: 0, or NaN after a NaN
                            mt = v
                        elif v != -_INF:
                            dt += math.exp(v - mt) if v == v else v
                m64, d = gpair(mt, dt, sh, sh2, w, lane)
            else:
                # max of c*x: c >= 0 and rounding is monotone, so it is c*max(x) rounded
                m64 = float(c * T(m1)) if ssmax else m1
                acc = 0.0
                mT = T(m64)
                for i in range(lane, n, G):
                    if kept(mk, has_mask, r, i):
                        acc += float(math.exp(c * x[r, i] - mT))
                d = gsum(acc, sh, sh2, w, lane)
            mT = T(m64)
            full = m64 == -_INF  # every kept entry is -inf: a fully masked row
            # masked and -inf entries get the fill value whatever the row holds (catalog convention)
            if log:
                ls = T(math.log(d)) if not full else ninf_t
                for i in range(lane, n, G):
                    if active:
                        live = not full and kept(mk, has_mask, r, i) and x[r, i] != -_INF
                        out[r, i] = ((c * x[r, i] - mT) - ls) if live else ninf_t
            else:
                inv = T(1.0 / d) if not full else zero_t
                for i in range(lane, n, G):
                    if active:
                        live = not full and kept(mk, has_mask, r, i) and x[r, i] != -_INF
                        out[r, i] = (math.exp(c * x[r, i] - mT) * inv) if live else zero_t

    @cuda.jit
    def sym_product(y, v, mk, has_mask, ssmax, s, out):
        """``out = c y * (v - <y, v>)`` (softmax/SSMax JVP and VJP)."""
        sh = cuda.shared.array((R, G), dtype=np.float64)
        sh2 = cuda.shared.array((R, G), dtype=np.float64)
        w, lane = lane_of()
        rows, n = y.shape
        for base in range(cuda.blockIdx.x * R, rows, cuda.gridDim.x * R):
            r, active = row_at(base, w, rows)
            cnt = 0.0
            acc = 0.0
            for i in range(lane, n, G):
                if kept(mk, has_mask, r, i):
                    cnt += 1.0
                    acc += float(y[r, i] * v[r, i])
            cnt = gsum(cnt, sh, sh2, w, lane)
            d = T(gsum(acc, sh, sh2, w, lane))
            c = one_t
            if ssmax:
                c = T(s * math.log(cnt)) if cnt > 0.0 else one_t
            for i in range(lane, n, G):
                if active:
                    ok = cnt > 0.0 and kept(mk, has_mask, r, i)
                    out[r, i] = (c * (y[r, i] * (v[r, i] - d))) if ok else zero_t

    @cuda.jit
    def log_product(ly, v, mk, has_mask, vjp, out):
        """Log-softmax JVP ``v - <e^ly, v>`` or VJP ``v - e^ly * sum v``."""
        sh = cuda.shared.array((R, G), dtype=np.float64)
        sh2 = cuda.shared.array((R, G), dtype=np.float64)
        w, lane = lane_of()
        rows, n = ly.shape
        for base in range(cuda.blockIdx.x * R, rows, cuda.gridDim.x * R):
            r, active = row_at(base, w, rows)
            cnt = 0.0
            acc = 0.0
            for i in range(lane, n, G):
                if kept(mk, has_mask, r, i):
                    cnt += 1.0
                    if vjp:
                        acc += float(v[r, i])
                    else:
                        acc += float(math.exp(ly[r, i])) * float(v[r, i])
            cnt = gsum(cnt, sh, sh2, w, lane)
            t = T(gsum(acc, sh, sh2, w, lane))
            for i in range(lane, n, G):
                if active:
                    ok = cnt > 0.0 and kept(mk, has_mask, r, i)
                    if vjp:
                        val = v[r, i] - math.exp(ly[r, i]) * t
                    else:
                        val = v[r, i] - t
                    out[r, i] = val if ok else zero_t

    return {"softmax": softmax, "sym_product": sym_product, "log_product": log_product}


def _sparse_kernels(g: _Group) -> dict:
    """Sparsemax / alpha-entmax values and their Jacobian products."""
    T, G, R, gsum, gmax, gpair, kept, row_count_max, lane_of, row_at = g
    zero_t, one_t = T(0.0), T(1.0)
    nan_t = T(math.nan)

    @_dev
    def _pw(wv, kpow, kint):
        if kint == 1:
            return wv
        if kint == 2:
            return wv * wv
        return wv**kpow

    @cuda.jit
    def sparse(x, mk, has_mask, alpha, out):
        sh = cuda.shared.array((R, G), dtype=np.float64)
        sh2 = cuda.shared.array((R, G), dtype=np.float64)
        w, lane = lane_of()
        rows, n = x.shape
        am1 = alpha - 1.0
        kpow = 1.0 / am1
        kint = 1 if alpha == 2.0 else (2 if alpha == 1.5 else 0)
        for base in range(cuda.blockIdx.x * R, rows, cuda.gridDim.x * R):
            r, active = row_at(base, w, rows)
            cnt, m = row_count_max(x, mk, has_mask, r, one_t, sh, sh2, w, lane)
            if cnt == 0.0 or not (m - m == 0.0):
                # fully masked, or every kept entry -inf (the same, by convention): zeros; NaN/+inf: NaN
                fill = zero_t if (cnt == 0.0 or m == -_INF) else nan_t
                for i in range(lane, n, G):
                    if active:
                        out[r, i] = fill
                continue
            lo = -1.0
            hi = -math.exp(-am1 * math.log(cnt))
            inside = 0.0
            for i in range(lane, n, G):
                if kept(mk, has_mask, r, i):
                    z = am1 * (float(x[r, i]) - m)
                    inside += 1.0 if (lo < z and z < hi) else 0.0
            inside = gsum(inside, sh, sh2, w, lane)
            for _ in range(200):
                if inside == 0.0:
                    break
                mid = 0.5 * (lo + hi)
                if not (lo < mid and mid < hi):
                    break
                f = 0.0
                c_lo = 0.0
                c_hi = 0.0
                for i in range(lane, n, G):
                    if kept(mk, has_mask, r, i):
                        z = am1 * (float(x[r, i]) - m)
                        wv = z - mid
                        f += _pw(wv, kpow, kint) if wv > 0.0 else 0.0
                        c_lo += 1.0 if (lo < z and z < mid) else 0.0
                        c_hi += 1.0 if (mid < z and z < hi) else 0.0
                f = gsum(f, sh, sh2, w, lane) - 1.0
                c_lo = gsum(c_lo, sh, sh2, w, lane)
                c_hi = gsum(c_hi, sh, sh2, w, lane)
                if f >= 0.0:
                    lo = mid
                    inside = c_hi
                else:
                    hi = mid
                    inside = c_lo
            # exact support pass: Newton from the left end
            tau = lo
            for _ in range(100):
                f = 0.0
                fp = 0.0
                for i in range(lane, n, G):
                    if kept(mk, has_mask, r, i):
                        wv = am1 * (float(x[r, i]) - m) - tau
                        if wv > 0.0:
                            if kint == 1:
                                f += wv
                                fp += 1.0
                            elif kint == 2:
                                f += wv * wv
                                fp += 2.0 * wv
                            else:
                                p1 = wv ** (kpow - 1.0)
                                f += p1 * wv
                                fp += kpow * p1
                f = gsum(f, sh, sh2, w, lane) - 1.0
                fp = gsum(fp, sh, sh2, w, lane)
                if f <= 0.0 or fp == 0.0:
                    break
                new = tau + f / fp
                if not new > tau:
                    break
                tau = new
            for i in range(lane, n, G):
                if active:
                    wv = am1 * (float(x[r, i]) - m) - tau
                    ok = wv > 0.0 and kept(mk, has_mask, r, i)
                    out[r, i] = _pw(wv, kpow, kint) if ok else 0.0

    @cuda.jit
    def sparse_product(p, v, mk, has_mask, alpha, out):
        """``out = g * (v - <g, v>/sum g)``, ``g = p^{2-alpha}`` on the support."""
        sh = cuda.shared.array((R, G), dtype=np.float64)
        sh2 = cuda.shared.array((R, G), dtype=np.float64)
        w, lane = lane_of()
        rows, n = p.shape
        gpow = 2.0 - alpha
        kint = 1 if alpha == 2.0 else (2 if alpha == 1.5 else 0)
        for base in range(cuda.blockIdx.x * R, rows, cuda.gridDim.x * R):
            r, active = row_at(base, w, rows)
            sgw = 0.0
            sg = 0.0
            for i in range(lane, n, G):
                pi = float(p[r, i])
                if pi > 0.0 and kept(mk, has_mask, r, i):
                    g = 1.0 if kint == 1 else (math.sqrt(pi) if kint == 2 else pi**gpow)
                    sgw += g * float(v[r, i])
                    sg += g
            sgw = gsum(sgw, sh, sh2, w, lane)
            sg = gsum(sg, sh, sh2, w, lane)
            q = sgw / sg if sg > 0.0 else 0.0
            for i in range(lane, n, G):
                if active:
                    pi = float(p[r, i])
                    if pi > 0.0 and kept(mk, has_mask, r, i):
                        g = 1.0 if kint == 1 else (math.sqrt(pi) if kint == 2 else pi**gpow)
                        out[r, i] = g * (float(v[r, i]) - q)
                    else:
                        out[r, i] = zero_t

    return {"sparse": sparse, "sparse_product": sparse_product}


def _softpick_kernels(g: _Group) -> dict:
    """Softpick value, JVP and VJP."""
    T, G, R, gsum, gmax, gpair, kept, row_count_max, lane_of, row_at = g
    zero_t, one_t = T(0.0), T(1.0)
    nan_t = T(math.nan)

    @_dev
    def _t(xi, m, em):
        if xi < 1.0:
            return em * math.expm1(xi)
        return math.exp(xi - m) - em

    @_dev
    def _sign(v):
        return 1.0 if v > 0.0 else (-1.0 if v < 0.0 else 0.0)

    @cuda.jit
    def softpick(x, v, mk, has_mask, eps, mode, out):
        """``mode`` 0: value; 1: JVP with tangent ``v``; 2: VJP with cotangent ``v``."""
        sh = cuda.shared.array((R, G), dtype=np.float64)
        sh2 = cuda.shared.array((R, G), dtype=np.float64)
        w, lane = lane_of()
        rows, n = x.shape
        for base in range(cuda.blockIdx.x * R, rows, cuda.gridDim.x * R):
            r, active = row_at(base, w, rows)
            cnt, m = row_count_max(x, mk, has_mask, r, one_t, sh, sh2, w, lane)
            status = 2
            if cnt == 0.0 or m <= 0.0:
                status = 0
            if m != m or m == _INF:
                status = 1 if cnt > 0.0 else 0
            em = math.exp(-m) if status == 2 else 0.0
            d = 0.0
            acc = 0.0
            for i in range(lane, n, G):
                if status == 2 and kept(mk, has_mask, r, i):
                    xi = float(x[r, i])
                    if xi != -_INF:
                        d += abs(_t(xi, m, em))
            d = gsum(d, sh, sh2, w, lane) + eps * em
            if mode != 0:
                for i in range(lane, n, G):
                    if status == 2 and kept(mk, has_mask, r, i):
                        xi = float(x[r, i])
                        if xi != -_INF:
                            wi = float(v[r, i])
                            if mode == 2:
                                if xi > 0.0:
                                    acc += wi * (_t(xi, m, em) / d)
                            else:
                                acc += _sign(xi) * (math.exp(xi - m) / d) * wi
                acc = gsum(acc, sh, sh2, w, lane)
            for i in range(lane, n, G):
                if not active:
                    continue
                if status != 2:
                    out[r, i] = zero_t if status == 0 else nan_t
                    continue
                xi = float(x[r, i])
                if (not kept(mk, has_mask, r, i)) or xi == -_INF:
                    out[r, i] = zero_t
                    continue
                if mode == 0:
                    out[r, i] = (_t(xi, m, em) / d) if xi > 0.0 else 0.0
                else:
                    a = math.exp(xi - m) / d
                    wi = float(v[r, i])
                    own = a * wi if xi > 0.0 else 0.0
                    if mode == 2:
                        out[r, i] = own - _sign(xi) * a * acc
                    else:
                        yi = _t(xi, m, em) / d if xi > 0.0 else 0.0
                        out[r, i] = own - yi * acc

    return {"softpick": softpick}


@lru_cache(maxsize=None)
def kernels(dtype: str, path: str) -> dict:
    """The compiled (lazily, per signature) row kernels for ``dtype`` and ``path`` ("warp"/"block")."""
    g = _group(dtype, path)
    return {
        **_softmax_kernels(g), **_sparse_kernels(g), **_softpick_kernels(g),
        "threads": g.G * g.R, "rows_per_block": g.R,
    }
