"""Lower bounds on the Lipschitz constant: the largest Jacobian norm found at real points.

For any point x where f is differentiable, ``Lip(f) ≥ ‖J_f(x)‖₂``. We evaluate the Jacobian

.. math:: J(x) = W_{L-1} D_{L-1}(x) W_{L-2} \\cdots D_1(x) W_0,

with ``D_k = diag(φ_k'(z_k))`` (the catalog's derivative, evaluated in float64 by
:func:`funclib.npeval.np_evaluate`) or the permutation / reflection Jacobians of grouped maps,

1. at random points on several scales (around 0 and around the point where the first layer's
   pre-activations vanish),
2. followed by gradient ascent on ``σ_max(J(x))`` for smooth activations, with
   ``∇_x σ = Σ_k J_{z_k}(x)ᵀ (ℓ_k ∘ r_k ∘ φ_k''(z_k))`` where ``ℓ_k``, ``r_k`` are the top singular
   vectors pushed to layer k,
3. and, for piecewise-linear networks (ReLU type, f'' ≡ 0), a local search over activation
   patterns: moves in x that carry one pre-activation across its kink, chosen by the first-order
   gain ``ℓ_{kj} r_{kj} Δφ'``, accepted when the true norm at the new point is larger.

Every reported value is ``‖J(x)‖₂`` at an actual point x with all pre-activations away from
kinks, so it is a valid lower bound. :func:`exact_lipschitz_pl` enumerates activation patterns
of a small two-piece piecewise-linear network (with an LP for realizability) and returns the
exact constant; it is used by the tests.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np

from .activations import elementwise_kernels

__all__ = ["forward", "jacobian", "LowerBound", "lower_bound", "exact_lipschitz_pl"]

_KINK = 1e-9  # pre-activations closer than this (relative) to 0 are nudged for PL networks


def _kernels(network):
    out = []
    for act in network.activations:
        if act.kind == "grouped":
            out.append(None)
        else:
            out.append(elementwise_kernels(act))
    return out


def forward(network, x, kernels=None):
    """f(x) and per-layer (pre-activation z_k, derivative factor D_k) for one point x.

    ``D_k`` is a vector (elementwise φ') or a dense matrix (grouped).
    """
    kernels = kernels or _kernels(network)
    h = np.asarray(x, dtype=np.float64)
    cache = []
    L = len(network.weights)
    for k in range(L):
        z = network.weights[k] @ h + network.biases[k]
        if k == L - 1:
            return z, cache
        act = network.activations[k]
        if kernels[k] is None:
            h, D = act.apply_grouped(z)
        else:
            f, d1, _, _ = kernels[k]
            h = f(z)
            D = d1(z)
        cache.append((z, D))
    return h, cache


def _apply(D, M):
    return D[:, None] * M if D.ndim == 1 else D @ M


def jacobian(network, x, kernels=None) -> np.ndarray:
    """J_f(x) (n_out × n_in) at one point."""
    _, cache = forward(network, x, kernels)
    J = network.weights[0]
    for k, (_, D) in enumerate(cache, start=1):
        J = network.weights[k] @ _apply(D, J)
    return J


def _norm_grad(network, x, kernels):
    """(σ_max(J(x)), ∇_x σ_max) for smooth elementwise layers (grouped layers contribute 0)."""
    _, cache = forward(network, x, kernels)
    L = len(network.weights)
    Jz = [network.weights[0]]  # J_{z_1}
    for k in range(1, L):
        Jz.append(network.weights[k] @ _apply(cache[k - 1][1], Jz[-1]))
    J = Jz[-1]
    u, s, vt = np.linalg.svd(J, full_matrices=False)
    sigma, uu, vv = float(s[0]), u[:, 0], vt[0]
    grad = np.zeros_like(x)
    left = uu @ network.weights[L - 1]  # ℓ_{L-1}
    for k in range(L - 1, 0, -1):
        z, D = cache[k - 1]
        r = Jz[k - 1] @ vv
        if kernels[k - 1] is not None:
            d2 = kernels[k - 1][2](z)
            grad += Jz[k - 1].T @ (left * r * d2)
        left = (left * D if D.ndim == 1 else left @ D) @ network.weights[k - 1]
    return sigma, grad


def _batch_norms(network, X, kernels) -> np.ndarray:
    """‖J(x)‖₂ for the rows of X (vectorized for elementwise layers)."""
    if any(k is None for k in kernels):
        return np.array([np.linalg.norm(jacobian(network, x, kernels), 2) for x in X])
    L = len(network.weights)
    H = X
    Ds = []
    for k in range(L - 1):
        Zk = H @ network.weights[k].T + network.biases[k]
        f, d1, _, _ = kernels[k]
        Ds.append(d1(Zk))
        H = f(Zk)
    J = np.broadcast_to(network.weights[-1], (X.shape[0],) + network.weights[-1].shape)
    for k in range(L - 2, -1, -1):
        J = (J * Ds[k][:, None, :]) @ network.weights[k]
    G = J @ J.transpose(0, 2, 1) if J.shape[1] <= J.shape[2] else J.transpose(0, 2, 1) @ J
    return np.sqrt(np.maximum(np.linalg.eigvalsh(G)[:, -1], 0.0))


@dataclass
class LowerBound:
    value: float
    x: np.ndarray
    method: str


def _input_scale(network) -> tuple[float, np.ndarray]:
    w0, b0 = network.weights[0], network.biases[0]
    row = float(np.sqrt(np.mean(np.sum(w0 ** 2, axis=1)))) or 1.0
    center = np.linalg.lstsq(w0, -b0, rcond=None)[0]
    return 1.0 / row, center


def _is_pl(kernels) -> bool:
    return all(k is None or k[3] for k in kernels)


def _away_from_kinks(network, x, kernels, rng):
    """Nudge x so that no pre-activation is within _KINK of 0 (f is then differentiable there
    for two-piece PL activations with the kink at 0)."""
    scale = 1e-7 * (np.linalg.norm(x) + 1.0)
    for _ in range(20):
        _, cache = forward(network, x, kernels)
        if all(np.min(np.abs(z)) > _KINK * (1 + np.max(np.abs(z))) for z, _ in cache):
            return x
        x = x + scale * rng.standard_normal(x.shape)
    return x


def _pattern_search(network, x, kernels, rng, max_moves: int = 400, candidates: int = 12):
    """Local search over activation patterns by moves that carry one pre-activation across 0."""
    best = float(np.linalg.norm(jacobian(network, x, kernels), 2))
    L = len(network.weights)
    tried = 0
    improved = True
    while improved and tried < max_moves:
        improved = False
        _, cache = forward(network, x, kernels)
        Jz = [network.weights[0]]
        for k in range(1, L):
            Jz.append(network.weights[k] @ _apply(cache[k - 1][1], Jz[-1]))
        u, s, vt = np.linalg.svd(Jz[-1], full_matrices=False)
        left = u[:, 0] @ network.weights[L - 1]
        moves = []
        for k in range(L - 1, 0, -1):
            z, D = cache[k - 1]
            r = Jz[k - 1] @ vt[0]
            if kernels[k - 1] is not None:
                target = -z * 1.001 - np.sign(z) * 1e-6 * (1.0 + np.abs(z))
                dD = kernels[k - 1][1](target) - D
                gain = left * r * dD
                for j in np.argsort(-gain)[:candidates]:
                    if gain[j] > 0:
                        moves.append((gain[j], k, j, target[j] - z[j]))
            left = (left * D if D.ndim == 1 else left @ D) @ network.weights[k - 1]
        moves.sort(key=lambda m: -m[0])
        for _, k, j, dz in moves[:candidates]:
            row = Jz[k - 1][j]
            nrm = float(row @ row)
            if nrm == 0.0:
                continue
            xn = _away_from_kinks(network, x + row * (dz / nrm), kernels, rng)
            tried += 1
            val = float(np.linalg.norm(jacobian(network, xn, kernels), 2))
            if val > best * (1 + 1e-12):
                best, x, improved = val, xn, True
                break
    return best, x


def lower_bound(network, *, samples: int = 1024, ascent_steps: int = 40, starts: int = 20,
                seed: int = 0, time_budget: float | None = None) -> LowerBound:
    """A lower bound on Lip(f): max ‖J(x)‖₂ over sampled and locally improved points."""
    import time

    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    kernels = _kernels(network)
    pl = _is_pl(kernels)
    n0 = network.dims[0]
    s0, center = _input_scale(network)
    scales = s0 * np.array([0.01, 0.1, 1.0, 10.0, 100.0])
    X = []
    per = max(samples // (2 * len(scales)), 1)
    for c in (np.zeros(n0), center):
        for s in scales:
            X.append(c + s * rng.standard_normal((per, n0)))
    X = np.vstack(X)
    norms = _batch_norms(network, X, kernels)
    order = np.argsort(-norms)
    best_val, best_x = float(norms[order[0]]), X[order[0]]
    method = "sampling"
    for idx in order[:starts]:
        if time_budget is not None and time.perf_counter() - t0 > time_budget:
            break
        x = X[idx].copy()
        if pl:
            x = _away_from_kinks(network, x, kernels, rng)
            val, x = _pattern_search(network, x, kernels, rng)
            if val > best_val:
                best_val, best_x, method = val, x, "sampling + activation-pattern search"
            continue
        step = 0.1 * s0 * math.sqrt(n0)
        val, g = _norm_grad(network, x, kernels)
        for _ in range(ascent_steps):
            gn = float(np.linalg.norm(g))
            if gn == 0.0 or step < 1e-8 * s0:
                break
            xn = x + step * g / gn
            vn, gnew = _norm_grad(network, xn, kernels)
            if vn > val:
                x, val, g = xn, vn, gnew
                step *= 1.5
            else:
                step *= 0.5
        if val > best_val:
            best_val, best_x, method = val, x, "sampling + gradient ascent"
    # re-evaluate the winner exactly at its point (the value reported is ‖J(best_x)‖₂)
    best_val = float(np.linalg.norm(jacobian(network, best_x, kernels), 2))
    return LowerBound(best_val, best_x, method)


# -- exact constant of small piecewise-linear networks (tests) ------------------------------

def _two_slopes(act):
    f, d1, _, pl = elementwise_kernels(act)
    if not pl:
        raise ValueError(f"activation {act.name!r} is not piecewise linear")
    probe = np.array([-3.0, -1.0, -1e-3, 1e-3, 1.0, 3.0])
    d = d1(probe)
    lines_through_0 = np.allclose(f(probe), np.where(probe < 0, d[0], d[3]) * probe, rtol=1e-14, atol=0)
    if not (np.all(d[:3] == d[0]) and np.all(d[3:] == d[3]) and lines_through_0):
        raise ValueError(f"activation {act.name!r} is not a two-piece function with its kink at 0")
    return float(d[0]), float(d[3])


def exact_lipschitz_pl(network, max_neurons: int = 14) -> float:
    """Exact ℓ2 Lipschitz constant of a small network of two-piece PL activations (kink at 0).

    It is the largest ‖J‖₂ over the linear regions with non-empty interior; every pattern of
    signs is tested for strict realizability with a linear program (skipped for one hidden layer
    whose weight has full row rank: then every pattern is realized).
    """
    from scipy.optimize import linprog

    if any(a.kind != "elementwise" for a in network.activations):
        raise ValueError("exact enumeration handles elementwise activations only")
    slopes = [_two_slopes(a) for a in network.activations]
    widths = network.dims[1:-1]
    N = int(sum(widths))
    if N > max_neurons:
        raise ValueError(f"{N} hidden neurons: too many to enumerate (max {max_neurons})")
    W, b = network.weights, network.biases
    all_realizable = len(widths) == 1 and np.linalg.matrix_rank(W[0]) == W[0].shape[0]
    n0 = network.dims[0]
    best = 0.0
    for bits in itertools.product((0, 1), repeat=N):
        signs, off = [], 0
        for w in widths:
            signs.append(np.array(bits[off:off + w]))
            off += w
        A_ub, b_ub = [], []
        M, c = np.eye(n0), np.zeros(n0)  # h = M x + c (affine given the pattern)
        J = None
        for k, s in enumerate(signs):
            Zm, Zc = W[k] @ M, W[k] @ c + b[k]
            sgn = np.where(s == 1, 1.0, -1.0)
            # require sgn * z >= eps  ->  -sgn*(Zm x + Zc) + eps <= 0
            A_ub.append(np.hstack([-sgn[:, None] * Zm, np.ones((len(s), 1))]))
            b_ub.append(sgn * Zc)
            lo, hi = slopes[k]
            d = np.where(s == 1, hi, lo)
            M, c = d[:, None] * Zm, d * Zc
        J = W[-1] @ M
        val = float(np.linalg.norm(J, 2))
        if val <= best:
            continue
        if not all_realizable:
            res = linprog(np.r_[np.zeros(n0), -1.0], A_ub=np.vstack(A_ub), b_ub=np.concatenate(b_ub),
                          bounds=[(None, None)] * n0 + [(None, 1.0)], method="highs")
            if res.status != 0 or -res.fun <= 1e-9:
                continue
        best = val
    return best
