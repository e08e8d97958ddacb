"""Proven properties of elementwise functions, each with the method that established it.

For an elementwise entry f (parameters at their defaults) this module derives:

* value and slope at 0, limits at ±∞;
* slope bounds [α, β] = [inf f', sup f'] and range [inf f, sup f];
* monotonicity, boundedness, odd/even symmetry, convexity/concavity, smoothness class,
  Lipschitz constant max(|α|, |β|).

Every result is a :class:`Fact` carrying its ``method``:

``symbolic``
    decided by SymPy (exact substitution, limits, simplification).
``interval``
    rigorous: python-flint ``arb`` enclosures over a subdivided interval [-R, R]
    (:mod:`funclib.interval`, R = 1e30), plus a *tail argument from limits*: beyond R the
    extremum is taken as the symbolic limit at ±∞ (the tail itself is not enclosed; see
    ``docs/properties.md``). Numeric values are *outer* bounds: a proven slope bound
    [α, β] contains [inf f', sup f'].
``estimated``
    dense sampling only; labelled so that nothing downstream (LipSDP) mistakes it for a proof.

Formulas of sin/cos/floor atoms with infinitely many extrema or breakpoints are first tried with
the *periodicity argument* (:mod:`funclib.periodicity`): once f(x + P) - f(x) = c is proven,
slope bounds, breakpoints, convexity and (for c = 0) the range are proven on one period, and
each such fact's detail starts with ``proven by periodicity (P = ..., c = ...)``. Its extensions:
f = x p + q with p, q periodic (unbounded range and slope from witness points, "proven by
linear-times-periodic"), a branch periodic (or a chirp sin(g), deg g >= 2) on a half-line
("by branches"), and limits decided by the branch that holds far out.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import mpmath
import sympy as sp

from . import calculus
from .formula import to_formula
from .mpeval import mp_evaluate
from .periodicity import (
    Chirp,
    LinearPeriodic,
    NotPeriodic,
    Periodicity,
    chirp_of,
    exact_extremum,
    explicit_branches,
    linear_periodic_of,
    period_breakpoints,
    periodicity_of,
    sign_witnesses,
)
from .special import expm1, log1p, sigmoid, softplus
from .timelimit import TimeLimitExceeded, time_limit

if TYPE_CHECKING:  # pragma: no cover
    from .entry import Entry

__all__ = [
    "Fact",
    "Properties",
    "compute_properties",
    "properties_of",
    "check_claims",
    "claim_status",
    "limit_at",
    "provable_form",
    "smoothness_fact",
    "ALGORITHM_VERSION",
    "CACHE_SUFFIX",
    "cache_file_for",
    "load_cache",
    "clear_cache_memo",
]

#: Bump when the derivation changes, so that cached properties are recomputed.
ALGORITHM_VERSION = "1"
CACHE_SUFFIX = ".properties.json"
FAR = 1e30  # the interval engine encloses [-FAR, FAR]; beyond, the tail argument uses limits
SLOPE_TOL = 1e-8
RANGE_TOL = 1e-8
LIMIT_SECONDS = 20


@dataclass(frozen=True)
class Fact:
    """One derived property: its value, how it was obtained, and a short account of how."""

    value: Any
    method: str
    detail: str = ""

    def as_json(self) -> dict[str, Any]:
        return {"value": _to_json(self.value), "method": self.method, "detail": self.detail}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Fact":
        return cls(_from_json(data["value"]), data["method"], data.get("detail", ""))


def _to_json(value: Any) -> Any:
    if isinstance(value, float):
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        if math.isnan(value):
            return "nan"
        return value
    if isinstance(value, (list, tuple)):
        return [_to_json(v) for v in value]
    return value


def _from_json(value: Any) -> Any:
    if value in ("inf", "-inf", "nan"):
        return float(value)
    if isinstance(value, list):
        return tuple(_from_json(v) for v in value)
    return value


@dataclass(frozen=True)
class Properties:
    """The derived properties of one entry (or one of its variants)."""

    entry_id: str
    variant: str | None
    key: str
    facts: dict[str, Fact] = field(default_factory=dict)

    def __getitem__(self, name: str) -> Fact:
        return self.facts[name]

    def get(self, name: str) -> Any:
        fact = self.facts.get(name)
        return None if fact is None else fact.value

    # Convenience accessors used by search() and the verifier.
    slope_bounds = property(lambda self: self.get("slope_bounds"))
    range = property(lambda self: self.get("range"))
    monotonic = property(lambda self: self.get("monotonic"))
    bounded_below = property(lambda self: self.get("bounded_below"))
    bounded_above = property(lambda self: self.get("bounded_above"))
    smoothness = property(lambda self: self.get("smoothness"))
    convex = property(lambda self: self.get("convex"))
    odd = property(lambda self: self.get("odd"))
    even = property(lambda self: self.get("even"))
    lipschitz = property(lambda self: self.get("lipschitz"))

    def methods(self) -> dict[str, int]:
        """Count of facts by method."""
        counts: dict[str, int] = {}
        for fact in self.facts.values():
            counts[fact.method] = counts.get(fact.method, 0) + 1
        return counts

    def as_json(self) -> dict[str, Any]:
        return {
            "entry": self.entry_id,
            "variant": self.variant,
            "key": self.key,
            "facts": {k: v.as_json() for k, v in self.facts.items()},
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Properties":
        facts = {k: Fact.from_json(v) for k, v in data["facts"].items()}
        return cls(data["entry"], data.get("variant"), data["key"], facts)


# -- helpers ------------------------------------------------------------------------------


def _to_float(value: sp.Expr) -> float:
    if value is sp.oo:
        return math.inf
    if value is sp.S.NegativeInfinity:
        return -math.inf
    return float(value)


def far_branches(expr: sp.Expr, x: sp.Symbol, direction: float, env=None) -> sp.Expr:
    """Replace every piecewise construct by the branch that holds for all large ±x.

    Conditions are decided at x = ±1e300 (60 digits), with other symbols at their values in
    ``env``; catalog conditions are comparisons with constants, so the branch chosen there
    holds on a whole neighbourhood of ±∞. (Also used by :mod:`funclib.kernels.limits`.)
    """
    from .mpeval import condition_truth

    far = {s: mpmath.mpf(v) for s, v in (env or {}).items()}
    far[x] = mpmath.mpf(10) ** 300 * (1 if direction > 0 else -1)
    rewritten = expr.rewrite(sp.Piecewise) if expr.has(sp.Abs, sp.Max, sp.Min, sp.Heaviside, sp.sign) else expr

    def pick(pw: sp.Piecewise) -> sp.Expr:
        with mpmath.workdps(60):
            for value, cond in pw.args:
                if condition_truth(cond, far):
                    return value
        return sp.nan

    while rewritten.has(sp.Piecewise):
        rewritten = rewritten.replace(lambda e: isinstance(e, sp.Piecewise), pick)
    return rewritten


def _for_limits(expr: sp.Expr) -> sp.Expr:
    """The same function in the vocabulary sympy.limit knows (exp/log instead of ours)."""
    from .special import erfc as stable_erfc

    expr = expr.replace(lambda e: isinstance(e, stable_erfc), lambda e: sp.erfc(e.args[0]))
    expr = expr.replace(lambda e: isinstance(e, (sigmoid, softplus)), lambda e: e.rewrite(sp.exp))
    return expr.rewrite(sp.log).replace(lambda e: isinstance(e, (log1p, expm1)), lambda e: e.rewrite(sp.log))


def _symbolic_limit(expr: sp.Expr, x: sp.Symbol, direction: float) -> float | None:
    target = sp.oo if direction > 0 else -sp.oo
    try:
        expr = _for_limits(far_branches(expr, x, direction))
        with time_limit(LIMIT_SECONDS):
            value = sp.limit(expr, x, target)
    except (TimeLimitExceeded, NotImplementedError, ValueError, TypeError, RecursionError, AttributeError):
        return None
    if value.is_extended_real is False or value.has(sp.AccumBounds) or value is sp.zoo or value is sp.nan:
        return None
    if value.is_number:
        try:
            return _to_float(value) + 0.0  # + 0.0 turns -0.0 into 0.0
        except TypeError:
            return None
    return None


def _numeric_limit(expr: sp.Expr, x: sp.Symbol, direction: float) -> float:
    """Limit estimated from mpmath values at ±1e8 ... ±1e64 (labelled ``estimated``)."""
    values = []
    for e in (8, 16, 32, 64):
        v = mp_evaluate(expr, {x: math.copysign(10.0**e, direction)}, 60)
        values.append(v)
    last, prev = values[-1], values[-2]
    if mpmath.isnan(last):
        return math.nan
    if abs(last) > 1e40:
        return math.copysign(math.inf, float(last))
    if abs(last - prev) <= 1e-12 * max(1, abs(last)):
        return float(last) + 0.0
    return math.nan


@lru_cache(maxsize=4096)
def limit_at(expr: sp.Expr, x: sp.Symbol, direction: float) -> float:
    """lim_{x→±∞} expr as float (symbolic, else estimated numerically; NaN if neither)."""
    value = _symbolic_limit(expr, x, direction)
    if value is not None:
        return value
    return _numeric_limit(expr, x, direction)


@lru_cache(maxsize=4096)
def _limit_fact(expr: sp.Expr, x: sp.Symbol, direction: float) -> Fact:
    value = _symbolic_limit(expr, x, direction)
    if value is not None:
        return Fact(value, "symbolic", "sympy.limit")
    return Fact(_numeric_limit(expr, x, direction), "estimated", "mpmath values at |x| = 1e8..1e64")


def _value_at(expr: sp.Expr, x: sp.Symbol, point: sp.Expr) -> Fact | None:
    try:
        value = expr.subs(x, point)
    except (TypeError, ValueError):
        return None
    if value.is_number and value.is_finite and value.is_real:
        return Fact(float(value), "symbolic", f"exact: {sp.sstr(sp.nsimplify(value)) if value.is_Rational else sp.sstr(value)}")
    return None


# -- kinks and smoothness -----------------------------------------------------------------

_NONSMOOTH = (sp.Piecewise, sp.Abs, sp.Max, sp.Min, sp.Heaviside, sp.sign, sp.floor, sp.ceiling)


def breakpoints(expr: sp.Expr, x: sp.Symbol) -> list[sp.Expr]:
    """Real points where a branch condition of the (piecewise-rewritten) formula switches."""
    rewritten = expr.rewrite(sp.Piecewise)
    points: set[sp.Expr] = set()
    for rel in rewritten.atoms(sp.core.relational.Relational):
        if not rel.has(x):
            continue
        try:
            sols = sp.solve(sp.Eq(rel.lhs, rel.rhs), x)
        except (NotImplementedError, TypeError, ValueError):
            continue
        points.update(s for s in sols if s.is_real)
    for node in rewritten.atoms(sp.floor, sp.ceiling):
        points.add(sp.nan)  # infinitely many jumps: not handled here
    return sorted((p for p in points if p is not sp.nan), key=lambda p: float(p))


def _one_sided(expr: sp.Expr, x: sp.Symbol, point: sp.Expr, side: int, digits: int = 40) -> mpmath.mpf:
    # Evaluate at point ± 10^-digits: past every rounding at digits + 20, before any other break.
    offset = mpmath.mpf(10) ** -digits * side
    with mpmath.workdps(digits + 20):
        # sp.N, not sp.Float: a breakpoint may be an algebraic number written with radicals
        # (a root of a cubic inside Abs), which sp.Float rejects.
        at = mpmath.mpf(sp.re(sp.N(point, digits + 30)))
        return mp_evaluate(expr, {x: at + offset}, digits + 20)


def _jump(expr: sp.Expr, x: sp.Symbol, point: sp.Expr) -> mpmath.mpf:
    """The jump of ``expr`` at ``point`` (0 where it is continuous; inf where a one-sided
    value diverges), from one-sided values at offsets 1e-40 and 1e-80.

    At 1e-40 a continuous function leaves a residue of order 1e-40*|f'|; a Hölder-continuous
    one (cbrt, sqrt at 0) leaves 1e-40**alpha, which at 1e-80 shrinks by another 1e-40**alpha
    (below 1e-6 of itself for alpha > 0.15, which every root and fractional power here has); a
    true jump stays. A one-sided value that grows by more than 100x from 1e-40 to 1e-80 past
    1e10 diverges (the slope of sqrt at 0): no continuity, even where both sides agree.
    """
    near = [_one_sided(expr, x, point, side) for side in (-1, +1)]
    nearer = [_one_sided(expr, x, point, side, 80) for side in (-1, +1)]
    for a, b in zip(near, nearer):
        if mpmath.isinf(b) or (abs(b) > 1e10 and abs(b) > 100 * abs(a)):
            return mpmath.inf
    jump = near[1] - near[0]
    if abs(jump) < mpmath.mpf(10) ** -30:
        return mpmath.mpf(0)
    closer = nearer[1] - nearer[0]
    if mpmath.isfinite(closer) and abs(closer) < mpmath.mpf(10) ** -10 and abs(closer) <= abs(jump) * mpmath.mpf(10) ** -6:
        return mpmath.mpf(0)
    return jump


#: The highest derivative order compared at breakpoints: a function continuous through it at
#: every breakpoint is reported as Cinf (the pieces of the catalog's formulas are analytic).
SMOOTHNESS_ORDER = 6
_CLASS_NAMES = {-1: "discontinuous", 0: "C0", 1: "C1", 2: "C2", 3: "C3", 4: "C4", 5: "C5"}


def smoothness_fact(
    expr: sp.Expr, x: sp.Symbol, periodicity: Periodicity | None = None
) -> tuple[Fact, list[tuple[float, list[float]]]]:
    """Smoothness class and, per breakpoint, the jumps of f and its derivatives.

    The one-sided values of f and its derivatives are compared at each breakpoint (:func:`_jump`)
    up to order :data:`SMOOTHNESS_ORDER`; derivatives beyond the third are formed only while
    every lower order is continuous. Continuous through the last order everywhere: ``Cinf``.
    With a proven ``periodicity`` (f(x + P) - f(x) = c, so f and its derivatives repeat their
    jumps with period P) only the breakpoints in one period [0, P) are compared; without one,
    a floor/ceiling formula (infinitely many breakpoints) is reported discontinuous.
    """
    if not expr.has(*_NONSMOOTH):
        return Fact("Cinf", "symbolic", "composition of analytic functions"), []
    prefix = ""
    try:
        if periodicity is None:
            raise NotPeriodic("no periodicity")
        points = period_breakpoints(expr, x, periodicity)
        prefix = f"{periodicity.describe()}; in one period [0, {sp.sstr(periodicity.period)}): "
    except NotPeriodic:
        if expr.has(sp.floor, sp.ceiling):
            return Fact("discontinuous", "symbolic", "floor/ceiling"), []
        points = breakpoints(expr, x)
    jumps: list[tuple[float, list[float]]] = [(float(p), []) for p in points]
    cls = SMOOTHNESS_ORDER  # the first order found discontinuous, minus 1
    d = expr
    for order in range(SMOOTHNESS_ORDER + 1):
        if order > 0:
            if order > 3 and cls < SMOOTHNESS_ORDER:
                break  # a lower order already jumps: higher ones are not needed
            d = calculus.derivative(d, x, 1)
        for p, (_, row) in zip(points, jumps):
            jump = _jump(d, x, p)
            row.append(0.0 if jump == 0 else float(jump) if not mpmath.isnan(jump) else math.nan)
            if jump != 0:
                cls = min(cls, order - 1)
    name = _CLASS_NAMES.get(cls, "Cinf")
    detail = prefix + (
        "breakpoints " + ", ".join(f"{p:g}" for p, _ in jumps)
        + f"; one-sided values of f and its derivatives (through order {len(jumps[0][1]) - 1}) compared at 60 digits"
        if jumps
        else "no breakpoint on the real line"
    )
    return Fact(name, "symbolic", detail), jumps


# -- extrema ------------------------------------------------------------------------------


@lru_cache(maxsize=4096)
def _end_limit(expr: sp.Expr, x: sp.Symbol, end: float, direction: int) -> float:
    """Limit of expr at an open end of the domain (±inf, or a finite end from inside)."""
    if math.isinf(end):
        return limit_at(expr, x, direction)
    try:
        with time_limit(LIMIT_SECONDS):
            value = sp.limit(_for_limits(expr), x, sp.nsimplify(end), "-" if direction > 0 else "+")
        return _to_float(value) if value.is_number and value.is_extended_real else math.nan
    except (TimeLimitExceeded, NotImplementedError, ValueError, TypeError):
        return math.nan


@dataclass(frozen=True)
class _Bracket:
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


def _sampled_bracket(expr, x, domain, *, maximize: bool, what: str, reason: str, target=None) -> "_Bracket":
    """Fallback when the interval engine cannot enclose a function: sampling, labelled estimated."""
    values = []
    for t in _sample_points(domain):
        v = mp_evaluate(expr, {x: t}, 30)
        if not mpmath.isnan(v):
            values.append(float(v))
    best = (max if maximize else min)(values) if values else math.nan
    proved = None
    detail = f"{what} sampled at {len(values)} points (interval engine: {reason}); estimate only"
    return _Bracket(best, best, "estimated", detail, proved)


def _bracket(
    expr: sp.Expr,
    dexpr: sp.Expr | None,
    x: sp.Symbol,
    domain,
    *,
    maximize: bool,
    tol: float,
    what: str,
    target: float | None = None,
) -> _Bracket:
    """Rigorous bracket of sup/inf over ``domain`` (interval branch and bound + tails).

    The engine covers [-R, R] (R = 1e30) and encloses the tails beyond R directly where that
    is tight enough; an uncovered infinite end is bounded by the limit there (the *tail
    argument from limits*). A search that does not converge yields method ``estimated``.
    """
    from . import interval

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
            value = _end_limit(expr, x, end, direction)
            if value == (math.inf if maximize else -math.inf):
                where = f"{'+' if direction > 0 else '-'}inf" if math.isinf(end) else f"{end:g}"
                proved = None if target is None else (value <= target if maximize else value >= target)
                return _Bracket(value, value, "symbolic", f"{what} -> {value} as x -> {where} (sympy.limit)", proved)
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
    return _Bracket(lo, hi, "interval" if settled else "estimated", detail, found.proved)


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


def _period_bracket(
    expr: sp.Expr,
    dexpr: sp.Expr | None,
    x: sp.Symbol,
    per: Periodicity,
    *,
    maximize: bool,
    tol: float,
    what: str,
    target: float | None = None,
) -> _Bracket:
    """:func:`_bracket` for a P-periodic ``expr``: its sup (inf) over one period is over R.

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
) -> _Bracket:
    """Arb bracket of sup (inf) of ``expr`` over the closed window [lo, hi], which an argument
    (``label``) has shown to give the extremum over the whole domain; an ``exact`` extremum
    (value, critical points) replaces the bracket once it lies inside it."""
    from . import interval

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
        from .ranges import Interval as Domain

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
            return _Bracket(vlo, vhi, "symbolic", detail, proved)
    detail = f"{label}; arb branch and bound of {what} on {span} ({found.boxes} boxes)"
    if not settled:
        detail += "; NOT converged: estimate only"
    return _Bracket(float(found.lower), float(found.upper), "interval" if settled else "estimated", detail, found.proved)


