r"""CPU (Numba) kernels of tropical attention: max-plus products and Hilbert scores with routing.

The NumPy references are :func:`funclib.tropical.maxplus_matmul` and
:func:`funclib.tropical.hilbert_score` (Hashemi et al. 2025, "Tropical Attention",
arXiv:2505.17190):

.. math::

   C_{ij} = \max_k (A_{ik} + B_{kj}), \qquad
   S_{ij} = -\big(\max_r (q_{ir} - k_{jr}) - \min_r (q_{ir} - k_{jr})\big),

returned with the *first* maximizing / minimizing index (``numpy.argmax`` semantics,
including NaN: the first NaN wins), the routing of the subgradient
(:func:`funclib.tropical.maxplus_matmul_vjp`, :func:`funclib.tropical.hilbert_score_vjp`).
Inputs are ``(..., m, k)`` and ``(..., k, n)`` (scores: ``(..., m, d)`` and ``(..., n, d)``)
with equal leading batch shapes, float32 or float64 (the output has the input dtype; both
operands are converted to the wider of the two). Rows of the output are computed in parallel
(``prange``); each entry is a sequential scan, so results are deterministic.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from . import numba_cache  # noqa: F401 - Numba caches go to the funclib cache, not the package

__all__ = ["maxplus_matmul", "hilbert_score", "check_pair"]

_JIT = dict(cache=True, error_model="numpy")


@njit(**_JIT)
def _better_max(v, best):
    return v > best or (v != v and best == best)


@njit(**_JIT)
def _better_min(v, best):
    return v < best or (v != v and best == best)


@njit(parallel=True, **_JIT)
def _maxplus(a, b, c, idx):
    nb, m, kk = a.shape
    n = b.shape[2]
    for t in prange(nb * m):
        bi = t // m
        i = t % m
        for j in range(n):
            best = a[bi, i, 0] + b[bi, 0, j]
            arg = 0
            for k in range(1, kk):
                v = a[bi, i, k] + b[bi, k, j]
                if _better_max(v, best):
                    best = v
                    arg = k
            c[bi, i, j] = best
            idx[bi, i, j] = arg


@njit(parallel=True, **_JIT)
def _hilbert(q, k, s, hi, lo):
    nb, m, d = q.shape
    n = k.shape[1]
    for t in prange(nb * m):
        bi = t // m
        i = t % m
        for j in range(n):
            first = q[bi, i, 0] - k[bi, j, 0]
            vmax = first
            vmin = first
            amax = 0
            amin = 0
            for r in range(1, d):
                v = q[bi, i, r] - k[bi, j, r]
                if _better_max(v, vmax):
                    vmax = v
                    amax = r
                if _better_min(v, vmin):
                    vmin = v
                    amin = r
            s[bi, i, j] = -(vmax - vmin)
            hi[bi, i, j] = amax
            lo[bi, i, j] = amin


def check_pair(name: str, a, b, inner_a: int, inner_b: int, what: str):
    """Validate two operands; return them as float arrays of a common dtype with batch shape."""
    a = np.asarray(a)
    b = np.asarray(b)
    for arr, label in ((a, "first"), (b, "second")):
        if arr.dtype.kind not in "fiu" or arr.dtype == np.float16:
            if arr.dtype != np.float16:
                raise TypeError(f"{name}: the {label} operand has dtype {arr.dtype}; expected float32 or float64")
    if a.ndim < 2 or b.ndim < 2:
        raise ValueError(f"{name}: operands must be at least 2-D, got shapes {a.shape} and {b.shape}")
    if a.shape[:-2] != b.shape[:-2]:
        raise ValueError(f"{name}: leading (batch) shapes differ: {a.shape[:-2]} and {b.shape[:-2]}")
    if a.shape[inner_a] != b.shape[inner_b]:
        raise ValueError(f"{name}: {what} do not match: shapes {a.shape} and {b.shape}")
    if a.shape[inner_a] == 0:
        raise ValueError(f"{name}: the reduced dimension is empty (shapes {a.shape} and {b.shape})")
    dt = np.result_type(a.dtype, b.dtype, np.float32)
    if dt not in (np.float32, np.float64):
        dt = np.dtype(np.float64)
    return np.ascontiguousarray(a, dtype=dt), np.ascontiguousarray(b, dtype=dt), dt


def maxplus_matmul(a, b) -> tuple[np.ndarray, np.ndarray]:
    r"""Max-plus product :math:`C_{ij} = \max_k (A_{ik} + B_{kj})` and the first argmax ``K``.

    Parameters
    ----------
    a, b : array_like, shapes (..., m, k) and (..., k, n)
        Same leading batch shape.

    Returns
    -------
    (C, K) : (ndarray, ndarray of int64), shape (..., m, n)
    """
    a, b, dt = check_pair("maxplus_matmul", a, b, -1, -2, "inner dimensions")
    batch = a.shape[:-2]
    m, kk = a.shape[-2:]
    n = b.shape[-1]
    a3 = a.reshape(-1, m, kk)
    b3 = b.reshape(-1, kk, n)
    c = np.empty((a3.shape[0], m, n), dt)
    idx = np.empty((a3.shape[0], m, n), np.int64)
    if c.size:
        _maxplus(a3, b3, c, idx)
    return c.reshape(*batch, m, n), idx.reshape(*batch, m, n)


def hilbert_score(q, k) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""Symmetric tropical (Hilbert) scores :math:`S_{ij} = -(\max_r D_{ijr} - \min_r D_{ijr})`,
    :math:`D = q_i - k_j`, with the first argmax and argmin over the features.

    Parameters
    ----------
    q, k : array_like, shapes (..., m, d) and (..., n, d)

    Returns
    -------
    (S, argmax, argmin) : shape (..., m, n) each
    """
    q, k, dt = check_pair("hilbert_score", q, k, -1, -1, "feature dimensions")
    batch = q.shape[:-2]
    m, d = q.shape[-2:]
    n = k.shape[-2]
    q3 = q.reshape(-1, m, d)
    k3 = k.reshape(-1, n, d)
    s = np.empty((q3.shape[0], m, n), dt)
    hi = np.empty((q3.shape[0], m, n), np.int64)
    lo = np.empty((q3.shape[0], m, n), np.int64)
    if s.size:
        _hilbert(q3, k3, s, hi, lo)
    return s.reshape(*batch, m, n), hi.reshape(*batch, m, n), lo.reshape(*batch, m, n)
