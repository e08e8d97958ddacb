"""Figure style, axes, limits and deterministic saving shared by every plot of :mod:`funclib.plotting`."""

from __future__ import annotations

import math
from collections.abc import Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Union

import numpy as np
import sympy as sp

from ..entry import Entry


#: Bump when the pictures change, so that cached images (the docs) are redrawn.
PLOT_VERSION = "1"

#: Colour cycle (colour-blind safe, Okabe–Ito); the first four have fixed roles in :func:`plot`.
COLORS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442")

#: Fixed rc parameters applied while drawing and saving (deterministic, backend-independent).
STYLE: dict[str, Any] = {
    "figure.figsize": (6.4, 4.0),
    "figure.dpi": 100,
    "savefig.dpi": 100,
    "font.family": "DejaVu Sans",
    "font.size": 9.5,
    "axes.titlesize": 10.5,
    "axes.labelsize": 9.5,
    "legend.fontsize": 8.5,
    "legend.framealpha": 0.9,
    "axes.grid": True,
    "grid.alpha": 0.25,
    "grid.linewidth": 0.6,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "lines.solid_capstyle": "round",
    "svg.hashsalt": "funclib",
    "svg.fonttype": "path",
    "path.simplify": True,
    "image.interpolation": "nearest",
    "axes.prop_cycle": "cycler('color', [" + ", ".join(repr(c) for c in COLORS) + "])",
}

#: Default x-range for functions on the real line.
DEFAULT_RANGE = (-5.0, 5.0)
GRID_POINTS = 1201

Target = Union[str, Entry, sp.Expr]


@contextmanager
def style():
    """Context manager applying :data:`STYLE` (used by every function of this module)."""
    import matplotlib

    with matplotlib.rc_context(STYLE):
        yield


def new_axes(nrows: int = 1, *, height_ratios: Sequence[float] | None = None, figsize=None, ncols: int = 1):
    import matplotlib.pyplot as plt

    with style():
        fig = plt.figure(figsize=figsize or STYLE["figure.figsize"], layout="constrained")
        kw = {"height_ratios": height_ratios} if height_ratios else {}
        grid = fig.add_gridspec(nrows, ncols, **kw)
        axes = [fig.add_subplot(grid[r, c]) for r in range(nrows) for c in range(ncols)]
    return fig, axes


def robust_ylim(ax, arrays: Sequence[np.ndarray], extra: Sequence[float] = ()) -> None:
    finite = np.concatenate([a[np.isfinite(a)] for a in arrays] + [np.asarray([v for v in extra if math.isfinite(v)])])
    if finite.size == 0:
        return
    lo, hi = float(finite.min()), float(finite.max())
    pad = 0.06 * (hi - lo) if hi > lo else 0.5
    ax.set_ylim(lo - pad, hi + pad)


# -- saving ---------------------------------------------------------------------------------

_METADATA = {
    "png": {"Software": None},
    "svg": {"Date": None, "Creator": None},
    "pdf": {"CreationDate": None, "ModDate": None, "Creator": None, "Producer": None},
}


def save(fig, path: str | Path, *, dpi: int | None = None) -> Path:
    """Write ``fig`` to ``path`` (``.png``, ``.svg`` or ``.pdf``) deterministically.

    The same figure gives the same bytes on every run: the SVG hash salt is fixed and the
    metadata carries no date, creator or library version.

    Raises
    ------
    ValueError
        For another file extension.
    """
    path = Path(path)
    fmt = path.suffix.lower().lstrip(".")
    if fmt not in _METADATA:
        raise ValueError(f"cannot write {path.name!r}: use a .png, .svg or .pdf file name")
    with style():
        fig.savefig(path, format=fmt, metadata=_METADATA[fmt], dpi=dpi or STYLE["savefig.dpi"], bbox_inches="tight",
                    pad_inches=0.08)
    return path


def close(fig) -> None:
    """Release a figure made by this module (pyplot keeps a reference until closed)."""
    import matplotlib.pyplot as plt

    plt.close(fig)
