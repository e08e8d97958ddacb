"""Derived properties: known values, methods, refuted claims, and a hypothesis counterexample search."""

from __future__ import annotations

import math
import textwrap

import mpmath
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import funclib
from funclib.mpeval import mp_evaluate
from funclib.properties import check_claims, compute_properties


def test_gelu_slope_bounds_target():
    props = funclib.get("gelu").properties()
    lo, hi = props.slope_bounds
    assert props["slope_bounds"].method == "interval"
    (inf_lo, inf_hi), (sup_lo, sup_hi) = props.get("slope_bounds_enclosure")
    # Rigorous brackets of inf f' and sup f', each narrower than 1e-6 ...
    assert inf_hi - inf_lo < 1e-6 and sup_hi - sup_lo < 1e-6
    # ... around the known values -0.128904 and 1.128904 (to the 6 digits quoted).
    assert abs(lo + 0.128904) < 1e-6 and abs(hi - 1.128904) < 1e-6


@pytest.mark.parametrize(
    "name, expected",
    [
        ("sigmoid", {"monotonic": "increasing", "bounded_below": True, "bounded_above": True, "smoothness": "Cinf", "odd": False}),
        ("tanh", {"monotonic": "increasing", "odd": True, "convex": False, "lipschitz": 1.0}),
        ("relu", {"monotonic": "nondecreasing", "convex": True, "smoothness": "C0", "slope_bounds": (0.0, 1.0)}),
        ("softsign", {"odd": True, "monotonic": "increasing"}),
        ("exponential", {"convex": True, "bounded_above": False}),
    ],
)
def test_known_properties(name, expected):
    props = funclib.get(name).properties()
    for key, value in expected.items():
        got = props.get(key)
        if isinstance(value, float):
            assert got == pytest.approx(value, abs=1e-7), key
        elif isinstance(value, tuple):
            assert got == pytest.approx(value, abs=1e-7), key
        else:
            assert got == value, key


def test_exponential_slope_is_unbounded_above():
    lo, hi = funclib.get("exponential").properties().slope_bounds
    assert hi == math.inf and lo == pytest.approx(0, abs=1e-12)


def test_discontinuous_functions_have_infinite_slope_bounds():
    props = funclib.get("hardshrink").properties()
    assert props.smoothness == "discontinuous"
    assert props.slope_bounds[1] == math.inf


def test_every_fact_has_a_known_method():
    for entry in funclib.entries(kind="elementwise"):
        for name, fact in entry.properties().facts.items():
            assert fact.method in ("symbolic", "interval", "estimated"), (entry.id, name)


def test_refuted_claim_is_reported(tmp_path):
    path = tmp_path / "wrong.toml"
    path.write_text(textwrap.dedent('''
        [[entry]]
        id = "wrong_sigmoid"
        name = "Wrong"
        kind = "elementwise"
        family = "test"
        summary = "sigmoid with false claims"
        formula = "sigmoid(x)"
        [entry.claims]
        monotonic = "decreasing"
        slope_bounds = [0, 0.3]
        range = "(0, 1)"
        [[entry.references]]
        title = "t"
        authors = "a"
        year = 2000
    '''))
    entry = funclib.load_catalog([path])["wrong_sigmoid"]
    problems = check_claims(entry, compute_properties(entry))
    text = "\n".join(problems)
    assert len(problems) == 2
    assert "claim monotonic = decreasing is refuted" in text and "slope_bounds" in text
    assert str(path) in text


SLOPE_RESTRICTED = [
    e for e in funclib.entries(kind="elementwise")
    if all(math.isfinite(b) for b in e.properties().slope_bounds)
]


@settings(max_examples=300, deadline=None)
@given(
    entry=st.sampled_from(SLOPE_RESTRICTED),
    a=st.floats(-60, 60, allow_nan=False),
    b=st.floats(-60, 60, allow_nan=False),
)
def test_difference_quotients_respect_proven_slope_bounds(entry, a, b):
    """Hypothesis looks for a pair (a, b) whose difference quotient leaves [alpha, beta]."""
    if a == b or a not in entry.domain or b not in entry.domain:
        return
    lo, hi = entry.properties().slope_bounds
    f = entry.numeric_expr()
    # enough digits to resolve f(a) - f(b) when |a - b| is tiny next to |a|, |b| and f
    # (a = 0, b = 2e-254: the difference is 254 digits below the values)
    dps = 50 + max(0, int(math.log10(max(1.0, abs(a), abs(b)) / abs(a - b))))
    with mpmath.workdps(dps):
        q = (mp_evaluate(f, {entry.symbol: a}, dps) - mp_evaluate(f, {entry.symbol: b}, dps)) / (mpmath.mpf(a) - mpmath.mpf(b))
        assert lo - 1e-12 <= q <= hi + 1e-12, (entry.id, a, b, q, lo, hi)


def test_slope_bracket_falls_back_to_a_wider_proved_bracket():
    """Where the branch and bound does not reach SLOPE_TOL (the mollified MeLU component), a
    bracket proved at SLOPE_TOL_FALLBACK is used, not an estimate; an estimate at both widths
    stays an estimate."""
    from funclib.properties import proof
    from funclib.properties.extrema import Bracket

    calls = []

    class FakeProof:
        df = d2f = None

        def __init__(self, proved_at):
            self.proved_at = proved_at

        def bracket(self, expr, dexpr, *, maximize, tol, what):
            calls.append(tol)
            method = "interval" if tol in self.proved_at else "estimated"
            return Bracket(1.0 - tol, 1.0 + tol, method, f"tol {tol}")

    assert proof._slope_bracket(FakeProof({proof.SLOPE_TOL}), maximize=True).upper == 1.0 + proof.SLOPE_TOL
    assert calls == [proof.SLOPE_TOL]
    wider = proof._slope_bracket(FakeProof({proof.SLOPE_TOL_FALLBACK}), maximize=True)
    assert (wider.method, wider.upper) == ("interval", 1.0 + proof.SLOPE_TOL_FALLBACK)
    assert proof._slope_bracket(FakeProof(set()), maximize=False).method == "estimated"
