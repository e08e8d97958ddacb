r"""Accuracy harness: ULP and absolute errors of compiled kernels against the exact values.

For an entry (and variant), a dtype and an output (``value`` or ``derivative``), the kernel
is evaluated at exact floating-point inputs of that dtype spread over the whole range —
linear and logarithmic scales, the tails (|x| near 20, 35, 88.7, 709.8), ±0, subnormals,
the largest finite values, ±inf and NaN — and compared with the correctly rounded float64
reference of :meth:`funclib.Entry.reference` (arb ball arithmetic; the derivative reference
is ``entry.reference(x, order=1)``).

Error measure
-------------
The ULP error of a result :math:`y` against the reference :math:`r` is
:math:`|y - r| / \operatorname{ulp}(r)`, with :math:`\operatorname{ulp}(r)` the spacing of the
kernel's format at :math:`|r|` (the subnormal spacing below the smallest normal number). For
float64 kernels :math:`r` is the correctly rounded value, so a correctly rounded kernel scores
0 and the true error is within ±0.5 of the score; for float32 kernels :math:`r` is the float64
value, accurate to :math:`2^{-29}` float32 ULP. Infinities and NaN must match exactly (else
the error is infinite); a zero reference is measured in units of the smallest subnormal.

Tolerance and condition number
------------------------------
Rounding the input, or any intermediate that carries the input (such as :math:`x/\sqrt 2` in
GELU), perturbs the argument by a relative :math:`\delta \approx u` and changes the output
by :math:`\kappa(x)\,\delta` relatively, where

.. math:: \kappa(x) = \left|\frac{x\, f'(x)}{f(x)}\right|

is the relative condition number of the output :math:`f` (for the derivative output,
:math:`|x f''(x)/f'(x)|`). No algorithm that works in the target precision can beat that, so
the tolerance at :math:`x` is :math:`B\,\max(1, \kappa(x))` ULP with :math:`B` = 4 for float64
and 2 for float32 (the targets for well-conditioned functions): a kernel passes when it is
accurate to :math:`B` ULP wherever :math:`\kappa \le 1` and backward stable (the result of an
input perturbed by :math:`B` ulps) where :math:`\kappa` is large — GELU at x = -30
(:math:`\kappa \approx x^2 = 900`), Mish' near its zero, any function near a root.
:math:`\kappa` is taken from the oracle (:func:`oracle_condition_number`): the correctly rounded
:math:`f` and :math:`f'`, never a float64 evaluation of the formula, which can round :math:`f`
to 0 where it cancels and so make :math:`\kappa` infinite.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import mpmath
import numpy as np

from .special import mp_sigmoid, mp_softplus

__all__ = [
    "AccuracyResult",
    "KNOWN_INACCURATE",
    "known_inaccurate",
    "CATALOG_SAMPLE",
    "TARGET_ULP",
    "TAIL_POINTS",
    "sample_points",
    "ulp",
    "ulp_error",
    "condition_number",
    "oracle_condition_number",
    "oracle_kappa",
    "measure",
    "measure_entry",
    "VECMATH_REFERENCES",
    "vecmath_reference",
]

#: ULP targets for well-conditioned functions.
TARGET_ULP = {"float64": 4.0, "float32": 2.0}

_SUBNORMAL_SIGMOID = (
    "float32: sigmoid(x) is subnormal for x < -87.3, so x*sigmoid(x)*sigmoid(-x) loses up to "
    "2.7 ULP (after the condition-number scaling) in the far left tail"
)
_PAU = (
    "P(x)/Q(x) is evaluated as written: x**m overflows for |x| beyond ~1e61 (float64) / ~4e7 "
    "(float32) although the quotient is finite, and the polynomial sums cancel near their roots"
)
_ATLU = (
    "derivative x/(pi*(x**2 + 1)) + atan(x)/pi + 1/2: the kernel writes the gate as -atan(1/x)/pi "
    "for x < 0 (the value is accurate), but the two remaining terms still cancel as x -> -inf, "
    "where the derivative is about -2/(3*pi*x**3): needs an asymptotic series branch"
)
_SQUAREPLUS = (
    "float32 derivative: the conjugate form b/(2*sqrt(x**2 + b)*(sqrt(x**2 + b) - x)) that avoids "
    "the cancellation for x < 0 takes five roundings: 2.5 ULP"
)

#: The sample of the full-catalog measurement (tests' slow step and docs/accuracy.md): the
#: rows of :data:`KNOWN_INACCURATE` are the ones that fail on exactly these points.
CATALOG_SAMPLE = {"n_linear": 100, "n_log": 100, "seed": 3}

#: (entry, variant, dtype, output) rows above :data:`TARGET_ULP` after the condition-number
#: scaling, with the reason. The tests expect exactly these to fail (strict xfail), so a fix
#: must remove its row; docs/accuracy.md lists them.
KNOWN_INACCURATE: dict[tuple[str, str | None, str, str], str] = {
    ("mish", None, "float32", "derivative"): (
        "tanh(softplus(x)) + x*sigmoid(x)*sech(softplus(x))**2 cancels for x in (-3, -1.5): "
        "3.5 ULP after scaling (float32 arithmetic; the float64 kernel is within target)"
    ),
    **{(name, variant, "float32", "derivative"): _SUBNORMAL_SIGMOID
       for name, variant in (("silu", None), ("sswish", None), ("xsilu", None), ("quick_gelu", None),
                             ("ml_swish", None), ("ml_swish", "closed_form"))},
    **{(name, variant, "float32", "derivative"): (
        "1/(1 + |x|)**2 for small |x|: rounding 1 + |x|, squaring and dividing cost 2.4 ULP "
        "(a fused 1/fma(|x|, |x| + 2, 1) would take two roundings)"
    ) for name, variant in (("softsign", None), ("ml_softsign", None), ("ml_softsign", "closed_form"))},
    ("golu", None, "float32", "derivative"): (
        "the double exponential exp(-x - exp(-x)) and the sum of the derivative's two terms "
        "cost 3.2 ULP near x = -1 in float32 arithmetic (float64 is within target)"
    ),
    **{(name, None, dtype, output): _PAU
       for name in ("pau", "pau_abs_sum", "pau_eps", "pau_unsafe")
       for dtype in ("float64", "float32") for output in ("value", "derivative")},
    **{(name, None, dtype, "derivative"): _ATLU for name in ("atlu", "xatlu") for dtype in ("float64", "float32")},
    ("squareplus", None, "float32", "derivative"): _SQUAREPLUS,
    ("tanh_sig", None, "float32", "derivative"): (
        "(2 - tanh(x)**2)*sigmoid(x) + (x + tanh(x))*sigmoid(-x)*sigmoid(x) cancels 2.3-fold at x = -2.12 "
        "(the derivative has a root at x = -1.07): 2.19 ULP there after scaling; on 400,001 points of "
        "[-12, 12] the once-rounded tanh**2 has fewer points above 2 ULP than the squared float32 tanh "
        "(13,794 against 14,958, most next to the root)"
    ),
    **{("tempered_sigmoid", None, dtype, "value"): (
        "s*sigmoid(T*x) - o cancels where the value is near 0 (at x = 0 for the defaults s = 2, "
        "o = 1, which make it tanh(x)); the parameters are runtime values, so no fixed rewrite applies"
    ) for dtype in ("float64", "float32")},
}

def known_inaccurate() -> dict[tuple[str, str | None, str, str], str]:
    """Every (entry, variant, dtype, output) row expected above the target, with its reason.

    :data:`KNOWN_INACCURATE` plus the ``known_failures`` rows with ``check = "accuracy"`` that
    catalog entries carry as data (``docs/catalog-format.md``).
    """
    from .registry import entries

    rows = dict(KNOWN_INACCURATE)
    for entry in entries("elementwise"):
        for row in entry.known_failures:
            if row.check == "accuracy":
                rows[(entry.id, row.variant, row.dtype, row.output)] = row.reason
    return rows


#: Tail magnitudes where float64/float32 exponentials and their quotients break down.
TAIL_POINTS = (20.0, 35.0, 88.7, 709.8)


def _finfo(dtype) -> np.finfo:
    return np.finfo(np.dtype(dtype))


def sample_points(
    dtype: str = "float64",
    *,
    n_linear: int = 200,
    n_log: int = 200,
    linear_range: float = 10.0,
    seed: int = 0,
    special: bool = True,
) -> np.ndarray:
    """Exact floats of ``dtype`` covering the real line (returned as that dtype).

    ``n_linear`` uniform points in ``[-linear_range, linear_range]``; ``n_log`` points
    ``±m·10^e`` with ``e`` uniform over the whole exponent range (subnormals to the largest
    finite value) and random mantissas; points at and around the tails ``TAIL_POINTS``;
    and, if ``special``, ±0, the smallest subnormal and normal, the largest finite value,
    ±inf and NaN.
    """
    dt = np.dtype(dtype)
    fi = _finfo(dt)
    rng = np.random.default_rng(seed)
    lin = rng.uniform(-linear_range, linear_range, n_linear)
    lo_exp = math.log10(float(fi.smallest_subnormal))
    hi_exp = math.log10(float(fi.max))
    mags = 10.0 ** rng.uniform(lo_exp, hi_exp, n_log)
    logs = mags * rng.choice([-1.0, 1.0], n_log)
    tails = []
    for t in TAIL_POINTS:
        if t < float(fi.max):
            for off in (-0.5, -1e-3, 0.0, 1e-3, 0.5):
                tails += [t + off, -(t + off)]
    pts = [lin, logs, np.array(tails)]
    if special:
        tiny, sub = float(fi.smallest_normal), float(fi.smallest_subnormal)
        pts.append(np.array([0.0, -0.0, sub, -sub, tiny, -tiny, 3 * sub, float(fi.max), -float(fi.max),
                             math.inf, -math.inf, math.nan, 1.0, -1.0, 0.5, -0.5]))
    with np.errstate(over="ignore"):
        out = np.concatenate(pts).astype(dt)
    # keep -0.0 distinct from 0.0 but drop other duplicates
    keys = np.where(out == 0, np.copysign(1.0, out), 0.0)
    _, idx = np.unique(np.stack([out.astype(np.float64), keys]), axis=1, return_index=True)
    return out[np.sort(idx)]


def ulp(ref: np.ndarray, dtype: str) -> np.ndarray:
    """Spacing of the ``dtype`` format at ``|ref|`` (subnormal spacing below the least normal)."""
    fi = _finfo(dtype)
    a = np.abs(np.asarray(ref, dtype=np.float64))
    with np.errstate(divide="ignore", invalid="ignore"):
        e = np.where(a > 0, np.floor(np.log2(np.where(a > 0, a, 1.0))), fi.minexp)
    e = np.maximum(e, fi.minexp)
    return np.ldexp(1.0, (e - fi.nmant).astype(np.int64))


def ulp_error(y: np.ndarray, ref: np.ndarray, dtype: str = "float64", ref_lo: np.ndarray | None = None) -> np.ndarray:
    """``|y - ref| / ulp(ref)`` in the ``dtype`` format; 0 for matching inf/NaN, inf on mismatch.

    ``ref_lo`` (optional) is a float64 correction with ``ref + ref_lo`` closer to the exact
    value than ``ref`` (for measuring float64 results below half an ULP).
    """
    y, ref = np.broadcast_arrays(np.asarray(y, dtype=np.float64), np.asarray(ref, dtype=np.float64))
    with np.errstate(over="ignore", invalid="ignore"):
        ref_in_fmt = ref.astype(np.dtype(dtype)).astype(np.float64)
    err = np.zeros(np.broadcast(y, ref).shape)
    nan_y, nan_r = np.isnan(y), np.isnan(ref)
    inf_r = np.isinf(ref_in_fmt)
    special = nan_y | nan_r | inf_r | np.isinf(y)
    same = (nan_y & nan_r) | (inf_r & (y == ref_in_fmt))
    err[special & ~same] = math.inf
    ok = ~special
    diff = y[ok] - ref[ok]
    if ref_lo is not None:
        diff = diff - np.asarray(ref_lo, dtype=np.float64)[ok]
    err[ok] = np.abs(diff) / ulp(ref[ok], dtype)
    return err


def condition_number(f: np.ndarray, fprime: np.ndarray, x: np.ndarray) -> np.ndarray:
    r"""Relative condition number :math:`|x f'(x) / f(x)|` (1 where undefined or not finite).

    At a zero of ``f`` with ``x f' != 0`` it is infinite (any relative error is allowed
    there; the absolute error is reported separately).
    """
    with np.errstate(all="ignore"):
        k = np.abs(np.asarray(x, np.float64) * fprime / f)
    k = np.where(np.isnan(k), 1.0, k)
    k = np.where(np.isfinite(np.asarray(x, np.float64)), k, 1.0)
    return k


@dataclass
class AccuracyResult:
    """Errors of one kernel output against the reference on a point set."""

    entry: str
    variant: str | None
    dtype: str
    output: str
    accuracy: str
    n: int
    max_ulp: float
    p99_ulp: float
    max_abs: float
    max_scaled: float
    worst_x: float
    worst_kappa: float
    target: float
    failures: list[dict[str, float]] = field(default_factory=list)
    #: Inputs where the oracle could not decide the reference (:class:`funclib.oracle.Undecided`);
    #: they are left out of every statistic above and reported here instead.
    undecided: list[float] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """Every decided point within ``target * max(1, kappa)`` ULP."""
        return not self.failures

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["passed"] = self.passed
        return d


def oracle_kappa(expr, symbol, x: np.ndarray, f: np.ndarray, fprime: np.ndarray | None = None) -> np.ndarray:
    r"""Condition number :math:`\kappa(x) = |x g'(x)/g(x)|` of the expression :math:`g` =
    ``expr`` in ``symbol``, from the oracle (:func:`funclib.oracle.reference_value`).

    ``f`` holds the correctly rounded :math:`g(x)`; ``fprime`` the correctly rounded
    :math:`g'(x)` (NaN where undecided), computed here when not given. :math:`\kappa` is then the
    ratio of two correctly rounded values, accurate to a few float64 ulps. A float64 evaluation
    of the formula would not do: where it cancels (:math:`\sqrt{x^2+1} - 1` at
    :math:`|x| < 10^{-8}` gives 0 although :math:`g = x^2/2`) it makes :math:`\kappa`
    infinite, and an infinite :math:`\kappa` lets any error pass.

    Where :math:`g(x)` rounds to 0 or a subnormal (an underflowed :math:`g`, or a root), the
    ratio is decided as one expression :math:`x g'/g` instead; a true root keeps
    :math:`\kappa = \infty` (only the absolute error means something there). Where the oracle
    cannot decide :math:`g'` or the ratio, :math:`\kappa = 1`: the unscaled, strictest
    tolerance. ±inf and NaN inputs have :math:`\kappa = 1`.
    """
    from . import calculus
    from .mpeval import MpEvalError
    from .oracle import Undecided, reference_value

    undecidable = (Undecided, MpEvalError, ArithmeticError, ValueError)
    x = np.asarray(x, np.float64)
    f = np.asarray(f, np.float64)
    derivative = calculus.derivative(expr, symbol, 1)
    if fprime is None:
        fprime = np.full(x.shape, math.nan)
        for i in np.flatnonzero(np.isfinite(x)):
            try:
                fprime[i] = reference_value(derivative, symbol, float(x[i]))
            except undecidable:
                pass
    kappa = condition_number(f, fprime, x)
    kappa[np.isnan(fprime) & ~np.isnan(f)] = 1.0  # g' undecided (or undefined where g is not)
    tiny = np.finfo(np.float64).tiny
    redo = np.flatnonzero(np.isfinite(x) & ~(np.abs(f) >= tiny) & ~np.isnan(f) & np.isfinite(fprime))
    if len(redo):
        ratio = symbol * derivative / expr
        for i in redo:
            try:
                k = abs(reference_value(ratio, symbol, float(x[i])))
            except undecidable:
                # a true root (g = 0 exactly) keeps the ratio of the rounded values (infinite)
                k = kappa[i] if f[i] == 0 else 1.0
            kappa[i] = 1.0 if math.isnan(k) else k
    return kappa


def oracle_condition_number(
    entry,
    x: np.ndarray,
    f: np.ndarray,
    *,
    variant: str | None = None,
    params: Mapping[str, float] | None = None,
    order: int = 0,
) -> np.ndarray:
    r""":func:`oracle_kappa` of the output :math:`f^{(order)}` of an elementwise entry, with
    :math:`f^{(order+1)}` from :meth:`funclib.Entry.reference` (``f`` holds the correctly
    rounded output at ``x``)."""
    from . import calculus

    fprime = entry.reference(x, variant=variant, params=params, order=order + 1, undecided=[])
    g = entry.numeric_expr(variant, params)
    if order:
        g = calculus.derivative(g, entry.symbol, order)
    return oracle_kappa(g, entry.symbol, x, f, fprime)


def measure(
    entry,
    *,
    variant: str | None = None,
    dtype: str = "float64",
    output: str = "value",
    accuracy: str = "fast",
    params: Mapping[str, float] | None = None,
    points: np.ndarray | None = None,
    kernel=None,
    target: float | None = None,
    max_failures: int = 10,
) -> AccuracyResult:
    """Measure one output of an entry's kernel against the correctly rounded reference.

    Parameters
    ----------
    entry : funclib.Entry
        An elementwise entry.
    variant, params : optional
        Which formula, and parameter values (defaults otherwise).
    dtype : {"float64", "float32"}
    output : {"value", "derivative"}
    accuracy : {"fast", "libm"}
        Kernel math (see :func:`funclib.kernels.compile`).
    points : array, optional
        Inputs (cast to ``dtype``); default :func:`sample_points`.
    kernel : callable, optional
        A callable returning the output ``output`` (default: the entry's fused
        value+derivative kernel, so both outputs share one compilation).
    target : float, optional
        ULP budget ``B`` (default :data:`TARGET_ULP`).
    """
    if output not in ("value", "derivative"):
        raise ValueError(f"output must be 'value' or 'derivative', got {output!r}")
    dt = np.dtype(dtype)
    pts = sample_points(dtype) if points is None else np.asarray(points).astype(dt)
    pts = np.array([t for t in pts if math.isnan(t) or float(t) in entry.domain], dtype=dt)
    if kernel is None:
        fused = entry.kernel(dtype=dtype, variant=variant, accuracy=accuracy, params=params)
        index = fused.outputs.index(output)

        def kernel(x):
            return fused(x)[index]

    y = np.asarray(kernel(pts), dtype=np.float64)
    x64 = pts.astype(np.float64)
    order = 0 if output == "value" else 1
    undecided: list[float] = []
    ref = entry.reference(x64, variant=variant, params=params, order=order, undecided=undecided)
    if undecided:  # measured nowhere: an undecided reference is not a NaN reference
        keep = ~np.isin(x64, np.array(undecided))
        pts, x64, y, ref = pts[keep], x64[keep], y[keep], ref[keep]
    err = ulp_error(y, ref, dtype)
    kappa = oracle_condition_number(entry, x64, ref, variant=variant, params=params, order=order)
    budget = TARGET_ULP[dt.name] if target is None else float(target)
    with np.errstate(invalid="ignore", over="ignore"):  # B * kappa may overflow: no limit there
        allowed = budget * np.maximum(1.0, kappa)
        scaled = err / np.maximum(1.0, kappa)
        absolute = np.abs(y - ref)
    finite = np.isfinite(err)
    bad = np.flatnonzero(~(err <= allowed))
    failures = [
        {"x": float(x64[i]), "y": float(y[i]), "reference": float(ref[i]), "ulp": float(err[i]), "kappa": float(kappa[i])}
        for i in bad[:max_failures]
    ]
    worst = int(np.argmax(np.where(np.isnan(err), -1, err))) if len(err) else 0
    abs_ok = np.isfinite(absolute)
    return AccuracyResult(
        entry=entry.id,
        variant=variant,
        dtype=dt.name,
        output=output,
        accuracy=accuracy,
        n=len(pts),
        max_ulp=float(np.max(err)) if len(err) else 0.0,
        p99_ulp=float(np.percentile(err[finite], 99)) if finite.any() else math.inf,
        max_abs=float(np.max(absolute[abs_ok])) if abs_ok.any() else 0.0,
        max_scaled=float(np.max(scaled)) if len(scaled) else 0.0,
        worst_x=float(x64[worst]) if len(x64) else math.nan,
        worst_kappa=float(kappa[worst]) if len(x64) else math.nan,
        target=budget,
        failures=failures,
        undecided=undecided,
    )


def measure_entry(
    entry,
    *,
    dtypes: Sequence[str] = ("float64", "float32"),
    outputs: Sequence[str] = ("value", "derivative"),
    variants: Sequence[str | None] | None = None,
    accuracy: str = "fast",
    points: Mapping[str, np.ndarray] | None = None,
) -> list[AccuracyResult]:
    """:func:`measure` over dtypes, outputs and variants (default: the entry and all variants)."""
    variants = [None, *entry.variants] if variants is None else list(variants)
    results = []
    for variant in variants:
        for dtype in dtypes:
            pts = None if points is None else points.get(dtype)
            for output in outputs:
                results.append(measure(entry, variant=variant, dtype=dtype, output=output, accuracy=accuracy, points=pts))
    return results


# -- references for funclib.kernels.mathlib.vecmath ------------------------------------------------

def _mp_erfc(x):
    if x > 1e6:
        return mpmath.mpf(0)  # far below every subnormal (mpmath's own series check overflows)
    if x < -1e6:
        return mpmath.mpf(2)
    return mpmath.erfc(x)


def _mp_erf(x):
    return mpmath.sign(x) if abs(x) > 1e6 else mpmath.erf(x)


def _mp_tanhshrink(x):
    """x - tanh x with the digits the cancellation costs (2 per decade below 1) added."""
    extra = max(0, -int(mpmath.floor(mpmath.log10(abs(x))))) * 2 if x else 0
    with mpmath.extradps(extra):
        return +(x - mpmath.tanh(x))


#: mpmath definitions and limits at (+inf, -inf) of the vectorizable math functions.
VECMATH_REFERENCES = {
    "exp": (mpmath.exp, (math.inf, 0.0)),
    "expm1": (mpmath.expm1, (math.inf, -1.0)),
    "log": (mpmath.log, (math.inf, math.nan)),
    "log1p": (mpmath.log1p, (math.inf, math.nan)),
    "tanh": (mpmath.tanh, (1.0, -1.0)),
    "erf": (_mp_erf, (1.0, -1.0)),
    "erfc": (_mp_erfc, (0.0, 2.0)),
    "sigmoid": (mp_sigmoid, (1.0, 0.0)),
    "softplus": (mp_softplus, (math.inf, 0.0)),
    "cosh": (mpmath.cosh, (math.inf, math.inf)),
    "sinh": (mpmath.sinh, (math.inf, -math.inf)),
    "sech2": (lambda x: mpmath.sech(x) ** 2, (0.0, 0.0)),
    "tanhshrink": (_mp_tanhshrink, (math.inf, -math.inf)),
    "tanh_sq": (lambda x: mpmath.tanh(x) ** 2, (1.0, 1.0)),
}


def vecmath_reference(name: str, xs: np.ndarray, dps: int = 60) -> tuple[np.ndarray, np.ndarray]:
    """``(hi, lo)``: the exact value of vecmath function ``name`` at each float64 ``x`` as a
    float64 ``hi`` plus the float64 ``lo`` of the remainder (mpmath at ``dps`` digits)."""
    func, (pos, neg) = VECMATH_REFERENCES[name]
    hi = np.empty(len(xs))
    lo = np.zeros(len(xs))
    with mpmath.workdps(dps):
        for i, t in enumerate(map(float, xs)):
            if math.isnan(t):
                hi[i] = math.nan
                continue
            if math.isinf(t):
                hi[i] = pos if t > 0 else neg
                continue
            try:
                v = func(mpmath.mpf(t))
            except (ValueError, ZeroDivisionError):
                v = mpmath.nan
            if isinstance(v, mpmath.mpc) or mpmath.isnan(v):
                hi[i] = math.nan
            elif mpmath.isinf(v):
                hi[i] = float(v)
            else:
                h = float(v)
                hi[i] = h
                if math.isfinite(h):
                    lo[i] = float(v - h)
    return hi, lo
