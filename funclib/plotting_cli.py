"""``funclib plot``: draw a catalog function or a formula to a PNG, SVG or PDF file.

Registered in :data:`funclib.cli.COMMAND_MODULES`. matplotlib is imported only when a plot is
drawn, so the rest of the command line works without it.

Usage::

    funclib plot gelu -o gelu.png                      # f, zero crossings and extrema
    funclib plot gelu --derivative -o gelu.svg         # + f' and the proven slope band
    funclib plot silu --param beta=2 --derivative --second -o silu.pdf
    funclib plot gelu --variant tanh --vs gelu -o diff.png   # comparison with difference panel
    funclib plot "x*tanh(softplus(x))" --derivative -o mish.png
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from pathlib import Path

__all__ = ["add_commands", "cmd_plot", "tour", "FORMATS"]

FORMATS = (".png", ".svg", ".pdf")


def _require_matplotlib():
    try:
        import matplotlib
    except ModuleNotFoundError:
        from .cli import UsageError

        raise UsageError("funclib plot needs matplotlib: python -m pip install matplotlib") from None
    if "MPLBACKEND" not in os.environ and "matplotlib.pyplot" not in sys.modules:
        matplotlib.use("Agg")  # a command line tool writes files; never open a window
    from . import plotting

    return plotting


def _x_range(text: str | None) -> tuple[float, float] | None:
    from .cli import UsageError

    if text is None:
        return None
    parts = text.split(",")
    try:
        lo, hi = (float(p) for p in parts)
    except ValueError:
        raise UsageError(f"--x-range expects LO,HI (two numbers), got {text!r}") from None
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise UsageError(f"--x-range needs finite LO < HI, got {text!r}")
    return lo, hi


def _json_value(v: float) -> float | str:
    return v if math.isfinite(v) else ("inf" if v > 0 else "-inf")


def cmd_plot(args: argparse.Namespace) -> int:
    """Draw ``args.target`` and write ``args.output``; print the file and what it shows."""
    from .cli import UsageError, parse_params

    out = Path(args.output)
    if out.suffix.lower() not in FORMATS:
        raise UsageError(f"-o {args.output}: the file name must end in .png, .svg or .pdf")
    if not out.parent.exists():
        raise UsageError(f"-o {args.output}: folder {str(out.parent)!r} does not exist")
    params = parse_params(args.params)
    plotting = _require_matplotlib()
    x_range = _x_range(args.x_range)
    if args.vs:
        curves = [(args.target, args.variant, params)] + [(name, None, params) for name in args.vs]
        fig = plotting.compare(curves, derivative=args.derivative, difference=True, x_range=x_range)
        summary = {"file": str(out), "curves": [c.label for c in fig.funclib_curves]}
    else:
        ax = plotting.plot(
            args.target, derivative=args.derivative or args.second, second=args.second,
            slope_band=not args.no_band, params=params, variant=args.variant, x_range=x_range,
        )
        fig = ax.figure
        data = ax.funclib_curve
        summary = {
            "file": str(out),
            "function": data.label,
            "x_range": [float(data.x[0]), float(data.x[-1])],
            "zeros": data.zeros,
            "extrema": [{"kind": f.kind, "x": f.x, "y": f.y} for f in data.extrema],
        }
        if data.slope_band is not None:
            band = data.slope_band
            summary["slope_bounds"] = {"value": [_json_value(band.low), _json_value(band.high)], "method": band.method}
    plotting.save(fig, out)
    plotting.close(fig)
    if args.json:
        print(json.dumps(summary, indent=1))
    else:
        print(f"wrote {out}")
        if "function" in summary:
            print(f"  {summary['function']} on [{summary['x_range'][0]:g}, {summary['x_range'][1]:g}]")
            for z in summary["zeros"]:
                print(f"  zero crossing at x = {z:.12g}")
            for e in summary["extrema"]:
                print(f"  local {e['kind']} at x = {e['x']:.12g}, f = {e['y']:.12g}")
            if "slope_bounds" in summary:
                print(f"  proven slope band: {data.slope_band.label}")
        else:
            print("  " + " vs ".join(summary["curves"]) + " (with their difference)")
    return 0


def add_commands(add) -> None:
    """Register ``plot`` with the ``funclib`` parser (``add`` from :func:`funclib.cli.build_parser`)."""
    p = add("plot", cmd_plot, "plot a catalog function or a formula (value, derivative, proven slope band) to a file")
    p.add_argument("target", metavar="NAME_OR_FORMULA")
    p.add_argument("-o", "--output", required=True, metavar="FILE", help="output file: .png, .svg or .pdf")
    p.add_argument("--derivative", action="store_true", help="draw f' and the proven slope band [alpha, beta]")
    p.add_argument("--second", action="store_true", help="draw f'' too (implies --derivative)")
    p.add_argument("--no-band", action="store_true", help="do not draw the proven slope band")
    p.add_argument("--param", dest="params", action="append", metavar="NAME=VALUE")
    p.add_argument("--variant", help="a named variant of the entry (e.g. tanh for gelu)")
    p.add_argument("--x-range", metavar="LO,HI", help="x window (default -5,5 within the domain)")
    p.add_argument("--vs", action="append", metavar="NAME_OR_FORMULA",
                   help="compare with another function (repeatable); adds a difference panel")


def tour() -> None:
    """Tour step: plot GELU with its derivative and proven slope band to ./funclib-tour-gelu.png."""
    try:
        plotting = _require_matplotlib()
    except Exception as exc:
        print(f"plot: skipped ({exc})")
        return
    path = Path.cwd() / "funclib-tour-gelu.png"
    print("plot: GELU, its derivative, the proven slope band, zero crossings and extrema ...", flush=True)
    ax = plotting.plot("gelu", derivative=True, slope_band=True)
    plotting.save(ax.figure, path)
    data = ax.funclib_curve
    plotting.close(ax.figure)
    minimum = data.extrema[0]
    print(f"  wrote {path}")
    print(f"  local minimum at x = {minimum.x:.10f} (f = {minimum.y:.10f}), refined at 30 digits;"
          f" {data.slope_band.label}")
