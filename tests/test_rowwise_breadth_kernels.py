"""Row-wise Numba kernels of the issue-15 breadth maps (funclib.kernels.rowwise.breadth).

Values against the 50-digit mpmath references of :func:`funclib.rowwise.mp_reference` (written
from the definitions, independent of the kernels' scaled float64 algorithms), in ULPs of the
output dtype, float32 and float64: random rows, ties, rows near ``finfo.max``, tiny and
subnormal entries, ``-inf`` entries, boolean masks, fully masked rows, rows of ``-inf``, NaN and
``+inf``. Second checks: PyTorch's ``normalize`` / ``rms_norm`` / ``layer_norm`` for the three
normalizations and the sparsemax kernel / entmax package for sparsegen-lin.
Derivatives: JVP and VJP against the closed-form Jacobians of :func:`funclib.rowwise.jacobian`,
against central finite differences and against each other (adjointness), masked tangents.
Plumbing: axes, parallel == serial bitwise, catalog defaults, errors.
"""

from __future__ import annotations

from fractions import Fraction

import mpmath
import numpy as np
import pytest

from funclib import registry
from funclib.kernels import rowwise as rw
from funclib.kernels.rowwise import counted as rowwise_counted
from funclib.kernels.rowwise import layout as rowwise_layout
from funclib.kernels.rowwise import scale as rowwise_scale
from funclib.kernels.rowwise import select as rowwise_select
from funclib.kernels.rowwise import softmaxima as rowwise_softmaxima
from funclib.kernels.rowwise import weighted as rowwise_weighted
from funclib.kernels.rowwise import zscore as rowwise_zscore
from funclib.rowwise import evaluate, jacobian, mp_reference
from helpers import row_battery, ulp_distance

try:
    import torch
except ImportError:  # pragma: no cover - the test extra installs it
    torch = None

needs_torch = pytest.mark.skipif(torch is None, reason="PyTorch is not installed (cross-check only)")

# (catalog id, public name, params of the catalog entry, keyword arguments of the kernel)
CASES = [
    ("stablemax", "stablemax", {}, {}),
    ("log_stablemax", "log_stablemax", {}, {}),
    ("taylor_softmax", "taylor_softmax", {}, {}),
    ("spherical_softmax", "spherical_softmax", {}, {}),
    ("spherical_softmax", "spherical_softmax", {"eps": 0.25}, {"eps": 0.25}),
    ("l2_normalize", "l2_normalize", {}, {}),
    ("l2_normalize", "l2_normalize", {"eps": 0.5}, {"eps": 0.5}),
    ("rms_normalize", "rms_normalize", {}, {}),
    ("rms_normalize", "rms_normalize", {"eps": 2.0}, {"eps": 2.0}),
    ("standardize", "standardize", {}, {}),
    ("sparsegen_lin", "sparsegen_lin", {}, {}),
    ("sparsegen_lin", "sparsegen_lin", {"lam": 0.5}, {"lam": 0.5}),
    ("sparsegen_lin", "sparsegen_lin", {"lam": -3.0}, {"lam": -3.0}),
    ("relu_seqlen_attention", "relu_seqlen_attention", {}, {}),
    ("relu2_attention", "relu2_attention", {}, {}),
    ("ab_relu", "ab_relu", {}, {}),
    ("kwta", "kwta", {}, {}),
    ("kwta", "kwta", {"k": 2}, {"k": 2}),
    ("hardmax", "hardmax", {}, {}),
    ("ev_softmax", "ev_softmax", {}, {}),
    ("ash", "ash", {}, {}),
    ("ash", "ash", {"alpha": 2.0, "z": 0.5}, {"alpha": 2.0, "z": 0.5}),
    ("z_loss_classification", "z_loss_classification", {}, {}),
    ("z_loss_classification", "z_loss_classification", {"a": 3.0, "b": 1.0}, {"a": 3.0, "b": 1.0}),
]
IDS = [f"{c[1]}{'-' + '-'.join(f'{k}{v}' for k, v in c[2].items()) if c[2] else ''}" for c in CASES]

#: ULP bounds (in the output dtype) against the 50-digit references. Everything is computed in
#: float64 and rounded once, so float32 is correctly rounded up to the double rounding.
ULPS = {np.float32: 1.0, np.float64: 4.0}
#: ev-softmax runs the softmax kernel, which computes in the input dtype (docs: <= 2.9 eps
#: relative for float32, about 5 ULP of the output).
ULPS_SOFTMAX = {np.float32: 6.0, np.float64: 6.0}


def _f(case, suffix=""):
    return getattr(rw, case[1] + suffix)


def _call(case, x, suffix="", w=None, **kw):
    f = _f(case, suffix)
    args = (x,) if w is None else (x, w)
    return f(*args, **case[3], **kw)


def _masked_value(case):
    return -np.inf if case[0] == "log_stablemax" else 0.0


def _mp(case, row):
    with mpmath.workdps(50):
        return mp_reference(case[0], [float(v) for v in row], case[2])


def _skip_row(case, row) -> bool:
    # the zero row of spherical softmax with eps = 0 is 0/0 (NaN): checked separately below
    return case[0] == "spherical_softmax" and not case[2] and np.all(row[np.isfinite(row)] == 0)


