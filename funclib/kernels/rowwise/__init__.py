"""Row-wise CPU kernels: softmax family, sparsemax/entmax, softpick and SSMax (public API).

Every function maps the last axis (or ``axis``) of an array of any batch shape, in float32 or
float64 (the output has the input's dtype), with an optional boolean ``mask`` broadcastable to
the input's shape. ``mask`` marks with ``True`` the entries that take part (PyTorch
``scaled_dot_product_attention``'s boolean ``attn_mask`` and ``jax.nn.softmax(where=...)``);
masked entries are excluded from every reduction and get the map's masked value.

=======================  ===========================  ===================  ==================
map                      masked entry                 fully masked row     algorithms
=======================  ===========================  ===================  ==================
softmax, ssmax           0                            zeros                three_pass, online, two_pass
log_softmax              ``-inf``                     ``-inf``             three_pass, online, two_pass
logsumexp                left out                     ``-inf``             three_pass
sparsemax                0                            zeros                condat, sort
entmax15                 0                            zeros                exact sort-based
entmax_bisect            0                            zeros                bisection + exact support pass
softpick                 0 (out of the denominator)   zeros                direct
issue-15 breadth maps    see below                    see below            see below
=======================  ===========================  ===================  ==================

The issue-15 breadth maps (StableMax, Log-StableMax, Taylor and spherical softmax, L2/RMS
normalization, standardization, sparsegen-lin, the ReLU attentions, AB-ReLU, k-WTA, hardmax,
ev-softmax, mellowmax, the Boltzmann operator) are defined in
:mod:`funclib.kernels.rowwise.breadth` (definitions, conventions) and re-exported here, and so
are sparsehourglass, VBAF and NaLaFormer's query feature map
(:mod:`funclib.kernels.rowwise.breadth7`).

Derivatives come from the closed-form Jacobians: ``*_jvp(x, v)`` returns :math:`J v` and
``*_vjp(x, u)`` returns :math:`J^\\top u` (tangent/cotangent of the input's shape; 0 at masked
entries). Where the Jacobian depends on the output only, ``y=`` reuses a forward result.

Kernels are compiled by Numba on first use and cached on disk (``cache=True``); rows are
processed in parallel (``prange``) above :data:`~funclib.kernels.rowwise.layout.PARALLEL_MIN_ELEMENTS`
elements, deterministically. See ``docs/rowwise-kernels.md`` for algorithms, accuracy and
speed.
"""

from __future__ import annotations

import math

import numpy as np

from funclib.kernels.rowwise import softmax_family as _sm
from funclib.kernels.rowwise import softpick_family as _sp
from funclib.kernels.rowwise import sparse as _sx
from funclib.kernels.rowwise.breadth import *  # noqa: F401,F403 - re-exported (issue-15 maps)
from funclib.kernels.rowwise.breadth import __all__ as _BREADTH_ALL
from funclib.kernels.rowwise.breadth7 import *  # noqa: F401,F403 - re-exported (sparsehourglass, vbaf, NaLa)
from funclib.kernels.rowwise.breadth7 import __all__ as _BREADTH7_ALL
from funclib.kernels.rowwise.layout import Rows, as_rows, check_scalar

__all__ = [
    "SOFTMAX_ALGORITHMS",
    "SPARSEMAX_ALGORITHMS",
    "softmax",
    "softmax_jvp",
    "softmax_vjp",
    "log_softmax",
    "log_softmax_jvp",
    "log_softmax_vjp",
    "logsumexp",
    "ssmax",
    "ssmax_jvp",
    "ssmax_vjp",
    "sparsemax",
    "sparsemax_jvp",
    "sparsemax_vjp",
    "entmax15",
    "entmax15_jvp",
    "entmax15_vjp",
    "entmax_bisect",
    "entmax_bisect_jvp",
    "entmax_bisect_vjp",
    "softpick",
    "softpick_jvp",
    "softpick_vjp",
    *_BREADTH_ALL,
    *_BREADTH7_ALL,
]

#: Softmax algorithms (see :mod:`funclib.kernels.rowwise.softmax_family`).
SOFTMAX_ALGORITHMS = tuple(_sm.ALGORITHMS)
#: Sparsemax algorithms (see :mod:`funclib.kernels.rowwise.sparse`).
SPARSEMAX_ALGORITHMS = ("condat", "sort")


