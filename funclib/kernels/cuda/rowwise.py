r"""Row-wise CUDA kernels (public API): softmax family, sparsemax/α-entmax, softpick, SSMax.

The functions mirror :mod:`funclib.kernels.rowwise` (same names, arguments, conventions and
closed-form Jacobian products) and add ``stream`` and ``path``:

* NumPy inputs: any shape and ``axis`` (laid out as ``(rows, n)`` by
  :func:`funclib.kernels.rowwise.layout.as_rows`), copied to the device and back;
* device inputs (``__cuda_array_interface__``: Numba, CuPy, PyTorch CUDA tensors): C-contiguous,
  normalized over the last axis, used without a copy; the result is a Numba device array of
  the same shape (``mask`` may be a host or device boolean array of the input's shape, or a
  host array that broadcasts to it).

``path``: ``"warp"`` (one warp per row; for rows up to :data:`WARP_MAX_N`), ``"block"`` (one
block per row with a shared-memory reduction) or ``"auto"``. ``algorithm``: ``"three_pass"``
or ``"online"`` (online normalizer). Device code: :mod:`funclib.kernels.cuda.rowwise_kernels`.
"""

from __future__ import annotations

import numpy as np

from .kernel import as_device, is_device_array, require_cuda
from ..rowwise.layout import as_rows, check_scalar

__all__ = [
    "WARP_MAX_N",
    "softmax", "softmax_jvp", "softmax_vjp",
    "log_softmax", "log_softmax_jvp", "log_softmax_vjp",
    "ssmax", "ssmax_jvp", "ssmax_vjp",
    "sparsemax", "sparsemax_jvp", "sparsemax_vjp",
    "entmax15", "entmax15_jvp", "entmax15_vjp",
    "entmax_bisect", "entmax_bisect_jvp", "entmax_bisect_vjp",
    "softpick", "softpick_jvp", "softpick_vjp",
]

#: Longest rows handled one warp per row by ``path="auto"``.
WARP_MAX_N = 1024
_ALGOS = {"three_pass": 0, "online": 1}


def _choose(path: str, n: int) -> str:
    if path == "auto":
        return "warp" if n <= WARP_MAX_N else "block"
    if path not in ("warp", "block"):
        raise ValueError(f"path must be 'auto', 'warp' or 'block', got {path!r}")
    return path