def _standardize_bound(row, dtype):
    """Error bound of standardize from its condition: entries near the mean carry eps*|mu|/D
    (computed at 50 digits: no overflow for rows near finfo.max)."""
    eps = registry.get("standardize").param_values(None)["eps"]
    with mpmath.workdps(50):
        x = [mpmath.mpf(float(v)) for v in row if np.isfinite(v)]
        mu = mpmath.fsum(x) / len(x)
        d = mpmath.sqrt(mpmath.fsum((v - mu) ** 2 for v in x) / len(x) + mpmath.mpf(eps))
        spread = max(abs(v - mu) for v in x)
        return float(2 * mpmath.mpf(float(np.finfo(dtype).eps)) * (abs(mu) + spread) / d)


#: Absolute error of the sparsemax kernels (docs/rowwise-kernels.md), which sparsegen-lin reuses.
SPARSE_ABS = {np.float32: 3e-8, np.float64: 4.5e-16}


def _check_row(case, row, ours, ref, dtype):
    """Assert the documented accuracy of ``ours`` against the mpmath row ``ref``."""
    r64 = np.array([float(v) for v in ref])
    with np.errstate(over="ignore", invalid="ignore"):  # inf outputs are compared in ULP space below
        ulp = np.spacing(np.abs(r64).astype(dtype)).astype(np.float64)  # the final rounding
        err = np.abs(ours.astype(np.float64) - r64)
    both_nan = np.isnan(r64) & np.isnan(ours.astype(np.float64))  # NaN where the definition is 0/0
    err = np.where(both_nan, 0.0, err)
    ulp = np.where(both_nan, 0.0, ulp)
    if case[0] == "standardize":
        assert np.all(err <= _standardize_bound(row, dtype) + ulp), (row, ours)
    elif case[0] == "ab_relu":  # x_i - mu near the mean carries the rounding of mu
        x = row[np.isfinite(row)].astype(np.float64)
        assert np.all(err <= 2 * float(np.finfo(dtype).eps) * np.max(np.abs(x)) + ulp), (row, ours, r64)
    elif case[0] in ("ash", "z_loss_classification"):
        # functions of z-scores: the rounding of the mean enters as for standardize (float64 work)
        e64 = float(np.finfo(np.float64).eps)
        with mpmath.workdps(50):
            x = [mpmath.mpf(float(v)) for v in row if np.isfinite(v)]
            mu = mpmath.fsum(x) / len(x)
            spread = max(abs(v - mu) for v in x)
            sd = mpmath.sqrt(mpmath.fsum((v - mu) ** 2 for v in x) / len(x))
        p = registry.get(case[0]).param_values(case[2])
        if case[0] == "ash":
            du = p["alpha"] * 4 * e64 * (abs(mu) + spread + abs(p["z"]) * sd)  # mpf: no overflow
            cond = np.array([float(abs(mpmath.mpf(float(v))) * du) for v in row])
        else:
            cond = 4 * e64 * float((abs(mu) + spread) / sd) if sd > 0 else 0.0
        assert np.all(err <= ULPS[dtype] * ulp + cond), (row, ours, r64)
    elif case[0] == "sparsegen_lin":
        assert np.all(err <= 2 * ulp + SPARSE_ABS[dtype]), (row, ours, r64)
    else:
        # a log map is measured in ULPs of max(1, |ref|)
        e = ulp_distance(ours, ref, dtype, floor=1.0 if case[0] == "log_stablemax" else 0.0)
        bound = (ULPS_SOFTMAX if case[0] == "ev_softmax" else ULPS)[dtype]
        assert np.all(e <= bound), (row, ours, r64, e)


