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
"""

from __future__ import annotations

import json
import math
import signal
import threading
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import mpmath
import sympy as sp

from . import calculus
from .formula import make_symbol, to_formula
from .mpeval import mp_evaluate

if TYPE_CHECKING:  # pragma: no cover
    from .entry import Entry

__all__ = [
    "Fact",
    "Properties",
    "compute_properties",
    "properties_of",
    "check_claims",
    "limit_at",
    "ALGORITHM_VERSION",
    "CACHE_FILE",
]

#: Bump when the derivation changes, so that cached properties are recomputed.
ALGORITHM_VERSION = "1"
CACHE_FILE = "properties.json"
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


class _Timeout(Exception):
    pass


@contextmanager
def _time_limit(seconds: float):
    """Abort SymPy calls that run away (limits can); only effective in the main thread."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "setitimer"):
        yield
        return

    def handler(signum, frame):
        raise _Timeout()

    previous = signal.signal(signal.SIGALRM, handler)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _to_float(value: sp.Expr) -> float:
    if value is sp.oo:
        return math.inf
    if value is sp.S.NegativeInfinity:
        return -math.inf
    return float(value)


def _symbolic_limit(expr: sp.Expr, x: sp.Symbol, direction: float) -> float | None:
    target = sp.oo if direction > 0 else -sp.oo
    try:
        with _time_limit(LIMIT_SECONDS):
            value = sp.limit(expr, x, target)
    except (_Timeout, NotImplementedError, ValueError, TypeError, RecursionError, AttributeError):
        return None
    if value.is_real is False or value.has(sp.AccumBounds) or value is sp.zoo or value is sp.nan:
        return None
    if value.is_number:
        try:
            return _to_float(value)
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
        return float(last)
    return math.nan


def limit_at(expr: sp.Expr, x: sp.Symbol, direction: float) -> float:
    """lim_{x→±∞} expr as float (symbolic, else estimated numerically; NaN if neither)."""
    value = _symbolic_limit(expr, x, direction)
    if value is not None:
        return value
    return _numeric_limit(expr, x, direction)


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


def _breakpoints(expr: sp.Expr, x: sp.Symbol) -> list[sp.Expr]:
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


def _one_sided(expr: sp.Expr, x: sp.Symbol, point: sp.Expr, side: int) -> mpmath.mpf:
    # Evaluate at point ± 1e-40: past every rounding at 60 digits, before any other break.
    offset = mpmath.mpf(10) ** -40 * side
    with mpmath.workdps(60):
        return mp_evaluate(expr, {x: mpmath.mpf(sp.Float(point, 70)) + offset}, 60)


def _smoothness(expr: sp.Expr, x: sp.Symbol) -> tuple[Fact, list[tuple[float, list[float]]]]:
    """Smoothness class and, per breakpoint, the jumps of f, f', f''."""
    if not expr.has(*_NONSMOOTH):
        return Fact("Cinf", "symbolic", "composition of analytic functions"), []
    if expr.has(sp.floor, sp.ceiling):
        return Fact("discontinuous", "symbolic", "floor/ceiling"), []
    points = _breakpoints(expr, x)
    derivs = [expr]
    for _ in range(3):
        derivs.append(calculus.derivative(derivs[-1], x, 1))
    jumps = []
    cls = 3
    for p in points:
        row = []
        for order, d in enumerate(derivs):
            left, right = _one_sided(d, x, p, -1), _one_sided(d, x, p, +1)
            jump = right - left
            row.append(float(jump) if not mpmath.isnan(jump) else math.nan)
            if not (abs(jump) < mpmath.mpf(10) ** -30):
                cls = min(cls, order - 1)
        jumps.append((float(p), row))
    name = {-1: "discontinuous", 0: "C0", 1: "C1", 2: "C2"}.get(cls, "Cinf")
    if cls >= 3:
        # Continuous through f''' at every breakpoint: analytic pieces that glue smoothly.
        name = "Cinf" if all(abs(v) < 1e-30 for _, row in jumps for v in row) else "C2"
    detail = (
        "breakpoints " + ", ".join(f"{p:g}" for p, _ in jumps)
        + "; one-sided values of f..f''' compared at 60 digits"
        if jumps
        else "no breakpoint on the real line"
    )
    return Fact(name, "symbolic" if jumps or not points else "symbolic", detail), jumps


# -- extrema ------------------------------------------------------------------------------


def _extremum(expr: sp.Expr, dexpr: sp.Expr | None, x: sp.Symbol, maximize: bool, tol: float):
    """Rigorous [lower, upper] of sup (or inf) over the real line, tails by limits."""
    from . import interval

    found = interval.bound_extremum_on_real_line(
        expr, x, maximize=maximize, tol=tol, dexpr=dexpr, far=FAR
    )
    lo, hi = float(found.lower), float(found.upper)
    if found.domain == (-math.inf, math.inf):
        return lo, hi, found  # the tails were enclosed too: nothing left to argue
    tails = [limit_at(expr, x, +1), limit_at(expr, x, -1)]
    for t in tails:
        if math.isnan(t):
            continue
        # A limit at infinity is approached, so it bounds the sup from below and may exceed it.
        if maximize:
            lo, hi = max(lo, t), max(hi, t)
        else:
            lo, hi = min(lo, t), min(hi, t)
    return lo, hi, found


