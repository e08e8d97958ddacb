"""Row-wise maps on the probability simplex (n = 3): values over the triangle."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from .. import calculus, registry
from ..entry import Entry
from ..npeval import np_evaluate
from .figure import COLORS, new_axes, style


# -- row-wise maps on simplices ------------------------------------------------------------


@dataclass(frozen=True)
class SimplexData:
    """Outputs of a row-wise map on a grid of rows of length 2 or 3.

    For ``n = 2`` the grid is the square ``inputs[..., 0], inputs[..., 1]``; for ``n = 3`` it
    is the plane :math:`x_0 + x_1 + x_2 = 0` with coordinates ``plane`` (u, v) and rows
    ``x = u a + v b`` for the orthonormal ``a = (1, -1, 0)/\\sqrt 2``, ``b = (1, 1, -2)/\\sqrt 6``.
    ``outputs[..., i]`` is component i. ``probability`` is True when every output row is a
    probability vector (non-negative, summing to 1 within 1e-9).
    """

    entry_id: str
    n: int
    extent: float
    plane: np.ndarray
    inputs: np.ndarray
    outputs: np.ndarray
    probability: bool


_PLANE = np.array([[1.0, -1.0, 0.0], [1.0, 1.0, -2.0]]) / np.array([[math.sqrt(2.0)], [math.sqrt(6.0)]])


def simplex_data(
    target: str | Entry,
    n: int = 3,
    *,
    params: Mapping[str, float] | None = None,
    extent: float = 4.0,
    resolution: int = 121,
) -> SimplexData:
    """Evaluate a row-wise entry on a grid of rows of length ``n`` (2 or 3) in float64.

    The formula is expanded for the concrete length with
    :func:`funclib.calculus.expand_rowwise` and each output is evaluated by
    :func:`funclib.npeval.np_evaluate`.

    Raises
    ------
    TypeError
        If the entry is not row-wise.
    funclib.npeval.NpEvalError
        If the NumPy evaluator cannot evaluate the expanded formula.
    """
    entry = target if isinstance(target, Entry) else registry.get(target)
    if entry.kind != "rowwise":
        raise TypeError(f"entry {entry.id!r} is {entry.kind}; simplex maps are for row-wise entries")
    if n not in (2, 3):
        raise ValueError(f"simplex maps take rows of length 2 or 3, got n={n!r}")
    if resolution < 3:
        raise ValueError(f"resolution must be >= 3, got {resolution}")
    xs, ys = calculus.expand_rowwise(entry.numeric_expr(params=params), n)
    t = np.linspace(-extent, extent, int(resolution))
    u, v = np.meshgrid(t, t)
    plane = np.stack([u, v], axis=-1)
    inputs = plane if n == 2 else plane @ _PLANE
    env = {xs[k]: inputs[..., k] for k in range(n)}
    outputs = np.stack([np_evaluate(y, env) for y in ys], axis=-1)
    finite = np.isfinite(outputs).all()
    probability = bool(finite and (outputs >= -1e-12).all() and np.allclose(outputs.sum(-1), 1.0, atol=1e-9, rtol=0))
    return SimplexData(entry.id, n, float(extent), plane, inputs, outputs, probability)


def _triangle(p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Barycentric (p0, p1, p2) → plane coordinates of the equilateral triangle."""
    corners = np.array([[0.0, 0.0], [1.0, 0.0], [0.5, math.sqrt(3.0) / 2]])
    xy = p @ corners
    return xy[..., 0], xy[..., 1]


