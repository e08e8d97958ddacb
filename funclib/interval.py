r"""Rigorous interval arithmetic over SymPy expressions, with python-flint ``arb``.

Two jobs, both rigorous (every number printed is a proven bound, never an estimate):

* :func:`enclose` returns an :class:`Interval` :math:`[\ell, u]` with
  :math:`\{f(t) : t \in [a, b]\} \subseteq [\ell, u]` for a SymPy expression :math:`f` in one
  real symbol.  The expression tree is compiled once into closures that map SymPy nodes to
  interval operations on exact ``arb`` endpoints (outward rounded, possibly :math:`\pm\infty`).
* :func:`bound_extremum` brackets :math:`\sup_{[a,b]} f` (or :math:`\inf`) by branch and bound,
  with the mean-value form :math:`f(m) + f'(X)(X - m)` on boxes where :math:`f` is certified
  continuous, and :func:`bound_extremum_on_real_line` does the same on :math:`[-R, R]` by a core
  interval plus geometric shells :math:`\pm[2^k, 2^{k+1}]`.

Semantics
---------
Enclosures cover the values at the points of the box where the expression is real and defined.
An operation that is undefined or complex on part of its argument's enclosure (``log`` of an
interval reaching below 0, a non-integer power of a possibly negative base, a ``Piecewise``
with no applicable branch) raises :class:`IntervalDomainError`; a pole inside the box gives an
infinite endpoint (``1/x`` on :math:`[0, 1]` is :math:`[1, +\infty]`).  Powers follow SymPy's
principal branch: ``(-8)**(1/3)`` is complex, so it is a domain error here too.

Precision is 128 bits by default and grows with the magnitude of the box
(:math:`+\log_2 \max(|a|, |b|)` bits, capped), so cancellations such as
:math:`1 - \sigma(x)` stay resolved for :math:`x` near :math:`10^{30}`.  The working precision
is python-flint's global ``flint.ctx.prec`` (set and restored around each evaluation), so do
not evaluate from several threads at once.

Supported nodes
---------------
``Add``, ``Mul``, ``Pow`` (integer, rational, float and symbolic exponents), integers,
rationals, floats (their exact binary value), :math:`\pi`, :math:`e`, Euler's and Catalan's
constants, the golden ratio; ``exp``, ``log``, ``log1p``, ``expm1``, ``sin``, ``cos``, ``tan``,
``sinh``, ``cosh``, ``tanh``, ``asinh``, ``acosh``, ``atanh``, ``asin``, ``acos``, ``atan``,
``erf``, ``erfc``, ``Abs``, ``sign``, ``Heaviside`` (:math:`H(0) = 1/2` unless given),
``floor``, ``ceiling``, ``Max``, ``Min``, funclib's ``sigmoid`` and ``softplus`` and
subclasses of all these; ``Piecewise`` with conditions built from ``< <= > >= == !=``,
``And``, ``Or``, ``Not``, ``True``, ``False``.  Anything else raises :class:`IntervalError`
naming the node.  A ``Piecewise`` branch whose condition is linear in ``x`` is evaluated only
on the part of the box where the condition may hold.

References
----------
.. [1] F. Johansson, "Arb: efficient arbitrary-precision midpoint-radius interval arithmetic",
   IEEE Trans. Computers 66 (2017).
.. [2] R. E. Moore, R. B. Kearfott, M. J. Cloud, *Introduction to Interval Analysis*, SIAM 2009
   (mean-value form, branch and bound).
"""

from __future__ import annotations

import contextlib
import dataclasses
import heapq
import itertools
import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Callable, Iterator, Optional, Sequence, Union

import flint
import mpmath
import sympy as sp
from flint import arb
from sympy.codegen.cfunctions import expm1, log1p

from funclib.special import sigmoid, softplus

__all__ = [
    "DEFAULT_PREC",
    "Extremum",
    "Interval",
    "IntervalDomainError",
    "IntervalError",
    "IntervalFunction",
    "bound_extremum",
    "bound_extremum_on_real_line",
    "enclose",
]

#: Working precision in bits of the arb computations.
DEFAULT_PREC = 128
#: Most extra bits added for boxes of large magnitude.
_MAX_EXTRA_BITS = 2048

Number = Union[int, float, Fraction, sp.Expr, arb, mpmath.mpf]


class IntervalError(ValueError):
    """The expression cannot be enclosed (unsupported node, free parameters, bad input)."""


class IntervalDomainError(IntervalError):
    """The expression is undefined or not real on (part of) the box."""


# --------------------------------------------------------------------------------------------
# Exact endpoints
# --------------------------------------------------------------------------------------------

_POS_INF = arb.pos_inf()
_NEG_INF = arb.neg_inf()
_ZERO = arb(0)
_ONE = arb(1)


@contextlib.contextmanager
def _working_precision(prec: int) -> Iterator[None]:
    old = flint.ctx.prec
    flint.ctx.prec = prec
    try:
        yield
    finally:
        flint.ctx.prec = old


def _down(ball: arb) -> arb:
    """Exact lower bound of a ball (:math:`-\\infty` for NaN)."""
    return _NEG_INF if ball.is_nan() else ball.lower()


def _up(ball: arb) -> arb:
    """Exact upper bound of a ball (:math:`+\\infty` for NaN)."""
    return _POS_INF if ball.is_nan() else ball.upper()


def _amin(a: arb, b: arb) -> arb:
    return a if a <= b else b


def _amax(a: arb, b: arb) -> arb:
    return a if a >= b else b


def _float_down(a: arb) -> float:
    """Largest float :math:`\\le a`."""
    if a.is_nan():
        return -math.inf
    f = float(a)
    if math.isnan(f):
        return -math.inf
    if arb(f) > a:
        f = math.nextafter(f, -math.inf)
    return f + 0.0  # no -0.0


def _float_up(a: arb) -> float:
    """Smallest float :math:`\\ge a`."""
    if a.is_nan():
        return math.inf
    f = float(a)
    if math.isnan(f):
        return math.inf
    if arb(f) < a:
        f = math.nextafter(f, math.inf)
    return f + 0.0  # no -0.0


def _mag_bits(a: arb) -> int:
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
        return cls(_down(ball), _up(ball))

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
        return _float_down(self.lo)

    def upper(self) -> float:
        """Upper endpoint as a float, rounded up."""
        return _float_up(self.hi)

    def as_arb(self) -> arb:
        """A ``flint.arb`` ball containing the interval (``[+/- inf]`` if unbounded)."""
        return arb.union(self.lo, self.hi)

    def to_rationals(self) -> tuple[sp.Expr, sp.Expr]:
        """Endpoints as exact SymPy numbers (``Rational`` or :math:`\\pm\\infty`)."""
        return _arb_to_sympy(self.lo), _arb_to_sympy(self.hi)

    def contains(self, value: Number) -> bool:
        """True when the exact value of ``value`` lies in the interval."""
        lo, hi = _number_to_bounds(value)
        return self.lo <= lo and hi <= self.hi

    def width(self) -> arb:
        """Upper bound of ``hi - lo``."""
        return _up(self.hi - self.lo)

    def __iter__(self) -> Iterator[arb]:
        return iter((self.lo, self.hi))

    def __repr__(self) -> str:
        return f"Interval({self.lower()!r}, {self.upper()!r})"


def _arb_to_sympy(a: arb) -> sp.Expr:
    if a == _POS_INF:
        return sp.oo
    if a == _NEG_INF:
        return -sp.oo
    man, exp = a.mid().man_exp()
    man, exp = int(man), int(exp)
    return sp.Integer(man) * sp.Integer(2) ** exp


