"""Numba kernels of the "shift, then scale" row normalizations (issue 15 breadth maps).

.. math::

   y_i = \\frac{x_i - \\mu}{D}, \\qquad
   J = \\frac{1}{D}\\Bigl(I - \\frac{a}{n}\\mathbf{1}\\mathbf{1}^\\top - b\\, y y^\\top\\Bigr),

with ``n`` the number of kept entries and (``kind`` from :data:`KINDS`)

=================  ===============  ===============================================  ============
entry              :math:`\\mu`      :math:`D`                                         a, b
=================  ===============  ===============================================  ============
``l2_normalize``   0                :math:`\\max(\\|x\\|_2, \\epsilon)`                  0, 1 (0, 0 if
                                                                                     :math:`\\|x\\| \\le \\epsilon`)
``rms_normalize``  0                :math:`\\sqrt{\\sum_j x_j^2/n + \\epsilon}`          0, 1/n
``standardize``    mean of x        :math:`\\sqrt{\\sum_j (x_j-\\mu)^2/n + \\epsilon}`   1, 1/n
=================  ===============  ===============================================  ============

:math:`J` is symmetric, so JVP and VJP are the same product
:math:`(w - a\\,\\bar w - b\\, y \\langle y, w\\rangle)/D`.

Numerics: float64 for both input dtypes, the output rounded once. With :math:`c_0` an exact
power of two that brings :math:`\\max(\\max_j|x_j|, \\sqrt\\epsilon)` (L2: :math:`\\epsilon`) near 1,
the mean is that of :math:`x_j c_0`, and the variance is the two-pass sum of
:math:`t_j^2`, :math:`t_j = (x_j c_0 - \\mu c_0) c_1` with a second power of two :math:`c_1` from
the largest :math:`|x_j c_0 - \\mu c_0|`; :math:`y_i = t_i/\\sqrt{\\sum t^2/n + \\epsilon c_0^2c_1^2}`.
Rows near ``finfo.max`` do not overflow (their deviations from the mean may exceed it) and rows
of tiny entries do not underflow. For
``standardize`` the rounding of :math:`\\mu` enters :math:`x_i - \\mu`: entries close to the mean
of a row with :math:`|\\mu| \\gg \\sigma` carry the absolute error
:math:`\\approx \\varepsilon|\\mu|/D` that the problem's condition number implies.

Conventions (mask rule ``remove``): masked and ``-inf`` entries are left out, ``n`` counts the
rest, and they get 0; a row with no kept entry gives zeros; a kept NaN or ``+inf`` gives NaN at
the kept entries.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from .. import numba_cache  # noqa: F401 - Numba caches go to the funclib cache, not the package

from funclib.kernels.rowwise.reduce import JIT, JIT_PARALLEL, JIT_SUM, fill
from funclib.kernels.rowwise.weighted import pow2_scale, row_extremes

__all__ = [
    "KINDS",
    "kept_mean",
    "scale_state",
    "scale_row",
    "scale_product_row",
    "scale_serial",
    "scale_parallel",
    "scale_product_serial",
    "scale_product_parallel",
]

L2, RMS, STANDARDIZE = 0, 1, 2
#: Entry id -> ``kind`` argument of the kernels.
KINDS = {"l2_normalize": L2, "rms_normalize": RMS, "standardize": STANDARDIZE}


@njit(**JIT_SUM)
def _sum_scaled(x, mk, has_mask, c):
    s = 0.0
    for i in range(x.shape[0]):
        xi = np.float64(x[i])
        k = mk[i if has_mask else 0] & (xi != -np.inf)
        s += xi * c if k else 0.0
    return s


@njit(**JIT)
def kept_mean(x, mk, has_mask, m, lo, cnt):
    """Mean of the ``cnt`` kept entries (finite extremes ``m``, ``lo``), scaled: no overflow.

    Rounded into ``[lo, m]``.
    """
    c0 = pow2_scale(max(abs(m), abs(lo)))
    mu = _sum_scaled(x, mk, has_mask, c0) / np.float64(cnt) / c0
    return min(max(mu, lo), m)


@njit(**JIT)
def _t(xi, c0, mu, c1):
    """The scaled deviation ((x c0) - mu) c1 (c0, c1 exact powers of two, mu the scaled mean)."""
    return (xi * c0 - mu) * c1


@njit(**JIT_SUM)
def _sum_sq(x, mk, has_mask, c0, mu, c1):
    s = 0.0
    for i in range(x.shape[0]):
        xi = np.float64(x[i])
        k = mk[i if has_mask else 0] & (xi != -np.inf)
        t = _t(xi, c0, mu, c1)
        s += t * t if k else 0.0
    return s


@njit(**JIT)
def scale_state(x, mk, has_mask, kind, eps):
    """Row state ``(status, c0, mu, c1, Ds, n)`` with ``y_i = ((x_i c0) - mu) c1 / Ds``.

    status 0 = no kept entry, 1 = NaN, 2 = regular, 3 = L2 clamped at eps. ``c0`` brings
    ``max(max|x|, floor)`` (floor = eps for L2, sqrt(eps) otherwise) near 1, ``mu`` is the mean
    of ``x c0`` (0 for L2 and RMS), ``c1`` brings ``max(max|x c0 - mu|, floor c0)`` near 1:
    nothing overflows or underflows that matters, and the true ``D`` is ``Ds/(c0 c1)``. With
    ``eps = 0`` (the z-score maps) ``D`` is the population standard deviation.
    """
    m, lo, cnt = row_extremes(x, mk, has_mask)
    if cnt == 0:
        return 0, 1.0, 0.0, 1.0, 1.0, 0
    if not (m < np.inf and lo > -np.inf):  # NaN or +inf
        return 1, 1.0, 0.0, 1.0, 1.0, cnt
    n = np.float64(cnt)
    floor = eps if kind == L2 else math.sqrt(eps)
    c0 = pow2_scale(max(abs(m), abs(lo), floor))
    mu = 0.0
    if kind == STANDARDIZE:
        mu = _sum_scaled(x, mk, has_mask, c0) / n
        mu = min(max(mu, lo * c0), m * c0)  # the rounded mean stays within the row
    f0 = floor * c0
    c1 = pow2_scale(max(abs(m * c0 - mu), abs(lo * c0 - mu), f0))
    q = _sum_sq(x, mk, has_mask, c0, mu, c1)
    f = f0 * c1
    if kind == L2:
        norm = math.sqrt(q)
        if norm > f:
            return 2, c0, mu, c1, norm, cnt
        return 3, c0, mu, c1, f, cnt
    # Ds = 0 only if every deviation is 0 and eps c0^2 c1^2 underflowed (or eps = 0, the z-score
    # maps): the callers decide
    return 2, c0, mu, c1, math.sqrt(q / n + f * f), cnt


@njit(**JIT)
def scale_row(x, mk, has_mask, kind, eps, out):
    """One row of the normalization ``kind`` (see the module docstring)."""
    dt = x.dtype.type
    status, c0, mu, c1, ds, _ = scale_state(x, mk, has_mask, kind, eps)
    if status == 0:
        fill(out, dt(0.0))
        return
    inv = 1.0 / ds if ds > 0.0 else 0.0  # one division per row; ds = 0: every deviation is 0
    for i in range(x.shape[0]):
        xi = np.float64(x[i])
        if not (mk[i if has_mask else 0] & (xi != -np.inf)):
            out[i] = dt(0.0)
        elif status == 1:
            out[i] = dt(np.nan)
        else:
            out[i] = dt(_t(xi, c0, mu, c1) * inv)


@njit(**JIT_SUM)
def _sums_for_product(x, w, mk, has_mask, c0, mu, c1, inv):
    """``(sum w, <y, w>)`` over the kept entries (``inv`` = 1/Ds)."""
    sw = 0.0
    syw = 0.0
    for i in range(x.shape[0]):
        xi = np.float64(x[i])
        k = mk[i if has_mask else 0] & (xi != -np.inf)
        wi = np.float64(w[i]) if k else 0.0
        sw += wi
        syw += (_t(xi, c0, mu, c1) * inv) * wi if k else 0.0
    return sw, syw


@njit(**JIT)
def scale_product_row(x, w, mk, has_mask, kind, eps, out):
    """:math:`J w = (w - a\\bar w - b\\,y\\langle y, w\\rangle)/D` for one row (JVP = VJP: J is symmetric)."""
    dt = x.dtype.type
    status, c0, mu, c1, ds, cnt = scale_state(x, mk, has_mask, kind, eps)
    if status == 0:
        fill(out, dt(0.0))
        return
    inv = 1.0 / ds if ds > 0.0 else 0.0
    sw, syw = (0.0, 0.0) if status == 1 else _sums_for_product(x, w, mk, has_mask, c0, mu, c1, inv)
    n = np.float64(cnt)
    mean_w = sw / n if kind == STANDARDIZE else 0.0
    b = 0.0 if status == 3 else (1.0 if kind == L2 else 1.0 / n)
    inv_d = (c0 / ds) * c1  # ds = 0 (eps underflowed against a constant row): inf, as 1/sqrt(eps) is
    for i in range(x.shape[0]):
        xi = np.float64(x[i])
        if not (mk[i if has_mask else 0] & (xi != -np.inf)):
            out[i] = dt(0.0)
        elif status == 1:
            out[i] = dt(np.nan)
        else:
            yi = _t(xi, c0, mu, c1) * inv
            out[i] = dt((np.float64(w[i]) - mean_w - b * yi * syw) * inv_d)


@njit(**JIT)
def scale_serial(x, mk, has_mask, kind, eps, out):
    """Row loop of :func:`scale_row`."""
    for r in range(x.shape[0]):
        scale_row(x[r], mk[r if has_mask else 0], has_mask, kind, eps, out[r])


@njit(**JIT_PARALLEL)
def scale_parallel(x, mk, has_mask, kind, eps, out):
    """Parallel :func:`scale_serial` (one row per thread: bitwise equal)."""
    for r in prange(x.shape[0]):
        scale_row(x[r], mk[r if has_mask else r - r], has_mask, kind, eps, out[r])


@njit(**JIT)
def scale_product_serial(x, w, mk, has_mask, kind, eps, out):
    """Row loop of :func:`scale_product_row`."""
    for r in range(x.shape[0]):
        scale_product_row(x[r], w[r], mk[r if has_mask else 0], has_mask, kind, eps, out[r])


@njit(**JIT_PARALLEL)
def scale_product_parallel(x, w, mk, has_mask, kind, eps, out):
    """Parallel :func:`scale_product_serial`."""
    for r in prange(x.shape[0]):
        scale_product_row(x[r], w[r], mk[r if has_mask else r - r], has_mask, kind, eps, out[r])
