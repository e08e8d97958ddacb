"""Output memory of large kernel calls, kept for the next call of the same size.

A kernel call on :math:`10^7` float32 elements writes 80 MB of fresh output (value and
derivative). NumPy takes arrays of that size from the operating system (``mmap``) and returns
them when they die, so every call pays the page faults of 80 MB again; on Linux with
transparent huge pages NumPy advises huge pages for them, and the first few calls of a process
also wait while the kernel compacts memory. Measured on a 2-core Xeon (``rocketlake``), SiLU
float32 fused value+derivative on :math:`10^7` elements: 8.7 ms into preallocated ``out``
arrays; 132, 132, 74, 21, 28, 16, 16 ms for consecutive calls that allocate (the
``benchmarks/elementwise.py`` figures are in ``docs/kernels.md``).

This module keeps the memory of large outputs (at least :data:`MIN_BYTES`) once their arrays
are dropped, and hands it out again to the next output of exactly the same size, like
PyTorch's caching allocator does for GPU memory. A buffer is reused only when nothing refers
to it any more: every array handed out is a view whose ``base`` is the pooled buffer, so while
any array (or a view of it, a ``memoryview``, a tensor made by ``torch.from_numpy``) is alive,
the buffer's reference count shows it and the buffer is left alone. Memory reached only through
a raw pointer (``arr.ctypes.data`` kept after ``arr`` died) is not protected, exactly as with
memory NumPy has freed.

The pool holds at most :func:`limit_bytes` bytes (environment variable
``FUNCLIB_OUTPUT_POOL_MB``, default 512; ``0`` turns the pool off); :func:`clear` gives every
free buffer back.
"""

from __future__ import annotations

import math
import os
import sys
import threading

import numpy as np

__all__ = ["MIN_BYTES", "empty", "clear", "limit_bytes", "set_limit_bytes", "pooled_bytes"]

#: Outputs smaller than this come from :func:`numpy.empty` directly (the C allocator reuses
#: small blocks itself).
MIN_BYTES = 1 << 20

#: Pooled arrays start at a multiple of this many bytes (a cache line; one AVX-512 vector).
ALIGN = 64

_LOCK = threading.Lock()
_BUFFERS: list[np.ndarray] = []  # pooled uint8 buffers, least recently used first


def _env_limit() -> int:
    text = os.environ.get("FUNCLIB_OUTPUT_POOL_MB", "512").strip()
    try:
        mb = float(text)
    except ValueError:
        raise ValueError(f"FUNCLIB_OUTPUT_POOL_MB must be a number of megabytes, got {text!r}") from None
    if not (mb >= 0 and math.isfinite(mb)):
        raise ValueError(f"FUNCLIB_OUTPUT_POOL_MB must be a finite number >= 0, got {text!r}")
    return int(mb * (1 << 20))


_LIMIT = [_env_limit()]


def _references(buffers: list, i: int) -> int:
    return sys.getrefcount(buffers[i])


def _free_count() -> int:
    """The reference count :func:`_references` reports for a buffer nothing else refers to
    (measured, not assumed: interpreters differ in the temporary references they hold)."""
    probe = [np.empty(1, np.uint8)]
    return _references(probe, 0)


_FREE = _free_count()


def limit_bytes() -> int:
    """The most memory the pool keeps (in use or free), in bytes."""
    return _LIMIT[0]


def set_limit_bytes(limit: int) -> None:
    """Set the pool's limit in bytes (0 turns it off); free buffers beyond it are released."""
    if isinstance(limit, bool) or not isinstance(limit, (int, np.integer)) or limit < 0:
        raise ValueError(f"the output pool limit must be an integer number of bytes >= 0, got {limit!r}")
    with _LOCK:
        _LIMIT[0] = int(limit)
        _evict(0)


def pooled_bytes() -> int:
    """The bytes the pool holds now (buffers in use and free)."""
    with _LOCK:
        return sum(b.nbytes for b in _BUFFERS)


def clear() -> None:
    """Release every pooled buffer that no array uses (those in use are forgotten: they are
    freed by NumPy when their last array dies)."""
    with _LOCK:
        _BUFFERS.clear()


def _evict(incoming: int) -> bool:
    """Release free buffers, least recently used first, until ``incoming`` more bytes fit
    under the limit; False if they cannot fit (the buffers in use are too large)."""
    total = sum(b.nbytes for b in _BUFFERS)
    i = 0
    while total + incoming > _LIMIT[0] and i < len(_BUFFERS):
        if _references(_BUFFERS, i) == _FREE:
            total -= _BUFFERS.pop(i).nbytes
        else:
            i += 1
    return total + incoming <= _LIMIT[0]


def empty(shape, dtype, order: str = "C") -> np.ndarray:
    """An uninitialized array like :func:`numpy.empty`, from the pool when it is large.

    Parameters
    ----------
    shape : tuple of int
    dtype : numpy dtype
    order : {"C", "F"}

    Returns
    -------
    ndarray
        Writeable; for large sizes a view of a pooled buffer (``arr.base``) starting at a
        multiple of :data:`ALIGN` bytes.
    """
    dt = np.dtype(dtype)
    shape = (int(shape),) if isinstance(shape, (int, np.integer)) else tuple(int(s) for s in shape)
    nbytes = int(np.prod(shape, dtype=np.int64)) * dt.itemsize
    if nbytes < MIN_BYTES or _LIMIT[0] == 0:
        return np.empty(shape, dt, order=order)
    with _LOCK:
        size = nbytes + ALIGN
        buf = None
        for i in range(len(_BUFFERS)):
            if _BUFFERS[i].nbytes == size and _references(_BUFFERS, i) == _FREE:
                buf = _BUFFERS.pop(i)
                _BUFFERS.append(buf)  # most recently used last
                break
        if buf is None:
            buf = np.empty(size, np.uint8)
            if _evict(size):
                _BUFFERS.append(buf)
        start = -buf.ctypes.data % ALIGN
        out = buf[start:start + nbytes].view(dt).reshape(shape, order=order)
    return out
