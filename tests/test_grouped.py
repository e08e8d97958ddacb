"""Grouped activations: catalog formulas, reference evaluator, Jacobians and proofs of the claims.

The structural claims of every grouped entry (1-Lipschitz in l2 / l-inf, sum and norm
preservation, orthogonal Jacobians, piecewise linearity, positive homogeneity) are proven by
enumerating the linear regions symbolically:

* sorts (MaxMin, GroupSort, FullSort): a region is an ordering of the group. Writing the inputs as
  ``a, a + e1, a + e1 + e2, ...`` with positive symbols ``e`` in the order of a permutation, SymPy
  reduces every Max/Min of the lattice formulas, so each output becomes one input exactly: the map
  is the permutation matrix of that ordering on the region, for all G! orderings (G <= 5);
* HH1: the regions are the half planes v^T z > 0 and v^T z <= 0; the pieces are
  I - 2 v v^T (checked to equal the catalog's branch for symbolic theta) and I.

A continuous map that is linear with matrix A_k on finitely many convex polyhedral regions has
Lipschitz constant max_k ||A_k|| in any norm (split a segment at the region boundaries; the
bound is attained inside a region). Continuity holds since the formulas are Max/Min compositions,
and HH1's branches agree on the boundary line (checked). Exact rational arithmetic (hypothesis)
checks the same inequalities a second way.
"""

from __future__ import annotations

import functools
import itertools
import math
from fractions import Fraction

import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

import funclib
from funclib.formula import make_symbol
from funclib.grouped import GROUPED, apply, group_blocks, householder_matrix, jacobian, sort_formulas
from funclib.mpeval import mp_evaluate

ENTRIES = funclib.entries("grouped")
SORTS = {"maxmin": True, "groupsort": False, "fullsort": False}  # id -> descending


def test_grouped_entries_and_ids():
    """The verifier relies on these ids."""
    assert {e.id for e in ENTRIES} >= set(GROUPED)
    for e in ENTRIES:
        assert e.jacobian is not None and e.jacobian.shape == (len(e.outputs), len(e.variables))
        assert e.claims, f"{e.id} states its structural facts"


# -- symbolic region enumeration -------------------------------------------------------------

def _region_points(G: int):
    """For each ordering of G inputs: the substitution x_sigma(k) = a + e_1 + ... + e_k."""
    a = sp.Symbol("a", real=True)
    e = [sp.Symbol(f"e{k}", positive=True) for k in range(1, G)]
    levels = [a + sum(e[:k]) for k in range(G)]
    for perm in itertools.permutations(range(G)):
        values = [None] * G
        for rank, idx in enumerate(perm):
            values[idx] = levels[rank]
        yield perm, values


def _piece(outputs, xs, values):
    """The output vector on a region, as linear forms in the inputs (raises if not linear)."""
    subs = dict(zip(xs, values))
    reduced = [sp.expand(o.subs(subs)) for o in outputs]
    # Map back: each reduced output must be exactly one of the substituted inputs.
    matrix = sp.zeros(len(outputs), len(xs))
    for r, out in enumerate(reduced):
        hits = [j for j, v in enumerate(values) if sp.expand(out - v) == 0]
        assert len(hits) == 1, f"output {r} is not a single input on this region: {out}"
        matrix[r, hits[0]] = 1
    return matrix


def _sorted_permutation(perm, descending):
    """The permutation matrix of sorting an input whose ranks are `perm` (perm[rank] = index)."""
    G = len(perm)
    order = list(perm)[::-1] if descending else list(perm)
    P = sp.zeros(G, G)
    for r, idx in enumerate(order):
        P[r, idx] = 1
    return P


@pytest.mark.parametrize("G", [2, 3, 4, pytest.param(5, marks=pytest.mark.slow)])
@pytest.mark.parametrize("descending", [False, True])
def test_sort_formulas_are_the_sort_on_every_region(G, descending):
    xs, outs = sort_formulas(G, descending=descending)
    count = 0
    for perm, values in _region_points(G):
        P = _piece(outs, xs, values)
        assert P == _sorted_permutation(perm, descending)
        count += 1
    assert count == math.factorial(G)


