"""Safe formula parser: an allow-list converter from Python's ``ast`` to SymPy.

Formula strings, from the catalog or from a user, are never passed to ``eval``, ``sympify`` or
``parse_expr`` (all three execute code). Instead the string is parsed by :func:`ast.parse` in
``eval`` mode and the tree is converted node by node; anything that is not a number, a declared
name, an arithmetic operator, a comparison inside a condition, or a call of an allow-listed
function is rejected with a :class:`FormulaError` that quotes the offending piece.

Grammar (see ``docs/catalog-format.md``)::

    expr  := number | name | expr (+ - * / **) expr | -expr | +expr | call
    call  := FUNC(expr, ...) | where(cond, expr, ..., expr) | Piecewise((expr, cond), ...)
    cond  := expr (< <= > >= ==) expr | cond & cond | cond | cond | ~cond | True | False

Row-wise formulas (``reduction_variable="x"``) may also use the row reductions ``sum(e)``,
``max(e)`` and ``min(e)``; inside them the vector name ``x`` stands for the running element
``x_j``.
"""

from __future__ import annotations

import ast
import difflib
import warnings
from collections.abc import Callable, Iterable, Sequence
from fractions import Fraction

import sympy as sp
from sympy.printing.str import StrPrinter

from .special import SPECIAL_FUNCTIONS


def exact_decimal(value: float) -> sp.Rational:
    """A float as the exact decimal a person wrote (``0.01`` -> ``1/100``): the shortest repr of
    the float, read exactly, so proofs and printers see the constant that was typed."""
    frac = Fraction(repr(float(value)))
    return sp.Rational(frac.numerator, frac.denominator)

__all__ = [
    "FormulaError",
    "parse_formula",
    "to_formula",
    "make_symbol",
    "as_sympy",
    "ALLOWED_FUNCTIONS",
    "RowSum",
    "RowMax",
    "RowMin",
    "MAX_LENGTH",
    "MAX_DEPTH",
    "MAX_EXPONENT",
]

MAX_LENGTH = 2000
MAX_DEPTH = 50
MAX_EXPONENT = 1000
MAX_INTEGER_DIGITS = 60
MAX_NODES = 4000
_MAX_BITS = 3400  # about 10**1000


class FormulaError(ValueError):
    """A formula string that is malformed or uses something outside the allow-list.

    The message names the source file, entry and field when they are known, and quotes the
    offending part of the formula.
    """

    def __init__(
        self,
        message: str,
        *,
        formula: str | None = None,
        piece: str | None = None,
        source: str | None = None,
        entry: str | None = None,
        field: str | None = None,
    ) -> None:
        self.reason = message
        self.formula = formula
        self.piece = piece
        self.source = source
        self.entry = entry
        self.field = field
        super().__init__(self._render())

    def _render(self) -> str:
        where = []
        if self.source:
            where.append(str(self.source))
        if self.entry:
            where.append(f"entry {self.entry!r}")
        if self.field:
            where.append(f"field {self.field!r}")
        text = self.reason
        if self.piece:
            text += f" (in `{self.piece}`)"
        if self.formula is not None and self.piece != self.formula:
            shown = self.formula if len(self.formula) <= 120 else self.formula[:117] + "..."
            text += f"; formula: {shown!r}"
        return (": ".join(where) + ": " if where else "") + text


class RowSum(sp.Function):
    r"""Row reduction :math:`\sum_j e(x_j)`: ``RowSum(e, x_j)`` with its bound symbol.

    Expanded into an explicit sum for a concrete row length (``funclib.calculus``).
    """

    nargs = 2


class RowMax(sp.Function):
    r"""Row reduction :math:`\max_j e(x_j)`: ``RowMax(e, x_j)``."""

    nargs = 2


class RowMin(sp.Function):
    r"""Row reduction :math:`\min_j e(x_j)`: ``RowMin(e, x_j)``."""

    nargs = 2


# Bound symbols of nested row reductions, outermost first.
_BOUND_SUFFIXES = ("j", "k", "l", "m")


_ROW_REDUCTIONS = {"sum": RowSum, "max": RowMax, "min": RowMin}