def _exact_float(value: sp.Expr) -> float | None:
    """``value`` as a float when it is one exactly (a breakpoint such as 0 or 1/2), else None."""
    if not value.is_Rational:
        return None
    as_float = float(value)
    return as_float if sp.Rational(as_float) == value else None


def _chirp_bracket(chirp: Chirp, *, maximize: bool, what: str, target: float | None) -> _Bracket:
    """Sup (inf) of u T(g) + v over a half-line where g -> ±inf (:class:`funclib.periodicity.Chirp`)."""
    if chirp.bounded:
        value = chirp.v + abs(chirp.u) if maximize else chirp.v - abs(chirp.u)
        lo, hi = _outward(value)
        proved = None if target is None else _exact_sign(value, target, maximize)
        return _Bracket(lo, hi, "symbolic", f"{what}: {'max' if maximize else 'min'} = {sp.sstr(value)}, exact: "
                        + chirp.describe(), proved)
    inf = math.inf if maximize else -math.inf
    proved = None if target is None else (inf <= target if maximize else inf >= target)
    return _Bracket(inf, inf, "symbolic", f"{what}: {'sup' if maximize else 'inf'} = {inf}: " + chirp.describe(),
                    proved)


def _interval_text(where: sp.Interval) -> str:
    """``(0, inf)``, ``[-1/2, 1)``: an interval of the real line as the catalog writes it."""
    def end(v: sp.Expr) -> str:
        return ("inf" if v > 0 else "-inf") if v.is_infinite else sp.sstr(v)

    return f"{'(' if where.left_open else '['}{end(where.left)}, {end(where.right)}{')' if where.right_open else ']'}"


