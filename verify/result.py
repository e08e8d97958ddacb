"""The result of a Lipschitz verification: the certified bound and the sandwich around it."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["LipschitzResult"]


@dataclass
class LipschitzResult:
    """A Lipschitz bound (ℓ2 → ℓ2) with everything needed to judge it.

    Attributes
    ----------
    value : float
        The bound: ``sqrt(ρ)`` for the certified ρ (rounded up), times the activations'
        constants at the cuts for the splitting method.
    certified : bool
        True when the LMI was verified for these multipliers *and* every slope bound used is
        proven (``symbolic``/``interval``). False with ``allow_estimated=True`` and an estimated
        bound, or when certification failed (then ``value`` is the naive bound, see ``status``).
    method : str
        ``neuron``, ``layer``, ``split-neuron`` / ``split-layer``, or ``closed-form``.
    solver : str
        The SDP solver used (``structured`` for funclib's own interior point solver, or a cvxpy
        solver name).
    status : str
        The solver status (``optimal``, ``optimal_inaccurate``, ``time_limit``, ...).
    seconds : float
        Wall time of the whole verification.
    naive : float
        Π ‖W_k‖₂ · Π Lip(φ_k), the product of spectral norms.
    lower : float
        A lower bound on the true Lipschitz constant: the largest Jacobian spectral norm found.
    ratio_upper_lower : float
        ``value / lower``; the true constant lies in ``[lower, value]``.
    """

    value: float
    certified: bool
    method: str
    solver: str
    status: str
    seconds: float
    naive: float
    lower: float
    ratio_upper_lower: float
    raw_solver_value: float | None = None  # sqrt of the solver's own objective (not certified)
    closed_form: float | None = None  # certified layer-wise closed-form bound
    sdp_lower: float | None = None  # dual lower bound on the SDP optimum (structured solver)
    lower_method: str = ""
    lmi_size: int = 0
    n_variables: int = 0
    solve_seconds: float = 0.0
    slope_bounds: list = field(default_factory=list)  # per hidden layer: dict
    notes: list = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for k, v in data.items():
            if isinstance(v, float) and not math.isfinite(v):
                data[k] = None if math.isnan(v) else ("inf" if v > 0 else "-inf")
        return data

    def __str__(self) -> str:
        tag = "certified" if self.certified else "NOT certified"
        lines = [
            f"Lipschitz bound (l2): {self.value:.6g}  [{tag}; LipSDP-{self.method}, solver {self.solver}, "
            f"status {self.status}, {self.seconds:.2f} s]",
            f"  lower bound {self.lower:.6g} ({self.lower_method}); upper/lower = {self.ratio_upper_lower:.4g}",
            f"  naive product of spectral norms {self.naive:.6g} (naive/upper = {self.naive / self.value if self.value else math.nan:.4g})",
        ]
        if self.closed_form is not None:
            lines.append(f"  layer-wise closed-form bound {self.closed_form:.6g}")
        if self.sdp_lower is not None:
            lines.append(f"  SDP optimum >= {self.sdp_lower:.6g} (dual bound: the bound is within "
                         f"{100 * (self.value / self.sdp_lower - 1):.3g}% of the optimum)")
        for note in self.notes:
            lines.append(f"  note: {note}")
        return "\n".join(lines)
