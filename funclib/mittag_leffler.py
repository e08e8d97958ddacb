r"""The two-parameter Mittag-Leffler function :math:`E_{\alpha,\beta}(z)`.

.. math::

    E_{\alpha,\beta}(z) = \sum_{k=0}^{\infty} \frac{z^k}{\Gamma(\alpha k + \beta)},
    \qquad \alpha > 0,\ \beta \in \mathbb{R},

an entire function of :math:`z` that generalizes :math:`e^z = E_{1,1}(z)`. For
:math:`\alpha = 0` the series is geometric; funclib defines
:math:`E_{0,\beta}(z) = 1/((1-z)\Gamma(\beta))` for every :math:`z \ne 1`, the analytic
continuation of the series beyond :math:`|z| < 1` (this is how the unified gated activations
write the sigmoid, :math:`\sigma(x) = E_{0,1}(-e^{-x})`, for every real :math:`x`).

Neither SymPy nor mpmath has it. This module gives

* :class:`mittag_leffler`, a SymPy function with the exact derivative
  :math:`E'_{\alpha,\beta} = [E_{\alpha,\alpha+\beta-1} + (1-\beta) E_{\alpha,\alpha+\beta}]/\alpha`
  (and :math:`E'_{0,\beta} = \Gamma(\beta) E_{0,\beta}^2`), exact special values, closed-form
  rewrites (:func:`closed_form`), LaTeX printing and the two numeric evaluators below;
* :func:`mittag_leffler_mp`, arbitrary precision (mpmath): the power series with a rigorous
  tail bound and guard digits for the cancellation at negative :math:`z`, the asymptotic
  expansion for large :math:`|z|^{1/\alpha}`, and the inversion of the Laplace transform
  :math:`s^{\alpha-\beta}/(s^\alpha - z)` (Hankel contour collapsed onto the branch cut, plus
  the residues of the poles) where neither is cheap;
* :func:`mittag_leffler_np`, a vectorized float64 evaluator: Garrappa's inversion of the
  Laplace transform on optimal parabolic contours [2]_, with the residues of the poles taken
  in double-double arithmetic, and short series / asymptotic expansions where they are
  accurate to the last bits.

Closed forms used both symbolically and as fast numeric paths (each verified to 30 digits
against the general algorithm in ``tests/test_mittag_leffler.py``):

======================  ==============================================================================================
:math:`(\alpha,\beta)`  :math:`E_{\alpha,\beta}(z)`
======================  ==============================================================================================
(0, β)                  :math:`1/((1-z)\Gamma(\beta))`
(1, 1)                  :math:`e^z`
(1, 2)                  :math:`(e^z-1)/z`
(2, 1)                  :math:`\cosh\sqrt{z}` (:math:`\cosh u` at :math:`z = u^2`)
(2, 2)                  :math:`\sinh\sqrt{z}/\sqrt{z}` (:math:`\sinh u/u` at :math:`z = u^2`)
(1/2, 1)                :math:`e^{z^2}\operatorname{erfc}(-z)`
(1/2, 1/2)              :math:`1/\sqrt{\pi} + z\,e^{z^2}\operatorname{erfc}(-z)`
(α, β ± nα)             from the above by :math:`E_{\alpha,\beta}(z) = 1/\Gamma(\beta) + z E_{\alpha,\alpha+\beta}(z)`
======================  ==============================================================================================

References
----------
.. [1] R. Gorenflo, A. A. Kilbas, F. Mainardi, S. V. Rogosin, *Mittag-Leffler Functions,
   Related Topics and Applications*, Springer, 2nd ed. 2020 (series, recurrences, derivative,
   asymptotic expansion (4.7.4)-(4.7.5)).
.. [2] R. Garrappa, "Numerical evaluation of two and three parameter Mittag-Leffler
   functions", SIAM J. Numer. Anal. 53(3):1350-1369, 2015, doi:10.1137/140971191.
.. [3] J. A. C. Weideman, L. N. Trefethen, "Parabolic and hyperbolic contours for computing
   the Bromwich integral", Math. Comp. 76:1341-1356, 2007.
"""

from __future__ import annotations

import math

import mpmath
import numpy as np
import sympy as sp


class _LazySciPySpecial:
    """``scipy.special``, imported on first use: the float64 evaluator needs it, looking up an
    entry does not (it costs a large share of ``funclib show``'s start-up)."""

    def __getattr__(self, name: str):
        import scipy.special

        return getattr(scipy.special, name)


sc = _LazySciPySpecial()

__all__ = [
    "mittag_leffler",
    "mittag_leffler_mp",
    "mittag_leffler_np",
    "closed_form",
    "eliminate",
    "MittagLefflerError",
]


class MittagLefflerError(ValueError):
    """Parameters outside what an evaluator supports (negative alpha, complex input...)."""


# ---------------------------------------------------------------------------------------
# Arbitrary precision (mpmath)
# ---------------------------------------------------------------------------------------

_GUARD = 24  # guard bits on top of the caller's precision


class _NotConverged(Exception):
    """A method could not reach the requested accuracy (the caller tries another)."""


def _mpf(value) -> mpmath.mpf:
    if isinstance(value, mpmath.mpc):
        if value.imag != 0:
            raise MittagLefflerError("mittag_leffler: complex arguments are not supported")
        value = value.real
    return mpmath.mpf(value)


def _dyadic_step(alpha: mpmath.mpf) -> tuple[int, int] | None:
    """(p, q) with alpha = p/q, q a power of two <= 64 and p <= 256, else None.

    For such alpha, Gamma(alpha*(k+q) + beta) = Gamma(alpha*k + beta) * prod_{j<p}(alpha*k+beta+j),
    so the series terms follow by a recurrence instead of one Gamma evaluation each.
    """
    man, exp = alpha.man_exp
    if man == 0:
        return None
    q = 1 if exp >= 0 else 2 ** (-exp)
    p = int(man) * 2 ** exp if exp >= 0 else int(man)
    if q <= 64 and p <= 256:
        return p, q
    return None


def _series(alpha, beta, z, prec: int) -> mpmath.mpf:
    r"""Power series with a rigorous tail bound, at enough precision for the cancellation.

    Beyond the first index k0 with :math:`\alpha k_0 + \beta > 0` the term ratio
    :math:`\rho_k = |z|\,\Gamma(\alpha k+\beta)/\Gamma(\alpha k+\alpha+\beta)` decreases
    (the digamma function increases on :math:`(0,\infty)`), so once :math:`\rho < 1` the
    tail after a term :math:`t_k` is at most :math:`|t_k|\rho/(1-\rho)`. Summation stops when
    that bound is below :math:`2^{-wp}` times the largest term. The working precision wp is
    the target plus the bits lost to cancellation, estimated from the largest term
    (about :math:`e^{|z|^{1/\alpha}}`) and re-checked after the sum.
    """
    w = abs(z) ** (1 / alpha)
    if w > 4e4 or (z < 0 and w > 2e4):
        raise _NotConverged("series would need too many terms or digits")
    lost = int(float(w) * 1.4427) + 8 if z < 0 else 0
    wp = prec + _GUARD + lost
    step = _dyadic_step(alpha)
    for _ in range(8):
        with mpmath.workprec(wp):
            total, biggest = _series_sum(alpha, beta, z, wp, step)
        loss = float(mpmath.log(biggest / abs(total), 2)) if total != 0 else math.inf
        if loss <= wp - prec - 12:
            return total
        # The sum lost more bits than were spare: either the estimate was short (then the
        # measured loss is right) or the result is noise (then loss ~ wp): at least double.
        wp = max(2 * wp - prec, prec + _GUARD + int(min(loss, 1e7)) + 32)
        if wp > 64 * (prec + _GUARD) + 20000:
            break
    # Only at (or extremely near) a zero of E (oscillating alpha > 1, z < 0): the absolute
    # error is below 2^-prec times the largest term, the relative error is not controlled.
    return total


