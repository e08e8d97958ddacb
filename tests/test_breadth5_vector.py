"""Breadth III remainder (issue 15): sparsehourglass, VBAF, CReLU / NCReLU / paired ReLU, and the
first-order xGEGLU / second-order xATGLU of the expanded-gating paper.

The generic batteries cover part of this: ``tests/test_rowwise_reference.py`` (float64 vs mpmath vs
the formula, masks, Jacobians vs finite differences and the closed form) for the two row-wise maps,
``tests/test_grouped.py`` (the claims, proven on the affine pieces) for the width-doubling maps.
Here: second checks against independent code (the authors' sparsehourglass written with PyTorch
ops, ``torch_activation``, the expanded-gating reference classes), limits and invariances the
descriptions state, and the Jacobians of the maps the generic harness does not evaluate.
"""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest
import sympy as sp

import funclib
from funclib.families import gates
from funclib.formula import make_symbol
from funclib.mpeval import mp_evaluate
from funclib.rowwise import evaluate, jacobian
from funclib.rowwise.breadth5 import concatenated, concatenated_jacobian


def _rows(n_rows=25, n=6, scale=2.0, seed=0):
    return np.random.default_rng(seed).normal(size=(n_rows, n)) * scale


def _torch():
    return pytest.importorskip("torch")


def _torch_activation(name):
    _torch()
    ta = pytest.importorskip("torch_activation")
    return getattr(ta, name)


# -- sparsehourglass ----------------------------------------------------------------------------

def _authors_sparsehourglass(torch, z, q):
    """The authors' SparseHourglass.forward (lam = 0) in float64: scale, sort, threshold, clamp."""
    dim = z.shape[1]
    alpha = (1 + dim * q) / (torch.abs(torch.sum(z, dim=1)) + dim * q)
    z = alpha[:, None] * z
    z_sorted = torch.sort(z, descending=True)[0]
    k = torch.arange(1, dim + 1, dtype=z.dtype)[None, :]
    z_check = (1 + k * z_sorted > torch.cumsum(z_sorted, dim=1)).to(z.dtype)
    k_z = torch.sum(z_check, 1)
    tau = (torch.sum(z_check * z_sorted, 1) - 1) / k_z
    return torch.clamp(z - tau[:, None], min=0)


@pytest.mark.parametrize("q", [0.05, 1.0, 7.0])
def test_sparsehourglass_vs_authors_code_and_autograd(q):
    torch = _torch()
    x = np.concatenate([_rows(), _rows(seed=1) * 10, _rows(seed=2) - 3.0])
    t = torch.tensor(x, requires_grad=True)
    ref = _authors_sparsehourglass(torch, t, q)
    np.testing.assert_allclose(evaluate("sparsehourglass", x, {"q": q}), ref.detach().numpy(), rtol=1e-12, atol=1e-14)
    # Jacobian rows against autograd of the authors' form (away from support boundaries).
    jac = jacobian("sparsehourglass", x, {"q": q})
    for i in range(x.shape[1]):
        (g,) = torch.autograd.grad(ref[:, i].sum(), t, retain_graph=True)
        np.testing.assert_allclose(jac[:, i, :], g.numpy(), rtol=1e-10, atol=1e-12)


def test_sparsehourglass_limits_and_invariances():
    x = _rows(seed=3)
    x = x[np.abs(x.sum(axis=1)) > 0.5]
    # q -> infinity: alpha -> 1, sparsemax (translation invariant).
    np.testing.assert_allclose(evaluate("sparsehourglass", x, {"q": 1e12}), evaluate("sparsemax", x), atol=1e-9)
    # q -> 0: sparsemax(x/|sum x|), scale invariant for c > 0.
    small = {"q": 1e-12}
    base = evaluate("sparsemax", x / np.abs(x.sum(axis=1, keepdims=True)))
    for c in (0.01, 1.0, 300.0):
        np.testing.assert_allclose(evaluate("sparsehourglass", c * x, small), base, atol=1e-8)
    # q = 1 is neither: rescaling the row changes the output.
    assert np.max(np.abs(evaluate("sparsehourglass", 10 * x) - evaluate("sparsehourglass", x))) > 1e-2
    # the zero-sum row is defined for q > 0 (alpha = (1 + n q)/(n q)): finite, sums to 1
    z = np.array([1.0, -1.0, 0.5, -0.5])
    y = evaluate("sparsehourglass", z)
    assert np.all(np.isfinite(y)) and math.isclose(y.sum(), 1.0, rel_tol=1e-15)


