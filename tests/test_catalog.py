"""Catalog-wide generic tests: one entry drives many checks (in the spirit of PyTorch OpInfo).

Every elementwise entry and variant is checked for: formula round trip, NaN propagation,
special cases, kink conventions, derivative against finite differences (mpmath) and against a
40-digit reference deep in the tails, claims against the proven properties, and freshness of the
committed property cache. Known failures are data (``KNOWN_FAILURES``) with a reason.
"""

from __future__ import annotations

import json

import math
import zlib

import mpmath
import numpy as np
import pytest

import funclib
import helpers
from catalog_sample import slow_entries
from funclib import calculus
from funclib.formula import parse_formula, to_formula
from funclib.mpeval import mp_evaluate
from funclib.npeval import np_evaluate
from funclib.properties import cache_file_for, cache_key, check_claims, load_cache

ENTRIES = funclib.entries()
ELEMENTWISE = [e for e in ENTRIES if e.kind == "elementwise"]
CASES = [(e, None) for e in ELEMENTWISE] + [(e, v) for e in ELEMENTWISE for v in e.variants]


def case_id(case):
    entry, variant = case
    return entry.id if variant is None else f"{entry.id}[{variant}]"


#: (entry id, variant or None, test name) -> reason. Expected failures are data, not silence.
KNOWN_FAILURES: dict[tuple[str, str | None, str], str] = {
    ("squareplus", None, "tails"): (
        "f'(x) = (1 + x/sqrt(x**2 + b))/2 cancels as x -> -inf: about 1e-11 relative error at "
        "x = -709.8 in float64 (finite, no NaN); the sign-split conjugate form "
        "b/(2*sqrt(x**2+b)*(sqrt(x**2+b) - x)) for x < 0 belongs to the kernel generator"
    ),
    ("atlu", None, "tails"): (
        "f'(x) = 1/2 + atan(x)/pi + x/(pi*(1 + x**2)) cancels twice as x -> -inf (the terms are "
        "~1/(pi|x|), the result ~2/(3 pi |x|^3)): about 7e-9 relative error at x = -709.8 in "
        "float64 (finite, correct sign); a stable form needs a series in 1/x for x << 0, which "
        "belongs to the kernel generator"
    ),
    ("xatlu", None, "tails"): (
        "same cancellation as atlu at the default alpha = 0 (xATLU = ATLU there)"
    ),
    # The Mittag-Leffler (unified gated) forms are symbolic unifiers: their derivatives are
    # products and quotients of E values that overflow in float64 (inf*0, inf/inf = NaN) far
    # before the function does. Each member's closed_form variant passes; the two forms are
    # proven equal in tests/test_mittag_leffler.py.
    ("ml_sigmoid", None, "tails"): (
        "f' = exp(-x) E_{0,1}(-exp(-x))**2: exp(-x) overflows for x < -709.8 (inf * 0 = NaN)"
    ),
    ("ml_swish", None, "tails"): (
        "f' contains x exp(-x) E_{0,1}(-exp(-x))**2: exp(-x) overflows for x < -709.8"
    ),
    ("ml_tanh", None, "tails"): (
        "E_{2,1}(x**2) = cosh x and E_{2,2}(x**2) = sinh(x)/x overflow beyond |x| = 710 (inf/inf)"
    ),
    ("ml_gelu", None, "tails"): (
        "E_{1/2,1}(x/sqrt(2)) and E_{1,1}(x**2/2 + log 2) are both of size exp(x**2/2): they "
        "overflow beyond |x| ~ 38 (inf/inf = NaN)"
    ),
}


#: ... plus the rows that entries carry as data (``known_failures``, check != "accuracy").
KNOWN_FAILURES.update({(e.id, row.variant, row.check): row.reason
                       for e in ELEMENTWISE for row in e.known_failures if row.check != "accuracy"})


def xfail_if_known(entry, variant, test):
    reason = KNOWN_FAILURES.get((entry.id, variant, test))
    if reason:
        pytest.xfail(reason)


def _in_domain(entry, t: float) -> bool:
    return t in entry.domain