def _series_sum(alpha, beta, z, wp: int, step):
    alpha, beta, z = mpmath.mpf(alpha), mpmath.mpf(beta), mpmath.mpf(z)
    eps = mpmath.mpf(2) ** (-wp)
    total = mpmath.mpf(0)
    biggest = mpmath.mpf(0)
    power = mpmath.mpf(1)  # z**k
    previous = None  # |t_{k-1}|
    history: list = []  # last q terms, for the dyadic recurrence
    zq = z ** step[1] if step else None
    k = 0
    max_terms = 400000
    while True:
        x = alpha * k + beta
        if step is not None and k >= step[1] and x - alpha * step[1] > 0:
            p, q = step
            base = x - alpha * q
            prod = mpmath.mpf(1)
            for j in range(p):
                prod *= base + j
            term = history[-q] * zq / prod
        else:
            term = power * mpmath.rgamma(x)
        if step is not None:
            history.append(term)
            if len(history) > step[1]:
                history.pop(0)
        total += term
        size = abs(term)
        if size > biggest:
            biggest = size
        if previous is not None and previous > 0 and size > 0 and alpha * (k - 1) + beta > 0:
            rho = size / previous
            if rho < 1 and size * rho / (1 - rho) <= eps * biggest:
                return total, biggest
        previous = size
        power *= z
        k += 1
        if k > max_terms:
            raise _NotConverged("series needs too many terms")


def _poles(alpha, z):
    """Poles s = |z|^{1/alpha} e^{i theta} of s^(alpha-beta)/(s^alpha - z) on the principal
    sheet: (inside, on_cut), each a list of angles theta as mpf multiples of pi."""
    side = 0 if z > 0 else 1  # arg z / pi
    inside, on_cut = [], []
    kmin = math.floor((-float(alpha) - side) / 2) - 1
    kmax = math.ceil((float(alpha) - side) / 2) + 1
    for k in range(kmin, kmax + 1):
        m = side + 2 * k  # arg(s) = m*pi/alpha; |arg| < pi  <=>  |m| < alpha (exact test)
        if abs(m) < alpha:
            inside.append(mpmath.mpf(m) / alpha)
        elif abs(m) == alpha:
            on_cut.append(mpmath.mpf(m) / alpha)
    return inside, on_cut


def _pole_sum(alpha, beta, z) -> mpmath.mpf:
    """Sum of the residues (1/alpha) s^(1-beta) e^s over the poles inside the principal sheet."""
    inside, _ = _poles(alpha, z)
    w = abs(z) ** (1 / alpha)
    total = mpmath.mpf(0)
    for theta in inside:
        s = w * mpmath.expjpi(theta)
        total += (s ** (1 - beta) * mpmath.exp(s)).real / alpha
    return total


def _asymptotic(alpha, beta, z, prec: int) -> mpmath.mpf:
    r"""Asymptotic expansion for large :math:`|z|^{1/\alpha}` [1]_ (4.7.4)-(4.7.5):

    .. math:: E_{\alpha,\beta}(z) \approx \sum_{\text{poles}} \tfrac{1}{\alpha}
              s^{1-\beta} e^{s} - \sum_{k=1}^{K} \frac{z^{-k}}{\Gamma(\beta - \alpha k)}.

    Summation stops at the first term below :math:`2^{-wp}` of the running value; if the
    terms turn upward first (the series is only asymptotic) the method gives up. A pole on
    the branch cut (:math:`\alpha = 1, z < 0` or :math:`\alpha = 2, z > 0`) contributes a term of
    size :math:`e^{-|z|^{1/\alpha}}`, which must also be below the tolerance. The error is
    controlled (checked against the next term), not rigorously bounded.
    """
    wp = prec + _GUARD
    with mpmath.workprec(wp):
        alpha, beta, z = mpmath.mpf(alpha), mpmath.mpf(beta), mpmath.mpf(z)
        eps = mpmath.mpf(2) ** (-wp)
        poles = _pole_sum(alpha, beta, z)
        _, on_cut = _poles(alpha, z)
        w = abs(z) ** (1 / alpha)
        algebraic = mpmath.mpf(0)
        inv = 1 / z
        power = mpmath.mpf(1)
        log_z = math.log(abs(float(z))) if abs(z) < mpmath.mpf(10) ** 300 else float(mpmath.log(abs(z)))
        log_eps = -wp * math.log(2)
        best = math.inf
        converged = False
        for k in range(1, 4000):
            power *= inv
            term = -power * mpmath.rgamma(beta - alpha * k)
            algebraic += term
            value = poles + algebraic
            # Envelope |z|^-k Gamma(1 + alpha k - beta)/pi >= |z^-k / Gamma(beta - alpha k)|
            # (reflection formula): a coefficient that happens to be tiny (beta - alpha k near
            # a pole of Gamma) must not stop the summation or look like divergence.
            x = float(1 + alpha * k - beta)
            if x < 2:
                continue  # envelope not informative yet (Gamma(x) blows up as x -> 0)
            log_env = -k * log_z + math.lgamma(x) - math.log(math.pi)
            if value != 0 and log_env <= log_eps + float(mpmath.log(abs(value))):
                converged = True
                break
            if log_env > best + math.log(4):
                raise _NotConverged("asymptotic series diverges before reaching the tolerance")
            best = min(best, log_env)
        if not converged:
            raise _NotConverged("asymptotic series did not converge")
        value = poles + algebraic
        if on_cut:
            # |(1/alpha) s^(1-beta) e^s| at s = -w: must be negligible.
            size = w ** (1 - beta) * mpmath.exp(-w) / alpha
            if value == 0 or size > eps * abs(value):
                raise _NotConverged("a pole on the branch cut is not negligible")
        if value == 0:
            raise _NotConverged("asymptotic value is zero")
        return value


