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

Two extensions keep the argument where :math:`f` itself is not quasi-periodic:

* *Linear times periodic* (:func:`decompose_linear_periodic`): :math:`f(x) = x\,p(x) + q(x)`
  with :math:`p, q` :math:`P`-periodic and :math:`p` not constant (GCU :math:`x\cos x`, ASU
  :math:`x\sin x`).  The periodic atoms are taken as generators and :math:`f` must be a
  polynomial of degree 1 in :math:`x` over them; the decomposition is checked as an identity
  (symbolically and at random points).  Then :math:`f(t + kP) = f(t) + kP\,p(t)`, so a single
  point :math:`t` with :math:`p(t) \ne 0` (its sign proven by an arb enclosure,
  :func:`sign_witnesses`) makes :math:`f` unbounded both ways; the same for
  :math:`f' = p + x p' + q'` with :math:`p'` and for :math:`f''` with :math:`p''`.
* *Explicit branches* (:func:`explicit_branches`): a ``Piecewise`` whose conditions cut the
  line into intervals, so that a periodic branch on a half-line is handled over one period
  (a half-line holds whole periods) and the other branches by the usual methods.
* *Chirps* (:func:`chirp_of`): :math:`u\,\sin(g(x)) + v` with :math:`g` a polynomial of degree
  at least 2 has no period, but :math:`\sin g = \pm 1` at points tending to the end where
  :math:`|g| \to \infty`: exact extrema :math:`v \pm |u|`, or unbounded both ways where
  :math:`|u| \to \infty` faster than :math:`v`.

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

__all__ = [
    "NotPeriodic",
    "Periodicity",
    "LinearPeriodic",
    "detect_periodicity",
    "periodicity_of",
    "decompose_linear_periodic",
    "linear_periodic_of",
    "sign_witnesses",
    "explicit_branches",
    "Chirp",
    "chirp_of",
    "period_breakpoints",
    "exact_extremum",
]

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


@dataclass(frozen=True)
class LinearPeriodic:
    r"""A proven identity :math:`f(x) = x\,p(x) + q(x)` with :math:`p, q` :math:`P`-periodic.

    Attributes
    ----------
    p, q : sympy.Expr
        The periodic parts (:math:`p` not constant).
    period : sympy.Expr
        A common period :math:`P > 0` of :math:`p` and :math:`q`.
    checks : int
        Random points at which mpmath confirmed :math:`f = x p + q` and
        :math:`f(t + P) - f(t) = P\,p(t)`.
    """

    p: sp.Expr
    q: sp.Expr
    period: sp.Expr
    checks: int

    def describe(self) -> str:
        """``proven by linear-times-periodic (f = x*p + q, p = cos(x), q = 0, P = 2*pi)``."""
        return (f"proven by linear-times-periodic (f = x*p + q, p = {sp.sstr(self.p)}, q = {sp.sstr(self.q)}, "
                f"P = {sp.sstr(self.period)})")


def _periodic_atoms(expr: sp.Expr, x: sp.Symbol) -> list[sp.Expr]:
    return sorted((a for a in expr.atoms(*_ATOMS) if a.has(x)), key=sp.default_sort_key)


