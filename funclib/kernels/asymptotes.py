r"""Asymptotic branches: where a formula has converged to a simple law, return the law.

Evaluated operation by operation, many formulas overflow in an intermediate long before the
result does: :math:`\log\cosh x` is ``inf`` beyond :math:`|x| = 710` (``cosh`` overflows)
although it equals :math:`|x| - \log 2` to the last bit from :math:`|x| \approx 19` on;
:math:`x^3/(1 + x^2)` is ``inf/inf`` in float32 beyond :math:`7\cdot 10^{12}`, where it is
:math:`x`; :math:`2x/(1 + x^2)` is 0 where it is :math:`2/x`. The limits at :math:`\pm\infty`
(:mod:`funclib.kernels.limits`) catch the finite ones; this module finds the others. For one
output :math:`f` and one direction :math:`d = \pm 1`:

1. **Fit** one of the laws

   ========================  ==========================================
   power                     :math:`a x^p + b`, :math:`p \in \{\pm1, \dots, \pm6\}` (:math:`b = 0` if :math:`p < 0`)
   logarithmic               :math:`a \log|x| + b`
   exponential               :math:`a e^{c x}`
   ========================  ==========================================

   to ``arb`` enclosures of :math:`f` at :math:`x = d\,2^{60}, d\,2^{120}` (at 1024 bits,
   through :func:`funclib.oracle.enclosure`; exponentials also at :math:`d\,2^6, d\,2^7`);
   :math:`a`, :math:`p`, :math:`c` must be small rationals (within :math:`2^{-80}`), and the
   law must predict :math:`f` at the next point (:math:`d\,2^{180}`, :math:`d\,2^8`) to
   :math:`2^{-40}` relative.
2. **Threshold**: the smallest :math:`T = 2^k` (refined by bisection inside its binade) such
   that at sampled points of every binade beyond it, the law evaluated in the target dtype is
   within :data:`ASYMPTOTE_ULP` (3/4 of the accuracy target) of the correctly rounded :math:`f` (:func:`funclib.oracle.reference_value`).
   Estimated on samples, not proven — the same standard as the saturation thresholds; the
   generated module records every law and threshold (``ASYMPTOTES``).

The kernel then returns the law for :math:`d\,x > T`. Outputs with runtime parameters get no
asymptotic branch (the law would depend on them).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import sympy as sp

from .limits import refine_threshold, walk_threshold

__all__ = ["Asymptote", "fit_asymptote", "asymptote_threshold"]

#: (binary exponents of the two fitting points and the check point, bits, laws tried): far
#: out for every law, and at |x| = 64..256 for exponentials, whose cancelling forms
#: (e^x sigmoid(-x) sigmoid(x) - ...) cannot be enclosed at 2^60 with any practical precision.
FIT_SCALES = (((60, 120, 180), 1024, ("power", "log", "exp")), ((6, 7, 8), 2048, ("exp",)))
#: Relative mantissas of the points sampled in each binade.
#: The last is a full-mantissa sample: from binade 5 on the dyadic ones are even integers, where
#: cos(pi x) = 1 makes sinc'(x) = cos(pi x)/x - ... look like the law 1/x.
BINADE_SAMPLES = (1.0, 1.1875, 1.5, 1.8125, 4.0 / 3.0)
#: ULPs (of the dtype) the law may differ from the correctly rounded value: three quarters of
#: the accuracy target (a law like -2/x**3 takes three roundings).
ASYMPTOTE_ULP = {"float64": 3.0, "float32": 1.5}


@dataclass(frozen=True)
class Asymptote:
    """``f(x) ≈ law(x)`` as ``x -> direction*inf``; ``kind`` is ``power``, ``log`` or ``exp``."""

    kind: str
    direction: int
    a: sp.Rational
    p: int = 0  # power
    b: sp.Expr = sp.S.Zero  # power, log (a 40-digit Float or 0)
    c: sp.Rational = sp.S.Zero  # exp

    def expr(self, x: sp.Symbol) -> sp.Expr:
        """The law as a SymPy expression in ``x``."""
        if self.kind == "power" and self.p > 0:
            return self.a * x**self.p + self.b
        if self.kind == "power":
            # (a/x**(n-h))/x**h, h = n//2: no intermediate overflows or underflows before the
            # quotient does, and only the last division rounds in the subnormal range
            n = -self.p
            if n == 1:
                return self.a / x
            inner = sp.Mul(self.a, sp.Pow(x, -(n - n // 2)), evaluate=False)
            return sp.Mul(inner, sp.Pow(x, -(n // 2)), evaluate=False)
        if self.kind == "log":
            return self.a * sp.log(sp.Abs(x)) + self.b
        return self.a * sp.exp(self.c * x)

    def numpy(self, x: np.ndarray, dtype: str) -> np.ndarray:
        """The law evaluated in ``dtype`` arithmetic (as the kernel would, up to its libm)."""
        t = np.dtype(dtype).type
        a, b = t(float(self.a)), t(float(self.b))
        with np.errstate(all="ignore"):
            if self.kind == "power" and self.p > 0:
                return a * x**self.p + b
            if self.kind == "power":  # as printed (see expr)
                n = -self.p
                return (a / x ** (n - n // 2)) / x ** (n // 2) if n > 1 else a / x
            if self.kind == "log":
                return a * np.log(np.abs(x)) + b
            return a * np.exp(t(float(self.c)) * x)


def _snap(value, tol: float = 2.0**-80) -> sp.Rational | None:
    """A rational ``n/d`` (``d <= 64``, ``|n/d| <= 2^20``) within ``tol`` relative of ``value``
    (an arb), or None."""
    from flint import arb

    mid = float(value.mid())
    if not math.isfinite(mid) or abs(mid) > 2.0**20 or value.rad() > abs(value.mid()) * 2.0**-100:
        return None
    frac = Fraction(mid).limit_denominator(64)
    if frac == 0:
        return None
    exact = arb(frac.numerator) / frac.denominator
    if abs(value - exact) > abs(exact) * tol:
        return None
    return sp.Rational(frac.numerator, frac.denominator)


def _arb(q: sp.Rational):
    from flint import arb

    return arb(int(q.p)) / int(q.q)


def _offset(b1, b2) -> sp.Expr | None:
    """The constant term from its estimates at the two fitting points: they must agree to
    ``2^-40`` (else the law has a growing lower-order term); 0 when it is below ``2^-40``."""
    scale = max(abs(b2), abs(b1 - b1 + 1))
    if abs(b2 - b1) > scale * 2.0**-40:
        return None
    if abs(b2) < 2.0**-40:
        return sp.S.Zero
    return sp.Float(b2.mid().str(50, radius=False), 45)


def _candidates(f1, f2, x1, x2, direction: int):
    """Laws fitted to (x1, f1), (x2, f2) (arb balls)."""
    for p in (1, 2, 3, 4, 5, 6, -1, -2, -3, -4, -5, -6):
        a = _snap((f2 - f1) / (x2**p - x1**p)) if p > 0 else _snap(f2 / x2**p)
        if a is None:
            continue
        b = _offset(f1 - _arb(a) * x1**p, f2 - _arb(a) * x2**p) if p > 0 else sp.S.Zero
        if b is not None:
            yield Asymptote("power", direction, a, p=p, b=b)
    a = _snap((f2 - f1) / (abs(x2).log() - abs(x1).log()))
    if a is not None:
        b = _offset(f1 - _arb(a) * abs(x1).log(), f2 - _arb(a) * abs(x2).log())
        if b is not None:
            yield Asymptote("log", direction, a, b=b)
    if f1 > 0 and f2 > 0 or f1 < 0 and f2 < 0:
        c = _snap((abs(f2).log() - abs(f1).log()) / (x2 - x1))
        if c is not None and c * direction < 0:  # decaying: a growing exponential overflows anyway
            a = _snap(f2 / (_arb(c) * x2).exp())
            if a is not None:
                yield Asymptote("exp", direction, a, c=c)


def _predict(law: Asymptote, x3):
    if law.kind == "power":
        return _arb(law.a) * x3**law.p + _as_arb(law.b)
    if law.kind == "log":
        return _arb(law.a) * abs(x3).log() + _as_arb(law.b)
    return _arb(law.a) * (_arb(law.c) * x3).exp()


def _as_arb(b: sp.Expr):
    from flint import arb

    return arb(str(b)) if b != 0 else arb(0)


def fit_asymptote(expr: sp.Expr, x: sp.Symbol, direction: int) -> Asymptote | None:
    """A law that ``expr`` follows as ``x -> direction*inf`` (module docstring, step 1), or None."""
    if expr.has(sp.floor, sp.ceiling):
        return None  # a staircase agrees with its law at the powers of 2 sampled here, not between
    for exponents, prec, kinds in FIT_SCALES:
        law = _fit_at(expr, x, direction, exponents, prec, kinds)
        if law is not None:
            return law
    return None


def _fit_at(expr, x, direction, exponents, prec, kinds) -> Asymptote | None:
    import flint
    from flint import arb

    from ..oracle import enclosure

    pts = [direction * 2.0**k for k in exponents]
    balls = [enclosure(expr, x, t, prec) for t in pts]
    if any(b is None or not b.is_finite() or b == 0 for b in balls):
        return None
    saved = flint.ctx.prec
    flint.ctx.prec = prec  # arb arithmetic below runs at the global precision
    try:
        xs = [arb(t) for t in pts]
        for law in _candidates(balls[0], balls[1], xs[0], xs[1], direction):
            # the law must predict the far point to 2^-40 relative (the offset b's estimate
            # carries the next term of the expansion)
            if law.kind in kinds and abs(balls[2] - _predict(law, xs[2])) <= abs(balls[2]) * arb(2) ** -40:
                return law
    finally:
        flint.ctx.prec = saved
    return None


def _binade_ok(expr, x, law: Asymptote, k: int, dtype: str) -> bool | None:
    """Whether the law is within ASYMPTOTE_ULP of the reference at the samples of binade k."""
    from ..accuracy import ulp_error
    from ..mpeval import MpEvalError
    from ..oracle import Undecided, reference_value

    top = np.finfo(dtype).max
    ts = [law.direction * m * 2.0**k for m in BINADE_SAMPLES if m * 2.0**k <= top]
    try:
        ref = np.array([reference_value(expr, x, t) for t in ts])
    except (Undecided, MpEvalError):  # no vote where the oracle cannot say
        return None
    got = law.numpy(np.array(ts, dtype=dtype), dtype)
    err = ulp_error(got, ref, dtype)
    return bool(np.all(err <= ASYMPTOTE_ULP[dtype]))


def asymptote_threshold(expr: sp.Expr, x: sp.Symbol, law: Asymptote, dtype: str) -> float | None:
    """The threshold ``T`` beyond which ``law`` replaces ``expr`` in ``dtype`` (module docstring,
    step 2), or None."""
    top = int(np.finfo(dtype).maxexp) - 1
    k0 = walk_threshold(lambda k: _binade_ok(expr, x, law, k, dtype), top)
    if k0 is None:
        return None
    return refine_threshold(lambda t: _point_ok(expr, x, law, t, dtype), k0)


def _point_ok(expr, x, law: Asymptote, t: float, dtype: str) -> bool:
    from ..accuracy import ulp_error
    from ..oracle import reference_value

    from ..mpeval import MpEvalError
    from ..oracle import Undecided

    t = float(np.dtype(dtype).type(t))
    try:
        ref = reference_value(expr, x, law.direction * t)
    except (Undecided, MpEvalError):  # not a point where the law is known to hold
        return False
    got = law.numpy(np.array([law.direction * t], dtype=dtype), dtype)
    return bool(ulp_error(got, np.array([ref]), dtype)[0] <= ASYMPTOTE_ULP[dtype])
