"""A structured primal-dual interior-point solver for the LipSDP LMI (pure NumPy/SciPy).

Problem (dual standard form) and its dual:

.. math::
    \\min_y\\ ρ \\ \\text{s.t.}\\ S(y) = -C_0 + \\sum_i y_i F_i \\succeq 0,\\ y_i \\ge 0\\ (i \\in \\text{sign});
    \\qquad
    \\max_{X \\succeq 0, x \\ge 0}\\ \\operatorname{tr}(C_0 X)\\ \\text{s.t.}\\
    \\operatorname{tr}(F_i X) + x_i = b_i,

with ``b = e_ρ``. Iterates keep ``S = S(y) ≻ 0`` exactly (the start is a strictly feasible LMI
point from :mod:`funclib.verify.closed_form`), so every iterate's multipliers certify a bound.
The dual start is strictly feasible too when it is known in closed form (slope-restricted
layers: ``X = c(GGᵀ + ηI)`` with G the network linearized at the mid-slopes), else the centred
``X = τ S^{-1}``. Directions are HKM (``ΔX = σμ S^{-1} - X - sym(X ΔS S^{-1})``) with Mehrotra's
predictor-corrector; steps go 0.9 of the way to the boundary (Lanczos estimate, then checked by
Cholesky). What makes it fast is the structure of the data: every ``F_i`` is a sum
of outer products ``u_p u_qᵀ`` of columns of a small *column pool* ``U`` (pre-activation
functionals and unit vectors, :meth:`funclib.verify.structure.LipSDP.pool`), so with
``K_X = Uᵀ X U`` and ``K_Z = Uᵀ S^{-1} U`` the Schur complement matrix is a gather

.. math:: M_{ij} = \\operatorname{tr}(F_i X F_j S^{-1}) = \\sum_{e \\in i, f \\in j}
          v_e v_f (K_X)_{q_e p_f} (K_Z)_{q_f p_e} + δ_{ij} x_i / y_i.

No ``n² × m`` constraint matrix is formed. Any ``X ⪰ 0`` with ``tr(F_i X) ≤ 0`` on the
sign-constrained multipliers gives the dual lower bound ``ρ* ≥ tr(C_0 X) / tr(E X)`` on the SDP
optimum (formulations without free multipliers), so the solver reports an optimality gap and
stops when it is small.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import scipy.linalg as sla
from scipy.linalg import lapack

from .structure import LipSDP

__all__ = ["IPMResult", "solve_structured"]

#: Fraction of the distance to the boundary taken by a step (0.95 lost centrality on deep nets).
_FRAC = 0.9


@dataclass
class IPMResult:
    y: np.ndarray
    rho: float  # ρ of the last (strictly feasible) iterate
    lower: float | None  # dual lower bound on the SDP optimum, None when not available
    status: str  # "optimal", "time_limit", "iteration_limit", "stalled"
    iterations: int
    seconds: float
    history: list = field(default_factory=list)


class _Problem:
    def __init__(self, lmi: LipSDP):
        self.lmi = lmi
        V, z_rows, in_rows, (p, q, val, var) = lmi.pool()
        self.V = V
        self.units = np.concatenate([z_rows, in_rows])
        self.nh = V.shape[1]
        self.p, self.q, self.val, self.var = p, q, val, var
        if len(p) > 14000:
            raise MemoryError(f"{len(p)} pool coefficients: too many for the structured solver")
        self.starts = np.flatnonzero(np.r_[True, var[1:] != var[:-1]])
        if len(self.starts) != lmi.n_vars:
            raise ValueError("every variable needs at least one coefficient")
        self.sign = lmi.sign
        self.in_rows = in_rows
        o = lmi.offsets
        self.last = slice(o[-2], o[-1])
        self.w_last = lmi.weights[-1]
        self.b = np.zeros(lmi.n_vars)
        self.b[0] = 1.0
        # Repair direction for the dual bound: D = G Gᵀ with G the network linearized at the
        # mid-slopes (x_k = m_k W_{k-1} x_{k-1}); tr(F_i D) = -(β-α)²/2 · ‖a_iᵀ G_{k-1}‖² ≤ 0.
        self.KD = None
        if all(hasattr(qc, "alpha") for qc in lmi.qcs):
            G = [np.eye(lmi.dims[0])]
            for k, qc in enumerate(lmi.qcs):
                G.append(np.reshape(qc.m, (-1, 1)) * (lmi.weights[k] @ G[-1]))  # scalar or per-neuron
            G = np.vstack(G)
            UG = np.vstack([V.T @ G, G[self.units]])
            self.trFD = np.add.reduceat(val * np.sum(UG[q] * UG[p], axis=1), self.starts)
            Gl = G[self.last]
            self.trCD = float(np.sum((self.w_last @ Gl) ** 2))
            self.trED = float(np.sum(G[in_rows] ** 2))
            self.G = G

    def chol(self, y):
        if np.any(y[self.sign] <= 0):
            return None
        return _chol(self.lmi.dense(y))

    def K(self, A):
        """Uᵀ A U for symmetric A, using the block sparsity of V (layer k's functionals live
        in block k-1 of the rows)."""
        lmi = self.lmi
        o = lmi.offsets
        nh = self.nh
        AV = np.empty((A.shape[0], nh))
        cols = []
        j = 0
        for k in range(1, len(lmi.weights)):
            w = lmi.weights[k - 1]
            rows = slice(o[k - 1], o[k])
            c = slice(j, j + w.shape[0])
            AV[:, c] = A[:, rows] @ w.T
            cols.append((rows, c, w))
            j += w.shape[0]
        R = 2 * nh + len(self.in_rows)
        K = np.empty((R, R))
        for rows, c, w in cols:
            K[c, :nh] = w @ AV[rows, :]
        K[nh:, :nh] = AV[self.units]
        K[:nh, nh:] = K[nh:, :nh].T
        K[nh:, nh:] = A[np.ix_(self.units, self.units)]
        return K

    def traces(self, K):
        """tr(F_i A) for all i from K = Uᵀ A U."""
        return np.add.reduceat(self.val * K[self.q, self.p], self.starts)

    def _neuron_coefficients(self):
        """Per-neuron coefficients (c_vv, c_vz, c_zz) and variable of each hidden neuron when
        every layer is slope-restricted (the fast Schur path), else None."""
        from .structure import SlopeQC

        if not all(isinstance(qc, SlopeQC) for qc in self.lmi.qcs):
            return None
        cvv, cvz, czz, var = [], [], [], []
        for k, qc in enumerate(self.lmi.qcs, start=1):
            sl = self.lmi.var_slices[k - 1]
            w = qc.width
            cvv.append(np.full(w, 2.0 * qc.p))
            cvz.append(np.full(w, -2.0 * qc.m))
            czz.append(np.full(w, 2.0))
            var.append(np.arange(sl.start, sl.stop) if self.lmi.method == "neuron" else np.full(w, sl.start))
        return tuple(np.concatenate(a) for a in (cvv, cvz, czz, var))

    def schur(self, KX, KZ):
        if not hasattr(self, "_coef"):
            self._coef = self._neuron_coefficients()
        if self._coef is not None:
            return self._schur_slope(KX, KZ)
        return self._schur_generic(KX, KZ)

    def _schur_slope(self, KX, KZ):
        """M for slope-only layers from contiguous blocks of K (no gathers).

        With pool blocks v (functionals), z (hidden units), i (input units) and per-neuron
        coefficients C_ab (entry u_a u_bᵀ), the neuron-neuron part is
        ``N = Σ_{a,b,c,d} (C_ab C_cdᵀ) ∘ KX_{ad} ∘ KZ_{bc}``.
        """
        cvv, cvz, czz, var = self._coef
        nh = self.nh
        blk = {"v": slice(0, nh), "z": slice(nh, 2 * nh), "i": slice(2 * nh, None)}
        coef = {("v", "v"): cvv, ("v", "z"): cvz, ("z", "v"): cvz, ("z", "z"): czz}
        coef = {k: c for k, c in coef.items() if np.any(c != 0)}
        N = np.zeros((nh, nh))
        for (a, b), cab in coef.items():
            for (c, d), ccd in coef.items():
                N += np.outer(cab, ccd) * KX[blk[a], blk[d]] * KZ[blk[b], blk[c]]
        # rho row: Σ_c KX[c, b_j] KZ[c, a_j] over input units c
        r = np.zeros(nh)
        for (a, b), cab in coef.items():
            r += cab * np.sum(KX[blk["i"], blk[b]] * KZ[blk["i"], blk[a]], axis=0)
        m = self.lmi.n_vars
        M = np.zeros((m, m))
        M[0, 0] = float(np.sum(KX[blk["i"], blk["i"]] * KZ[blk["i"], blk["i"]]))
        if self.lmi.method == "neuron":
            M[1:, 1:] = N
            M[0, 1:] = r
        else:
            starts = np.flatnonzero(np.r_[True, var[1:] != var[:-1]])
            M[1:, 1:] = np.add.reduceat(np.add.reduceat(N, starts, axis=0), starts, axis=1)
            M[0, 1:] = np.add.reduceat(r, starts)
        M[1:, 0] = M[0, 1:]
        return 0.5 * (M + M.T)

    def _schur_generic(self, KX, KZ):
        p, q, val = self.p, self.q, self.val
        T = KX[np.ix_(q, p)] * KZ[np.ix_(q, p)].T
        T *= val[:, None]
        T *= val[None, :]
        M = np.add.reduceat(np.add.reduceat(T, self.starts, axis=0), self.starts, axis=1)
        return 0.5 * (M + M.T)

    def F_of(self, dy):
        """Σ dy_i F_i (the constant -C_0 excluded)."""
        if not hasattr(self, "_S0"):
            self._S0 = self.lmi.dense(np.zeros_like(dy))
        return self.lmi.dense(dy) - self._S0

    def times_blocktri(self, X, D):
        """X @ D for block-tridiagonal D (the sparsity of every S and ΔS)."""
        o = self.lmi.offsets
        nb = len(o) - 1
        out = np.empty_like(X)
        for k in range(nb):
            lo = o[max(k - 1, 0)]
            hi = o[min(k + 2, nb)]
            out[:, o[k]:o[k + 1]] = X[:, lo:hi] @ D[lo:hi, o[k]:o[k + 1]]
        return out

    def dual_bound(self, X, trFX):
        """ρ* ≥ tr(C0 X')/tr(E X') for X' = X + δD with δ ≥ 0 making tr(F_i X') ≤ 0 (i ≥ 1).

        ``X`` must be positive semidefinite (the caller has its Cholesky factor).
        """
        if not np.all(self.sign[1:]) or not hasattr(self, "trFD"):
            return None
        viol = trFX[1:]
        delta = 0.0
        bad = viol > 0
        if np.any(bad):
            d = self.trFD[1:][bad]
            if np.any(d >= 0):
                return None
            delta = float(np.max(viol[bad] / -d)) * (1.0 + 1e-9)
        num = float(np.sum((self.w_last @ X[self.last, self.last]) * self.w_last)) + delta * self.trCD
        den = float(np.trace(X[np.ix_(self.in_rows, self.in_rows)])) + delta * self.trED
        return num / den if den > 0 else None


def _chol(A):
    try:
        c, _ = sla.cho_factor(A, lower=True, check_finite=False)
    except np.linalg.LinAlgError:
        return None
    if not np.all(np.isfinite(np.diagonal(c))):
        return None
    return c


def _inverse(c):
    inv, info = lapack.dpotri(c, lower=1)
    if info != 0:
        raise np.linalg.LinAlgError("dpotri failed")
    return np.tril(inv) + np.tril(inv, -1).T


def _max_step(c, D, warm: dict | None = None, key: str = "", tol: float = 1e-4):
    """Largest α with LLᵀ + αD ⪰ 0 (L from ``c``): -1/λ_min(L⁻¹DL⁻ᵀ), by Lanczos warm-started
    from the previous eigenvector under ``key`` (dense eigensolver for small n or as fallback)."""
    from scipy.sparse.linalg import ArpackNoConvergence, LinearOperator, eigsh

    n = D.shape[0]

    def dense():
        G = sla.solve_triangular(c, D, lower=True, check_finite=False)
        G = sla.solve_triangular(c, G.T, lower=True, check_finite=False)
        return float(sla.eigh(0.5 * (G + G.T), eigvals_only=True, subset_by_index=[0, 0], check_finite=False)[0])

    if n <= 400:
        lam = dense()
    else:
        def mv(v):
            w = sla.solve_triangular(c, v, lower=True, trans=1, check_finite=False)
            return sla.solve_triangular(c, D @ w, lower=True, check_finite=False)

        op = LinearOperator((n, n), matvec=mv, dtype=np.float64)
        v0 = None if warm is None else warm.get(key)
        try:
            vals, vecs = eigsh(op, k=1, which="SA", tol=tol, maxiter=3000, ncv=24, v0=v0)
            lam = float(vals[0])
            if warm is not None:
                warm[key] = vecs[:, 0]
        except ArpackNoConvergence:
            lam = dense()
        lam -= max(tol, 1e-4) * abs(lam)  # Lanczos tolerance: stay on the safe side
    return np.inf if lam >= 0 else -1.0 / lam


def solve_structured(
    lmi: LipSDP,
    y0: np.ndarray,
    *,
    rel_gap: float = 1e-3,
    time_limit: float | None = None,
    max_iter: int = 100,
    progress: Callable[[dict], None] | None = None,
) -> IPMResult:
    """Minimize ρ over the LMI from a strictly feasible start ``y0`` (``S(y0) ≻ 0``).

    Stops when ``(ρ - lower)/ρ ≤ rel_gap`` with a valid dual bound, at the time limit, or when
    the steps stall; every returned ``y`` is strictly feasible.
    """
    start = time.perf_counter()
    prob = _Problem(lmi)
    sign = prob.sign
    y = np.array(y0, dtype=np.float64)
    cS = prob.chol(y)
    if cS is None:
        raise ValueError("the starting point is not strictly feasible")
    Z = _inverse(cS)
    KZ = prob.K(Z)
    trFZ = prob.traces(KZ)
    inv_s = np.zeros_like(y)
    inv_s[sign] = 1.0 / y[sign]
    tau = 1.0 / (trFZ[0] + inv_s[0])  # X = τ S⁻¹, x = τ/s: centred, ρ-row feasible
    X = tau * Z
    x = tau * inv_s  # zero on free variables
    X0 = _feasible_start(prob)  # strictly feasible dual point when one is known in closed form
    if X0 is not None:
        X, x = X0
    cX = _chol(X)
    n_tot = lmi.n + int(sign.sum())
    history: list = []
    warm: dict = {}  # Lanczos warm starts
    best_lower = None
    status = "iteration_limit"
    it = 0
    for it in range(1, max_iter + 1):
        KX = prob.K(X)
        trFX = prob.traces(KX)
        lb = prob.dual_bound(X, trFX) if cX is not None else None
        if lb is not None and (best_lower is None or lb > best_lower):
            best_lower = lb
        rho = float(y[0])
        gap = None if best_lower is None else (rho - best_lower) / rho
        S = prob.lmi.dense(y)
        mu = (float(np.sum(X * S)) + float(x[sign] @ y[sign])) / n_tot
        entry = {"iteration": it, "rho": rho, "lower": best_lower, "gap": gap, "mu": mu,
                 "primal_residual": float(np.max(np.abs(trFX + x - prob.b))),
                 "seconds": time.perf_counter() - start}
        history.append(entry)
        if progress is not None:
            progress(entry)
        if gap is not None and gap <= rel_gap:
            status = "optimal"
            break
        if best_lower is None:
            # No rigorous dual bound (free multipliers): the usual primal-dual criterion.
            pobj = float(np.sum((prob.w_last @ X[prob.last, prob.last]) * prob.w_last))
            small_gap = abs(rho - pobj) <= rel_gap * rho or n_tot * mu <= 0.1 * rel_gap * rho
            if entry["primal_residual"] <= 1e-5 and small_gap:
                status = "optimal"
                break
        if len(history) >= 6 and history[-6]["rho"] - rho <= 1e-10 * rho and n_tot * mu <= 1e-3 * rel_gap * rho:
            status = "optimal_inaccurate"  # converged as far as float64 allows
            break
        if time_limit is not None and time.perf_counter() - start > time_limit:
            status = "time_limit"
            break
        M = prob.schur(KX, KZ)
        M[np.diag_indices_from(M)] += np.where(sign, x * inv_s, 0.0)
        try:
            cM = sla.cho_factor(M, lower=True, check_finite=False)
            solve = lambda r: sla.cho_solve(cM, r, check_finite=False)  # noqa: E731
        except np.linalg.LinAlgError:
            lu = sla.lu_factor(M, check_finite=False)
            solve = lambda r: sla.lu_solve(lu, r, check_finite=False)  # noqa: E731

        def direction(sigma_mu, corr_X=None, corr_x=None):
            rhs = sigma_mu * (trFZ + inv_s) - prob.b
            if corr_X is not None:
                rhs = rhs - prob.traces(prob.K(corr_X)) - np.where(sign, corr_x, 0.0)
            dy = solve(rhs)
            dS = prob.F_of(dy)
            XdSZ = prob.times_blocktri(X, dS) @ Z
            dX = sigma_mu * Z - X - 0.5 * (XdSZ + XdSZ.T)
            dx = np.where(sign, sigma_mu * inv_s - x - x * dy * inv_s, 0.0)
            if corr_X is not None:
                dX = dX - corr_X
                dx = dx - np.where(sign, corr_x, 0.0)
            return dy, dS, dX, dx

        def steps(dy, dS, dX, dx, tol):
            ap = min(_max_step(cX, dX, warm, "X", tol) if cX is not None else 0.0, _lp_step(x[sign], dx[sign]))
            ad = min(_max_step(cS, dS, warm, "S", tol), _lp_step(y[sign], dy[sign]))
            return ap, ad

        # predictor (its step lengths only set σ: a loose Lanczos tolerance is enough)
        dy, dS, dX, dx = direction(0.0)
        ap, ad = steps(dy, dS, dX, dx, 1e-2)
        ap, ad = min(1.0, ap), min(1.0, ad)
        mu_aff = (float(np.sum((X + ap * dX) * (S + ad * dS))) + float((x + ap * dx)[sign] @ (y + ad * dy)[sign])) / n_tot
        sigma = min(1.0, max(0.0, (mu_aff / mu) ** 3)) if mu > 0 else 0.0
        # corrector: second-order term sym(ΔX_aff ΔS_aff Z)
        corr = prob.times_blocktri(dX, dS) @ Z
        corr = 0.5 * (corr + corr.T)
        corr_x = np.where(sign, dx * dy * inv_s, 0.0)
        dy, dS, dX, dx = direction(sigma * mu, corr, corr_x)
        ap, ad = steps(dy, dS, dX, dx, 1e-4)
        ap, ad = min(1.0, _FRAC * ap), min(1.0, _FRAC * ad)
        # dual step: keep S(y) strictly feasible (Cholesky), backtrack if rounding bites
        while ad > 1e-14:
            yn = y + ad * dy
            cn = prob.chol(yn)
            if cn is not None:
                break
            ad *= 0.5
        else:
            status = "stalled"
            break
        history[-1].update(step_primal=ap, step_dual=ad, sigma=sigma)
        y, cS = yn, cn
        # primal step: the Lanczos step length is checked by a Cholesky factorization
        while ap > 1e-14:
            Xn = X + ap * dX
            Xn = 0.5 * (Xn + Xn.T)
            cXn = _chol(Xn)
            if cXn is not None and np.all(x[sign] + ap * dx[sign] > 0):
                break
            ap *= 0.5
        else:
            status = "stalled"
            break
        X, cX = Xn, cXn
        history[-1]["step_primal"] = ap
        x = x + ap * dx
        Z = _inverse(cS)
        KZ = prob.K(Z)
        trFZ = prob.traces(KZ)
        inv_s = np.zeros_like(y)
        inv_s[sign] = 1.0 / y[sign]
        if ap < 1e-10 and ad < 1e-10:
            status = "stalled"
            break
    return IPMResult(y, float(y[0]), best_lower, status, it, time.perf_counter() - start, history)


def _feasible_start(prob):
    """A strictly feasible point of the dual problem, or None.

    ``X = c(D + ηI)`` with ``D = G Gᵀ`` (the network linearized at the mid-slopes): every
    ``tr(F_i D) < 0`` for neurons whose functional does not vanish on the linearization, and η is
    half the largest value keeping all ``tr(F_i X) < 0``; ``c`` makes ``tr(E X) = 1/2``.
    """
    if not hasattr(prob, "G") or not np.all(prob.sign):
        return None
    trFD = prob.trFD.copy()
    if np.any(trFD[1:] >= -1e-12 * np.max(np.abs(trFD[1:]))):
        return None
    n = prob.lmi.n
    trFI = prob.traces(prob.K(np.eye(n)))
    pos = trFI[1:] > 0
    eta = 0.5 * float(np.min(-trFD[1:][pos] / trFI[1:][pos])) if np.any(pos) else 1.0
    X = prob.G @ prob.G.T + eta * np.eye(n)
    trFX = trFD + eta * trFI
    c = 0.5 / float(trFX[0])
    X *= c
    x = -c * trFX
    x[0] = 1.0 - c * trFX[0]
    if np.any(x <= 0):
        return None
    return X, x


def _lp_step(v, dv):
    neg = dv < 0
    return float(np.min(-v[neg] / dv[neg])) if np.any(neg) else np.inf
