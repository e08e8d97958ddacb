r"""Correctly rounded float64 reference values of an expression at float64 points.

A fixed working precision is not enough for an oracle: at 40 digits ``log(-expm1(-700))``
evaluates to 0 instead of -9.86e-305 (1 - 9.9e-305 rounds to 1), and doubling the precision
does not reveal it because both runs give the same wrong answer. Ball arithmetic does: the
python-flint ``arb`` enclosure of the exact value (:mod:`funclib.interval`) carries its own
error bound, so the precision is raised until both ends of the ball round to the same float64.
That float is the correctly rounded value.

Three stages, each tried only where the one before could not decide:

1. the ``arb`` enclosure of the expression at :data:`PRECISIONS` bits;
2. the same for its log-domain form (:func:`log_domain_form`): ``cosh(u)`` and ``sinh(u)`` as
   :math:`e^{|u|}(1 \pm e^{-2|u|})/2` with the exponentials of a product merged, so that the
   derivative of TanhExp, :math:`x e^x / \cosh^2(e^x)`, becomes :math:`4 x e^{x - 2e^x}/(1 +
   e^{-2e^x})^2`, whose huge intermediates cancel in one exponent (``arb`` cannot enclose
   :math:`\cosh(e^{10^5})`, but it encloses :math:`e^{-2e^{10^5}}` as a tiny ball);
3. mpmath at :data:`MP_DIGITS` digits in turn (also for the few functions the interval engine
   lacks), accepted when two successive precisions round to the same float64 (not a proof).

When none decides — an intermediate beyond mpmath's exponent range, values that keep moving
with the precision — :class:`Undecided` is raised, naming the input: the oracle never reports
a value it has not decided and never crashes with an arithmetic error of its own.
"""

from __future__ import annotations

import math
from functools import lru_cache

import mpmath
import sympy as sp

from . import interval
from .mpeval import MpEvalError, mp_evaluate

__all__ = ["reference_value", "ball_value", "mpmath_value", "enclosure", "log_domain_form", "Undecided", "PRECISIONS", "MP_DIGITS"]

#: Working precisions (bits) tried in turn; 1 - 1e-4000 needs about 13300 bits.
PRECISIONS = (128, 320, 1024, 4096, 16384)
#: mpmath precisions (decimal digits) of the last stage; two successive ones must agree.
MP_DIGITS = (40, 80, 160, 320)
#: Function arguments beyond 2**MP_MAX_EXPONENT in magnitude make the mpmath stage give up at
#: once (mpmath's gamma(exp(1e10)) does not return; its cosh(exp(1e300)) overflows).
MP_MAX_EXPONENT = 4096


class Undecided(ArithmeticError):
    """The reference value at ``x`` could not be decided within the precision cap."""

    def __init__(self, x: float, reason: str) -> None:
        super().__init__(f"reference undecided at x = {x!r}: {reason}")
        self.x = x
        self.reason = reason


def nearest_float(a) -> float:
    """Round an exact arb endpoint to the nearest float64 (through an exact mpmath value)."""
    if not a.is_finite():
        return math.inf if a > 0 else -math.inf
    man, exp = a.mid().man_exp()
    with mpmath.workprec(max(64, int(man).bit_length() + 8)):
        return float(mpmath.mpf((int(man), int(exp)))) + 0.0


def _cosh_exp(u: sp.Expr) -> sp.Expr:
    a = sp.Abs(u)
    return sp.exp(a) * (1 + sp.exp(-2 * a)) / 2


def _sinh_exp(u: sp.Expr) -> sp.Expr:
    a = sp.Abs(u)
    return sp.sign(u) * sp.exp(a) * (1 - sp.exp(-2 * a)) / 2


@lru_cache(maxsize=512)
def log_domain_form(expr: sp.Expr) -> sp.Expr:
    r"""``expr`` with :math:`\cosh u = e^{|u|}(1 + e^{-2|u|})/2`, :math:`\sinh u = \operatorname{sign}(u)
    e^{|u|}(1 - e^{-2|u|})/2` and the exponentials of every product merged into one exponent.

    An exact identity (evaluated by the tests at random points); used by the oracle where the
    plain form has an intermediate too large for ``arb`` (:math:`\cosh(e^{10^5})`).
    """
    from .calculus import stabilize

    if not expr.has(sp.cosh, sp.sinh):
        return expr
    out = expr.replace(lambda e: isinstance(e, sp.cosh), lambda e: _cosh_exp(e.args[0]))
    out = out.replace(lambda e: isinstance(e, sp.sinh), lambda e: _sinh_exp(e.args[0]))
    return stabilize(sp.powsimp(sp.expand_power_base(out, force=True), combine="exp"))