@pytest.mark.parametrize("entry_id", list(SORTS))
def test_catalog_sorts_on_every_region(entry_id):
    """Catalog formula and closed-form Jacobian are the ordering's permutation on each region."""
    entry = funclib.get(entry_id)
    xs = [make_symbol(v) for v in entry.variables]
    G = len(xs)
    for perm, values in _region_points(G):
        P = _piece(entry.outputs, xs, values)
        assert P == _sorted_permutation(perm, SORTS[entry_id])
        J = entry.jacobian.subs(dict(zip(xs, values)))
        assert sp.simplify(J - P) == sp.zeros(G, G), (perm, J)
    # The entry's group map equals the generated lattice formulas of its size.
    ref_xs, ref = sort_formulas(G, descending=SORTS[entry_id], names=entry.variables)
    rng = np.random.default_rng(G)
    for _ in range(20):
        point = dict(zip(ref_xs, rng.integers(-3, 4, size=G).astype(float)))  # with ties
        assert [mp_evaluate(o, point) for o in entry.outputs] == [mp_evaluate(o, point) for o in ref]


def _sort_pieces(entry_id: str, G: int):
    descending = SORTS[entry_id]
    return [np.array(_sorted_permutation(perm, descending), dtype=float) for perm, _ in _region_points(G)]


@functools.lru_cache(maxsize=1)
def _householder_pieces_symbolic():
    """(theta, v, R from the catalog, I): checks the catalog branches on the way."""
    entry = funclib.get("householder")
    theta = make_symbol("theta")
    x1, x2 = (make_symbol(v) for v in entry.variables)
    v = sp.Matrix([sp.sin(theta / 2), -sp.cos(theta / 2)])
    z = sp.Matrix([x1, x2])
    reflect = sp.Matrix([o.args[0][0] for o in entry.outputs])
    keep = sp.Matrix([o.args[1][0] for o in entry.outputs])
    for o in entry.outputs:  # the branch condition is v^T z > 0
        cond = o.args[0][1]
        assert isinstance(cond, sp.StrictGreaterThan) and sp.simplify(cond.lhs - cond.rhs - (v.T * z)[0]) == 0
        assert o.args[1][1] is sp.true
    R = reflect.jacobian([x1, x2])
    assert sp.simplify(R - (sp.eye(2) - 2 * v * v.T)) == sp.zeros(2, 2)  # I - 2 v v^T
    assert sp.expand(reflect - R * z) == sp.zeros(2, 1)  # linear, no constant term
    assert keep == z
    # Continuity: on v^T z = 0 the reflection fixes z.
    assert sp.simplify(R * z - z + 2 * v * (v.T * z)) == sp.zeros(2, 1)
    # The closed-form Jacobian's branches are R and I.
    J = entry.jacobian
    assert sp.simplify(sp.Matrix(2, 2, lambda i, j: J[i, j].args[0][0]) - R) == sp.zeros(2, 2)
    assert sp.Matrix(2, 2, lambda i, j: J[i, j].args[1][0]) == sp.eye(2)
    return theta, R


# -- claims ---------------------------------------------------------------------------------

def _sort_claim(entry_id, name, value):
    G = len(funclib.get(entry_id).variables)
    pieces = _sort_pieces(entry_id, G)
    for G_any in (2, 3, 4):  # GroupSort's claims hold for other group sizes too
        pieces = pieces + [np.array(_sorted_permutation(p, SORTS[entry_id]), dtype=float) for p, _ in _region_points(G_any)]
    ones = np.ones(pieces[0].shape[0])
    if name == "lipschitz_l2":
        assert max(np.linalg.norm(P, 2) for P in pieces) == value
    elif name == "lipschitz_linf":
        assert max(np.abs(P).sum(axis=1).max() for P in pieces) == value
    elif name == "sum_preserving":
        assert all(np.array_equal(P.sum(axis=0), np.ones(P.shape[1])) for P in pieces) == value
    elif name in ("norm_preserving", "gradient_norm_preserving"):
        assert all(np.array_equal(P.T @ P, np.eye(P.shape[1])) for P in pieces) == value
    elif name in ("piecewise_linear", "positively_homogeneous"):
        # _piece asserted every region's outputs are single inputs: linear, no constant term,
        # and the regions (orderings) are cones.
        assert value is True and ones.size
    else:
        raise AssertionError(f"no proof for claim {name}")


