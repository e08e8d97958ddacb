r"""Grouped activations (GroupSort, MaxMin, FullSort, Householder HH1): evaluation and Jacobians.

A grouped activation splits the feature axis into groups of ``G`` entries and applies one map
:math:`\varphi: \mathbb R^G \to \mathbb R^G` to every group (the catalog entry's ``formula`` list is
:math:`\varphi`). Which features form a group is the *layout*:

``"contiguous"``
    groups are consecutive blocks ``[0, G)``, ``[G, 2G)``, ... (LNets ``group_sort``, deel-lip);
``"halves"``
    for ``G = 2``, feature ``k`` pairs with feature ``k + n/2`` (the ``torch.split`` into halves of
    Singla et al.'s MaxMin and Householder code).

Outputs go back to the positions of the inputs. Layouts differ by a fixed permutation ``P`` of the
features (:math:`f_{halves} = P^\top f_{contiguous} P`), so every structural fact (Lipschitz
constants, norm and sum preservation) is the same for all layouts.

Conventions: sorting uses a stable sort, so at ties the Jacobian is still the permutation of
the sort (equal inputs keep their order); HH1 takes the identity branch on its boundary line
(as the reference code's ``selector <= 0``). A group containing NaN gives NaN outputs and a NaN
Jacobian block.

The Jacobian of every group map is piecewise constant: a permutation matrix (sorts) or
:math:`I` / :math:`I - 2vv^\top` (HH1), :func:`jacobian` returns it block by block.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np
import sympy as sp

from . import registry
from .formula import make_symbol

__all__ = [
    "GROUPED",
    "LAYOUTS",
    "apply",
    "jacobian",
    "group_blocks",
    "sort_formulas",
    "group_formulas",
    "householder_matrix",
]

#: Ids of the grouped catalog entries implemented here.
GROUPED = ("maxmin", "groupsort", "fullsort", "householder")
LAYOUTS = ("contiguous", "halves")


def _group_size(entry_id: str, n: int, group_size: int | None) -> int:
    if entry_id == "fullsort":
        if group_size not in (None, n):
            raise ValueError(f"fullsort sorts the whole vector: group_size must be {n}, got {group_size}")
        return n
    if entry_id in ("maxmin", "householder"):
        if group_size not in (None, 2):
            raise ValueError(f"{entry_id} acts on pairs: group_size must be 2, got {group_size}")
        return 2
    size = 2 if group_size is None else group_size
    if int(size) != size or size < 1:
        raise ValueError(f"groupsort: group_size must be a positive integer, got {group_size!r}")
    return int(size)


def _layout_index(n: int, G: int, layout: str) -> np.ndarray:
    """Feature index of (group, slot), shape (n // G, G)."""
    if layout not in LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}; layouts: {', '.join(LAYOUTS)}")
    if n % G:
        raise ValueError(f"the feature count {n} is not a multiple of the group size {G}")
    if layout == "contiguous":
        return np.arange(n).reshape(n // G, G)
    if G != 2:
        raise ValueError("the 'halves' layout pairs feature k with k + n/2 (group size 2 only)")
    return np.stack([np.arange(n // 2), np.arange(n // 2, n)], axis=1)


def householder_matrix(theta) -> np.ndarray:
    r"""The reflection :math:`I - 2vv^\top = [[\cos\theta, \sin\theta], [\sin\theta, -\cos\theta]]`."""
    c, s = np.cos(theta), np.sin(theta)
    return np.stack([np.stack([c, s], -1), np.stack([s, -c], -1)], -2)


def group_blocks(
    name: str,
    x,
    *,
    group_size: int | None = None,
    theta=None,
    layout: str = "contiguous",
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Outputs and Jacobian blocks per group.

    Returns ``(y, blocks, index)``: ``y`` like ``x``; ``blocks`` of shape ``x.shape[:-1] +
    (n // G, G, G)``, the Jacobian of each group; ``index`` (n // G, G) the features of each group.
    """
    entry = registry.get(name)
    if entry.id not in GROUPED:
        raise ValueError(f"no grouped evaluator for entry {entry.id!r} (grouped entries: {', '.join(GROUPED)})")
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim == 0:
        raise ValueError("grouped activations need a feature axis")
    n = arr.shape[-1]
    G = _group_size(entry.id, n, group_size)
    index = _layout_index(n, G, layout)
    z = arr[..., index]  # (..., n_groups, G)
    nan = np.isnan(z).any(axis=-1)
    eye = np.eye(G)
    if entry.id == "householder":
        th = entry.params["theta"].default if theta is None else theta
        th = np.broadcast_to(np.asarray(th, dtype=np.float64), z.shape[:-1])
        sel = z[..., 0] * np.sin(th / 2) - z[..., 1] * np.cos(th / 2)
        refl = householder_matrix(th)
        blocks = np.where((sel > 0)[..., None, None], refl, eye)
        out = np.einsum("...ij,...j->...i", blocks, z)
    else:
        descending = entry.id == "maxmin"
        order = np.argsort(-z if descending else z, axis=-1, kind="stable")
        out = np.take_along_axis(z, order, axis=-1)
        blocks = (order[..., :, None] == np.arange(G)).astype(np.float64)
    out = np.where(nan[..., None], np.nan, out)
    blocks = np.where(nan[..., None, None], np.nan, blocks)
    y = np.empty_like(arr)
    y[..., index] = out
    return y, blocks, index


def apply(name: str, x, *, group_size: int | None = None, theta=None, layout: str = "contiguous") -> np.ndarray:
    """Apply the grouped entry ``name`` along the last axis of ``x`` (float64).

    Parameters
    ----------
    name : str
        ``"maxmin"``, ``"groupsort"``, ``"fullsort"`` or ``"householder"`` (or an alias).
    x : array_like
        Features on the last axis (any batch shape); the count must be a multiple of ``G``.
    group_size : int, optional
        GroupSort's ``G`` (default 2); fixed for the others.
    theta : float or array_like, optional
        HH1's angle: a scalar or one per group (default: the entry's default, pi/2).
    layout : {"contiguous", "halves"}
        Which features form a group (module docstring).
    """
    return group_blocks(name, x, group_size=group_size, theta=theta, layout=layout)[0]


def jacobian(name: str, x, *, group_size: int | None = None, theta=None, layout: str = "contiguous") -> np.ndarray:
    """The dense Jacobian ``dy/dx`` of shape ``x.shape + (n,)`` (block diagonal up to the layout)."""
    arr = np.asarray(x, dtype=np.float64)
    _, blocks, index = group_blocks(name, arr, group_size=group_size, theta=theta, layout=layout)
    n = arr.shape[-1]
    jac = np.zeros(arr.shape + (n,))
    rows = index[:, :, None]
    cols = index[:, None, :]
    jac[..., rows, cols] = blocks
    return jac


def sort_formulas(G: int, *, descending: bool = False, names: Sequence[str] | None = None) -> tuple[list[sp.Symbol], list[sp.Expr]]:
    r"""The sorted group as lattice formulas: the r-th smallest is :math:`\min_{|S|=r}\max_{i\in S} x_i`.

    Returns the input symbols (``x1..xG`` unless ``names``) and the ``G`` outputs (ascending, or
    descending when ``descending``).
    """
    if G < 1:
        raise ValueError(f"group size must be >= 1, got {G}")
    xs = [make_symbol(n) for n in (names or [f"x{k + 1}" for k in range(G)])]
    outs = []
    for r in range(1, G + 1):
        subsets = itertools.combinations(xs, r)
        outs.append(sp.Min(*[sp.Max(*s) for s in subsets]))
    return xs, (outs[::-1] if descending else outs)


def group_formulas(name: str, G: int | None = None) -> tuple[list[sp.Symbol], list[sp.Expr]]:
    """Symbolic group map of a grouped entry for group size ``G`` (sorts: any G; else the entry's)."""
    entry = registry.get(name)
    if entry.id in ("groupsort", "fullsort") and G is not None:
        return sort_formulas(G)
    if entry.id == "maxmin" and G not in (None, 2):
        raise ValueError("maxmin acts on pairs")
    return [make_symbol(v) for v in entry.variables], list(entry.outputs)
