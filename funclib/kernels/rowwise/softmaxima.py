"""Numba kernels of the soft maxima of Asadi & Littman (2017): mellowmax and the Boltzmann operator.

Row reductions (one value per row), ``kind`` from :data:`KINDS`, :math:`m = \\max x`,
:math:`e_j = e^{b(x_j - m)}`, :math:`S = \\sum_j e_j`:

.. math::

   \\mathrm{mm}_\\omega(x) = m + \\frac{1}{\\omega}\\log\\frac{S}{N}, \\qquad
   \\mathrm{boltz}_\\beta(x) = m + \\frac{\\sum_j (x_j - m) e_j}{S},

with gradients :math:`e_j/S` (the softmax of :math:`\\omega x`) and
:math:`(e_j/S)(1 + \\beta(x_j - y))`. :math:`N` is the full row length: the catalog's mask rule
for both is ``limit``, so a masked (``-inf``) entry adds :math:`e^{-\\infty} = 0` to the sum but
still counts in mellowmax's :math:`1/N`.

Numerics (float64 for both input dtypes, the result rounded once): :math:`S` and the weighted
sum use the vectorizable exponential of :mod:`funclib.kernels.rowwise.scalar_math`; where
:math:`S/N \\in (1/2, 3/2)` mellowmax evaluates
:math:`\\log(S/N) = \\mathrm{log1p}\\bigl((\\sum_j \\mathrm{expm1}(\\omega(x_j - m)))/N\\bigr)` (a sum of
terms of one sign), which keeps small :math:`\\omega` accurate, and :math:`\\log S - \\log N`
elsewhere. The final :math:`m + \\cdot` carries the absolute error :math:`\\approx\\varepsilon|m|`
that the problem's condition implies when the result is much smaller than :math:`|m|`.

Conventions: a row with no kept entry gives ``-inf`` (gradient 0); a kept NaN gives NaN; a kept
``+inf`` gives ``+inf`` (the limit) and a NaN gradient at the kept entries.

The same two sums give the entropy of :math:`\\mathrm{softmax}(x)`,
:math:`H = \\log S - \\sum_j (x_j - m)e_j/S` (:math:`b = 1`), from which :func:`adaptive_row`
computes the adaptive-temperature softmax (Veličković et al. 2024) :math:`\\mathrm{softmax}(\\beta x)`,
:math:`\\beta = \\max(p(H), 1)` for :math:`H > 0.5` (else 1), :math:`p` the paper's quartic
:data:`ADAPTIVE_TEMPERATURE_POLY`; conventions there: zeros for a row without kept entries, NaN at
the kept entries of a row holding NaN or ``+inf``, 0 at masked entries.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from .. import numba_cache  # noqa: F401 - Numba caches go to the funclib cache, not the package

from funclib.kernels.rowwise.scalar_math import vexp
from funclib.kernels.rowwise.reduce import JIT, JIT_PARALLEL, JIT_SUM, fill
from funclib.kernels.rowwise.weighted import row_extremes

__all__ = ["KINDS", "softmaximum_row", "softmaximum_grad_row", "softmaximum_serial", "softmaximum_parallel",
           "softmaximum_grad_serial", "softmaximum_grad_parallel", "ADAPTIVE_TEMPERATURE_POLY", "adaptive_row",
           "adaptive_serial", "adaptive_parallel"]

#: p(H) = -0.037 H^4 + 0.481 H^3 - 2.3 H^2 + 4.917 H - 1.791 (highest degree first; the paper's listing).
ADAPTIVE_TEMPERATURE_POLY = (-0.037, 0.481, -2.3, 4.917, -1.791)
_P4, _P3, _P2, _P1, _P0 = ADAPTIVE_TEMPERATURE_POLY

MELLOWMAX, BOLTZMANN = 0, 1
#: Entry id -> ``kind`` argument of the kernels.
KINDS = {"mellowmax": MELLOWMAX, "boltzmann_operator": BOLTZMANN}


@njit(**JIT_SUM)
def _sums(x, mk, has_mask, b, m):
    """``(S, sum (x - m) e)`` over the kept entries (float64)."""
    s = 0.0
    d = 0.0
    for i in range(x.shape[0]):
        xi = np.float64(x[i])
        k = mk[i if has_mask else 0] & (xi != -np.inf)
        dx = xi - m if k else 0.0
        e = vexp(b * dx) if k else 0.0
        s += e
        d += dx * e if e > 0.0 else 0.0  # e = 0 where x - m overflowed to -inf: no inf * 0
    return s, d


@njit(**JIT)
def _expm1_sum(x, mk, has_mask, b, m):
    """``sum expm1(b (x - m))`` over the kept entries (every term <= 0: no cancellation)."""
    e = 0.0
    for i in range(x.shape[0]):
        xi = np.float64(x[i])
        if not (mk[i if has_mask else 0] & (xi != -np.inf)):
            continue
        e += math.expm1(b * (xi - m))
    return e


@njit(**JIT)
def _state(x, mk, has_mask, kind, b):
    """``(status, value, m, S)``: status 0 = no kept entry, 1 = NaN or +inf, 2 = regular."""
    m, _, cnt = row_extremes(x, mk, has_mask)
    if cnt == 0:
        return 0, -np.inf, m, 0.0
    if not m < np.inf:
        return 1, m, m, 0.0  # NaN, or the limit +inf
    s, d = _sums(x, mk, has_mask, b, m)
    if kind == BOLTZMANN:
        return 2, m + d / s, m, s
    n = np.float64(x.shape[0])
    if abs(s - n) < 0.5 * n:
        lg = math.log1p(((np.float64(cnt) - n) + _expm1_sum(x, mk, has_mask, b, m)) / n)
    else:
        lg = math.log(s) - math.log(n)
    return 2, m + lg / b, m, s


@njit(**JIT)
def softmaximum_row(x, mk, has_mask, kind, b):
    """The soft maximum ``kind`` of one row (float64)."""
    return _state(x, mk, has_mask, kind, b)[1]


@njit(**JIT)
def softmaximum_grad_row(x, mk, has_mask, kind, b, out):
    """The gradient of the soft maximum ``kind`` of one row (0 at masked entries)."""
    dt = x.dtype.type
    status, y, m, s = _state(x, mk, has_mask, kind, b)
    if status == 0:
        fill(out, dt(0.0))
        return
    for i in range(x.shape[0]):
        xi = np.float64(x[i])
        if not (mk[i if has_mask else 0] & (xi != -np.inf)):
            out[i] = dt(0.0)
        elif status == 1:
            out[i] = dt(np.nan)
        else:
            g = vexp(b * (xi - m)) / s
            if kind == BOLTZMANN and g > 0.0:  # g = 0 where x - m overflowed: no 0 * inf
                g *= 1.0 + b * (xi - y)
            out[i] = dt(g)


@njit(**JIT)
def softmaximum_serial(x, mk, has_mask, kind, b, out):
    """Row loop of :func:`softmaximum_row` (``out`` float64 of length rows)."""
    for r in range(x.shape[0]):
        out[r] = softmaximum_row(x[r], mk[r if has_mask else 0], has_mask, kind, b)


@njit(**JIT_PARALLEL)
def softmaximum_parallel(x, mk, has_mask, kind, b, out):
    """Parallel :func:`softmaximum_serial`."""
    for r in prange(x.shape[0]):
        out[r] = softmaximum_row(x[r], mk[r if has_mask else r - r], has_mask, kind, b)


@njit(**JIT)
def softmaximum_grad_serial(x, mk, has_mask, kind, b, out):
    """Row loop of :func:`softmaximum_grad_row`."""
    for r in range(x.shape[0]):
        softmaximum_grad_row(x[r], mk[r if has_mask else 0], has_mask, kind, b, out[r])


@njit(**JIT_PARALLEL)
def softmaximum_grad_parallel(x, mk, has_mask, kind, b, out):
    """Parallel :func:`softmaximum_grad_serial`."""
    for r in prange(x.shape[0]):
        softmaximum_grad_row(x[r], mk[r if has_mask else r - r], has_mask, kind, b, out[r])


@njit(**JIT)
def adaptive_row(x, mk, has_mask, y, stats):
    """Adaptive-temperature softmax of one row into ``y`` (float64); ``stats[:] = (beta, H)``."""
    m, _, cnt = row_extremes(x, mk, has_mask)
    if cnt == 0:
        fill(y, 0.0)
        stats[0] = 1.0
        stats[1] = 0.0
        return
    if not m < np.inf:  # NaN or +inf
        for i in range(x.shape[0]):
            y[i] = np.nan if (mk[i if has_mask else 0] & (np.float64(x[i]) != -np.inf)) else 0.0
        stats[0] = np.nan
        stats[1] = np.nan
        return
    s, d = _sums(x, mk, has_mask, 1.0, m)
    h = math.log(s) - d / s
    p = (((_P4 * h + _P3) * h + _P2) * h + _P1) * h + _P0
    beta = p if (h > 0.5 and p > 1.0) else 1.0
    s2 = _sums(x, mk, has_mask, beta, m)[0]
    inv = 1.0 / s2
    for i in range(x.shape[0]):
        xi = np.float64(x[i])
        kept = mk[i if has_mask else 0] & (xi != -np.inf)
        y[i] = vexp(beta * (xi - m)) * inv if kept else 0.0
    stats[0] = beta
    stats[1] = h


@njit(**JIT)
def adaptive_serial(x, mk, has_mask, y, stats):
    """Row loop of :func:`adaptive_row` (``stats`` of shape (rows, 2))."""
    for r in range(x.shape[0]):
        adaptive_row(x[r], mk[r if has_mask else 0], has_mask, y[r], stats[r])


@njit(**JIT_PARALLEL)
def adaptive_parallel(x, mk, has_mask, y, stats):
    """Parallel :func:`adaptive_serial`."""
    for r in prange(x.shape[0]):
        adaptive_row(x[r], mk[r if has_mask else r - r], has_mask, y[r], stats[r])