def _hull(parts: Sequence[Interval]) -> Interval:
    lo, hi = parts[0].lo, parts[0].hi
    for p in parts[1:]:
        lo = _amin(lo, p.lo)
        hi = _amax(hi, p.hi)
    return Interval(lo, hi)


def _clip(iv: Interval, lo: Optional[arb], hi: Optional[arb]) -> Interval:
    """Intersect with a range known to hold every value (e.g. :math:`\\tanh \\in [-1, 1]`)."""
    a, b = iv.lo, iv.hi
    if lo is not None and a < lo:
        a = lo
    if hi is not None and b > hi:
        b = hi
    return Interval(a, b)


# --------------------------------------------------------------------------------------------
# Arithmetic
# --------------------------------------------------------------------------------------------


def _eneg(a: arb) -> arb:
    """Exact negation (``-a`` would round to the context precision)."""
    return a.neg(exact=True)


def _neg(x: Interval) -> Interval:
    return Interval(_eneg(x.hi), _eneg(x.lo))


def _add(x: Interval, y: Interval) -> Interval:
    lo, hi = _down(x.lo + y.lo), _up(x.hi + y.hi)
    # Rounding must not push 1 + tiny below 1 (acosh, log1p domains): a + b >= a when b >= 0.
    if y.lo >= 0 and x.lo > lo:
        lo = x.lo
    if x.lo >= 0 and y.lo > lo:
        lo = y.lo
    if y.hi <= 0 and x.hi < hi:
        hi = x.hi
    if x.hi <= 0 and y.hi < hi:
        hi = y.hi
    return Interval(lo, hi)


def _sub(x: Interval, y: Interval) -> Interval:
    return Interval(_down(x.lo - y.hi), _up(x.hi - y.lo))


def _prod(a: arb, b: arb) -> arb:
    # Interval convention 0 * inf = 0: the infinite endpoint is a limit, never attained.
    if a == 0 or b == 0:
        return _ZERO
    return a * b


def _mul(x: Interval, y: Interval) -> Interval:
    if x.is_point and y.is_point:
        return Interval.from_ball(_prod(x.lo, y.lo))
    ps = (_prod(x.lo, y.lo), _prod(x.lo, y.hi), _prod(x.hi, y.lo), _prod(x.hi, y.hi))
    lo = _down(ps[0])
    hi = _up(ps[0])
    for p in ps[1:]:
        lo = _amin(lo, _down(p))
        hi = _amax(hi, _up(p))
    return Interval(lo, hi)


def _recip(x: Interval) -> Interval:
    r"""Enclosure of :math:`1/t`; a zero endpoint gives an infinite one (pole)."""
    if x.lo > 0 or x.hi < 0:
        return Interval(_down(_ONE / x.hi), _up(_ONE / x.lo))
    if x.lo == 0 and x.hi == 0:
        raise IntervalDomainError("division by zero")
    if x.lo == 0:
        return Interval(_down(_ONE / x.hi), _POS_INF)
    if x.hi == 0:
        return Interval(_NEG_INF, _up(_ONE / x.lo))
    return Interval(_NEG_INF, _POS_INF)


def _abs(x: Interval) -> Interval:
    if x.lo >= 0:
        return x
    if x.hi <= 0:
        return _neg(x)
    return Interval(_ZERO, _amax(_eneg(x.lo), x.hi))


def _pow_int(x: Interval, n: int) -> Interval:
    r"""Enclosure of :math:`t^n` for an integer :math:`n`."""
    if n == 0:
        return Interval(_ONE, _ONE)
    if n < 0:
        return _recip(_pow_int(x, -n))
    if n == 1:
        return x
    if n % 2 == 1:
        return Interval(_down(x.lo**n), _up(x.hi**n))
    if x.lo >= 0:
        return Interval(_down(x.lo**n), _up(x.hi**n))
    if x.hi <= 0:
        return Interval(_down(x.hi**n), _up(x.lo**n))
    return Interval(_ZERO, _amax(_up(x.lo**n), _up(x.hi**n)))


def _pow_endpoint(t: arb, p: Interval, positive: bool) -> arb:
    # t >= 0 exact; p is the enclosure of a constant exponent of known sign.
    if t == 0:
        return _ZERO if positive else _POS_INF
    if not t.is_finite():
        return _POS_INF if positive else _ZERO
    return t ** p.as_arb()


def _pow_const(x: Interval, p: Interval, positive: bool) -> Interval:
    r"""Enclosure of :math:`t^p` for a constant non-integer :math:`p` (principal branch)."""
    if x.lo < 0:
        raise IntervalDomainError(f"non-integer power of a possibly negative base {x!r}")
    if not positive and x.hi == 0:
        raise IntervalDomainError("0 raised to a negative power")
    a = _pow_endpoint(x.lo, p, positive)
    b = _pow_endpoint(x.hi, p, positive)
    if not positive:
        a, b = b, a
    return _clip(Interval(_down(a), _up(b)), _ZERO, None)


def _pow_var(b: Interval, g: Interval) -> Interval:
    r"""Enclosure of :math:`b^g = e^{g \log b}` for a variable exponent (real for :math:`b \ge 0`).

    SymPy's conventions at a zero base: :math:`0^g = 0` for :math:`g > 0`, :math:`0^0 = 1`,
    :math:`0^g` undefined for :math:`g < 0`.  With :math:`0 \cdot \infty = 0` the product
    :math:`g \log b` then covers all three cases when :math:`b` touches 0.
    """
    if b.lo < 0:
        raise IntervalDomainError(f"variable power of a possibly negative base {b!r}")
    if b.hi == 0:
        if g.lo < 0:
            raise IntervalDomainError("0 raised to a possibly negative power")
        parts = ([Interval(_ZERO, _ZERO)] if g.hi > 0 else []) + (
            [Interval(_ONE, _ONE)] if g.lo == 0 else [])
        return _hull(parts)
    return _exp(_mul(g, _log(b)))


def _sqrt(x: Interval) -> Interval:
    if x.lo < 0:
        raise IntervalDomainError(f"sqrt of a possibly negative argument {x!r}")
    return _monotone(x, arb.sqrt, True, _ZERO, None)


# --------------------------------------------------------------------------------------------
# Elementary and special functions
# --------------------------------------------------------------------------------------------


def _monotone(
    x: Interval,
    f: Callable[[arb], arb],
    increasing: bool,
    lo: Optional[arb] = None,
    hi: Optional[arb] = None,
) -> Interval:
    r"""Enclosure of a monotone :math:`f` from its endpoint values, clipped to its range."""
    if x.is_point:
        return _clip(Interval.from_ball(f(x.lo)), lo, hi)
    if increasing:
        out = Interval(_down(f(x.lo)), _up(f(x.hi)))
    else:
        out = Interval(_down(f(x.hi)), _up(f(x.lo)))
    return _clip(out, lo, hi)


def _sigmoid_point(t: arb) -> arb:
    # Branch on the sign so that exp never sees a large positive argument.
    if t >= 0:
        return _ONE / (_ONE + _eneg(t).exp())
    e = t.exp()
    return e / (_ONE + e)


def _softplus_point(t: arb) -> arb:
    # max(t, 0) + log1p(exp(-|t|)): exact at any magnitude.
    pos = t if t >= 0 else _ZERO
    return pos + _eneg(t if t >= 0 else _eneg(t)).exp().log1p()


def _log_like(x: Interval, f: Callable[[arb], arb], pole: int, name: str) -> Interval:
    r"""Increasing :math:`f` on :math:`[p, \infty)` with :math:`f(p) = -\infty` (p = ``pole``)."""
    if x.lo < pole:
        raise IntervalDomainError(f"{name} of an argument possibly below {pole}: {x!r}")
    if x.hi == pole:
        raise IntervalDomainError(f"{name}({pole}) is -oo")
    if x.lo == pole:
        return Interval(_NEG_INF, _up(f(x.hi)))
    return _monotone(x, f, True)


