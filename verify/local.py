r"""Local Lipschitz bounds on an input ball: interval bounds, per-neuron slope sectors, LipSDP.

For an input ``x`` and a radius ``ε``, every input of the ℓ2 ball ``B(x, ε)`` gives first-layer
pre-activations in ``W_0 x + b_0 ± ε ‖W_0[i, :]‖₂`` (exact for a ball), and interval bound
propagation (IBP) carries boxes through the layers. On its interval ``[l_i, u_i]`` neuron i's
activation has chord slopes in ``[α_i, β_i] = [inf φ', sup φ']`` over the interval (φ is
Lipschitz, so a chord slope is an average of φ'), which is much narrower than the global sector:
a ReLU neuron gets {0}, {1} or [0, 1]; GELU on [0.3, 2] gets [0.61, 1.13] instead of
[-0.13, 1.13]. LipSDP-Neuron with these sectors bounds the Lipschitz constant *on the ball*;
neurons with the sector {0} are constant there and are removed first.

Rigour: φ and φ' (the catalog's symbolic derivative) are enclosed with arb interval arithmetic
(:class:`funclib.interval.IntervalFunction`) on a grid of cells of width 1/64 on [-16, 16] plus
the two tails, computed when first needed in the process (never read from a file); a neuron's
range and sector are the hull over the cells its interval touches, intersected with the
activation's proven global sector. IBP adds rounding margins to every affine step.

Tighter intervals for deeper layers (``bounds="crown"``): the pre-activation bounds of hidden
layers after the first also come from CROWN (:func:`funclib.verify.crown.crown_bounds`, backward
linear bound propagation with the catalog's proven relaxations) and are intersected with the IBP
boxes (both are outer bounds). CROWN's linear algebra is float64 without directed rounding; its
bounds are widened by :data:`CROWN_PAD` times the IBP scale of the neuron, far above the
rounding of these products (the first layer's interval is exact for a ball either way).

Pairwise local constants (:func:`local_pair_lipschitz`), for the margins ``g = f_y - f_j``: with
``D_k`` the diagonal of *chord* slopes of layer k between two points of the ball (each in the
neuron's sector, by the mean value theorem),

.. math:: g(x') - g(x) = (w_y - w_j)^T D_{H-1} W_{H-1} \cdots D_0 W_0 (x' - x),

so ``L_yj = max ‖W_0^T D_0 W_1^T \cdots D_{H-1} (w_y - w_j)‖₂`` over the sector boxes bounds the
Lipschitz constant of ``g`` on the ball. The product is carried backward as an interval vector
(midpoint-radius, rounding margins added); at the input layer ``p = D_0 u`` lies in a box and
``‖W_0^T p‖₂`` is convex in ``p``, so its maximum over the box is at a vertex: the
``enumerate_coords`` widest coordinates are enumerated exactly, the rest enter as an interval
vector or through ``‖diag(r) W_0[R]‖₂ √|R|`` (a spectral norm proven by a Cholesky check),
whichever is smaller.
With one hidden layer, ReLU and at most ``enumerate_coords`` neurons unstable on the ball,
this is the exact maximum over the sector box. No SDP is solved: milliseconds per ball.

ℓ∞ balls (``norm="linf"``, the box ``‖x' - x‖∞ <= ε``): the first layer's interval is
``W_0 x + b_0 ± ε ‖W_0[i, :]‖₁`` (exact for a box), CROWN bounds use the ℓ1 dual norm, and
the margin moves by at most ``‖∇g‖₁ ε``, so the pairwise constants are
``L_yj = max ‖W_0^T D_0 \cdots (w_y - w_j)‖₁`` over the same sector boxes (Lipschitz
constants of the margins). The vertex enumeration is unchanged; the coordinates left out add
``Σ r_i ‖W_0[i, :]‖₁`` exactly (the ℓ1 norm is additive on non-negative vectors), so no spectral
norm is needed. :func:`local_lipschitz` (an SDP) is ℓ2 only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import scipy.sparse as sps

from .activations import Activation, slope_bound
from .certify import UNIT_ROUNDOFF, cholesky_or_none, error_gamma, sqrt_up
from .network import Network

__all__ = ["CellTable", "cell_table", "ball_intervals", "local_sectors", "local_lipschitz", "local_pair_lipschitz",
           "PairBounds", "CROWN_PAD", "INTERVAL_BOUNDS", "NORMS"]

#: Cell width and reach of the enclosure grid (cell edges are exact binary numbers).
CELLS_PER_UNIT = 64
REACH = 16
#: Widening of CROWN's float64 bounds, relative to the neuron's IBP scale ``1 + |l| + |u|``.
CROWN_PAD = 2.0 ** -26
INTERVAL_BOUNDS = ("ibp", "crown")
#: Norms of the input balls: ℓ2 and ℓ∞.
NORMS = ("l2", "linf")


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
    gamma = error_gamma(w.shape[1] + 2)
    aw = _abs(w)
    center = np.asarray(w @ mid).reshape(-1) + b
    spread = np.asarray(aw @ rad).reshape(-1)
    pad = gamma * (np.asarray(aw @ (np.abs(mid) + rad)).reshape(-1) + np.abs(b)) + 2.0 ** -1022
    return center - spread - pad, center + spread + pad


def _row_norms(w) -> np.ndarray:
    sq = w.multiply(w).sum(axis=1) if sps.issparse(w) else np.sum(w * w, axis=1)
    return np.sqrt(np.asarray(sq).reshape(-1)) * (1 + 4 * w.shape[1] * UNIT_ROUNDOFF)


def _row_l1(w) -> np.ndarray:
    """‖W[i, :]‖₁ per row, rounded up (a sum of n non-negative terms errs by at most γ_n)."""
    return np.asarray(_abs(w).sum(axis=1)).reshape(-1) * (1 + 4 * w.shape[1] * UNIT_ROUNDOFF)


def _dual_rows(w, norm: str) -> np.ndarray:
    """Row norms dual to the ball's norm (ℓ2 for ℓ2 balls, ℓ1 for ℓ∞ balls), rounded up."""
    return _row_norms(w) if norm == "l2" else _row_l1(w)