def _branch_bracket(
    expr: sp.Expr,
    x: sp.Symbol,
    *,
    maximize: bool,
    tol: float,
    what: str,
    target: float | None = None,
) -> _Bracket | None:
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
    from .ranges import Interval as Domain

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
    parts: list[_Bracket] = []
    for value, where, per in plans:
        dvalue = sp.diff(value, x)
        lo, hi = float(where.inf), float(where.sup)
        if isinstance(where, sp.FiniteSet):
            from . import interval

            piece = f"{what} at {sp.sstr(where.inf)} (branch {sp.sstr(value)})"
            at = interval.enclose(value, x, where.inf, where.inf)
            proved = None if target is None else (at.upper() <= target if maximize else at.lower() >= target)
            part = _Bracket(at.lower(), at.upper(), "interval", f"{piece}: arb enclosure at the point", proved)
            parts.append(part)
            continue
        piece = f"{what} on {_interval_text(where)} (branch {sp.sstr(value)})"
        if isinstance(per, Chirp):
            part = _chirp_bracket(per, maximize=maximize, what=piece, target=target)
        elif per is None:
            domain = Domain(lo, hi, not where.left_open and math.isfinite(lo),
                            not where.right_open and math.isfinite(hi))
            part = _bracket(value, dvalue, x, domain, maximize=maximize, tol=tol, what=piece, target=target)
        elif per.periodic:
            part = _period_bracket(value, dvalue, x, per, maximize=maximize, tol=tol, what=piece, target=target)
        else:
            right = math.isinf(hi)  # the half-line [a, inf) (else (-inf, a])
            up = (per.shift > 0) == right
            if up == maximize:
                inf = math.inf if maximize else -math.inf
                proved = None if target is None else (inf <= target if maximize else inf >= target)
                part = _Bracket(inf, inf, "symbolic", f"{per.describe()}: {piece}: e(a + t + kP) = e(a + t) + kc "
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
    return _Bracket(lower, upper, method, detail, proved)


def _zero_piece(dexpr: sp.Expr) -> bool:
    """Whether f' is identically 0 on some piece (then f is not strictly monotone)."""
    pw = dexpr.rewrite(sp.Piecewise)
    pw = sp.piecewise_fold(pw)
    if isinstance(pw, sp.Piecewise):
        return any(value == 0 for value, _ in pw.args)
    return dexpr == 0


def _symmetry(expr: sp.Expr, x: sp.Symbol, sign: int) -> Fact:
    """Odd (sign = -1: f(-x) = -f(x)) or even (sign = +1) symmetry."""
    what = "odd" if sign < 0 else "even"
    reflected = expr.subs(x, -x)
    try:
        with time_limit(LIMIT_SECONDS):
            diff = sp.simplify(reflected - sign * expr)
    except TimeLimitExceeded:
        diff = None
    if diff == 0:
        return Fact(True, "symbolic", f"simplify(f(-x) {'+' if sign < 0 else '-'} f(x)) = 0")
    # Look for a witness point; a clear nonzero value at 60 digits refutes the symmetry.
    for t in (0.3, 1.0, 1.7, 2.5, 4.0, 7.5, 0.05):
        a = mp_evaluate(reflected, {x: t}, 60)
        b = mp_evaluate(expr, {x: t}, 60)
        if mpmath.isnan(a) or mpmath.isnan(b):
            continue
        with mpmath.workdps(60):  # at the default 15 digits, sign*b would round b first
            refuted = abs(a - sign * b) > mpmath.mpf(10) ** -40 * (1 + abs(b))
        if refuted:
            return Fact(False, "symbolic", f"witness x = {t}: f(-x) = {mpmath.nstr(a, 8)}, f(x) = {mpmath.nstr(b, 8)}")
    return Fact(True, "estimated", f"no counterexample among sample points; simplify could not prove {what}ness")


# -- main entry point ---------------------------------------------------------------------


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
                target: float | None = None) -> _Bracket:
        # f', f'' (and f itself when c = 0) are P-periodic: one period decides.
        if self.per is not None:
            return _period_bracket(expr, dexpr, self.x, self.per, maximize=maximize, tol=tol, what=what,
                                   target=target)
        if self.whole_line and expr.has(*_PERIODIC_ATOMS):
            # A branch periodic on a half-line: one period of it decides there.
            split = _branch_bracket(expr, self.x, maximize=maximize, tol=tol, what=what, target=target)
            if split is not None:
                return split
            chirp = chirp_of(expr, self.x, 1) or chirp_of(expr, self.x, -1)
            if chirp is not None:
                return _chirp_bracket(chirp, maximize=maximize, what=what, target=target)
        return _bracket(expr, dexpr, self.x, self.domain, maximize=maximize, tol=tol, what=what, target=target)


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
    per = _periodicity(f, x, domain)
    whole_line = math.isinf(domain.lo) and math.isinf(domain.hi)
    linear = linear_periodic_of(f, x) if whole_line and per is None and not f.has(*_NONSMOOTH) else None
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
    if whole_line and per is None and f.has(*_PERIODIC_ATOMS):
        for name, direction in (("limit_at_inf", 1), ("limit_at_neg_inf", -1)):
            if facts[name].method == "estimated":
                facts[name] = _far_periodic_limit(f, x, direction) or facts[name]
    unbounded = _linear_periodic_facts(linear, f, x, facts) if linear is not None else {}
    facts.update(unbounded)

    value_jumps = [row[0] for _, row in jumps]
    up_jump, down_jump = any(j > 0 for j in value_jumps), any(j < 0 for j in value_jumps)
    signs = _slope_facts(proof, unbounded, up_jump, down_jump)
    _monotonic_fact(proof, unbounded, up_jump, down_jump, signs)
    _range_facts(proof, unbounded, up_jump or down_jump)
    if domain.lo == -domain.hi and domain.lo_closed == domain.hi_closed:
        facts["odd"] = _symmetry(f, x, -1)
        facts["even"] = _symmetry(f, x, +1)
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
        sup = proof.bracket(df, d2f, maximize=True, tol=SLOPE_TOL, what="f'")
        inf = proof.bracket(df, d2f, maximize=False, tol=SLOPE_TOL, what="f'")
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
                ends.append(_end_limit(f, x, end, direction))
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
        _quasi_periodic_limits(facts, f, x, per)
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


