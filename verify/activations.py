"""Activations of a network: catalog look-up, proven slope bounds, grouped structure.

An elementwise activation :math:`\\varphi` enters LipSDP through its slope bounds

.. math:: \\alpha \\le \\frac{\\varphi(a) - \\varphi(b)}{a - b} \\le \\beta \\quad (a \\ne b),

which are read from the catalog's *proven* properties
(``funclib.get(name).with_params(...).properties()["slope_bounds"]``). The catalog reports
outer bounds (the true slope range lies inside), so using them is sound. A bound whose method is
``estimated`` is refused unless the caller opts in, and an unbounded slope is always refused.

Grouped activations (GroupSort, MaxMin, FullSort, Householder) are not slope-restricted; what
the verifier uses is their *structure* only: the group size and the subspace the map preserves
(see :mod:`funclib.verify.structure`). That keeps the verifier independent of how the catalog
entries for them are written.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np

__all__ = [
    "Activation",
    "SlopeBound",
    "GROUPED",
    "NotSlopeRestrictedError",
    "EstimatedBoundError",
    "activation",
    "slope_bound",
]

#: Grouped activations known to the verifier: id -> (structure, default group size).
#: ``sort`` maps (GroupSort, MaxMin = GroupSort with groups of 2, FullSort = one group) permute
#: each group; ``householder`` reflects each pair across a line (HH1 of Singla et al. 2022).
GROUPED: dict[str, tuple[str, int | None]] = {
    "groupsort": ("sort", 2),
    "maxmin": ("sort", 2),
    "fullsort": ("sort", None),
    "householder": ("householder", 2),
}
_GROUP_SIZE_KEYS = ("group_size", "n", "k", "size")


class NotSlopeRestrictedError(ValueError):
    """The activation's slope is unbounded (or it is not an elementwise map): LipSDP cannot use it."""


class EstimatedBoundError(ValueError):
    """The activation's slope bounds are only estimated; pass ``allow_estimated=True`` to use them."""


@dataclass(frozen=True)
class SlopeBound:
    """Slope bounds [alpha, beta] of an elementwise activation and how they were obtained."""

    alpha: float
    beta: float
    method: str
    detail: str = ""

    @property
    def lipschitz(self) -> float:
        """max(|alpha|, |beta|): the activation's Lipschitz constant bound."""
        return max(abs(self.alpha), abs(self.beta))

    @property
    def proven(self) -> bool:
        return self.method in ("symbolic", "interval")


