r"""A budgeted rewrite search for kernel outputs that miss the ULP target (issue 20, item 2).

Herbie-style (Panchekha et al., PLDI 2015), for one output :math:`f` of a kernel in one dtype:

1. **Sample and oracle.** Fixed points (:func:`funclib.accuracy.sample_points` with seed
   :data:`SEED`, another set than the accuracy report's), less the points where the kernel
   returns a limit or an asymptotic law instead of the formula; their correctly rounded values
   (:func:`funclib.oracle.reference_value`; undecided points are left out) and condition
   numbers :math:`\kappa = |x f'/f|`.
2. **Score.** A form is evaluated operation by operation in the dtype (NumPy, constants rounded
   to the dtype: what the kernel's arithmetic does, with NumPy's math functions standing in
   for the kernel's) and scored by ``(points over B·max(1, κ) ULP, max ULP/max(1, κ))``,
   B = :data:`funclib.accuracy.TARGET_ULP` (points with NaN/inf results count first). If the
   generator's form already meets the target on the sample, nothing else is tried.
3. **Candidates.** Every rule of :mod:`funclib.stable_forms.candidates` alone and all of them in
   turn (each checked against the output at 40 digits at :data:`CHECK_POINTS`, a second
   method beside the rule's own derivation), the proven Taylor branches of
   :mod:`funclib.kernels.series_branch` in front of the best two forms, and **regime
   splits** ``a if |x| <= s else b`` and ``a if x < 0 else b`` over all pairs, with ``s``
   between two sample points (a Taylor candidate carries its own threshold and fallback, so
   no split moves a polynomial beyond the interval where its error is proven).
4. **Keep the best** if it beats the generator's form: fewer points with NaN/inf results, or a
   max error at most half as large and no more failing points (NumPy's math functions differ
   from the kernel's by an ULP or two, so a smaller gain on a miss of a few ULP may not be one).
   The work is bounded by :data:`BUDGET_S` seconds per output: candidates are scored in a
   fixed order and the search stops early when time is up (recorded as ``exhausted``;
   otherwise the outcome depends only on the formula and the dtype).

The generated module records the outcome in ``REWRITES`` (see :func:`Choice.record`). The
search runs only where :class:`funclib.kernels.codegen.KernelSpec` asks for it (user formulas by
default, catalog entries with ``rewrite_search=True``), so catalog kernels are unchanged.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import mpmath
import numpy as np
import scipy.special as sc
import sympy as sp

from ..accuracy import TARGET_ULP, oracle_kappa, sample_points, ulp_error
from ..mpeval import mp_evaluate
from ..npeval import NpEvalError, numpy_function
from ..oracle import Undecided, reference_value
from .printer import ErfcScaled, ExpSq, TanhShrink, TanhSq, kernel_form
from ..stable_forms.candidates import RULES
from .series_branch import series_branches

__all__ = ["Choice", "search_output", "search_outputs", "search_version", "evaluate_in_dtype", "SEED", "BUDGET_S"]

#: Seed of the search's sample (the accuracy report uses 0 and 3).
SEED = 20
#: Points per scale (linear and logarithmic) of the search's sample.
N_POINTS = 60
#: Log-uniform points with 1e-20 <= |x| <= 1e20.
N_MID = 120
#: Wall-clock budget per output (seconds).
BUDGET_S = 2.0
#: Inputs where every candidate must equal the output at 40 digits.
CHECK_POINTS = (-2.75, -0.4375, 0.3125, 1.625, 6.5)
#: Required improvement of the max error: at least halved (NumPy's math functions differ from
#: the kernel's by an ULP or two, so a smaller gain on a miss of a few ULP may not be one).
_GAIN = 0.5


def search_version() -> str:
    """Hash of the search's sources (part of a searched kernel's cache key)."""
    import hashlib
    from pathlib import Path

    h = hashlib.sha256()
    here = Path(__file__).parent
    for path in (here / "rewrite_search.py", here.parent / "stable_forms" / "candidates.py", here / "series_branch.py"):
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


@dataclass
class Choice:
    """What the search did for one output."""

    output: str
    baseline: tuple[int, float]  # (failing points, max scaled ULP; inf: NaN/inf results) of the generator's form
    best: tuple[int, float]
    chosen: str  # "generator" or a description of the rewrite
    tried: list[str] = field(default_factory=list)
    exhausted: bool = False

    def record(self) -> list:
        """``[output, max ULP/κ before, after, chosen, number tried, budget exhausted]`` (a max
        error of None: NaN or ±inf where the reference is finite, on some sampled input)."""
        return [self.output, _round(self.baseline[1]), _round(self.best[1]), self.chosen, len(self.tried),
                self.exhausted]


def _round(v: float) -> float | None:
    return float(f"{v:.3g}") if math.isfinite(v) else None


# -- evaluation in the dtype -------------------------------------------------------------------

def evaluate_in_dtype(expr: sp.Expr, x: sp.Symbol, xs: np.ndarray, dtype: str) -> np.ndarray:
    """``expr`` at ``xs`` with every operation rounded to ``dtype`` (constants too); the
    double-length patterns of the kernel printer (``ErfcScaled``, ``ExpSq``) in float64 and
    ``TanhShrink`` by the kernels' routine."""
    dt = np.dtype(dtype)
    with np.errstate(all="ignore"):
        return np.asarray(_ev(expr, x, np.asarray(xs, dt), dt), dtype=dt) * np.ones(len(xs), dt)


