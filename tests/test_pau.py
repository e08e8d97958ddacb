"""Padé activation units: formulas of any degree, the catalog entries, coefficient derivatives.

Second methods: the Horner formulas are compared with a plain power-sum evaluation written
from the reference code's definitions (versions A/B/C and the unrestricted kernel); the
symbolic derivatives with respect to x and every coefficient are compared with 40-digit finite
differences and with PyTorch autograd on the reference-code formulas.
"""

from __future__ import annotations


import mpmath
import numpy as np
import pytest
import sympy as sp

import funclib
from funclib import interval
from funclib.families.pau import (
    CATALOG_IDS,
    DENOMINATORS,
    PUBLISHED_LEAKY_RELU,
    pau_derivatives,
    pau_entry,
    pau_formula,
    pau_param_names,
)
from funclib.formula import make_symbol, parse_formula
from funclib.mpeval import mp_evaluate
from funclib.npeval import np_evaluate

X = make_symbol("x")


def reference_pau(x: np.ndarray, a, b, form: str) -> np.ndarray:
    """P/Q from power sums, as the reference code defines each version (not Horner)."""
    x = np.asarray(x, dtype=np.float64)
    p = sum(aj * x**j for j, aj in enumerate(a))
    if form == "safe":  # version A: 1 + sum |b_k| |x|^k, k = 1..n
        q = 1 + sum(abs(bk) * np.abs(x) ** (k + 1) for k, bk in enumerate(b))
    elif form == "abs_sum":  # version B: 1 + |sum b_k x^k|
        q = 1 + np.abs(sum(bk * x ** (k + 1) for k, bk in enumerate(b)))
    elif form == "eps":  # version C: 0.1 + |sum_{k>=0} b_k x^k|
        q = 0.1 + np.abs(sum(bk * x**k for k, bk in enumerate(b)))
    else:  # unrestricted kernel: 1 + sum b_k x^k
        q = 1 + sum(bk * x ** (k + 1) for k, bk in enumerate(b))
    return p / q


@pytest.mark.parametrize("form", DENOMINATORS)
def test_catalog_formula_is_pau_formula(form):
    entry = funclib.get(CATALOG_IDS[form])
    assert entry.formula == pau_formula(5, 4, form)
    names = [*pau_param_names(5, 4, form)[0], *pau_param_names(5, 4, form)[1]]
    assert list(entry.params) == names
    assert all(entry.params[n].trainable for n in names)
    numerator, denominator = PUBLISHED_LEAKY_RELU[form]
    assert [entry.params[n].default for n in names] == [*numerator, *denominator]
    assert pau_entry(denominator=form).expr == entry.expr