@lru_cache(maxsize=512)
def _interval_function(expr: sp.Expr, x: sp.Symbol, prec: int) -> interval.IntervalFunction:
    return interval.IntervalFunction(expr, x, prec=prec)


def _by_balls(expr: sp.Expr, x: sp.Symbol, t: float) -> float | None:
    """The correctly rounded value from ``arb`` balls; None if undecided or unsupported.

    Raises :class:`funclib.interval.IntervalDomainError` where ``expr`` is undefined at ``t``.
    """
    for prec in PRECISIONS:
        try:
            ball = _interval_function(expr, x, prec)(t)
        except interval.IntervalDomainError:
            raise
        except interval.IntervalError:
            return None  # unsupported function
        lo, hi = nearest_float(ball.lo), nearest_float(ball.hi)
        if lo == hi:
            return lo
    return None


def enclosure(expr: sp.Expr, x: sp.Symbol, t: float, prec: int):
    """An ``arb`` ball around ``expr(x = t)`` at ``prec`` bits (the plain form, else the
    log-domain form where the plain ball is not finite); None where neither gives a finite ball
    or the interval engine cannot evaluate the expression."""
    import flint

    saved = flint.ctx.prec
    flint.ctx.prec = prec  # as_arb() rounds the ball at the global precision
    try:
        for form in dict.fromkeys((expr, log_domain_form(expr))):
            try:
                ball = _interval_function(form, x, prec)(t).as_arb()
            except interval.IntervalError:
                return None
            if ball.is_finite():
                return ball
    finally:
        flint.ctx.prec = saved
    return None


def mpmath_value(expr: sp.Expr, x: sp.Symbol, t: float, dps: int = 40) -> float:
    """Stage 3 alone: mpmath at increasing precision until two successive values round alike.

    Not a proof, and it can run for a long time on huge arguments: callers that must stay
    bounded run it under :func:`funclib.timelimit.time_limit`. Raises :class:`Undecided` or
    :class:`funclib.mpeval.MpEvalError` as :func:`reference_value` does.
    """
    last = None
    for digits in sorted({dps, *(d for d in MP_DIGITS if d > dps)}):
        try:
            value = mp_evaluate(expr, {x: t}, digits, max_exponent=MP_MAX_EXPONENT)
        except MpEvalError:
            raise  # an unsupported node is the caller's error, not an undecided value
        except (OverflowError, ZeroDivisionError, ValueError, MemoryError) as exc:
            raise Undecided(t, f"mpmath at {digits} digits: {type(exc).__name__}: {exc}") from None
        f = math.nan if mpmath.isnan(value) else float(value) + 0.0
        if last is not None and (f == last or (math.isnan(f) and math.isnan(last))):
            return f
        last = f
    raise Undecided(t, f"mpmath values still change at {max(MP_DIGITS)} digits (last {last!r})")


def ball_value(expr: sp.Expr, x: sp.Symbol, t: float) -> float | None:
    """Stages 1 and 2 alone (module docstring): the correctly rounded value from ``arb`` balls,
    or None where they do not decide. Bounded work (the precisions of :data:`PRECISIONS`), a
    proof where it answers. Raises :class:`funclib.interval.IntervalDomainError` where ``expr``
    is undefined at ``t``."""
    value = _by_balls(expr, x, t)
    if value is None:
        alternative = log_domain_form(expr)
        if alternative != expr:
            value = _by_balls(alternative, x, t)
    return value


def reference_value(expr: sp.Expr, x: sp.Symbol, t: float, *, dps: int = 40) -> float:
    """The float64 nearest to ``expr(x = t)`` for a finite float64 ``t``.

    Returns NaN where the expression is undefined at ``t``. Raises :class:`Undecided` where
    no stage (module docstring) decides the value; :class:`funclib.mpeval.MpEvalError` for a
    function no stage can evaluate.
    """
    try:
        value = ball_value(expr, x, t)
    except interval.IntervalDomainError:
        return math.nan
    if value is not None:
        return value
    return mpmath_value(expr, x, t, dps)
