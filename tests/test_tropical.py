"""Tropical (max-plus) attention: catalog entries, NumPy reference, subgradients, Lipschitz facts.

The l-inf Lipschitz claims of the attention entries are proven two ways:

* symbolically, by region enumeration: each entry is piecewise linear; on the region of every
  ordering of its max/min arguments (n <= 4) SymPy's almost-everywhere gradient, with the
  arguments written as ``a, a + e1, ...`` (``e`` positive), reduces to a constant vector. The
  l-inf -> |.| Lipschitz constant of a continuous piecewise linear scalar map is the largest l1
  norm of those gradients; shift invariance (gradient sums 0) and tropical linearity (sums 1)
  follow from the same vectors;
* in exact arithmetic (hypothesis): dyadic inputs (multiples of 1/64 of moderate size), for which
  every sum, difference, max and min in float64 is exact, so the inequalities are checked exactly.

The valuation and output maps are elementwise entries: their slope bounds are proven by
``funclib.properties`` (interval arithmetic), read here from the committed cache.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

import funclib
from funclib import calculus
from funclib.formula import make_symbol, parse_formula
from funclib.mpeval import mp_evaluate
from funclib.tropical import (
    devaluation,
    hilbert_score,
    hilbert_score_vjp,
    maxplus_aggregate,
    maxplus_linear,
    maxplus_matmul,
    maxplus_matmul_vjp,
    tropical_attention,
    valuation,
    valuation_derivative,
)

ATTENTION = ["maxplus_linear", "tropical_hilbert_score", "tropical_asymmetric_score", "maxplus_aggregation"]


def test_search_finds_the_tropical_family():
    found = {e.id for e in funclib.search("tropical")}
    assert set(ATTENTION) | {"tropical_valuation", "tropical_devaluation"} <= found
    assert {funclib.get(i).kind for i in ATTENTION} == {"attention"}


def _expanded(entry_id: str, n: int):
    entry = funclib.get(entry_id)
    first, second = entry.variables
    xs, outs = calculus.expand_rowwise(entry.numeric_expr(), n, vector=first, vectors=entry.variables)
    others = [make_symbol(f"{second}{k}") for k in range(n)]
    return entry, xs, others, outs[0]


def _numpy_value(entry_id: str, a: np.ndarray, b: np.ndarray) -> float:
    if entry_id == "maxplus_linear":
        return maxplus_linear(a, b[None, :])[0][0]
    if entry_id == "maxplus_aggregation":
        return maxplus_aggregate(b[None, :], a[:, None])[0][0, 0]
    symmetric = entry_id == "tropical_hilbert_score"
    return hilbert_score(a[None, :], b[None, :], symmetric=symmetric)[0][0, 0]


@pytest.mark.parametrize("entry_id", ATTENTION)
def test_reference_matches_catalog_formula(entry_id):
    rng = np.random.default_rng(1)
    for n in (1, 2, 3, 5):
        entry, xs, others, f = _expanded(entry_id, n)
        for _ in range(10):
            a, b = rng.normal(size=n) * 3, rng.normal(size=n) * 3
            point = {**dict(zip(xs, a)), **dict(zip(others, b))}
            assert float(mp_evaluate(f, point)) == pytest.approx(_numpy_value(entry_id, a, b), rel=1e-15, abs=1e-15)


def test_elementwise_pieces():
    x = np.array([-np.inf, -2.0, -0.0, 0.0, 1e-300, 0.5, 3.0, 1e300, np.inf, np.nan])
    for entry_id, func in (("tropical_valuation", valuation), ("tropical_devaluation", devaluation)):
        entry = funclib.get(entry_id)
        got = func(x)
        ref = entry.reference(x)
        np.testing.assert_array_equal(np.isnan(got), np.isnan(ref))
        ok = ~np.isnan(ref)
        np.testing.assert_allclose(got[ok], ref[ok], rtol=2e-16, atol=0)
    np.testing.assert_allclose(valuation_derivative(x[1:-3]), funclib.get("tropical_valuation").reference(x[1:-3], order=1), rtol=2e-16)
    np.testing.assert_allclose(devaluation(valuation(np.array([0.0, 0.5, 7.0]))), [0.0, 0.5, 7.0], rtol=1e-15)


def test_lipschitz_facts_of_the_elementwise_pieces():
    """Valuation: slopes in [0, 1] (proven, interval) -> 1-Lipschitz. Output map: slope e^x is
    unbounded -> not Lipschitz; on (-inf, M] its constant is e^M (slope is increasing)."""
    val = funclib.get("tropical_valuation").properties()
    assert val["slope_bounds"].method == "interval" and val.slope_bounds == (0.0, 1.0) and val.lipschitz == 1.0
    dev = funclib.get("tropical_devaluation").properties()
    assert dev.slope_bounds[1] == math.inf and dev.lipschitz == math.inf and dev.monotonic == "increasing"
    assert dev.convex is True  # slope e^x increasing, so sup of the slope on (-inf, M] is at M
    for M in (-3.0, 0.0, 2.0, 10.0):
        xs = np.linspace(M - 20, M, 4001)
        slopes = np.diff(devaluation(xs)) / np.diff(xs)
        assert slopes.max() <= math.exp(M) * (1 + 1e-9) and slopes.max() >= math.exp(M) * (1 - 1e-2)


# -- region enumeration -------------------------------------------------------------------------

def _regions(args):
    """Substitutions making the expressions ``args`` ordered (increments positive), per ordering."""
    a = sp.Symbol("a", real=True)
    e = [sp.Symbol(f"e{k}", positive=True) for k in range(1, len(args))]
    levels = [a + sum(e[:k]) for k in range(len(args))]
    for perm in itertools.permutations(range(len(args))):
        yield {idx: levels[rank] for rank, idx in enumerate(perm)}


def _region_gradients(entry_id: str, n: int):
    """For each region: the gradient of the entry in its first and in its second variable."""
    entry, xs, others, f = _expanded(entry_id, n)
    if entry_id in ("maxplus_linear", "maxplus_aggregation"):
        args = [x + o for x, o in zip(xs, others)]
    else:
        args = [x - o for x, o in zip(xs, others)]
    grads_x = [calculus.ae_derivative(f, x) for x in xs]
    grads_o = [calculus.ae_derivative(f, o) for o in others]
    for level in _regions(args):
        # First variable written so that the max/min arguments take the ordered levels.
        if entry_id in ("maxplus_linear", "maxplus_aggregation"):
            subs = {xs[i]: level[i] - others[i] for i in range(n)}
        else:
            subs = {xs[i]: others[i] + level[i] for i in range(n)}
        gx = [g.subs(subs) for g in grads_x]
        go = [g.subs(subs) for g in grads_o]
        assert all(v.is_number for v in gx + go), (entry_id, gx, go)
        yield np.array(gx, dtype=float), np.array(go, dtype=float)


@pytest.mark.parametrize("n", [1, 2, 3, 4])
@pytest.mark.parametrize("entry_id", ATTENTION)
def test_claims_by_region_enumeration(entry_id, n):
    entry = funclib.get(entry_id)
    claims = entry.claims
    grads = list(_region_gradients(entry_id, n))
    assert len(grads) == math.factorial(n)
    for name, value in claims.items():
        if name == "lipschitz_linf":
            claimed = float(parse_formula(value, ["n"], []).subs(make_symbol("n"), n)) if isinstance(value, str) else value
            for k in range(2):  # each variable separately: l1 norm of its gradient
                assert max(np.abs(g[k]).sum() for g in grads) == claimed
        elif name == "shift_invariant":
            assert value and all(g[k].sum() == 0 for g in grads for k in range(2))
        elif name == "additively_homogeneous":
            assert value and all(g[k].sum() == 1 for g in grads for k in range(2))
        elif name == "piecewise_linear":
            assert value  # the gradients above are constant on every region
        else:
            pytest.fail(f"no proof for claim {name} of {entry_id}")


# -- exact arithmetic ---------------------------------------------------------------------------

dyadic = st.integers(-2**20, 2**20).map(lambda k: k / 64)  # every +, -, max, min of these is exact


def rows(n):
    return st.lists(dyadic, min_size=n, max_size=n).map(np.array)


@settings(max_examples=150, deadline=None)
@given(st.integers(1, 6).flatmap(lambda n: st.tuples(rows(n), rows(n), rows(n), rows(n), dyadic)))
def test_lipschitz_and_invariances_in_exact_arithmetic(data):
    x, x2, w, w2, c = data
    n = x.size
    dx, dw = np.max(np.abs(x - x2)), np.max(np.abs(w - w2))
    lin = lambda u, v: maxplus_linear(u, v[None, :])[0][0]
    assert abs(lin(x, w) - lin(x2, w)) <= dx and abs(lin(x, w) - lin(x, w2)) <= dw
    assert lin(x + c, w) == lin(x, w) + c
    agg = lambda v, s: maxplus_aggregate(s[None, :], v[:, None])[0][0, 0]
    assert abs(agg(x, w) - agg(x2, w)) <= dx and abs(agg(x, w) - agg(x, w2)) <= dw
    hil = lambda q, k: hilbert_score(q[None], k[None])[0][0, 0]
    d_h = np.max(x - x2) - np.min(x - x2)  # Hilbert projective distance of x and x2
    assert abs(hil(x, w) - hil(x2, w)) <= d_h <= 2 * dx
    assert hil(x + c, w) == hil(x, w) == hil(x, w + c)
    asym = lambda q, k: hilbert_score(q[None], k[None], symmetric=False)[0][0, 0]
    assert abs(asym(x, w) - asym(x2, w)) <= 2 * (n - 1) * dx
    assert asym(x + c, w) == asym(x, w)


def test_lipschitz_constants_are_attained():
    q, k = np.array([0.0, 0.0, 0.0]), np.zeros(3)
    q2 = np.array([1.0, -1.0, 0.0])
    assert abs(hilbert_score(q2[None], k[None])[0] - hilbert_score(q[None], k[None])[0]) == 2
    q3 = np.array([1.0, -1.0, 1.0])  # gradient 1 - 3 e_b with b = 1: change 2(n - 1) = 4
    assert abs(hilbert_score(q3[None], k[None], symmetric=False)[0] - hilbert_score(q[None], k[None], symmetric=False)[0]) == 4


# -- subgradients -------------------------------------------------------------------------------

def test_maxplus_matmul_and_argmax_routing():
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(2, 4, 5)), rng.normal(size=(5, 3))
    c, idx = maxplus_matmul(a, b)
    brute = np.max(a[..., :, :, None] + b[None, None, :, :], axis=-2)
    np.testing.assert_array_equal(c, brute)
    grad = rng.normal(size=c.shape)
    ga, gb = maxplus_matmul_vjp(grad, idx, a.shape, b.shape)
    h = 1e-7
    for (arr, g) in ((a, ga), (b, gb)):
        for pos in [tuple(rng.integers(0, s) for s in arr.shape) for _ in range(8)]:
            step = np.zeros_like(arr)
            step[pos] = h
            plus = maxplus_matmul(a + step, b)[0] if arr is a else maxplus_matmul(a, b + step)[0]
            minus = maxplus_matmul(a - step, b)[0] if arr is a else maxplus_matmul(a, b - step)[0]
            assert np.sum(grad * (plus - minus)) / (2 * h) == pytest.approx(g[pos], abs=1e-6)
    # Ties: the first index takes the whole gradient.
    c, idx = maxplus_matmul(np.zeros((1, 3)), np.zeros((3, 1)))
    ga, gb = maxplus_matmul_vjp(np.ones((1, 1)), idx, (1, 3), (3, 1))
    assert idx[0, 0] == 0 and list(ga[0]) == [1, 0, 0] and list(gb[:, 0]) == [1, 0, 0]


@pytest.mark.parametrize("symmetric", [True, False])
def test_score_subgradients_match_sympy_and_finite_differences(symmetric):
    entry_id = "tropical_hilbert_score" if symmetric else "tropical_asymmetric_score"
    rng = np.random.default_rng(4)
    n = 4
    entry, qs, ks, f = _expanded(entry_id, n)
    gq_sym = [calculus.ae_derivative(f, s) for s in qs]
    Q, K = rng.normal(size=(3, n)), rng.normal(size=(2, n))
    S, hi, lo = hilbert_score(Q, K, symmetric=symmetric)
    grad = rng.normal(size=S.shape)
    gQ, gK = hilbert_score_vjp(grad, hi, lo, n, symmetric=symmetric)
    expected_q = np.zeros_like(Q)
    for i in range(3):
        for j in range(2):
            point = {**dict(zip(qs, Q[i])), **dict(zip(ks, K[j]))}
            expected_q[i] += grad[i, j] * np.array([float(mp_evaluate(g, point)) for g in gq_sym])
    np.testing.assert_allclose(gQ, expected_q, atol=1e-14)
    h = 1e-7
    for arr, g in ((Q, gQ), (K, gK)):
        for pos in itertools.product(range(arr.shape[0]), range(n)):
            step = np.zeros_like(arr)
            step[pos] = h
            args_plus = (Q + step, K) if arr is Q else (Q, K + step)
            args_minus = (Q - step, K) if arr is Q else (Q, K - step)
            fd = np.sum(grad * (hilbert_score(*args_plus, symmetric=symmetric)[0]
                                - hilbert_score(*args_minus, symmetric=symmetric)[0])) / (2 * h)
            assert fd == pytest.approx(g[pos], abs=1e-6)


def test_tropical_attention_matches_the_reference_forward():
    """The reference code's forward (pure PyTorch path): valuation, TropicalLinear, scores,
    maxplus_matmul, expm1 (the final nn.Linear excluded)."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    x = rng.normal(size=(2, 6, 4)) * 2
    w = [rng.normal(size=(4, 4)) for _ in range(3)]

    def maxplus(a, b):
        return (a.unsqueeze(-1) + b.unsqueeze(-3)).amax(dim=-2)

    for symmetric in (True, False):
        t = torch.from_numpy(x)
        base = torch.log1p(torch.relu(t))
        q, k, v = (maxplus(base, torch.from_numpy(wi).T) for wi in w)
        diff = q.unsqueeze(2) - k.unsqueeze(1)
        if symmetric:
            scores = -(diff.max(dim=-1).values - diff.min(dim=-1).values)
        else:
            scores = -(diff.sum(dim=-1) - q.size(-1) * diff.amin(dim=-1))
        expected = torch.expm1(maxplus(scores, v)).numpy()
        got = tropical_attention(x, *w, symmetric=symmetric)
        # (torch's and NumPy's log1p may differ in the last bit)
        np.testing.assert_allclose(got.output, expected, rtol=1e-14, atol=0)
        np.testing.assert_allclose(got.scores, scores.numpy(), rtol=1e-14, atol=1e-15)
        assert got.route.shape == got.context.shape


@pytest.mark.parametrize("entry_id", ATTENTION + ["tropical_valuation", "tropical_devaluation"])
def test_cli_show(entry_id, capsys):
    import json

    from funclib.cli import main

    assert main(["show", entry_id]) == 0
    text = capsys.readouterr().out
    assert "Tropical Attention" in text
    assert ("claims (proven" in text) == (entry_id in ATTENTION)
    assert main(["show", entry_id, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["family"] == "tropical"
    assert main(["search", "tropical"]) == 0
    assert entry_id in capsys.readouterr().out
