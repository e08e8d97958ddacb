"""Numba kernels of softpick (Zuhri, Fuadi & Aji 2025) over the rows of a 2-D array.

.. math::

   y_i = \\frac{\\mathrm{ReLU}(e^{x_i} - 1)}{\\sum_{j} |e^{x_j} - 1| + \\epsilon},

the paper's definition (catalog entry ``softpick``). It is evaluated with the max shift
:math:`m = \\max_j x_j`: numerator and denominator are multiplied by :math:`e^{-m}`, so
:math:`t_j = e^{x_j - m} - e^{-m}` and the constant becomes :math:`\\epsilon e^{-m}`; this is
the same function. (The authors' code adds :math:`\\epsilon` after the shift, i.e. uses
:math:`\\epsilon e^{m}` in the unshifted formula, a different function when
:math:`\\epsilon > 0`.) :math:`t_j` is computed without cancellation as
:math:`e^{-m}\\,\\mathrm{expm1}(x_j)` for :math:`x_j < 1` and :math:`e^{x_j - m} - e^{-m}`
otherwise, in float64 (libm ``exp``/``expm1``) for both input dtypes.

The sum runs over the kept entries that are not ``-inf`` (masked and ``-inf`` entries are
removed from the denominator, as the authors' ``torch.where(x.isfinite(), ...)``) and get 0.
If :math:`m \\le 0` every numerator is 0, so the row is 0 (also when :math:`\\epsilon = 0`);
a fully masked row gives 0; a kept NaN or ``+inf`` gives NaN.

Jacobian (``D`` the unshifted denominator, :math:`a_j = e^{x_j}/D`):

.. math::

   \\frac{\\partial y_i}{\\partial x_j} = \\delta_{ij}[x_i > 0]\\,a_i - y_i\\,\\mathrm{sign}(x_j)\\,a_j,

with the convention :math:`[0 > 0] = \\mathrm{sign}(0) = 0` at the kink :math:`x_j = 0`.

References
----------
.. [1] Z. M. K. Zuhri, E. H. Fuadi and A. F. Aji, "Softpick: No Attention Sink, No Massive
   Activations with Rectified Softmax", arXiv:2504.20966 (2025); code:
   github.com/zaydzuhri/softpick-attention.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from .. import numba_cache  # noqa: F401 - Numba caches go to the funclib cache, not the package

from funclib.kernels.rowwise.reduce import JIT, JIT_PARALLEL, count_kept, fill, masked_max

__all__ = ["softpick_row", "softpick_product_row", "softpick_serial", "softpick_parallel",
           "softpick_product_serial", "softpick_product_parallel"]





@njit(**JIT)
def _t(xi, m, em):
    """``e^{x - m} - e^{-m}`` without cancellation (float64)."""
    if xi < 1.0:
        return em * math.expm1(xi)
    return math.exp(xi - m) - em


@njit(**JIT)
def _setup(x, mk, has_mask, eps):
    """Row state ``(status, m, e^{-m}, shifted denominator)``; status 0 = zeros, 1 = NaN, 2 = regular."""
    n = x.shape[0]
    cnt = count_kept(mk) if has_mask else n
    if cnt == 0:
        return 0, 0.0, 0.0, 0.0
    m = np.float64(masked_max(x, mk, has_mask, x.dtype.type(1.0)))
    if math.isnan(m) or m == np.inf:
        return 1, m, 0.0, 0.0
    if m <= 0.0:
        return 0, m, 0.0, 0.0
    em = math.exp(-m)
    d = 0.0
    for i in range(n):
        if has_mask and not mk[i]:
            continue
        xi = np.float64(x[i])
        if xi == -np.inf:
            continue
        d += abs(_t(xi, m, em))
    return 2, m, em, d + eps * em


@njit(**JIT)
def softpick_row(x, mk, has_mask, eps, out):
    """Softpick of one row (see the module docstring for the conventions)."""
    status, m, em, d = _setup(x, mk, has_mask, eps)
    dt = x.dtype.type
    if status == 0:
        fill(out, dt(0.0))
        return
    if status == 1:
        fill(out, dt(np.nan))
        return
    for i in range(x.shape[0]):
        xi = np.float64(x[i])
        if (has_mask and not mk[i]) or not xi > 0.0:
            out[i] = dt(0.0)
        else:
            out[i] = dt(_t(xi, m, em) / d)


@njit(**JIT)
def softpick_product_row(x, w, mk, has_mask, eps, vjp, out):
    """Softpick JVP (``vjp=False``, ``w`` = tangent) or VJP (``w`` = cotangent) of one row.

    With :math:`a_j = e^{x_j - m}/D_s`: JVP :math:`a_i [x_i>0] w_i - y_i \\sum_j \\mathrm{sign}(x_j) a_j w_j`;
    VJP :math:`a_j [x_j>0] w_j - \\mathrm{sign}(x_j) a_j \\sum_i w_i y_i`.
    """
    status, m, em, d = _setup(x, mk, has_mask, eps)
    dt = x.dtype.type
    n = x.shape[0]
    if status == 0:
        fill(out, dt(0.0))
        return
    if status == 1:
        fill(out, dt(np.nan))
        return
    acc = 0.0
    for i in range(n):
        if has_mask and not mk[i]:
            continue
        xi = np.float64(x[i])
        if xi == -np.inf:
            continue
        wi = np.float64(w[i])
        if vjp:
            if xi > 0.0:
                acc += wi * (_t(xi, m, em) / d)
        else:
            sg = 1.0 if xi > 0.0 else (-1.0 if xi < 0.0 else 0.0)
            acc += sg * (math.exp(xi - m) / d) * wi
    for i in range(n):
        xi = np.float64(x[i])
        if (has_mask and not mk[i]) or xi == -np.inf:
            out[i] = dt(0.0)
            continue
        a = math.exp(xi - m) / d
        wi = np.float64(w[i])
        if vjp:
            sg = 1.0 if xi > 0.0 else (-1.0 if xi < 0.0 else 0.0)
            own = a * wi if xi > 0.0 else 0.0
            out[i] = dt(own - sg * a * acc)
        else:
            yi = _t(xi, m, em) / d if xi > 0.0 else 0.0
            own = a * wi if xi > 0.0 else 0.0
            out[i] = dt(own - yi * acc)


@njit(**JIT)
def softpick_serial(x, mk, has_mask, eps, out):
    """Row loop of :func:`softpick_row`."""
    for r in range(x.shape[0]):
        softpick_row(x[r], mk[r if has_mask else 0], has_mask, eps, out[r])


@njit(**JIT_PARALLEL)
def softpick_parallel(x, mk, has_mask, eps, out):
    """Parallel :func:`softpick_serial`."""
    for r in prange(x.shape[0]):
        softpick_row(x[r], mk[r if has_mask else r - r], has_mask, eps, out[r])


@njit(**JIT)
def softpick_product_serial(x, w, mk, has_mask, eps, vjp, out):
    """Row loop of :func:`softpick_product_row`."""
    for r in range(x.shape[0]):
        softpick_product_row(x[r], w[r], mk[r if has_mask else 0], has_mask, eps, vjp, out[r])


@njit(**JIT_PARALLEL)
def softpick_product_parallel(x, w, mk, has_mask, eps, vjp, out):
    """Parallel :func:`softpick_product_serial`."""
    for r in prange(x.shape[0]):
        softpick_product_row(x[r], w[r], mk[r if has_mask else r - r], has_mask, eps, vjp, out[r])
