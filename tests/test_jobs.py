"""Catalog-wide jobs (funclib.jobs) on a local Dask cluster, and the exhaustive float32 check
(funclib.exhaustive) against an independent computation of the same counts."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

import funclib
from funclib import exhaustive, jobs

pytest.importorskip("distributed")


def _bits(x: float) -> int:
    return int(np.array([x], dtype=np.float32).view(np.uint32)[0])


def _independent(entry_id: str, start: int, count: int, index: int):
    """max ULP and not-faithful count from NumPy: |y - r| / spacing(float32(|r|)) with the
    float64 libm kernel as r (the module's own reference, computed here without its loop)."""
    entry = funclib.get(entry_id)
    x32 = np.arange(start, start + count, dtype=np.uint64).astype(np.uint32).view(np.float32)
    y = entry.kernel(dtype="float32")(x32)[index].astype(np.float64)
    r = entry.kernel(dtype="float64", accuracy="libm")(x32.astype(np.float64))[index]
    finite = np.isfinite(r.astype(np.float32))
    r32 = np.abs(r[finite]).astype(np.float32)
    # spacing of float32 at |r|: the gap above the float32 at or below |r|
    below = np.where(r32.astype(np.float64) > np.abs(r[finite]), np.nextafter(r32, np.float32(0)), r32)
    ulp = np.spacing(below).astype(np.float64)
    err = np.abs(y[finite] - r[finite]) / ulp
    return float(err.max()), int(np.sum(err >= 1.0))


@pytest.mark.parametrize("entry_id, x0", [("elu", -3.0), ("gelu", 0.5), ("softplus", -20.0)])
def test_chunk_counts_agree_with_numpy(entry_id, x0):
    start, count = _bits(x0), 1 << 15
    value, derivative = exhaustive.chunk_results(entry_id, start, count)
    assert (value.output, derivative.output) == ("value", "derivative")
    for res, index in ((value, 0), (derivative, 1)):
        max_ulp, not_faithful = _independent(entry_id, start, count, index)
        assert res.checked == count
        assert res.max_ulp == pytest.approx(max_ulp, rel=1e-12)
        assert res.not_faithful == not_faithful
        assert res.not_correctly_rounded >= res.not_faithful
        assert res.special_mismatch == 0
        if res.worst:
            assert res.worst[0][0] == pytest.approx(res.max_ulp)


def test_relu_is_exact_and_specials_match():
    # the top of the float32 range: finite values, +inf and the positive NaN payloads
    start = _bits(3.0e38)
    count = (1 << 31) - start
    value, derivative = exhaustive.chunk_results("relu", start, count)
    for res in (value, derivative):
        assert res.checked == count
        assert res.max_ulp == 0.0
        assert res.not_correctly_rounded == res.not_faithful == res.special_mismatch == 0


def test_combine_merges_chunks():
    a = exhaustive.chunk_results("elu", _bits(-1.0), 1 << 12, ("value",))[0]
    b = exhaustive.chunk_results("elu", _bits(-1.0) + (1 << 12), 1 << 12, ("value",))[0]
    both = exhaustive.combine([a, b])
    assert both["inputs"] == both["checked"] == 1 << 13
    assert both["max_ulp"] == max(a.max_ulp, b.max_ulp)
    assert both["not_correctly_rounded"] == a.not_correctly_rounded + b.not_correctly_rounded
    assert both["exhaustive"] is False


def test_local_cluster_jobs():
    """One local cluster run of each job: results equal the in-process computations."""
    lo = _bits(1.5)
    rows, report = jobs.exhaustive_float32(["elu"], bits=(lo, lo + (1 << 13)), workers=2)
    assert not report.failures and report.workers == 2
    direct = exhaustive.chunk_results("elu", lo, 1 << 13)
    assert [r["output"] for r in rows] == ["value", "derivative"]
    for row, res in zip(rows, direct):
        assert row["max_ulp"] == res.max_ulp and row["not_correctly_rounded"] == res.not_correctly_rounded

    proved = jobs.prove(["relu", "elu"], workers=2)
    assert not proved.failures
    for entry_id in ("relu", "elu"):
        _, slot = proved.results[entry_id]
        cached = funclib.get(entry_id).properties()
        assert slot["default"]["facts"]["slope_bounds"]["value"] == pytest.approx(list(cached["slope_bounds"].value))

    measured = jobs.accuracy(["relu"], dtypes=("float64",), outputs=("value",), workers=1)
    assert not measured.failures
    assert measured.results["relu[None]-float64-value"]["max_ulp"] == 0.0


def test_unreachable_scheduler_is_a_clear_error_within_the_timeout():
    t0 = time.perf_counter()
    with pytest.raises(jobs.JobError, match="cannot reach the Dask scheduler at tcp://127.0.0.1:9"):
        jobs.prove(["relu"], scheduler="tcp://127.0.0.1:9")
    assert time.perf_counter() - t0 < jobs.CONNECT_TIMEOUT + 5


def test_bad_bit_range_and_kinds_are_refused():
    with pytest.raises(ValueError, match="bits must satisfy"):
        jobs.exhaustive_float32(["relu"], bits=(10, 5))
    with pytest.raises(ValueError, match="not elementwise"):
        jobs.prove(["softmax"])
    assert math.isfinite(exhaustive.MIDPOINT_GUARD)
