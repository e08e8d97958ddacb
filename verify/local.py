"""Local Lipschitz bounds on an input ball: interval bounds, per-neuron slope sectors, LipSDP.

For an input ``x`` and a radius ``ε``, every input of the ℓ2 ball ``B(x, ε)`` gives first-layer
pre-activations in ``W_0 x + b_0 ± ε ‖W_0[i, :]‖₂`` (exact for a ball), and interval bound
propagation (IBP) carries boxes through the layers. On its interval ``[l_i, u_i]`` neuron i's
activation has chord slopes in ``[α_i, β_i] = [inf φ', sup φ']`` over the interval (φ is
Lipschitz, so a chord slope is an average of φ'), which is much narrower than the global sector:
a ReLU neuron gets {0}, {1} or [0, 1]; GELU on [0.3, 2] gets [0.61, 1.13] instead of
[-0.17, 1.13]. LipSDP-Neuron with these sectors bounds the Lipschitz constant *on the ball*;
neurons with the sector {0} are constant there and are removed first.

Rigour: φ and φ' (the catalog's symbolic derivative) are enclosed with arb interval arithmetic
(:class:`funclib.interval.IntervalFunction`) on a grid of cells of width 1/64 on [-16, 16] plus
the two tails, computed when first needed in the process (never read from a file); a neuron's
range and sector are the hull over the cells its interval touches, intersected with the
activation's proven global sector. IBP adds rounding margins to every affine step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import scipy.sparse as sps

from .activations import Activation, slope_bound
from .network import Network

__all__ = ["CellTable", "cell_table", "ball_intervals", "local_sectors", "local_lipschitz"]

#: Cell width and reach of the enclosure grid (cell edges are exact binary numbers).
CELLS_PER_UNIT = 64
REACH = 16
_U = 2.0 ** -53


class _RangeTable:
    """Range-minimum queries over a fixed array (sparse table: O(n log n) build, O(1) query)."""

    def __init__(self, values: np.ndarray):
        levels = [np.asarray(values, dtype=np.float64)]
        span = 1
        while 2 * span <= len(values):
            prev = levels[-1]
            levels.append(np.minimum(prev[:-span], prev[span:]))
            span *= 2
        self.levels = levels

    def query(self, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        """min(values[lo..hi]) per pair (inclusive)."""
        length = hi - lo + 1
        k = np.floor(np.log2(length)).astype(int)
        out = np.empty(lo.shape)
        for level in np.unique(k):
            sel = k == level
            arr = self.levels[level]
            out[sel] = np.minimum(arr[lo[sel]], arr[hi[sel] - (1 << level) + 1])
        return out


@dataclass
class CellTable:
    """Enclosures of φ and φ' on cells: index 0 is (-∞, -R], 1..n the grid cells, n+1 [R, ∞)."""

    activation: Activation
    f_min: _RangeTable
    f_max: _RangeTable  # of -upper
    d_min: _RangeTable
    d_max: _RangeTable  # of -upper
    n_cells: int

    def _index(self, x: np.ndarray) -> np.ndarray:
        scaled = np.clip(np.floor(x * CELLS_PER_UNIT), -REACH * CELLS_PER_UNIT - 1, REACH * CELLS_PER_UNIT)
        return (scaled + REACH * CELLS_PER_UNIT + 1).astype(np.int64)

    def value_range(self, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Enclosure of φ([lo_i, hi_i]) per neuron."""
        i, j = self._index(lo), self._index(hi)
        return self.f_min.query(i, j), -self.f_max.query(i, j)

    def slope_range(self, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Enclosure of φ'([lo_i, hi_i]) per neuron (hence of every chord slope in it)."""
        i, j = self._index(lo), self._index(hi)
        return self.d_min.query(i, j), -self.d_max.query(i, j)


def _cells() -> list[tuple[float, float]]:
    n = 2 * REACH * CELLS_PER_UNIT
    edges = [-REACH + k / CELLS_PER_UNIT for k in range(n + 1)]
    return [(-math.inf, -REACH)] + list(zip(edges[:-1], edges[1:])) + [(REACH, math.inf)]


def _enclose_all(expr, symbol, cells, fallback: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    from funclib.interval import IntervalError, IntervalFunction

    fn = IntervalFunction(expr, symbol)
    lo, hi = np.empty(len(cells)), np.empty(len(cells))
    for k, (a, b) in enumerate(cells):
        try:
            iv = fn(a, b)
            lo[k], hi[k] = iv.lower(), iv.upper()
        except (IntervalError, ValueError, OverflowError):
            lo[k], hi[k] = fallback
        if not (lo[k] <= hi[k]):  # NaN from an undefined enclosure: know nothing
            lo[k], hi[k] = fallback
    return lo, hi


@lru_cache(maxsize=32)
def _table(name: str, params: tuple[tuple[str, float], ...]) -> CellTable:
    from funclib import registry

    entry = registry.get(name)
    p = dict(params) or None
    act = Activation(name, dict(params))
    glob = slope_bound(act)
    cells = _cells()
    f_lo, f_hi = _enclose_all(entry.numeric_expr(params=p), entry.symbol, cells, (-math.inf, math.inf))
    d_lo, d_hi = _enclose_all(entry.derivative(1, params=p, numeric=True), entry.symbol, cells, (glob.alpha, glob.beta))
    # the proven global sector holds everywhere: intersect (both are outer bounds)
    d_lo, d_hi = np.maximum(d_lo, glob.alpha), np.minimum(d_hi, glob.beta)
    return CellTable(act, _RangeTable(f_lo), _RangeTable(-f_hi), _RangeTable(d_lo), _RangeTable(-d_hi), len(cells) - 2)


def cell_table(act: Activation) -> CellTable:
    """The (process-cached, freshly computed) enclosure table of an elementwise activation."""
    if act.kind != "elementwise":
        raise ValueError(f"activation {act.name!r} is {act.kind}: local sectors need elementwise activations")
    return _table(act.name, tuple(sorted(act.params.items())))


def _abs(w):
    return abs(w) if sps.issparse(w) else np.abs(w)


def _affine_box(w, b, mid: np.ndarray, rad: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Outer box of {W h + b : |h - mid| <= rad} with float64 rounding margins."""
    n = w.shape[1] + 2
    gamma = n * _U / (1 - n * _U)
    aw = _abs(w)
    center = np.asarray(w @ mid).reshape(-1) + b
    spread = np.asarray(aw @ rad).reshape(-1)
    pad = gamma * (np.asarray(aw @ (np.abs(mid) + rad)).reshape(-1) + np.abs(b)) + 2.0 ** -1022
    return center - spread - pad, center + spread + pad


def _row_norms(w) -> np.ndarray:
    sq = w.multiply(w).sum(axis=1) if sps.issparse(w) else np.sum(w * w, axis=1)
    return np.sqrt(np.asarray(sq).reshape(-1)) * (1 + 4 * w.shape[1] * _U)


def ball_intervals(net: Network, x: np.ndarray, eps: float) -> list[tuple[np.ndarray, np.ndarray]]:
    """Pre-activation intervals ``(l_k, u_k)`` of every hidden layer over the ℓ2 ball ``B(x, eps)``."""
    w0, b0 = net.weights[0], net.biases[0]
    lo, hi = _affine_box(w0, b0, np.asarray(x, dtype=np.float64), np.zeros(w0.shape[1]))
    r = eps * _row_norms(w0) * (1 + 2 * _U)
    out = [(lo - r, hi + r)]
    for k in range(1, len(net.weights) - 1):
        l, u = out[-1]
        hl, hu = cell_table(net.activations[k - 1]).value_range(l, u)
        if not (np.all(np.isfinite(hl)) and np.all(np.isfinite(hu))):
            width = net.weights[k].shape[0]
            out.append((np.full(width, -np.inf), np.full(width, np.inf)))
            continue
        mid = 0.5 * (hl + hu)
        rad = np.nextafter(np.maximum(hu - mid, mid - hl), np.inf)
        out.append(_affine_box(net.weights[k], net.biases[k], mid, rad))
    return out


def local_sectors(net: Network, x: np.ndarray, eps: float) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Per-neuron slope sectors ``(alphas, betas)`` of every hidden layer on the ball ``B(x, eps)``."""
    alphas, betas = [], []
    for act, (l, u) in zip(net.activations, ball_intervals(net, x, eps)):
        table = cell_table(act)
        glob = slope_bound(act)
        if np.all(np.isfinite(l)) and np.all(np.isfinite(u)):
            a, b = table.slope_range(l, u)
        else:
            a, b = np.full(l.shape, glob.alpha), np.full(l.shape, glob.beta)
        alphas.append(a)
        betas.append(b)
    return alphas, betas


def _prune(net: Network, alphas, betas):
    """Drop neurons whose sector is {0} (constant on the ball); None when a layer empties."""
    weights = list(net.weights)
    biases = list(net.biases)
    acts = list(net.activations)
    keep_a, keep_b = [], []
    for k, (a, b) in enumerate(zip(alphas, betas)):
        keep = ~((a == 0.0) & (b == 0.0))
        if not np.any(keep):
            return None
        idx = np.flatnonzero(keep)
        weights[k] = weights[k][idx]
        biases[k] = biases[k][idx]
        weights[k + 1] = weights[k + 1][:, idx]
        keep_a.append(a[idx])
        keep_b.append(b[idx])
    return Network(weights, acts, biases), keep_a, keep_b


def local_lipschitz(net: Network, x: np.ndarray, eps: float, *, solver: str = "auto",
                    time_limit: float | None = None) -> float:
    """Certified ℓ2 Lipschitz bound of ``net`` on the ball ``B(x, eps)`` (0 if it is constant there)."""
    from .api import sector_lipschitz

    alphas, betas = local_sectors(net, x, eps)
    pruned = _prune(net, alphas, betas)
    if pruned is None:
        return 0.0
    small, a, b = pruned
    return sector_lipschitz(small, a, b, solver=solver, time_limit=time_limit)
