"""Row-wise Numba kernels of sparsehourglass, VBAF and NaLaFormer's query feature (issue 15).

Values against the 50-digit mpmath references of :func:`funclib.rowwise.mp_reference` (written
from the catalog definitions, independent of the kernels' scaled algorithms), float32 and float64,
on the row battery of ``tests/test_rowwise_breadth_kernels.py`` (copied here: ties, rows near ``finfo.max``,
subnormal rows, ``-inf`` entries); bounds from each map's condition where rounding of the row sum
or norm is amplified. Derivatives: JVP/VJP against the closed-form Jacobians of
:func:`funclib.rowwise.jacobian`, central finite differences and adjointness; masks, fully masked
and all ``-inf`` rows, NaN/``+inf``; parallel == serial bitwise; a PyTorch autograd composition
as a second check of NaLaFormer's map; errors.
"""

from __future__ import annotations

import mpmath
import numpy as np
import pytest

from funclib import registry
from funclib.kernels import rowwise as rw
from funclib.kernels.rowwise import layout as rowwise_layout
from funclib.rowwise import evaluate, jacobian, mp_reference
from helpers import row_battery

try:
    import torch
except ImportError:  # pragma: no cover - the test extra installs it
    torch = None

MAPS = ["sparsehourglass", "nala_query_feature"]  # R^n -> R^n
ALL = MAPS + ["vbaf"]  # vbaf: R^n -> R
E64 = float(np.finfo(np.float64).eps)


def _mp(name, row, params=None):
    with mpmath.workdps(50):
        ref = mp_reference(name, [float(v) for v in row], params or {})
    return np.array([float(v) for v in np.atleast_1d(ref)])


def _bound(name, row, ref, dtype):
    """Documented error bound of each output against the exact value (absolute)."""
    with np.errstate(over="ignore", invalid="ignore"):
        ulp = np.spacing(np.abs(ref).astype(dtype)).astype(np.float64)
    ulp = np.where(np.isfinite(ulp), ulp, 0.0)
    kept = row[np.isfinite(row)].astype(np.float64)
    n = kept.size
    if name == "sparsehourglass":
        # sparsemax kernel's absolute error (docs/rowwise-kernels.md) plus the rounding of alpha
        return 2 * ulp + {np.float32: 3e-8, np.float64: 8 * E64}[dtype]
    if name == "vbaf":
        # mean rounded (2 eps relative) and n deviations summed: (n + 2) eps y + 2 n eps
        return ulp + E64 * ((n + 2) * np.abs(ref) + 2 * n)
    # NaLa: u^p with u carrying the norm's rounding (sqrt(n) eps) amplified by p <= 4.5
    return {np.float32: 1.0, np.float64: 4.5 * (n + 2)}[dtype] * ulp


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", ALL)
def test_values_against_mpmath(name, dtype):
    for row in row_battery(dtype):
        y = np.atleast_1d(getattr(rw, name)(row)).astype(np.float64)
        assert getattr(rw, name)(row).dtype == dtype
        ref = _mp(name, row)
        assert np.array_equal(np.isnan(ref), np.isnan(y)), (row, y, ref)
        fin = np.isfinite(ref)
        assert np.array_equal(y[~fin & ~np.isnan(ref)], ref[~fin & ~np.isnan(ref)])
        err = np.abs(y[fin] - ref[fin])
        assert np.all(err <= _bound(name, row, ref[fin], dtype)), (name, row, y, ref)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", ALL)
def test_batches_against_float64_reference(name, dtype):
    x = np.random.default_rng(2).normal(loc=0.3, scale=4.0, size=(3, 2, 300)).astype(dtype)
    x[0, 0, :50] = -np.inf
    ref = evaluate(name, x.astype(np.float64))
    ours = getattr(rw, name)(x).astype(np.float64)
    assert ours.shape == ref.shape
    np.testing.assert_allclose(ours, ref, rtol=64 * np.finfo(dtype).eps, atol=8 * np.finfo(dtype).eps)
    # another axis is the same map on the moved array
    moved = getattr(rw, name)(np.moveaxis(x, -1, 1), axis=1)
    np.testing.assert_array_equal(np.moveaxis(moved, 1, -1) if name != "vbaf" else moved, getattr(rw, name)(x))