def test_sparsehourglass_masks_and_parameters():
    row = np.array([0.4, -np.inf, 1.3, -0.2])
    np.testing.assert_array_equal(evaluate("sparsehourglass", row)[[0, 2, 3]], evaluate("sparsehourglass", row[[0, 2, 3]]))
    assert evaluate("sparsehourglass", row)[1] == 0
    with pytest.raises(funclib.ParameterError, match="sparsehourglass"):
        evaluate("sparsehourglass", row, {"q": 0.0})


# -- VBAF ---------------------------------------------------------------------------------------

def test_vbaf_vs_pytorch_composition_and_autograd():
    torch = _torch()
    x = np.concatenate([_rows() + 1.0, _rows(seed=4) * 100 - 7])
    t = torch.tensor(x, requires_grad=True)
    m = t.mean(dim=-1, keepdim=True)
    ref = (t - m).abs().sum(dim=-1) / m.abs()[:, 0]
    np.testing.assert_allclose(evaluate("vbaf", x), ref.detach().numpy(), rtol=1e-11)
    (g,) = torch.autograd.grad(ref.sum(), t)
    np.testing.assert_allclose(jacobian("vbaf", x), g.numpy(), rtol=1e-9, atol=1e-12)


def test_vbaf_facts():
    x = _rows(seed=5) + 0.3
    for c in (-2.5, 1e-3, 7.0, 2.0**600):  # scale invariant, for either sign of c
        np.testing.assert_allclose(evaluate("vbaf", c * x), evaluate("vbaf", x), rtol=1e-12)
    assert evaluate("vbaf", np.full(5, 3.25)) == 0.0  # constant rows: no volatility
    assert evaluate("vbaf", np.array([1.0, -1.0, 2.0, -2.0])) == np.inf  # zero mean
    assert np.isnan(evaluate("vbaf", np.zeros(3)))  # 0/0
    # A subnormal mean keeps its value (the float64 form divides by the sum, not the mean).
    row = np.array([1e-300, 0.0, -1e-300, 5e-324])
    with mpmath.workdps(50):
        exact = mpmath.fsum(abs(mpmath.mpf(v) - mpmath.fsum(map(mpmath.mpf, row)) / 4) for v in row) / (mpmath.mpf(5e-324) / 4)
    assert math.isclose(float(evaluate("vbaf", row)), float(exact), rel_tol=1e-14)


@pytest.mark.xfail(strict=True, reason="torch_activation.VBAF returns the population standard deviation, not sum|x - mean|/|mean| (the formula it documents)")
def test_vbaf_vs_torch_activation():
    module = _torch_activation("VBAF")()
    torch = _torch()
    x = _rows() + 1.0
    got = module(torch.from_numpy(x)).numpy()[..., 0]
    np.testing.assert_allclose(got, evaluate("vbaf", x), rtol=1e-9)


def test_torch_activation_vbaf_is_the_standard_deviation():
    """What the xfail above records: the package computes std(x) (ddof 0)."""
    torch = _torch()
    module = _torch_activation("VBAF")()
    x = _rows() + 1.0
    np.testing.assert_allclose(module(torch.from_numpy(x)).numpy()[..., 0], x.std(axis=-1), rtol=1e-12)


# -- width-doubling maps ------------------------------------------------------------------------

CONCAT = ["crelu", "ncrelu", "paired_relu"]


@pytest.mark.parametrize("entry_id", CONCAT)
def test_concatenated_vs_torch_activation_and_autograd(entry_id):
    torch = _torch()
    record = funclib.get(entry_id).implementations[0]
    cls = _torch_activation(record["function"].rsplit(".", 1)[1])
    module = cls(**(record.get("kwargs") or {})).double()
    x = np.concatenate([_rows(), [[0.0, -0.0, 1e-300, -1e-300, 5.0, -5.0]]])
    t = torch.tensor(x, requires_grad=True)
    y = module(t)  # 2-D input: concatenated along the last axis (PairedReLU: dim 1)
    np.testing.assert_array_equal(concatenated(entry_id, x), y.detach().numpy())
    jac = concatenated_jacobian(entry_id, x)
    for r in range(2 * x.shape[1]):
        (g,) = torch.autograd.grad(y[:, r].sum(), t, retain_graph=True)
        np.testing.assert_array_equal(jac[:, r, :], g.numpy())


