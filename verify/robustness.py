"""Certified ℓ2 and ℓ∞ robustness radii of classifiers from certified Lipschitz bounds.

For a classifier ``f: R^n -> R^K`` predicting ``argmax_k f_k(x)`` and an input ``x`` with label
``y`` that is classified correctly, the prediction cannot change within the ℓ2 ball of radius

.. math:: r(x) = \\min_{j \\ne y} \\frac{f_y(x) - f_j(x)}{L_{yj}},

where ``L_{yj}`` is any Lipschitz bound of ``x -> f_y(x) - f_j(x)`` (the margin moves by at most
``L_{yj} ‖δ‖``). Methods:

- ``global``: ``L_{yj} = √2 L`` with the certified LipSDP bound ``L`` of ``f`` (``‖e_y - e_j‖ = √2``),
  so ``r = margin / (√2 L)``;
- ``pairwise``: ``L_{yj}`` the certified LipSDP bound of the network whose last layer is replaced
  by ``(e_y - e_j)ᵀ W_last``, capped by ``√2 L`` (both are valid bounds, so the smaller is), hence
  never below ``global``. Only the pairs that limit some input's radius are solved, in rounds
  (:func:`solve_limiting_pairs`); the radii are those of solving every pair.

- ``local``: starting from the ``pairwise`` radius, per input, a bisection on ``ε``: ``ε`` is
  certified when ``margin_yj ≥ L_yj(ε) ε`` for every ``j ≠ y``, where ``L_yj(ε)`` is the smallest
  of ``√2 L``, the pairwise LipSDP bound and a Lipschitz bound of ``f_y - f_j`` *on the ball*
  ``B(x, ε)`` (:class:`funclib.verify.local.PairBounds`: per-neuron chord-slope sectors from
  interval or CROWN bounds over the ball and the catalog's derivative enclosed on each neuron's
  interval, multiplied backward as intervals, input-layer vertices enumerated). All three bound
  the margin's slope on the ball, so it stays positive there. With CROWN intervals (the default),
  a pair whose slope bound fails at ``ε`` is also certified when CROWN's lower bound of
  ``f_y - f_j`` over ``B(x, ε)`` (:func:`funclib.verify.crown.crown_margins`, widened by
  :data:`funclib.verify.local.CROWN_PAD`) is positive: both are sound for the whole ball, so each
  pair takes the one that holds. Batches of inputs can run as Dask tasks (:func:`funclib.jobs.cluster`).

ℓ∞ radii (``norm="linf"``): the margin moves by at most ``L^∞_{yj} ‖δ‖∞`` with ``L^∞_{yj}`` a
Lipschitz bound of the margin from ℓ∞ (the ℓ1 norm of its gradient). ``global`` and
``pairwise`` take ``L^∞_{yj} = √n L_{yj}`` from their ℓ2 constants (``‖δ‖₂ <= √n ‖δ‖∞`` on
``R^n``: sound, and loose by up to ``√n``); ``local`` bounds ``L^∞_{yj}(ε)`` on the box
``‖x' - x‖∞ <= ε`` directly (ℓ1 norms of the interval products, box intervals,
:class:`funclib.verify.local.PairBounds` with ``norm="linf"``), capped by the ``√n`` bound;
``crown`` propagates the box natively.

A misclassified input gets radius 0. The margins are computed in float64 and reduced by a
rigorous bound on their rounding error (:func:`margin_error`), so the radii hold for the exact
network with these float64 weights. A bound that could not be certified raises
:class:`~funclib.verify.certify.VerificationError`; no radius rests on it.
"""

from __future__ import annotations

import math
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sps

from .activations import elementwise_kernels, slope_bound
from .certify import UNIT_ROUNDOFF, VerificationError, error_gamma
from .local import INTERVAL_BOUNDS, NORMS
from .network import Network, NetworkError
from .threads import SINGLE_THREAD_MAX_N, blas_threads

__all__ = ["RobustnessResult", "robustness", "margin_error", "ROBUSTNESS_METHODS"]

ROBUSTNESS_METHODS = ("global", "pairwise", "local", "crown")
#: Relative error assumed for one activation evaluation (catalog kernels are accurate to a few
#: ULP; this leaves a factor of 16 over that).
ACTIVATION_ULPS = 64


