"""Hand-written claims of catalog entries checked against the proven properties."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from .records import Properties, value_to_json

if TYPE_CHECKING:  # pragma: no cover
    from ..entry import Entry

__all__ = ["check_claims", "claim_status"]


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
        account = f"derived {value_to_json(derived)} ({fact.method}: {fact.detail})"
        if fact.method == "estimated":
            status[name] = ("unverified", account)
        else:
            status[name] = ("proven" if ok else "refuted", account)
    return status


def check_claims(entry: "Entry", props: Properties | None = None) -> list[str]:
    """One message per claim that a proof refutes (empty when none is refuted)."""
    return [
        f"{entry.source}: entry {entry.id!r}: claim {name} = {value_to_json(entry.claims[name])!s} is refuted: {why}"
        for name, (state, why) in claim_status(entry, props).items()
        if state == "refuted"
    ]