@dataclass(frozen=True)
class Activation:
    """One hidden layer's activation.

    Attributes
    ----------
    name : str
        Catalog id (``relu``, ``gelu``, ...) or grouped id (``groupsort``, ``maxmin``,
        ``fullsort``, ``householder``).
    params : mapping
        Parameter values (validated against the catalog entry where there is one).
    kind : str
        ``elementwise`` or ``grouped``.
    structure : str or None
        For grouped activations: ``sort`` or ``householder``.
    group_size : int or None
        For grouped activations; ``None`` for FullSort means "the whole layer".
    theta : float or None
        Householder angle (the catalog's HH1 convention): with v = (sin(θ/2), -cos(θ/2)), each
        pair z is reflected in the line vᵀz = 0 (spanned by u = (cos(θ/2), sin(θ/2))) when
        vᵀz > 0; θ = π/2 gives GroupSort(2) ascending.
    layout : str
        Which features form a group: ``contiguous`` (blocks of consecutive features) or
        ``halves`` (feature k with k + n/2, pairs only), as in :mod:`funclib.grouped`.
    """

    name: str
    params: Mapping[str, Any] = field(default_factory=dict)
    kind: str = "elementwise"
    structure: str | None = None
    group_size: int | None = None
    theta: float | None = None
    layout: str = "contiguous"

    def __repr__(self) -> str:
        extra = ", ".join(f"{k}={v}" for k, v in self.params.items())
        return f"Activation({self.name}{', ' + extra if extra else ''})"

    def group_size_for(self, width: int) -> int:
        """The group size in a layer of ``width`` neurons (checks divisibility)."""
        g = width if self.group_size is None else self.group_size
        if g < 1 or width % g:
            raise ValueError(
                f"activation {self.name!r}: layer width {width} is not a multiple of the group size {g}"
            )
        return g

    def groups(self, width: int) -> np.ndarray:
        """Feature indices of each group, shape (width // g, g), following the layout."""
        g = self.group_size_for(width)
        if self.layout == "halves":
            if g != 2:
                raise ValueError(f"activation {self.name!r}: the 'halves' layout needs pairs")
            return np.stack([np.arange(width // 2), np.arange(width // 2, width)], axis=1)
        return np.arange(width).reshape(width // g, g)

    def preserved_direction(self, group: int) -> np.ndarray:
        """Unit vector u whose component the grouped map preserves: uᵀσ(z) = uᵀz.

        Sorting preserves the sum (u = 1/sqrt(g)); a Householder reflection in the line spanned
        by u preserves the component along u.
        """
        if self.structure == "sort":
            return np.full(group, 1.0 / math.sqrt(group))
        if self.structure == "householder":
            t = 0.5 * float(self.theta if self.theta is not None else math.pi / 2)
            return np.array([math.cos(t), math.sin(t)])
        raise ValueError(f"activation {self.name!r} is not grouped")

    # -- numeric evaluation (lower bounds) --------------------------------------------
    def apply_grouped(self, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """σ(z) and the dense Jacobian dσ/dz for one layer vector z (float64).

        Uses :mod:`funclib.grouped` (the catalog's evaluator) when it is present; otherwise the
        same conventions here: stable sorts, MaxMin descending, GroupSort/FullSort ascending,
        HH1 reflecting when vᵀz > 0.
        """
        z = np.asarray(z, dtype=np.float64)
        width = z.shape[0]
        index = self.groups(width)
        try:
            from funclib import grouped as _grouped
        except ImportError:
            _grouped = None
        if _grouped is not None:
            kw = {"layout": self.layout}
            if self.name == "groupsort":
                kw["group_size"] = self.group_size
            if self.structure == "householder":
                kw["theta"] = self.theta
            y, blocks, index = _grouped.group_blocks(self.name, z, **kw)
        else:
            blocks = []
            y = np.empty_like(z)
            for idx in index:
                block = z[idx]
                if self.structure == "sort":
                    order = np.argsort(-block if self.name == "maxmin" else block, kind="stable")
                    y[idx] = block[order]
                    jac = (order[:, None] == np.arange(len(idx))).astype(float)
                else:
                    u = self.preserved_direction(2)
                    v = np.array([u[1], -u[0]])
                    jac = np.eye(2) - 2.0 * np.outer(v, v) if float(v @ block) > 0 else np.eye(2)
                    y[idx] = jac @ block
                blocks.append(jac)
        D = np.zeros((width, width))
        for idx, jac in zip(index, blocks):
            D[np.ix_(idx, idx)] = jac
        return y, D


def _group_size_param(name: str, params: Mapping[str, Any], default: int | None) -> int | None:
    for key in _GROUP_SIZE_KEYS:
        if key in params:
            value = params[key]
            if float(value) != int(value) or int(value) < 1:
                raise ValueError(f"activation {name!r}: group size must be a positive integer, got {value!r}")
            return int(value)
    return default


def activation(spec: Any, params: Mapping[str, float] | None = None) -> Activation:
    """Normalize an activation given as a name, ``(name, params)``, or :class:`Activation`.

    Unknown names raise ``funclib.UnknownEntryError`` (with suggestions); parameters are checked
    against the catalog entry's ranges; row-wise and other non-elementwise entries are refused.
    """
    if isinstance(spec, Activation):
        return spec
    if isinstance(spec, (tuple, list)) and len(spec) == 2 and isinstance(spec[0], str):
        spec, params = spec[0], dict(spec[1] or {})
    if not isinstance(spec, str):
        raise TypeError(f"activation must be a name, (name, params) or Activation, got {spec!r}")
    name = spec.strip().lower()
    params = dict(params or {})
    if name in GROUPED:
        structure, default_size = GROUPED[name]
        size = _group_size_param(name, params, default_size)
        if name == "maxmin" and size != 2:
            raise ValueError("activation 'maxmin' has groups of 2")
        if structure == "householder" and size != 2:
            raise ValueError("activation 'householder' (HH1) acts on pairs: group size 2")
        theta = float(params.get("theta", math.pi / 2)) if structure == "householder" else None
        layout = str(params.get("layout", "contiguous"))
        if layout not in ("contiguous", "halves"):
            raise ValueError(f"activation {name!r}: layout must be 'contiguous' or 'halves', got {layout!r}")
        unknown = set(params) - set(_GROUP_SIZE_KEYS) - {"layout"} - ({"theta"} if structure == "householder" else set())
        if unknown:
            raise ValueError(f"activation {name!r} has no parameter(s) {', '.join(sorted(unknown))}")
        return Activation(name, params, "grouped", structure, size, theta, layout)
    from funclib import registry

    entry = registry.get(name)
    if entry.kind in ("grouped",):
        raise ValueError(
            f"grouped activation {entry.id!r} is not one the verifier knows ({', '.join(GROUPED)})"
        )
    if entry.kind != "elementwise":
        raise NotSlopeRestrictedError(
            f"activation {entry.id!r} is {entry.kind}, not elementwise: LipSDP needs slope-restricted "
            "elementwise activations or a grouped activation"
        )
    if params:
        entry.param_values(params)  # validates names and ranges (ParameterError)
    return Activation(entry.id, {k: float(v) for k, v in params.items()})


class CorruptCacheWarning(UserWarning):
    """The installed property cache disagrees with a fresh proof (edited or damaged data)."""


@lru_cache(maxsize=256)
def _slope_fact(name: str, params: tuple[tuple[str, float], ...]) -> tuple[float, float, str, str]:
    """Slope bounds proven afresh for this certification (never read from installed data).

    The committed cache only speeds up look-ups; a certificate rests on a proof made now (once
    per activation and process: seconds). Where the cache says something else, it was edited or
    damaged: the fresh proof is used and a :class:`CorruptCacheWarning` says so.
    """
    import warnings

    from funclib import registry

    entry = registry.get(name)
    if params:
        entry = entry.with_params(**dict(params))
    cached = entry.properties().facts.get("slope_bounds")
    fact = entry.properties(recompute=True)["slope_bounds"]
    lo, hi = fact.value
    if cached is not None and not params and (
        cached.method != fact.method or not all(
            (a == b) or abs(a - b) <= 1e-9 * max(1.0, abs(b)) for a, b in zip(cached.value, fact.value))
    ):
        warnings.warn(
            f"activation {name!r}: the installed property cache says slope bounds {cached.value} "
            f"({cached.method}), a fresh proof gives {fact.value} ({fact.method}); the cache is "
            "corrupt or was edited, the certificate uses the fresh proof",
            CorruptCacheWarning, stacklevel=3,
        )
    return float(lo), float(hi), fact.method, str(fact.detail)


def slope_bound(act: Activation, *, allow_estimated: bool = False) -> SlopeBound:
    """The slope bounds [alpha, beta] of an elementwise activation, from the catalog's proofs.

    Raises
    ------
    NotSlopeRestrictedError
        The slope is unbounded (e.g. ``exponential``, or a jump such as ``hardshrink``).
    EstimatedBoundError
        The bound is only estimated and ``allow_estimated`` is false.
    """
    if act.kind != "elementwise":
        raise NotSlopeRestrictedError(f"activation {act.name!r} is {act.kind}, not slope-restricted")
    lo, hi, method, detail = _slope_fact(act.name, tuple(sorted(act.params.items())))
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise NotSlopeRestrictedError(
            f"activation {act.name!r} is not slope-restricted: its slope bounds are [{lo:g}, {hi:g}] "
            f"({method}: {detail}); LipSDP needs finite bounds"
        )
    if method not in ("symbolic", "interval") and not allow_estimated:
        raise EstimatedBoundError(
            f"activation {act.name!r}: slope bounds [{lo:.6g}, {hi:.6g}] are {method}, not proven; "
            "pass allow_estimated=True to use them (the result is then not certified)"
        )
    return SlopeBound(lo, hi, method, detail)


@lru_cache(maxsize=256)
def _derivative_exprs(name: str, params: tuple[tuple[str, float], ...]):
    from funclib import registry

    entry = registry.get(name)
    p = dict(params) or None
    f = entry.numeric_expr(params=p)
    d1 = entry.derivative(1, params=p, numeric=True)
    d2 = entry.derivative(2, params=p, numeric=True)
    return entry.symbol, f, d1, d2


def elementwise_kernels(act: Activation):
    """(f, f', f'', piecewise_linear) as float64 NumPy callables from the catalog entry.

    The derivatives are the catalog's stable symbolic derivatives evaluated with
    :func:`funclib.npeval.np_evaluate`; ``piecewise_linear`` is true when f'' is identically 0
    (ReLU family), which selects the activation-pattern search for lower bounds.
    """
    from funclib.npeval import np_evaluate

    sym, f, d1, d2 = _derivative_exprs(act.name, tuple(sorted(act.params.items())))

    def make(expr):
        def kernel(x: np.ndarray) -> np.ndarray:
            out = np_evaluate(expr, {sym: np.asarray(x, dtype=np.float64)})
            return np.broadcast_to(np.asarray(out, dtype=np.float64), np.shape(x)).copy()

        return kernel

    return make(f), make(d1), make(d2), bool(d2 == 0)
