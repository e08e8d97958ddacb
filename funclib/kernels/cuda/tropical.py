r"""Tiled CUDA kernels of tropical attention: max-plus product and Hilbert scores with routing.

Same definitions, index conventions (first argmax/argmin, NaN wins as in ``numpy.argmax``)
and argument checks as :mod:`funclib.kernels.tropical`. Each thread owns one output entry
``(i, j)`` of a ``TILE x TILE`` output tile; the operands are staged through shared memory in
``TILE``-wide slabs of the reduced dimension, which is scanned in increasing order, so ties
resolve to the same (first) index as on the CPU and results are bitwise equal to the CPU
kernels (additions/subtractions and comparisons only: no rounding differences). The batch is
the grid's third dimension. ``TILE`` is 16 on a GPU and 4 under the simulator.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from numba import config, cuda

from .kernel import as_device, is_device_array, require_cuda
from ..tropical import check_pair

__all__ = ["maxplus_matmul", "hilbert_score", "TILE"]

TILE = 16


@lru_cache(maxsize=None)
def _kernels(dtype: str):
    T = np.float32 if dtype == "float32" else np.float64
    zero = T(0.0)

    tile = 4 if config.ENABLE_CUDASIM else TILE
    dev = dict(device=True) if config.ENABLE_CUDASIM else dict(device=True, forceinline=True)

    @cuda.jit(**dev)
    def better_max(v, best):
        return v > best or (v != v and best == best)

    @cuda.jit(**dev)
    def better_min(v, best):
        return v < best or (v != v and best == best)

    @cuda.jit
    def maxplus(a, b, c, idx):
        sa = cuda.shared.array((tile, tile), dtype=T)
        sb = cuda.shared.array((tile, tile), dtype=T)
        bi = cuda.blockIdx.z
        ty = cuda.threadIdx.y
        tx = cuda.threadIdx.x
        i = cuda.blockIdx.y * tile + ty
        j = cuda.blockIdx.x * tile + tx
        m, kk = a.shape[1], a.shape[2]
        n = b.shape[2]
        best = zero
        arg = -1
        for k0 in range(0, kk, tile):
            ka = k0 + tx
            kb = k0 + ty
            sa[ty, tx] = a[bi, i, ka] if (i < m and ka < kk) else zero
            sb[ty, tx] = b[bi, kb, j] if (kb < kk and j < n) else zero
            cuda.syncthreads()
            for t in range(tile):
                if k0 + t < kk:
                    v = sa[ty, t] + sb[t, tx]
                    if arg < 0 or better_max(v, best):
                        best = v
                        arg = k0 + t
            cuda.syncthreads()
        if i < m and j < n:
            c[bi, i, j] = best
            idx[bi, i, j] = arg

    @cuda.jit
    def hilbert(q, k, s, hi, lo):
        sq = cuda.shared.array((tile, tile), dtype=T)
        sk = cuda.shared.array((tile, tile), dtype=T)
        bi = cuda.blockIdx.z
        ty = cuda.threadIdx.y
        tx = cuda.threadIdx.x
        i = cuda.blockIdx.y * tile + ty
        j = cuda.blockIdx.x * tile + tx
        m, d = q.shape[1], q.shape[2]
        n = k.shape[1]
        jl = cuda.blockIdx.x * tile + ty  # key row staged by this thread
        vmax = zero
        vmin = zero
        amax = -1
        amin = -1
        for r0 in range(0, d, tile):
            r = r0 + tx
            sq[ty, tx] = q[bi, i, r] if (i < m and r < d) else zero
            sk[ty, tx] = k[bi, jl, r] if (jl < n and r < d) else zero
            cuda.syncthreads()
            for t in range(tile):
                if r0 + t < d:
                    v = sq[ty, t] - sk[tx, t]
                    if amax < 0 or better_max(v, vmax):
                        vmax = v
                        amax = r0 + t
                    if amin < 0 or better_min(v, vmin):
                        vmin = v
                        amin = r0 + t
            cuda.syncthreads()
        if i < m and j < n:
            s[bi, i, j] = -(vmax - vmin)
            hi[bi, i, j] = amax
            lo[bi, i, j] = amin

    return maxplus, hilbert, tile


def _operands(name, a, b, ia, ib, what, stream):
    require_cuda()
    on_device = is_device_array(a) or is_device_array(b)
    if on_device:
        da, db = as_device(a), as_device(b)
        if np.dtype(da.dtype) != np.dtype(db.dtype) or np.dtype(da.dtype) not in (np.float32, np.float64):
            raise TypeError(f"{name}: device operands must both be float32 or both float64")
        if not (da.is_c_contiguous() and db.is_c_contiguous()):
            raise ValueError(f"{name}: device operands must be C-contiguous")
        sa, sb = tuple(da.shape), tuple(db.shape)
        if len(sa) < 2 or len(sb) < 2 or sa[:-2] != sb[:-2] or sa[ia] != sb[ib]:
            raise ValueError(f"{name}: {what} or batch shapes do not match: {sa} and {sb}")
        if sa[ia] == 0:
            raise ValueError(f"{name}: the reduced dimension is empty")
        dt = np.dtype(da.dtype)
        batch = sa[:-2]
        nb = int(np.prod(batch, dtype=np.int64))
        return da.reshape(nb, *sa[-2:]), db.reshape(nb, *sb[-2:]), dt, batch, True
    ha, hb, dt = check_pair(name, a, b, ia, ib, what)
    batch = ha.shape[:-2]
    st = 0 if stream is None else stream
    da = cuda.to_device(ha.reshape(-1, *ha.shape[-2:]), stream=st)
    db = cuda.to_device(hb.reshape(-1, *hb.shape[-2:]), stream=st)
    return da, db, dt, batch, False


def _finish(outs, batch, on_device, stream):
    res = []
    for d in outs:
        shape = (*batch, *d.shape[1:])
        if on_device:
            res.append(d.reshape(*shape))
        else:
            res.append(d.copy_to_host(stream=0 if stream is None else stream).reshape(shape))
    if not on_device and stream is not None:
        stream.synchronize()
    return tuple(res)


def maxplus_matmul(a, b, *, stream=None):
    r"""Max-plus product :math:`C_{ij} = \max_k (A_{ik} + B_{kj})` and first-argmax ``K`` on the GPU.

    Host inputs give host outputs; device inputs (both operands) give device outputs.
    """
    da, db, dt, batch, on_device = _operands("maxplus_matmul", a, b, -1, -2, "inner dimensions", stream)
    maxplus, _, tile = _kernels(str(dt))
    nb, m, _ = da.shape
    n = db.shape[2]
    st = 0 if stream is None else stream
    c = cuda.device_array((nb, m, n), dtype=dt, stream=st)
    idx = cuda.device_array((nb, m, n), dtype=np.int64, stream=st)
    if nb and m and n:
        grid = (math.ceil(n / tile), math.ceil(m / tile), nb)
        maxplus[grid, (tile, tile), st](da, db, c, idx)
    return _finish((c, idx), batch, on_device, stream)


def hilbert_score(q, k, *, stream=None):
    r"""Symmetric tropical (Hilbert) scores with first argmax/argmin over features, on the GPU."""
    dq, dk, dt, batch, on_device = _operands("hilbert_score", q, k, -1, -1, "feature dimensions", stream)
    _, hilbert, tile = _kernels(str(dt))
    nb, m, _ = dq.shape
    n = dk.shape[1]
    st = 0 if stream is None else stream
    s = cuda.device_array((nb, m, n), dtype=dt, stream=st)
    hi = cuda.device_array((nb, m, n), dtype=np.int64, stream=st)
    lo = cuda.device_array((nb, m, n), dtype=np.int64, stream=st)
    if nb and m and n:
        grid = (math.ceil(n / tile), math.ceil(m / tile), nb)
        hilbert[grid, (tile, tile), st](dq, dk, s, hi, lo)
    return _finish((s, hi, lo), batch, on_device, stream)
