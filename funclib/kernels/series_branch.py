r"""Taylor branches near 0 whose truncation error is proven with ``arb`` power series.

Where an output cancels near 0 (:math:`\log\cosh x \approx x^2/2`, :math:`x\tanh x - \log\cosh x`,
the derivative of :math:`\sigma(x)\sigma(-x)`), its Taylor polynomial
:math:`P(x) = \sum_{j=k}^{n} m_j x^j` is accurate to the last bit for :math:`|x| < t`. Both
the coefficients and the threshold come from python-flint's ``arb_series`` (ball arithmetic on
truncated power series):

* evaluated at the exact point 0, the series gives balls :math:`a_j \ni f^{(j)}(0)/j!`; the
  polynomial uses their midpoints :math:`m_j`, and :math:`k` is the first order whose ball
  excludes 0 (lower orders must be exact zeros, or are proven zero by SymPy);
* evaluated at the ball :math:`[-t, t]`, coefficient :math:`n+1` encloses
  :math:`f^{(n+1)}(\xi)/(n+1)!` for every :math:`\xi` in it: the Lagrange remainder bound
  :math:`C`.

For :math:`|x| \le t`,
:math:`|f(x) - P(x)| \le |x|^k E` with :math:`E = \sum_{j} |a_j - m_j|\,t^{j-k} + C t^{n+1-k}`
(coefficients dropped as possibly zero count with their whole magnitude), and
:math:`|f(x)| \ge |x|^k L` with :math:`L = |a_k| - \sum_{j>k} |a_j| t^{j-k} - C t^{n+1-k}`, so
the relative truncation error is at most :math:`E/L`; :math:`C` is the largest enclosure over
:data:`PIECES` balls covering :math:`[-t, t]`. :func:`series_branches` returns, for a few
degrees, a :math:`t = 2^{-i/4}` (the largest one bisection finds) with
:math:`E/L \le 2^{-(p+1)}` (half an ULP of a :math:`p`-bit format). Rounding of the
coefficients to the format and the evaluation of :math:`P` are not part of that bound; the
rewrite search measures them.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import sympy as sp
from sympy.codegen.cfunctions import expm1, log1p

from ..special import erfc as erfc_fn
from ..special import sigmoid, softplus

__all__ = ["SeriesBranch", "series_branches", "SeriesError", "taylor_balls"]

#: Working precision (bits) of the ball arithmetic.
PREC = 256
#: Degrees above the leading order that are tried (each gives one branch).
EXTRA_TERMS = (4, 8, 12, 16, 24, 32, 48)
#: Balls covering [-t, t] for the remainder bound.
PIECES = 8
#: Candidate thresholds 2**(-i/4), i = 0 .. 4*60 (from 1 down to ~1e-18).
_T_STEPS = 4 * 60


class SeriesError(ValueError):
    """The output has no Taylor series at 0 that the ball engine can compute (a function it
    does not know, a pole or branch point at 0, ``|x|``)."""


@dataclass(frozen=True)
class SeriesBranch:
    r"""``P(x)`` for :math:`|x| < t` with relative truncation error at most ``bound``."""

    degree: int
    order: int  # k, the order of the leading term
    threshold: float
    bound: float
    coefficients: tuple[sp.Rational, ...]  # m_k .. m_n (exact binary midpoints)

    def polynomial(self, x: sp.Symbol) -> sp.Expr:
        r"""Horner form :math:`x^k(m_k + x(m_{k+1} + \dots))` (in :math:`x^2` when every other
        coefficient is zero, as for even and odd functions)."""
        coeffs = list(self.coefficients)
        step = 2 if all(c == 0 for c in coeffs[1::2]) and len(coeffs) > 1 else 1
        var = x**2 if step == 2 else x
        poly = sp.S.Zero
        for c in reversed(coeffs[::step]):
            poly = c + var * poly if poly != 0 else c
        return x**self.order * poly if self.order else poly


def _const(e: sp.Expr, flint):
    if e.is_Integer:
        return flint.arb(int(e))
    if e.is_Rational:
        return flint.arb(int(e.p)) / int(e.q)
    if e is sp.pi:
        return flint.arb.pi()
    if e is sp.E:
        return flint.arb(1).exp()
    if e.is_Float:
        m, ex = sp.Rational(e).as_numer_denom()
        return flint.arb(int(m)) / int(ex)
    if e.is_number:  # e.g. sqrt(2), log(2): a 60-digit value with a radius covering its error
        return flint.arb(str(sp.N(e, 60)), flint.arb("1e-55"))
    raise SeriesError(f"cannot enclose the constant {e}")


def _series(e: sp.Expr, x: sp.Symbol, s, flint):
    rec = lambda a: _series(a, x, s, flint)  # noqa: E731
    if e == x:
        return s
    if not e.has(x):
        return flint.arb_series([_const(e, flint)])
    if e.is_Add:
        out = rec(e.args[0])
        for a in e.args[1:]:
            out = out + rec(a)
        return out
    if e.is_Mul:
        out = rec(e.args[0])
        for a in e.args[1:]:
            out = out * rec(a)
        return out
    if e.is_Pow:
        base, p = e.base, e.exp
        if p.has(x):
            return (rec(p) * rec(base).log()).exp()
        b = rec(base)
        if p.is_Integer:
            n = int(p)
            out = flint.arb_series([1])
            for _ in range(abs(n)):
                out = out * b
            return out if n >= 0 else 1 / out
        if p == sp.S.Half:
            return b.sqrt()
        if p == -sp.S.Half:
            return b.rsqrt()
        return (_const(p, flint) * b.log()).exp()
    f = type(e)
    if len(e.args) != 1:
        raise SeriesError(f"no series for {f.__name__} with {len(e.args)} arguments")
    u = rec(e.args[0])
    table = {
        sp.exp: lambda u: u.exp(), sp.log: lambda u: u.log(), sp.sin: lambda u: u.sin(),
        sp.cos: lambda u: u.cos(), sp.tan: lambda u: u.tan(), sp.atan: lambda u: u.atan(),
        sp.asin: lambda u: u.asin(), sp.acos: lambda u: u.acos(), sp.erf: lambda u: u.erf(),
        sp.erfc: lambda u: u.erfc(), erfc_fn: lambda u: u.erfc(),
        sp.sinh: lambda u: (u.exp() - (-u).exp()) / 2, sp.cosh: lambda u: (u.exp() + (-u).exp()) / 2,
        sp.tanh: lambda u: 1 - 2 / ((2 * u).exp() + 1), sigmoid: lambda u: 1 / (1 + (-u).exp()),
        softplus: lambda u: (1 + u.exp()).log(), log1p: lambda u: (1 + u).log(),
        expm1: lambda u: u.exp() - 1, sp.asinh: lambda u: (u + (u * u + 1).sqrt()).log(),
        sp.atanh: lambda u: ((1 + u).log() - (1 - u).log()) / 2,
    }
    fn = table.get(f)
    if fn is None:
        raise SeriesError(f"no series for {f.__name__}")
    return fn(u)


def taylor_balls(e: sp.Expr, x: sp.Symbol, length: int, radius: float = 0.0, center: float = 0.0) -> list:
    r"""Balls enclosing :math:`f^{(j)}(\xi)/j!`, ``j < length``, for every :math:`\xi` in
    :math:`[c - r, c + r]` (``center`` c, ``radius`` r; both 0: the exact coefficients at 0)."""
    import flint

    saved = flint.ctx.prec, flint.ctx.cap
    flint.ctx.prec, flint.ctx.cap = PREC, length
    try:
        ball = flint.arb(center, radius) if radius else flint.arb(center)
        s = flint.arb_series([ball, 1])
        try:
            out = _series(e, x, s, flint)
        except (ZeroDivisionError, ValueError, ArithmeticError) as exc:
            if isinstance(exc, SeriesError):
                raise
            raise SeriesError(f"series failed: {exc}") from None
        coeffs = list(out.coeffs()) + [flint.arb(0)] * length
        coeffs = coeffs[:length]
        if not all(c.is_finite() for c in coeffs):
            raise SeriesError("the series is not finite (a pole or branch point)")
        return coeffs
    finally:
        flint.ctx.prec, flint.ctx.cap = saved


def _mag(ball) -> float:
    return float(ball.abs_upper())


def _exact_mid(ball) -> sp.Rational:
    man, exp = ball.mid().man_exp()
    return sp.Rational(int(man)) * sp.Rational(2) ** int(exp)


def _leading_order(e: sp.Expr, x: sp.Symbol, at0: list) -> int:
    """First order whose ball excludes 0; lower orders must be zero (exactly, or by SymPy)."""
    for j, a in enumerate(at0):
        if not a.contains(0):
            return j
        if not a.is_zero():
            d = sp.diff(e, x, j).subs(x, 0) if j else e.subs(x, 0)
            if sp.simplify(d) != 0:
                raise SeriesError(f"cannot decide whether Taylor coefficient {j} is zero")
    raise SeriesError("no nonzero Taylor coefficient found (zero of too high an order)")


def _remainder(e: sp.Expr, x: sp.Symbol, n: int, t: float) -> float:
    r"""Upper bound of :math:`|f^{(n+1)}(\xi)|/(n+1)!` over :math:`|\xi| \le t`: the largest
    over :data:`PIECES` balls covering :math:`[-t, t]` (one ball over the whole interval
    overestimates much more)."""
    h = t / PIECES
    worst = 0.0
    for j in range(PIECES):
        center = -t + (2 * j + 1) * h
        # widened so that the rounded centers still cover [-t, t]
        worst = max(worst, _mag(taylor_balls(e, x, n + 2, h * (1 + 2.0**-40), center)[n + 1]))
    return worst


def series_branches(e: sp.Expr, x: sp.Symbol, dtype: str, deadline: float | None = None) -> list[SeriesBranch]:
    """Proven Taylor branches of ``e`` at 0 for ``dtype`` (module docstring), one per degree
    of :data:`EXTRA_TERMS` for which a threshold exists (degrees not reached by the
    ``time.perf_counter()`` ``deadline`` are skipped); raises :class:`SeriesError` when ``e``
    has no computable series at 0."""
    if e.free_symbols - {x}:
        raise SeriesError("parameters: the series branch needs a parameter-free output")
    p = 53 if dtype == "float64" else 24
    goal = 2.0 ** -(p + 1)
    longest = max(EXTRA_TERMS) + 8
    at0 = taylor_balls(e, x, longest)
    k = _leading_order(e, x, at0)
    length = k + max(EXTRA_TERMS) + 2
    if length > longest:
        at0 = taylor_balls(e, x, length)
    out = []
    for extra in sorted(EXTRA_TERMS, reverse=True):
        if deadline is not None and time.perf_counter() > deadline:
            break
        n = k + extra
        keep = [j for j in range(k, n + 1) if not at0[j].contains(0) or at0[j].is_zero()]
        mids = [_exact_mid(at0[j]) if j in keep else sp.S.Zero for j in range(k, n + 1)]
        lead = float(at0[k].abs_lower())

        def bound_at(i: int) -> float | None:
            t = 2.0 ** (-i / 4)
            c = _remainder(e, x, n, t)
            err = sum((float(at0[j].rad()) if j in keep else _mag(at0[j])) * t ** (j - k)
                      for j in range(k, n + 1)) + c * t ** (n + 1 - k)
            low = lead - sum(_mag(at0[j]) * t ** (j - k) for j in range(k + 1, n + 1)) - c * t ** (n + 1 - k)
            return err / low if low > 0 and err / low <= goal else None

        # bisection for the largest passing t (any t that passes is proven; the search for the
        # largest one assumes the bound grows with t, which only affects how large t gets)
        hi = _T_STEPS
        best = bound_at(hi)
        if best is None:
            continue
        lo = 0
        while hi - lo > 1:
            mid = (lo + hi) // 2
            b = bound_at(mid)
            if b is None:
                lo = mid
            else:
                hi, best = mid, b
        if hi == 1 and bound_at(0) is not None:
            hi, best = 0, bound_at(0)
        t = 2.0 ** (-hi / 4)
        # round the threshold down to a float of 8 significant bits
        t = math.ldexp(math.floor(math.ldexp(t, 8 - math.frexp(t)[1])), math.frexp(t)[1] - 8)
        out.append(SeriesBranch(n, k, t, best, tuple(mids)))
    return sorted(out, key=lambda b: b.degree)