def as_sympy(value: object) -> sp.Expr:
    """SymPy form of a number or expression without ``sympify`` (which evaluates strings).

    SymPy objects pass through; Python ``bool``/``int``/``Fraction`` become exact, ``float`` the
    exact binary value; strings and anything else are rejected (parse them with
    :func:`parse_formula`).
    """
    if isinstance(value, sp.Basic):
        return value
    if isinstance(value, bool):
        return sp.true if value else sp.false
    if isinstance(value, int):
        return sp.Integer(value)
    if isinstance(value, Fraction):
        return sp.Rational(value.numerator, value.denominator)
    if isinstance(value, float):
        if value != value:
            return sp.nan
        if abs(value) == float("inf"):
            return sp.oo if value > 0 else -sp.oo
        return sp.Float(value, precision=53)
    raise TypeError(f"expected a number or SymPy expression, got {type(value).__name__}: {value!r}")


def make_symbol(name: str) -> sp.Symbol:
    """The SymPy symbol funclib uses for a variable or parameter name (real-valued)."""
    return sp.Symbol(name, real=True)


def _heaviside(*args: sp.Expr) -> sp.Expr:
    # funclib convention: H(0) = 0 (the subgradient PyTorch/JAX pick for relu) unless stated.
    if len(args) == 1:
        return sp.Heaviside(args[0], 0)
    return sp.Heaviside(*args)


def _lambertw(*args: sp.Expr) -> sp.Expr:
    return sp.LambertW(*args)


# name -> (constructor, min args, max args or None for variadic)
_FUNCTIONS: dict[str, tuple[Callable[..., sp.Expr], int, int | None]] = {
    "exp": (sp.exp, 1, 1),
    "log": (sp.log, 1, 1),
    "sqrt": (sp.sqrt, 1, 1),
    "sin": (sp.sin, 1, 1),
    "cos": (sp.cos, 1, 1),
    "tan": (sp.tan, 1, 1),
    "sinh": (sp.sinh, 1, 1),
    "cosh": (sp.cosh, 1, 1),
    "tanh": (sp.tanh, 1, 1),
    "asin": (sp.asin, 1, 1),
    "acos": (sp.acos, 1, 1),
    "atan": (sp.atan, 1, 1),
    "asinh": (sp.asinh, 1, 1),
    "acosh": (sp.acosh, 1, 1),
    "atanh": (sp.atanh, 1, 1),
    "erf": (sp.erf, 1, 1),
    "erfinv": (sp.erfinv, 1, 1),
    "Abs": (sp.Abs, 1, 1),
    "abs": (sp.Abs, 1, 1),
    "sign": (sp.sign, 1, 1),
    "Heaviside": (_heaviside, 1, 2),
    "Max": (sp.Max, 2, None),
    "Min": (sp.Min, 2, None),
    "max": (sp.Max, 2, None),
    "min": (sp.Min, 2, None),
    "floor": (sp.floor, 1, 1),
    "ceiling": (sp.ceiling, 1, 1),
    "lambertw": (_lambertw, 1, 2),
    "LambertW": (_lambertw, 1, 2),
    "gamma": (sp.gamma, 1, 1),
    "loggamma": (sp.loggamma, 1, 1),
    # The real cube root (negative for negative arguments), not SymPy's principal x**(1/3).
    "cbrt": (lambda a: sp.real_root(a, 3), 1, 1),
}
for _name, _cls in SPECIAL_FUNCTIONS.items():
    _arities = sorted(int(n) for n in _cls.nargs)
    _FUNCTIONS[_name] = (_cls, _arities[0], _arities[-1])

#: Every function name a formula may call (``where`` and ``Piecewise`` are syntax).
ALLOWED_FUNCTIONS: tuple[str, ...] = tuple(sorted(set(_FUNCTIONS) | {"where", "Piecewise"}))

_CONSTANTS: dict[str, sp.Expr] = {
    "pi": sp.pi,
    "E": sp.E,
    "inf": sp.oo,
    "oo": sp.oo,
    "nan": sp.nan,
}

_BINOPS = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b,
}

#: Operators that chain at one precedence level (additive, multiplicative).
_CHAIN = {ast.Add: "add", ast.Sub: "add", ast.Mult: "mul", ast.Div: "mul"}

_COMPARISONS = {
    ast.Lt: sp.StrictLessThan,
    ast.LtE: sp.LessThan,
    ast.Gt: sp.StrictGreaterThan,
    ast.GtE: sp.GreaterThan,
    ast.Eq: sp.Eq,
}


