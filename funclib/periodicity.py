r"""The periodicity argument: proofs over one period for formulas with infinitely many
breakpoints or extrema.

A formula :math:`f` is *quasi-periodic* with period :math:`P > 0` and shift :math:`c` when

.. math:: f(x + P) - f(x) = c \quad \text{for all real } x

(*periodic* when :math:`c = 0`).  Then :math:`f'` is :math:`P`-periodic wherever it exists, so
every fact about :math:`f'` over :math:`\mathbb{R}` is a fact about :math:`f'` over one period
:math:`[x_0, x_0 + P]`: slope bounds, the breakpoints (and the jumps of :math:`f` and its
derivatives there), the sign of :math:`f''`.  For :math:`c = 0` the range of :math:`f` is its
range over one period; for :math:`c \ne 0`, :math:`f(x_0 + kP) = f(x_0) + kc` is unbounded both
ways, and :math:`f(x) - cx/P` is :math:`P`-periodic, so :math:`f \to \pm\infty` with the sign of
:math:`c` wherever :math:`f` is bounded on one period.

Detection is symbolic, never sampled: the *periodic atoms* ``sin``, ``cos``, ``tan``, ``sec``,
``csc``, ``cot`` of :math:`a x + b` (period :math:`2\pi/|a|`, :math:`\pi/|a|` for tan/cot) and
``floor``/``ceiling`` of :math:`a x + b` (:math:`\lfloor u + 1 \rfloor = \lfloor u \rfloor + 1`:
period :math:`1/|a|`) must all have commensurate periods (rational ratios); :math:`P` is their
least common multiple, and :math:`f(x + P) - f(x)` must simplify (SymPy's own floor and trig
rules) to a constant.  That constant is then cross-checked at random points with mpmath at 50
digits.  A formula with an atom of a non-linear argument (:math:`\sin x^2`), incommensurate
atoms (:math:`\sin x + \sin\sqrt2 x`) or a non-constant difference (:math:`x \sin x`,
:math:`\max(x, 0) + \sin x`) is refused with the reason (:class:`NotPeriodic`).

On one period, :func:`period_breakpoints` lists the finitely many points where a floor jumps
or a branch condition switches, and :func:`exact_extremum` finds the exact extremum of a smooth
expression from its critical points (``sympy.solveset`` on the closed period, accepted only
when it returns a finite set).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from functools import lru_cache

import mpmath
import sympy as sp

from .mpeval import mp_evaluate
from .timelimit import TimeLimitExceeded, time_limit

__all__ = ["NotPeriodic", "Periodicity", "detect_periodicity", "periodicity_of", "period_breakpoints", "exact_extremum"]

_TRIG_2PI = (sp.sin, sp.cos, sp.sec, sp.csc)
_TRIG_PI = (sp.tan, sp.cot)
_STEPS = (sp.floor, sp.ceiling)
_ATOMS = _TRIG_2PI + _TRIG_PI + _STEPS
LIMIT_SECONDS = 20
#: Most breakpoints or critical points handled in one period (a longer list is refused).
MAX_POINTS = 256


class NotPeriodic(ValueError):
    """The periodicity argument does not apply; the message says why."""


@dataclass(frozen=True)
class Periodicity:
    r"""A proven identity :math:`f(x + P) - f(x) = c` (exact SymPy numbers).

    Attributes
    ----------
    period : sympy.Expr
        :math:`P > 0`.
    shift : sympy.Expr
        :math:`c` (0: periodic).
    checks : int
        Random points at which mpmath confirmed the difference.
    """

    period: sp.Expr
    shift: sp.Expr
    checks: int

    @property
    def periodic(self) -> bool:
        """Whether :math:`c = 0`."""
        return self.shift == 0

    def describe(self) -> str:
        """``proven by periodicity (P = 2*pi, c = 0)``."""
        return f"proven by periodicity (P = {sp.sstr(self.period)}, c = {sp.sstr(self.shift)})"

    def window(self) -> tuple[float, float]:
        r"""A float interval :math:`[0, P^+]` with :math:`P^+ \ge P` (one ulp up at most).

        It contains a whole period and lies in :math:`\mathbb{R}`, so the extremum of a
        :math:`P`-periodic function over it is its extremum over the real line.
        """
        with mpmath.workdps(40):
            exact = mpmath.mpf(sp.N(self.period, 40))
        hi = float(exact)
        if hi < exact:
            hi = math.nextafter(hi, math.inf)
        return 0.0, hi


def _linear(arg: sp.Expr, x: sp.Symbol) -> tuple[sp.Expr, sp.Expr]:
    """(a, b) with arg = a*x + b, a != 0 a real constant; NotPeriodic otherwise."""
    a = sp.diff(arg, x)
    b = sp.expand(arg - a * x)
    if a.has(x) or b.has(x) or a.free_symbols or b.free_symbols or a == 0 or a.is_real is False:
        raise NotPeriodic(f"{sp.sstr(arg)} is not a*x + b with constants a != 0, b")
    return a, b


def _atom_period(atom: sp.Expr, x: sp.Symbol) -> sp.Expr:
    a, _ = _linear(atom.args[0], x)
    base = 2 * sp.pi if isinstance(atom, _TRIG_2PI) else sp.pi if isinstance(atom, _TRIG_PI) else sp.S.One
    return base / abs(a)


def _common_period(periods: list[sp.Expr]) -> sp.Expr:
    """The least common multiple of commensurate periods (NotPeriodic if some ratio is irrational)."""
    first = periods[0]
    ratios = []
    for p in periods:
        r = p / first if (p / first).is_Rational else sp.simplify(p / first)
        if not r.is_Rational:
            raise NotPeriodic(f"incommensurate periods {sp.sstr(first)} and {sp.sstr(p)} (ratio {sp.sstr(p / first)})")
        ratios.append(sp.Rational(r))
    nums = math.lcm(*(int(r.p) for r in ratios))
    dens = math.gcd(*(int(r.q) for r in ratios))
    return sp.simplify(first * sp.Rational(nums, dens))


def _shifted(expr: sp.Expr, x: sp.Symbol, period: sp.Expr) -> sp.Expr:
    """f(x + P) with every atom's argument expanded, so SymPy's rules take whole periods out."""
    moved = expr.xreplace({x: x + period})
    moved = moved.replace(lambda e: isinstance(e, _ATOMS) and e.has(x), lambda e: e.func(sp.expand(e.args[0])))
    return moved.replace(lambda e: isinstance(e, (sp.Max, sp.Min)), _common_constant_out)


def _common_constant_out(e: sp.Expr) -> sp.Expr:
    """max(a + k, b + k) = max(a, b) + k (SymPy does not do it; floor shifts create it)."""
    parts = [sp.expand(a).as_coeff_Add() for a in e.args]
    k = parts[0][0]
    if k == 0 or any(c != k for c, _ in parts):
        return e
    return e.func(*(rest for _, rest in parts)) + k


def detect_periodicity(expr: sp.Expr, x: sp.Symbol, *, checks: int = 8, seed: int = 0) -> Periodicity:
    r"""Prove :math:`f(x + P) - f(x) = c` for a constant period :math:`P` and shift :math:`c`.

    Parameters
    ----------
    expr : sympy.Expr
        :math:`f`, with ``x`` its only free symbol, defined on the whole real line.
    x : sympy.Symbol
        The variable.
    checks : int
        Random points (uniform in [-50, 50]) at which :math:`f(t + P) - f(t) = c` is confirmed
        with mpmath at 50 digits (points where f is undefined are skipped).
    seed : int
        Seed of those points.

    Returns
    -------
    Periodicity
        :math:`P` (the least common multiple of the atoms' periods) and :math:`c`.

    Raises
    ------
    NotPeriodic
        With the reason: no periodic atom, an atom of a non-linear argument, incommensurate
        periods, a difference that does not simplify to a constant, or a failed cross-check.
    """
    atoms = [a for a in expr.atoms(*_ATOMS) if a.has(x)]
    if not atoms:
        raise NotPeriodic("no sin/cos/tan/floor/ceiling of x")
    period = _common_period(sorted({_atom_period(a, x) for a in atoms}, key=sp.default_sort_key))
    try:
        with time_limit(LIMIT_SECONDS):
            shift = sp.simplify(_shifted(expr, x, period) - expr)
    except TimeLimitExceeded:
        raise NotPeriodic(f"f(x + {sp.sstr(period)}) - f(x) did not simplify within {LIMIT_SECONDS} s") from None
    if shift.has(x) or shift.free_symbols or not shift.is_real or not shift.is_finite:
        raise NotPeriodic(f"f(x + {sp.sstr(period)}) - f(x) = {sp.sstr(shift)} is not a constant")
    rng = random.Random(seed)
    done = 0
    with mpmath.workdps(50):
        want = mpmath.mpf(sp.N(shift, 50))
        step = mpmath.mpf(sp.N(period, 60))
        for _ in range(4 * checks):
            if done == checks:
                break
            t = mpmath.mpf(rng.uniform(-50, 50))
            a, b = mp_evaluate(expr, {x: t}, 50), mp_evaluate(expr, {x: t + step}, 50)
            if not (mpmath.isfinite(a) and mpmath.isfinite(b)):
                continue
            if abs(b - a - want) > mpmath.mpf(10) ** -30 * (1 + abs(a) + abs(b)):
                raise NotPeriodic(f"cross-check failed at x = {mpmath.nstr(t, 17)}: f(x + P) - f(x) = "
                                  f"{mpmath.nstr(b - a, 20)}, symbolic c = {sp.sstr(shift)}")
            done += 1
    if done < checks // 2:
        raise NotPeriodic("f is undefined at most cross-check points")
    return Periodicity(sp.nsimplify(period) if period.is_Rational else period, shift, done)


@lru_cache(maxsize=1024)
def periodicity_of(expr: sp.Expr, x: sp.Symbol) -> Periodicity | None:
    """:func:`detect_periodicity`, or None where the argument does not apply (memoized)."""
    try:
        return detect_periodicity(expr, x)
    except NotPeriodic:
        return None


def _step_points(expr: sp.Expr, x: sp.Symbol, lo: sp.Expr, hi: sp.Expr) -> list[sp.Expr]:
    """Exact points in [lo, hi) where a floor/ceiling atom's argument a*x + b is an integer."""
    points: set[sp.Expr] = set()
    for atom in expr.atoms(*_STEPS):
        if not atom.has(x):
            continue
        a, b = _linear(atom.args[0], x)
        ends = sorted((a * lo + b, a * hi + b), key=float)
        for k in range(int(sp.ceiling(ends[0])), int(sp.floor(ends[1])) + 1):
            t = sp.nsimplify((k - b) / a)
            if lo <= t < hi:
                points.add(t)
        if len(points) > MAX_POINTS:
            raise NotPeriodic(f"more than {MAX_POINTS} floor/ceiling jumps in one period")
    return sorted(points, key=float)


def _frozen_steps(expr: sp.Expr, x: sp.Symbol, mid: sp.Expr) -> sp.Expr:
    """``expr`` with each floor/ceiling replaced by its (constant) value at ``mid``."""
    return expr.replace(lambda e: isinstance(e, _STEPS) and e.has(x), lambda e: e.func(e.args[0].subs(x, mid)))


def period_breakpoints(expr: sp.Expr, x: sp.Symbol, per: Periodicity) -> list[sp.Expr]:
    r"""The exact breakpoints of ``expr`` in one period :math:`[0, P)`.

    The floor/ceiling jumps (:math:`a x + b \in \mathbb{Z}`) cut the period into open pieces
    on which every floor is a constant integer; on each piece the conditions of the remaining
    branches (``Piecewise``, ``Abs``, ``Max``, ...) are solved exactly with ``sympy.solveset``.

    Raises
    ------
    NotPeriodic
        When a branch condition's solutions on a piece are not a finite set.
    """
    lo, hi = sp.S.Zero, per.period
    steps = _step_points(expr, x, lo, hi)
    points = set(steps) | {lo}  # 0 may be a breakpoint the open pieces miss (|sin x|)
    cuts = [lo] + [p for p in steps if p != lo] + [hi]
    for left, right in zip(cuts, cuts[1:]):
        piece = _frozen_steps(expr, x, (left + right) / 2).rewrite(sp.Piecewise)
        for rel in piece.atoms(sp.core.relational.Relational):
            if not rel.has(x):
                continue
            try:
                with time_limit(LIMIT_SECONDS):
                    sols = sp.solveset(rel.lhs - rel.rhs, x, sp.Interval.open(left, right))
            except TimeLimitExceeded:
                raise NotPeriodic(f"solving {sp.sstr(rel)} on ({left}, {right}) took over {LIMIT_SECONDS} s") from None
            if not isinstance(sols, sp.FiniteSet):
                raise NotPeriodic(f"the solutions of {sp.sstr(rel)} on ({left}, {right}) are not a finite set")
            points.update(sols)
        if len(points) > MAX_POINTS:
            raise NotPeriodic(f"more than {MAX_POINTS} breakpoints in one period")
    return sorted(points, key=lambda p: float(p))


_NONSMOOTH = (sp.Piecewise, sp.Abs, sp.Max, sp.Min, sp.Heaviside, sp.sign, sp.floor, sp.ceiling)


def exact_extremum(
    expr: sp.Expr, x: sp.Symbol, per: Periodicity, *, maximize: bool
) -> tuple[sp.Expr, list[sp.Expr]] | None:
    r"""The exact :math:`\max` (or :math:`\min`) of a smooth :math:`P`-periodic ``expr``.

    ``expr`` must itself be :math:`P`-periodic (:math:`f` with :math:`c = 0`, or a derivative
    of a quasi-periodic :math:`f`): the result is then its extremum over the real line.

    A differentiable periodic function attains its extremum at a critical point in
    :math:`[0, P]`; ``sympy.solveset`` of :math:`\mathrm{expr}'= 0` on that closed interval,
    accepted only when it returns a finite set (its claim of completeness), gives every
    candidate, and the extremum is the largest (smallest) exact value among them and the end 0.

    Returns
    -------
    (value, candidates) or None
        None where ``expr`` is not smooth, the solutions are not a finite set, there are more
        than :data:`MAX_POINTS`, or SymPy cannot order the values.
    """
    if expr.has(*_NONSMOOTH) or not expr.has(x):
        return None
    try:
        with time_limit(LIMIT_SECONDS):
            sols = sp.solveset(sp.diff(expr, x), x, sp.Interval(0, per.period))
            if not isinstance(sols, sp.FiniteSet) or len(sols) > MAX_POINTS:
                return None
            candidates = sorted(set(sols) | {sp.S.Zero}, key=lambda p: float(p))
            values = [sp.simplify(expr.subs(x, p)) for p in candidates]
    except (TimeLimitExceeded, TypeError, ValueError, NotImplementedError):
        return None
    if not all(v.is_real and v.is_number for v in values):
        return None
    best = values[0]
    for v in values[1:]:
        better = (v - best).is_positive if maximize else (v - best).is_negative
        if better is None and not sp.simplify(v - best).is_zero:
            with mpmath.workdps(50):  # SymPy cannot order them: 50 digits must separate them clearly
                gap = mpmath.mpf(sp.N(v - best, 50))
            if abs(gap) < mpmath.mpf(10) ** -40:
                return None
            better = gap > 0 if maximize else gap < 0
        if better:
            best = v
    return best, candidates