def _describe(found, what: str) -> str:
    text = f"arb branch and bound of {what} on [-{FAR:g}, {FAR:g}] ({found.boxes} boxes)"
    if not found.converged:
        text += ", NOT converged to tolerance"
    if found.domain == (-math.inf, math.inf):
        return text + "; tails |x| > R enclosed too"
    return text + "; tails |x| > R by limits at infinity"


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
        with _time_limit(LIMIT_SECONDS):
            diff = sp.simplify(reflected - sign * expr)
    except _Timeout:
        diff = None
    if diff == 0:
        return Fact(True, "symbolic", f"simplify(f(-x) {'+' if sign < 0 else '-'} f(x)) = 0")
    # Look for a witness point; a clear nonzero value at 60 digits refutes the symmetry.
    for t in (0.3, 1.0, 1.7, 2.5, 4.0, 7.5, 0.05):
        a = mp_evaluate(reflected, {x: t}, 60)
        b = mp_evaluate(expr, {x: t}, 60)
        if mpmath.isnan(a) or mpmath.isnan(b):
            continue
        if abs(a - sign * b) > mpmath.mpf(10) ** -40 * (1 + abs(b)):
            return Fact(False, "symbolic", f"witness x = {t}: f(-x) = {mpmath.nstr(a, 8)}, f(x) = {mpmath.nstr(b, 8)}")
    return Fact(True, "estimated", f"no counterexample among sample points; simplify could not prove {what}ness")


# -- main entry point ---------------------------------------------------------------------


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
    f = entry.numeric_expr(variant)
    df = calculus.derivative(f, x, 1)
    d2f = calculus.derivative(df, x, 1)
    facts: dict[str, Fact] = {}

    smooth, jumps = _smoothness(f, x)
    facts["smoothness"] = smooth

    if 0.0 in entry.domain:
        for name, expr in (("value_at_zero", f), ("slope_at_zero", df)):
            fact = _value_at(expr, x, sp.S.Zero)
            if fact is not None:
                facts[name] = fact

    facts["limit_at_inf"] = _limit_fact(f, x, +1)
    facts["limit_at_neg_inf"] = _limit_fact(f, x, -1)

    # Slope bounds: sup and inf of f' (a.e. derivative), widened by jumps of f.
    value_jumps = [row[0] for _, row in jumps]
    if df.is_number:
        slope = (float(df), float(df))
        facts["slope_bounds"] = Fact(slope, "symbolic", "f' is constant")
    else:
        lo_hi = _extremum(df, d2f, x, maximize=True, tol=SLOPE_TOL)
        lo_lo = _extremum(df, d2f, x, maximize=False, tol=SLOPE_TOL)
        slope = (lo_lo[0], lo_hi[1])
        detail = _describe(lo_hi[2], "f'")
        if any(j > 0 for j in value_jumps):
            slope = (slope[0], math.inf)
        if any(j < 0 for j in value_jumps):
            slope = (-math.inf, slope[1])
        if value_jumps and any(j != 0 for j in value_jumps):
            detail += "; f jumps, so difference quotients are unbounded on the side of the jump"
        facts["slope_bounds"] = Fact(slope, "interval", detail)
        facts["slope_bounds_enclosure"] = Fact(
            ((lo_lo[0], lo_lo[1]), (lo_hi[0], lo_hi[1])),
            "interval",
            "rigorous brackets [[inf f' low, inf f' high], [sup f' low, sup f' high]]",
        )
    method = facts["slope_bounds"].method
    lo, hi = facts["slope_bounds"].value
    facts["lipschitz"] = Fact(max(abs(lo), abs(hi)), method, "max(|inf f'|, |sup f'|)")

    # Monotonicity from the sign of the slope bounds (and jumps of f).
    inf_upper = facts["slope_bounds_enclosure"].value[0][1] if "slope_bounds_enclosure" in facts else lo
    sup_lower = facts["slope_bounds_enclosure"].value[1][0] if "slope_bounds_enclosure" in facts else hi
    if lo >= 0:
        strict = not _zero_piece(df)
        facts["monotonic"] = Fact("increasing" if strict else "nondecreasing", method,
                                  "inf f' >= 0" + ("; f' vanishes only at isolated points" if strict else "; f' = 0 on an interval"))
    elif hi <= 0:
        strict = not _zero_piece(df)
        facts["monotonic"] = Fact("decreasing" if strict else "nonincreasing", method, "sup f' <= 0")
    elif inf_upper < 0 < sup_lower:
        facts["monotonic"] = Fact("none", method, "f' takes both signs")
    else:
        facts["monotonic"] = Fact("none", "estimated", "slope enclosure touches 0 on both sides")

    # Range [inf f, sup f].
    if f.is_number:
        facts["range"] = Fact((float(f), float(f)), "symbolic", "constant")
    else:
        top = _extremum(f, df, x, maximize=True, tol=RANGE_TOL)
        bottom = _extremum(f, df, x, maximize=False, tol=RANGE_TOL)
        facts["range"] = Fact((bottom[0], top[1]), "interval", _describe(top[2], "f"))
    rlo, rhi = facts["range"].value
    facts["bounded_below"] = Fact(rlo > -math.inf, facts["range"].method, "from the range")
    facts["bounded_above"] = Fact(rhi < math.inf, facts["range"].method, "from the range")

    facts["odd"] = _symmetry(f, x, -1)
    facts["even"] = _symmetry(f, x, +1)

    # Convexity: f'' >= 0 a.e. and no downward jump of f' (nor any jump of f).
    slope_jumps = [row[1] for _, row in jumps]
    if any(j != 0 and not math.isnan(j) for j in value_jumps):
        facts["convex"] = Fact(False, "symbolic", "f is discontinuous")
        facts["concave"] = Fact(False, "symbolic", "f is discontinuous")
    else:
        for name, sign in (("convex", 1), ("concave", -1)):
            if d2f.is_number:
                ok = sign * float(d2f) >= 0 and all(sign * j >= 0 for j in slope_jumps)
                facts[name] = Fact(ok, "symbolic", "f'' is constant")
                continue
            low, high, found = _extremum(sign * d2f, None, x, maximize=False, tol=1e-6)
            if any(sign * j < 0 for j in slope_jumps):
                facts[name] = Fact(False, "symbolic", "f' jumps the wrong way at a kink")
            elif low >= 0:
                facts[name] = Fact(True, "interval", _describe(found, f"{'-' if sign < 0 else ''}f''") + " (inf >= 0)")
            elif high < 0:
                facts[name] = Fact(False, "interval", f"{'-' if sign < 0 else ''}f'' < 0 somewhere (enclosure of its inf is below 0)")
            else:
                facts[name] = Fact(low >= -1e-12, "estimated", "enclosure of inf f'' straddles 0")
    return Properties(entry.id, variant, cache_key(entry), facts)