def _algo(name: str, algorithm: str) -> int:
    if algorithm not in _sm.ALGORITHMS:
        raise ValueError(f"{name}: unknown algorithm {algorithm!r}; choose one of {SOFTMAX_ALGORITHMS}")
    return _sm.ALGORITHMS[algorithm]


def _alpha(name: str, alpha) -> float:
    return check_scalar(name, "alpha", alpha, lo=1.0, hi=2.0, lo_open=True)


# --------------------------------------------------------------------------------------
# softmax family
# --------------------------------------------------------------------------------------


def _softmax_rows(r: Rows, algo: int, log: bool, ssmax_: bool, s: float) -> np.ndarray:
    out = r.empty()
    drive = _sm.softmax_parallel if r.parallel else _sm.softmax_serial
    drive(r.x, r.mask, r.has_mask, algo, log, ssmax_, s, out)
    return out


def softmax(x, axis: int = -1, *, mask=None, algorithm: str = "three_pass") -> np.ndarray:
    """Softmax :math:`y_i = e^{x_i} / \\sum_{j} e^{x_j}` over ``axis``.

    Parameters
    ----------
    x : array_like of float32 or float64
        Input of any shape (at least 1-D).
    axis : int
        The axis normalized over.
    mask : array_like of bool, optional
        ``True`` where the entry takes part; masked entries give 0, fully masked rows zeros.
    algorithm : {"three_pass", "online", "two_pass"}
        Safe three-pass softmax, the online normalizer (Milakov & Gimelshein 2018) or the
        Two-Pass algorithm (Dukhan & Ablavatski 2020).

    Returns
    -------
    numpy.ndarray
        Same shape and dtype as ``x``.
    """
    r = as_rows("softmax", x, axis, mask)
    return r.restore(_softmax_rows(r, _algo("softmax", algorithm), False, False, 0.0))


def log_softmax(x, axis: int = -1, *, mask=None, algorithm: str = "three_pass") -> np.ndarray:
    """Log-softmax :math:`x_i - \\log \\sum_j e^{x_j}` over ``axis`` (masked entries ``-inf``).

    Parameters are those of :func:`softmax`; fully masked rows give ``-inf``.
    """
    r = as_rows("log_softmax", x, axis, mask)
    return r.restore(_softmax_rows(r, _algo("log_softmax", algorithm), True, False, 0.0))


def logsumexp(x, axis: int = -1, *, mask=None) -> np.ndarray:
    """:math:`\\log \\sum_j e^{x_j}` over ``axis`` (kept entries; ``-inf`` for a fully masked row).

    Returns an array of the input's shape without ``axis``, in float64 for float64 input and
    float32 for float32 input. Its gradient is :func:`softmax`.
    """
    r = as_rows("logsumexp", x, axis, mask)
    out = np.empty(r.rows, dtype=np.float64)
    drive = _sm.logsumexp_parallel if r.parallel else _sm.logsumexp_serial
    drive(r.x, r.mask, r.has_mask, out)
    return r.restore_reduced(out.astype(r.dtype))


def _sym(name: str, x, w, what, axis, mask, y, algorithm, ssmax_: bool, s: float) -> np.ndarray:
    r = as_rows(name, x, axis, mask)
    w2 = r.companion(w, what)
    if y is None:
        y2 = _softmax_rows(r, _algo(name, algorithm), False, ssmax_, s)
    else:
        y2 = r.companion(y, "y")
    out = r.empty()
    drive = _sm.sym_product_parallel if r.parallel else _sm.sym_product_serial
    drive(y2, w2, r.mask, r.has_mask, ssmax_, s, out)
    return r.restore(out)


def softmax_jvp(x, v, axis: int = -1, *, mask=None, y=None, algorithm: str = "three_pass") -> np.ndarray:
    """JVP of softmax: :math:`J v = y \\odot (v - \\langle y, v \\rangle)`, :math:`J = \\mathrm{diag}(y) - y y^\\top`.

    ``y`` (optional) is ``softmax(x, ...)`` computed before; otherwise it is recomputed.
    """
    return _sym("softmax_jvp", x, v, "v", axis, mask, y, algorithm, False, 0.0)