def _cond(c, x, xs, dt):
    if c is sp.true:
        return np.True_
    if c is sp.false:
        return np.False_
    if isinstance(c, (sp.And, sp.Or)):
        parts = [_cond(a, x, xs, dt) for a in c.args]
        return (np.logical_and if isinstance(c, sp.And) else np.logical_or).reduce(parts)
    if isinstance(c, sp.Not):
        return ~_cond(c.args[0], x, xs, dt)
    ops = {"<": np.less, "<=": np.less_equal, ">": np.greater, ">=": np.greater_equal, "==": np.equal,
           "!=": np.not_equal}
    return ops[c.rel_op](_ev(c.lhs, x, xs, dt), _ev(c.rhs, x, xs, dt))


def _ev(e, x, xs, dt):
    if e == x:
        return xs
    if e.is_number and not e.has(sp.zoo, sp.nan):
        return dt.type(float(e))
    if e.is_Add or e.is_Mul:
        vals = [_ev(a, x, xs, dt) for a in e.args]
        out = vals[0]
        for v in vals[1:]:
            out = out + v if e.is_Add else out * v
        return out
    if e.is_Pow:
        b = _ev(e.base, x, xs, dt)
        if e.exp == sp.S.Half:
            return np.sqrt(b)
        if e.exp == -sp.S.Half:
            return dt.type(1) / np.sqrt(b)
        if e.exp.is_Integer and abs(int(e.exp)) <= 8:
            n = abs(int(e.exp))
            out = b
            for _ in range(n - 1):
                out = out * b
            return out if e.exp > 0 else dt.type(1) / out
        return np.power(b, _ev(e.exp, x, xs, dt))
    if isinstance(e, sp.Piecewise):
        vals = [_ev(v, x, xs, dt) for v, _ in e.args]
        conds = [_cond(c, x, xs, dt) for _, c in e.args]
        return np.select([np.broadcast_to(c, xs.shape) for c in conds],
                         [np.broadcast_to(v, xs.shape) for v in vals], default=np.nan)
    if isinstance(e, (sp.Max, sp.Min)):
        vals = [_ev(a, x, xs, dt) for a in e.args]
        out = vals[0]
        for v in vals[1:]:
            out = (np.maximum if isinstance(e, sp.Max) else np.minimum)(out, v)
        return out
    if isinstance(e, ErfcScaled):
        u = np.asarray(_ev(e.args[0], x, xs, dt), np.float64)
        return sc.erfc(float(e.args[1]) * u).astype(dt)
    if isinstance(e, ExpSq):
        u = np.asarray(_ev(e.args[0], x, xs, dt), np.float64)
        return np.exp(float(e.args[1]) * u * u).astype(dt)
    if isinstance(e, TanhSq):  # as the kernel: float64 tanh, squared, rounded once
        t = np.tanh(np.asarray(_ev(e.args[0], x, xs, dt), np.float64))
        return (t * t).astype(dt)
    if isinstance(e, TanhShrink):  # the kernel's own routine, one call per point
        from .mathlib.vecmath import tanhshrink_f64

        u = np.asarray(_ev(e.args[0], x, xs, dt), np.float64) * np.ones(len(xs))
        return np.array([tanhshrink_f64(float(v)) for v in u]).astype(dt)
    func = numpy_function(e)
    if func is None:
        raise NpEvalError(f"cannot evaluate {e.func.__name__} in the dtype")
    args = [np.asarray(_ev(a, x, xs, dt), dt) for a in e.args]
    return np.asarray(func(*args)).astype(dt)


