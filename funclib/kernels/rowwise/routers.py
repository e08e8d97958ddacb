r"""Row-wise maps of issue 15 that are compositions of existing kernels: routers and adaptive softmax.

Each map is the softmax kernel of :mod:`funclib.kernels.rowwise.softmax_family` and/or a selection
kernel of :mod:`funclib.kernels.rowwise.select` (k-WTA's quickselect, which writes a second row at
the selected entries; the DeepSeek-V3 gate fused with its sigmoid and renormalization) or the
adaptive-temperature kernel of :mod:`funclib.kernels.rowwise.softmaxima`, plus float64 NumPy for
the derivative products. The
calling conventions are those of :mod:`funclib.kernels.rowwise`; the definitions are the catalog
entries of the same id (``catalog/gated/breadth_moe.toml``, ``breadth_adaptive_softmax.toml``),
mask rule ``limit``: a masked entry acts as :math:`x = -\infty`.

* ``softmax_then_topk`` (Switch router, Fedus et al. 2021): :math:`y_i = p_i` for the ``k`` largest
  :math:`x_i` (ties at the k-th value kept), else 0, :math:`p = \mathrm{softmax}(x)`;
  :math:`J = \mathrm{diag}(y) - y p^\top`. Masked entries are never selected (their :math:`p` is 0).
* ``sigmoid_topk_gate`` (DeepSeek-V3): :math:`s = \mathrm{sigmoid}(x)`, selection of the ``k``
  largest :math:`s_i + b_i`, :math:`g_i = s_i/\sum_{j \in T} s_j` on the selection;
  :math:`J_{ij} = g_i(\delta_{ij}c_i - g_j c_j)`, :math:`c = 1 - s` (``b`` held fixed). A masked
  expert has :math:`s = 0`, competes with the score :math:`b_i` and, if selected, gets 0 (the limit).
* ``adaptive_temperature_softmax`` (Veličković et al. 2024): :math:`\mathrm{softmax}(\beta x)` with
  :math:`\beta = \max(p(H), 1)` if :math:`H > 0.5` else 1, :math:`H` the entropy of
  :math:`\mathrm{softmax}(x)` over the kept entries, :math:`p` the paper's quartic;
  :math:`J_{ij} = y_i(\beta(\delta_{ij} - y_j) + (x_i - \langle y, x\rangle)\,\partial\beta/\partial x_j)`,
  :math:`\partial\beta/\partial x_j = p'(H)\,s_j(\langle s, x\rangle - x_j)` where :math:`\beta = p(H)`.

A fully masked row gives zeros; a kept NaN (or ``+inf``) gives NaN at the kept entries.
"""

from __future__ import annotations

import numpy as np

from funclib.kernels.rowwise import select as _se
from funclib.kernels.rowwise import softmax_family as _sm
from funclib.kernels.rowwise import softmaxima as _mx
from funclib.kernels.rowwise.layout import Rows, as_rows, check_scalar

__all__ = [
    "softmax_then_topk", "softmax_then_topk_jvp", "softmax_then_topk_vjp",
    "sigmoid_topk_gate", "sigmoid_topk_gate_jvp", "sigmoid_topk_gate_vjp",
    "adaptive_temperature_softmax", "adaptive_temperature_softmax_jvp", "adaptive_temperature_softmax_vjp",
    "ADAPTIVE_TEMPERATURE_POLY",
]

#: p(H) = -0.037 H^4 + 0.481 H^3 - 2.3 H^2 + 4.917 H - 1.791 (highest degree first; the paper's listing).
ADAPTIVE_TEMPERATURE_POLY = _mx.ADAPTIVE_TEMPERATURE_POLY
_THREE = _sm.ALGORITHMS["three_pass"]


def _k(name, k) -> int:
    kv = check_scalar(name, "k", k, lo=1.0)
    if kv != int(kv):
        raise ValueError(f"{name}: k must be an integer, got {k!r}")
    return int(kv)


