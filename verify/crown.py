r"""CROWN: backward linear bound propagation with proven relaxations of any catalog activation.

For a :class:`~funclib.verify.network.Network`
:math:`z_1 = W_0 x + b_0,\ h_j = \varphi_j(z_j),\ z_{j+1} = W_j h_j + b_j` and an input ball
:math:`\{x : \|x - x_0\|_p \le \varepsilon\}` (:math:`p = 2` or :math:`\infty`), a lower bound
of :math:`\Lambda z_k` is found by walking back through the layers (Zhang et al. 2018):
with the activation's relaxation :math:`a_L z + b_L \le \varphi(z) \le a_U z + b_U` on the
pre-activation interval :math:`[l_j, u_j]`,

.. math::

   A h_j \ge S_j z_j + \sum_i \bigl(A^+_{i} b_L + A^-_{i} b_U\bigr),\qquad
   S_j = A^+ \operatorname{diag}(a_L) + A^- \operatorname{diag}(a_U),

then :math:`S_j z_j = S_j W_{j-1} h_{j-1} + S_j b_{j-1}`, down to the input, where
:math:`\min_{\|x - x_0\| \le \varepsilon} A x = A x_0 - \varepsilon \|A\|_{q}` (:math:`q` the
dual norm).  The pre-activation intervals come from the same procedure, layer by layer.

The relaxations are :func:`funclib.relaxation.relax_entry`'s: intercepts proven with arb
interval arithmetic, so GELU, SiLU, Mish, GoLU or any catalog activation is handled the same
way as ReLU.  α-CROWN (Xu et al. 2021): the lower *and upper* slopes are free in the range
where a tight line lies; they are tuned per (input, specification row, neuron) by projected
gradient ascent (Adam, decaying step) on the bound, the gradient computed by reverse-mode
differentiation of the backward pass (:math:`\partial b/\partial a = -x^*`, the touching point
of the line, for either side).  Every α gives a valid bound, since each intercept is proven
for the slope it goes with, so the best one found is kept.  Tuning the upper slopes matters
for S-shaped activations (GELU, SiLU, Mish, GoLU are convex in the middle and concave
outside), where the upper line on an interval that straddles an inflection point is a chord
or tangent chosen without knowing the specification.

Weights may be dense arrays or ``scipy.sparse`` matrices (convolutions): only ``W @ X`` and
``W.T @ X`` are used.

Limits: the linear algebra is float64 without directed rounding (as in auto_LiRPA); the
relaxations' intercepts, not the matrix products, carry the proofs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .network import Network, NetworkError

__all__ = ["CrownRadii", "crown_bounds", "crown_margins", "crown_radii"]

_NORMS = {"l2": 2, "linf": np.inf}


def _norm(norm: str) -> str:
    key = str(norm).lower().replace("ℓ", "l").replace("_", "")
    key = {"2": "l2", "inf": "linf", "l∞": "linf"}.get(key, key)
    if key not in _NORMS:
        raise ValueError(f"norm must be 'l2' or 'linf', got {norm!r}")
    return key


def _right(A: np.ndarray, W) -> np.ndarray:
    """``A @ W`` over the last axis of A, for a dense or scipy.sparse W."""
    flat = A.reshape(-1, A.shape[-1])
    out = np.asarray(W.T @ flat.T).T
    return out.reshape(A.shape[:-1] + (out.shape[-1],))


def _dual(A: np.ndarray, norm: str) -> np.ndarray:
    return np.sqrt(np.einsum("...i,...i->...", A, A)) if norm == "l2" else np.abs(A).sum(axis=-1)


def _dual_grad(A: np.ndarray, norm: str) -> np.ndarray:
    if norm == "l2":
        n = np.sqrt(np.einsum("...i,...i->...", A, A))[..., None]
        return np.divide(A, n, out=np.zeros_like(A), where=n > 0)
    return np.sign(A)


def _row_norms(W, norm: str) -> np.ndarray:
    """Dual norms of the rows of a dense or scipy.sparse matrix."""
    M = abs(W)
    if norm == "l2":
        M = M.multiply(M) if hasattr(M, "multiply") else M * M
        return np.sqrt(np.asarray(M.sum(axis=1)).ravel())
    return np.asarray(M.sum(axis=1)).ravel()


def _relax(act, lo: np.ndarray, hi: np.ndarray, k: int):
    from funclib import registry

    if act.kind != "elementwise":
        raise NetworkError(f"layer {k}: activation {act.name!r} is {act.kind}; CROWN here handles elementwise activations")
    entry = registry.get(act.name)
    return entry.relaxation(lo, hi, params=dict(act.params) or None)


@dataclass
class _Pass:
    """One backward pass, kept for the α-gradient."""

    bound: np.ndarray  # (B, r)
    A: list  # A_j (coefficient on h_j), j = k-1 .. 1, in that order
    A0: np.ndarray
    where: list  # touching points x* of the (lower, upper) lines per layer
    intercepts: list  # the (lower, upper) intercepts used per layer


def _backward(net: Network, rels: list, k: int, Lam: np.ndarray, X: np.ndarray, eps: np.ndarray, norm: str,
              alpha: dict | None = None) -> _Pass:
    """Lower bound of ``Lam @ z_k`` (``Lam``: (B, r, n_k)) over the balls; rels[j] relaxes z_j."""
    W, b = net.weights, net.biases
    const = Lam @ b[k - 1]
    A = _right(Lam, W[k - 1])
    kept, wheres, bLs = [], [], []
    for j in range(k - 1, 0, -1):
        rel = rels[j]
        pos = A > 0
        if alpha is not None and j in alpha:
            aL, aU = alpha[j]
            # The intercepts of the tuned slopes, proven per (input, row, neuron).
            bL, xL = (t.transpose(1, 0, 2) for t in rel.lower_intercept_for(aL.transpose(1, 0, 2)))
            bU, xU = (t.transpose(1, 0, 2) for t in rel.upper_intercept_for(aU.transpose(1, 0, 2)))
        else:
            aL, bL, xL = rel.lower_slope[:, None, :], rel.lower_intercept[:, None, :], None
            aU, bU, xU = rel.upper_slope[:, None, :], rel.upper_intercept[:, None, :], None
        kept.append(A)
        wheres.append((xL, xU))
        bLs.append((bL, bU))
        const = const + np.where(pos, A * bL, A * bU).sum(axis=-1)
        S = np.where(pos, A * aL, A * aU)
        const = const + S @ b[j - 1]
        A = _right(S, W[j - 1])
    bound = const + np.einsum("bri,bi->br", A, X) - eps[:, None] * _dual(A, norm)
    return _Pass(bound, kept, A, wheres, bLs)


def _alpha_grad(net: Network, rels: list, k: int, p: _Pass, X: np.ndarray, eps: np.ndarray, norm: str,
                alpha: dict) -> dict:
    """d bound / d alpha_j by reverse-mode differentiation of :func:`_backward`."""
    W, b = net.weights, net.biases
    G = X[:, None, :] - eps[:, None, None] * _dual_grad(p.A0, norm)  # d bound / d A_0
    grads = {}
    for idx, j in enumerate(range(1, k)):
        i = len(p.A) - 1 - idx  # p.A runs from j = k-1 down
        A, (xL, xU) = p.A[i], p.where[i]
        GS = _right(G, W[j - 1].T) + b[j - 1]  # d bound / d S_j
        pos = A > 0
        (aL, aU), (bL, bU) = alpha[j], p.intercepts[i]
        # d/da of A (a z + b(a)) with db/da = -x*; A > 0 uses the lower line, A < 0 the upper.
        grads[j] = (np.where(pos, A * (GS - xL), 0.0), np.where(pos, 0.0, A * (GS - xU)))
        G = np.where(pos, GS * aL + bL, GS * aU + bU)
    return grads


def _layer_relaxations(net: Network, X: np.ndarray, eps: np.ndarray, norm: str) -> list:
    """Relaxations of every hidden layer's activation on its CROWN pre-activation bounds."""
    W0, b0 = net.weights[0], net.biases[0]
    z = np.asarray(W0 @ X.T).T + b0
    rad = _row_norms(W0, norm)
    rels = [None]
    lo, hi = z - eps[:, None] * rad, z + eps[:, None] * rad
    for k in range(1, len(net.weights)):
        rels.append(_relax(net.activations[k - 1], lo, hi, k))
        if k == len(net.weights) - 1:
            break
        n = net.weights[k].shape[0]
        eye = np.eye(n)
        Lam = np.broadcast_to(np.concatenate([eye, -eye]), (X.shape[0], 2 * n, n))
        bound = _backward(net, rels, k + 1, Lam, X, eps, norm).bound
        lo, hi = bound[:, :n], -bound[:, n:]
        hi = np.maximum(hi, lo)  # rounding can cross them on a point ball
    return rels