_PERIODIC_ATOMS = (sp.sin, sp.cos, sp.tan, sp.sec, sp.csc, sp.cot, sp.floor, sp.ceiling)


def _linear_periodic_facts(lp: LinearPeriodic, f: sp.Expr, x: sp.Symbol, facts: dict[str, Fact]) -> dict[str, Fact]:
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
    from . import interval

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


def _far_periodic_limit(f: sp.Expr, x: sp.Symbol, direction: int) -> Fact | None:
    """The limit at ±inf where the branch of f for large ±x is periodic, quasi-periodic or a chirp.

    Periodic and not constant (arb: sup > inf on one period): no limit. Quasi-periodic
    (e(t + P) = e(t) + c, c != 0) with e - c x/P bounded on one period: ±inf with the sign of c x.
    A chirp u T(g) + v (:class:`funclib.periodicity.Chirp`, u != 0) takes the values v ± |u| (or
    ±inf) along two sequences: no limit.
    """
    from . import interval

    from .mpeval import MpEvalError

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


def _periodicity(f: sp.Expr, x: sp.Symbol, domain) -> Periodicity | None:
    """The proven f(x + P) - f(x) = c of a formula on the whole real line, if any."""
    if not (math.isinf(domain.lo) and math.isinf(domain.hi)):
        return None
    return periodicity_of(f, x)


