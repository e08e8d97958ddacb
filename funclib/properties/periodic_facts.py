"""Facts from the periodicity argument's extensions: f = x p + q (linear times periodic), limits
decided by a far branch that is periodic, quasi-periodic or a chirp, and the limits ±inf of a
quasi-periodic f (see :mod:`funclib.periodicity`)."""

from __future__ import annotations

import math

import mpmath
import sympy as sp

from ..limits import far_branches
from ..mpeval import mp_evaluate
from ..periodicity import (
    LinearPeriodic,
    Periodicity,
    chirp_of,
    exact_extremum,
    periodicity_of,
    sign_witnesses,
)
from .records import Fact

__all__ = [
    "PERIODIC_ATOMS",
    "far_periodic_limit",
    "linear_periodic_facts",
    "quasi_periodic_limits",
    "whole_line_periodicity",
]

#: The atoms of a formula with infinitely many extrema or breakpoints (periodic or stepwise).


PERIODIC_ATOMS = (sp.sin, sp.cos, sp.tan, sp.sec, sp.csc, sp.cot, sp.floor, sp.ceiling)


def linear_periodic_facts(lp: LinearPeriodic, f: sp.Expr, x: sp.Symbol, facts: dict[str, Fact]) -> dict[str, Fact]:
    """Range, limits, slope bounds, monotonicity and convexity of f = x p + q (p, q P-periodic).

    f(t + kP) = f(t) + kP p(t), f'(t + kP) = f'(t) + kP p'(t) and f''(t + kP) = f''(t) + kP p''(t)
    (f' = p + x p' + q', f'' = 2p' + x p'' + q''). A witness t with p(t) != 0 (sign proven by an arb
    enclosure) makes f unbounded both ways; one with p'(t) != 0 makes the slope unbounded both
    ways (so f is not monotone and has no finite Lipschitz constant); one with p''(t) != 0 makes
    f'' take both signs (neither convex nor concave). Only the facts a witness was found for are
    returned; the rest keep the usual methods. Limits at ±inf: none where p takes both signs
    (two witness sequences with limits +inf and -inf) or has an exact zero z (f(z + kP) = f(z)
    is constant); ±inf where arb proves min |p| > 0 on one period (q is bounded).
    """
    out: dict[str, Fact] = {}
    P = lp.period
    note = lp.describe()
    ps = sign_witnesses(lp.p, x, P)
    if ps:
        s0 = 1 if 1 in ps else -1
        t0, plo, phi = ps[s0]
        f0 = mp_evaluate(f, {x: sp.N(t0, 30)}, 30)
        out["range"] = Fact((-math.inf, math.inf), "interval",
                            f"{note}; unbounded: f({t0} + k P) = f({t0}) + k P p({t0}) = {mpmath.nstr(f0, 8)} + "
                            f"k*{sp.sstr(P)}*p({t0}), p({t0}) in [{plo:.8g}, {phi:.8g}] (arb) -> "
                            f"{'+' if s0 > 0 else '-'}inf as k -> +inf, {'-' if s0 > 0 else '+'}inf as k -> -inf")
        limits = _linear_periodic_limits(lp, x, ps, note)
        for name, fact in limits.items():
            if facts[name].method == "estimated" or math.isnan(fact.value) or fact.value != facts[name].value:
                out[name] = fact
    dp = sp.diff(lp.p, x)
    ws = sign_witnesses(dp, x, P)
    if ws:
        t1, lo1, hi1 = ws[1] if 1 in ws else ws[-1]
        up = "+inf as k -> +inf, -inf as k -> -inf" if lo1 > 0 else "-inf as k -> +inf, +inf as k -> -inf"
        why = (f"{note}; unbounded: f'({t1} + k P) = f'({t1}) + k P p'({t1}), p' = {sp.sstr(dp)}, "
               f"p'({t1}) in [{lo1:.8g}, {hi1:.8g}] (arb), so f'({t1} + k P) -> {up}")
        out["slope_bounds"] = Fact((-math.inf, math.inf), "interval", why)
        out["slope_bounds_enclosure"] = Fact(((-math.inf, -math.inf), (math.inf, math.inf)), "interval",
                                             "inf f' = -inf and sup f' = +inf: " + why)
        out["lipschitz"] = Fact(math.inf, "interval", "unbounded slope: " + why)
        out["monotonic"] = Fact("none", "interval", "f' takes both signs: " + why)
    d2p = sp.diff(lp.p, x, 2)
    w2 = sign_witnesses(d2p, x, P)
    if w2:
        t2, lo2, hi2 = w2[1] if 1 in w2 else w2[-1]
        why = (f"{note}; f''({t2} + k P) = f''({t2}) + k P p''({t2}), p''({t2}) in [{lo2:.8g}, {hi2:.8g}] (arb): "
               "f'' takes both signs")
        out["convex"] = Fact(False, "interval", why)
        out["concave"] = Fact(False, "interval", why)
    return out