class _Converter:
    """Walks an ``ast`` tree and builds the SymPy expression, allowing only the grammar."""

    def __init__(
        self,
        text: str,
        names: dict[str, sp.Symbol],
        reduction_variable: str | None,
        context: dict[str, str | None],
    ) -> None:
        self.text = text
        self.names = names
        self.reduction_variable = reduction_variable
        self.context = context
        self.reduction_depth = 0
        self.nodes = 0

    # -- errors -------------------------------------------------------------------------
    def fail(self, message: str, node: ast.AST | None = None) -> FormulaError:
        piece = None
        if node is not None:
            piece = ast.get_source_segment(self.text, node) or None
        return FormulaError(message, formula=self.text, piece=piece, **self.context)

    # -- dispatch -----------------------------------------------------------------------
    def value(self, node: ast.AST, depth: int) -> sp.Expr:
        self._count(node, depth)
        if isinstance(node, ast.Constant):
            return self._number(node)
        if isinstance(node, ast.Name):
            return self._name(node)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            operand = self.value(node.operand, depth + 1)
            return -operand if isinstance(node.op, ast.USub) else operand
        if isinstance(node, ast.BinOp):
            return self._binop(node, depth)
        if isinstance(node, ast.Call):
            return self._call(node, depth)
        if isinstance(node, (ast.Compare, ast.BoolOp)) or (
            isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.Not, ast.Invert))
        ):
            raise self.fail("a condition is only allowed as a condition of where()/Piecewise()", node)
        raise self.fail(f"{type(node).__name__} is not allowed in a formula", node)

    def condition(self, node: ast.AST, depth: int) -> sp.Basic:
        self._count(node, depth)
        if isinstance(node, ast.Constant) and isinstance(node.value, bool):
            return sp.true if node.value else sp.false
        if isinstance(node, ast.Compare):
            return self._compare(node, depth)
        if isinstance(node, ast.BoolOp):
            parts = [self.condition(v, depth + 1) for v in node.values]
            return sp.And(*parts) if isinstance(node.op, ast.And) else sp.Or(*parts)
        if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.BitAnd, ast.BitOr)):
            left = self.condition(node.left, depth + 1)
            right = self.condition(node.right, depth + 1)
            return sp.And(left, right) if isinstance(node.op, ast.BitAnd) else sp.Or(left, right)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.Not, ast.Invert)):
            return sp.Not(self.condition(node.operand, depth + 1))
        raise self.fail("expected a condition (a comparison such as `x > 0`)", node)

    # -- pieces -------------------------------------------------------------------------
    def _count(self, node: ast.AST, depth: int) -> None:
        self.nodes += 1
        if depth > MAX_DEPTH:
            raise self.fail(f"formula nested deeper than {MAX_DEPTH} levels", node)
        if self.nodes > MAX_NODES:
            raise self.fail(f"formula has more than {MAX_NODES} parts")

    def _number(self, node: ast.Constant) -> sp.Expr:
        value = node.value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.fail(f"constant {value!r} is not a real number", node)
        if isinstance(value, int):
            if len(str(abs(value))) > MAX_INTEGER_DIGITS:
                raise self.fail(f"integer literal longer than {MAX_INTEGER_DIGITS} digits", node)
            return sp.Integer(value)
        if value != value or value in (float("inf"), float("-inf")):
            raise self.fail("non-finite literal; write `inf` explicitly", node)
        # The decimal the user wrote, exactly (1.702 -> 851/500), not its binary rounding.
        frac = Fraction(repr(value))
        return sp.Rational(frac.numerator, frac.denominator)

    def _name(self, node: ast.Name) -> sp.Expr:
        name = node.id
        if self.reduction_depth and name == self.reduction_variable:
            return self._bound_symbol()
        if name in self.names:
            return self.names[name]
        if name in _CONSTANTS:
            return _CONSTANTS[name]
        if name == self.reduction_variable:
            raise self.fail(
                f"the row vector {name!r} may only appear inside sum(), max() or min(); "
                f"use {name}_i for the component",
                node,
            )
        if name in _FUNCTIONS or name in ("where", "Piecewise"):
            raise self.fail(f"{name!r} is a function; call it as {name}(...)", node)
        known = list(self.names) + list(_CONSTANTS)
        hint = difflib.get_close_matches(name, known + list(_FUNCTIONS), n=3)
        extra = f"; did you mean {', '.join(hint)}?" if hint else ""
        declared = ", ".join(self.names) or "none"
        raise self.fail(f"unknown name {name!r} (declared: {declared}){extra}", node)

    def _bound_symbol(self) -> sp.Symbol:
        suffix = _BOUND_SUFFIXES[self.reduction_depth - 1]
        return make_symbol(f"{self.reduction_variable}_{suffix}")

    def _binop(self, node: ast.BinOp, depth: int) -> sp.Expr:
        if isinstance(node.op, ast.Pow):
            base = self.value(node.left, depth + 1)
            exponent = self.value(node.right, depth + 1)
            if exponent.is_Number and abs(exponent) > MAX_EXPONENT:
                raise self.fail(f"exponent larger than {MAX_EXPONENT} in absolute value", node)
            if base.is_Number and exponent.is_Number and abs(base) > 1 and exponent.is_Integer:
                if abs(int(exponent)) * float(sp.log(abs(base), 10)) > 4 * MAX_EXPONENT:
                    raise self.fail("numeric power too large", node)
            return self._bounded(_real_power(base, exponent), node)
        op = _BINOPS.get(type(node.op))
        if op is None:
            raise self.fail(f"operator {type(node.op).__name__} is not allowed", node)
        # A chain a + b - c + ... (or a*b/c*...) is one level, not one per operator: Python nests
        # it to the left, so walk the left spine iteratively and convert each operand once.
        family = _CHAIN[type(node.op)]
        spine = []
        left = node
        while isinstance(left, ast.BinOp) and _CHAIN.get(type(left.op)) == family:
            spine.append(left)
            left = left.left
        result = self.value(left, depth + 1)
        for link in reversed(spine):
            self._count(link, depth)
            result = self._bounded(_BINOPS[type(link.op)](result, self.value(link.right, depth + 1)), link)
        return result

    def _bounded(self, result: sp.Expr, node: ast.AST) -> sp.Expr:
        # Exact arithmetic on literals must not build giant integers (memory and time).
        if result.is_Rational and max(abs(result.p), result.q).bit_length() > _MAX_BITS:
            raise self.fail(f"numeric constant larger than 10**{MAX_EXPONENT}", node)
        return result

    def _compare(self, node: ast.Compare, depth: int) -> sp.Basic:
        parts = []
        left = self.value(node.left, depth + 1)
        for op, right_node in zip(node.ops, node.comparators):
            cls = _COMPARISONS.get(type(op))
            if cls is None:
                raise self.fail(f"comparison {type(op).__name__} is not allowed", node)
            right = self.value(right_node, depth + 1)
            parts.append(cls(left, right))
            left = right
        return sp.And(*parts) if len(parts) > 1 else parts[0]

    def _call(self, node: ast.Call, depth: int) -> sp.Expr:
        if not isinstance(node.func, ast.Name):
            raise self.fail("only plain function names may be called", node)
        name = node.func.id
        if node.keywords:
            raise self.fail(f"keyword arguments are not allowed in {name}()", node)
        if any(isinstance(a, ast.Starred) for a in node.args):
            raise self.fail(f"starred arguments are not allowed in {name}()", node)
        args = node.args
        if name == "where":
            return self._where(node, depth)
        if name == "Piecewise":
            return self._piecewise(node, depth)
        if self.reduction_variable and name in _ROW_REDUCTIONS and len(args) == 1:
            if self.reduction_depth >= len(_BOUND_SUFFIXES):
                raise self.fail("row reductions nested too deeply", node)
            self.reduction_depth += 1
            try:
                bound = self._bound_symbol()
                inner = self.value(args[0], depth + 1)
            finally:
                self.reduction_depth -= 1
            return _ROW_REDUCTIONS[name](inner, bound)
        spec = _FUNCTIONS.get(name)
        if spec is None:
            hint = difflib.get_close_matches(name, ALLOWED_FUNCTIONS, n=3)
            extra = f"; did you mean {', '.join(hint)}?" if hint else ""
            raise self.fail(f"function {name!r} is not allowed{extra}", node)
        func, lo, hi = spec
        if len(args) < lo or (hi is not None and len(args) > hi):
            want = f"{lo}" if lo == hi else f"{lo} to {hi}" if hi else f"at least {lo}"
            raise self.fail(f"{name}() takes {want} arguments, got {len(args)}", node)
        return func(*[self.value(a, depth + 1) for a in args])

    def _where(self, node: ast.Call, depth: int) -> sp.Expr:
        args = node.args
        if len(args) < 3 or len(args) % 2 == 0:
            raise self.fail(
                "where() takes (cond1, value1, cond2, value2, ..., otherwise): an odd number "
                "of at least 3 arguments",
                node,
            )
        pairs = []
        for k in range(0, len(args) - 1, 2):
            cond = self.condition(args[k], depth + 1)
            pairs.append((self.value(args[k + 1], depth + 1), cond))
        pairs.append((self.value(args[-1], depth + 1), sp.true))
        return sp.Piecewise(*pairs)

    def _piecewise(self, node: ast.Call, depth: int) -> sp.Expr:
        pairs = []
        for arg in node.args:
            if not (isinstance(arg, ast.Tuple) and len(arg.elts) == 2):
                raise self.fail("Piecewise() takes (value, condition) pairs", arg)
            value = self.value(arg.elts[0], depth + 2)
            pairs.append((value, self.condition(arg.elts[1], depth + 2)))
        if not pairs:
            raise self.fail("Piecewise() needs at least one (value, condition) pair", node)
        return sp.Piecewise(*pairs)


