"""The allow-list formula parser: accepts the grammar, rejects everything else without running it."""

from __future__ import annotations

import builtins
import string

import pytest
import sympy as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from funclib.formula import (
    ALLOWED_FUNCTIONS,
    MAX_LENGTH,
    FormulaError,
    RowMax,
    RowSum,
    make_symbol,
    parse_formula,
    to_formula,
)
from funclib.special import erfc, sigmoid, softplus

x = make_symbol("x")
alpha = make_symbol("alpha")


@pytest.mark.parametrize(
    "text, expected",
    [
        ("x", x),
        ("-x + 2*x**2 - x/3", -x + 2 * x**2 - x / 3),
        ("1.702*x", sp.Rational(851, 500) * x),
        ("1e-3*x", x / 1000),
        ("x/2*erfc(-x/sqrt(2))", x / 2 * erfc(-x / sp.sqrt(2))),
        ("x*tanh(softplus(x))", x * sp.tanh(softplus(x))),
        ("x*sigmoid(alpha*x)", x * sigmoid(alpha * x)),
        ("where(x > 0, x, alpha*expm1(x))", sp.Piecewise((x, x > 0), (alpha * sp.expm1(x) if False else alpha * parse_formula("expm1(x)"), True))),
        ("Heaviside(x)", sp.Heaviside(x, 0)),
        ("Heaviside(x, 1/2)", sp.Heaviside(x, sp.S.Half)),
        ("abs(x) + Abs(x)", 2 * sp.Abs(x)),
        ("max(0, x, alpha)", sp.Max(0, x, alpha)),
        ("pi*E + inf", sp.oo),
        ("where((x > 0) & (x < 1), x, 0)", sp.Piecewise((x, sp.And(x > 0, x < 1)), (0, True))),
        ("where(0 < x < 1, x, 0)", sp.Piecewise((x, sp.And(x > 0, x < 1)), (0, True))),
        ("Piecewise((x, x >= 0), (0, True))", sp.Piecewise((x, x >= 0), (0, True))),
        ("lambertw(x)", sp.LambertW(x)),
    ],
)
def test_accepts_the_grammar(text, expected):
    assert parse_formula(text, params=["alpha"]) == expected


def test_numbers_are_exact_decimals():
    # 0.1 is the decimal a person wrote, not 0.1000000000000000055511151231257827.
    assert parse_formula("0.1") == sp.Rational(1, 10)
    assert parse_formula("0.044715") == sp.Rational(44715, 1000000)


def test_erfc_keeps_its_argument():
    # SymPy's own erfc rewrites erfc(-u) = 2 - erfc(u), which cancels catastrophically.
    expr = parse_formula("erfc(-x)")
    assert expr.args[0] == -x and isinstance(expr, erfc)


def test_rowwise_reductions_bind_their_own_symbol():
    expr = parse_formula("exp(x_i - max(x))/sum(exp(x - max(x)))", variables=["x_i"], reduction_variable="x")
    sums = expr.atoms(RowSum)
    maxes = expr.atoms(RowMax)
    assert len(sums) == 1 and len(maxes) == 2
    bounds = {m.args[1].name for m in maxes}
    assert bounds == {"x_j", "x_k"}  # the inner max inside the sum binds x_k


def test_rowwise_vector_outside_reduction_is_rejected():
    with pytest.raises(FormulaError, match="only appear inside sum"):
        parse_formula("x + x_i", variables=["x_i"], reduction_variable="x")


ROUND_TRIP = [
    "x/2*erfc(-x/sqrt(2))",
    "where(x <= 0, 0, x < 6, x, 6)",
    "where((x > 0) & (x < 1) | (x > 3), x, 2)",
    "Heaviside(x, 1/2)*x + Heaviside(x)",
    "Max(0, x) - Min(x, 6)",
    "x*tanh(softplus(x)) + log1p(x**2) + expm1(-x)",
    "1.702*x*sigmoid(1.702*x) + E**2 + pi",
    "Piecewise((x, x > 0), (nan, True))",
    "lambertw(x) + gamma(x) + loggamma(x) + erfinv(x/2)",
]


@pytest.mark.parametrize("text", ROUND_TRIP)
def test_round_trip(text):
    expr = parse_formula(text)
    assert parse_formula(to_formula(expr)) == expr


