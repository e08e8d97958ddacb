r"""References of the breadth-III remainder (issue 15): float64, mpmath and closed-form Jacobians.

Row-wise maps (``catalog/normalizer/breadth5_vector.toml``), registered like
:mod:`funclib.rowwise.breadth` into :data:`funclib.rowwise.NORMALIZERS`,
:func:`funclib.rowwise.mp_reference` and :func:`funclib.rowwise.jacobian`:

* ``sparsehourglass`` (Laha et al. 2018): :math:`\mathrm{sparsemax}(\alpha(x)\,x)` with
  :math:`\alpha(x) = (1 + nq)/(|\sum_j x_j| + nq)`. Jacobian, with :math:`S` the support of the
  output, :math:`k = |S|`, :math:`s = \sum_j x_j`:

  .. math:: J_{ij} = [y_i > 0]\Big(\alpha(\delta_{ij} - [y_j > 0]/k)
            - \operatorname{sign}(s)\,\frac{y_i - 1/k}{|s| + nq}\Big)

  (sparsemax's Jacobian times :math:`\partial(\alpha x)/\partial x = \alpha I - \alpha
  \operatorname{sign}(s)\,x\mathbf 1^\top/(|s| + nq)`, with :math:`x_i - \bar x_S = (y_i - 1/k)/\alpha`
  on the support).
* ``nala_query_feature`` (NaLaFormer, Meng et al. 2025): :math:`y_i = (\max(x_i, 0)/r)^{p}`,
  :math:`r = \lVert x\rVert_2`, :math:`p = 3(\tfrac12 + \tanh r)`. Jacobian where :math:`x_i > 0`:

  .. math:: J_{ij} = p\,u_i^{p-1}\delta_{ij}/r + y_i x_j\big(3\operatorname{sech}^2(r)\log(u_i)/r - p/r^2\big),
            \qquad u_i = x_i/r

  (the norm is computed scaled by the row's largest magnitude, so huge and subnormal rows keep
  their value).
* ``vbaf`` (volatility-based activation, a row reduction
  :math:`\mathbb R^n \to \mathbb R`): :math:`\sum_j |x_j - \bar x|/|\bar x|`, gradient
  :math:`(\operatorname{sign}(x_j - \bar x) - \tfrac1n\sum_k \operatorname{sign}(x_k - \bar x)
  - y\operatorname{sign}(\bar x)/n)/|\bar x|`. The float64 form sums the row with
  :func:`math.fsum` (correctly rounded) and divides by :math:`|\sum x|/n` as
  :math:`n(A/|\sum x|)`, so rows whose mean underflows keep their value.

Concatenated (width-doubling) maps of ``catalog/grouped/breadth5_vector.toml``
(CReLU, NCReLU, paired ReLU): :func:`concatenated` evaluates them on a feature axis in the
layout of their reference code (``torch.cat((f1(x), f2(x)), dim)``: the first output of every
feature, then the second) and :func:`concatenated_jacobian` gives the ``(2n, n)`` Jacobian.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

import mpmath
import numpy as np

from .. import registry
from .sparse import sparsemax_rows

__all__ = ["FLOAT64", "MP", "JACOBIANS", "CONCATENATED", "concatenated", "concatenated_jacobian"]


# -- sparsehourglass ----------------------------------------------------------------------------

def _fsum(row: np.ndarray) -> float:
    """The correctly rounded sum of ``row``: ``inf`` where it overflows (``math.fsum`` raises
    there), NaN for NaN or for ``inf - inf``."""
    try:
        return math.fsum(row)
    except OverflowError:
        return math.copysign(math.inf, math.fsum(row * 2.0**-64))
    except ValueError:  # -inf + inf
        return math.nan


def _row_sums(x: np.ndarray) -> np.ndarray:
    return np.array([_fsum(row) for row in x])


def _downscale(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows whose sum could overflow scaled by 2**-64 (exact: their entries are huge), and the
    per-row factors (1 or 2**-64) applied."""
    big = np.max(np.abs(np.where(np.isfinite(x), x, 0.0)), axis=-1, keepdims=True) > 2.0**960
    factor = np.where(big, 2.0**-64, 1.0)
    return x * factor, factor