def _check_identifier(name: str, what: str, context: dict[str, str | None]) -> None:
    if not (isinstance(name, str) and name.isidentifier() and name.isascii()):
        raise FormulaError(f"{what} name {name!r} is not a plain identifier", **context)
    if name.startswith("_"):
        raise FormulaError(f"{what} name {name!r} may not start with an underscore", **context)
    if name in _FUNCTIONS or name in _CONSTANTS or name in ("where", "Piecewise"):
        raise FormulaError(f"{what} name {name!r} shadows a function or constant", **context)


def parse_formula(
    text: str,
    variables: Sequence[str] = ("x",),
    params: Iterable[str] = (),
    *,
    reduction_variable: str | None = None,
    source: str | None = None,
    entry: str | None = None,
    field: str | None = None,
) -> sp.Expr:
    """Parse a formula string into a SymPy expression without evaluating any code.

    Parameters
    ----------
    text : str
        The formula, e.g. ``"x/2*erfc(-x/sqrt(2))"`` or ``"where(x > 0, x, alpha*expm1(x))"``.
    variables : sequence of str
        Declared variable names (default ``("x",)``).
    params : iterable of str
        Declared parameter names.
    reduction_variable : str, optional
        For row-wise formulas: the vector name that ``sum()``, ``max()`` and ``min()`` reduce
        over (its running element becomes the symbol ``<name>_j``).
    source, entry, field : str, optional
        Where the formula comes from; quoted in error messages.

    Returns
    -------
    sympy.Expr
        The expression over real symbols (:func:`make_symbol`).

    Raises
    ------
    FormulaError
        For anything outside the grammar, with the offending piece quoted.
    """
    context = {"source": source, "entry": entry, "field": field}
    if not isinstance(text, str):
        raise FormulaError(f"formula must be a string, not {type(text).__name__}", **context)
    if len(text) > MAX_LENGTH:
        raise FormulaError(f"formula longer than {MAX_LENGTH} characters", **context)
    if not text.strip():
        raise FormulaError("formula is empty", formula=text, **context)
    names: dict[str, sp.Symbol] = {}
    for kind, group in (("variable", variables), ("parameter", params)):
        for name in group:
            _check_identifier(name, kind, context)
            if name in names:
                raise FormulaError(f"name {name!r} declared twice", **context)
            names[name] = make_symbol(name)
    try:
        with warnings.catch_warnings():
            # Odd escapes or literals in user text must not leak SyntaxWarnings.
            warnings.simplefilter("ignore")
            tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise FormulaError(
            f"syntax error at column {exc.offset}: {exc.msg}", formula=text, **context
        ) from None
    except (ValueError, RecursionError, MemoryError) as exc:
        raise FormulaError(f"cannot parse: {type(exc).__name__}", formula=text, **context) from None
    converter = _Converter(text.strip(), names, reduction_variable, context)
    try:
        expr = converter.value(tree.body, 0)
    except RecursionError:
        raise FormulaError("formula nested too deeply", formula=text, **context) from None
    if not isinstance(expr, sp.Expr):
        raise FormulaError("formula is not an expression", formula=text, **context)
    problem = _undefined_part(expr)
    if problem:
        raise FormulaError(problem, formula=text, **context)
    return expr


