r"""Plots of catalog functions: values, derivatives, proven slope bands, simplex maps, ULP errors.

Everything drawn here is computed from the catalog entry (or from a formula parsed by the
allow-list parser), never typed in:

* values in float64 with :func:`funclib.npeval.np_evaluate` of ``entry.numeric_expr(...)``;
* derivatives from ``entry.derivative(order, numeric=True)`` (stable symbolic forms);
* the slope band :math:`[\alpha, \beta] \supseteq [\inf f', \sup f']` from
  ``entry.properties()``, labelled with the method that proved it;
* zero crossings and extrema: strict sign changes of :math:`f` and :math:`f'` on a fine grid,
  each refined by bisection with :mod:`mpmath` at 30 digits (a sign change of :math:`f'` at a
  kink converges to the kink).

The functions return matplotlib objects and never call ``show``; they work under any backend,
including ``Agg``. :data:`STYLE` fixes fonts, sizes and colours, and :func:`save` writes files
whose bytes depend only on the picture (fixed SVG hash salt, no dates or versions in the
metadata).

Examples
--------
>>> import funclib.plotting as fp
>>> ax = fp.plot("gelu", second=True)                     # doctest: +SKIP
>>> fp.save(ax.figure, "gelu.svg")                        # doctest: +SKIP
>>> fig = fp.compare(["gelu", ("gelu", "tanh")], difference=True)   # doctest: +SKIP
>>> fig = fp.compare("silu", sweep={"beta": [0.5, 1, 2]})  # doctest: +SKIP
>>> fig = fp.simplex_map("softmax", n=3)                  # doctest: +SKIP

The package's parts: :mod:`.figure` (style, axes, saving), :mod:`.resolve` (what is plotted),
:mod:`.curves` (curve data, :func:`plot`, :func:`compare`), :mod:`.simplex`, :mod:`.surface`
and :mod:`.errors` (ULP errors against the mpmath reference).
"""

from __future__ import annotations

from ..accuracy import ulp_error
from .curves import CurveData, Feature, SlopeBand, compare, curve, plot
from .errors import ErrorData, accuracy_floor, error_data, error_plot, error_points
from .figure import COLORS, DEFAULT_RANGE, GRID_POINTS, PLOT_VERSION, STYLE, close, new_axes, save, style
from .resolve import resolve
from .simplex import SimplexData, simplex_data, simplex_map
from .surface import SurfaceData, surface, surface_data

__all__ = [
    "STYLE",
    "COLORS",
    "PLOT_VERSION",
    "DEFAULT_RANGE",
    "GRID_POINTS",
    "CurveData",
    "Feature",
    "SlopeBand",
    "SimplexData",
    "ErrorData",
    "resolve",
    "curve",
    "plot",
    "compare",
    "simplex_data",
    "simplex_map",
    "SurfaceData",
    "surface_data",
    "surface",
    "ulp_error",
    "error_data",
    "error_plot",
    "error_points",
    "accuracy_floor",
    "new_axes",
    "save",
    "close",
    "style",
]
