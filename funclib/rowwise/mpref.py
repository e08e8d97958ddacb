r"""High-precision references of the row-wise normalizers (mpmath), written from the definitions.

``mp_reference(name, row)`` evaluates one row at ``dps`` digits with the same mask conventions as
:func:`funclib.rowwise.evaluate` (``-inf`` masked; rule ``remove`` drops masked entries before
the formula, ``n`` counts the rest; a fully masked row gives the entry's ``fully_masked``).
Inputs are taken as their exact binary values.

The code is deliberately independent of the float64 algorithms: no max shift tricks are needed
at 50 digits, and the sparse maps use the breakpoint characterization of the threshold
instead of sorting prefixes or bisection on a bracket. For
:math:`F(\tau) = \sum_k [z_k - \tau]_+^{1/(\alpha-1)} - 1` (decreasing), evaluate :math:`F` at the
sorted entries: the root lies between the last breakpoint with :math:`F < 0` and the next one,
where the active set is fixed, and there :math:`\tau` is found exactly (sparsemax: a mean;
1.5-entmax: the smaller root of a quadratic) or by bisection to the working precision.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import mpmath

from .. import registry
from .breadth import FULL_LENGTH as BREADTH_FULL_LENGTH
from .breadth import MP as BREADTH_MP
from .breadth5 import MP as BREADTH5_MP

__all__ = ["entmax_row", "mp_reference"]


def _shifted(z):
    """z - max(z), each difference exact (then rounded once): huge rows keep all their digits."""
    m = max(z)
    return [+mpmath.fsub(v, m, exact=True) for v in z]


def _softmax(z):
    e = [mpmath.exp(v) for v in _shifted(z)]
    total = mpmath.fsum(e)
    return [v / total for v in e]


def _threshold_interval(z, power):
    """Breakpoint search: the active count and the bracket [lo, hi] of the root of F."""
    zs = sorted(z, reverse=True)

    def F(t):
        return mpmath.fsum(max(v - t, 0) ** power for v in zs) - 1

    for k in range(1, len(zs)):
        if F(zs[k]) >= 0:  # the root is in [z_(k+1), z_(k)): active set = the k largest
            return zs[:k], zs[k], zs[k - 1]
    return zs, zs[0] - 1, zs[-1]


def entmax_row(z, alpha):
    """alpha-entmax of the finite entries z at the working precision."""
    alpha = mpmath.mpf(alpha)
    power = 1 / (alpha - 1)
    z = [(alpha - 1) * v for v in _shifted(z)]  # entmax is shift invariant
    active, lo, hi = _threshold_interval(z, power)
    # The root also lies in [max z - 1, max z - n^(1 - alpha)] (max z = 0 after the shift):
    # intersecting keeps the bisection below width 1 for rows of any magnitude.
    lo, hi = max(lo, mpmath.mpf(-1)), min(hi, -mpmath.mpf(len(z)) ** (1 - alpha))
    k = len(active)
    if alpha == 2:
        tau = (mpmath.fsum(active) - 1) / k
    elif alpha == mpmath.mpf(3) / 2:
        # sum_{active} (z - tau)^2 = 1: k tau^2 - 2 S1 tau + S2 - 1 = 0, the smaller root.
        s1, s2 = mpmath.fsum(active), mpmath.fsum(v * v for v in active)
        tau = (s1 - mpmath.sqrt(s1 * s1 - k * (s2 - 1))) / k
    else:
        def G(t):
            return mpmath.fsum((v - t) ** power for v in active) - 1

        for _ in range(mpmath.mp.prec + 20):
            mid = (lo + hi) / 2
            if mid in (lo, hi):
                break
            if G(mid) >= 0:
                lo = mid
            else:
                hi = mid
        tau = (lo + hi) / 2
    return [max(v - tau, 0) ** power for v in z]


def _row(entry_id, x, p, g):
    n = len(x)
    if entry_id == "softmax":
        return _softmax(x)
    if entry_id == "log_softmax":
        z = _shifted(x)  # x_i - lse(x) = (x_i - m) - log sum exp(x - m): no cancellation
        lse = mpmath.log(mpmath.fsum(mpmath.exp(v) for v in z))
        return [v - lse for v in z]
    if entry_id == "temperature_softmax":
        return _softmax([v / p["T"] for v in x])
    if entry_id == "logsumexp":
        return mpmath.log(mpmath.fsum(mpmath.exp(v) for v in x))
    if entry_id == "ssmax":
        return _softmax([p["s"] * mpmath.log(n) * v for v in x])
    if entry_id == "sa_softmax":
        return [v * s for v, s in zip(x, _softmax(x))]
    if entry_id == "sa_softmax_normalized":
        a, b = min(min(x), 0), max(max(x), 0)
        if a == b:  # the all-zero row: 0/0 without a limit
            return [mpmath.nan] * len(x)
        return [(v - a) / (b - a) * s for v, s in zip(x, _softmax(x))]
    if entry_id == "topk_softmax":
        k = p["k"]
        keep = [sum(1 for u in x if u > v) < k for v in x]
        e = [mpmath.exp(v) if kept else mpmath.mpf(0) for v, kept in zip(x, keep)]
        total = mpmath.fsum(e)
        return [v / total for v in e]
    if entry_id == "clipped_softmax":
        return [min(max((p["zeta"] - p["gam"]) * s + p["gam"], 0), 1) for s in _softmax(x)]
    if entry_id == "gumbel_softmax":
        # x + g exactly: rounding it would lose the noise of rows with huge logits.
        z = [mpmath.fadd(v, w, exact=True) for v, w in zip(x, g)]
        m = max(z)
        return _softmax([mpmath.fsub(v, m, exact=True) / p["tau"] for v in z])
    if entry_id == "softpick":
        d = mpmath.fsum(abs(mpmath.expm1(v)) for v in x) + p["eps"]
        if d == 0:  # every entry 0 and eps = 0: 0/0
            return [mpmath.nan] * len(x)
        return [max(mpmath.expm1(v), 0) / d for v in x]
    if entry_id == "sparsemax":
        return entmax_row(x, 2)
    if entry_id == "entmax15":
        return entmax_row(x, mpmath.mpf(3) / 2)
    if entry_id == "entmax":
        return entmax_row(x, p["alpha"])
    if entry_id in BREADTH_MP:
        return BREADTH_MP[entry_id](x, p)
    if entry_id in BREADTH5_MP:
        return BREADTH5_MP[entry_id](x, p)
    raise ValueError(f"no mpmath reference for {entry_id!r}")


def _elementwise(entry_id: str, v, n: int):
    """ReLA and sigmoid weights act on each entry alone (n is the full row length)."""
    if mpmath.isnan(v):
        return mpmath.nan
    if entry_id == "rela":
        return max(v, 0)
    return 1 / (1 + mpmath.exp(-(v - mpmath.log(n))))


def mp_reference(
    name: str,
    row: Sequence[float],
    params: Mapping[str, float] | None = None,
    *,
    g: Sequence[float] | None = None,
    dps: int = 50,
):
    """One row of the entry ``name`` at ``dps`` digits (list of ``mpf``; one ``mpf`` for logsumexp).

    Parameters are taken as the exact decimals the catalog uses (``0.43`` is 43/100).
    """
    entry = registry.get(name)
    with mpmath.workdps(dps):
        exact = {str(sym): mpmath.mpf(int(q.p)) / int(q.q) for sym, q in entry.param_subs(params).items()}
        x = [mpmath.mpf(float(v)) for v in row]
        noise = None if g is None else [mpmath.mpf(float(v)) for v in g]
        if entry.id in ("rela", "sigmoid_attention"):
            return [_elementwise(entry.id, v, len(x)) for v in x]
        if any(mpmath.isnan(v) for v in x + (noise or [])):
            return mpmath.nan if entry.is_row_reduction else [mpmath.nan] * len(x)
        mask = [mpmath.isinf(v) and v < 0 for v in x]
        if all(mask):
            value = mpmath.mpf(entry.mask.fully_masked)
            return value if entry.is_row_reduction else [value] * len(x)
        # Every other entry is evaluated on the unmasked sub-row: for rule "remove" that is the
        # definition; for rule "limit" it is the same value (the masked terms vanish and n does
        # not enter), which the tests check against the formula's limit separately.
        keep = [i for i, m in enumerate(mask) if not m]
        sub_g = None if noise is None else [noise[i] for i in keep]
        if entry.id in BREADTH_FULL_LENGTH:  # rule "limit" with n in the formula: n is the full length
            exact = {**exact, "n_full": len(x)}
        result = _row(entry.id, [x[i] for i in keep], exact, sub_g)
        if entry.is_row_reduction:
            return result
        out = [mpmath.mpf(entry.mask.value)] * len(x)
        for i, value in zip(keep, result):
            out[i] = value
        return out
