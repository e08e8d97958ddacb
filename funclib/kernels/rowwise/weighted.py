r"""Numba kernels of the "elementwise weight, then normalise" maps (issue 15 breadth maps).

.. math::

   y_i = \frac{w(x_i)}{\sum_j w(x_j)}, \qquad
   \frac{\partial y_i}{\partial x_j} = \frac{\delta_{ij} w'(x_i) - y_i\, w'(x_j)}{\sum_k w(x_k)},

for the catalog entries (``kind`` from :data:`KINDS`)

=====================  =================================================================  ======================
entry                  weight :math:`w(x)`                                                :math:`w'(x)`
=====================  =================================================================  ======================
``stablemax``          :math:`x + 1` (:math:`x \ge 0`), :math:`1/(1-x)` (:math:`x < 0`)    1, :math:`1/(1-x)^2`
``taylor_softmax``     :math:`1 + x + x^2/2 = ((1 + x)^2 + 1)/2`                          :math:`1 + x`
``spherical_softmax``  :math:`x^2 + \epsilon`                                             :math:`2x`
=====================  =================================================================  ======================

and ``log_stablemax`` (``log=True``): :math:`\log s(x_i) - \log \sum_j s(x_j)`, Jacobian
:math:`\delta_{ij}/(1 + |x_i|) - s'(x_j)/\sum_k s(x_k)` (:math:`s'/s = 1/(1+|x|)`).

Numerics. Every row is computed in float64 (also for float32 input; the output is rounded once).
None of the weights needs a libm call, so the loops vectorize. The weights are scaled by an
exact power of two :math:`c` chosen from the row's extremes (StableMax: :math:`s(\max x)`;
Taylor: :math:`\max(1, \max_j|1 + x_j|)`; spherical: :math:`\max(\max_j |x_j|, \sqrt\epsilon)`),
so no sum overflows for rows near ``finfo.max`` and spherical rows of tiny entries do not
underflow: the kernel sums :math:`c\,s(x)` (StableMax, with :math:`c\,s(x)` for
:math:`x < 0` evaluated as :math:`c/(1 - x)`), :math:`((1 + x)c)^2/2 + c^2/2` and
:math:`(xc)^2 + \epsilon c^2`. Log-StableMax writes :math:`\log y_i` while :math:`y_i`
is a normal number (absolute error about one ULP of 1 near 0, as log-softmax) and
:math:`\log s(x_i) - \log \sum_j s(x_j)` (``log1p``) below, where that difference has no
cancellation.

Masks: ``mk`` is the row's boolean mask when ``has_mask``, else the layout's dummy
(:func:`funclib.kernels.rowwise.layout.as_rows`, one ``True``); every loop reads
``mk[i if has_mask else 0]`` (the same in the other breadth kernel modules).

Conventions (the catalog entries' mask rule ``remove``): masked and ``-inf`` entries are left
out of the sums and get 0 (``-inf`` for Log-StableMax); a row with no kept entry gives the
same value everywhere; a kept NaN or ``+inf`` gives NaN at the kept entries. Spherical softmax
with :math:`\epsilon = 0` gives NaN on a row whose kept entries are all 0 (0/0, as its
definition).

References
----------
.. [1] L. Prieto, M. Barsbey, P. A. M. Mediano and T. Birdal, "Grokking at the Edge of
   Numerical Stability", ICLR 2025, arXiv:2501.04697 (StableMax, Log-StableMax).
.. [2] A. de Brébisson and P. Vincent, "An Exploration of Softmax Alternatives Belonging to the
   Spherical Loss Family", ICLR 2016, arXiv:1511.05042 (Taylor and spherical softmax).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from .. import numba_cache  # noqa: F401 - Numba caches go to the funclib cache, not the package

from funclib.kernels.rowwise.scalar_math import fmaximum, fminimum
from funclib.kernels.rowwise.reduce import JIT, JIT_PARALLEL, JIT_SUM, fill

__all__ = [
    "KINDS",
    "row_extremes",
    "pow2_scale",
    "weighted_row",
    "weighted_product_row",
    "weighted_serial",
    "weighted_parallel",
    "weighted_product_serial",
    "weighted_product_parallel",
]

STABLEMAX, TAYLOR, SPHERICAL = 0, 1, 2
#: Entry id -> ``kind`` argument of the kernels.
KINDS = {"stablemax": STABLEMAX, "taylor_softmax": TAYLOR, "spherical_softmax": SPHERICAL}

#: Below this value a Log-StableMax output is computed as log s(x_i) - log S (log y_i would
#: lose the digits of a subnormal y_i).
_LOG_DIRECT_MIN = 2.0 ** -1000


@njit(**JIT)
def _extremes_f32(x, mk, has_mask):
    ninf = -np.inf
    m = ninf
    lo = np.inf
    cnt = 0
    if has_mask:
        for i in range(x.shape[0]):
            xi = np.float64(x[i])
            k = mk[i] & (xi != ninf)
            m = fmaximum(m, xi if k else ninf)
            lo = fminimum(lo, xi if k else np.inf)
            cnt += 1 if k else 0
    else:
        for i in range(x.shape[0]):
            xi = np.float64(x[i])
            k = xi != ninf
            m = fmaximum(m, xi if k else ninf)
            lo = fminimum(lo, xi if k else np.inf)
            cnt += 1 if k else 0
    return m, lo, cnt


@njit(**JIT)
def _extremes_f64(x, mk, has_mask):
    ninf = -np.inf
    m = ninf
    lo = np.inf
    cnt = 0
    bad = False
    for i in range(x.shape[0]):
        xi = np.float64(x[i])
        k = mk[i if has_mask else 0] & (xi != ninf)
        v = xi if k else ninf
        w = xi if k else np.inf
        m = v if v > m else m
        lo = w if w < lo else lo
        cnt += 1 if k else 0
        bad |= v != v
    return (np.nan if bad else m), lo, cnt


@njit(**JIT)
def row_extremes(x, mk, has_mask):
    """``(max, min, count)`` of the kept entries in float64 (masked and ``-inf`` left out).

    The maximum is NaN if a kept entry is NaN; with no kept entry it is ``-inf`` and the count 0.
    float32 rows: ``llvm.maximum``/``minimum`` over the widened values, which vectorizes (0.5 ns
    per element here); float64 rows: plain comparisons and a NaN flag, because the float64
    ``llvm.maximum`` loop did not vectorize and cost about 6 ns per element (1.4 ns this way).
    """
    if x.itemsize == 4:
        return _extremes_f32(x, mk, has_mask)
    return _extremes_f64(x, mk, has_mask)


@njit(**JIT)
def pow2_scale(a):
    """``2**-e`` with ``a = f 2**e``, ``f`` in [0.5, 1), ``e`` clamped to [-1021, 1022] (1 for a = 0).

    Multiplying by it is exact (barring underflow of terms far below the largest), and it
    brings the largest magnitude ``a`` into [0.5, 2).
    """
    if not a > 0.0 or not a < np.inf:
        return 1.0
    e = math.frexp(a)[1]
    e = min(max(e, -1021), 1022)
    return math.ldexp(1.0, -e)


@njit(**JIT)
def _weight(kind, xi, c, c2):
    """Scaled weight: c s(x), ((1+x)c)^2/2 + c2/2 (c2 = c^2), (xc)^2 + c2 (c2 = eps c^2)."""
    if kind == STABLEMAX:
        return (xi + 1.0) * c if xi >= 0.0 else c / (1.0 - xi)
    if kind == TAYLOR:
        t = (1.0 + xi) * c
        return 0.5 * (t * t + c2)
    t = xi * c
    return t * t + c2


@njit(**JIT)
def _dweight(kind, xi, c):
    """Scaled derivative d with w'(x)/sum w = d * k: s'(x), (1+x)c, xc."""
    if kind == STABLEMAX:
        q = 1.0 / (1.0 - xi)
        return 1.0 if xi >= 0.0 else q * q
    if kind == TAYLOR:
        return (1.0 + xi) * c
    return xi * c


@njit(**JIT)
def _log_s(xi):
    """log s(x) = log1p(x) (x >= 0), -log1p(-x) (x < 0)."""
    return math.log1p(xi) if xi >= 0.0 else -math.log1p(-xi)


@njit(**JIT_SUM)
def _sum_weights(x, mk, has_mask, kind, c, c2):
    s = 0.0
    for i in range(x.shape[0]):
        xi = np.float64(x[i])
        k = mk[i if has_mask else 0] & (xi != -np.inf)
        s += _weight(kind, xi, c, c2) if k else 0.0
    return s


@njit(**JIT)
def _setup(x, mk, has_mask, kind, eps):
    """Row state ``(status, c, c2, S, k)``: status 0 = no kept entry, 1 = NaN, 2 = regular.

    ``S`` is the scaled sum and ``k`` the factor of the Jacobian (w'(x_i)/sum w = d_i k).
    """
    m, lo, cnt = row_extremes(x, mk, has_mask)
    if cnt == 0:
        return 0, 1.0, 0.0, 0.0, 0.0
    if not m < np.inf:  # NaN or +inf
        return 1, 1.0, 0.0, 0.0, 0.0
    if kind == STABLEMAX:
        c = pow2_scale(m + 1.0 if m >= 0.0 else 1.0 / (1.0 - m))
        c2 = 0.0
    elif kind == TAYLOR:
        c = pow2_scale(max(abs(1.0 + m), abs(1.0 + lo), 1.0))
        c2 = c * c
    else:
        c = pow2_scale(max(abs(m), abs(lo), math.sqrt(eps)))
        c2 = eps * c * c
    s = _sum_weights(x, mk, has_mask, kind, c, c2)
    k = (2.0 * c if kind == SPHERICAL else c) / s
    return 2, c, c2, s, k


@njit(**JIT)
def weighted_row(x, mk, has_mask, kind, log, eps, out):
    """One row of the map ``kind`` (``log=True``: Log-StableMax; see the module docstring)."""
    dt = x.dtype.type
    mval = dt(-np.inf) if log else dt(0.0)
    status, c, c2, s, _ = _setup(x, mk, has_mask, kind, eps)
    if status == 0:
        fill(out, mval)
        return
    log_total = math.log(s) - math.log(c)  # log of the unscaled sum (StableMax scales by c)
    inv = 1.0 / s  # one division per row (float64: far below a float32 output's rounding)
    for i in range(x.shape[0]):
        xi = np.float64(x[i])
        if not (mk[i if has_mask else 0] & (xi != -np.inf)):
            out[i] = mval
        elif status == 1:
            out[i] = dt(np.nan)
        elif log:
            r = _weight(kind, xi, c, c2) / s
            out[i] = dt(math.log(r) if r >= _LOG_DIRECT_MIN else _log_s(xi) - log_total)
        else:
            out[i] = dt(_weight(kind, xi, c, c2) * inv)


@njit(**JIT_SUM)
def _product_acc(x, w, mk, has_mask, kind, log, vjp, c, c2, inv):
    """JVP: <d, v>; VJP: <y, u> (Log-StableMax: sum u)."""
    acc = 0.0
    for i in range(x.shape[0]):
        xi = np.float64(x[i])
        k = mk[i if has_mask else 0] & (xi != -np.inf)
        wi = np.float64(w[i]) if k else 0.0
        if not vjp:
            acc += _dweight(kind, xi, c) * wi if k else 0.0
        elif log:
            acc += wi
        else:
            acc += (_weight(kind, xi, c, c2) * inv) * wi if k else 0.0
    return acc


@njit(**JIT)
def weighted_product_row(x, w, mk, has_mask, kind, log, eps, vjp, out):
    """JVP (``vjp=False``, ``w`` = tangent) or VJP (``w`` = cotangent) of one row.

    JVP :math:`k(d_i v_i - y_i\\langle d, v\\rangle)`, VJP :math:`k d_j (u_j - \\langle y, u\\rangle)`
    with :math:`w'(x_i)/\\sum w = d_i k`; Log-StableMax: JVP :math:`v_i/(1+|x_i|) - k\\langle d, v\\rangle`,
    VJP :math:`u_j/(1+|x_j|) - k d_j \\sum_i u_i`. 0 at masked entries and on rows without kept entries.
    """
    dt = x.dtype.type
    status, c, c2, s, kf = _setup(x, mk, has_mask, kind, eps)
    if status == 0:
        fill(out, dt(0.0))
        return
    inv = 1.0 / s if status == 2 else 0.0
    acc = _product_acc(x, w, mk, has_mask, kind, log, vjp, c, c2, inv) if status == 2 else 0.0
    for i in range(x.shape[0]):
        xi = np.float64(x[i])
        if not (mk[i if has_mask else 0] & (xi != -np.inf)):
            out[i] = dt(0.0)
            continue
        if status == 1:
            out[i] = dt(np.nan)
            continue
        wi = np.float64(w[i])
        d = _dweight(kind, xi, c)
        if log:
            own = wi / (1.0 + abs(xi))
            out[i] = dt(own - kf * acc if not vjp else own - kf * d * acc)
        elif vjp:
            out[i] = dt(kf * d * (wi - acc))
        else:
            out[i] = dt(kf * (d * wi - (_weight(kind, xi, c, c2) * inv) * acc))


@njit(**JIT)
def weighted_serial(x, mk, has_mask, kind, log, eps, out):
    """Row loop of :func:`weighted_row`."""
    for r in range(x.shape[0]):
        weighted_row(x[r], mk[r if has_mask else 0], has_mask, kind, log, eps, out[r])


@njit(**JIT_PARALLEL)
def weighted_parallel(x, mk, has_mask, kind, log, eps, out):
    """Parallel :func:`weighted_serial` (one row per thread: bitwise equal)."""
    for r in prange(x.shape[0]):
        weighted_row(x[r], mk[r if has_mask else r - r], has_mask, kind, log, eps, out[r])


@njit(**JIT)
def weighted_product_serial(x, w, mk, has_mask, kind, log, eps, vjp, out):
    """Row loop of :func:`weighted_product_row`."""
    for r in range(x.shape[0]):
        weighted_product_row(x[r], w[r], mk[r if has_mask else 0], has_mask, kind, log, eps, vjp, out[r])


@njit(**JIT_PARALLEL)
def weighted_product_parallel(x, w, mk, has_mask, kind, log, eps, vjp, out):
    """Parallel :func:`weighted_product_serial`."""
    for r in prange(x.shape[0]):
        weighted_product_row(x[r], w[r], mk[r if has_mask else r - r], has_mask, kind, log, eps, vjp, out[r])
