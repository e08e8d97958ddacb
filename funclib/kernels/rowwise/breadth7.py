"""Row-wise CPU kernels of sparsehourglass, VBAF and NaLaFormer's query feature map (issue 15).

Same calling conventions as :mod:`funclib.kernels.rowwise` (last axis or ``axis``, float32 or
float64, computed in float64 and rounded once, boolean ``mask`` with ``True`` = the entry takes
part, a ``-inf`` input is a masked entry). The maps are the catalog entries of the same id
(``catalog/normalizer/breadth5_vector.toml``, mask rule ``remove`` for all three: masked entries
leave the sums, norms and ``n``); the float64 references and closed-form Jacobians are in
:mod:`funclib.rowwise.breadth5`.

* ``sparsehourglass``: :math:`\\mathrm{sparsemax}(\\alpha x)`,
  :math:`\\alpha = (1 + nq)/(|\\sum_j x_j| + nq)`; a fully masked row gives zeros;
* ``vbaf``: :math:`\\sum_j |x_j - \\bar x|/|\\bar x|`, one value per row; a fully masked row gives 0;
* ``nala_query_feature``: :math:`(\\max(x_i, 0)/r)^{p}`, :math:`r = \\lVert x\\rVert_2`,
  :math:`p = 3(\\frac12 + \\tanh r)`; a fully masked row gives zeros.

Numerics. Every row is first scaled by the power of two :math:`c` that brings its largest
magnitude into [0.5, 2) (exact), so rows near ``finfo.max`` and subnormal rows keep their value:

* sparsehourglass: the row sum :math:`\\sigma = c\\sum x` is Neumaier-compensated,
  :math:`h = 1/(|\\sigma|/c + nq)` and :math:`\\alpha = (1 + nq)h` (for rows with :math:`c \\le 1`
  as :math:`c/(|\\sigma| + c\\,nq)`, so neither :math:`|\\sigma|/c` nor :math:`c\\,nq` overflows); the
  scores are formed shifted, :math:`z_i = \\max(\\alpha(x_i - \\max x), -2)` (sparsemax is shift invariant and gives 0 below
  :math:`\\max z - 1`, so the shift and clamp change nothing but keep :math:`\\alpha x` from
  overflowing, e.g. on ``[big, -big]`` where :math:`\\alpha = 2`), and projected by Condat's
  sparsemax kernel in float64. JVP :math:`P(\\alpha v - \\mathrm{sign}(\\sigma) h (\\sum v) z)`, VJP
  :math:`\\alpha t - \\mathrm{sign}(\\sigma) h \\langle z, t\\rangle \\mathbf 1`, :math:`t = P u`, with
  :math:`P` the sparsemax Jacobian at the output (constants on the support are in its kernel,
  which is why the shifted :math:`z` may replace :math:`\\alpha x`).
* vbaf: :math:`\\sigma` as above, the scaled mean :math:`\\sigma/n`, the deviations summed plainly;
  :math:`y = n\\,\\mathrm{dev}/|\\sigma|` (scale invariant, so no unscaling). Gradient
  :math:`(\\mathrm{sign}(x_j - \\bar x) - \\frac1n\\sum_k \\mathrm{sign}(x_k - \\bar x) - y\\,\\mathrm{sign}(\\bar x)/n)/|\\bar x|`.
* nala_query_feature: :math:`\\rho = \\lVert c x\\rVert_2`, :math:`u_i = \\max(c x_i, 0)/\\rho`,
  :math:`r = \\rho/c`, :math:`y_i = u_i^p` (libm ``pow``), :math:`\\mathrm{sech}^2 r = 4t/(1+t)^2`,
  :math:`t = e^{-2r}`. With :math:`X = \\sum_j c x_j v_j`:
  :math:`(Jv)_i = c\\,(p u_i^{p-1} v_i/\\rho - y_i p X/\\rho^2) + 3\\,\\mathrm{sech}^2(r)\\,y_i \\log(u_i) X/\\rho`
  where :math:`x_i > 0`, and :math:`(J^\\top w)_j = [x_j > 0]\\,c\\,p u_j^{p-1} w_j/\\rho + c x_j
  \\sum_i w_i y_i (3\\,\\mathrm{sech}^2(r) \\log(u_i)/\\rho - p c/\\rho^2)`.

Conventions: masked entries give 0 (VBAF: leave the row); a row without kept entries gives zeros
(VBAF 0, gradient 0); a kept NaN or ``+inf`` gives NaN at the kept entries (VBAF: NaN). VBAF on a
row of zero mean is ``+inf`` (NaN on the zero row, 0/0) and its gradient NaN; NaLaFormer's map is
NaN at the kept entries of a zero row (0/0, as the authors' code). The Jacobian conventions are
the catalog's: sparsemax's at support boundaries, :math:`\\mathrm{sign}(0) = 0` at
:math:`\\sum x = 0` and at VBAF's kinks :math:`x_j = \\bar x`.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from .. import numba_cache  # noqa: F401 - Numba caches go to the funclib cache, not the package

from funclib.kernels.rowwise.layout import as_rows, check_scalar
from funclib.kernels.rowwise.reduce import JIT, JIT_PARALLEL, JIT_SUM, fill
from funclib.kernels.rowwise.sparse import sparse_product_row, sparsemax_row_condat
from funclib.kernels.rowwise.weighted import pow2_scale, row_extremes

__all__ = [
    "sparsehourglass", "sparsehourglass_jvp", "sparsehourglass_vjp",
    "vbaf", "vbaf_jvp", "vbaf_vjp",
    "nala_query_feature", "nala_query_feature_jvp", "nala_query_feature_vjp",
]


# --------------------------------------------------------------------------------------
# shared row helpers
# --------------------------------------------------------------------------------------


@njit(**JIT)
def _kept(x, mk, has_mask, i):
    return mk[i if has_mask else 0] & (np.float64(x[i]) != -np.inf)


@njit(**JIT)
def _nan_kept(x, mk, has_mask, out):
    """NaN at the kept entries, 0 elsewhere (rows holding NaN or ``+inf``)."""
    for i in range(x.shape[0]):
        out[i] = np.nan if _kept(x, mk, has_mask, i) else 0.0


@njit(**JIT)
def _scaled_sum(x, mk, has_mask, c):
    """Neumaier-compensated sum of the kept ``c x_i`` (float64)."""
    s = 0.0
    comp = 0.0
    for i in range(x.shape[0]):
        xi = np.float64(x[i])
        v = xi * c if (mk[i if has_mask else 0] & (xi != -np.inf)) else 0.0
        t = s + v
        # branch-free select: only ``s = t`` is on the loop-carried path
        comp += ((s - t) + v) if abs(s) >= abs(v) else ((v - t) + s)
        s = t
    return s + comp


@njit(**JIT)
def _setup(x, mk, has_mask):
    """``(status, m, cnt, c)``: status 0 = no kept entry, 1 = NaN/+inf row, 2 = regular."""
    m, lo, cnt = row_extremes(x, mk, has_mask)
    if cnt == 0:
        return 0, 0.0, 0, 1.0
    if not m < np.inf:
        return 1, m, cnt, 1.0
    return 2, m, cnt, pow2_scale(max(abs(m), abs(lo)))


# --------------------------------------------------------------------------------------
# sparsehourglass
# --------------------------------------------------------------------------------------


@njit(**JIT)
def _hourglass_scores(x, mk, has_mask, q, z):
    """Shifted scores ``z`` (float64, -inf at masked entries); returns ``(status, alpha, h, sign)``."""
    status, m, cnt, c = _setup(x, mk, has_mask)
    if status != 2:
        return status, 0.0, 0.0, 0.0
    sigma = _scaled_sum(x, mk, has_mask, c)
    nq = np.float64(cnt) * q
    mc = m * c
    if c <= 1.0:
        # large rows: |s|/c may overflow, so work with the scaled alpha/c and x c - m c
        hc = 1.0 / (abs(sigma) + c * nq)
        a_s = (1.0 + nq) * hc
        h = hc * c
        alpha = a_s * c
    else:
        # small rows: c nq may overflow, |sigma|/c and x - m do not
        h = 1.0 / (abs(sigma) / c + nq)
        alpha = (1.0 + nq) * h
        a_s = alpha / c
    for i in range(x.shape[0]):
        if _kept(x, mk, has_mask, i):
            d = (np.float64(x[i]) * c - mc) if c <= 1.0 else (np.float64(x[i]) - m)
            z[i] = max((a_s if c <= 1.0 else alpha) * d, -2.0)
        else:
            z[i] = -np.inf
    return 2, alpha, h, np.sign(sigma)


@njit(**JIT)
def _hourglass_row(x, mk, has_mask, q, z, y, buf, buf2):
    """Sparsehourglass of one row into ``y`` (float64); returns the scores' ``(status, alpha, h, sign)``."""
    st = _hourglass_scores(x, mk, has_mask, q, z)
    if st[0] == 0:
        fill(y, 0.0)
    elif st[0] == 1:
        _nan_kept(x, mk, has_mask, y)
    else:
        sparsemax_row_condat(z, mk, has_mask, buf, buf2, y)
    return st


