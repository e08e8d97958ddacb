"""Exact endpoints: the :class:`Interval` type of arb endpoints, directed rounding to floats,
working precision, and exact conversion of numbers to endpoints."""

from __future__ import annotations

import contextlib
import math
from fractions import Fraction
from typing import Iterator, Optional, Sequence, Union

import flint
import mpmath
import sympy as sp
from flint import arb



#: Working precision in bits of the arb computations.
DEFAULT_PREC = 128
#: Most extra bits added for boxes of large magnitude.
MAX_EXTRA_BITS = 2048

Number = Union[int, float, Fraction, sp.Expr, arb, mpmath.mpf]


class IntervalError(ValueError):
    """The expression cannot be enclosed (unsupported node, free parameters, bad input)."""


class IntervalDomainError(IntervalError):
    """The expression is undefined or not real on (part of) the box."""


# --------------------------------------------------------------------------------------------
# Exact endpoints
# --------------------------------------------------------------------------------------------

POS_INF = arb.pos_inf()
NEG_INF = arb.neg_inf()
ZERO = arb(0)
ONE = arb(1)


@contextlib.contextmanager
def working_precision(prec: int) -> Iterator[None]:
    old = flint.ctx.prec
    flint.ctx.prec = prec
    try:
        yield
    finally:
        flint.ctx.prec = old


def lower_end(ball: arb) -> arb:
    """Exact lower bound of a ball (:math:`-\\infty` for NaN)."""
    return NEG_INF if ball.is_nan() else ball.lower()


def upper_end(ball: arb) -> arb:
    """Exact upper bound of a ball (:math:`+\\infty` for NaN)."""
    return POS_INF if ball.is_nan() else ball.upper()


def amin(a: arb, b: arb) -> arb:
    return a if a <= b else b


def amax(a: arb, b: arb) -> arb:
    return a if a >= b else b


def float_down(a: arb) -> float:
    """Largest float :math:`\\le a`."""
    if a.is_nan():
        return -math.inf
    f = float(a)
    if math.isnan(f):
        return -math.inf
    if arb(f) > a:
        f = math.nextafter(f, -math.inf)
    return f + 0.0  # no -0.0


def float_up(a: arb) -> float:
    """Smallest float :math:`\\ge a`."""
    if a.is_nan():
        return math.inf
    f = float(a)
    if math.isnan(f):
        return math.inf
    if arb(f) < a:
        f = math.nextafter(f, math.inf)
    return f + 0.0  # no -0.0


def mag_bits(a: arb) -> int:
    """About :math:`\\log_2 |a|` for an exact finite nonzero ``a``, else 0."""
    if not a.is_finite() or a == 0:
        return 0
    man, exp = a.mid().man_exp()
    return int(man).bit_length() + int(exp)


class Interval:
    r"""Closed interval :math:`[\mathrm{lo}, \mathrm{hi}]` with exact ``arb`` endpoints.

    Endpoints may be :math:`\pm\infty`; ``lo`` is never :math:`+\infty` and ``hi`` never
    :math:`-\infty`.  Use :meth:`lower` / :meth:`upper` for floats rounded outward and
    :meth:`as_arb` for a ``flint.arb`` ball containing the interval.
    """

    __slots__ = ("lo", "hi")

    def __init__(self, lo: arb, hi: arb) -> None:
        self.lo = lo
        self.hi = hi

    @classmethod
    def from_ball(cls, ball: arb) -> "Interval":
        """Smallest interval with exact endpoints containing ``ball``."""
        return cls(lower_end(ball), upper_end(ball))

    @classmethod
    def point(cls, value: arb) -> "Interval":
        """Degenerate interval of an exact value."""
        return cls(value, value)

    @property
    def is_point(self) -> bool:
        """True when ``lo == hi``."""
        return self.lo == self.hi

    @property
    def is_finite(self) -> bool:
        """True when both endpoints are finite."""
        return self.lo.is_finite() and self.hi.is_finite()

    def lower(self) -> float:
        """Lower endpoint as a float, rounded down."""
        return float_down(self.lo)

    def upper(self) -> float:
        """Upper endpoint as a float, rounded up."""
        return float_up(self.hi)

    def as_arb(self) -> arb:
        """A ``flint.arb`` ball containing the interval (``[+/- inf]`` if unbounded)."""
        return arb.union(self.lo, self.hi)

    def to_rationals(self) -> tuple[sp.Expr, sp.Expr]:
        """Endpoints as exact SymPy numbers (``Rational`` or :math:`\\pm\\infty`)."""
        return _arb_to_sympy(self.lo), _arb_to_sympy(self.hi)

    def contains(self, value: Number) -> bool:
        """True when the exact value of ``value`` lies in the interval."""
        from .compile import number_to_bounds  # (compile builds on this module)

        lo, hi = number_to_bounds(value)
        return self.lo <= lo and hi <= self.hi

    def width(self) -> arb:
        """Upper bound of ``hi - lo``."""
        return upper_end(self.hi - self.lo)

    def __iter__(self) -> Iterator[arb]:
        return iter((self.lo, self.hi))

    def __repr__(self) -> str:
        return f"Interval({self.lower()!r}, {self.upper()!r})"


def _arb_to_sympy(a: arb) -> sp.Expr:
    if a == POS_INF:
        return sp.oo
    if a == NEG_INF:
        return -sp.oo
    man, exp = a.mid().man_exp()
    man, exp = int(man), int(exp)
    return sp.Integer(man) * sp.Integer(2) ** exp


def hull(parts: Sequence[Interval]) -> Interval:
    lo, hi = parts[0].lo, parts[0].hi
    for p in parts[1:]:
        lo = amin(lo, p.lo)
        hi = amax(hi, p.hi)
    return Interval(lo, hi)


def clip(iv: Interval, lo: Optional[arb], hi: Optional[arb]) -> Interval:
    """Intersect with a range known to hold every value (e.g. :math:`\\tanh \\in [-1, 1]`)."""
    a, b = iv.lo, iv.hi
    if lo is not None and a < lo:
        a = lo
    if hi is not None and b > hi:
        b = hi
    return Interval(a, b)


