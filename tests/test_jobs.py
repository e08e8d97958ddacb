"""Catalog-wide jobs (funclib.jobs) on a local Dask cluster, and the exhaustive float32 check
(funclib.exhaustive) against an independent computation of the same counts."""

from __future__ import annotations

import math
import time
from fractions import Fraction

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
    value, derivative = exhaustive.chunk_results(entry_id, start, count, reference="libm")
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


def _recount(entry_id: str, start: int, count: int, index: int, reference: str = "libm", y=None):
    """(checked, max ULP, not faithful, not correctly rounded, special mismatches) in NumPy array
    operations, without the fused loop: domain from the entry, ULP by frexp/ldexp; ``y``
    replaces the float32 kernel's results."""
    entry = funclib.get(entry_id)
    x32 = np.arange(start, start + count, dtype=np.uint64).astype(np.uint32).view(np.float32)
    with np.errstate(invalid="ignore", over="ignore"):
        x = x32.astype(np.float64)
        d = entry.domain
        inside = ((x > d.lo) | ((x == d.lo) & d.lo_closed)) & ((x < d.hi) | ((x == d.hi) & d.hi_closed)) | np.isnan(x)
        if d.lo == -math.inf and d.hi == math.inf:
            inside[:] = True  # on the whole line the infinite inputs are checked too (limits)
        if y is None:
            y = entry.kernel(dtype="float32")(x32)[index]
        y = y.astype(np.float64)[inside]
        r = entry.kernel(dtype="float64", accuracy=reference)(x)[index][inside]
        r32 = r.astype(np.float32).astype(np.float64)
    finite = np.isfinite(r32)
    special = int(np.sum(~finite & ~((y == r32) | (np.isnan(y) & np.isnan(r32)))))
    _, e = np.frexp(np.abs(r[finite]))
    ulp = np.ldexp(1.0, np.maximum(e - 1, -126) - 23)
    ulp[r[finite] == 0] = 2.0**-149
    with np.errstate(invalid="ignore"):
        err = np.where(np.isfinite(y[finite]), np.abs(y[finite] - r[finite]) / ulp, np.inf)
    wrong = int(np.sum(y[finite] != r32[finite]))
    return int(inside.sum()), float(err.max(initial=0.0)), int(np.sum(err >= 1.0)), wrong, special


@pytest.mark.parametrize("entry_id, start, count", [
    ("gelu", _bits(-6.0), 50_000),  # not a multiple of the block, start not aligned
    ("silu", 0x7F7FF000, 0x2000),  # the largest finite values, +inf and NaN payloads
    ("tanh", 0x807FF000, 0x2000),  # -0 .. the negative subnormals and the least normals
    ("logit", _bits(0.999), 30_000),  # open domain (0, 1): the inputs >= 1 are not counted
])
def test_fused_loop_agrees_with_a_numpy_recount(entry_id, start, count):
    for reference in ("fast", "libm"):
        results = exhaustive.chunk_results(entry_id, start, count, reference=reference)
        for res, index in zip(results, (0, 1)):
            checked, max_ulp, unfaithful, wrong, special = _recount(entry_id, start, count, index, reference)
            assert (res.checked, res.not_faithful, res.special_mismatch) == (checked, unfaithful, special)
            assert res.max_ulp == pytest.approx(max_ulp, rel=1e-12, abs=0)
            # points near a rounding midpoint are decided by the oracle, the others from r
            assert abs(res.not_correctly_rounded - (wrong + special)) <= res.oracle_calls
            assert res.reference == reference and res.reference_gap <= exhaustive.MIDPOINT_GUARD / 4


