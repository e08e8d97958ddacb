"""``lipschitz()``: the verification pipeline from a network to a certified bound.

1. Slope bounds of every elementwise activation from the catalog's proofs (refusing unbounded
   ones, and estimated ones unless ``allow_estimated``); grouped activations by structure.
2. The LipSDP LMI as structured data (:mod:`~funclib.verify.structure`), a strictly feasible
   layer-wise closed-form point (:mod:`~funclib.verify.closed_form`), exact reductions
   (:mod:`~funclib.verify.reduce`).
3. A solve by the chosen solver (:mod:`~funclib.verify.solvers`), then **certification** of the
   returned multipliers on the original weights (:mod:`~funclib.verify.certify`).
4. The sandwich: naive product of spectral norms, the certified closed-form bound and a lower
   bound from real Jacobians (:mod:`~funclib.verify.lower`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from .activations import SlopeBound, slope_bound
from .certify import VerificationError, certify, sqrt_up
from .closed_form import layerwise_multipliers, naive_bound
from .lower import lower_bound
from .network import Network
from .reduce import reduce
from .result import LipschitzResult
from .solvers import SOLVED, solve, solver_plan
from .structure import METHODS, LipSDP, layer_qcs
from .threads import blas_threads

__all__ = ["lipschitz", "sector_lipschitz"]


def _mul_up(a: float, b: float) -> float:
    return math.nextafter(a * b, math.inf)


def _bounds(network: Network, allow_estimated: bool) -> list[SlopeBound | None]:
    return [None if a.kind == "grouped" else slope_bound(a, allow_estimated=allow_estimated)
            for a in network.activations]


def _power_of_two_scales(network: Network) -> list[int]:
    """Exponents e_k with 2^-e_k ||W_k||_2 in [1/2, 1): the LipSDP bound is positively homogeneous
    in each weight matrix, so the problem is solved for the scaled weights (exactly, powers of
    two round nothing) and the bound multiplied back. Without this, weights of size 1e-300 or
    1e+200 underflow or overflow in the products the LMI is made of."""
    exps = []
    for w in network.weights:
        norm = float(np.linalg.norm(w, 2)) if w.size else 0.0
        if not math.isfinite(norm):  # entries near float64's limit: scale by the largest first
            big = float(np.max(np.abs(w)))
            norm = math.ldexp(float(np.linalg.norm(np.ldexp(w, -math.frexp(big)[1]), 2)), math.frexp(big)[1])
        exps.append(math.frexp(norm)[1] if norm > 0 else 0)
    return exps


def _scaled(network: Network, exps: list[int]) -> Network:
    return Network([np.ldexp(w, -e) for w, e in zip(network.weights, exps)], list(network.activations),
                   list(network.biases))


def _scale_piece(piece: dict, exponent: int) -> dict:
    """A piece solved on scaled weights, in the units of the original weights (rho = L^2)."""
    out = dict(piece)
    for key in ("raw", "closed", "sdp_lower"):
        if out.get(key) is not None:
            out[key] = _ldexp(out[key], exponent)
    if out.get("rho") is not None:
        out["rho_scaled"] = out["rho"]
        out["rho"] = None  # the bound is carried as sqrt(rho_scaled) * 2^exponent (no overflow)
    out["exponent"] = exponent
    return out


def _ldexp(value: float, exponent: int) -> float:
    """value * 2^exponent, inf where it overflows float64 (math.ldexp raises there)."""
    try:
        return math.ldexp(value, exponent)
    except OverflowError:
        return math.copysign(math.inf, value)


def _ldexp_up(value: float, exponent: int) -> float:
    """value * 2^exponent rounded up (exact unless it underflows; then the smallest subnormal)."""
    scaled = _ldexp(value, exponent)
    return scaled if scaled > 0 or value == 0 else math.ldexp(1.0, -1074)


def _piece(network: Network, bounds, method: str, solver: str, time_limit, rel_gap, progress, notes):
    """Certified bound of one (sub)network: dict with value, raw, closed form, solver info."""
    lmi = LipSDP(network.weights, layer_qcs(network.activations, network.dims[1:-1], bounds), method)
    with blas_threads(lmi.n):  # small factorizations: one BLAS thread (see funclib.verify.threads)
        return _solve_piece(lmi, network, solver, time_limit, rel_gap, progress, notes)


def _solve_piece(lmi: LipSDP, network: Network, solver: str, time_limit, rel_gap, progress, notes):
    info: dict[str, Any] = {"lmi_size": lmi.n, "n_variables": lmi.n_vars}
    if len(network.weights) == 1:
        cert = certify(lmi, np.zeros(lmi.n_vars))
        return info | {"rho": cert.rho, "raw": None, "closed": None, "solver": "none", "status": "optimal",
                       "sdp_lower": None, "solve_seconds": 0.0}
    y_cf = layerwise_multipliers(lmi)
    cert_cf = certify(lmi, y_cf)
    info["closed"] = cert_cf.bound
    failures = []
    try:
        red = reduce(lmi)
        y_start = red.to_reduced(cert_cf.y)
        y_start[0] = cert_cf.rho / red.var_scale[0] * (1.0 + 1e-3)
        plan = solver_plan(red.lmi.n, solver)
    except MemoryError:
        plan, failures = [], ["the SDP does not fit in memory"]
    for name in plan:
        try:
            out = solve(red.lmi, y_start, name, time_limit=time_limit, rel_gap=rel_gap, progress=progress)
        except MemoryError:
            # too large for this solver: the certified closed-form bound above still stands
            failures.append(f"{name}: out of memory")
            continue
        if out.status not in SOLVED or out.y is None:
            failures.append(f"{name}: {out.status}{' (' + out.message.splitlines()[0] + ')' if out.message else ''}")
            continue
        try:
            cert = certify(lmi, red.to_original(out.y), interior=cert_cf.y)
        except VerificationError as exc:
            failures.append(f"{name}: multipliers failed certification ({exc})")
            continue
        if cert.theta > 0:
            notes.append(f"multipliers repaired by mixing {cert.theta:g} of the closed-form point")
        raw = None if out.value is None else math.sqrt(max(out.value * red.var_scale[0], 0.0))
        rho = min(cert.rho, cert_cf.rho)
        if failures:
            notes.append("solver fallback: " + "; ".join(failures))
        return info | {
            "rho": rho, "raw": raw, "solver": name, "status": out.status,
            "sdp_lower": None if out.lower is None else math.sqrt(max(out.lower * red.var_scale[0], 0.0)),
            "solve_seconds": out.seconds, "reduction": red.describe(),
        }
    raise VerificationError("no solver produced certifiable multipliers: " + "; ".join(failures),
                            result=info | {"rho": cert_cf.rho})


def lipschitz(
    network: Network,
    *,
    method: str = "neuron",
    solver: str = "auto",
    split: int | None = None,
    time_limit: float | None = None,
    allow_estimated: bool = False,
    rel_gap: float = 1e-3,
    lower: bool = True,
    lower_samples: int = 1024,
    lower_starts: int = 20,
    lower_time: float = 10.0,
    progress: Callable[[dict], None] | None = None,
    seed: int = 0,
) -> LipschitzResult:
    """Certified ℓ2 Lipschitz upper bound of ``network`` by LipSDP, with the sandwich around it.

    Parameters
    ----------
    network : Network
        The network (see :class:`~funclib.verify.network.Network` and the loaders).
    method : {"neuron", "layer"}
        LipSDP-Neuron (one multiplier per neuron or group; default) or LipSDP-Layer (one per
        layer). The coupled LipSDP-Network multipliers are not offered: they are unsound.
    solver : str
        ``"auto"`` (policy in :mod:`~funclib.verify.solvers`), ``"structured"``, or a cvxpy
        solver name (``"SDPA"``, ``"CVXOPT"``, ``"MOSEK"``, ``"CLARABEL"``, ``"SCS"``).
    split : int, optional
        Split into consecutive sub-networks of ``split`` weight matrices, bound each, and
        multiply (times the Lipschitz constants of the activations at the cuts).
    time_limit : float, optional
        Seconds allowed to each solver call.
    allow_estimated : bool
        Accept slope bounds that are only estimated; the result is then not certified.
    rel_gap : float
        Target relative gap in ρ = L² for the structured solver (dual bound).
    lower : bool
        Compute the lower bound (sampling + local search); otherwise ``lower`` is 0.
    lower_samples, lower_starts, lower_time : int, int, float
        Random points sampled, local searches started from the best of them, and the time
        budget of the lower bound (checked between searches).
    progress : callable, optional
        Called with a dict per solver iteration (structured solver) or per stage.

    Returns
    -------
    LipschitzResult
        ``value`` is the certified bound ``sqrt(ρ)`` (ρ verified by a Cholesky factorization with
        rounding margins). The true constant lies in ``[lower, value]``.

    Raises
    ------
    VerificationError
        No solver produced multipliers that pass certification (``exc.result`` then holds a
        result with the certified closed-form bound, flagged ``status="failed"``).
    NotSlopeRestrictedError, EstimatedBoundError, NetworkError, ValueError
        Bad input.
    """
    start = time.perf_counter()
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)} (LipSDP-Network is unsound and not offered)")
    if not isinstance(network, Network):
        raise TypeError(f"expected a funclib.verify.Network, got {type(network).__name__}")
    # The LMI blocks W_k^T T W_k are dense matrices of the LMI's size whatever W_k is, so an
    # unrolled convolution is densified here (never larger than the LMI itself).
    network = network.dense()
    bounds = _bounds(network, allow_estimated)
    lips = [1.0 if b is None else b.lipschitz for b in bounds]
    naive = naive_bound(network.weights, lips)
    notes: list[str] = []
    estimated = [a.name for a, b in zip(network.activations, bounds) if b is not None and not b.proven]
    if estimated:
        notes.append("slope bounds of " + ", ".join(sorted(set(estimated))) + " are estimated, not proven: "
                     "the bound is NOT certified")
    L = len(network.weights)
    if split is not None and (split < 1 or int(split) != split):
        raise ValueError(f"split must be a positive integer, got {split!r}")
    if naive == 0.0 and any(not np.any(w) for w in network.weights):
        # A zero weight matrix makes the network constant: its Lipschitz constant is exactly 0.
        notes.append("a weight matrix is zero: the network is constant, its Lipschitz constant is 0 (exact)")
        return _result(network, naive, {"value": 0.0}, [], method, split, "optimal", start, notes, bounds,
                       (lower, lower_samples, lower_starts, lower_time), seed, certified=not estimated)
    exps = _power_of_two_scales(network)
    scaled = _scaled(network, exps)
    if any(exps):
        notes.append("weights solved at spectral norm ~1 (exact power-of-two scaling), the bound scaled back")
    cuts = list(range(0, L, int(split))) + [L] if split else [0, L]
    pieces = []
    value = 1.0
    try:
        for a, b in zip(cuts[:-1], cuts[1:]):
            sub = scaled.slice(a, b)
            piece = _piece(sub, bounds[a:b - 1], method, solver, time_limit, rel_gap, progress, notes)
            piece = _scale_piece(piece, sum(exps[a:b]))
            pieces.append(piece)
            value = _mul_up(value, _ldexp_up(sqrt_up(piece["rho_scaled"]), piece["exponent"]))
            if b < L:
                value = _mul_up(value, lips[b - 1])
    except VerificationError as exc:
        fallback = exc.result or {}
        have = fallback.get("rho") is not None and not split
        fallback_value = _ldexp_up(sqrt_up(fallback["rho"]), sum(exps)) if have else naive
        res = _result(network, naive, {"value": fallback_value}, [], "closed-form",
                      None, "failed", start, notes + [str(exc)], bounds,
                      (lower, lower_samples, lower_starts, lower_time), seed, certified=have and not estimated)
        res.notes.append("value is the certified layer-wise closed-form bound" if have else
                         "value is the naive product of spectral norms")
        raise VerificationError(str(exc), result=res) from None
    status = "optimal" if all(p["status"] == "optimal" for p in pieces) else \
        ",".join(sorted({p["status"] for p in pieces}))
    return _result(network, naive, {"value": value}, pieces, method, split, status, start, notes, bounds,
                   (lower, lower_samples, lower_starts, lower_time), seed, certified=not estimated)


def _result(network, naive, main, pieces, method, split, status, start, notes, bounds, lower_opts,
            seed, certified) -> LipschitzResult:
    value = main.get("value", naive)
    want_lower, samples, starts, budget = lower_opts
    if want_lower:
        lb = lower_bound(network, samples=samples, starts=starts, time_budget=budget, seed=seed)
        low, low_method = lb.value, lb.method
    else:
        low, low_method = 0.0, "not computed"
    single = pieces[0] if len(pieces) == 1 else None
    slope_info = []
    for act, b in zip(network.activations, bounds):
        if b is None:
            slope_info.append({"activation": act.name, "kind": "grouped", "structure": act.structure,
                               "group_size": act.group_size})
        else:
            slope_info.append({"activation": act.name, "params": dict(act.params), "alpha": b.alpha,
                               "beta": b.beta, "method": b.method})
    for p in pieces:
        for r in p.get("reduction", []):
            if r not in notes:
                notes.append(r)
    return LipschitzResult(
        value=float(value),
        certified=bool(certified),
        method=(f"split-{method}" if split else method),
        solver=",".join(sorted({p["solver"] for p in pieces})) or "none",
        status=status,
        seconds=time.perf_counter() - start,
        naive=float(naive),
        lower=float(low),
        ratio_upper_lower=float(value / low) if low > 0 else math.inf,
        raw_solver_value=None if single is None else single.get("raw"),
        closed_form=None if single is None else single.get("closed"),
        sdp_lower=None if single is None else single.get("sdp_lower"),
        lower_method=low_method,
        lmi_size=max((p["lmi_size"] for p in pieces), default=0),
        n_variables=sum(p["n_variables"] for p in pieces),
        solve_seconds=sum(p.get("solve_seconds", 0.0) for p in pieces),
        slope_bounds=slope_info,
        notes=notes,
    )


def sector_lipschitz(network: Network, alphas, betas, *, solver: str = "auto", time_limit: float | None = None,
                     rel_gap: float = 1e-3) -> float:
    """Certified LipSDP-Neuron bound of ``network`` with one slope sector per neuron.

    ``alphas[k]``, ``betas[k]`` (arrays of the width of hidden layer k) must be *proven* slope
    bounds of that layer's activation on every pre-activation value the caller cares about (e.g.
    on the intervals of an input ball, :mod:`funclib.verify.local`); this function does not
    check them against the catalog. The LMI, solve and certification are those of
    :func:`lipschitz`.

    Raises
    ------
    VerificationError
        No solver produced certifiable multipliers.
    """
    network = network.dense()
    if len(alphas) != len(network.activations) or len(betas) != len(network.activations):
        raise ValueError("one array of slope bounds per hidden layer is needed")
    bounds = []
    for k, (a, b, width) in enumerate(zip(alphas, betas, network.dims[1:-1])):
        a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
        if a.shape != (width,) or b.shape != (width,) or not (np.all(np.isfinite(a)) and np.all(a <= b)):
            raise ValueError(f"layer {k}: slope bounds must be finite arrays of shape ({width},) with alpha <= beta")
        bounds.append(SlopeBound(a, b, "interval", "per-neuron sectors from the caller"))
    exps = _power_of_two_scales(network)
    piece = _piece(_scaled(network, exps), bounds, "neuron", solver, time_limit, rel_gap, None, [])
    return _ldexp_up(sqrt_up(piece["rho"]), sum(exps))
