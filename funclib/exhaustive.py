"""Exhaustive float32 accuracy: every one of the 2^32 float32 inputs, value and derivative.

For each input ``x`` the float32 kernel's result ``y`` is compared with a float64 reference
``r``: the entry's float64 kernel built on the C library (``accuracy="libm"``), whose error is a
few float64 ULP (measured against the arb oracle by the accuracy tests), i.e. about 2^-29 of a
float32 ULP. The correctly rounded float32 result is ``r`` rounded to float32, except where
``r`` lies within :data:`MIDPOINT_GUARD` float32 ULP of a rounding midpoint: there the
rounding is undecided from ``r`` and the arb oracle (:meth:`funclib.entry.Entry.reference`)
decides it (if the oracle's correctly rounded float64 sits exactly on the midpoint, the point
counts as undecided). Reported per (entry, output):

* ``max_ulp``: the largest ``|y - r| / ulp32(r)`` (``r`` is float64: the error of the error is
  below 2^-20 ULP);
* ``not_correctly_rounded``: ``y`` differs from the correctly rounded float32;
* ``not_faithful``: ``y`` is not one of the two float32 numbers around the true value
  (``|y - r| >= ulp32``);
* the worst inputs, NaN/inf mismatches, and the throughput.

Where the reference is NaN or infinite (outside the domain, overflow), ``y`` must be the same
NaN or the same infinity. Inputs are processed in chunks (:func:`chunk_results`), which
:mod:`funclib.jobs` runs as Dask tasks; :func:`combine` merges chunk results.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field

import numpy as np
from numba import njit

from .kernels import numba_cache  # noqa: F401 - Numba's cache under the funclib cache, not the package

__all__ = ["ChunkResult", "chunk_results", "combine", "CHUNK_BITS", "MIDPOINT_GUARD"]

#: Inputs per chunk: 2^CHUNK_BITS (2^26: 64 chunks cover all float32 bit patterns).
CHUNK_BITS = 26
#: Distance (in float32 ULP) from a rounding midpoint below which the oracle decides.
MIDPOINT_GUARD = 2.0**-20
WORST_KEPT = 5


@dataclass
class ChunkResult:
    """What one chunk of inputs gave (see the module docstring)."""

    entry: str
    output: str
    start: int
    count: int
    checked: int = 0
    max_ulp: float = 0.0
    worst: list[tuple[float, float, float, float]] = field(default_factory=list)  # (ulp, x, y, ref)
    not_correctly_rounded: int = 0
    not_faithful: int = 0
    special_mismatch: int = 0
    oracle_calls: int = 0
    undecided: int = 0
    seconds: float = 0.0

    def as_json(self) -> dict:
        return asdict(self)


@njit(cache=True)
def _ulp32(r: float) -> float:
    """Spacing of float32 at |r| (r float64): 2^(e - 23) for 2^e <= |r| < 2^(e + 1), the
    subnormal spacing 2^-149 below the least normal."""
    _, e = math.frexp(abs(r))  # |r| = m 2^e, m in [1/2, 1)
    return math.ldexp(1.0, max(e - 1, -126) - 23)


@njit(cache=True)
def _compare(x, y, r, guard):
    """One pass over a chunk (Numba-compiled on first use): per point the ULP error of ``y``
    against ``r``, whether ``y`` equals ``r`` rounded to float32, and the points whose rounding
    ``r`` cannot decide (returned for the oracle). Specials (``r`` rounds to inf/NaN) must match
    exactly."""
    n = x.shape[0]
    max_err = 0.0
    worst = np.zeros(WORST_KEPT, np.int64)
    worst_err = np.full(WORST_KEPT, -1.0)
    not_cr = 0
    not_faithful = 0
    special = 0
    near = np.empty(n, np.int64)
    n_near = 0
    for i in range(n):
        ri = r[i]
        r32 = np.float64(np.float32(ri))
        yi = y[i]
        if not np.isfinite(r32):
            if not (yi == r32 or (np.isnan(yi) and np.isnan(r32))):
                special += 1
                err = np.inf
            else:
                continue
        else:
            u = _ulp32(ri)
            err = abs(yi - ri) / u if np.isfinite(yi) else np.inf
            if err >= 1.0:
                not_faithful += 1
            if ri != r32:
                half = _ulp32(r32) / 2.0
                mid = r32 + half if ri > r32 else r32 - half
                if abs(ri - mid) <= guard * u:
                    near[n_near] = i
                    n_near += 1
                    continue  # decided by the oracle
            if yi != r32:
                not_cr += 1
        if err > worst_err[0]:  # keep the WORST_KEPT largest (worst_err sorted ascending)
            k = 0
            while k + 1 < WORST_KEPT and err > worst_err[k + 1]:
                worst_err[k] = worst_err[k + 1]
                worst[k] = worst[k + 1]
                k += 1
            worst_err[k] = err
            worst[k] = i
        if err > max_err:
            max_err = err
    return max_err, not_cr, not_faithful, special, near[:n_near], worst, worst_err


def chunk_results(entry_id: str, start: int, count: int,
                  outputs: tuple[str, ...] = ("value", "derivative")) -> list[ChunkResult]:
    """Check the float32 kernel on the bit patterns ``start .. start + count - 1``: one
    :class:`ChunkResult` per output, from one call of the float32 kernel and one of the float64
    reference kernel (each computes value and derivative together)."""
    import funclib

    t0 = time.perf_counter()
    entry = funclib.get(entry_id)
    x32 = np.arange(start, start + count, dtype=np.uint64).astype(np.uint32).view(np.float32)
    with np.errstate(invalid="ignore"):
        x64 = x32.astype(np.float64)  # NaN payloads: NaN
    lo, hi = entry.domain.lo, entry.domain.hi
    if lo > -math.inf or hi < math.inf:
        with np.errstate(invalid="ignore"):
            inside = ((x64 > lo) | ((x64 == lo) & entry.domain.lo_closed)) & \
                     ((x64 < hi) | ((x64 == hi) & entry.domain.hi_closed))
        keep = inside | np.isnan(x64)  # NaN inputs are checked too (NaN out)
        x32, x64 = x32[keep], x64[keep]
    with np.errstate(invalid="ignore"):
        ys = entry.kernel(dtype="float32")(x32)
    refs = entry.kernel(dtype="float64", accuracy="libm")(x64)
    shared = (time.perf_counter() - t0) / len(outputs)  # the kernel calls, split between the outputs
    results = []
    for output in outputs:
        t1 = time.perf_counter()
        index = 0 if output == "value" else 1
        with np.errstate(invalid="ignore"):  # NaN payloads
            y = ys[index].astype(np.float64)
        res = _compare_output(entry, ChunkResult(entry_id, output, start, count), x64, y, refs[index], index)
        res.seconds = shared + time.perf_counter() - t1
        results.append(res)
    return results


def _compare_output(entry, res: ChunkResult, x64: np.ndarray, y: np.ndarray, r: np.ndarray,
                    index: int) -> ChunkResult:
    """Fill ``res`` from the float32 results ``y`` and the float64 references ``r``; the arb
    oracle decides the points whose rounding ``r`` leaves open."""
    res.checked = int(x64.size)
    max_err, not_cr, not_faithful, special, near, worst, worst_err = _compare(x64, y, r, MIDPOINT_GUARD)
    res.max_ulp, res.not_faithful, res.special_mismatch = float(max_err), int(not_faithful), int(special)
    res.not_correctly_rounded = int(not_cr) + int(special)
    if near.size:
        exact = entry.reference(x64[near], order=index)
        res.oracle_calls = int(near.size)
        with np.errstate(over="ignore"):
            cr = exact.astype(np.float32).astype(np.float64)
        r32 = r[near].astype(np.float32).astype(np.float64)
        half = np.array([_ulp32(v) / 2 for v in r32])
        res.undecided = int(np.sum(np.abs(exact - r32) == half))
        res.not_correctly_rounded += int(np.sum(y[near] != cr))
    res.worst = [(float(e), float(x64[i]), float(y[i]), float(r[i]))
                 for e, i in sorted(zip(worst_err, worst), reverse=True) if e >= 0]
    return res


def combine(chunks: list[ChunkResult]) -> dict:
    """Merge chunk results of one (entry, output) into its report."""
    out = {
        "entry": chunks[0].entry, "output": chunks[0].output,
        "inputs": sum(c.count for c in chunks), "checked": sum(c.checked for c in chunks),
        "max_ulp": max(c.max_ulp for c in chunks),
        "not_correctly_rounded": sum(c.not_correctly_rounded for c in chunks),
        "not_faithful": sum(c.not_faithful for c in chunks),
        "special_mismatch": sum(c.special_mismatch for c in chunks),
        "oracle_calls": sum(c.oracle_calls for c in chunks),
        "undecided": sum(c.undecided for c in chunks),
        "cpu_seconds": sum(c.seconds for c in chunks),
    }
    worst = sorted((w for c in chunks for w in c.worst), key=lambda w: -w[0])[:WORST_KEPT]
    out["worst"] = [{"ulp": w[0], "x": w[1], "y": w[2], "reference": w[3]} for w in worst]
    out["exhaustive"] = out["inputs"] == 1 << 32
    return out
