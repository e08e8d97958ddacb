"""Cheap bounds: the naive product of spectral norms and a layer-by-layer closed form.

The layer-by-layer bound (in the style of ECLipsE-Fast, Xu & Sivaranjani 2024) eliminates the
hidden states one at a time from the LipSDP quadratic form with one scalar multiplier ``t_k``
per layer. Starting from ``X_0 = I`` (ρ = 1):

.. math::
    N_k = X_{k-1} - W_{k-1}^T A_k W_{k-1} \\succ 0,\\qquad
    X_k = -C_k - B_k^T W_{k-1} N_k^{-1} W_{k-1}^T B_k,

with ``(A_k, B_k, C_k)`` the layer's QC matrices at multiplier ``t_k``; ``t_k`` maximizes
``λ_min(X_k)`` (closed form ``t_k = 1/(4 m² λ_max(W X^{-1} Wᵀ))`` when α = 0, a scalar search
otherwise). The final scaling ``c = λ_max(X_{L-1}^{-1} W_{L-1}ᵀ W_{L-1})`` gives a feasible LMI
point ``(ρ, y) = c·(1, t)``. Being feasible, it is also certified by
:func:`funclib.verify.certify.certify` and serves as the interior point for repairs.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.linalg as sla

from .structure import GroupQC, LipSDP, SlopeQC

__all__ = ["naive_bound", "layerwise_multipliers"]


def naive_bound(weights, lipschitz_of_activations) -> float:
    """Π ‖W_k‖₂ · Π Lip(φ_k): spectral norms (not Frobenius) times the activations' constants."""
    value = 1.0
    for w in weights:
        value *= float(np.linalg.norm(w, 2))
    for lip in lipschitz_of_activations:
        value *= float(lip)
    return value


def _layer_vars(lmi: LipSDP, k: int, t: float) -> np.ndarray:
    """Variable values of layer k for a single scalar multiplier t (μ = 0 for grouped layers)."""
    sl = lmi.var_slices[k - 1]
    vals = np.zeros(sl.stop - sl.start)
    qc = lmi.qcs[k - 1]
    if isinstance(qc, SlopeQC):
        vals[:] = t
    else:
        vals[0::2] = t
    return vals


def _step(lmi: LipSDP, X: np.ndarray, k: int, t: float):
    """(N_k, X_k) at multiplier t, or None when N_k or X_k is not positive definite."""
    y = np.zeros(lmi.n_vars)
    y[lmi.var_slices[k - 1]] = _layer_vars(lmi, k, t)
    a, b, c = lmi.layer_abc(y, k)
    w = lmi.weights[k - 1]
    N = X - LipSDP.wt_a_w(w, a)
    try:
        f = sla.cho_factor(0.5 * (N + N.T), lower=True)
    except (np.linalg.LinAlgError, ValueError):
        return None
    Xk = -(np.diag(c) if np.ndim(c) == 1 else c)
    if b is not None:
        WB = w.T * b[None, :] if np.ndim(b) == 1 else w.T @ b
        Xk = Xk - WB.T @ sla.cho_solve(f, WB)
    Xk = 0.5 * (Xk + Xk.T)
    lam = float(np.linalg.eigvalsh(Xk)[0])
    if not lam > 0:
        return None
    return Xk, lam


def _best_t(lmi: LipSDP, X: np.ndarray, k: int) -> float:
    qc = lmi.qcs[k - 1]
    w = lmi.weights[k - 1]
    f = sla.cho_factor(X, lower=True)
    K = w @ sla.cho_solve(f, w.T)
    kmax = float(np.linalg.eigvalsh(0.5 * (K + K.T))[-1])
    if isinstance(qc, SlopeQC) and np.ndim(qc.m) == 0 and qc.p == 0.0 and qc.m != 0.0:
        return 1.0 / (4.0 * qc.m ** 2 * kmax)  # maximizer of 2t - 4m²t²λ_max(K)
    if isinstance(qc, GroupQC):
        # X_k = tI; N = X - t WᵀW ≻ 0 needs t < 1/λ_max(X^-1 WᵀW) = 1/kmax.
        return (1.0 - 1e-6) / kmax
    # General slope case: search t on a log grid, then refine by golden section.
    m2 = float(np.max(np.square(qc.m)))  # per-neuron sectors: the largest mid-slope
    t0 = 1.0 / (4.0 * max(m2, 1e-12) * kmax) if m2 != 0.0 else 1.0 / max(kmax, 1e-300)

    def score(logt: float) -> float:
        r = _step(lmi, X, k, math.exp(logt))
        return -math.inf if r is None else r[1]

    grid = np.log(t0) + np.linspace(-12.0, 6.0, 37)
    vals = [score(g) for g in grid]
    i = int(np.argmax(vals))
    if not math.isfinite(vals[i]):
        raise ValueError(f"layer {k}: no positive multiplier keeps the elimination definite")
    lo, hi = grid[max(i - 1, 0)], grid[min(i + 1, len(grid) - 1)]
    phi = (math.sqrt(5.0) - 1.0) / 2.0
    a, b = lo, hi
    c, d = b - phi * (b - a), a + phi * (b - a)
    fc, fd = score(c), score(d)
    for _ in range(30):
        if fc >= fd:
            b, d, fd = d, c, fc
            c = b - phi * (b - a)
            fc = score(c)
        else:
            a, c, fc = c, d, fd
            d = a + phi * (b - a)
            fd = score(d)
    best = max([(vals[i], grid[i]), (fc, c), (fd, d)])
    return math.exp(best[1])


def layerwise_multipliers(lmi: LipSDP) -> np.ndarray:
    """A strictly feasible LMI point ``y = (ρ, multipliers)`` by layer-wise elimination.

    Raises ``ValueError`` when some layer admits no positive multiplier (cannot happen for
    slope bounds with α ≥ 0 or for grouped layers).
    """
    L = len(lmi.weights)
    X = np.eye(lmi.dims[0])
    y = np.zeros(lmi.n_vars)
    for k in range(1, L):
        t = _best_t(lmi, X, k)
        r = _step(lmi, X, k, t)
        if r is None:
            raise ValueError(f"layer {k}: the layer-wise elimination lost definiteness")
        X = r[0]
        y[lmi.var_slices[k - 1]] = _layer_vars(lmi, k, t)
    w = lmi.weights[-1]
    f = sla.cho_factor(X, lower=True)
    G = sla.solve_triangular(f[0], w.T, lower=True)  # L^-1 Wᵀ
    c = float(np.linalg.eigvalsh(G.T @ G)[-1]) if G.size else 0.0
    # 1e-7 above the smallest feasible scaling so that the last hidden block is definite
    c = max(c, np.finfo(float).tiny) * (1.0 + 1e-7)
    y *= c
    y[0] = c
    return y
