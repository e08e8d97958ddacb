"""Compilation of SymPy trees into closures that evaluate an enclosure on a box."""

from __future__ import annotations

import itertools
import math
from fractions import Fraction
from typing import Callable, Optional

import mpmath
import sympy as sp
from flint import arb

from .endpoints import DEFAULT_PREC, hull, Interval, IntervalDomainError, IntervalError, lower_end, NEG_INF, Number, ONE, POS_INF, upper_end, working_precision, ZERO
from .arithmetic import add_iv, mul_iv, pow_const_iv, pow_int_iv, sqrt_iv
from .functions import JUMPS, max_iv, min_iv, pow_var_iv, step_values, unary_for
from .sinc import sinc_iv
from ..sinc import sinc_d


# --------------------------------------------------------------------------------------------
# Compilation of SymPy trees into closures
# --------------------------------------------------------------------------------------------


class State:
    """Per-evaluation memo of shared subtrees and the continuity flag.

    ``irregular`` is set when continuity of the expression on the box is not certified: a
    non-finite intermediate enclosure (pole, overflow), a jump function that is not constant
    on the box, or a ``Piecewise`` with more than one possible branch.
    """

    __slots__ = ("memo", "irregular")

    def __init__(self) -> None:
        self.memo: dict[int, Interval] = {}
        self.irregular = False


_Eval = Callable[[Interval, State], Interval]
_Truth = Callable[[Interval, State], Optional[bool]]
_Restrict = Callable[[Interval, bool], Optional[Interval]]

DUMMY_BOX = Interval(ZERO, ZERO)


def _identity(box: Interval, st: State) -> Interval:
    return box


def _constant(value: Interval) -> _Eval:
    def ev(box: Interval, st: State) -> Interval:
        return value

    return ev


def _eval_on(ev: Callable, region: Interval, box: Interval, st: State):
    """Evaluate on a sub-box: a fresh memo unless the region is the box itself."""
    if region is box:
        return ev(box, st)
    sub = State()
    out = ev(region, sub)
    st.irregular = st.irregular or sub.irregular
    return out