# -- the search -------------------------------------------------------------------------------

@dataclass
class _Sample:
    xs: np.ndarray  # in the dtype
    ref: np.ndarray
    kappa: np.ndarray


def _sample(e: sp.Expr, x: sp.Symbol, dtype: str, far: list[tuple[int, float]]) -> _Sample:
    rng = np.random.default_rng(SEED)
    # the harness's spread over the whole range, plus log-uniform points where cancellations
    # live (|x| from 1e-20 to 1e20), which a spread over all 600 decades visits rarely
    mid = 10.0 ** rng.uniform(-20, 20, N_MID) * rng.choice([-1.0, 1.0], N_MID)
    pts = np.concatenate([sample_points(dtype, n_linear=N_POINTS, n_log=N_POINTS, seed=SEED), mid.astype(dtype)])
    pts = np.unique(pts[np.isfinite(pts)])
    for direction, t in far:  # beyond t the kernel returns a limit or a law, not this form
        pts = pts[~(direction * pts.astype(np.float64) > t)]
    keep, ref = [], []
    for p in pts:
        try:
            ref.append(reference_value(e, x, float(p)))
            keep.append(p)
        except (Undecided, ArithmeticError, ValueError):
            continue
    xs = np.array(keep, dtype=dtype)
    ref = np.array(ref, dtype=np.float64)
    # kappa from the oracle, as the harness: a float64 evaluation of a cancelling form rounds f
    # to 0 and makes kappa infinite, which would hide exactly the errors the search is for
    return _Sample(xs, ref, oracle_kappa(e, x, xs.astype(np.float64), ref))


def _errors(form: sp.Expr, x: sp.Symbol, s: _Sample, dtype: str) -> np.ndarray:
    try:
        y = evaluate_in_dtype(form, x, s.xs, dtype)
    except (NpEvalError, TypeError, ValueError, ZeroDivisionError, OverflowError):
        return np.full(len(s.xs), math.inf)
    with np.errstate(all="ignore"):
        return ulp_error(y, s.ref, dtype) / np.maximum(1.0, s.kappa)


def _key(err: np.ndarray, target: float, ops: int = 0) -> tuple[int, int, float, int]:
    """``(points with NaN/inf results where the reference is finite, points over the target,
    max finite error, operations)``: smaller is better, in this order."""
    bad = ~np.isfinite(err)
    fails = int(np.count_nonzero(~(err <= target)))
    worst = float(np.max(np.where(bad, 0.0, err))) if len(err) else 0.0
    return int(np.count_nonzero(bad)), fails, worst, ops


def _summary(key: tuple) -> tuple[int, float]:
    """``(points over the target, max error)`` of a key, the max inf if any result was not finite."""
    return key[1], (math.inf if key[0] else key[2])


def _agrees(a: sp.Expr, b: sp.Expr, x: sp.Symbol) -> bool:
    """``a`` and ``b`` equal at 40 digits at :data:`CHECK_POINTS` (where both are defined)."""
    for t in CHECK_POINTS:
        try:
            va, vb = mp_evaluate(a, {x: t}, 40), mp_evaluate(b, {x: t}, 40)
        except Exception:  # noqa: BLE001 - undefined at t (pole, domain): not a disagreement
            continue
        if mpmath.isnan(va) and mpmath.isnan(vb):
            continue
        if not abs(va - vb) <= mpmath.mpf(10) ** -30 * max(1, abs(va)):
            return False
    return True


def _apply(rule, e: sp.Expr, x: sp.Symbol) -> sp.Expr | None:
    """``rule(e)`` if it changes ``e`` and passes the 40-digit check, else None."""
    try:
        cand = rule(e, x)
    except (TypeError, ValueError, sp.PolynomialError, RecursionError):
        return None
    return cand if cand != e and _agrees(cand, e, x) else None


def _split_value(lo: float, hi: float, dtype: str) -> float:
    """A short float ``v`` of ``dtype`` with ``lo <= v < hi`` (both >= 0; ``lo`` if none
    shorter lies between them)."""
    mid = math.sqrt(lo * hi) if lo > 0 else hi / 2
    if mid == 0:
        return lo
    m, ex = math.frexp(mid)
    for bits in range(2, 25):
        v = math.ldexp(round(m * 2**bits), ex - bits)
        if lo < v < hi and float(np.dtype(dtype).type(v)) == v:
            return v
    return lo