def crown_bounds(network: Network, X, eps, C, *, norm: str = "l2", alpha_steps: int = 0, lr: float = 0.1,
                 lr_decay: float = 0.98, tune_upper: bool = True) -> np.ndarray:
    r"""Lower bounds of :math:`C_b f(x)` over :math:`\|x - x_b\|_p \le \varepsilon_b`, per input.

    Parameters
    ----------
    network : Network
        Affine layers (dense or scipy.sparse weights) and elementwise catalog activations.
    X : array_like, shape (B, n_0)
        Ball centres.
    eps : float or array_like, shape (B,)
        Radii (≥ 0).
    C : array_like, shape (r, n_L) or (B, r, n_L)
        Specification rows.
    norm : {"l2", "linf"}
    alpha_steps : int
        Projected-gradient steps on the lower slopes (α-CROWN); 0 for plain CROWN.
    lr : float
        Step size, relative to each slope's admissible range.
    lr_decay : float
        Factor applied to the step size after every step (in (0, 1]).
    tune_upper : bool
        Tune the upper slopes as well as the lower ones (the upper ones matter where a
        specification row meets a negative coefficient, and for S-shaped activations whose
        upper line is not the chord).

    Returns
    -------
    ndarray, shape (B, r)
    """
    norm = _norm(norm)
    X = np.atleast_2d(np.asarray(X, dtype=np.float64))
    if X.shape[1] != network.dims[0]:
        raise NetworkError(f"inputs have {X.shape[1]} features, the network expects {network.dims[0]}")
    eps = np.broadcast_to(np.asarray(eps, dtype=np.float64), (X.shape[0],)).copy()
    if not np.all(np.isfinite(eps)) or (eps < 0).any():
        raise ValueError("eps must be finite and nonnegative")
    if not (np.isfinite(lr) and lr > 0 and 0 < lr_decay <= 1):
        raise ValueError(f"lr must be positive and lr_decay in (0, 1], got {lr!r} and {lr_decay!r}")
    C = np.asarray(C, dtype=np.float64)
    C = np.broadcast_to(C, (X.shape[0],) + C.shape[-2:])
    rels = _layer_relaxations(network, X, eps, norm)
    L = len(network.weights)
    best = _backward(network, rels, L, C, X, eps, norm).bound
    if alpha_steps <= 0 or L < 2:
        return best
    # α per (layer, side): slopes of shape (B, r, n_j), Adam ascent projected on the slope range
    # with a geometrically decaying step (α-CROWN's schedule).  Every α gives a proven bound.
    sides = (0, 1) if tune_upper else (0,)
    alpha, lo_r, hi_r = {}, {}, {}
    for j in range(1, L):
        rel = rels[j]
        for side, slope, (r0, r1) in ((0, rel.lower_slope, rel.lower_slope_range),
                                      (1, rel.upper_slope, rel.upper_slope_range)):
            lo_r[j, side], hi_r[j, side] = r0[:, None, :], r1[:, None, :]
            alpha[j, side] = np.broadcast_to(slope[:, None, :], C.shape[:2] + r0.shape[-1:]).copy()
    m = {key: np.zeros_like(a) for key, a in alpha.items()}
    v = {key: np.zeros_like(a) for key, a in alpha.items()}

    def pairs() -> dict:
        return {j: (alpha[j, 0], alpha[j, 1]) for j in range(1, L)}

    for step in range(1, alpha_steps + 1):
        p = _backward(network, rels, L, C, X, eps, norm, pairs())
        best = np.maximum(best, p.bound)
        grads = _alpha_grad(network, rels, L, p, X, eps, norm, pairs())
        rate = lr * lr_decay ** (step - 1)
        for j, pair in grads.items():
            for side in sides:
                key, g = (j, side), pair[side]
                m[key] = 0.9 * m[key] + 0.1 * g
                v[key] = 0.999 * v[key] + 0.001 * g * g
                move = (m[key] / (1 - 0.9**step)) / (np.sqrt(v[key] / (1 - 0.999**step)) + 1e-12)
                alpha[key] = np.clip(alpha[key] + rate * (hi_r[key] - lo_r[key]) * move, lo_r[key], hi_r[key])
    p = _backward(network, rels, L, C, X, eps, norm, pairs())
    return np.maximum(best, p.bound)