def cache_key(entry: "Entry") -> str:
    return f"{entry.key()}-v{ALGORITHM_VERSION}"


# -- cache --------------------------------------------------------------------------------


def _cache_path_for_writing() -> Path:
    return Path(__file__).resolve().parent.parent / "catalog" / CACHE_FILE


def load_cache() -> dict[str, Any]:
    """The committed property cache (``funclib.catalog/properties.json``), or {} if absent."""
    try:
        text = resources.files("funclib.catalog").joinpath(CACHE_FILE).read_text(encoding="utf-8")
    except (FileNotFoundError, OSError):
        return {}
    return json.loads(text)


_MEMO: dict[tuple[str, str | None], Properties] = {}


def properties_of(entry: "Entry", variant: str | None = None, *, recompute: bool = False) -> Properties:
    """Properties from the cache if fresh for this exact entry, else computed (and memoized)."""
    memo_key = (cache_key(entry), variant)
    if not recompute and memo_key in _MEMO:
        return _MEMO[memo_key]
    if not recompute:
        cached = load_cache().get(entry.id, {})
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


def check_claims(entry: "Entry", props: Properties | None = None) -> list[str]:
    """Compare an entry's hand-written claims with its derived properties.

    Returns one message per refuted claim (empty when every claim holds). A claim about a
    property the derivation could not settle is reported too.
    """
    props = props or entry.properties()
    tol = entry.claims.get("claim_tolerance", 1e-6)
    problems = []

    def close(a: float, b: float) -> bool:
        if math.isinf(a) or math.isinf(b):
            return a == b
        return abs(a - b) <= tol

    for name, claimed in entry.claims.items():
        if name == "claim_tolerance":
            continue
        fact = props.facts.get(name)
        if fact is None:
            problems.append(f"{entry.source}: entry {entry.id!r}: claim {name!r} could not be derived")
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
        if not ok:
            problems.append(
                f"{entry.source}: entry {entry.id!r}: claim {name} = {claimed!s} is refuted: "
                f"derived {_to_json(derived)} ({fact.method}: {fact.detail})"
            )
    return problems


def main(argv: list[str] | None = None) -> int:
    """``python -m funclib.properties --write``: regenerate the committed property cache."""
    import argparse
    import sys

    from .registry import entries

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--write", action="store_true", help="write catalog/properties.json")
    parser.add_argument("ids", nargs="*", help="only these entries (default: all)")
    args = parser.parse_args(argv)
    chosen = [e for e in entries() if not args.ids or e.id in args.ids]
    data = build_cache(chosen, progress=lambda i: print(f"proving {i} ...", file=sys.stderr, flush=True))
    if args.write:
        path = _cache_path_for_writing()
        old = json.loads(path.read_text()) if path.exists() and args.ids else {}
        old.update(data)
        text = json.dumps(dict(sorted(old.items())), indent=1, sort_keys=False) + "\n"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(text)
        tmp.replace(path)
        print(f"wrote {path} ({len(old)} entries)")
    else:
        print(json.dumps(data, indent=1))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