@pytest.mark.parametrize("entry_id", CONCAT)
def test_concatenated_matches_catalog_formulas(entry_id):
    entry = funclib.get(entry_id)
    (x,) = [make_symbol(v) for v in entry.variables]
    _, closed = entry.jacobian_matrix(closed_form=True)
    _, symbolic = entry.jacobian_matrix()
    outputs = [o.subs(entry.param_subs()) for o in entry.outputs]
    for v in (-2.5, -0.75, 0.0, 0.5, 3.0):
        got = concatenated(entry_id, np.array([v]))
        want = [float(o.subs(x, sp.nsimplify(v))) for o in outputs]
        np.testing.assert_array_equal(got, want)
        at = {x: sp.nsimplify(v)}
        np.testing.assert_array_equal(concatenated_jacobian(entry_id, np.array([v]))[:, 0],
                                      [float(closed[r, 0].subs(at)) for r in range(2)])
        if v != 0:  # the symbolic derivative is the closed form away from the kink
            assert [symbolic[r, 0].subs(at) for r in range(2)] == [closed[r, 0].subs(at) for r in range(2)]


def test_concatenated_structure():
    x = _rows(seed=6)
    y = concatenated("crelu", x)
    n = x.shape[1]
    np.testing.assert_array_equal(y[:, :n] - y[:, n:], x)  # invertible: x = y1 - y2
    np.testing.assert_array_equal(y[:, :n] + y[:, n:], np.abs(x))  # not sum preserving
    z = concatenated("ncrelu", x)
    np.testing.assert_array_equal(z[:, :n] + z[:, n:], x)  # sum preserving
    np.testing.assert_array_equal(np.hypot(z[:, :n], z[:, n:]), np.abs(x))  # norm preserving
    np.testing.assert_array_equal(concatenated("paired_relu", x), 0.5 * y)  # defaults: CReLU / 2
    p = {"a": 1.0, "b": -1.0, "c": 2.0, "d": 0.5}  # both pieces active for x > 1/4
    w = concatenated("paired_relu", np.array([2.0]), p)
    np.testing.assert_array_equal(w, [3.0, 3.5])
    assert np.isnan(concatenated("crelu", np.array([np.nan, 1.0]))[[0, 2]]).all()
    with pytest.raises(ValueError, match="feature axis"):
        concatenated("crelu", 1.0)
    with pytest.raises(ValueError, match="no concatenated evaluator"):
        concatenated("relu", x)


# -- expanded gating: first-order xGEGLU, second-order xATGLU -------------------------------------

EXPANDED = ["xgeglu_order1", "xatglu_order2"]


def _authors_gate(torch, name, a, b, alpha):
    """The reference classes: XGE / XAT gates on the first chunk x (= funclib's b), value y (= a)."""
    if name == "xgeglu_order1":  # XGEGLU(order=1): gate(x) * y
        return (torch.erf(b / math.sqrt(2)) * (0.5 + alpha) + 0.5) * a
    return (torch.arctan(b) * (1 / math.pi * (1 + 2 * alpha)) + 0.5) * b * a  # XATGLU(order=2)


