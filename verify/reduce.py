"""Exact reductions of the LipSDP problem before it is solved.

1. **Row compression of a wide first layer.** With the thin SVD ``W_0 = U Σ Vᵀ`` (``n_0 > n_1``),
   write ``x_0 = V y + x_⊥``: the LMI sees ``x_0`` only through ``W_0 x_0 = UΣ y`` and through
   ``-ρ‖x_0‖² = -ρ‖y‖² - ρ‖x_⊥‖²`` (ρ ≥ 0), so replacing ``W_0`` by the square ``UΣ`` leaves the
   optimal value and the multipliers unchanged while the LMI shrinks by ``n_0 - n_1``.
2. **Scaling to unit spectral norm.** Substituting ``x_k = d_k y_k`` with
   ``d_k = s_0 ⋯ s_{k-1}`` turns the LMI for ``W_k`` into the LMI for ``W_k / s_k`` with
   multipliers ``T_k d_k² / P²`` and ``ρ / P²``, ``P = s_0 ⋯ s_{L-1}``: every slope-restricted and
   grouped QC is homogeneous of degree 2 in ``(v, z)``. We take ``s_k`` as the power of two
   nearest to ``‖W_k‖₂`` so the scaling is exact in floating point and the solver sees weights
   of norm in [0.7, 1.5] and a value ρ̃ ≤ (naive bound / P)².

Both are used only to *solve*; the multipliers are mapped back and certified on the original
weights (:mod:`funclib.verify.certify`), so rounding in the SVD cannot affect soundness.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .structure import LipSDP

__all__ = ["Reduction", "reduce"]


@dataclass
class Reduction:
    """A reduced problem and the map of its variables back to the original one."""

    lmi: LipSDP
    scales: np.ndarray  # s_k (powers of two)
    compressed_from: int | None  # original n_0 when the first layer was compressed
    var_scale: np.ndarray  # y_original = y_reduced * var_scale

    def to_original(self, y_reduced: np.ndarray) -> np.ndarray:
        return np.asarray(y_reduced, dtype=np.float64) * self.var_scale

    def to_reduced(self, y_original: np.ndarray) -> np.ndarray:
        return np.asarray(y_original, dtype=np.float64) / self.var_scale

    def describe(self) -> list[str]:
        notes = []
        if self.compressed_from is not None:
            notes.append(f"first layer row-compressed by SVD: input {self.compressed_from} -> {self.lmi.dims[0]}")
        notes.append("weights scaled by powers of two to spectral norm ~1")
        return notes


def reduce(lmi: LipSDP, *, compress: bool = True, scale: bool = True) -> Reduction:
    """Compress a wide first layer and scale every weight to spectral norm ~1 (both exact)."""
    weights = [w.copy() for w in lmi.weights]
    compressed_from = None
    n0, n1 = weights[0].shape[1], weights[0].shape[0]
    if compress and n0 > n1:
        u, s, _ = np.linalg.svd(weights[0], full_matrices=False)
        weights[0] = u * s[None, :]
        compressed_from = n0
    L = len(weights)
    scales = np.ones(L)
    if scale:
        for k, w in enumerate(weights):
            norm = float(np.linalg.norm(w, 2))
            scales[k] = 2.0 ** round(math.log2(norm)) if norm > 0 else 1.0
            weights[k] = w / scales[k]
    reduced = LipSDP(weights, lmi.qcs, lmi.method)
    # y_orig = y_red * P² / d_k² on layer k's multipliers, rho_orig = rho_red * P².
    P2 = float(np.prod(scales) ** 2)
    d = np.concatenate([[1.0], np.cumprod(scales)[:-1]])  # d_0 .. d_{L-1}
    var_scale = np.empty(lmi.n_vars)
    var_scale[0] = P2
    for k, sl in enumerate(lmi.var_slices, start=1):
        var_scale[sl] = P2 / d[k] ** 2
    return Reduction(reduced, scales, compressed_from, var_scale)