def _kept(r: Rows) -> np.ndarray:
    """Kept entries (mask and not -inf) of the row view."""
    k = ~np.isneginf(r.x)
    return k & r.mask if r.has_mask else k


def _softmax2d(r: Rows, z: np.ndarray, mask: np.ndarray, has_mask: bool) -> np.ndarray:
    out = np.empty_like(z)
    drive = _sm.softmax_parallel if r.parallel else _sm.softmax_serial
    drive(z, mask, has_mask, _THREE, False, False, 0.0, out)
    return out


def _select(r: Rows, score: np.ndarray, w: np.ndarray, mask: np.ndarray, has_mask: bool, k: int) -> np.ndarray:
    """``w`` at the entries whose ``score`` is among the ``k`` largest (ties kept), else 0."""
    out = np.empty_like(w)
    drive = _se.kwta_parallel if r.parallel else _se.kwta_serial
    drive(score, w, mask, has_mask, k, out)
    return out


def _dot(a, b, kept):
    """Row sums of ``a*b`` over the kept entries (float64; other entries never enter)."""
    return np.sum(np.where(kept, a * b, 0.0), axis=-1, keepdims=True)


def _companion64(r: Rows, w, what) -> np.ndarray:
    return r.companion(w, what).astype(np.float64)


# --------------------------------------------------------------------------------------
# softmax, then top-k (Switch)
# --------------------------------------------------------------------------------------


def _switch(name, x, k, axis, mask):
    kv = _k(name, k)
    r = as_rows(name, x, axis, mask)
    p = _softmax2d(r, r.x, r.mask, r.has_mask)
    return r, p, _select(r, r.x, p, r.mask, r.has_mask, kv)


def softmax_then_topk(x, k: int = 1, axis: int = -1, *, mask=None) -> np.ndarray:
    """Switch router: :math:`p = \\mathrm{softmax}(x)` kept at the ``k`` largest entries, 0 elsewhere.

    Parameters
    ----------
    x : array_like of float32 or float64
        Router logits of any shape (at least 1-D).
    k : int
        Number of experts kept (>= 1, catalog default 1); ties at the k-th value are all kept.
    axis : int
        The axis of the experts.
    mask : array_like of bool, optional
        ``True`` where the expert takes part; masked experts get 0 and are never selected.

    Returns
    -------
    numpy.ndarray
        Same shape and dtype as ``x`` (the kept gates sum to at most 1).
    """
    r, _, y = _switch("softmax_then_topk", x, k, axis, mask)
    return r.restore(y)


def softmax_then_topk_jvp(x, v, k: int = 1, axis: int = -1, *, mask=None) -> np.ndarray:
    """JVP of the Switch router: :math:`y \\odot (v - \\langle p, v\\rangle)`."""
    r, p, y = _switch("softmax_then_topk_jvp", x, k, axis, mask)
    v2, kept = _companion64(r, v, "v"), _kept(r)
    y64 = y.astype(np.float64)
    out = np.where(kept, y64 * (v2 - _dot(p.astype(np.float64), v2, kept)), 0.0)
    return r.restore(out.astype(r.dtype))


def softmax_then_topk_vjp(x, u, k: int = 1, axis: int = -1, *, mask=None) -> np.ndarray:
    """VJP of the Switch router: :math:`y \\odot u - p\\,\\langle y, u\\rangle`."""
    r, p, y = _switch("softmax_then_topk_vjp", x, k, axis, mask)
    u2, kept = _companion64(r, u, "u"), _kept(r)
    y64 = y.astype(np.float64)
    out = np.where(kept, y64 * u2 - p.astype(np.float64) * _dot(y64, u2, kept), 0.0)
    return r.restore(out.astype(r.dtype))


# --------------------------------------------------------------------------------------
# sigmoid top-k gate (DeepSeek-V3)
# --------------------------------------------------------------------------------------


