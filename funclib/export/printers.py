"""Print the kernels' stabilized SymPy expressions as source text of another language.

:class:`ExprPrinter` holds what every target shares (sums, products with the kernels' guard
against an overflowing denominator, integer powers by multiplication, ``Piecewise`` as nested
selects, the kernel rewrites ``ErfcScaled``/``ExpSq``); a target supplies numbers, selects,
boolean operators and a table from funclib's function names to its own. A function missing
from the table is refused with :class:`~funclib.export.plan.ExportError` naming it and the
target. Only SymPy trees are printed (no text from the user reaches the output except through
the allow-list parser and :func:`funclib.formula.to_formula`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import sympy as sp
from sympy.codegen.cfunctions import expm1, log1p

from ..formula import as_sympy
from ..kernels.printer import ErfcScaled, ExpSq, TanhShrink, TanhSq, print_quotient, round_to_dtype
from ..special import erfc as stable_erfc
from ..special import sigmoid, softplus
from .plan import ExportError

__all__ = ["ExprPrinter", "FUNCTIONS", "HELPERS"]

#: SymPy function -> funclib's name for it (the key of each target's table).
FUNCTIONS: dict[type, str] = {
    sp.exp: "exp", sp.log: "log", log1p: "log1p", expm1: "expm1",
    sp.sin: "sin", sp.cos: "cos", sp.tan: "tan", sp.sinh: "sinh", sp.cosh: "cosh", sp.tanh: "tanh",
    sp.asin: "asin", sp.acos: "acos", sp.atan: "atan", sp.asinh: "asinh", sp.acosh: "acosh", sp.atanh: "atanh",
    sp.erf: "erf", sp.erfc: "erfc", stable_erfc: "erfc", sp.gamma: "gamma", sp.loggamma: "lgamma",
    sp.floor: "floor", sp.ceiling: "ceil", sp.Abs: "abs",
    sigmoid: "sigmoid", softplus: "softplus",
}

#: Functions every target defines in the exported module (overflow-free forms, as the kernels).
HELPERS = ("sigmoid", "softplus")

_MAX_INLINE_POWER = 8


class ExprPrinter:
    """Prints expressions of one target; hoisted statements collect in :attr:`lines`.

    Subclasses define :meth:`number`, :meth:`select`, :meth:`logic`, :meth:`assign` and
    :attr:`table` (funclib function name -> callable text, or absent).
    """

    target = "?"
    table: Mapping[str, str] = {}
    dtype = "float64"

    def __init__(self, names: Mapping[sp.Basic, str]):
        self.names = dict(names)
        self.lines: list[str] = []
        self.used: set[str] = set()  # helper functions the printed code calls
        self.constants: set[str] = set()  # texts that are plain numbers
        self._hoisted = 0

    # -- target hooks ---------------------------------------------------------------------
    def number(self, value: float) -> str:
        raise NotImplementedError

    def select(self, cond: str, a: str, b: str) -> str:
        raise NotImplementedError

    def logic(self, op: str, args: list[str]) -> str:
        """``op`` in ``and``, ``or``, ``not``, ``true``, ``false``."""
        raise NotImplementedError

    def assign(self, name: str, text: str, boolean: bool = False) -> str:
        raise NotImplementedError

    # -- shared ---------------------------------------------------------------------------
    def const(self, value) -> str:
        v = value if isinstance(value, float) else round_to_dtype(as_sympy(value), self.dtype)
        text = self.number(v)
        self.constants.add(text)
        return text

    def scaled(self, coeff, text: str) -> str:
        """``coeff * text`` (the kernels round the product once; the exported source stays plain)."""
        return f"{self.const(coeff)} * {text}"

    def call(self, name: str, *args: str) -> str:
        fn = self.table.get(name)
        if fn is None:
            raise ExportError(f"function {name!r} has no {self.target} printer")
        if name in HELPERS:
            self.used.add(name)
        return f"{fn}({', '.join(args)})"

    def hoist(self, e: sp.Basic) -> str:
        text = self.expr(e)
        if text.isidentifier() or text in self.constants:
            return text
        name = f"h{self._hoisted}"
        self._hoisted += 1
        self.lines.append(self.assign(name, text))
        return name

    def expr(self, e: sp.Basic) -> str:  # noqa: C901 - one case per node type
        if e in self.names:
            return self.names[e]
        if isinstance(e, sp.Symbol):
            raise ExportError(f"symbol {e} has no value in the exported code")
        if isinstance(e, (sp.core.relational.Relational, sp.And, sp.Or, sp.Not)) or e in (sp.true, sp.false):
            return self.cond(e)
        if e.is_number:
            if e is sp.nan:
                return self.const(math.nan)
            if e.has(sp.zoo) or not (e.is_real or e.is_infinite):
                raise ExportError(f"the formula has a non-real constant ({e})")
            return self.const(e)
        if isinstance(e, sp.Add):
            return self._add(e)
        if isinstance(e, sp.Mul):
            return self._mul(e)
        if isinstance(e, sp.Pow):
            return self._pow(e)
        if isinstance(e, sp.Piecewise):
            return self._piecewise(e)
        if isinstance(e, (sp.Max, sp.Min)):
            args = [self.hoist(a) for a in e.args]
            out = args[0]
            for a in args[1:]:
                op = ">=" if isinstance(e, sp.Max) else "<="
                out = self.hoist_text(self.select(f"({out} {op} {a})", out, a))
            return out
        if isinstance(e, sp.sign):
            u = self.hoist(e.args[0])
            one, zero = self.const(1.0), self.const(0.0)
            return self.select(f"({u} > {zero})", one, self.select(f"({u} < {zero})", self.const(-1.0), u))
        if isinstance(e, sp.Heaviside):
            u = self.hoist(e.args[0])
            h0 = self.const(e.args[1] if len(e.args) > 1 else sp.S.Half)
            one, zero = self.const(1.0), self.const(0.0)
            return self.select(f"({u} > {zero})", one, self.select(f"({u} < {zero})", zero, h0))
        if isinstance(e, ErfcScaled):  # erfc(c*u): the kernels split c in two; here c is one number
            return self.call("erfc", self.expr(sp.Mul(e.args[1], e.args[0], evaluate=False)))
        if isinstance(e, TanhShrink):  # no stable form in the targets' libraries: the difference
            u = self.hoist(e.args[0])
            return f"({u} - {self.call('tanh', u)})"
        if isinstance(e, TanhSq):  # the square of the target's tanh
            t = self.hoist_text(self.call("tanh", self.expr(e.args[0])))
            return f"({t} * {t})"
        if isinstance(e, ExpSq):
            u = self.hoist(e.args[0])
            return self.call("exp", f"({self.const(e.args[1])} * {u} * {u})")
        if isinstance(e, sp.polygamma):
            if e.args[0] != 0:
                raise ExportError(f"polygamma of order {e.args[0]} has no {self.target} printer")
            return self.call("digamma", self.expr(e.args[1]))
        name = FUNCTIONS.get(e.func)
        if name is None:
            raise ExportError(f"function {getattr(e.func, '__name__', e.func)!r} has no {self.target} printer")
        return self.call(name, *[self.expr(a) for a in e.args])

    def hoist_text(self, text: str) -> str:
        """Assign printed ``text`` to a fresh temporary; its name."""
        name = f"h{self._hoisted}"
        self._hoisted += 1
        self.lines.append(self.assign(name, text))
        return name

    def _add(self, e: sp.Add) -> str:
        parts = []
        for term in sorted(e.args, key=lambda a: a.is_number):  # the constant last, as the kernels
            coeff, _ = term.as_coeff_Mul()
            if coeff.is_number and coeff.is_real and coeff < 0:
                parts.append(f"- {self.expr(-term)}")
            else:
                parts.append(f"+ {self.expr(term)}")
        text = " ".join(parts)
        return "(" + (text[2:] if text.startswith("+ ") else "-" + text[2:]) + ")"

    def _mul(self, e: sp.Mul) -> str:
        return print_quotient(self, e)  # the kernels' guard against an overflowing denominator

    def finite(self, text: str) -> str:
        """The condition ``|text| < inf``."""
        return f"({self.call('abs', text)} < {self.const(math.inf)})"

    def _pow(self, e: sp.Pow) -> str:
        base, ex = e.base, e.exp
        if base == sp.E:
            return self.call("exp", self.expr(ex))
        if ex.is_Integer:
            n = int(ex)
            if n == 0:
                return self.const(1.0)
            b = self.hoist(base) if abs(n) > 1 else self.expr(base)
            prod = _repeat(b, abs(n)) if abs(n) <= _MAX_INLINE_POWER else self.call("pow", b, self.const(float(abs(n))))
            if n > 0:
                return prod
            one = self.const(1.0)
            if n == -1 or abs(n) > _MAX_INLINE_POWER:
                return f"({one} / {prod})"
            p = self.hoist_text(prod)
            return self.select(self.finite(p), f"({one} / {p})", _repeat(f"({one} / {b})", abs(n)))
        if ex == sp.S.Half:
            return self.call("sqrt", self.expr(base))
        if ex == -sp.S.Half:
            return f"({self.const(1.0)} / {self.call('sqrt', self.expr(base))})"
        if ex == sp.Rational(1, 3):
            return self.call("cbrt", self.expr(base))
        return self.call("pow", self.expr(base), self.const(ex) if ex.is_number else self.expr(ex))

    def _piecewise(self, e: sp.Piecewise) -> str:
        text = None
        for value, cond in reversed(e.args):
            v = self.expr(value)
            if text is None:
                text = v if cond is sp.true else self.select(self.cond(cond), v, self.const(math.nan))
                continue
            text = self.select(self.cond(cond), v, text)
        return text

    def cond(self, c: sp.Basic) -> str:
        if c in self.names:
            return self.names[c]
        if c is sp.true or c is sp.false:
            return self.logic("true" if c is sp.true else "false", [])
        if isinstance(c, (sp.And, sp.Or)):
            return self.logic("and" if isinstance(c, sp.And) else "or", [self.cond(a) for a in c.args])
        if isinstance(c, sp.Not):
            return self.logic("not", [self.cond(c.args[0])])
        if isinstance(c, sp.core.relational.Relational):
            return f"({self.expr(c.lhs)} {c.rel_op} {self.expr(c.rhs)})"
        raise ExportError(f"cannot print the condition {c}")


def _repeat(b: str, n: int) -> str:
    return b if n == 1 else "(" + " * ".join([b] * n) + ")"