def softmax_vjp(x, u, axis: int = -1, *, mask=None, y=None, algorithm: str = "three_pass") -> np.ndarray:
    """VJP of softmax: :math:`J^\\top u = y \\odot (u - \\langle y, u \\rangle)` (``J`` is symmetric)."""
    return _sym("softmax_vjp", x, u, "u", axis, mask, y, algorithm, False, 0.0)


def _log_product(name, x, w, what, axis, mask, y, algorithm, vjp: bool) -> np.ndarray:
    r = as_rows(name, x, axis, mask)
    w2 = r.companion(w, what)
    ly = _softmax_rows(r, _algo(name, algorithm), True, False, 0.0) if y is None else r.companion(y, "y")
    out = r.empty()
    drive = _sm.log_softmax_product_parallel if r.parallel else _sm.log_softmax_product_serial
    drive(ly, w2, r.mask, r.has_mask, vjp, out)
    return r.restore(out)


def log_softmax_jvp(x, v, axis: int = -1, *, mask=None, y=None, algorithm: str = "three_pass") -> np.ndarray:
    """JVP of log-softmax: :math:`J v = v - \\langle p, v \\rangle`, :math:`J = I - \\mathbf{1} p^\\top`, :math:`p = e^{y}`.

    ``y`` (optional) is ``log_softmax(x, ...)`` computed before.
    """
    return _log_product("log_softmax_jvp", x, v, "v", axis, mask, y, algorithm, False)


def log_softmax_vjp(x, u, axis: int = -1, *, mask=None, y=None, algorithm: str = "three_pass") -> np.ndarray:
    """VJP of log-softmax: :math:`J^\\top u = u - p \\sum_i u_i`, :math:`p = e^{y}`."""
    return _log_product("log_softmax_vjp", x, u, "u", axis, mask, y, algorithm, True)


def ssmax(x, s=0.43, axis: int = -1, *, mask=None, algorithm: str = "three_pass") -> np.ndarray:
    """Scalable-Softmax (Nakanishi 2025): :math:`\\mathrm{softmax}(s \\log(n)\\, x)`.

    ``n`` is the number of kept entries of the row (the row length without a mask; under a
    causal mask, the prefix length). ``s >= 0`` is the learnable scale (catalog range
    ``[0, inf)``, default 0.43 as the catalog entry ``ssmax``).
    The product :math:`s \\log(n)` is rounded to the input dtype and multiplies ``x`` before
    the softmax kernel.
    """
    sv = check_scalar("ssmax", "s", s, lo=0.0)
    r = as_rows("ssmax", x, axis, mask)
    _check_ssmax_scale(r, sv)
    return r.restore(_softmax_rows(r, _algo("ssmax", algorithm), False, True, sv))


def _check_ssmax_scale(r, s: float) -> None:
    """Refuse a scale whose products s log(n) x_i overflow the dtype (they would give NaN rows)."""
    if s == 0.0 or r.x.size == 0:
        return
    finite = r.x[np.isfinite(r.x)]
    big = float(np.max(np.abs(finite))) if finite.size else 0.0
    top = s * math.log(max(r.x.shape[-1], 1)) * big
    if not top <= float(np.finfo(r.x.dtype).max):
        raise ValueError(f"ssmax: s*log(n)*max|x| = {top:.3g} overflows {r.x.dtype}; the scores "
                         f"s = {s:g} times the inputs are not representable")


def ssmax_jvp(x, s, v, axis: int = -1, *, mask=None, y=None, algorithm: str = "three_pass") -> np.ndarray:
    """JVP of SSMax with respect to ``x``: :math:`c\\, y \\odot (v - \\langle y, v\\rangle)`, :math:`c = s \\log n`."""
    sv = check_scalar("ssmax_jvp", "s", s, lo=0.0)
    return _sym("ssmax_jvp", x, v, "v", axis, mask, y, algorithm, True, sv)


