r"""References of the breadth row-wise maps (issue 15): float64, mpmath and closed-form Jacobians.

Three registries, merged into :data:`funclib.rowwise.NORMALIZERS` and consulted by
:func:`funclib.rowwise.mp_reference` and :func:`funclib.rowwise.jacobian`:

* :data:`FLOAT64` -- ``f(rows, mask, params, extra)`` on rows with at least one finite entry and
  no NaN; ``mask`` marks the ``-inf`` entries. For mask rule ``remove`` the functions leave the
  masked entries out themselves (the caller then writes the entry's masked value there).
* :data:`MP` -- ``f(row, params)`` on the unmasked sub-row (``params["n_full"]`` is the full row
  length for the ids in :data:`FULL_LENGTH`), a list of ``mpf`` (one ``mpf`` for a
  row reduction), written from the definition at the working precision.
* :data:`JACOBIANS` -- ``f(rows, y, mask, params)``: the closed form of the catalog entry in
  float64; masked rows/columns are zeroed by the caller.

Every float64 evaluator is the stable form: exponentials of ``x - max(x)``, squares of ``x/M``
with ``M = max|x|``, polynomial weights scaled by ``max(1, max|x|)^2``.
"""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction

import mpmath
import numpy as np

from .sparse import entmax_support_weights, sparsemax_rows
from ..special import mp_sigmoid
from .stable import softmax as _softmax

__all__ = ["FLOAT64", "MP", "JACOBIANS", "FULL_LENGTH"]

#: Maps with mask rule "limit" whose formula uses n: the mpmath reference (which sees the
#: unmasked sub-row) receives the full row length as the parameter ``n_full``.
FULL_LENGTH = frozenset({"mellowmax"})


# -- float64 helpers ---------------------------------------------------------------------------