# -- values ------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_values_against_mpmath_in_ulps(case, dtype):
    for row in row_battery(dtype):
        if _skip_row(case, row):
            continue
        ours = _call(case, row)
        assert ours.dtype == dtype
        _check_row(case, row, ours, _mp(case, row), dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_long_rows_against_float64_reference(case, dtype):
    # the catalog's float64 references (funclib.rowwise.evaluate) on longer rows and a batch
    x = np.random.default_rng(2).normal(scale=4.0, size=(3, 2, 600)).astype(dtype)
    x[0, 0, :50] = -np.inf
    ref = evaluate(case[0], x.astype(np.float64), case[2])
    ours = _call(case, x).astype(np.float64)
    fin = np.isfinite(ref)
    assert np.array_equal(fin, np.isfinite(ours))
    big = float(np.max(np.abs(x[np.isfinite(x)])))
    floor = {"log_stablemax": 1.0, "standardize": 1.0, "z_loss_classification": 1.0, "ab_relu": big, "ash": big}
    scale = np.maximum(np.abs(ref[fin]), floor.get(case[0], 0.0))
    assert np.all(np.abs(ours[fin] - ref[fin]) <= 8 * np.finfo(dtype).eps * scale + 1e-300)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_masks_and_conventions(case, dtype):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(5, 9)).astype(dtype)
    mask = rng.random((5, 9)) < 0.6
    mask[0] = False          # fully masked row
    mask[1] = True
    mask[2, :] = False
    mask[2, 4] = True        # a single kept entry
    mv = _masked_value(case)
    y = _call(case, x, mask=mask)
    assert np.all(y[0] == mv) and np.all(y[~mask] == mv)
    # a boolean mask is the -inf input of the catalog's rule "remove" (bitwise: same kernel path)
    xm = np.where(mask, x, dtype(-np.inf))
    np.testing.assert_array_equal(_call(case, xm, mask=mask), y)
    ref = evaluate(case[0], xm.astype(np.float64), case[2])
    tol = 8 * np.finfo(dtype).eps
    fin = np.isfinite(ref)
    np.testing.assert_allclose(y[fin], ref[fin], rtol=tol, atol=tol * (1 if case[0] in ("log_stablemax", "standardize") else 0) + 1e-300)
    for row in range(1, 5):  # masked rows against mpmath, entry by entry
        _check_row(case, xm[row], y[row], _mp(case, xm[row]), dtype)
    # rows of -inf are fully masked rows
    assert np.all(_call(case, np.full((2, 4), -np.inf, dtype=dtype)) == mv)
    # NaN or +inf in a kept entry: NaN at the kept entries, the masked value elsewhere
    # (sparsegen-lin keeps the sparsemax kernels' convention: the whole row NaN)
    z = np.array([[1.0, np.nan, -np.inf, 2.0], [np.inf, 1.0, -np.inf, 0.0]], dtype=dtype)
    keep = np.array([True, True, True, False])
    # (the ReLU attentions are elementwise given n: +inf stays +inf, the row stays finite;
    # for k-WTA and hardmax +inf is an ordinary largest entry)
    sparse = case[0] == "sparsegen_lin"
    inf_value = {"relu_seqlen_attention": np.inf, "relu2_attention": np.inf, "kwta": np.inf, "hardmax": 1.0}
    for m in (None, keep):
        got = _call(case, z, mask=m)
        assert np.isnan(got[0, :2]).all() and (np.isnan(got[:, 2]).all() if sparse else np.all(got[:, 2] == mv))
        if case[0] in inf_value:
            assert got[1, 0] == inf_value[case[0]] and np.all(np.isfinite(got[1, 1:]))
        else:
            assert np.isnan(got[1, :2]).all()
    last = _call(case, z, mask=keep)[:, 3]
    assert np.isnan(last).all() if sparse else np.all(last == mv)
    # a fully masked or -inf row has zero derivative products
    w = np.ones((1, 4), dtype=dtype)
    for sfx in ("_jvp", "_vjp"):
        assert np.all(_call(case, np.full((1, 4), -np.inf, dtype=dtype), sfx, w) == 0)
        assert np.all(_call(case, x[:1, :4], sfx, w, mask=np.zeros((1, 4), bool)) == 0)


def test_spherical_zero_row_and_stablemax_huge_rows():
    # spherical softmax of a zero row: 0/0 with eps = 0 (as the definition), uniform with eps > 0
    assert np.all(np.isnan(rw.spherical_softmax(np.zeros(4))))
    np.testing.assert_array_equal(rw.spherical_softmax(np.zeros(4), eps=1e-3), np.full(4, 0.25))
    # no overflow of the sums near finfo.max; the largest entries share the mass exactly
    for dtype in (np.float32, np.float64):
        top = np.finfo(dtype).max
        row = np.array([top, top, -top], dtype=dtype)
        for f in (rw.stablemax, rw.taylor_softmax, rw.spherical_softmax):
            y = f(row)
            assert np.all(np.isfinite(y)) and abs(float(y.sum()) - 1.0) <= 4 * np.finfo(dtype).eps, (f, y)
        np.testing.assert_allclose(rw.l2_normalize(row), np.array([1, 1, -1]) / np.sqrt(3), rtol=2 * np.finfo(dtype).eps)


@needs_torch
def test_normalizations_match_pytorch():
    x = np.random.default_rng(4).normal(loc=1.0, scale=3.0, size=(4, 3, 257))
    t = torch.from_numpy(x)
    F = torch.nn.functional
    np.testing.assert_allclose(rw.l2_normalize(x, eps=1e-12), F.normalize(t, dim=-1, eps=1e-12).numpy(), rtol=1e-13)
    np.testing.assert_allclose(rw.rms_normalize(x, eps=1e-6), F.rms_norm(t, (257,), eps=1e-6).numpy(), rtol=1e-13)
    np.testing.assert_allclose(rw.standardize(x, eps=1e-5), F.layer_norm(t, (257,), eps=1e-5).numpy(), rtol=1e-12, atol=1e-13)
    # along another axis, against the same functions on the moved array
    np.testing.assert_allclose(rw.standardize(x, axis=1), F.layer_norm(t.transpose(1, 2), (3,), eps=1e-5).transpose(1, 2).numpy(),
                               rtol=1e-12, atol=1e-13)


def test_sparsegen_lin_is_scaled_sparsemax():
    x = np.random.default_rng(5).normal(size=(6, 40))
    for lam in (0.0, 0.5, -3.0, 0.9):
        np.testing.assert_allclose(rw.sparsegen_lin(x, lam), rw.sparsemax(x / (1 - lam)), rtol=1e-14, atol=1e-16)
    y = rw.sparsegen_lin(x, 0.9)
    assert np.all(np.sum(y > 0, axis=-1) < np.sum(rw.sparsemax(x) > 0, axis=-1) + 1)  # sparser for lam > 0
    # shift invariance keeps scores of huge rows finite: [1e308, 0] is one-hot for any lam < 1
    np.testing.assert_array_equal(rw.sparsegen_lin(np.array([1e308, 0.0, -1e308]), 0.5), [1.0, 0.0, 0.0])


