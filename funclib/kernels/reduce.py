"""Deterministic sums for the parameter gradients: a fixed order, whatever the thread count.

A parameter gradient is :math:`\\sum_i g_i\\,\\partial f/\\partial\\theta(x_i)` over all
elements. The kernels cut the elements into fixed blocks (``GRAD_BLOCK``); each block is
summed by :func:`lane_sum` (eight interleaved running sums, then a fixed pairwise combination:
vectorizable and independent of scheduling), and the block sums by :func:`tree_sum`
(pairwise halving in block order). The same blocks are used by the serial and the parallel
kernels, so both give bit-identical results.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from . import numba_cache  # noqa: F401 - Numba caches go to the funclib cache, not the package

__all__ = ["lane_sum", "tree_sum"]

_JIT = dict(cache=True, error_model="numpy", nogil=True)


@njit(**_JIT)
def lane_sum(v, m):
    """Sum of ``v[:m]``: lanes ``i % 8`` summed in order, then ``((0+1)+(2+3))+((4+5)+(6+7))``."""
    acc = np.zeros(8, dtype=v.dtype)
    m8 = m - m % 8
    for i in range(0, m8, 8):
        for lane in range(8):
            acc[lane] += v[i + lane]
    for i in range(m8, m):
        acc[i - m8] += v[i]
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]))


@njit(**_JIT)
def tree_sum(part):
    """Column sums of ``part`` (blocks x parameters) by pairwise halving in block order."""
    nb, p = part.shape
    if nb == 0:
        return np.zeros(p, dtype=part.dtype)
    buf = part.copy()
    m = nb
    while m > 1:
        h = m // 2
        for i in range(h):
            for j in range(p):
                buf[i, j] = buf[2 * i, j] + buf[2 * i + 1, j]
        if m % 2 == 1:
            for j in range(p):
                buf[h, j] = buf[m - 1, j]
            m = h + 1
        else:
            m = h
    return buf[0].copy()