def _check_norm(norm: str) -> str:
    if norm not in NORMS:
        raise ValueError(f"norm must be one of {', '.join(NORMS)}, got {norm!r}")
    return norm


def ball_intervals(net: Network, x: np.ndarray, eps: float, *, bounds: str = "ibp",
                   norm: str = "l2") -> list[tuple[np.ndarray, np.ndarray]]:
    """Pre-activation intervals ``(l_k, u_k)`` of every hidden layer over the ball ``B(x, eps)``
    of ``norm`` (``"l2"`` or ``"linf"``).

    ``bounds="ibp"``: interval bound propagation with directed rounding margins;
    ``bounds="crown"``: the IBP boxes intersected with CROWN bounds (widened by
    :data:`CROWN_PAD`) for the hidden layers after the first.
    """
    if bounds not in INTERVAL_BOUNDS:
        raise ValueError(f"bounds must be one of {', '.join(INTERVAL_BOUNDS)}, got {bounds!r}")
    _check_norm(norm)
    w0, b0 = net.weights[0], net.biases[0]
    lo, hi = _affine_box(w0, b0, np.asarray(x, dtype=np.float64), np.zeros(w0.shape[1]))
    r = eps * _dual_rows(w0, norm) * (1 + 2 * UNIT_ROUNDOFF)
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
        l, u = _affine_box(net.weights[k], net.biases[k], mid, rad)
        if bounds == "crown":
            l, u = _crown_tighten(net, k, x, eps, l, u, norm)
        out.append((l, u))
    return out


def _crown_tighten(net: Network, k: int, x: np.ndarray, eps: float, l: np.ndarray, u: np.ndarray, norm: str):
    """The IBP box of hidden layer k intersected with CROWN's (widened) bounds."""
    from .crown import crown_bounds

    n = net.weights[k].shape[0]
    eye = np.eye(n)
    low = crown_bounds(net.slice(0, k + 1), np.asarray(x, dtype=np.float64)[None, :], float(eps),
                       np.concatenate([eye, -eye]), norm=norm)[0]
    pad = CROWN_PAD * (1.0 + np.abs(l) + np.abs(u))
    cl, cu = low[:n] - pad, -low[n:] + pad
    ok = np.isfinite(cl) & np.isfinite(cu)
    l2, u2 = np.where(ok, np.maximum(l, cl), l), np.where(ok, np.minimum(u, cu), u)
    return np.minimum(l2, u2), np.maximum(l2, u2)  # crossing only by rounding on a point ball