def _householder_claim(name, value):
    theta, R = _householder_pieces_symbolic()
    c, s = sp.cos(theta), sp.sin(theta)
    if name == "lipschitz_l2":
        assert sp.simplify(R.T * R - sp.eye(2)) == sp.zeros(2, 2) and value == 1  # both pieces orthogonal
    elif name == "lipschitz_linf":
        claimed = funclib.formula.parse_formula(value, ["n"], ["theta"])
        row_sums = [sp.Abs(R[i, 0]) + sp.Abs(R[i, 1]) for i in range(2)]
        assert all(sp.simplify(rs - claimed) == 0 for rs in row_sums)
        # max(||I||, ||R||) = ||R||: (|c| + |s|)^2 = 1 + 2|cs| >= 1.
        assert sp.trigsimp(sp.expand((sp.Abs(c) + sp.Abs(s)) ** 2) - 1 - 2 * sp.Abs(c) * sp.Abs(s)) == 0
        grid = np.linspace(-7, 7, 141)
        assert np.all(np.abs(np.cos(grid)) + np.abs(np.sin(grid)) >= 1 - 1e-15)
    elif name == "sum_preserving":
        # 1^T R = 1^T only when cos + sin = 1 and sin - cos = 1: a counterexample disproves it.
        assert value is False
        z = np.array([[2.0, -1.0]])
        y = apply("householder", z, theta=1.0)
        assert z @ np.array([np.sin(0.5), -np.cos(0.5)]) > 0  # in the reflecting region
        assert abs(y.sum() - z.sum()) > 0.1
        assert np.isclose(apply("householder", z, theta=math.pi / 2).sum(), z.sum())  # GroupSort case
    elif name in ("norm_preserving", "gradient_norm_preserving"):
        assert sp.simplify(R.T * R - sp.eye(2)) == sp.zeros(2, 2) and value is True
    elif name in ("piecewise_linear", "positively_homogeneous"):
        assert value is True  # two linear pieces on half planes through 0 (checked above)
    else:
        raise AssertionError(f"no proof for claim {name}")


def _active_branch(expr, x, point):
    """The formula of the Piecewise branches that hold at ``point`` (a rational), recursively."""
    if isinstance(expr, sp.Piecewise):
        for value, cond in expr.args:
            if bool(cond.subs(x, point)):
                return _active_branch(value, x, point)
        raise AssertionError(f"no branch of {expr} holds at {point}")
    if not expr.args:
        return expr
    return expr.func(*[_active_branch(a, x, point) for a in expr.args])


def _scalar_group_pieces(entry):
    """One-input group maps (CReLU, NCReLU, paired ReLU): the affine pieces between the kinks.

    The kinks are the roots of the Piecewise conditions; on each interval between them (and
    beyond the outer ones) every output's active branch must be affine in x. Returns the pieces
    as (slopes, intercepts) and the kinks; continuity is asserted at every kink.
    """
    (x,) = [make_symbol(v) for v in entry.variables]
    outputs = [o.subs(entry.param_subs()) for o in entry.outputs]
    kinks = set()
    for o in outputs:
        for pw in o.atoms(sp.Piecewise):
            for _, cond in pw.args:
                for rel in cond.atoms(sp.core.relational.Relational):
                    kinks.update(sp.solve(sp.Eq(rel.lhs - rel.rhs, 0), x))
    kinks = sorted(sp.nsimplify(k) for k in kinks)
    probes = [kinks[0] - 1, *[(a + b) / 2 for a, b in zip(kinks, kinks[1:])], kinks[-1] + 1] if kinks else [sp.Integer(0)]
    pieces, branches = [], []
    for p in probes:
        active = [sp.expand(_active_branch(o, x, p)) for o in outputs]
        assert all(sp.Poly(a, x).degree() <= 1 for a in active), (entry.id, active)
        pieces.append((sp.Matrix([a.diff(x) for a in active]), sp.Matrix([a.subs(x, 0) for a in active])))
        branches.append(active)
    for k, left, right in zip(kinks, branches, branches[1:]):
        assert all(sp.simplify(a.subs(x, k) - b.subs(x, k)) == 0 for a, b in zip(left, right)), (entry.id, k)
    return pieces, kinks