def _gate(name, x, b, k, axis, mask):
    kv = _k(name, k)
    r = as_rows(name, x, axis, mask)
    bias = np.zeros(r.x.shape) if b is None else _bias(r, b)
    sig = np.empty(r.x.shape)
    g = np.empty(r.x.shape)
    drive = _se.gate_parallel if r.parallel else _se.gate_serial
    drive(r.x, bias, r.mask, r.has_mask, kv, sig, g)
    return r, sig, g, _kept(r)


def _bias(r: Rows, b) -> np.ndarray:
    arr = np.asarray(b)
    if arr.dtype.kind not in "fiu":
        raise TypeError(f"{r.name}: b has dtype {arr.dtype}; expected a real dtype")
    try:
        arr = np.broadcast_to(arr, r.shape)
    except ValueError:
        raise ValueError(f"{r.name}: b of shape {arr.shape} does not broadcast to x's shape {r.shape}") from None
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{r.name}: b must be finite")
    return r.companion(arr, "b").astype(np.float64)


def sigmoid_topk_gate(x, b=None, k: int = 8, axis: int = -1, *, mask=None) -> np.ndarray:
    """DeepSeek-V3 gate: :math:`g_i = s_i/\\sum_{j\\in T} s_j` on the top ``k`` of :math:`s + b`.

    :math:`s = \\mathrm{sigmoid}(x)`; the bias enters only the selection.

    Parameters
    ----------
    x : array_like of float32 or float64
        Router logits (at least 1-D).
    b : array_like, optional
        Selection bias broadcastable to ``x`` (finite; default 0); it enters only the choice.
    k : int
        Number of routed experts (>= 1, catalog default 8); ties at the k-th score all kept.
    axis : int
        The axis of the experts.
    mask : array_like of bool, optional
        ``True`` where the expert takes part; a masked expert has :math:`s = 0` (the limit
        :math:`x \\to -\\infty`): it competes with the score :math:`b_i` and gets 0.

    Returns
    -------
    numpy.ndarray
        Same shape and dtype as ``x``; each row sums to 1 unless every selected :math:`s` is 0.
    """
    r, _, g, _ = _gate("sigmoid_topk_gate", x, b, k, axis, mask)
    return r.restore(g.astype(r.dtype))


def sigmoid_topk_gate_jvp(x, v, b=None, k: int = 8, axis: int = -1, *, mask=None) -> np.ndarray:
    """JVP of the DeepSeek-V3 gate: :math:`g_i(c_i v_i - \\langle g c, v\\rangle)`, :math:`c = 1 - s`."""
    r, s, g, kept = _gate("sigmoid_topk_gate_jvp", x, b, k, axis, mask)
    v2 = _companion64(r, v, "v")
    gc = g * (1 - s)
    return r.restore(np.where(kept, gc * v2 - g * _dot(gc, v2, kept & (g != 0)), 0.0).astype(r.dtype))


def sigmoid_topk_gate_vjp(x, u, b=None, k: int = 8, axis: int = -1, *, mask=None) -> np.ndarray:
    """VJP of the DeepSeek-V3 gate: :math:`g_j c_j (u_j - \\langle g, u\\rangle)`."""
    r, s, g, kept = _gate("sigmoid_topk_gate_vjp", x, b, k, axis, mask)
    u2 = _companion64(r, u, "u")
    gc = g * (1 - s)
    return r.restore(np.where(kept, gc * (u2 - _dot(g, u2, kept & (g != 0))), 0.0).astype(r.dtype))


# --------------------------------------------------------------------------------------
# adaptive-temperature softmax
# --------------------------------------------------------------------------------------


def _adaptive(name, x, axis, mask):
    r = as_rows(name, x, axis, mask)
    y = np.empty(r.x.shape)
    stats = np.empty((r.rows, 2))
    drive = _mx.adaptive_parallel if r.parallel else _mx.adaptive_serial
    drive(r.x, r.mask, r.has_mask, y, stats)
    return r, y, stats