def _integral(alpha, beta, z, prec: int) -> mpmath.mpf:
    r"""Inversion of the Laplace transform :math:`s^{\alpha-\beta}/(s^\alpha - z)` at t = 1.

    The Bromwich line is moved left onto a Hankel contour around the branch cut
    :math:`(-\infty, 0]`, collecting the residues :math:`\frac{1}{\alpha}s^{1-\beta}e^s` of the
    poles inside the principal sheet. Collapsed onto the cut the contour integral is the real
    integral

    .. math:: J = \frac{1}{\pi}\int_0^\infty e^{-r} r^{\alpha-\beta}
              \frac{r^\alpha\sin\pi\beta + z\sin\pi(\alpha-\beta)}
                   {r^{2\alpha} - 2 r^\alpha z\cos\pi\alpha + z^2}\,dr .

    It converges at 0 for :math:`\beta < 1 + \alpha`; the integral is taken at a base
    :math:`\beta_0 = \beta - n\alpha < 1` and carried up with
    :math:`E_{\alpha,b+\alpha} = (E_{\alpha,b} - 1/\Gamma(b))/z` (guard bits for the
    cancellation at small :math:`|z|`). The substitution :math:`r = t^m`,
    :math:`m = 1/(1+\alpha-\beta_0)`, removes the endpoint singularity
    :math:`r^{\alpha-\beta_0}` (tanh-sinh nodes next to a singular endpoint lose precision),
    and mpmath's tanh-sinh quadrature is run at increasing degree until its error estimate is
    below the target. A pole on the cut (:math:`\alpha = 1, z < 0`; :math:`\alpha = 2, z > 0`)
    puts a singularity on the path: not handled here.
    """
    alpha, beta, z = mpmath.mpf(alpha), mpmath.mpf(beta), mpmath.mpf(z)
    _, on_cut = _poles(alpha, z)
    if on_cut:
        raise _NotConverged("pole on the branch cut: the collapsed contour does not apply")
    shifts = 0
    base = beta
    while base >= 1:
        base -= alpha
        shifts += 1
    lost = shifts * (max(0, int(-math.log2(abs(float(z))))) + 2)
    wp = prec + _GUARD + lost + 8
    with mpmath.workprec(wp):
        value = _integral_core(alpha, base, z, prec + lost + 8)
        b = base
        for _ in range(shifts):
            value = (value - mpmath.rgamma(b)) / z
            b += alpha
    return value


def _integral_core(alpha, beta, z, target_bits: int):
    pi = mpmath.pi
    sb = mpmath.sin(pi * beta)
    sab = mpmath.sin(pi * (alpha - beta))
    ca = mpmath.cos(pi * alpha)
    m = 1 / (1 + alpha - beta)
    ma = m * alpha

    def integrand(t):
        if t == 0:
            return (sab / z) * m if alpha > 0 else mpmath.mpf(0)
        ra = t ** ma  # r**alpha with r = t**m
        return m * mpmath.exp(-(t ** m)) * (ra * sb + z * sab) / (ra * ra - 2 * ra * z * ca + z * z)

    w = abs(z) ** (1 / alpha)
    points = sorted({mpmath.mpf(0), mpmath.mpf(1), w ** (1 / m), (2 * w + 4) ** (1 / m), mpmath.inf})
    poles = _pole_sum(alpha, beta, z)
    tol = mpmath.mpf(2) ** (-target_bits)
    for degree in (6, 7, 8, 9, 10):
        value, err = mpmath.quad(integrand, points, error=True, maxdegree=degree)
        total = poles + value / pi
        if err / pi <= tol * abs(total):
            return total
    raise _NotConverged("quadrature did not reach the tolerance")


def _limit_at_infinity(alpha, beta, sign: int) -> mpmath.mpf:
    if alpha == 0:
        return mpmath.mpf(0)
    if sign > 0:
        return mpmath.inf
    if alpha < 2 or (alpha == 2 and beta > 1):
        return mpmath.mpf(0)
    return mpmath.nan  # oscillates without limit


def _general(alpha, beta, z, prec: int) -> mpmath.mpf:
    """Choose among series, asymptotic expansion and Laplace inversion (each falls through
    to the next when it declines)."""
    big = abs(z) ** (1 / alpha)
    w = float(big) if big < mpmath.mpf(10) ** 300 else math.inf
    if z > 0:
        # The pole term e^w dominates; the algebraic part needs absolute accuracy
        # 2^-wp e^w, reached by its terms (smallest about e^-w) once 2w > wp ln 2.
        try_asymptotic = w > 0.4 * (prec + _GUARD) + 10
        try_series = w <= 2e4 * max(float(alpha), 0.05)
    else:
        # |E| is about 1/|z|: the terms must fall below 2^-wp, the smallest is about e^-w.
        try_asymptotic = w > 0.5 * (prec + _GUARD)
        try_series = w <= 3 * (prec + _GUARD) + 600
    methods = ([_asymptotic] if try_asymptotic else []) + ([_series] if try_series else []) + [_integral]
    for method in methods[:-1]:
        try:
            return method(alpha, beta, z, prec)
        except _NotConverged:
            continue
    return methods[-1](alpha, beta, z, prec)


def mittag_leffler_mp(alpha, beta, z, *, method: str = "auto") -> mpmath.mpf:
    r""":math:`E_{\alpha,\beta}(z)` for real arguments at the current mpmath precision.

    Parameters
    ----------
    alpha, beta, z : number
        Real numbers (mpf, int, float, str...); ``alpha >= 0``.
    method : {"auto", "general", "closed_form", "series", "asymptotic", "integral"}
        ``"auto"`` uses a closed form when (α, β) has one (see :func:`closed_form`), else
        ``"general"``: the power series (rigorous tail bound, guard digits for cancellation),
        the asymptotic expansion where :math:`|z|^{1/\alpha}` is large, or the Laplace
        inversion. The other values force one method (for cross-checks); a method that cannot
        reach the precision raises :class:`MittagLefflerError`.

    Returns
    -------
    mpmath.mpf
        NaN for NaN input (and at the pole z = 1 of :math:`E_{0,\beta}`); the limits at
        :math:`z = \pm\infty` (NaN where :math:`E` oscillates, :math:`\alpha \ge 2`).
    """
    if method not in ("auto", "general", "closed_form", "series", "asymptotic", "integral"):
        raise MittagLefflerError(f"mittag_leffler_mp: unknown method {method!r}")
    alpha, beta, z = _mpf(alpha), _mpf(beta), _mpf(z)
    if mpmath.isnan(alpha) or mpmath.isnan(beta) or mpmath.isnan(z):
        return mpmath.nan
    if alpha < 0 or mpmath.isinf(alpha) or mpmath.isinf(beta):
        raise MittagLefflerError(
            f"mittag_leffler: alpha must be finite and >= 0 and beta finite (alpha={alpha}, beta={beta})"
        )
    prec = mpmath.mp.prec
    if mpmath.isinf(z):
        return _limit_at_infinity(alpha, beta, 1 if z > 0 else -1)
    if alpha == 0:
        if z == 1:
            return mpmath.nan
        with mpmath.workprec(prec + _GUARD):
            value = mpmath.rgamma(beta) / (1 - z)
        return +value
    if z == 0:
        return mpmath.rgamma(beta)
    if method in ("auto", "closed_form"):
        fast = _closed_form_mp(alpha, beta, z, prec)
        if fast is not None:
            return +fast
        if method == "closed_form":
            raise MittagLefflerError(f"no closed form for alpha={alpha}, beta={beta}")
    try:
        if method in ("auto", "general"):
            value = _general(alpha, beta, z, prec)
        elif method == "series":
            value = _series(alpha, beta, z, prec)
        elif method == "asymptotic":
            value = _asymptotic(alpha, beta, z, prec)
        else:
            value = _integral(alpha, beta, z, prec)
    except _NotConverged as exc:
        raise MittagLefflerError(f"mittag_leffler({alpha}, {beta}, {z}): {method}: {exc}") from None
    return +value


# -- closed forms at arbitrary precision ---------------------------------------------------

def _lattice(alpha, beta, base, limit: int = 12) -> int | None:
    """n with beta = base + n*alpha (|n| <= limit), else None."""
    n = (beta - base) / alpha
    if n == int(n) and abs(n) <= limit:
        return int(n)
    return None


