r"""Float64 reference evaluators of the row-wise normalizers (NumPy, stable, masked).

``evaluate(name, x)`` applies the catalog entry ``name`` to every row of ``x`` (the last axis,
any batch shape). The conventions are the entry's ``mask`` table
(``docs/catalog-format.md``):

* an entry equal to ``-inf`` is masked. Rule ``limit``: the formula's limit (softmax gives 0);
  rule ``remove``: the formula is applied to the unmasked entries only and ``n`` counts them
  (softpick's denominator, SSMax's ``log n``, SA-Softmax's min/max);
* a row whose entries are all ``-inf`` gives the entry's ``fully_masked`` value everywhere;
* a row containing NaN gives NaN everywhere (ReLA and sigmoid weights, which are elementwise,
  give NaN only where the input is NaN).

Every formula is the stable form: the row maximum is subtracted before ``exp``, sigmoid branches
on the sign, softpick scales its numerator and denominator by :math:`e^{-\max(\max x, 0)}`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

from .. import registry
from .breadth import FLOAT64 as _BREADTH_FLOAT64
from .breadth5 import FLOAT64 as _BREADTH5_FLOAT64
from .sparse import entmax15_rows, entmax_bisect_rows, sparsemax_rows
from .stable import softmax as _softmax

__all__ = ["evaluate", "NORMALIZERS", "normalizer_params", "prepare_rows"]


def normalizer_params(name: str, params: Mapping[str, float] | None = None) -> dict[str, float]:
    """The entry's parameter values: defaults overridden by ``params``, range-checked."""
    return registry.get(name).param_values(params)


def _softmax_rows(x, mask, p, extra):
    return _softmax(x)


def _log_softmax_rows(x, mask, p, extra):
    m = np.max(x, axis=-1, keepdims=True)
    return x - m - np.log(np.sum(np.exp(x - m), axis=-1, keepdims=True))


def _temperature_rows(x, mask, p, extra):
    return _softmax(x / p["T"])


def _logsumexp_rows(x, mask, p, extra):
    m = np.max(x, axis=-1)
    return m + np.log(np.sum(np.exp(x - m[..., None]), axis=-1))


def _ssmax_rows(x, mask, p, extra):
    n_eff = np.count_nonzero(~mask, axis=-1)[..., None].astype(np.float64)
    scale = p["s"] * np.log(n_eff)
    m = np.max(x, axis=-1, keepdims=True)
    # scale*(x - m) with scale = 0 at a masked entry would be 0*(-inf) = NaN: masked -> -inf.
    z = np.where(mask, -np.inf, scale * np.where(mask, 0.0, x - m))
    return _softmax(z)


def _sa_softmax_rows(x, mask, p, extra):
    return np.where(mask, 0.0, np.where(mask, 0.0, x) * _softmax(x))


def _sa_softmax_normalized_rows(x, mask, p, extra):
    xf = np.where(mask, np.nan, x)
    a = np.minimum(np.nanmin(xf, axis=-1, keepdims=True), 0.0)
    b = np.maximum(np.nanmax(xf, axis=-1, keepdims=True), 0.0)
    r = (np.where(mask, 0.0, x) - a) / (b - a)
    return np.where(mask, 0.0, r * _softmax(x))


def _topk_rows(x, mask, p, extra):
    k = int(p["k"])
    if k != p["k"]:
        raise ValueError(f"topk_softmax: k must be an integer, got {p['k']!r}")
    n = x.shape[-1]
    if k >= n:
        return _softmax(x)
    # k-th largest value (with multiplicity); every entry >= it is kept (ties included).
    kth = -np.partition(-x, k - 1, axis=-1)[..., k - 1 : k]
    return _softmax(np.where(x >= kth, x, -np.inf))


def _clipped_rows(x, mask, p, extra):
    return np.clip((p["zeta"] - p["gam"]) * _softmax(x) + p["gam"], 0.0, 1.0)


def _gumbel_rows(x, mask, p, extra):
    g = extra.get("g")
    if g is None:
        raise ValueError("gumbel_softmax: pass the noise row(s) as g=... (same shape as x)")
    # Shift by the entry k that maximizes x + g, as (x - x_k) + (g - g_k): x + g itself would
    # round away the noise of rows with large logits.
    k = np.argmax(np.where(mask, -np.inf, x + g), axis=-1)[..., None]
    xk, gk = np.take_along_axis(x, k, axis=-1), np.take_along_axis(g, k, axis=-1)
    d = np.where(mask, -np.inf, (x - xk) + (g - gk))
    return _softmax(d / p["tau"])


def softpick_terms(x: np.ndarray, mask: np.ndarray, eps: float):
    r"""Scaled softpick pieces: ``term`` :math:`= e^{-s}(e^{x} - 1)` (0 where masked), the scale
    :math:`e^{-s}` with :math:`s = \max(\max x, 0)`, and the denominator
    :math:`\sum_j |term_j| + \epsilon e^{-s}`."""
    xf = np.where(mask, 0.0, x)
    shift = np.maximum(np.max(x, axis=-1, keepdims=True), 0.0)  # max(m, 0): no overflow either way
    scale = np.exp(-shift)
    # e^{x - s} - e^{-s} = e^{-s} expm1(x), accurate near x = 0; for x > 700 expm1 overflows,
    # where e^{x-s} - e^{-s} has no cancellation.
    big = xf > 700.0
    term = np.where(big, np.exp(np.where(big, xf, 0.0) - shift) - scale, scale * np.expm1(np.where(big, 0.0, xf)))
    term = np.where(mask, 0.0, term)
    denom = np.sum(np.abs(term), axis=-1, keepdims=True) + eps * scale
    return term, shift, denom


