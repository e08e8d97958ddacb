"""Rigorous brackets of the sup and inf of an expression over a domain (:class:`Bracket`).

:func:`bracket_extremum` runs the arb branch and bound of :mod:`funclib.interval` over
[-FAR, FAR] with the tail argument from limits beyond; :func:`period_bracket` decides over one
period of a (quasi-)periodic expression, :func:`branch_bracket` branch by branch where a
branch is periodic (or a chirp) on a half-line, :func:`chirp_bracket` for a chirp. Where the
interval engine cannot enclose an expression, dense sampling gives an ``estimated`` bracket.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import mpmath
import sympy as sp

from ..limits import LIMIT_SECONDS, end_limit, limit_at
from ..mpeval import mp_evaluate
from ..periodicity import Chirp, Periodicity, chirp_of, exact_extremum, explicit_branches, periodicity_of
from ..timelimit import TimeLimitExceeded, time_limit

__all__ = ["FAR", "Bracket", "bracket_extremum", "branch_bracket", "chirp_bracket", "period_bracket"]

FAR = 1e30  # the interval engine encloses [-FAR, FAR]; beyond, the tail argument uses limits


@dataclass(frozen=True)
class Bracket:
    """[lower, upper] around sup (or inf) of an expression over the entry's domain."""

    lower: float
    upper: float
    method: str
    detail: str
    proved: bool | None = None  # answer to a sign question (target 0), when one was asked


def _interval_friendly(expr: sp.Expr, x: sp.Symbol) -> sp.Expr:
    """An equal form with less dependency for interval arithmetic.

    ``Abs``/``Max``/``sign`` become ``Piecewise`` branches; a rational branch is split into
    partial fractions (x/(1+x) -> 1 - 1/(1+x): no X/X over wide boxes); other branches are
    brought over one denominator, where SymPy collapses cancelling numerators (the second
    derivative of squareplus, -x**2/(2*(x**2+4)**(3/2)) + 1/(2*sqrt(x**2+4)), becomes
    2/(x**2+4)**(3/2)).
    """

    def tidy(e: sp.Expr) -> sp.Expr:
        if e.is_rational_function(x):
            return sp.apart(sp.cancel(e), x)
        return sp.together(e)

    try:
        with time_limit(LIMIT_SECONDS):
            folded = sp.piecewise_fold(expr.rewrite(sp.Piecewise))
            if isinstance(folded, sp.Piecewise):
                return sp.Piecewise(*[(tidy(v), c) for v, c in folded.args])
            return tidy(folded)
    except (TimeLimitExceeded, sp.PolynomialError, TypeError, NotImplementedError):
        return expr


def _sample_points(domain) -> list[float]:
    """Dense points over the domain: linear near 0, logarithmic out to ±1e30."""
    import numpy as np

    mags = np.concatenate([np.linspace(0, 8, 801)[1:], np.geomspace(8, 1e30, 400)])
    points = np.concatenate([-mags[::-1], [0.0], mags])
    return [float(t) for t in points if float(t) in domain]


def _sampled_bracket(expr, x, domain, *, maximize: bool, what: str, reason: str, target=None) -> "Bracket":
    """Fallback when the interval engine cannot enclose a function: sampling, labelled estimated."""
    values = []
    for t in _sample_points(domain):
        v = mp_evaluate(expr, {x: t}, 30)
        if not mpmath.isnan(v):
            values.append(float(v))
    best = (max if maximize else min)(values) if values else math.nan
    proved = None
    detail = f"{what} sampled at {len(values)} points (interval engine: {reason}); estimate only"
    return Bracket(best, best, "estimated", detail, proved)