def test_catalog_is_not_empty():
    assert len(ELEMENTWISE) >= 30


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e.id)
def test_metadata(entry):
    assert entry.references, "every entry cites a source"
    for ref in entry.references:
        assert ref.title and ref.authors and 1900 < ref.year < 2100
    for name, p in entry.params.items():
        assert p.default in p.range


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_formula_round_trip(case):
    entry, variant = case
    expr = entry.formula_expr(variant)
    names = list(entry.all_params(variant))
    assert parse_formula(to_formula(expr), entry.variables, names) == expr


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_nan_propagates(case):
    entry, variant = case
    xfail_if_known(entry, variant, "nan")
    expr = entry.numeric_expr(variant)
    assert mpmath.isnan(mp_evaluate(expr, {entry.symbol: math.nan}))
    d = entry.derivative(variant=variant, numeric=True)
    assert mpmath.isnan(mp_evaluate(d, {entry.symbol: math.nan})) or d.is_number


SPECIAL = [(e, s) for e in ELEMENTWISE for s in e.special_cases]


@pytest.mark.parametrize("item", SPECIAL, ids=lambda it: f"{it[0].id}-{it[1].input}")
def test_special_cases(item):
    entry, case = item
    value = entry.reference([case.input], variant=case.variant)[0]
    if math.isnan(case.value):
        assert math.isnan(value)
    else:
        assert value == pytest.approx(case.value, rel=1e-15, abs=0)
        if case.value == 0 and case.input == 0:
            assert math.copysign(1, value) == math.copysign(1, case.value) or case.value == 0
    if case.derivative is not None:
        slope = entry.reference([case.input], variant=case.variant, order=1)[0]
        if math.isnan(case.derivative):
            assert math.isnan(slope)
        else:
            assert slope == pytest.approx(case.derivative, rel=1e-15, abs=0)


CONVENTIONS = [(e, c) for e in ELEMENTWISE for c in e.conventions]


@pytest.mark.parametrize("item", CONVENTIONS, ids=lambda it: f"{it[0].id}-at-{it[1].at}")
def test_kink_conventions(item):
    entry, convention = item
    d = entry.derivative(numeric=True)
    values = entry.param_subs()
    with mpmath.workdps(40):
        at = mp_evaluate(convention.at, values)
        expected = mp_evaluate(convention.derivative, values)
        got = mp_evaluate(d, {entry.symbol: at})
        assert abs(got - expected) <= mpmath.mpf(10) ** -30, (got, expected)


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_derivative_vs_finite_differences(case):
    entry, variant = case
    xfail_if_known(entry, variant, "finite_differences")
    expr = entry.numeric_expr(variant)
    d = entry.derivative(variant=variant, numeric=True)
    kinks = helpers.kinks(entry, variant)
    rng = np.random.default_rng(zlib.crc32(entry.id.encode()))  # str hash() varies per process
    points = np.concatenate([rng.uniform(-6, 6, 6), [-2.5, -0.3, 0.45, 0.8, 1.7, 2.2, 3.3, 4.9]])
    checked = 0
    for t in points:
        if not _in_domain(entry, float(t)) or any(abs(t - k) < 1e-3 for k in kinks):
            continue
        with mpmath.workdps(40):
            fd = mpmath.diff(lambda s: mp_evaluate(expr, {entry.symbol: s}, 120), mpmath.mpf(float(t)))
            exact = mp_evaluate(d, {entry.symbol: float(t)}, 40)
            assert mpmath.almosteq(fd, exact, rel_eps=1e-25, abs_eps=1e-25), (t, fd, exact)
        checked += 1
    assert checked >= 5, "checked too few points"


TAIL_POINTS = [-709.8, -88.7, -35.0, -20.0, 20.0, 35.0, 88.7, 709.8, -1000.0, 1000.0]


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_stable_derivative_in_the_tails(case):
    """The stabilized derivative evaluated naively in float64 stays finite and accurate far out."""
    entry, variant = case
    xfail_if_known(entry, variant, "tails")
    d = entry.derivative(variant=variant, numeric=True)
    points = [t for t in TAIL_POINTS if _in_domain(entry, t)]
    values = np_evaluate(d, {entry.symbol: np.array(points)})
    for t, v in zip(points, values):
        ref = float(mp_evaluate(d, {entry.symbol: t}, 60))
        if math.isinf(ref):
            assert v == ref
            continue
        assert math.isfinite(v), (t, v, ref)
        assert v == pytest.approx(ref, rel=1e-12, abs=1e-300), (t, v, ref)


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_value_vs_reference_precision(case):
    """The 40-digit reference agrees with a 100-digit evaluation (the oracle itself is sound)."""
    entry, variant = case
    expr = entry.numeric_expr(variant)
    points = [t for t in (-30.0, -3.0, -0.5, 0.25, 2.0, 30.0) if _in_domain(entry, t)]
    ref = entry.reference(points, variant=variant)
    for t, r in zip(points, ref):
        precise = float(mp_evaluate(expr, {entry.symbol: t}, 100))
        assert r == precise or (math.isnan(r) and math.isnan(precise))