def search_outputs(names: list[str], exprs: list[sp.Expr], forms: list[sp.Expr], limits: list, x: sp.Symbol,
                   dtype: str) -> tuple[list[sp.Expr], list[list]]:
    """Run :func:`search_output` on every parameter-free output of a kernel; ``forms`` are the
    generator's kernel forms, ``limits`` the ``(at +inf, at -inf)`` limits of
    :func:`funclib.kernels.codegen.symbolic_outputs`. Returns the forms to print and the
    records (:meth:`Choice.record`) for the module's ``REWRITES``."""
    out, records = [], []
    for name, e, form, lims in zip(names, exprs, forms, limits):
        if e.free_symbols - {x}:
            out.append(form)
            records.append([name, None, None, "not searched: parameters", 0, False])
            continue
        kept, choice = search_output(name, e, x, dtype, _far(e, x, dtype, lims), base=form)
        out.append(kept)
        records.append(choice.record())
    return out, records


def _far(e: sp.Expr, x: sp.Symbol, dtype: str, lims) -> list[tuple[int, float]]:
    """Where the kernel returns an asymptotic law or a saturated limit instead of the formula
    (the same thresholds :func:`funclib.kernels.codegen.kernel_body` prints)."""
    from .codegen import asymptotic_branch
    from .limits import saturation_threshold

    far = []
    for lim, direction in zip(lims, (1, -1)):
        if lim is None or not lim.value.is_finite or lim.value == 0:
            law = asymptotic_branch(e, x, direction, dtype)
            if law is not None:
                far.append((direction, float(law[1])))
                if lim is not None and lim.value == 0:
                    continue  # as in kernel_body: the law gives the limit 0 too
        if lim is not None and lim.value.is_number and lim.value.is_finite:
            try:
                t = saturation_threshold(e, x, direction, lim.value, dtype, {})
            except Exception:  # noqa: BLE001 - no threshold: the limit is used at +-inf only
                t = None
            if t is not None:
                far.append((direction, float(t)))
    return far


def search_output(name: str, e: sp.Expr, x: sp.Symbol, dtype: str, far: list[tuple[int, float]],
                  budget: float = BUDGET_S, base: sp.Expr | None = None) -> tuple[sp.Expr, Choice]:
    """The kernel form of output ``e`` (called ``name``) that the search keeps, and its record.

    ``far`` lists ``(direction, t)``: beyond ``direction * x > t`` the kernel does not use this
    form (limits, asymptotic laws), so those inputs are not scored. Without a better candidate
    the generator's form :func:`funclib.kernels.printer.kernel_form` is returned.
    """
    start = time.perf_counter()
    base = kernel_form(e, x) if base is None else base
    target = TARGET_ULP[dtype]
    s = _sample(e, x, dtype, far)
    base_err = _errors(base, x, s, dtype)
    base_key = _key(base_err, target)
    choice = Choice(name, _summary(base_key), _summary(base_key), "generator")
    if base_key[1] == 0 or len(s.xs) == 0:
        return base, choice
    forms: dict[str, tuple[sp.Expr, np.ndarray]] = {"generator": (base, base_err)}

    def out_of_time() -> bool:
        if time.perf_counter() - start > budget:
            choice.exhausted = True
        return choice.exhausted

    def add(label: str, cand: sp.Expr) -> None:
        try:
            form = kernel_form(cand, x)
        except Exception:  # noqa: BLE001 - a candidate the generator cannot take is no candidate
            return
        choice.tried.append(label)
        forms[label] = (form, _errors(form, x, s, dtype))

    composed, singles = e, []
    for rule_name, rule in RULES.items():
        if out_of_time():
            break
        cand = _apply(rule, e, x)
        if cand is not None:
            singles.append(cand)
            add(rule_name, cand)
        cand = _apply(rule, composed, x)
        composed = composed if cand is None else cand
    if composed != e and composed not in singles and not out_of_time():
        add("all rules", composed)
    ranked = sorted(forms, key=lambda k: _key(forms[k][1], target, sp.count_ops(forms[k][0])))
    if not out_of_time():
        try:
            branches = series_branches(e, x, dtype, deadline=start + budget)
        except Exception:  # noqa: BLE001 - SeriesError or a failure of the ball arithmetic: no branch
            branches = []
        for br in branches:
            if out_of_time():
                break
            poly = br.polynomial(x)
            inside = np.abs(s.xs.astype(np.float64)) < br.threshold
            p_err = np.where(inside, _errors(poly, x, s, dtype), math.inf)
            t = sp.Rational(br.threshold)
            for other in ranked[:2]:
                label = (f"Taylor degree {br.degree} for |x| < {br.threshold:.3g} "
                         f"(truncation <= {br.bound:.1e}), else {other}")
                choice.tried.append(label)
                form = sp.Piecewise((poly, sp.Abs(x) < t), (forms[other][0], True))
                forms[label] = (form, np.where(inside, p_err, forms[other][1]))
    best_label = min(forms, key=lambda k: _key(forms[k][1], target, sp.count_ops(forms[k][0])))
    best_form, best_err = forms[best_label]
    best_key = _key(best_err, target)
    if not out_of_time():
        split = _best_split(forms, s, x, dtype, target)
        if split is not None and split[1][:3] < best_key[:3]:
            best_label, best_form, best_key = split[0], split[2], split[1]
            choice.tried.append("regime splits")
    fewer_nonfinite = best_key[0] < base_key[0]
    better = fewer_nonfinite or (best_key[0] == base_key[0] and best_key[2] < _GAIN * base_key[2]
                                 and best_key[1] <= base_key[1])
    if better and _printable(best_form, x, dtype):
        choice.best, choice.chosen = _summary(best_key), best_label
        return best_form, choice
    return base, choice