def _normalize(w: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Nonnegative weights (0 where masked) divided by their row sum."""
    w = np.where(mask, 0.0, w)
    return w / np.sum(w, axis=-1, keepdims=True)


def _masked_max_abs(x: np.ndarray, mask: np.ndarray) -> np.ndarray:
    return np.max(np.where(mask, 0.0, np.abs(x)), axis=-1, keepdims=True)


def _count(mask: np.ndarray) -> np.ndarray:
    return np.count_nonzero(~mask, axis=-1)[..., None].astype(np.float64)


def _fill(x: np.ndarray, mask: np.ndarray, value: float = 0.0) -> np.ndarray:
    return np.where(mask, value, x)


def _stablemax_s(x: np.ndarray) -> np.ndarray:
    neg = x < 0
    return np.where(neg, 1.0 / (1.0 - np.where(neg, x, 0.0)), x + 1.0)


def _stablemax_ds(x: np.ndarray) -> np.ndarray:
    neg = x < 0
    return np.where(neg, 1.0 / (1.0 - np.where(neg, x, 0.0)) ** 2, 1.0)


def _softplus(z: np.ndarray) -> np.ndarray:
    return np.maximum(z, 0.0) + np.log1p(np.exp(-np.abs(z)))


def _sigmoid(z: np.ndarray) -> np.ndarray:
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1 / (1 + e), e / (1 + e))


# -- float64 evaluators ------------------------------------------------------------------------

def _softmin(x, mask, p, extra):
    # masked entries removed: -x would be +inf there
    return _softmax(np.where(mask, -np.inf, -_fill(x, mask)))


def _softmax_one(x, mask, p, extra):
    m = np.maximum(np.max(x, axis=-1, keepdims=True), 0.0)
    e = np.exp(x - m)
    return e / (np.exp(-m) + np.sum(e, axis=-1, keepdims=True))


def _stablemax(x, mask, p, extra):
    s = _stablemax_s(_fill(x, mask))
    s = np.where(mask, 0.0, s)
    s = s / np.max(s, axis=-1, keepdims=True)  # avoids overflow of the sum for huge rows
    return s / np.sum(s, axis=-1, keepdims=True)


def _log_stablemax(x, mask, p, extra):
    xf = _fill(x, mask)
    neg = xf < 0
    log_s = np.where(neg, -np.log1p(-np.where(neg, xf, 0.0)), np.log1p(np.where(neg, 0.0, xf)))
    s = np.where(mask, 0.0, _stablemax_s(xf))
    big = np.max(s, axis=-1, keepdims=True)
    log_total = np.log(big) + np.log(np.sum(s / big, axis=-1, keepdims=True))
    return log_s - log_total


def _taylor_softmax(x, mask, p, extra):
    xf = _fill(x, mask)
    c = np.maximum(_masked_max_abs(x, mask), 1.0)
    u = xf / c
    w = 1.0 / c**2 + u / c + u * u / 2  # (1 + x + x^2/2)/c^2, no overflow
    return _normalize(w, mask)


def _spherical(x, mask, p, extra):
    eps = p["eps"]
    xf = _fill(x, mask)
    m = np.maximum(_masked_max_abs(x, mask), np.sqrt(eps))
    with np.errstate(invalid="ignore", divide="ignore"):
        u = xf / m
        w = u * u + (eps / m**2 if eps > 0 else 0.0)  # m >= sqrt(eps): no overflow
        return _normalize(w, mask)


def _sigsoftmax(x, mask, p, extra):
    xf = _fill(x, mask)
    g = np.where(mask, -np.inf, xf - _softplus(-xf))  # x + log sigmoid(x)
    return _softmax(g)


def _at_or_above_mean(x: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """[x_i >= mean of the unmasked entries], decided exactly: sum_j (x_j - x_i) <= 0, with the
    float estimate trusted only where it is far from 0 and exact rationals elsewhere."""
    xf = _fill(x, mask)
    n = _count(mask)
    c = np.maximum(_masked_max_abs(x, mask), 1e-300)
    mean = np.sum(xf / c, axis=-1, keepdims=True) / n * c  # no overflow
    keep = xf >= mean
    close = np.abs(xf - mean) <= 1e-9 * c
    for r, i in zip(*np.nonzero(close & ~mask)):
        row = [Fraction(float(v)) for v in xf[r][~mask[r]]]
        keep[r, i] = sum(row) <= len(row) * Fraction(float(xf[r, i]))  # exact rationals
    return keep & ~mask


def _ev_softmax(x, mask, p, extra):
    keep = _at_or_above_mean(x, mask)
    return _softmax(np.where(keep, _fill(x, mask), -np.inf))


def _hardmax(x, mask, p, extra):
    top = x == np.max(x, axis=-1, keepdims=True)
    return top / np.sum(top, axis=-1, keepdims=True)


def _centered_softmax(x, mask, p, extra):
    n = _count(mask)
    return np.where(mask, 0.0, _softmax(x / p["tau"]) - 1.0 / n)


def _l2_normalize(x, mask, p, extra):
    xf = _fill(x, mask)
    m = _masked_max_abs(x, mask)
    safe = np.where(m > 0, m, 1.0)
    u = xf / safe
    norm_over_m = np.sqrt(np.sum(u * u, axis=-1, keepdims=True))
    with np.errstate(over="ignore"):
        floor = p["eps"] / safe  # max(||x||, eps)/m; inf for subnormal m: y = 0 (|y| < 1e-300)
    return np.where(m > 0, u / np.maximum(norm_over_m, floor), 0.0)


def _rms_normalize(x, mask, p, extra):
    xf = _fill(x, mask)
    n = _count(mask)
    m = np.maximum(_masked_max_abs(x, mask), 1.0)  # scale only rows that could overflow
    u = xf / m
    return u / np.sqrt(np.sum(u * u, axis=-1, keepdims=True) / n + p["eps"] / m**2)


def _masked_mean(x, mask):
    xf = _fill(x, mask)
    c = np.maximum(_masked_max_abs(x, mask), 1e-300)
    return np.sum(xf / c, axis=-1, keepdims=True) / _count(mask) * c


def _standardize(x, mask, p, extra):
    xf = _fill(x, mask)
    n = _count(mask)
    d = np.where(mask, 0.0, xf - _masked_mean(x, mask))
    m = np.maximum(np.max(np.abs(d), axis=-1, keepdims=True), 1.0)
    u = d / m
    return u / np.sqrt(np.sum(u * u, axis=-1, keepdims=True) / n + p["eps"] / m**2)


def _integer_k(name, k):
    if int(k) != k:
        raise ValueError(f"{name}: k must be an integer, got {k!r}")
    return int(k)


def _kept_topk(x, mask, k):
    """[fewer than k unmasked entries are strictly larger] (ties at the k-th value all kept)."""
    z = np.where(mask, -np.inf, x)
    n = z.shape[-1]
    if k >= n:
        return ~mask
    kth = -np.partition(-z, k - 1, axis=-1)[..., k - 1 : k]
    return (z >= kth) & ~mask


def _kwta(x, mask, p, extra):
    keep = _kept_topk(x, mask, _integer_k("kwta", p["k"]))
    return np.where(keep, _fill(x, mask), 0.0)


def _ab_relu(x, mask, p, extra):
    return np.where(mask, 0.0, np.maximum(_fill(x, mask) - _masked_mean(x, mask), 0.0))


def _sparsegen_lin(x, mask, p, extra):
    return sparsemax_rows(x / (1.0 - p["lam"]))[0]


def _relu_seqlen(x, mask, p, extra):
    return np.where(mask, 0.0, np.maximum(_fill(x, mask), 0.0) / _count(mask))


def _relu2_attention(x, mask, p, extra):
    return np.where(mask, 0.0, np.maximum(_fill(x, mask) / _count(mask), 0.0) ** 2)


def _boltzmann(x, mask, p, extra):
    m = np.max(x, axis=-1, keepdims=True)
    d = np.where(mask, 0.0, x - m)
    w = np.where(mask, 0.0, np.exp(p["beta"] * d))
    return (m + np.sum(d * w, axis=-1, keepdims=True) / np.sum(w, axis=-1, keepdims=True))[..., 0]


def _mellowmax(x, mask, p, extra):
    m = np.max(x, axis=-1, keepdims=True)
    w = np.where(mask, 0.0, np.exp(p["omega"] * np.where(mask, 0.0, x - m)))
    return (m + np.log(np.sum(w, axis=-1, keepdims=True) / x.shape[-1]) / p["omega"])[..., 0]


def _maxout(x, mask, p, extra):
    return np.max(x, axis=-1)


def _ash_parts(x, mask, p):
    """u = alpha (x - mean - z std) over the unmasked entries (scaled: no overflow)."""
    xf = _fill(x, mask)
    n = _count(mask)
    d = np.where(mask, 0.0, xf - _masked_mean(x, mask))
    m = np.maximum(np.max(np.abs(d), axis=-1, keepdims=True), 1e-300)
    sd = m * np.sqrt(np.sum((d / m) ** 2, axis=-1, keepdims=True) / n)
    u = p["alpha"] * (d - p["z"] * sd)
    return xf, d, sd, u, n


def _ash(x, mask, p, extra):
    xf, _, _, u, _ = _ash_parts(x, mask, p)
    return np.where(mask, 0.0, xf * _sigmoid(u))


def _z_scores(x, mask):
    xf = _fill(x, mask)
    n = _count(mask)
    d = np.where(mask, 0.0, xf - _masked_mean(x, mask))
    m = np.max(np.abs(d), axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        u = d / m  # constant rows: 0/0 = NaN, as the definition
        r = np.sqrt(np.sum(u * u, axis=-1, keepdims=True) / n)
        return u / r, m * r, n


def _z_loss_classification(x, mask, p, extra):
    z, _, _ = _z_scores(x, mask)
    return _softplus(p["a"] * (p["b"] - z)) / p["a"]


FLOAT64: dict[str, Callable] = {
    "z_loss_classification": _z_loss_classification,
    "ash": _ash,
    "maxout": _maxout,
    "l2_normalize": _l2_normalize,
    "rms_normalize": _rms_normalize,
    "standardize": _standardize,
    "sparsegen_lin": _sparsegen_lin,
    "kwta": _kwta,
    "ab_relu": _ab_relu,
    "relu_seqlen_attention": _relu_seqlen,
    "relu2_attention": _relu2_attention,
    "boltzmann_operator": _boltzmann,
    "mellowmax": _mellowmax,
    "softmin": _softmin,
    "softmax_one": _softmax_one,
    "stablemax": _stablemax,
    "log_stablemax": _log_stablemax,
    "taylor_softmax": _taylor_softmax,
    "spherical_softmax": _spherical,
    "sigsoftmax": _sigsoftmax,
    "ev_softmax": _ev_softmax,
    "hardmax": _hardmax,
    "centered_softmax": _centered_softmax,
}


# -- mpmath references (definitions, unmasked sub-row) -----------------------------------------

def _mp_normalize(w):
    total = mpmath.fsum(w)
    return [v / total for v in w]


def _mp_softmax(z):
    m = max(z)
    return _mp_normalize([mpmath.exp(v - m) for v in z])


def _mp_s(v):
    return v + 1 if v >= 0 else 1 / (1 - v)


def _mp_ev_softmax(x, p):
    mean = mpmath.fsum(x) / len(x)
    keep = [v >= mean for v in x]
    m = max(x)
    return _mp_normalize([mpmath.exp(v - m) if k else mpmath.mpf(0) for v, k in zip(x, keep)])


def _mp_hardmax(x, p):
    m = max(x)
    top = [1 if v == m else 0 for v in x]
    return [mpmath.mpf(t) / sum(top) for t in top]


def _mp_spherical(x, p):
    w = [v * v + p["eps"] for v in x]
    if mpmath.fsum(w) == 0:
        return [mpmath.nan] * len(x)
    return _mp_normalize(w)


def _mp_mean(x):
    return mpmath.fsum(x) / len(x)


def _mp_l2(x, p):
    norm = mpmath.sqrt(mpmath.fsum(v * v for v in x))
    return [v / max(norm, p["eps"]) for v in x]


def _mp_standardize(x, p):
    mu = _mp_mean(x)
    var = mpmath.fsum((v - mu) ** 2 for v in x) / len(x)
    return [(v - mu) / mpmath.sqrt(var + p["eps"]) for v in x]


def _mp_kwta(x, p):
    k = p["k"]
    return [v if sum(1 for u in x if u > v) < k else mpmath.mpf(0) for v in x]


def _mp_sparsegen(x, p):
    from .mpref import entmax_row  # lazily: mpref imports this module's tables

    return entmax_row([v / (1 - p["lam"]) for v in x], 2)


def _mp_boltzmann(x, p):
    w = [mpmath.exp(p["beta"] * (v - max(x))) for v in x]
    return mpmath.fsum(v * u for v, u in zip(x, w)) / mpmath.fsum(w)


def _mp_ash(x, p):
    mu = _mp_mean(x)
    sd = mpmath.sqrt(mpmath.fsum((v - mu) ** 2 for v in x) / len(x))
    return [v * mp_sigmoid(p["alpha"] * (v - mu - p["z"] * sd)) for v in x]


def _mp_z_loss(x, p):
    mu = _mp_mean(x)
    sd = mpmath.sqrt(mpmath.fsum((v - mu) ** 2 for v in x) / len(x))
    if sd == 0:
        return [mpmath.nan] * len(x)
    return [mpmath.log1p(mpmath.exp(p["a"] * (p["b"] - (v - mu) / sd))) / p["a"] for v in x]


MP: dict[str, Callable] = {
    "z_loss_classification": _mp_z_loss,
    "ash": _mp_ash,
    "maxout": lambda x, p: max(x),
    "l2_normalize": _mp_l2,
    "rms_normalize": lambda x, p: [v / mpmath.sqrt(_mp_mean([u * u for u in x]) + p["eps"]) for v in x],
    "standardize": _mp_standardize,
    "sparsegen_lin": _mp_sparsegen,
    "kwta": _mp_kwta,
    "ab_relu": lambda x, p: [max(v - _mp_mean(x), 0) for v in x],
    "relu_seqlen_attention": lambda x, p: [max(v, 0) / len(x) for v in x],
    "relu2_attention": lambda x, p: [max(v / len(x), 0) ** 2 for v in x],
    "boltzmann_operator": _mp_boltzmann,
    "mellowmax": lambda x, p: mpmath.log(mpmath.fsum(mpmath.exp(p["omega"] * v) for v in x) / p["n_full"]) / p["omega"],
    "softmin": lambda x, p: _mp_softmax([-v for v in x]),
    "softmax_one": lambda x, p: [mpmath.exp(v) / (1 + mpmath.fsum(mpmath.exp(u) for u in x)) for v in x],
    "stablemax": lambda x, p: _mp_normalize([_mp_s(v) for v in x]),
    "log_stablemax": lambda x, p: [mpmath.log(_mp_s(v)) - mpmath.log(mpmath.fsum(_mp_s(u) for u in x)) for v in x],
    "taylor_softmax": lambda x, p: _mp_normalize([1 + v + v * v / 2 for v in x]),
    "spherical_softmax": _mp_spherical,
    # exp(x) sigmoid(x) directly, as the paper writes it (the max shift cancels exactly)
    "sigsoftmax": lambda x, p: _mp_normalize([mpmath.exp(v - max(x)) * mp_sigmoid(v) for v in x]),
    "ev_softmax": _mp_ev_softmax,
    "hardmax": _mp_hardmax,
    "centered_softmax": lambda x, p: [v - mpmath.mpf(1) / len(x) for v in _mp_softmax([u / p["tau"] for u in x])],
}


# -- closed-form Jacobians (float64) -----------------------------------------------------------

def _softmax_like(y: np.ndarray, scale) -> np.ndarray:
    return scale * (y[..., :, None] * (np.eye(y.shape[-1]) - y[..., None, :]))


def _sparse_jac(p: np.ndarray) -> np.ndarray:
    g = entmax_support_weights(p, 2.0)
    total = np.sum(g, axis=-1)[..., None, None]
    return g[..., :, None] * np.eye(p.shape[-1]) - g[..., :, None] * g[..., None, :] / total


def _jac_stablemax(x, y, mask, p):
    xf = _fill(x, mask)
    s = np.where(mask, 0.0, _stablemax_s(xf))
    ds = np.where(mask, 0.0, _stablemax_ds(xf))
    total = np.sum(s, axis=-1)[..., None, None]
    eye = np.eye(x.shape[-1])
    return (eye * ds[..., :, None] - y[..., :, None] * ds[..., None, :]) / total


def _jac_log_stablemax(x, y, mask, p):
    xf = _fill(x, mask)
    s = np.where(mask, 0.0, _stablemax_s(xf))
    ds = np.where(mask, 0.0, _stablemax_ds(xf))
    total = np.sum(s, axis=-1)[..., None, None]
    eye = np.eye(x.shape[-1])
    ratio = np.where(xf >= 0, 1.0 / (1.0 + np.abs(xf)), 1.0 / (1.0 + np.abs(xf)))  # s'/s
    return eye * ratio[..., :, None] - ds[..., None, :] / total


def _jac_taylor(x, y, mask, p):
    xf = _fill(x, mask)
    total = np.sum(np.where(mask, 0.0, 1 + xf + xf * xf / 2), axis=-1)[..., None, None]
    eye = np.eye(x.shape[-1])
    d = np.where(mask, 0.0, 1 + xf)
    return (eye * d[..., :, None] - y[..., :, None] * d[..., None, :]) / total


def _jac_spherical(x, y, mask, p):
    xf = _fill(x, mask)
    total = np.sum(np.where(mask, 0.0, xf * xf + p["eps"]), axis=-1)[..., None, None]
    eye = np.eye(x.shape[-1])
    return 2 * (eye * xf[..., :, None] - y[..., :, None] * xf[..., None, :]) / total


def _jac_sigsoftmax(x, y, mask, p):
    d = 2 - _sigmoid(_fill(x, mask))
    eye = np.eye(x.shape[-1])
    return y[..., :, None] * (eye * d[..., :, None] - (y * d)[..., None, :])


def _jac_centered(x, y, mask, p):
    s = np.where(mask, 0.0, y + 1.0 / _count(mask))
    return _softmax_like(s, 1.0 / p["tau"])


def _jac_l2(x, y, mask, p):
    xf = _fill(x, mask)
    m = _masked_max_abs(x, mask)[..., 0]
    safe = np.where(m > 0, m, 1.0)
    norm = m * np.sqrt(np.sum((xf / safe[..., None]) ** 2, axis=-1))
    eye = np.eye(x.shape[-1])
    big = (norm > p["eps"])[..., None, None]
    inside = (eye - y[..., :, None] * y[..., None, :]) / np.where(big, norm[..., None, None], 1.0)
    return np.where(big, inside, eye / p["eps"])


def _jac_rms(x, y, mask, p):
    xf = _fill(x, mask)
    n = _count(mask)[..., None]
    m = np.maximum(_masked_max_abs(x, mask), 1.0)
    u = xf / m
    r = m[..., None] * np.sqrt(np.sum(u * u, axis=-1, keepdims=True)[..., None] / n + p["eps"] / m[..., None] ** 2)
    eye = np.eye(x.shape[-1])
    return (eye - y[..., :, None] * y[..., None, :] / n) / r


def _jac_standardize(x, y, mask, p):
    xf = _fill(x, mask)
    n = _count(mask)[..., None]
    d = np.where(mask, 0.0, xf - _masked_mean(x, mask))
    m = np.maximum(np.max(np.abs(d), axis=-1, keepdims=True), 1.0)
    u = d / m
    s = m[..., None] * np.sqrt(np.sum(u * u, axis=-1, keepdims=True)[..., None] / n + p["eps"] / m[..., None] ** 2)
    eye = np.eye(x.shape[-1])
    return (eye - 1.0 / n - y[..., :, None] * y[..., None, :] / n) / s


def _jac_kwta(x, y, mask, p):
    keep = _kept_topk(x, mask, _integer_k("kwta", p["k"]))
    return np.eye(x.shape[-1]) * keep[..., :, None]


def _jac_ab_relu(x, y, mask, p):
    above = (_fill(x, mask) > _masked_mean(x, mask)) & ~mask
    return above[..., :, None] * (np.eye(x.shape[-1]) - 1.0 / _count(mask)[..., None])


def _jac_boltzmann(x, y, mask, p):
    beta = p["beta"]
    s = _softmax(np.where(mask, -np.inf, beta * x))
    return s * (1 + beta * (np.where(mask, 0.0, x) - y[..., None]))


def _jac_mellowmax(x, y, mask, p):
    return _softmax(np.where(mask, -np.inf, p["omega"] * x))


def _jac_maxout(x, y, mask, p):
    top = (x == np.max(x, axis=-1, keepdims=True)).astype(np.float64)
    return top / np.sum(top, axis=-1, keepdims=True)


def _jac_ash(x, y, mask, p):
    xf, d, sd, u, n = _ash_parts(x, mask, p)
    s, sm = _sigmoid(u), _sigmoid(-u)
    eye = np.eye(x.shape[-1])
    with np.errstate(invalid="ignore", divide="ignore"):
        dsd = np.where(p["z"] == 0, 0.0, p["z"] * d / (n * sd))  # z dsigma/dx_j
    inner = eye - 1.0 / n[..., None] - dsd[..., None, :]
    return eye * s[..., :, None] + (p["alpha"] * xf * s * sm)[..., :, None] * inner


def _jac_z_loss(x, y, mask, p):
    z, sd, n = _z_scores(x, mask)
    z = np.where(mask, 0.0, z)
    eye = np.eye(x.shape[-1])
    g = -_sigmoid(p["a"] * (p["b"] - z))
    return g[..., :, None] * (eye - 1.0 / n[..., None] - z[..., :, None] * z[..., None, :] / n[..., None]) / sd[..., None]


JACOBIANS: dict[str, Callable] = {
    "z_loss_classification": _jac_z_loss,
    "ash": _jac_ash,
    "maxout": _jac_maxout,
    "l2_normalize": _jac_l2,
    "rms_normalize": _jac_rms,
    "standardize": _jac_standardize,
    "sparsegen_lin": lambda x, y, mask, p: _sparse_jac(y) / (1.0 - p["lam"]),
    "kwta": _jac_kwta,
    "ab_relu": _jac_ab_relu,
    "relu_seqlen_attention": lambda x, y, mask, p: np.eye(x.shape[-1]) * ((_fill(x, mask) > 0) / _count(mask))[..., :, None],
    "relu2_attention": lambda x, y, mask, p: np.eye(x.shape[-1]) * (2 * np.maximum(_fill(x, mask) / _count(mask), 0.0) / _count(mask))[..., :, None],
    "boltzmann_operator": _jac_boltzmann,
    "mellowmax": _jac_mellowmax,
    "softmin": lambda x, y, mask, p: -_softmax_like(y, 1.0),
    "softmax_one": lambda x, y, mask, p: _softmax_like(y, 1.0),
    "stablemax": _jac_stablemax,
    "log_stablemax": _jac_log_stablemax,
    "taylor_softmax": _jac_taylor,
    "spherical_softmax": _jac_spherical,
    "sigsoftmax": _jac_sigsoftmax,
    "ev_softmax": lambda x, y, mask, p: _softmax_like(y, 1.0),
    "hardmax": lambda x, y, mask, p: np.zeros(x.shape + (x.shape[-1],)),
    "centered_softmax": _jac_centered,
}


# -- MoE routers (catalog/gated/breadth_moe.toml; not in NORMALIZERS: a second row vector) ----------

def sigmoid_topk_gate(x, b=None, k: int = 8) -> np.ndarray:
    """DeepSeek-V3 gates for rows of router logits ``x`` (last axis) and selection bias ``b``."""
    x = np.asarray(x, dtype=np.float64)
    b = np.zeros_like(x) if b is None else np.broadcast_to(np.asarray(b, dtype=np.float64), x.shape)
    k = _integer_k("sigmoid_topk_gate", k)
    s = _sigmoid(x)
    keep = _kept_topk(s + b, np.zeros(x.shape, dtype=bool), k)
    w = np.where(keep, s, 0.0)
    with np.errstate(invalid="ignore"):
        total = np.sum(w, axis=-1, keepdims=True)
        return np.where(total > 0, w / np.where(total > 0, total, 1.0), 0.0)


def sigmoid_topk_gate_jacobian(x, b=None, k: int = 8) -> np.ndarray:
    """dg_i/dx_j on each region of fixed selection (b held fixed), shape (..., n, n)."""
    g = sigmoid_topk_gate(x, b, k)
    c = 1 - _sigmoid(np.asarray(x, dtype=np.float64))
    eye = np.eye(g.shape[-1])
    return g[..., :, None] * (eye * c[..., :, None] - (g * c)[..., None, :])


def softmax_then_topk(x, k: int = 1) -> np.ndarray:
    """Switch router: softmax over the row, the top k kept unchanged, the rest 0."""
    x = np.asarray(x, dtype=np.float64)
    keep = _kept_topk(x, np.isneginf(x), _integer_k("softmax_then_topk", k))
    return np.where(keep, _softmax(x), 0.0)


def softmax_then_topk_jacobian(x, k: int = 1) -> np.ndarray:
    y = softmax_then_topk(x, k)
    p = _softmax(np.asarray(x, dtype=np.float64))
    return y[..., :, None] * (np.eye(y.shape[-1]) - p[..., None, :])


# -- adaptive-temperature softmax (catalog/gated/breadth_adaptive_softmax.toml) ---------------------

#: p(H) = -0.037 H^4 + 0.481 H^3 - 2.3 H^2 + 4.917 H - 1.791 (highest degree first).
ADAPTIVE_TEMPERATURE_POLY = (-0.037, 0.481, -2.3, 4.917, -1.791)


def _adaptive_beta(x):
    """(beta, dbeta/dH, H, s) per row of finite x."""
    s = _softmax(x)
    m = np.max(x, axis=-1, keepdims=True)
    e = np.exp(x - m)
    total = np.sum(e, axis=-1, keepdims=True)
    H = np.log(total) - np.sum((x - m) * e, axis=-1, keepdims=True) / total
    c = ADAPTIVE_TEMPERATURE_POLY
    p = (((c[0] * H + c[1]) * H + c[2]) * H + c[3]) * H + c[4]
    dp = ((4 * c[0] * H + 3 * c[1]) * H + 2 * c[2]) * H + c[3]
    active = (H > 0.5) & (p > 1)
    return np.where(active, p, 1.0), np.where(active, dp, 0.0), H, s


def adaptive_temperature_softmax(x) -> np.ndarray:
    """softmax(beta x) per row (last axis) with the entropy-fitted beta of Velickovic et al."""
    x = np.asarray(x, dtype=np.float64)
    beta, _, _, _ = _adaptive_beta(x)
    return _softmax(beta * x)


def adaptive_temperature_softmax_jacobian(x) -> np.ndarray:
    """J_ij = y_i (beta (delta_ij - y_j) + (x_i - sum y x) dbeta/dx_j), beta's dependence included."""
    x = np.asarray(x, dtype=np.float64)
    beta, dp, _, s = _adaptive_beta(x)
    y = _softmax(beta * x)
    dH = s * (np.sum(s * x, axis=-1, keepdims=True) - x)  # dH/dx_j
    dbeta = dp * dH
    centred = x - np.sum(y * x, axis=-1, keepdims=True)
    eye = np.eye(x.shape[-1])
    return y[..., :, None] * (beta[..., None] * (eye - y[..., None, :]) + centred[..., :, None] * dbeta[..., None, :])