def _real_power(base: sp.Expr, exponent: sp.Expr) -> sp.Expr:
    """``base**exponent``, with a rational exponent of odd denominator read as the real root.

    SymPy's ``x**(1/3)`` is the principal (complex) branch for x < 0, while every numeric
    evaluator takes the real cube root; value and derivative would disagree there. A formula
    means the real function: ``x**(p/q)`` with q odd is ``sign(x)*|x|**(p/q)`` for odd p and
    ``|x|**(p/q)`` for even p (unchanged where SymPy knows the base is nonnegative).
    """
    if (exponent.is_Rational and not exponent.is_Integer and exponent.q % 2 == 1
            and not base.is_nonnegative and not base.is_number):
        magnitude = sp.Pow(sp.Abs(base), exponent)
        return sp.sign(base) * magnitude if exponent.p % 2 else magnitude
    return sp.Pow(base, exponent)


def _undefined_part(expr: sp.Basic, branch_value: bool = False) -> str | None:
    """Why ``expr`` is not a real function, or None.

    Literal arithmetic can produce constants that make the formula meaningless: ``0/0`` and
    ``nan*x`` are NaN everywhere, ``log(0)*x`` and ``1/0`` are complex infinity, ``sqrt(-1)``
    is imaginary. Each would give a value and a derivative that disagree about what the
    function is. ``nan`` stays allowed as the value of a ``where()`` branch (undefined there).
    """
    if expr is sp.nan:
        return None if branch_value else "formula contains an undefined constant (NaN, e.g. 0/0 or nan*x)"
    if expr is sp.zoo:
        return "formula contains complex infinity (e.g. 1/0 or log(0))"
    if expr is sp.I:
        return "formula contains the imaginary unit (e.g. sqrt(-1)); formulas are real functions"
    if isinstance(expr, sp.Piecewise):
        for value, cond in expr.args:
            found = _undefined_part(value, branch_value=True) or _undefined_part(cond)
            if found:
                return found
        return None
    for arg in expr.args:
        found = _undefined_part(arg)
        if found:
            return found
    return None


