r"""The normalized sinc function and its derivatives as SymPy functions.

.. math::

    \operatorname{sinc}(x) = \frac{\sin \pi x}{\pi x}, \qquad \operatorname{sinc}(0) = 1,

NumPy's (and the signal-processing) convention, which the INR paper of Saratchandran et al.
(2024) uses; the unnormalized :math:`\sin(u)/u` is :math:`\operatorname{sinc}(u/\pi)`.

The quotient has a removable singularity at 0 in the value and in every derivative, so the
derivatives are a family of their own, ``sinc_d(k, x)`` :math:`= \operatorname{sinc}^{(k)}(x)`
(``sinc_d(0, x)`` is ``sinc(x)``), evaluated without the 0/0:

* near 0 by the Taylor series
  :math:`\operatorname{sinc}^{(k)}(x) = \sum_{2n \ge k} \frac{(-1)^n \pi^{2n}}{(2n+1)\,(2n-k)!} x^{2n-k}`;
* away from 0 by Leibniz' rule on :math:`\sin(\pi x) \cdot (\pi x)^{-1}`:
  :math:`\operatorname{sinc}^{(k)}(x) = \sum_{j=0}^{k} \binom{k}{j} \pi^{j-1}
  \sin\!\left(\pi x + \tfrac{j\pi}{2}\right) \frac{(-1)^{k-j} (k-j)!}{x^{k-j+1}}`.

From :math:`\operatorname{sinc}(x) = \int_0^1 \cos(\pi t x)\,dt`,
:math:`|\operatorname{sinc}^{(k)}(x)| \le \pi^k/(k+1)` everywhere (:func:`sinc_derivative_bound`),
which the interval enclosures use as a global clip.

References
----------
.. [1] S. Saratchandran, S. Ramasinghe, V. Shevchenko, A. Long, S. Lucey, "A Sampling Theory
   Perspective on Activations for Implicit Neural Representations", ICML 2024, arXiv 2402.05427.
.. [2] NumPy, ``numpy.sinc`` (normalized convention).
"""

from __future__ import annotations

import math

import mpmath
import numpy as np
import sympy as sp
from sympy.core.function import ArgumentIndexError

__all__ = [
    "sinc", "sinc_d", "mp_sinc", "mp_sinc_d", "np_sinc", "np_sinc_d", "sinc_derivative_bound",
    "sinc_series_term",
]


def sinc_derivative_bound(k: int) -> sp.Expr:
    r""":math:`\pi^k/(k+1)`, a bound on :math:`|\operatorname{sinc}^{(k)}|` over the real line.

    :math:`\operatorname{sinc}^{(k)}(x) = \int_0^1 (\pi t)^k \cos^{(k)}(\pi t x)\,dt` and
    :math:`|\cos^{(k)}| \le 1`.
    """
    return sp.pi**k / (k + 1)


def sinc_series_term(k: int, n: int) -> sp.Expr:
    r"""Coefficient of :math:`x^{2n-k}` in the Taylor series of :math:`\operatorname{sinc}^{(k)}`
    at 0: :math:`(-1)^n \pi^{2n} / ((2n+1)(2n-k)!)` (zero where :math:`2n < k`)."""
    if 2 * n < k:
        return sp.S.Zero
    return (-1) ** n * sp.pi ** (2 * n) / ((2 * n + 1) * sp.factorial(2 * n - k))


# -- mpmath ------------------------------------------------------------------------------------

def _mp_order(k) -> int:
    ki = int(k)
    if ki != k or ki < 0:
        raise ValueError(f"sinc_d: the derivative order must be a nonnegative integer, got {k}")
    return ki


def mp_sinc(x: mpmath.mpf) -> mpmath.mpf:
    """``sin(pi x)/(pi x)`` in mpmath (``sinpi`` reduces exactly, so zeros are accurate)."""
    if mpmath.isnan(x):
        return mpmath.nan
    if mpmath.isinf(x):
        return mpmath.mpf(0)
    if x == 0:
        return mpmath.mpf(1)
    return mpmath.sinpi(x) / (mpmath.pi * x)


def _mp_series(k: int, x: mpmath.mpf) -> mpmath.mpf:
    # terms shrink geometrically once 2n - k > pi |x|; stop when they no longer matter
    total = mpmath.mpf(0)
    pi2, x2 = mpmath.pi**2, x * x
    n = (k + 1) // 2
    term = (-1) ** n * mpmath.pi ** (2 * n) * x ** (2 * n - k) / ((2 * n + 1) * mpmath.factorial(2 * n - k))
    eps = mpmath.mpf(2) ** (-mpmath.mp.prec - 8)
    while True:
        total += term
        m = 2 * n - k  # the next term from this one: ratio -pi^2 x^2 (2n+1)/((m+1)(m+2)(2n+3))
        term = -term * pi2 * x2 * (2 * n + 1) / ((m + 1) * (m + 2) * (2 * n + 3))
        n += 1
        if term == 0 or (abs(term) <= eps * abs(total) and 2 * n - k > 4):
            return total


