"""Duplicate screen: no two catalog functions (entries or variants, at their default parameters)
may be the same function unless one declares it (``coincides``), is an alias, or is a variant
of the other.

Screen: every elementwise entry and variant is evaluated in float64 at :data:`SCREEN_POINTS`
(tails, ±0 neighbourhood, kinks of common families) and grouped by its values rounded to 9
significant digits; two functions in one group are *candidates*. Confirmation: the difference
simplifies to 0 (SymPy, bounded in time), else it vanishes to 30 digits at
:data:`CONFIRM_POINTS` in mpmath at 50 digits (reported as ``numeric``: strong evidence, not a
proof). The screen costs well under a second for hundreds of entries, so it runs in the default
tests.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import mpmath
import numpy as np
import sympy as sp

__all__ = ["Candidate", "SCREEN_POINTS", "screen", "screen_groups", "confirm", "undeclared", "stale_declarations"]

SCREEN_POINTS = np.array([
    -700.0, -35.0, -20.0, -7.3, -3.1, -2.0, -1.3, -0.77, -0.5, -0.31, -0.1, -1e-3, 0.0, 1e-3,
    0.07, 0.29, 0.5, 0.83, 1.0, 1.6, 2.4, 3.7, 6.1, 11.0, 20.0, 35.0, 700.0,
])
CONFIRM_POINTS = tuple(float(v) for v in np.linspace(-9.7, 9.3, 41)) + (-31.5, 27.25, 150.5, -150.5)


@dataclass(frozen=True)
class Candidate:
    """Two catalog functions (``id`` or ``id:variant``) with equal screen values."""

    a: str
    b: str
    sources: tuple[str, str]


def _functions(entries) -> Iterable[tuple[str, object, str | None]]:
    for entry in entries:
        if entry.kind != "elementwise":
            continue
        yield entry.id, entry, None
        for name in entry.variants:
            yield f"{entry.id}:{name}", entry, name


def _signature(values: np.ndarray) -> tuple:
    out = []
    for v in values.tolist():
        if v != v:
            out.append("nan")
        elif v in (float("inf"), float("-inf")):
            out.append(v)
        else:
            out.append(float(f"{v:.9g}") + 0.0)
    return tuple(out)


def screen_groups(entries) -> list[list[tuple[str, object]]]:
    """Groups of functions (name, entry) with equal values at every screen point."""
    from .npeval import np_evaluate

    groups: dict[tuple, list[tuple[str, object]]] = {}
    for name, entry, variant in _functions(entries):
        try:
            values = np_evaluate(entry.numeric_expr(variant), {entry.symbol: SCREEN_POINTS})
        except (TypeError, ValueError, NotImplementedError):
            continue  # cannot be evaluated in float64 (the generic tests report that)
        groups.setdefault(_signature(values), []).append((name, entry))
    return [members for members in groups.values() if len(members) > 1]


def screen(entries) -> list[Candidate]:
    """Pairs of distinct entries whose functions agree at every screen point."""
    found = []
    for members in screen_groups(entries):
        for i, (na, ea) in enumerate(members):
            for nb, eb in members[i + 1:]:
                if ea.id != eb.id:  # a variant of the same entry is a declared relation
                    found.append(Candidate(na, nb, (ea.source, eb.source)))
    return found


def _expr(name: str, among: dict | None):
    from .registry import get

    entry_id, _, variant = name.partition(":")
    entry = (among or {}).get(entry_id) or get(entry_id)
    return entry, entry.numeric_expr(variant or None)


def confirm(a: str, b: str, among: dict | None = None) -> tuple[bool, str]:
    """Whether ``a`` and ``b`` (``id`` or ``id:variant``) are the same function, and how it was
    decided. Ids are looked up in ``among`` (id -> entry) first, then in the catalog."""
    from .mpeval import mp_evaluate

    ea, fa = _expr(a, among)
    eb, fb = _expr(b, among)
    fb = fb.subs(eb.symbol, ea.symbol)
    try:
        if sp.simplify(fa - fb) == 0:
            return True, "symbolic"
    except Exception:  # noqa: BLE001 - simplify may fail on piecewise forms; fall back to numbers
        pass
    with mpmath.workdps(50):
        for t in CONFIRM_POINTS:
            va = mp_evaluate(fa, {ea.symbol: t}, 50)
            vb = mp_evaluate(fb, {ea.symbol: t}, 50)
            if mpmath.isnan(va) and mpmath.isnan(vb):
                continue
            if abs(va - vb) > mpmath.mpf(10) ** -30 * max(1, abs(va)):
                return False, f"differ at x = {t}: {mpmath.nstr(va, 12)} vs {mpmath.nstr(vb, 12)}"
    return True, "numeric"


class _Components:
    """Union-find over function names: the classes of functions declared equal."""

    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, a: str) -> str:
        self.parent.setdefault(a, a)
        while self.parent[a] != a:
            self.parent[a] = self.parent[self.parent[a]]
            a = self.parent[a]
        return a

    def union(self, a: str, b: str) -> None:
        self.parent[self.find(a)] = self.find(b)


def undeclared(entries) -> list[tuple[Candidate, str]]:
    """Confirmed duplicates that no chain of declarations covers, with the method.

    Declared equal: an entry and the entry its ``coincides`` rows name; equality is
    transitive, so a family of coinciding members needs one declaration per member, not one per
    pair. A candidate is judged by the entries it comes from: a variant that equals a function
    declared equal to its own entry is that entry's function (variants are alternative forms).
    """
    entries = list(entries)
    classes = _Components()
    for entry in entries:
        for c in entry.coincides:
            classes.union(entry.id, c.entry.partition(":")[0])
    candidates = screen(entries)
    among = {e.id: e for e in entries}
    out = []
    for cand in candidates:
        if classes.find(cand.a.partition(":")[0]) == classes.find(cand.b.partition(":")[0]):
            continue
        same, method = confirm(cand.a, cand.b, among)
        if same:
            out.append((cand, method))
    return out


def stale_declarations(entries) -> list[str]:
    """Messages for ``coincides`` rows that name an unknown function or a different one."""
    from .registry import UnknownEntryError

    entries = list(entries)
    among = {e.id: e for e in entries}
    out = []
    for entry in entries:
        for c in entry.coincides:
            try:
                same, how = confirm(entry.id, c.entry, among)
            except (UnknownEntryError, KeyError) as exc:
                out.append(f"{entry.source}: entry {entry.id!r}: field 'coincides': {exc}")
                continue
            if not same:
                out.append(f"{entry.source}: entry {entry.id!r}: field 'coincides': "
                           f"{c.entry!r} is not the same function at the defaults ({how})")
    return out