def local_sectors(net: Network, x: np.ndarray, eps: float, *, bounds: str = "ibp",
                  norm: str = "l2") -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Per-neuron slope sectors ``(alphas, betas)`` of every hidden layer on the ball ``B(x, eps)``
    of ``norm`` (intervals from :func:`ball_intervals` with ``bounds``)."""
    alphas, betas = [], []
    for act, (l, u) in zip(net.activations, ball_intervals(net, x, eps, bounds=bounds, norm=norm)):
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
                    time_limit: float | None = None, bounds: str = "ibp") -> float:
    """Certified ℓ2 Lipschitz bound of ``net`` on the ball ``B(x, eps)`` (0 if it is constant there):
    LipSDP-Neuron with the per-neuron sectors of :func:`local_sectors` (one SDP solve)."""
    from .api import sector_lipschitz

    alphas, betas = local_sectors(net, x, eps, bounds=bounds)
    pruned = _prune(net, alphas, betas)
    if pruned is None:
        return 0.0
    small, a, b = pruned
    return sector_lipschitz(small, a, b, solver=solver, time_limit=time_limit)


# -- pairwise local constants by interval products (no SDP) ----------------------------------------

def _times_w(P: np.ndarray, w) -> np.ndarray:
    """``P @ W`` for rows P, a dense or scipy.sparse W."""
    return np.asarray((w.T @ P.T).T).reshape(P.shape[0], -1)


def _sector_times(alpha: np.ndarray, beta: np.ndarray, ul: np.ndarray, uu: np.ndarray):
    """Outer interval of ``{s u : s in [alpha, beta], u in [ul, uu]}`` (elementwise, rounding-padded)."""
    prods = np.stack([alpha * ul, alpha * uu, beta * ul, beta * uu])
    lo, hi = prods.min(axis=0), prods.max(axis=0)
    return lo - 2 * UNIT_ROUNDOFF * np.abs(lo) - 2.0 ** -1022, hi + 2 * UNIT_ROUNDOFF * np.abs(hi) + 2.0 ** -1022


class PairBounds:
    """Lipschitz bounds of the margins ``f_y - f_j`` on ℓ2 or ℓ∞ balls (:func:`local_pair_lipschitz`),
    with the per-network data (absolute weights, row norms) computed once.

    Parameters
    ----------
    net : Network
    bounds : {"ibp", "crown"}
        Pre-activation intervals (:func:`ball_intervals`).
    enumerate_coords : int
        Input-layer coordinates whose box vertices are enumerated (cost ``2^enumerate_coords``, ≤ 20).
    norm : {"l2", "linf"}
        The balls' norm; the bounds are Lipschitz constants from it to |·| (dual norm ℓ2 or ℓ1
        of the margin's gradient).
    """

    def __init__(self, net: Network, *, bounds: str = "ibp", enumerate_coords: int = 12, norm: str = "l2"):
        if bounds not in INTERVAL_BOUNDS:
            raise ValueError(f"bounds must be one of {', '.join(INTERVAL_BOUNDS)}, got {bounds!r}")
        if int(enumerate_coords) != enumerate_coords or not 0 <= enumerate_coords <= 20:
            raise ValueError(f"enumerate_coords must be an integer in 0..20, got {enumerate_coords!r}")
        self.net, self.bounds, self.n_enum, self.norm = net, bounds, int(enumerate_coords), _check_norm(norm)
        self._dual = _norm_up if norm == "l2" else _l1_up
        last = net.weights[-1]
        self.last = last.toarray() if sps.issparse(last) else np.asarray(last)
        self.abs_weights = [_abs(w) for w in net.weights]
        self.row_norms0 = _dual_rows(net.weights[0], norm)
        w0 = net.weights[0]
        self.w0 = w0.toarray() if sps.issparse(w0) else np.asarray(w0)

    def _interval_times(self, pl, pu, k):
        """Outer interval of ``{p @ W_k : pl <= p <= pu}`` (rows), with float64 rounding margins."""
        w, aw = self.net.weights[k], self.abs_weights[k]
        mid = 0.5 * (pl + pu)
        rad = np.nextafter(np.maximum(pu - mid, mid - pl), np.inf)
        center = _times_w(mid, w)
        spread = _times_w(rad, aw) + error_gamma(w.shape[0] + 2) * _times_w(np.abs(mid) + rad, aw) + 2.0 ** -1022
        return center - spread, center + spread

    def _enumerated(self, pl: np.ndarray, pu: np.ndarray) -> float:
        """Upper bound of ``max ‖p @ W_0‖`` (ℓ2, or ℓ1 for ℓ∞ balls) over one box row: exact over
        the vertices of the widest coordinates (the norm is convex in p); the rest,
        ``p_R = m_R + δ`` with ``|δ| <= r``, bounded as an interval vector and, for ℓ2, by
        ``‖diag(r) W_0[R]‖₂ √|R|`` (the smaller of the two is kept)."""
        width = (pu - pl) * self.row_norms0
        order = np.argsort(-width, kind="stable")[:self.n_enum]
        enum = np.sort(order[width[order] > 0])
        rl, ru = pl.copy(), pu.copy()
        rl[enum] = ru[enum] = 0.0
        mid = 0.5 * (rl + ru)
        rad = np.nextafter(np.maximum(ru - mid, mid - rl), np.inf)
        aw = self.abs_weights[0]
        center = _times_w(mid[None, :], self.net.weights[0])[0]
        rad_part = _times_w(rad[None, :], aw)[0]
        pad = (error_gamma(self.w0.shape[0] + 2) * _times_w((np.abs(mid) + rad)[None, :], aw)[0]
               + error_gamma(4) * np.abs(center) + 2.0 ** -1022)
        if enum.size:
            we = self.w0[enum]
            bits = (np.arange(1 << enum.size)[:, None] >> np.arange(enum.size)[None, :]) & 1
            vals = np.where(bits == 1, pu[enum], pl[enum]) @ we
            vals += center
            # rounding of the vertex products (error bound of a sum of products)
            pad = pad + error_gamma(enum.size + 2) * (np.maximum(np.abs(pl[enum]), np.abs(pu[enum])) @ np.abs(we))
            np.abs(vals, out=vals)
            vals += pad
        else:
            vals = (np.abs(center) + pad)[None, :]
        with_rad = vals + rad_part
        if self.norm == "linf":  # ℓ1 of non-negative vectors: the interval bound is all there is
            return _l1_up(with_rad[int(np.argmax(with_rad.sum(axis=1)))])
        interval = _norm_up(with_rad[int(np.argmax(np.einsum("ij,ij->i", with_rad, with_rad)))])
        rest = np.flatnonzero(rad > 0)
        if not rest.size:
            return interval
        spec = _spectral_norm_up(rad[rest][:, None] * self.w0[rest])
        top = _norm_up(vals[int(np.argmax(np.einsum("ij,ij->i", vals, vals)))])
        return min(interval, (top + spec * math.sqrt(rest.size) * (1 + 4 * UNIT_ROUNDOFF)) * (1 + 4 * UNIT_ROUNDOFF))

    def __call__(self, x: np.ndarray, eps: float, label: int, *, need: np.ndarray | None = None,
                 sectors=None) -> np.ndarray:
        """Bounds for every class j (entry ``label`` is 0); see :func:`local_pair_lipschitz`.

        ``need`` (shape (K,)), optional: a pair whose interval bound (no enumeration) is already
        ``<= need[j]`` keeps that bound, which saves the enumeration when it is enough.
        """
        if not (eps >= 0 and math.isfinite(eps)):
            raise ValueError(f"eps must be a finite non-negative number, got {eps!r}")
        K = self.last.shape[0]
        if int(label) != label or not 0 <= label < K:
            raise ValueError(f"label must be an integer in 0..{K - 1}, got {label!r}")
        others = np.array([j for j in range(K) if j != label])
        rows = self.last[label][None, :] - self.last[others]
        err = 2 * UNIT_ROUNDOFF * np.abs(rows)  # one rounding per difference
        ul, uu = rows - err, rows + err
        out = np.zeros(K)
        if not self.net.activations:  # affine: the constant is ‖w_y - w_j‖ (rows padded outward)
            out[others] = [self._dual(np.maximum(np.abs(a), np.abs(b))) for a, b in zip(ul, uu)]
            return out
        alphas, betas = sectors if sectors is not None else local_sectors(self.net, x, eps, bounds=self.bounds,
                                                                          norm=self.norm)
        for k in range(len(self.net.activations) - 1, 0, -1):
            ul, uu = self._interval_times(*_sector_times(alphas[k][None, :], betas[k][None, :], ul, uu), k)
        pl, pu = _sector_times(alphas[0][None, :], betas[0][None, :], ul, uu)
        lo, hi = self._interval_times(pl, pu, 0)
        coarse = np.array([self._dual(np.maximum(np.abs(a), np.abs(b))) for a, b in zip(lo, hi)])
        for r, j in enumerate(others):
            if need is not None and coarse[r] <= need[j]:
                out[j] = coarse[r]
            else:
                out[j] = min(coarse[r], self._enumerated(pl[r], pu[r]))
        return out


def _spectral_norm_up(M: np.ndarray) -> float:
    """A proven upper bound of ‖M‖₂ (``inf`` if the check fails).

    ``c`` slightly above the computed ``σ_max²``; a float64 Cholesky factorization of
    ``c I - MᵀM - δ I`` that succeeds proves ``MᵀM ⪯ c I`` up to the rounding of the product
    (Demmel's backward error ``‖ΔA‖₂ <= γ_{k+1} tr(A) <= δ``; the product's error is at most
    ``γ_{n+2} ‖M‖_F²`` in norm), so ``‖M‖₂² <= c + γ_{n+2} ‖M‖_F²``.
    """
    n, k = M.shape
    gram = M.T @ M
    frob = float(np.sum(M * M)) * (1 + (M.size + 2) * UNIT_ROUNDOFF)
    c = float(np.linalg.norm(M, 2)) ** 2 * (1 + 1e-7) + 1e-300
    delta = error_gamma(k + 1) * k * c * 1.01 + 4 * UNIT_ROUNDOFF * c
    a = -gram
    a[np.diag_indices(k)] += c - delta
    if cholesky_or_none(a) is None:
        return math.inf
    return sqrt_up((c + error_gamma(n + 2) * frob) * (1 + 4 * UNIT_ROUNDOFF))


def _norm_up(v: np.ndarray) -> float:
    """‖v‖₂ rounded up (relative error of the float64 sum and square root bounded)."""
    return float(np.sqrt(np.dot(v, v)) * (1 + (v.size + 4) * 2 * UNIT_ROUNDOFF))


def _l1_up(v: np.ndarray) -> float:
    """‖v‖₁ rounded up (a float64 sum of n non-negative terms errs by at most γ_n)."""
    return float(np.sum(np.abs(v)) * (1 + (v.size + 4) * 2 * UNIT_ROUNDOFF))


def local_pair_lipschitz(net: Network, x: np.ndarray, eps: float, label: int, *, bounds: str = "ibp",
                         enumerate_coords: int = 12, norm: str = "l2") -> np.ndarray:
    """Lipschitz bounds of the margins ``f_label - f_j`` on the ball ``B(x, eps)``, one per class j.

    See the module docstring for the math (chord-slope sectors, interval products backward,
    vertex enumeration of the ``enumerate_coords`` widest input-layer coordinates). Entry
    ``label`` is 0. For many balls of one network, build a :class:`PairBounds` once.

    Parameters
    ----------
    net : Network
        Elementwise activations; the last layer gives the class scores.
    x : ndarray, shape (n_0,)
    eps : float
        Radius of the ball (≥ 0).
    label : int
        The class y whose margins ``f_y - f_j`` are bounded.
    bounds : {"ibp", "crown"}
        Pre-activation intervals (:func:`ball_intervals`).
    enumerate_coords : int
        Input-layer coordinates whose box vertices are enumerated (cost ``2^enumerate_coords``, ≤ 20).
    norm : {"l2", "linf"}
        The ball's norm: for ``"linf"`` the bounds are ℓ∞ → |·| constants (ℓ1 norms of the
        margins' gradients).

    Returns
    -------
    ndarray, shape (K,)
    """
    return PairBounds(net, bounds=bounds, enumerate_coords=enumerate_coords, norm=norm)(x, eps, label)
