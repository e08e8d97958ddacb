"""Public API of the issue-15 maps driven by row statistics (re-exported by :mod:`funclib.kernels.rowwise.breadth`).

The count and mean (ReLU attentions, AB-ReLU: :mod:`funclib.kernels.rowwise.counted`), order
statistics (k-WTA, hardmax, ev-softmax's support: :mod:`funclib.kernels.rowwise.select`), soft
maxima (mellowmax, Boltzmann operator: :mod:`funclib.kernels.rowwise.softmaxima`) and z-scores
(ASH, classification Z-loss: :mod:`funclib.kernels.rowwise.zscore`). Conventions and the summary
table: :mod:`funclib.kernels.rowwise.breadth`.
"""

from __future__ import annotations

import numpy as np

from funclib.kernels.rowwise import counted as _ct
from funclib.kernels.rowwise import select as _se
from funclib.kernels.rowwise import softmax_family as _sm
from funclib.kernels.rowwise import softmaxima as _mx
from funclib.kernels.rowwise import zscore as _zs
from funclib.kernels.rowwise.layout import as_rows, check_scalar

__all__ = [
    "relu_seqlen_attention", "relu_seqlen_attention_jvp", "relu_seqlen_attention_vjp",
    "relu2_attention", "relu2_attention_jvp", "relu2_attention_vjp",
    "ab_relu", "ab_relu_jvp", "ab_relu_vjp",
    "kwta", "kwta_jvp", "kwta_vjp",
    "hardmax", "hardmax_jvp", "hardmax_vjp",
    "ev_softmax", "ev_softmax_jvp", "ev_softmax_vjp",
    "mellowmax", "mellowmax_jvp", "mellowmax_vjp",
    "boltzmann_operator", "boltzmann_operator_jvp", "boltzmann_operator_vjp",
    "ash", "ash_jvp", "ash_vjp",
    "z_loss_classification", "z_loss_classification_jvp", "z_loss_classification_vjp",
]

# --------------------------------------------------------------------------------------
# elementwise given n or the mean: ReLU attentions, AB-ReLU
# --------------------------------------------------------------------------------------


def _counted(name, entry, x, axis, mask):
    r = as_rows(name, x, axis, mask)
    out = r.empty()
    drive = _ct.counted_parallel if r.parallel else _ct.counted_serial
    drive(r.x, r.mask, r.has_mask, _ct.KINDS[entry], out)
    return r.restore(out)


def _counted_product(name, entry, x, w, what, axis, mask, vjp):
    r = as_rows(name, x, axis, mask)
    w2 = r.companion(w, what)
    out = r.empty()
    drive = _ct.counted_product_parallel if r.parallel else _ct.counted_product_serial
    drive(r.x, w2, r.mask, r.has_mask, _ct.KINDS[entry], vjp, out)
    return r.restore(out)


def relu_seqlen_attention(x, axis: int = -1, *, mask=None) -> np.ndarray:
    """ReLU attention weights divided by the sequence length (Wortsman et al. 2023): :math:`\\max(x_i, 0)/n`.

    ``n`` counts the kept entries (under a causal mask, the prefix length). Parameters are
    those of :func:`~funclib.kernels.rowwise.breadth.stablemax`.
    """
    return _counted("relu_seqlen_attention", "relu_seqlen_attention", x, axis, mask)


def relu_seqlen_attention_jvp(x, v, axis: int = -1, *, mask=None) -> np.ndarray:
    """JVP of :func:`relu_seqlen_attention`: :math:`[x_i > 0] v_i/n` (diagonal Jacobian)."""
    return _counted_product("relu_seqlen_attention_jvp", "relu_seqlen_attention", x, v, "v", axis, mask, False)


def relu_seqlen_attention_vjp(x, u, axis: int = -1, *, mask=None) -> np.ndarray:
    """VJP of :func:`relu_seqlen_attention` (diagonal Jacobian: the JVP's formula)."""
    return _counted_product("relu_seqlen_attention_vjp", "relu_seqlen_attention", x, u, "u", axis, mask, True)


def relu2_attention(x, axis: int = -1, *, mask=None) -> np.ndarray:
    """Squared-ReLU attention weights (Hua et al. 2022): :math:`\\max(x_i/n, 0)^2`, ``n`` the kept entries.

    Parameters are those of :func:`~funclib.kernels.rowwise.breadth.stablemax`.
    """
    return _counted("relu2_attention", "relu2_attention", x, axis, mask)


