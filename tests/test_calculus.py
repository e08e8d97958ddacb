"""Derivatives, stable rewrites, CSE and row-wise Jacobians, each checked by a second method."""

from __future__ import annotations

import mpmath
import numpy as np
import pytest
import sympy as sp

from funclib import calculus
from funclib.formula import make_symbol, parse_formula
from funclib.mpeval import mp_evaluate
from funclib.npeval import np_evaluate
from funclib.special import sigmoid, softplus

x = make_symbol("x")

FORMULAS = {
    "mish": "x*tanh(softplus(x))",
    "mish_textbook": "x*tanh(log(1 + exp(x)))",
    "golu": "x*exp(-exp(-x))",
    "silu_textbook": "x/(1 + exp(-x))",
    "silu": "x*sigmoid(x)",
    "gelu": "x/2*erfc(-x/sqrt(2))",
    "softplus_textbook": "log(1 + exp(x))",
    "elu": "where(x > 0, x, exp(x) - 1)",
    "logsigmoid": "log(sigmoid(x))",
    "sigmoid_textbook": "exp(x)/(1 + exp(x))",
}

POINTS = [-1000.0, -700.0, -40.0, -3.5, -1e-8, 0.0, 0.7, 5.0, 40.0, 700.0, 1000.0]


@pytest.mark.parametrize("name", FORMULAS)
def test_stabilize_is_an_identity(name):
    expr = parse_formula(FORMULAS[name])
    stable = calculus.stabilize(expr)
    for t in POINTS:
        # 1000 digits: the textbook forms absorb 1 + exp(-700) at lower precision.
        a = mp_evaluate(expr, {x: t}, 1000)
        b = mp_evaluate(stable, {x: t}, 1000)
        with mpmath.workdps(60):
            assert mpmath.almosteq(a, b, rel_eps=mpmath.mpf(10) ** -40, abs_eps=mpmath.mpf(10) ** -500), (t, a, b)


@pytest.mark.parametrize("name", FORMULAS)
@pytest.mark.parametrize("order", [1, 2])
def test_stable_derivatives_have_no_nan_in_float64(name, order):
    expr = parse_formula(FORMULAS[name])
    d = calculus.derivative(expr, x, order)
    values = np_evaluate(d, {x: np.array(POINTS)})
    assert np.all(np.isfinite(values)), dict(zip(POINTS, values))
    # ... and agree with the exact derivative (mpmath, 40 digits, unstabilized form).
    exact = calculus.derivative(expr, x, order, stable=False)
    for t, v in zip(POINTS, values):
        ref = float(mp_evaluate(exact, {x: t}, 1000))
        # Near the origin, cancellation such as 1 - 2*sigmoid(x) costs absolute, not relative,
        # accuracy; in the tails (where overflow used to bite) relative accuracy is required.
        tol = {"rel": 1e-9, "abs": 1e-300} if abs(t) >= 20 else {"rel": 1e-9, "abs": 1e-14}
        assert v == pytest.approx(ref, **tol), (t, v, ref)


def test_textbook_derivative_does_overflow():
    """The check above is not vacuous: without the rewrites float64 gives NaN."""
    expr = parse_formula("x*exp(-exp(-x))")
    naive = sp.diff(expr, x)
    assert np.isnan(np_evaluate(naive, {x: np.array([-1000.0])})[0])
    mish = parse_formula("x*tanh(log(1 + exp(x)))")
    assert not np.all(np.isfinite(np_evaluate(sp.diff(mish, x), {x: np.array([1000.0])})))


def test_derivative_vs_finite_differences():
    for text in FORMULAS.values():
        expr = parse_formula(text)
        d = calculus.derivative(expr, x)
        for t in (-2.3, -0.4, 0.9, 3.1):
            with mpmath.workdps(50):
                # mpmath.diff raises the working precision for its step: evaluate above it.
                fd = mpmath.diff(lambda s: mp_evaluate(expr, {x: s}, 200), mpmath.mpf(t))
                assert mpmath.almosteq(fd, mp_evaluate(d, {x: t}, 50), rel_eps=1e-25, abs_eps=1e-25)