def test_ev_softmax_support_is_decided_exactly():
    # rows [u, v, (u + v)/2, ...] whose mean is exactly an entry; the float mean may round either
    # way, the support must not (reference: exact rationals in funclib.rowwise)
    rng = np.random.default_rng(13)
    for dtype in (np.float64, np.float32):
        bits = 52 if dtype == np.float64 else 23
        checked = 0
        for _ in range(300):
            e = int(rng.integers(-30, 4))  # spreads below 40: no weight underflows
            a, b = (int(v) * 2 for v in rng.integers(1, 2**(bits - 1), 2))
            u, v = np.ldexp(float(a), e - bits), -np.ldexp(float(b), e - bits) / 3
            row = np.array([u, float(dtype(v)), 0.0]).astype(dtype)
            row[2] = (row[0].astype(np.float64) + row[1]) / 2  # exact: the mean of the three
            if sum(Fraction(float(t)) for t in row) != 3 * Fraction(float(row[2])):
                continue  # (u + v)/2 was not representable
            y = rw.ev_softmax(row)
            assert y[2] > 0 and y[int(np.argmin(row[:2]))] == 0, row
            ref = evaluate("ev_softmax", row.astype(np.float64))
            assert np.array_equal(y > 0, ref > 0)
            checked += 1
        assert checked >= 100

def test_kth_largest_against_sort():
    rng = np.random.default_rng(15)
    for _ in range(1500):
        n = int(rng.integers(1, 70))
        a = np.round(rng.normal(size=n) * rng.choice([0.5, 3.0, 1e3]))  # many ties, constant rows
        k = int(rng.integers(1, n + 1))
        assert rowwise_select.kth_largest(a.copy(), n, k) == -np.sort(-a)[k - 1], (a, k)


def test_kwta_ties_and_large_k():
    x = np.array([[3.0, 1.0, 3.0, 2.0, 2.0, -1.0]])
    np.testing.assert_array_equal(rw.kwta(x, 1), [[3.0, 0, 3.0, 0, 0, 0]])      # ties at the k-th value kept
    np.testing.assert_array_equal(rw.kwta(x, 3), [[3.0, 0, 3.0, 2.0, 2.0, 0]])
    np.testing.assert_array_equal(rw.kwta(x, 6), x)
    np.testing.assert_array_equal(rw.kwta(x, 100), x)
    big = np.random.default_rng(14).normal(size=(3, 5000))
    k = 37
    kth = -np.sort(-big, axis=-1)[:, k - 1 : k]
    np.testing.assert_array_equal(rw.kwta(big, k), np.where(big >= kth, big, 0.0))
    np.testing.assert_array_equal(rw.hardmax(x), [[0.5, 0, 0.5, 0, 0, 0]])


# -- derivatives -------------------------------------------------------------------------------