def _shift_mp(alpha, b0, n: int, z, e0):
    """E_{alpha, b0 + n*alpha}(z) from e0 = E_{alpha, b0}(z) by the three-term recurrence
    E_{a,b}(z) = 1/Gamma(b) + z E_{a,a+b}(z); returns (value, bits lost to cancellation)."""
    value, b, lost = e0, b0, 0.0
    for _ in range(abs(n)):
        if n > 0:
            left, right = value, -mpmath.rgamma(b)
            value = (left + right) / z
            b += alpha
        else:
            b -= alpha
            left, right = mpmath.rgamma(b), z * value
            value = left + right
        big = max(abs(left), abs(right))
        if big > 0:
            small = abs(left + right)
            # A sum that cancels to exactly 0 lost at least every bit of the working precision.
            lost += float(mpmath.log(big / small, 2)) if small > 0 else mpmath.mp.prec + 32
    return value, lost


def _closed_form_mp(alpha, beta, z, prec: int):
    """Closed form of E_{alpha,beta}(z) for the parameter lattices of the table, or None.

    The recurrence steps can cancel (upward steps for small |z|, downward ones for large
    negative z); the bits they lose are measured and the evaluation repeated with that many
    more guard bits. For |z| < 2^-20 with an upward shift the (then fast) series is used.
    """
    for a0, b0, kind in ((1, 1, "exp"), (2, 1, "cosh"), (2, 2, "sinh"), (mpmath.mpf(1) / 2, 1, "erfc")):
        if alpha != a0:
            continue
        n = _lattice(alpha, beta, b0)
        if n is None:
            continue
        if n > 0 and abs(z) < mpmath.mpf(2) ** -20:
            return None
        extra = 0
        for _ in range(4):
            wp = prec + _GUARD + extra
            with mpmath.workprec(wp):
                if kind == "exp":
                    e0 = mpmath.exp(z)
                elif kind == "erfc":
                    e0 = _mp_erfcx_neg(z)
                else:
                    r = mpmath.sqrt(abs(z))
                    if kind == "cosh":
                        e0 = mpmath.cosh(r) if z > 0 else mpmath.cos(r)
                    else:
                        e0 = mpmath.sinh(r) / r if z > 0 else mpmath.sin(r) / r
                value, lost = _shift_mp(mpmath.mpf(alpha), mpmath.mpf(b0), n, z, e0)
            if lost <= extra + _GUARD - 8:
                return value
            extra = int(lost) + 16
        return value
    return None


def _mp_erfcx_neg(z):
    """exp(z**2) * erfc(-z): z**2 is formed exactly, so that the huge exp(z**2) and the tiny
    erfc(-z) of large negative z carry no relative error from a rounded exponent."""
    with mpmath.workprec(2 * mpmath.mp.prec + 16):
        square = z * z
    return mpmath.exp(square) * mpmath.erfc(-z)


# ---------------------------------------------------------------------------------------
# float64 (NumPy)
# ---------------------------------------------------------------------------------------

_LOG_EPS = math.log(np.finfo(np.float64).eps)  # log of the unit round-off
# Accuracy target (log epsilon) of the contour's discretization and truncation errors, and the
# round-off allowance: Garrappa's parameters keep exp(mu) * unit <= target, i.e. the round-off
# amplification below target/unit. funclib asks for 1e-17 (Garrappa's default is 1e-15, an
# absolute error that is 1e-13 relative where |E| ~ 1e-2), so that the discretization error is
# negligible next to round-off, with the same amplification 4.5 as his default, by passing the
# matching "unit" to the parameter formulas.
_LOG_TARGET = math.log(1e-17)
_LOG_UNIT_F64 = _LOG_TARGET - math.log(1e-15 / np.finfo(np.float64).eps)
_CHUNK = 2048  # z values per quadrature block (memory: chunk x nodes complex numbers)

# -- double-double arithmetic (Dekker, Knuth): exact sums and products of floats ---------

_SPLITTER = 134217729.0  # 2**27 + 1
_LN2_HI, _LN2_LO = 0.6931471805599453, 2.3190468138462996e-17


def _two_sum(a, b):
    s = a + b
    bb = s - a
    return s, (a - (s - bb)) + (b - bb)


def _fast_two_sum(a, b):
    s = a + b
    return s, b - (s - a)


def _two_prod(a, b):
    p = a * b
    c = _SPLITTER * a
    ah = c - (c - a)
    al = a - ah
    c = _SPLITTER * b
    bh = c - (c - b)
    bl = b - bh
    return p, ((ah * bh - p) + ah * bl + al * bh) + al * bl


def _dd_add(ah, al, bh, bl):
    s, e = _two_sum(ah, bh)
    return _fast_two_sum(s, e + al + bl)


def _dd_mul_f(ah, al, b):
    p, e = _two_prod(ah, b)
    return _fast_two_sum(p, e + al * b)


def _dd_div_f(ah, al, b):
    q = ah / b
    p, e = _two_prod(q, b)
    return _fast_two_sum(q, ((ah - p) - e + al) / b)


def _dd_exp_small(x):
    """exp(x) for |x| <= 0.36 as a double-double (Taylor series to x**18/18!, error < 2e-24)."""
    hi = np.ones_like(x)
    lo = np.zeros_like(x)
    for n in range(18, 0, -1):
        hi, lo = _dd_mul_f(hi, lo, x)
        hi, lo = _dd_div_f(hi, lo, float(n))
        hi, lo = _dd_add(hi, lo, 1.0, 0.0)
    return hi, lo


def _dd_log(x):
    """log(x) of positive floats as a double-double (one Newton step on exp_dd)."""
    m, e = np.frexp(x)
    small = m < math.sqrt(0.5)
    m = np.where(small, 2 * m, m)
    e = np.where(small, e - 1, e).astype(np.float64)
    l0 = np.log(m)
    eh, el = _dd_exp_small(-l0)
    ph, pl = _dd_mul_f(eh, el, m)
    rh, rl = _dd_add(ph, pl, -1.0, 0.0)  # m*exp(-l0) - 1, of order 1e-16
    lh, ll = _dd_add(l0, 0.0, rh, rl)
    th, tl = _dd_mul_f(np.full_like(e, _LN2_HI), np.full_like(e, _LN2_LO), e)
    return _dd_add(th, tl, lh, ll)


def _dd_exp(ah, al):
    """exp of a double-double argument of moderate size (|a| < 700) as a double-double."""
    k = np.rint(ah / _LN2_HI)
    kh, kl = _dd_mul_f(np.full_like(k, _LN2_HI), np.full_like(k, _LN2_LO), k)
    rh, rl = _dd_add(ah, al, -kh, -kl)
    eh, el = _dd_exp_small(rh)
    eh, el = _dd_add(eh, el, eh * rl, 0.0)  # exp(rh + rl) = exp(rh)(1 + rl)
    ki = k.astype(np.int64)
    return np.ldexp(eh, ki), np.ldexp(el, ki)


