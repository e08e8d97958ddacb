r"""Tropical (max-plus) attention in NumPy, with argmax routing for the subgradients.

The pieces are the catalog entries of ``catalog/attention/tropical.toml``
(Hashemi, Pasque, Teska & Yoshida 2025, "Tropical Attention", arXiv 2505.17190):

=========================  =====================================================  ===================
piece                      definition                                             l-inf Lipschitz
=========================  =====================================================  ===================
:func:`valuation`          :math:`\log(1 + \max(x, 0))` elementwise               1
:func:`maxplus_linear`     :math:`y_i = \max_j (W_{ij} + x_j)`                    1 (in x and in W)
:func:`hilbert_score`      :math:`-(\max_r (q_r - k_r) - \min_r (q_r - k_r))`     2 (1 for :math:`d_H`)
asymmetric score           :math:`-(\sum_r (q_r - k_r) - d \min_r (q_r - k_r))`   :math:`2(d - 1)`
:func:`maxplus_aggregate`  :math:`c_i = \max_j (S_{ij} + v_j)`                    1 (in v and in S)
:func:`devaluation`        :math:`e^{c} - 1`                                      only locally
=========================  =====================================================  ===================

Every max and min returns its routing index (the first maximizing / minimizing index, as
``numpy.argmax`` picks): the subgradient of a max-plus product sends the whole output gradient
to that index (:func:`maxplus_matmul_vjp`). PyTorch's ``amax`` backward, used by the reference
code's pure-PyTorch path, splits the gradient evenly among ties instead; both are subgradients.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "valuation",
    "valuation_derivative",
    "devaluation",
    "maxplus_matmul",
    "maxplus_matmul_vjp",
    "maxplus_linear",
    "hilbert_score",
    "hilbert_score_vjp",
    "maxplus_aggregate",
    "TropicalAttentionResult",
    "tropical_attention",
]


def valuation(x) -> np.ndarray:
    r"""The valuation :math:`\log(1 + \max(x, 0))` (entry ``tropical_valuation``)."""
    return np.log1p(np.maximum(np.asarray(x, dtype=np.float64), 0.0))


def valuation_derivative(x) -> np.ndarray:
    r""":math:`[x > 0]/(1 + x)`; 0 at ``x = 0`` (relu'(0) = 0)."""
    x = np.asarray(x, dtype=np.float64)
    return np.where(x > 0, 1.0 / (1.0 + np.maximum(x, 0.0)), np.where(np.isnan(x), np.nan, 0.0))


def devaluation(c) -> np.ndarray:
    r"""The output map :math:`e^c - 1` (entry ``tropical_devaluation``): Lipschitz only locally,
    with constant :math:`e^M` on :math:`(-\infty, M]`."""
    with np.errstate(over="ignore"):  # expm1 overflows to inf above log(DBL_MAX), as it should
        return np.expm1(np.asarray(c, dtype=np.float64))


def maxplus_matmul(a, b) -> tuple[np.ndarray, np.ndarray]:
    r"""Max-plus product :math:`C_{ij} = \max_k (A_{ik} + B_{kj})` with its routing indices.

    Leading axes broadcast as in ``numpy.matmul``. Returns ``(C, K)`` with ``K[..., i, j]`` the
    first ``k`` attaining the maximum.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.ndim < 2 or b.ndim < 2 or a.shape[-1] != b.shape[-2]:
        raise ValueError(f"max-plus product needs (..., m, k) and (..., k, n), got {a.shape} and {b.shape}")
    sums = a[..., :, :, None] + b[..., None, :, :]  # (..., m, k, n)
    index = np.argmax(sums, axis=-2)
    value = np.take_along_axis(sums, index[..., None, :], axis=-2)[..., 0, :]
    return value, index


def maxplus_matmul_vjp(grad, index, a_shape, b_shape) -> tuple[np.ndarray, np.ndarray]:
    r"""Argmax routing: :math:`\partial C_{ij}/\partial A_{ik} = \partial C_{ij}/\partial B_{kj} = [k = K_{ij}]`.

    Returns ``(grad_A, grad_B)`` for the output gradient ``grad`` (shape of ``C``), summed over
    broadcast leading axes back to ``a_shape`` and ``b_shape``.
    """
    grad = np.asarray(grad, dtype=np.float64)
    m, n = grad.shape[-2:]
    k = a_shape[-1]
    onehot = (index[..., None, :] == np.arange(k)[:, None]).astype(np.float64)  # (..., m, k, n)
    ga = np.sum(onehot * grad[..., :, None, :], axis=-1)
    gb = np.sum(onehot * grad[..., :, None, :], axis=-3)
    return _unbroadcast(ga, a_shape), _unbroadcast(gb, b_shape)


def _unbroadcast(g: np.ndarray, shape) -> np.ndarray:
    while g.ndim > len(shape):
        g = g.sum(axis=0)
    for axis, size in enumerate(shape):
        if size == 1 and g.shape[axis] != 1:
            g = g.sum(axis=axis, keepdims=True)
    return g


def maxplus_linear(x, w) -> tuple[np.ndarray, np.ndarray]:
    r"""Tropical linear layer :math:`y_{\dots i} = \max_j (W_{ij} + x_{\dots j})` (entry
    ``maxplus_linear``; the reference code's ``TropicalLinear``). Returns ``(y, j*)``."""
    x = np.asarray(x, dtype=np.float64)
    w = np.asarray(w, dtype=np.float64)
    sums = w + x[..., None, :]  # (..., out, in)
    index = np.argmax(sums, axis=-1)
    return np.take_along_axis(sums, index[..., None], axis=-1)[..., 0], index


def hilbert_score(q, k, *, symmetric: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""Scores between every query and key (last axis = features).

    ``symmetric``: :math:`S_{ij} = -(\max_r D_{ijr} - \min_r D_{ijr})`, :math:`D = q_i - k_j`
    (entry ``tropical_hilbert_score``); else :math:`-(\sum_r D_{ijr} - d \min_r D_{ijr})` (entry
    ``tropical_asymmetric_score``). Returns ``(S, argmax_r, argmin_r)``.
    """
    q = np.asarray(q, dtype=np.float64)
    k = np.asarray(k, dtype=np.float64)
    diff = q[..., :, None, :] - k[..., None, :, :]
    hi = np.argmax(diff, axis=-1)
    lo = np.argmin(diff, axis=-1)
    dmax = np.take_along_axis(diff, hi[..., None], axis=-1)[..., 0]
    dmin = np.take_along_axis(diff, lo[..., None], axis=-1)[..., 0]
    if symmetric:
        return -(dmax - dmin), hi, lo
    d = diff.shape[-1]
    return -(np.sum(diff, axis=-1) - d * dmin), hi, lo


def hilbert_score_vjp(grad, hi, lo, d: int, *, symmetric: bool = True) -> tuple[np.ndarray, np.ndarray]:
    r"""Gradients of :func:`hilbert_score` for the output gradient ``grad`` (shape (..., m, n)).

    Symmetric: :math:`\partial S_{ij}/\partial q_i = -(e_{a} - e_{b})`, :math:`\partial S_{ij}/\partial k_j
    = e_a - e_b` (:math:`a, b` = first argmax, argmin of :math:`q_i - k_j`); asymmetric:
    :math:`\mp(\mathbf 1 - d\, e_b)`. Returns ``(grad_q, grad_k)`` of shapes (..., m, d), (..., n, d).
    """
    grad = np.asarray(grad, dtype=np.float64)
    e_lo = (lo[..., None] == np.arange(d)).astype(np.float64)
    if symmetric:
        e_hi = (hi[..., None] == np.arange(d)).astype(np.float64)
        dq = -(e_hi - e_lo)
    else:
        dq = -(1.0 - d * e_lo)
    per_pair = grad[..., None] * dq  # (..., m, n, d)
    return per_pair.sum(axis=-2), -per_pair.sum(axis=-3)


def maxplus_aggregate(scores, values) -> tuple[np.ndarray, np.ndarray]:
    r"""Context :math:`c_{id} = \max_j (S_{ij} + V_{jd})` (entry ``maxplus_aggregation``) and the
    routing index :math:`j^*` of each query-feature pair."""
    return maxplus_matmul(scores, values)


@dataclass(frozen=True)
class TropicalAttentionResult:
    """All intermediate values of one tropical attention head (for inspection and gradients)."""

    output: np.ndarray  #: expm1(context), shape (..., m, d)
    context: np.ndarray  #: max-plus aggregation, (..., m, d)
    scores: np.ndarray  #: (..., m, n)
    route: np.ndarray  #: key index j* of each context entry, (..., m, d)
    query: np.ndarray
    key: np.ndarray
    value: np.ndarray


def tropical_attention(x, wq=None, wk=None, wv=None, *, symmetric: bool = True) -> TropicalAttentionResult:
    r"""One head of tropical attention on a sequence ``x`` (shape (..., n, d)).

    ``q = k = v = log1p(relu(x))``, then max-plus projections with ``wq``, ``wk``, ``wv``
    (shape (d, d); omitted: no projection, the reference code's ``tropical_proj=False``), scores by
    :func:`hilbert_score`, context by :func:`maxplus_aggregate`, output ``expm1(context)``. The
    final ordinary linear layer of the reference code is not included.
    """
    base = valuation(x)
    q = base if wq is None else maxplus_linear(base, wq)[0]
    k = base if wk is None else maxplus_linear(base, wk)[0]
    v = base if wv is None else maxplus_linear(base, wv)[0]
    scores, _, _ = hilbert_score(q, k, symmetric=symmetric)
    context, route = maxplus_aggregate(scores, v)
    return TropicalAttentionResult(devaluation(context), context, scores, route, q, k, v)
