"""Row-wise CPU kernels of the issue-15 breadth maps (public API, re-exported by ``rowwise``).

Same calling conventions as :mod:`funclib.kernels.rowwise`: the last axis (or ``axis``) of an
array of any batch shape, float32 or float64 (output in the input's dtype, computed in float64),
a boolean ``mask`` (``True`` = the entry takes part) broadcastable to the input, and
``*_jvp(x, v, ...)`` = :math:`J v`, ``*_vjp(x, u, ...)`` = :math:`J^\\top u` (0 at masked
entries). A ``-inf`` input is a masked entry. The maps and their conventions are the catalog
entries of the same id (``catalog/normalizer/breadth_*.toml``, ``catalog/gated/breadth_moe.toml``,
``breadth_adaptive_softmax.toml``); most use the mask rule ``remove`` (masked entries leave the
sums and ``n``); ``sparsegen_lin``, ``hardmax``, the soft maxima and the three compositions of
:mod:`funclib.kernels.rowwise.routers` use ``limit`` (a masked entry acts as :math:`-\\infty`).

============================  =================================================  ========  ================
map                           definition                                         masked    kernel
============================  =================================================  ========  ================
stablemax                     s(x_i)/Σ s(x_j), s = x+1 (x≥0), 1/(1−x) (x<0)      0         weighted
log_stablemax                 log s(x_i) − log Σ s(x_j)                          −inf      weighted
taylor_softmax                (1 + x_i + x_i²/2)/Σ(1 + x_j + x_j²/2)             0         weighted
spherical_softmax             (x_i² + ε)/Σ(x_j² + ε)                             0         weighted
l2_normalize                  x_i/max(‖x‖₂, ε)                                   0         scale
rms_normalize                 x_i/√(Σx_j²/n + ε)                                 0         scale
standardize                   (x_i − μ)/√(Σ(x_j − μ)²/n + ε)                     0         scale
sparsegen_lin                 sparsemax(x/(1 − λ))                               0         sparsemax
relu_seqlen_attention         max(x_i, 0)/n                                      0         counted
relu2_attention               max(x_i/n, 0)²                                     0         counted
ab_relu                       max(x_i − μ, 0)                                    0         counted
ash                           x_i sigmoid(α(x_i − μ − zσ))                       0         zscore
z_loss_classification         softplus(a(b − (x_i − μ)/σ))/a                     0         zscore
softmax_then_topk             softmax(x)_i at the k largest x_i, else 0          0         softmax + select
sigmoid_topk_gate             sigmoid(x_i)/Σ_T sigmoid(x_j), T = top k of s + b  0         select
adaptive_temperature_softmax  softmax(βx), β = max(p(H), 1) from the entropy H   0         softmax
kwta                          x_i if fewer than k entries are larger, else 0     0         select
hardmax                       [x_i = max x]/#maxima                              0         select
ev_softmax                    softmax over the entries x_i ≥ mean(x)             0         select + softmax
mellowmax                     max x + log(Σ e^{ω(x_j − max x)}/N)/ω (per row)    left out  softmaxima
boltzmann_operator            Σ x_j e^{βx_j}/Σ e^{βx_j} (per row)                left out  softmaxima
============================  =================================================  ========  ================

The two soft maxima reduce the row (result of the input's shape without ``axis``; ``-inf`` for a
fully masked row; ``N`` in mellowmax is the full row length, the catalog's rule ``limit``);
their ``*_jvp`` returns :math:`\\langle \\nabla, v\\rangle` per row and ``*_vjp(x, u)`` takes one
cotangent per row and returns :math:`u\\,\\nabla` of the input's shape.

Fully masked rows give the masked value everywhere (zeros; ``-inf`` for log_stablemax); a kept
NaN gives NaN at the kept entries, and so does ``+inf`` except where the map has a limit there
(the ReLU attentions and soft maxima: ``+inf``; k-WTA and hardmax: a winner; the sigmoid gate:
:math:`s = 1`). The kernels are in :mod:`funclib.kernels.rowwise.weighted`,
:mod:`funclib.kernels.rowwise.scale`, :mod:`funclib.kernels.rowwise.counted`,
:mod:`funclib.kernels.rowwise.select`, :mod:`funclib.kernels.rowwise.softmaxima` and
:mod:`funclib.kernels.rowwise.zscore`; the compositions in :mod:`funclib.kernels.rowwise.routers`;
``docs/rowwise-kernels.md`` has the algorithms, accuracy and speed.
"""