def _log(x: Interval) -> Interval:
    return _log_like(x, arb.log, 0, "log")


def _log1p(x: Interval) -> Interval:
    return _log_like(x, arb.log1p, -1, "log1p")


def _exp(x: Interval) -> Interval:
    return _monotone(x, arb.exp, True, _ZERO, None)


def _expm1(x: Interval) -> Interval:
    return _monotone(x, arb.expm1, True, -_ONE, None)


def _sinh(x: Interval) -> Interval:
    return _monotone(x, arb.sinh, True)


def _cosh(x: Interval) -> Interval:
    return _monotone(_abs(x), arb.cosh, True, _ONE, None)


def _tanh(x: Interval) -> Interval:
    return _monotone(x, arb.tanh, True, -_ONE, _ONE)


def _asinh(x: Interval) -> Interval:
    return _monotone(x, arb.asinh, True)


def _acosh(x: Interval) -> Interval:
    if x.lo < 1:
        raise IntervalDomainError(f"acosh of an argument possibly below 1: {x!r}")
    return _monotone(x, arb.acosh, True, _ZERO, None)


def _atanh(x: Interval) -> Interval:
    if x.lo < -1 or x.hi > 1:
        raise IntervalDomainError(f"atanh of an argument possibly outside [-1, 1]: {x!r}")
    if x.is_point and abs(x.lo) == 1:
        raise IntervalDomainError("atanh(+-1) is infinite")
    lo = _NEG_INF if x.lo == -1 else _down(x.lo.atanh())
    hi = _POS_INF if x.hi == 1 else _up(x.hi.atanh())
    return Interval(lo, hi)


def _asin(x: Interval) -> Interval:
    if x.lo < -1 or x.hi > 1:
        raise IntervalDomainError(f"asin of an argument possibly outside [-1, 1]: {x!r}")
    return _monotone(x, arb.asin, True, _NEG_HALF_PI_DOWN, _HALF_PI_UP)


def _acos(x: Interval) -> Interval:
    if x.lo < -1 or x.hi > 1:
        raise IntervalDomainError(f"acos of an argument possibly outside [-1, 1]: {x!r}")
    return _monotone(x, arb.acos, False, _ZERO, _PI_UP)


def _atan(x: Interval) -> Interval:
    return _monotone(x, arb.atan, True, _NEG_HALF_PI_DOWN, _HALF_PI_UP)


def _erf(x: Interval) -> Interval:
    return _monotone(x, arb.erf, True, -_ONE, _ONE)


def _erfc(x: Interval) -> Interval:
    return _monotone(x, arb.erfc, False, _ZERO, arb(2))


def _sigmoid(x: Interval) -> Interval:
    return _monotone(x, _sigmoid_point, True, _ZERO, _ONE)


def _softplus(x: Interval) -> Interval:
    return _monotone(x, _softplus_point, True, _ZERO, None)


def _may_hit(x: Interval, offset: arb, period: arb) -> bool:
    r"""Whether :math:`[lo, hi]` may contain :math:`c + kP` for an integer :math:`k`.

    :math:`c` is ``offset``, :math:`P` is ``period``.

    :math:`k_0 = \lceil \underline{(lo - \mathrm{offset})/\mathrm{period}} \rceil` is at most the
    first admissible :math:`k`, so answering from :math:`k_0` can only over-report a hit.
    """
    t = (x.lo - offset) / period
    k0 = _down(t).ceil()
    return not (offset + k0 * period > x.hi)


def _periodic(x: Interval, f: Callable[[arb], arb], peak: arb, trough: arb) -> Interval:
    r"""Enclosure of sin or cos: endpoint values plus :math:`\pm 1` where a peak may lie."""
    if not x.is_finite:
        return Interval(-_ONE, _ONE)
    a, b = f(x.lo), f(x.hi)
    lo, hi = _amin(_down(a), _down(b)), _amax(_up(a), _up(b))
    if x.is_point:
        return _clip(Interval(lo, hi), -_ONE, _ONE)
    two_pi = 2 * arb.pi()
    if _may_hit(x, peak, two_pi):
        hi = _ONE
    if _may_hit(x, trough, two_pi):
        lo = -_ONE
    return _clip(Interval(lo, hi), -_ONE, _ONE)


def _sin(x: Interval) -> Interval:
    half = arb.pi() / 2
    return _periodic(x, arb.sin, half, -half)


def _cos(x: Interval) -> Interval:
    return _periodic(x, arb.cos, _ZERO, arb.pi())


def _tan(x: Interval) -> Interval:
    pi = arb.pi()
    if not x.is_finite or _may_hit(x, pi / 2, pi):
        if x.is_point:
            raise IntervalDomainError("tan at a pole")
        return Interval(_NEG_INF, _POS_INF)
    return _monotone(x, arb.tan, True)


def _floor(x: Interval) -> Interval:
    return _monotone(x, arb.floor, True)


def _ceiling(x: Interval) -> Interval:
    return _monotone(x, arb.ceil, True)


def _sign(x: Interval) -> Interval:
    return _step_values(x, -_ONE, Interval(_ZERO, _ZERO), _ONE)


def _step_values(x: Interval, left: arb, at0: Interval, right: arb) -> Interval:
    r"""Hull of a step function's values on the box.

    The function is ``left`` on :math:`(-\infty, 0)`, ``at0`` at 0 and ``right`` on
    :math:`(0, \infty)`.
    """
    parts = []
    if x.lo < 0:
        parts.append(Interval(left, left))
    if x.lo <= 0 <= x.hi:
        parts.append(at0)
    if x.hi > 0:
        parts.append(Interval(right, right))
    return _hull(parts)


def _max(args: Sequence[Interval]) -> Interval:
    lo, hi = args[0].lo, args[0].hi
    for a in args[1:]:
        lo = _amax(lo, a.lo)
        hi = _amax(hi, a.hi)
    return Interval(lo, hi)


def _min(args: Sequence[Interval]) -> Interval:
    lo, hi = args[0].lo, args[0].hi
    for a in args[1:]:
        lo = _amin(lo, a.lo)
        hi = _amin(hi, a.hi)
    return Interval(lo, hi)


def _const_bounds() -> tuple[arb, arb]:
    # Valid at any working precision: computed once, rounded outward.
    with _working_precision(256):
        return _up(arb.pi() / 2), _up(arb.pi())


_HALF_PI_UP, _PI_UP = _const_bounds()
_NEG_HALF_PI_DOWN = _eneg(_HALF_PI_UP)

#: One-argument functions: SymPy class -> interval map.
_UNARY: dict[type, Callable[[Interval], Interval]] = {
    sp.exp: _exp,
    sp.log: _log,
    log1p: _log1p,
    expm1: _expm1,
    sp.sin: _sin,
    sp.cos: _cos,
    sp.tan: _tan,
    sp.sinh: _sinh,
    sp.cosh: _cosh,
    sp.tanh: _tanh,
    sp.asinh: _asinh,
    sp.acosh: _acosh,
    sp.atanh: _atanh,
    sp.asin: _asin,
    sp.acos: _acos,
    sp.atan: _atan,
    sp.erf: _erf,
    sp.erfc: _erfc,
    sp.Abs: _abs,
    sp.sign: _sign,
    sp.floor: _floor,
    sp.ceiling: _ceiling,
    sigmoid: _sigmoid,
    softplus: _softplus,
}