def _scalar_group_claim(entry_id, name, value):
    # A continuous map of one variable, affine on finitely many intervals, has Lipschitz constant
    # max_k ||A_k|| in any norm (split a segment at the kinks; attained inside a piece).
    pieces, kinks = _scalar_group_pieces(funclib.get(entry_id))
    if name == "lipschitz_l2":
        assert max(sp.sqrt(sum(a**2 for a in A)) for A, _ in pieces) == sp.nsimplify(value)
    elif name == "lipschitz_linf":
        assert max(max(abs(a) for a in A) for A, _ in pieces) == sp.nsimplify(value)
    elif name == "sum_preserving":  # sum of the outputs = x on every piece
        assert all(sum(A) == 1 and sum(c) == 0 for A, c in pieces) == value
    elif name == "norm_preserving":  # ||f(x)||_2 = |x|: A^T A = 1 and no constant term
        assert all((A.T * A)[0] == 1 and c == sp.zeros(*c.shape) for A, c in pieces) == value
    elif name == "gradient_norm_preserving":
        assert all((A.T * A)[0] == 1 for A, _ in pieces) == value
    elif name == "piecewise_linear":
        assert value is True  # every piece was asserted affine
    elif name == "positively_homogeneous":  # linear pieces on the cones x < 0 and x > 0
        assert (all(c == sp.zeros(*c.shape) for _, c in pieces) and set(kinks) <= {0}) == value
    else:
        raise AssertionError(f"no proof for claim {name}")


SCALAR_GROUPS = {e.id for e in ENTRIES if len(e.variables) == 1}
CLAIMS = [(e.id, name, value) for e in ENTRIES for name, value in e.claims.items()]


@pytest.mark.parametrize("item", CLAIMS, ids=lambda it: f"{it[0]}-{it[1]}")
def test_claims_are_proven(item):
    entry_id, name, value = item
    if entry_id in SORTS:
        _sort_claim(entry_id, name, value)
    elif entry_id == "householder":
        _householder_claim(name, value)
    elif entry_id in SCALAR_GROUPS:  # width-doubling maps (catalog/grouped/breadth5_vector.toml)
        _scalar_group_claim(entry_id, name, value)
    elif entry_id == "dselect_k":  # catalog/grouped/breadth7_vector.toml, proven in its family's tests
        from test_breadth7_vector import dselect_claim
        dselect_claim(entry_id, name, value)
    else:
        pytest.fail(f"no prover for grouped entry {entry_id}")


def test_scalar_group_prover_refuses_false_claims():
    """Guards the one-input prover: wrong values fail."""
    for entry_id, name, value in [("crelu", "sum_preserving", True), ("crelu", "lipschitz_l2", 2),
                                  ("ncrelu", "sum_preserving", False), ("paired_relu", "lipschitz_linf", 1),
                                  ("paired_relu", "norm_preserving", True)]:
        with pytest.raises(AssertionError):
            _scalar_group_claim(entry_id, name, value)


def test_lipschitz_constants_are_attained():
    """The claimed constants are tight: a pair of inputs attains each."""
    x, y = np.array([[1.0, 0.0]]), np.array([[0.0, 0.0]])
    for name in ("maxmin", "groupsort"):
        assert np.max(np.abs(apply(name, x) - apply(name, y))) == np.max(np.abs(x - y))
    theta = 1.0
    v = np.array([np.sin(theta / 2), -np.cos(theta / 2)])
    base = 3 * v  # deep in the reflecting region
    d = 1e-3 * np.sign([np.cos(theta), np.sin(theta)])
    ratio = np.max(np.abs(apply("householder", base + d, theta=theta) - apply("householder", base, theta=theta))) / np.max(np.abs(d))
    assert ratio == pytest.approx(abs(np.cos(theta)) + abs(np.sin(theta)), rel=1e-12)