def decompose_linear_periodic(expr: sp.Expr, x: sp.Symbol, *, checks: int = 8, seed: int = 0) -> LinearPeriodic:
    r"""Prove :math:`f(x) = x\,p(x) + q(x)` with :math:`p, q` :math:`P`-periodic, :math:`p` not constant.

    The periodic atoms of ``expr`` (all of linear arguments, commensurate periods, :math:`P` their
    least common multiple) are replaced by fresh generators; what remains must be a polynomial of
    degree 1 in :math:`x` whose coefficients :math:`p, q` contain :math:`x` only through the
    atoms. The decomposition is then checked three ways: :math:`x p + q - f` simplifies to 0;
    :math:`p(x + P) - p(x)` and :math:`q(x + P) - q(x)` simplify to 0 (SymPy's trig and floor
    rules); and at random points, with mpmath at 50 digits, :math:`f(t) = t p(t) + q(t)` and
    :math:`f(t + P) - f(t) = P\,p(t)`.

    Raises
    ------
    NotPeriodic
        With the reason: no periodic atom, an atom of a non-linear argument, incommensurate
        periods, :math:`x` outside the atoms other than linearly (``x**2*sin(x)``,
        ``exp(x)*sin(x)``), :math:`p` constant (then :func:`detect_periodicity` applies), or a
        failed check.
    """
    atoms = _periodic_atoms(expr, x)
    if not atoms:
        raise NotPeriodic("no sin/cos/tan/floor/ceiling of x")
    period = _common_period(sorted({_atom_period(a, x) for a in atoms}, key=sp.default_sort_key))
    gens = {a: sp.Dummy(f"s{i}") for i, a in enumerate(atoms)}
    back = {g: a for a, g in gens.items()}
    try:
        with time_limit(LIMIT_SECONDS):
            poly = sp.Poly(sp.expand(expr.xreplace(gens)), x)
    except (sp.PolynomialError, sp.GeneratorsNeeded, TimeLimitExceeded) as exc:
        raise NotPeriodic(f"not a polynomial in x over the periodic atoms ({type(exc).__name__})") from None
    if poly.degree() != 1:
        raise NotPeriodic(f"degree {poly.degree()} in x over the periodic atoms, not 1")
    p = poly.coeff_monomial(x).xreplace(back)
    q = poly.coeff_monomial(1).xreplace(back)
    if not p.has(x):
        raise NotPeriodic(f"p = {sp.sstr(p)} is constant: f is quasi-periodic, not linear times periodic")
    try:
        with time_limit(LIMIT_SECONDS):
            residue = sp.simplify(x * p + q - expr)
            drift = [sp.simplify(_shifted(part, x, period) - part) for part in (p, q)]
    except TimeLimitExceeded:
        raise NotPeriodic(f"the decomposition did not simplify within {LIMIT_SECONDS} s") from None
    if residue != 0 or any(d != 0 for d in drift):
        raise NotPeriodic(f"x*p + q - f = {sp.sstr(residue)}, p(x + P) - p(x), q(x + P) - q(x) = {drift}: "
                          "not an identity")
    rng = random.Random(seed)
    done = 0
    with mpmath.workdps(50):
        step = mpmath.mpf(sp.N(period, 60))
        for _ in range(4 * checks):
            if done == checks:
                break
            t = mpmath.mpf(rng.uniform(-50, 50))
            f0, f1 = mp_evaluate(expr, {x: t}, 50), mp_evaluate(expr, {x: t + step}, 50)
            p0, q0 = mp_evaluate(p, {x: t}, 50), mp_evaluate(q, {x: t}, 50)
            if not all(mpmath.isfinite(v) for v in (f0, f1, p0, q0)):
                continue
            scale = mpmath.mpf(10) ** -30 * (1 + abs(f0) + abs(f1) + abs(t * p0))
            if abs(f0 - t * p0 - q0) > scale or abs(f1 - f0 - step * p0) > scale:
                raise NotPeriodic(f"cross-check failed at x = {mpmath.nstr(t, 17)}")
            done += 1
    if done < checks // 2:
        raise NotPeriodic("f is undefined at most cross-check points")
    return LinearPeriodic(p, q, period, done)


@lru_cache(maxsize=1024)
def linear_periodic_of(expr: sp.Expr, x: sp.Symbol) -> LinearPeriodic | None:
    """:func:`decompose_linear_periodic`, or None where it does not apply (memoized)."""
    try:
        return decompose_linear_periodic(expr, x)
    except NotPeriodic:
        return None


#: Grid of witness candidates: multiples of 1/WITNESS_GRID in one period.
WITNESS_GRID = 8


def sign_witnesses(expr: sp.Expr, x: sp.Symbol, period: sp.Expr) -> dict[int, tuple[sp.Rational, float, float]]:
    r"""Points :math:`t` in :math:`[0, P)` where ``expr`` is proven positive (key +1) or negative (-1).

    Candidates are the rationals :math:`j/8` in :math:`[0, P)`; the sign at each is proven by an
    arb enclosure of ``expr`` at the exact point (:func:`funclib.interval.enclose`). Per sign,
    the candidate of largest proven magnitude is kept as ``(t, lower, upper)`` (the enclosure).
    An expression that is not 0 everywhere on a period is non-zero on an interval (it is
    analytic or piecewise analytic here), so a grid this fine finds a witness unless its
    non-zero set is very narrow; a missing sign is only "not found", never "none".
    """
    from . import interval

    found: dict[int, tuple[sp.Rational, float, float]] = {}
    top = int(math.floor(float(sp.N(period, 30)) * WITNESS_GRID))
    for j in range(top + 1):
        t = sp.Rational(j, WITNESS_GRID)
        if t >= period:
            break
        try:
            enc = interval.enclose(expr, x, t, t)
        except interval.IntervalError:
            continue
        lo, hi = enc.lower(), enc.upper()
        for sign, margin in ((1, lo), (-1, -hi)):
            if margin > 0 and (sign not in found or margin > sign * (found[sign][1] if sign > 0 else found[sign][2])):
                found[sign] = (t, lo, hi)
    return found


