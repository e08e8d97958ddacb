"""Breadth vector entries (issue 15): checks beyond the generic row-wise, gated and grouped tests.

* Row-wise maps under ``catalog/normalizer/breadth_*.toml`` get the generic battery of
  ``tests/test_rowwise_reference.py`` (float64 vs mpmath vs the formula, masks, Jacobians) through
  ``funclib.rowwise.breadth``; here: anchors against PyTorch, JAX and ``torch-activation``, the
  Lipschitz facts stated in the descriptions, and the identities between members.
* Row-wise MoE gates (``catalog/gated/breadth_moe.toml``) use a second vector (router bias) or
  selections the generic harness does not pass: their references and Jacobians are checked here.
* Gated entries (``catalog/gated/breadth_*.toml``, kind ``gated``): partial derivatives against
  40-digit finite differences, values against independent code.
* Attention score entries (``catalog/attention/breadth_*.toml``): values and gradients against
  NumPy/PyTorch, Lipschitz and invariance facts.
"""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest

import funclib
from funclib.rowwise import evaluate, jacobian, mp_reference

RNG = np.random.default_rng(20261206)


def _rows(n_rows=30, n=6, scale=2.0, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n_rows, n)) * scale


# -- row-wise normalizers: independent implementations ------------------------------------------

def _torch():
    return pytest.importorskip("torch")


def test_softmin_vs_pytorch():
    torch = _torch()
    x = _rows()
    ref = torch.nn.functional.softmin(torch.from_numpy(x), dim=-1).numpy()
    np.testing.assert_allclose(evaluate("softmin", x), ref, rtol=1e-12, atol=1e-15)


def test_l2_normalize_vs_pytorch():
    torch = _torch()
    x = np.concatenate([_rows(), np.zeros((1, 6)), np.full((1, 6), 1e-14)])
    for eps in (1e-12, 0.5):
        ref = torch.nn.functional.normalize(torch.from_numpy(x), p=2.0, dim=-1, eps=eps).numpy()
        np.testing.assert_allclose(evaluate("l2_normalize", x, {"eps": eps}), ref, rtol=1e-13, atol=1e-15)


def test_rms_normalize_vs_pytorch():
    torch = _torch()
    if not hasattr(torch.nn.functional, "rms_norm"):
        pytest.skip("torch.nn.functional.rms_norm needs PyTorch >= 2.4")
    x = _rows()
    for eps in (1e-8, 1e-2):
        ref = torch.nn.functional.rms_norm(torch.from_numpy(x), (6,), eps=eps).numpy()
        np.testing.assert_allclose(evaluate("rms_normalize", x, {"eps": eps}), ref, rtol=1e-12, atol=1e-15)