def _linear_periodic_limits(lp: LinearPeriodic, x: sp.Symbol, ps: dict, note: str) -> dict[str, Fact]:
    """Limits at ±inf of f = x p + q from the witnesses of the sign of p (see above)."""
    from .. import interval

    if 1 in ps and -1 in ps:
        (tp, _, _), (tn, _, _) = ps[1], ps[-1]
        why = (f"none: {note}; f({tp} + k P) -> +inf and f({tn} + k P) -> -inf as k -> +inf "
               "(reversed as k -> -inf), p(t) proven of opposite signs at the two points (arb)")
        return {"limit_at_inf": Fact(math.nan, "interval", why), "limit_at_neg_inf": Fact(math.nan, "interval", why)}
    sign = 1 if 1 in ps else -1
    per = Periodicity(lp.period, sp.S.Zero, lp.checks)
    lo, hi = per.window()
    try:
        least = interval.bound_extremum(sign * lp.p, x, lo, hi, maximize=False, tol=1e-6, dexpr=False)
        qbox = interval.enclose(lp.q, x, lo, hi)
    except interval.IntervalError:
        return {}
    if least.lower > 0 and math.isfinite(qbox.lower()) and math.isfinite(qbox.upper()):
        why = (f"{note}; {'' if sign > 0 else '-'}p >= {least.lower:.6g} > 0 on one period (arb) and q in "
               f"[{qbox.lower():.6g}, {qbox.upper():.6g}], so |f| >= |x| min|p| - max|q|")
        return {"limit_at_inf": Fact(sign * math.inf, "interval", why),
                "limit_at_neg_inf": Fact(-sign * math.inf, "interval", why)}
    zero = exact_extremum(sign * lp.p, x, per, maximize=False)
    if zero is not None and zero[0] == 0:
        z = next(c for c in zero[1] if sp.simplify(lp.p.subs(x, c)) == 0)
        t0 = ps[sign][0]
        why = (f"none: {note}; p({sp.sstr(z)}) = 0 exactly, so f({sp.sstr(z)} + k P) = f({sp.sstr(z)}) is constant, "
               f"while f({t0} + k P) -> {'+' if sign > 0 else '-'}inf (k -> +inf) and the reverse (k -> -inf)")
        return {"limit_at_inf": Fact(math.nan, "interval", why), "limit_at_neg_inf": Fact(math.nan, "interval", why)}
    return {}


def far_periodic_limit(f: sp.Expr, x: sp.Symbol, direction: int) -> Fact | None:
    """The limit at ±inf where the branch of f for large ±x is periodic, quasi-periodic or a chirp.

    Periodic and not constant (arb: sup > inf on one period): no limit. Quasi-periodic
    (e(t + P) = e(t) + c, c != 0) with e - c x/P bounded on one period: ±inf with the sign of c x.
    A chirp u T(g) + v (:class:`funclib.periodicity.Chirp`, u != 0) takes the values v ± |u| (or
    ±inf) along two sequences: no limit.
    """
    from .. import interval

    from ..mpeval import MpEvalError

    try:
        far = far_branches(f, x, direction)
    except MpEvalError:  # a condition far_branches cannot decide: no argument here
        return None
    if far.has(sp.nan):
        return None
    per = periodicity_of(far, x)
    if per is None:
        chirp = chirp_of(far, x, direction)
        if chirp is None:
            return None
        return Fact(math.nan, "symbolic", f"none: the branch for large {'+' if direction > 0 else '-'}x oscillates "
                    f"without settling, {chirp.describe()}")
    g = far if per.periodic else far - per.shift * x / per.period
    lo, hi = per.window()
    try:
        top = interval.bound_extremum(g, x, lo, hi, maximize=True, tol=1e-3, dexpr=False)
        bottom = interval.bound_extremum(g, x, lo, hi, maximize=False, tol=1e-3, dexpr=False)
    except interval.IntervalError:
        return None
    where = f"the branch for large {'+' if direction > 0 else '-'}x, {sp.sstr(far)}"
    if per.periodic:
        if top.lower > bottom.upper:
            return Fact(math.nan, "interval", f"none: {where}, is P-periodic ({per.describe()}) and not constant "
                        f"(sup >= {top.lower:.10g} > {bottom.upper:.10g} >= inf on one period, arb)")
        return None
    if not (math.isfinite(top.upper) and math.isfinite(bottom.lower)):
        return None
    value = math.inf if (per.shift > 0) == (direction > 0) else -math.inf
    return Fact(value, "interval", f"{where}, is quasi-periodic ({per.describe()}): minus c x/P it lies in "
                f"[{bottom.lower:.6g}, {top.upper:.6g}] on one period (arb), so it is c x/P + bounded")


def whole_line_periodicity(f: sp.Expr, x: sp.Symbol, domain) -> Periodicity | None:
    """The proven f(x + P) - f(x) = c of a formula on the whole real line, if any."""
    if not (math.isinf(domain.lo) and math.isinf(domain.hi)):
        return None
    return periodicity_of(f, x)


def quasi_periodic_limits(facts: dict[str, Fact], f: sp.Expr, x: sp.Symbol, per: Periodicity) -> None:
    """Limits ±sign(c)·inf of a quasi-periodic f (c != 0) that SymPy did not find.

    g = f - c x / P is P-periodic; where arb bounds it on one period, g is bounded on R and
    f = c x / P + g tends to ±inf with the sign of c x.
    """
    if all(facts[n].method != "estimated" for n in ("limit_at_inf", "limit_at_neg_inf")):
        return
    from .. import interval

    g = f - per.shift * x / per.period
    lo, hi = per.window()
    try:
        top = interval.bound_extremum(g, x, lo, hi, maximize=True, tol=1e-3, dexpr=False)
        bottom = interval.bound_extremum(g, x, lo, hi, maximize=False, tol=1e-3, dexpr=False)
    except interval.IntervalError:
        return
    if not (math.isfinite(top.upper) and math.isfinite(bottom.lower)):
        return
    sign = 1.0 if per.shift > 0 else -1.0
    why = (f"{per.describe()}: f - c x/P is P-periodic and within [{bottom.lower:.6g}, {top.upper:.6g}] "
           "on one period (arb), so f = c x/P + bounded")
    for name, direction in (("limit_at_inf", 1.0), ("limit_at_neg_inf", -1.0)):
        if facts[name].method == "estimated":
            facts[name] = Fact(sign * direction * math.inf, "interval", why)