def bracket_extremum(
    expr: sp.Expr,
    dexpr: sp.Expr | None,
    x: sp.Symbol,
    domain,
    *,
    maximize: bool,
    tol: float,
    what: str,
    target: float | None = None,
) -> Bracket:
    """Rigorous bracket of sup/inf over ``domain`` (interval branch and bound + tails).

    The engine covers [-R, R] (R = 1e30) and encloses the tails beyond R directly where that
    is tight enough; an uncovered infinite end is bounded by the limit there (the *tail
    argument from limits*). A search that does not converge yields method ``estimated``.
    """
    from .. import interval

    def run(e: sp.Expr, de: sp.Expr | None):
        return interval.bound_extremum_on_real_line(
            e, x, maximize=maximize, tol=tol, dexpr=de if de is not None else False, far=FAR,
            lo=domain.lo, hi=domain.hi, target=target,
        )

    try:
        found = run(expr, dexpr)
    except interval.IntervalError as exc:
        return _sampled_bracket(expr, x, domain, maximize=maximize, what=what, reason=str(exc), target=target)
    settled = found.converged if target is None else found.proved is not None
    if not settled or found.domain != (domain.lo, domain.hi):
        # An open end where the expression diverges the right way settles it symbolically.
        for end, closed, direction in ((domain.hi, domain.hi_closed, +1), (domain.lo, domain.lo_closed, -1)):
            if closed:
                continue
            value = end_limit(expr, x, end, direction)
            if value == (math.inf if maximize else -math.inf):
                where = f"{'+' if direction > 0 else '-'}inf" if math.isinf(end) else f"{end:g}"
                proved = None if target is None else (value <= target if maximize else value >= target)
                return Bracket(value, value, "symbolic", f"{what} -> {value} as x -> {where} (sympy.limit)", proved)
    if not settled:
        friendly = _interval_friendly(expr, x)
        dfriendly = _interval_friendly(dexpr, x) if dexpr is not None else None
        retry = run(friendly, dfriendly)
        if (retry.converged if target is None else retry.proved is not None):
            found, settled = retry, True
    lo, hi = float(found.lower), float(found.upper)
    covered = found.domain
    tails = []
    for end, direction, reached in ((domain.hi, +1, covered[1]), (domain.lo, -1, covered[0])):
        if math.isinf(end) and not math.isinf(reached):
            t = limit_at(expr, x, direction)
            tails.append(t)
            if math.isnan(t):
                settled = False
                continue
            # The limit is approached, so it bounds sup from below; beyond R it is taken as
            # the extremum of the tail (the tail argument).
            lo, hi = (max(lo, t), max(hi, t)) if maximize else (min(lo, t), min(hi, t))
    span = f"[{covered[0]:g}, {covered[1]:g}]"
    detail = f"arb branch and bound of {what} on {span} ({found.boxes} boxes)"
    if tails:
        detail += "; tails beyond by the limits at infinity"
    if not settled:
        detail += "; NOT converged: estimate only"
    return Bracket(lo, hi, "interval" if settled else "estimated", detail, found.proved)


def _outward(value: sp.Expr) -> tuple[float, float]:
    """Floats [lo, hi] around an exact real number (at most one ulp each way)."""
    with mpmath.workdps(50):
        exact = mpmath.mpf(sp.N(value, 50))
        near = float(exact)
        lo = near if near <= exact else math.nextafter(near, -math.inf)
        hi = near if near >= exact else math.nextafter(near, math.inf)
    return lo, hi


def _exact_sign(value: sp.Expr, target: float, maximize: bool) -> bool | None:
    """Whether the exact ``value`` satisfies value <= target (maximize) or >= target."""
    diff = sp.simplify(value - sp.nsimplify(target))
    answer = diff.is_nonpositive if maximize else diff.is_nonnegative
    if answer is None:
        with mpmath.workdps(50):
            gap = mpmath.mpf(sp.N(diff, 50))
        if abs(gap) > mpmath.mpf(10) ** -40:
            answer = bool(gap <= 0) if maximize else bool(gap >= 0)
    return answer


def period_bracket(
    expr: sp.Expr,
    dexpr: sp.Expr | None,
    x: sp.Symbol,
    per: Periodicity,
    *,
    maximize: bool,
    tol: float,
    what: str,
    target: float | None = None,
) -> Bracket:
    """:func:`bracket_extremum` for a P-periodic ``expr``: its sup (inf) over one period is over R.

    The arb branch and bound covers [0, P+] (P+ >= P by at most one ulp: a whole period, and
    nothing outside the real line). Where ``expr`` is smooth and its critical points in one
    period are a finite set (:func:`funclib.periodicity.exact_extremum`), the exact extremum
    replaces the bracket, after checking that it lies inside it.
    """
    lo, hi = per.window()
    exact = exact_extremum(expr, x, per, maximize=maximize)
    return _window_bracket(expr, dexpr, x, lo, hi, maximize=maximize, tol=tol, what=what, target=target,
                           label=per.describe(), span=f"one period [0, {sp.sstr(per.period)}]", exact=exact)