def relu2_attention_jvp(x, v, axis: int = -1, *, mask=None) -> np.ndarray:
    """JVP of :func:`relu2_attention`: :math:`2\\max(x_i/n, 0) v_i/n` (diagonal Jacobian)."""
    return _counted_product("relu2_attention_jvp", "relu2_attention", x, v, "v", axis, mask, False)


def relu2_attention_vjp(x, u, axis: int = -1, *, mask=None) -> np.ndarray:
    """VJP of :func:`relu2_attention` (diagonal Jacobian: the JVP's formula)."""
    return _counted_product("relu2_attention_vjp", "relu2_attention", x, u, "u", axis, mask, True)


def ab_relu(x, axis: int = -1, *, mask=None) -> np.ndarray:
    """Average-Biased ReLU (Dubey & Chakraborty 2018): :math:`\\max(x_i - \\mu, 0)`, :math:`\\mu` the row mean.

    The mean is over the kept entries. Parameters are those of :func:`~funclib.kernels.rowwise.breadth.stablemax`.
    """
    return _counted("ab_relu", "ab_relu", x, axis, mask)


def ab_relu_jvp(x, v, axis: int = -1, *, mask=None) -> np.ndarray:
    """JVP of AB-ReLU: :math:`g_i (v_i - \\bar v)`, :math:`g_i = [x_i > \\mu]` (0 at the kink)."""
    return _counted_product("ab_relu_jvp", "ab_relu", x, v, "v", axis, mask, False)


def ab_relu_vjp(x, u, axis: int = -1, *, mask=None) -> np.ndarray:
    """VJP of AB-ReLU: :math:`g_j u_j - \\sum_i g_i u_i / n`."""
    return _counted_product("ab_relu_vjp", "ab_relu", x, u, "u", axis, mask, True)


# --------------------------------------------------------------------------------------
# selections: k-WTA, hardmax, ev-softmax
# --------------------------------------------------------------------------------------


def _k(name, k) -> int:
    kv = check_scalar(name, "k", k, lo=1.0)
    if kv != int(kv):
        raise ValueError(f"{name}: k must be an integer, got {k!r}")
    return int(kv)


def _kwta(name, x, w, what, k, axis, mask):
    kv = _k(name, k)
    r = as_rows(name, x, axis, mask)
    w2 = r.x if w is None else r.companion(w, what)
    out = r.empty()
    drive = _se.kwta_parallel if r.parallel else _se.kwta_serial
    drive(r.x, w2, r.mask, r.has_mask, kv, out)
    return r.restore(out)


def kwta(x, k: int = 8, axis: int = -1, *, mask=None) -> np.ndarray:
    """k-Winners-Take-All (Xiao et al. 2020): :math:`x_i` if fewer than ``k`` entries are larger, else 0.

    Ties at the k-th largest value are all kept; rows with at most ``k`` kept entries are
    unchanged. ``k`` is an integer >= 1 (catalog default 8). Other parameters are those of
    :func:`~funclib.kernels.rowwise.breadth.stablemax`.
    """
    return _kwta("kwta", x, None, "", k, axis, mask)


def kwta_jvp(x, v, k: int = 8, axis: int = -1, *, mask=None) -> np.ndarray:
    """JVP of k-WTA: :math:`v_i` at the selected entries, 0 elsewhere (the selection is locally constant)."""
    return _kwta("kwta_jvp", x, v, "v", k, axis, mask)


def kwta_vjp(x, u, k: int = 8, axis: int = -1, *, mask=None) -> np.ndarray:
    """VJP of k-WTA (diagonal Jacobian: the JVP's formula)."""
    return _kwta("kwta_vjp", x, u, "u", k, axis, mask)


def hardmax(x, axis: int = -1, *, mask=None) -> np.ndarray:
    """Hardmax: :math:`[x_i = \\max x]/\\#\\{j: x_j = \\max x\\}` (ties share the mass, ONNX ``Hardmax`` otherwise).

    Parameters are those of :func:`~funclib.kernels.rowwise.breadth.stablemax`.
    """
    r = as_rows("hardmax", x, axis, mask)
    out = r.empty()
    drive = _se.hardmax_parallel if r.parallel else _se.hardmax_serial
    drive(r.x, r.mask, r.has_mask, out)
    return r.restore(out)