def _unary_for(cls: type) -> Optional[Callable[[Interval], Interval]]:
    """Handler for a function class or its nearest registered base (e.g. a stable ``erfc``)."""
    for base in cls.__mro__:
        fn = _UNARY.get(base)
        if fn is not None:
            return fn
    return None


#: Functions with jumps: a box where they are not constant is not certified continuous.
_JUMPS = (sp.sign, sp.floor, sp.ceiling, sp.Heaviside)


# --------------------------------------------------------------------------------------------
# Compilation of SymPy trees into closures
# --------------------------------------------------------------------------------------------


class _State:
    """Per-evaluation memo of shared subtrees and the continuity flag.

    ``irregular`` is set when continuity of the expression on the box is not certified: a
    non-finite intermediate enclosure (pole, overflow), a jump function that is not constant
    on the box, or a ``Piecewise`` with more than one possible branch.
    """

    __slots__ = ("memo", "irregular")

    def __init__(self) -> None:
        self.memo: dict[int, Interval] = {}
        self.irregular = False


_Eval = Callable[[Interval, _State], Interval]
_Truth = Callable[[Interval, _State], Optional[bool]]
_Restrict = Callable[[Interval, bool], Optional[Interval]]

_DUMMY_BOX = Interval(_ZERO, _ZERO)


def _identity(box: Interval, st: _State) -> Interval:
    return box


def _constant(value: Interval) -> _Eval:
    def ev(box: Interval, st: _State) -> Interval:
        return value

    return ev


def _eval_on(ev: Callable, region: Interval, box: Interval, st: _State):
    """Evaluate on a sub-box: a fresh memo unless the region is the box itself."""
    if region is box:
        return ev(box, st)
    sub = _State()
    out = ev(region, sub)
    st.irregular = st.irregular or sub.irregular
    return out


class _Compiler:
    """Turns a SymPy expression in ``x`` into a tree of closures (shared subtrees compiled once)."""

    def __init__(self, x: sp.Symbol) -> None:
        self.x = x
        self.cache: dict[sp.Basic, _Eval] = {}
        self.keys = itertools.count()

    # -- expressions ---------------------------------------------------------------------

    def expr(self, e: sp.Basic) -> _Eval:
        hit = self.cache.get(e)
        if hit is None:
            hit = self._build(e)
            self.cache[e] = hit
        return hit

    def _build(self, e: sp.Basic) -> _Eval:
        if e == self.x:
            return _identity
        if e.is_Number or isinstance(e, sp.NumberSymbol):
            return _constant(_number(e))
        node = self._node(e)
        if self.x not in e.free_symbols:
            # Constant subtree: fold it once, at compile precision.
            return _constant(node(_DUMMY_BOX, _State()))
        return self._memoized(node, isinstance(e, _JUMPS))

    def _memoized(self, node: _Eval, jump: bool) -> _Eval:
        key = next(self.keys)

        def ev(box: Interval, st: _State) -> Interval:
            memo = st.memo
            out = memo.get(key)
            if out is None:
                out = node(box, st)
                memo[key] = out
                if not (out.lo.is_finite() and out.hi.is_finite()) or (
                    jump and not out.is_point
                ):
                    st.irregular = True
            return out

        return ev

    def _node(self, e: sp.Basic) -> _Eval:
        if isinstance(e, sp.Add):
            return self._fold(e.args, _add)
        if isinstance(e, sp.Mul):
            return self._fold(e.args, _mul)
        if isinstance(e, sp.Pow):
            return self._pow(e)
        if isinstance(e, sp.Piecewise):
            return self._piecewise(e)
        if isinstance(e, sp.Heaviside):
            return self._heaviside(e)
        if isinstance(e, (sp.Max, sp.Min)):
            op = _max if isinstance(e, sp.Max) else _min
            kids = [self.expr(a) for a in e.args]
            return lambda box, st: op([k(box, st) for k in kids])
        fn = _unary_for(type(e))
        if fn is not None:
            if len(e.args) != 1:
                raise IntervalError(f"{type(e).__name__} with {len(e.args)} arguments")
            kid = self.expr(e.args[0])
            return lambda box, st: fn(kid(box, st))
        if isinstance(e, sp.Symbol):
            raise IntervalError(f"free symbol {e} (substitute parameters first)")
        raise IntervalError(f"unsupported in interval evaluation: {_name(e)}")

    def _fold(self, args: tuple, op: Callable[[Interval, Interval], Interval]) -> _Eval:
        kids = [self.expr(a) for a in args]
        first, rest = kids[0], kids[1:]

        def ev(box: Interval, st: _State) -> Interval:
            acc = first(box, st)
            for k in rest:
                acc = op(acc, k(box, st))
            return acc

        return ev

    def _pow(self, e: sp.Pow) -> _Eval:
        base, expo = e.args
        kb = self.expr(base)
        if self.x not in expo.free_symbols:
            n = _integer_exponent(expo)
            if n is not None:
                return lambda box, st: _pow_int(kb(box, st), n)
            if expo == sp.S.Half:
                return lambda box, st: _sqrt(kb(box, st))
            positive = bool(expo.is_positive)
            if not (positive or expo.is_negative):
                raise IntervalError(f"exponent of unknown sign in {e}")
            p = _const_value(self, expo)
            return lambda box, st: _pow_const(kb(box, st), p, positive)
        kg = self.expr(expo)
        return lambda box, st: _pow_var(kb(box, st), kg(box, st))

    def _heaviside(self, e: sp.Heaviside) -> _Eval:
        r"""SymPy's Heaviside: 0 for :math:`t < 0`, :math:`H_0` (default 1/2) at 0, 1 for t > 0."""
        kid = self.expr(e.args[0])
        h0 = e.args[1] if len(e.args) > 1 else sp.S.Half
        defined_at_0 = h0 is not sp.nan
        at0 = _const_value(self, h0) if defined_at_0 else Interval(_ZERO, _ZERO)

        def ev(box: Interval, st: _State) -> Interval:
            t = kid(box, st)
            if not defined_at_0 and t.lo <= 0 <= t.hi:
                raise IntervalDomainError("Heaviside(0, nan) is undefined")
            return _step_values(t, _ZERO, at0, _ONE)

        return ev

    # -- Piecewise -------------------------------------------------------------------------

    def _piecewise(self, e: sp.Piecewise) -> _Eval:
        pieces = [(self.expr(p.expr), *self.cond(p.cond)) for p in e.args]

        def ev(box: Interval, st: _State) -> Interval:
            return _piecewise_eval(pieces, box, st)

        return ev

    def cond(self, c: sp.Basic) -> tuple[_Truth, _Restrict]:
        r"""Three-valued truth of a condition on a box, and a restriction of the box to it.

        ``truth(box)`` is True (holds on the whole box), False (nowhere) or None (unknown).
        ``restrict(box, want)`` is a sub-interval containing every point of the box where the
        condition equals ``want`` (None when there is none); conditions that are not linear in
        ``x`` do not restrict.
        """
        if c is sp.true:
            return (lambda box, st: True), (lambda box, want: box if want else None)
        if c is sp.false:
            return (lambda box, st: False), (lambda box, want: None if want else box)
        if isinstance(c, sp.Not):
            t, r = self.cond(c.args[0])
            return (lambda box, st: _not(t(box, st))), (lambda box, want: r(box, not want))
        if isinstance(c, (sp.And, sp.Or)):
            return self._junction(c)
        if isinstance(c, sp.core.relational.Relational):
            return self._relational(c)
        raise IntervalError(f"unsupported condition in Piecewise: {_name(c)}")

    def _junction(self, c: sp.Basic) -> tuple[_Truth, _Restrict]:
        parts = [self.cond(a) for a in c.args]
        is_and = isinstance(c, sp.And)

        def truth(box: Interval, st: _State) -> Optional[bool]:
            vals = [t(box, st) for t, _ in parts]
            return _kleene_and(vals) if is_and else _kleene_or(vals)

        def restrict(box: Interval, want: bool) -> Optional[Interval]:
            # And=True and Or=False intersect; And=False and Or=True take the hull.
            if want == is_and:
                region: Optional[Interval] = box
                for _, r in parts:
                    region = r(region, want) if region is not None else None
                return region
            found = [p for p in (r(box, want) for _, r in parts) if p is not None]
            return _hull(found) if found else None

        return truth, restrict

    def _relational(self, c: sp.Basic) -> tuple[_Truth, _Restrict]:
        kind = {sp.StrictLessThan: "lt", sp.LessThan: "le", sp.StrictGreaterThan: "gt",
                sp.GreaterThan: "ge", sp.Equality: "eq", sp.Unequality: "ne"}.get(type(c))
        if kind is None:
            raise IntervalError(f"unsupported relation {_name(c)}")
        kl, kr = self.expr(c.lhs), self.expr(c.rhs)

        def truth(box: Interval, st: _State) -> Optional[bool]:
            return _compare(kind, kl(box, st), kr(box, st))

        return truth, self._linear_restriction(c, kind)

    def _linear_restriction(self, c: sp.Basic, kind: str) -> _Restrict:
        """Restriction for ``a*x + b <op> 0`` with constant ``a != 0``; identity otherwise."""
        d = sp.expand(c.lhs - c.rhs)
        a = d.coeff(self.x, 1)
        b = d.coeff(self.x, 0)
        if self.x in a.free_symbols or self.x in b.free_symbols or d != sp.expand(a * self.x + b):
            return lambda box, want: box
        if not (a.is_positive or a.is_negative):
            return lambda box, want: box
        root = _const_value(self, -b / a)
        side = {"lt": "below", "le": "below", "gt": "above", "ge": "above"}.get(kind, kind)
        if a.is_negative and side in ("below", "above"):
            side = "above" if side == "below" else "below"

        def restrict(box: Interval, want: bool) -> Optional[Interval]:
            s = side if want else _NEGATED_SIDE[side]
            return _restrict_side(box, s, root)

        return restrict