def explicit_branches(expr: sp.Expr, x: sp.Symbol) -> list[tuple[sp.Expr, sp.Set]] | None:
    r"""The branches of a piecewise ``expr`` and the intervals where each holds, or None.

    ``expr`` is rewritten as one ``Piecewise`` (``piecewise_fold``); each condition, minus the
    earlier ones, must be an interval of the real line (``solve_univariate_inequality``), and
    the intervals must cover :math:`\mathbb{R}`. None where ``expr`` is not piecewise, has a
    single branch, or a condition is not an interval of :math:`x` (``Abs(sin(x))`` has
    infinitely many pieces and is left to :func:`period_breakpoints`).
    """
    try:
        with time_limit(LIMIT_SECONDS):
            folded = sp.piecewise_fold(expr.rewrite(sp.Piecewise))
            if not isinstance(folded, sp.Piecewise) or len(folded.args) < 2:
                return None
            left = sp.S.Reals
            out = []
            for value, cond in folded.args:
                if value.has(sp.Piecewise):
                    return None
                if cond.free_symbols - {x}:
                    return None
                where = sp.S.Reals if cond is sp.true else sp.Intersection(cond.as_set(), sp.S.Reals)
                piece = sp.Intersection(where, left)
                left = sp.Complement(left, where)
                if piece is sp.S.EmptySet:
                    continue
                if piece == sp.S.Reals:
                    piece = sp.Interval(-sp.oo, sp.oo)
                if not (isinstance(piece, sp.Interval) or (isinstance(piece, sp.FiniteSet) and len(piece) == 1)):
                    return None
                out.append((value, piece))
            if left is not sp.S.EmptySet or len(out) < 2:
                return None
    except (TimeLimitExceeded, NotImplementedError, TypeError, ValueError, AttributeError, sp.PolynomialError):
        return None
    return out


@dataclass(frozen=True)
class Chirp:
    r"""A proven form :math:`e = u(x)\,T(g(x)) + v(x)` on a half-line, :math:`T` = sin or cos.

    :math:`g` is a polynomial of degree at least 2 with :math:`g \to \pm\infty` at the
    half-line's infinite end, so by continuity :math:`T(g(x)) = \pm 1` at points
    :math:`x_k \to \pm\infty` (one for every large :math:`k`). ``bounded``: :math:`u, v`
    constants, so :math:`\sup e = v + |u|` and :math:`\inf e = v - |u|` (attained).
    Otherwise :math:`|u| \to \infty` and :math:`v/u \to 0` (SymPy limits): :math:`e(x_k)` tends
    to :math:`+\infty` along one sequence and :math:`-\infty` along the other.
    """

    u: sp.Expr
    v: sp.Expr
    atom: sp.Expr
    bounded: bool

    def describe(self) -> str:
        what = "attained" if self.bounded else "unbounded both ways"
        return (f"chirp argument: ({sp.sstr(self.u)})*{sp.sstr(self.atom)} + {sp.sstr(self.v)} with "
                f"{sp.sstr(self.atom.args[0])} -> inf in modulus, so {sp.sstr(self.atom)} = +-1 at points tending "
                f"to the infinite end: {what}")


def chirp_of(expr: sp.Expr, x: sp.Symbol, direction: int) -> Chirp | None:
    r"""``expr`` as a :class:`Chirp` towards :math:`x \to` ``direction``·∞, or None."""
    atoms = [a for a in expr.atoms(sp.sin, sp.cos) if a.has(x)]
    if len(atoms) != 1:
        return None
    atom = atoms[0]
    g = atom.args[0]
    if not g.is_polynomial(x) or sp.degree(g, x) < 2:
        return None
    t = sp.Dummy("t")
    try:
        with time_limit(LIMIT_SECONDS):
            poly = sp.Poly(sp.expand(expr.xreplace({atom: t})), t)
            if poly.degree() != 1:
                return None
            u, v = poly.coeff_monomial(t), poly.coeff_monomial(1)
            end = sp.oo if direction > 0 else -sp.oo
            if not sp.limit(g, x, end).is_infinite:
                return None
            if u.is_number and v.is_number and u.is_real and v.is_real and u != 0:
                return Chirp(u, v, atom, True)
            if sp.limit(sp.Abs(u), x, end) is sp.oo and sp.limit(v / u, x, end) == 0:
                return Chirp(u, v, atom, False)
    except (TimeLimitExceeded, sp.PolynomialError, NotImplementedError, ValueError, TypeError):
        return None
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