class _FormulaPrinter(StrPrinter):
    """Prints SymPy expressions back in funclib's formula syntax (``parse_formula`` inverse)."""

    def _print_Heaviside(self, expr):
        return "Heaviside(%s, %s)" % (self._print(expr.args[0]), self._print(expr.args[1]))

    def _print_Piecewise(self, expr):
        parts = []
        for value, cond in expr.args[:-1]:
            parts += [self._print(cond), self._print(value)]
        value, cond = expr.args[-1]
        if cond is sp.true:
            parts.append(self._print(value))
        else:
            # No catch-all branch: outside every condition the formula is undefined (NaN).
            parts += [self._print(cond), self._print(value), "nan"]
        return "where(%s)" % ", ".join(parts)

    def _print_Relational(self, expr):
        return "(%s %s %s)" % (self._print(expr.lhs), expr.rel_op, self._print(expr.rhs))

    def _print_And(self, expr):
        return "(%s)" % " & ".join(self._print(a) for a in expr.args)

    def _print_Or(self, expr):
        return "(%s)" % " | ".join(self._print(a) for a in expr.args)

    def _print_Not(self, expr):
        return "~%s" % self._print(expr.args[0])

    def _print_BooleanTrue(self, expr):
        return "True"

    def _print_BooleanFalse(self, expr):
        return "False"

    def _print_Infinity(self, expr):
        return "inf"

    def _print_NegativeInfinity(self, expr):
        return "-inf"

    def _print_Exp1(self, expr):
        return "E"

    def _print_LambertW(self, expr):
        return "lambertw(%s)" % ", ".join(self._print(a) for a in expr.args)

    def _print_Float(self, expr):
        # Exact decimal of the float so that parsing gives the same number back.
        frac = Fraction(repr(float(expr)))
        return self._print(sp.Rational(frac.numerator, frac.denominator))

    def _row(self, name, expr):
        body, bound = expr.args
        vector = bound.name.rsplit("_", 1)[0]
        return "%s(%s)" % (name, self._print(body.subs(bound, make_symbol(vector))))

    def _print_RowSum(self, expr):
        return self._row("sum", expr)

    def _print_RowMax(self, expr):
        return self._row("max", expr)

    def _print_RowMin(self, expr):
        return self._row("min", expr)


def to_formula(expr: sp.Basic) -> str:
    """Print an expression in the formula syntax, so that ``parse_formula(to_formula(e)) == e``.

    ``Piecewise`` is printed as ``where(...)``, ``Heaviside`` always with its value at 0.
    """
    return _FormulaPrinter({"order": "none"}).doprint(expr)