def _hardmax_product(name, x, w, what, axis, mask):
    r = as_rows(name, x, axis, mask)
    r.companion(w, what)  # the tangent's shape and dtype are still checked
    y = hardmax(x, axis, mask=mask)
    return np.where(np.isnan(y), y, 0).astype(y.dtype)  # J = 0; NaN rows stay NaN


def hardmax_jvp(x, v, axis: int = -1, *, mask=None) -> np.ndarray:
    """JVP of hardmax: 0 (the map is piecewise constant; NaN on NaN rows)."""
    return _hardmax_product("hardmax_jvp", x, v, "v", axis, mask)


def hardmax_vjp(x, u, axis: int = -1, *, mask=None) -> np.ndarray:
    """VJP of hardmax: 0 (the map is piecewise constant; NaN on NaN rows)."""
    return _hardmax_product("hardmax_vjp", x, u, "u", axis, mask)


def _ev_rows(name, x, axis, mask):
    r = as_rows(name, x, axis, mask)
    keep = np.empty(r.x.shape, dtype=np.bool_)
    drive = _se.ev_support_parallel if r.parallel else _se.ev_support_serial
    drive(r.x, r.mask, r.has_mask, keep)
    y = r.empty()
    drive = _sm.softmax_parallel if r.parallel else _sm.softmax_serial
    drive(r.x, keep, True, _sm.ALGORITHMS["three_pass"], False, False, 0.0, y)
    return r, keep, y


def ev_softmax(x, axis: int = -1, *, mask=None) -> np.ndarray:
    """ev-softmax (Chen et al. 2021): softmax over the entries :math:`x_i \\ge \\bar x`, 0 elsewhere.

    :math:`\\bar x` is the mean of the kept entries; the support is decided exactly (see
    :mod:`funclib.kernels.rowwise.select`), the softmax is the three-pass kernel with the support
    as its mask. Other parameters are those of :func:`~funclib.kernels.rowwise.breadth.stablemax`.
    """
    r, _, y = _ev_rows("ev_softmax", x, axis, mask)
    return r.restore(y)


def _ev_product(name, x, w, what, axis, mask):
    r, keep, y = _ev_rows(name, x, axis, mask)
    w2 = r.companion(w, what)
    out = r.empty()
    drive = _sm.sym_product_parallel if r.parallel else _sm.sym_product_serial
    drive(y, w2, keep, True, False, 0.0, out)
    return r.restore(out)


def ev_softmax_jvp(x, v, axis: int = -1, *, mask=None) -> np.ndarray:
    """JVP of ev-softmax: :math:`y \\odot (v - \\langle y, v\\rangle)` on the support (the support is locally constant)."""
    return _ev_product("ev_softmax_jvp", x, v, "v", axis, mask)


def ev_softmax_vjp(x, u, axis: int = -1, *, mask=None) -> np.ndarray:
    """VJP of ev-softmax (symmetric Jacobian: the JVP's formula)."""
    return _ev_product("ev_softmax_vjp", x, u, "u", axis, mask)


# --------------------------------------------------------------------------------------
# soft maxima (row reductions): mellowmax, Boltzmann operator
# --------------------------------------------------------------------------------------


def _softmaximum(name, entry, x, b, what, axis, mask):
    bv = check_scalar(name, what, b, lo=0.0, lo_open=True)
    r = as_rows(name, x, axis, mask)
    out = np.empty(r.rows, dtype=np.float64)
    drive = _mx.softmaximum_parallel if r.parallel else _mx.softmaximum_serial
    drive(r.x, r.mask, r.has_mask, _mx.KINDS[entry], bv, out)
    return r.restore_reduced(out.astype(r.dtype))


def _softmaximum_grad(name, entry, x, b, what, axis, mask):
    bv = check_scalar(name, what, b, lo=0.0, lo_open=True)
    r = as_rows(name, x, axis, mask)
    g = r.empty()
    drive = _mx.softmaximum_grad_parallel if r.parallel else _mx.softmaximum_grad_serial
    drive(r.x, r.mask, r.has_mask, _mx.KINDS[entry], bv, g)
    return r, g