def _quasi_periodic_limits(facts: dict[str, Fact], f: sp.Expr, x: sp.Symbol, per: Periodicity) -> None:
    """Limits ±sign(c)·inf of a quasi-periodic f (c != 0) that SymPy did not find.

    g = f - c x / P is P-periodic; where arb bounds it on one period, g is bounded on R and
    f = c x / P + g tends to ±inf with the sign of c x.
    """
    if all(facts[n].method != "estimated" for n in ("limit_at_inf", "limit_at_neg_inf")):
        return
    from . import interval

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


def provable_form(f: sp.Expr, x: sp.Symbol) -> tuple[sp.Expr, str]:
    """``f`` itself, or an exactly equal closed form when ``f`` holds functions the interval
    engine cannot enclose (the Mittag-Leffler function at its closed-form parameters).

    The rewrite is a symbolic identity (``mittag_leffler(...).rewrite("closed_form")``, then
    ``simplify`` and the stabilizing rewrites), so facts proven on it hold for ``f``.
    """
    from .mittag_leffler import eliminate, mittag_leffler

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


def cache_key(entry: "Entry") -> str:
    return f"{entry.key()}-v{ALGORITHM_VERSION}"


# -- cache ----------------------------------------------------------------------------------
#
# The committed cache is split by catalog file: ``catalog/activation/relu_family.toml`` has its
# proofs in ``catalog/activation/relu_family.properties.json`` beside it. One file per family
# keeps the diffs of a change local and lets several people add families at once.