def ssmax_vjp(x, s, u, axis: int = -1, *, mask=None, y=None, algorithm: str = "three_pass",
              return_s_grad: bool = False):
    """VJP of SSMax: :math:`J^\\top u = c\\, y \\odot (u - \\langle y, u\\rangle)` (symmetric ``J``).

    With ``return_s_grad=True`` also returns :math:`\\partial \\langle u, y\\rangle / \\partial s
    = \\sum_{\\text{rows}} \\log(n) (\\langle u \\odot y, x\\rangle - \\langle u, y\\rangle \\langle y, x\\rangle)`
    (float64 scalar, rows summed with :func:`numpy.sum`).
    """
    sv = check_scalar("ssmax_vjp", "s", s, lo=0.0)
    dx = _sym("ssmax_vjp", x, u, "u", axis, mask, y, algorithm, True, sv)
    if not return_s_grad:
        return dx
    r = as_rows("ssmax_vjp", x, axis, mask)
    y2 = _softmax_rows(r, _algo("ssmax_vjp", algorithm), False, True, sv) if y is None else r.companion(y, "y")
    per_row = np.empty(r.rows, dtype=np.float64)
    _sm.ssmax_s_grad_serial(r.x, y2, r.companion(u, "u"), r.mask, r.has_mask, per_row)
    return dx, float(np.sum(per_row))


# --------------------------------------------------------------------------------------
# sparse family
# --------------------------------------------------------------------------------------


def _sparse_rows(r: Rows, kind: int, alpha: float) -> np.ndarray:
    out = r.empty()
    drive = _sx.sparse_parallel if r.parallel else _sx.sparse_serial
    drive(r.x, r.mask, r.has_mask, kind, alpha, out)
    return out


def _sparse_product(name, x, w, what, axis, mask, y, kind, alpha) -> np.ndarray:
    r = as_rows(name, x, axis, mask)
    w2 = r.companion(w, what)
    p = _sparse_rows(r, kind, alpha) if y is None else r.companion(y, "y")
    out = r.empty()
    drive = _sx.sparse_product_parallel if r.parallel else _sx.sparse_product_serial
    drive(p, w2, r.mask, r.has_mask, alpha, out)
    return r.restore(out)


def _sparsemax_kind(name: str, algorithm: str) -> int:
    if algorithm not in SPARSEMAX_ALGORITHMS:
        raise ValueError(f"{name}: unknown algorithm {algorithm!r}; choose one of {SPARSEMAX_ALGORITHMS}")
    return _sx.KINDS["sparsemax_" + algorithm]


def sparsemax(x, axis: int = -1, *, mask=None, algorithm: str = "condat") -> np.ndarray:
    """Sparsemax: the Euclidean projection of each row onto the probability simplex.

    :math:`p_i = [x_i - \\tau]_+` with :math:`\\sum_i p_i = 1`. ``algorithm="condat"``
    (default) is Condat's O(n) method; ``"sort"`` the sort-based reference.
    """
    r = as_rows("sparsemax", x, axis, mask)
    return r.restore(_sparse_rows(r, _sparsemax_kind("sparsemax", algorithm), 2.0))


def sparsemax_jvp(x, v, axis: int = -1, *, mask=None, y=None) -> np.ndarray:
    """JVP of sparsemax: :math:`J v = g \\odot v - g \\langle g, v\\rangle / \\sum g`, ``g`` the support indicator."""
    return _sparse_product("sparsemax_jvp", x, v, "v", axis, mask, y, _sx.KINDS["sparsemax_condat"], 2.0)


def sparsemax_vjp(x, u, axis: int = -1, *, mask=None, y=None) -> np.ndarray:
    """VJP of sparsemax (the Jacobian is symmetric: same formula as :func:`sparsemax_jvp`)."""
    return _sparse_product("sparsemax_vjp", x, u, "u", axis, mask, y, _sx.KINDS["sparsemax_condat"], 2.0)


def entmax15(x, axis: int = -1, *, mask=None) -> np.ndarray:
    """Exact 1.5-entmax: :math:`p_i = [x_i/2 - \\tau]_+^2`, :math:`\\sum_i p_i = 1` (sort-based, Peters et al. 2019)."""
    r = as_rows("entmax15", x, axis, mask)
    return r.restore(_sparse_rows(r, _sx.KINDS["entmax15_sort"], 1.5))


def entmax15_jvp(x, v, axis: int = -1, *, mask=None, y=None) -> np.ndarray:
    """JVP of 1.5-entmax: :math:`J v = g \\odot v - g \\langle g, v\\rangle/\\sum g`, :math:`g = \\sqrt{p}`."""
    return _sparse_product("entmax15_jvp", x, v, "v", axis, mask, y, _sx.KINDS["entmax15_sort"], 1.5)


