"""The LipSDP linear matrix inequality as structured data.

For weights ``W_0..W_{L-1}`` and hidden states ``x_1..x_{L-1}`` (``x_0`` the input), every hidden
layer k contributes a quadratic constraint (QC) on ``v = W_{k-1} x_{k-1}`` (pre-activation,
bias cancels in increments) and ``z = x_k``:

.. math:: q_k(v, z) = v^T A_k v + 2 v^T B_k z + z^T C_k z \\ge 0,

where the multipliers enter linearly:

- slope-restricted in [α, β] (Fazlyab et al. 2019), with ``T = diag(t) ⪰ 0``:
  ``A = -2αβ T``, ``B = (α+β) T``, ``C = -2 T``;
- grouped maps that are 1-Lipschitz and preserve the component along a unit vector ``u`` of each
  group (GroupSort/MaxMin: the sum; Householder: the mirror line), with
  ``Γ = ⊕_g (λ_g I + μ_g u_g u_gᵀ)``, ``λ_g ≥ 0``, ``μ_g`` free (Pauli et al. 2024):
  ``A = Γ``, ``B = 0``, ``C = -Γ``. It holds because
  ``ΔvᵀΓΔv - ΔzᵀΓΔz = λ(‖Δv‖² - ‖Δz‖²) + μ((uᵀΔv)² - (uᵀΔz)²) = λ(‖Δv‖² - ‖Δz‖²) ≥ 0``.

The Lipschitz bound ``L = sqrt(ρ)`` holds when ``S(ρ, y) ⪰ 0`` with (block-tridiagonal)

.. math::
    S_{00} = ρ I - W_0^T A_1 W_0,\\quad S_{k-1,k} = -W_{k-1}^T B_k,\\quad
    S_{kk} = -C_k - W_k^T A_{k+1} W_k,\\quad S_{L-1,L-1} = -C_{L-1} - W_{L-1}^T W_{L-1}.

Equivalently ``S = -C_0 + ρ E + Σ_i y_i F_i`` with constant ``C_0`` (the output term), ``E`` the
identity on the input block and each ``F_i`` of rank ≤ 2 per neuron: this module produces that
affine matrix function directly from sparse data (never as products of modelling-language
expressions), in three forms: per-layer blocks (certification), a column pool with sparse
coefficients (the structured solver) and a sparse ``vec(S)`` map (cvxpy).

Formulations: ``neuron`` (one multiplier per neuron or group; LipSDP-Neuron) and ``layer`` (one
per layer; LipSDP-Layer). The coupled LipSDP-Network multipliers are deliberately absent: they
are not valid for general slope-restricted activations and can give bounds below the true
constant.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sps

from .activations import Activation, SlopeBound

__all__ = ["SlopeQC", "GroupQC", "LipSDP", "METHODS"]

METHODS = ("neuron", "layer")


@dataclass(frozen=True, eq=False)
class SlopeQC:
    """Slope restriction [alpha, beta] for every neuron of a layer: one pair for the layer, or
    arrays of shape ``(width,)`` (one sector per neuron, e.g. slopes on each neuron's interval)."""

    width: int
    alpha: float | np.ndarray
    beta: float | np.ndarray

    @property
    def p(self) -> float:
        return self.alpha * self.beta

    @property
    def m(self) -> float:
        return 0.5 * (self.alpha + self.beta)


@dataclass(frozen=True)
class GroupQC:
    """Grouped 1-Lipschitz map preserving the component along ``directions[g]`` of each group."""

    width: int
    group_size: int
    directions: tuple[np.ndarray, ...]
    index: np.ndarray  # (n_groups, group_size): the neurons of each group (layout)

    @classmethod
    def of(cls, act: Activation, width: int) -> "GroupQC":
        g = act.group_size_for(width)
        u = act.preserved_direction(g)
        return cls(width, g, tuple(u for _ in range(width // g)), act.groups(width))

    @property
    def n_groups(self) -> int:
        return self.width // self.group_size


def layer_qcs(activations: tuple[Activation, ...], widths: tuple[int, ...], bounds: list[SlopeBound | None]):
    """The QC of each hidden layer from its activation and (for elementwise ones) slope bounds."""
    out = []
    for act, width, bound in zip(activations, widths, bounds):
        if act.kind == "grouped":
            out.append(GroupQC.of(act, width))
        else:
            out.append(SlopeQC(width, bound.alpha, bound.beta))
    return out


class LipSDP:
    """Structured data of the LipSDP LMI for given weights, layer QCs and formulation.

    Variables ``y = (ρ, y_1, ..., y_m)``; ``sign[i]`` says whether ``y_i ≥ 0`` is required
    (``ρ`` and every multiplier except the free ``μ`` of grouped layers).
    """

    def __init__(self, weights, qcs, method: str = "neuron"):
        if method not in METHODS:
            raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
        self.weights = [np.asarray(w, dtype=np.float64) for w in weights]
        self.qcs = list(qcs)
        self.method = method
        if len(self.qcs) != len(self.weights) - 1:
            raise ValueError("one QC per hidden layer is needed")
        self.dims = (self.weights[0].shape[1],) + tuple(w.shape[0] for w in self.weights)
        self.n = int(sum(self.dims[:-1]))  # LMI size: input + hidden
        self.offsets = np.concatenate([[0], np.cumsum(self.dims[:-1])]).astype(int)  # block starts
        # variable layout
        slices, sign = [], [True]  # rho
        start = 1
        for qc in self.qcs:
            if isinstance(qc, SlopeQC):
                count = qc.width if method == "neuron" else 1
                sign += [True] * count
            else:
                count = 2 * (qc.n_groups if method == "neuron" else 1)
                sign += [True, False] * (count // 2)
            slices.append(slice(start, start + count))
            start += count
        self.var_slices = slices
        self.n_vars = start
        self.sign = np.array(sign, dtype=bool)
        self.n_hidden = int(sum(self.dims[1:-1]))

    # -- per-layer multiplier matrices ----------------------------------------------------
    def layer_abc(self, y: np.ndarray, k: int):
        """(A_k, B_k, C_k) of hidden layer k (1-based): 1-D arrays (diagonal) or 2-D matrices."""
        qc = self.qcs[k - 1]
        vals = np.asarray(y[self.var_slices[k - 1]], dtype=np.float64)
        if isinstance(qc, SlopeQC):
            t = np.broadcast_to(vals, (qc.width,)) if vals.size == 1 else vals
            return -2.0 * qc.p * t, 2.0 * qc.m * t, -2.0 * t
        gamma = np.zeros((qc.width, qc.width))
        g = qc.group_size
        for i in range(qc.n_groups):
            lam, mu = (vals[2 * i], vals[2 * i + 1]) if self.method == "neuron" else (vals[0], vals[1])
            u = qc.directions[i]
            s = np.ix_(qc.index[i], qc.index[i])
            gamma[s] = lam * np.eye(g) + mu * np.outer(u, u)
        return gamma, None, -gamma

    @staticmethod
    def wt_a_w(w: np.ndarray, a) -> np.ndarray:
        """Wᵀ A W for diagonal (1-D) or dense A."""
        if a is None:
            return np.zeros((w.shape[1], w.shape[1]))
        if np.ndim(a) == 1:
            return w.T @ (a[:, None] * w)
        return w.T @ a @ w

    def blocks(self, y: np.ndarray, rho: float | None = None):
        """Diagonal blocks ``D[k]`` and super-diagonal blocks ``U[k] = S_{k,k+1}`` of S(ρ, y).

        ``rho`` overrides ``y[0]``; ``rho=0`` gives the part of S_00 that does not depend on ρ.
        """
        rho = float(y[0]) if rho is None else float(rho)
        L = len(self.weights)
        diag, upper = [], []
        abc = [self.layer_abc(y, k) for k in range(1, L)]
        for k in range(L):
            w = self.weights[k]
            if k == L - 1:
                nxt = w.T @ w
                block = -nxt
            else:
                a_next = abc[k][0]
                block = -self.wt_a_w(w, a_next)
            if k == 0:
                block = block + rho * np.eye(self.dims[0])
            else:
                c = abc[k - 1][2]
                block = block - (np.diag(c) if np.ndim(c) == 1 else c)
            diag.append(0.5 * (block + block.T))
            if k < L - 1:
                b = abc[k][1]
                if b is None:
                    upper.append(np.zeros((self.dims[k], self.dims[k + 1])))
                elif np.ndim(b) == 1:
                    upper.append(-(w.T * b[None, :]))
                else:
                    upper.append(-(w.T @ b))
        return diag, upper

    def dense(self, y: np.ndarray, rho: float | None = None) -> np.ndarray:
        """The full symmetric matrix S(ρ, y) (for small problems and tests)."""
        diag, upper = self.blocks(y, rho)
        S = np.zeros((self.n, self.n))
        o = self.offsets
        for k, d in enumerate(diag):
            S[o[k]:o[k + 1], o[k]:o[k + 1]] = d
        for k, u in enumerate(upper):
            S[o[k]:o[k + 1], o[k + 1]:o[k + 2]] = u
            S[o[k + 1]:o[k + 2], o[k]:o[k + 1]] = u.T
        return S

    # -- column pool: S = -C0 + Σ_i y_i U Ã_i Uᵀ ------------------------------------------
    def pool(self):
        """Column pool and sparse coefficients of every variable.

        Returns ``(V, z_rows, in_rows, entries)``: ``V`` (n × N_hidden) holds the
        pre-activation functionals (row j of W_{k-1} placed in block k-1); pool column indices
        are ``[0, N_h)`` for V, ``[N_h, 2N_h)`` for the unit vectors of the hidden neurons
        (rows ``z_rows``) and ``[2N_h, 2N_h + n_0)`` for the input unit vectors (rows
        ``in_rows``). ``entries = (p, q, val, var)``, sorted by ``var``, gives
        ``F_var = Σ val · u_p u_qᵀ`` (ρ is variable 0 with F_0 = E).
        """
        nh, n0 = self.n_hidden, self.dims[0]
        V = np.zeros((self.n, nh))
        z_rows = np.arange(n0, self.n)
        in_rows = np.arange(n0)
        P, Q, VAL, VAR = [np.arange(2 * nh, 2 * nh + n0)], [np.arange(2 * nh, 2 * nh + n0)], [np.ones(n0)], [np.zeros(n0, int)]
        j0 = 0
        for k, qc in enumerate(self.qcs, start=1):
            w = self.weights[k - 1]
            width = qc.width
            V[self.offsets[k - 1]:self.offsets[k], j0:j0 + width] = w.T
            js = np.arange(j0, j0 + width)
            vcol, zcol = js, nh + js
            sl = self.var_slices[k - 1]
            if isinstance(qc, SlopeQC):
                var = np.arange(sl.start, sl.stop) if self.method == "neuron" else np.full(width, sl.start)
                terms = []
                if np.any(qc.p != 0.0):
                    terms.append((vcol, vcol, 2.0 * qc.p))
                if np.any(qc.m != 0.0):
                    terms += [(vcol, zcol, -2.0 * qc.m), (zcol, vcol, -2.0 * qc.m)]
                terms.append((zcol, zcol, 2.0))
                for p, q, val in terms:
                    P.append(p), Q.append(q), VAL.append(np.full(width, val, dtype=np.float64)), VAR.append(var)
            else:
                g = qc.group_size
                for i in range(qc.n_groups):
                    lam_var = sl.start + (2 * i if self.method == "neuron" else 0)
                    mu_var = lam_var + 1
                    idx = qc.index[i]
                    u = qc.directions[i]
                    P += [vcol[idx], zcol[idx]]
                    Q += [vcol[idx], zcol[idx]]
                    VAL += [-np.ones(g), np.ones(g)]
                    VAR += [np.full(g, lam_var)] * 2
                    uu = np.outer(u, u).ravel()
                    ii, jj = np.meshgrid(idx, idx, indexing="ij")
                    P += [vcol[ii.ravel()], zcol[ii.ravel()]]
                    Q += [vcol[jj.ravel()], zcol[jj.ravel()]]
                    VAL += [-uu, uu]
                    VAR += [np.full(g * g, mu_var)] * 2
            j0 += width
        p, q, val, var = (np.concatenate(a) for a in (P, Q, VAL, VAR))
        keep = val != 0.0
        p, q, val, var = p[keep], q[keep], val[keep], var[keep].astype(int)
        order = np.argsort(var, kind="stable")
        return V, z_rows, in_rows, (p[order], q[order], val[order], var[order])

    def constant(self) -> np.ndarray:
        """-C_0: the constant part of S (minus the output term on the last block), dense n × n."""
        S0 = np.zeros((self.n, self.n))
        w = self.weights[-1]
        o = self.offsets
        S0[o[-2]:o[-1], o[-2]:o[-1]] = -(w.T @ w)
        return S0

    def vec_map(self):
        """``vec(S(y)) = s0 + F y`` (column-major vec) with sparse ``F`` of shape (n², n_vars)."""
        V, z_rows, in_rows, (p, q, val, var) = self.pool()
        nh = self.n_hidden
        U = sps.hstack([sps.csc_matrix(V),
                        sps.csc_matrix((np.ones(nh), (z_rows, np.arange(nh))), shape=(self.n, nh)),
                        sps.csc_matrix((np.ones(len(in_rows)), (in_rows, np.arange(len(in_rows)))),
                                       shape=(self.n, len(in_rows)))]).tocsc()
        U.eliminate_zeros()
        indptr, indices, data = U.indptr, U.indices, U.data
        lp = indptr[p + 1] - indptr[p]
        lq = indptr[q + 1] - indptr[q]
        count = lp * lq
        total = int(count.sum())
        if total > 60_000_000:
            raise MemoryError(f"the sparse LMI data would hold {total} entries; use the structured solver")
        e = np.repeat(np.arange(len(p)), count)
        start = np.concatenate([[0], np.cumsum(count)[:-1]])
        local = np.arange(total) - np.repeat(start, count)
        a = local // np.repeat(lq, count)
        b = local % np.repeat(lq, count)
        ia = indptr[p[e]] + a
        ib = indptr[q[e]] + b
        rows, cols = indices[ia], indices[ib]
        vals = val[e] * data[ia] * data[ib]
        F = sps.csc_matrix((vals, (rows + cols * self.n, var[e])), shape=(self.n * self.n, self.n_vars))
        s0 = self.constant().ravel(order="F")
        return s0, F