@pytest.mark.parametrize("entry", ELEMENTWISE, ids=lambda e: e.id)
def test_property_cache_is_fresh(entry):
    cache = load_cache()
    assert entry.id in cache, f"{entry.id} missing from its property cache {cache_file_for(entry.source)}: run python -m funclib.properties --write {entry.id}"
    assert cache[entry.id]["key"] == cache_key(entry), (
        f"properties of {entry.id} are stale: run python -m funclib.properties --write {entry.id}"
    )
    assert set(cache[entry.id]["variants"]) == set(entry.variants)


@pytest.mark.parametrize("entry", ELEMENTWISE, ids=lambda e: e.id)
def test_claims_hold(entry):
    """Every hand-written claim agrees with the proven (cached) properties."""
    assert check_claims(entry) == []


SAMPLE = ["gelu", "silu", "relu6", "softsign"]


@pytest.mark.parametrize("name", SAMPLE)
def test_cache_matches_a_fresh_proof(name):
    """A sample of entries re-proved from scratch gives what the cache says (full catalog: slow)."""
    entry = funclib.get(name)
    fresh = entry.properties(recompute=True)
    cached = load_cache()[entry.id]["default"]["facts"]
    assert {k: v.method for k, v in fresh.facts.items()} == {k: v["method"] for k, v in cached.items()}
    assert check_claims(entry, fresh) == []


#: Bracket width of the committed proofs of f' written before SLOPE_TOL became 1e-10: a fresh
#: proof's outer slope bounds may be tighter than a cached one's by up to this (times the scale).
CACHED_SLOPE_TOL = 1e-8
#: Facts that are (functions of) the outer ends of the f' brackets.
SLOPE_FACTS = ("slope_bounds", "lipschitz")


def _brackets_meet(a, b) -> bool:
    """Two enclosures [[lo, hi], ...] of the same numbers: sound ones always intersect."""
    return all(max(pa[0], pb[0]) <= min(pa[1], pb[1]) for pa, pb in zip(a, b))


def _contradictions(fresh, cached: dict) -> list[str]:
    """Cached facts that a fresh proof contradicts: another method or another value (brackets
    that do not intersect; outer slope bounds that differ by more than the older tolerance)."""
    out = []
    for name, fact in fresh.facts.items():
        old = cached.get(name)
        if old is None:
            out.append(f"{name}: not in the cache")
        elif old["method"] != fact.method:
            out.append(f"{name}: cached method {old['method']}, fresh {fact.method}")
        elif json.dumps(old["value"]) != json.dumps(fact.as_json()["value"]):
            a, b = np.asarray(old["value"], dtype=object), np.asarray(fact.as_json()["value"], dtype=object)
            try:
                a, b = a.astype(float), b.astype(float)
                if name == "slope_bounds_enclosure":
                    close = _brackets_meet(a, b)
                else:
                    atol = 2 * CACHED_SLOPE_TOL * max(1.0, float(np.max(np.abs(a)))) if name in SLOPE_FACTS else 1e-12
                    close = np.allclose(a, b, rtol=1e-9, atol=atol)
            except (TypeError, ValueError):
                close = False
            if not close:
                out.append(f"{name}: cached {old['value']!r}, fresh {fact.as_json()['value']!r}")
    return out


def test_contradiction_rules():
    from funclib.properties import Fact, Properties

    cached = {"slope_bounds_enclosure": {"value": [[-1.0, -0.99], [2.0, 2.01]], "method": "interval"},
              "slope_bounds": {"value": [-1.0, 2.01], "method": "interval"}}

    def fresh(enclosure, bounds):
        return Properties("x", None, "k", {"slope_bounds_enclosure": Fact(enclosure, "interval", ""),
                                           "slope_bounds": Fact(bounds, "interval", "")})

    assert _contradictions(fresh([[-0.995, -0.994], [2.0, 2.005]], [-0.995, 2.005 + 1e-9]), cached)[:1] == [
        f"slope_bounds: cached {[-1.0, 2.01]!r}, fresh {[-0.995, 2.005 + 1e-9]!r}"]  # 5e-3 apart: too far
    assert _contradictions(fresh([[-0.98, -0.97], [2.0, 2.01]], [-1.0, 2.01]), cached) == [
        "slope_bounds_enclosure: cached [[-1.0, -0.99], [2.0, 2.01]], fresh [[-0.98, -0.97], [2.0, 2.01]]"]
    assert _contradictions(fresh([[-0.995, -0.994], [2.0, 2.005]], [-1.0 + 1e-8, 2.01 - 1e-8]), cached) == []


