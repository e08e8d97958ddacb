"""The compiled CUDA kernel object: ``k(x, out=None, upstream=None, stream=None, **params)``.

Inputs may be NumPy arrays (copied to the device and the results copied back, any shape,
returned as NumPy arrays of that shape) or device arrays — anything exposing
``__cuda_array_interface__`` (Numba device arrays, CuPy arrays, PyTorch CUDA tensors) — used
in place without a copy; results are then Numba device arrays (which CuPy and PyTorch can
wrap without a copy: ``torch.as_tensor(y, device="cuda")``), or written into ``out``.
Device inputs must be contiguous (C or Fortran order) and of the kernel dtype or float16.
float16 inputs are computed in the kernel dtype (use ``dtype="float32"``); their outputs are
float16 unless ``out`` says otherwise.

Launch: ``THREADS`` threads per block and at most ``BLOCKS_PER_SM`` blocks per multiprocessor
in a grid-stride loop (each element is computed by the same code whatever the grid, so the
outputs do not depend on it). ``stream`` (a Numba stream, or None for the default stream)
orders the copies and launches; with NumPy inputs the call synchronizes on it before
returning.

Importing this module imports :mod:`numba.cuda`; :func:`require_cuda` explains what is
missing when there is neither a GPU nor the simulator.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import ModuleType
from typing import Any

import numpy as np

from ..kernel import checked_input, param_values
from ..printer import KernelError

__all__ = ["CudaKernel", "CudaUnavailableError", "require_cuda", "cuda_status", "is_device_array", "as_device", "launch_config"]


class CudaUnavailableError(KernelError):
    """Neither a CUDA GPU (with driver) nor the CUDA simulator is available."""


_HINT = ("For testing without a GPU, set NUMBA_ENABLE_CUDASIM=1 in the environment before Python "
         "starts (the CUDA simulator runs the same kernels on the CPU, slowly).")


def cuda_status() -> tuple[bool, str]:
    """``(usable, description)`` of the CUDA target in this process (imports numba.cuda)."""
    try:
        from numba import config, cuda
    except Exception as exc:  # noqa: BLE001 - any import failure means: not usable
        return False, f"numba-cuda is not importable ({exc}); install it with `pip install funclib[cuda]`"
    if config.ENABLE_CUDASIM:
        return True, "CUDA simulator (NUMBA_ENABLE_CUDASIM=1)"
    try:
        if cuda.is_available():
            dev = cuda.get_current_device()
            name = dev.name.decode() if isinstance(dev.name, bytes) else str(dev.name)
            return True, f"GPU {name} (compute capability {dev.compute_capability[0]}.{dev.compute_capability[1]})"
    except Exception as exc:  # noqa: BLE001
        return False, f"CUDA is unavailable: {exc}"
    return False, "CUDA is unavailable: no NVIDIA GPU or driver was found (numba.cuda.is_available() is False)"


def require_cuda() -> str:
    """Raise :class:`CudaUnavailableError` (with the simulator hint) unless CUDA is usable."""
    ok, text = cuda_status()
    if not ok:
        raise CudaUnavailableError(f"{text}. {_HINT}")
    return text


def is_device_array(a) -> bool:
    """Whether ``a`` lives on the device (exposes ``__cuda_array_interface__``, or is a
    simulator device array, which has no such interface)."""
    return hasattr(a, "__cuda_array_interface__") or bool(getattr(a, "__cuda_ndarray__", False))


def as_device(a):
    """A Numba device-array view of ``a`` without a copy (``numba.cuda.as_cuda_array``; the
    simulator's device arrays are returned as they are)."""
    from numba import cuda

    if getattr(a, "__cuda_ndarray__", False) and not hasattr(a, "__cuda_array_interface__"):
        return a
    return cuda.as_cuda_array(a)


#: Threads per block of the elementwise kernels (the simulator uses small blocks: every
#: simulated thread is a Python thread).
THREADS = 256
THREADS_SIM = 32
BLOCKS_PER_SM = 32


def launch_config(n: int, simulator: bool) -> tuple[int, int]:
    """``(blocks, threads)`` for ``n`` elements (grid-stride loops cover the rest)."""
    from numba import cuda

    if simulator:
        threads = THREADS_SIM
        return max(1, min((n + threads - 1) // threads, 2)), threads
    threads = THREADS
    sms = cuda.get_current_device().MULTIPROCESSOR_COUNT
    return max(1, min((n + threads - 1) // threads, BLOCKS_PER_SM * sms)), threads


def as_device_flat(a, name: str, allowed: tuple) -> Any:
    """A 1-D device view of the contiguous device array ``a`` (no copy)."""
    d = as_device(a)
    if np.dtype(d.dtype) not in allowed:
        raise KernelError(f"{name} has dtype {d.dtype} on the device; expected one of "
                          f"{', '.join(str(t) for t in allowed)} (convert it on the device first)")
    if d.size == 0:
        return d.reshape(0), "C"
    if d.is_c_contiguous():
        return d.reshape(d.size), "C"
    if d.is_f_contiguous():
        return d.reshape(d.size, order="F"), "F"
    raise KernelError(f"{name} is a non-contiguous device array (strides {d.strides}); "
                      f"make it contiguous first (device kernels read flat memory)")


class CudaKernel:
    """A compiled elementwise CUDA kernel (see :func:`funclib.kernels.compile` with ``target="cuda"``).

    Attributes are those of :class:`funclib.kernels.Kernel` (``name``, ``dtype``, ``outputs``,
    ``params``, ``wrt``, ``expressions``, ``path``/``source``) plus ``target = "cuda"`` and
    ``simulator``.
    """

    target = "cuda"

    def __init__(self, module: ModuleType, *, defaults: Mapping[str, float | None] | None = None,
                 check: Callable[[str, float], float] | None = None, generated: bool = False):
        self.module = module
        self.key: str = module.KEY
        self.name: str = module.NAME
        self.variant = module.VARIANT
        self.dtype: str = module.DTYPE
        self.np_dtype = np.dtype(module.DTYPE)
        self._scalar = self.np_dtype.type
        self.accuracy: str = module.ACCURACY
        self.outputs = tuple(module.OUTPUTS)
        self.element_outputs = tuple(module.ELEMENT_OUTPUTS)
        self.params = tuple(module.PARAMS)
        self.wrt = tuple(module.WRT)
        self.expressions = dict(module.EXPRESSIONS)
        self.limits = list(module.LIMITS)
        self.path: str = module.__file__
        self.simulator: bool = bool(module.SIMULATOR)
        self.generated = generated
        base = dict(zip(module.PARAMS, module.DEFAULTS))
        if defaults:
            base.update(defaults)
        self.defaults = base
        self._check = check

    def __repr__(self) -> str:
        where = "cuda-simulator" if self.simulator else "cuda"
        return (f"<funclib {where} kernel {self.name}{'[' + self.variant + ']' if self.variant else ''} "
                f"{self.dtype} {'+'.join(self.outputs)}>")

    @property
    def source(self) -> str:
        with open(self.path, encoding="utf-8") as fh:
            return fh.read()

    def _param_values(self, given: Mapping[str, Any]) -> tuple:
        return param_values(self, given)

    def __call__(self, x, out=None, upstream=None, stream=None, **params):
        """Evaluate the outputs at ``x`` on the GPU.

        Parameters
        ----------
        x : array_like or device array
            Inputs of any shape. NumPy inputs are converted to the kernel dtype (float16 is
            kept and computed in the kernel dtype); device inputs must already be the kernel
            dtype or float16 and contiguous.
        out : array or tuple of arrays, optional
            Where to write the element outputs (device arrays for device inputs, NumPy arrays
            otherwise; shape of ``x``); the ``grad_params`` slot has shape ``(len(wrt),)``.
        upstream : array_like or device array, optional
            :math:`g` in ``grad_params`` :math:`= \\sum_i g_i\\,\\partial f/\\partial\\theta(x_i)` (default ones).
        stream : numba.cuda.cudadrv.driver.Stream, optional
            The stream for copies and launches (default stream otherwise).
        **params : float
            Parameter values (defaults otherwise).
        """
        from numba import cuda

        pvals = self._param_values(params)
        allowed = (self.np_dtype, np.dtype(np.float16))
        on_device = is_device_array(x)
        launch_stream = 0 if stream is None else stream
        if on_device:
            dx, order = as_device_flat(x, "x", allowed)
            shape = tuple(as_device(x).shape)
            out_dtype = np.dtype(dx.dtype)
        else:
            xa = np.asarray(x)
            if xa.dtype not in allowed:
                xa = checked_input(xa, self.np_dtype, self.name)
            shape = xa.shape
            order = "F" if (xa.ndim > 1 and xa.flags.f_contiguous and not xa.flags.c_contiguous) else "C"
            flat = xa.ravel(order=order)
            dx = cuda.to_device(np.ascontiguousarray(flat), stream=launch_stream)
            out_dtype = xa.dtype
        n = int(dx.shape[0])
        given = self._out_list(out)
        ys = []
        k = 0
        for name, arr in zip(self.outputs, given):
            if name == "grad_params":
                continue
            if arr is not None and on_device:
                ys.append(as_device_flat(arr, f"out for {name}", allowed + (np.dtype(np.float64),))[0])
                if ys[-1].shape[0] != n:
                    raise KernelError(f"out for {name} must have {n} elements, got {ys[-1].shape[0]}")
            else:
                ys.append(cuda.device_array(n, dtype=out_dtype if arr is None else np.asarray(arr).dtype,
                                            stream=launch_stream))
            k += 1
        blocks, threads = launch_config(n, self.simulator)
        grad = None
        if "grad_params" in self.outputs:
            dg = self._upstream(upstream, shape, n, order, on_device, launch_stream)
            chunk = self.module.GRAD_CHUNK
            nchunks = max(1, (n + chunk - 1) // chunk)
            part = cuda.device_array((nchunks, len(self.wrt)), dtype=self.np_dtype, stream=launch_stream)
            dgrad = cuda.device_array(len(self.wrt), dtype=self.np_dtype, stream=launch_stream)
            gblocks = nchunks if self.simulator else min(nchunks, BLOCKS_PER_SM * cuda.get_current_device().MULTIPROCESSOR_COUNT)
            self.module.run_grad[gblocks, self.module.GRAD_TPB, launch_stream](dx, dg, *ys, part, *pvals)
            self.module.reduce_partials[len(self.wrt), self.module.GRAD_TPB, launch_stream](part, dgrad)
            grad = dgrad
        elif n:
            self.module.run[blocks, threads, launch_stream](dx, *ys, *pvals)
        results = []
        k = 0
        for name, arr in zip(self.outputs, given):
            if name == "grad_params":
                if on_device:
                    if arr is not None:
                        as_device(arr).copy_to_device(grad, stream=launch_stream)
                        results.append(arr)
                    else:
                        results.append(grad)
                else:
                    host = grad.copy_to_host(stream=launch_stream)
                    if arr is not None:
                        arr[...] = host
                        host = arr
                    results.append(host)
                continue
            y = ys[k]
            k += 1
            if on_device:
                results.append(arr if arr is not None else y.reshape(shape, order=order))
            else:
                host = y.copy_to_host(stream=launch_stream).reshape(shape, order=order)
                if arr is not None:
                    arr[...] = host
                    host = arr
                results.append(host)
        if not on_device and stream is not None:
            stream.synchronize()
        if not on_device and results and np.asarray(x).ndim == 0:
            results = [r[()] if isinstance(r, np.ndarray) and r.ndim == 0 else r for r in results]
        return results[0] if len(results) == 1 else tuple(results)

    def _out_list(self, out) -> list:
        if out is None:
            return [None] * len(self.outputs)
        if (is_device_array(out) or isinstance(out, np.ndarray)) and len(self.outputs) == 1:
            return [out]
        out = list(out)
        if len(out) != len(self.outputs):
            raise KernelError(f"out must hold {len(self.outputs)} arrays (one per output), got {len(out)}")
        return out

    def _upstream(self, upstream, shape, n, order, on_device, stream):
        from numba import cuda

        if upstream is None:
            ones = np.ones(n, self.np_dtype)
            return cuda.to_device(ones, stream=stream)
        if is_device_array(upstream):
            dg, _ = as_device_flat(upstream, "upstream", (self.np_dtype, np.dtype(np.float16)))
            if dg.shape[0] != n:
                raise KernelError(f"upstream must have the shape of x ({shape}), got {dg.shape[0]} elements")
            return dg
        g = np.broadcast_to(np.asarray(upstream, dtype=self.np_dtype), shape)
        return cuda.to_device(np.ascontiguousarray(g.ravel(order=order)), stream=stream)


def build_cuda_kernel(spec, *, defaults=None, check=None) -> CudaKernel:
    """Generate (or load from the disk cache) and wrap the CUDA module for ``spec``."""
    require_cuda()
    from numba import config

    from ..cache import load_module
    from .codegen import cuda_key, generate_cuda_source

    sim = bool(config.ENABLE_CUDASIM)
    key = cuda_key(spec, sim)
    module, generated = load_module(key, lambda: generate_cuda_source(spec, sim))
    return CudaKernel(module, defaults=defaults, check=check, generated=generated)