def test_golu_derivative_merges_exponentials():
    d = calculus.derivative(parse_formula("x*exp(-exp(-x))"), x)
    exps = [e for e in d.atoms(sp.exp) if e.args[0].has(x) and e.args[0] != -x]
    assert any(e.args[0] == -x - sp.exp(-x) for e in exps), d


def test_rewrites_produce_the_named_functions():
    assert calculus.stabilize(parse_formula("log(1 + exp(x))")) == softplus(x)
    assert calculus.stabilize(parse_formula("1/(1 + exp(-x))")) == sigmoid(x)
    assert str(calculus.stabilize(parse_formula("exp(x) - 1"))) == "expm1(x)"
    assert str(calculus.stabilize(parse_formula("log(1 + x**2)"))) == "log1p(x**2)"


@pytest.mark.parametrize(
    "text, point",
    [
        ("tanh(x)/10", 20.0),  # derivative 1/10 - tanh(x)**2/10: SymPy distributes the 1/10
        ("3*tanh(2*x) + x", -12.0),
        ("5*sigmoid(x)", 40.0),  # 5*sigmoid(x)*(1 - sigmoid(x)) arrives distributed too
        ("7*exp(x) - 7*x", -1e-9),  # f' = 7*exp(x) - 7: an expm1 form
    ],
)
def test_stable_forms_with_numeric_coefficients(text, point):
    # c - c*g(u) must get the same stable form as 1 - g(u): checked against mpmath where the
    # distributed form cancels to 0 (or to a few digits) in float64.
    f = parse_formula(text)
    d = calculus.derivative(f, x)
    exact = mp_evaluate(sp.diff(f, x), {x: point}, dps=60)
    got = float(np_evaluate(d, {x: np.array([point])})[0])
    assert exact != 0 and abs(got - float(exact)) <= 4e-16 * abs(float(exact)), (d, got, exact)


def test_kink_conventions():
    relu_max = parse_formula("Max(0, x)")
    assert calculus.derivative(relu_max, x).subs(x, 0) == 0
    relu6 = parse_formula("Min(Max(0, x), 6)")
    assert calculus.derivative(relu6, x).subs(x, 6) == 0
    relu_where = parse_formula("where(x > 0, x, 0)")
    assert calculus.derivative(relu_where, x).subs(x, 0) == 0


def test_higher_orders():
    expr = parse_formula("x*sigmoid(x)")
    d3 = calculus.derivative(expr, x, 3)
    with mpmath.workdps(60):
        fd = mpmath.diff(lambda s: mp_evaluate(expr, {x: s}, 300), mpmath.mpf("0.37"), 3)
        assert mpmath.almosteq(fd, mp_evaluate(d3, {x: mpmath.mpf("0.37")}, 60), rel_eps=1e-20)
    with pytest.raises(ValueError):
        calculus.derivative(expr, x, -1)


def test_cse_shares_subexpressions():
    expr = parse_formula("x*tanh(softplus(x))")
    d = calculus.derivative(expr, x)
    replacements, reduced = calculus.cse_outputs([expr, d])
    assert replacements, "tanh(softplus(x)) should be shared"
    back = [e.subs(list(reversed(replacements))) for e in reduced]
    assert sp.simplify(back[0] - expr) == 0 and sp.simplify(back[1] - d) == 0


SOFTMAX = "exp(x_i - max(x))/sum(exp(x - max(x)))"


@pytest.mark.parametrize("n", [2, 3, 4, 5])
def test_softmax_jacobian_closed_form_matches_symbolic(n):
    expr = parse_formula(SOFTMAX, variables=["x_i", "n"], reduction_variable="x")
    jac_formula = parse_formula("y_i*(delta_ij - y_j)", variables=["x_i", "x_j", "y_i", "y_j", "delta_ij", "n"])
    xs, symbolic = calculus.rowwise_jacobian(expr, n)
    _, closed = calculus.closed_form_jacobian(jac_formula, expr, n)
    rng = np.random.default_rng(n)
    for _ in range(3):
        point = {s: float(v) for s, v in zip(xs, rng.normal(size=n) * 3)}
        a = np.array([[float(mp_evaluate(symbolic[i, j], point)) for j in range(n)] for i in range(n)])
        b = np.array([[float(mp_evaluate(closed[i, j], point)) for j in range(n)] for i in range(n)])
        np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-15)