def _margin_spec(n_out: int, y: np.ndarray) -> np.ndarray:
    """Rows e_y - e_j for j != y, shape (B, n_out - 1, n_out)."""
    B = y.shape[0]
    C = np.zeros((B, n_out - 1, n_out))
    for i, c in enumerate(y):
        others = [j for j in range(n_out) if j != c]
        C[i, :, c] = 1.0
        C[i, np.arange(n_out - 1), others] = -1.0
    return C


def crown_margins(network: Network, X, y, eps, *, norm: str = "l2", alpha_steps: int = 0,
                  **tuning) -> np.ndarray:
    r"""Certified lower bounds of the margins :math:`f_y(x) - f_j(x)` (:math:`j \ne y`) over each ball.

    ``tuning`` (``lr``, ``lr_decay``, ``tune_upper``) goes to :func:`crown_bounds`.
    Returns an array of shape (B, n_classes - 1); an input is certified when all are > 0.
    """
    X = np.atleast_2d(np.asarray(X, dtype=np.float64))
    y = np.asarray(y).reshape(-1)
    n_out = network.dims[-1]
    if y.shape[0] != X.shape[0] or y.dtype.kind not in "iu" or (y < 0).any() or (y >= n_out).any():
        raise ValueError(f"y must hold {X.shape[0]} class indices in [0, {n_out})")
    return crown_bounds(network, X, eps, _margin_spec(n_out, y), norm=norm, alpha_steps=alpha_steps, **tuning)


