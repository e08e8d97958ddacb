"""SymPy functions that SymPy lacks, with derivatives, rewrites and mpmath evaluation.

Each class is a full SymPy function: ``fdiff`` gives the exact derivative, ``_eval_rewrite_as_*``
gives the textbook closed form, and ``_eval_evalf`` evaluates through mpmath with a numerically
stable formula (so ``sigmoid(-1000).evalf()`` does not overflow).

References
----------
.. [1] SymPy, ``sympy/functions/special/error_functions.py`` (layout of a special function).
"""

from __future__ import annotations

import mpmath
import sympy as sp
from sympy.codegen.cfunctions import expm1, log1p

# (funclib.mittag_leffler imports this module only inside a function, for erfc: no cycle.)
from .mittag_leffler import mittag_leffler
from .sinc import sinc, sinc_d

__all__ = [
    "sigmoid", "softplus", "erfc", "log1p", "expm1", "sinc", "sinc_d", "mp_sigmoid", "mp_softplus",
    "SPECIAL_FUNCTIONS",
]


def mp_sigmoid(x: mpmath.mpf) -> mpmath.mpf:
    # Branch on the sign so that exp never overflows.
    if x >= 0:
        return 1 / (1 + mpmath.exp(-x))
    e = mpmath.exp(x)
    return e / (1 + e)


def mp_softplus(x: mpmath.mpf) -> mpmath.mpf:
    # max(x, 0) + log1p(exp(-|x|)) is exact in any precision and never overflows.
    return max(x, 0) + mpmath.log1p(mpmath.exp(-abs(x)))


class _PositiveRealFunction(sp.Function):
    """A real, positive one-argument function evaluated by ``_mpmath_`` (stable mpmath form)."""

    nargs = 1
    _mpmath_ = None  # set by subclasses: the stable mpmath implementation

    def _eval_is_real(self):
        return self.args[0].is_extended_real

    def _eval_is_positive(self):
        if self.args[0].is_extended_real and self.args[0].is_finite:
            return True
        return None

    def _eval_evalf(self, prec):
        arg = self.args[0]._eval_evalf(prec)
        if arg is None or not arg.is_Number:
            return None
        with mpmath.workprec(prec):
            value = type(self)._mpmath_(mpmath.mpf(arg._to_mpmath(prec)))
            return sp.Float(value, precision=prec)


class sigmoid(_PositiveRealFunction):
    r"""Logistic sigmoid :math:`\sigma(x) = 1/(1+e^{-x})`.

    :math:`\sigma'(x) = \sigma(x)(1-\sigma(x))`, :math:`\sigma(-x) = 1-\sigma(x)`.
    """

    def fdiff(self, argindex: int = 1) -> sp.Expr:
        s = sigmoid(self.args[0])
        return s * (1 - s)

    @classmethod
    def eval(cls, arg):
        if arg is sp.S.Zero:
            return sp.S.Half
        if arg is sp.S.Infinity:
            return sp.S.One
        if arg is sp.S.NegativeInfinity:
            return sp.S.Zero
        return None

    def _eval_rewrite_as_exp(self, arg, **kwargs):
        return 1 / (1 + sp.exp(-arg))

    def _eval_rewrite_as_tanh(self, arg, **kwargs):
        return (1 + sp.tanh(arg / 2)) / 2

    _mpmath_ = staticmethod(mp_sigmoid)

    def _latex(self, printer, exp=None):
        # SymPy passes exp= when the function is raised to a power: sigma(x)^{3/2}
        tex = r"\sigma\left(%s\right)" % printer._print(self.args[0])
        return tex if exp is None else r"%s^{%s}" % (tex, exp)


class softplus(_PositiveRealFunction):
    r"""Softplus :math:`\operatorname{softplus}(x) = \log(1+e^{x})`.

    :math:`\operatorname{softplus}'(x) = \sigma(x)`; stable form
    :math:`\max(x,0) + \operatorname{log1p}(e^{-|x|})`.
    """

    def fdiff(self, argindex: int = 1) -> sp.Expr:
        return sigmoid(self.args[0])

    @classmethod
    def eval(cls, arg):
        if arg is sp.S.Zero:
            return sp.log(2)
        if arg is sp.S.Infinity:
            return sp.S.Infinity
        if arg is sp.S.NegativeInfinity:
            return sp.S.Zero
        return None

    def _eval_rewrite_as_log(self, arg, **kwargs):
        return sp.log(1 + sp.exp(arg))

    _eval_rewrite_as_exp = _eval_rewrite_as_log

    _mpmath_ = staticmethod(mp_softplus)

    def _latex(self, printer, exp=None):
        tex = r"\operatorname{softplus}\left(%s\right)" % printer._print(self.args[0])
        return tex if exp is None else r"%s^{%s}" % (tex, exp)


class erfc(sp.erfc):
    r"""Complementary error function that keeps its argument as written.

    SymPy's ``erfc`` rewrites ``erfc(-u)`` as ``2 - erfc(u)``, which loses all relative
    accuracy where ``erfc(-u)`` is tiny (exact GELU ``x/2*erfc(-x/sqrt(2))`` at x = -30). This
    subclass only evaluates numbers and infinities; everything else (derivative, mpmath
    evaluation, LaTeX) is SymPy's.
    """

    @classmethod
    def eval(cls, arg):
        if arg.is_Number or arg in (sp.S.Infinity, sp.S.NegativeInfinity):
            return sp.erfc(arg)
        return None

    def fdiff(self, argindex: int = 1) -> sp.Expr:
        return -2 * sp.exp(-self.args[0] ** 2) / sp.sqrt(sp.pi)


#: Project functions by formula name; the formula parser allow-lists these.
SPECIAL_FUNCTIONS: dict[str, type[sp.Function]] = {
    "sigmoid": sigmoid,
    "softplus": softplus,
    "erfc": erfc,
    "log1p": log1p,
    "expm1": expm1,
    "mittag_leffler": mittag_leffler,
    "sinc": sinc,
    "sinc_d": sinc_d,
}
