r"""Exhaustive float32 accuracy: every one of the 2^32 float32 inputs, value and derivative.

For each input ``x`` the float32 kernel's result ``y`` is compared with a float64 reference
``r``: the entry's float64 kernel (by default the vectorized ``accuracy="fast"`` one;
``"libm"`` builds it on the C library's scalar routines, 1.1–2.4× slower per chunk). Its error
is a few float64 ULP — bounded by the accuracy tests against the arb oracle,
:math:`4\max(1, \kappa)` ULP for both kernels — i.e. about :math:`2^{-27}` of a float32 ULP.
Because the fast reference shares funclib's math library, every :data:`CROSS_CHECK_EVERY`-th
input is also evaluated by the libm kernel (glibc's elementary functions, an independent
implementation) and the largest disagreement is reported as ``reference_gap`` in float32 ULP;
a gap above :data:`MIDPOINT_GUARD` / 4 fails the run (:func:`combine` sets ``reference_ok``).
Where the output is ill-conditioned (:math:`\kappa` in the thousands: GELU's far left tail,
next to a root of the output) the reference's error is :math:`\kappa\,2^{-29}` float32 ULP and
can exceed the guard; the sampled gap shows it, but not every such input is sampled.

The correctly rounded float32 result is ``r`` rounded to float32, except where ``r`` lies
within :data:`MIDPOINT_GUARD` float32 ULP of a rounding midpoint: there the rounding is
undecided from ``r``. Where the expression is rational (piecewise linear rectifiers, hard
sigmoid and swish, their derivatives) exact rational arithmetic decides it
(:mod:`funclib.rational_eval`), exact midpoints included; otherwise the arb oracle
(:meth:`funclib.entry.Entry.reference`) decides it (if
the oracle's correctly rounded float64 sits exactly on the midpoint, an arb enclosure at
256 bits decides on which side of it the true value lies, or that it is the midpoint exactly
(then round-half-even is right), :func:`tie_side`; where that enclosure cannot separate it,
f - m is cancelled symbolically with its rational terms evaluated exactly,
:func:`_cancelled_side`; a point neither decides counts as ``undecided``). Reported per
(entry, output):

* ``max_ulp``: the largest :math:`|y - r| / \operatorname{ulp}_{32}(r)` (``r`` is float64:
  the error of the error is below :math:`2^{-20}` ULP);
* ``not_correctly_rounded``: ``y`` differs from the correctly rounded float32;
* ``not_faithful``: ``y`` is not one of the two float32 numbers around the true value
  (:math:`|y - r| \ge \operatorname{ulp}_{32}`);
* the worst inputs, NaN/inf mismatches (``special_mismatch``), and the time taken.

Inputs are the bit patterns themselves, so NaN payloads (any NaN in must give NaN out), ±inf,
subnormals and ±0 are all covered. Where the reference is NaN or rounds to an infinity (outside
the domain, overflow), ``y`` must be a NaN or the same infinity; inputs outside the entry's
domain other than NaN are not counted.

One chunk (:func:`chunk_results`) is one fused pass (:func:`scanner`): per block of
:data:`BLOCK` inputs it writes the bit patterns into buffers allocated once, calls the two
kernels' compiled array loops on them and reduces the counts and the worst inputs in place in
compiled loops, without temporaries. :mod:`funclib.jobs` runs chunks as Dask tasks;
:func:`combine` merges them.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from functools import lru_cache

import numpy as np
from numba import njit

from .kernels import numba_cache  # noqa: F401 - Numba's cache under the funclib cache, not the package
from .rational_eval import rational_function, round_rational

__all__ = ["ChunkResult", "chunk_results", "combine", "scanner", "CHUNK_BITS", "MIDPOINT_GUARD",
           "CROSS_CHECK_EVERY", "REFERENCES", "BLOCK", "tie_side", "TIE_PRECISIONS"]

#: Inputs per chunk: 2^CHUNK_BITS (2^26: 64 chunks cover all float32 bit patterns).
CHUNK_BITS = 26
#: Distance (in float32 ULP) from a rounding midpoint below which the oracle decides.
MIDPOINT_GUARD = 2.0**-20
#: With the fast reference, the libm kernel also evaluates every input whose bit pattern is a
#: multiple of this (1/64 of the inputs: 2^26 per entry).
CROSS_CHECK_EVERY = 64
#: Inputs per block of the fused pass: its buffers (~600 KiB) stay in L2.
BLOCK = 1 << 14
#: The float64 reference kernels (``accuracy=`` of :meth:`funclib.Entry.kernel`).
REFERENCES = ("fast", "libm")
WORST_KEPT = 5
_FLT_MAX = float(np.finfo(np.float32).max)
_OUTPUTS = ("value", "derivative")


@dataclass
class ChunkResult:
    """What one chunk of inputs gave (see the module docstring)."""

    entry: str
    output: str
    start: int
    count: int
    reference: str = "fast"
    checked: int = 0
    max_ulp: float = 0.0
    worst: list[tuple[float, float, float, float]] = field(default_factory=list)  # (ulp, x, y, ref)
    not_correctly_rounded: int = 0
    not_faithful: int = 0
    special_mismatch: int = 0
    oracle_calls: int = 0
    undecided: int = 0
    reference_gap: float = 0.0  # largest |fast - libm| in float32 ULP on the cross-check inputs
    cross_checked: int = 0
    seconds: float = 0.0  # CPU time of the worker thread (time.thread_time)

    def as_json(self) -> dict:
        return asdict(self)


@njit(cache=True, inline="always")
def _ulp32(r: float) -> float:
    """Spacing of float32 at |r| (r finite float64): 2^(e - 23) for 2^e <= |r| < 2^(e + 1), the
    subnormal spacing 2^-149 below the least normal (and at 0). Read off the exponent bits:
    ``math.frexp`` is a libm call per point."""
    e = ((np.float64(r).view(np.int64) >> 52) & 0x7FF) - 1023
    return np.int64((max(e, -126) - 23 + 1023) << 52).view(np.float64)


@njit(cache=True, inline="always")
def _inv_ulp32(r: float) -> float:
    """1 / :func:`_ulp32` (a power of two, so multiplying by it is exact like the division)."""
    e = ((np.float64(r).view(np.int64) >> 52) & 0x7FF) - 1023
    return np.int64((23 - max(e, -126) + 1023) << 52).view(np.float64)


@njit(cache=True, nogil=True)
def _reduce_block(y, r, x64, b0, m, restricted, lo, hi, lo_closed, hi_closed, guard, o,
                  counts, worst_err, worst_row, near, n_near):
    """Count one output of one block into ``counts[o]`` (checked, not correctly rounded, not
    faithful, special mismatches), keep its worst points and append the points whose rounding
    ``r`` leaves open to ``near`` (grown when full; returned with its fill). Specials (``r``
    rounds to inf/NaN) must match. Local accumulators: the common path touches no memory."""
    checked = 0
    wrong = 0
    unfaithful = 0
    special = 0
    least = worst_err[o, 0]
    for i in range(m):
        xi = x64[i]
        if restricted and not np.isnan(xi):
            if not ((xi > lo or (xi == lo and lo_closed)) and (xi < hi or (xi == hi and hi_closed))):
                continue
        checked += 1
        ri = r[i]
        yi = np.float64(y[i])
        r32 = np.float64(np.float32(ri))
        if abs(r32) <= _FLT_MAX:  # finite
            inv = _inv_ulp32(ri)
            err = abs(yi - ri) * inv
            if not err < 1.0:  # not faithful (or y is NaN)
                unfaithful += 1
                if err != err:
                    err = np.inf
            # ri lies between r32 and its float32 neighbour toward ri, ulp32(ri) apart (also
            # just below a power of two): the rounding is left open within guard of half-way
            if abs(abs(ri - r32) * inv - 0.5) <= guard:
                if n_near == near.shape[0]:
                    grown = np.empty((2 * n_near, 4))
                    grown[:n_near] = near
                    near = grown
                near[n_near, 0] = o
                near[n_near, 1] = b0 + i
                near[n_near, 2] = yi
                near[n_near, 3] = ri
                n_near += 1
            elif yi != r32:
                wrong += 1
        elif yi == r32 or (np.isnan(yi) and np.isnan(r32)):
            continue
        else:
            special += 1
            wrong += 1
            err = np.inf
        if err > least:
            _keep_worst(worst_err[o], worst_row[o], err, b0 + i, yi, ri)
            least = worst_err[o, 0]
    counts[o, 0] += checked
    counts[o, 1] += wrong
    counts[o, 2] += unfaithful
    counts[o, 3] += special
    return near, n_near


@njit(cache=True)
def _keep_worst(worst_err, worst_row, err, bits, yi, ri):
    """Insert (err, row) into the WORST_KEPT largest, kept sorted ascending."""
    if err <= worst_err[0]:
        return
    k = 0
    while k + 1 < worst_err.shape[0] and err > worst_err[k + 1]:
        worst_err[k] = worst_err[k + 1]
        worst_row[k] = worst_row[k + 1]
        k += 1
    worst_err[k] = err
    worst_row[k, 0] = bits
    worst_row[k, 1] = yi
    worst_row[k, 2] = ri


@njit(cache=True, inline="always")
def _gap(rf: float, rl: float) -> float:
    """|rf - rl| in float32 ULP at rl; a special value must be the same special."""
    if np.isfinite(rl) and np.isfinite(rf):
        return abs(rf - rl) / _ulp32(rl)
    if rf == rl or (np.isnan(rf) and np.isnan(rl)):
        return 0.0
    return np.inf


@njit(cache=True, nogil=True)
def _fill(bits, x64, b0, m):
    """The bit patterns ``b0 .. b0 + m - 1`` into ``bits`` (whose float32 view is the input)
    and their float64 values into ``x64`` (NaN payloads give NaN)."""
    x32 = bits.view(np.float32)
    for i in range(m):
        bits[i] = np.uint32(b0 + i)
    for i in range(m):
        x64[i] = np.float64(x32[i])


@njit(cache=True, nogil=True)
def _gather(x64, b0, m, every, ci, cx):
    """The inputs whose bit pattern is divisible by ``every``: positions into ``ci``, values
    into ``cx``; returns how many."""
    nc = 0
    for i in range((every - b0 % every) % every, m, every):
        ci[nc] = i
        cx[nc] = x64[i]
        nc += 1
    return nc


@njit(cache=True, nogil=True)
def _gaps(r0, r1, ci, c0, c1, nc, gap):
    """Raise ``gap[o]`` to the largest reference gap of output ``o`` on the gathered inputs."""
    for j in range(nc):
        i = ci[j]
        gap[0] = max(gap[0], _gap(r0[i], c0[j]))
        gap[1] = max(gap[1], _gap(r1[i], c1[j]))


def scanner(run32: Callable, run64: Callable, check64: Callable | None) -> Callable:
    """The fused pass over a bit range for these kernel array loops (``module.run``).

    ``scan(start, count, lo, hi, lo_closed, hi_closed, p32, p64, pcheck, guard, every)``
    returns ``(counts, worst_err, worst_row, near, gap, n_cross)``: ``counts[o]`` = (checked,
    not correctly rounded, not faithful, special mismatches) of output ``o`` (0 value,
    1 derivative), the WORST_KEPT largest errors with rows (bits, y, r), the rows (output,
    bits, y, r) left to the oracle, the largest reference gap per output and how many inputs
    the cross-check saw (``check64`` runs on bit patterns divisible by ``every``; None: none).

    Each block of :data:`BLOCK` inputs is a handful of calls of compiled loops on buffers
    allocated once per scan: the bit patterns, the two kernels, the cross-check, one reduction
    per output. Everything is compiled once and cached on disk (a loop compiled around each
    entry's kernels cost ~10 s per entry and process); the calls cost ~1 ns per input.
    """
    def scan(start, count, lo, hi, lo_closed, hi_closed, p32, p64, pcheck, guard, every):
        bits = np.empty(BLOCK, np.uint32)
        x32 = bits.view(np.float32)
        x64, r0, r1, cx, c0, c1 = (np.empty(BLOCK) for _ in range(6))
        y0, y1 = np.empty(BLOCK, np.float32), np.empty(BLOCK, np.float32)
        ci = np.empty(BLOCK, np.int64)
        counts = np.zeros((2, 4), np.int64)
        worst_err = np.full((2, WORST_KEPT), -1.0)
        worst_row = np.zeros((2, WORST_KEPT, 3))
        near, n_near = np.empty((256, 4)), 0
        gap, n_cross = np.zeros(2), 0
        restricted = lo > -math.inf or hi < math.inf
        lo, hi, lo_closed, hi_closed, guard = float(lo), float(hi), bool(lo_closed), bool(hi_closed), float(guard)
        full = (x32, x64, y0, y1, r0, r1)
        for b0 in range(start, start + count, BLOCK):
            m = min(BLOCK, start + count - b0)
            _fill(bits, x64, b0, m)
            v32, v64, w0, w1, s0, s1 = full if m == BLOCK else (a[:m] for a in full)
            run32(v32, w0, w1, *p32)
            run64(v64, s0, s1, *p64)
            if check64 is not None:
                nc = _gather(x64, b0, m, every, ci, cx)
                check64(cx[:nc], c0[:nc], c1[:nc], *pcheck)
                _gaps(r0, r1, ci, c0, c1, nc, gap)
                n_cross += nc
            for o, (y, r) in enumerate(((y0, r0), (y1, r1))):
                near, n_near = _reduce_block(y, r, x64, b0, m, restricted, lo, hi, lo_closed, hi_closed, guard, o,
                                             counts, worst_err, worst_row, near, n_near)
        return counts, worst_err, worst_row, near[:n_near], gap, n_cross

    return scan


def _x(bits) -> np.ndarray:
    """float64 values of float32 bit patterns (NaN payloads give NaN)."""
    with np.errstate(invalid="ignore"):
        return np.asarray(bits, dtype=np.uint64).astype(np.uint32).view(np.float32).astype(np.float64)


def chunk_results(entry_id: str, start: int, count: int, outputs: tuple[str, ...] = _OUTPUTS,
                  reference: str = "fast") -> list[ChunkResult]:
    """Check the float32 kernel on the bit patterns ``start .. start + count - 1``: one
    :class:`ChunkResult` per output, from one pass of :func:`scanner` (value and derivative
    together) plus the oracle calls for the points it leaves undecided.

    Raises
    ------
    ValueError
        An unknown output or reference, or a bit range outside ``0 .. 2^32``.
    """
    import funclib

    bad = [o for o in outputs if o not in _OUTPUTS]
    if bad or not outputs:
        raise ValueError(f"outputs must be among {_OUTPUTS}, got {tuple(outputs)}")
    if reference not in REFERENCES:
        raise ValueError(f"reference must be one of {REFERENCES}, got {reference!r}")
    if not (0 <= start and count >= 0 and start + count <= 1 << 32):
        raise ValueError(f"bit range {start} + {count} is outside 0 .. 2^32")
    t0 = time.thread_time()  # CPU time of this thread: a worker's share of a busy machine
    entry = funclib.get(entry_id)
    k32 = entry.kernel(dtype="float32")
    k64 = entry.kernel(dtype="float64", accuracy=reference)
    kcheck = entry.kernel(dtype="float64", accuracy="libm") if reference == "fast" else None
    scan = scanner(k32.module.run, k64.module.run, kcheck.module.run if kcheck else None)
    pcheck = param_tuple(kcheck) if kcheck else param_tuple(k64)
    d = entry.domain
    counts, worst_err, worst_row, near, gap, n_cross = scan(
        start, count, float(d.lo), float(d.hi), bool(d.lo_closed), bool(d.hi_closed),
        param_tuple(k32), param_tuple(k64), pcheck, MIDPOINT_GUARD, CROSS_CHECK_EVERY)
    shared = (time.thread_time() - t0) / len(outputs)  # the fused pass, split between the outputs
    results = []
    for output in outputs:
        t1 = time.thread_time()
        o = _OUTPUTS.index(output)
        res = ChunkResult(entry_id, output, start, count, reference=reference,
                          checked=int(counts[o, 0]), not_correctly_rounded=int(counts[o, 1]),
                          not_faithful=int(counts[o, 2]), special_mismatch=int(counts[o, 3]),
                          reference_gap=float(gap[o]), cross_checked=int(n_cross))
        res.worst = [(float(e), float(_x([b])[0]), float(y), float(r))
                     for e, (b, y, r) in sorted(zip(worst_err[o], worst_row[o]), key=lambda t: -t[0]) if e >= 0]
        res.max_ulp = res.worst[0][0] if res.worst else 0.0
        rows = near[near[:, 0] == o]
        if rows.size:
            _oracle(entry, res, _x(rows[:, 1].astype(np.uint64)), rows[:, 2], rows[:, 3], o)
        res.seconds = shared + time.thread_time() - t1
        results.append(res)
    return results


def param_tuple(kernel) -> tuple:
    """The kernel's default parameter values, as the scalars its array loop takes."""
    return tuple(kernel._param_values({}))


def _oracle(entry, res: ChunkResult, x: np.ndarray, y: np.ndarray, r: np.ndarray, order: int) -> None:
    """Decide the rounding of the points ``r`` leaves open: exactly where the expression is
    rational (:func:`_exact_roundings`), else with the arb oracle."""
    res.oracle_calls = int(x.size)
    expr = entry.reference_expr(order=order)
    decided = _exact_roundings(expr, entry.symbol, x)
    if decided is not None:
        exact_cr, done = decided
        res.not_correctly_rounded += int(np.sum(y[done] != exact_cr[done]))
        x, y, r = x[~done], y[~done], r[~done]
        if not x.size:
            return
    exact = entry.reference(x, order=order)
    with np.errstate(over="ignore"):
        cr = exact.astype(np.float32).astype(np.float64)
        r32 = r.astype(np.float32).astype(np.float64)
    half = np.array([_ulp32(v) / 2 for v in r])  # the spacing around r (see _reduce_block)
    ties = np.flatnonzero(np.abs(exact - r32) == half)
    if ties.size:
        for i in ties:
            side = tie_side(expr, entry.symbol, float(x[i]), float(exact[i]))
            if side is None:
                res.undecided += 1
            elif side:  # the true value is above (+1) or below (-1) the midpoint: its neighbour there
                # the two float32 neighbours of the midpoint are r32 and its mirror image
                cr[i] = r32[i] if (r32[i] - exact[i]) * side > 0 else 2.0 * exact[i] - r32[i]
            # side 0: the value is the midpoint itself, and round-half-even (cr) is correct
    res.not_correctly_rounded += int(np.sum(y != cr))


def _exact_roundings(expr, symbol, x: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """The correctly rounded float32 values of a rational ``expr`` (:mod:`funclib.rational_eval`)
    at the finite points ``x`` and a mask of the points so decided (not at poles or infinite
    ``x``); None when ``expr`` is not rational. Exact: it decides exact midpoints (leaky ReLU's
    x/100 at subnormal outputs) that no enclosure can, and is several times faster than arb."""
    evaluate = rational_function(expr, symbol)
    if evaluate is None:
        return None
    out, done = np.zeros(x.shape), np.zeros(x.shape, dtype=bool)
    for i, t in enumerate(x.tolist()):
        if math.isfinite(t):
            try:
                out[i] = round_rational(evaluate(Fraction(t)), "float32")
                done[i] = True
            except ArithmeticError:
                pass
    return out, done


#: Bits of the arb enclosures that decide a tie (the value against the float32 midpoint). One
#: precision, enough for ties at subnormal outputs (GELU's x/2 + x^2/sqrt(2 pi) at x = 2^-149
#: is 2^-150 relative above the midpoint); where 256 bits do not separate the value, more rarely
#: do (tanhshrink x - tanh x at x >= 2^24 differs from x - 1 by e^(-2x)), and each try costs.
TIE_PRECISIONS = (256,)


def tie_side(expr, symbol, x: float, midpoint: float) -> int | None:
    """+1 or -1 where an arb enclosure of ``expr`` at ``x`` lies above or below ``midpoint``, 0
    where an exact ball (radius 0) equals it (the value is the midpoint: round-half-even is the
    correct rounding, as for softshrink's x - 1/2 at large x); None where no enclosure at
    :data:`TIE_PRECISIONS` bits decides (or the expression cannot be enclosed)."""
    import flint

    from .oracle import enclosure

    mid = flint.arb(midpoint)
    ball = None
    for prec in TIE_PRECISIONS:
        ball = enclosure(expr, symbol, x, prec)
        if ball is None:
            return None
        if ball > mid:
            return 1
        if ball < mid:
            return -1
        if ball.rad() == 0 and ball.mid() == mid:
            return 0
    return _cancelled_side(expr, symbol, x, midpoint, ball)


def _cancelled_side(expr, symbol, x: float, midpoint: float, ball) -> int | None:
    r"""The side of the midpoint from ``f - m`` with the cancellation done symbolically.

    ``f = A + B`` with ``A`` the rational terms: ``q = A(x) - m`` is an exact rational, and
    ``q + B`` brought over one denominator in exponential form cancels what no enclosure can
    (tanhshrink :math:`x - \tanh x` at :math:`x \ge 2^{24}` is :math:`x - 1 + 2/(e^{2x} + 1)`,
    a hair above the midpoint :math:`x - 1`: ``q = 1`` and :math:`1 - \tanh x = 2/(e^{2x}+1)`,
    which arb encloses as a positive number). The rewritten form must agree with the enclosure
    of ``f`` at the point; None where it does not or nothing decides."""
    import flint

    from .oracle import enclosure

    split = _rational_split(expr, symbol)
    if split is None:
        return None
    rational, rest = split
    try:
        q = rational(Fraction(x)) - Fraction(midpoint)
    except ArithmeticError:
        return None
    form = _cancelled(rest, _sp_rational(q))
    shifted = enclosure(form, symbol, x, TIE_PRECISIONS[-1]) if form is not None else None
    if shifted is None or not (shifted + flint.arb(midpoint)).overlaps(ball):
        return None
    return 1 if shifted > 0 else (-1 if shifted < 0 else None)


def _sp_rational(q: Fraction):
    """A Fraction as a SymPy Rational."""
    import sympy as sp

    return sp.Rational(q.numerator, q.denominator)


@lru_cache(maxsize=64)
def _rational_split(expr, symbol):
    """``(A, B)`` with ``expr = A + B``: ``A`` the sum of the rational terms (as an exact
    evaluator), ``B`` the rest; None when either part is empty."""
    import sympy as sp

    rational, rest = [], []
    for term in sp.Add.make_args(expr):
        (rest if rational_function(term, symbol) is None else rational).append(term)
    if not rational or not rest:
        return None
    return rational_function(sp.Add(*rational), symbol), sp.Add(*rest)


@lru_cache(maxsize=256)
def _cancelled(rest, q):
    """``q + rest`` in exponential form over one denominator (an exact identity wherever
    ``q + rest`` is defined), or None when SymPy fails."""
    import sympy as sp

    try:
        return sp.cancel(sp.together(sp.powsimp((q + rest).rewrite(sp.exp))))
    except (sp.PolynomialError, ValueError, TypeError):
        return None


def combine(chunks: list[ChunkResult]) -> dict:
    """Merge chunk results of one (entry, output) into its report; ``reference_ok`` is False
    when the fast reference and the libm cross-check disagree by more than a quarter of the
    midpoint guard (the rounding decisions would then not be safe)."""
    out = {
        "entry": chunks[0].entry, "output": chunks[0].output, "reference": chunks[0].reference,
        "inputs": sum(c.count for c in chunks), "checked": sum(c.checked for c in chunks),
        "max_ulp": max(c.max_ulp for c in chunks),
        "not_correctly_rounded": sum(c.not_correctly_rounded for c in chunks),
        "not_faithful": sum(c.not_faithful for c in chunks),
        "special_mismatch": sum(c.special_mismatch for c in chunks),
        "oracle_calls": sum(c.oracle_calls for c in chunks),
        "undecided": sum(c.undecided for c in chunks),
        "reference_gap": max(c.reference_gap for c in chunks),
        "cross_checked": sum(c.cross_checked for c in chunks),
        "cpu_seconds": sum(c.seconds for c in chunks),
        "cpu_clock": "thread_time",
    }
    out["reference_ok"] = out["reference_gap"] <= MIDPOINT_GUARD / 4
    worst = sorted((w for c in chunks for w in c.worst), key=lambda w: -w[0])[:WORST_KEPT]
    out["worst"] = [{"ulp": w[0], "x": w[1], "y": w[2], "reference": w[3]} for w in worst]
    out["exhaustive"] = out["inputs"] == 1 << 32
    return out