def _real_pole_residue(alpha: float, beta: float, z: np.ndarray) -> np.ndarray:
    r"""(1/alpha) w^(1-beta) e^w with w = z^(1/alpha), z > 0, to a few ulps.

    :math:`e^w` has condition number w: a plain float64 w (one rounding) would cost w ulps.
    w is formed in double-double (log, division, exp), so that only the final exp of an
    exact float and the small correction :math:`e^{w_{lo}}` remain.
    """
    lh, ll = _dd_log(z)
    ah, al = _dd_div_f(lh, ll, alpha)  # log w
    with np.errstate(over="ignore", invalid="ignore"):
        wh, wl = _dd_exp(np.minimum(ah, 50.0), al)
        # log of the result; beyond the float range the answer is inf (and wl, the low part of
        # a w above 2**53, is no longer small).
        log_value = wh + (1 - beta) * ah - math.log(alpha)
        scale = np.exp((1 - beta) * ah) * (1 + (1 - beta) * al) / alpha
        big = wh > 700.0
        shift = np.where(big, 700.0, 0.0)
        value = np.exp(np.minimum(wh - shift, 700.0)) * scale * (1 + wl)
        value = np.where(big, value * math.exp(700.0), value)
        value = np.where((ah >= 50.0) | (log_value > 709.8), np.inf, value)
    return value


# -- Garrappa's optimal parabolic contour (OPC) ---------------------------------------------

def _opc_bounded(phi_l, phi_r, p, q, log_eps, log_unit=_LOG_EPS):
    """Parameters (mu, h, N) of the parabola z(u) = mu (1 + iu)^2 between two singularities.

    The singularities at phi_l (left of the contour, strength p) and phi_r (right, strength
    q) bound the strip of analyticity of the integrand in u; mu and h balance the
    discretization errors on both sides and the truncation error against the target
    exp(log_eps) ([2]_ section 4, bounded region). N = inf where no parabola qualifies.
    """
    fac = 1.01
    f_max = np.exp(log_eps - log_unit)
    sa = np.sqrt(phi_l)
    limit = 2 * np.sqrt(log_eps - log_unit)
    sb = np.minimum(np.sqrt(phi_r), limit - sa)
    with np.errstate(all="ignore"):
        if p < 1e-14:
            f_min = np.where(sa > 0, fac * (sa / (sb - sa)) ** q, fac)
            ok = f_min < f_max
            f_bar = f_min + f_min / f_max * (f_max - f_min)
            fq = f_bar ** (-1.0 / q)
            sa_bar = sa
            sb_bar = (2 * sb - fq * sa) / (2 + fq)
        else:
            f_min = fac * (sa + sb) / (sb - sa) ** max(p, q)
            ok = f_min < f_max
            f_min = np.maximum(f_min, 1.5)
            f_bar = f_min + f_min / f_max * (f_max - f_min)
            fp = f_bar ** (-1.0 / p)
            fq = f_bar ** (-1.0 / q)
            ww = -phi_r / log_eps
            den = 2 + ww - (1 + ww) * fp + fq
            sa_bar = ((2 + ww + fq) * sa + fp * sb) / den
            sb_bar = (-(1 + ww) * fq * sa + (2 + ww - (1 + ww) * fp) * sb) / den
        log_e = log_eps - np.log(f_bar)
        ww = -sb_bar**2 / log_e
        mu = (((1 + ww) * sa_bar + sb_bar) / (2 + ww)) ** 2
        h = -2 * np.pi / log_e * (sb_bar - sa_bar) / ((1 + ww) * sa_bar + sb_bar)
        n = np.ceil(np.sqrt(1 - log_e / mu) / h)
        ok &= np.isfinite(n) & (h > 0) & (mu > 0)
    return np.where(ok, mu, 0.0), np.where(ok, h, 0.0), np.where(ok, n, np.inf)


def _opc_unbounded(phi_l, p, log_eps, log_unit=_LOG_EPS):
    """Parameters (mu, h, N) of the parabola to the right of every singularity (phi_l the
    rightmost, strength p), with mu capped so that round-off stays below the target
    ([2]_ section 4, unbounded region)."""
    phi_l = np.asarray(phi_l, dtype=np.float64) * np.ones_like(log_eps)
    sa = np.sqrt(phi_l)
    phib = np.where(phi_l > 0, 1.01 * phi_l, 0.01)
    sqb = np.sqrt(phib)
    f_lo, f_hi, f_tar = 1.0, 10.0, 5.0
    done = np.zeros(phi_l.shape, dtype=bool)
    n = a = sq_mu = np.zeros_like(phi_l)
    with np.errstate(all="ignore"):
        for _ in range(60):
            le = log_eps / phib
            n_new = np.ceil(phib / np.pi * (1 - 1.5 * le + np.sqrt(1 - 2 * le)))
            a_new = np.pi * n_new / phib
            sq_mu_new = sqb * np.abs(4 - a_new) / np.abs(7 - np.sqrt(1 + 12 * a_new))
            n = np.where(done, n, n_new)
            a = np.where(done, a, a_new)
            sq_mu = np.where(done, sq_mu, sq_mu_new)
            if p < 1e-14:
                break
            f_bar = ((sqb - sa) / sq_mu) ** (-p)
            stop = (f_lo < f_bar) & (f_bar < f_hi)
            done |= stop
            if done.all():
                break
            sqb = np.where(done, sqb, f_tar ** (-1.0 / p) * sq_mu + sa)
            phib = sqb**2
        mu = sq_mu**2
        h = (-3 * a - 2 + 2 * np.sqrt(1 + 12 * a)) / (4 - a) / n
        # Keep exp(mu) * eps below the target: move the contour left where it is too far right.
        threshold = log_eps - log_unit
        too_far = mu > threshold
        qq = 0.0 if p < 1e-14 else f_tar ** (-1.0 / p)
        phib2 = (qq * np.sqrt(mu) + sa) ** 2
        fix = too_far & (phib2 < threshold)
        ww = np.sqrt(log_unit / (log_unit - log_eps))
        uu = np.sqrt(-phib2 / log_unit)
        n_fix = np.ceil(ww * log_eps / (2 * np.pi * (uu * ww - 1)))
        mu = np.where(fix, threshold, mu)
        n = np.where(fix, n_fix, np.where(too_far, np.inf, n))
        h = np.where(fix, ww / n_fix, np.where(too_far, 0.0, h))
    return mu, h, n


_LD_EPS = float(np.finfo(np.longdouble).eps)
_HAVE_EXTENDED = _LD_EPS < 1e-17  # x87 80-bit or IEEE quad long double
_LD_PI = np.arctan(np.longdouble(1)) * 4 if _HAVE_EXTENDED else np.longdouble(np.pi)


