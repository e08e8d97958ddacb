"""The records of derived properties: :class:`Fact`, :class:`Properties`, their JSON form,
and the cache key that ties a record to an entry and to :data:`ALGORITHM_VERSION`."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from ..entry import Entry

__all__ = ["ALGORITHM_VERSION", "Fact", "Properties", "cache_key", "value_to_json"]

#: Bump when the derivation changes, so that cached properties are recomputed.
ALGORITHM_VERSION = "1"


@dataclass(frozen=True)
class Fact:
    """One derived property: its value, how it was obtained, and a short account of how."""

    value: Any
    method: str
    detail: str = ""

    def as_json(self) -> dict[str, Any]:
        return {"value": value_to_json(self.value), "method": self.method, "detail": self.detail}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Fact":
        return cls(_value_from_json(data["value"]), data["method"], data.get("detail", ""))


def value_to_json(value: Any) -> Any:
    """A fact's value in JSON form: ±inf and NaN as the strings ``"inf"``, ``"-inf"``,
    ``"nan"``, tuples as lists (the inverse of what :meth:`Fact.from_json` reads)."""
    if isinstance(value, float):
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        if math.isnan(value):
            return "nan"
        return value
    if isinstance(value, (list, tuple)):
        return [value_to_json(v) for v in value]
    return value


def _value_from_json(value: Any) -> Any:
    if value in ("inf", "-inf", "nan"):
        return float(value)
    if isinstance(value, list):
        return tuple(_value_from_json(v) for v in value)
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


def cache_key(entry: "Entry") -> str:
    """The key of an entry's cached properties: its content hash and :data:`ALGORITHM_VERSION`."""
    return f"{entry.key()}-v{ALGORITHM_VERSION}"