class Compiler:
    """Turns a SymPy expression in ``x`` into a tree of closures (shared subtrees compiled once)."""

    def __init__(self, x: sp.Symbol) -> None:
        self.x = x
        self.cache: dict[sp.Basic, _Eval] = {}
        self.keys = itertools.count()

    # -- expressions ---------------------------------------------------------------------

    def expr(self, e: sp.Basic) -> _Eval:
        hit = self.cache.get(e)
        if hit is None:
            hit = self._build(e)
            self.cache[e] = hit
        return hit

    def _build(self, e: sp.Basic) -> _Eval:
        if e == self.x:
            return _identity
        if e.is_Number or isinstance(e, sp.NumberSymbol):
            return _constant(_number(e))
        node = self._node(e)
        if self.x not in e.free_symbols:
            # Constant subtree: fold it once, at compile precision.
            return _constant(node(DUMMY_BOX, State()))
        return self._memoized(node, isinstance(e, JUMPS))

    def _memoized(self, node: _Eval, jump: bool) -> _Eval:
        key = next(self.keys)

        def ev(box: Interval, st: State) -> Interval:
            memo = st.memo
            out = memo.get(key)
            if out is None:
                out = node(box, st)
                memo[key] = out
                if not (out.lo.is_finite() and out.hi.is_finite()) or (
                    jump and not out.is_point
                ):
                    st.irregular = True
            return out

        return ev

    def _node(self, e: sp.Basic) -> _Eval:
        if isinstance(e, sp.Add):
            return self._fold(e.args, add_iv)
        if isinstance(e, sp.Mul):
            return self._fold(e.args, mul_iv)
        if isinstance(e, sp.Pow):
            return self._pow(e)
        if isinstance(e, sp.Piecewise):
            return self._piecewise(e)
        if isinstance(e, sp.Heaviside):
            return self._heaviside(e)
        if isinstance(e, (sp.Max, sp.Min)):
            op = max_iv if isinstance(e, sp.Max) else min_iv
            kids = [self.expr(a) for a in e.args]
            return lambda box, st: op([k(box, st) for k in kids])
        if isinstance(e, sinc_d):  # the order is an integer, not an interval
            order, kid = int(e.args[0]), self.expr(e.args[1])
            return lambda box, st: sinc_iv(order, kid(box, st))
        fn = unary_for(type(e))
        if fn is not None:
            if len(e.args) != 1:
                raise IntervalError(f"{type(e).__name__} with {len(e.args)} arguments")
            kid = self.expr(e.args[0])
            return lambda box, st: fn(kid(box, st))
        if isinstance(e, sp.Symbol):
            raise IntervalError(f"free symbol {e} (substitute parameters first)")
        raise IntervalError(f"unsupported in interval evaluation: {_name(e)}")

    def _fold(self, args: tuple, op: Callable[[Interval, Interval], Interval]) -> _Eval:
        kids = [self.expr(a) for a in args]
        first, rest = kids[0], kids[1:]

        def ev(box: Interval, st: State) -> Interval:
            acc = first(box, st)
            for k in rest:
                acc = op(acc, k(box, st))
            return acc

        return ev

    def _pow(self, e: sp.Pow) -> _Eval:
        base, expo = e.args
        kb = self.expr(base)
        if self.x not in expo.free_symbols:
            n = _integer_exponent(expo)
            if n is not None:
                return lambda box, st: pow_int_iv(kb(box, st), n)
            if expo == sp.S.Half:
                return lambda box, st: sqrt_iv(kb(box, st))
            positive = bool(expo.is_positive)
            if not (positive or expo.is_negative):
                raise IntervalError(f"exponent of unknown sign in {e}")
            p = _const_value(self, expo)
            return lambda box, st: pow_const_iv(kb(box, st), p, positive)
        kg = self.expr(expo)
        return lambda box, st: pow_var_iv(kb(box, st), kg(box, st))

    def _heaviside(self, e: sp.Heaviside) -> _Eval:
        r"""SymPy's Heaviside: 0 for :math:`t < 0`, :math:`H_0` (default 1/2) at 0, 1 for t > 0."""
        kid = self.expr(e.args[0])
        h0 = e.args[1] if len(e.args) > 1 else sp.S.Half
        defined_at_0 = h0 is not sp.nan
        at0 = _const_value(self, h0) if defined_at_0 else Interval(ZERO, ZERO)

        def ev(box: Interval, st: State) -> Interval:
            t = kid(box, st)
            if not defined_at_0 and t.lo <= 0 <= t.hi:
                raise IntervalDomainError("Heaviside(0, nan) is undefined")
            return step_values(t, ZERO, at0, ONE)

        return ev

    # -- Piecewise -------------------------------------------------------------------------

    def _piecewise(self, e: sp.Piecewise) -> _Eval:
        pieces = [(self.expr(p.expr), *self.cond(p.cond)) for p in e.args]

        def ev(box: Interval, st: State) -> Interval:
            return _piecewise_eval(pieces, box, st)

        return ev

    def cond(self, c: sp.Basic) -> tuple[_Truth, _Restrict]:
        r"""Three-valued truth of a condition on a box, and a restriction of the box to it.

        ``truth(box)`` is True (holds on the whole box), False (nowhere) or None (unknown).
        ``restrict(box, want)`` is a sub-interval containing every point of the box where the
        condition equals ``want`` (None when there is none); conditions that are not linear in
        ``x`` do not restrict.
        """
        if c is sp.true:
            return (lambda box, st: True), (lambda box, want: box if want else None)
        if c is sp.false:
            return (lambda box, st: False), (lambda box, want: None if want else box)
        if isinstance(c, sp.Not):
            t, r = self.cond(c.args[0])
            return (lambda box, st: _not(t(box, st))), (lambda box, want: r(box, not want))
        if isinstance(c, (sp.And, sp.Or)):
            return self._junction(c)
        if isinstance(c, sp.core.relational.Relational):
            return self._relational(c)
        raise IntervalError(f"unsupported condition in Piecewise: {_name(c)}")

    def _junction(self, c: sp.Basic) -> tuple[_Truth, _Restrict]:
        parts = [self.cond(a) for a in c.args]
        is_and = isinstance(c, sp.And)

        def truth(box: Interval, st: State) -> Optional[bool]:
            vals = [t(box, st) for t, _ in parts]
            return _kleene_and(vals) if is_and else _kleene_or(vals)

        def restrict(box: Interval, want: bool) -> Optional[Interval]:
            # And=True and Or=False intersect; And=False and Or=True take the hull.
            if want == is_and:
                region: Optional[Interval] = box
                for _, r in parts:
                    region = r(region, want) if region is not None else None
                return region
            found = [p for p in (r(box, want) for _, r in parts) if p is not None]
            return hull(found) if found else None

        return truth, restrict

    def _relational(self, c: sp.Basic) -> tuple[_Truth, _Restrict]:
        kind = {sp.StrictLessThan: "lt", sp.LessThan: "le", sp.StrictGreaterThan: "gt",
                sp.GreaterThan: "ge", sp.Equality: "eq", sp.Unequality: "ne"}.get(type(c))
        if kind is None:
            raise IntervalError(f"unsupported relation {_name(c)}")
        kl, kr = self.expr(c.lhs), self.expr(c.rhs)

        def truth(box: Interval, st: State) -> Optional[bool]:
            return _compare(kind, kl(box, st), kr(box, st))

        return truth, self._linear_restriction(c, kind)

    def _linear_restriction(self, c: sp.Basic, kind: str) -> _Restrict:
        """Restriction for ``a*x + b <op> 0`` with constant ``a != 0``; identity otherwise."""
        d = sp.expand(c.lhs - c.rhs)
        a = d.coeff(self.x, 1)
        b = d.coeff(self.x, 0)
        if self.x in a.free_symbols or self.x in b.free_symbols or d != sp.expand(a * self.x + b):
            return lambda box, want: box
        if not (a.is_positive or a.is_negative):
            return lambda box, want: box
        root = _const_value(self, -b / a)
        side = {"lt": "below", "le": "below", "gt": "above", "ge": "above"}.get(kind, kind)
        if a.is_negative and side in ("below", "above"):
            side = "above" if side == "below" else "below"

        def restrict(box: Interval, want: bool) -> Optional[Interval]:
            s = side if want else _NEGATED_SIDE[side]
            return _restrict_side(box, s, root)

        return restrict