def test_cross_check_covers_every_64th_pattern_and_both_references_agree():
    start, count = _bits(0.75) + 3, 10_000
    fast = exhaustive.chunk_results("mish", start, count, reference="fast")
    libm = exhaustive.chunk_results("mish", start, count, reference="libm")
    multiples = len(range(-(-start // 64) * 64, start + count, 64))
    for f, m in zip(fast, libm):
        assert f.cross_checked == multiples and m.cross_checked == 0
        assert 0 < f.reference_gap <= exhaustive.MIDPOINT_GUARD / 4  # the two float64 kernels differ, slightly
        assert f.max_ulp == pytest.approx(m.max_ulp, abs=1e-6)
        assert (f.checked, f.not_faithful) == (m.checked, m.not_faithful)


def test_fused_loop_finds_planted_errors():
    """A float32 "kernel" that is the real one moved up 4 ULP (value) and down 1 ULP
    (derivative) at every 7th input of each block: the fused loop's counts equal the NumPy
    recount of the same moved results, and the worst value is a planted one."""
    from numba import njit

    entry = funclib.get("gelu")
    run = entry.kernel(dtype="float32").module.run

    @njit
    def planted(x, y0, y1):
        run(x, y0, y1)
        for i in range(x.shape[0]):
            if i % 7 == 3:
                for _ in range(4):
                    y0[i] = np.nextafter(y0[i], np.float32(np.inf))
                y1[i] = np.nextafter(y1[i], np.float32(-np.inf))

    libm = entry.kernel(dtype="float64", accuracy="libm").module.run
    scan = exhaustive.scanner(planted, libm, None)
    start, count = _bits(1.0), 3 * exhaustive.BLOCK
    counts, worst_err, worst_row, near, gap, n_cross = scan(start, count, -np.inf, np.inf, False, False,
                                                            (), (), (), exhaustive.MIDPOINT_GUARD, 64)
    x32 = np.arange(start, start + count, dtype=np.uint32).view(np.float32)
    ys = entry.kernel(dtype="float32")(x32)
    moved = (np.arange(count) % exhaustive.BLOCK) % 7 == 3
    for _ in range(4):
        ys[0][moved] = np.nextafter(ys[0][moved], np.float32(np.inf))
    ys[1][moved] = np.nextafter(ys[1][moved], np.float32(-np.inf))
    assert n_cross == 0 and gap.max() == 0.0
    for o in (0, 1):
        checked, max_ulp, unfaithful, wrong, special = _recount("gelu", start, count, o, y=ys[o])
        undecided = int(np.sum(near[:, 0] == o))
        assert (counts[o, 0], counts[o, 2], counts[o, 3]) == (checked, unfaithful, special) == (count, unfaithful, 0)
        assert counts[o, 1] <= wrong <= counts[o, 1] + undecided
        assert worst_err[o, -1] == pytest.approx(max_ulp, rel=1e-12)
    assert counts[0, 2] >= moved.sum()  # 4 ULP away (the kernel is within 2): never faithful
    assert moved[int(worst_row[0, -1, 0]) - start]


def test_midpoints_go_to_the_oracle_also_just_below_a_power_of_two():
    """References a hair from half-way between two float32 numbers leave the rounding open:
    below 1 the neighbours are 2^-24 apart (not ulp32(1) = 2^-23), above 1 2^-23 apart."""
    from numba import njit

    @njit
    def ones(x, y0, y1):
        y0[:] = np.float32(1.0)
        y1[:] = np.float32(1.0)

    @njit
    def near_midpoints(x, r0, r1):
        r0[:] = 1.0 - 2.0**-25 + 2.0**-60  # rounds to 1
        r1[:] = 1.0 + 2.0**-24 - 2.0**-60  # rounds to 1

    scan = exhaustive.scanner(ones, near_midpoints, None)
    counts, worst_err, _, near, _, _ = scan(_bits(0.5), 5, -np.inf, np.inf, False, False, (), (), (),
                                            exhaustive.MIDPOINT_GUARD, 64)
    assert sorted(near[:, 0].tolist()) == [0] * 5 + [1] * 5
    assert counts[:, 1].tolist() == [0, 0] and counts[:, 2].tolist() == [0, 0]
    assert worst_err[0, -1] == pytest.approx(0.5) and worst_err[1, -1] == pytest.approx(0.5)


@pytest.mark.parametrize("sign_bit", [0, 1 << 31])
def test_ties_at_subnormal_outputs_are_decided_by_enclosures(sign_bit):
    """GELU at x = k 2^-149: the float64 reference is exactly x/2, half-way between two float32
    numbers when k is odd; the true value x/2 + x^2/sqrt(2 pi) + ... lies above it, so the
    correctly rounded result is the upper neighbour (ceil(k/2) 2^-149), whatever the sign of x."""
    count = 64
    res = exhaustive.chunk_results("gelu", sign_bit + 1, count, ("value",))[0]
    assert res.undecided == 0 and res.oracle_calls >= count // 2
    k = np.arange(1, count + 1) * (-1 if sign_bit else 1)
    x = (k * 2.0**-149).astype(np.float32)
    y = funclib.get("gelu").kernel(dtype="float32", outputs="value")(x).astype(np.float64)
    correct = np.ceil(k / 2) * 2.0**-149
    assert res.not_correctly_rounded == int(np.sum(y != correct))


def test_tie_side_of_an_exact_tie_is_zero():
    import sympy as sp

    x = sp.Symbol("x")
    assert exhaustive.tie_side(x / 2, x, 3.0, 1.5) == 0  # exactly on the midpoint: no side
    assert exhaustive.tie_side(x / 2 + x**2 / 1000, x, 3.0, 1.5) == 1
    assert exhaustive.tie_side(x / 2 - x**2 / 1000, x, 3.0, 1.5) == -1


def test_exact_ties_are_decided_not_undecided():
    """softshrink(x) = x - 1/2 at x in [2^23, 2^24): the value is exactly half-way between two
    float32 numbers; round-half-even is the correct rounding, so nothing is undecided."""
    start = int(np.array(2.0**23, np.float32).view(np.uint32))
    res = exhaustive.chunk_results("softshrink", start, 256, ("value",))[0]
    assert res.oracle_calls == 255 and res.undecided == 0  # 2^23 - 1/2 is a float32 number
    x = (np.arange(256) + 2.0**23).astype(np.float32)
    y = funclib.get("softshrink").kernel(dtype="float32", outputs="value")(x).astype(np.float64)
    assert res.not_correctly_rounded == int(np.sum(y != (x.astype(np.float64) - 0.5).astype(np.float32)))


def test_bad_chunk_arguments_are_refused():
    with pytest.raises(ValueError, match="outputs must be among"):
        exhaustive.chunk_results("relu", 0, 8, ("value", "grad"))
    with pytest.raises(ValueError, match="reference must be one of"):
        exhaustive.chunk_results("relu", 0, 8, reference="arb")
    with pytest.raises(ValueError, match="outside 0 .. 2\\^32"):
        exhaustive.chunk_results("relu", (1 << 32) - 4, 8)
    with pytest.raises(ValueError, match="reference must be one of"):
        jobs.exhaustive_float32(["relu"], bits=(0, 8), reference="mpmath")


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


def test_jitted_float32_spacing_is_the_accuracy_modules_ulp():
    """The exhaustive reduction's jitted float32 ULP is funclib.accuracy.ulp (one definition of
    the unit; the jitted copy exists because the reduction runs inside Numba)."""
    from funclib.accuracy import ulp
    from funclib.exhaustive import _inv_ulp32, _ulp32

    rng = np.random.default_rng(4)
    bits = rng.integers(0, 0x7F800000, size=2000, dtype=np.int64).astype(np.uint32)
    values = np.concatenate([bits.view(np.float32).astype(np.float64),
                             [0.0, 1e-45, 1.1754942e-38, 1.1754944e-38, 1.0, 0.99999994, 3.4028235e38]])
    for r in values:
        assert _ulp32(r) == float(ulp(np.array(r), "float32")), r
        assert _ulp32(r) * _inv_ulp32(r) == 1.0


def test_exact_midpoints_of_rational_functions_are_decided():
    """leaky ReLU x/100 at x = -k 2^-149 is an exact float32 midpoint when k = 100 j + 50: no
    ball encloses it away from the midpoint, exact rational arithmetic decides it (half to even)."""
    start, count = (1 << 31) + 1, 400
    res = exhaustive.chunk_results("leaky_relu", start, count, ("value",))[0]
    assert res.undecided == 0 and res.oracle_calls == 4  # k = 50, 150, 250, 350
    k = np.arange(1, count + 1)
    x = (-k * 2.0**-149).astype(np.float32)
    y = funclib.get("leaky_relu").kernel(dtype="float32", outputs="value")(x).astype(np.float64)
    correct = np.array([-float(round(Fraction(int(j), 100))) for j in k]) * 2.0**-149  # half to even
    assert res.not_correctly_rounded == int(np.sum(y != correct))


def test_ties_no_enclosure_separates_are_decided_by_symbolic_cancellation():
    """tanhshrink x - tanh x at x in [2^24, 2^25): x - 1 is a float32 midpoint and the value
    exceeds it by 2/(e^(2x) + 1) ~ 2^(-2^25), far below any enclosure's radius; q + B with
    q = x - (x - 1) = 1 cancels symbolically to 2/(e^(2x) + 1) > 0, so the correct rounding is
    the upper neighbour x (mirror image below 0)."""
    import sympy as sp

    sym = sp.Symbol("x")
    assert exhaustive.tie_side(sym - sp.tanh(sym), sym, 2.0**24, 2.0**24 - 1) == 1
    assert exhaustive.tie_side(sym - sp.tanh(sym), sym, -(2.0**24) - 2, -(2.0**24) - 1) == -1
    start = int(np.array(2.0**24, np.float32).view(np.uint32))
    res = exhaustive.chunk_results("tanhshrink", start, 64, ("value",))[0]
    assert res.undecided == 0 and res.oracle_calls >= 63
    x = (np.arange(64) * 2 + 2.0**24).astype(np.float32)
    y = funclib.get("tanhshrink").kernel(dtype="float32", outputs="value")(x)
    correct = x.copy()
    correct[0] = 2.0**24 - 1  # a float32 number below 2^24: no tie there
    assert res.not_correctly_rounded == int(np.sum(y != correct))
