"""The main proof: :func:`compute_properties` derives every fact of an elementwise entry
(values at 0, limits, slope bounds, Lipschitz constant, monotonicity, range, symmetry,
convexity, smoothness), each with the method that established it."""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import sympy as sp

from .. import calculus
from ..formula import to_formula
from ..limits import LIMIT_SECONDS, end_limit, numeric_limit, symbolic_limit
from ..mpeval import mp_evaluate
from ..periodicity import Periodicity, chirp_of, linear_periodic_of
from ..timelimit import TimeLimitExceeded, time_limit
from .extrema import Bracket, bracket_extremum, branch_bracket, chirp_bracket, period_bracket
from .periodic_facts import (
    PERIODIC_ATOMS,
    far_periodic_limit,
    linear_periodic_facts,
    quasi_periodic_limits,
    whole_line_periodicity,
)
from .records import Fact, Properties, cache_key
from .smoothness import NONSMOOTH, smoothness_fact
from .symmetry import symmetry_fact

if TYPE_CHECKING:  # pragma: no cover
    from ..entry import Entry

__all__ = ["RANGE_TOL", "SLOPE_TOL", "compute_properties", "provable_form"]

#: Width of the brackets of inf f' and sup f' (absolute). 1e-10 since 2026-12-07 (it costs no
#: measurable time: GELU's tanh variant 18.4 s either way); proofs cached before then carry
#: 1e-8 brackets, still sound, and are tightened when their entry is proved again.
SLOPE_TOL = 1e-10
#: The width a slope bracket falls back to where the branch and bound does not reach
#: :data:`SLOPE_TOL` within its box budget (the mollified MeLU component: 1e-10 does not
#: converge, 1e-8 does); every cached proof before 2026-12-07 was made at this width.
SLOPE_TOL_FALLBACK = 1e-8
RANGE_TOL = 1e-8


@lru_cache(maxsize=4096)
def _limit_fact(expr: sp.Expr, x: sp.Symbol, direction: float) -> Fact:
    value = symbolic_limit(expr, x, direction)
    if value is not None:
        return Fact(value, "symbolic", "sympy.limit")
    return Fact(numeric_limit(expr, x, direction), "estimated", "mpmath values at |x| = 1e8..1e64")


def _value_at(expr: sp.Expr, x: sp.Symbol, point: sp.Expr) -> Fact | None:
    try:
        value = expr.subs(x, point)
    except (TypeError, ValueError):
        return None
    if value.is_number and value.is_finite and value.is_real:
        return Fact(float(value), "symbolic", f"exact: {sp.sstr(sp.nsimplify(value)) if value.is_Rational else sp.sstr(value)}")
    return None


def _zero_piece(dexpr: sp.Expr) -> bool:
    """Whether f' is identically 0 on some piece (then f is not strictly monotone)."""
    pw = dexpr.rewrite(sp.Piecewise)
    pw = sp.piecewise_fold(pw)
    if isinstance(pw, sp.Piecewise):
        return any(value == 0 for value, _ in pw.args)
    return dexpr == 0


@dataclass
class _Proof:
    """What the fact derivations of one entry share: f, its derivatives, the domain, the
    periodicity argument (if any) and the facts found so far."""

    x: sp.Symbol
    f: sp.Expr
    df: sp.Expr
    d2f: sp.Expr
    domain: Any
    per: Periodicity | None
    whole_line: bool
    facts: dict[str, Fact]

    def bracket(self, expr: sp.Expr, dexpr: sp.Expr | None, *, maximize: bool, tol: float, what: str,
                target: float | None = None) -> Bracket:
        # f', f'' (and f itself when c = 0) are P-periodic: one period decides.
        if self.per is not None:
            return period_bracket(expr, dexpr, self.x, self.per, maximize=maximize, tol=tol, what=what,
                                   target=target)
        if self.whole_line and expr.has(*PERIODIC_ATOMS):
            # A branch periodic on a half-line: one period of it decides there.
            split = branch_bracket(expr, self.x, maximize=maximize, tol=tol, what=what, target=target)
            if split is not None:
                return split
            chirp = chirp_of(expr, self.x, 1) or chirp_of(expr, self.x, -1)
            if chirp is not None:
                return chirp_bracket(chirp, maximize=maximize, what=what, target=target)
        return bracket_extremum(expr, dexpr, self.x, self.domain, maximize=maximize, tol=tol, what=what, target=target)


