r"""Sparsemax, 1.5-entmax and alpha-entmax in float64: the published algorithms.

All three compute :math:`p_i = [(\alpha-1)x_i - \tau]_+^{1/(\alpha-1)}` with :math:`\sum_i p_i = 1`;
they differ in how the threshold :math:`\tau` is found:

* sparsemax (:math:`\alpha = 2`): sort, find the support size
  :math:`\rho = \max\{r : 1 + r z_{(r)} > \sum_{s \le r} z_{(s)}\}`, then
  :math:`\tau = (\sum_{s \le \rho} z_{(s)} - 1)/\rho` (Martins & Astudillo 2016, Algorithm 1);
* 1.5-entmax: sort :math:`z = x/2`, for every prefix :math:`r` the candidate
  :math:`\tau_r = M_r - \sqrt{(1 - r(S_r - M_r^2))/r}` (mean :math:`M_r`, mean square :math:`S_r`),
  support = the prefixes with :math:`\tau_r \le z_{(r)}` (Peters et al. 2019, Algorithm 2);
* alpha-entmax: bisection on :math:`[\max z - 1, \max z - n^{1-\alpha}]`, :math:`z = (\alpha-1)x`
  (Blondel et al. 2019; Peters et al. 2019), then Newton steps on the support found, which make
  :math:`\tau` accurate to rounding (plain bisection stops at its iteration count).

Every function works on the last axis of a 2-D float64 array of rows; ``-inf`` entries are masked
(they get 0). Rows must contain a finite entry (the caller handles fully masked and NaN rows).
The row maximum is subtracted first (the maps are shift invariant), which keeps the cumulative
sums of the sort-based algorithms accurate for rows of huge magnitude.
"""

from __future__ import annotations

import numpy as np

__all__ = ["sparsemax_rows", "entmax15_rows", "entmax_bisect_rows", "entmax_support_weights"]


def _sorted_shifted(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    z = z - np.max(z, axis=-1, keepdims=True)
    return z, -np.sort(-z, axis=-1)


def sparsemax_rows(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    r"""Sparsemax of each row (sort-based, exact up to rounding).

    Returns
    -------
    p : ndarray
        The probabilities, same shape as ``x``.
    tau : ndarray
        The threshold of each row, for the shifted row :math:`x - \max x`.
    """
    z, zs = _sorted_shifted(np.asarray(x, dtype=np.float64))
    n = z.shape[-1]
    r = np.arange(1, n + 1, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        cumsum = np.cumsum(zs, axis=-1)
        support = 1 + r * zs > cumsum  # False for -inf entries (-inf > -inf)
    rho = np.count_nonzero(support, axis=-1)  # the support is a prefix of the sorted row
    tau = (np.take_along_axis(cumsum, rho[..., None] - 1, axis=-1) - 1) / rho[..., None]
    return np.maximum(z - tau, 0.0), tau[..., 0]


def entmax15_rows(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    r"""1.5-entmax of each row by the exact sort-based algorithm.

    Returns ``(p, tau)`` with ``tau`` the threshold for :math:`z = (x - \max x)/2`.
    """
    z, zs = _sorted_shifted(np.asarray(x, dtype=np.float64) / 2)
    n = z.shape[-1]
    r = np.arange(1, n + 1, dtype=np.float64)
    finite = np.isfinite(zs)
    zf = np.where(finite, zs, 0.0)
    mean = np.cumsum(zf, axis=-1) / r
    mean_sq = np.cumsum(zf * zf, axis=-1) / r
    ss = r * (mean_sq - mean * mean)
    delta = np.maximum((1 - ss) / r, 0.0)
    tau_r = mean - np.sqrt(delta)
    support = (tau_r <= zs) & finite
    rho = np.count_nonzero(support, axis=-1)
    tau = np.take_along_axis(tau_r, rho[..., None] - 1, axis=-1)
    return np.maximum(z - tau, 0.0) ** 2, tau[..., 0]


def entmax_bisect_rows(x: np.ndarray, alpha: float, *, max_iter: int = 200) -> tuple[np.ndarray, np.ndarray]:
    r"""alpha-entmax of each row: bisection for the support, Newton for the threshold.

    Parameters
    ----------
    x : ndarray
        Rows (last axis), ``-inf`` for masked entries, at least one finite entry per row.
    alpha : float
        Entmax index in (1, 2].
    max_iter : int
        Bisection steps at most (the loop stops when the bracket no longer shrinks).

    Returns ``(p, tau)`` with ``tau`` the threshold for :math:`z = (\alpha-1)(x - \max x)`.
    """
    if not 1 < alpha <= 2:
        raise ValueError(f"entmax: alpha must be in (1, 2], got {alpha!r}")
    z = (alpha - 1) * (np.asarray(x, dtype=np.float64) - np.max(x, axis=-1, keepdims=True))
    power = 1.0 / (alpha - 1)
    n = z.shape[-1]

    def mass(tau: np.ndarray) -> np.ndarray:
        return np.sum(np.maximum(z - tau[..., None], 0.0) ** power, axis=-1)

    lo = np.full(z.shape[:-1], -1.0)  # F(lo) >= 0: the maximum (0) alone gives mass 1
    hi = np.full(z.shape[:-1], -float(n) ** (1 - alpha))  # F(hi) <= 0: each term <= 1/n
    for _ in range(max_iter):
        mid = (lo + hi) / 2
        if np.all((mid == lo) | (mid == hi)):
            break
        above = mass(mid) >= 1
        lo = np.where(above, mid, lo)
        hi = np.where(above, hi, mid)
    tau = lo
    # Newton on the support (F is smooth there): removes the last rounding of the bisection.
    for _ in range(3):
        u = np.maximum(z - tau[..., None], 0.0)
        f = np.sum(u**power, axis=-1) - 1
        df = -power * np.sum(np.where(u > 0, u ** (power - 1), 0.0), axis=-1)
        step = np.where(df != 0, f / np.where(df != 0, df, 1.0), 0.0)
        new = tau - step
        tau = np.where((new >= lo) & (new <= hi), new, tau)
    return np.maximum(z - tau[..., None], 0.0) ** power, tau


def entmax_support_weights(p: np.ndarray, alpha: float) -> np.ndarray:
    r"""The weights :math:`g = p^{2-\alpha}` on the support (0 off it) of the entmax Jacobian
    :math:`\mathrm{diag}(g) - g g^\top / \sum g`."""
    return np.where(p > 0, np.power(p, 2 - alpha, where=p > 0, out=np.zeros_like(p)), 0.0)