from __future__ import annotations

import numpy as np

from funclib.kernels.rowwise import scale as _sc
from funclib.kernels.rowwise import sparse as _sx
from funclib.kernels.rowwise import weighted as _wt
from funclib.kernels.rowwise.layout import as_rows, check_scalar
from funclib.kernels.rowwise.breadth_stats import *  # noqa: F401,F403 - re-exported
from funclib.kernels.rowwise.breadth_stats import __all__ as _STATS_ALL
from funclib.kernels.rowwise.routers import *  # noqa: F401,F403 - compositions, re-exported
from funclib.kernels.rowwise.routers import __all__ as _ROUTERS_ALL

__all__ = [
    "stablemax", "stablemax_jvp", "stablemax_vjp",
    "log_stablemax", "log_stablemax_jvp", "log_stablemax_vjp",
    "taylor_softmax", "taylor_softmax_jvp", "taylor_softmax_vjp",
    "spherical_softmax", "spherical_softmax_jvp", "spherical_softmax_vjp",
    "l2_normalize", "l2_normalize_jvp", "l2_normalize_vjp",
    "rms_normalize", "rms_normalize_jvp", "rms_normalize_vjp",
    "standardize", "standardize_jvp", "standardize_vjp",
    "sparsegen_lin", "sparsegen_lin_jvp", "sparsegen_lin_vjp",
    *_STATS_ALL,
    *_ROUTERS_ALL,
]


# --------------------------------------------------------------------------------------
# weight, then normalise
# --------------------------------------------------------------------------------------


def _weighted(name, entry, x, axis, mask, eps, log):
    r = as_rows(name, x, axis, mask)
    out = r.empty()
    drive = _wt.weighted_parallel if r.parallel else _wt.weighted_serial
    drive(r.x, r.mask, r.has_mask, _wt.KINDS[entry], log, eps, out)
    return r.restore(out)


def _weighted_product(name, entry, x, w, what, axis, mask, eps, log, vjp):
    r = as_rows(name, x, axis, mask)
    w2 = r.companion(w, what)
    out = r.empty()
    drive = _wt.weighted_product_parallel if r.parallel else _wt.weighted_product_serial
    drive(r.x, w2, r.mask, r.has_mask, _wt.KINDS[entry], log, eps, vjp, out)
    return r.restore(out)


def stablemax(x, axis: int = -1, *, mask=None) -> np.ndarray:
    """StableMax (Prieto et al. 2025): :math:`y_i = s(x_i)/\\sum_j s(x_j)`.

    :math:`s(x) = x + 1` for :math:`x \\ge 0` and :math:`1/(1 - x)` for :math:`x < 0`.

    Parameters
    ----------
    x : array_like of float32 or float64
        Input of any shape (at least 1-D).
    axis : int
        The axis normalized over.
    mask : array_like of bool, optional
        ``True`` where the entry takes part; masked entries give 0, fully masked rows zeros.

    Returns
    -------
    numpy.ndarray
        Same shape and dtype as ``x``.
    """
    return _weighted("stablemax", "stablemax", x, axis, mask, 0.0, False)


def stablemax_jvp(x, v, axis: int = -1, *, mask=None) -> np.ndarray:
    """JVP of StableMax: :math:`(J v)_i = (s'(x_i) v_i - y_i \\langle s'(x), v\\rangle)/\\sum_k s(x_k)`."""
    return _weighted_product("stablemax_jvp", "stablemax", x, v, "v", axis, mask, 0.0, False, False)


def stablemax_vjp(x, u, axis: int = -1, *, mask=None) -> np.ndarray:
    """VJP of StableMax: :math:`(J^\\top u)_j = s'(x_j)(u_j - \\langle y, u\\rangle)/\\sum_k s(x_k)`."""
    return _weighted_product("stablemax_vjp", "stablemax", x, u, "u", axis, mask, 0.0, False, True)


def log_stablemax(x, axis: int = -1, *, mask=None) -> np.ndarray:
    """Log-StableMax: :math:`\\log s(x_i) - \\log \\sum_j s(x_j)` (masked entries and fully masked rows ``-inf``).

    Parameters are those of :func:`stablemax`.
    """
    return _weighted("log_stablemax", "stablemax", x, axis, mask, 0.0, True)