_NEGATED_SIDE = {"below": "above", "above": "below", "eq": "ne", "ne": "eq"}


def _restrict_side(box: Interval, side: str, root: Interval) -> Optional[Interval]:
    r"""Closed hull of :math:`\{t \in box : t \lessgtr r\}` for a root :math:`r \in root`."""
    lo, hi = box.lo, box.hi
    if side in ("below", "eq") and root.hi < hi:
        hi = root.hi
    if side in ("above", "eq") and root.lo > lo:
        lo = root.lo
    if lo > hi:
        return None
    if lo is box.lo and hi is box.hi:
        return box
    return Interval(lo, hi)


def _piecewise_eval(pieces: list, box: Interval, st: State) -> Interval:
    r"""Hull of the branches that may apply, in order, each on the part of the box it may own."""
    remaining: Optional[Interval] = box
    parts: list[Interval] = []
    for value, truth, restrict in pieces:
        t = _eval_on(truth, remaining, box, st)
        if t is False:
            continue
        region = remaining if t is True else restrict(remaining, True)
        if region is not None:
            parts.append(_eval_on(value, region, box, st))
        if t is True:
            remaining = None
            break
        remaining = restrict(remaining, False)
        if remaining is None:
            break
    if remaining is not None:
        raise IntervalDomainError(f"Piecewise: no condition may hold on part of {box!r}")
    if not parts:
        raise IntervalDomainError(f"Piecewise: no branch applies on {box!r}")
    if len(parts) > 1:
        st.irregular = True
    return hull(parts)


