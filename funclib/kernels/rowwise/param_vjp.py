r"""Vector-Jacobian products of row-wise maps with respect to their scalar parameters.

For a row map :math:`y = F_\theta(x)` and a cotangent :math:`u`, each function returns the
per-row contributions :math:`\langle u, \partial y/\partial\theta\rangle` (the input's shape
without ``axis``), computed in float64 from the forward output ``y``; the caller sums them
(:func:`numpy.sum` in a fixed order: deterministic) when the parameter is shared by all rows.

Closed forms (``S`` = the support, the kept entries with :math:`y_i > 0`):

- **SSMax** :math:`y = \mathrm{softmax}(s\log(n)\,x)` (:func:`ssmax_scale_vjp`):
  :math:`\partial y/\partial s = \log(n)\, y\odot(x - \langle y, x\rangle)`, so the row's
  contribution is :math:`\log(n)\,\sum_{i\in S} y_i (u_i - \langle y, u\rangle) x_i`.
- **α-entmax** :math:`y_i = [(\alpha-1)x_i - \tau]_+^{1/(\alpha-1)}` (:func:`entmax_alpha_vjp`):
  differentiating :math:`y_i^{\alpha-1} = (\alpha-1)x_i - \tau` on the support gives
  :math:`\partial y_i/\partial\alpha = g_i(a_i - \bar a)/(\alpha-1)` with
  :math:`g_i = y_i^{2-\alpha}`, :math:`a_i = x_i - y_i^{\alpha-1}\log y_i` and the
  :math:`g`-weighted mean :math:`\bar a` (from :math:`\sum_i \partial y_i/\partial\alpha = 0`).
  Correia, Niculae & Martins (2019, "Adaptively Sparse Transformers") give the same gradient.
- **softpick** :math:`y_i = \mathrm{ReLU}(e^{x_i}-1)/D`, :math:`D = \sum_j|e^{x_j}-1| + \epsilon`
  (:func:`softpick_eps_vjp`): :math:`\partial y/\partial\epsilon = -y/D`.

Masked entries and entries outside the support contribute nothing. The tests compare every
formula with central differences of the forward kernels at 30 digits' worth of step control
(float64, ``tests/test_torch_adapter.py``).
"""

from __future__ import annotations

import numpy as np

from .layout import Rows, as_rows

__all__ = ["ssmax_scale_vjp", "entmax_alpha_vjp", "softpick_eps_vjp"]


def _rows64(name: str, x, u, y, axis: int, mask) -> tuple[Rows, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Row views of ``x``, ``u``, ``y`` in float64 and the boolean keep-mask (all True without one)."""
    r = as_rows(name, x, axis, mask)
    x2 = r.x.astype(np.float64)
    u2 = r.companion(u, "u").astype(np.float64)
    y2 = r.companion(y, "y").astype(np.float64)
    keep = r.mask if r.has_mask else np.ones(r.x.shape, dtype=bool)
    return r, x2, u2, y2, keep


def ssmax_scale_vjp(x, s: float, u, y, axis: int = -1, *, mask=None) -> np.ndarray:
    """Per-row :math:`\\langle u, \\partial\\,\\mathrm{ssmax}(x)/\\partial s\\rangle` (see the module docstring).

    ``n`` is the number of kept entries of the row, as in :func:`funclib.kernels.rowwise.ssmax`.
    """
    r, x2, u2, y2, keep = _rows64("ssmax_scale_vjp", x, u, y, axis, mask)
    support = keep & (y2 > 0)
    n = keep.sum(axis=1)
    yu = np.where(support, y2 * u2, 0.0).sum(axis=1)
    terms = np.where(support, y2 * (u2 - yu[:, None]) * np.where(support, x2, 0.0), 0.0)
    log_n = np.log(np.maximum(n, 1).astype(np.float64))
    return r.restore_reduced(log_n * terms.sum(axis=1))


def entmax_alpha_vjp(x, alpha: float, u, y, axis: int = -1, *, mask=None) -> np.ndarray:
    """Per-row :math:`\\langle u, \\partial\\,\\alpha\\text{-entmax}(x)/\\partial\\alpha\\rangle` (see the module docstring)."""
    r, x2, u2, y2, keep = _rows64("entmax_alpha_vjp", x, u, y, axis, mask)
    support = keep & (y2 > 0)
    a = float(alpha)
    with np.errstate(divide="ignore", invalid="ignore"):
        ys = np.where(support, y2, 1.0)  # log(1) = 0 off the support; masked out below
        g = np.where(support, ys ** (2.0 - a), 0.0)
        ai = np.where(support, x2 - ys ** (a - 1.0) * np.log(ys), 0.0)
    gsum = g.sum(axis=1)
    gsum_safe = np.where(gsum > 0, gsum, 1.0)
    abar = (g * ai).sum(axis=1) / gsum_safe
    dy = g * (ai - abar[:, None]) / (a - 1.0)
    return r.restore_reduced(np.where(support, u2 * dy, 0.0).sum(axis=1))


def softpick_eps_vjp(x, eps: float, u, y, axis: int = -1, *, mask=None) -> np.ndarray:
    """Per-row :math:`\\langle u, \\partial\\,\\mathrm{softpick}(x)/\\partial\\epsilon\\rangle = -\\langle u, y\\rangle/D`.

    ``D`` overflows to ``inf`` only where the true contribution is below the float64 range.
    """
    r, x2, u2, y2, keep = _rows64("softpick_eps_vjp", x, u, y, axis, mask)
    kept = keep & (x2 > -np.inf)
    with np.errstate(over="ignore"):
        denom = np.where(kept, np.abs(np.expm1(np.where(kept, x2, 0.0))), 0.0).sum(axis=1) + float(eps)
    uy = np.where(keep, u2 * y2, 0.0).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(uy == 0.0, 0.0, -uy / denom)
    return r.restore_reduced(out)