_NEGATED_SIDE = {"below": "above", "above": "below", "eq": "ne", "ne": "eq"}


def _restrict_side(box: Interval, side: str, root: Interval) -> Optional[Interval]:
    r"""Closed hull of :math:`\{t \in box : t \lessgtr r\}` for a root :math:`r \in root`."""
    lo, hi = box.lo, box.hi
    if side in ("below", "eq") and root.hi < hi:
        hi = root.hi
    if side in ("above", "eq") and root.lo > lo:
        lo = root.lo
    if lo > hi:
        return None
    if lo is box.lo and hi is box.hi:
        return box
    return Interval(lo, hi)


def _piecewise_eval(pieces: list, box: Interval, st: _State) -> Interval:
    r"""Hull of the branches that may apply, in order, each on the part of the box it may own."""
    remaining: Optional[Interval] = box
    parts: list[Interval] = []
    for value, truth, restrict in pieces:
        t = _eval_on(truth, remaining, box, st)
        if t is False:
            continue
        region = remaining if t is True else restrict(remaining, True)
        if region is not None:
            parts.append(_eval_on(value, region, box, st))
        if t is True:
            remaining = None
            break
        remaining = restrict(remaining, False)
        if remaining is None:
            break
    if remaining is not None:
        raise IntervalDomainError(f"Piecewise: no condition may hold on part of {box!r}")
    if not parts:
        raise IntervalDomainError(f"Piecewise: no branch applies on {box!r}")
    if len(parts) > 1:
        st.irregular = True
    return _hull(parts)


def _compare(kind: str, a: Interval, b: Interval) -> Optional[bool]:
    if kind == "lt":
        return True if a.hi < b.lo else False if a.lo >= b.hi else None
    if kind == "le":
        return True if a.hi <= b.lo else False if a.lo > b.hi else None
    if kind == "gt":
        return _compare("lt", b, a)
    if kind == "ge":
        return _compare("le", b, a)
    disjoint = a.hi < b.lo or b.hi < a.lo
    same_point = a.is_point and b.is_point and a.lo == b.lo
    eq = True if same_point else False if disjoint else None
    return eq if kind == "eq" else _not(eq)


def _not(v: Optional[bool]) -> Optional[bool]:
    return None if v is None else not v


def _kleene_and(vals: list) -> Optional[bool]:
    if any(v is False for v in vals):
        return False
    return True if all(v is True for v in vals) else None


def _kleene_or(vals: list) -> Optional[bool]:
    if any(v is True for v in vals):
        return True
    return False if all(v is False for v in vals) else None


def _name(e: sp.Basic) -> str:
    fn = getattr(e, "func", type(e))
    return getattr(fn, "__name__", type(e).__name__)


def _integer_exponent(expo: sp.Expr) -> Optional[int]:
    if expo.is_Integer:
        return int(expo)
    if isinstance(expo, sp.Float) and expo.is_finite:
        exact = sp.Rational(expo)  # a Float is a dyadic rational: exact conversion
        if exact.is_Integer:
            return int(exact)
    return None


def _const_value(comp: _Compiler, c: sp.Expr) -> Interval:
    return comp.expr(c)(_DUMMY_BOX, _State())


def _number(e: sp.Basic) -> Interval:
    """Enclosure of a SymPy number or named constant at the current precision."""
    if e.is_Integer:
        return Interval.point(arb(int(e)))
    if e.is_Rational:
        return Interval.from_ball(arb(int(e.p)) / arb(int(e.q)))
    if isinstance(e, sp.Float):
        if not e.is_finite:
            raise IntervalError(f"non-finite constant {e}")
        sign, man, exp, _ = e._mpf_
        value = arb(int(man)) * arb(2) ** int(exp)
        return Interval.from_ball(-value if sign else value)
    consts = {sp.pi: arb.pi, sp.E: arb.const_e, sp.EulerGamma: arb.const_euler,
              sp.Catalan: arb.const_catalan}
    if e in consts:
        return Interval.from_ball(consts[e]())
    if e == sp.GoldenRatio:
        return Interval.from_ball((1 + arb(5).sqrt()) / 2)
    raise IntervalError(f"unsupported constant {e}")


# --------------------------------------------------------------------------------------------
# Public evaluator
# --------------------------------------------------------------------------------------------


def _number_to_bounds(v: Number, prec: int = DEFAULT_PREC) -> tuple[arb, arb]:
    """Exact ``(lo, hi)`` with ``lo <= v <= hi``; equal when ``v`` is exactly representable."""
    with _working_precision(prec):
        if isinstance(v, bool):
            raise IntervalError("booleans are not numbers here")
        if isinstance(v, int):
            return arb(v), arb(v)
        if isinstance(v, float):
            if math.isnan(v):
                raise IntervalError("NaN endpoint")
            a = arb(v)
            return a, a
        if isinstance(v, arb):
            return _down(v), _up(v)
        if isinstance(v, mpmath.mpf):
            a = arb(v)
            return _down(a), _up(a)
        if isinstance(v, Fraction):
            b = arb(v.numerator) / arb(v.denominator)
            return _down(b), _up(b)
        if isinstance(v, sp.Basic):
            if v == sp.oo:
                return _POS_INF, _POS_INF
            if v == -sp.oo:
                return _NEG_INF, _NEG_INF
            if v.free_symbols:
                raise IntervalError(f"endpoint {v} is not a number")
            iv = _Compiler(sp.Dummy()).expr(v)(_DUMMY_BOX, _State())
            return iv.lo, iv.hi
    raise IntervalError(f"cannot use {type(v).__name__} {v!r} as a number")