def compute_properties(entry: "Entry", variant: str | None = None) -> Properties:
    """Derive the properties of an elementwise entry (parameters at their defaults).

    Raises
    ------
    TypeError
        If the entry is not elementwise.
    """
    if entry.kind != "elementwise":
        raise TypeError(f"entry {entry.id!r} is {entry.kind}; properties are derived for elementwise entries")
    x = entry.symbol
    f, rewrite_note = provable_form(entry.numeric_expr(variant), x)
    df = calculus.derivative(f, x, 1)
    domain = entry.domain
    per = whole_line_periodicity(f, x, domain)
    whole_line = math.isinf(domain.lo) and math.isinf(domain.hi)
    linear = linear_periodic_of(f, x) if whole_line and per is None and not f.has(*NONSMOOTH) else None
    proof = _Proof(x, f, df, calculus.derivative(df, x, 1), domain, per, whole_line, {})
    facts = proof.facts

    smooth, jumps = smoothness_fact(f, x, per)
    facts["smoothness"] = smooth
    if 0.0 in entry.domain:
        for name, expr in (("value_at_zero", f), ("slope_at_zero", df)):
            fact = _value_at(expr, x, sp.S.Zero)
            if fact is not None:
                facts[name] = fact
    facts["limit_at_inf"] = _limit_fact(f, x, +1)
    facts["limit_at_neg_inf"] = _limit_fact(f, x, -1)
    if whole_line and per is None and f.has(*PERIODIC_ATOMS):
        for name, direction in (("limit_at_inf", 1), ("limit_at_neg_inf", -1)):
            if facts[name].method == "estimated":
                facts[name] = far_periodic_limit(f, x, direction) or facts[name]
    unbounded = linear_periodic_facts(linear, f, x, facts) if linear is not None else {}
    facts.update(unbounded)

    value_jumps = [row[0] for _, row in jumps]
    up_jump, down_jump = any(j > 0 for j in value_jumps), any(j < 0 for j in value_jumps)
    signs = _slope_facts(proof, unbounded, up_jump, down_jump)
    _monotonic_fact(proof, unbounded, up_jump, down_jump, signs)
    _range_facts(proof, unbounded, up_jump or down_jump)
    if domain.lo == -domain.hi and domain.lo_closed == domain.hi_closed:
        facts["odd"] = symmetry_fact(f, x, -1)
        facts["even"] = symmetry_fact(f, x, +1)
    else:
        facts["odd"] = facts["even"] = Fact(False, "symbolic", f"domain {domain} is not symmetric about 0")
    _convexity_facts(proof, unbounded, up_jump or down_jump, [row[1] for _, row in jumps])

    if per is not None:
        # Facts derived from one period say so (the proof of f(x + P) - f(x) = c is theirs too).
        derived = ("slope_bounds", "slope_bounds_enclosure", "lipschitz", "monotonic", "range",
                   "bounded_below", "bounded_above", "convex", "concave")
        note = per.describe()
        facts = {k: Fact(v.value, v.method, v.detail if k not in derived or note in v.detail else f"{v.detail}; {note}")
                 for k, v in facts.items()}
    if rewrite_note:
        facts = {k: Fact(v.value, v.method, (v.detail + "; " if v.detail else "") + rewrite_note) for k, v in facts.items()}
    return Properties(entry.id, variant, cache_key(entry), facts)


def _slope_bracket(proof: _Proof, *, maximize: bool) -> Bracket:
    """sup (or inf) of f' bracketed to :data:`SLOPE_TOL`, else to :data:`SLOPE_TOL_FALLBACK`
    (a wider bracket that is proved beats a narrow one that is only estimated)."""
    found = proof.bracket(proof.df, proof.d2f, maximize=maximize, tol=SLOPE_TOL, what="f'")
    if found.method != "estimated":
        return found
    wider = proof.bracket(proof.df, proof.d2f, maximize=maximize, tol=SLOPE_TOL_FALLBACK, what="f'")
    return wider if wider.method != "estimated" else found