@njit(**JIT)
def hourglass_value_row(x, mk, has_mask, q, z, y, buf, buf2, out):
    _hourglass_row(x, mk, has_mask, q, z, y, buf, buf2)
    dt = out.dtype.type
    for i in range(x.shape[0]):
        out[i] = dt(y[i])


@njit(**JIT)
def hourglass_product_row(x, w, mk, has_mask, q, vjp, z, y, buf, buf2, out):
    """JVP (``vjp=False``: ``w`` = tangent) or VJP (``w`` = cotangent) of one row."""
    status, alpha, h, sg = _hourglass_row(x, mk, has_mask, q, z, y, buf, buf2)
    dt = out.dtype.type
    n = x.shape[0]
    if status != 2:
        for i in range(n):
            out[i] = dt(y[i])  # zeros, or NaN at the kept entries
        return
    if not vjp:
        sv = 0.0
        for i in range(n):
            sv += np.float64(w[i]) if _kept(x, mk, has_mask, i) else 0.0
        for i in range(n):
            buf[i] = alpha * np.float64(w[i]) - sg * h * sv * z[i] if y[i] > 0.0 else 0.0
        sparse_product_row(y, buf, mk, has_mask, 2.0, buf2)
        for i in range(n):
            out[i] = dt(buf2[i])
        return
    for i in range(n):
        buf[i] = np.float64(w[i])
    sparse_product_row(y, buf, mk, has_mask, 2.0, buf2)  # t = P u, 0 off the support
    zt = 0.0
    for i in range(n):
        zt += z[i] * buf2[i] if y[i] > 0.0 else 0.0
    shift = sg * h * zt
    for i in range(n):
        out[i] = dt(alpha * buf2[i] - shift) if _kept(x, mk, has_mask, i) else dt(0.0)