def _hourglass_scale(x: np.ndarray, mask: np.ndarray, q: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(alpha, s, n) per row: alpha = (1 + n q)/(|s| + n q), s the (correctly rounded) row sum."""
    xf = np.where(mask, 0.0, x)
    s = _row_sums(xf)[:, None]  # no cancellation error beyond one rounding
    n = np.count_nonzero(~mask, axis=-1)[:, None].astype(np.float64)
    return (1.0 + n * q) / (np.abs(s) + n * q), s, n


def _sparsehourglass(x, mask, p, extra):
    # alpha*x = (1 + n q) x'/(|s'| + n q c) for the row scaled by c (x' = c x, s' = c s): rows
    # whose sum overflows keep their value
    xs, c = _downscale(np.where(mask, 0.0, x))
    s = _row_sums(xs)[:, None]
    n = np.count_nonzero(~mask, axis=-1)[:, None].astype(np.float64)
    z = (1.0 + n * p["q"]) * xs / (np.abs(s) + n * p["q"] * c)
    return sparsemax_rows(np.where(mask, -np.inf, z))[0]


def _jac_sparsehourglass(x, y, mask, p):
    alpha, s, n = _hourglass_scale(x, mask, p["q"])
    support = (y > 0).astype(np.float64)
    k = np.sum(support, axis=-1, keepdims=True)
    eye = np.eye(x.shape[-1])
    proj = alpha[..., None] * (eye - support[..., None, :] / k[..., None])
    scale = (np.sign(s) / (np.abs(s) + n * p["q"]))[..., None]
    return support[..., :, None] * (proj - scale * (y - 1.0 / k)[..., :, None])


def _mp_sparsehourglass(x, p):
    from .mpref import entmax_row  # lazily: mpref imports this module's tables

    n, s = len(x), mpmath.fsum(x)
    alpha = (1 + n * p["q"]) / (abs(s) + n * p["q"])
    return entmax_row([alpha * v for v in x], 2)


# -- VBAF ---------------------------------------------------------------------------------------

def _vbaf(x, mask, p, extra):
    xf, _ = _downscale(np.where(mask, 0.0, x))  # VBAF is scale invariant
    s = _row_sums(xf)
    n = np.count_nonzero(~mask, axis=-1).astype(np.float64)
    mean = s / n
    dev = np.sum(np.where(mask, 0.0, np.abs(xf - mean[:, None])), axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        # A/|mean| as n (A/|s|): a mean that underflows (subnormal rows) keeps its sum.
        return (dev / np.abs(s)) * n


def _grad_vbaf(x, y, mask, p):
    # homogeneous of degree 0: the gradient at x is c times the gradient at c x
    xf, c = _downscale(np.where(mask, 0.0, x))
    s = _row_sums(xf)[:, None]
    n = np.count_nonzero(~mask, axis=-1)[:, None].astype(np.float64)
    mean = s / n
    sg = np.where(mask, 0.0, np.sign(xf - mean))
    inner = sg - np.sum(sg, axis=-1, keepdims=True) / n - y[:, None] * np.sign(s) / n
    return inner * (n / np.abs(s)) * c


def _mp_vbaf(x, p):
    n = len(x)
    mean = mpmath.fsum(x) / n
    dev = mpmath.fsum(abs(v - mean) for v in x)
    if mean == 0:  # a zero mean: infinite volatility, or 0/0 on the zero row
        return mpmath.inf if dev > 0 else mpmath.nan
    return dev / abs(mean)


# -- NaLaFormer's norm-aware query feature ----------------------------------------------------

def _nala_parts(x, mask):
    """(u, r, p): u_i = max(x_i, 0)/r, the norm r (scaled: no overflow or underflow), the power p."""
    xf = np.where(mask, 0.0, x)
    m = np.max(np.abs(xf), axis=-1, keepdims=True)
    safe = np.where(m > 0, m, 1.0)
    rho = np.sqrt(np.sum((xf / safe) ** 2, axis=-1, keepdims=True))  # r/m, in [1, sqrt(n)]
    r = m * rho
    u = np.maximum(xf, 0.0) / safe / rho  # 0/0 = NaN on the zero row, as the definition
    return u, r, 3.0 * (0.5 + np.tanh(r))


def _nala_query_feature(x, mask, p, extra):
    u, _, power = _nala_parts(x, mask)
    return u**power


def _jac_nala_query_feature(x, y, mask, p):
    u, r, power = _nala_parts(x, mask)
    xf = np.where(mask, 0.0, x)
    pos = u > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        # y_i p delta_ij/x_i = p u_i^(p-1)/r (no 0/0 for tiny x_i); the rest is y_i x_j (...)
        diag = np.where(pos, power * u ** (power - 1.0) / r, 0.0)
        sech2 = 1.0 / np.cosh(r) ** 2
        coef = np.where(pos, y * (3.0 * sech2 * np.log(np.where(pos, u, 1.0)) / r - power / r**2), 0.0)
    eye = np.eye(x.shape[-1])
    return diag[..., :, None] * eye + coef[..., :, None] * xf[..., None, :]


def _mp_nala_query_feature(x, p):
    r = mpmath.sqrt(mpmath.fsum(v * v for v in x))
    if r == 0:  # the zero row: 0/0
        return [mpmath.nan] * len(x)
    power = 3 * (mpmath.mpf(1) / 2 + mpmath.tanh(r))
    return [(max(v, 0) / r) ** power for v in x]


FLOAT64: dict[str, Callable] = {"sparsehourglass": _sparsehourglass, "vbaf": _vbaf, "nala_query_feature": _nala_query_feature}
MP: dict[str, Callable] = {"sparsehourglass": _mp_sparsehourglass, "vbaf": _mp_vbaf, "nala_query_feature": _mp_nala_query_feature}
JACOBIANS: dict[str, Callable] = {
    "sparsehourglass": _jac_sparsehourglass,
    "vbaf": _grad_vbaf,
    "nala_query_feature": _jac_nala_query_feature,
}


# -- concatenated maps (grouped entries with one input and two outputs) -------------------------

def _relu(z):
    return np.maximum(z, 0.0)


def _step(z):
    return (z > 0).astype(np.float64)  # derivative 0 at the kink, as the catalog's where(u > 0, ...)


#: id -> (outputs(x, p), derivatives(x, p)); each returns the pair (first, second).
CONCATENATED: dict[str, tuple[Callable, Callable]] = {
    "crelu": (lambda x, p: (_relu(x), _relu(-x)), lambda x, p: (_step(x), -_step(-x))),
    "ncrelu": (lambda x, p: (_relu(x), -_relu(-x)), lambda x, p: (_step(x), _step(-x))),
    "paired_relu": (
        lambda x, p: (_relu(p["a"] * x - p["b"]), _relu(p["c"] * x - p["d"])),
        lambda x, p: (p["a"] * _step(p["a"] * x - p["b"]), p["c"] * _step(p["c"] * x - p["d"])),
    ),
}


def _concat_parts(name: str, x, params: Mapping[str, float] | None, which: int):
    entry = registry.get(name)
    if entry.id not in CONCATENATED:
        raise ValueError(f"no concatenated evaluator for entry {entry.id!r} (entries: {', '.join(CONCATENATED)})")
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim == 0:
        raise ValueError(f"{entry.id}: concatenated maps need a feature axis")
    return arr, CONCATENATED[entry.id][which](arr, entry.param_values(params))


def concatenated(name: str, x, params: Mapping[str, float] | None = None, *, axis: int = -1) -> np.ndarray:
    r"""Apply the width-doubling entry ``name`` (``crelu``, ``ncrelu``, ``paired_relu``) along ``axis``.

    Returns ``concatenate((f_1(x), f_2(x)), axis)``: the size of ``axis`` doubles, the first half
    holds the first output of every feature (``torch_activation.CReLU``'s ``torch.cat`` layout).
    NaN inputs give NaN in both halves.
    """
    arr, (first, second) = _concat_parts(name, x, params, 0)
    nan = np.isnan(arr)
    return np.concatenate([np.where(nan, np.nan, first), np.where(nan, np.nan, second)], axis=axis)


def concatenated_jacobian(name: str, x, params: Mapping[str, float] | None = None) -> np.ndarray:
    """The Jacobian of :func:`concatenated` along the last axis: shape ``x.shape[:-1] + (2n, n)``."""
    arr, (d1, d2) = _concat_parts(name, x, params, 1)
    eye = np.eye(arr.shape[-1])
    nan = np.isnan(arr)[..., None, :]
    blocks = [np.where(nan, np.nan, d[..., :, None] * eye) for d in (d1, d2)]
    return np.concatenate(blocks, axis=-2)