def test_standardize_vs_pytorch_and_jax():
    torch = _torch()
    x = np.concatenate([_rows(), _rows(seed=1) + 1e6])
    ref = torch.nn.functional.layer_norm(torch.from_numpy(x), (6,), eps=1e-5).numpy()
    # rows offset by 1e6: condition |mean|/std ~ 5e5, so both sides round at the 1e-10 level
    np.testing.assert_allclose(evaluate("standardize", x), ref, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(evaluate("standardize", x[:30]), ref[:30], rtol=1e-13, atol=1e-13)
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    ref_jax = np.asarray(jax.nn.standardize(jax.numpy.asarray(x), axis=-1, epsilon=1e-5, algorithm="stable"))
    np.testing.assert_allclose(evaluate("standardize", x), ref_jax, rtol=1e-9, atol=1e-9)
    # JAX's default algorithm="fast" computes the variance as E[x^2] - E[x]^2, which cancels for
    # rows far from 0 (digits lost ~ 2 log10(|mean|/std)): a known inaccuracy, not a different map.
    fast = np.asarray(jax.nn.standardize(jax.numpy.asarray(x), axis=-1, epsilon=1e-5))
    np.testing.assert_allclose(evaluate("standardize", x[:30]), fast[:30], rtol=1e-9, atol=1e-9)
    assert np.max(np.abs(fast[30:] - evaluate("standardize", x[30:]))) > 1e-6


def _torch_activation():
    pytest.importorskip("torch")
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pytest.importorskip("torch_activation")


def test_kwta_vs_torch_activation():
    torch = _torch()
    ta = _torch_activation()
    x = _rows(n=10)
    for k in (1, 3, 7):
        ref = ta.KWTA(k=k, dim=-1)(torch.from_numpy(x)).numpy()
        np.testing.assert_array_equal(evaluate("kwta", x, {"k": k}), ref)


def test_ab_relu_vs_torch_activation():
    torch = _torch()
    ta = _torch_activation()
    for row in _rows(n=7):  # torch-activation takes the mean of the whole tensor: one row at a time
        ref = ta.ABReLU()(torch.from_numpy(row)).numpy()
        np.testing.assert_allclose(evaluate("ab_relu", row), ref, rtol=1e-13, atol=1e-15)


def test_sqmax_is_the_shifted_variant():
    """torch-activation's SQMAX is the `shifted` variant of spherical_softmax (and at c = 0 the
    main formula with eps = 0)."""
    torch = _torch()
    ta = _torch_activation()
    from funclib import calculus
    from funclib.mpeval import mp_evaluate

    entry = funclib.get("spherical_softmax")
    x = _rows(n_rows=5, n=4)
    for c in (0.0, 0.75):  # the module stores c as a float32 parameter: exact values only
        ref = ta.SQMAX(c=c)(torch.from_numpy(x)).detach().numpy()
        xs, outs = calculus.expand_rowwise(entry.numeric_expr("shifted", params={"c": c}), 4)
        for row, r in zip(x, ref):
            point = dict(zip(xs, map(float, row)))
            np.testing.assert_allclose([float(mp_evaluate(o, point)) for o in outs], r, rtol=1e-12)
    np.testing.assert_allclose(evaluate("spherical_softmax", x), ta.SQMAX(c=0.0)(torch.from_numpy(x)).detach().numpy(), rtol=1e-13)


# -- identities between members -----------------------------------------------------------------

def test_special_members():
    x = _rows(n=7)
    np.testing.assert_allclose(evaluate("softmin", x), evaluate("softmax", -x), atol=1e-15)
    np.testing.assert_allclose(evaluate("sparsegen_lin", x, {"lam": 0.0}), evaluate("sparsemax", x), atol=1e-15)
    np.testing.assert_allclose(evaluate("sparsegen_lin", x, {"lam": 0.5}), evaluate("sparsemax", 2 * x), atol=1e-15)
    np.testing.assert_allclose(evaluate("centered_softmax", x) + 1 / 7, evaluate("softmax", x), atol=1e-15)
    np.testing.assert_allclose(np.exp(evaluate("log_stablemax", x)), evaluate("stablemax", x), rtol=1e-14)
    np.testing.assert_allclose(evaluate("kwta", x, {"k": 7}), x, atol=0)
    # hardmax is the zero-temperature limit of softmax
    np.testing.assert_allclose(evaluate("hardmax", x), evaluate("temperature_softmax", x, {"T": 1e-3}), atol=1e-12)
    # softmax-plus-one is softmax with an extra zero logit, dropped
    padded = np.concatenate([x, np.zeros((x.shape[0], 1))], axis=1)
    np.testing.assert_allclose(evaluate("softmax_one", x), evaluate("softmax", padded)[:, :-1], atol=1e-15)
    # mellowmax: log-sum-exp minus log n; omega -> 0 gives the mean
    np.testing.assert_allclose(evaluate("mellowmax", x), evaluate("logsumexp", x) - math.log(7), rtol=1e-14)
    np.testing.assert_allclose(evaluate("mellowmax", x, {"omega": 1e-7}), x.mean(axis=-1), atol=1e-6)
    np.testing.assert_allclose(evaluate("boltzmann_operator", x, {"beta": 1e-9}), x.mean(axis=-1), atol=1e-7)
    # ev-softmax: the example of the paper's Figure 1
    np.testing.assert_allclose(evaluate("ev_softmax", [0.4, 1.4, -0.8]), [1 / (1 + math.e), math.e / (1 + math.e), 0.0], rtol=1e-15)


def test_stablemax_weight_is_c1_not_c2():
    s = lambda v: v + 1 if v >= 0 else 1 / (1 - v)  # noqa: E731
    with mpmath.workdps(30):
        h = mpmath.mpf(10) ** -8
        assert abs((s(h) - s(0)) / h - 1) < 1e-7 and abs((s(0) - s(-h)) / h - 1) < 1e-7  # s'(0) = 1 both sides
        left = s(0) - 2 * s(-h) + s(-2 * h)                   # s''(0-) = 2, s''(0+) = 0
        assert abs((s(2 * h) - 2 * s(h) + s(0)) / h**2) < 1e-6 and abs(left / h**2 - 2) < 1e-6


def test_taylor_softmax_is_not_monotone():
    """f(x) = 1 + x + x^2/2 decreases below -1: lowering a very negative score raises its weight."""
    y0 = evaluate("taylor_softmax", [-2.0, 0.0, 1.0])
    y1 = evaluate("taylor_softmax", [-3.0, 0.0, 1.0])
    assert y1[0] > y0[0]


# -- Lipschitz facts -----------------------------------------------------------------------------

def test_sparsegen_lin_lipschitz_constant():
    """On each support region the Jacobian is P_S/(1 - lam), P_S = I_S - 1 1^T/|S| an orthogonal
    projection (symmetric, idempotent after rescaling): its spectral norm is 1/(1 - lam) whenever
    |S| >= 2, and the map is continuous and piecewise affine, so the l2 Lipschitz constant is
    1/(1 - lam), attained."""
    for lam in (-1.0, 0.0, 0.5, 0.9):
        attained = 0.0
        for row in _rows(60, 5, 1.0, seed=3):
            J = jacobian("sparsegen_lin", row, {"lam": lam}) * (1 - lam)
            np.testing.assert_allclose(J, J.T, atol=1e-15)
            np.testing.assert_allclose(J @ J, J, atol=1e-13)
            attained = max(attained, np.linalg.norm(J, 2) / (1 - lam))
        assert attained == pytest.approx(1 / (1 - lam), rel=1e-12)


def test_mellowmax_is_a_nonexpansion_and_additively_homogeneous():
    """The gradient softmax(omega x) is a probability vector: l1 norm 1, so |mm(x) - mm(z)| <=
    ||x - z||_inf (mean value theorem), with equality along the direction 1; mm(x + c1) = mm(x) + c."""
    for omega in (0.5, 1.0, 10.0):
        for row in np.round(_rows(20, 5, 3.0, seed=4) * 64) / 64:  # dyadic: row + 1.25 is exact
            g = jacobian("mellowmax", row, {"omega": omega})
            assert np.all(g >= 0) and abs(g.sum() - 1) < 1e-14
            with mpmath.workdps(50):
                a = mp_reference("mellowmax", row, {"omega": omega})
                b = mp_reference("mellowmax", row + 1.25, {"omega": omega})
                assert abs(b - a - mpmath.mpf(1.25)) < 1e-40
        z = _rows(20, 5, 3.0, seed=5)
        x = _rows(20, 5, 3.0, seed=4)
        lhs = np.abs(evaluate("mellowmax", x, {"omega": omega}) - evaluate("mellowmax", z, {"omega": omega}))
        assert np.all(lhs <= np.max(np.abs(x - z), axis=-1) * (1 + 1e-12))


def test_boltzmann_operator_is_not_a_nonexpansion():
    """Asadi & Littman: the Boltzmann operator's l-inf Lipschitz constant exceeds 1 (gradient l1
    norm > 1 somewhere)."""
    worst = max(np.abs(jacobian("boltzmann_operator", row, {"beta": 16.55})).sum()
                for row in _rows(200, 3, 0.2, seed=6))
    assert worst > 1.1


def test_softmin_and_centered_softmax_lipschitz_half():
    """-y_i(delta_ij - y_j) and s(delta - s)/tau: symmetric PSD (up to sign), eigenvalues <= 1/2."""
    for row in _rows(30, 5, 2.0, seed=7):
        for name, scale in (("softmin", 1.0), ("centered_softmax", 1.0)):
            assert np.linalg.norm(jacobian(name, row), 2) <= 0.5 * scale + 1e-15


def test_l2_normalize_local_lipschitz():
    """The Jacobian (I - y y^T)/||x|| has spectral norm 1/||x|| where ||x|| > eps."""
    for row in _rows(20, 5, 2.0, seed=8):
        assert np.linalg.norm(jacobian("l2_normalize", row), 2) == pytest.approx(1 / np.linalg.norm(row), rel=1e-12)


# -- gated entries -------------------------------------------------------------------------------

from funclib.formula import make_symbol  # noqa: E402
from funclib.mpeval import mp_evaluate  # noqa: E402

BREADTH_GATED = [e for e in funclib.entries("gated") if e.source.startswith("catalog/gated/breadth_")]


def test_breadth_gated_entries_exist():
    ids = {e.id for e in BREADTH_GATED}
    assert {"gtu", "gpt_oss_swiglu", "highway_gate", "logic_and", "logic_xor"} <= ids
    assert len([e for e in BREADTH_GATED if e.family == "logic_gate"]) == 16


@pytest.mark.parametrize("entry", BREADTH_GATED, ids=lambda e: e.id)
def test_gated_partials_vs_finite_differences(entry):
    """Each partial derivative against 40-digit central differences at random points."""
    rng = np.random.default_rng(len(entry.id))
    f = entry.numeric_expr()
    symbols = [make_symbol(v) for v in entry.variables]
    partials = {v: entry.derivative(wrt=v, numeric=True) for v in entry.variables}
    for _ in range(6):
        point = {s: float(v) for s, v in zip(symbols, rng.uniform(-4, 4, len(symbols)))}
        if entry.id == "gpt_oss_swiglu":  # also the clamped region
            point[symbols[0]] *= 3
        for name, symbol in zip(entry.variables, symbols):
            with mpmath.workdps(40):
                fd = mpmath.diff(lambda t: mp_evaluate(f, {**point, symbol: t}, 80), mpmath.mpf(point[symbol]))
                exact = mp_evaluate(partials[name], point, 40)
                assert mpmath.almosteq(fd, exact, rel_eps=1e-25, abs_eps=1e-28), (entry.id, name, point)


LOGIC = {
    "logic_false": lambda a, b: 0, "logic_and": lambda a, b: a & b, "logic_a_and_not_b": lambda a, b: a & (1 - b),
    "logic_a": lambda a, b: a, "logic_not_a_and_b": lambda a, b: (1 - a) & b, "logic_b": lambda a, b: b,
    "logic_xor": lambda a, b: a ^ b, "logic_or": lambda a, b: a | b, "logic_nor": lambda a, b: 1 - (a | b),
    "logic_xnor": lambda a, b: 1 - (a ^ b), "logic_not_b": lambda a, b: 1 - b, "logic_a_or_not_b": lambda a, b: a | (1 - b),
    "logic_not_a": lambda a, b: 1 - a, "logic_not_a_or_b": lambda a, b: (1 - a) | b, "logic_nand": lambda a, b: 1 - (a & b),
    "logic_true": lambda a, b: 1,
}


@pytest.mark.parametrize("gate", sorted(LOGIC))
def test_logic_gate_truth_table_and_probabilistic_semantics(gate):
    entry = funclib.get(gate)
    A, B = make_symbol("a"), make_symbol("b")
    f = entry.numeric_expr()
    for a in (0, 1):
        for b in (0, 1):
            assert float(mp_evaluate(f, {A: a, B: b})) == LOGIC[gate](a, b)
    # the relaxation is E[gate(X, Y)] for independent X ~ Bernoulli(a), Y ~ Bernoulli(b)
    for a, b in np.random.default_rng(1).uniform(0, 1, size=(20, 2)):
        expected = sum(LOGIC[gate](x, y) * (a if x else 1 - a) * (b if y else 1 - b) for x in (0, 1) for y in (0, 1))
        value = float(mp_evaluate(f, {A: float(a), B: float(b)}))
        assert value == pytest.approx(expected, abs=1e-15) and -1e-15 <= value <= 1 + 1e-15
    assert len(set(LOGIC)) == 16 and len({tuple(LOGIC[g](a, b) for a in (0, 1) for b in (0, 1)) for g in LOGIC}) == 16


def test_gtu_vs_torch_activation():
    torch = _torch()
    ta = _torch_activation()
    from funclib.families import gates

    rng = np.random.default_rng(3)
    z = rng.normal(size=(5, 8)) * 3
    ref = ta.GTU(dim=-1)(torch.from_numpy(z)).numpy()
    np.testing.assert_allclose(gates.gated_forward(funclib.get("gtu"), z), ref, rtol=1e-14, atol=1e-16)


def _gpt_oss_reference(torch, x, alpha=1.702, limit=7.0):
    """The published gpt-oss formula, written here with PyTorch ops on an interleaved row."""
    gate, value = x[..., ::2], x[..., 1::2]
    gate = gate.clamp(max=limit)
    value = value.clamp(min=-limit, max=limit)
    return gate * torch.sigmoid(alpha * gate) * (value + 1)


def test_gpt_oss_swiglu_vs_reference_formula():
    torch = _torch()
    from funclib.families import gates

    rng = np.random.default_rng(4)
    x = rng.normal(size=(6, 16)) * 6  # reaches the clamps
    t = torch.tensor(x, requires_grad=True)
    ref = _gpt_oss_reference(torch, t)
    entry = funclib.get("gpt_oss_swiglu")
    a, b = x[..., 1::2], x[..., ::2]  # funclib: a = value, b = gate
    got = gates.gated_forward(entry, np.concatenate([a, b], axis=-1))
    np.testing.assert_allclose(got, ref.detach().numpy(), rtol=1e-13, atol=1e-15)
    (grad,) = torch.autograd.grad(ref.sum(), [t])
    da, db = gates.gated_partials(entry, a, b)
    np.testing.assert_allclose(da, grad.numpy()[..., 1::2], rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(db, grad.numpy()[..., ::2], rtol=1e-12, atol=1e-14)


def test_highway_gate_is_a_convex_combination():
    entry = funclib.get("highway_gate")
    H, G, X = (make_symbol(v) for v in ("h", "g", "x"))
    f = entry.numeric_expr()
    for h, g, x in np.random.default_rng(5).normal(size=(20, 3)) * 3:
        t = 1 / (1 + math.exp(-g))
        assert float(mp_evaluate(f, {H: h, G: g, X: x})) == pytest.approx(h * t + x * (1 - t), rel=1e-13, abs=1e-15)
    # far gates: all carry (g -> -inf) or all transform (g -> +inf), no cancellation
    assert float(mp_evaluate(f, {H: 2.0, G: -800.0, X: 3.0})) == 3.0
    assert float(mp_evaluate(f, {H: 2.0, G: 800.0, X: 3.0})) == 2.0


# -- MoE routers ---------------------------------------------------------------------------------

from funclib import calculus  # noqa: E402
from funclib.rowwise import breadth  # noqa: E402


def _expanded_rowwise(entry_id, n, params=None):
    entry = funclib.get(entry_id)
    return calculus.expand_rowwise(entry.numeric_expr(params=params), n, vectors=entry.variables)


def test_sigmoid_topk_gate_matches_formula_and_deepseek_procedure():
    """Reference vs the catalog formula (40 digits), and vs the procedure of DeepSeek-V3's
    inference code written independently (argsort of the biased scores, gather the unbiased ones)."""
    rng = np.random.default_rng(9)
    n, k = 6, 2
    xs, outs = _expanded_rowwise("sigmoid_topk_gate", n, {"k": k})
    bs = [make_symbol(f"b{i}") for i in range(n)]
    for _ in range(10):
        x, b = rng.normal(size=n) * 2, rng.normal(size=n) * 0.3
        got = breadth.sigmoid_topk_gate(x, b, k)
        point = {**dict(zip(xs, map(float, x))), **dict(zip(bs, map(float, b)))}
        np.testing.assert_allclose(got, [float(mp_evaluate(o, point)) for o in outs], rtol=1e-14, atol=1e-16)
        s = 1 / (1 + np.exp(-x))
        idx = np.argsort(-(s + b))[:k]
        expected = np.zeros(n)
        expected[idx] = s[idx] / s[idx].sum()
        np.testing.assert_allclose(got, expected, rtol=1e-14)
        assert math.fsum(got) == pytest.approx(1, abs=1e-15)  # claim sums_to_one
    # bias 0: the selection is the top k of x
    x = rng.normal(size=(20, n))
    top = breadth.sigmoid_topk_gate(x, None, k) > 0
    assert np.all(top.sum(axis=-1) == k)
    assert np.all(np.sort(x, axis=-1)[:, -k:].min(axis=-1) <= np.where(top, x, np.inf).min(axis=-1))


def test_softmax_then_topk_matches_formula_and_switch():
    rng = np.random.default_rng(10)
    n = 5
    for k in (1, 2):
        xs, outs = _expanded_rowwise("softmax_then_topk", n, {"k": k})
        for _ in range(8):
            x = np.round(rng.normal(size=n) * 128) / 64  # dyadic: x + 2.5 is exact
            got = breadth.softmax_then_topk(x, k)
            np.testing.assert_allclose(got, [float(mp_evaluate(o, dict(zip(xs, map(float, x))))) for o in outs], rtol=1e-14, atol=1e-16)
            # claim shift_invariant, exactly in 50 digits
            with mpmath.workdps(50):
                pa = [mp_evaluate(o, dict(zip(xs, map(float, x)))) for o in outs]
                pb = [mp_evaluate(o, dict(zip(xs, map(float, x + 2.5)))) for o in outs]
                assert max(abs(u - v) for u, v in zip(pa, pb)) < 1e-40
    torch = _torch()
    x = rng.normal(size=(10, 8))
    p = torch.softmax(torch.from_numpy(x), dim=-1)
    gate, idx = p.max(dim=-1)  # Switch: the top-1 probability itself
    got = breadth.softmax_then_topk(x, 1)
    np.testing.assert_allclose(got[np.arange(10), idx.numpy()], gate.numpy(), rtol=1e-15)
    assert np.all(np.count_nonzero(got, axis=-1) == 1)


@pytest.mark.parametrize("entry_id", ["sigmoid_topk_gate", "softmax_then_topk"])
def test_moe_router_jacobians(entry_id):
    """The float64 closed form vs the catalog's closed form and vs central differences."""
    rng = np.random.default_rng(11)
    n, k = 5, 2
    entry = funclib.get(entry_id)
    xs, closed = entry.jacobian_matrix(n, closed_form=True, params={"k": k})
    bs = [make_symbol(f"b{i}") for i in range(n)]
    for _ in range(5):
        x = rng.normal(size=n) * 2
        b = rng.normal(size=n) * 0.3 if entry_id == "sigmoid_topk_gate" else None
        if entry_id == "sigmoid_topk_gate":
            f = lambda z: breadth.sigmoid_topk_gate(z, b, k)  # noqa: E731
            jac = breadth.sigmoid_topk_gate_jacobian(x, b, k)
        else:
            f = lambda z: breadth.softmax_then_topk(z, k)  # noqa: E731
            jac = breadth.softmax_then_topk_jacobian(x, k)
        point = dict(zip(xs, map(float, x)))
        if b is not None:
            point.update(dict(zip(bs, map(float, b))))
        expected = np.array([[float(mp_evaluate(closed[i, j], point)) for j in range(n)] for i in range(n)])
        np.testing.assert_allclose(jac, expected, atol=1e-14)
        h = 1e-6
        fd = np.stack([(f(x + h * e) - f(x - h * e)) / (2 * h) for e in np.eye(n)], axis=-1)
        np.testing.assert_allclose(jac, fd, atol=1e-8)


# -- attention scores ----------------------------------------------------------------------------

import sympy as sp  # noqa: E402

SCORES = ["dot_product_score", "cosine_score", "l2_distance_score", "gaussian_kernel_score", "favor_plus_features"]


def _score(entry_id, n, params=None):
    entry = funclib.get(entry_id)
    first, second = entry.variables
    xs, outs = calculus.expand_rowwise(entry.numeric_expr(params=params), n, vector=first, vectors=entry.variables)
    return xs, [make_symbol(f"{second}{i}") for i in range(n)], outs[0]


def _value(expr, xs, ys, q, k):
    return float(mp_evaluate(expr, {**dict(zip(xs, map(float, q))), **dict(zip(ys, map(float, k)))}, 40))


def _numpy_score(entry_id, q, k, tau=0.1):
    n = q.shape[-1]
    if entry_id == "dot_product_score":
        return q @ k / math.sqrt(n)
    if entry_id == "cosine_score":
        return q @ k / (np.linalg.norm(q) * np.linalg.norm(k) * tau)
    if entry_id == "l2_distance_score":
        return -np.sum((q - k) ** 2) / math.sqrt(n)
    if entry_id == "gaussian_kernel_score":
        return math.exp(-np.sum((q - k) ** 2) / (2 * math.sqrt(n)))
    return math.exp(q @ k - q @ q / 2)  # favor+: (x, w)


def _closed_gradient(entry_id, q, k, tau=0.1):
    """The gradients in the first variable that the descriptions state."""
    n = q.shape[-1]
    if entry_id == "dot_product_score":
        return k / math.sqrt(n)
    if entry_id == "cosine_score":
        qh, kh = q / np.linalg.norm(q), k / np.linalg.norm(k)
        return (kh - (qh @ kh) * qh) / (np.linalg.norm(q) * tau)
    if entry_id == "l2_distance_score":
        return -2 * (q - k) / math.sqrt(n)
    if entry_id == "gaussian_kernel_score":
        return -_numpy_score(entry_id, q, k) * (q - k) / math.sqrt(n)
    return _numpy_score(entry_id, q, k) * (k - q)


@pytest.mark.parametrize("entry_id", SCORES)
def test_score_values_and_gradients(entry_id):
    rng = np.random.default_rng(len(entry_id))
    for n in (1, 2, 4):
        xs, ys, expr = _score(entry_id, n)
        grads = [sp.diff(expr, x) for x in xs]
        for _ in range(4):
            q, k = rng.normal(size=n), rng.normal(size=n)
            assert _value(expr, xs, ys, q, k) == pytest.approx(_numpy_score(entry_id, q, k), rel=1e-13, abs=1e-15)
            point = {**dict(zip(xs, map(float, q))), **dict(zip(ys, map(float, k)))}
            symbolic = np.array([float(mp_evaluate(g, point, 40)) for g in grads])
            np.testing.assert_allclose(symbolic, _closed_gradient(entry_id, q, k), rtol=1e-12, atol=1e-14)


def test_scores_vs_pytorch():
    torch = _torch()
    rng = np.random.default_rng(12)
    q, k = rng.normal(size=(5, 8)), rng.normal(size=(7, 8))
    tq, tk = torch.from_numpy(q), torch.from_numpy(k)
    scores = {name: np.array([[_numpy_score(name, a, b) for b in k] for a in q]) for name in SCORES[:4]}
    # the scores scaled_dot_product_attention normalizes: check through its output with V = I
    out = torch.nn.functional.scaled_dot_product_attention(tq[None], tk[None], torch.eye(7, dtype=torch.float64)[None])[0].numpy()
    np.testing.assert_allclose(out, evaluate("softmax", scores["dot_product_score"]), rtol=1e-12, atol=1e-15)
    cos = torch.nn.functional.cosine_similarity(tq[:, None, :], tk[None, :, :], dim=-1).numpy()
    np.testing.assert_allclose(scores["cosine_score"], cos / 0.1, rtol=1e-12)
    dist2 = torch.cdist(tq, tk).numpy() ** 2
    np.testing.assert_allclose(scores["l2_distance_score"], -dist2 / math.sqrt(8), rtol=1e-10)
    np.testing.assert_allclose(scores["gaussian_kernel_score"], np.exp(-dist2 / (2 * math.sqrt(8))), rtol=1e-10)


def test_score_facts():
    rng = np.random.default_rng(13)
    for q, k in zip(rng.normal(size=(30, 4)) * 3, rng.normal(size=(30, 4)) * 3):
        c = _numpy_score("cosine_score", q, k)
        assert abs(c) <= 10 + 1e-12  # |cos| <= 1, tau = 0.1
        assert _numpy_score("cosine_score", 3.5 * q, 0.2 * k) == pytest.approx(c, rel=1e-13)
        g = _numpy_score("gaussian_kernel_score", q, k)
        assert 0 < g <= 1 and _numpy_score("gaussian_kernel_score", q, q) == 1
        assert g == pytest.approx(math.exp(_numpy_score("l2_distance_score", q, k) / 2), rel=1e-13)
        v = rng.normal(size=4)
        assert _numpy_score("l2_distance_score", q + v, k + v) == pytest.approx(_numpy_score("l2_distance_score", q, k), rel=1e-12)
        assert _numpy_score("favor_plus_features", q, k) > 0


def test_favor_plus_feature_is_unbiased():
    """E_w[phi_w(q) phi_w(k)] = exp(q k) for w ~ N(0, 1) (n = 1), by quadrature at 30 digits."""
    xs, ws, expr = _score("favor_plus_features", 1)
    with mpmath.workdps(30):
        for q, k in ((0.3, -0.7), (1.2, 0.9), (-2.0, 0.5)):
            def integrand(w):
                fq = mp_evaluate(expr, {xs[0]: q, ws[0]: w}, 30)
                fk = mp_evaluate(expr, {xs[0]: k, ws[0]: w}, 30)
                return fq * fk * mpmath.npdf(w)
            assert abs(mpmath.quad(integrand, [-mpmath.inf, 0, mpmath.inf]) - mpmath.exp(mpmath.mpf(q) * k)) < 1e-20


# -- grouped reductions --------------------------------------------------------------------------

def test_maxout_vs_pytorch_and_facts():
    torch = _torch()
    x = np.concatenate([_rows(n=4), [[1.0, 3.0, 3.0, -2.0]]])
    t = torch.tensor(x, requires_grad=True)
    ref = torch.amax(t, dim=-1)
    np.testing.assert_array_equal(evaluate("maxout", x), ref.detach().numpy())
    (grad,) = torch.autograd.grad(ref.sum(), [t])
    np.testing.assert_allclose(jacobian("maxout", x), grad.numpy(), atol=0)  # ties split equally, as amax
    g = jacobian("maxout", x)
    assert np.all(g >= 0) and np.allclose(g.sum(axis=-1), 1)  # l1 norm 1: 1-Lipschitz in l-inf
    z = np.round(_rows(n=4, seed=3) * 64) / 64
    assert np.all(np.abs(evaluate("maxout", z) - evaluate("maxout", z[::-1])) <= np.max(np.abs(z - z[::-1]), axis=-1))
    np.testing.assert_array_equal(evaluate("maxout", z + 0.75), evaluate("maxout", z) + 0.75)


def test_group_sum():
    entry = funclib.get("group_sum")
    xs, outs = calculus.expand_rowwise(entry.numeric_expr(params={"tau": 4.0}), 5)
    _, closed = entry.jacobian_matrix(5, closed_form=True, params={"tau": 4.0})
    for row in _rows(5, 5):
        point = dict(zip(xs, map(float, row)))
        assert float(mp_evaluate(outs[0], point)) == pytest.approx(math.fsum(row) / 4, rel=1e-14, abs=1e-15)
        assert all(float(mp_evaluate(c, point)) == 0.25 for c in closed)


# -- statistics-gated ----------------------------------------------------------------------------

def test_ash_with_a_threshold():
    """z != 0: the float64 Jacobian vs the catalog closed form and finite differences; the hard
    limit alpha -> inf keeps the entries above mean + z std."""
    entry = funclib.get("ash")
    params = {"alpha": 2.0, "z": 0.8}
    xs, closed = entry.jacobian_matrix(5, closed_form=True, params=params)
    for row in _rows(5, 5, 1.5, seed=14):
        jac = jacobian("ash", row, params)
        point = dict(zip(xs, map(float, row)))
        expected = np.array([[float(mp_evaluate(closed[i, j], point)) for j in range(5)] for i in range(5)])
        np.testing.assert_allclose(jac, expected, rtol=1e-12, atol=1e-14)
        h = 1e-6
        fd = np.stack([(evaluate("ash", row + h * e, params) - evaluate("ash", row - h * e, params)) / (2 * h) for e in np.eye(5)], axis=-1)
        np.testing.assert_allclose(jac, fd, atol=1e-8)
        got = evaluate("ash", row, params)
        ref = [float(v) for v in mp_reference("ash", row, params)]
        np.testing.assert_allclose(got, ref, rtol=1e-14, atol=1e-15)
        hard = evaluate("ash", row, {"alpha": 1e6, "z": 0.8})
        cut = row.mean() + 0.8 * row.std()
        far = np.abs(row - cut) > 1e-3
        np.testing.assert_allclose(hard[far], np.where(row >= cut, row, 0.0)[far], atol=1e-12)


def test_z_loss_classification_invariances_and_name_clash():
    x = np.round(_rows(10, 6, 2.0, seed=15) * 64) / 64
    for a, b in ((1.0, 0.0), (3.0, 1.5)):
        y = evaluate("z_loss_classification", x, {"a": a, "b": b})
        np.testing.assert_allclose(evaluate("z_loss_classification", 2.5 * x + 0.75, {"a": a, "b": b}), y, rtol=1e-13)
        z = (x - x.mean(axis=-1, keepdims=True)) / x.std(axis=-1, keepdims=True)
        np.testing.assert_allclose(y, np.logaddexp(0, a * (b - z)) / a, rtol=1e-13)
    # the ST-MoE router z-loss is another function with the same name
    assert not np.allclose(evaluate("z_loss_classification", x)[:, 0], [float(v) for v in (np.log(np.exp(x).sum(-1)) ** 2)])
    assert "different function" in funclib.get("z_loss_classification").description


def test_soft_nms_decays():
    lin, gau = funclib.get("soft_nms_linear"), funclib.get("soft_nms_gaussian")
    S, U = make_symbol("s"), make_symbol("u")
    for s, u in np.random.default_rng(16).uniform(0, 1, size=(30, 2)):
        expected = s * (1 - u) if u >= 0.3 else s
        assert float(mp_evaluate(lin.numeric_expr(), {S: s, U: u})) == pytest.approx(expected, rel=1e-15)
        assert float(mp_evaluate(gau.numeric_expr(), {S: s, U: u})) == pytest.approx(s * math.exp(-u * u / 0.5), rel=1e-14)
    # convention at N_t (0.5: exact in binary; the float 0.3 lies below the exact 3/10)
    assert float(mp_evaluate(lin.numeric_expr(params={"Nt": 0.5}), {S: 0.8, U: 0.5})) == pytest.approx(0.4)


# -- adaptive-temperature softmax ----------------------------------------------------------------

def test_adaptive_temperature_softmax():
    """Reference vs the catalog formula (40 digits), vs the paper's listing (entropy with the
    +1e-9, so to 1e-7), Jacobian vs finite differences, and the sharpening it promises."""
    n = 6
    xs, outs = _expanded_rowwise("adaptive_temperature_softmax", n)
    rng = np.random.default_rng(17)
    rows = np.concatenate([rng.normal(size=(6, n)) * s for s in (0.3, 1.0, 3.0)])
    for r, row in enumerate(rows):
        got = breadth.adaptive_temperature_softmax(row)
        if r % 3 == 0:  # the expanded formula is long: a third of the rows
            point = dict(zip(xs, map(float, row)))
            np.testing.assert_allclose(got, [float(mp_evaluate(o, point)) for o in outs], rtol=1e-12, atol=1e-15)
        p = np.exp(row - row.max()) / np.exp(row - row.max()).sum()
        ent = -np.sum(p * np.log(p + 1e-9))
        beta = max(np.polyval(breadth.ADAPTIVE_TEMPERATURE_POLY, ent), 1.0) if ent > 0.5 else 1.0
        np.testing.assert_allclose(got, evaluate("softmax", beta * row), atol=1e-7)
        assert beta >= 1 and got.max() >= p.max() - 1e-15  # never flatter than softmax
        h = 1e-6
        fd = np.stack([(breadth.adaptive_temperature_softmax(row + h * e) - breadth.adaptive_temperature_softmax(row - h * e)) / (2 * h)
                       for e in np.eye(n)], axis=-1)
        np.testing.assert_allclose(breadth.adaptive_temperature_softmax_jacobian(row), fd, atol=1e-7)
        assert math.fsum(got) == pytest.approx(1, abs=1e-15)  # claim sums_to_one
    # claim shift_invariant, in 50 digits on dyadic rows
    for row in np.round(rows[:6:2] * 64) / 64:
        with mpmath.workdps(50):
            a = [mp_evaluate(o, dict(zip(xs, map(float, row))), 50) for o in outs]
            b = [mp_evaluate(o, dict(zip(xs, map(float, row + 3.5))), 50) for o in outs]
            assert max(abs(u - v) for u, v in zip(a, b)) < 1e-40


def test_noisy_topk_gate_vs_shazeer_reference():
    """The catalog formula (40 digits) vs funclib.families.gates.noisy_top_k_gating given the same
    noise (g = eps * softplus(noise logits)), and the Jacobian in x vs finite differences."""
    from funclib.families import gates

    rng = np.random.default_rng(18)
    n, k = 6, 2
    xs, outs = _expanded_rowwise("noisy_topk_gate", n, {"k": k})
    gs = [make_symbol(f"g{i}") for i in range(n)]
    for _ in range(8):
        x, w, eps = rng.normal(size=n) * 2, rng.normal(size=n), rng.normal(size=n)
        g = eps * np.logaddexp(0, w)
        ref = gates.noisy_top_k_gating(x[None], k, noise_logits=w[None], noise=eps[None])[0]
        point = {**dict(zip(xs, map(float, x))), **dict(zip(gs, map(float, g)))}
        got = np.array([float(mp_evaluate(o, point)) for o in outs])
        np.testing.assert_allclose(got, ref, rtol=1e-13, atol=1e-16)
        assert math.fsum(got) == pytest.approx(1, abs=1e-15)
        y = ref
        jac = y[:, None] * (np.eye(n) - y[None, :])
        h = 1e-6
        f = lambda z: gates.noisy_top_k_gating(z[None], k, noise_logits=w[None], noise=eps[None])[0]  # noqa: E731
        fd = np.stack([(f(x + h * e) - f(x - h * e)) / (2 * h) for e in np.eye(n)], axis=-1)
        np.testing.assert_allclose(jac, fd, atol=1e-8)
    # evaluation (g = 0) is topk_softmax; shift invariance in x
    x = rng.normal(size=(5, n))
    np.testing.assert_allclose(gates.noisy_top_k_gating(x, k), evaluate("topk_softmax", x, {"k": k}), atol=1e-15)


def test_rezero_residual():
    entry = funclib.get("rezero_residual")
    X, H = make_symbol("x"), make_symbol("h")
    assert float(mp_evaluate(entry.numeric_expr(), {X: 1.5, H: -7.0})) == 1.5  # alpha = 0: identity at the start
    assert float(mp_evaluate(entry.numeric_expr(params={"alpha": 0.25}), {X: 1.5, H: -2.0})) == 1.0


def test_cosformer_score_decomposes():
    """relu(q).relu(k) cos(pi/2 (i - j)/M) = sum of two products of per-token features."""
    M = 10
    rng = np.random.default_rng(19)
    for i, j in ((3, 1), (7, 7), (2, 9)):
        r = (i - j) / M
        xs, ks, expr = _score("cosformer_score", 4, {"r": r})
        q, k = rng.normal(size=4), rng.normal(size=4)
        rq, rk = np.maximum(q, 0), np.maximum(k, 0)
        a, b = math.pi * i / (2 * M), math.pi * j / (2 * M)
        split = (rq * math.cos(a)) @ (rk * math.cos(b)) + (rq * math.sin(a)) @ (rk * math.sin(b))
        assert _value(expr, xs, ks, q, k) == pytest.approx(split, rel=1e-12, abs=1e-15)
        assert _value(expr, xs, ks, q, k) >= 0


def test_lp_normalize_variant_vs_pytorch():
    torch = _torch()
    entry = funclib.get("l2_normalize")
    x = _rows(4, 5)
    for p in (1.0, 3.0):
        xs, outs = calculus.expand_rowwise(entry.numeric_expr("lp", params={"p": p}), 5)
        ref = torch.nn.functional.normalize(torch.from_numpy(x), p=p, dim=-1).numpy()
        for row, r in zip(x, ref):
            got = [float(mp_evaluate(o, dict(zip(xs, map(float, row))))) for o in outs]
            np.testing.assert_allclose(got, r, rtol=1e-13)
