"""The SymPy function :class:`mittag_leffler`: exact derivative, special values, closed forms
(:func:`closed_form`), elimination of the function from expressions (:func:`eliminate`)."""

from __future__ import annotations

import mpmath
import sympy as sp

from .float64 import mittag_leffler_np
from .mp import MittagLefflerError, mittag_leffler_mp


# ---------------------------------------------------------------------------------------
# Symbolic: closed forms and the SymPy function
# ---------------------------------------------------------------------------------------

_HALF = sp.Rational(1, 2)


def _symbolic_lattice(alpha: sp.Expr, beta: sp.Expr, base: sp.Expr, limit: int = 12) -> int | None:
    if not (alpha.is_Number and beta.is_Number) or alpha == 0:
        return None
    n = (beta - base) / alpha
    if n.is_Integer and abs(n) <= limit:
        return int(n)
    return None


def closed_form(alpha, beta, z) -> sp.Expr | None:
    r"""A closed form of :math:`E_{\alpha,\beta}(z)` (SymPy), or None when there is none here.

    Covers :math:`\alpha = 0` (any β) and the lattices :math:`\beta = \beta_0 + n\alpha`,
    :math:`|n| \le 12`, of the base cases :math:`E_{1,1} = e^z`, :math:`E_{2,1} = \cosh\sqrt z`,
    :math:`E_{2,2} = \sinh\sqrt z/\sqrt z` and :math:`E_{1/2,1} = e^{z^2}\operatorname{erfc}(-z)`
    through :math:`E_{\alpha,\beta}(z) = 1/\Gamma(\beta) + zE_{\alpha,\alpha+\beta}(z)`. At
    :math:`z = u^2` the α = 2 forms are written with u (:math:`\cosh u`, :math:`\sinh u/u`), which
    is exact for every u because both are even in :math:`\sqrt z`; for other z they are
    piecewise real forms (:math:`\cos\sqrt{-z}` and :math:`\sin\sqrt{-z}/\sqrt{-z}` for
    z < 0). Forms obtained by an upward step divide by z (removable singularity at 0).
    """
    from ..formula import as_sympy
    from ..special import erfc  # funclib's erfc keeps erfc(-z) as written (no 2 - erfc(z))

    alpha, beta, z = as_sympy(alpha), as_sympy(beta), as_sympy(z)
    if alpha.is_zero:
        return 1 / ((1 - z) * sp.gamma(beta))
    root = z.base if z.is_Pow and z.exp == 2 else sp.sqrt(z)
    if z.is_Pow and z.exp == 2:
        cosh_form = sp.cosh(root)
        sinh_form = sp.sinh(root) / root
    else:
        # Real forms on both sides of 0 (funclib evaluates real arithmetic: sqrt(z < 0) is NaN).
        neg = sp.sqrt(-z)
        cosh_form = sp.Piecewise((sp.cosh(root), z >= 0), (sp.cos(neg), True))
        sinh_form = sp.Piecewise((sp.sinh(root) / root, z >= 0), (sp.sin(neg) / neg, True))
    bases = (
        (sp.S.One, sp.S.One, lambda: sp.exp(z)),
        (sp.Integer(2), sp.S.One, lambda: cosh_form),
        (sp.Integer(2), sp.Integer(2), lambda: sinh_form),
        (_HALF, sp.S.One, lambda: sp.exp(z**2) * erfc(-z)),
    )
    for a0, b0, make in bases:
        if alpha != a0:
            continue
        n = _symbolic_lattice(alpha, beta, b0)
        if n is None:
            continue
        value, b = make(), b0
        for _ in range(abs(n)):
            if n > 0:
                value = (value - 1 / sp.gamma(b)) / z
                b += alpha
            else:
                b -= alpha
                value = 1 / sp.gamma(b) + z * value
        return value
    return None