def _softmaximum_jvp(name, entry, x, b, what, v, axis, mask):
    r, g = _softmaximum_grad(name, entry, x, b, what, axis, mask)
    v2 = r.companion(v, "v")
    kept = r.mask if r.has_mask else np.ones_like(g, dtype=bool)
    prod = np.where(kept & (g != 0), g.astype(np.float64) * v2, 0.0)  # masked tangents never enter
    prod = np.where(np.isnan(g), np.nan, prod)
    return r.restore_reduced(np.sum(prod, axis=-1).astype(r.dtype))


def _softmaximum_vjp(name, entry, x, b, what, u, axis, mask):
    r, g = _softmaximum_grad(name, entry, x, b, what, axis, mask)
    u1 = np.asarray(u)
    if u1.shape != r.moved_shape[:-1]:
        raise ValueError(f"{name}: u has shape {u1.shape}; expected one value per row, shape {r.moved_shape[:-1]}")
    if u1.dtype.kind not in "fiub":
        raise TypeError(f"{name}: u has dtype {u1.dtype}; expected a real floating dtype")
    u2 = u1.reshape(-1, 1).astype(np.float64)
    return r.restore((g.astype(np.float64) * u2).astype(r.dtype))


def mellowmax(x, omega: float = 1.0, axis: int = -1, *, mask=None) -> np.ndarray:
    """Mellowmax (Asadi & Littman 2017): :math:`\\max x + \\log(\\sum_j e^{\\omega(x_j - \\max x)}/N)/\\omega`.

    Parameters
    ----------
    x : array_like of float32 or float64
        Input of any shape (at least 1-D).
    omega : float
        ``omega > 0`` (catalog default 1).
    axis : int
        The axis reduced.
    mask : array_like of bool, optional
        ``True`` where the entry takes part; masked entries leave the sum but count in ``N``
        (the full row length, rule ``limit``); a fully masked row gives ``-inf``.

    Returns
    -------
    numpy.ndarray
        The input's shape without ``axis``, the input's dtype.
    """
    return _softmaximum("mellowmax", "mellowmax", x, omega, "omega", axis, mask)


def mellowmax_jvp(x, v, omega: float = 1.0, axis: int = -1, *, mask=None) -> np.ndarray:
    """JVP of mellowmax: :math:`\\langle \\mathrm{softmax}(\\omega x), v\\rangle` per row."""
    return _softmaximum_jvp("mellowmax_jvp", "mellowmax", x, omega, "omega", v, axis, mask)


def mellowmax_vjp(x, u, omega: float = 1.0, axis: int = -1, *, mask=None) -> np.ndarray:
    """VJP of mellowmax: :math:`u\\,\\mathrm{softmax}(\\omega x)` (``u``: one value per row)."""
    return _softmaximum_vjp("mellowmax_vjp", "mellowmax", x, omega, "omega", u, axis, mask)


def boltzmann_operator(x, beta: float = 1.0, axis: int = -1, *, mask=None) -> np.ndarray:
    """Boltzmann softmax operator: :math:`\\sum_j x_j e^{\\beta x_j}/\\sum_j e^{\\beta x_j}` per row.

    ``beta > 0`` (catalog default 1); masked entries leave both sums (a fully masked row gives
    ``-inf``). Other parameters are those of :func:`mellowmax`.
    """
    return _softmaximum("boltzmann_operator", "boltzmann_operator", x, beta, "beta", axis, mask)


def boltzmann_operator_jvp(x, v, beta: float = 1.0, axis: int = -1, *, mask=None) -> np.ndarray:
    """JVP of the Boltzmann operator: :math:`\\sum_j s_j(1 + \\beta(x_j - y)) v_j`.

    With :math:`s = \\mathrm{softmax}(\\beta x)`.
    """
    return _softmaximum_jvp("boltzmann_operator_jvp", "boltzmann_operator", x, beta, "beta", v, axis, mask)


def boltzmann_operator_vjp(x, u, beta: float = 1.0, axis: int = -1, *, mask=None) -> np.ndarray:
    """VJP of the Boltzmann operator: :math:`u\\, s_j(1 + \\beta(x_j - y))` (``u``: one value per row)."""
    return _softmaximum_vjp("boltzmann_operator_vjp", "boltzmann_operator", x, beta, "beta", u, axis, mask)