@njit(**JIT)
def hourglass_serial(x, w, mk, has_mask, q, mode, out):
    """Row loop: ``mode`` 0 = value, 1 = JVP, 2 = VJP (``w`` ignored for the value)."""
    n = x.shape[1]
    z, y, buf, buf2 = np.empty(n), np.empty(n), np.empty(n), np.empty(n)
    for r in range(x.shape[0]):
        m = mk[r if has_mask else 0]
        if mode == 0:
            hourglass_value_row(x[r], m, has_mask, q, z, y, buf, buf2, out[r])
        else:
            hourglass_product_row(x[r], w[r], m, has_mask, q, mode == 2, z, y, buf, buf2, out[r])


@njit(**JIT_PARALLEL)
def hourglass_parallel(x, w, mk, has_mask, q, mode, out):
    """Parallel :func:`hourglass_serial` (chunks of rows with their own scratch; bitwise equal)."""
    rows, n = x.shape
    nch = min(rows, 256)
    for c in prange(nch):
        ci = np.int64(c)
        z, y, buf, buf2 = np.empty(n), np.empty(n), np.empty(n), np.empty(n)
        for r in range(ci * rows // nch, (ci + 1) * rows // nch):
            m = mk[r if has_mask else r - r]
            if mode == 0:
                hourglass_value_row(x[r], m, has_mask, q, z, y, buf, buf2, out[r])
            else:
                hourglass_product_row(x[r], w[r], m, has_mask, q, mode == 2, z, y, buf, buf2, out[r])


# --------------------------------------------------------------------------------------
# VBAF
# --------------------------------------------------------------------------------------


@njit(**JIT_SUM)
def _deviation_sums(x, mk, has_mask, c, mu):
    """``(sum |c x_i - mu|, sum sign(c x_i - mu))`` over the kept entries (branch-free: vectorized)."""
    dev = 0.0
    ssum = 0.0
    for i in range(x.shape[0]):
        xi = np.float64(x[i])
        k = mk[i if has_mask else 0] & (xi != -np.inf)
        d = xi * c - mu
        dev += abs(d) if k else 0.0
        ssum += (1.0 if d > 0.0 else (-1.0 if d < 0.0 else 0.0)) if k else 0.0
    return dev, ssum


@njit(**JIT)
def vbaf_row(x, mk, has_mask, g, want_grad):
    """VBAF of one row (float64); the gradient into ``g`` (float64) when ``want_grad``."""
    status, m, cnt, c = _setup(x, mk, has_mask)
    if status == 0:
        if want_grad:
            fill(g, 0.0)
        return 0.0
    if status == 1:
        if want_grad:
            _nan_kept(x, mk, has_mask, g)
        return np.nan
    sigma = _scaled_sum(x, mk, has_mask, c)
    nn = np.float64(cnt)
    mu = sigma / nn
    dev, ssum = _deviation_sums(x, mk, has_mask, c, mu)
    y = nn * (dev / abs(sigma)) if sigma != 0.0 else (np.inf if dev > 0.0 else np.nan)
    if want_grad:
        if sigma == 0.0:
            _nan_kept(x, mk, has_mask, g)
        else:
            _fill_gradient(x, mk, has_mask, c, mu, ssum / nn + y * np.sign(sigma) / nn, nn * (c / abs(sigma)), g)
    return y


@njit(**JIT)
def _fill_gradient(x, mk, has_mask, c, mu, shift, scale, g):
    """``g_i = (sign(c x_i - mu) - shift) scale`` at the kept entries, else 0 (branch-free)."""
    for i in range(x.shape[0]):
        xi = np.float64(x[i])
        k = mk[i if has_mask else 0] & (xi != -np.inf)
        d = xi * c - mu
        sg = 1.0 if d > 0.0 else (-1.0 if d < 0.0 else 0.0)
        g[i] = (sg - shift) * scale if k else 0.0


@njit(**JIT)
def vbaf_serial(x, mk, has_mask, want_grad, out, g):
    """Row loop of :func:`vbaf_row` (``out``: one float64 per row, ``g``: float64 rows)."""
    for r in range(x.shape[0]):
        out[r] = vbaf_row(x[r], mk[r if has_mask else 0], has_mask, g[r if want_grad else 0], want_grad)


@njit(**JIT_PARALLEL)
def vbaf_parallel(x, mk, has_mask, want_grad, out, g):
    """Parallel :func:`vbaf_serial`."""
    for r in prange(x.shape[0]):
        out[r] = vbaf_row(x[r], mk[r if has_mask else r - r], has_mask, g[r if want_grad else r - r], want_grad)


@njit(**JIT)
def _vbaf_vjp_row(x, mk, has_mask, ur, g, out):
    vbaf_row(x, mk, has_mask, g, True)
    dt = out.dtype.type
    for i in range(x.shape[0]):
        out[i] = dt(g[i] * ur)


@njit(**JIT)
def vbaf_vjp_serial(x, mk, has_mask, u, out):
    """Row loop of the VJP ``out[r] = u[r] grad(r)`` in the input dtype (float64 scratch per row)."""
    g = np.empty(x.shape[1])
    for r in range(x.shape[0]):
        _vbaf_vjp_row(x[r], mk[r if has_mask else 0], has_mask, u[r], g, out[r])


@njit(**JIT_PARALLEL)
def vbaf_vjp_parallel(x, mk, has_mask, u, out):
    """Parallel :func:`vbaf_vjp_serial` (chunks of rows with their own scratch)."""
    rows, n = x.shape
    nch = min(rows, 256)
    for c in prange(nch):
        ci = np.int64(c)
        g = np.empty(n)
        for r in range(ci * rows // nch, (ci + 1) * rows // nch):
            _vbaf_vjp_row(x[r], mk[r if has_mask else r - r], has_mask, u[r], g, out[r])


# --------------------------------------------------------------------------------------
# NaLaFormer's norm-aware query feature map
# --------------------------------------------------------------------------------------


@njit(**JIT)
def _nala_state(x, mk, has_mask):
    """``(status, c, rho, p, sech2)``: status 0 = no kept entry, 1 = NaN (incl. the zero row), 2 = regular."""
    status, m, cnt, c = _setup(x, mk, has_mask)
    if status != 2:
        return status, 1.0, 0.0, 0.0, 0.0
    ss = 0.0
    for i in range(x.shape[0]):
        if _kept(x, mk, has_mask, i):
            t = np.float64(x[i]) * c
            ss += t * t
    if ss == 0.0:
        return 1, c, 0.0, 0.0, 0.0
    rho = math.sqrt(ss)
    r = rho / c
    t = math.exp(-2.0 * r)
    return 2, c, rho, 3.0 * (0.5 + math.tanh(r)), 4.0 * t / ((1.0 + t) * (1.0 + t))


@njit(**JIT)
def nala_row(x, mk, has_mask, out):
    status, c, rho, p, _ = _nala_state(x, mk, has_mask)
    dt = out.dtype.type
    for i in range(x.shape[0]):
        if not _kept(x, mk, has_mask, i):
            out[i] = dt(0.0)
        elif status == 1:
            out[i] = dt(np.nan)
        else:
            u = max(np.float64(x[i]) * c, 0.0) / rho
            out[i] = dt(u**p)


@njit(**JIT)
def nala_product_row(x, w, mk, has_mask, vjp, out):
    """JVP (``vjp=False``) or VJP of one row (formulas in the module docstring)."""
    n = x.shape[0]
    status, c, rho, p, sech2 = _nala_state(x, mk, has_mask)
    dt = out.dtype.type
    if status != 2:
        for i in range(n):
            kept = _kept(x, mk, has_mask, i)
            out[i] = dt(np.nan) if (kept and status == 1) else dt(0.0)
        return
    acc = 0.0  # JVP: X = sum c x_j v_j; VJP: sum_i w_i y_i (3 sech2 log u_i/rho - p c/rho^2)
    for i in range(n):
        if not _kept(x, mk, has_mask, i):
            continue
        xc = np.float64(x[i]) * c
        if not vjp:
            acc += xc * np.float64(w[i])
        elif xc > 0.0:
            u = xc / rho
            acc += np.float64(w[i]) * u**p * (3.0 * sech2 * math.log(u) / rho - p * c / (rho * rho))
    for i in range(n):
        if not _kept(x, mk, has_mask, i):
            out[i] = dt(0.0)
            continue
        xc = np.float64(x[i]) * c
        wi = np.float64(w[i])
        diag = 0.0
        if xc > 0.0:
            u = xc / rho
            diag = c * p * u ** (p - 1.0) * wi / rho
            if not vjp:
                y = u**p
                diag += y * acc * (3.0 * sech2 * math.log(u) / rho - p * c / (rho * rho))
                out[i] = dt(diag)
                continue
        out[i] = dt(diag + xc * acc) if vjp else dt(0.0)


@njit(**JIT)
def nala_serial(x, w, mk, has_mask, mode, out):
    """Row loop: ``mode`` 0 = value, 1 = JVP, 2 = VJP."""
    for r in range(x.shape[0]):
        m = mk[r if has_mask else 0]
        if mode == 0:
            nala_row(x[r], m, has_mask, out[r])
        else:
            nala_product_row(x[r], w[r], m, has_mask, mode == 2, out[r])


@njit(**JIT_PARALLEL)
def nala_parallel(x, w, mk, has_mask, mode, out):
    """Parallel :func:`nala_serial`."""
    for r in prange(x.shape[0]):
        m = mk[r if has_mask else r - r]
        if mode == 0:
            nala_row(x[r], m, has_mask, out[r])
        else:
            nala_product_row(x[r], w[r], m, has_mask, mode == 2, out[r])


# --------------------------------------------------------------------------------------
# public API
# --------------------------------------------------------------------------------------


def _drive(name, serial, parallel, x, w, what, axis, mask, mode, *scalars):
    r = as_rows(name, x, axis, mask)
    w2 = r.x if w is None else r.companion(w, what)
    out = r.empty()
    (parallel if r.parallel else serial)(r.x, w2, r.mask, r.has_mask, *scalars, mode, out)
    return r.restore(out)


def _q(name, q):
    return check_scalar(name, "q", q, lo=0.0, lo_open=True)


def sparsehourglass(x, q: float = 1.0, axis: int = -1, *, mask=None) -> np.ndarray:
    """Sparsehourglass (Laha et al. 2018): :math:`\\mathrm{sparsemax}(\\alpha(x)\\,x)`, :math:`\\alpha = (1 + nq)/(|\\sum_j x_j| + nq)`.

    Parameters
    ----------
    x : array_like of float32 or float64
        Input of any shape (at least 1-D).
    q : float
        ``q > 0`` (catalog default 1): small ``q`` makes the map scale invariant, large ``q``
        gives sparsemax.
    axis : int
        The axis normalized over.
    mask : array_like of bool, optional
        ``True`` where the entry takes part; masked entries leave the sum and ``n`` and give 0;
        fully masked rows give zeros.

    Returns
    -------
    numpy.ndarray
        Same shape and dtype as ``x``.
    """
    qv = _q("sparsehourglass", q)
    return _drive("sparsehourglass", hourglass_serial, hourglass_parallel, x, None, "", axis, mask, 0, qv)


def sparsehourglass_jvp(x, v, q: float = 1.0, axis: int = -1, *, mask=None) -> np.ndarray:
    """JVP of sparsehourglass: :math:`P(\\alpha v - \\alpha\\,\\mathrm{sign}(s)\\,(\\sum_j v_j)\\,x/(|s| + nq))`.

    :math:`P = \\mathrm{diag}(g) - g g^\\top/\\sum g` is sparsemax's Jacobian (``g`` the support
    indicator), :math:`s = \\sum_j x_j`.
    """
    qv = _q("sparsehourglass_jvp", q)
    return _drive("sparsehourglass_jvp", hourglass_serial, hourglass_parallel, x, v, "v", axis, mask, 1, qv)


def sparsehourglass_vjp(x, u, q: float = 1.0, axis: int = -1, *, mask=None) -> np.ndarray:
    """VJP of sparsehourglass: :math:`\\alpha t - \\alpha\\,\\mathrm{sign}(s)\\,\\langle x, t\\rangle\\mathbf 1/(|s| + nq)`, :math:`t = P u`."""
    qv = _q("sparsehourglass_vjp", q)
    return _drive("sparsehourglass_vjp", hourglass_serial, hourglass_parallel, x, u, "u", axis, mask, 2, qv)


def _vbaf_rows(name, x, axis, mask, want_grad):
    r = as_rows(name, x, axis, mask)
    out = np.empty(r.rows, dtype=np.float64)
    g = np.empty(r.x.shape if want_grad else (1, 1), dtype=np.float64)
    drive = vbaf_parallel if r.parallel else vbaf_serial
    with np.errstate(all="ignore"):
        drive(r.x, r.mask, r.has_mask, want_grad, out, g)
    return r, out, g


def vbaf(x, axis: int = -1, *, mask=None) -> np.ndarray:
    """Volatility-based activation :math:`\\sum_j |x_j - \\bar x|/|\\bar x|` of each row.

    Parameters
    ----------
    x : array_like of float32 or float64
        Input of any shape (at least 1-D).
    axis : int
        The axis reduced.
    mask : array_like of bool, optional
        ``True`` where the entry takes part; masked entries leave the mean, the deviations and
        ``n``; a fully masked row gives 0.

    Returns
    -------
    numpy.ndarray
        The input's shape without ``axis``, the input's dtype (``+inf`` where the mean is 0,
        NaN on the zero row).
    """
    r, out, _ = _vbaf_rows("vbaf", x, axis, mask, False)
    return r.restore_reduced(out.astype(r.dtype))


def vbaf_jvp(x, v, axis: int = -1, *, mask=None) -> np.ndarray:
    """JVP of VBAF: :math:`\\langle \\nabla y, v\\rangle` per row (masked tangents never enter)."""
    r, _, g = _vbaf_rows("vbaf_jvp", x, axis, mask, True)
    v2 = r.companion(v, "v").astype(np.float64)
    prod = np.where(g != 0.0, g * v2, 0.0)
    prod = np.where(np.isnan(g), np.nan, prod)
    return r.restore_reduced(np.sum(prod, axis=-1).astype(r.dtype))


def vbaf_vjp(x, u, axis: int = -1, *, mask=None) -> np.ndarray:
    """VJP of VBAF: :math:`u\\,\\nabla y` (``u``: one value per row), of the input's shape.

    :math:`\\nabla_j y = (\\mathrm{sign}(x_j - \\bar x) - \\frac1n\\sum_k \\mathrm{sign}(x_k - \\bar x)
    - y\\,\\mathrm{sign}(\\bar x)/n)/|\\bar x|`.
    """
    r = as_rows("vbaf_vjp", x, axis, mask)
    u1 = np.asarray(u)
    if u1.shape != r.moved_shape[:-1]:
        raise ValueError(f"vbaf_vjp: u has shape {u1.shape}; expected one value per row, shape {r.moved_shape[:-1]}")
    if u1.dtype.kind not in "fiub":
        raise TypeError(f"vbaf_vjp: u has dtype {u1.dtype}; expected a real floating dtype")
    out = r.empty()
    drive = vbaf_vjp_parallel if r.parallel else vbaf_vjp_serial
    with np.errstate(all="ignore"):
        drive(r.x, r.mask, r.has_mask, np.ascontiguousarray(u1, dtype=np.float64).reshape(-1), out)
    return r.restore(out)


def nala_query_feature(x, axis: int = -1, *, mask=None) -> np.ndarray:
    """NaLaFormer's norm-aware query feature (Meng et al. 2025): :math:`(\\max(x_i, 0)/r)^{3(1/2 + \\tanh r)}`, :math:`r = \\lVert x\\rVert_2`.

    Parameters
    ----------
    x : array_like of float32 or float64
        Queries (one head per row), any shape (at least 1-D).
    axis : int
        The head-dimension axis.
    mask : array_like of bool, optional
        ``True`` where the coordinate takes part; masked coordinates leave the norm and give 0;
        fully masked rows give zeros.

    Returns
    -------
    numpy.ndarray
        Same shape and dtype as ``x`` (NaN at the kept coordinates of a zero row, 0/0).
    """
    return _drive("nala_query_feature", nala_serial, nala_parallel, x, None, "", axis, mask, 0)


def nala_query_feature_jvp(x, v, axis: int = -1, *, mask=None) -> np.ndarray:
    """JVP of the NaLaFormer query feature: :math:`J v` with
    :math:`J_{ij} = [x_i > 0]\\big(p u_i^{p-1}\\delta_{ij}/r + y_i x_j(3\\,\\mathrm{sech}^2(r)\\log(u_i)/r - p/r^2)\\big)`.
    """
    return _drive("nala_query_feature_jvp", nala_serial, nala_parallel, x, v, "v", axis, mask, 1)


def nala_query_feature_vjp(x, u, axis: int = -1, *, mask=None) -> np.ndarray:
    """VJP of the NaLaFormer query feature: :math:`J^\\top u` (``J`` as in :func:`nala_query_feature_jvp`)."""
    return _drive("nala_query_feature_vjp", nala_serial, nala_parallel, x, u, "u", axis, mask, 2)