def _slope_facts(proof: _Proof, unbounded: dict[str, Fact], up_jump: bool, down_jump: bool):
    """``slope_bounds`` (sup and inf of the a.e. derivative f', widened by jumps of f), its
    enclosure and ``lipschitz``; returns (inf_sign, sup_sign, inf_method, sup_method) for the
    monotonicity decision."""
    facts, df, d2f = proof.facts, proof.df, proof.d2f
    jump_note = "; f jumps, so difference quotients are unbounded on the side of the jump" if (up_jump or down_jump) else ""
    inf_sign = sup_sign = None
    if "slope_bounds" in unbounded:
        low, high = facts["slope_bounds"].value
        inf_method = sup_method = facts["slope_bounds"].method
    elif df.is_number:
        low = high = float(df)
        facts["slope_bounds"] = Fact((low, high), "symbolic", "f' is constant")
        inf_method = sup_method = "symbolic"
    else:
        sup = _slope_bracket(proof, maximize=True)
        inf = _slope_bracket(proof, maximize=False)
        # Sign questions the tolerance bracket left open (inf f' = 0 approached at infinity).
        if inf.lower < 0 <= inf.upper:
            inf_sign = proof.bracket(df, d2f, maximize=False, tol=SLOPE_TOL, what="f'", target=0).proved
        if sup.lower <= 0 < sup.upper:
            sup_sign = proof.bracket(df, d2f, maximize=True, tol=SLOPE_TOL, what="f'", target=0).proved
        low = max(inf.lower, 0.0) if inf_sign else inf.lower
        high = min(sup.upper, 0.0) if sup_sign else sup.upper
        method = "estimated" if "estimated" in (inf.method, sup.method) else "interval"
        inf_method, sup_method = inf.method, sup.method
        facts["slope_bounds_enclosure"] = Fact(
            ((low, inf.upper), (sup.lower, high)),
            method,
            "rigorous brackets [[inf f' low, inf f' high], [sup f' low, sup f' high]]",
        )
        detail = _pair_detail(sup.detail, inf.detail, proof.per is not None)
        facts["slope_bounds"] = Fact((low, high), method, detail + jump_note)
    if up_jump or down_jump:
        low = -math.inf if down_jump else low
        high = math.inf if up_jump else high
        facts["slope_bounds"] = Fact((low, high), facts["slope_bounds"].method, facts["slope_bounds"].detail)
    if "lipschitz" not in unbounded:
        facts["lipschitz"] = Fact(max(abs(low), abs(high)), facts["slope_bounds"].method, "max(|inf f'|, |sup f'|)")
    return inf_sign, sup_sign, inf_method, sup_method


def _monotonic_fact(proof: _Proof, unbounded: dict[str, Fact], up_jump: bool, down_jump: bool, signs) -> None:
    """``monotonic`` from the sign of f' (rigorous sign proofs where the bracket touched 0);
    only the side of the slope bracket that decides the sign is needed."""
    if "monotonic" in unbounded:
        return
    facts = proof.facts
    inf_sign, sup_sign, inf_method, sup_method = signs
    low, high = facts["slope_bounds"].value
    method = facts["slope_bounds"].method
    enclosure = facts.get("slope_bounds_enclosure")
    inf_high = enclosure.value[0][1] if enclosure else low
    sup_low = enclosure.value[1][0] if enclosure else high
    if low >= 0 and not down_jump:
        strict = not _zero_piece(proof.df)
        facts["monotonic"] = Fact(
            "increasing" if strict else "nondecreasing", inf_method,
            "inf f' >= 0" + ("; f' vanishes only at isolated points" if strict else "; f' = 0 on an interval"),
        )
    elif high <= 0 and not up_jump:
        strict = not _zero_piece(proof.df)
        facts["monotonic"] = Fact("decreasing" if strict else "nonincreasing", sup_method, "sup f' <= 0")
    elif (inf_high < 0 or inf_sign is False or down_jump) and (sup_low > 0 or sup_sign is False or up_jump):
        facts["monotonic"] = Fact("none", method, "f' takes both signs (or f jumps against its slope)")
    else:
        facts["monotonic"] = Fact("none", "estimated", "the sign of f' was not decided")