def log_stablemax_jvp(x, v, axis: int = -1, *, mask=None) -> np.ndarray:
    """JVP of Log-StableMax: :math:`v_i/(1 + |x_i|) - \\langle s'(x), v\\rangle/\\sum_k s(x_k)`."""
    return _weighted_product("log_stablemax_jvp", "stablemax", x, v, "v", axis, mask, 0.0, True, False)


def log_stablemax_vjp(x, u, axis: int = -1, *, mask=None) -> np.ndarray:
    """VJP of Log-StableMax: :math:`u_j/(1 + |x_j|) - s'(x_j) \\sum_i u_i/\\sum_k s(x_k)`."""
    return _weighted_product("log_stablemax_vjp", "stablemax", x, u, "u", axis, mask, 0.0, True, True)


def taylor_softmax(x, axis: int = -1, *, mask=None) -> np.ndarray:
    """Taylor softmax (de Brébisson & Vincent 2016): :math:`f(x_i)/\\sum_j f(x_j)`, :math:`f(x) = 1 + x + x^2/2`.

    Parameters are those of :func:`stablemax`.
    """
    return _weighted("taylor_softmax", "taylor_softmax", x, axis, mask, 0.0, False)


def taylor_softmax_jvp(x, v, axis: int = -1, *, mask=None) -> np.ndarray:
    """JVP of Taylor softmax: :math:`((1 + x_i) v_i - y_i \\langle 1 + x, v\\rangle)/\\sum_k f(x_k)`."""
    return _weighted_product("taylor_softmax_jvp", "taylor_softmax", x, v, "v", axis, mask, 0.0, False, False)


def taylor_softmax_vjp(x, u, axis: int = -1, *, mask=None) -> np.ndarray:
    """VJP of Taylor softmax: :math:`(1 + x_j)(u_j - \\langle y, u\\rangle)/\\sum_k f(x_k)`."""
    return _weighted_product("taylor_softmax_vjp", "taylor_softmax", x, u, "u", axis, mask, 0.0, False, True)


def _eps_sph(name, eps):
    return check_scalar(name, "eps", eps, lo=0.0)


def spherical_softmax(x, axis: int = -1, *, mask=None, eps: float = 0.0) -> np.ndarray:
    """Spherical softmax (de Brébisson & Vincent 2016): :math:`(x_i^2 + \\epsilon)/\\sum_j (x_j^2 + \\epsilon)`.

    ``eps >= 0`` (catalog default 0: a row whose kept entries are all 0 gives NaN, 0/0).
    Other parameters are those of :func:`stablemax`.
    """
    return _weighted("spherical_softmax", "spherical_softmax", x, axis, mask,
                     _eps_sph("spherical_softmax", eps), False)


def spherical_softmax_jvp(x, v, axis: int = -1, *, mask=None, eps: float = 0.0) -> np.ndarray:
    """JVP of spherical softmax: :math:`2(x_i v_i - y_i \\langle x, v\\rangle)/\\sum_k (x_k^2 + \\epsilon)`."""
    return _weighted_product("spherical_softmax_jvp", "spherical_softmax", x, v, "v", axis, mask,
                             _eps_sph("spherical_softmax_jvp", eps), False, False)


def spherical_softmax_vjp(x, u, axis: int = -1, *, mask=None, eps: float = 0.0) -> np.ndarray:
    """VJP of spherical softmax: :math:`2 x_j (u_j - \\langle y, u\\rangle)/\\sum_k (x_k^2 + \\epsilon)`."""
    return _weighted_product("spherical_softmax_vjp", "spherical_softmax", x, u, "u", axis, mask,
                             _eps_sph("spherical_softmax_vjp", eps), False, True)


# --------------------------------------------------------------------------------------
# shift, then scale
# --------------------------------------------------------------------------------------


def _scaled(name, entry, x, axis, mask, eps):
    e = check_scalar(name, "eps", eps, lo=0.0, lo_open=True)
    r = as_rows(name, x, axis, mask)
    out = r.empty()
    drive = _sc.scale_parallel if r.parallel else _sc.scale_serial
    drive(r.x, r.mask, r.has_mask, _sc.KINDS[entry], e, out)
    return r.restore(out)