fractions = st.fractions(min_value=-50, max_value=50, max_denominator=64)


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 6).flatmap(lambda n: st.tuples(st.lists(fractions, min_size=n, max_size=n), st.lists(fractions, min_size=n, max_size=n))))
def test_sorting_is_nonexpansive_in_exact_arithmetic(pair):
    """Second method: for exact rationals, sort preserves sum and 2-norm and is 1-Lipschitz in
    l-inf and l2 (squared norms compared exactly)."""
    x, y = pair
    sx, sy = sorted(x), sorted(y)
    assert sum(sx) == sum(x) and sum(v * v for v in sx) == sum(v * v for v in x)
    assert max(abs(a - b) for a, b in zip(sx, sy)) <= max(abs(a - b) for a, b in zip(x, y))
    assert sum((a - b) ** 2 for a, b in zip(sx, sy)) <= sum((a - b) ** 2 for a, b in zip(x, y))


@settings(max_examples=100, deadline=None)
@given(fractions, fractions, fractions, fractions)
def test_householder_is_nonexpansive_in_exact_arithmetic(a, b, c, d):
    """HH1 at a rational point of the circle: (cos t, sin t) = ((1-u^2)/(1+u^2), 2u/(1+u^2)),
    (sin t/2, cos t/2) ~ (u, 1) up to a positive factor: everything exact."""
    for u in (Fraction(1), Fraction(1, 3), Fraction(-2, 5), Fraction(7, 2)):
        cos_t, sin_t = (1 - u * u) / (1 + u * u), 2 * u / (1 + u * u)

        def hh(z1, z2):
            if z1 * u - z2 * 1 > 0:  # sign of v^T z (v ~ (u, 1) * cos(t/2), cos(t/2) > 0 for |t| < pi)
                return (z1 * cos_t + z2 * sin_t, z1 * sin_t - z2 * cos_t)
            return (z1, z2)

        p, q = hh(a, b), hh(c, d)
        assert p[0] ** 2 + p[1] ** 2 == a * a + b * b
        assert (p[0] - q[0]) ** 2 + (p[1] - q[1]) ** 2 <= (a - c) ** 2 + (b - d) ** 2
        linf = abs(cos_t) + abs(sin_t)
        assert max(abs(p[0] - q[0]), abs(p[1] - q[1])) <= linf * max(abs(a - c), abs(b - d))


# -- reference evaluator ----------------------------------------------------------------------

def _catalog_group(entry, z, theta=None):
    subs = {make_symbol("theta"): sp.Rational(repr(theta))} if theta is not None else {}
    point = dict(zip([make_symbol(v) for v in entry.variables], map(float, z)))
    return np.array([float(mp_evaluate(o.subs(subs) if subs else entry.numeric_expr()[k], point))
                     for k, o in enumerate(entry.outputs)])


@pytest.mark.parametrize("entry_id", GROUPED)
def test_reference_matches_catalog_formula(entry_id):
    entry = funclib.get(entry_id)
    G = len(entry.variables)
    rng = np.random.default_rng(5)
    rows = np.concatenate([rng.normal(size=(30, G)), rng.integers(-2, 3, size=(30, G)).astype(float)])
    for z in rows:
        got = apply(entry_id, z[None])[0]
        # Sorts are exact; HH1's products round (the catalog value is correctly rounded).
        np.testing.assert_allclose(got, _catalog_group(entry, z), rtol=0, atol=0 if entry_id in SORTS else 5e-16)
        # Jacobian: the closed form, also at ties (the stable-sort convention).
        xs, closed = entry.jacobian_matrix(closed_form=True)
        point = dict(zip(xs, map(float, z)))
        expected = np.array([[float(mp_evaluate(closed[i, j], point)) for j in range(G)] for i in range(G)])
        np.testing.assert_allclose(jacobian(entry_id, z[None])[0], expected, atol=1e-15)


def test_householder_at_other_angles_matches_catalog():
    entry = funclib.get("householder")
    rng = np.random.default_rng(6)
    for theta in (0.3, 1.0, 2.5, -4.0, 5 * math.pi / 2):
        for z in rng.normal(size=(20, 2)):
            expected = _catalog_group(entry, z, theta)
            np.testing.assert_allclose(apply("householder", z[None], theta=theta)[0], expected, atol=1e-15)