def _as_box(lo: Number, hi: Number, prec: int) -> Interval:
    a, _ = _number_to_bounds(lo, prec)
    _, b = _number_to_bounds(hi, prec)
    if a > b:
        raise IntervalError(f"empty box: lo={lo!r} > hi={hi!r}")
    return Interval(a, b)


class IntervalFunction:
    r"""A SymPy expression in one real symbol, compiled for rigorous interval evaluation.

    Parameters
    ----------
    expr : sympy.Expr
        Expression whose only free symbol is ``x``.
    x : sympy.Symbol
        The variable.
    prec : int
        Base working precision in bits.
    adaptive_prec : bool
        Add :math:`\log_2 \max(|a|, |b|)` bits (at most 2048) for a box :math:`[a, b]`, so that
        cancellations at large magnitude stay resolved.

    Raises
    ------
    IntervalError
        For other free symbols, unsupported functions (the message names them) or constants.
    """

    def __init__(
        self, expr: sp.Expr, x: sp.Symbol, *, prec: int = DEFAULT_PREC, adaptive_prec: bool = True
    ) -> None:
        if not isinstance(x, sp.Symbol):
            raise IntervalError(f"x must be a SymPy Symbol, got {x!r}")
        if not isinstance(expr, sp.Expr):
            raise IntervalError(f"expected a SymPy expression, got {type(expr).__name__}")
        extra = expr.free_symbols - {x}
        if extra:
            names = ", ".join(sorted(map(str, extra)))
            raise IntervalError(f"free symbols {names} besides {x}: substitute parameters first")
        self.expr = expr
        self.x = x
        self.prec = prec
        self.adaptive_prec = adaptive_prec
        with _working_precision(prec):
            self._ev = _Compiler(x).expr(expr)

    def precision_for(self, box: Interval) -> int:
        """Working precision used for ``box``."""
        if not self.adaptive_prec:
            return self.prec
        extra = max(_mag_bits(box.lo), _mag_bits(box.hi), 0)
        return self.prec + min(extra, _MAX_EXTRA_BITS)

    def evaluate(self, box: Interval) -> tuple[Interval, bool]:
        """Enclosure on ``box`` and whether continuity on ``box`` is certified."""
        st = _State()
        with _working_precision(self.precision_for(box)):
            out = self._ev(box, st)
        return out, not st.irregular and box.is_finite

    def __call__(self, lo: Number, hi: Optional[Number] = None) -> Interval:
        """Enclosure on ``[lo, hi]`` (a point when ``hi`` is omitted)."""
        box = _as_box(lo, lo if hi is None else hi, self.prec)
        return self.evaluate(box)[0]


def enclose(
    expr: sp.Expr, x: sp.Symbol, lo: Number, hi: Number, *, prec: int = DEFAULT_PREC
) -> Interval:
    r"""Rigorous enclosure of :math:`\{f(t) : t \in [lo, hi]\}`.

    Parameters
    ----------
    expr : sympy.Expr
        :math:`f`, with ``x`` its only free symbol.
    x : sympy.Symbol
        The variable.
    lo, hi : int, float, Fraction, SymPy number, flint.arb or mpmath.mpf
        Box endpoints (``±inf`` allowed); inexact ones are rounded outward.
    prec : int
        Base working precision in bits.

    Returns
    -------
    Interval
        Exact endpoints; ``.as_arb()`` gives a ``flint.arb`` ball, ``.lower()`` / ``.upper()``
        outward-rounded floats.

    Raises
    ------
    IntervalDomainError
        Where :math:`f` may be undefined or complex on the box.
    IntervalError
        For unsupported nodes or free parameters.

    Examples
    --------
    >>> x = sp.Symbol("x", real=True)
    >>> iv = enclose(sp.exp(-x) * x, x, 0, 2)
    >>> iv.lower() <= 0.0 and iv.upper() >= 1 / math.e
    True
    """
    return IntervalFunction(expr, x, prec=prec)(lo, hi)


# --------------------------------------------------------------------------------------------
# Branch and bound
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Extremum:
    r"""Rigorous bracket of :math:`\sup_D f` (``maximize``) or :math:`\inf_D f`.

    Attributes
    ----------
    lower, upper : float
        The extremum lies in :math:`[\mathrm{lower}, \mathrm{upper}]` (floats rounded outward;
        may be :math:`\pm\infty`).
    argbest : float or None
        A point whose certified value is the best found: :math:`f(\mathrm{argbest}) \ge
        \mathrm{lower}` when maximizing, :math:`\le \mathrm{upper}` when minimizing.  Boxes
        are split at floats, so it is an exact float when the box endpoints are floats of
        magnitude below 1e300 (otherwise the nearest float to the sample point).
    maximize : bool
        Which extremum.
    converged : bool
        ``upper - lower <= tol (+ rtol * scale)``; False when the box budget ran out.
    domain : (float, float)
        The interval :math:`D` actually covered (rounded inward).
    boxes : int
        Boxes evaluated.
    undefined_at : float or None
        A sample point where :math:`f` was undefined (skipped), if any.
    proved : bool or None
        With a ``target`` :math:`c`: True when the bracket proves :math:`\sup f \le c`
        (:math:`\inf f \ge c` when minimizing), False when it refutes it, None when undecided
        or when no target was given.
    derivative_used : bool
        Whether mean-value / monotonicity bounds with :math:`f'` were available.
    """

    lower: float
    upper: float
    argbest: Optional[float]
    maximize: bool
    converged: bool
    domain: tuple[float, float]
    boxes: int
    undefined_at: Optional[float] = None
    proved: Optional[bool] = None
    derivative_used: bool = False

    @property
    def gap(self) -> float:
        """``upper - lower`` (rounded up)."""
        return self.upper - self.lower

    @property
    def bound(self) -> float:
        """The safe side: ``upper`` for a maximum, ``lower`` for a minimum."""
        return self.upper if self.maximize else self.lower


class _Objective:
    """:math:`\\pm f` (sign chosen so that we always maximize) with optional derivative."""

    def __init__(self, f: IntervalFunction, df: Optional[IntervalFunction], negate: bool) -> None:
        self.f = f
        self.df = df
        self.negate = negate

    def _sign(self, iv: Interval) -> Interval:
        return _neg(iv) if self.negate else iv

    def box(self, box: Interval) -> tuple[arb, bool]:
        """Upper bound on the box and whether f is certified continuous there."""
        try:
            out, cont = self.f.evaluate(box)
        except IntervalDomainError:
            return _POS_INF, False
        return self._sign(out).hi, cont

    def point(self, t: arb) -> Optional[Interval]:
        try:
            out, _ = self.f.evaluate(Interval(t, t))
        except IntervalDomainError:
            return None
        return self._sign(out)

    def slope(self, box: Interval) -> Optional[Interval]:
        if self.df is None:
            return None
        try:
            out, _ = self.df.evaluate(box)
        except IntervalDomainError:
            return None
        return self._sign(out) if out.is_finite else None


def _split_point(lo: arb, hi: arb) -> Optional[arb]:
    """A float strictly inside ``(lo, hi)``; None if there is none (the box is then final).

    Staying on floats keeps every sample point, hence ``argbest``, an exact float.  Only boxes
    beyond the float range are split at arbitrary-precision midpoints.
    """
    a, b = float(lo), float(hi)
    if math.isfinite(a) and math.isfinite(b) and max(abs(a), abs(b)) < 1e300:
        fm = arb(a / 2 + b / 2)
        if not lo < fm < hi:
            fm = arb(math.nextafter(a, b))
        return fm if lo < fm < hi else None
    with _working_precision(256 + max(_mag_bits(lo), _mag_bits(hi), 0)):
        m = ((lo + hi) / 2).mid()
    return m if lo < m < hi else None