class mittag_leffler(sp.Function):
    r"""Two-parameter Mittag-Leffler function :math:`E_{\alpha,\beta}(z)`, written
    ``mittag_leffler(alpha, beta, z)`` in formulas.

    .. math::

        E_{\alpha,\beta}(z) = \sum_{k\ge 0}\frac{z^k}{\Gamma(\alpha k+\beta)}, \qquad
        \frac{d}{dz}E_{\alpha,\beta}(z) =
        \frac{E_{\alpha,\alpha+\beta-1}(z) + (1-\beta)E_{\alpha,\alpha+\beta}(z)}{\alpha}

    (no singularity at z = 0: the right side is an entire function), and for α = 0,
    :math:`E_{0,\beta}(z) = 1/((1-z)\Gamma(\beta))` with
    :math:`E'_{0,\beta} = \Gamma(\beta)E_{0,\beta}^2`.

    Evaluated automatically: z = 0 (:math:`1/\Gamma(\beta)`), α = 0 at numeric z, NaN, and
    z = ±∞ where the limit exists. ``expr.rewrite("closed_form")`` (or ``rewrite(exp)``) gives
    :func:`closed_form`; ``rewrite("tractable")`` feeds that to ``sympy.limit``. Numeric
    evaluation: ``evalf`` and funclib's mpmath evaluator use :func:`mittag_leffler_mp`, the
    NumPy evaluator :func:`mittag_leffler_np`. The interval engine does not enclose it, so
    properties of formulas that contain it are estimated by sampling.

    Parameters must be real with α ≥ 0; a negative numeric α raises ``ValueError``.
    """

    nargs = 3

    @classmethod
    def eval(cls, alpha, beta, z):
        if sp.nan in (alpha, beta, z):
            return sp.nan
        if alpha.is_number and (alpha.is_extended_real is False or alpha.is_extended_negative or alpha.is_infinite):
            raise ValueError(f"mittag_leffler: alpha must be a real number >= 0, got {alpha}")
        if beta.is_number and (beta.is_extended_real is False or beta.is_infinite):
            raise ValueError(f"mittag_leffler: beta must be a finite real number, got {beta}")
        if z.is_zero:
            return 1 / sp.gamma(beta)
        if alpha.is_zero:
            if beta.is_integer and beta.is_nonpositive:
                return sp.S.Zero
            if z in (sp.oo, -sp.oo):
                return sp.S.Zero
            if z.is_Number:
                return 1 / ((1 - z) * sp.gamma(beta))
            return None
        if alpha.is_positive:
            if z is sp.oo:
                return sp.oo
            if z is -sp.oo and alpha.is_Number and beta.is_Number:
                if alpha < 2 or (alpha == 2 and beta > 1):
                    return sp.S.Zero
        return None

    def fdiff(self, argindex: int = 3) -> sp.Expr:
        if argindex != 3:
            # d/d alpha, d/d beta have no closed form: SymPy's unevaluated derivative.
            return super().fdiff(argindex)
        alpha, beta, z = self.args
        at_zero = sp.gamma(beta) * mittag_leffler(0, beta, z) ** 2
        if alpha.is_zero:
            return at_zero
        general = (mittag_leffler(alpha, alpha + beta - 1, z) + (1 - beta) * mittag_leffler(alpha, alpha + beta, z)) / alpha
        if alpha.is_zero is False:
            return general
        return sp.Piecewise((at_zero, sp.Eq(alpha, 0)), (general, True))

    # -- assumptions ----------------------------------------------------------------------
    def _real_params(self) -> bool:
        alpha, beta, z = self.args
        return bool(alpha.is_extended_nonnegative and beta.is_extended_real and beta.is_finite
                    and z.is_extended_real)

    def _eval_is_extended_real(self):
        if not self._real_params():
            return None
        alpha, _, z = self.args
        if alpha.is_positive:
            return True
        if alpha.is_zero:
            return True if (z - 1).is_nonzero else None
        return None

    def _eval_is_finite(self):
        alpha, beta, z = self.args
        if not (self._real_params() and z.is_finite):
            return None
        if alpha.is_positive:
            return True
        if alpha.is_zero and (z - 1).is_nonzero:
            return True
        return None

    def _eval_is_positive(self):
        alpha, beta, z = self.args
        if not (self._real_params() and z.is_finite and beta.is_positive and z.is_nonnegative):
            return None
        if alpha.is_positive or (alpha.is_zero and (z - 1).is_negative):
            return True
        return None

    # -- rewrites, printing, numbers ---------------------------------------------------------
    def _eval_rewrite(self, rule, args, **hints):
        if rule not in ("closed_form", "tractable", sp.exp):
            return None
        closed = closed_form(*args)
        if closed is None:
            return None
        if rule == "tractable":
            return closed.rewrite("tractable", deep=True, **hints)
        if rule is sp.exp:
            return closed.rewrite(sp.exp)
        return closed

    def _latex(self, printer, exp=None):
        alpha, beta, z = (printer._print(a) for a in self.args)
        tex = r"E_{%s, %s}\left(%s\right)" % (alpha, beta, z)
        return tex if exp is None else r"%s^{%s}" % (tex, exp)

    def _eval_evalf(self, prec):
        values = []
        for arg in self.args:
            number = arg._eval_evalf(prec) if not arg.is_Float else arg
            if number is None or not number.is_Number:
                return None
            values.append(mpmath.mpf(number._to_mpmath(prec)))
        with mpmath.workprec(prec):
            try:
                value = mittag_leffler_mp(*values)
            except MittagLefflerError:
                return None
        if mpmath.isnan(value):
            return sp.nan
        if mpmath.isinf(value):
            return sp.oo if value > 0 else -sp.oo
        return sp.Float(value, precision=prec)

    @staticmethod
    def _mpmath_(alpha, beta, z):
        """funclib.mpeval hook: :func:`mittag_leffler_mp` at the current mpmath precision."""
        return mittag_leffler_mp(alpha, beta, z)

    @staticmethod
    def _numpy_(alpha, beta, z):
        """funclib.npeval hook: :func:`mittag_leffler_np` (float64, vectorized)."""
        return mittag_leffler_np(alpha, beta, z)


def eliminate(expr: sp.Expr) -> sp.Expr | None:
    """``expr`` with every Mittag-Leffler function replaced by its closed form (an identity:
    ``rewrite("closed_form")``, then ``simplify``), or None where some E has no closed form.

    Used by the property prover (the interval engine cannot enclose E) and the kernel
    generator (E has no kernel implementation): the unified gated entries are then proven and
    compiled through the classic function they equal.
    """
    if not expr.has(mittag_leffler):
        return expr
    closed = sp.simplify(expr.rewrite("closed_form"))
    return None if closed.has(mittag_leffler) else closed
