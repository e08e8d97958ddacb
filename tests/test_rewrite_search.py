"""The rewrite search for user-formula kernels (issue 20, item 2): exact rules, proven Taylor
branches, the search itself, and catalog kernels untouched unless they opt in."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import random

import mpmath
import numpy as np
import pytest
import sympy as sp
from sympy.codegen.cfunctions import expm1, log1p

import funclib
from funclib import calculus
from funclib.accuracy import TARGET_ULP, oracle_kappa, ulp_error
from funclib.formula import make_symbol, to_formula
from funclib.kernels import rewrite_search
from funclib.kernels.api import entry_spec
from funclib.kernels.codegen import FORMAT_VERSION, generate_source
from funclib.kernels.formulas import formula_entry
from funclib.kernels.printer import kernel_form
from funclib.kernels.rewrite_search import evaluate_in_dtype, search_output
from funclib.kernels.series_branch import SeriesError, series_branches
from funclib.mpeval import mp_evaluate
from funclib.oracle import reference_value
from funclib.stable_forms.candidates import RULES
from funclib.special import sigmoid

X = make_symbol("x")


def _agree(a: sp.Expr, b: sp.Expr, points) -> None:
    for t in points:
        va, vb = mp_evaluate(a, {X: t}, 40), mp_evaluate(b, {X: t}, 40)
        assert abs(va - vb) <= mpmath.mpf(10) ** -30 * max(1, abs(va)), (a, b, t, va, vb)


# -- rules: exact identities, checked at 40 digits at points the search does not use ---------------

RULE_CASES = [
    ("expm1", 1 - sp.exp(-sp.exp(X)), expm1),
    ("expm1", sp.log(sp.cosh(X)), sp.sinh),
    ("expm1", 1 - sigmoid(2 * X), sigmoid),
    ("conjugate", sp.sqrt(X**2 + 1) - 1, None),
    ("cancel", calculus.derivative(sp.erf(X / (1 + sp.Abs(X))), X, 1), None),
    ("radicand", 1 / sp.sqrt(1 + X**-2), sp.Abs),
    ("factor_x", X * sp.tanh(X) - X**2 * sp.exp(X), None),
    ("log_domain", X * sp.tanh(X) - sp.log(sp.cosh(X)), log1p),
    ("exp_rational", calculus.derivative(expm1(X) / (1 + sp.exp(X)), X, 1), sigmoid),
]


@pytest.mark.parametrize("rule, expr, has", RULE_CASES, ids=lambda c: str(c)[:20])
def test_rules_are_identities(rule, expr, has):
    out = RULES[rule](expr, X)
    assert out != expr
    if has is not None:
        assert out.has(has)
    rng = random.Random(7)
    _agree(expr, out, [rng.uniform(-6, 6) for _ in range(5)] + [1e-3, -2.5e-5])


def test_log_domain_and_exp_rational_remove_the_large_terms():
    # x tanh x - log cosh x -> log 2 - 2|x|/(e^{2|x|} + 1) - log1p(e^{-2|x|}): no |x| left to cancel
    out = RULES["log_domain"](X * sp.tanh(X) - sp.log(sp.cosh(X)), X)
    assert not any(t == sp.Abs(X) or t == -sp.Abs(X) for t in out.args)
    # sigma(x) - expm1(x) sigma(x) sigma(-x) = 2 sigma(x) sigma(-x)
    d = calculus.derivative(expm1(X) / (1 + sp.exp(X)), X, 1)
    assert RULES["exp_rational"](d, X) == 2 * sigmoid(X) * sigmoid(-X)


def test_cancel_rule_removes_the_cancellation():
    d = calculus.derivative(sp.erf(X / (1 + sp.Abs(X))), X, 1)
    out = RULES["cancel"](d, X)
    assert not out.has(sp.sign)  # x*sign(x) became |x| and the sum one quotient
    assert sp.count_ops(out) < sp.count_ops(d)


# -- series branches: the proven bound holds ---------------------------------------------------------

@pytest.mark.parametrize("formula, dtype", [("log(cosh(x))", "float64"), ("x*tanh(x) - log(cosh(x))", "float32"),
                                            ("sigmoid(x)*sigmoid(-x)", "float64")])
def test_series_branch_bound_holds(formula, dtype):
    e = calculus.stabilize(formula_entry(formula).expr)
    branches = series_branches(e, X, dtype)
    assert branches
    p = 53 if dtype == "float64" else 24
    for br in branches:
        assert 0 < br.threshold <= 1 and br.bound <= 2.0 ** -(p + 1)
        poly = br.polynomial(X)
        for frac in (1.0, 0.5, 0.01):
            t = br.threshold * frac
            exact, approx = mp_evaluate(e, {X: t}, 60), mp_evaluate(poly, {X: t}, 60)
            assert abs(exact - approx) <= br.bound * abs(exact), (br, t)


def test_series_branch_refuses_what_has_no_series():
    for e in (sp.Abs(X), 1 / X, sp.sqrt(X), sp.log(X)):
        with pytest.raises(SeriesError):
            series_branches(e, X, "float64")


# -- the dtype evaluator ----------------------------------------------------------------------------

def test_evaluation_rounds_every_operation_in_float32():
    xs = np.array([0.1, 3.0, 1e-3], np.float32)
    got = evaluate_in_dtype(sp.exp(X) - 1, X, xs, "float32")
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, np.exp(xs) - np.float32(1))


# -- the search ------------------------------------------------------------------------------------

def test_search_fixes_a_cancellation_and_is_deterministic():
    e = calculus.stabilize(formula_entry("sqrt(x**2 + 1) - 1").expr)
    form, choice = search_output("value", e, X, "float64", [])
    again, choice2 = search_output("value", e, X, "float64", [])
    assert form == again and choice.record() == choice2.record()
    assert choice.chosen != "generator" and "conjugate" in choice.chosen
    assert choice.baseline[0] > 0 and choice.best[0] == 0 and choice.best[1] <= TARGET_ULP["float64"]
    # the kept form is the same function (40 digits) and accurate at points the search never saw
    _agree(form, e, [1e-5, -0.37, 3.0, 250.0])
    xs = np.array([3e-7, -1.1e-4, 2.5e-2, 0.3, -7.0])
    ref = np.array([reference_value(e, X, float(t)) for t in xs])
    assert np.all(ulp_error(evaluate_in_dtype(form, X, xs, "float64"), ref) <= TARGET_ULP["float64"])


def test_search_leaves_accurate_outputs_alone():
    e = calculus.stabilize(formula_entry("sigmoid(x)").expr)
    base = kernel_form(e, X)
    form, choice = search_output("value", e, X, "float64", [])
    assert form == base and choice.chosen == "generator" and choice.tried == []


def test_user_formula_kernel_records_the_search(tmp_path, monkeypatch):
    monkeypatch.setenv("FUNCLIB_CACHE_DIR", str(tmp_path))
    entry = formula_entry("sqrt(x**2 + 1) - 1")
    searched = entry.kernel(dtype="float64")
    plain = entry.kernel(dtype="float64", rewrite_search=False)
    assert searched.key != plain.key
    records = searched.module.REWRITES
    assert [r[0] for r in records] == ["value", "derivative"] and "conjugate" in records[0][3]
    assert not hasattr(plain.module, "REWRITES")
    xs = np.array([1e-5, -3e-3, 0.02])
    ref = entry.reference(xs, order=0)
    assert np.all(ulp_error(searched(xs)[0], ref) <= 4)
    assert np.any(ulp_error(plain(xs)[0], ref) > 1e3)  # what the search fixed


def test_taylor_branch_kernel_is_accurate_near_zero(tmp_path, monkeypatch):
    """log cosh x cancels to x^2/2 near 0 (1.6e7 ULP in float32 before the search)."""
    monkeypatch.setenv("FUNCLIB_CACHE_DIR", str(tmp_path))
    entry = formula_entry("log(cosh(x))")
    k = entry.kernel(dtype="float32")
    assert any(r[0] == "value" and r[3] != "generator" for r in k.module.REWRITES)
    xs = np.array([3.1e-5, -2.2e-3, 0.047, -0.31, 0.9, 7.5], np.float32)
    x64 = xs.astype(np.float64)
    ref = entry.reference(x64, order=0)
    # the harness's target B max(1, kappa), kappa ~ 2 here (x tanh x / log cosh x -> 2 at 0)
    kappa = oracle_kappa(entry.numeric_expr(), entry.symbol, x64, ref)
    assert np.all(ulp_error(k(xs)[0], ref, "float32") <= TARGET_ULP["float32"] * np.maximum(1.0, kappa))


# -- catalog kernels: unchanged unless they opt in ---------------------------------------------------

def _default_key_text(spec) -> str:
    """The cache key as it was before the search existed (an independent restatement)."""
    from funclib.kernels import vecmath_version

    text = json.dumps({
        "format": FORMAT_VERSION, "math": vecmath_version(), "name": spec.name, "formula": to_formula(spec.expr),
        "variable": spec.variable, "params": list(spec.params), "defaults": [repr(d) for d in spec.defaults],
        "wrt": list(spec.wrt), "dtype": spec.dtype, "outputs": list(spec.outputs), "accuracy": spec.accuracy,
        "variant": spec.variant, "baked": [[n, repr(v)] for n, v in spec.baked],
        "conventions": [[to_formula(a), to_formula(b)] for a, b in spec.conventions],
    }, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


@pytest.mark.parametrize("entry_id", ["softplus", "mish", "gelu"])
def test_catalog_kernel_source_is_unchanged_by_the_search(entry_id, monkeypatch):
    entry = funclib.get(entry_id)
    spec, _, _ = entry_spec(entry, dtype="float32", outputs=("value", "derivative"), params=None, variant=None,
                            accuracy="fast", wrt=None)
    assert spec.rewrite_search is False
    assert spec.key() == _default_key_text(spec)  # the cache key did not move

    def boom(*args, **kwargs):
        raise AssertionError("the rewrite search ran for a catalog kernel")

    monkeypatch.setattr(rewrite_search, "search_outputs", boom)
    src = generate_source(dataclasses.replace(spec, name=spec.name + " "))  # a fresh symbolic pass
    assert "REWRITES" not in src
    monkeypatch.undo()
    opted = dataclasses.replace(spec, rewrite_search=True)
    assert opted.key() != spec.key()
    searched = generate_source(opted)
    assert "REWRITES = [" in searched
    # without anything to fix, opting in adds the record and leaves the code as it was
    if all(r[3] == "generator" for r in _records(searched)):
        strip = [line for line in searched.splitlines() if not line.startswith(("REWRITES", "KEY"))]
        plain = [line for line in generate_source(spec).splitlines() if not line.startswith("KEY")]
        assert strip == plain


def _records(src: str) -> list:
    import ast

    line = next(li for li in src.splitlines() if li.startswith("REWRITES = "))
    return ast.literal_eval(line.split(" = ", 1)[1].split("  #", 1)[0])