def _softpick_rows(x, mask, p, extra):
    term, _, denom = softpick_terms(x, mask, p["eps"])
    return np.maximum(term, 0.0) / denom


def _sigmoid_attention_rows(x, mask, p, extra):
    z = x - np.log(x.shape[-1])
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1 / (1 + e), e / (1 + e))


def _rela_rows(x, mask, p, extra):
    return np.maximum(x, 0.0)


def _sparsemax_rows(x, mask, p, extra):
    return sparsemax_rows(x)[0]


def _entmax15_rows(x, mask, p, extra):
    return entmax15_rows(x)[0]


def _entmax_rows(x, mask, p, extra):
    return entmax_bisect_rows(x, p["alpha"])[0]


#: Entry id -> float64 row evaluator ``f(rows, mask, params, extra)`` for rows with at least one
#: finite entry and no NaN.
NORMALIZERS: dict[str, Callable] = {
    "softmax": _softmax_rows,
    "log_softmax": _log_softmax_rows,
    "temperature_softmax": _temperature_rows,
    "logsumexp": _logsumexp_rows,
    "ssmax": _ssmax_rows,
    "sa_softmax": _sa_softmax_rows,
    "sa_softmax_normalized": _sa_softmax_normalized_rows,
    "topk_softmax": _topk_rows,
    "clipped_softmax": _clipped_rows,
    "gumbel_softmax": _gumbel_rows,
    "softpick": _softpick_rows,
    "sigmoid_attention": _sigmoid_attention_rows,
    "rela": _rela_rows,
    "sparsemax": _sparsemax_rows,
    "entmax15": _entmax15_rows,
    "entmax": _entmax_rows,
}

# The breadth maps (issue 15) register their evaluators from their own module.
NORMALIZERS.update(_BREADTH_FLOAT64)
NORMALIZERS.update(_BREADTH5_FLOAT64)

#: Maps whose outputs are elementwise in the row: NaN stays where it is.
ELEMENTWISE_IN_ROW = ("sigmoid_attention", "rela")


def prepare_rows(x, axis: int = -1) -> tuple[np.ndarray, tuple[int, ...]]:
    """``x`` as a float64 2-D array of rows (the ``axis`` moved last) and its moved shape."""
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim == 0:
        raise ValueError("row-wise maps need at least one axis")
    arr = np.moveaxis(arr, axis, -1)
    if arr.shape[-1] == 0:
        raise ValueError("row-wise maps need rows of length >= 1")
    return np.ascontiguousarray(arr.reshape(-1, arr.shape[-1])), arr.shape


def evaluate(
    name: str,
    x,
    params: Mapping[str, float] | None = None,
    *,
    axis: int = -1,
    g=None,
) -> np.ndarray:
    """Apply the row-wise catalog entry ``name`` to every row of ``x`` in float64.

    Parameters
    ----------
    name : str
        Entry id or alias (``"sparsemax"``, ``"entmax"``, ``"softpick"``, ...).
    x : array_like
        Input; rows along ``axis``. ``-inf`` marks masked entries.
    params : mapping, optional
        Parameter values (defaults from the entry; ranges are checked).
    axis : int
        The row axis.
    g : array_like, optional
        The Gumbel noise of ``gumbel_softmax`` (same shape as ``x``).

    Returns
    -------
    ndarray
        Same shape as ``x``; for the row reduction ``logsumexp`` the row axis is dropped.
    """
    entry = registry.get(name)
    if entry.id not in NORMALIZERS:
        raise ValueError(f"no float64 reference for entry {entry.id!r} (row-wise entries: {', '.join(NORMALIZERS)})")
    values = entry.param_values(params)
    rows, shape = prepare_rows(x, axis)
    extra = {}
    if g is not None:
        extra["g"] = prepare_rows(np.broadcast_to(np.asarray(g, dtype=np.float64), np.asarray(x).shape), axis)[0]
    mask = np.isneginf(rows)
    has_nan = np.isnan(rows).any(axis=-1)
    if "g" in extra:
        has_nan |= np.isnan(extra["g"]).any(axis=-1)
    full = mask.all(axis=-1)
    ok = ~(full | has_nan)
    reduction = entry.is_row_reduction
    out = np.empty(rows.shape[:1] if reduction else rows.shape)
    with np.errstate(all="ignore"):
        if ok.any():
            sub_extra = {k: v[ok] for k, v in extra.items()}
            out[ok] = NORMALIZERS[entry.id](rows[ok], mask[ok], values, sub_extra)
            if not reduction:  # a masked position gets the entry's value, whatever the row
                out[mask & ok[:, None]] = entry.mask.value
        out[full] = entry.mask.fully_masked
        if entry.id in ELEMENTWISE_IN_ROW and has_nan.any():
            out[has_nan] = NORMALIZERS[entry.id](rows[has_nan], mask[has_nan], values, {})
        else:
            out[has_nan & ~full] = np.nan
    if reduction:
        return out.reshape(shape[:-1])
    return np.moveaxis(out.reshape(shape), -1, axis)
