"""Numba kernels of the elementwise maps that see the row only through ``n`` or its mean (issue 15).

``kind`` from :data:`KINDS`; ``n`` is the number of kept entries, :math:`\\mu` their mean:

=========================  ===========================  ===============================================
entry                      :math:`y_i`                  :math:`J`
=========================  ===========================  ===============================================
``relu_seqlen_attention``  :math:`\\max(x_i, 0)/n`        :math:`\\mathrm{diag}([x_i > 0]/n)`
``relu2_attention``        :math:`\\max(x_i/n, 0)^2`     :math:`\\mathrm{diag}(2\\max(x_i/n, 0)/n)`
``ab_relu``                :math:`\\max(x_i - \\mu, 0)`   :math:`\\mathrm{diag}(g)(I - \\mathbf{1}\\mathbf{1}^\\top/n)`, :math:`g_i = [x_i > \\mu]`
=========================  ===========================  ===============================================

(ReLU attention divided by the sequence length, Wortsman et al. 2023, arXiv:2309.08586;
squared-ReLU attention of Hua et al. 2022, arXiv:2202.10447; Average-Biased ReLU, Dubey &
Chakraborty 2018, arXiv:1804.02051.) The kink
convention is the catalog's: the derivative of :math:`\\max(t, 0)` at 0 is 0.

Float64 for both input dtypes, the output rounded once; the mean is
:func:`funclib.kernels.rowwise.scale.kept_mean` (scaled, no overflow). Conventions (mask rule
``remove``): masked and ``-inf`` entries get 0 and leave ``n`` and the mean; a row with no kept
entry gives zeros; a kept NaN gives NaN at the kept entries; a kept ``+inf`` gives ``+inf`` there
for the two attention maps (they are elementwise given ``n``) and NaN at the kept entries for
AB-ReLU (its mean is infinite).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from .. import numba_cache  # noqa: F401 - Numba caches go to the funclib cache, not the package

from funclib.kernels.rowwise.reduce import JIT, JIT_PARALLEL, JIT_SUM, fill
from funclib.kernels.rowwise.scale import kept_mean
from funclib.kernels.rowwise.weighted import row_extremes

__all__ = ["KINDS", "counted_row", "counted_product_row", "counted_serial", "counted_parallel",
           "counted_product_serial", "counted_product_parallel"]

RELU_SEQLEN, RELU2, AB_RELU = 0, 1, 2
#: Entry id -> ``kind`` argument of the kernels.
KINDS = {"relu_seqlen_attention": RELU_SEQLEN, "relu2_attention": RELU2, "ab_relu": AB_RELU}


@njit(**JIT)
def _setup(x, mk, has_mask, kind):
    """``(status, n, mu)``: status 0 = no kept entry, 1 = NaN row, 2 = regular."""
    m, lo, cnt = row_extremes(x, mk, has_mask)
    if cnt == 0:
        return 0, 0.0, 0.0
    if np.isnan(m) or (kind == AB_RELU and m == np.inf):
        return 1, np.float64(cnt), 0.0
    mu = kept_mean(x, mk, has_mask, m, lo, cnt) if kind == AB_RELU else 0.0
    return 2, np.float64(cnt), mu


@njit(**JIT)
def _value(kind, xi, n, mu):
    if kind == RELU_SEQLEN:
        return max(xi, 0.0) / n
    if kind == RELU2:
        t = max(xi / n, 0.0)
        return t * t
    return max(xi - mu, 0.0)


@njit(**JIT)
def _slope(kind, xi, n, mu):
    """Diagonal factor: [x > 0]/n, 2 max(x/n, 0)/n, [x > mu]."""
    if kind == RELU_SEQLEN:
        return 1.0 / n if xi > 0.0 else 0.0
    if kind == RELU2:
        return 2.0 * max(xi / n, 0.0) / n
    return 1.0 if xi > mu else 0.0


@njit(**JIT)
def counted_row(x, mk, has_mask, kind, out):
    """One row of the map ``kind``."""
    dt = x.dtype.type
    status, n, mu = _setup(x, mk, has_mask, kind)
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
            out[i] = dt(_value(kind, xi, n, mu))


@njit(**JIT_SUM)
def _ab_sums(x, w, mk, has_mask, mu):
    """``(sum w, sum g w)`` over the kept entries, ``g = [x > mu]``."""
    sw = 0.0
    sgw = 0.0
    for i in range(x.shape[0]):
        xi = np.float64(x[i])
        k = mk[i if has_mask else 0] & (xi != -np.inf)
        wi = np.float64(w[i]) if k else 0.0
        sw += wi
        sgw += wi if xi > mu else 0.0
    return sw, sgw


@njit(**JIT)
def counted_product_row(x, w, mk, has_mask, kind, vjp, out):
    """JVP (``vjp=False``) or VJP of one row; the two differ only for AB-ReLU:
    JVP :math:`g_i(v_i - \\bar v)`, VJP :math:`g_j u_j - \\sum_i g_i u_i/n`."""
    dt = x.dtype.type
    status, n, mu = _setup(x, mk, has_mask, kind)
    if status == 0:
        fill(out, dt(0.0))
        return
    shift = 0.0
    if kind == AB_RELU and status == 2:
        sw, sgw = _ab_sums(x, w, mk, has_mask, mu)
        shift = sgw / n if vjp else sw / n
    for i in range(x.shape[0]):
        xi = np.float64(x[i])
        if not (mk[i if has_mask else 0] & (xi != -np.inf)):
            out[i] = dt(0.0)
        elif status == 1:
            out[i] = dt(np.nan)
        else:
            g = _slope(kind, xi, n, mu)
            wi = np.float64(w[i])
            if kind != AB_RELU:
                out[i] = dt(g * wi)
            elif vjp:
                out[i] = dt(g * wi - shift)
            else:
                out[i] = dt(g * (wi - shift))


@njit(**JIT)
def counted_serial(x, mk, has_mask, kind, out):
    """Row loop of :func:`counted_row`."""
    for r in range(x.shape[0]):
        counted_row(x[r], mk[r if has_mask else 0], has_mask, kind, out[r])


@njit(**JIT_PARALLEL)
def counted_parallel(x, mk, has_mask, kind, out):
    """Parallel :func:`counted_serial` (one row per thread: bitwise equal)."""
    for r in prange(x.shape[0]):
        counted_row(x[r], mk[r if has_mask else r - r], has_mask, kind, out[r])


@njit(**JIT)
def counted_product_serial(x, w, mk, has_mask, kind, vjp, out):
    """Row loop of :func:`counted_product_row`."""
    for r in range(x.shape[0]):
        counted_product_row(x[r], w[r], mk[r if has_mask else 0], has_mask, kind, vjp, out[r])


@njit(**JIT_PARALLEL)
def counted_product_parallel(x, w, mk, has_mask, kind, vjp, out):
    """Parallel :func:`counted_product_serial`."""
    for r in prange(x.shape[0]):
        counted_product_row(x[r], w[r], mk[r if has_mask else r - r], has_mask, kind, vjp, out[r])