@dataclass
class _Box:
    lo: arb
    hi: arb
    mid: Optional[arb]
    f_lo: Optional[Interval]
    f_mid: Optional[Interval]
    f_hi: Optional[Interval]


class _BranchAndBound:
    """Maximize :math:`g = \\pm f` over a union of boxes (see :func:`bound_extremum`)."""

    def __init__(
        self, obj: _Objective, tol: float, rtol: float, max_boxes: int, target: Optional[arb]
    ) -> None:
        self.obj = obj
        self.target = target
        self.tol = tol
        self.rtol = rtol
        self.max_boxes = max_boxes
        self.best = _NEG_INF
        self.argbest: Optional[arb] = None
        self.undefined: Optional[arb] = None
        self.heap: list = []
        self.stuck = _NEG_INF
        self.count = 0
        self.ticket = itertools.count()

    def sample(self, t: Optional[arb]) -> Optional[Interval]:
        if t is None:
            return None
        v = self.obj.point(t)
        if v is None:
            self.undefined = self.undefined if self.undefined is not None else t
            return None
        if v.lo > self.best or self.argbest is None:
            self.best, self.argbest = _amax(self.best, v.lo), t
        return v

    def push(self, lo: arb, hi: arb, f_lo: Optional[Interval], f_hi: Optional[Interval]) -> None:
        box = Interval(lo, hi)
        self.count += 1
        upper, continuous = self.obj.box(box)
        mid = _split_point(lo, hi)
        f_mid = self.sample(mid)
        if continuous and upper > self.best:
            upper = _amin(upper, self._refine(box, mid, f_lo, f_mid, f_hi))
        if upper > self.best:
            item = _Box(lo, hi, mid, f_lo, f_mid, f_hi)
            heapq.heappush(self.heap, (-_float_up(upper), next(self.ticket), upper, item))

    def _refine(self, box: Interval, mid, f_lo, f_mid, f_hi) -> arb:
        r"""Monotonicity or mean-value bound :math:`g(m) + g'(X)(X - m)` (g continuous on X)."""
        d = self.obj.slope(box)
        if d is None:
            return _POS_INF
        if d.lo >= 0 and f_hi is not None:
            return f_hi.hi
        if d.hi <= 0 and f_lo is not None:
            return f_lo.hi
        if f_mid is None or mid is None:
            return _POS_INF
        with _working_precision(self.obj.f.precision_for(box)):
            return _add(f_mid, _mul(d, _sub(box, Interval(mid, mid)))).hi

    def upper(self) -> arb:
        # The float keys are rounded up, so the top key bounds every queued box.
        top = arb(-self.heap[0][0]) if self.heap else _NEG_INF
        return _amax(_amax(top, self.stuck), self.best)

    def decided(self) -> Optional[bool]:
        """With a target c: True if sup g <= c is proved, False if refuted, else None."""
        if self.target is None:
            return None
        if self.upper() <= self.target:
            return True
        if self.best > self.target:
            return False
        return None

    def stop(self) -> bool:
        # With a target the search runs until the sign question is decided (or the budget).
        if self.target is not None:
            return self.decided() is not None
        return self.done()

    def done(self) -> bool:
        up, lo = self.upper(), self.best
        if not (up.is_finite() and lo.is_finite()):
            return False
        scale = max(abs(_float_up(up)), abs(_float_down(lo)))
        return _up(up - lo) <= arb(self.tol) + arb(self.rtol * scale)

    def run(self, boxes: Sequence[tuple[arb, arb]]) -> bool:
        for lo, hi in boxes:
            self.push(lo, hi, self.sample(lo), self.sample(hi))
        while self.heap and not self.stop():
            if self.count >= self.max_boxes:
                return False
            _, _, upper, b = heapq.heappop(self.heap)
            if not upper > self.best:
                continue
            if b.mid is None:
                # No float strictly inside: the box is final, keep its bound.
                self.stuck = _amax(self.stuck, upper)
                continue
            self.push(b.lo, b.mid, b.f_lo, b.f_mid)
            self.push(b.mid, b.hi, b.f_mid, b.f_hi)
        return self.done()


def _derivative_function(
    expr: sp.Expr, x: sp.Symbol, dexpr, prec: int
) -> Optional[IntervalFunction]:
    """Compiled f' (given or by ``sympy.diff``); None when absent or not enclosable.

    f' is only used on boxes where f is certified continuous, and there only its values
    almost everywhere matter, so ``DiracDelta`` terms (from differentiating ``sign`` or
    ``Heaviside``) are dropped.  f' only sharpens bounds: one that still cannot be compiled
    is ignored, and ``Extremum.derivative_used`` says so.
    """
    if dexpr is False:
        return None
    d = sp.diff(expr, x) if dexpr is None else dexpr
    d = d.replace(lambda e: isinstance(e, sp.DiracDelta), lambda e: sp.S.Zero)
    try:
        return IntervalFunction(d, x, prec=prec)
    except IntervalError:
        return None


def _solve(
    expr: sp.Expr,
    x: sp.Symbol,
    boxes: Sequence[tuple[arb, arb]],
    *,
    maximize: bool,
    tol: float,
    rtol: float,
    dexpr,
    max_boxes: int,
    prec: int,
    domain: tuple[float, float],
    target: Optional[Number] = None,
) -> Extremum:
    f = IntervalFunction(expr, x, prec=prec)
    df = _derivative_function(expr, x, dexpr, prec)
    goal = None
    if target is not None:
        # In the maximized objective g = -f for a minimum: inf f >= c iff sup g <= -c.
        c_lo, c_hi = _number_to_bounds(target, prec)
        goal = c_lo if maximize else _eneg(c_hi)
    bb = _BranchAndBound(_Objective(f, df, negate=not maximize), tol, rtol, max_boxes, goal)
    bb.run(boxes)
    converged, proved = bb.done(), bb.decided()
    lo, hi = bb.best, bb.upper()
    if not maximize:
        lo, hi = _eneg(hi), _eneg(lo)
    return Extremum(
        lower=_float_down(lo),
        upper=_float_up(hi),
        argbest=None if bb.argbest is None else float(bb.argbest),
        maximize=maximize,
        converged=converged,
        domain=domain,
        boxes=bb.count,
        undefined_at=None if bb.undefined is None else float(bb.undefined),
        proved=proved,
        derivative_used=df is not None,
    )