def test_householder_special_angles():
    rng = np.random.default_rng(7)
    x = rng.normal(size=(10, 6))
    np.testing.assert_allclose(apply("householder", x, theta=math.pi / 2), apply("groupsort", x), atol=1e-15)
    np.testing.assert_allclose(apply("householder", x, theta=5 * math.pi / 2), apply("maxmin", x), atol=1e-15)
    np.testing.assert_allclose(householder_matrix(1.0) @ householder_matrix(1.0), np.eye(2), atol=1e-15)


@pytest.mark.parametrize("entry_id", GROUPED)
def test_jacobian_vs_finite_differences(entry_id):
    rng = np.random.default_rng(9)
    x = rng.normal(size=(3, 6))
    kwargs = {"theta": rng.normal(size=3)} if entry_id == "householder" else {}
    jac = jacobian(entry_id, x, **kwargs)
    h = 1e-7
    for j in range(6):
        step = np.zeros(6)
        step[j] = h
        fd = (apply(entry_id, x + step, **kwargs) - apply(entry_id, x - step, **kwargs)) / (2 * h)
        np.testing.assert_allclose(jac[..., j], fd, atol=1e-7)


@pytest.mark.parametrize("G", [2, 3, 4, 5])
def test_groupsort_any_size_matches_lattice_formulas(G):
    xs, outs = sort_formulas(G)
    rng = np.random.default_rng(G)
    x = np.concatenate([rng.normal(size=(10, 2 * G)), rng.integers(-1, 2, size=(10, 2 * G)).astype(float)])
    y = apply("groupsort", x, group_size=G)
    for row, out in zip(x, y):
        for g in range(2):
            point = dict(zip(xs, row[g * G:(g + 1) * G]))
            assert [float(mp_evaluate(o, point)) for o in outs] == list(out[g * G:(g + 1) * G])


def test_layouts_differ_by_a_fixed_permutation():
    rng = np.random.default_rng(10)
    x = rng.normal(size=(4, 8))
    perm = np.concatenate([[k, k + 4] for k in range(4)])  # halves pairs -> neighbours
    for name in ("maxmin", "groupsort", "householder"):
        halves = apply(name, x, layout="halves")
        contiguous = apply(name, x[:, perm])
        np.testing.assert_array_equal(halves[:, perm], contiguous)


def test_nan_and_bad_input():
    y = apply("groupsort", np.array([[1.0, np.nan, 3.0, 2.0]]))
    assert np.isnan(y[0, :2]).all() and list(y[0, 2:]) == [2.0, 3.0]
    with pytest.raises(ValueError, match="multiple of the group size"):
        apply("groupsort", np.ones((1, 5)), group_size=2)
    with pytest.raises(ValueError, match="pairs"):
        apply("maxmin", np.ones((1, 6)), group_size=3)
    with pytest.raises(ValueError, match="layout"):
        apply("maxmin", np.ones((1, 4)), layout="interleaved")
    with pytest.raises(ValueError, match="no grouped evaluator"):
        apply("softmax", np.ones((1, 4)))
    y, blocks, index = group_blocks("fullsort", np.array([[2.0, 1.0, 2.0]]))
    assert list(y[0]) == [1.0, 2.0, 2.0] and blocks.shape == (1, 1, 3, 3)


# -- external anchors ---------------------------------------------------------------------------