@dataclass(frozen=True)
class CrownRadii:
    """Certified radii from CROWN by bisection on ε.

    ``radii[i]`` is the largest ε tried at which every margin of input i was certified
    positive (0 where the input is misclassified or nothing was certified); the prediction
    cannot change within it.  ``upper[i]`` is the smallest ε tried at which certification
    failed (``inf`` if none failed).
    """

    radii: np.ndarray
    upper: np.ndarray
    correct: np.ndarray
    norm: str
    alpha_steps: int

    def certified_accuracy(self, eps: float) -> float:
        """Fraction of inputs correctly classified with certified radius ≥ ``eps``."""
        return float(np.mean(self.correct & (self.radii >= eps)))


def crown_radii(network: Network, X, y, *, norm: str = "l2", eps_max: float = 1.0, steps: int = 10,
                alpha_steps: int = 0) -> CrownRadii:
    r"""Certified radii :math:`\varepsilon_i` by bisection: CROWN certifies each tried ε.

    Parameters
    ----------
    network : Network
    X : array_like, shape (B, n_0)
    y : array_like of int, shape (B,)
        True labels; a misclassified input gets radius 0.
    norm : {"l2", "linf"}
    eps_max : float
        Upper end of the bisection (radii are at most this).
    steps : int
        Bisection steps (the radius is within ``eps_max / 2**steps`` of what CROWN can certify).
    alpha_steps : int
        α-CROWN steps per certification (0: plain CROWN).
    """
    norm = _norm(norm)
    X = np.atleast_2d(np.asarray(X, dtype=np.float64))
    y = np.asarray(y).reshape(-1)
    pred = np.argmax(network(X), axis=1)
    correct = pred == y
    lo = np.zeros(X.shape[0])
    hi = np.full(X.shape[0], float(eps_max))
    upper = np.full(X.shape[0], np.inf)
    todo = np.flatnonzero(correct)
    if todo.size:
        ok = crown_margins(network, X[todo], y[todo], hi[todo], norm=norm, alpha_steps=alpha_steps).min(axis=1) > 0
        lo[todo[ok]] = hi[todo[ok]]
        todo = todo[~ok]
    for _ in range(steps):
        if not todo.size:
            break
        mid = lo[todo] / 2 + hi[todo] / 2
        ok = crown_margins(network, X[todo], y[todo], mid, norm=norm, alpha_steps=alpha_steps).min(axis=1) > 0
        lo[todo[ok]] = mid[ok]
        hi[todo[~ok]] = mid[~ok]
        upper[todo[~ok]] = mid[~ok]
    return CrownRadii(np.where(correct, lo, 0.0), upper, correct, norm, alpha_steps)