def _opc(alpha: float, beta: float, z: np.ndarray, extended: bool = False):
    r"""E_{alpha,beta}(z) for nonzero finite real z by Garrappa's OPC algorithm [2]_ (t = 1).

    .. math:: E_{\alpha,\beta}(z) = \frac{1}{2\pi i}\int_{\mathcal{C}} e^{s}
              \frac{s^{\alpha-\beta}}{s^\alpha - z}\,ds + \sum_{\text{poles right of } \mathcal{C}}
              \frac{1}{\alpha} s^{1-\beta} e^{s},

    on the parabola :math:`s(u) = \mu(1+iu)^2` by the trapezoidal rule with step h and
    2N + 1 nodes (N + 1 by the symmetry of real z). The singularities are the branch point 0
    (strength :math:`\max(0, 2(\beta-\alpha-1))`) and the poles
    :math:`s = |z|^{1/\alpha}e^{i\theta}`, :math:`|\theta| < \pi`, ordered by
    :math:`\phi(s) = (\operatorname{Re}s + |s|)/2`, the parameter of the parabola through s.
    Every admissible region between consecutive singularities gets its optimal (mu, h, N);
    the one with fewest nodes is used, and the target is relaxed tenfold where even that
    needs more than 200 nodes (400 in extended precision).

    With ``extended=True`` the nodes are summed in ``np.longdouble`` with a target of 1e-20
    (used where the float64 sum cancels). Returns ``(value, magnitude)``, magnitude being the
    sum of the absolute values of the quadrature terms and residues (the scale of the
    round-off error).
    """
    # Extended: discretization target 1e-20, round-off amplification exp(mu) capped at 4.5 as
    # in float64 (the formulas read it from target - log_unit).
    target = math.log(1e-20) if extended else _LOG_TARGET
    log_unit = target - math.log(1e-15 / np.finfo(np.float64).eps) if extended else _LOG_UNIT_F64
    max_nodes = 400 if extended else 200
    w = np.abs(z) ** (1.0 / alpha)
    pos = z > 0
    if alpha > 1:
        phi_pole = np.where(pos, w, w * (1 + math.cos(math.pi / alpha)) / 2)
        has_pole = np.ones(z.shape, dtype=bool)
    else:
        phi_pole = np.where(pos, w, np.inf)
        has_pole = pos
    p0 = max(0.0, 2 * (beta - alpha - 1))
    log_eps = np.full(z.shape, target)
    for _ in range(4):
        mu_b, h_b, n_b = _opc_bounded(0.0, np.where(has_pole, phi_pole, 1.0), p0, 1.0, log_eps, log_unit)
        mu_u0, h_u0, n_u0 = _opc_unbounded(0.0, p0, log_eps, log_unit)
        mu0 = np.where(has_pole, mu_b, mu_u0)
        h0 = np.where(has_pole, h_b, h_u0)
        n0 = np.where(has_pole, n_b, n_u0)
        admissible = has_pole & (phi_pole < log_eps - log_unit)
        mu1, h1, n1 = _opc_unbounded(np.where(admissible, phi_pole, 0.0), 1.0, log_eps, log_unit)
        n1 = np.where(admissible, n1, np.inf)
        right = n1 < n0
        mu = np.where(right, mu1, mu0)
        h = np.where(right, h1, h0)
        n = np.where(right, n1, n0)
        relax = n > max_nodes
        if not relax.any():
            break
        log_eps = np.where(relax, log_eps + math.log(10), log_eps)
    n = np.minimum(n, 2 * max_nodes).astype(np.int64)
    integral, magnitude = _parabola_sum(alpha, beta, z, mu, h, n, extended)
    # Residues of the poles to the right of the chosen contour (region 0 only).
    residue = np.zeros_like(integral)
    use = has_pole & ~right
    if use.any():
        residue[use] = _pole_residues(alpha, beta, z[use], extended)
    # Error scale of the residues: both are formed in double-double (a few ulps), the complex
    # pair's relative to its amplitude (the residue itself is small near a zero of the cosine).
    with np.errstate(over="ignore", invalid="ignore"):
        if alpha > 1:
            amplitude = (2 / alpha) * w ** (1 - beta) * np.exp(w * math.cos(math.pi / alpha))
        else:
            amplitude = np.zeros_like(w)
        scale = 4 * np.where(pos, np.abs(residue).astype(np.float64), amplitude)
    return integral + residue, magnitude + np.where(use, scale, 0.0)


def _parabola_sum(alpha, beta, z, mu, h, n, extended=False):
    r"""Trapezoidal sum of the contour integral on :math:`s(u) = \mu(1+iu)^2`, u = kh, k = 0..N.

    Written in real arithmetic: with :math:`\ell = \log\mu + \log(1+u^2)` and
    :math:`\vartheta = 2\arctan u` (so :math:`\log s = \ell + i\vartheta`),

    .. math:: e^{s} s^{\alpha-\beta} = e^{\mu(1-u^2) + (\alpha-\beta)\ell}
              e^{i(2\mu u + (\alpha-\beta)\vartheta)}, \qquad
              s^\alpha = e^{\alpha\ell} e^{i\alpha\vartheta},\qquad s'(u) = 2\mu(i - u),

    and only the imaginary part of each term is needed (real z: the terms at ±u are
    conjugate). Returns (sum, error scale), the scale being the sum of the terms' absolute
    values weighted by 1 + |s| (a rounded exponent s costs |s| ulps).
    """
    real = np.longdouble if extended else np.float64
    out = np.empty(z.shape, dtype=real)
    mag = np.empty(z.shape, dtype=np.float64)
    a = real(alpha)
    ab = real(alpha) - real(beta)
    inv_pi = 1 / (_LD_PI if extended else real(np.pi))
    # Blocks of points with similar node counts (within 25%, at most _CHUNK points): little
    # padding to each block's largest N.
    order = np.argsort(n, kind="stable")
    sorted_n = n[order]
    start = 0
    while start < z.size:
        stop = min(start + _CHUNK, z.size)
        stop = start + int(np.searchsorted(sorted_n[start:stop], 1.25 * sorted_n[start] + 4, side="right"))
        sl = order[start:stop]
        start = stop
        zz = z[sl].astype(real)[:, None]
        mm, hh, nn = mu[sl].astype(real)[:, None], h[sl].astype(real), n[sl]
        k = np.arange(int(nn.max()) + 1).astype(real)
        u = hh[:, None] * k[None, :]
        u2 = u * u
        ell = np.log(mm) + np.log1p(u2)
        theta = 2 * np.arctan(u)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
            growth = np.exp(mm * (1 - u2) + ab * ell)
            phase = 2 * mm * u + ab * theta
            cb, sb = np.cos(phase), np.sin(phase)
            # numerator e^s s^(alpha-beta) s'(u) = 2 mu growth (cos + i sin)(-u + i)
            num_re = -2 * mm * growth * (u * cb + sb)
            num_im = 2 * mm * growth * (cb - u * sb)
            power = np.exp(a * ell)
            den_re = power * np.cos(a * theta) - zz
            den_im = power * np.sin(a * theta)
            terms = (num_im * den_re - num_re * den_im) / (den_re * den_re + den_im * den_im)
        terms[:, 0] *= 0.5
        terms[k[None, :] > nn[:, None]] = 0.0
        out[sl] = hh * inv_pi * terms.sum(axis=1)
        weight = 1 + mm * (1 + u2)
        mag[sl] = (hh * inv_pi * (np.abs(terms) * weight).sum(axis=1)).astype(np.float64)
    return out, mag


def _dd_const(value) -> tuple[float, float]:
    """An mpmath number as a double-double (hi, lo)."""
    with mpmath.workdps(40):
        hi = float(value)
        return hi, float(value - hi)