def _mp_leibniz(k: int, x: mpmath.mpf) -> mpmath.mpf:
    s, c = mpmath.sinpi(x), mpmath.cospi(x)
    quadrant = (s, c, -s, -c)
    total = mpmath.mpf(0)
    for j in range(k + 1):
        m = k - j
        total += (mpmath.binomial(k, j) * mpmath.pi ** (j - 1) * quadrant[j % 4]
                  * (-1) ** m * mpmath.factorial(m) / x ** (m + 1))
    return total


def mp_sinc_d(k, x: mpmath.mpf) -> mpmath.mpf:
    """:math:`\\operatorname{sinc}^{(k)}(x)` in mpmath: series for :math:`|x| < 1`, Leibniz beyond,
    with guard bits for the cancellation of either sum."""
    k = _mp_order(k)
    if mpmath.isnan(x):
        return mpmath.nan
    if k == 0:
        return mp_sinc(x)
    if mpmath.isinf(x):
        return mpmath.mpf(0)
    prec = mpmath.mp.prec
    with mpmath.workprec(prec + 24 + 4 * k):
        value = _mp_series(k, x) if abs(x) < 1 else _mp_leibniz(k, x)
    return +value


# -- NumPy (float64) ---------------------------------------------------------------------------

def _np_sincospi(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``sin(pi a)``, ``cos(pi a)`` with the exact reduction a = n/2 + r, |r| <= 1/4."""
    n = np.rint(2 * a)
    r = a - n / 2  # exact (Sterbenz) for |a| < 2**52; a is an integer beyond
    r = np.where(np.abs(a) < 2.0**52, r, 0.0)
    q = np.mod(n, 4)
    sr, cr = np.sin(np.pi * r), np.cos(np.pi * r)
    s = np.select([q == 0, q == 1, q == 2], [sr, cr, -sr], -cr)
    c = np.select([q == 0, q == 1, q == 2], [cr, -sr, -cr], sr)
    return s, c


def np_sinc(x: np.ndarray) -> np.ndarray:
    """Float64 ``sinc``: ``sin(pi x)/(pi x)`` with an exact reduction, 1 at 0, 0 at ±inf."""
    return np_sinc_d(0, x)


def np_sinc_d(k, x: np.ndarray) -> np.ndarray:
    """Float64 :math:`\\operatorname{sinc}^{(k)}`: 24 series terms for :math:`|x| < 1`, Leibniz beyond."""
    k = np.asarray(k)
    if k.size != 1 or float(k.flat[0]) != int(k.flat[0]) or int(k.flat[0]) < 0:
        raise ValueError(f"sinc_d: the derivative order must be a nonnegative integer, got {k}")
    k = int(k.flat[0])
    x = np.asarray(x, dtype=np.float64)
    with np.errstate(all="ignore"):
        small = np.abs(x) < 1
        xs = np.where(small, x, 0.5)
        series = np.zeros_like(xs)
        for n in range((k + 1) // 2, (k + 1) // 2 + 24):
            series = series + float(sinc_series_term(k, n)) * xs ** (2 * n - k)
        xl = np.where(small | ~np.isfinite(x), 2.0, x)
        s, c = _np_sincospi(np.abs(xl))
        s = s * np.sign(xl)  # sin(pi x) is odd, cos(pi x) even
        quadrant = (s, c, -s, -c)
        far = np.zeros_like(xl)
        for j in range(k + 1):
            m = k - j
            far = far + (math.comb(k, j) * np.pi ** (j - 1) * (-1) ** m * math.factorial(m)) * quadrant[j % 4] / xl ** (m + 1)
        out = np.where(small, series, far)
        out = np.where(np.isinf(x), 0.0, out)
        return np.where(np.isnan(x), np.nan, out)


# -- SymPy -------------------------------------------------------------------------------------

def _evalf_with(func, args, prec):
    values = []
    for a in args:
        v = a._eval_evalf(prec) if not a.is_Integer else a
        if v is None or not v.is_Number:
            return None
        values.append(mpmath.mpf(v._to_mpmath(prec)) if not v.is_Integer else int(v))
    with mpmath.workprec(prec):
        return sp.Float(func(*values), precision=prec)


class sinc(sp.Function):
    r"""Normalized sinc :math:`\operatorname{sinc}(x) = \sin(\pi x)/(\pi x)`, :math:`\operatorname{sinc}(0) = 1`.

    Even and entire; zeros at the nonzero integers; :math:`|\operatorname{sinc}| \le 1`;
    :math:`\operatorname{sinc}' = ` ``sinc_d(1, x)``. Not SymPy's ``sinc`` (unnormalized).
    """

    nargs = 1

    @classmethod
    def eval(cls, arg):
        if arg is sp.S.Zero:
            return sp.S.One
        if arg in (sp.S.Infinity, sp.S.NegativeInfinity):
            return sp.S.Zero
        if arg.is_integer and arg.is_nonzero:
            return sp.S.Zero
        if arg.is_Rational:
            return sp.sin(sp.pi * arg) / (sp.pi * arg)
        if arg.could_extract_minus_sign():
            return cls(-arg)
        return None

    def fdiff(self, argindex: int = 1) -> sp.Expr:
        if argindex != 1:
            raise ArgumentIndexError(self, argindex)
        return sinc_d(1, self.args[0])

    def _eval_is_real(self):
        return self.args[0].is_extended_real

    def _eval_is_finite(self):
        return True if self.args[0].is_extended_real else None

    def _eval_rewrite_as_sin(self, arg, **kwargs):
        return sp.Piecewise((sp.sin(sp.pi * arg) / (sp.pi * arg), sp.Ne(arg, 0)), (1, True))

    def _eval_evalf(self, prec):
        return _evalf_with(mp_sinc, self.args, prec)

    _mpmath_ = staticmethod(mp_sinc)
    _numpy_ = staticmethod(np_sinc)

    def _latex(self, printer, exp=None):
        tex = r"\operatorname{sinc}\left(%s\right)" % printer._print(self.args[0])
        return tex if exp is None else r"%s^{%s}" % (tex, exp)


class sinc_d(sp.Function):
    r"""The derivative :math:`\operatorname{sinc}^{(k)}(x)` of order ``k`` (a nonnegative integer).

    ``sinc_d(0, x)`` is ``sinc(x)``; :math:`\partial_x` ``sinc_d(k, x)`` = ``sinc_d(k + 1, x)``;
    :math:`\operatorname{sinc}^{(k)}(-x) = (-1)^k \operatorname{sinc}^{(k)}(x)`;
    :math:`\operatorname{sinc}^{(2m)}(0) = (-1)^m \pi^{2m}/(2m+1)`, odd orders vanish at 0;
    :math:`|\operatorname{sinc}^{(k)}| \le \pi^k/(k+1)`.
    """

    nargs = 2

    @classmethod
    def eval(cls, k, arg):
        if not (k.is_Integer and k >= 0):
            if k.is_number:
                raise ValueError(f"sinc_d: the derivative order must be a nonnegative integer, got {k}")
            return None
        if k == 0:
            return sinc(arg)
        if arg is sp.S.Zero:
            return sp.S.Zero if k % 2 else sinc_series_term(int(k), int(k) // 2)
        if arg in (sp.S.Infinity, sp.S.NegativeInfinity):
            return sp.S.Zero
        if arg.could_extract_minus_sign():
            return (-1) ** int(k) * cls(k, -arg)
        return None

    def fdiff(self, argindex: int = 2) -> sp.Expr:
        if argindex != 2:
            raise ArgumentIndexError(self, argindex)
        return sinc_d(self.args[0] + 1, self.args[1])

    def _eval_is_real(self):
        return self.args[1].is_extended_real

    def _eval_is_finite(self):
        return True if self.args[1].is_extended_real else None

    def _eval_rewrite_as_sin(self, k, arg, **kwargs):
        ki = int(k)
        s = sp.sin(sp.pi * arg) / (sp.pi * arg)
        return sp.Piecewise((sp.diff(s, arg, ki) if ki else s, sp.Ne(arg, 0)), (sinc_d(k, 0), True))

    def _eval_evalf(self, prec):
        return _evalf_with(mp_sinc_d, self.args, prec)

    _mpmath_ = staticmethod(mp_sinc_d)
    _numpy_ = staticmethod(np_sinc_d)

    def _latex(self, printer, exp=None):
        tex = r"\operatorname{sinc}^{(%s)}\left(%s\right)" % (printer._print(self.args[0]), printer._print(self.args[1]))
        return tex if exp is None else r"\left(%s\right)^{%s}" % (tex, exp)
