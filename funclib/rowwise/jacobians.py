r"""Closed-form Jacobians of the row-wise normalizers in float64 (NumPy).

``jacobian(name, x)`` returns :math:`J_{ij} = \partial y_i/\partial x_j` for every row of ``x``,
shape ``(..., n, n)``, from the same closed forms the catalog entries store (``jacobian``
field), evaluated from the float64 outputs of :func:`funclib.rowwise.evaluate`:

=======================  ==========================================================
softmax family           :math:`c\, y_i(\delta_{ij} - y_j)`, :math:`c = 1, 1/T, s\log n, 1/\tau`
log-softmax              :math:`\delta_{ij} - e^{y_j}`
sparsemax / entmax       :math:`\mathrm{diag}(g) - g g^\top/\sum g`, :math:`g = p^{2-\alpha}` on the support
softpick                 :math:`(\delta_{ij}[x_i > 0]e^{x_i} - y_i\,\mathrm{sign}(x_j)e^{x_j})/D`
clipped softmax          :math:`(\zeta-\gamma)[0<y_i<1]\, s_i(\delta_{ij} - s_j)`
=======================  ==========================================================

Masked entries (``-inf``) are constants: their rows and columns are 0. A fully masked or NaN row
gives a zero (respectively NaN) matrix. The row reduction ``logsumexp`` returns its gradient,
shape ``(..., n)``.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from .. import registry
from .reference import NORMALIZERS, evaluate, prepare_rows, softpick_terms
from .stable import softmax as _softmax
from .sparse import entmax_support_weights
from .breadth import JACOBIANS as BREADTH_JACOBIANS
from .breadth5 import JACOBIANS as BREADTH5_JACOBIANS

__all__ = ["jacobian"]


def _softmax_like(y: np.ndarray, scale) -> np.ndarray:
    return scale * (y[..., :, None] * (np.eye(y.shape[-1]) - y[..., None, :]))


def _sparse(p: np.ndarray, alpha: float) -> np.ndarray:
    g = entmax_support_weights(p, alpha)
    total = np.sum(g, axis=-1)[..., None, None]
    return g[..., :, None] * np.eye(p.shape[-1]) - g[..., :, None] * g[..., None, :] / total


def _rows_jacobian(entry_id: str, x: np.ndarray, y: np.ndarray, mask: np.ndarray, p: dict) -> np.ndarray:
    if entry_id in BREADTH_JACOBIANS:  # the breadth maps (funclib.rowwise.breadth)
        return BREADTH_JACOBIANS[entry_id](x, y, mask, p)
    if entry_id in BREADTH5_JACOBIANS:  # funclib.rowwise.breadth5
        return BREADTH5_JACOBIANS[entry_id](x, y, mask, p)
    n = x.shape[-1]
    eye = np.eye(n)
    if entry_id in ("softmax", "topk_softmax"):
        return _softmax_like(y, 1.0)
    if entry_id == "temperature_softmax":
        return _softmax_like(y, 1.0 / p["T"])
    if entry_id == "gumbel_softmax":
        return _softmax_like(y, 1.0 / p["tau"])
    if entry_id == "ssmax":
        n_eff = np.count_nonzero(~mask, axis=-1).astype(np.float64)
        return _softmax_like(y, (p["s"] * np.log(n_eff))[:, None, None])
    if entry_id == "log_softmax":
        return eye - np.exp(y)[..., None, :]
    if entry_id == "sparsemax":
        return _sparse(y, 2.0)
    if entry_id == "entmax15":
        return _sparse(y, 1.5)
    if entry_id == "entmax":
        return _sparse(y, p["alpha"])
    s = _softmax(x)
    if entry_id == "sa_softmax":
        return eye * s[..., :, None] + y[..., :, None] * (eye - s[..., None, :])
    if entry_id == "sa_softmax_normalized":
        xf = np.where(mask, np.nan, x)
        lo, hi = np.nanmin(xf, axis=-1, keepdims=True), np.nanmax(xf, axis=-1, keepdims=True)
        a, b = np.minimum(lo, 0.0), np.maximum(hi, 0.0)
        da = ((x == lo) & (lo < 0)).astype(np.float64)
        db = ((x == hi) & (hi > 0)).astype(np.float64)
        r = (np.where(mask, 0.0, x) - a) / (b - a)
        inner = eye - da[..., None, :] - r[..., :, None] * (db - da)[..., None, :]
        return y[..., :, None] * (eye - s[..., None, :]) + s[..., :, None] * inner / (b - a)[..., None]
    if entry_id == "clipped_softmax":
        active = ((y > 0) & (y < 1)).astype(np.float64)
        return (p["zeta"] - p["gam"]) * active[..., :, None] * _softmax_like(s, 1.0)
    if entry_id == "softpick":
        xf = np.where(mask, 0.0, x)
        _, shift, denom = softpick_terms(x, mask, p["eps"])
        ex = np.where(mask, 0.0, np.exp(xf - shift))  # e^{x_j} scaled like the denominator
        diag = eye * ((xf > 0) * ex / denom)[..., :, None]
        return diag - y[..., :, None] * (np.sign(xf) * ex / denom)[..., None, :]
    if entry_id == "sigmoid_attention":
        return eye * (y * (1 - y))[..., :, None]
    if entry_id == "rela":
        return eye * (x > 0)[..., :, None]
    if entry_id == "logsumexp":
        return s
    raise ValueError(f"no closed-form Jacobian for {entry_id!r}")


def jacobian(name: str, x, params: Mapping[str, float] | None = None, *, g=None) -> np.ndarray:
    """Closed-form Jacobian of the row-wise entry ``name`` for every row of ``x`` (last axis).

    Returns an array of shape ``x.shape + (n,)`` (``x.shape`` for ``logsumexp``: its gradient).
    """
    entry = registry.get(name)
    if entry.id not in NORMALIZERS:
        raise ValueError(f"no reference Jacobian for entry {entry.id!r}")
    p = entry.param_values(params)
    y = evaluate(entry.id, x, params, g=g)
    rows, shape = prepare_rows(x)
    n = rows.shape[-1]
    y_rows = y.reshape(-1) if entry.is_row_reduction else y.reshape(-1, n)
    mask = np.isneginf(rows)
    nan_rows = np.isnan(rows).any(axis=-1)
    full = mask.all(axis=-1)
    ok = ~(full | nan_rows)
    out_shape = (rows.shape[0], n) if entry.is_row_reduction else (rows.shape[0], n, n)
    out = np.zeros(out_shape)
    g_rows = None if g is None else prepare_rows(np.broadcast_to(g, np.shape(x)))[0]
    with np.errstate(all="ignore"):
        if ok.any():
            x_ok = rows[ok]
            if entry.id == "gumbel_softmax":
                x_ok = x_ok + g_rows[ok]
            jac = _rows_jacobian(entry.id, x_ok, y_rows[ok], mask[ok], p)
            keep = ~mask[ok]
            if entry.is_row_reduction:
                jac = np.where(keep, jac, 0.0)
            else:
                jac = jac * keep[:, :, None] * keep[:, None, :]
            out[ok] = jac
        out[nan_rows] = np.nan
    return out.reshape(shape + (() if entry.is_row_reduction else (n,)))
