r"""Numba kernels of the maps of a row's z-scores (issue 15): ASH and the classification Z-loss.

With :math:`\mu` the mean and :math:`\sigma` the population standard deviation of the ``n`` kept
entries and :math:`z_i = (x_i - \mu)/\sigma` (``kind`` from :data:`KINDS`):

* ``ash`` (Lee et al. 2022, "Stochastic Adaptive Activation Function"):
  :math:`y_i = x_i\,\mathrm{sigmoid}(\alpha(x_i - \mu - z\sigma))`, with
  :math:`J_{ij} = \delta_{ij}s_i + g_i(\delta_{ij} - 1/n - z\,z_j/n)`,
  :math:`s_i = \mathrm{sigmoid}(u_i)`, :math:`g_i = \alpha x_i s_i(1 - s_i)`;
* ``z_loss_classification`` (de Brébisson & Vincent 2016, the classification Z-loss, not the
  ST-MoE router ``z_loss``): :math:`y_i = \mathrm{softplus}(a(b - z_i))/a`, with
  :math:`J_{ij} = -r_i(\delta_{ij} - 1/n - z_i z_j/n)/\sigma`, :math:`r_i = \mathrm{sigmoid}(a(b - z_i))`.

Mean and deviation come from :func:`funclib.kernels.rowwise.scale.scale_state` with
:math:`\epsilon = 0` (exact powers of two keep rows near ``finfo.max`` finite); the sigmoid
branches on the sign and softplus is :math:`\max(t, 0) + \mathrm{log1p}(e^{-|t|})` (libm, float64
for both input dtypes, the output rounded once).

Conventions (mask rule ``remove``): masked and ``-inf`` entries get 0 and leave the statistics;
a row with no kept entry gives zeros; a kept NaN or ``+inf`` gives NaN at the kept entries. A
constant row (:math:`\sigma = 0`) gives :math:`x_i/2` for ASH (its Jacobian's :math:`z` term is
0/0: NaN unless :math:`z = 0`) and NaN for the Z-loss (:math:`z_i = 0/0`, as the definition).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from .. import numba_cache  # noqa: F401 - Numba caches go to the funclib cache, not the package

from funclib.kernels.rowwise.reduce import JIT, JIT_PARALLEL, fill
from funclib.kernels.rowwise.scale import STANDARDIZE, scale_state

__all__ = ["KINDS", "zscore_row", "zscore_product_row", "zscore_serial", "zscore_parallel",
           "zscore_product_serial", "zscore_product_parallel"]

ASH, ZLOSS = 0, 1
#: Entry id -> ``kind`` argument of the kernels.
KINDS = {"ash": ASH, "z_loss_classification": ZLOSS}


@njit(**JIT)
def _sigmoids(u):
    """``(sigmoid(u), sigmoid(-u))`` without overflow."""
    e = math.exp(-abs(u))
    a = 1.0 / (1.0 + e)
    b = e / (1.0 + e)
    return (a, b) if u >= 0.0 else (b, a)


@njit(**JIT)
def _elem(kind, xi, t, ds, c0, c1, p1, p2):
    """``(y, s1, s2)``: ASH: y, s, g = alpha x s (1 - s); Z-loss: y, r, z (``t`` the scaled deviation)."""
    if kind == ASH:
        u = p1 * (((t - p2 * ds) / c1) / c0)
        s, sm = _sigmoids(u)
        return xi * s, s, p1 * xi * s * sm
    z = t / ds
    v = p1 * (p2 - z)
    e = math.exp(-abs(v))  # one exponential for both softplus and sigmoid
    r = 1.0 / (1.0 + e) if v >= 0.0 else e / (1.0 + e)
    return (max(v, 0.0) + math.log1p(e)) / p1, r, z


@njit(**JIT)
def zscore_row(x, mk, has_mask, kind, p1, p2, out):
    """One row of ``kind`` (ASH: ``p1, p2 = alpha, z``; Z-loss: ``a, b``)."""
    dt = x.dtype.type
    status, c0, mu, c1, ds, _ = scale_state(x, mk, has_mask, STANDARDIZE, 0.0)
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
            out[i] = dt(_elem(kind, xi, (xi * c0 - mu) * c1, ds, c0, c1, p1, p2)[0])


@njit(**JIT)
def zscore_product_row(x, w, mk, has_mask, kind, p1, p2, vjp, out):
    """JVP (``vjp=False``) or VJP of one row (formulas in the module docstring)."""
    dt = x.dtype.type
    status, c0, mu, c1, ds, cnt = scale_state(x, mk, has_mask, STANDARDIZE, 0.0)
    if status == 0:
        fill(out, dt(0.0))
        return
    n = np.float64(cnt)
    # JVP: A = sum v, B = <z, v>; VJP: A = sum q w, B = sum q w z with q = g (ASH) or r (Z-loss)
    a = 0.0
    b = 0.0
    for i in range(x.shape[0]):
        xi = np.float64(x[i])
        if not (mk[i if has_mask else 0] & (xi != -np.inf)) or status == 1:
            continue
        t = (xi * c0 - mu) * c1
        z = t / ds
        wi = np.float64(w[i])
        if vjp:
            _, s1, s2 = _elem(kind, xi, t, ds, c0, c1, p1, p2)
            q = s2 if kind == ASH else s1
            a += q * wi
            b += q * wi * z
        else:
            a += wi
            b += z * wi
    inv_sigma = (c0 / ds) * c1
    for i in range(x.shape[0]):
        xi = np.float64(x[i])
        if not (mk[i if has_mask else 0] & (xi != -np.inf)):
            out[i] = dt(0.0)
            continue
        if status == 1:
            out[i] = dt(np.nan)
            continue
        t = (xi * c0 - mu) * c1
        z = t / ds
        wi = np.float64(w[i])
        _, s1, s2 = _elem(kind, xi, t, ds, c0, c1, p1, p2)
        if kind == ASH:
            zterm = p2 * b / n if p2 != 0.0 else 0.0  # z = 0: no deviation term (and no 0/0)
            if vjp:
                zj = p2 * z * a / n if p2 != 0.0 else 0.0
                out[i] = dt(s1 * wi + s2 * wi - a / n - zj)
            else:
                out[i] = dt(s1 * wi + s2 * (wi - a / n - zterm))
        elif vjp:
            out[i] = dt((-s1 * wi + a / n + s2 * b / n) * inv_sigma)
        else:
            out[i] = dt(-s1 * (wi - a / n - s2 * b / n) * inv_sigma)


@njit(**JIT)
def zscore_serial(x, mk, has_mask, kind, p1, p2, out):
    """Row loop of :func:`zscore_row`."""
    for r in range(x.shape[0]):
        zscore_row(x[r], mk[r if has_mask else 0], has_mask, kind, p1, p2, out[r])


@njit(**JIT_PARALLEL)
def zscore_parallel(x, mk, has_mask, kind, p1, p2, out):
    """Parallel :func:`zscore_serial` (one row per thread: bitwise equal)."""
    for r in prange(x.shape[0]):
        zscore_row(x[r], mk[r if has_mask else r - r], has_mask, kind, p1, p2, out[r])


@njit(**JIT)
def zscore_product_serial(x, w, mk, has_mask, kind, p1, p2, vjp, out):
    """Row loop of :func:`zscore_product_row`."""
    for r in range(x.shape[0]):
        zscore_product_row(x[r], w[r], mk[r if has_mask else 0], has_mask, kind, p1, p2, vjp, out[r])


@njit(**JIT_PARALLEL)
def zscore_product_parallel(x, w, mk, has_mask, kind, p1, p2, vjp, out):
    """Parallel :func:`zscore_product_serial`."""
    for r in prange(x.shape[0]):
        zscore_product_row(x[r], w[r], mk[r if has_mask else r - r], has_mask, kind, p1, p2, vjp, out[r])