def _complex_pair_residue(alpha: float, beta: float, z: np.ndarray) -> np.ndarray:
    r"""Residues of the pole pair :math:`s = w e^{\pm i\pi/\alpha}` (z < 0, 1 < α ≤ 2):
    :math:`\frac{2}{\alpha} w^{1-\beta} e^{w\cos\theta}\cos(w\sin\theta + (1-\beta)\theta)`,
    θ = π/α. The phase and the exponent are formed in double-double (w from a double-double
    log and exp, sin θ and cos θ from mpmath), so the error is a few ulps of the amplitude even
    where the cosine is near a zero."""
    theta = mpmath.pi / mpmath.mpf(alpha)
    sh, sl = _dd_const(mpmath.sin(theta))
    ch, cl = _dd_const(mpmath.cos(theta))
    oh, ol = _dd_const((1 - mpmath.mpf(beta)) * theta)
    lh, ll = _dd_log(np.abs(z))
    ah, al = _dd_div_f(lh, ll, alpha)  # log w
    wh, wl = _dd_exp(ah, al)
    # phase = w*sin(theta) + offset; exponent = w*cos(theta)  (double-double products)
    ph, pl = _two_prod(wh, np.full_like(wh, sh))
    pl = pl + wh * sl + wl * sh
    ph, pl = _dd_add(ph, pl, oh, ol)
    eh, el = _two_prod(wh, np.full_like(wh, ch))
    el = el + wh * cl + wl * ch
    cos_phase = np.cos(ph) - np.sin(ph) * pl
    amplitude = (2 / alpha) * np.exp((1 - beta) * ah) * (1 + (1 - beta) * al) * np.exp(eh) * (1 + el)
    return amplitude * cos_phase


def _pole_residues(alpha: float, beta: float, z: np.ndarray, extended: bool = False) -> np.ndarray:
    """Sum of (1/alpha) s^(1-beta) e^s over the poles s = |z|^(1/alpha) e^(i theta), |theta| < pi."""
    real = np.longdouble if extended else np.float64
    out = np.zeros(z.shape, dtype=real)
    pos = z > 0
    if pos.any():
        if extended:
            w = np.abs(z[pos]).astype(real) ** (1 / real(alpha))
            out[pos] = w ** (1 - real(beta)) * np.exp(w) / real(alpha)
        else:
            out[pos] = _real_pole_residue(alpha, beta, z[pos])
    neg = ~pos
    if alpha > 1 and neg.any():
        if extended:
            w = np.abs(z[neg]).astype(real) ** (1 / real(alpha))
            theta = _LD_PI / real(alpha)
            out[neg] = (2 / real(alpha)) * w ** (1 - real(beta)) * np.exp(w * np.cos(theta)) * np.cos(
                w * np.sin(theta) + (1 - real(beta)) * theta
            )
        else:
            out[neg] = _complex_pair_residue(alpha, beta, z[neg])
    return out


# -- short series and asymptotic expansion in float64 -----------------------------------------

_SERIES_RADIUS = 0.5  # |z| up to which the power series is used
_ASYMPTOTIC_W = 45.0  # |z|^(1/alpha) from which the asymptotic expansion is tried
# Measured on random points: |error| <= 1.2 * eps * scale for the float64 contour sum (error
# scale from _parabola_sum/_opc). Redone in extended precision where eps * scale could exceed
# about 0.8e-14 of the value (scale > 32 |E|), so that the float64 result stays below 1e-14.
_RESCUE = 32.0


def _np_series(alpha: float, beta: float, z: np.ndarray):
    """Power series for |z| <= 1/2 with Neumaier summation; returns (value, magnitude)."""
    zmax = float(np.max(np.abs(z)))
    kmax = 400
    k = np.arange(kmax + 1, dtype=np.float64)
    rg = sc.rgamma(alpha * k + beta)
    with np.errstate(under="ignore"):
        bound = zmax**k * np.abs(rg)
    top = bound.max()
    # Last index: past the monotone region (alpha k + beta > 0) and below 2^-64 of the top.
    ok = (alpha * k + beta > 0) & (bound < top * 2.0**-64)
    ok[:-1] &= bound[1:] <= bound[:-1]
    last = int(np.argmax(ok)) if ok.any() else kmax
    total = np.zeros_like(z)
    comp = np.zeros_like(z)
    mag = np.zeros_like(z)
    power = np.ones_like(z)
    for j in range(last + 1):
        term = power * rg[j]
        t = total + term
        comp += np.where(np.abs(total) >= np.abs(term), (total - t) + term, (term - t) + total)
        total = t
        mag += np.abs(term)
        power = power * z
    return total + comp, mag


def _np_asymptotic(alpha: float, beta: float, z: np.ndarray):
    r"""Asymptotic expansion (poles + :math:`-\sum z^{-k}/\Gamma(\beta-\alpha k)`) where
    :math:`|z|^{1/\alpha} \ge 45`. Returns (value, ok, error scale): ok is False where the
    terms do not fall below 1e-17 of the value before growing again (then another method is
    used)."""
    poles = _pole_residues(alpha, beta, z).astype(np.float64)
    logz = np.log(np.abs(z))
    total = np.zeros_like(z)
    comp = np.zeros_like(z)
    size = np.zeros_like(z)
    done = np.zeros(z.shape, dtype=bool)
    failed = np.zeros(z.shape, dtype=bool)
    best = np.full(z.shape, np.inf)
    with np.errstate(over="ignore", under="ignore", invalid="ignore", divide="ignore"):
        for k in range(1, 80):
            rg = float(sc.rgamma(beta - alpha * k))
            term = -np.exp(-k * logz) * np.sign(z) ** k * rg
            x = 1 + alpha * k - beta
            # |1/Gamma(beta - alpha k)| <= Gamma(x)/pi (reflection); used once x >= 2, where
            # it is not inflated by the pole of Gamma at 0.
            log_env = -k * logz + math.lgamma(x) - math.log(math.pi) if x >= 2 else None
            active = ~(done | failed)
            term = np.where(active, term, 0.0)
            size += np.abs(term)
            t = total + term
            comp += np.where(np.abs(total) >= np.abs(term), (total - t) + term, (term - t) + total)
            total = t
            if log_env is None:
                continue
            value = np.abs(poles + total + comp)
            done |= active & (log_env <= math.log(1e-17) + np.log(value))
            failed |= active & ~done & (log_env > best + math.log(4))
            best = np.minimum(best, log_env)
            if (done | failed).all():
                break
    ok = done & ~failed
    # Error scale: the terms' sizes plus the poles' (see _opc).
    w = np.abs(z) ** (1.0 / alpha)
    with np.errstate(over="ignore", invalid="ignore"):
        if alpha > 1:
            amplitude = (2 / alpha) * w ** (1 - beta) * np.exp(w * math.cos(math.pi / alpha))
        else:
            amplitude = np.zeros_like(w)
        magnitude = size + 4 * np.where(z > 0, np.abs(poles), amplitude)
    if alpha == 1:
        # Pole on the branch cut at s = z < 0: its size e^z |z|^(1-beta) must be negligible.
        neg = z < 0
        cut = np.exp(z) * np.abs(z) ** (1 - beta)
        ok &= ~neg | (cut <= 1e-17 * np.abs(poles + total + comp))
    return poles + total + comp, ok, magnitude


