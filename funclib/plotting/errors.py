"""ULP errors of an implementation against the mpmath reference: data and plots."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ..npeval import np_evaluate
from ..ranges import Range
from .. import accuracy
from ..accuracy import ulp_error
from .figure import COLORS, Target, new_axes, style
from .resolve import Resolved, require_elementwise, resolve


# -- ULP errors -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ErrorData:
    """Per-point ULP errors of an implementation against the correctly rounded reference."""

    label: str
    implementation: str
    dtype: str
    order: int
    x: np.ndarray
    values: np.ndarray
    reference: np.ndarray
    ulp: np.ndarray
    tolerance: np.ndarray | None = None  # funclib.accuracy's B*max(1, kappa) where available

    @property
    def max_ulp(self) -> float:
        return float(np.max(self.ulp))

    @property
    def p99_ulp(self) -> float:
        return float(np.percentile(self.ulp, 99))


def error_points(domain: Range = Range.real_line(), count: int = 200, largest: float = 700.0) -> np.ndarray:
    """Points spread over linear and logarithmic scales: ±[1e-8, ``largest``] and [-4, 4], in the domain."""
    half = max(count // 4, 4)
    logs = np.logspace(-8, math.log10(largest), half)
    pts = np.concatenate([-logs, logs, np.linspace(-4, 4, 2 * half), [0.0]])
    pts = np.unique(pts)
    return np.asarray([p for p in pts if p in domain], dtype=np.float64)


def _implementation(res: Resolved, implementation, dtype: str, order: int) -> tuple[str, Callable]:
    entry = res.entry
    if callable(implementation):
        return getattr(implementation, "__name__", "callable"), implementation
    if implementation in ("auto", "kernel"):
        kernel_factory = getattr(entry, "kernel", None)
        if kernel_factory is not None:
            kernel = kernel_factory(dtype=dtype, outputs=("value", "derivative"),
                                    **({"params": res.params} if res.params else {}))

            def run(x):
                out = kernel(np.asarray(x, dtype=dtype))
                return out[order] if isinstance(out, tuple) else out

            return f"funclib kernel ({dtype})", run
        if implementation == "kernel":
            raise RuntimeError("funclib kernels are not available (entry.kernel is missing in this installation)")
    if implementation in ("auto", "numpy"):
        if order > 2:
            raise ValueError("the NumPy evaluator path draws orders 0..2")
        expr = entry.numeric_expr(res.variant) if order == 0 else entry.derivative(order, variant=res.variant, numeric=True)

        def run(x):
            return np_evaluate(expr, {entry.symbol: np.asarray(x, dtype=np.float64)}).astype(dtype)

        return "NumPy formula evaluation (npeval)", run
    raise ValueError(f"implementation must be 'auto', 'kernel', 'numpy' or a callable, got {implementation!r}")


def error_data(
    target: Target,
    *,
    dtype: str = "float64",
    order: int = 0,
    implementation: str | Callable = "auto",
    params: Mapping[str, float] | None = None,
    variant: str | None = None,
    x: Sequence[float] | None = None,
) -> ErrorData:
    """ULP errors of an implementation of f (``order=0``) or f′ (``order=1``) at ``x``.

    ``implementation``: ``"kernel"`` (``entry.kernel(dtype=..., outputs=("value",
    "derivative"))`` of :mod:`funclib.kernels`), ``"numpy"`` (the float64 NumPy evaluation of
    the formula, :func:`funclib.npeval.np_evaluate`), ``"auto"`` (kernel when available) or a
    callable ``x -> y``. The reference is the correctly rounded float64 value
    (``entry.reference``); errors are measured in ULPs of ``dtype``.
    """
    res = resolve(target, params, variant)
    require_elementwise(res)
    if order not in (0, 1, 2):
        raise ValueError(f"order must be 0, 1 or 2, got {order}")
    pts = np.asarray(x, dtype=np.float64) if x is not None else error_points(res.entry.domain)
    pts = pts.astype(dtype).astype(np.float64)  # inputs exactly representable in dtype
    name, run = _implementation(res, implementation, dtype, order)
    values = np.asarray(run(pts.astype(dtype)), dtype=np.float64)
    reference = res.entry.reference(pts, variant=res.variant, order=order)
    errors = ulp_error(values, reference, str(np.dtype(dtype)))
    sym = res.entry.symbol
    exprs = [res.entry.numeric_expr(res.variant) if order == 0 else
             res.entry.derivative(order, variant=res.variant, numeric=True),
             res.entry.derivative(order + 1, variant=res.variant, numeric=True)]
    f, fprime = (np_evaluate(e, {sym: pts}) for e in exprs)
    kappa = accuracy.condition_number(f, fprime, pts)
    tolerance = accuracy.TARGET_ULP[str(np.dtype(dtype))] * np.maximum(1.0, kappa)
    return ErrorData(res.label, name, str(np.dtype(dtype)), order, pts, values, reference, errors, tolerance)


def accuracy_floor(data: ErrorData) -> float:
    """The smallest tolerance drawn (B ULP where the function is well conditioned)."""
    return float(np.nanmin(data.tolerance)) if data.tolerance is not None else 0.0


def error_plot(
    target: Target,
    *,
    dtype: str = "float64",
    order: int = 0,
    implementation: str | Callable = "auto",
    params: Mapping[str, float] | None = None,
    variant: str | None = None,
    x: Sequence[float] | None = None,
    ax=None,
):
    """Plot ULP error against x (symmetric-log x axis); see :func:`error_data`.

    Returns
    -------
    matplotlib.axes.Axes
        With ``ax.funclib_errors`` (:class:`ErrorData`); the points carry ``gid`` ``"ulp"``.
    """
    data = error_data(target, dtype=dtype, order=order, implementation=implementation, params=params,
                      variant=variant, x=x)
    if ax is None:
        _, (ax,) = new_axes()
    with style():
        finite = np.isfinite(data.ulp)
        shown = np.where(finite, data.ulp, np.nan)
        ax.plot(data.x, shown, ls="none", marker=".", ms=3, color=COLORS[0], gid="ulp",
                label=f"max {data.max_ulp:.3g} ULP, 99th percentile {data.p99_ulp:.3g}")
        if data.tolerance is not None:
            order_x = np.argsort(data.x)
            ax.plot(data.x[order_x], data.tolerance[order_x], color=COLORS[2], lw=1.0, gid="tolerance",
                    label="tolerance B·max(1, κ) (funclib.accuracy)")
            top = np.nanmax(np.where(finite, data.ulp, np.nan)) if finite.any() else 1.0
            if top <= 50:
                ax.set_ylim(-0.05 * max(top, 1.0), 1.15 * max(top, 1.0, accuracy_floor(data)))
        if not finite.all():
            bad = data.x[~finite]
            ax.plot(bad, np.zeros_like(bad), ls="none", marker="x", color=COLORS[1], gid="ulp_nonfinite",
                    label=f"{bad.size} points NaN/inf where the reference is finite")
        if finite.any() and np.nanmax(np.where(finite, data.ulp, np.nan)) > 50:
            ax.set_yscale("symlog", linthresh=1.0)  # errors spanning orders of magnitude
        ax.set_xscale("symlog", linthresh=1e-8, linscale=0.5)
        ticks = [t for t in (-1e2, -1.0, -1e-4, 0.0, 1e-4, 1.0, 1e2) if data.x.min() <= t <= data.x.max()]
        ax.set_xticks(ticks, [_tick(t) for t in ticks])
        ax.minorticks_off()
        ax.set_xlabel("x")
        ax.set_ylabel(f"error in {data.dtype} ULPs")
        what = "f" if order == 0 else "f′" if order == 1 else "f″"
        ax.set_title(f"{data.label}: {what}, {data.implementation}")
        ax.legend(loc="best")
    ax.funclib_errors = data
    return ax


def _tick(t: float) -> str:
    if t == 0:
        return "0"
    exp = int(round(math.log10(abs(t))))
    return ("−" if t < 0 else "") + ("1" if exp == 0 else f"10$^{{{exp}}}$")
