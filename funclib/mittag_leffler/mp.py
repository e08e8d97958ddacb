"""The Mittag-Leffler function at arbitrary precision (mpmath): series, asymptotic expansion,
integral representation and closed forms, each with its error control."""

from __future__ import annotations

import math

import mpmath


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


def limit_at_infinity(alpha, beta, sign: int) -> mpmath.mpf:
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
        return limit_at_infinity(alpha, beta, 1 if z > 0 else -1)
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