@pytest.mark.parametrize("entry_id", EXPANDED)
@pytest.mark.parametrize("alpha", [0.0, 0.35, -0.2])
def test_expanded_vs_authors_code(entry_id, alpha):
    torch = _torch()
    rng = np.random.default_rng(12)
    a, b = rng.normal(size=50) * 3, np.concatenate([rng.normal(size=47) * 3, [-30.0, 0.0, 30.0]])
    ta, tb = (torch.tensor(v, requires_grad=True) for v in (a, b))
    y = _authors_gate(torch, entry_id, ta, tb, alpha)
    entry = funclib.get(entry_id)
    params = {"alpha": alpha}
    np.testing.assert_allclose(gates.gated_forward(entry, np.concatenate([a, b]), params=params), y.detach().numpy(), rtol=1e-13, atol=1e-15)
    ga, gb = torch.autograd.grad(y.sum(), [ta, tb])
    da, db = gates.gated_partials(entry, a, b, params=params)
    np.testing.assert_allclose(da, ga.numpy(), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(db, gb.numpy(), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("entry_id", EXPANDED)
def test_expanded_partials_vs_finite_differences(entry_id):
    entry = funclib.get(entry_id)
    rng = np.random.default_rng(len(entry_id))
    f = entry.numeric_expr(params={"alpha": 0.3})
    symbols = [make_symbol(v) for v in entry.variables]
    partials = {v: entry.derivative(wrt=v, numeric=True, params={"alpha": 0.3}) for v in entry.variables}
    for _ in range(4):
        point = {s: float(v) for s, v in zip(symbols, rng.uniform(-4, 4, 2))}
        for name, symbol in zip(entry.variables, symbols):
            with mpmath.workdps(40):
                fd = mpmath.diff(lambda t: mp_evaluate(f, {**point, symbol: t}, 80), mpmath.mpf(point[symbol]))
                exact = mp_evaluate(partials[name], point, 40)
                assert mpmath.almosteq(fd, exact, rel_eps=1e-25, abs_eps=1e-28), (entry_id, name, point)


def test_expanded_orders_relate_to_the_glu_family():
    """order 2 = b * order 1 (same gate); the catalog's members fill the other orders."""
    a, b = make_symbol("a"), make_symbol("b")
    first = funclib.get("xgeglu_order1").numeric_expr(params={"alpha": 0.25})
    second = funclib.get("xgeglu").numeric_expr(params={"alpha": 0.25})
    assert sp.simplify(b * first - second) == 0
    at_first = funclib.get("xatglu").numeric_expr(params={"alpha": 0.25})
    at_second = funclib.get("xatglu_order2").numeric_expr(params={"alpha": 0.25})
    assert sp.simplify(b * at_first - at_second) == 0
    assert a in first.free_symbols and b in first.free_symbols


# -- NaLaFormer's norm-aware query feature ------------------------------------------------------

def _authors_nala_query(torch, q):
    """NormAwareLinearAttn.forward (NALA.py), query side without the rotary factors: [f(q), f(-q)]."""
    q_norm = q.norm(dim=-1, p=2, keepdim=True)
    power = 3 * (0.5 + torch.tanh(q_norm))
    return torch.cat([(torch.relu(q) / q_norm) ** power, (torch.relu(-q) / q_norm) ** power], dim=-1)


def test_nala_query_feature_vs_authors_code_and_autograd():
    torch = _torch()
    x = np.concatenate([_rows(n=8), _rows(n=8, seed=7) * 0.05, _rows(n=8, seed=8) * 20])
    t = torch.tensor(x, requires_grad=True)
    ref = _authors_nala_query(torch, t)
    got = np.concatenate([evaluate("nala_query_feature", x), evaluate("nala_query_feature", -x)], axis=-1)
    np.testing.assert_allclose(got, ref.detach().numpy(), rtol=1e-13, atol=1e-300)
    jac = jacobian("nala_query_feature", x)
    for i in range(x.shape[1]):
        (g,) = torch.autograd.grad(ref[:, i].sum(), t, retain_graph=True)
        np.testing.assert_allclose(jac[:, i, :], g.numpy(), rtol=1e-10, atol=1e-13)


def test_nala_query_feature_facts():
    x = _rows(seed=9)
    y = evaluate("nala_query_feature", x)
    assert np.all((y >= 0) & (y <= 1))
    # the norm sets the power: scaling a row changes its feature (not scale invariant), and a
    # longer query gives a spikier (more concentrated) feature, the point of the construction
    row = np.array([0.9, 0.5, 0.3, -0.2])
    short, long_ = evaluate("nala_query_feature", 0.1 * row), evaluate("nala_query_feature", 10 * row)
    assert long_[0] / long_.sum() > short[0] / short.sum()
    # power 3(1/2 + tanh r): 1.5 at r -> 0, 4.5 as r -> inf; a one-hot direction gives 1
    np.testing.assert_allclose(evaluate("nala_query_feature", np.array([3.0, 0.0, -4.0])), [(0.6) ** (3 * (0.5 + np.tanh(5.0))), 0, 0])
    assert np.isnan(evaluate("nala_query_feature", np.zeros(3))).all()  # 0/0, as the authors' code


def test_reference_rows_whose_sum_overflows():
    """The NumPy references keep their value where the row sum overflows float64 (math.fsum
    raises there): VBAF is scale invariant, sparsehourglass's alpha*x is formed from the row
    scaled by 2**-64; both agree with the kernels and with mpmath."""
    from funclib.kernels import rowwise as rk
    from funclib.rowwise import evaluate

    for x in (np.array([1.7e308, 1.7e308, 1.0]), np.array([1.7e308, -1.0e308, 3.0])):
        np.testing.assert_allclose(evaluate("vbaf", x), rk.vbaf(x), rtol=1e-15)
        np.testing.assert_array_equal(evaluate("sparsehourglass", x), rk.sparsehourglass(x))
    assert evaluate("vbaf", np.array([1.7e308, 1.7e308, 1.0])) == 2.0
    np.testing.assert_array_equal(evaluate("sparsehourglass", np.array([1.7e308, 1.7e308, 1.0])), [0.5, 0.5, 0.0])
    assert np.isnan(evaluate("vbaf", np.array([np.inf, -np.inf, 1.0])))  # inf - inf: NaN, no exception
