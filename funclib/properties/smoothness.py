"""Kinks and smoothness: the breakpoints of a formula, the jumps of f and its derivatives
there, and the smoothness class (C0 ... Cinf, or discontinuous)."""

from __future__ import annotations

import math

import mpmath
import sympy as sp

from .. import calculus
from ..mpeval import mp_evaluate
from ..periodicity import NotPeriodic, Periodicity, period_breakpoints
from .records import Fact

__all__ = ["NONSMOOTH", "SMOOTHNESS_ORDER", "breakpoints", "smoothness_fact"]

#: The SymPy atoms whose presence makes a formula possibly non-smooth (branches, kinks, steps).


NONSMOOTH = (sp.Piecewise, sp.Abs, sp.Max, sp.Min, sp.Heaviside, sp.sign, sp.floor, sp.ceiling)


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
    if not expr.has(*NONSMOOTH):
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