def _np_general(alpha: float, beta: float, z: np.ndarray) -> np.ndarray:
    """E_{alpha,beta}(z) in float64 for nonzero finite z, 0 < alpha <= 2 (no closed forms)."""
    out = np.empty_like(z)
    mag = np.zeros_like(z)
    w = np.abs(z) ** (1.0 / alpha)
    todo = np.ones(z.shape, dtype=bool)
    far = w >= _ASYMPTOTIC_W
    if far.any():
        value, ok, m = _np_asymptotic(alpha, beta, z[far])
        idx = np.flatnonzero(far)[ok]
        out[idx] = value[ok]
        mag[idx] = m[ok]
        todo[idx] = False
    near = todo & (np.abs(z) <= _SERIES_RADIUS)
    if near.any():
        out[near], mag[near] = _np_series(alpha, beta, z[near])
        todo &= ~near
    if todo.any():
        value, m = _opc(alpha, beta, z[todo])
        out[todo], mag[todo] = value, m
    if _HAVE_EXTENDED:
        with np.errstate(divide="ignore", invalid="ignore"):
            rescue = (mag > _RESCUE * np.abs(out)) & np.isfinite(out)
        if rescue.any():
            value, _ = _opc(alpha, beta, z[rescue], extended=True)
            out[rescue] = value.astype(np.float64)
    return out


def _np_closed(alpha: float, beta: float, z: np.ndarray):
    """Closed forms that are accurate in float64, or None: E_{0,b}, E_{1,1} = exp,
    E_{1,2} = expm1(z)/z, E_{2,1} and E_{2,2} (cos/sin for z <= 0, cosh/sinh up to
    sqrt(z) = 20), E_{1/2,1} = erfcx(-z) for z <= 3. Returns (value, handled mask)."""
    out = np.full(z.shape, np.nan)
    done = np.zeros(z.shape, dtype=bool)
    with np.errstate(all="ignore"):
        if alpha == 1 and beta == 1:
            return np.exp(z), np.ones(z.shape, dtype=bool)
        if alpha == 1 and beta == 2:
            return np.where(z == 0, 1.0, np.expm1(z) / z), np.ones(z.shape, dtype=bool)
        if alpha == 2 and beta in (1.0, 2.0):
            # r = sqrt|z| as a double-double r + r_lo, so that cos and sin near their zeros
            # (z < 0) are not spoiled by the rounding of the square root.
            r = np.sqrt(np.abs(z))
            p, e = _two_prod(r, r)
            r_lo = ((np.abs(z) - p) - e) / (2 * r)
            cos_r = np.cos(r) - np.sin(r) * r_lo
            sin_r = np.sin(r) + np.cos(r) * r_lo
            if beta == 1:
                value = np.where(z > 0, np.cosh(r), cos_r)
            else:
                value = np.where(z > 0, np.sinh(r) / r, sin_r / r * (1 - r_lo / r))
                value = np.where(z == 0, 1.0, value)
            done = (z <= 0) | (r <= 20)
            return np.where(done, value, np.nan), done
        if alpha == 0.5 and beta == 1:
            done = z <= 3
            return np.where(done, sc.erfcx(-z), np.nan), done
    return out, done


def _np_one(alpha: float, beta: float, z: np.ndarray, method: str) -> np.ndarray:
    """E_{alpha,beta} on a 1-D float64 array for one parameter pair."""
    out = np.full(z.shape, np.nan)
    if math.isnan(alpha) or math.isnan(beta):
        return out
    if alpha < 0 or alpha > 2 or math.isinf(beta):
        raise MittagLefflerError(
            f"mittag_leffler: the float64 evaluator needs 0 <= alpha <= 2 and finite beta "
            f"(alpha={alpha!r}, beta={beta!r}); use mittag_leffler_mp for other alpha"
        )
    finite = np.isfinite(z)
    for sign in (1, -1):
        at = z == sign * np.inf
        if at.any():
            out[at] = float(_limit_at_infinity(mpmath.mpf(alpha), mpmath.mpf(beta), sign))
    if alpha == 0:
        with np.errstate(divide="ignore", invalid="ignore"):
            value = sc.rgamma(beta) / (1 - z)
        out[finite] = np.where(z[finite] == 1, np.nan, value[finite])
        return out
    zero = z == 0
    out[zero] = sc.rgamma(beta)
    todo = finite & ~zero
    if method == "auto" and todo.any():
        value, handled = _np_closed(alpha, beta, z[todo])
        idx = np.flatnonzero(todo)[handled]
        out[idx] = value[handled]
        todo[idx] = False
    if todo.any():
        out[todo] = _np_general(alpha, beta, z[todo])
    return out


def mittag_leffler_np(alpha, beta, z, *, method: str = "auto") -> np.ndarray:
    r""":math:`E_{\alpha,\beta}(z)` in float64 for real arrays (broadcast together).

    Parameters
    ----------
    alpha, beta, z : array_like
        Real; ``0 <= alpha <= 2``. Validated on ``0 < alpha <= 2``, ``0 < beta <= 3``,
        ``-50 <= z <= 10``: relative error at most 4.7e-15 against the 40-digit reference on
        16 536 grid points (``docs/mittag-leffler.md``), next to zeros of :math:`E` too.
    method : {"auto", "general"}
        ``"auto"`` uses the closed forms that are accurate in float64 (see
        :func:`_np_closed`); ``"general"`` skips them (for cross-checks). The general path
        loses relative accuracy only where :math:`E` is exponentially small against its
        scale: :math:`(\alpha,\beta)` near (1, 1) at large negative z, where ``"auto"`` uses
        ``exp``.

    Returns
    -------
    numpy.ndarray or numpy.float64
        float64 of the broadcast shape (a NumPy scalar for scalar input, as ufuncs give).
        NaN for NaN input and at the pole z = 1 of :math:`E_{0,\beta}`; ``inf`` beyond the
        float range; the limits at :math:`z=\pm\infty` (NaN where E oscillates).

    Raises
    ------
    MittagLefflerError
        For alpha outside [0, 2] or an infinite beta.

    Notes
    -----
    Per point, by :math:`w = |z|^{1/\alpha}`: the asymptotic expansion with the poles'
    residues where :math:`w \ge 45`; the power series with compensated summation where
    :math:`|z| \le 1/2`; otherwise Garrappa's optimal parabolic contour (Garrappa 2015) (target 1e-17).
    Pole residues are formed in double-double arithmetic. Where the estimated round-off
    (terms weighted by their exponents' size) exceeds 32 times the result, the contour sum is
    redone in ``np.longdouble`` (80-bit on x86-64; where ``long double`` is ``double`` this
    rescue is skipped and such points keep about 1e-13).
    """
    if method not in ("auto", "general"):
        raise MittagLefflerError(f"mittag_leffler_np: unknown method {method!r}")
    a, b, x = np.broadcast_arrays(
        np.asarray(alpha, dtype=np.float64), np.asarray(beta, dtype=np.float64), np.asarray(z, dtype=np.float64)
    )
    out = np.empty(x.shape, dtype=np.float64)
    flat_a, flat_b, flat_x, flat_out = a.ravel(), b.ravel(), x.ravel(), out.reshape(-1)
    if flat_x.size == 0:
        return out
    if (flat_a == flat_a[0]).all() and (flat_b == flat_b[0]).all():
        flat_out[:] = _np_one(float(flat_a[0]), float(flat_b[0]), flat_x.copy(), method)
        return out[()]
    pairs = np.stack([flat_a, flat_b], axis=1)
    keys, inverse = np.unique(pairs, axis=0, return_inverse=True)
    for k, (pa, pb) in enumerate(keys):
        sel = inverse.ravel() == k
        flat_out[sel] = _np_one(float(pa), float(pb), flat_x[sel], method)
    return out[()]


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
    from .formula import as_sympy
    from .special import erfc  # funclib's erfc keeps erfc(-z) as written (no 2 - erfc(z))

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
