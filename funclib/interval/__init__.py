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
``floor``, ``ceiling``, ``Max``, ``Min``, funclib's ``sigmoid``, ``softplus``, ``sinc`` and
its derivatives ``sinc_d(k, x)`` (:mod:`.sinc`: series near the removable point 0) and
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

The package's parts: :mod:`.endpoints` (the interval type, directed rounding), :mod:`.arithmetic`,
:mod:`.functions` (elementary and special functions), :mod:`.compile` (SymPy trees to
closures), :mod:`.evaluate` (:class:`IntervalFunction`, :func:`enclose`) and :mod:`.extremum`
(branch and bound).
"""

from __future__ import annotations

from .endpoints import DEFAULT_PREC, Interval, IntervalDomainError, IntervalError
from .evaluate import IntervalFunction, enclose
from .extremum import Extremum, bound_extremum, bound_extremum_on_real_line

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