def cache_file_for(source: str) -> str:
    """The sidecar cache path (relative to the catalog root) of a catalog TOML ``source``."""
    if not source.startswith("catalog/") or not source.endswith(".toml"):
        raise ValueError(f"{source!r} is not a built-in catalog file; only those have a committed cache")
    return source[len("catalog/"):-len(".toml")] + CACHE_SUFFIX


def _catalog_root_for_writing() -> Path:
    return Path(__file__).resolve().parent.parent / "catalog"


def _sidecar_texts() -> list[tuple[str, str]]:
    """(relative path, text) of every sidecar cache shipped in ``funclib.catalog``."""
    found: list[tuple[str, str]] = []

    def walk(node, prefix: str) -> None:
        for child in sorted(node.iterdir(), key=lambda c: c.name):
            if child.is_dir() and not child.name.startswith(("_", ".")):
                walk(child, f"{prefix}{child.name}/")
            elif child.name.endswith(CACHE_SUFFIX):
                found.append((prefix + child.name, child.read_text(encoding="utf-8")))

    try:
        walk(resources.files("funclib.catalog"), "")
    except (FileNotFoundError, OSError):
        return []
    return found


@lru_cache(maxsize=1)
def _load_cache_memo() -> dict[str, Any]:
    data: dict[str, Any] = {}
    for _, text in _sidecar_texts():
        try:
            data.update(json.loads(text))
        except json.JSONDecodeError:
            continue  # a damaged sidecar: its entries are recomputed, never trusted
    return data


