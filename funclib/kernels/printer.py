"""Print SymPy expressions as typed, branch-free Numba source for one float dtype.

Every number becomes a module-level constant of the target dtype (``K3 = T(0.70710677)`` with
``T = numpy.float32``), because a bare Python literal is a float64 in Numba and would silently
promote a float32 kernel to float64; integers are never printed as literals either. Exact
numeric subexpressions (``sqrt(2)/2``) are folded and rounded once, correctly, to the target
format. Branches (``where``/``Piecewise``, ``Max``, ``Heaviside``, ``sign``) become selects
between values that are computed beforehand, so loops stay vectorizable.

Function calls go to :mod:`funclib.kernels.mathlib.vecmath` (``accuracy="fast"``) or to
:mod:`funclib.kernels.mathlib.libm` (``accuracy="libm"``), both providing ``NAME_f64``/``NAME_f32``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Protocol

import mpmath
import sympy as sp
from sympy.codegen.cfunctions import expm1, log1p

from ..formula import as_sympy
from ..special import erfc as stable_erfc
from ..special import sigmoid, sinc, sinc_d, softplus
from ..stable_forms import evaluation_form

__all__ = [
    "KernelError", "Printer", "round_to_dtype", "rewrite_for_kernel", "kernel_form", "ErfcScaled", "ExpSq",
    "TanhShrink", "TanhSq",
    "QuotientPrinter", "split_quotient", "print_quotient",
]


class KernelError(ValueError):
    """A formula or request that cannot be turned into a kernel (the message says why)."""


#: SymPy function -> name in vecmath/libm (called as ``mod.NAME_f64``).
_MATH = {
    sp.exp: "exp",
    sp.log: "log",
    log1p: "log1p",
    expm1: "expm1",
    sp.tanh: "tanh",
    sp.erf: "erf",
    sp.erfc: "erfc",
    stable_erfc: "erfc",
    sigmoid: "sigmoid",
    softplus: "softplus",
    sp.cosh: "cosh",
    sp.sinh: "sinh",
}

#: SymPy function -> libm call available for both float32 and float64 in Numba.
_LIBM_ONLY = {
    sp.sin: "math.sin",
    sp.cos: "math.cos",
    sp.tan: "math.tan",
    sp.asin: "math.asin",
    sp.acos: "math.acos",
    sp.atan: "math.atan",
    sp.asinh: "math.asinh",
    sp.acosh: "math.acosh",
    sp.atanh: "math.atanh",
}

#: Gamma functions: libm's double routines; float32 kernels evaluate them in double and round
#: once (see :mod:`funclib.kernels.mathlib.libm`).
_LIBM_GAMMA = {sp.gamma: ("math.gamma", "lm.gamma_f32"), sp.loggamma: ("math.lgamma", "lm.lgamma_f32")}

_MAX_INLINE_POWER = 8


def round_to_dtype(value: sp.Expr, dtype: str) -> float:
    """The exact real ``value`` rounded once to the nearest ``dtype`` number (as a Python float)."""
    prec = 53 if dtype == "float64" else 24
    if value in (sp.oo, -sp.oo):
        return float(value)
    with mpmath.workprec(200):
        v = sp.N(value, 60)
        if v is sp.nan or not v.is_real:
            raise KernelError(f"constant {value} is not a real number")
        m = mpmath.mpf(str(v))
    emin = -1074 if dtype == "float64" else -149
    if m == 0:
        return 0.0
    # round to `prec` significant bits, but never below the subnormal quantum
    e = int(mpmath.floor(mpmath.log(abs(m), 2)))
    quantum = max(e - prec + 1, emin)
    with mpmath.workprec(400):
        rounded = mpmath.nint(m / mpmath.mpf(2) ** quantum) * mpmath.mpf(2) ** quantum
    out = float(rounded)
    limit = 1.7976931348623157e308 if dtype == "float64" else 3.4028234663852886e38
    if abs(out) > limit:
        return float("inf") if out > 0 else float("-inf")
    return out


class Printer:
    """Prints expressions for one dtype; collects constants and hoisted statements.

    Parameters
    ----------
    dtype : {"float64", "float32"}
    accuracy : {"fast", "libm"}
    names : mapping
        Symbol -> source identifier (the input ``xi``, parameters ``p_NAME``, CSE temporaries).
    """

    def __init__(self, dtype: str, accuracy: str, names: Mapping[sp.Symbol, str]):
        if dtype not in ("float64", "float32"):
            raise KernelError(f"dtype must be 'float64' or 'float32', got {dtype!r}")
        if accuracy not in ("fast", "libm"):
            raise KernelError(f"accuracy must be 'fast' or 'libm', got {accuracy!r}")
        self.dtype = dtype
        self.suffix = "f64" if dtype == "float64" else "f32"
        self.module = "vm" if accuracy == "fast" else "lm"
        self.names = dict(names)
        self.constants: dict[float, str] = {}
        self.lines: list[str] = []
        self._hoisted = 0

    # -- constants ------------------------------------------------------------------------
    def const(self, value) -> str:
        """Name of a module-level constant holding ``value`` rounded to the dtype."""
        v = round_to_dtype(as_sympy(value), self.dtype) if not isinstance(value, float) else value
        key = (v, str(v))  # keep 0.0 and -0.0 apart
        if key not in self.constants:
            self.constants[key] = f"K{len(self.constants)}"
        return self.constants[key]

    def constant_lines(self) -> list[str]:
        out = []
        for (v, _), name in self.constants.items():
            text = repr(v) if v == v and v not in (float("inf"), float("-inf")) else f"float({str(v)!r})"
            out.append(f"{name} = T({text})")
        return out

    # -- statements -----------------------------------------------------------------------
    def hoist(self, expr: sp.Basic) -> str:
        """Print ``expr`` into a fresh temporary (so that a select chooses between names)."""
        text = self.expr(expr)
        if text.isidentifier():
            return text
        name = f"h{self._hoisted}"
        self._hoisted += 1
        self.lines.append(f"{name} = {text}")
        return name

    # -- expressions ----------------------------------------------------------------------
    def expr(self, e: sp.Basic) -> str:
        if e in self.names:
            return self.names[e]
        if isinstance(e, sp.Symbol):
            raise KernelError(f"symbol {e} has no value in the kernel (not a variable or parameter)")
        if isinstance(e, (sp.core.relational.Relational, sp.And, sp.Or, sp.Not)) or e in (sp.true, sp.false):
            return self.cond(e)
        if e.is_number:
            if e is sp.nan:
                return self.const(float("nan"))
            if e.has(sp.zoo):
                raise KernelError(f"the formula has a complex infinity ({e})")
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
            return self._maxmin(e)
        if isinstance(e, sp.Abs):
            return f"abs({self.expr(e.args[0])})"
        if isinstance(e, sp.sign):
            u = self.hoist(e.args[0])
            one, zero = self.const(1), self.const(0)
            return f"({one} if {u} > {zero} else (-{one} if {u} < {zero} else {u}))"
        if isinstance(e, sp.Heaviside):
            u = self.hoist(e.args[0])
            h0 = self.const(e.args[1]) if len(e.args) > 1 else self.const(sp.S.Half)
            one, zero = self.const(1), self.const(0)
            return f"({one} if {u} > {zero} else ({zero} if {u} < {zero} else {h0}))"
        if isinstance(e, (sp.floor, sp.ceiling)):
            return f"np.{'floor' if isinstance(e, sp.floor) else 'ceil'}({self.expr(e.args[0])})"
        func = e.func
        if isinstance(e, (ErfcScaled, ExpSq)):
            return self._scaled(e)
        if isinstance(e, (TanhShrink, TanhSq)):
            name = "tanhshrink" if isinstance(e, TanhShrink) else "tanh_sq"
            return f"{self.module}.{name}_{self.suffix}({self.expr(e.args[0])})"
        if func in _MATH:
            return self._math(e)
        if func in _LIBM_ONLY:
            return f"{_LIBM_ONLY[func]}({self.expr(e.args[0])})"
        if isinstance(e, sp.polygamma):
            if e.args[0] != 0:
                raise KernelError(f"polygamma of order {e.args[0]} has no kernel implementation (digamma, order 0, has)")
            return f"lm.digamma_{self.suffix}({self.expr(e.args[1])})"
        if func is sinc or func is sinc_d:
            return self._sinc(e)
        if func in _LIBM_GAMMA:
            f64, f32 = _LIBM_GAMMA[func]
            return f"{f64 if self.dtype == 'float64' else f32}({self.expr(e.args[0])})"
        name = getattr(func, "__name__", str(func))
        raise KernelError(f"function {name!r} has no kernel implementation")

    def _split_values(self, c: sp.Expr) -> tuple[float, float]:
        """A constant as two dtype numbers hi + lo (lo = the rounding error of hi)."""
        hi = round_to_dtype(c, self.dtype)
        return hi, round_to_dtype(sp.N(c, 50) - sp.Float(hi, 50), self.dtype)

    def _split_const(self, c: sp.Expr) -> tuple[str, str]:
        """The names of the constants :meth:`_split_values` gives."""
        hi, lo = self._split_values(c)
        return self.const(hi), self.const(lo)

    def _two_terms(self, c: sp.Expr) -> tuple[float, float] | None:
        """:meth:`_split_values` where the dtype cannot hold ``c`` (a normal, finite ``lo`` and a
        finite ``hi``), else None."""
        hi, lo = self._split_values(c)
        tiny = 2.0**-1022 if self.dtype == "float64" else 2.0**-126
        return (hi, lo) if tiny <= abs(lo) < math.inf and math.isfinite(hi) else None

    def scaled(self, coeff: sp.Expr, text: str) -> str:
        """``coeff * text`` for a positive numeric ``coeff``: rounded once
        (``scale``, an FMA with ``coeff`` split in two) where the dtype cannot hold ``coeff``,
        so the product loses nothing to the constant's rounding (half an ULP) and overflows
        only where the true product does."""
        split = self._two_terms(coeff)
        if split is None or not split[0] > 0:
            return f"{self.const(coeff)} * {text}"
        hi, lo = split
        return f"{self.module}.scale_{self.suffix}({text}, {self.const(hi)}, {self.const(lo)})"

    def _math(self, e: sp.Function) -> str:
        name = _MATH[e.func]
        return f"{self.module}.{name}_{self.suffix}({self.expr(e.args[0])})"

    def _sinc(self, e: sp.Function) -> str:
        # lm in both accuracy modes: its sin/cos are libm calls either way (as for sp.sin)
        order = 0 if isinstance(e, sinc) else int(e.args[0])
        if order > 1:
            raise KernelError(f"sinc_d of order {order} has no kernel implementation (orders 0 and 1 have)")
        name = "sinc" if order == 0 else "sinc_d1"
        return f"lm.{name}_{self.suffix}({self.expr(e.args[-1])})"

    def _scaled(self, e: sp.Function) -> str:
        name = "erfc_scaled" if isinstance(e, ErfcScaled) else "exp_sq"
        hi, lo = self._split_const(e.args[1])
        return f"{self.module}.{name}_{self.suffix}({self.expr(e.args[0])}, {hi}, {lo})"

    def _affine_at_root(self, e: sp.Add) -> str | None:
        """``c*u + b`` as ``c*(u - r)`` when its root :math:`r = -b/c` is a dtype number.

        Next to the root :math:`cu + b` cancels (hard sigmoid :math:`x/6 + 1/2` near
        :math:`x = -3`: millions of ULP); :math:`u - r` is exact there (Sterbenz) and every
        other rounding is relative to the result, so :math:`c(u - r)` stays within about one
        ULP plus the error of :math:`u`.
        """
        if len(e.args) != 2:
            return None
        b, term = (e.args[0], e.args[1]) if e.args[0].is_number else (e.args[1], e.args[0])
        if not b.is_Rational or term.is_number:
            return None
        c, u = term.as_coeff_Mul()
        if not c.is_Rational or abs(c) == 1 or c == 0:
            return None
        r = -b / c
        # a root of at most 2^64 in magnitude: u - r then cannot overflow where c*u + b is finite
        if abs(r) > 2**64 or sp.Rational(round_to_dtype(r, self.dtype)) != r:
            return None
        shifted = f"({self.expr(u)} - {self.const(r)})" if r > 0 else f"({self.expr(u)} + {self.const(-r)})"
        return f"({'-' if c < 0 else ''}{self.scaled(abs(c), shifted)})"

    def _add(self, e: sp.Add) -> str:
        affine = self._affine_at_root(e)
        if affine is not None:
            return affine
        numeric = [a for a in e.args if a.is_number]
        rest = [a for a in e.args if not a.is_number]
        parts: list[str] = []
        for term in rest:
            coeff, _ = term.as_coeff_Mul()
            if coeff.is_number and coeff < 0:
                parts.append(f"- {self.expr(-term)}")
            else:
                parts.append(f"+ {self.expr(term)}")
        low = None
        if numeric:
            total = sp.Add(*numeric)
            if not total.is_Rational and total.is_real and total != 0:
                # an irrational constant b (pi - x): b_hi + rest is exact where rest ~ -b_hi
                # (Sterbenz), and b_lo = b - b_hi restores the digits a one-term b loses there
                split = self._two_terms(total)
                if split is not None:
                    total, low = sp.Float(split[0]), split[1]
            if total.is_number and total < 0:
                parts.append(f"- {self.const(-total)}")
            elif total != 0:
                parts.append(f"+ {self.const(total)}")
        text = " ".join(parts)
        text = text[2:] if text.startswith("+ ") else "-" + text[2:]
        if low is not None:
            return f"(({text}) {'-' if low < 0 else '+'} {self.const(abs(low))})"
        return f"({text})"

    def _mul(self, e: sp.Mul) -> str:
        coeff, rest = e.as_coeff_Mul()
        if coeff != 1 and isinstance(rest, sp.Piecewise):
            # c * Piecewise: c goes into every arm, where it merges with the arm's own
            # coefficient (SELU's lambda * alpha * expm1(x)): one rounded product, not two
            return self._piecewise(sp.Piecewise(*[(coeff * v, c) for v, c in rest.args], evaluate=False))
        return print_quotient(self, e, keep=_is_sech_power)  # cosh(u)**-k prints as sech powers

    def hoist_text(self, text: str) -> str:
        """Assign printed ``text`` to a fresh temporary (a statement before the current one)."""
        if text.isidentifier():
            return text
        name = f"h{self._hoisted}"
        self._hoisted += 1
        self.lines.append(f"{name} = {text}")
        return name

    def select(self, cond: str, a: str, b: str) -> str:
        """``a`` where the printed condition holds, else ``b`` (both computed)."""
        return f"({a} if {cond} else {b})"

    def finite(self, text: str) -> str:
        """The condition ``|text| < inf``."""
        return f"abs({text}) < {self.const(float('inf'))}"

    def _pow(self, e: sp.Pow) -> str:
        base, ex = e.base, e.exp
        if _is_sech_power(e):
            k = int(-ex)
            s2 = f"{self.module}.sech2_{self.suffix}({self.expr(base.args[0])})"
            if k % 2 == 0:
                return _repeat(s2, k // 2, self) if k > 2 else s2
            inv_cosh = f"({self.const(1)} / {self.module}.cosh_{self.suffix}({self.expr(base.args[0])}))"
            return f"({_repeat(s2, k // 2, self)} * {inv_cosh})" if k > 1 else inv_cosh
        if ex.is_Integer:
            n = int(ex)
            if n == 0:
                return self.const(1)
            b = self.hoist(base) if abs(n) > 1 else self.expr(base)
            if abs(n) <= _MAX_INLINE_POWER:
                prod = _repeat(b, abs(n), self)
            else:
                prod = f"({b} ** {self.const(abs(n))})"
            if n > 0:
                return prod
            one = self.const(1)
            if n == -1 or abs(n) > _MAX_INLINE_POWER:
                return f"({one} / {prod})"
            # 1/b**n with b**n overflowing (softsign' = (1 + |x|)**-2 at |x| > 1e154) is
            # (1/b)**n, whose intermediates stay finite; elsewhere 1/b**n (one rounding fewer)
            recip = _repeat(f"({one} / {b})", abs(n), self)
            return f"(({one} / {prod}) if {prod} < {self.const(float('inf'))} else {recip})"
        if ex == sp.S.Half:
            return f"math.sqrt({self.expr(base)})"
        if ex == -sp.S.Half:
            return f"({self.const(1)} / math.sqrt({self.expr(base)}))"
        if ex == sp.Rational(1, 3):
            # a cube root, real and odd for negative b (pow(|b|, 1/3) with 1/3 rounded is tens of
            # ULP): Numba's float32 np.cbrt is within half an ULP, its float64 one up to 3 ULP,
            # which lm.cbrt_f64 corrects by one Newton step
            if self.dtype == "float64":
                return f"lm.cbrt_f64({self.expr(base)})"
            return f"np.cbrt({self.expr(base)})"
        if _is_small_thirds(ex):
            # b**(p/3) through cbrt (lm.cbrt_pow: pow with p/3 rounded is hundreds of ULP off
            # at large |ln b|); the selector p is an integer argument, not a dtype constant
            return f"lm.cbrt_pow_{self.suffix}({self.expr(base)}, {int(ex * 3)})"
        if base == sp.E:
            return self._math(sp.exp(ex, evaluate=False))
        if ex.is_number:
            return f"({self.expr(base)} ** {self.const(ex)})"
        return f"({self.expr(base)} ** {self.expr(ex)})"

    def _piecewise(self, e: sp.Piecewise) -> str:
        arms = [(self.hoist(v), c) for v, c in e.args]
        text = None
        for value, cond in reversed(arms):
            if text is None:
                if cond is not sp.true:
                    text = self.const(float("nan"))
                else:
                    text = value
                    continue
            text = f"({value} if {self.cond(cond)} else {text})"
        return text

    def _maxmin(self, e) -> str:
        args = [self.hoist(a) for a in e.args]
        op = ">=" if isinstance(e, sp.Max) else "<="
        text = args[0]
        for a in args[1:]:
            name = f"h{self._hoisted}"
            self._hoisted += 1
            self.lines.append(f"{name} = ({text} if {text} {op} {a} else {a})")
            text = name
        return text

    def cond(self, c: sp.Basic) -> str:
        """A boolean expression."""
        if c in self.names:
            return self.names[c]
        if c is sp.true:
            return "True"
        if c is sp.false:
            return "False"
        if isinstance(c, sp.And):
            return "(" + " & ".join(self.cond(a) for a in c.args) + ")"
        if isinstance(c, sp.Or):
            return "(" + " | ".join(self.cond(a) for a in c.args) + ")"
        if isinstance(c, sp.Not):
            return f"(not {self.cond(c.args[0])})"
        if isinstance(c, sp.core.relational.Relational):
            ops = {"<": "<", "<=": "<=", ">": ">", ">=": ">=", "==": "==", "!=": "!="}
            return f"({self.expr(c.lhs)} {ops[c.rel_op]} {self.expr(c.rhs)})"
        raise KernelError(f"cannot print condition {c}")


class QuotientPrinter(Protocol):
    """What :func:`print_quotient` needs of a printer (the kernels' :class:`Printer` and the
    export's :class:`~funclib.export.printers.ExprPrinter`): they differ in how they print
    constants, hoist temporaries and select."""

    def expr(self, e: sp.Basic) -> str: ...

    def const(self, value) -> str: ...

    def hoist(self, e: sp.Basic) -> str: ...

    def hoist_text(self, text: str) -> str: ...

    def select(self, cond: str, a: str, b: str) -> str: ...

    def finite(self, text: str) -> str: ...

    def scaled(self, coeff: sp.Expr, text: str) -> str: ...


def split_quotient(
    e: sp.Mul, keep: Callable[[sp.Basic], bool] = lambda factor: False,
) -> tuple[bool, sp.Expr, list[tuple[sp.Expr, sp.Expr | None]]]:
    r"""A product as :math:`\pm c \prod_i n_i / \prod_j d_j^{k_j}`.

    Returns ``(negative, c, factors)``: the sign, the positive numeric coefficient ``c`` and the
    other factors in their order, ``(n, None)`` for a numerator factor and ``(d, k)`` (``k > 0``)
    for a denominator ``d**k``. A negative power for which ``keep(factor)`` holds stays a
    numerator factor (the kernels print ``cosh(u)**-2`` as ``sech2(u)``).
    """
    coeff = sp.Mul(*[a for a in e.args if a.is_number])
    negative = bool(coeff.is_real and coeff < 0)
    factors = []
    for a in e.args:
        if a.is_number:
            continue
        if isinstance(a, sp.Pow) and a.exp.is_number and a.exp.is_negative and not keep(a):
            factors.append((a.base, -a.exp))
        else:
            factors.append((a, None))
    return negative, (-coeff if negative else coeff), factors


def print_quotient(p: QuotientPrinter, e: sp.Mul, keep: Callable[[sp.Basic], bool] = lambda factor: False) -> str:
    r"""Print the product ``e`` (split by :func:`split_quotient`) as ``c * n / d``.

    A denominator :math:`u^k` with an integer :math:`1 < k \le 8` is written as a product of
    the hoisted :math:`u`, and the quotient is guarded: :math:`c/u^k` overflows in :math:`u^k`
    (:math:`|u| > 1.3\cdot10^{154}` in float64 for k = 2) although the quotient is finite, so
    where the denominator is not finite :math:`c \cdot (1/u)^k` is taken instead, multiplied
    into the numerator one factor :math:`1/u` at a time: :math:`(1/u)^k` alone can underflow
    (float32, k = 2: :math:`|u| > 2^{64}`) where the quotient is a normal number
    (:math:`2x/(3 + x^2)^2` at :math:`x = -1.5\cdot10^{11}`).
    """
    negative, coeff, factors = split_quotient(e, keep)
    num, den, recips = [], [], []
    powered = False
    for factor, k in factors:
        if k is None:
            num.append(p.expr(factor))
        elif k.is_Integer and 1 < k <= _MAX_INLINE_POWER:
            b = p.hoist(factor)
            den.append(_repeat(b, int(k), p))
            recips.extend([f"({p.const(1.0)} / {b})"] * int(k))
            powered = True
        else:
            d = p.expr(sp.Pow(factor, k))
            den.append(d)
            recips.append(f"({p.const(1.0)} / {d})")
    sign = "-" if negative else ""
    if not den:
        if not num:
            return f"({sign}{p.const(coeff)})"
        text = " * ".join(num)
        if coeff == 1:
            return f"({sign}{text})"
        return f"({sign}{p.scaled(coeff, text)})"
    # the coefficient multiplies the quotient, not the numerator: c*n can lose a subnormal n's
    # bits (asinh(x)/24 is 0 at x = 2.5e-323) or overflow where n/d is of the function's scale
    text = " * ".join(num) if num else p.const(1.0)
    if powered:
        prod = p.hoist_text("(" + " * ".join(den) + ")" if len(den) > 1 else den[0])
        safe = f"({text} * " + " * ".join(recips) + ")"
        quotient = p.select(p.finite(prod), f"({text} / {prod})", safe)
    else:
        quotient = f"({text} / " + ("(" + " * ".join(den) + ")" if len(den) > 1 else den[0]) + ")"
    return f"({sign}{p.scaled(coeff, quotient)})" if coeff != 1 else f"({sign}{quotient})"


class ErfcScaled(sp.Function):
    """``erfc(c*u)`` for a numeric constant ``c`` (printed as ``erfc_scaled(u, c_hi, c_lo)``)."""

    nargs = 2


class ExpSq(sp.Function):
    """``exp(c*u**2)`` for a numeric constant ``c`` (printed as ``exp_sq(u, c_hi, c_lo)``)."""

    nargs = 2


class TanhShrink(sp.Function):
    """``u - tanh(u)`` (printed as ``tanhshrink(u)``: no cancellation next to 0, where the
    difference is about u**3/3)."""

    nargs = 1


class TanhSq(sp.Function):
    """``tanh(u)**2`` (printed as ``tanh_sq(u)``: in float32 through float64 and rounded once, since
    squaring a float32 tanh doubles its error)."""

    nargs = 1


def _is_even_tanh_power(e: sp.Basic) -> bool:
    return isinstance(e, sp.Pow) and isinstance(e.base, sp.tanh) and e.exp.is_Integer and int(e.exp) % 2 == 0


def _tanh_square(e: sp.Pow) -> sp.Expr:
    """``tanh(u)**(2k)`` as ``tanh_sq(u)**k`` (marked before CSE splits the square off)."""
    return TanhSq(e.base.args[0]) ** (int(e.exp) // 2)


def _tanhshrink_sum(e: sp.Add) -> sp.Expr:
    r"""A sum with terms :math:`k u` and :math:`-k\tanh u` (numeric k) as
    :math:`k\,\mathrm{tanhshrink}(u)` plus the other terms: written as a difference, the two
    terms cancel to nothing next to :math:`u = 0` (tanhshrink's value is all rounding error
    below :math:`|x| \approx 10^{-4}` in float32)."""
    for term in e.args:
        k, rest = term.as_coeff_Mul()
        if isinstance(rest, sp.tanh) and k.is_number:
            partner = -k * rest.args[0]
            if partner in e.args:
                return e - term - partner - k * TanhShrink(rest.args[0])
    return e


def _split_product(arg: sp.Expr) -> tuple[sp.Expr, sp.Expr] | None:
    """``arg = c * u`` with ``c`` numeric (not ±1) and ``u`` not: return ``(c, u)``."""
    if not isinstance(arg, sp.Mul):
        return None
    c = sp.Mul(*[a for a in arg.args if a.is_number])
    u = sp.Mul(*[a for a in arg.args if not a.is_number])
    if c in (1, -1) or u.is_number:
        return None
    return c, u


def rewrite_for_kernel(expr: sp.Expr) -> sp.Expr:
    """Mark the patterns the math library evaluates double-length: ``erfc(c*u)`` and
    ``exp(c*u**2)`` (exact GELU and its derivative), ``u - tanh(u)`` (tanhshrink) and
    ``tanh(u)**2``. Done before CSE so that the product is not split off into a rounded
    temporary. The exact rewrites of cancelling sums come before this, from the calculus layer
    (:func:`funclib.stable_forms.evaluation_form`): this only chooses library routines."""

    # the constant travels as a 50-digit Float: an atom, so CSE cannot split it off
    def erfc_rule(e):
        split = _split_product(e.args[0])
        return ErfcScaled(split[1], sp.N(split[0], 50)) if split else e

    def exp_rule(e):
        # c = -1 too (erf's derivative exp(-x**2)): rounding x**2 costs x**2 ULP of the result
        c, u = e.args[0].as_coeff_Mul()
        if c != 0 and isinstance(u, sp.Pow) and u.exp == 2 and not u.base.is_number:
            return ExpSq(u.base, sp.N(c, 50))
        return e

    expr = expr.replace(lambda e: isinstance(e, (sp.erfc, stable_erfc)), erfc_rule)
    expr = expr.replace(lambda e: isinstance(e, sp.exp), exp_rule)
    expr = expr.replace(lambda e: isinstance(e, sp.Add) and e.has(sp.tanh), _tanhshrink_sum)
    return expr.replace(_is_even_tanh_power, _tanh_square)


def kernel_form(expr: sp.Expr, x: sp.Symbol) -> sp.Expr:
    """What the printers print for an output: its evaluation form
    (:func:`funclib.stable_forms.evaluation_form`) with the library routines marked
    (:func:`rewrite_for_kernel`)."""
    return rewrite_for_kernel(evaluation_form(expr, x))


def _is_small_thirds(ex: sp.Expr) -> bool:
    """``p/3`` with ``p`` in {±1, ±2, ±4}: exponents that ``cbrt`` and a few products give."""
    return ex.is_Rational and ex.q == 3 and abs(ex.p) in (1, 2, 4) and ex != sp.Rational(1, 3)


def _is_sech_power(e: sp.Basic) -> bool:
    return (
        isinstance(e, sp.Pow)
        and isinstance(e.base, sp.cosh)
        and e.exp.is_Integer
        and e.exp < 0
    )


def _repeat(b: str, n: int, printer: Printer) -> str:
    if n == 1:
        return b
    return "(" + " * ".join([b] * n) + ")"
