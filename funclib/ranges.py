"""Ranges in interval notation (parameter ranges, domains, range claims): ``"(0, inf)"``, ``"[-1, 1]"``.

Named :class:`Range`, not ``Interval``: :class:`funclib.interval.endpoints.Interval` is the arb
enclosure of interval arithmetic, a different thing.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

__all__ = ["Range", "parse_number"]

_INTERVAL = re.compile(r"^\s*([\[\(])\s*([^,]+?)\s*,\s*([^,]+?)\s*([\]\)])\s*$")


def parse_number(text: object) -> float:
    """A real number from a TOML value: a number, or one of ``"inf"``, ``"-inf"``, ``"nan"``,
    ``"-0"`` or a decimal string. Raises ``ValueError`` otherwise."""
    if isinstance(text, bool):
        raise ValueError(f"{text!r} is not a number")
    if isinstance(text, (int, float)):
        return float(text)
    if isinstance(text, str):
        s = text.strip().lower()
        if s in ("inf", "+inf", "oo", "infinity"):
            return math.inf
        if s in ("-inf", "-oo", "-infinity"):
            return -math.inf
        if s == "nan":
            return math.nan
        try:
            return float(s)
        except ValueError:
            pass
    raise ValueError(f"{text!r} is not a number (use a number, 'inf', '-inf', '-0' or 'nan')")


@dataclass(frozen=True)
class Range:
    """A real interval with open or closed ends; infinite ends are always open."""

    lo: float
    hi: float
    lo_closed: bool = False
    hi_closed: bool = False

    @classmethod
    def parse(cls, text: str) -> "Range":
        """Parse ``"[a, b)"``-style notation; ``inf`` ends must be open."""
        if not isinstance(text, str):
            raise ValueError(f"interval must be a string like '(0, inf)', not {text!r}")
        m = _INTERVAL.match(text)
        if not m:
            raise ValueError(f"{text!r} is not an interval like '(0, inf)' or '[-1, 1]'")
        lo, hi = parse_number(m.group(2)), parse_number(m.group(3))
        if math.isnan(lo) or math.isnan(hi):
            raise ValueError(f"interval {text!r} has a NaN end")
        lo_closed, hi_closed = m.group(1) == "[", m.group(4) == "]"
        if (math.isinf(lo) and lo_closed) or (math.isinf(hi) and hi_closed):
            raise ValueError(f"interval {text!r}: an infinite end must be open")
        if lo > hi or (lo == hi and not (lo_closed and hi_closed)):
            raise ValueError(f"interval {text!r} is empty")
        return cls(lo, hi, lo_closed, hi_closed)

    @classmethod
    def real_line(cls) -> "Range":
        return cls(-math.inf, math.inf)

    def __contains__(self, value: float) -> bool:
        if math.isnan(value):
            return False
        above = value > self.lo or (self.lo_closed and value == self.lo)
        below = value < self.hi or (self.hi_closed and value == self.hi)
        return above and below

    def __str__(self) -> str:
        def fmt(v: float) -> str:
            if math.isinf(v):
                return "inf" if v > 0 else "-inf"
            text = repr(v)
            return text[:-2] if text.endswith(".0") else text

        return (
            f"{'[' if self.lo_closed else '('}{fmt(self.lo)}, "
            f"{fmt(self.hi)}{']' if self.hi_closed else ')'}"
        )