def load_cache() -> dict[str, Any]:
    """The committed property cache (every ``*.properties.json`` sidecar merged), or {}."""
    return _load_cache_memo()


@lru_cache(maxsize=None)
def _sidecar(rel: str) -> dict[str, Any]:
    """One sidecar (``relu_family.properties.json``), or {} when absent or damaged."""
    try:
        return json.loads(resources.files("funclib.catalog").joinpath(rel).read_text(encoding="utf-8"))
    except (FileNotFoundError, OSError, json.JSONDecodeError):
        return {}  # recomputed, never trusted


def _cached_slot(entry: "Entry") -> dict[str, Any]:
    """The cache slot of a built-in entry, reading only its own catalog file's sidecar."""
    try:
        rel = cache_file_for(entry.source)
    except ValueError:
        return {}  # a user's catalog file: no committed proofs
    return _sidecar(rel).get(entry.id, {})


def clear_cache_memo() -> None:
    """Forget the loaded cache (after the sidecars were rewritten)."""
    _load_cache_memo.cache_clear()
    _sidecar.cache_clear()
    _MEMO.clear()


_MEMO: dict[tuple[str, str | None], Properties] = {}


def properties_of(entry: "Entry", variant: str | None = None, *, recompute: bool = False) -> Properties:
    """Properties from the cache if fresh for this exact entry, else computed (and memoized)."""
    memo_key = (cache_key(entry), variant)
    if not recompute and memo_key in _MEMO:
        return _MEMO[memo_key]
    if not recompute:
        cached = _cached_slot(entry)
        slot = cached.get("variants", {}).get(variant) if variant else cached.get("default")
        if slot is not None and cached.get("key") == cache_key(entry):
            props = Properties.from_json(slot)
            _MEMO[memo_key] = props
            return props
    props = compute_properties(entry, variant)
    _MEMO[memo_key] = props
    return props


