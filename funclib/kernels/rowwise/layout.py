"""Argument checking and the (rows, n) layout of the row-wise kernels.

Every public row-wise function moves ``axis`` to the end, copies the input to a C-contiguous
float32/float64 array of shape ``(rows, n)`` (strided and non-contiguous inputs are handled by
that copy), broadcasts the mask to the input's shape the same way, runs a Numba kernel and
restores the original layout. Above :data:`PARALLEL_MIN_ELEMENTS` elements (and with at least
two rows and two Numba threads) the ``prange`` driver is used; results are bitwise identical
either way because every row is computed by one thread with the same code.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import numba
import numpy as np

from .. import buffers

__all__ = ["Rows", "as_rows", "check_scalar", "use_parallel", "PARALLEL_MIN_ELEMENTS", "DTYPES"]

#: Number of elements from which the multi-threaded (``prange``) driver is used.
PARALLEL_MIN_ELEMENTS = 1 << 15
#: Supported dtypes.
DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
_DUMMY_MASK = np.ones((1, 1), dtype=np.bool_)


@dataclass(frozen=True)
class Rows:
    """An input viewed as ``(rows, n)`` rows plus what is needed to undo the view."""

    name: str
    x: np.ndarray
    mask: np.ndarray
    has_mask: bool
    moved_shape: tuple
    axis: int
    shape: tuple

    @property
    def dtype(self) -> np.dtype:
        return self.x.dtype

    @property
    def rows(self) -> int:
        return self.x.shape[0]

    @property
    def n(self) -> int:
        return self.x.shape[1]

    @property
    def parallel(self) -> bool:
        return use_parallel(self.rows, self.n)

    def empty(self) -> np.ndarray:
        """A fresh ``(rows, n)`` output array (large ones reuse dropped outputs' memory:
        :mod:`funclib.kernels.buffers`)."""
        return buffers.empty(self.x.shape, self.x.dtype)

    def companion(self, arr, what: str) -> np.ndarray:
        """Lay out a tangent/cotangent/output array of the input's shape like ``x``."""
        a = np.asarray(arr)
        if a.shape != self.shape:
            raise ValueError(f"{self.name}: {what} has shape {a.shape}; expected the shape of x, {self.shape}")
        if a.dtype.kind not in "fiub":
            raise TypeError(f"{self.name}: {what} has dtype {a.dtype}; expected a real floating dtype")
        a = np.moveaxis(a, self.axis, -1)
        return np.ascontiguousarray(a, dtype=self.x.dtype).reshape(self.x.shape)

    def restore(self, out2d: np.ndarray) -> np.ndarray:
        """Undo the ``(rows, n)`` view: reshape and move the last axis back to ``axis``."""
        return np.moveaxis(out2d.reshape(self.moved_shape), -1, self.axis)

    def restore_reduced(self, out1d: np.ndarray) -> np.ndarray:
        """Shape of a per-row result: the input's shape without ``axis``."""
        return out1d.reshape(self.moved_shape[:-1])


def use_parallel(rows: int, n: int) -> bool:
    """Whether the ``prange`` driver is used for ``rows`` rows of length ``n``."""
    return rows >= 2 and rows * n >= PARALLEL_MIN_ELEMENTS and numba.get_num_threads() > 1


def as_rows(name: str, x, axis: int = -1, mask=None) -> Rows:
    """Validate ``x`` (float32/float64, at least 1-D), ``axis`` and ``mask``; return the row view.

    ``mask`` is boolean and broadcastable to ``x.shape``; ``True`` marks the entries that take
    part (the convention of ``torch.nn.functional.scaled_dot_product_attention``'s boolean
    ``attn_mask`` and of ``jax.nn.softmax(where=...)``; the opposite of ``numpy.ma``).
    """
    a = np.asarray(x)
    if a.dtype not in DTYPES:
        raise TypeError(
            f"{name}: x has dtype {a.dtype}; the row-wise kernels take float32 or float64 "
            f"(convert with x.astype(np.float64))"
        )
    if a.ndim == 0:
        raise ValueError(f"{name}: x must have at least one dimension (got a 0-d array)")
    if isinstance(axis, bool) or not isinstance(axis, numbers.Integral):
        raise TypeError(f"{name}: axis must be an integer, got {axis!r}")
    if not -a.ndim <= axis < a.ndim:
        raise ValueError(f"{name}: axis {axis} is out of range for an array of dimension {a.ndim}")
    axis = int(axis) % a.ndim
    moved = np.moveaxis(a, axis, -1)
    n = moved.shape[-1]
    rows = int(np.prod(moved.shape[:-1], dtype=np.int64))
    x2 = np.ascontiguousarray(moved).reshape(rows, n)
    if mask is None:
        return Rows(name, x2, _DUMMY_MASK, False, moved.shape, axis, a.shape)
    mk = np.asarray(mask)
    if mk.dtype != np.bool_:
        raise TypeError(f"{name}: mask has dtype {mk.dtype}; expected bool (True = entry takes part)")
    try:
        mk = np.broadcast_to(mk, a.shape)
    except ValueError:
        raise ValueError(f"{name}: mask of shape {mk.shape} does not broadcast to x's shape {a.shape}") from None
    mk2 = np.ascontiguousarray(np.moveaxis(mk, axis, -1)).reshape(rows, n)
    return Rows(name, x2, mk2, True, moved.shape, axis, a.shape)


def check_scalar(name: str, what: str, value, lo=None, hi=None, lo_open=False, hi_open=False) -> float:
    """A finite real scalar within the given bounds, else a ``TypeError``/``ValueError`` naming it."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real | np.floating | np.integer):
        if not (isinstance(value, np.ndarray) and value.ndim == 0 and value.dtype.kind in "fiu"):
            raise TypeError(f"{name}: {what} must be a real scalar, got {value!r}")
    v = float(value)
    if not np.isfinite(v):
        raise ValueError(f"{name}: {what} must be finite, got {v}")
    bad = (lo is not None and (v <= lo if lo_open else v < lo)) or (hi is not None and (v >= hi if hi_open else v > hi))
    if bad:
        lb = "(" if lo_open else "["
        rb = ")" if hi_open else "]"
        raise ValueError(f"{name}: {what} must lie in {lb}{lo if lo is not None else '-inf'}, "
                         f"{hi if hi is not None else 'inf'}{rb}, got {v}")
    return v