def _scaled_product(name, entry, x, w, what, axis, mask, eps):
    e = check_scalar(name, "eps", eps, lo=0.0, lo_open=True)
    r = as_rows(name, x, axis, mask)
    w2 = r.companion(w, what)
    out = r.empty()
    drive = _sc.scale_product_parallel if r.parallel else _sc.scale_product_serial
    drive(r.x, w2, r.mask, r.has_mask, _sc.KINDS[entry], e, out)
    return r.restore(out)


def l2_normalize(x, axis: int = -1, *, mask=None, eps: float = 1e-12) -> np.ndarray:
    """L2 normalization :math:`x_i/\\max(\\|x\\|_2, \\epsilon)` (``torch.nn.functional.normalize``).

    Parameters
    ----------
    x : array_like of float32 or float64
        Input of any shape (at least 1-D).
    axis : int
        The axis normalized over.
    mask : array_like of bool, optional
        ``True`` where the entry takes part; masked entries give 0 and are left out of the norm.
    eps : float
        ``eps > 0`` (catalog default 1e-12).

    Returns
    -------
    numpy.ndarray
        Same shape and dtype as ``x``.
    """
    return _scaled("l2_normalize", "l2_normalize", x, axis, mask, eps)


def l2_normalize_jvp(x, v, axis: int = -1, *, mask=None, eps: float = 1e-12) -> np.ndarray:
    """JVP of L2 normalization: :math:`(v - y\\langle y, v\\rangle)/\\|x\\|`.

    Where :math:`\\|x\\| \\le \\epsilon` the map is :math:`x/\\epsilon` and the JVP :math:`v/\\epsilon`.
    """
    return _scaled_product("l2_normalize_jvp", "l2_normalize", x, v, "v", axis, mask, eps)


def l2_normalize_vjp(x, u, axis: int = -1, *, mask=None, eps: float = 1e-12) -> np.ndarray:
    """VJP of L2 normalization (symmetric Jacobian: the formula of :func:`l2_normalize_jvp`)."""
    return _scaled_product("l2_normalize_vjp", "l2_normalize", x, u, "u", axis, mask, eps)


def rms_normalize(x, axis: int = -1, *, mask=None, eps: float = 1e-8) -> np.ndarray:
    """RMS normalization (RMSNorm without gain): :math:`x_i/\\sqrt{\\sum_j x_j^2/n + \\epsilon}`.

    ``n`` counts the kept entries; ``eps > 0`` (catalog default 1e-8). Other parameters are
    those of :func:`l2_normalize`.
    """
    return _scaled("rms_normalize", "rms_normalize", x, axis, mask, eps)


def rms_normalize_jvp(x, v, axis: int = -1, *, mask=None, eps: float = 1e-8) -> np.ndarray:
    """JVP of RMS normalization: :math:`(v - y\\langle y, v\\rangle/n)/r`, :math:`r = \\sqrt{\\sum x^2/n + \\epsilon}`."""
    return _scaled_product("rms_normalize_jvp", "rms_normalize", x, v, "v", axis, mask, eps)


def rms_normalize_vjp(x, u, axis: int = -1, *, mask=None, eps: float = 1e-8) -> np.ndarray:
    """VJP of RMS normalization (symmetric Jacobian: the formula of :func:`rms_normalize_jvp`)."""
    return _scaled_product("rms_normalize_vjp", "rms_normalize", x, u, "u", axis, mask, eps)


def standardize(x, axis: int = -1, *, mask=None, eps: float = 1e-5) -> np.ndarray:
    """Standardization (LayerNorm without affine): :math:`(x_i - \\mu)/\\sqrt{\\sum_j (x_j - \\mu)^2/n + \\epsilon}`.

    :math:`\\mu` is the mean of the kept entries, ``n`` their number; ``eps > 0`` (catalog
    default 1e-5). Other parameters are those of :func:`l2_normalize`.
    """
    return _scaled("standardize", "standardize", x, axis, mask, eps)


def standardize_jvp(x, v, axis: int = -1, *, mask=None, eps: float = 1e-5) -> np.ndarray:
    """JVP of standardization: :math:`(v - \\bar v - y\\langle y, v\\rangle/n)/\\sigma_\\epsilon`."""
    return _scaled_product("standardize_jvp", "standardize", x, v, "v", axis, mask, eps)


