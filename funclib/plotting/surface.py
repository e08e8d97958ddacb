"""Functions of two variables (gates): surfaces and contour maps."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import sympy as sp

from .. import registry
from ..entry import Entry
from ..formula import make_symbol
from ..npeval import np_evaluate
from .figure import new_axes, style


# -- functions of two variables (gates) ---------------------------------------------------


@dataclass(frozen=True)
class SurfaceData:
    """Values of a scalar function of two variables on a square grid (``grid[..., k]`` is variable k)."""

    entry_id: str
    variables: tuple[str, str]
    grid: np.ndarray
    values: np.ndarray


def surface_data(
    target: str | Entry,
    *,
    params: Mapping[str, float] | None = None,
    extent: float = 4.0,
    resolution: int = 121,
) -> SurfaceData:
    """Evaluate a scalar entry of two variables (a gate ``f(a, b)``) on ``[-extent, extent]^2``.

    Raises
    ------
    TypeError
        If the entry does not have exactly two variables and one scalar formula.
    """
    entry = target if isinstance(target, Entry) else registry.get(target)
    if len(entry.variables) != 2 or not isinstance(entry.expr, sp.Expr):
        raise TypeError(f"entry {entry.id!r} is not a scalar function of two variables")
    if resolution < 3:
        raise ValueError(f"resolution must be >= 3, got {resolution}")
    expr = entry.numeric_expr(params=params)
    t = np.linspace(-extent, extent, int(resolution))
    u, v = np.meshgrid(t, t)
    a, b = (make_symbol(n) for n in entry.variables)
    values = np_evaluate(expr, {a: u, b: v})
    return SurfaceData(entry.id, tuple(entry.variables), np.stack([u, v], axis=-1), values)


def surface(
    target: str | Entry,
    *,
    params: Mapping[str, float] | None = None,
    extent: float = 4.0,
    resolution: int = 121,
):
    """Heat map with contour lines of a gate ``f(a, b)`` (e.g. GLU ``a·σ(b)``).

    Returns
    -------
    matplotlib.figure.Figure
        With ``fig.funclib_surface`` (:class:`SurfaceData`); the image has ``gid`` ``"surface"``.
    """
    data = surface_data(target, params=params, extent=extent, resolution=resolution)
    entry = target if isinstance(target, Entry) else registry.get(target)
    fig, (ax,) = new_axes(figsize=(5.2, 4.2))
    e = extent
    with style():
        im = ax.imshow(data.values, origin="lower", extent=(-e, e, -e, e), cmap="viridis", gid="surface",
                       aspect="equal")
        finite = data.values[np.isfinite(data.values)]
        if finite.size and finite.max() > finite.min():
            ax.contour(data.grid[..., 0], data.grid[..., 1], data.values, levels=9, colors="white",
                       linewidths=0.6, alpha=0.8)
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="f")
        ax.set_xlabel(data.variables[0])
        ax.set_ylabel(data.variables[1])
        ax.grid(False)
        ax.set_title(f"{entry.name}: f({', '.join(data.variables)})")
    fig.funclib_surface = data
    return fig
