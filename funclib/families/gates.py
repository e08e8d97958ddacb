r"""NumPy references (float64) for gates that are not elementwise.

* The GLU family (``kind = "gated"`` catalog entries): :func:`split_halves` pins the half split
  (PyTorch's ``F.glu(z, dim)``: ``a`` = first half, ``b`` = second half), and
  :func:`gated_forward` / :func:`gated_partials` evaluate an entry and its partial derivatives
  on an input that is split in two.
* DSelect-k (Hazimeh et al. 2021): :func:`smooth_step`, the binary-encoded single-expert
  selector :func:`dselect_selector` and the k-selector gate :func:`dselect_k_weights`.
* Noisy top-k gating (Shazeer et al. 2017): :func:`keep_top_k`, :func:`noisy_top_k_gating`
  (the deterministic map given the noise) and its Jacobian :func:`top_k_softmax_jacobian`.
* :func:`temperature_softmax` and the ST-MoE router z-loss :func:`z_loss` (value and gradient).

Every function works on the last axis (a row = one token's router logits) unless told
otherwise and raises ``ValueError`` with the offending argument named.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ..entry import Entry
from ..formula import make_symbol
from ..npeval import np_evaluate

__all__ = [
    "split_halves",
    "gated_forward",
    "gated_partials",
    "smooth_step",
    "dselect_selector",
    "dselect_k_weights",
    "keep_top_k",
    "noisy_top_k_gating",
    "top_k_softmax_jacobian",
    "temperature_softmax",
    "z_loss",
]


# -- GLU family -------------------------------------------------------------------------------


def split_halves(z: np.ndarray, axis: int = -1) -> tuple[np.ndarray, np.ndarray]:
    """Split ``z`` into ``(a, b)`` = (first half, second half) along ``axis``.

    This is funclib's pinned GLU convention, that of ``torch.nn.functional.glu(z, dim)`` and
    ``jax.nn.glu(z, axis)``: ``GLU(z) = a * sigmoid(b)``.

    Raises
    ------
    ValueError
        If the length along ``axis`` is odd.
    """
    z = np.asarray(z, dtype=np.float64)
    length = z.shape[axis]
    if length % 2:
        raise ValueError(f"cannot split axis {axis} of length {length} into two halves (odd length)")
    return np.split(z, 2, axis=axis)


def _gated(entry: Entry) -> tuple:
    if entry.kind != "gated" or len(entry.variables) != 2:
        raise TypeError(f"entry {entry.id!r} is {entry.kind} with variables {entry.variables}; need a gated entry of (a, b)")
    return tuple(make_symbol(v) for v in entry.variables)


def gated_forward(
    entry: Entry,
    z: np.ndarray,
    *,
    axis: int = -1,
    params: Mapping[str, float] | None = None,
    variant: str | None = None,
) -> np.ndarray:
    r"""Apply a gated entry to ``z``: split it (:func:`split_halves`) and evaluate f(a, b).

    The output has half the length of ``z`` along ``axis``.
    """
    a_sym, b_sym = _gated(entry)
    a, b = split_halves(z, axis)
    return np_evaluate(entry.numeric_expr(variant, params), {a_sym: a, b_sym: b})


def gated_partials(
    entry: Entry,
    a: np.ndarray,
    b: np.ndarray,
    *,
    params: Mapping[str, float] | None = None,
    variant: str | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    r"""Partial derivatives :math:`(\partial f/\partial a, \partial f/\partial b)` of a gated entry.

    The gradient with respect to the unsplit input ``z`` is their concatenation along the split
    axis (the output component ``i`` depends only on ``a_i`` and ``b_i``).
    """
    a_sym, b_sym = _gated(entry)
    env = {a_sym: np.asarray(a, dtype=np.float64), b_sym: np.asarray(b, dtype=np.float64)}
    names = entry.variables
    return tuple(
        np_evaluate(entry.derivative(variant=variant, params=params, wrt=name, numeric=True), env)
        for name in names
    )


# -- DSelect-k ----------------------------------------------------------------------------------


def smooth_step(t: np.ndarray, gamma: float = 1.0) -> np.ndarray:
    r"""The cubic smooth-step :math:`S_\gamma` of DSelect-k (catalog entry ``dselect_smooth_step``).

    :math:`S(t) = 0` for :math:`t \le -\gamma/2`, 1 for :math:`t \ge \gamma/2`, else
    :math:`-2t^3/\gamma^3 + 3t/(2\gamma) + 1/2`.
    """
    if not gamma > 0:
        raise ValueError(f"smooth_step: gamma must be positive, got {gamma!r}")
    t = np.asarray(t, dtype=np.float64)
    cubic = -2 * t**3 / gamma**3 + 3 * t / (2 * gamma) + 0.5
    return np.where(t <= -gamma / 2, 0.0, np.where(t >= gamma / 2, 1.0, cubic))


def _binary_codes(num_experts: int, num_binary: int) -> np.ndarray:
    """Row i: the num_binary binary digits of i, most significant first (as np.binary_repr)."""
    shifts = np.arange(num_binary - 1, -1, -1)
    return (np.arange(num_experts)[:, None] >> shifts) & 1


def dselect_selector(z: np.ndarray, gamma: float = 1.0, num_experts: int | None = None) -> np.ndarray:
    r"""The binary-encoded single-expert selector :math:`r(z)` of DSelect-k.

    Parameters
    ----------
    z : array of shape (..., m)
        Selector logits.
    gamma : float
        Smooth-step width.
    num_experts : int, optional
        :math:`n \le 2^m` (default :math:`2^m`).

    Returns
    -------
    ndarray of shape (..., n)
        :math:`r_i = \prod_{j=1}^m S(z_j)^{d_j(i)} (1 - S(z_j))^{1 - d_j(i)}`, with
        :math:`d_1(i) \dots d_m(i)` the binary digits of :math:`i`, most significant first.
        For :math:`n = 2^m` the weights sum to 1; once every :math:`|z_j| \ge \gamma/2` exactly
        one weight is 1.
    """
    z = np.asarray(z, dtype=np.float64)
    if z.ndim < 1 or z.shape[-1] < 1:
        raise ValueError("dselect_selector: z must have a last axis of length m >= 1")
    m = z.shape[-1]
    n = 2**m if num_experts is None else int(num_experts)
    if not 1 <= n <= 2**m:
        raise ValueError(f"dselect_selector: num_experts must be in [1, 2**m = {2**m}], got {num_experts!r}")
    s = smooth_step(z, gamma)[..., None, :]  # (..., 1, m)
    codes = _binary_codes(n, m).astype(bool)  # (n, m)
    return np.prod(np.where(codes, s, 1 - s), axis=-1)


def dselect_k_weights(
    z_logits: np.ndarray, w_logits: np.ndarray, gamma: float = 1.0, num_experts: int | None = None
) -> np.ndarray:
    r"""DSelect-k expert weights :math:`q = \sum_{l=1}^k \mathrm{softmax}(w)_l\, r(z^{(l)})`.

    Parameters
    ----------
    z_logits : array of shape (..., k, m)
        One row of selector logits per single-expert selector.
    w_logits : array of shape (..., k)
        Logits of the selector weights.

    Returns
    -------
    ndarray of shape (..., n)
        At most :math:`k` non-zero weights once the selectors have converged; they sum to 1
        when :math:`n = 2^m`.
    """
    z_logits = np.asarray(z_logits, dtype=np.float64)
    w_logits = np.asarray(w_logits, dtype=np.float64)
    if z_logits.ndim < 2 or w_logits.shape != z_logits.shape[:-1]:
        raise ValueError(
            f"dselect_k_weights: z_logits (..., k, m) and w_logits (..., k) do not match: "
            f"{z_logits.shape} vs {w_logits.shape}"
        )
    selectors = dselect_selector(z_logits, gamma, num_experts)  # (..., k, n)
    weights = temperature_softmax(w_logits, 1.0)  # (..., k)
    return np.sum(weights[..., None] * selectors, axis=-2)


# -- noisy top-k gating -------------------------------------------------------------------------


def _check_k(k: int, n: int) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= n:
        raise ValueError(f"k must be an integer in [1, {n}] (the row length), got {k!r}")
    return int(k)


def keep_top_k(v: np.ndarray, k: int) -> np.ndarray:
    r"""KeepTopK of Shazeer et al. (2017): :math:`v_i` if it is among the ``k`` largest, else :math:`-\infty`.

    Exactly ``k`` entries are kept per row; among equal values the lower index wins (the rule
    of ``tf.nn.top_k``, which the reference implementation used).
    """
    v = np.asarray(v, dtype=np.float64)
    k = _check_k(k, v.shape[-1])
    order = np.argsort(-v, axis=-1, kind="stable")[..., :k]
    out = np.full_like(v, -np.inf)
    np.put_along_axis(out, order, np.take_along_axis(v, order, axis=-1), axis=-1)
    return out


def noisy_top_k_gating(
    clean_logits: np.ndarray,
    k: int,
    *,
    noise_logits: np.ndarray | None = None,
    noise: np.ndarray | None = None,
) -> np.ndarray:
    r"""Noisy top-k gate :math:`G = \mathrm{softmax}(\mathrm{KeepTopK}(H, k))` given the noise.

    :math:`H_i = (xW_g)_i + \varepsilon_i\,\mathrm{softplus}((xW_{\mathrm{noise}})_i)` with
    :math:`\varepsilon \sim N(0, 1)` during training (Shazeer et al. 2017, eq. 3-5). This
    function is the deterministic map: pass the standard-normal draws ``noise`` and the noise
    logits, or neither (evaluation: :math:`H = xW_g`).

    Returns
    -------
    ndarray
        Gates of the same shape, exactly ``k`` non-zeros per row (ties: lower index).
    """
    h = np.asarray(clean_logits, dtype=np.float64)
    if (noise is None) != (noise_logits is None):
        raise ValueError("noisy_top_k_gating: pass both noise and noise_logits, or neither")
    if noise is not None:
        noise = np.asarray(noise, dtype=np.float64)
        noise_logits = np.asarray(noise_logits, dtype=np.float64)
        if noise.shape != h.shape or noise_logits.shape != h.shape:
            raise ValueError(
                f"noisy_top_k_gating: clean_logits {h.shape}, noise_logits {noise_logits.shape} "
                f"and noise {noise.shape} must have the same shape"
            )
        softplus = np.maximum(noise_logits, 0) + np.log1p(np.exp(-np.abs(noise_logits)))
        h = h + noise * softplus
    return temperature_softmax(keep_top_k(h, k), 1.0)


def top_k_softmax_jacobian(h: np.ndarray, k: int) -> np.ndarray:
    r"""Jacobian :math:`\partial G/\partial H` of :math:`G = \mathrm{softmax}(\mathrm{KeepTopK}(H, k))`.

    Where the top-k set :math:`T` is locally constant (no tie at the k-th value),
    :math:`\partial G_i/\partial H_j = G_i(\delta_{ij} - G_j)` for :math:`i, j \in T` and 0
    otherwise. ``h`` is one row (1-D); returns an (n, n) matrix.
    """
    h = np.asarray(h, dtype=np.float64)
    if h.ndim != 1:
        raise ValueError(f"top_k_softmax_jacobian: h must be one row (1-D), got shape {h.shape}")
    g = noisy_top_k_gating(h, k)
    return np.diag(g) - np.outer(g, g)


# -- softmax gate and z-loss --------------------------------------------------------------------


def temperature_softmax(z: np.ndarray, tau: float = 1.0, axis: int = -1) -> np.ndarray:
    r"""Stable :math:`\mathrm{softmax}(z/\tau)` along ``axis`` (catalog ``temperature_softmax_gate``).

    Entries at :math:`-\infty` get weight 0; a row that is :math:`-\infty` everywhere gives NaN.
    """
    if not tau > 0:
        raise ValueError(f"temperature_softmax: tau must be positive, got {tau!r}")
    z = np.asarray(z, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        shifted = (z - np.max(z, axis=axis, keepdims=True)) / tau
        e = np.exp(shifted)
        return e / np.sum(e, axis=axis, keepdims=True)


def z_loss(logits: np.ndarray) -> tuple[float, np.ndarray]:
    r"""ST-MoE router z-loss :math:`\frac1B \sum_b (\log\sum_j e^{z_{bj}})^2` and its gradient.

    Parameters
    ----------
    logits : array of shape (B, n)
        Router logits, one row per token.

    Returns
    -------
    (float, ndarray of shape (B, n))
        The loss (without the coefficient :math:`c_z`, 0.001 in the paper) and
        :math:`\partial L/\partial z_{bj} = 2\,\mathrm{lse}(z_b)\,\mathrm{softmax}(z_b)_j / B`.
    """
    z = np.asarray(logits, dtype=np.float64)
    if z.ndim != 2 or z.shape[0] < 1 or z.shape[1] < 1:
        raise ValueError(f"z_loss: logits must have shape (B, n) with B, n >= 1, got {z.shape}")
    top = np.max(z, axis=-1, keepdims=True)
    lse = top + np.log(np.sum(np.exp(z - top), axis=-1, keepdims=True))
    batch = z.shape[0]
    value = float(np.mean(lse[:, 0] ** 2))
    grad = 2 * lse * np.exp(z - lse) / batch
    return value, grad
