"""Minimax polynomial approximations by the Remez exchange algorithm (mpmath, offline tool).

The vectorizable math of :mod:`funclib.kernels.mathlib.vecmath` evaluates polynomials whose
coefficients come from here; ``python -m funclib.kernels.mathlib.remez --write`` regenerates
``funclib/kernels/mathlib/coefficients.py`` and the tests check that the stored coefficients still
meet their error bounds.

Given a target :math:`g` on :math:`[a, b]`, basis powers :math:`k_0 < k_1 < \\dots < k_{n-1}`
and a weight :math:`w > 0`, the algorithm finds coefficients :math:`c_j` minimizing

.. math:: \\max_{s \\in [a, b]} \\, w(s)\\,\\bigl|g(s) - \\textstyle\\sum_j c_j s^{k_j}\\bigr|.

Each iteration solves the linear system
:math:`\\sum_j c_j s_i^{k_j} + (-1)^i E / w(s_i) = g(s_i)` on ``n + 1`` reference points,
locates the extrema of the weighted error on a dense grid (refined by golden-section search)
and exchanges the reference for ``n + 1`` alternating extrema. By the equioscillation theorem
the solution is optimal when the extrema have equal size; the loop stops when they agree to
``1e-3`` relatively. Coefficients are then rounded to the target float format one at a time,
the remaining ones being refitted after each rounding (so the rounding of the low-order
coefficients is compensated by the high-order ones).

References
----------
.. [1] E. Ya. Remez, "Sur le calcul effectif des polynômes d'approximation de Tchebychef",
   C. R. Acad. Sci. Paris 199 (1934) 337-340.
.. [2] J.-M. Muller, *Elementary Functions: Algorithms and Implementation*, 3rd ed.,
   Birkhäuser 2016, ch. 3 (minimax approximation, Remez algorithm).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import mpmath

__all__ = ["Approximation", "remez", "weighted_error", "round_coefficients"]

_DPS = 50


@dataclass(frozen=True)
class Approximation:
    """A minimax polynomial :math:`\\sum_j c_j s^{k_j}` on ``[lo, hi]``.

    ``error`` is the maximum weighted error of the (rounded, if ``fmt`` is set) coefficients
    measured on a dense grid.
    """

    name: str
    powers: tuple[int, ...]
    coefficients: tuple[float, ...]
    lo: float
    hi: float
    error: float
    relative: bool


def _poly(coeffs: Sequence, powers: Sequence[int], s):
    return mpmath.fsum(c * s**k for c, k in zip(coeffs, powers))


def weighted_error(
    g: Callable, w: Callable, coeffs: Sequence, powers: Sequence[int], lo, hi, points: int = 4000
) -> mpmath.mpf:
    """Max of ``w(s)*|g(s) - p(s)|`` on ``points`` Chebyshev-spaced nodes plus the ends."""
    lo, hi = mpmath.mpf(lo), mpmath.mpf(hi)
    worst = mpmath.mpf(0)
    for s in _grid(lo, hi, points):
        worst = max(worst, abs(w(s) * (g(s) - _poly(coeffs, powers, s))))
    return worst


def _grid(lo, hi, n):
    mid, half = (lo + hi) / 2, (hi - lo) / 2
    nodes = [mid - half * mpmath.cos(mpmath.pi * k / (n - 1)) for k in range(n)]
    return nodes


def _solve(g, w, powers, ref):
    n = len(powers)
    rows, rhs = [], []
    for i, s in enumerate(ref):
        rows.append([s**k for k in powers] + [(-1) ** i / w(s)])
        rhs.append(g(s))
    sol = mpmath.lu_solve(mpmath.matrix(rows), mpmath.matrix(rhs))
    return [sol[j] for j in range(n)], sol[n]


def _golden_max(f, a, b, iters: int = 40):
    """Maximize |f| on [a, b] (unimodal near an extremum) by golden-section search."""
    phi = (mpmath.sqrt(5) - 1) / 2
    c, d = b - phi * (b - a), a + phi * (b - a)
    fc, fd = abs(f(c)), abs(f(d))
    for _ in range(iters):
        if fc > fd:
            b, d, fd = d, c, fc
            c = b - phi * (b - a)
            fc = abs(f(c))
        else:
            a, c, fc = c, d, fd
            d = a + phi * (b - a)
            fd = abs(f(d))
    return (c, f(c)) if fc > fd else (d, f(d))


def _extrema(err, lo, hi, grid_points):
    grid = _grid(lo, hi, grid_points)
    values = [err(s) for s in grid]
    # local extrema of |err| within runs of constant sign, refined by golden-section search
    found = []
    run_start = 0
    for k in range(1, len(grid) + 1):
        if k == len(grid) or mpmath.sign(values[k]) != mpmath.sign(values[run_start]):
            best = max(range(run_start, k), key=lambda j: abs(values[j]))
            a = grid[max(best - 1, 0)]
            b = grid[min(best + 1, len(grid) - 1)]
            if best in (0, len(grid) - 1):
                s, v = grid[best], values[best]
            else:
                s, v = _golden_max(err, a, b)
            found.append((s, v))
            run_start = k
    return found


def remez(
    g: Callable,
    powers: Sequence[int],
    lo: float,
    hi: float,
    *,
    weight: Callable | None = None,
    relative: bool = True,
    fixed: Sequence | None = None,
    max_iter: int = 40,
    grid_points: int = 600,
    tol: float = 1e-3,
) -> tuple[list, mpmath.mpf]:
    """Minimax coefficients of ``g`` in the basis ``s**k`` (``k`` in ``powers``) on ``[lo, hi]``.

    Parameters
    ----------
    g : callable
        Target function of an ``mpmath.mpf``.
    powers : sequence of int
        Exponents of the basis monomials.
    lo, hi : float
        The interval.
    weight : callable, optional
        Error weight; default ``1/|g|`` if ``relative`` else 1.
    fixed : sequence, optional
        Already-fixed leading coefficients (for the first ``len(fixed)`` powers); only the
        remaining ones are fitted.

    Returns
    -------
    (coefficients, error)
        All coefficients (fixed ones included) and the levelled weighted error.
    """
    with mpmath.workdps(_DPS):
        lo, hi = mpmath.mpf(lo), mpmath.mpf(hi)
        if weight is None:
            weight = (lambda s: 1 / abs(g(s))) if relative else (lambda s: mpmath.mpf(1))
        fixed = [mpmath.mpf(c) for c in (fixed or [])]
        nfix = len(fixed)
        free = list(powers[nfix:])

        def h(s):
            return g(s) - _poly(fixed, powers[:nfix], s)

        n = len(free)
        ref = _grid(lo, hi, n + 1)
        coeffs, level = _solve(h, weight, free, ref)
        best = None  # (max error, coefficients): the exchange can wander; keep the best seen
        for _ in range(max_iter):
            def err(s, coeffs=coeffs):
                return weight(s) * (h(s) - _poly(coeffs, free, s))

            ext = _extrema(err, lo, hi, grid_points)
            worst = max(abs(v) for _, v in ext)
            if best is None or worst < best[0]:
                best = (worst, coeffs)
            while len(ext) > n + 1:
                ext.pop(0 if abs(ext[0][1]) < abs(ext[-1][1]) else -1)
            if len(ext) < n + 1:
                break  # degenerate (error already at rounding level)
            mags = [abs(v) for _, v in ext]
            if max(mags) - min(mags) <= tol * max(mags):
                break
            ref = [s for s, _ in ext]
            coeffs, level = _solve(h, weight, free, ref)
        return fixed + list(best[1]), abs(best[0])


def round_coefficients(
    g: Callable,
    powers: Sequence[int],
    lo: float,
    hi: float,
    fmt: Callable[[mpmath.mpf], float],
    **kwargs,
) -> list[float]:
    """Round minimax coefficients to a float format one at a time, refitting the rest.

    ``fmt`` maps an mpf to the nearest representable value (as a Python float).
    """
    fixed: list = []
    with mpmath.workdps(_DPS):
        for j in range(len(powers)):
            coeffs, _ = remez(g, powers, lo, hi, fixed=fixed, **kwargs)
            fixed.append(mpmath.mpf(fmt(coeffs[j])))
    return [float(c) for c in fixed]


# -- the approximations used by funclib.kernels.mathlib.vecmath ---------------------------------------

def _exp_quotient(r):
    """(e^r - 1 - r)/r^2, the polynomial part of exp and expm1."""
    if abs(r) < mpmath.mpf(10) ** -15:  # series: the quotient cancels at 50 digits
        return mpmath.mpf(1) / 2 + r / 6 + r**2 / 24 + r**3 / 120
    return (mpmath.expm1(r) - r) / r**2


def _log_quotient(z):
    """(2 atanh(sqrt z)/sqrt z - 2)/z: log1p(f) = f - f^2/2 + s (f^2/2 + z L(z)), s = f/(2+f)."""
    if z < mpmath.mpf(10) ** -15:
        return mpmath.mpf(2) / 3 + 2 * z / 5 + 2 * z**2 / 7
    s = mpmath.sqrt(z)
    return (2 * mpmath.atanh(s) / s - 2) / z


def _tanh_quotient(z):
    """(tanh(x) - x)/x^3 with z = x^2."""
    if z < mpmath.mpf(10) ** -15:
        return -mpmath.mpf(1) / 3 + 2 * z / 15 - 17 * z**2 / 315
    x = mpmath.sqrt(z)
    return (mpmath.tanh(x) - x) / x**3


def _erf_quotient(z):
    """erf(x)/x - 1 with z = x^2."""
    if z < mpmath.mpf(10) ** -15:
        return 2 / mpmath.sqrt(mpmath.pi) * (1 - z / 3 + z**2 / 10) - 1
    x = mpmath.sqrt(z)
    return mpmath.erf(x) / x - 1


#: erfc(a) = exp(-a^2) * H(s), H = erfcx, t = 1/(1 + ERFC_C*a), s = (t - t_min)/(1 - t_min)
ERFC_C = 0.25
#: t_min per format: a power of two (so 1 - t_min is exact) with erfc((1/t_min - 1)/ERFC_C)
#: below half the smallest subnormal (a = 28 for float64, 12 for float32)
ERFC_T_MIN = {"float64": 0.125, "float32": 0.25}
#: |x| below which erf and erfc use erf's polynomial (above: erfc from erfcx)
ERF_SMALL = 0.875
#: |x| below which tanh uses its odd polynomial (above: 1 - 2/(exp(2|x|) + 1))
TANH_SMALL = 0.625


def _erfc_t_min(fmt: str):
    return mpmath.mpf(ERFC_T_MIN[fmt])


def _erfc_s_max(fmt: str):
    """The fit covers a >= 0.86 (below ERF_SMALL = 0.875 erfc uses 1 - erf's polynomial)."""
    t0 = _erfc_t_min(fmt)
    a0 = mpmath.mpf("0.86")
    return (1 / (1 + mpmath.mpf(ERFC_C) * a0) - t0) / (1 - t0)


def _erfcx_scaled(fmt: str):
    t_min = _erfc_t_min(fmt)

    def g(s):
        t = t_min + (1 - t_min) * s
        a = (1 / t - 1) / mpmath.mpf(ERFC_C)
        return mpmath.exp(a * a) * mpmath.erfc(a)

    return g


def specs() -> list[dict]:
    """Every approximation: name, format, target, interval, number of coefficients, weighting."""
    ln2 = mpmath.log(2)
    smax = (mpmath.sqrt(2) - 1) / (mpmath.sqrt(2) + 1)
    margin = 1 + mpmath.mpf(2) ** -20  # room for the rounding of the reduced argument
    out = []
    for fmt, n_exp, n_expm1, n_log, n_tanh, n_erf, n_erfc in (
        ("float64", 11, 13, 7, 12, 12, 21),
        ("float32", 5, 7, 4, 6, 6, 10),
    ):
        out += [
            dict(name="EXP", fmt=fmt, g=_exp_quotient, n=n_exp, lo=-ln2 / 2 * margin, hi=ln2 / 2 * margin, relative=True),
            dict(name="EXPM1", fmt=fmt, g=_exp_quotient, n=n_expm1, lo=-ln2 * margin, hi=ln2 * margin, relative=True),
            dict(name="LOG", fmt=fmt, g=_log_quotient, n=n_log, lo=0, hi=(smax * margin) ** 2, relative=True),
            dict(name="TANH", fmt=fmt, g=_tanh_quotient, n=n_tanh, lo=0, hi=mpmath.mpf(TANH_SMALL) ** 2 * margin, relative=True),
            dict(name="ERF", fmt=fmt, g=_erf_quotient, n=n_erf, lo=0, hi=mpmath.mpf(ERF_SMALL) ** 2 * margin, relative=False),
            dict(name="ERFC", fmt=fmt, g=_erfcx_scaled(fmt), n=n_erfc, lo=0, hi=_erfc_s_max(fmt), relative=True,
                 sequential=True),
        ]
    return out


def _to_format(fmt: str) -> Callable[[mpmath.mpf], float]:
    import numpy as np

    if fmt == "float64":
        return lambda v: float(mpmath.mpf(v))
    return lambda v: float(np.float32(float(mpmath.mpf(v))))


def build(spec: dict) -> Approximation:
    """Fit one approximation and round its coefficients to the spec's format."""
    powers = list(range(spec["n"]))
    fmt = _to_format(spec["fmt"])
    weight = (lambda s: 1 / abs(spec["g"](s))) if spec["relative"] else (lambda s: mpmath.mpf(1))

    def measured(coeffs):
        with mpmath.workdps(_DPS):
            return weighted_error(spec["g"], weight, [mpmath.mpf(c) for c in coeffs], powers, spec["lo"], spec["hi"], 2000)

    exact, _ = remez(spec["g"], powers, spec["lo"], spec["hi"], relative=spec["relative"])
    coeffs = [fmt(c) for c in exact]
    err = measured(coeffs)
    if spec["fmt"] == "float32" or spec.get("sequential"):
        # refitting after each rounding usually wins; keep whichever is better
        seq = round_coefficients(spec["g"], powers, spec["lo"], spec["hi"], fmt, relative=spec["relative"])
        seq_err = measured(seq)
        if seq_err < err:
            coeffs, err = seq, seq_err
    return Approximation(
        name=f"{spec['name']}_{'F64' if spec['fmt'] == 'float64' else 'F32'}",
        powers=tuple(powers),
        coefficients=tuple(coeffs),
        lo=float(spec["lo"]),
        hi=float(spec["hi"]),
        error=float(err),
        relative=spec["relative"],
    )


def render(approximations: Sequence[Approximation]) -> str:
    """The text of ``coefficients.py``."""
    lines = [
        '"""Minimax coefficients of funclib\'s vectorizable math (generated; do not edit).',
        "",
        "Regenerate with ``python -m funclib.kernels.mathlib.remez --write``. Each tuple holds the",
        "coefficients c_0, c_1, ... of sum_k c_k s**k (see funclib/kernels/mathlib/remez.py for the target",
        "functions and intervals); ``*_ERROR`` is the weighted minimax error of the rounded",
        'coefficients (relative where the fit is relative) measured on a 2000-point grid."""',
        "",
        f"ERFC_C = {ERFC_C!r}",
        f"ERF_SMALL = {ERF_SMALL!r}",
        f"TANH_SMALL = {TANH_SMALL!r}",
        f"ERFC_T_MIN_F64 = {float(_erfc_t_min('float64'))!r}",
        f"ERFC_T_MIN_F32 = {float(_erfc_t_min('float32'))!r}",
        "",
    ]
    for a in approximations:
        lines.append(f"# [{a.lo!r}, {a.hi!r}], {'relative' if a.relative else 'absolute'} error {a.error:.3e}")
        lines.append(f"{a.name} = (")
        lines += [f"    {c!r}," for c in a.coefficients]
        lines.append(")")
        lines.append(f"{a.name}_ERROR = {a.error!r}")
        lines.append("")
    lines.append("#: name -> (lo, hi, relative) of each fit")
    lines.append("DOMAINS = {")
    lines += [f"    {a.name!r}: ({a.lo!r}, {a.hi!r}, {a.relative!r})," for a in approximations]
    lines.append("}")
    lines.append("")
    return "\n".join(lines)


def _stored(name: str) -> Approximation:
    from . import coefficients as C

    lo, hi, relative = C.DOMAINS[name]
    return Approximation(name, tuple(range(len(getattr(C, name)))), tuple(getattr(C, name)), lo, hi,
                         getattr(C, f"{name}_ERROR"), relative)


def main(argv: Sequence[str] | None = None) -> int:
    import argparse
    import pathlib

    parser = argparse.ArgumentParser(description="regenerate funclib/kernels/mathlib/coefficients.py")
    parser.add_argument("--write", action="store_true", help="write the file (default: print)")
    parser.add_argument("--only", nargs="*", help="refit only these (e.g. ERFC_F32); keep the others")
    args = parser.parse_args(argv)
    approximations = []
    for spec in specs():
        name = f"{spec['name']}_{'F64' if spec['fmt'] == 'float64' else 'F32'}"
        approximations.append(_stored(name) if args.only and name not in args.only else build(spec))
    text = render(approximations)
    if args.write:
        path = pathlib.Path(__file__).with_name("coefficients.py")
        path.write_text(text)
        print(f"wrote {path}")
    else:
        print(text)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
