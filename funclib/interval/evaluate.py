"""The public evaluator: :class:`IntervalFunction` and :func:`enclose`."""

from __future__ import annotations

from typing import Optional

import sympy as sp

from .endpoints import DEFAULT_PREC, Interval, IntervalError, mag_bits, MAX_EXTRA_BITS, Number, working_precision
from .compile import Compiler, State, number_to_bounds


# --------------------------------------------------------------------------------------------
# Public evaluator
# --------------------------------------------------------------------------------------------




def as_box(lo: Number, hi: Number, prec: int) -> Interval:
    a, _ = number_to_bounds(lo, prec)
    _, b = number_to_bounds(hi, prec)
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
        with working_precision(prec):
            self._ev = Compiler(x).expr(expr)

    def precision_for(self, box: Interval) -> int:
        """Working precision used for ``box``."""
        if not self.adaptive_prec:
            return self.prec
        extra = max(mag_bits(box.lo), mag_bits(box.hi), 0)
        return self.prec + min(extra, MAX_EXTRA_BITS)

    def evaluate(self, box: Interval) -> tuple[Interval, bool]:
        """Enclosure on ``box`` and whether continuity on ``box`` is certified."""
        st = State()
        with working_precision(self.precision_for(box)):
            out = self._ev(box, st)
        return out, not st.irregular and box.is_finite

    def __call__(self, lo: Number, hi: Optional[Number] = None) -> Interval:
        """Enclosure on ``[lo, hi]`` (a point when ``hi`` is omitted)."""
        box = as_box(lo, lo if hi is None else hi, self.prec)
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