def standardize_vjp(x, u, axis: int = -1, *, mask=None, eps: float = 1e-5) -> np.ndarray:
    """VJP of standardization (symmetric Jacobian: the formula of :func:`standardize_jvp`)."""
    return _scaled_product("standardize_vjp", "standardize", x, u, "u", axis, mask, eps)


# --------------------------------------------------------------------------------------
# sparsegen-lin: sparsemax of x/(1 - lam), on the sparsemax kernels
# --------------------------------------------------------------------------------------


def _sparsegen_rows(name, x, lam, axis, mask):
    """The rows and the scores z = max((x - max x)/(1 - lam), -2) of the rows with a finite maximum.

    sparsemax is shift invariant and gives 0 to every z below max z - 1, so the shift and the
    clamp change nothing but keep the scores finite for any lam < 1. The scores stay in float64
    (the sparsemax kernel runs in float64; the output is rounded once to the input dtype).
    """
    lv = check_scalar(name, "lam", lam, hi=1.0, hi_open=True)
    r = as_rows(name, x, axis, mask)
    scale = 1.0 / (1.0 - lv)
    x64 = r.x.astype(np.float64)
    kept = np.where(r.mask, x64, -np.inf) if r.has_mask else x64
    with np.errstate(invalid="ignore", over="ignore"):
        m = np.max(kept, axis=-1, initial=-np.inf, keepdims=True)
        ok = np.isfinite(m)  # fully masked, NaN and +inf rows go to the kernel unchanged
        z = np.where(ok, np.maximum((x64 - np.where(ok, m, 0.0)) * scale, -2.0), x64)
    return r, z, scale


def sparsegen_lin(x, lam: float = 0.0, axis: int = -1, *, mask=None) -> np.ndarray:
    """sparsegen-lin (Laha et al. 2018): :math:`\\mathrm{sparsemax}(x/(1 - \\lambda))`, :math:`\\lambda < 1`.

    The shifted scores :math:`(x - \\max x)/(1-\\lambda)` (clamped at -2: such entries are outside
    the support anyway) are formed and projected by Condat's sparsemax kernel in float64
    (the output is rounded once to the input dtype); ``lam`` is in :math:`(-\\infty, 1)` (catalog default 0).
    Conventions are sparsemax's (a kept NaN or ``+inf`` gives a NaN row).
    """
    r, z, _ = _sparsegen_rows("sparsegen_lin", x, lam, axis, mask)
    out = np.empty_like(z)
    drive = _sx.sparse_parallel if r.parallel else _sx.sparse_serial
    drive(z, r.mask, r.has_mask, _sx.KINDS["sparsemax_condat"], 2.0, out)
    return r.restore(out.astype(r.dtype))


def _sparsegen_product(name, x, lam, w, what, axis, mask):
    r, z, scale = _sparsegen_rows(name, x, lam, axis, mask)
    w2 = r.companion(w, what).astype(np.float64)
    p = np.empty_like(z)
    drive = _sx.sparse_parallel if r.parallel else _sx.sparse_serial
    drive(z, r.mask, r.has_mask, _sx.KINDS["sparsemax_condat"], 2.0, p)
    out = np.empty_like(z)
    drive = _sx.sparse_product_parallel if r.parallel else _sx.sparse_product_serial
    drive(p, w2, r.mask, r.has_mask, 2.0, out)
    return r.restore((out * scale).astype(r.dtype))


def sparsegen_lin_jvp(x, v, lam: float = 0.0, axis: int = -1, *, mask=None) -> np.ndarray:
    """JVP of sparsegen-lin: :math:`(g \\odot v - g\\langle g, v\\rangle/\\sum g)/(1 - \\lambda)`.

    ``g`` is the support indicator of the output.
    """
    return _sparsegen_product("sparsegen_lin_jvp", x, lam, v, "v", axis, mask)


def sparsegen_lin_vjp(x, u, lam: float = 0.0, axis: int = -1, *, mask=None) -> np.ndarray:
    """VJP of sparsegen-lin (symmetric Jacobian: the formula of :func:`sparsegen_lin_jvp`)."""
    return _sparsegen_product("sparsegen_lin_vjp", x, lam, u, "u", axis, mask)
