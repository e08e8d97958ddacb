"""Certification: from multipliers to a Lipschitz bound that provably satisfies the LMI.

Given multipliers ``y`` (whatever a solver returned), we

1. clip them to the feasible set (``y_i ≥ 0`` where required);
2. compute, in float64, the smallest ρ with ``S(ρ, y) ⪰ 0``. ρ enters only the input block, so
   with the block-tridiagonal Schur recursion from the last hidden block,
   ``Y_{L-1} = S_{L-1,L-1}``, ``Y_k = S_kk - S_{k,k+1} Y_{k+1}^{-1} S_{k+1,k}`` (each ``Y_k ≻ 0``),
   it is ``ρ_min = λ_max(-S_00(0) + S_01 Y_1^{-1} S_10)``;
3. verify ``S(ρ, y) - c I ≻ 0`` for ``ρ = ρ_min + δ`` by a block Cholesky factorization, where
   ``c`` covers the rounding errors of assembling S (``γ_n |W|ᵀ|A||W|`` bounds) and of the
   Cholesky factorization itself (Rump's criterion, ``≈ (n+1) u · tr S``). If the hidden part is
   singular (multipliers on the boundary), the multipliers are mixed with a strictly feasible
   point ``y_int`` (``(1-θ) y + θ y_int``, smallest θ that works): by convexity
   ``S((1-θ)y + θ y_int) = (1-θ)S(y) + θ S(y_int)``.

The reported bound is ``sqrt(ρ)`` rounded up. This is a floating-point verification with
rigorous error margins, not an interval-arithmetic proof of the matrix entries.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.linalg as sla

from .structure import LipSDP

__all__ = ["Certificate", "VerificationError", "min_rho", "verify_psd", "certify", "sqrt_up", "cholesky_or_none",
           "UNIT_ROUNDOFF", "error_gamma"]

#: Unit roundoff of float64 (round to nearest): every operation errs by at most this, relatively.
UNIT_ROUNDOFF = 2.0 ** -53


class VerificationError(RuntimeError):
    """A bound could not be certified (solver failure, or no multipliers pass the check).

    ``result`` holds a fallback :class:`~funclib.verify.result.LipschitzResult` when one
    could be computed (e.g. the certified closed-form bound), else ``None``.
    """

    def __init__(self, message: str, result=None):
        super().__init__(message)
        self.result = result


@dataclass
class Certificate:
    """A verified LMI point: ``S(rho, y) - margin·I`` passed a Cholesky factorization."""

    rho: float
    y: np.ndarray
    rho_min: float
    margin: float
    theta: float  # mixing weight with the interior point (0: the given multipliers as they are)

    @property
    def bound(self) -> float:
        return sqrt_up(self.rho)


def sqrt_up(x: float) -> float:
    """sqrt(x) rounded up to the next float64 (sqrt is correctly rounded, so this is ≥ √x)."""
    return math.nextafter(math.sqrt(max(x, 0.0)), math.inf)


def error_gamma(n: int) -> float:
    """Higham's ``γ_n = n u / (1 - n u)``: the relative error bound of ``n`` float64 operations
    in sequence (a sum or dot product of ``n`` terms), ``u`` = :data:`UNIT_ROUNDOFF`."""
    return n * UNIT_ROUNDOFF / (1.0 - n * UNIT_ROUNDOFF)


def cholesky_or_none(a: np.ndarray) -> tuple[np.ndarray, bool] | None:
    """The float64 Cholesky factorization of the symmetric matrix ``a`` (``scipy.linalg.cho_factor``,
    lower), or None when it fails.

    Success proves ``a + ΔA ≻ 0`` only for some backward error ``‖ΔA‖₂ <= γ_{n+1} tr(a)``
    (Demmel), ``γ_k = k u/(1 - k u)``; a proof of ``a ≻ 0`` (:func:`verify_psd`, the local
    method's spectral-norm bound) subtracts a margin covering it from ``a`` first.
    """
    try:
        return sla.cho_factor(a, lower=True, check_finite=True)
    except (np.linalg.LinAlgError, ValueError):
        return None


def min_rho(lmi: LipSDP, y: np.ndarray) -> float:
    """Smallest ρ with S(ρ, y) ⪰ 0 (float64); ``inf`` when the hidden part is not positive definite."""
    diag, upper = lmi.blocks(y, rho=0.0)
    L = len(diag)
    if L == 1:
        return float(np.linalg.eigvalsh(-diag[0])[-1])
    Y = diag[L - 1]
    for k in range(L - 2, 0, -1):
        f = cholesky_or_none(Y)
        if f is None:
            return math.inf
        Y = diag[k] - upper[k] @ sla.cho_solve(f, upper[k].T)
        Y = 0.5 * (Y + Y.T)
    f = cholesky_or_none(Y)
    if f is None:
        return math.inf
    # ρ ≥ λ_max(-S00(0) + S01 Y^-1 S10); S01 = -W0ᵀ B1 (n0 × n1), S00(0) = -W0ᵀ A1 W0.
    S01 = upper[0]
    K = -diag[0] + S01 @ sla.cho_solve(f, S01.T)
    return float(np.linalg.eigvalsh(0.5 * (K + K.T))[-1])


def _assembly_error(lmi: LipSDP, y: np.ndarray, rho: float) -> float:
    """Bound on ‖S_computed - S_exact‖₂ from rounding while assembling S."""
    nmax = max(lmi.dims) + 2
    g = error_gamma(nmax)
    total = abs(rho) * UNIT_ROUNDOFF
    L = len(lmi.weights)
    for k in range(L):
        fro2 = float(np.sum(lmi.weights[k] ** 2))
        if k == L - 1:
            total += g * fro2
            break
        a, b, c = lmi.layer_abc(y, k + 1)
        amax = float(np.max(np.abs(a))) if np.ndim(a) == 1 else float(np.linalg.norm(a))
        total += g * amax * fro2
        if b is not None:
            bmax = float(np.max(np.abs(b))) if np.ndim(b) == 1 else float(np.linalg.norm(b))
            total += 2.0 * g * bmax * math.sqrt(fro2)
        cmax = float(np.max(np.abs(c))) if np.ndim(c) == 1 else float(np.linalg.norm(c))
        total += UNIT_ROUNDOFF * cmax
    return total


def verify_psd(lmi: LipSDP, y: np.ndarray, rho: float) -> tuple[bool, float]:
    """Check ``S(ρ, y) ⪰ 0`` with a margin covering rounding; returns (passed, margin)."""
    diag, upper = lmi.blocks(y, rho=rho)
    trace = float(sum(np.abs(np.diag(d)).sum() for d in diag))
    n = lmi.n
    g = error_gamma(n + 2)
    margin = 4.0 * g / (1.0 - 2.0 * g) * trace + _assembly_error(lmi, y, rho) + 1e3 * np.finfo(float).tiny
    P = diag[0] - margin * np.eye(diag[0].shape[0])
    f = cholesky_or_none(P)
    if f is None:
        return False, margin
    for k in range(1, len(diag)):
        U = upper[k - 1]
        P = diag[k] - margin * np.eye(diag[k].shape[0]) - U.T @ sla.cho_solve(f, U)
        P = 0.5 * (P + P.T)
        f = cholesky_or_none(P)
        if f is None:
            return False, margin
    return True, margin


def clip(lmi: LipSDP, y: np.ndarray) -> np.ndarray:
    """Multipliers clipped to the feasible set (sign-constrained ones to ≥ 0), as float64."""
    y = np.array(y, dtype=np.float64, copy=True).reshape(-1)
    if y.shape != (lmi.n_vars,):
        raise ValueError(f"expected {lmi.n_vars} variables, got {y.shape[0]}")
    if not np.all(np.isfinite(y)):
        raise VerificationError("the solver returned NaN or infinite multipliers")
    y[lmi.sign] = np.maximum(y[lmi.sign], 0.0)
    return y


def certify(lmi: LipSDP, y: np.ndarray, interior: np.ndarray | None = None) -> Certificate:
    """Certified ρ for multipliers ``y`` (see the module docstring).

    Raises :class:`VerificationError` when neither ``y`` nor any mix with ``interior`` passes.
    """
    y = clip(lmi, y)
    thetas = [0.0] if interior is None else [0.0, 1e-10, 1e-8, 1e-6, 1e-4, 1e-3, 1e-2, 0.1, 0.5, 1.0]
    for theta in thetas:
        yt = y if theta == 0.0 else (1.0 - theta) * y + theta * clip(lmi, interior)
        r = min_rho(lmi, yt)
        if not math.isfinite(r):
            continue
        r = max(r, 0.0)
        for rel in (1e-12, 1e-10, 1e-8, 1e-6, 1e-4):
            rho = r + rel * max(r, 1e-300)
            ok, margin = verify_psd(lmi, yt, rho)
            if not ok:
                rho = r * (1.0 + rel) + 2.0 * margin
                ok, margin = verify_psd(lmi, yt, rho)
            if ok:
                yt = yt.copy()
                yt[0] = rho
                return Certificate(rho, yt, r, margin, theta)
    raise VerificationError("no multipliers passed the positive-definiteness check (hidden part not definite)")