def _jac_rows(case, x):
    return jacobian(case[0], x, case[2])


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_jvp_vjp_closed_form_finite_differences_adjoint(case):
    rng = np.random.default_rng(6)
    x = rng.normal(scale=2.0, size=(5, 7))
    x[1, 2] = -np.inf
    v, u = rng.normal(size=x.shape), rng.normal(size=x.shape)
    J = _jac_rows(case, x)
    jv, vj = _call(case, x, "_jvp", v), _call(case, x, "_vjp", u)
    np.testing.assert_allclose(jv, np.einsum("rij,rj->ri", J, v), rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(vj, np.einsum("rij,ri->rj", J, u), rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(np.sum(u * jv), np.sum(vj * v), rtol=1e-12)
    # central differences along v (x away from kinks: no entry near 0 for StableMax's C^1 seam)
    h = 1e-6
    fin = np.isfinite(x)
    vv = np.where(fin, v, 0.0)
    with np.errstate(invalid="ignore"):  # -inf - -inf at Log-StableMax's masked entries
        fd = (_call(case, x + h * vv) - _call(case, x - h * vv)) / (2 * h)
    ok = np.isfinite(fd)
    np.testing.assert_allclose(jv[ok], fd[ok], rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_derivative_products_with_masks_float32(case):
    rng = np.random.default_rng(7)
    x = rng.normal(size=(4, 33))
    mask = rng.random(x.shape) < 0.7
    mask[0] = False
    w = rng.normal(size=x.shape)
    w[~mask] = np.nan  # masked tangent entries never enter
    xm = np.where(mask, x, -np.inf)
    J = _jac_rows(case, xm)
    wz = np.where(mask, w, 0.0)
    for dtype in (np.float64, np.float32):
        jv = _call(case, x.astype(dtype), "_jvp", w.astype(dtype), mask=mask)
        vj = _call(case, x.astype(dtype), "_vjp", w.astype(dtype), mask=mask)
        assert jv.dtype == dtype and np.all(jv[~mask] == 0) and np.all(vj[~mask] == 0)
        ref_jv = np.einsum("rij,rj->ri", J, wz)
        ref_vj = np.einsum("rij,ri->rj", J, wz)
        tol = 1e-12 if dtype == np.float64 else 1e-5
        scale = np.max(np.abs(ref_jv)) + np.max(np.abs(ref_vj))
        # float32 inputs: x rounded to float32 moves J by O(eps32)
        ref32 = _jac_rows(case, np.where(mask, x.astype(dtype).astype(np.float64), -np.inf))
        w32 = wz.astype(dtype).astype(np.float64)
        np.testing.assert_allclose(jv, np.einsum("rij,rj->ri", ref32, w32), rtol=tol, atol=tol * scale)
        np.testing.assert_allclose(vj, np.einsum("rij,ri->rj", ref32, w32), rtol=tol, atol=tol * scale)


@needs_torch
def test_normalization_vjps_match_torch_autograd():
    x = np.random.default_rng(8).normal(loc=0.5, size=(3, 50))
    u = np.random.default_rng(9).normal(size=x.shape)
    F = torch.nn.functional
    for ours, theirs in ((rw.l2_normalize_vjp, lambda t: F.normalize(t, dim=-1, eps=1e-12)),
                         (rw.rms_normalize_vjp, lambda t: F.rms_norm(t, (50,), eps=1e-8)),
                         (rw.standardize_vjp, lambda t: F.layer_norm(t, (50,), eps=1e-5))):
        t = torch.from_numpy(x).requires_grad_(True)
        (theirs(t) * torch.from_numpy(u)).sum().backward()
        np.testing.assert_allclose(ours(x, u), t.grad.numpy(), rtol=1e-11, atol=1e-13)


# -- plumbing ----------------------------------------------------------------------------------

def _parallel_case(dtype):
    rng = np.random.default_rng(10)
    x = rng.normal(size=(8, 64)).astype(dtype)
    return x, rng.normal(size=x.shape).astype(dtype), rng.random(x.shape) < 0.8


def test_parallel_equals_serial_bitwise():
    # fast representative: the weight-then-normalise kernels in float32 (every driver pair in
    # both dtypes: the slow test below, about a minute of compilation)
    x, w, mk = _parallel_case(np.float32)
    for kind in rowwise_weighted.KINDS.values():
        a, b = np.empty_like(x), np.empty_like(x)
        rowwise_weighted.weighted_serial(x, mk, True, kind, False, 0.1, a)
        rowwise_weighted.weighted_parallel(x, mk, True, kind, False, 0.1, b)
        assert np.array_equal(a, b)
    assert rowwise_layout.use_parallel(64, 1024) == (rowwise_layout.numba.get_num_threads() > 1)


@pytest.mark.slow
def test_parallel_equals_serial_bitwise_every_kernel():
    for dtype in (np.float32, np.float64):
        x, w, mk = _parallel_case(dtype)
        for kind in rowwise_weighted.KINDS.values():
            for log in ((False, True) if kind == 0 else (False,)):
                a, b = np.empty_like(x), np.empty_like(x)
                rowwise_weighted.weighted_serial(x, mk, True, kind, log, 0.1, a)
                rowwise_weighted.weighted_parallel(x, mk, True, kind, log, 0.1, b)
                assert np.array_equal(a, b)
                rowwise_weighted.weighted_product_serial(x, w, mk, True, kind, log, 0.1, True, a)
                rowwise_weighted.weighted_product_parallel(x, w, mk, True, kind, log, 0.1, True, b)
                assert np.array_equal(a, b)
        for kind in rowwise_scale.KINDS.values():
            a, b = np.empty_like(x), np.empty_like(x)
            rowwise_scale.scale_serial(x, mk, True, kind, 1e-5, a)
            rowwise_scale.scale_parallel(x, mk, True, kind, 1e-5, b)
            assert np.array_equal(a, b)
            rowwise_scale.scale_product_serial(x, w, mk, True, kind, 1e-5, a)
            rowwise_scale.scale_product_parallel(x, w, mk, True, kind, 1e-5, b)
            assert np.array_equal(a, b)
        for kind in rowwise_counted.KINDS.values():
            a, b = np.empty_like(x), np.empty_like(x)
            rowwise_counted.counted_serial(x, mk, True, kind, a)
            rowwise_counted.counted_parallel(x, mk, True, kind, b)
            assert np.array_equal(a, b)
            rowwise_counted.counted_product_serial(x, w, mk, True, kind, True, a)
            rowwise_counted.counted_product_parallel(x, w, mk, True, kind, True, b)
            assert np.array_equal(a, b)
        for kind in rowwise_softmaxima.KINDS.values():
            a, b = np.empty(x.shape[0]), np.empty(x.shape[0])
            rowwise_softmaxima.softmaximum_serial(x, mk, True, kind, 0.7, a)
            rowwise_softmaxima.softmaximum_parallel(x, mk, True, kind, 0.7, b)
            assert np.array_equal(a, b)
            a, b = np.empty_like(x), np.empty_like(x)
            rowwise_softmaxima.softmaximum_grad_serial(x, mk, True, kind, 0.7, a)
            rowwise_softmaxima.softmaximum_grad_parallel(x, mk, True, kind, 0.7, b)
            assert np.array_equal(a, b)
        for kind in rowwise_zscore.KINDS.values():
            a, b = np.empty_like(x), np.empty_like(x)
            rowwise_zscore.zscore_serial(x, mk, True, kind, 1.5, 0.3, a)
            rowwise_zscore.zscore_parallel(x, mk, True, kind, 1.5, 0.3, b)
            assert np.array_equal(a, b)
            rowwise_zscore.zscore_product_serial(x, w, mk, True, kind, 1.5, 0.3, True, a)
            rowwise_zscore.zscore_product_parallel(x, w, mk, True, kind, 1.5, 0.3, True, b)
            assert np.array_equal(a, b)
        a, b = np.empty_like(x), np.empty_like(x)
        rowwise_select.kwta_serial(x, w, mk, True, 5, a)
        rowwise_select.kwta_parallel(x, w, mk, True, 5, b)
        assert np.array_equal(a, b)
        rowwise_select.hardmax_serial(x, mk, True, a)
        rowwise_select.hardmax_parallel(x, mk, True, b)
        assert np.array_equal(a, b)
        b0 = np.linspace(-0.1, 0.1, x.shape[1])[None, :].repeat(x.shape[0], 0)
        sa, sb, ga, gb = (np.empty(x.shape) for _ in range(4))
        rowwise_select.gate_serial(x, b0, mk, True, 5, sa, ga)
        rowwise_select.gate_parallel(x, b0, mk, True, 5, sb, gb)
        assert np.array_equal(ga, gb) and np.array_equal(sa, sb)
        ya, yb, ta, tb = np.empty(x.shape), np.empty(x.shape), np.empty((x.shape[0], 2)), np.empty((x.shape[0], 2))
        rowwise_softmaxima.adaptive_serial(x, mk, True, ya, ta)
        rowwise_softmaxima.adaptive_parallel(x, mk, True, yb, tb)
        assert np.array_equal(ya, yb) and np.array_equal(ta, tb)
        ka, kb = np.empty(x.shape, bool), np.empty(x.shape, bool)
        rowwise_select.ev_support_serial(x, mk, True, ka)
        rowwise_select.ev_support_parallel(x, mk, True, kb)
        assert np.array_equal(ka, kb)


def test_defaults_are_the_catalog_defaults():
    import inspect

    for case in CASES + [("mellowmax", "mellowmax", {}, {}), ("boltzmann_operator", "boltzmann_operator", {}, {})]:
        if case[2]:
            continue
        sig = inspect.signature(_f(case))
        for name, value in registry.get(case[0]).param_values(None).items():
            assert sig.parameters[name].default == value, (case[1], name)


@pytest.mark.parametrize("bad, err", [
    (lambda: rw.stablemax(np.ones(3, dtype=np.int64)), (TypeError, "stablemax: x has dtype int64")),
    (lambda: rw.l2_normalize(np.ones(3), eps=0.0), (ValueError, "l2_normalize: eps must lie in")),
    (lambda: rw.rms_normalize_jvp(np.ones(3), np.ones(4)), (ValueError, "rms_normalize_jvp: v has shape")),
    (lambda: rw.spherical_softmax(np.ones(3), eps=-1.0), (ValueError, "spherical_softmax: eps")),
    (lambda: rw.sparsegen_lin(np.ones(3), 1.0), (ValueError, "sparsegen_lin: lam must lie in")),
    (lambda: rw.taylor_softmax(np.ones((2, 3)), mask=np.ones(3)), (TypeError, "taylor_softmax: mask has dtype")),
    (lambda: rw.standardize(np.ones(3), axis=2), (ValueError, "standardize: axis 2 is out of range")),
    (lambda: rw.kwta(np.ones(3), 1.5), (ValueError, "kwta: k must be an integer")),
    (lambda: rw.ash(np.ones(3), alpha=0.0), (ValueError, "ash: alpha must lie in")),
    (lambda: rw.z_loss_classification_vjp(np.ones(3), np.ones(3), b=np.inf), (ValueError, "z_loss_classification_vjp: b must be finite")),
    (lambda: rw.kwta(np.ones(3), 0), (ValueError, "kwta: k must lie in")),
    (lambda: rw.hardmax_jvp(np.ones(3), np.ones(2)), (ValueError, "hardmax_jvp: v has shape")),
])
def test_errors_name_the_function_and_argument(bad, err):
    with pytest.raises(err[0], match=err[1]):
        bad()


# -- soft maxima (row reductions) -----------------------------------------------------------------

SOFTMAXIMA = [("mellowmax", "omega", 1.0), ("mellowmax", "omega", 1e-3), ("mellowmax", "omega", 30.0),
              ("boltzmann_operator", "beta", 1.0), ("boltzmann_operator", "beta", 0.01),
              ("boltzmann_operator", "beta", 20.0)]
SM_IDS = [f"{a}-{c:g}" for a, _, c in SOFTMAXIMA]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", SOFTMAXIMA, ids=SM_IDS)
def test_soft_maxima_against_mpmath(case, dtype):
    name, pname, b = case
    f = getattr(rw, name)
    rows = [r for r in row_battery(dtype) if np.all(np.abs(r[np.isfinite(r)]) < 1e30)] + [
        np.array([1e30, -1e30, 3.0]).astype(dtype)]
    for row in rows:
        ours = f(row, b)
        assert ours.dtype == dtype and ours.shape == ()
        with mpmath.workdps(50):
            ref = mp_reference(name, [float(v) for v in row], {pname: b})
        m = mpmath.mpf(float(np.max(row)))
        r64 = float(ref)
        ulp = float(np.spacing(np.abs(dtype(r64))))
        # the result is m + (a correction): the rounding of m's scale is the condition of the sum
        # (+ tiny: for rows of subnormals omega (x - m) underflows, and 50 digits cannot resolve
        # exp(1e-326) either)
        bound = 4 * float(np.finfo(np.float64).eps) * float(abs(m) + abs(ref - m)) + ulp + float(np.finfo(np.float64).tiny)
        assert abs(float(ours) - r64) <= bound, (row, float(ours), r64)


def test_soft_maxima_masks_and_conventions():
    rng = np.random.default_rng(11)
    for dtype in (np.float32, np.float64):
        x = rng.normal(size=(5, 9)).astype(dtype)
        mask = rng.random((5, 9)) < 0.6
        mask[0] = False
        mask[1] = True
        for name, pname, b in SOFTMAXIMA[::3]:
            f = getattr(rw, name)
            y = f(x, b, mask=mask)
            assert y.shape == (5,) and y[0] == -np.inf
            xm = np.where(mask, x, dtype(-np.inf))
            np.testing.assert_array_equal(f(xm, b), y)  # -inf entries are the mask (N is the row length)
            ref = evaluate(name, xm.astype(np.float64), {pname: b})
            np.testing.assert_allclose(y[1:], ref[1:], rtol=max(4 * float(np.finfo(dtype).eps), 1e-14))
            z = np.array([[1.0, np.nan, 2.0], [np.inf, 1.0, 0.0], [-np.inf] * 3], dtype=dtype)
            got = f(z, b)
            assert np.isnan(got[0]) and got[1] == np.inf and got[2] == -np.inf
            g = getattr(rw, name + "_vjp")(z, np.ones(3, dtype=dtype), b)
            assert np.isnan(g[:2]).all() and np.all(g[2] == 0)
            # along another axis
            np.testing.assert_array_equal(f(x.T.copy(), b, axis=0), f(x, b))


@pytest.mark.parametrize("case", SOFTMAXIMA, ids=SM_IDS)
def test_soft_maxima_derivatives(case):
    name, pname, b = case
    rng = np.random.default_rng(12)
    x = rng.normal(scale=2.0, size=(4, 8))
    x[1, 3] = -np.inf
    v = rng.normal(size=x.shape)
    v[1, 3] = np.nan  # a masked tangent entry never enters
    u = rng.normal(size=4)
    J = jacobian(name, x, {pname: b})  # the gradient, shape of x
    jv = getattr(rw, name + "_jvp")(x, v, b)
    vj = getattr(rw, name + "_vjp")(x, u, b)
    vz = np.where(np.isfinite(x), v, 0.0)
    np.testing.assert_allclose(jv, np.sum(J * vz, -1), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(vj, u[:, None] * J, rtol=1e-12, atol=1e-14)
    h = 1e-6
    f = getattr(rw, name)
    fd = (f(x + h * vz, b) - f(x - h * vz, b)) / (2 * h)
    np.testing.assert_allclose(jv, fd, rtol=1e-6, atol=1e-7 * max(1.0, b))
    with pytest.raises(ValueError, match=f"{name}_vjp: u has shape"):
        getattr(rw, name + "_vjp")(x, np.ones(5), b)
    with pytest.raises(ValueError, match=f"{name}: {pname} must lie in"):
        f(x, 0.0)


# -- compositions: Switch router, DeepSeek-V3 gate, adaptive-temperature softmax -------------------

from funclib.rowwise import breadth as _ref  # noqa: E402 - the float64 references of the three maps

ROUTERS = [("softmax_then_topk", {"k": 1}), ("softmax_then_topk", {"k": 3}), ("sigmoid_topk_gate", {"k": 2}),
           ("sigmoid_topk_gate", {"k": 8}), ("adaptive_temperature_softmax", {})]
R_IDS = [f"{n}-{p.get('k', '')}" for n, p in ROUTERS]


def _router_ref(name, x, kw, b=None):
    if name == "sigmoid_topk_gate":
        return _ref.sigmoid_topk_gate(x, b, **kw), _ref.sigmoid_topk_gate_jacobian(x, b, **kw)
    return getattr(_ref, name)(x, **kw), getattr(_ref, name + "_jacobian")(x, **kw)


def _router_mp(name, row, kw, b=None):
    """The definition at 50 digits (selection by 'fewer than k strictly larger')."""
    with mpmath.workdps(50):
        x = [mpmath.mpf(float(v)) for v in row]
        if name == "softmax_then_topk":
            m = max(x)
            e = [mpmath.exp(v - m) for v in x]
            p = [v / mpmath.fsum(e) for v in e]
            return [pi if sum(1 for u in x if u > v) < kw["k"] else 0 for pi, v in zip(p, x)]
        if name == "sigmoid_topk_gate":
            bb = [mpmath.mpf(0)] * len(x) if b is None else [mpmath.mpf(float(v)) for v in b]
            s = [1 / (1 + mpmath.exp(-v)) for v in x]
            sc = [si + bi for si, bi in zip(s, bb)]
            sel = [sum(1 for u in sc if u > v) < kw["k"] for v in sc]
            tot = mpmath.fsum(si for si, t in zip(s, sel) if t)
            return [si / tot if t else 0 for si, t in zip(s, sel)]
        m = max(x)
        e = [mpmath.exp(v - m) for v in x]
        s = [v / mpmath.fsum(e) for v in e]
        H = -mpmath.fsum(si * mpmath.log(si) for si in s if si > 0)
        c = [mpmath.mpf(float(v)) for v in _ref.ADAPTIVE_TEMPERATURE_POLY]  # the float coefficients
        p = (((c[0] * H + c[1]) * H + c[2]) * H + c[3]) * H + c[4]
        beta = max(p, 1) if H > mpmath.mpf(0.5) else mpmath.mpf(1)
        e = [mpmath.exp(beta * (v - m)) for v in x]
        return [v / mpmath.fsum(e) for v in e]


@pytest.mark.parametrize("case", ROUTERS, ids=R_IDS)
def test_routers_values_and_derivatives(case):
    name, kw = case
    f = getattr(rw, name)
    rng = np.random.default_rng(20)
    x = rng.normal(scale=0.8 if name.startswith("adaptive") else 2.0, size=(6, 24))
    b = rng.normal(scale=0.3, size=24) if name == "sigmoid_topk_gate" else None
    extra = {"b": b} if b is not None else {}
    y_ref, J = _router_ref(name, x, kw, b)
    y = f(x, **extra, **kw)
    np.testing.assert_allclose(y, y_ref, rtol=1e-13, atol=1e-16)
    # adaptive: beta's rounding (from the float64 entropy) enters y_i with the factor
    # |x_i - <y, x>| (a few units on these rows): 1e-14 relative; the others 4 eps
    rtol = 1e-14 if name.startswith("adaptive") else 8.9e-16
    for row, yr in zip(x[:3], y[:3]):  # the definition at 50 digits
        ref = np.array([float(v) for v in _router_mp(name, row, kw, b)])
        np.testing.assert_allclose(yr, ref, rtol=rtol, atol=1e-300)
    yf = f(x.astype(np.float32), **extra, **kw)  # float32: rounded once (Switch: the float32 softmax kernel)
    ref32, _ = _router_ref(name, x.astype(np.float32).astype(np.float64), kw, b)
    ulps = 6 if name == "softmax_then_topk" else 1
    assert yf.dtype == np.float32 and np.all(np.abs(yf - ref32) <= ulps * np.spacing(np.abs(ref32).astype(np.float32)) + 1e-45)
    v, u = rng.normal(size=x.shape), rng.normal(size=x.shape)
    jv, vj = getattr(rw, name + "_jvp")(x, v, **extra, **kw), getattr(rw, name + "_vjp")(x, u, **extra, **kw)
    np.testing.assert_allclose(jv, np.einsum("rij,rj->ri", J, v), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(vj, np.einsum("rij,ri->rj", J, u), rtol=1e-12, atol=1e-14)
    h = 1e-6
    fd = (f(x + h * v, **extra, **kw) - f(x - h * v, **extra, **kw)) / (2 * h)
    np.testing.assert_allclose(jv, fd, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("case", ROUTERS, ids=R_IDS)
def test_routers_masks_and_conventions(case):
    name, kw = case
    f = getattr(rw, name)
    rng = np.random.default_rng(21)
    for dtype in (np.float32, np.float64):
        x = rng.normal(size=(5, 12)).astype(dtype)
        mask = rng.random(x.shape) < 0.7
        mask[0] = False
        mask[1] = True
        y = f(x, mask=mask, **kw)
        assert np.all(y[0] == 0) and np.all(y[~mask] == 0)
        xm = np.where(mask, x, dtype(-np.inf))
        np.testing.assert_array_equal(f(xm, **kw), y)  # the mask is the -inf input (rule "limit")
        ref, _ = _router_ref(name, xm[1:].astype(np.float64), kw) if name != "adaptive_temperature_softmax" else (None, None)
        if ref is not None:  # the references handle -inf entries for the routers
            np.testing.assert_allclose(y[1:], ref, rtol=8 * np.finfo(dtype).eps, atol=1e-30)
        else:  # adaptive: the limit is the map of the kept sub-row
            for i in range(1, 5):
                sub = _ref.adaptive_temperature_softmax(x[i][mask[i]].astype(np.float64))
                np.testing.assert_allclose(y[i][mask[i]], sub, rtol=8 * np.finfo(dtype).eps, atol=1e-30)
        w = rng.normal(size=x.shape).astype(dtype)
        w[~mask] = np.nan  # masked tangent entries never enter
        for sfx in ("_jvp", "_vjp"):
            d = getattr(rw, name + sfx)(x, w, mask=mask, **kw)
            assert np.all(d[~mask] == 0) and np.all(np.isfinite(d))
        z = np.array([[1.0, np.nan, -np.inf, 2.0], [-np.inf] * 4], dtype=dtype)
        got = f(z, **kw)
        assert np.isnan(got[0, [0, 1, 3]]).all() and got[0, 2] == 0 and np.all(got[1] == 0)
    if "k" in kw:
        with pytest.raises(ValueError, match=f"{name}: k must be an integer"):
            f(np.ones(4), k=1.5)
    if name == "sigmoid_topk_gate":
        with pytest.raises(ValueError, match="sigmoid_topk_gate: b of shape"):
            f(np.ones(4), b=np.ones(3))
        with pytest.raises(ValueError, match="sigmoid_topk_gate: b must be finite"):
            f(np.ones(4), b=np.array([0.0, np.inf, 0.0, 0.0]))
