"""The compiled kernel object: ``k(x, out=None, upstream=None, **params)``.

Calls run the generated module's loops on 1-D views: any C- or F-contiguous array of any
shape is flattened without a copy, a 1-D strided array is used as is (Numba compiles a
strided specialization on first use), and other layouts are copied to a contiguous buffer.
Arrays of at least :data:`PARALLEL_THRESHOLD` elements use the ``prange`` loops. Elementwise
outputs are bit-identical either way (the same code computes each element); the parameter
gradients use the same fixed blocks in both, so they are bit-identical too.
"""

from __future__ import annotations

import math

import threading
from collections.abc import Callable, Mapping
from types import ModuleType
from typing import Any

import numba
import numpy as np

from . import buffers
from .printer import KernelError
from .reduce import tree_sum

__all__ = ["Kernel", "PARALLEL_THRESHOLD"]

#: Arrays with at least this many elements run multi-threaded (when Numba has > 1 thread).
PARALLEL_THRESHOLD = 1 << 16

# Numba's fallback "workqueue" threading layer must not be entered by two threads at once.
_PARALLEL_LOCK = threading.Lock()


#: float32 values at or beyond this magnitude round to ±inf (2^128 - 2^103, half an ULP past FLT_MAX).
_F32_OVERFLOW = 2.0**128 - 2.0**103


def param_values(kernel, given: Mapping[str, Any]) -> tuple:
    """The runtime parameter values of a call, in the kernel's order: ``given`` overrides the
    defaults, each value range-checked and converted to the kernel's dtype (CPU and CUDA).
    Called on every kernel call, so it stays cheap (no sets, no ``np.errstate``)."""
    for name in given:
        if name not in kernel.params:
            raise KernelError(
                f"kernel {kernel.name!r} has no parameter {sorted(set(given) - set(kernel.params))[0]!r} "
                f"(parameters: {', '.join(kernel.params) or 'none'})"
            )
    values = []
    for name in kernel.params:
        v = given.get(name, kernel.defaults.get(name))
        if v is None:
            raise KernelError(f"kernel {kernel.name!r}: parameter {name!r} has no default; pass {name}=...")
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, np.integer, np.floating)):
            raise KernelError(f"kernel {kernel.name!r}: parameter {name!r} must be a real number, got {v!r}")
        v = float(v)
        if kernel._check is not None:
            v = kernel._check(name, v)
        if kernel.np_dtype.itemsize == 4 and _F32_OVERFLOW <= abs(v) < math.inf:
            raise KernelError(f"kernel {kernel.name!r}: parameter {name}={v!r} overflows {kernel.dtype} "
                              f"(largest finite {np.finfo(kernel.np_dtype).max:.4g}); use a float64 kernel")
        values.append(kernel._scalar(v))
    return tuple(values)


def checked_input(x: Any, np_dtype: np.dtype, name: str) -> np.ndarray:
    """``x`` as an array of the kernel's dtype, refusing what a cast would change silently:
    complex, boolean, string or object inputs, and finite values that overflow the dtype."""
    xa = np.asarray(x)
    if xa.dtype == np_dtype:
        return xa
    kind = xa.dtype.kind
    if kind not in "iuf":
        what = {"c": "complex", "b": "boolean", "O": "object", "U": "string", "S": "bytes"}.get(kind, str(xa.dtype))
        raise KernelError(f"kernel {name!r}: input of dtype {xa.dtype} ({what}) is not real numbers; "
                          f"pass a real array (the kernel computes in {np.dtype(np_dtype).name})")
    with np.errstate(over="ignore"):
        cast = xa.astype(np_dtype)
    if kind == "f" and xa.dtype.itemsize > np.dtype(np_dtype).itemsize:
        overflow = np.isinf(cast) & np.isfinite(xa)
        if overflow.any():
            bad = xa[overflow].reshape(-1)[0]
            raise KernelError(f"kernel {name!r}: input {bad!r} overflows {np.dtype(np_dtype).name} "
                              f"(largest finite {np.finfo(np_dtype).max:.4g}); use a float64 kernel")
    return cast


