"""BLAS thread policy for the verification's dense linear algebra.

LipSDP's structured solver, its certification and the local/CROWN bounds on input balls run
long sequences of small dense factorizations (Cholesky, triangular solves, ``eigh``) on
matrices of a few hundred rows. Split over several OpenBLAS threads, each call ends in a
barrier at which a thread waits for its siblings; on a machine with more runnable processes
than cores a sibling is often descheduled, and the call takes a scheduler time slice instead of
microseconds. Measured on the 2-core benchmark machine at load 5-10 (``benchmarks/robustness.py``,
``threads`` part): one LipSDP solve of the 64-128-10 digits CNN took 22-47 s with the default two
threads and 0.9-2.4 s with one; a 192 x 192 Cholesky 0.2-0.7 s against 0.2 ms. The work per call
is too small for threads to pay even on an idle machine, so problems up to
:data:`SINGLE_THREAD_MAX_N` run on one BLAS thread; larger ones keep the library's default.

The thread count changes only the order of floating-point operations, never what is
certified: every bound is checked afterwards with rounding margins that hold for any order.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

__all__ = ["SINGLE_THREAD_MAX_N", "blas_threads"]

#: Largest matrix size (LMI size, or network width for bounds on balls) run on one BLAS thread.
SINGLE_THREAD_MAX_N = 2048


@contextlib.contextmanager
def blas_threads(n: int) -> Iterator[None]:
    """Run the enclosed block on one BLAS thread when ``n <= SINGLE_THREAD_MAX_N``.

    Parameters
    ----------
    n : int
        Size of the largest dense matrix the block factorizes.

    Notes
    -----
    Uses :mod:`threadpoolctl` (the limit is process-wide while the block runs and restored after
    it). An inner block with a large ``n`` does not lift an outer block's limit.
    """
    if n > SINGLE_THREAD_MAX_N:
        yield
        return
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        yield