class _Job:
    """Device views of one call: ``x`` as (rows, n), the mask, and how to return results."""

    def __init__(self, name, x, axis, mask, stream):
        from numba import cuda

        require_cuda()
        self.name = name
        self.stream = 0 if stream is None else stream
        self.user_stream = stream
        self.on_device = is_device_array(x)
        if self.on_device:
            d = as_device(x)
            if np.dtype(d.dtype) not in (np.dtype(np.float32), np.dtype(np.float64)):
                raise TypeError(f"{name}: x has dtype {d.dtype}; the row-wise kernels take float32 or float64")
            if d.ndim == 0:
                raise ValueError(f"{name}: x must have at least one dimension")
            if axis not in (-1, d.ndim - 1):
                raise ValueError(f"{name}: device inputs are normalized over the last axis (axis=-1), got axis={axis}")
            if not d.is_c_contiguous():
                raise ValueError(f"{name}: device input must be C-contiguous (got strides {d.strides})")
            self.shape = tuple(d.shape)
            self.n = self.shape[-1]
            self.rows = int(np.prod(self.shape[:-1], dtype=np.int64))
            self.dtype = np.dtype(d.dtype)
            self.x = d.reshape(self.rows, self.n)
            self.has_mask = mask is not None
            if mask is None:
                self.mask = cuda.to_device(np.ones((1, 1), np.bool_), stream=self.stream)
            elif is_device_array(mask):
                dm = as_device(mask)
                if tuple(dm.shape) != self.shape or np.dtype(dm.dtype) != np.bool_:
                    raise ValueError(f"{name}: a device mask must be a bool array of x's shape {self.shape}")
                self.mask = dm.reshape(self.rows, self.n)
            else:
                mk = np.asarray(mask)
                if mk.dtype != np.bool_:
                    raise TypeError(f"{name}: mask has dtype {mk.dtype}; expected bool (True = entry takes part)")
                mk = np.ascontiguousarray(np.broadcast_to(mk, self.shape)).reshape(self.rows, self.n)
                self.mask = cuda.to_device(mk, stream=self.stream)
            self.rows_view = None
        else:
            r = as_rows(name, x, axis, mask)
            self.rows_view = r
            self.shape = r.shape
            self.rows, self.n = r.x.shape
            self.dtype = r.x.dtype
            self.has_mask = r.has_mask
            self.x = cuda.to_device(r.x, stream=self.stream)
            self.mask = cuda.to_device(np.ascontiguousarray(r.mask), stream=self.stream)

    def companion(self, arr, what):
        """Lay out a tangent/cotangent/output array like ``x`` on the device."""
        from numba import cuda

        if self.on_device:
            if is_device_array(arr):
                d = as_device(arr)
                if tuple(d.shape) != self.shape or not d.is_c_contiguous() or np.dtype(d.dtype) != self.dtype:
                    raise ValueError(f"{self.name}: {what} must be a C-contiguous {self.dtype} device array of shape {self.shape}")
                return d.reshape(self.rows, self.n)
            a = np.asarray(arr, dtype=self.dtype)
            if a.shape != self.shape:
                raise ValueError(f"{self.name}: {what} has shape {a.shape}; expected {self.shape}")
            return cuda.to_device(np.ascontiguousarray(a).reshape(self.rows, self.n), stream=self.stream)
        if is_device_array(arr):
            arr = as_device(arr).copy_to_host()
        return cuda.to_device(self.rows_view.companion(arr, what), stream=self.stream)

    def empty(self):
        from numba import cuda

        return cuda.device_array((self.rows, self.n), dtype=self.dtype, stream=self.stream)

    def finish(self, d_out):
        if self.on_device:
            return d_out.reshape(*self.shape)
        host = d_out.copy_to_host(stream=self.stream)
        if self.user_stream is not None:
            self.user_stream.synchronize()
        return self.rows_view.restore(host)

    def launch(self, kernel_name, path, *args):
        from numba import cuda

        from .rowwise_kernels import SIMULATOR, kernels

        ks = kernels(str(self.dtype), _choose(path, self.n))
        rpb = ks["rows_per_block"]
        blocks = max(1, (self.rows + rpb - 1) // rpb)
        if SIMULATOR:
            blocks = min(blocks, 2)
        else:
            blocks = min(blocks, 32 * cuda.get_current_device().MULTIPROCESSOR_COUNT)
        if self.rows and self.n:
            ks[kernel_name][blocks, ks["threads"], self.stream](*args)


def _algo(name, algorithm):
    if algorithm not in _ALGOS:
        raise ValueError(f"{name}: unknown algorithm {algorithm!r}; choose one of {tuple(_ALGOS)} on CUDA")
    return _ALGOS[algorithm]


def _softmax_dev(job, algo, log, ssmax_, s, path):
    out = job.empty()
    job.launch("softmax", path, job.x, job.mask, job.has_mask, algo, log, ssmax_, s, out)
    return out


def softmax(x, axis: int = -1, *, mask=None, algorithm: str = "three_pass", path: str = "auto", stream=None):
    """Softmax :math:`e^{x_i}/\\sum_j e^{x_j}` over ``axis`` on the GPU (see :func:`funclib.kernels.rowwise.softmax`)."""
    job = _Job("softmax", x, axis, mask, stream)
    return job.finish(_softmax_dev(job, _algo("softmax", algorithm), False, False, 0.0, path))


def log_softmax(x, axis: int = -1, *, mask=None, algorithm: str = "three_pass", path: str = "auto", stream=None):
    """Log-softmax :math:`x_i - \\log\\sum_j e^{x_j}` (masked entries ``-inf``)."""
    job = _Job("log_softmax", x, axis, mask, stream)
    return job.finish(_softmax_dev(job, _algo("log_softmax", algorithm), True, False, 0.0, path))


def ssmax(x, s=0.43, axis: int = -1, *, mask=None, algorithm: str = "three_pass", path: str = "auto", stream=None):
    """Scalable-Softmax :math:`\\mathrm{softmax}(s \\log(n)\\, x)` (``n`` = kept entries of the row)."""
    sv = check_scalar("ssmax", "s", s, lo=0.0)
    job = _Job("ssmax", x, axis, mask, stream)
    return job.finish(_softmax_dev(job, _algo("ssmax", algorithm), False, True, sv, path))


def _sym(name, x, w, what, axis, mask, y, algorithm, ssmax_, s, path, stream):
    job = _Job(name, x, axis, mask, stream)
    dw = job.companion(w, what)
    dy = _softmax_dev(job, _algo(name, algorithm), False, ssmax_, s, path) if y is None else job.companion(y, "y")
    out = job.empty()
    job.launch("sym_product", path, dy, dw, job.mask, job.has_mask, ssmax_, s, out)
    return job.finish(out)


def softmax_jvp(x, v, axis: int = -1, *, mask=None, y=None, algorithm="three_pass", path="auto", stream=None):
    """JVP of softmax :math:`y \\odot (v - \\langle y, v\\rangle)`."""
    return _sym("softmax_jvp", x, v, "v", axis, mask, y, algorithm, False, 0.0, path, stream)


def softmax_vjp(x, u, axis: int = -1, *, mask=None, y=None, algorithm="three_pass", path="auto", stream=None):
    """VJP of softmax (symmetric Jacobian: the JVP formula)."""
    return _sym("softmax_vjp", x, u, "u", axis, mask, y, algorithm, False, 0.0, path, stream)


def ssmax_jvp(x, s, v, axis: int = -1, *, mask=None, y=None, algorithm="three_pass", path="auto", stream=None):
    """JVP of SSMax with respect to ``x``: :math:`c\\,y \\odot (v - \\langle y, v\\rangle)`, :math:`c = s\\log n`."""
    sv = check_scalar("ssmax_jvp", "s", s, lo=0.0)
    return _sym("ssmax_jvp", x, v, "v", axis, mask, y, algorithm, True, sv, path, stream)


def ssmax_vjp(x, s, u, axis: int = -1, *, mask=None, y=None, algorithm="three_pass", path="auto", stream=None):
    """VJP of SSMax with respect to ``x`` (symmetric Jacobian)."""
    sv = check_scalar("ssmax_vjp", "s", s, lo=0.0)
    return _sym("ssmax_vjp", x, u, "u", axis, mask, y, algorithm, True, sv, path, stream)


def _log_product(name, x, w, what, axis, mask, y, algorithm, vjp, path, stream):
    job = _Job(name, x, axis, mask, stream)
    dw = job.companion(w, what)
    ly = _softmax_dev(job, _algo(name, algorithm), True, False, 0.0, path) if y is None else job.companion(y, "y")
    out = job.empty()
    job.launch("log_product", path, ly, dw, job.mask, job.has_mask, vjp, out)
    return job.finish(out)


def log_softmax_jvp(x, v, axis: int = -1, *, mask=None, y=None, algorithm="three_pass", path="auto", stream=None):
    """JVP of log-softmax :math:`v - \\langle e^{y}, v\\rangle` (``y`` = log-softmax output)."""
    return _log_product("log_softmax_jvp", x, v, "v", axis, mask, y, algorithm, False, path, stream)


def log_softmax_vjp(x, u, axis: int = -1, *, mask=None, y=None, algorithm="three_pass", path="auto", stream=None):
    """VJP of log-softmax :math:`u - e^{y} \\sum_i u_i`."""
    return _log_product("log_softmax_vjp", x, u, "u", axis, mask, y, algorithm, True, path, stream)


# ---- sparse ------------------------------------------------------------------------------
def _alpha(name, alpha):
    return check_scalar(name, "alpha", alpha, lo=1.0, hi=2.0, lo_open=True)


def _sparse_dev(job, alpha, path):
    out = job.empty()
    job.launch("sparse", path, job.x, job.mask, job.has_mask, alpha, out)
    return out


def _sparse(name, x, alpha, axis, mask, path, stream):
    job = _Job(name, x, axis, mask, stream)
    return job.finish(_sparse_dev(job, alpha, path))


def _sparse_product(name, x, w, what, axis, mask, y, alpha, path, stream):
    job = _Job(name, x, axis, mask, stream)
    dw = job.companion(w, what)
    p = _sparse_dev(job, alpha, path) if y is None else job.companion(y, "y")
    out = job.empty()
    job.launch("sparse_product", path, p, dw, job.mask, job.has_mask, alpha, out)
    return job.finish(out)


def sparsemax(x, axis: int = -1, *, mask=None, path: str = "auto", stream=None):
    """Sparsemax (α = 2): bisection until the support is known, then the exact support pass."""
    return _sparse("sparsemax", x, 2.0, axis, mask, path, stream)


def sparsemax_jvp(x, v, axis: int = -1, *, mask=None, y=None, path="auto", stream=None):
    """JVP of sparsemax :math:`g \\odot v - g\\langle g, v\\rangle/\\sum g` (``g`` = support indicator)."""
    return _sparse_product("sparsemax_jvp", x, v, "v", axis, mask, y, 2.0, path, stream)


def sparsemax_vjp(x, u, axis: int = -1, *, mask=None, y=None, path="auto", stream=None):
    """VJP of sparsemax (symmetric Jacobian)."""
    return _sparse_product("sparsemax_vjp", x, u, "u", axis, mask, y, 2.0, path, stream)


def entmax15(x, axis: int = -1, *, mask=None, path: str = "auto", stream=None):
    """1.5-entmax by bisection + exact support pass (Newton on the quadratic; exact to rounding)."""
    return _sparse("entmax15", x, 1.5, axis, mask, path, stream)


def entmax15_jvp(x, v, axis: int = -1, *, mask=None, y=None, path="auto", stream=None):
    """JVP of 1.5-entmax (:math:`g = \\sqrt{p}`)."""
    return _sparse_product("entmax15_jvp", x, v, "v", axis, mask, y, 1.5, path, stream)


def entmax15_vjp(x, u, axis: int = -1, *, mask=None, y=None, path="auto", stream=None):
    """VJP of 1.5-entmax (symmetric Jacobian)."""
    return _sparse_product("entmax15_vjp", x, u, "u", axis, mask, y, 1.5, path, stream)


def entmax_bisect(x, alpha=1.5, axis: int = -1, *, mask=None, path: str = "auto", stream=None):
    """α-entmax, :math:`\\alpha \\in (1, 2]`: bisection + exact support pass."""
    return _sparse("entmax_bisect", x, _alpha("entmax_bisect", alpha), axis, mask, path, stream)


def entmax_bisect_jvp(x, alpha, v, axis: int = -1, *, mask=None, y=None, path="auto", stream=None):
    """JVP of α-entmax (:math:`g = p^{2-\\alpha}` on the support)."""
    a = _alpha("entmax_bisect_jvp", alpha)
    return _sparse_product("entmax_bisect_jvp", x, v, "v", axis, mask, y, a, path, stream)


def entmax_bisect_vjp(x, alpha, u, axis: int = -1, *, mask=None, y=None, path="auto", stream=None):
    """VJP of α-entmax (symmetric Jacobian)."""
    a = _alpha("entmax_bisect_vjp", alpha)
    return _sparse_product("entmax_bisect_vjp", x, u, "u", axis, mask, y, a, path, stream)


# ---- softpick ------------------------------------------------------------------------------
def _softpick(name, x, w, what, axis, mask, eps, mode, path, stream):
    e = check_scalar(name, "eps", eps, lo=0.0)
    job = _Job(name, x, axis, mask, stream)
    dw = job.x if w is None else job.companion(w, what)
    out = job.empty()
    job.launch("softpick", path, job.x, dw, job.mask, job.has_mask, e, mode, out)
    return job.finish(out)


def softpick(x, axis: int = -1, *, mask=None, eps: float = 1e-8, path: str = "auto", stream=None):
    """Softpick :math:`\\mathrm{ReLU}(e^{x_i}-1)/(\\sum_j |e^{x_j}-1| + \\epsilon)`."""
    return _softpick("softpick", x, None, "v", axis, mask, eps, 0, path, stream)


def softpick_jvp(x, v, axis: int = -1, *, mask=None, eps: float = 1e-8, path="auto", stream=None):
    """JVP of softpick (closed form of :mod:`funclib.kernels.rowwise.softpick_family`)."""
    return _softpick("softpick_jvp", x, v, "v", axis, mask, eps, 1, path, stream)


def softpick_vjp(x, u, axis: int = -1, *, mask=None, eps: float = 1e-8, path="auto", stream=None):
    """VJP of softpick."""
    return _softpick("softpick_vjp", x, u, "u", axis, mask, eps, 2, path, stream)