@pytest.mark.parametrize("form", DENOMINATORS)
def test_catalog_values_match_reference_definition(form):
    entry = funclib.get(CATALOG_IDS[form])
    a, b = PUBLISHED_LEAKY_RELU[form]
    x = np.concatenate([np.linspace(-6, 6, 241), [-1e3, -37.5, 1e-7, 55.0, 1e3]])
    got = np_evaluate(entry.numeric_expr(), {X: x})
    np.testing.assert_allclose(got, reference_pau(x, a, b, form), rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("m,n", [(0, 1), (1, 1), (2, 3), (3, 2), (7, 6)])
@pytest.mark.parametrize("form", DENOMINATORS)
def test_any_degree_matches_power_sums(m, n, form):
    rng = np.random.default_rng(10 * m + n)
    a = rng.normal(size=m + 1)
    b = rng.normal(size=n + 1 if form == "eps" else n)
    if form == "unsafe":
        b = np.abs(b) * np.where(np.arange(len(b)) % 2 == 1, 1, 0)  # even powers only: Q > 0
    text = pau_formula(m, n, form)
    numerator_names, denominator_names = pau_param_names(m, n, form)
    expr = parse_formula(text, ["x"], numerator_names + denominator_names)
    values = {make_symbol(k): sp.Float(v, 30) for k, v in zip(numerator_names + denominator_names, [*a, *b])}
    x = np.linspace(-2.5, 2.5, 41)
    got = np_evaluate(expr.subs(values), {X: x})
    np.testing.assert_allclose(got, reference_pau(x, a, b, form), rtol=1e-12, atol=1e-13)


def test_horner_shape():
    assert pau_formula(2, 2, "safe") == "(a0 + x*(a1 + x*a2))/(1 + Abs(x)*(Abs(b1) + Abs(x)*Abs(b2)))"
    assert pau_formula(1, 1, "unsafe") == "(a0 + x*a1)/(1 + x*b1)"
    assert pau_param_names(5, 4, "eps") == (["a0", "a1", "a2", "a3", "a4", "a5"], ["b0", "b1", "b2", "b3", "b4"])


def _fd_check(entry, x_values, overrides=None):
    """Every partial derivative against a 40-digit central difference in that argument."""
    derivs = pau_derivatives(entry)
    values = entry.param_subs(overrides)
    expr = entry.expr
    checked = 0
    for t in x_values:
        point = {**values, X: sp.Float(t, 50)}
        for name, d in derivs.items():
            symbol = X if name == "x" else make_symbol(name)
            base = point[symbol]
            with mpmath.workdps(40):
                fd = mpmath.diff(lambda s: mp_evaluate(expr, {**point, symbol: s}, 80), mpmath.mpf(base))
                exact = mp_evaluate(d, point, 40)
                assert mpmath.almosteq(fd, exact, rel_eps=1e-25, abs_eps=1e-28), (entry.id, name, t, fd, exact)
            checked += 1
    return checked


@pytest.mark.parametrize("form", DENOMINATORS)
def test_coefficient_derivatives_vs_finite_differences(form):
    entry = funclib.get(CATALOG_IDS[form])
    assert _fd_check(entry, [-2.7, -0.4, 0.35, 1.9, 4.5]) == 5 * (len(entry.params) + 1)


@pytest.mark.parametrize("form", ["safe", "abs_sum", "eps"])
def test_coefficient_derivatives_with_negative_coefficients(form):
    """Signs matter for |b_k| and |sum b_k x^k|: perturb to negative denominator coefficients."""
    entry = funclib.get(CATALOG_IDS[form])
    names = pau_param_names(5, 4, form)[1]
    overrides = {names[0]: -0.7, names[2]: -0.25}
    assert _fd_check(entry, [-1.3, 0.6, 2.2], overrides) > 0


def test_other_degree_entry_derivatives():
    entry = pau_entry(3, 2, "safe", numerator_coefficients=[0.1, 0.5, 0.3, 0.05], denominator_coefficients=[-0.2, 0.4])
    assert entry.id == "pau_3_2"
    assert _fd_check(entry, [-1.5, 0.8]) == 2 * (4 + 2 + 1)


def test_closed_form_coefficient_derivatives():
    """dF/da_j = x^j/Q and dF/db_k = -P/Q^2 * sign(b_k)*|x|^k (safe form), exactly."""
    entry = funclib.get("pau")
    derivs = pau_derivatives(entry)
    p = sum(make_symbol(f"a{j}") * X**j for j in range(6))
    q = 1 + sum(sp.Abs(make_symbol(f"b{k}")) * sp.Abs(X) ** k for k in range(1, 5))
    point = {**entry.param_subs(), X: sp.Rational(-13, 10)}
    for j in range(6):
        assert sp.simplify((derivs[f"a{j}"] - X**j / q).subs(point)) == 0
    for k in range(1, 5):
        b = make_symbol(f"b{k}")
        expected = -p / q**2 * sp.sign(b) * sp.Abs(X) ** k
        assert abs(sp.N((derivs[f"b{k}"] - expected).subs(point), 40)) < 1e-35


@pytest.mark.parametrize("form", DENOMINATORS)
def test_derivatives_vs_pytorch_autograd(form):
    torch = pytest.importorskip("torch")
    entry = funclib.get(CATALOG_IDS[form])
    a, b = PUBLISHED_LEAKY_RELU[form]
    x = torch.tensor([-3.1, -0.8, 0.45, 1.3, 2.9], dtype=torch.float64, requires_grad=True)
    ta = torch.tensor(a, dtype=torch.float64, requires_grad=True)
    tb = torch.tensor(b, dtype=torch.float64, requires_grad=True)
    p = sum(ta[j] * x**j for j in range(len(a)))
    if form == "safe":
        q = 1 + sum(tb[k].abs() * x.abs() ** (k + 1) for k in range(len(b)))
    elif form == "abs_sum":
        q = 1 + sum(tb[k] * x ** (k + 1) for k in range(len(b))).abs()
    elif form == "eps":
        q = 0.1 + sum(tb[k] * x**k for k in range(len(b))).abs()
    else:
        q = 1 + sum(tb[k] * x ** (k + 1) for k in range(len(b)))
    y = p / q
    derivs = pau_derivatives(entry, numeric=True)
    xs = x.detach().numpy()
    np.testing.assert_allclose(y.detach().numpy(), np_evaluate(entry.numeric_expr(), {X: xs}), rtol=1e-13)
    names = [*pau_param_names(5, 4, form)[0], *pau_param_names(5, 4, form)[1]]
    for i in range(len(xs)):
        grads = torch.autograd.grad(y[i], [x, ta, tb], retain_graph=True)
        expected = {"x": grads[0][i].item(), **dict(zip(names, [*grads[1].tolist(), *grads[2].tolist()]))}
        for name, value in expected.items():
            got = float(np_evaluate(derivs[name], {X: np.array(xs[i])}))
            assert got == pytest.approx(value, rel=1e-11, abs=1e-14), (form, name, xs[i])


def test_published_coefficients_fit_leaky_relu():
    """The defaults fit leaky ReLU (slope 0.01) on [-3, 3] and grow with slope 0.505 outside."""
    x = np.linspace(-3, 3, 60001)
    target = np.where(x > 0, x, 0.01 * x)
    for form in DENOMINATORS:
        entry = funclib.get(CATALOG_IDS[form])
        f = np_evaluate(entry.numeric_expr(), {X: x})
        assert np.sqrt(np.mean((f - target) ** 2)) < 0.006
        assert np.max(np.abs(f - target)) < 0.034
        for side in (1.0, -1.0):
            slope = float(np_evaluate(entry.derivative(numeric=True), {X: np.array(side * 1e7)}))
            assert slope == pytest.approx(0.505, abs=2e-5)


@pytest.mark.parametrize("form", DENOMINATORS)
def test_slope_bounds_are_proven_and_finite(form):
    props = funclib.get(CATALOG_IDS[form]).properties()
    lo, hi = props.slope_bounds
    assert props["slope_bounds"].method == "interval"
    assert -0.0593 < lo < -0.0592 and 1.0692 < hi < 1.0693
    assert props.lipschitz == pytest.approx(hi)


@pytest.mark.parametrize("form", ["unsafe", "eps"])
def test_denominator_has_no_real_zero_at_defaults(form):
    """unsafe: Q(x) > 0 on R (no pole); eps: the quartic inside |.| has no real root (so F is smooth)."""
    entry = funclib.get(CATALOG_IDS[form])
    values = entry.param_subs()
    _, denominator_names = pau_param_names(5, 4, form)
    first = 0 if form == "eps" else 1
    poly = sum(make_symbol(b) * X ** (k + first) for k, b in enumerate(denominator_names))
    q = (poly if form == "eps" else 1 + poly).subs(values)
    found = interval.bound_extremum_on_real_line(q, X, maximize=False, tol=1e-9)
    assert float(found.lower) > (0.9 if form == "unsafe" else 5000)
    # Covered at least [-1e30, 1e30]; beyond, the leading term b4*x**4 > 0 dominates.
    assert found.domain[0] <= -1e30 and found.domain[1] >= 1e30
    assert values[make_symbol("b4")] > 0


def test_pau_entry_errors():
    with pytest.raises(ValueError, match="denominator must be one of"):
        pau_formula(5, 4, "safer")
    with pytest.raises(ValueError, match="degree n"):
        pau_formula(5, 0)
    with pytest.raises(ValueError, match="degree m"):
        pau_formula(-1, 2)
    with pytest.raises(ValueError, match="no published initialization"):
        pau_entry(3, 3)
    with pytest.raises(ValueError, match="needs 5 denominator coefficients"):
        pau_entry(5, 4, "eps", numerator_coefficients=[0.0] * 6, denominator_coefficients=[1.0] * 4)