def _printable(form: sp.Expr, x: sp.Symbol, dtype: str) -> bool:
    """Whether the kernel printer takes ``form`` (in both accuracies)."""
    from .printer import Printer

    try:
        for accuracy in ("fast", "libm"):
            Printer(dtype, accuracy, {x: "xi"}).expr(form)
    except Exception:  # noqa: BLE001 - KernelError or anything else: keep the generator's form
        return False
    return True


def _best_split(forms, s: _Sample, x: sp.Symbol, dtype: str, target: float):
    """The best ``a if |x| <= t else b`` and ``a if x < 0 else b`` over all pairs of forms."""
    a64 = np.abs(s.xs.astype(np.float64))
    order = np.argsort(a64, kind="stable")
    mags = a64[order]
    labels = list(forms)
    best = None
    neg = s.xs.astype(np.float64) < 0

    def running(e: np.ndarray):
        """Counts of non-finite and of failing errors and the max finite error over the first
        i entries of ``e``, i = 0 .. n."""
        bad = ~np.isfinite(e)
        return (np.concatenate([[0], np.cumsum(bad)]), np.concatenate([[0], np.cumsum(~(e <= target))]),
                np.concatenate([[0.0], np.maximum.accumulate(np.where(bad, 0.0, e))]))

    def prefix(err: np.ndarray):
        return running(err[order])

    def suffix(err: np.ndarray):  # over the points from i on
        return tuple(a[::-1] for a in running(err[order][::-1]))

    for la in labels:
        ea = forms[la][1]
        pa = prefix(ea)
        for lb in labels:
            if la == lb:
                continue
            eb = forms[lb][1]
            sb = suffix(eb)
            nonfinite, fails, worst = pa[0] + sb[0], pa[1] + sb[1], np.maximum(pa[2], sb[2])
            for i in range(1, len(mags)):  # a on the first i points (by |x|), b on the rest
                if mags[i - 1] == mags[i]:
                    continue
                key = (int(nonfinite[i]), int(fails[i]), float(worst[i]))
                if best is None or key < best[4]:
                    best = ("abs", la, lb, i, key)
            e_sign = np.where(neg, ea, eb)
            key = _key(e_sign, target)[:3]
            if best is None or key < best[4]:
                best = ("sign", la, lb, None, key)
    if best is None:
        return None
    kind, la, lb, i, key = best
    fa_, fb_ = forms[la][0], forms[lb][0]
    if kind == "sign":
        return (f"{la} for x < 0, else {lb}", (*key, 0), sp.Piecewise((fa_, x < 0), (fb_, True)))
    t = _split_value(float(mags[i - 1]), float(mags[i]), dtype)
    return (f"{la} for |x| <= {t:.4g}, else {lb}", (*key, 0),
            sp.Piecewise((fa_, sp.Abs(x) <= sp.Rational(t)), (fb_, True)))