@pytest.mark.slow
@pytest.mark.parametrize("entry", slow_entries(ELEMENTWISE), ids=lambda e: e.id)
def test_reproof_agrees_with_the_cache(entry):
    """Entries re-proved from scratch (a seeded sample; FUNCLIB_FULL_CATALOG=1 for all): the
    claims hold and no cached fact is contradicted."""
    fresh = entry.properties(recompute=True)
    assert check_claims(entry, fresh) == []
    slot = load_cache()[entry.id]
    assert _contradictions(fresh, slot["default"]["facts"]) == []
    for name in entry.variants:
        assert _contradictions(entry.properties(name, recompute=True), slot["variants"][name]["facts"]) == [], name


ROWWISE = [e for e in ENTRIES if e.kind == "rowwise" and e.jacobian is not None]


@pytest.mark.parametrize("entry", ROWWISE, ids=lambda e: e.id)
@pytest.mark.parametrize("n", [2, 3, 4, 5])
def test_rowwise_closed_form_jacobian(entry, n):
    xs, symbolic = entry.jacobian_matrix(n)
    _, closed = entry.jacobian_matrix(n, closed_form=True)
    rng = np.random.default_rng(n)
    # Further row vectors (Gumbel noise g) are held fixed: random values, not differentiated.
    extra = sorted(set().union(*(e.free_symbols for e in closed)) - set(xs), key=str)
    for scale in (0.5, 3.0):
        point = {s: float(v) for s, v in zip(xs, rng.normal(size=n) * scale)}
        point.update({s: float(v) for s, v in zip(extra, rng.normal(size=len(extra)))})
        a = np.array([[float(mp_evaluate(symbolic[i, j], point)) for j in range(n)] for i in range(n)])
        b = np.array([[float(mp_evaluate(closed[i, j], point)) for j in range(n)] for i in range(n)])
        np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-15)
        # ... and against central finite differences of the expanded outputs.
        _, outputs = calculus.expand_rowwise(entry.numeric_expr(), n)
        for j, xj in enumerate(xs):
            for i in range(n):
                with mpmath.workdps(40):
                    fd = mpmath.diff(lambda s: mp_evaluate(outputs[i], {**point, xj: s}, 120), mpmath.mpf(point[xj]))
                assert float(fd) == pytest.approx(b[i, j], rel=1e-12, abs=1e-14)


def test_rowwise_entries_exist():
    assert {"softmax", "log_softmax"} <= {e.id for e in ROWWISE}


ROWWISE_IMPLEMENTATIONS = [(e, impl) for e in ROWWISE for impl in e.implementations]


def _framework_rowwise(impl, rows: np.ndarray) -> np.ndarray:
    module_name, _, func_name = impl["function"].rpartition(".")
    if impl["framework"] == "pytorch":
        torch = pytest.importorskip("torch")
        func = getattr(torch, func_name)
        return func(torch.from_numpy(rows), **impl.get("kwargs", {})).numpy()
    if impl["framework"] == "jax":
        jax = pytest.importorskip("jax")
        jax.config.update("jax_enable_x64", True)
        import importlib

        func = getattr(importlib.import_module(module_name), func_name)
        return np.asarray(func(jax.numpy.asarray(rows), **impl.get("kwargs", {})))
    pytest.skip(f"no runner for {impl['framework']}")


@pytest.mark.parametrize(
    "item", ROWWISE_IMPLEMENTATIONS, ids=lambda it: f"{it[0].id}-{it[1]['framework']}"
)
def test_rowwise_framework_agreement(item):
    """Row-wise entries against PyTorch/JAX in float64 (random rows, a tie, large magnitudes)."""
    entry, impl = item
    rng = np.random.default_rng(7)
    rows = np.concatenate([rng.normal(size=(3, 4)) * 5, [[1.0, 1.0, 1.0, -2.0], [700.0, 699.0, -700.0, 0.0]]])
    got = _framework_rowwise(impl, rows)
    n = rows.shape[1]
    xs, outputs = calculus.expand_rowwise(entry.numeric_expr(), n)
    for row, framework_row in zip(rows, got):
        point = dict(zip(xs, map(float, row)))
        ref = np.array([float(mp_evaluate(o, point, 50)) for o in outputs])
        np.testing.assert_allclose(framework_row, ref, rtol=1e-12, atol=1e-300)