def _compare(kind: str, a: Interval, b: Interval) -> Optional[bool]:
    if kind == "lt":
        return True if a.hi < b.lo else False if a.lo >= b.hi else None
    if kind == "le":
        return True if a.hi <= b.lo else False if a.lo > b.hi else None
    if kind == "gt":
        return _compare("lt", b, a)
    if kind == "ge":
        return _compare("le", b, a)
    disjoint = a.hi < b.lo or b.hi < a.lo
    same_point = a.is_point and b.is_point and a.lo == b.lo
    eq = True if same_point else False if disjoint else None
    return eq if kind == "eq" else _not(eq)


def _not(v: Optional[bool]) -> Optional[bool]:
    return None if v is None else not v


def _kleene_and(vals: list) -> Optional[bool]:
    if any(v is False for v in vals):
        return False
    return True if all(v is True for v in vals) else None


def _kleene_or(vals: list) -> Optional[bool]:
    if any(v is True for v in vals):
        return True
    return False if all(v is False for v in vals) else None


def _name(e: sp.Basic) -> str:
    fn = getattr(e, "func", type(e))
    return getattr(fn, "__name__", type(e).__name__)


def _integer_exponent(expo: sp.Expr) -> Optional[int]:
    if expo.is_Integer:
        return int(expo)
    if isinstance(expo, sp.Float) and expo.is_finite:
        exact = sp.Rational(expo)  # a Float is a dyadic rational: exact conversion
        if exact.is_Integer:
            return int(exact)
    return None


def _const_value(comp: Compiler, c: sp.Expr) -> Interval:
    return comp.expr(c)(DUMMY_BOX, State())


def _number(e: sp.Basic) -> Interval:
    """Enclosure of a SymPy number or named constant at the current precision."""
    if e.is_Integer:
        return Interval.point(arb(int(e)))
    if e.is_Rational:
        return Interval.from_ball(arb(int(e.p)) / arb(int(e.q)))
    if isinstance(e, sp.Float):
        if not e.is_finite:
            raise IntervalError(f"non-finite constant {e}")
        sign, man, exp, _ = e._mpf_
        value = arb(int(man)) * arb(2) ** int(exp)
        return Interval.from_ball(-value if sign else value)
    consts = {sp.pi: arb.pi, sp.E: arb.const_e, sp.EulerGamma: arb.const_euler,
              sp.Catalan: arb.const_catalan}
    if e in consts:
        return Interval.from_ball(consts[e]())
    if e == sp.GoldenRatio:
        return Interval.from_ball((1 + arb(5).sqrt()) / 2)
    raise IntervalError(f"unsupported constant {e}")


def number_to_bounds(v: Number, prec: int = DEFAULT_PREC) -> tuple[arb, arb]:
    """Exact ``(lo, hi)`` with ``lo <= v <= hi``; equal when ``v`` is exactly representable."""
    with working_precision(prec):
        if isinstance(v, bool):
            raise IntervalError("booleans are not numbers here")
        if isinstance(v, int):
            return arb(v), arb(v)
        if isinstance(v, float):
            if math.isnan(v):
                raise IntervalError("NaN endpoint")
            a = arb(v)
            return a, a
        if isinstance(v, arb):
            return lower_end(v), upper_end(v)
        if isinstance(v, mpmath.mpf):
            a = arb(v)
            return lower_end(a), upper_end(a)
        if isinstance(v, Fraction):
            b = arb(v.numerator) / arb(v.denominator)
            return lower_end(b), upper_end(b)
        if isinstance(v, sp.Basic):
            if v == sp.oo:
                return POS_INF, POS_INF
            if v == -sp.oo:
                return NEG_INF, NEG_INF
            if v.free_symbols:
                raise IntervalError(f"endpoint {v} is not a number")
            iv = Compiler(sp.Dummy()).expr(v)(DUMMY_BOX, State())
            return iv.lo, iv.hi
    raise IntervalError(f"cannot use {type(v).__name__} {v!r} as a number")