def test_round_trip_rowwise():
    expr = parse_formula("exp(x_i - max(x))/sum(exp(x - max(x)))", variables=["x_i"], reduction_variable="x")
    again = parse_formula(to_formula(expr), variables=["x_i"], reduction_variable="x")
    assert again == expr


HOSTILE = [
    "__import__('os').system('echo pwned')",
    "x.__class__",
    "x.__class__.__mro__[1].__subclasses__()",
    "().__class__.__bases__[0].__subclasses__()",
    "(lambda: 1)()",
    "[i for i in range(3)]",
    "{1: 2}",
    "{x}",
    "open('/etc/passwd')",
    "eval('1')",
    "exec('x=1')",
    "getattr(x, 'real')",
    "exp.__globals__",
    "x if x else 1",
    "x[0]",
    "x; 1",
    "import os",
    "x := 1",
    "f'{x}'",
    "'abc'",
    "b'abc'",
    "1j*x",
    "True + x",
    "None",
    "...",
    "x @ x",
    "x // 2",
    "x % 2",
    "x << 2",
    "x ^ 2",
    "x & x",
    "not x",
    "2**10000",
    "x**(10**6)",
    "9**9**9**9",
    "10**999 * 10**999 * 10**999",
    "exp(x, base=2)",
    "exp(*x)",
    "where(x > 0)",
    "where(x, 1, 2)",
    "Piecewise(x)",
    "x > 0",
    "sigmoid(x, x)",
    "_hidden",
    "__builtins__",
    "1e999",
    "",
    "   ",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_inputs_are_rejected(text):
    with pytest.raises(FormulaError):
        parse_formula(text)


def test_error_names_source_entry_field_and_piece():
    with pytest.raises(FormulaError) as info:
        parse_formula("x*foo(x)", source="catalog/a.toml", entry="mine", field="formula")
    message = str(info.value)
    assert "catalog/a.toml" in message and "'mine'" in message and "'formula'" in message
    assert "`foo(x)`" in message


def test_unknown_name_suggests_declared_ones():
    with pytest.raises(FormulaError, match="did you mean alpha"):
        parse_formula("x*alpah", params=["alpha"])


def test_length_and_depth_caps():
    with pytest.raises(FormulaError, match="longer than"):
        parse_formula("x+" * MAX_LENGTH + "x")
    with pytest.raises(FormulaError):
        parse_formula("exp(" * 80 + "x" + ")" * 80)
    with pytest.raises(FormulaError):
        parse_formula("-" * 1500 + "x")


def test_symbol_names_must_be_plain_identifiers():
    for bad in ["x y", "__class__", "exp", "x.real", "_x"]:
        with pytest.raises(FormulaError):
            parse_formula("1", variables=[bad])


_TOKENS = st.sampled_from(
    list("x()+-*/.,[]{}:;'\"=<>!&|~@%^ \\\n_0123456789")
    + ["**", "__", "lambda", "import", "class", "exp", "where", "sigmoid", "__import__", "os",
       "system", "eval", "exec", "open", "getattr", "__subclasses__", "__globals__", "for", "in",
       "if", "else", "yield", "await", "9" * 30]
)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_TOKENS, max_size=40).map("".join))
def test_fuzz_never_executes_code(text):
    """Random token soup: either a valid SymPy expression or a FormulaError, never code execution."""
    calls = []
    guarded = {name: getattr(builtins, name) for name in ("__import__", "eval", "exec", "open", "compile")}

    def trap(name):
        def inner(*args, **kwargs):
            calls.append(name)
            return guarded[name](*args, **kwargs)

        return inner

    for name in ("eval", "exec", "open"):
        setattr(builtins, name, trap(name))
    try:
        try:
            result = parse_formula(text)
        except FormulaError:
            result = None
    finally:
        for name, func in guarded.items():
            setattr(builtins, name, func)
    assert calls == []
    assert result is None or isinstance(result, sp.Expr)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=string.printable, max_size=80))
def test_fuzz_printable_text(text):
    try:
        result = parse_formula(text)
    except FormulaError:
        return
    assert isinstance(result, sp.Expr)


def test_allow_list_is_what_the_docs_say():
    for name in ("exp", "log1p", "expm1", "erf", "erfc", "sigmoid", "softplus", "Heaviside", "where", "lambertw", "gamma"):
        assert name in ALLOWED_FUNCTIONS
    for name in ("eval", "exec", "open", "getattr", "__import__", "sympify", "Lambda", "Function", "Symbol"):
        assert name not in ALLOWED_FUNCTIONS