@dataclass
class RobustnessResult:
    """Per-input certified radii (ℓ2 or ℓ∞, ``norm``) and what they rest on.

    Attributes
    ----------
    radii : ndarray, shape (m,)
        Certified radius of each input (0 where the network misclassifies it).
    predictions, labels : ndarray of int
        The network's predictions (float64 evaluation) and the given labels.
    margins : ndarray
        ``f_y - max_{j≠y} f_j`` (negative when misclassified), as computed.
    lipschitz : float
        The certified global Lipschitz bound ``L`` of the logit map.
    pairwise : ndarray or None
        ``(K, K)`` matrix of the LipSDP bounds of ``f_i - f_j`` (``pairwise`` and ``local``
        methods; ``nan`` for pairs no input needed), else None.
    method, norm : str
    baseline_radii : ndarray or None
        For ``local``: the ``pairwise`` radii it started from (so one run shows both), else None.
    seconds : float
        Wall time, all solves included.
    solves : list of dict
        One per LipSDP solve: pair (or None for the global bound), value, solver, status, seconds.
    notes : list of str
    """

    radii: np.ndarray
    predictions: np.ndarray
    labels: np.ndarray
    margins: np.ndarray
    lipschitz: float
    method: str
    norm: str = "l2"
    pairwise: np.ndarray | None = None
    baseline_radii: np.ndarray | None = None
    seconds: float = 0.0
    solves: list = field(default_factory=list)
    notes: list = field(default_factory=list)

    @property
    def accuracy(self) -> float:
        """Fraction of inputs the network classifies correctly."""
        return float(np.mean(self.predictions == self.labels)) if self.labels.size else math.nan

    def certified_accuracy(self, eps: float) -> float:
        """Fraction of inputs classified correctly with certified radius ``> eps``."""
        if not (eps >= 0 and math.isfinite(eps)):
            raise ValueError(f"eps must be a finite non-negative number, got {eps!r}")
        correct = self.predictions == self.labels
        return float(np.mean(correct & (self.radii > eps))) if self.labels.size else math.nan

    def as_dict(self, eps: list[float] | tuple[float, ...] = ()) -> dict[str, Any]:
        """JSON-ready summary (radii included) with the certified accuracy at each ``eps``."""
        r = self.radii[self.predictions == self.labels]
        return {
            "method": self.method, "norm": self.norm, "n_inputs": int(self.radii.size),
            "accuracy": self.accuracy, "lipschitz": self.lipschitz,
            "certified_accuracy": {f"{e:g}": self.certified_accuracy(e) for e in eps},
            "radius_median_correct": float(np.median(r)) if r.size else None,
            "radius_min_correct": float(np.min(r)) if r.size else None,
            "radius_max": float(np.max(self.radii)) if self.radii.size else None,
            "seconds": self.seconds, "solves": self.solves, "notes": self.notes,
            "pairwise": None if self.pairwise is None else
            [[None if math.isnan(v) else float(v) for v in row] for row in self.pairwise],
            "radii": [float(v) for v in self.radii],
            "baseline_radii": None if self.baseline_radii is None else [float(v) for v in self.baseline_radii],
        }

    def __str__(self) -> str:
        r = self.radii[self.predictions == self.labels]
        med = f"{np.median(r):.4g}" if r.size else "-"
        return (f"certified {self.norm} radii ({self.method}): {self.radii.size} inputs, accuracy {self.accuracy:.4f}, "
                f"median radius of the correct ones {med}, global Lipschitz bound {self.lipschitz:.6g}, "
                f"{len(self.solves)} LipSDP solve(s), {self.seconds:.2f} s")


def _as_network(model: Any, X: np.ndarray) -> Network:
    if isinstance(model, Network):
        return model
    if type(model).__module__.startswith("torch"):
        from .torch_loader import from_torch

        return from_torch(model, input_shape=X.shape[1:] if X.ndim > 2 else None)
    raise TypeError(f"expected a funclib.verify.Network or a torch.nn.Sequential, got {type(model).__name__}")