def simplex_map(
    target: str | Entry,
    n: int = 3,
    *,
    params: Mapping[str, float] | None = None,
    extent: float = 4.0,
    resolution: int = 121,
):
    r"""Picture a row-wise map (softmax, sparsemax, ...) on rows of length 2 or 3.

    ``n = 2``: heat map of :math:`y_0(x_0, x_1)` over the square :math:`[-e, e]^2` (left)
    and :math:`y_0` along the diagonal direction :math:`x_0 - x_1` (right).

    ``n = 3``: inputs on the plane :math:`x_0+x_1+x_2 = 0` (every row is a shift of one
    there, for the shift-invariant maps); left, each input coloured by its output, read as
    RGB when the outputs are probability vectors (otherwise :math:`y_0` as a heat map);
    right, where the grid lands on the 2-simplex (sparse maps reach its faces and corners,
    softmax stays inside).

    Returns
    -------
    matplotlib.figure.Figure
        With ``fig.funclib_simplex`` (:class:`SimplexData`); images carry ``gid``
        ``"simplex_input"``, the landing points ``"simplex_image"``.
    """
    data = simplex_data(target, n, params=params, extent=extent, resolution=resolution)
    entry = target if isinstance(target, Entry) else registry.get(target)
    fig, (left, right) = new_axes(1, ncols=2, figsize=(7.6, 3.6))
    e = data.extent
    with style():
        if n == 2:
            im = left.imshow(data.outputs[..., 0], origin="lower", extent=(-e, e, -e, e), cmap="viridis",
                             gid="simplex_input", aspect="equal")
            fig.colorbar(im, ax=left, fraction=0.046, pad=0.04, label="y₀")
            left.set_xlabel("x₀")
            left.set_ylabel("x₁")
            left.grid(False)
            diag = np.argmin(np.abs(data.plane[..., 1] + data.plane[..., 0]), axis=0)  # x1 = -x0
            cols = np.arange(data.plane.shape[1])
            d = data.plane[diag, cols, 0] - data.plane[diag, cols, 1]
            for k in range(2):
                right.plot(d, data.outputs[diag, cols, k], color=COLORS[k], lw=1.8, label=f"y{k}", gid=f"simplex_image:{k}")
            right.set_xlabel("x₀ − x₁ (on x₀ + x₁ = 0)")
            right.legend(loc="best")
        else:
            if data.probability:
                rgb = np.clip(data.outputs, 0.0, 1.0)
                left.imshow(rgb, origin="lower", extent=(-e, e, -e, e), gid="simplex_input", aspect="equal")
                left.set_title("colour = (y₀, y₁, y₂) as RGB", fontsize=9)
                px, py = _triangle(data.outputs.reshape(-1, 3))
                right.scatter(px, py, s=2, c=rgb.reshape(-1, 3), linewidths=0, gid="simplex_image", rasterized=True)
                tri = np.array([[0, 0], [1, 0], [0.5, math.sqrt(3) / 2], [0, 0]])
                right.plot(tri[:, 0], tri[:, 1], color="0.3", lw=0.8)
                for (cx, cy), name in zip(tri[:3], ("e₀", "e₁", "e₂")):
                    right.annotate(name, (cx, cy), textcoords="offset points", xytext=(0, -10 if cy == 0 else 4),
                                   ha="center", fontsize=8)
                right.set_aspect("equal")
                right.set_xlim(-0.08, 1.08)
                right.set_ylim(-0.12, 0.95)
                right.set_axis_off()
                right.set_title("outputs on the 2-simplex", fontsize=9)
            else:
                im = left.imshow(data.outputs[..., 0], origin="lower", extent=(-e, e, -e, e), cmap="viridis",
                                 gid="simplex_input", aspect="equal")
                fig.colorbar(im, ax=left, fraction=0.046, pad=0.04, label="y₀")
                right.hist(data.outputs[..., 0].ravel(), bins=40, color=COLORS[0], gid="simplex_image")
                right.set_xlabel("y₀ over the grid")
            left.set_xlabel("u  (x = u·(1,−1,0)/√2 + v·(1,1,−2)/√6)")
            left.set_ylabel("v")
            left.grid(False)
        fig.suptitle(f"{entry.name} on rows of length {n}")
    fig.funclib_simplex = data
    return fig