def test_huge_tiny_and_cancelling_rows():
    big = np.finfo(np.float64).max
    # alpha x overflows unshifted ([big, -big]: alpha = 2); the shifted scores do not
    np.testing.assert_array_equal(rw.sparsehourglass(np.array([big, -big])), [1.0, 0.0])
    np.testing.assert_array_equal(rw.sparsehourglass(np.array([-big, -big / 3, 1.0])), [0.0, 0.0, 1.0])
    # a subnormal row: alpha -> (1 + nq)/(nq), the scores are ~0, the output uniform
    np.testing.assert_allclose(rw.sparsehourglass(np.array([4e-323, 1e-323, 0.0, 2e-323])), np.full(4, 0.25), rtol=1e-15)
    # VBAF is scale invariant (the kernel scales by powers of two: bitwise)
    row = np.array([1.0, 3.0, 2.5, -0.5])
    assert rw.vbaf(row * 2.0**1000) == rw.vbaf(row) == rw.vbaf(row * 2.0**-1060)
    # NaLa keeps its value when the norm overflows (tanh r = 1, p = 4.5)
    y = rw.nala_query_feature(np.array([big, big / 2, -big]))
    np.testing.assert_allclose(y, [(1 / 1.5) ** 4.5, (0.5 / 1.5) ** 4.5, 0.0], rtol=4 * E64)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", ALL)
def test_masks_and_conventions(name, dtype):
    rng = np.random.default_rng(3)
    x = rng.normal(loc=0.5, size=(5, 9)).astype(dtype)
    mask = rng.random((5, 9)) < 0.6
    mask[0] = False
    mask[1] = True
    mask[2, :] = False
    mask[2, 4] = True
    f = getattr(rw, name)
    y = f(x, mask=mask)
    xm = np.where(mask, x, dtype(-np.inf))
    np.testing.assert_array_equal(f(xm), y)  # a mask is the -inf input of the rule "remove"
    np.testing.assert_array_equal(f(xm, mask=mask), y)
    if name == "vbaf":
        assert y[0] == 0
    else:
        assert np.all(y[0] == 0) and np.all(y[~mask] == 0)
    for r in range(1, 5):
        ref = _mp(name, xm[r])
        got = np.atleast_1d(y[r]).astype(np.float64)
        np.testing.assert_allclose(got, ref, rtol=0, atol=float(np.max(_bound(name, xm[r], ref, dtype))) + 1e-300)
    assert np.all(f(np.full((2, 4), -np.inf, dtype=dtype)) == 0)
    # a kept NaN or +inf: NaN at the kept entries (VBAF: NaN), 0 at the masked ones
    z = np.array([[1.0, np.nan, -np.inf, 2.0], [np.inf, 1.0, -np.inf, 0.0]], dtype=dtype)
    got = f(z)
    if name == "vbaf":
        assert np.isnan(got).all()
    else:
        assert np.isnan(got[:, [0, 1, 3]]).all() and np.all(got[:, 2] == 0)
    # derivative products of fully masked and -inf rows are 0
    w = np.ones((1, 4), dtype=dtype)
    if name == "vbaf":
        assert rw.vbaf_jvp(np.full((1, 4), -np.inf, dtype=dtype), w)[0] == 0
        assert np.all(rw.vbaf_vjp(x[:1, :4], np.ones(1), mask=np.zeros((1, 4), bool)) == 0)
    else:
        for sfx in ("_jvp", "_vjp"):
            assert np.all(getattr(rw, name + sfx)(np.full((1, 4), -np.inf, dtype=dtype), w) == 0)
            assert np.all(getattr(rw, name + sfx)(x[:1, :4], w, mask=np.zeros((1, 4), bool)) == 0)


def test_special_rows():
    # VBAF: zero mean is +inf, the zero row 0/0; NaLa: the zero row is 0/0 (the authors' code)
    assert rw.vbaf(np.array([1.0, -1.0, 2.0, -2.0])) == np.inf
    assert np.isnan(rw.vbaf(np.zeros(3)))
    assert rw.vbaf(np.full(4, 3.0)) == 0.0
    assert np.isnan(rw.vbaf_vjp(np.array([[1.0, -1.0]]), np.ones(1))).all()
    assert np.isnan(rw.nala_query_feature(np.zeros(3))).all()
    np.testing.assert_array_equal(rw.nala_query_feature(np.array([-1.0, -2.0])), [0.0, 0.0])
    # sparsehourglass at large q is sparsemax; it sums to 1
    x = np.random.default_rng(4).normal(size=(6, 20))
    np.testing.assert_allclose(rw.sparsehourglass(x, q=1e12), rw.sparsemax(x), atol=1e-10)
    np.testing.assert_allclose(np.sum(rw.sparsehourglass(x, q=0.1), axis=-1), 1.0, rtol=1e-14)


def _fd(f, x, v, h=1e-6):
    return (f(x + h * v) - f(x - h * v)) / (2 * h)


@pytest.mark.parametrize("name, kw", [("sparsehourglass", {}), ("sparsehourglass", {"q": 0.05}),
                                      ("nala_query_feature", {}), ("vbaf", {})])
