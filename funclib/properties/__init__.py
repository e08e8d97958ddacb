"""Proven properties of elementwise functions, each with the method that established it.

For an elementwise entry f (parameters at their defaults) this module derives:

* value and slope at 0, limits at ±∞ (:mod:`funclib.limits`);
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

The package, one job per module (everything public is re-exported here):

``records``
    :class:`Fact`, :class:`Properties`, their JSON form and :func:`cache_key`.
``smoothness``
    breakpoints, jumps of f and its derivatives, the smoothness class.
``extrema``
    rigorous brackets of sup/inf (interval branch and bound, one period, branches, chirps).
``symmetry``
    odd/even symmetry.
``periodic_facts``
    facts from linear-times-periodic formulas and far periodic branches.
``proof``
    :func:`compute_properties`, the main proof, and :func:`provable_form`.
``cache``
    the committed sidecar caches: :func:`load_cache`, :func:`build_cache`, :func:`write_cache`.
``claims``
    :func:`claim_status` and :func:`check_claims`.
``cli``
    ``python -m funclib.properties`` (:func:`main`).

The memoized lookup :func:`properties_of` (committed slot if fresh, else a proof) lives here.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from typing import TYPE_CHECKING, Any

from .cache import CACHE_SUFFIX, build_cache, cache_file_for, load_cache, prune_cache, write_cache
from .claims import check_claims, claim_status
from .cli import main
from .extrema import FAR
from .proof import RANGE_TOL, SLOPE_TOL, compute_properties, provable_form
from .records import ALGORITHM_VERSION, Fact, Properties, cache_key, value_to_json
from .smoothness import SMOOTHNESS_ORDER, breakpoints, smoothness_fact

if TYPE_CHECKING:  # pragma: no cover
    from ..entry import Entry

__all__ = [
    "Fact",
    "Properties",
    "compute_properties",
    "properties_of",
    "check_claims",
    "claim_status",
    "provable_form",
    "smoothness_fact",
    "value_to_json",
    "ALGORITHM_VERSION",
    "CACHE_SUFFIX",
    "cache_file_for",
    "load_cache",
    "clear_cache_memo",
]


# -- the lookup ----------------------------------------------------------------------------
#
# Kept in the package itself: tests patch ``funclib.properties._sidecar`` and clear
# ``funclib.properties._MEMO`` to feed the lookup a damaged or tampered sidecar.


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
    load_cache.cache_clear()
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