def _window_bracket(
    expr: sp.Expr,
    dexpr: sp.Expr | None,
    x: sp.Symbol,
    lo: float,
    hi: float,
    *,
    maximize: bool,
    tol: float,
    what: str,
    target: float | None,
    label: str,
    span: str,
    exact: tuple[sp.Expr, list[sp.Expr]] | None = None,
) -> Bracket:
    """Arb bracket of sup (inf) of ``expr`` over the closed window [lo, hi], which an argument
    (``label``) has shown to give the extremum over the whole domain; an ``exact`` extremum
    (value, critical points) replaces the bracket once it lies inside it."""
    from .. import interval

    def run(e: sp.Expr, de: sp.Expr | None):
        return interval.bound_extremum(e, x, lo, hi, maximize=maximize, tol=tol,
                                       dexpr=de if de is not None else False, target=target)

    try:
        found = run(expr, dexpr)
        settled = found.converged if target is None else found.proved is not None
        if not settled:
            retry = run(_interval_friendly(expr, x), _interval_friendly(dexpr, x) if dexpr is not None else None)
            if retry.converged if target is None else retry.proved is not None:
                found, settled = retry, True
    except interval.IntervalError as exc:
        from ..ranges import Range as Domain

        return _sampled_bracket(expr, x, Domain.real_line(), maximize=maximize, what=what, reason=str(exc), target=target)
    if exact is not None:
        value, candidates = exact
        vlo, vhi = _outward(value)
        if vhi >= found.lower and vlo <= found.upper:  # the second method agrees
            proved = None if target is None else _exact_sign(value, target, maximize)
            where = ", ".join(sp.sstr(c) for c in candidates)
            detail = (f"{label}; {'max' if maximize else 'min'} of {what} = {sp.sstr(value)}, exact, from its "
                      f"critical points in {span} ({where}; sympy.solveset), inside the arb bracket "
                      f"[{found.lower:.10g}, {found.upper:.10g}]")
            return Bracket(vlo, vhi, "symbolic", detail, proved)
    detail = f"{label}; arb branch and bound of {what} on {span} ({found.boxes} boxes)"
    if not settled:
        detail += "; NOT converged: estimate only"
    return Bracket(float(found.lower), float(found.upper), "interval" if settled else "estimated", detail, found.proved)


def _exact_float(value: sp.Expr) -> float | None:
    """``value`` as a float when it is one exactly (a breakpoint such as 0 or 1/2), else None."""
    if not value.is_Rational:
        return None
    as_float = float(value)
    return as_float if sp.Rational(as_float) == value else None


def chirp_bracket(chirp: Chirp, *, maximize: bool, what: str, target: float | None) -> Bracket:
    """Sup (inf) of u T(g) + v over a half-line where g -> ±inf (:class:`funclib.periodicity.Chirp`)."""
    if chirp.bounded:
        value = chirp.v + abs(chirp.u) if maximize else chirp.v - abs(chirp.u)
        lo, hi = _outward(value)
        proved = None if target is None else _exact_sign(value, target, maximize)
        return Bracket(lo, hi, "symbolic", f"{what}: {'max' if maximize else 'min'} = {sp.sstr(value)}, exact: "
                        + chirp.describe(), proved)
    inf = math.inf if maximize else -math.inf
    proved = None if target is None else (inf <= target if maximize else inf >= target)
    return Bracket(inf, inf, "symbolic", f"{what}: {'sup' if maximize else 'inf'} = {inf}: " + chirp.describe(),
                    proved)


def _interval_text(where: sp.Interval) -> str:
    """``(0, inf)``, ``[-1/2, 1)``: an interval of the real line as the catalog writes it."""
    def end(v: sp.Expr) -> str:
        return ("inf" if v > 0 else "-inf") if v.is_infinite else sp.sstr(v)

    return f"{'(' if where.left_open else '['}{end(where.left)}, {end(where.right)}{')' if where.right_open else ']'}"


