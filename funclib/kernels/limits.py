"""Limits of kernel outputs at ±inf, so that infinite inputs give the entry's limits.

Straight-line code evaluated at ``x = ±inf`` often gives ``inf*0 = NaN`` where the function
has a perfectly good limit (exact GELU at ``-inf``: ``-inf * erfc(inf)``). The generated kernel
therefore selects the limit when the input is infinite. Three cases:

* the output does not involve a parameter: the limit is estimated from mpmath values at
  ``±1e8 ... ±1e64`` (agreement to 1e-12, or magnitude above 1e40 for ±inf) — the method of
  :func:`funclib.limits.limit_at`'s fallback, cheap enough for every kernel;
* it involves one or two parameters: ``sympy.limit`` with the parameters as symbols carrying
  the sign their ranges imply (at most two seconds of CPU time, main thread only: the timeout is a
  signal), giving an expression in the parameters;
* if that fails, the limit at the default parameter values, applied only while the call's
  parameters equal the defaults (``Limit.guarded``).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping
from dataclasses import dataclass

import sympy as sp
from sympy.codegen.cfunctions import expm1, log1p

from ..calculus import stabilize
from ..formula import exact_decimal
from ..limits import far_branches
from ..periodicity import periodicity_of
from ..timelimit import TimeLimitExceeded, time_limit
from ..special import erfc as stable_erfc
from ..special import sigmoid, softplus

__all__ = ["Limit", "limit_at_infinity", "saturation_threshold", "walk_threshold", "refine_threshold"]

#: CPU-time budgets (:func:`funclib.timelimit.time_limit`) of one symbolic limit and of one
#: reference value beyond what an arb ball decides.
SYMBOLIC_SECONDS = 2.0
VALUE_SECONDS = 0.5
#: Outputs with more parameters than this skip sympy.limit (PAU's ten coefficients would make
#: every limit run into the timeout) and use the guarded numeric limit.
MAX_SYMBOLIC_PARAMS = 2


@dataclass(frozen=True)
class Limit:
    """``value`` (a SymPy number or expression in the parameters); ``guarded`` if it is only
    valid at the default parameters."""

    value: sp.Expr
    guarded: bool = False


def _for_sympy(expr: sp.Expr) -> sp.Expr:
    expr = expr.replace(lambda e: isinstance(e, stable_erfc), lambda e: sp.erfc(e.args[0]))
    expr = expr.replace(lambda e: isinstance(e, (sigmoid, softplus)), lambda e: e.rewrite(sp.exp))
    return expr.replace(lambda e: isinstance(e, (log1p, expm1)), lambda e: e.rewrite(sp.log))


def _value_at(expr: sp.Expr, x: sp.Symbol, t: float, env: Mapping) -> float | None:
    """The float64 nearest to ``expr`` at ``x = t`` (parameters at ``env``), or None.

    First from arb balls (:func:`funclib.oracle.ball_value`: arguments like
    ``exp(-exp(2^1000))`` at once, bounded work, no timer, so the answer does not depend on the
    machine's load); where they do not decide, from mpmath (:func:`funclib.oracle.mpmath_value`),
    which can run for ever on such arguments: limited to ``VALUE_SECONDS`` of CPU time (main
    thread) or not attempted (other threads).
    """
    from .. import interval
    from ..oracle import ball_value, mpmath_value

    e = expr.xreplace({s: exact_decimal(v) for s, v in env.items()}) if env else expr
    try:
        value = ball_value(e, x, t)
    except interval.IntervalDomainError:
        return math.nan
    except Exception:  # noqa: BLE001 - not enclosed there: mpmath decides
        value = None
    if value is not None or threading.current_thread() is not threading.main_thread():
        return value
    try:
        with time_limit(VALUE_SECONDS):
            return mpmath_value(e, x, t)
    except TimeLimitExceeded:
        return None
    except Exception:  # noqa: BLE001 - not evaluable there
        return None


def _numeric(expr: sp.Expr, x: sp.Symbol, direction: int, env: Mapping) -> sp.Expr | None:
    values = []
    for e in (8, 16, 32, 64):
        v = _value_at(expr, x, math.copysign(10.0**e, direction), env)
        if v is None:
            return None
        values.append(v)
    last, prev = values[-1], values[-2]
    if math.isnan(last) or math.isnan(prev):
        return None
    if (abs(last) > 1e40 and abs(prev) > 1e20 and math.copysign(1, last) == math.copysign(1, prev)) or math.isinf(last):
        return sp.oo if last > 0 else -sp.oo
    if abs(last) < 1e-30 and abs(last) < 1e-6 * abs(values[-3]):
        return sp.S.Zero  # decaying like a power of 1/x (softsign' ~ 1/x**2, ATLU' ~ 1/x**3)
    if abs(last - prev) <= 1e-12 * max(1, abs(last)):
        return sp.Float(last) if last != 0 else sp.S.Zero
    return None


def _assumed_symbol(name: str, param) -> sp.Symbol:
    lo, hi = param.range.lo, param.range.hi
    if lo > 0 or (lo == 0 and not param.range.lo_closed):
        return sp.Symbol(name, positive=True)
    if lo >= 0:
        return sp.Symbol(name, nonnegative=True)
    if hi < 0 or (hi == 0 and not param.range.hi_closed):
        return sp.Symbol(name, negative=True)
    if hi <= 0:
        return sp.Symbol(name, nonpositive=True)
    return sp.Symbol(name, real=True)


def limit_at_infinity(
    expr: sp.Expr,
    x: sp.Symbol,
    direction: int,
    params: Mapping[str, object],
    defaults: Mapping[sp.Symbol, float],
) -> Limit | None:
    """The limit of ``expr`` as ``x -> direction*inf`` (see the module docstring), or None.

    ``params`` maps parameter names to :class:`funclib.entry.Param`-like objects (with a
    ``range``) or to None; ``defaults`` maps parameter symbols to their default values.
    """
    if not expr.has(x):
        return Limit(expr)
    per = periodicity_of(expr, x)
    if per is not None and per.periodic:
        return None  # oscillates (a floor-periodic f' is 0 at every power of 2, yet has no limit)
    env = {s: float(v) for s, v in defaults.items() if v is not None}
    used = expr.free_symbols - {x}
    if not used:
        value = _numeric(expr, x, direction, {})
        return None if value is None else Limit(value)
    # symbolic, with the parameters' signs
    if len(env) == len(used) or all(s in env for s in used):
        far = far_branches(expr, x, direction, env)
    else:
        far = None
    symbolic_ok = (
        threading.current_thread() is threading.main_thread()  # the timeout needs SIGALRM
        and len(used) <= MAX_SYMBOLIC_PARAMS
    )
    if symbolic_ok and far is not None and not far.has(sp.nan):
        subs = {}
        for s in used:
            p = params.get(s.name)
            subs[s] = _assumed_symbol(s.name, p) if p is not None and hasattr(p, "range") else sp.Symbol(s.name, real=True)
        back = {v: k for k, v in subs.items()}
        try:
            with time_limit(SYMBOLIC_SECONDS):
                value = sp.limit(_for_sympy(far.xreplace(subs)), x, sp.oo * direction)
        except (TimeLimitExceeded, NotImplementedError, ValueError, TypeError, RecursionError, AttributeError):
            value = None
        if (
            value is not None
            and not value.has(sp.Limit, sp.AccumBounds, sp.zoo, sp.nan, sp.Piecewise)
            and value.is_extended_real
            and not (value.has(sp.oo, -sp.oo) and len(value.free_symbols) > 0)
        ):
            # sympy.limit works on the exp/log forms of _for_sympy; stabilize turns them back
            # (log(1 + exp(-t)) is 0 in floating point for t > 37, softplus(-t) is not)
            return Limit(stabilize(value.xreplace(back)))
    if all(s in env for s in used):
        value = _numeric(expr, x, direction, env)
        if value is not None:
            return Limit(value, guarded=True)
    return None


def saturation_threshold(
    expr: sp.Expr,
    x: sp.Symbol,
    direction: int,
    limit: sp.Expr,
    dtype: str,
    env: Mapping[sp.Symbol, float] | None = None,
) -> float | None:
    """The smallest ``T`` such that ``expr`` at ``direction * t`` rounds to ``limit`` in
    ``dtype`` at every sampled ``t >= T`` (``t = 2^k`` over a coarse set of k from the largest
    binade down, then every k between the last hit and the first miss; then bisection inside
    the last binade, :func:`refine_threshold`: sech(x) is 0 in float64 from x = 745.2 on, not
    only from 1024).

    Beyond ``T`` the kernel returns the limit itself: the operation-by-operation evaluation of
    a formula can overflow there (``x**2 * exp(-x**2/2)`` is ``inf * 0`` at x = 1e200) although
    the function has long reached its limit. The check samples every binade (estimated, not
    proven; the generated module records the threshold). Finite limits only.
    """
    import numpy as np

    if not limit.is_number or not limit.is_finite:
        return None
    target = np.dtype(dtype).type(float(limit))
    top = int(np.finfo(dtype).maxexp) - 1
    env = dict(env or {})

    def saturated(t: float) -> bool | None:
        v = _value_at(expr, x, direction * float(np.dtype(dtype).type(t)), env)  # correctly rounded float64
        if v is None:
            return None  # not evaluable there: no vote
        if math.isnan(v) or math.isinf(v):
            return False
        with np.errstate(over="ignore", under="ignore"):
            return bool(np.dtype(dtype).type(v) == target)

    k0 = walk_threshold(lambda k: saturated(math.ldexp(1.0, k)), top)
    if k0 is None:
        return None
    return refine_threshold(lambda t: saturated(t) is True, k0)


def walk_threshold(ok, top: int) -> int | None:
    """The smallest binade exponent ``k0`` with ``ok(k)`` true from ``k0`` up to ``top``, walking
    inwards over a coarse set of binades to the first miss and then binade by binade back out
    (functions converge monotonically in their tails); None if fewer than 4 coarse binades pass.
    ``ok(k)`` returns True, False or None (no vote)."""
    coarse = sorted({top, *range(100, top, 100), 96, 80, 64, 48, 40, 32, 24, 20, 16, 12, 10, 8, 6, 4, 3, 2, 1},
                    reverse=True)
    coarse = [k for k in coarse if k <= top]
    checked, k0, miss = 0, None, None
    for k in coarse:
        verdict = ok(k)
        if verdict is None:
            continue
        if not verdict:
            miss = k
            break
        checked += 1
        k0 = k
    if k0 is None or checked < 4:
        return None
    if miss is not None:
        for k in range(k0 - 1, miss, -1):
            if ok(k) is False:
                break
            k0 = k
    return k0


def refine_threshold(ok_at, k0: int, steps: int = 12) -> float:
    """Bisect inside the binade below ``2^k0`` for the smallest ``t`` with ``ok_at(t)`` (assumed
    monotone there), then check 4 points between it and ``2^k0``; ``2^k0`` if any fails."""
    lo, hi = 2.0 ** (k0 - 1), 2.0**k0
    if ok_at(lo):
        return lo  # the binade below had no vote: keep to what was checked
    for _ in range(steps):
        mid = (lo + hi) / 2
        if ok_at(mid):
            hi = mid
        else:
            lo = mid
    if all(ok_at(hi + (2.0**k0 - hi) * s) for s in (0.1, 0.35, 0.6, 0.85)):
        return hi
    return 2.0**k0