class Kernel:
    """A compiled elementwise kernel (see :func:`funclib.kernels.compile`).

    Attributes
    ----------
    name, variant, dtype, accuracy : str
    outputs : tuple of str
        What a call returns, in order (``value``, ``derivative``, ``grad_params``).
    params : tuple of str
        Runtime parameters (keyword arguments of a call) with defaults ``defaults``.
    wrt : tuple of str
        The parameters ``grad_params`` differentiates, in its order.
    path : str
        The generated module (``source`` holds its text).
    expressions : dict
        The stabilized formula of every output, as printed into the module.
    """

    def __init__(
        self,
        module: ModuleType,
        *,
        defaults: Mapping[str, float | None] | None = None,
        check: Callable[[str, float], float] | None = None,
        generated: bool = False,
    ):
        self.module = module
        self.key: str = module.KEY
        self.name: str = module.NAME
        self.variant: str | None = module.VARIANT
        self.dtype: str = module.DTYPE
        self.np_dtype = np.dtype(module.DTYPE)
        self._scalar = self.np_dtype.type
        self.accuracy: str = module.ACCURACY
        self.outputs: tuple[str, ...] = tuple(module.OUTPUTS)
        self.element_outputs: tuple[str, ...] = tuple(module.ELEMENT_OUTPUTS)
        self.params: tuple[str, ...] = tuple(module.PARAMS)
        self.wrt: tuple[str, ...] = tuple(module.WRT)
        self.expressions: dict[str, str] = dict(module.EXPRESSIONS)
        self.limits = list(module.LIMITS)
        self.path: str = module.__file__
        self.generated = generated
        base = dict(zip(module.PARAMS, module.DEFAULTS))
        if defaults:
            base.update(defaults)
        self.defaults: dict[str, float | None] = base
        self._check = check

    def __repr__(self) -> str:
        return (
            f"<funclib kernel {self.name}{'[' + self.variant + ']' if self.variant else ''} "
            f"{self.dtype} {'+'.join(self.outputs)} ({self.accuracy})>"
        )

    @property
    def source(self) -> str:
        """The generated module's text."""
        with open(self.path, encoding="utf-8") as fh:
            return fh.read()

    @property
    def point(self):
        """The scalar Numba function ``point(x, *params) -> tuple`` (value, derivative, ∂f/∂θ...)."""
        return self.module.point

    # -- parameters ---------------------------------------------------------------------
    def _param_values(self, given: Mapping[str, Any]) -> tuple:
        return param_values(self, given)

    # -- calling ------------------------------------------------------------------------
    def __call__(self, x, out=None, upstream=None, **params):
        """Evaluate the outputs at ``x`` (any shape).

        Parameters
        ----------
        x : array_like
            Inputs; converted to the kernel's dtype.
        out : ndarray or tuple of ndarray, optional
            Where to write the outputs (one per entry of ``outputs``; the ``grad_params``
            slot is an array of shape ``(len(wrt),)``).
        upstream : array_like, optional
            The gradient :math:`g` flowing into the output, for ``grad_params``
            :math:`= \\sum_i g_i\\, \\partial f/\\partial\\theta(x_i)` (default: ones).
        **params : float
            Parameter values for this call (defaults otherwise).

        Returns
        -------
        ndarray or tuple
            One array per output (a tuple when there are several).
        """
        pvals = self._param_values(params)
        xa = checked_input(x, self.np_dtype, self.name)
        if out is not None:
            xa = self._unaliased(xa, out)
        scalar_input = xa.ndim == 0
        if scalar_input:
            xa = xa.reshape(1)
        mode = _mode(xa)
        outs = self._outs(out, xa, mode)
        flat_x = _flat(xa, mode)
        views = [_flat_out(arr, mode, self.np_dtype) for arr in outs]
        n = flat_x.shape[0]
        parallel = n >= PARALLEL_THRESHOLD and numba.get_num_threads() > 1
        ys = [v for v, _ in views]
        if "grad_params" in self.outputs:
            if upstream is None:
                flat_g = np.ones(n, self.np_dtype)
            else:
                g = np.broadcast_to(np.asarray(upstream, dtype=self.np_dtype), xa.shape)
                flat_g = g if mode == "1d" else _flat(np.asarray(g, order=mode), mode)
            block = self.module.GRAD_BLOCK
            part = np.empty(((n + block - 1) // block, len(self.wrt)), self.np_dtype)
            if parallel:
                with _PARALLEL_LOCK:
                    self.module.run_grad_parallel(flat_x, flat_g, *ys, part, *pvals)
            else:
                self.module.run_grad(flat_x, flat_g, *ys, part, *pvals)
            grad = tree_sum(part)
        else:
            grad = None
            self._run_loops(flat_x, ys, pvals)
        for view, target in views:
            if target is not None:
                target[...] = view.reshape(target.shape, order=mode)
        results = []
        k = 0
        for name in self.outputs:
            if name == "grad_params":
                if out is not None and _out_list(out, len(self.outputs))[self.outputs.index(name)] is not None:
                    dest = _out_list(out, len(self.outputs))[self.outputs.index(name)]
                    dest[...] = grad
                    results.append(dest)
                else:
                    results.append(grad)
            else:
                arr = outs[k]
                k += 1
                results.append(arr[0] if scalar_input else arr)
        return results[0] if len(results) == 1 else tuple(results)

    def run_flat(self, x: np.ndarray, outs: tuple[np.ndarray, ...], params: Mapping[str, float]) -> None:
        """The element outputs at ``x`` into ``outs``, for callers that own their buffers (the
        PyTorch adapter): ``x`` and every ``out`` 1-D, C-contiguous, of the kernel's dtype and
        length, not overlapping ``x``; the parameters are range-checked as in a call. Skips the
        conversions of :meth:`__call__` (about 5 µs a call)."""
        if x.ndim != 1 or x.dtype != self.np_dtype or len(outs) != len(self.element_outputs) or any(
                o.shape != x.shape or o.dtype != self.np_dtype for o in outs):
            raise KernelError(f"kernel {self.name!r}: run_flat takes 1-D {self.dtype} arrays of one length, "
                              f"one per element output ({', '.join(self.element_outputs)})")
        if "grad_params" in self.outputs:
            raise KernelError(f"kernel {self.name!r}: run_flat has no grad_params output; call the kernel")
        self._run_loops(x, outs, param_values(self, params))

    def _run_loops(self, x: np.ndarray, ys, pvals: tuple) -> None:
        """The generated element loop on 1-D arrays: ``prange`` from :data:`PARALLEL_THRESHOLD`
        elements on (when Numba has > 1 thread), serial below, nothing for no elements."""
        if x.shape[0] >= PARALLEL_THRESHOLD and numba.get_num_threads() > 1:
            with _PARALLEL_LOCK:
                self.module.run_parallel(x, *ys, *pvals)
        elif x.shape[0]:
            self.module.run(x, *ys, *pvals)

    def _unaliased(self, xa: np.ndarray, out) -> np.ndarray:
        """The input, copied when an ``out`` array overlaps it (a shifted view would be
        overwritten before it is read); one array given for two outputs is an error."""
        given = [a for a in _out_list(out, len(self.outputs)) if isinstance(a, np.ndarray)]
        for i, a in enumerate(given):
            for b in given[i + 1:]:
                if np.may_share_memory(a, b):
                    raise KernelError(f"kernel {self.name!r}: two outputs were given overlapping out arrays; "
                                      "each output needs its own array")
        if any(np.may_share_memory(a, xa) for a in given):
            return xa.copy()
        return xa

    def _outs(self, out, xa: np.ndarray, mode: str) -> list[np.ndarray]:
        given = _out_list(out, len(self.outputs)) if out is not None else [None] * len(self.outputs)
        arrays = []
        for name, arr in zip(self.outputs, given):
            if name == "grad_params":
                if arr is not None and (arr.shape != (len(self.wrt),) or arr.dtype != self.np_dtype):
                    raise KernelError(f"out for grad_params must be a {self.dtype} array of shape ({len(self.wrt)},)")
                continue
            if arr is None:
                arr = buffers.empty(xa.shape, self.np_dtype, order="F" if mode == "F" else "C")
            elif not isinstance(arr, np.ndarray) or arr.shape != xa.shape or arr.dtype != self.np_dtype:
                raise KernelError(f"out for {name} must be a {self.dtype} array of shape {xa.shape}")
            arrays.append(arr)
        return arrays

    # -- inspection ---------------------------------------------------------------------
    def compile(self, parallel: bool = True) -> None:
        """Compile the contiguous 1-D loops now (otherwise the first call does)."""
        x = np.zeros(4, self.np_dtype)
        ys = [np.empty(4, self.np_dtype) for _ in self.element_outputs]
        pvals = tuple(self._scalar(0.5) for _ in self.params)
        if "grad_params" in self.outputs:
            part = np.empty((1, len(self.wrt)), self.np_dtype)
            self.module.run_grad.compile(_sig(self.module.run_grad, x, x, *ys, part, *pvals))
            if parallel:
                self.module.run_grad_parallel.compile(_sig(self.module.run_grad_parallel, x, x, *ys, part, *pvals))
        else:
            self.module.run.compile(_sig(self.module.run, x, *ys, *pvals))
            if parallel:
                self.module.run_parallel.compile(_sig(self.module.run_parallel, x, *ys, *pvals))

    def _loop(self, parallel: bool):
        if "grad_params" in self.outputs:
            return self.module.run_grad_parallel if parallel else self.module.run_grad
        return self.module.run_parallel if parallel else self.module.run

    def _fresh_loop(self, parallel: bool):
        """The contiguous loop compiled anew in memory (Numba cannot inspect code it loaded
        from its disk cache)."""
        loop = self._loop(parallel)
        options = {k: v for k, v in loop.targetoptions.items() if k not in ("cache", "nopython")}
        fresh = numba.njit(**options)(loop.py_func)
        x = np.zeros(4, self.np_dtype)
        ys = [np.empty(4, self.np_dtype) for _ in self.element_outputs]
        pvals = tuple(self._scalar(0.5) for _ in self.params)
        if "grad_params" in self.outputs:
            fresh(x, x, *ys, np.empty((1, len(self.wrt)), self.np_dtype), *pvals)
        else:
            fresh(x, *ys, *pvals)
        return fresh

    def inspect_llvm(self, parallel: bool = False) -> str:
        """LLVM IR of the contiguous loop (and everything inlined into it)."""
        fresh = self._fresh_loop(parallel)
        return "\n".join(fresh.inspect_llvm(sig) for sig in fresh.signatures)

    def inspect_asm(self, parallel: bool = False) -> str:
        """Assembly of the contiguous loop (and everything inlined into it)."""
        fresh = self._fresh_loop(parallel)
        return "\n".join(fresh.inspect_asm(sig) for sig in fresh.signatures)


def _mode(xa: np.ndarray) -> str:
    """How to walk ``xa``: "1d" (as is, any stride), "C" or "F" (flat, copying if needed)."""
    if xa.ndim == 1:
        return "1d"
    if xa.flags.f_contiguous and not xa.flags.c_contiguous:
        return "F"
    return "C"


def _flat(a: np.ndarray, mode: str) -> np.ndarray:
    if mode == "1d":
        return a
    if mode == "F":
        return a.ravel(order="F")
    return np.ascontiguousarray(a).reshape(-1)


def _flat_out(arr: np.ndarray, mode: str, dtype) -> tuple[np.ndarray, np.ndarray | None]:
    """A flat view of an output, or a flat buffer plus the array to copy it back into."""
    if mode == "1d":
        return arr, None
    if (mode == "C" and arr.flags.c_contiguous) or (mode == "F" and arr.flags.f_contiguous):
        return arr.ravel(order=mode), None
    return np.empty(arr.size, dtype), arr


def _out_list(out, n: int) -> list:
    if isinstance(out, np.ndarray) and n == 1:
        return [out]
    out = list(out)
    if len(out) != n:
        raise KernelError(f"out must hold {n} arrays (one per output), got {len(out)}")
    return out


def _sig(dispatcher, *args):
    from numba import typeof

    return tuple(typeof(a) for a in args)