def _inputs(net: Network, X: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
    """Inputs flattened to (m, n_0) and labels, checked (never cast across kinds)."""
    from .network import real_array

    X = real_array(X, "inputs X")
    if X.ndim < 2:
        raise NetworkError(f"inputs X must have one row per input, got shape {X.shape}")
    if X.shape[1:] not in (net.input_shape, (net.dims[0],)):
        raise NetworkError(f"inputs X have shape {X.shape[1:]} per input, the network takes {net.input_shape}")
    X = X.reshape(X.shape[0], -1)
    if not np.all(np.isfinite(X)):
        raise NetworkError("inputs X have NaN or infinite entries")
    labels = np.asarray(y)
    if labels.dtype.kind not in "iu":
        raise NetworkError(f"labels y must be integers, got dtype {labels.dtype}")
    if labels.shape != (X.shape[0],):
        raise NetworkError(f"labels y must have shape ({X.shape[0]},), got {labels.shape}")
    K = net.dims[-1]
    if K < 2:
        raise NetworkError(f"a classifier needs at least 2 outputs, the network has {K}")
    if labels.size and (labels.min() < 0 or labels.max() >= K):
        raise NetworkError(f"labels y must lie in 0..{K - 1}, got {labels.min()}..{labels.max()}")
    return X, labels.astype(np.int64)


def margin_error(net: Network, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Logits of the rows of ``X`` and a bound on their float64 rounding error, per entry.

    Standard forward error analysis: a dot product of length n has error at most
    ``γ_n |w|ᵀ|h|`` (``γ_n = n u / (1 - n u)``); errors already in ``h`` pass through ``|W|``;
    an activation with slope bounds [α, β] multiplies incoming errors by ``max(|α|, |β|)`` and
    adds its own evaluation error (:data:`ACTIVATION_ULPS` ULPs, relative).
    """
    H = np.asarray(X, dtype=np.float64)
    err = np.zeros_like(H)
    L = len(net.weights)
    for k, w in enumerate(net.weights):
        absw = abs(w)
        gamma = error_gamma(w.shape[1] + 1)
        Z = np.asarray(w @ H.T).T + net.biases[k]
        err = np.asarray(absw @ err.T).T + gamma * (np.asarray(absw @ np.abs(H).T).T + np.abs(net.biases[k]))
        if k == L - 1:
            return Z, err
        act = net.activations[k]
        H = elementwise_kernels(act)[0](Z)
        err = slope_bound(act).lipschitz * err + ACTIVATION_ULPS * UNIT_ROUNDOFF * np.abs(H) + 2.0 ** -1022
    raise AssertionError("unreachable")


def _margins(net: Network, X: np.ndarray, labels: np.ndarray):
    """Predictions, pairwise margins f_y - f_j and their certified lower bounds (rounding removed)."""
    logits, err = margin_error(net, X)
    rows = np.arange(X.shape[0])
    pred = np.argmax(logits, axis=1)
    diff = logits[rows, labels][:, None] - logits  # (m, K): f_y - f_j
    low = diff - (err[rows, labels][:, None] + err)
    low[rows, labels] = np.inf
    return pred, diff, low


def _solve(net: Network, pair, solves: list, **opts) -> float:
    from .api import lipschitz

    res = lipschitz(net, lower=False, **opts)
    solves.append({"pair": pair, "value": res.value, "solver": res.solver, "status": res.status,
                   "seconds": res.seconds, "certified": res.certified})
    if not res.certified:
        raise VerificationError(f"the Lipschitz bound{'' if pair is None else f' of pair {pair}'} is not "
                                f"certified ({'; '.join(res.notes)}); no radius is reported")
    return res.value


def _pair_network(net: Network, i: int, j: int) -> Network:
    """The network computing f_i - f_j: the last layer replaced by (e_i - e_j)ᵀ [W, b]."""
    W, b = net.weights[-1], net.biases[-1]
    row = W[i] - W[j]
    row = row.toarray() if sps.issparse(row) else np.asarray(row).reshape(1, -1)
    return Network(list(net.weights[:-1]) + [row], list(net.activations), list(net.biases[:-1]) + [b[i:i + 1] - b[j:j + 1]],
                   net.input_shape)


def _pair_threads(net: Network, requested: int | None) -> int:
    """Concurrent pair solves: the requested number, else one per CPU core; 1 where the LMI is
    large enough for BLAS threads to pay (:data:`~funclib.verify.threads.SINGLE_THREAD_MAX_N`)."""
    if requested is not None:
        if int(requested) != requested or requested < 1:
            raise ValueError(f"pair_threads must be a positive integer, got {requested!r}")
        return int(requested)
    return 1 if sum(net.dims[:-1]) > SINGLE_THREAD_MAX_N else max(1, os.cpu_count() or 1)


def _solve_pairs(net: Network, pairs: list[tuple[int, int]], solves: list, threads: int, **opts) -> list[float]:
    """The LipSDP bounds of ``f_i - f_j`` for ``pairs``, ``threads`` solves at a time.

    The structured solver spends its time in NumPy/LAPACK calls that release the GIL, so threads
    run solves in parallel (1.7x on 2 cores for the benchmark CNN); each on one BLAS thread
    (:func:`~funclib.verify.threads.blas_threads`: the limit is process-wide, so it is set once
    around the pool). ``solves`` gets the records in the order of ``pairs``; a failed solve raises.
    """
    def one(pair: tuple[int, int]) -> tuple[float, list]:
        record: list[dict] = []
        return _solve(_pair_network(net, *pair), pair, record, **opts), record

    if threads <= 1 or len(pairs) <= 1:
        results = [one(pair) for pair in pairs]
    else:
        with blas_threads(0), ThreadPoolExecutor(min(threads, len(pairs))) as pool:
            results = list(pool.map(one, pairs))
    for _, record in results:
        solves.extend(record)
    return [value for value, _ in results]


def solve_limiting_pairs(low: np.ndarray, bound: np.ndarray, labels: np.ndarray, correct: np.ndarray,
                         solve_pairs) -> int:
    r"""Solve only the class pairs that limit some input's radius; returns the number of rounds.

    Every unsolved pair keeps the bound :math:`\sqrt2 L`, which is at least its pairwise bound
    (``solve_pairs``, called with each round's list of pairs, caps the LipSDP values by it). Each round finds, for every correctly
    classified input with positive margins, the pair attaining :math:`\min_j m_{yj}/L_{yj}`;
    the unsolved ones among them are solved. When every limiting pair is solved, an unsolved
    pair :math:`j` has :math:`m_{yj}/L_{yj} \ge m_{yj}/(\sqrt2 L) \ge` the minimum, so the
    radii are exactly those of solving all pairs, with (on digit classifiers) about half the solves.
    """
    solved: set[tuple[int, int]] = set()
    rows = np.flatnonzero(correct & np.all(low > 0, axis=1))  # low[y] = inf; any margin <= 0 gives radius 0
    rounds = 0
    while rows.size:
        ratio = low[rows] / bound[labels[rows]]
        limiting = np.argmin(ratio, axis=1)
        todo = sorted({tuple(sorted((int(labels[r]), int(j)))) for r, j in zip(rows, limiting)} - solved)
        if not todo:
            break
        rounds += 1
        solve_pairs(todo)
        solved.update(todo)
    return rounds


def radii_from_bounds(low: np.ndarray, bound: np.ndarray, labels: np.ndarray, correct: np.ndarray) -> np.ndarray:
    rows = np.arange(labels.size)
    ratio = low / bound[labels]
    ratio[rows, labels] = np.inf
    radii = np.where(correct, np.maximum(np.min(ratio, axis=1, initial=np.inf), 0.0), 0.0)
    return np.nextafter(radii, 0.0) * (radii > 0)


def _local_radius(bounder, x: np.ndarray, label: int, low: np.ndarray, start: float, cap: np.ndarray,
                  steps: int) -> float:
    """Largest ε found by bisection from ``start`` (already certified) at which every pair j has
    ``low_j ≥ L_yj(ε) ε`` or (CROWN bounds) a positive CROWN lower bound of its margin on the ball;
    each ε taken is checked with the bounds on its own ball."""
    def limit(eps: float) -> float:
        # margin_j / L_j(eps) rounded down; pairs whose coarse bound already passes skip enumeration
        need = np.nextafter(low / eps, 0.0)
        L = np.minimum(bounder(x, eps, label, need=need), cap)
        with np.errstate(divide="ignore"):
            ratio = np.where(L > 0, np.nextafter(low / np.where(L > 0, L, 1.0), 0.0), np.inf)
        ratio[label] = np.inf
        if bounder.bounds == "crown" and np.min(ratio) < eps:
            # pairs the slope bound misses: CROWN's lower bound of f_y - f_j on the same ball
            # (widened like the CROWN boxes of verify.local); a positive one certifies the pair there
            from .crown import crown_margins
            from .local import CROWN_PAD

            others = np.array([j for j in range(low.size) if j != label])
            lb = crown_margins(bounder.net, x[None, :], np.array([label]), eps, norm=bounder.norm)[0]
            scale = 1.0 + np.abs(lb) + np.abs(low[others]) + np.where(np.isfinite(L[others]), L[others], 0.0) * eps
            ok = np.isfinite(lb) & (lb - CROWN_PAD * scale > 0)
            ratio[others[ok]] = np.inf
        return float(np.min(ratio))

    lo = start
    if not lo > 0:
        return lo
    top = 64.0 * lo
    hi = min(limit(lo), top)  # the slope bounds at the known radius cap what larger balls give them
    grow = bounder.bounds == "crown"  # CROWN's margins may certify past that end: doubling from it
    if not hi > lo:
        if not grow:
            return lo
        hi = min(2.0 * lo, top)
    while limit(hi) >= hi:
        if not grow or hi >= top:
            return hi
        lo, hi = hi, min(2.0 * hi, top)
    for _ in range(steps):
        trial = 0.5 * (lo + hi)
        if limit(trial) >= trial:
            lo = trial
        else:
            hi = trial
    return lo


def _local_batch(net: Network, X: np.ndarray, labels: np.ndarray, low: np.ndarray, start: np.ndarray,
                 bound: np.ndarray, steps: int, bounds: str, enumerate_coords: int, norm: str) -> np.ndarray:
    """Local radii of a batch of correctly classified inputs (one Dask task; picklable arguments)."""
    from .local import PairBounds

    bounder = PairBounds(net, bounds=bounds, enumerate_coords=enumerate_coords, norm=norm)
    with blas_threads(max(net.dims)):  # small products: one BLAS thread (funclib.verify.threads)
        return np.array([_local_radius(bounder, X[i], int(labels[i]), low[i], float(start[i]), bound[labels[i]],
                                       steps) for i in range(len(labels))])


def _local_radii(net, X, labels, low, start, bound, todo, steps, bounds, enumerate_coords, norm, scheduler, workers,
                 batch_size, notes) -> np.ndarray:
    radii = start.copy()
    batches = [todo[i:i + batch_size] for i in range(0, todo.size, batch_size)]
    args = [(net, X[b], labels[b], low[b], start[b], bound, steps, bounds, enumerate_coords, norm) for b in batches]
    if scheduler is None and workers is None:
        for b, a in zip(batches, args):
            radii[b] = _local_batch(*a)
        return radii
    from funclib.jobs import run_tasks

    report = run_tasks({f"local-{k}": (_local_batch, a) for k, a in enumerate(args)}, scheduler=scheduler, workers=workers,
                  progress=None)
    if report.failures:
        key, why = next(iter(report.failures.items()))
        raise VerificationError(f"{len(report.failures)} local batch task(s) failed ({key}: {why}); "
                                "no radius is reported")
    for k, b in enumerate(batches):
        radii[b] = report.results[f"local-{k}"]
    notes.append(f"local: {len(batches)} Dask task(s) on {report.workers} worker(s), {report.seconds:.2f} s")
    return radii


def robustness(model: Any, X: Any, y: Any, *, norm: str = "l2", method: str = "global", solver: str = "auto",
               time_limit: float | None = None, lipsdp: str = "neuron", local_steps: int = 10,
               local_bounds: str = "crown", enumerate_coords: int = 12, scheduler: str | None = None,
               workers: int | None = None, batch_size: int = 25, crown_steps: int = 12,
               alpha_steps: int = 0, pair_threads: int | None = None) -> RobustnessResult:
    """Certified ℓ2 or ℓ∞ robustness radius of every input (see the module docstring for the math).

    Parameters
    ----------
    model : Network or torch.nn.Sequential
        The classifier (logits out). A PyTorch model is read by
        :func:`~funclib.verify.torch_loader.from_torch`, with ``input_shape = X.shape[1:]`` when
        ``X`` has more than two axes.
    X : array, shape (m, n_0) or (m, C, H, W)
        Inputs (image-shaped ones are flattened in C order).
    y : array of int, shape (m,)
        Labels in ``0..K-1``.
    norm : {"l2", "linf"}
        The norm of the perturbation. For ``"linf"``, ``global`` and ``pairwise`` scale their ℓ2
        constants by ``√n`` (n the input size); ``local`` and ``crown`` bound the ℓ∞ box itself.
    method : {"global", "pairwise", "local", "crown"}
        ``global``: ``r = margin / (√2 L)``; ``pairwise``: one LipSDP per class pair that some
        correctly classified input needs (``r = min_j margin_yj / L_yj``), never smaller;
        ``local``: per input, bisection on ε from the ``pairwise`` radius with pairwise
        Lipschitz bounds on the ball (never smaller than ``pairwise``); ``crown``: per input, bisection on ε
        with CROWN bound propagation (:func:`~funclib.verify.crown.crown_radii`, proven
        relaxations of the activations), never smaller than ``global``.
    solver, time_limit, lipsdp : str, float or None, str
        Passed to :func:`~funclib.verify.api.lipschitz` (``lipsdp`` is its ``method``).
    local_steps : int
        Bisection steps per input for ``local`` (each costs one bound on the ball, no SDP).
    local_bounds : {"crown", "ibp"}
        Pre-activation intervals on the ball for ``local`` (:func:`~funclib.verify.local.ball_intervals`;
        they differ only for two or more hidden layers).
    enumerate_coords : int
        Input-layer coordinates whose vertices ``local`` enumerates (cost ``2^enumerate_coords``).
    scheduler, workers, batch_size : str or None, int or None, int
        ``local`` runs batches of ``batch_size`` inputs as Dask tasks when ``scheduler`` (an
        address) or ``workers`` (a local cluster of that many processes) is given
        (:func:`funclib.jobs.cluster`), else in this process. A failed task raises.
    crown_steps, alpha_steps : int
        Bisection steps and α-CROWN steps per certification for ``crown``.
    pair_threads : int, optional
        Class-pair LipSDP solves run at a time (``pairwise``, ``local``) in threads; default one
        per CPU core (1 for LMIs above :data:`~funclib.verify.threads.SINGLE_THREAD_MAX_N`).

    Returns
    -------
    RobustnessResult

    Raises
    ------
    VerificationError
        A Lipschitz bound could not be certified.
    NetworkError, ValueError, TypeError
        Bad input (shapes, labels, unsupported model, method or norm).
    """
    start = time.perf_counter()
    if norm not in NORMS:
        raise ValueError(f"norm must be one of {', '.join(NORMS)}, got {norm!r}")
    if int(local_steps) != local_steps or local_steps < 1:
        raise ValueError(f"local_steps must be a positive integer, got {local_steps!r}")
    if int(batch_size) != batch_size or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    if method not in ROBUSTNESS_METHODS:
        raise ValueError(f"method must be one of {', '.join(ROBUSTNESS_METHODS)}, got {method!r}")
    if local_bounds not in INTERVAL_BOUNDS:
        raise ValueError(f"local_bounds must be one of {', '.join(INTERVAL_BOUNDS)}, got {local_bounds!r}")
    if int(enumerate_coords) != enumerate_coords or not 0 <= enumerate_coords <= 20:
        raise ValueError(f"enumerate_coords must be an integer in 0..20, got {enumerate_coords!r}")
    X_arr = np.asarray(X)
    net = _as_network(model, X_arr)
    if any(a.kind == "grouped" for a in net.activations):
        raise NetworkError("robustness radii need elementwise activations (grouped layers are not supported here)")
    X_flat, labels = _inputs(net, X_arr, y)
    opts = {"solver": solver, "time_limit": time_limit, "method": lipsdp}
    solves: list[dict] = []
    notes = ["margins reduced by a bound on their float64 rounding error"]
    L = _solve(net, None, solves, **opts)
    pred, diff, low = _margins(net, X_flat, labels)
    correct = pred == labels
    K = net.dims[-1]
    bound = np.full((K, K), math.sqrt(2.0) * L * (1 + 4 * UNIT_ROUNDOFF))  # every pair: ‖e_i - e_j‖ = √2 (rounded up)
    pair_matrix = None
    if method in ("pairwise", "local"):
        pair_matrix = np.full((K, K), np.nan)

        threads = _pair_threads(net, pair_threads)

        def solve_pairs(pairs: list[tuple[int, int]]) -> None:
            for (i, j), value in zip(pairs, _solve_pairs(net, pairs, solves, threads, **opts)):
                value = min(value, bound[i, j])
                bound[i, j] = bound[j, i] = pair_matrix[i, j] = pair_matrix[j, i] = value

        if threads > 1:
            notes.append(f"pairwise LipSDP solves {threads} at a time (threads, one BLAS thread each)")
        if method == "local":  # the ball bounds of every pair start from its LipSDP bound
            solve_pairs(sorted({tuple(sorted((int(c), j))) for c in np.unique(labels[correct]) for j in range(K) if j != c}))
        else:
            rounds = solve_limiting_pairs(low, bound, labels, correct, solve_pairs)
            notes.append(f"pairwise: {int(np.sum(~np.isnan(pair_matrix))) // 2} class pairs solved in {rounds} rounds, "
                         "only those that limit some input's radius (the radii equal those of solving every pair)")
    if norm == "linf":  # ‖δ‖₂ <= √n ‖δ‖∞: each ℓ2 constant times √n (rounded up) is an ℓ∞ one
        bound = bound * (math.sqrt(net.dims[0]) * (1 + 4 * UNIT_ROUNDOFF))
        notes.append(f"linf: the LipSDP constants times sqrt(n) = {math.sqrt(net.dims[0]):.6g} (ℓ2 to ℓ∞)")
    rows = np.arange(labels.size)
    if method == "local":
        start_radii = radii_from_bounds(low, bound, labels, correct)  # the pairwise radii
        todo = np.flatnonzero(start_radii > 0)
        radii = _local_radii(net, X_flat, labels, low, start_radii, bound, todo, int(local_steps), local_bounds,
                             enumerate_coords, norm, scheduler, workers, int(batch_size), notes)
        solves.append({"pair": None, "local_inputs": int(todo.size), "steps": local_steps, "bounds": local_bounds,
                       "enumerate_coords": enumerate_coords})
        notes.append(f"local: bisection ({local_steps} steps) from the pairwise radius with pairwise Lipschitz "
                     f"bounds on each ball ({local_bounds} intervals, {enumerate_coords} coordinates enumerated"
                     + ("; pairs also certified by CROWN margin bounds)" if local_bounds == "crown" else ")"))
    else:
        start_radii = None
        radii = radii_from_bounds(low, bound, labels, correct)  # margin lower bound over the pair's constant, rounded down
    if method == "crown":
        from .crown import crown_radii

        # Both certificates are sound, so each input keeps the larger radius; the bisection's
        # upper end is well above what the global bound certifies (a radius there is capped).
        eps_max = max(1.0, 4.0 * float(np.max(radii, initial=0.0)))
        with blas_threads(max(net.dims)):
            crown = crown_radii(net, X_flat, labels, norm=norm, eps_max=eps_max, steps=crown_steps,
                                alpha_steps=alpha_steps)
        radii = np.maximum(radii, np.where(correct, crown.radii, 0.0))
        solves.append({"pair": None, "crown_inputs": int(np.sum(correct)), "steps": crown_steps,
                       "alpha_steps": alpha_steps, "eps_max": eps_max})
        notes.append("crown: bisection on eps with CROWN bounds (proven relaxations; float64 linear algebra "
                     "without directed rounding), never below the global radius")
    diff[rows, labels] = np.inf
    return RobustnessResult(
        radii=radii, predictions=pred, labels=labels, margins=np.min(diff, axis=1, initial=np.inf),
        lipschitz=L, method=method, norm=norm, pairwise=pair_matrix, baseline_radii=start_radii,
        seconds=time.perf_counter() - start,
        solves=solves, notes=notes,
    )