def branch_bracket(
    expr: sp.Expr,
    x: sp.Symbol,
    *,
    maximize: bool,
    tol: float,
    what: str,
    target: float | None = None,
) -> Bracket | None:
    """Sup (inf) over R of a piecewise ``expr`` with a periodic branch on a half-line, or None.

    The branches and their intervals come from :func:`funclib.periodicity.explicit_branches`.
    A branch that is P-periodic on a half-line has there its extremum over one period (a
    half-line holds whole periods); a quasi-periodic one (e(t + P) = e(t) + c) is unbounded in
    the direction of c, and its other extremum over [a, a + P] (right half-line) or
    [a - P, a] (left) is the one over the half-line, because e(t + kP) = e(t) + kc moves
    every value towards c. A chirp u T(g) + v on a half-line (:class:`funclib.periodicity.Chirp`)
    has the exact extrema v ± |u| (u, v constants) or ±inf. A branch for a single point is
    enclosed there. Other branches are bracketed on their own interval as usual. The results
    combine as the max (min) over the branches. None where no branch is periodic or a chirp
    on a half-line, or a breakpoint is not an exact float.
    """
    from ..ranges import Range as Domain

    branches = explicit_branches(expr, x)
    if branches is None:
        return None
    plans = []
    for value, where in branches:
        ends = [where.inf, where.sup]
        if any(e.is_finite and _exact_float(e) is None for e in ends):
            return None
        half = ends[0].is_infinite != ends[1].is_infinite  # a branch on all of R is the whole formula
        per = periodicity_of(value, x) if half else None
        chirp = chirp_of(value, x, 1 if ends[1].is_infinite else -1) if half and per is None else None
        plans.append((value, where, per or chirp))
    if all(arg is None for _, _, arg in plans):
        return None
    parts: list[Bracket] = []
    for value, where, per in plans:
        dvalue = sp.diff(value, x)
        lo, hi = float(where.inf), float(where.sup)
        if isinstance(where, sp.FiniteSet):
            from .. import interval

            piece = f"{what} at {sp.sstr(where.inf)} (branch {sp.sstr(value)})"
            at = interval.enclose(value, x, where.inf, where.inf)
            proved = None if target is None else (at.upper() <= target if maximize else at.lower() >= target)
            part = Bracket(at.lower(), at.upper(), "interval", f"{piece}: arb enclosure at the point", proved)
            parts.append(part)
            continue
        piece = f"{what} on {_interval_text(where)} (branch {sp.sstr(value)})"
        if isinstance(per, Chirp):
            part = chirp_bracket(per, maximize=maximize, what=piece, target=target)
        elif per is None:
            domain = Domain(lo, hi, not where.left_open and math.isfinite(lo),
                            not where.right_open and math.isfinite(hi))
            part = bracket_extremum(value, dvalue, x, domain, maximize=maximize, tol=tol, what=piece, target=target)
        elif per.periodic:
            part = period_bracket(value, dvalue, x, per, maximize=maximize, tol=tol, what=piece, target=target)
        else:
            right = math.isinf(hi)  # the half-line [a, inf) (else (-inf, a])
            up = (per.shift > 0) == right
            if up == maximize:
                inf = math.inf if maximize else -math.inf
                proved = None if target is None else (inf <= target if maximize else inf >= target)
                part = Bracket(inf, inf, "symbolic", f"{per.describe()}: {piece}: e(a + t + kP) = e(a + t) + kc "
                                f"-> {inf} as k -> {'+' if right else '-'}inf", proved)
            else:
                a = lo if right else hi
                step = per.window()[1]  # >= P
                far = math.nextafter(a + step, math.inf) if right else math.nextafter(a - step, -math.inf)
                w_lo, w_hi = (a, far) if right else (far, a)
                part = _window_bracket(value, dvalue, x, w_lo, w_hi, maximize=maximize, tol=tol, what=piece,
                                       target=target, label=per.describe(),
                                       span=f"the period [{w_lo:g}, {w_hi:g}] next to the breakpoint")
        parts.append(part)
    pick = max if maximize else min
    lower, upper = pick(b.lower for b in parts), pick(b.upper for b in parts)
    method = "estimated" if any(b.method == "estimated" for b in parts) else (
        "symbolic" if all(b.method == "symbolic" for b in parts) else "interval")
    proved = None
    if target is not None:
        answers = [b.proved for b in parts]
        proved = False if False in answers else (True if all(a is True for a in answers) else None)
    detail = "by branches: " + " | ".join(b.detail for b in parts)
    return Bracket(lower, upper, method, detail, proved)