def test_pytorch_reference_implementations():
    """LNets GroupSort is x.view(..., G).sort(); Singla et al.'s MaxMin splits the features in
    halves and takes torch.max / torch.min; HH1's selector and branches as in their code."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(12)
    x = np.concatenate([rng.normal(size=(20, 12)), rng.integers(-2, 3, size=(20, 12)).astype(float)])
    t = torch.from_numpy(x)
    for G in (2, 3, 4, 6):
        expected = t.view(t.shape[0], -1, G).sort(dim=-1).values.reshape(t.shape).numpy()
        np.testing.assert_array_equal(apply("groupsort", x, group_size=G), expected)
    a, b = t.split(6, dim=1)
    np.testing.assert_array_equal(apply("maxmin", x, layout="halves"), torch.cat([torch.max(a, b), torch.min(a, b)], 1).numpy())
    theta = torch.from_numpy(rng.normal(size=6) * 3)
    sel = a * torch.sin(0.5 * theta) - b * torch.cos(0.5 * theta)
    a2, b2 = a * torch.cos(theta) + b * torch.sin(theta), a * torch.sin(theta) - b * torch.cos(theta)
    expected = torch.cat([a * (sel <= 0) + a2 * (sel > 0), b * (sel <= 0) + b2 * (sel > 0)], 1).numpy()
    np.testing.assert_allclose(apply("householder", x, theta=theta.numpy(), layout="halves"), expected, atol=1e-15)


@pytest.mark.parametrize("entry_id", GROUPED)
def test_cli_show(entry_id, capsys):
    import json

    from funclib.cli import main

    assert main(["show", entry_id]) == 0
    text = capsys.readouterr().out
    assert "(one group)" in text and "Jacobian row 1" in text and "lipschitz_l2" in text
    assert main(["show", entry_id, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert len(data["expression"]) == len(funclib.get(entry_id).outputs) and data["claims"]["lipschitz_l2"] == 1


GROUP_ENTRY = """
[[entry]]
id = "pairsort"
name = "Pair sort"
kind = "grouped"
family = "test"
summary = "a test group map"
variables = ["a", "b"]
formula = ["Min(a, b)", "Max(a, b)"]
jacobian = [["Heaviside(b - a, 1)", "Heaviside(a - b)"], ["Heaviside(a - b)", "Heaviside(b - a, 1)"]]
[entry.claims]
lipschitz_l2 = 1
lipschitz_linf = "1 + 0*n"
sum_preserving = true
[[entry.conventions]]
description = "stable ties"
[[entry.references]]
title = "A paper"
authors = "Someone"
year = 2020
"""


def test_group_format_loads(tmp_path):
    path = tmp_path / "g.toml"
    path.write_text(GROUP_ENTRY)
    entry = funclib.load_catalog([path])["pairsort"]
    assert entry.formula == ("Min(a, b)", "Max(a, b)") and entry.outputs[1] == sp.Max(*[make_symbol(v) for v in "ab"])
    assert entry.conventions[0].at is None and entry.claims["lipschitz_linf"] == "1 + 0*n"


@pytest.mark.parametrize("change, expected", [
    (('jacobian = [["Heaviside(b - a, 1)", "Heaviside(a - b)"], ', 'jacobian = ['), "must be a 2 x 2 list of lists"),
    (('formula = ["Min(a, b)", "Max(a, b)"]', 'formula = ["Min(a, c)", "Max(a, b)"]'), "field 'formula[0]': unknown name 'c'"),
    (('formula = ["Min(a, b)", "Max(a, b)"]', 'formula = []'), "must be a non-empty list"),
    (('lipschitz_linf = "1 + 0*n"', 'lipschitz_linf = "1 + m"'), "field 'claims.lipschitz_linf': unknown name 'm'"),
    (('lipschitz_l2 = 1', 'lipschitz_l2 = -1'), "must be >= 0"),
    (('description = "stable ties"', 'note = "x"'), "conventions[0]"),
])
def test_group_format_problems_are_named(tmp_path, change, expected):
    old, new = change
    assert old in GROUP_ENTRY
    path = tmp_path / "g.toml"
    path.write_text(GROUP_ENTRY.replace(old, new, 1))
    with pytest.raises(funclib.CatalogError) as info:
        funclib.load_catalog([path])
    assert expected in str(info.value)


def test_structural_claims_are_refused_on_elementwise_entries(tmp_path):
    text = GROUP_ENTRY.replace('kind = "grouped"', 'kind = "elementwise"').replace(
        'variables = ["a", "b"]\nformula = ["Min(a, b)", "Max(a, b)"]', 'formula = "Max(x, 0)"').replace(
        'jacobian = [["Heaviside(b - a, 1)", "Heaviside(a - b)"], ["Heaviside(a - b)", "Heaviside(b - a, 1)"]]\n', '')
    path = tmp_path / "e.toml"
    path.write_text(text)
    with pytest.raises(funclib.CatalogError, match="claim about vector-valued maps"):
        funclib.load_catalog([path])