# --------------------------------------------------------------------------------------
# z-score maps: ASH, the classification Z-loss
# --------------------------------------------------------------------------------------


def _zscore(name, entry, x, p1, p2, names, axis, mask, w=None, what="", vjp=False):
    v1 = check_scalar(name, names[0], p1, lo=0.0, lo_open=True)
    v2 = check_scalar(name, names[1], p2)
    r = as_rows(name, x, axis, mask)
    out = r.empty()
    if w is None:
        drive = _zs.zscore_parallel if r.parallel else _zs.zscore_serial
        drive(r.x, r.mask, r.has_mask, _zs.KINDS[entry], v1, v2, out)
    else:
        w2 = r.companion(w, what)
        drive = _zs.zscore_product_parallel if r.parallel else _zs.zscore_product_serial
        drive(r.x, w2, r.mask, r.has_mask, _zs.KINDS[entry], v1, v2, vjp, out)
    return r.restore(out)


def ash(x, alpha: float = 1.0, z: float = 0.0, axis: int = -1, *, mask=None) -> np.ndarray:
    """ASH (Lee et al. 2022): :math:`x_i\\,\\mathrm{sigmoid}(\\alpha(x_i - \\mu - z\\sigma))`.

    :math:`\\mu`, :math:`\\sigma`: mean and population standard deviation of the kept entries;
    ``alpha > 0`` (default 1), ``z`` real (default 0; ``z`` > 0 keeps fewer entries). Other
    parameters are those of :func:`~funclib.kernels.rowwise.breadth.stablemax`.
    """
    return _zscore("ash", "ash", x, alpha, z, ("alpha", "z"), axis, mask)


def ash_jvp(x, v, alpha: float = 1.0, z: float = 0.0, axis: int = -1, *, mask=None) -> np.ndarray:
    """JVP of ASH: :math:`s_i v_i + g_i(v_i - \\bar v - z\\langle z_{\\cdot}, v\\rangle/n)`.

    With :math:`s_i` the gate and :math:`g_i = \\alpha x_i s_i(1-s_i)`.
    """
    return _zscore("ash_jvp", "ash", x, alpha, z, ("alpha", "z"), axis, mask, v, "v", False)


def ash_vjp(x, u, alpha: float = 1.0, z: float = 0.0, axis: int = -1, *, mask=None) -> np.ndarray:
    """VJP of ASH: :math:`(s_j + g_j) u_j - (1 + z\\,z_j)\\sum_i g_i u_i/n`."""
    return _zscore("ash_vjp", "ash", x, alpha, z, ("alpha", "z"), axis, mask, u, "u", True)


def z_loss_classification(x, a: float = 1.0, b: float = 0.0, axis: int = -1, *, mask=None) -> np.ndarray:
    """Classification Z-loss (de Brébisson & Vincent 2016): :math:`\\mathrm{softplus}(a(b - z_i))/a`.

    :math:`z_i = (x_i - \\mu)/\\sigma`, mean and population deviation of the kept entries.
    Not the ST-MoE router loss ``z_loss``. ``a > 0`` (default 1), ``b`` real (default 0); a
    constant row gives NaN (0/0). Other parameters are those of :func:`~funclib.kernels.rowwise.breadth.stablemax`.
    """
    return _zscore("z_loss_classification", "z_loss_classification", x, a, b, ("a", "b"), axis, mask)


def z_loss_classification_jvp(x, v, a: float = 1.0, b: float = 0.0, axis: int = -1, *, mask=None) -> np.ndarray:
    """JVP of the Z-loss: :math:`-r_i(v_i - \\bar v - z_i\\langle z, v\\rangle/n)/\\sigma`.

    With :math:`r_i = \\mathrm{sigmoid}(a(b - z_i))`.
    """
    return _zscore("z_loss_classification_jvp", "z_loss_classification", x, a, b, ("a", "b"), axis, mask, v, "v", False)


def z_loss_classification_vjp(x, u, a: float = 1.0, b: float = 0.0, axis: int = -1, *, mask=None) -> np.ndarray:
    """VJP of the Z-loss: :math:`(-r_j u_j + \\sum_i r_i u_i/n + z_j \\sum_i r_i u_i z_i/n)/\\sigma`."""
    return _zscore("z_loss_classification_vjp", "z_loss_classification", x, a, b, ("a", "b"), axis, mask, u, "u", True)