def test_derivatives_closed_form_finite_differences_adjoint(name, kw):
    rng = np.random.default_rng(5)
    x = rng.normal(loc=0.4, scale=2.0, size=(7, 12))
    mask = rng.random(x.shape) < 0.8
    mask[:, 0] = True
    f = getattr(rw, name)
    jv, vj = getattr(rw, name + "_jvp"), getattr(rw, name + "_vjp")
    v = rng.normal(size=x.shape)
    xm = np.where(mask, x, -np.inf)
    J = jacobian(name, xm, kw)
    if name == "vbaf":
        u = rng.normal(size=x.shape[0])
        J = np.where(mask, J, 0.0)
        np.testing.assert_allclose(jv(x, v, mask=mask), np.sum(J * v, axis=-1), rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(vj(x, u, mask=mask), u[:, None] * J, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(jv(x, v), _fd(f, x, v), rtol=1e-6, atol=1e-7)
        return
    J = np.where(mask[:, :, None] & mask[:, None, :], J, 0.0)
    u = rng.normal(size=x.shape)
    np.testing.assert_allclose(jv(x, v, mask=mask, **kw), np.einsum("rij,rj->ri", J, np.where(mask, v, 0)), rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(vj(x, u, mask=mask, **kw), np.einsum("rij,ri->rj", J, np.where(mask, u, 0)), rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(jv(x, v, **kw), _fd(lambda t: f(t, **kw), x, v), rtol=1e-6, atol=1e-7)
    # adjointness <u, J v> = <J^T u, v> (masked tangents never enter)
    lhs = np.sum(u * jv(x, v, mask=mask, **kw))
    rhs = np.sum(vj(x, u, mask=mask, **kw) * np.where(mask, v, 0))
    assert abs(lhs - rhs) <= 1e-12 * (1 + abs(lhs))


@pytest.mark.parametrize("name", MAPS)
def test_derivative_products_float32(name):
    x = np.random.default_rng(6).normal(loc=0.3, size=(4, 10))
    v = np.random.default_rng(7).normal(size=x.shape)
    for sfx in ("_jvp", "_vjp"):
        g = getattr(rw, name + sfx)
        got = g(x.astype(np.float32), v.astype(np.float32))
        assert got.dtype == np.float32
        np.testing.assert_allclose(got, g(x.astype(np.float32).astype(np.float64), v.astype(np.float32).astype(np.float64)),
                                   rtol=2e-7, atol=2e-7)


@pytest.mark.skipif(torch is None, reason="PyTorch is not installed (cross-check only)")
def test_nala_matches_torch_autograd_composition():
    x = np.random.default_rng(8).normal(size=(5, 64))
    t = torch.tensor(x, requires_grad=True)
    r = torch.linalg.vector_norm(t, dim=-1, keepdim=True)
    y = (torch.relu(t) / r) ** (3 * (0.5 + torch.tanh(r)))
    np.testing.assert_allclose(rw.nala_query_feature(x), y.detach().numpy(), rtol=1e-13, atol=1e-300)
    u = np.random.default_rng(9).normal(size=x.shape)
    (g,) = torch.autograd.grad(y, t, torch.tensor(u))
    np.testing.assert_allclose(rw.nala_query_feature_vjp(x, u), g.numpy(), rtol=1e-11, atol=1e-13)


def test_parallel_equals_serial_bitwise(monkeypatch):
    x = np.random.default_rng(10).normal(loc=0.2, size=(300, 130))
    w = np.random.default_rng(11).normal(size=x.shape)
    calls = [(n, (x,)) for n in ALL] + [(n + "_jvp", (x, w)) for n in ALL]
    calls += [(n + "_vjp", (x, w)) for n in MAPS] + [("vbaf_vjp", (x, w[:, 0]))]
    assert rowwise_layout.use_parallel(*x.shape) or rowwise_layout.numba.get_num_threads() == 1
    par = [getattr(rw, n)(*a) for n, a in calls]
    monkeypatch.setattr(rowwise_layout, "PARALLEL_MIN_ELEMENTS", 1 << 62)
    for (n, a), p in zip(calls, par):
        np.testing.assert_array_equal(getattr(rw, n)(*a), p, err_msg=n)


def test_default_q_is_the_catalog_default():
    assert registry.get("sparsehourglass").param_values(None)["q"] == 1.0
    x = np.random.default_rng(12).normal(size=(3, 8))
    np.testing.assert_array_equal(rw.sparsehourglass(x), rw.sparsehourglass(x, q=1.0))


@pytest.mark.parametrize("call, err", [
    (lambda: rw.sparsehourglass(np.ones(3), q=0.0), ValueError),
    (lambda: rw.sparsehourglass(np.ones(3), q=np.inf), ValueError),
    (lambda: rw.sparsehourglass_jvp(np.ones(3), np.ones(4)), ValueError),
    (lambda: rw.vbaf(np.ones(3, dtype=np.int64)), TypeError),
    (lambda: rw.vbaf_vjp(np.ones((2, 3)), np.ones(3)), ValueError),
    (lambda: rw.nala_query_feature(np.ones(3), mask=np.ones(3, dtype=np.int8)), TypeError),
    (lambda: rw.nala_query_feature(np.float64(1.0)), ValueError),
])
def test_errors(call, err):
    with pytest.raises(err):
        call()


# -- DSelect-k (catalog/grouped/breadth7_vector.toml) -------------------------------------------

def _dselect_numeric(entry, exprs, z, w):
    """Evaluate catalog expressions of ``dselect_k`` at selector logits z (..., 2, 2) and w (..., 2)."""
    from funclib.formula import make_symbol
    from funclib.npeval import np_evaluate

    env = {make_symbol(v): a for v, a in zip(entry.variables, [z[..., 0, 0], z[..., 0, 1], z[..., 1, 0], z[..., 1, 1], w[..., 0], w[..., 1]])}
    return np.stack([np_evaluate(e.subs(entry.param_subs()), env) for e in exprs], axis=-1)


def _dselect_inputs(seed=14, size=400):
    rng = np.random.default_rng(seed)
    z = rng.uniform(-0.8, 0.8, size=(size, 2, 2))  # both sides of the cubic region |z| < 1/2
    z[:20] = np.round(z[:20] * 2) / 2  # on the region boundaries +-1/2 and at 0
    return z, rng.normal(scale=2.0, size=(size, 2))


def test_dselect_k_entry_matches_the_numpy_gate():
    from funclib.families.gates import dselect_k_weights

    e = registry.get("dselect_k")
    z, w = _dselect_inputs()
    np.testing.assert_allclose(_dselect_numeric(e, e.outputs, z, w), dselect_k_weights(z, w), rtol=1e-14, atol=1e-16)
    # converged selectors (|z| >= gamma/2) pick one expert each: at most k = 2 non-zeros
    q = _dselect_numeric(e, e.outputs, np.array([[[0.5, -0.7], [2.0, 0.6]]]), np.array([[0.3, -0.1]]))
    assert np.count_nonzero(q) == 2 and q[0, 2] > 0 and q[0, 3] > 0


def test_dselect_k_jacobian_closed_form_symbolic_and_finite_differences():
    import sympy as sp
    from funclib.formula import make_symbol

    e = registry.get("dselect_k")
    syms = [make_symbol(v) for v in e.variables]
    symbolic = [[sp.diff(o, s) for s in syms] for o in e.outputs]
    z, w = _dselect_inputs(15, 200)
    z = np.where(np.abs(np.abs(z) - 0.5) < 1e-3, z + 0.01, z)  # S'' jumps at +-gamma/2
    closed = np.stack([_dselect_numeric(e, row, z, w) for row in e.jacobian.tolist()], axis=-2)
    sym = np.stack([_dselect_numeric(e, row, z, w) for row in symbolic], axis=-2)
    np.testing.assert_allclose(closed, sym, rtol=1e-12, atol=1e-14)
    flat = np.concatenate([z.reshape(-1, 4), w], axis=-1)
    h = 1e-6
    for j in range(6):
        step = np.zeros(6)
        step[j] = h
        up, dn = flat + step, flat - step
        fd = (_dselect_numeric(e, e.outputs, up[:, :4].reshape(-1, 2, 2), up[:, 4:])
              - _dselect_numeric(e, e.outputs, dn[:, :4].reshape(-1, 2, 2), dn[:, 4:])) / (2 * h)
        np.testing.assert_allclose(closed[..., j], fd, atol=1e-8)


def dselect_claim(entry_id: str, name: str, value) -> None:
    """Proof of the structural claims of ``dselect_k`` (called by tests/test_grouped.py).

    ``sums_to_one``: every smooth-step S(z_lj) in the outputs is replaced by a free symbol s_lj;
    the sum of the outputs is then identically 1 (a polynomial identity in s and the softmax
    weights), so it is 1 on every region of the piecewise definition.
    """
    import sympy as sp

    e = registry.get(entry_id)
    assert name == "sums_to_one", f"no proof for claim {name} of {entry_id}"
    total = sum(e.outputs)
    steps = sorted(total.atoms(sp.Piecewise), key=str)
    assert len(steps) == 4  # one smooth-step per selector logit
    free = {pw: sp.Symbol(f"s{k}") for k, pw in enumerate(steps)}
    assert (sp.simplify(sp.expand(total.xreplace(free)).rewrite(sp.exp)) == 1) == value


def test_dselect_claim_prover_refuses_false_claims():
    with pytest.raises(AssertionError):
        dselect_claim("dselect_k", "sums_to_one", False)
    with pytest.raises(AssertionError):
        dselect_claim("dselect_k", "lipschitz_l2", 1)