def bound_extremum(
    expr: sp.Expr,
    x: sp.Symbol,
    lo: Number,
    hi: Number,
    *,
    maximize: bool,
    tol: float = 1e-9,
    rtol: float = 0.0,
    dexpr: Union[sp.Expr, None, bool] = None,
    max_boxes: int = 20000,
    prec: int = DEFAULT_PREC,
    target: Optional[Number] = None,
) -> Extremum:
    r"""Bracket :math:`\sup_{[lo,hi]} f` or :math:`\inf_{[lo,hi]} f` by branch and bound.

    Boxes sit in a priority queue keyed by their upper bound (for a maximum).  A box's bound is
    the plain enclosure, intersected, where :math:`f` is certified continuous on the box, with

    * :math:`f(b)` or :math:`f(a)` when :math:`f'(X) \ge 0` or :math:`\le 0` (monotone box), else
    * the mean-value form :math:`f(m) + f'(X)\,(X - m)`, whose overestimate is
      :math:`O(h^2)` near a smooth extremum, so tolerances like :math:`10^{-9}` are reachable.

    Point values at midpoints and endpoints (tight ``arb`` balls) raise the incumbent.  The
    search stops when ``upper - lower <= tol + rtol * max(|lower|, |upper|)`` or after
    ``max_boxes`` boxes, then with ``converged=False`` and the honest, wider bracket.  With a
    ``target`` :math:`c` it instead stops once :math:`\sup f \le c` (:math:`\inf f \ge c`) is
    proved or refuted, which is what sign proofs need (a bracket of width ``tol`` around an
    infimum of 0 cannot show :math:`f' \ge 0`).

    Parameters
    ----------
    expr : sympy.Expr
        :math:`f`, with ``x`` its only free symbol.
    x : sympy.Symbol
        The variable.
    lo, hi : number
        Finite box endpoints (inexact ones rounded outward).
    maximize : bool
        Supremum (True) or infimum (False).
    tol, rtol : float
        Absolute and relative target width of the bracket.
    dexpr : sympy.Expr, None or False
        :math:`f'`, equal to the derivative of :math:`f` wherever it exists; None: computed
        with ``sympy.diff`` (dropped if it has unsupported nodes such as ``DiracDelta``);
        False: plain enclosures only.  It is only used on boxes where :math:`f` is certified
        continuous (no pole, no jump, one ``Piecewise`` branch), so kinks and jumps are safe.
    max_boxes : int
        Budget of evaluated boxes.
    prec : int
        Base working precision in bits.
    target : number, optional
        Decide :math:`\sup f \le c` (maximize) or :math:`\inf f \ge c` (minimize); the
        answer is ``Extremum.proved``.

    Returns
    -------
    Extremum
        ``lower <= extremum <= upper``.  Points where :math:`f` is undefined are skipped (the
        extremum is over the points where it is defined) and one is reported in
        ``undefined_at``; unbounded :math:`f` gives an infinite bound.

    Examples
    --------
    >>> x = sp.Symbol("x", real=True)
    >>> r = bound_extremum(x * sp.exp(-x), x, 0, 4, maximize=True)
    >>> r.lower <= 1 / math.e <= r.upper and r.converged
    True
    """
    box = _as_box(lo, hi, prec)
    if not box.is_finite:
        raise IntervalError("bound_extremum needs a finite box; see bound_extremum_on_real_line")
    domain = (_float_up(box.lo), _float_down(box.hi))
    return _solve(expr, x, [(box.lo, box.hi)], maximize=maximize, tol=tol, rtol=rtol,
                  dexpr=dexpr, max_boxes=max_boxes, prec=prec, domain=domain, target=target)


def _shells(start: arb, far: arb) -> list[tuple[arb, arb]]:
    r"""Boxes :math:`[s, 2s], [2s, 4s], \dots` from ``start > 0`` up to ``far`` (last clipped)."""
    out = []
    s = start
    with _working_precision(4 * DEFAULT_PREC + _mag_bits(far)):  # doubling stays exact
        while s < far:
            e = _amin(s * 2, far)
            out.append((s, e))
            s = e
    return out


def bound_extremum_on_real_line(
    expr: sp.Expr,
    x: sp.Symbol,
    *,
    maximize: bool,
    tol: float = 1e-9,
    rtol: float = 0.0,
    dexpr: Union[sp.Expr, None, bool] = None,
    core: tuple[Number, Number] = (-64, 64),
    far: Number = 1e30,
    max_boxes: int = 20000,
    prec: int = DEFAULT_PREC,
    target: Optional[Number] = None,
    lo: Number = -math.inf,
    hi: Number = math.inf,
) -> Extremum:
    r"""Bracket :math:`\sup f` or :math:`\inf f` over :math:`[lo, hi] \cap [-R, R]` by shells.

    :math:`R` is ``far``.  The core interval :math:`[c_0, c_1] \ni 0` and the shells
    :math:`[2^k c_1, 2^{k+1} c_1]`, :math:`[2^{k+1} c_0, 2^k c_0]` up to :math:`\pm R`, each
    clipped to :math:`[\mathrm{lo}, \mathrm{hi}]` (a half-line domain such as
    :math:`(0, \infty)` keeps only what lies in it), enter one branch-and-bound queue; a whole
    shell is often settled by one enclosure because exponentially small factors dominate there.

    Then each infinite side's tail, :math:`[R, \infty)` or :math:`(-\infty, -R]`, is tried with
    one plain enclosure; if it stays within the bracket, ``domain`` extends to infinity on that
    side.  Otherwise ``domain`` stops at :math:`\pm R` and the caller must bound :math:`|x| > R`
    itself (e.g. from limits at :math:`\pm\infty`).

    Parameters
    ----------
    core : (number, number)
        Inner interval, containing 0.
    far : number
        :math:`R`.
    lo, hi : number
        The domain to cover (``±inf`` for the real line or a half-line); finite ends are
        included as closed ends (a singular end gives an infinite bound, honestly).
    others
        As in :func:`bound_extremum`.

    Returns
    -------
    Extremum
        Bracket over ``domain`` (see above).
    """
    c0, c1 = _as_box(core[0], core[0], prec).lo, _as_box(core[1], core[1], prec).hi
    if not (c0 < 0 < c1):
        raise IntervalError(f"core {core!r} must contain 0 in its interior")
    r = _as_box(far, far, prec).lo
    if not (r.is_finite() and r >= c1 and _eneg(r) <= c0):
        raise IntervalError(f"far={far!r} must be finite and cover the core")
    a = _amax(_as_box(lo, lo, prec).lo, _eneg(r))
    b = _amin(_as_box(hi, hi, prec).hi, r)
    if not a <= b:
        raise IntervalError(f"empty domain [{lo!r}, {hi!r}] within far={far!r}")
    left = [(_eneg(v), _eneg(u)) for u, v in _shells(_eneg(c0), r)]
    boxes = _clip_boxes([(c0, c1)] + _shells(c1, r) + left, a, b)
    res = _solve(expr, x, boxes, maximize=maximize, tol=tol, rtol=rtol, dexpr=dexpr,
                 max_boxes=max_boxes, prec=prec, domain=(_float_up(a), _float_down(b)),
                 target=target)
    ends = list(res.domain)
    for side, tail in ((0, Interval(_NEG_INF, _eneg(r))), (1, Interval(r, _POS_INF))):
        infinite = (a == _eneg(r)) if side == 0 else (b == r)
        if infinite and _number_to_bounds(lo if side == 0 else hi, prec)[side].is_finite():
            infinite = False  # the domain itself ends exactly at -R or R
        if infinite and _tail_within(expr, x, tail, res, prec):
            ends[side] = -math.inf if side == 0 else math.inf
    return dataclasses.replace(res, domain=(ends[0], ends[1]))


def _clip_boxes(boxes: list[tuple[arb, arb]], a: arb, b: arb) -> list[tuple[arb, arb]]:
    """The parts of ``boxes`` inside ``[a, b]`` (empty ones dropped)."""
    out = []
    for u, v in boxes:
        u, v = _amax(u, a), _amin(v, b)
        if u <= v:
            out.append((u, v))
    return out


def _tail_within(expr: sp.Expr, x: sp.Symbol, tail: Interval, res: Extremum, prec: int) -> bool:
    """Whether a plain enclosure on an infinite tail stays inside the bracket."""
    try:
        iv, _ = IntervalFunction(expr, x, prec=prec).evaluate(tail)
    except IntervalDomainError:
        return False
    if res.maximize:
        return bool(iv.hi <= arb(res.upper))
    return bool(iv.lo >= arb(res.lower))