def build_cache(entries, progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Compute the properties of every elementwise entry and variant (the cache content)."""
    data: dict[str, Any] = {}
    for entry in entries:
        if entry.kind != "elementwise":
            continue
        if progress:
            progress(entry.id)
        slot = {"key": cache_key(entry), "default": compute_properties(entry).as_json(), "variants": {}}
        for name in entry.variants:
            slot["variants"][name] = compute_properties(entry, name).as_json()
        data[entry.id] = slot
    return data


# -- claims -------------------------------------------------------------------------------


def claim_status(entry: "Entry", props: Properties | None = None) -> dict[str, tuple[str, str]]:
    """Each hand-written claim's status: ``proven``, ``refuted`` or ``unverified``, with a reason.

    A claim agreeing with a ``symbolic`` or ``interval`` fact is proven; disagreeing with one
    is refuted. Against an ``estimated`` fact (or one that could not be derived) a claim is
    unverified: neither confirmed nor refuted by a proof.
    """
    props = props or entry.properties()
    tol = entry.claims.get("claim_tolerance", 1e-6)
    status: dict[str, tuple[str, str]] = {}

    def close(a: float, b: float) -> bool:
        if math.isinf(a) or math.isinf(b):
            return a == b
        return abs(a - b) <= tol

    for name, claimed in entry.claims.items():
        if name == "claim_tolerance":
            continue
        fact = props.facts.get(name)
        if fact is None:
            status[name] = ("unverified", "not derived")
            continue
        derived = fact.value
        if name == "range":
            ok = close(claimed.lo, derived[0]) and close(claimed.hi, derived[1])
        elif name == "slope_bounds":
            ok = close(claimed[0], derived[0]) and close(claimed[1], derived[1])
        elif isinstance(claimed, float):
            ok = derived is not None and close(claimed, float(derived))
        else:
            ok = claimed == derived
        account = f"derived {_to_json(derived)} ({fact.method}: {fact.detail})"
        if fact.method == "estimated":
            status[name] = ("unverified", account)
        else:
            status[name] = ("proven" if ok else "refuted", account)
    return status


def check_claims(entry: "Entry", props: Properties | None = None) -> list[str]:
    """One message per claim that a proof refutes (empty when none is refuted)."""
    return [
        f"{entry.source}: entry {entry.id!r}: claim {name} = {_to_json(entry.claims[name])!s} is refuted: {why}"
        for name, (state, why) in claim_status(entry, props).items()
        if state == "refuted"
    ]


def write_cache(data: dict[str, Any], sources: dict[str, str]) -> list[Path]:
    """Merge ``data`` (entry id -> slot) into the sidecars of the entries' catalog files.

    ``sources`` maps each id to its catalog file. Each sidecar is rewritten atomically (a
    temporary file renamed over it), so a crash never leaves one half-written.
    """
    root = _catalog_root_for_writing()
    by_file: dict[str, dict[str, Any]] = {}
    for entry_id, slot in data.items():
        by_file.setdefault(cache_file_for(sources[entry_id]), {})[entry_id] = slot
    written = []
    for rel, slots in sorted(by_file.items()):
        path = root / rel
        old = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
        old.update(slots)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(dict(sorted(old.items())), indent=1) + "\n", encoding="utf-8")
        tmp.replace(path)
        written.append(path)
    clear_cache_memo()
    return written


def prune_cache(live_ids: set[str]) -> list[str]:
    """Drop sidecar slots of entries that no longer exist (or moved to another file)."""
    from .registry import entries

    root = _catalog_root_for_writing()
    where = {e.id: cache_file_for(e.source) for e in entries() if e.kind == "elementwise"}
    dropped = []
    for path in sorted(root.rglob("*" + CACHE_SUFFIX)):
        rel = path.relative_to(root).as_posix()
        data = json.loads(path.read_text(encoding="utf-8"))
        keep = {k: v for k, v in data.items() if k in live_ids and where.get(k) == rel}
        if keep != data:
            dropped += sorted(set(data) - set(keep))
            if keep:
                path.write_text(json.dumps(keep, indent=1) + "\n", encoding="utf-8")
            else:
                path.unlink()
    clear_cache_memo()
    return dropped


def main(argv: list[str] | None = None) -> int:
    """``python -m funclib.properties --write [IDS]``: regenerate the committed property cache."""
    import argparse
    import sys

    from .registry import entries

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--write", action="store_true", help="write the catalog's *.properties.json sidecars")
    parser.add_argument("--prune", action="store_true", help="drop cached entries that no longer exist")
    parser.add_argument("ids", nargs="*", help="only these entries (default: all)")
    args = parser.parse_args(argv)
    everything = entries()
    if args.prune:
        dropped = prune_cache({e.id for e in everything})
        print(f"dropped {len(dropped)} stale slot(s): {', '.join(dropped) or '-'}")
        if not args.write:
            return 0
    known = {e.id for e in everything}
    missing = [i for i in args.ids if i not in known]
    if missing:
        print(f"unknown entry id(s): {', '.join(missing)}", file=sys.stderr)
        return 2
    chosen = [e for e in everything if not args.ids or e.id in args.ids]
    data = build_cache(chosen, progress=lambda i: print(f"proving {i} ...", file=sys.stderr, flush=True))
    if args.write:
        for path in write_cache(data, {e.id: e.source for e in chosen}):
            print(f"wrote {path}")
    else:
        print(json.dumps(data, indent=1))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