def _range_facts(proof: _Proof, unbounded: dict[str, Fact], jumps: bool) -> None:
    """``range`` [inf f, sup f] and ``bounded_below`` / ``bounded_above`` (and, for a periodic
    f, the absence of limits at the ends)."""
    facts, f, x, per, domain = proof.facts, proof.f, proof.x, proof.per, proof.domain
    mono = facts["monotonic"]
    if "range" in unbounded:
        pass
    elif f.is_number:
        facts["range"] = Fact((float(f), float(f)), "symbolic", "constant")
    elif per is not None and not per.periodic:
        facts["range"] = Fact((-math.inf, math.inf), "symbolic",
                              f"{per.describe()}: f(k P) = f(0) + k c is unbounded both ways")
    elif mono.value != "none" and mono.method != "estimated" and not jumps:
        # Continuous and monotone: the range runs between the values (limits) at the ends.
        ends = []
        for end, closed, direction in ((domain.lo, domain.lo_closed, -1), (domain.hi, domain.hi_closed, +1)):
            if closed:
                ends.append(float(mp_evaluate(f, {x: end}, 40)))
            else:
                ends.append(end_limit(f, x, end, direction))
        if not any(math.isnan(v) for v in ends):
            facts["range"] = Fact((min(ends), max(ends)), mono.method,
                                  f"f is {mono.value} ({mono.method}); range between its limits at the domain ends")
    if "range" not in facts:
        top = proof.bracket(f, proof.df, maximize=True, tol=RANGE_TOL, what="f")
        bottom = proof.bracket(f, proof.df, maximize=False, tol=RANGE_TOL, what="f")
        method = "estimated" if "estimated" in (top.method, bottom.method) else "interval"
        detail = _pair_detail(top.detail, bottom.detail, per is not None)
        facts["range"] = Fact((bottom.lower, top.upper), method, detail)
        if per is not None and method == "interval" and top.lower > bottom.upper:
            # A non-constant periodic function has no limit at either end.
            for name in ("limit_at_inf", "limit_at_neg_inf"):
                facts[name] = Fact(math.nan, "interval", f"none: {per.describe()} and f is not constant "
                                   f"(sup f >= {top.lower:.10g} > {bottom.upper:.10g} >= inf f)")
    if per is not None and not per.periodic:
        quasi_periodic_limits(facts, f, x, per)
    rlo, rhi = facts["range"].value
    facts["bounded_below"] = Fact(rlo > -math.inf, facts["range"].method, "from the range")
    facts["bounded_above"] = Fact(rhi < math.inf, facts["range"].method, "from the range")


def _convexity_facts(proof: _Proof, unbounded: dict[str, Fact], jumps: bool, slope_jumps: list[float]) -> None:
    """``convex`` / ``concave``: f'' >= 0 (<= 0) a.e. and no jump of f' the wrong way (nor of f)."""
    facts, d2f = proof.facts, proof.d2f
    if "convex" in unbounded:
        return
    if jumps:
        facts["convex"] = Fact(False, "symbolic", "f is discontinuous")
        facts["concave"] = Fact(False, "symbolic", "f is discontinuous")
        return
    d3f = None
    for name, sign in (("convex", 1), ("concave", -1)):
        what = f"{'-' if sign < 0 else ''}f''"
        if any(sign * j < 0 for j in slope_jumps if not math.isnan(j)):
            facts[name] = Fact(False, "symbolic", "f' jumps the wrong way at a kink")
            continue
        if d2f.is_number:
            facts[name] = Fact(sign * float(d2f) >= 0, "symbolic", "f'' is constant")
            continue
        if d3f is None:
            d3f = calculus.derivative(d2f, proof.x, 1)
        test = proof.bracket(sign * d2f, sign * d3f, maximize=False, tol=1e-6, what=what, target=0)
        if test.proved is True:
            facts[name] = Fact(True, "interval", f"{what} >= 0 proved: " + test.detail)
        elif test.proved is False:
            facts[name] = Fact(False, "interval", f"{what} < 0 at a certified point")
        else:
            facts[name] = Fact(False, "estimated", f"sign of {what} not decided: " + test.detail)


def _pair_detail(sup: str, inf: str, periodic: bool) -> str:
    """One account for a sup and an inf bracket: both where they were found differently."""
    if sup == inf or not (periodic or sup.startswith("by branches") or inf.startswith("by branches")):
        return sup
    return f"sup: {sup}; inf: {inf}"


def provable_form(f: sp.Expr, x: sp.Symbol) -> tuple[sp.Expr, str]:
    """``f`` itself, or an exactly equal closed form when ``f`` holds functions the interval
    engine cannot enclose (the Mittag-Leffler function at its closed-form parameters).

    The rewrite is a symbolic identity (``mittag_leffler(...).rewrite("closed_form")``, then
    ``simplify`` and the stabilizing rewrites), so facts proven on it hold for ``f``.
    """
    from ..mittag_leffler import eliminate, mittag_leffler

    if not f.has(mittag_leffler):
        return f, ""
    try:
        with time_limit(LIMIT_SECONDS):
            closed = eliminate(f)
    except TimeLimitExceeded:
        return f, ""
    if closed is None:
        return f, ""
    closed = calculus.stabilize(closed)
    return closed, f"proved on the exact closed-form rewrite f = {to_formula(closed)}"