def _adaptive_grad(name, x, axis, mask):
    """(rows, y, beta, dbeta/dx, x - max x, kept) for the derivative products (float64)."""
    r, y, stats = _adaptive(name, x, axis, mask)
    kept = _kept(r)
    beta, H = stats[:, :1], stats[:, 1:]
    s = _softmax2d(r, r.x, r.mask, r.has_mask).astype(np.float64)
    x64 = r.x.astype(np.float64)
    with np.errstate(invalid="ignore"):
        m = np.max(np.where(kept, x64, -np.inf), axis=-1, keepdims=True)
        d = np.where(kept & np.isfinite(m), x64 - np.where(np.isfinite(m), m, 0.0), 0.0)  # shift invariant
    c = ADAPTIVE_TEMPERATURE_POLY
    p = (((c[0] * H + c[1]) * H + c[2]) * H + c[3]) * H + c[4]
    dp = ((4 * c[0] * H + 3 * c[1]) * H + 2 * c[2]) * H + c[3]
    active = (H > 0.5) & (p > 1)
    dbeta = np.where(active, dp, 0.0) * s * (_dot(s, d, kept) - d)
    return r, y, beta, dbeta, d, kept


def adaptive_temperature_softmax(x, axis: int = -1, *, mask=None) -> np.ndarray:
    """Adaptive-temperature softmax (Veličković et al. 2024): :math:`\\mathrm{softmax}(\\beta x)`.

    :math:`\\beta = \\max(p(H), 1)` if :math:`H > 0.5` else 1, with :math:`H` the entropy of
    :math:`\\mathrm{softmax}(x)` over the kept entries and :math:`p` =
    :data:`ADAPTIVE_TEMPERATURE_POLY`. One kernel (:func:`funclib.kernels.rowwise.softmaxima.adaptive_row`)
    computes :math:`H` from the two exponential sums and then the softmax of
    :math:`\\beta(x - \\max x)`, in float64; the output is rounded once. Other parameters are those of :func:`softmax_then_topk` (without ``k``).
    """
    r, y, _ = _adaptive("adaptive_temperature_softmax", x, axis, mask)
    return r.restore(y.astype(r.dtype))


def adaptive_temperature_softmax_jvp(x, v, axis: int = -1, *, mask=None) -> np.ndarray:
    """JVP of the adaptive-temperature softmax.

    :math:`y_i(\\beta(v_i - \\langle y, v\\rangle) + (x_i - \\langle y, x\\rangle)\\langle \\partial\\beta, v\\rangle)`.
    """
    r, y, beta, dbeta, d, kept = _adaptive_grad("adaptive_temperature_softmax_jvp", x, axis, mask)
    v2 = _companion64(r, v, "v")
    centred = d - _dot(y, d, kept)
    out = y * (beta * (v2 - _dot(y, v2, kept)) + centred * _dot(dbeta, v2, kept))
    return r.restore(np.where(kept, out, 0.0).astype(r.dtype))


def adaptive_temperature_softmax_vjp(x, u, axis: int = -1, *, mask=None) -> np.ndarray:
    """VJP of the adaptive-temperature softmax.

    :math:`\\beta y_j(u_j - \\langle y, u\\rangle) + \\partial\\beta_j \\langle u \\odot y, x - \\langle y, x\\rangle\\rangle`.
    """
    r, y, beta, dbeta, d, kept = _adaptive_grad("adaptive_temperature_softmax_vjp", x, axis, mask)
    u2 = _companion64(r, u, "u")
    centred = d - _dot(y, d, kept)
    out = beta * y * (u2 - _dot(y, u2, kept)) + dbeta * _dot(u2 * y, centred, kept)
    return r.restore(np.where(kept, out, 0.0).astype(r.dtype))
