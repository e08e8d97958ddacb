"""Row-wise Numba kernels (funclib.kernels.rowwise) against independent references.

Values: PyTorch ``softmax``/``log_softmax``/``logsumexp`` and the ``entmax`` package
(``sparsemax``, ``entmax15``, ``entmax_bisect``) to 1e-12 in float64; the float64 references
of :mod:`funclib.rowwise` (written from the catalog entries) and their 50-digit mpmath
references; float32 results against the float64 reference of the same float32 input in ULPs.
Rows: random, ties, ``-inf`` and boolean masks, magnitudes up to ``±1e4`` and ``±3e38``,
length 1, fully masked rows, NaN. The three softmax algorithms against each other, Condat's
sparsemax against the sort-based one, bisection against the exact maps.
Derivatives: JVP and VJP against central finite differences, against each other
(:math:`\\langle u, J v\\rangle = \\langle J^\\top u, v\\rangle`), against the closed-form
Jacobians of :func:`funclib.rowwise.jacobian` and against PyTorch/entmax autograd.
Plumbing: axes, strides, mask broadcasting, parallel == serial bitwise, determinism, errors.
The vectorizable exponential of :mod:`funclib.kernels.rowwise.scalar_math` is checked in ULPs against
mpmath over its whole range.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import mpmath
import numpy as np
import pytest

from funclib.kernels import rowwise as rw
from funclib.kernels.rowwise import layout as rowwise_layout
from funclib.kernels.rowwise import scalar_math as rowwise_math
from funclib.kernels.rowwise import softmax_family as rowwise_softmax
from funclib.kernels.rowwise import sparse as rowwise_sparse
from funclib.rowwise import evaluate, jacobian, mp_reference
from helpers import max_ulp_distance

# The frameworks are second checks only: without them the Numba/mpmath checks still run.
try:
    import torch
except ImportError:  # pragma: no cover - the test extra installs it
    torch = None
try:
    import entmax
except ImportError:  # pragma: no cover
    entmax = None

needs_torch = pytest.mark.skipif(torch is None, reason="PyTorch is not installed (cross-check only)")
needs_entmax = pytest.mark.skipif(torch is None or entmax is None, reason="entmax/PyTorch not installed (cross-check only)")

ALGOS = rw.SOFTMAX_ALGORITHMS
F32_EPS = float(np.finfo(np.float32).eps)


# -- helpers --------------------------------------------------------------------------------

def _rng(seed=0):
    return np.random.default_rng(seed)


def _rel32(ours: np.ndarray, ref64: np.ndarray) -> float:
    """Max error in units of ``eps32 * |ref|`` (plus the subnormal spacing), NaN-free inputs."""
    tiny = float(np.finfo(np.float32).smallest_subnormal)
    err = np.abs(ours.astype(np.float64) - ref64)
    return float(np.max(err / (F32_EPS * np.abs(ref64) + tiny), initial=0.0))


def _masked_inf(x: np.ndarray, mask: np.ndarray) -> np.ndarray:
    return np.where(mask, x, -np.inf)


def _torch(x):
    return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float64))


def _adversarial_rows(dtype) -> list[np.ndarray]:
    big = 3e38 if dtype == np.float32 else 1.7e308
    rows = [
        np.array([1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0]),
        np.array([0.5, 0.5, 0.5, 0.5]),
        np.array([3.0, 3.0, 2.0, 2.0, 2.0, -1.0]),
        np.array([1e4, -1e4, 1e4 - 3.0, 0.0, 9999.5]),
        np.array([-1e4, -1e4 + 0.5, -1e4 - 7.0]),
        np.array([big, -big, 0.0, big / 2]),
        np.array([-big, -big / 3, -big / 2]),
        np.array([0.25]),
        np.array([2.0, -np.inf, 1.0, -np.inf]),
        np.array([-np.inf, -np.inf, 7.0]),
        np.array([80.0, 79.0, -80.0, 3.0, 3.0]),
        np.array([1e-30, 0.0, -1e-30, 1e-40]),
    ]
    return [r.astype(dtype) for r in rows]


# -- the exponential ------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_vexp_ulps_against_mpmath(dtype):
    lo, hi = (-104.0, 89.0) if dtype == np.float32 else (-746.0, 710.0)
    rng = _rng(1)
    x = np.concatenate([
        rng.uniform(lo, hi, 3000), rng.uniform(-1, 1, 1000),
        np.linspace(lo, lo + 20, 400), np.linspace(hi - 3, hi, 100),
        [0.0, -0.0, np.finfo(dtype).tiny, -np.finfo(dtype).smallest_subnormal],
    ]).astype(dtype)
    out = np.empty_like(x)
    rowwise_math.exp_kernel(x, out)
    with mpmath.workdps(40):
        exact = [mpmath.exp(mpmath.mpf(xi)) for xi in x.tolist()]
    worst = max_ulp_distance(out, exact, dtype)  # overflow: exactly inf
    assert worst <= 1.0, worst


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_vexp_special_values(dtype):
    x = np.array([np.inf, -np.inf, np.nan, 1000.0, -1000.0], dtype=dtype)
    out = np.empty_like(x)
    rowwise_math.exp_kernel(x, out)
    assert out[0] == np.inf and out[1] == 0.0 and np.isnan(out[2]) and out[3] == np.inf and out[4] == 0.0


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_exp_reduce_is_a_mantissa_exponent_pair(dtype):
    x = np.linspace(-3e4, 3e4, 2001).astype(dtype)
    m = np.empty_like(x)
    n = np.empty_like(x)
    rowwise_math.exp_reduce_kernel(x, m, n)
    # n = rint(x log2 e) is rounded in the working precision, so |r| may pass ln2/2 by ulp(n) ln 2
    assert np.all((m >= np.sqrt(0.5) * 0.99) & (m <= np.sqrt(2.0) * 1.01))
    assert np.array_equal(n, np.rint(n))
    with mpmath.workdps(30):
        for xi, mi, ni in list(zip(x.tolist(), m.tolist(), n.tolist()))[::50]:
            ref = mpmath.exp(mpmath.mpf(xi)) / mpmath.mpf(2) ** int(ni)
            assert abs(mi - ref) / ref < 4 * np.finfo(dtype).eps


# -- softmax family: values ------------------------------------------------------------------

@needs_torch
@pytest.mark.parametrize("algorithm", ALGOS)
@pytest.mark.parametrize("n", [1, 5, 64, 1500])
def test_softmax_matches_torch_float64(algorithm, n):
    x = _rng(n).normal(scale=4.0, size=(3, 2, n))
    xt = _torch(x)
    np.testing.assert_allclose(rw.softmax(x, algorithm=algorithm), torch.softmax(xt, -1).numpy(), rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(rw.log_softmax(x, algorithm=algorithm), torch.log_softmax(xt, -1).numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(rw.logsumexp(x), torch.logsumexp(xt, -1).numpy(), rtol=1e-13)


@pytest.mark.parametrize("algorithm", ALGOS)
def test_softmax_adversarial_rows_float64(algorithm):
    for row in _adversarial_rows(np.float64):
        ref = evaluate("softmax", row)
        lref = evaluate("log_softmax", row)
        np.testing.assert_allclose(rw.softmax(row, algorithm=algorithm), ref, rtol=1e-12, atol=1e-300, err_msg=str(row))
        ours = rw.log_softmax(row, algorithm=algorithm)
        assert np.array_equal(np.isneginf(ours), np.isneginf(lref)), row
        fin = np.isfinite(lref)
        np.testing.assert_allclose(ours[fin], lref[fin], rtol=1e-12, atol=1e-12 * max(1.0, np.abs(row[np.isfinite(row)]).max()), err_msg=str(row))
        np.testing.assert_allclose(rw.logsumexp(row), evaluate("logsumexp", row), rtol=1e-13)


def test_softmax_against_mpmath_reference():
    rows = [_rng(3).normal(scale=s, size=n) for s, n in ((1.0, 7), (30.0, 16), (0.1, 3))] + _adversarial_rows(np.float64)[:5]
    for row in rows:
        with mpmath.workdps(50):
            ref = np.array([float(v) for v in mp_reference("softmax", row)])
            lref = np.array([float(v) for v in mp_reference("log_softmax", row)])
        for algo in ALGOS:
            np.testing.assert_allclose(rw.softmax(row, algorithm=algo), ref, rtol=4e-15, atol=1e-300)
            np.testing.assert_allclose(rw.log_softmax(row, algorithm=algo), lref, rtol=4e-15,
                                       atol=4e-16 * max(1.0, np.abs(row).max()))


@pytest.mark.parametrize("algorithm", ALGOS)
@pytest.mark.parametrize("n", [1, 7, 300, 5000])
def test_softmax_float32_ulps(algorithm, n):
    x = (_rng(10 + n).normal(scale=6.0, size=(4, n))).astype(np.float32)
    ref = evaluate("softmax", x.astype(np.float64))
    assert _rel32(rw.softmax(x, algorithm=algorithm), ref) <= 4
    lref = evaluate("log_softmax", x.astype(np.float64))
    err = np.abs(rw.log_softmax(x, algorithm=algorithm).astype(np.float64) - lref)
    assert (err / (F32_EPS * np.maximum(1.0, np.abs(lref)))).max() <= 4


@pytest.mark.parametrize("algorithm", ALGOS)
def test_softmax_float32_adversarial(algorithm):
    for row in _adversarial_rows(np.float32):
        ref = evaluate("softmax", row.astype(np.float64))
        ours = rw.softmax(row, algorithm=algorithm)
        assert ours.dtype == np.float32
        assert _rel32(ours, ref) <= 4, (row, ours, ref)
        with np.errstate(over="ignore"):  # a log-probability below -3.4e38 is -inf in float32
            lref = evaluate("log_softmax", row.astype(np.float64)).astype(np.float32).astype(np.float64)
        lo = rw.log_softmax(row, algorithm=algorithm).astype(np.float64)
        assert np.array_equal(np.isneginf(lo), np.isneginf(lref))
        fin = np.isfinite(lref)
        scale = np.maximum(1.0, np.abs(lref[fin]))
        assert (np.abs(lo[fin] - lref[fin]) / (F32_EPS * scale)).max() <= 4, (row, lo, lref)


def test_two_pass_range_limit():
    # the kernel's fast-path bound is TWO_PASS_LIMIT; just inside it the pair reduction is used,
    # just outside the row falls back to three passes; both agree with the reference
    for dtype, lim in rowwise_math.TWO_PASS_LIMIT.items():
        for top in (0.999 * lim, 1.001 * lim, -0.99 * lim):
            row = (top - np.array([0.0, 0.5, 3.0, 40.0])).astype(dtype)
            ref = evaluate("softmax", row.astype(np.float64))
            np.testing.assert_allclose(rw.softmax(row, algorithm="two_pass"), ref, rtol=8 * np.finfo(dtype).eps, atol=1e-300)


def test_three_algorithms_agree():
    x = _rng(5).normal(scale=3.0, size=(7, 2500))
    x[0, :10] = -np.inf
    x[1] = 1e5 + x[1]  # beyond the float64 two-pass range: falls back, still agrees
    a, b, c = (rw.softmax(x, algorithm=algo) for algo in ALGOS)
    np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-300)
    np.testing.assert_allclose(a, c, rtol=1e-13, atol=1e-300)
    la, lb, lc = (rw.log_softmax(x, algorithm=algo) for algo in ALGOS)
    fin = np.isfinite(la)
    assert np.array_equal(fin, np.isfinite(lb)) and np.array_equal(fin, np.isfinite(lc))
    np.testing.assert_allclose(la[fin], lb[fin], rtol=1e-12, atol=1e-11)
    np.testing.assert_allclose(la[fin], lc[fin], rtol=1e-12, atol=1e-11)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("algorithm", ALGOS)
def test_softmax_masks_and_conventions(dtype, algorithm):
    rng = _rng(7)
    x = rng.normal(size=(5, 9)).astype(dtype)
    mask = rng.random((5, 9)) < 0.6
    mask[0] = False          # fully masked row
    mask[1] = True
    mask[2, :] = False
    mask[2, 4] = True        # a single kept entry
    y = rw.softmax(x, mask=mask, algorithm=algorithm)
    ly = rw.log_softmax(x, mask=mask, algorithm=algorithm)
    ref = evaluate("softmax", _masked_inf(x.astype(np.float64), mask))
    assert np.all(y[0] == 0) and np.all(np.isneginf(ly[0]))
    assert np.all(y[~mask] == 0) and np.all(np.isneginf(ly[~mask]))
    assert y[2, 4] == 1
    # the two-pass log-softmax recomputes e^x as (mantissa, exponent): about 1 ULP of 1 near 0
    assert ly[2, 4] == 0 if algorithm != "two_pass" else abs(ly[2, 4]) <= 2 * np.finfo(dtype).eps
    tol = 4 * np.finfo(dtype).eps
    np.testing.assert_allclose(y, ref, rtol=tol, atol=1e-300)
    # the mask acts as a -inf input, as in the catalog (funclib.rowwise.reference); the masked
    # loops are vectorized differently, so the sums may differ in the last bit
    np.testing.assert_allclose(rw.softmax(_masked_inf(x, mask), algorithm=algorithm), y, rtol=tol, atol=1e-300)
    assert np.all(rw.softmax(np.full((1, 4), -np.inf, dtype=dtype), algorithm=algorithm) == 0)
    assert np.all(rw.log_softmax(np.full((1, 4), -np.inf, dtype=dtype), algorithm=algorithm) == -np.inf)
    # NaN in a row: NaN at its kept entries, the masked value at masked or -inf entries
    z = np.array([[1.0, np.nan, -np.inf, 2.0]], dtype=dtype)
    keep = np.array([[True, True, True, False]])
    for m in (None, keep):
        got = rw.softmax(z, mask=m, algorithm=algorithm)
        assert np.isnan(got[0, :2]).all() and got[0, 2] == 0
        lgot = rw.log_softmax(z, mask=m, algorithm=algorithm)
        assert np.isnan(lgot[0, :2]).all() and lgot[0, 2] == -np.inf
    assert rw.softmax(z, mask=keep, algorithm=algorithm)[0, 3] == 0
    assert np.all(rw.logsumexp(x, mask=mask)[0] == -np.inf)


@pytest.mark.parametrize("algorithm", ALGOS)
def test_softmax_nan_rows(algorithm):
    x = np.array([[1.0, np.nan, 2.0], [1.0, 2.0, 3.0], [np.inf, 1.0, 0.0]])
    y = rw.softmax(x, algorithm=algorithm)
    assert np.all(np.isnan(y[0])) and np.all(np.isfinite(y[1])) and np.all(np.isnan(y[2]))
    assert np.all(np.isnan(rw.log_softmax(x, algorithm=algorithm)[0]))


def test_ssmax_values():
    rng = _rng(11)
    x = rng.normal(size=(4, 12))
    mask = np.tril(np.ones((4, 12), dtype=bool), k=8)
    for s in (0.0, 0.43, 2.0):
        ref = evaluate("ssmax", _masked_inf(x, mask), {"s": s})
        for algo in ALGOS:
            np.testing.assert_allclose(rw.ssmax(x, s, mask=mask, algorithm=algo), ref, rtol=1e-13, atol=1e-300)
        if torch is None:
            continue
        n = mask.sum(axis=1, keepdims=True)
        direct = torch.softmax(_torch(np.where(mask, s * np.log(n) * x, -np.inf)), -1).numpy()
        np.testing.assert_allclose(rw.ssmax(x, s, mask=mask), direct, rtol=1e-13, atol=1e-300)
    np.testing.assert_array_equal(rw.ssmax(x[:, :1], 0.43), np.ones((4, 1)))  # n = 1: log n = 0


# -- sparse maps: values ---------------------------------------------------------------------

SPARSE_CASES = [
    ("sparsemax", lambda x, **k: rw.sparsemax(x, **k), lambda t: entmax.sparsemax(t, -1), "sparsemax", {}),
    ("sparsemax_sort", lambda x, **k: rw.sparsemax(x, algorithm="sort", **k), lambda t: entmax.sparsemax(t, -1), "sparsemax", {}),
    ("entmax15", lambda x, **k: rw.entmax15(x, **k), lambda t: entmax.entmax15(t, -1), "entmax15", {}),
    ("bisect_1.5", lambda x, **k: rw.entmax_bisect(x, 1.5, **k), lambda t: entmax.entmax15(t, -1), "entmax", {"alpha": 1.5}),
    ("bisect_1.25", lambda x, **k: rw.entmax_bisect(x, 1.25, **k),
     lambda t: entmax.entmax_bisect(t, 1.25, -1, n_iter=200), "entmax", {"alpha": 1.25}),
    ("bisect_2", lambda x, **k: rw.entmax_bisect(x, 2.0, **k), lambda t: entmax.sparsemax(t, -1), "entmax", {"alpha": 2.0}),
    ("bisect_1.01", lambda x, **k: rw.entmax_bisect(x, 1.01, **k),
     lambda t: entmax.entmax_bisect(t, 1.01, -1, n_iter=200), "entmax", {"alpha": 1.01}),
]
SPARSE_IDS = [c[0] for c in SPARSE_CASES]


@needs_entmax
@pytest.mark.parametrize("case", SPARSE_CASES, ids=SPARSE_IDS)
@pytest.mark.parametrize("n", [1, 6, 100, 3000])
def test_sparse_maps_match_entmax_package(case, n):
    _, ours, pkg, entry, params = case
    x = _rng(20 + n).normal(scale=2.0, size=(3, 2, n))
    p = ours(x)
    np.testing.assert_allclose(p, pkg(_torch(x)).numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(p, evaluate(entry, x, params), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(p.sum(-1), 1.0, rtol=1e-13)


@pytest.mark.parametrize("case", SPARSE_CASES, ids=SPARSE_IDS)
def test_sparse_adversarial_rows(case):
    _, ours, pkg, entry, params = case
    for dtype in (np.float64, np.float32):
        for row in _adversarial_rows(dtype):
            ref = evaluate(entry, row.astype(np.float64), params)
            p = ours(row)
            assert p.dtype == dtype
            if dtype == np.float64:
                np.testing.assert_allclose(p, ref, rtol=1e-12, atol=1e-14, err_msg=str(row))
            else:
                err = np.abs(p.astype(np.float64) - ref)
                assert np.all(err <= 2 * np.spacing(ref.astype(np.float32)) + 1e-13), (row, p, ref)


def test_sparse_against_mpmath_reference():
    rows = [_rng(31).normal(scale=s, size=n) for s, n in ((1.0, 9), (0.2, 16), (5.0, 4))]
    for row in rows:
        with mpmath.workdps(50):
            refs = {
                "sparsemax": mp_reference("sparsemax", row),
                "entmax15": mp_reference("entmax15", row),
                "entmax13": mp_reference("entmax", row, {"alpha": 1.3}),
            }
        ref = {k: np.array([float(v) for v in vals]) for k, vals in refs.items()}
        np.testing.assert_allclose(rw.sparsemax(row), ref["sparsemax"], rtol=1e-14, atol=1e-16)
        np.testing.assert_allclose(rw.entmax15(row), ref["entmax15"], rtol=1e-14, atol=1e-16)
        np.testing.assert_allclose(rw.entmax_bisect(row, 1.3), ref["entmax13"], rtol=1e-13, atol=1e-16)


@pytest.mark.parametrize("case", SPARSE_CASES, ids=SPARSE_IDS)
def test_sparse_float32_ulps(case):
    _, ours, pkg, entry, params = case
    x = _rng(40).normal(scale=2.0, size=(6, 777)).astype(np.float32)
    ref = evaluate(entry, x.astype(np.float64), params)
    err = np.abs(ours(x).astype(np.float64) - ref)
    assert np.all(err <= 2 * np.spacing(ref.astype(np.float32)) + 1e-13)


def test_condat_matches_sort_and_bisection_on_hard_rows():
    rng = _rng(50)
    rows = [
        np.round(rng.normal(size=(20, 300)) * 4) / 4,       # many ties
        np.sort(rng.normal(size=(5, 400)), axis=1),          # increasing order (Condat's worst order)
        np.sort(rng.normal(size=(5, 400)), axis=1)[:, ::-1],
        rng.normal(size=(5, 50)) * 1e-9,                     # nearly uniform
        rng.normal(size=(5, 50)) * 1e6,                      # one-hot
    ]
    for x in rows:
        a = rw.sparsemax(x)
        np.testing.assert_allclose(a, rw.sparsemax(x, algorithm="sort"), rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(a, rw.entmax_bisect(x, 2.0), rtol=1e-12, atol=1e-14)
        if entmax is not None:
            np.testing.assert_allclose(a, entmax.sparsemax(_torch(x), -1).numpy(), rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(rw.entmax15(x), rw.entmax_bisect(x, 1.5), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sparse_masks_and_conventions(dtype):
    rng = _rng(60)
    x = rng.normal(size=(4, 10)).astype(dtype)
    mask = rng.random((4, 10)) < 0.5
    mask[0] = False
    mask[1] = True
    for f, entry, params in ((rw.sparsemax, "sparsemax", {}), (rw.entmax15, "entmax15", {}),
                             (lambda a, **k: rw.entmax_bisect(a, 1.7, **k), "entmax", {"alpha": 1.7})):
        p = f(x, mask=mask)
        assert np.all(p[0] == 0) and np.all(p[~mask] == 0)
        ref = evaluate(entry, _masked_inf(x.astype(np.float64), mask), params)
        np.testing.assert_allclose(p, ref, rtol=8 * np.finfo(dtype).eps, atol=1e-7 if dtype == np.float32 else 1e-15)
        assert np.all(np.isnan(f(np.array([[1.0, np.nan, 0.0]], dtype=dtype))))
        assert np.all(np.isnan(f(np.array([[np.inf, 1.0]], dtype=dtype))))


# -- softpick ---------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softpick_values(dtype):
    rng = _rng(70)
    x = (rng.normal(size=(5, 40)) * 2).astype(dtype)
    x[0] = -np.abs(x[0])                 # m <= 0: all zeros
    x[1, :5] = -np.inf                   # -inf entries leave the denominator
    mask = rng.random((5, 40)) < 0.7
    for eps in (1e-8, 0.0, 0.5):
        ref = evaluate("softpick", x.astype(np.float64), {"eps": eps})
        y = rw.softpick(x, eps=eps)
        tol = 1e-14 if dtype == np.float64 else 2 * F32_EPS
        np.testing.assert_allclose(y, ref, rtol=tol, atol=1e-300)
        assert np.all(y[0] == 0)
        refm = evaluate("softpick", _masked_inf(x.astype(np.float64), mask), {"eps": eps})
        np.testing.assert_allclose(rw.softpick(x, mask=mask, eps=eps), refm, rtol=tol, atol=1e-300)
    for row in _adversarial_rows(dtype):
        if np.isneginf(row).all():
            continue
        ref = evaluate("softpick", row.astype(np.float64))
        np.testing.assert_allclose(rw.softpick(row), ref, rtol=1e-14 if dtype == np.float64 else 2 * F32_EPS, atol=1e-300)
    with mpmath.workdps(50):
        row = np.array([0.3, -1.2, 2.5, 0.0, 1e-9])
        ref = np.array([float(v) for v in mp_reference("softpick", row, {"eps": 1e-8})])
    np.testing.assert_allclose(rw.softpick(row), ref, rtol=1e-15, atol=1e-300)
    assert np.all(rw.softpick(np.zeros((2, 3)), mask=np.zeros((2, 3), bool)) == 0)


def test_softpick_is_the_paper_formula_not_the_reference_code():
    x = np.array([0.2, 1.0, -0.5, 2.0])
    eps = 0.3
    e = np.expm1(x)
    paper = np.maximum(e, 0) / (np.abs(e).sum() + eps)
    np.testing.assert_allclose(rw.softpick(x, eps=eps), paper, rtol=1e-15)
    code = np.maximum(np.exp(x - x.max()) - np.exp(-x.max()), 0) / (np.abs(np.exp(x - x.max()) - np.exp(-x.max())).sum() + eps)
    assert not np.allclose(rw.softpick(x, eps=eps), code, rtol=1e-6)


# -- derivatives ------------------------------------------------------------------------------

def _maps():
    """(name, value f(x), jvp(x, v), vjp(x, u), catalog id, params) in float64."""
    return [
        ("softmax", lambda x: rw.softmax(x), rw.softmax_jvp, rw.softmax_vjp, "softmax", {}),
        ("softmax_online", lambda x: rw.softmax(x, algorithm="online"),
         lambda x, v: rw.softmax_jvp(x, v, algorithm="online"), lambda x, u: rw.softmax_vjp(x, u, algorithm="two_pass"), "softmax", {}),
        ("log_softmax", lambda x: rw.log_softmax(x), rw.log_softmax_jvp, rw.log_softmax_vjp, "log_softmax", {}),
        ("ssmax", lambda x: rw.ssmax(x, 0.7), lambda x, v: rw.ssmax_jvp(x, 0.7, v), lambda x, u: rw.ssmax_vjp(x, 0.7, u), "ssmax", {"s": 0.7}),
        ("sparsemax", lambda x: rw.sparsemax(x), rw.sparsemax_jvp, rw.sparsemax_vjp, "sparsemax", {}),
        ("entmax15", lambda x: rw.entmax15(x), rw.entmax15_jvp, rw.entmax15_vjp, "entmax15", {}),
        ("entmax_1.3", lambda x: rw.entmax_bisect(x, 1.3), lambda x, v: rw.entmax_bisect_jvp(x, 1.3, v),
         lambda x, u: rw.entmax_bisect_vjp(x, 1.3, u), "entmax", {"alpha": 1.3}),
        ("softpick", lambda x: rw.softpick(x), rw.softpick_jvp, rw.softpick_vjp, "softpick", {}),
    ]


MAPS = _maps()
MAP_IDS = [m[0] for m in MAPS]


@pytest.mark.parametrize("case", MAPS, ids=MAP_IDS)
def test_jvp_vjp_finite_differences_adjoint_and_closed_form(case):
    name, f, jvp, vjp, entry, params = case
    rng = _rng(80)
    x = rng.normal(scale=1.5, size=(4, 9))
    v = rng.normal(size=x.shape)
    u = rng.normal(size=x.shape)
    h = 1e-6
    fd = (f(x + h * v) - f(x - h * v)) / (2 * h)
    jv = jvp(x, v)
    np.testing.assert_allclose(jv, fd, rtol=1e-6, atol=1e-7)
    ju = vjp(x, u)
    np.testing.assert_allclose(np.sum(u * jv, -1), np.sum(ju * v, -1), rtol=1e-12, atol=1e-13)
    jac = jacobian(entry, x, params)
    np.testing.assert_allclose(jv, np.einsum("rij,rj->ri", jac, v), rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(ju, np.einsum("rij,ri->rj", jac, u), rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("case", MAPS, ids=MAP_IDS)
def test_derivative_products_with_masks_float32(case):
    name, f, jvp, vjp, entry, params = case
    rng = _rng(81)
    x = rng.normal(scale=1.5, size=(5, 11))
    mask = rng.random(x.shape) < 0.7
    mask[0] = False
    v = rng.normal(size=x.shape)
    x32, v32 = x.astype(np.float32), v.astype(np.float32)
    kw = {"mask": mask}
    if name == "ssmax":
        j64 = rw.ssmax_jvp(x32.astype(np.float64), 0.7, v32.astype(np.float64), **kw)
        j32 = rw.ssmax_jvp(x32, 0.7, v32, **kw)
        b32 = rw.ssmax_vjp(x32, 0.7, v32, **kw)
    elif name == "entmax_1.3":
        j64 = rw.entmax_bisect_jvp(x32.astype(np.float64), 1.3, v32.astype(np.float64), **kw)
        j32 = rw.entmax_bisect_jvp(x32, 1.3, v32, **kw)
        b32 = rw.entmax_bisect_vjp(x32, 1.3, v32, **kw)
    elif name == "softmax_online":
        return  # covered by "softmax"
    else:
        fj = getattr(rw, name + "_jvp")
        fb = getattr(rw, name + "_vjp")
        j64 = fj(x32.astype(np.float64), v32.astype(np.float64), **kw)
        j32 = fj(x32, v32, **kw)
        b32 = fb(x32, v32, **kw)
    assert j32.dtype == np.float32 and b32.dtype == np.float32
    assert np.all(j32[0] == 0) and np.all(j32[~mask] == 0) and np.all(b32[~mask] == 0)
    np.testing.assert_allclose(j32, j64, rtol=1e-4, atol=1e-5)


@needs_entmax
def test_derivatives_match_torch_and_entmax_autograd():
    rng = _rng(90)
    x = rng.normal(size=(6, 30))
    u = rng.normal(size=x.shape)
    for fn, ours, y_ours in (
        (lambda t: torch.softmax(t, -1), rw.softmax_vjp, rw.softmax(x)),
        (lambda t: torch.log_softmax(t, -1), rw.log_softmax_vjp, rw.log_softmax(x)),
        (lambda t: entmax.sparsemax(t, -1), rw.sparsemax_vjp, rw.sparsemax(x)),
        (lambda t: entmax.entmax15(t, -1), rw.entmax15_vjp, rw.entmax15(x)),
    ):
        xt = _torch(x).requires_grad_(True)
        (g,) = torch.autograd.grad(fn(xt), xt, _torch(u))
        np.testing.assert_allclose(ours(x, u), g.numpy(), rtol=1e-12, atol=1e-13)
        np.testing.assert_allclose(ours(x, u, y=y_ours), g.numpy(), rtol=1e-12, atol=1e-13)
    xt = _torch(x).requires_grad_(True)
    (g,) = torch.autograd.grad(entmax.entmax_bisect(xt, 1.3, -1, n_iter=100), xt, _torch(u))
    np.testing.assert_allclose(rw.entmax_bisect_vjp(x, 1.3, u), g.numpy(), rtol=1e-9, atol=1e-10)


def test_ssmax_gradient_with_respect_to_s():
    rng = _rng(91)
    x = rng.normal(size=(3, 8))
    mask = np.tril(np.ones((3, 8), dtype=bool), k=5)
    u = rng.normal(size=x.shape)
    s, h = 0.6, 1e-6
    _, ds = rw.ssmax_vjp(x, s, u, mask=mask, return_s_grad=True)
    fd = (np.sum(u * rw.ssmax(x, s + h, mask=mask)) - np.sum(u * rw.ssmax(x, s - h, mask=mask))) / (2 * h)
    assert abs(ds - fd) <= 1e-7 * max(1.0, abs(fd))


# -- layout, parallelism, determinism, errors ------------------------------------------------

def test_axes_strides_and_broadcast_masks():
    rng = _rng(100)
    x = rng.normal(size=(4, 6, 5))
    ref = np.moveaxis(rw.softmax(np.moveaxis(x, 1, -1)), -1, 1)
    np.testing.assert_array_equal(rw.softmax(x, axis=1), ref)
    np.testing.assert_array_equal(rw.softmax(x, axis=-2), ref)
    xs = x[:, ::2, ::-1]  # non-contiguous view
    np.testing.assert_array_equal(rw.sparsemax(xs), rw.sparsemax(np.ascontiguousarray(xs)))
    mask = rng.random(5) < 0.7  # broadcast over the batch
    np.testing.assert_array_equal(rw.softmax(x, mask=mask), rw.softmax(x, mask=np.broadcast_to(mask, x.shape)))
    v = rng.normal(size=x.shape)
    np.testing.assert_array_equal(rw.entmax15_jvp(x, v, axis=0), np.moveaxis(rw.entmax15_jvp(np.moveaxis(x, 0, -1), np.moveaxis(v, 0, -1)), -1, 0))
    assert rw.logsumexp(x, axis=1).shape == (4, 5)
    assert rw.softmax(np.zeros((3, 0))).shape == (3, 0)
    assert rw.softmax(np.zeros((0, 4))).shape == (0, 4)


def _serial_parallel_pairs(x, mask):
    mk = mask if mask is not None else np.ones((1, 1), bool)
    has = mask is not None
    out_s, out_p = np.empty_like(x), np.empty_like(x)
    for algo in (0, 1, 2):
        for log in (False, True):
            rowwise_softmax.softmax_serial(x, mk, has, algo, log, False, 0.0, out_s)
            rowwise_softmax.softmax_parallel(x, mk, has, algo, log, False, 0.0, out_p)
            yield f"softmax{algo}{log}", out_s.copy(), out_p.copy()
    for kind in (0, 2, 3):
        rowwise_sparse.sparse_serial(x, mk, has, kind, 1.5, out_s)
        rowwise_sparse.sparse_parallel(x, mk, has, kind, 1.5, out_p)
        yield f"sparse{kind}", out_s.copy(), out_p.copy()


def test_parallel_equals_serial_bitwise_float32():
    rng = _rng(110)
    x = rng.normal(scale=3, size=(64, 700)).astype(np.float32)
    mask = rng.random(x.shape) < 0.9
    for m in (None, mask):
        for name, a, b in _serial_parallel_pairs(x, m):
            assert np.array_equal(a, b, equal_nan=True), name
    big = rng.normal(size=(64, 1024)).astype(np.float32)
    assert rowwise_layout.use_parallel(64, 1024) == (rowwise_layout.numba.get_num_threads() > 1)
    assert np.array_equal(rw.softmax(big), rw.softmax(big))  # deterministic run to run
    assert np.array_equal(rw.entmax_bisect(big, 1.5), rw.entmax_bisect(big, 1.5))


@pytest.mark.parametrize("bad, err", [
    (lambda: rw.softmax(np.arange(4)), TypeError),
    (lambda: rw.softmax(np.ones(4, np.float16)), TypeError),
    (lambda: rw.softmax(np.float64(1.0)), ValueError),
    (lambda: rw.softmax(np.ones((2, 3)), axis=2), ValueError),
    (lambda: rw.softmax(np.ones((2, 3)), axis=1.0), TypeError),
    (lambda: rw.softmax(np.ones((2, 3)), algorithm="fast"), ValueError),
    (lambda: rw.softmax(np.ones((2, 3)), mask=np.ones((2, 3))), TypeError),
    (lambda: rw.softmax(np.ones((2, 3)), mask=np.ones((3, 3), bool)), ValueError),
    (lambda: rw.softmax_vjp(np.ones((2, 3)), np.ones((3, 2))), ValueError),
    (lambda: rw.sparsemax(np.ones(3), algorithm="median"), ValueError),
    (lambda: rw.entmax_bisect(np.ones(3), 1.0), ValueError),
    (lambda: rw.entmax_bisect(np.ones(3), 2.5), ValueError),
    (lambda: rw.entmax_bisect(np.ones(3), np.nan), ValueError),
    (lambda: rw.entmax_bisect(np.ones(3), "1.5"), TypeError),
    (lambda: rw.ssmax(np.ones(3), -0.1), ValueError),
    (lambda: rw.ssmax(np.ones(3), np.inf), ValueError),
    (lambda: rw.softpick(np.ones(3), eps=-1e-8), ValueError),
])
def test_errors_name_the_function_and_argument(bad, err):
    with pytest.raises(err) as info:
        bad()
    assert info.value.args[0].split(":")[0] in {"softmax", "softmax_vjp", "sparsemax", "entmax_bisect", "ssmax", "softpick"}


# -- vectorization (fresh compile in a subprocess: cached code cannot be inspected) ----------

@pytest.mark.slow
def test_exp_sum_loop_is_simd(tmp_path):
    code = textwrap.dedent("""
        import numpy as np, re
        from funclib.kernels.rowwise import reduce as R
        x = np.ones(256, np.float32); d = np.ones(1, bool); one = np.float32(1)
        R._sum_exp_blk(x, d, False, one, one)
        asm = R._sum_exp_blk.inspect_asm(R._sum_exp_blk.signatures[0])
        from funclib.kernels.mathlib.intrinsics import vector_registers
        regs = "|".join(vector_registers())
        print(len(re.findall(rf"v(fmadd|fnmadd)\\w*ps\\s+%({regs})", asm)), asm.count("vroundps") + asm.count("vrndscaleps"))
    """)
    # a fresh compile (cached machine code cannot be inspected): funclib's own Numba caches
    # live under FUNCLIB_CACHE_DIR, others under NUMBA_CACHE_DIR
    env = {**__import__("os").environ, "NUMBA_CACHE_DIR": str(tmp_path), "FUNCLIB_CACHE_DIR": str(tmp_path)}
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    fmas, rounds = map(int, res.stdout.split())
    cpu = open("/proc/cpuinfo").read() if sys.platform.startswith("linux") else ""
    if " avx2" not in cpu:
        pytest.skip("no AVX2 on this machine: nothing to check")
    assert fmas >= 4 and rounds >= 1