def entmax15_vjp(x, u, axis: int = -1, *, mask=None, y=None) -> np.ndarray:
    """VJP of 1.5-entmax (symmetric Jacobian: same formula as :func:`entmax15_jvp`)."""
    return _sparse_product("entmax15_vjp", x, u, "u", axis, mask, y, _sx.KINDS["entmax15_sort"], 1.5)


def entmax_bisect(x, alpha=1.5, axis: int = -1, *, mask=None) -> np.ndarray:
    """α-entmax for :math:`\\alpha \\in (1, 2]`: :math:`p_i = [(\\alpha-1)x_i - \\tau]_+^{1/(\\alpha-1)}`, :math:`\\sum p = 1`.

    :math:`\\tau` by bisection on :math:`[(\\alpha-1)\\max x - 1, (\\alpha-1)\\max x - n^{1-\\alpha}]`
    until the support is known, then an exact solve on the support (Newton from the left).
    """
    a = _alpha("entmax_bisect", alpha)
    r = as_rows("entmax_bisect", x, axis, mask)
    return r.restore(_sparse_rows(r, _sx.KINDS["entmax_bisect"], a))


def entmax_bisect_jvp(x, alpha, v, axis: int = -1, *, mask=None, y=None) -> np.ndarray:
    """JVP of α-entmax: :math:`J v = g \\odot v - g \\langle g, v\\rangle/\\sum g`, :math:`g = p^{2-\\alpha}` on the support."""
    a = _alpha("entmax_bisect_jvp", alpha)
    return _sparse_product("entmax_bisect_jvp", x, v, "v", axis, mask, y, _sx.KINDS["entmax_bisect"], a)


def entmax_bisect_vjp(x, alpha, u, axis: int = -1, *, mask=None, y=None) -> np.ndarray:
    """VJP of α-entmax (symmetric Jacobian: same formula as :func:`entmax_bisect_jvp`)."""
    a = _alpha("entmax_bisect_vjp", alpha)
    return _sparse_product("entmax_bisect_vjp", x, u, "u", axis, mask, y, _sx.KINDS["entmax_bisect"], a)


# --------------------------------------------------------------------------------------
# softpick
# --------------------------------------------------------------------------------------


def softpick(x, axis: int = -1, *, mask=None, eps: float = 1e-8) -> np.ndarray:
    """Softpick (Zuhri et al. 2025): :math:`\\mathrm{ReLU}(e^{x_i}-1) / (\\sum_j |e^{x_j}-1| + \\epsilon)`.

    The paper's formula (catalog entry ``softpick``); masked and ``-inf`` entries are left
    out of the denominator and give 0. ``eps >= 0`` (default 1e-8, the authors' value).
    """
    e = check_scalar("softpick", "eps", eps, lo=0.0)
    r = as_rows("softpick", x, axis, mask)
    out = r.empty()
    drive = _sp.softpick_parallel if r.parallel else _sp.softpick_serial
    drive(r.x, r.mask, r.has_mask, e, out)
    return r.restore(out)


def _softpick_product(name, x, w, what, axis, mask, eps, vjp: bool) -> np.ndarray:
    e = check_scalar(name, "eps", eps, lo=0.0)
    r = as_rows(name, x, axis, mask)
    w2 = r.companion(w, what)
    out = r.empty()
    drive = _sp.softpick_product_parallel if r.parallel else _sp.softpick_product_serial
    drive(r.x, w2, r.mask, r.has_mask, e, vjp, out)
    return r.restore(out)


def softpick_jvp(x, v, axis: int = -1, *, mask=None, eps: float = 1e-8) -> np.ndarray:
    """JVP of softpick: :math:`(J v)_i = [x_i>0] a_i v_i - y_i \\sum_j \\mathrm{sign}(x_j) a_j v_j`, :math:`a_j = e^{x_j}/D`."""
    return _softpick_product("softpick_jvp", x, v, "v", axis, mask, eps, False)


def softpick_vjp(x, u, axis: int = -1, *, mask=None, eps: float = 1e-8) -> np.ndarray:
    """VJP of softpick: :math:`(J^\\top u)_j = [x_j>0] a_j u_j - \\mathrm{sign}(x_j) a_j \\langle u, y\\rangle`."""
    return _softpick_product("softpick_vjp", x, u, "u", axis, mask, eps, True)
