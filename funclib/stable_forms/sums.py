r"""Exact rewrites of sums that cancel in floating point, applied to every kernel output.

Chain-rule derivatives are full of differences of nearly equal terms whose exact difference is
simple. Three patterns, each an identity of real analysis (the tests evaluate both sides at 40
digits):

* **Sqrt forms.** Terms with factors :math:`Q^{-1/2}` and :math:`Q^{-3/2}` of the same
  radicand go over the common denominator :math:`Q^{3/2}` when the numerator
  :math:`N = \sum_i t_i Q^{3/2}` expands to fewer operations (the difference cancelled
  symbolically): :math:`1/s - x^2/s^3 = \epsilon/s^3` for :math:`s = \sqrt{x^2 + \epsilon}`.
* **Rational sums.** A sum of rational functions becomes one factored quotient where that has
  fewer operations: :math:`2x/(1+x^2) - 2x^3/(1+x^2)^2 = 2x/(1+x^2)^2`.
* **Squared tanh.** :math:`c - c \tanh^2 u = c\,\mathrm{sech}^2 u` for numeric :math:`c`
  (no cancellation where :math:`\tanh u \approx \pm 1`).

A rewrite is kept only if a float64 evaluation at :data:`PROBES` is finite wherever the sum
was: a common denominator can overflow where the separate terms did not.
"""

from __future__ import annotations

import numpy as np
import sympy as sp

__all__ = ["combine_sqrt_terms", "combine_rational_terms", "sech_square_form", "stable_sum"]

_HALF = sp.Rational(1, 2)
_THREE_HALVES = sp.Rational(3, 2)


def _radicands(e: sp.Add) -> list[sp.Expr]:
    """Bases Q that occur as Q**(-1/2) and as Q**(-3/2) in the terms of ``e``."""
    inv, inv3 = set(), set()
    for p in e.atoms(sp.Pow):
        if p.exp == -_HALF:
            inv.add(p.base)
        elif p.exp == -_THREE_HALVES:
            inv3.add(p.base)
    return sorted(inv & inv3, key=sp.default_sort_key)


def combine_sqrt_terms(e: sp.Add) -> sp.Expr:
    r"""The terms of ``e`` with :math:`Q^{-1/2}` or :math:`Q^{-3/2}` over the common
    denominator :math:`Q^{3/2}`, where their numerator simplifies (module docstring)."""
    for q in _radicands(e):
        s3 = q**_THREE_HALVES
        group = [t for t in e.args if t.has(q ** (-_HALF)) or t.has(q ** (-_THREE_HALVES))]
        if len(group) < 2:
            continue
        parts = [sp.expand(t * s3) for t in group]
        if any(p.has(q**_HALF) or p.has(q ** (-_HALF)) for p in parts):
            continue  # not a polynomial combination over Q**(3/2)
        num = sp.factor(sp.expand(sp.Add(*parts)))
        if sp.count_ops(num) >= sum(sp.count_ops(p) for p in parts) + len(parts) - 1:
            continue  # nothing cancelled
        rest = sp.Add(*[t for t in e.args if t not in group])
        return rest + num / s3
    return e


def sech_square_form(e: sp.Add) -> sp.Expr:
    r""":math:`c - c\tanh^2 u` (inside a longer sum too) as :math:`c\cosh^{-2} u`."""
    numeric = sp.Add(*[a for a in e.args if a.is_number])
    if numeric == 0:
        return e
    for term in e.args:
        k, rest = term.as_coeff_Mul()
        if (k.is_number and sp.simplify(k + numeric) == 0 and isinstance(rest, sp.Pow)
                and isinstance(rest.base, sp.tanh) and rest.exp == 2):
            others = sp.Add(*[a for a in e.args if a is not term and not a.is_number])
            return others + numeric * sp.cosh(rest.base.args[0]) ** -2
    return e


def combine_rational_terms(e: sp.Add) -> sp.Expr:
    """A sum of rational functions as one factored quotient, where that has fewer operations
    (the terms cancelled symbolically); anything else unchanged."""
    syms = sorted(e.free_symbols, key=sp.default_sort_key)
    if not syms or not e.is_rational_function(*syms) or e.has(sp.Float):
        return e
    if not any(sp.fraction(t)[1] != 1 for t in e.args):
        return e  # a polynomial: nothing to cancel over a denominator
    combined = sp.factor(sp.cancel(sp.together(e)))
    return combined if sp.count_ops(combined) < sp.count_ops(e) else e


#: Probe inputs (float64) where a rewrite must stay finite wherever the sum was: a form over a
#: common denominator can overflow where the terms did not (x**2 * (1 + x**-2)**(3/2)).
PROBES = np.array([s * m for s in (1.0, -1.0) for m in (0.0, 1e-300, 1e-160, 1e-40, 1e-8, 0.5, 3.0, 40.0, 1e8,
                                                       1e40, 1e160, 1e300)])


def _finite_where(e: sp.Expr) -> np.ndarray | None:
    from ..npeval import np_evaluate

    x = [s for s in e.free_symbols if s.name == "x"]
    if len(x) != 1 or len(e.free_symbols) != 1:
        return None
    try:
        with np.errstate(all="ignore"):
            return np.isfinite(np.broadcast_to(np_evaluate(e, {x[0]: PROBES}), PROBES.shape))
    except Exception:  # noqa: BLE001 - not evaluable with NumPy: no evidence either way
        return None


def _no_new_overflow(before: sp.Expr, after: sp.Expr) -> bool:
    """``after`` is finite at every probe where ``before`` is (float64 NumPy evaluation)."""
    a, b = _finite_where(before), _finite_where(after)
    return a is None or b is None or bool(np.all(b | ~a))


def stable_sum(e: sp.Add) -> sp.Expr:
    """The rewrites of the module docstring, in turn; each kept only where it does not make
    the sum overflow at a probe input where it did not (:data:`PROBES`)."""
    out = e
    for rule in (sech_square_form, combine_rational_terms, combine_sqrt_terms):
        if isinstance(out, sp.Add):
            new = rule(out)
            if new is not out and _no_new_overflow(out, new):
                out = new
    return out
