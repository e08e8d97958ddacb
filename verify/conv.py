"""Convolution and average pooling as sparse matrices (the "unrolled" linear operators).

A network layer that maps an image of shape ``(C, H, W)`` (flattened in C order, as
``torch.flatten`` does) to another image is linear; the verifier sees it as a matrix
``A`` with ``y = A x``. For a 2-D cross-correlation with kernel ``K`` of shape
``(C_out, C_in / g, k_h, k_w)``, stride ``s``, dilation ``d``, zero padding ``p`` and ``g`` groups,

.. math::
    y[o, i, j] = \\sum_{c, a, b} K[o, c, a, b]\\; x[c_0(o) + c,\\; i s_h - p_h + a d_h,\\; j s_w - p_w + b d_w],

where ``c_0(o)`` is the first input channel of output channel ``o``'s group and taps that fall in
the padding are zero. Average pooling is the same with a fixed kernel ``1/divisor``. The
matrices are built from index arithmetic (no framework is called); the tests compare them with
PyTorch's own layers.

Pads are given as ``(h_begin, w_begin, h_end, w_end)`` (the ONNX order), so asymmetric padding
(``padding="same"`` with an even kernel) is exact.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sps

__all__ = ["conv2d_matrix", "avgpool2d_matrix", "conv_output_size", "pool_output_size"]


def _pair(value: int | Sequence[int], name: str) -> tuple[int, int]:
    vals = (value, value) if np.isscalar(value) else tuple(value)
    if len(vals) != 2 or any(int(v) != v for v in vals):
        raise ValueError(f"{name} must be an integer or a pair of integers, got {value!r}")
    return int(vals[0]), int(vals[1])


def _pads(pads: int | Sequence[int]) -> tuple[int, int, int, int]:
    if np.isscalar(pads):
        pads = (pads,) * 4
    elif len(pads) == 2:
        pads = (pads[0], pads[1], pads[0], pads[1])
    if len(pads) != 4 or any(int(p) != p or p < 0 for p in pads):
        raise ValueError(f"pads must be non-negative integers (h_begin, w_begin, h_end, w_end), got {pads!r}")
    return tuple(int(p) for p in pads)  # type: ignore[return-value]


def conv_output_size(size: int, kernel: int, stride: int, pad_begin: int, pad_end: int, dilation: int) -> int:
    """floor((size + pads - d (k - 1) - 1) / s) + 1, refused when the kernel does not fit."""
    span = size + pad_begin + pad_end - dilation * (kernel - 1) - 1
    if span < 0:
        raise ValueError(f"kernel of extent {dilation * (kernel - 1) + 1} does not fit an input of size "
                         f"{size} with padding {pad_begin}+{pad_end}")
    return span // stride + 1


def conv2d_matrix(kernel: np.ndarray, in_shape: Sequence[int], *, stride=1, pads=0, dilation=1,
                  groups: int = 1) -> tuple[sps.csr_matrix, tuple[int, int, int]]:
    """The cross-correlation of ``kernel`` as a CSR matrix, and the output shape.

    Parameters
    ----------
    kernel : ndarray, shape (C_out, C_in / groups, k_h, k_w)
        Real, finite weights (PyTorch's ``Conv2d.weight`` layout, also ONNX's).
    in_shape : (C_in, H, W)
        Input image shape.
    stride, dilation : int or pair
        Per spatial axis.
    pads : int, pair or 4-tuple
        Zero padding ``(h_begin, w_begin, h_end, w_end)``; a pair is symmetric.
    groups : int
        Channel groups (``C_in`` and ``C_out`` must be multiples of it).

    Returns
    -------
    (A, out_shape)
        ``A`` of shape ``(C_out H_out W_out, C_in H W)`` with ``vec(y) = A vec(x)`` (C order).
    """
    kernel = np.asarray(kernel, dtype=np.float64)
    if kernel.ndim != 4:
        raise ValueError(f"convolution kernel must have 4 axes (C_out, C_in/groups, k_h, k_w), got shape {kernel.shape}")
    c_in, h, w = (int(v) for v in in_shape)
    c_out, c_in_g, kh, kw = kernel.shape
    sh, sw = _pair(stride, "stride")
    dh, dw = _pair(dilation, "dilation")
    if min(sh, sw, dh, dw) < 1:
        raise ValueError("stride and dilation must be positive")
    ph0, pw0, ph1, pw1 = _pads(pads)
    if groups < 1 or c_in % groups or c_out % groups:
        raise ValueError(f"groups={groups} must divide the input ({c_in}) and output ({c_out}) channels")
    if c_in_g * groups != c_in:
        raise ValueError(f"kernel expects {c_in_g * groups} input channels, the input has {c_in}")
    ho = conv_output_size(h, kh, sh, ph0, ph1, dh)
    wo = conv_output_size(w, kw, sw, pw0, pw1, dw)
    # every (o, c, a, b, i, j) tap, broadcast; taps in the padding are dropped below
    o = np.arange(c_out)[:, None, None, None, None, None]
    c = np.arange(c_in_g)[None, :, None, None, None, None]
    a = np.arange(kh)[None, None, :, None, None, None]
    b = np.arange(kw)[None, None, None, :, None, None]
    i = np.arange(ho)[None, None, None, None, :, None]
    j = np.arange(wo)[None, None, None, None, None, :]
    full = (c_out, c_in_g, kh, kw, ho, wo)
    src_c = np.broadcast_to((o // (c_out // groups)) * c_in_g + c, full)
    src_h = np.broadcast_to(i * sh - ph0 + a * dh, full)
    src_w = np.broadcast_to(j * sw - pw0 + b * dw, full)
    rows = np.broadcast_to((o * ho + i) * wo + j, full)
    vals = np.broadcast_to(kernel[:, :, :, :, None, None], full)
    keep = (src_h >= 0) & (src_h < h) & (src_w >= 0) & (src_w < w) & (vals != 0)
    cols = (src_c[keep] * h + src_h[keep]) * w + src_w[keep]
    A = sps.csr_matrix((vals[keep], (rows[keep], cols)), shape=(c_out * ho * wo, c_in * h * w))
    return A, (c_out, ho, wo)


def pool_output_size(size: int, kernel: int, stride: int, pad: int, ceil_mode: bool) -> int:
    """PyTorch's pooling output size (a last window must start inside the input or left padding)."""
    span = size + 2 * pad - kernel + (stride - 1 if ceil_mode else 0)
    if size + 2 * pad < kernel:
        raise ValueError(f"pooling window {kernel} does not fit an input of size {size} with padding {pad}")
    out = span // stride + 1
    if ceil_mode and (out - 1) * stride >= size + pad:
        out -= 1
    return out


def avgpool2d_matrix(in_shape: Sequence[int], kernel, *, stride=None, padding=0, ceil_mode: bool = False,
                     count_include_pad: bool = True,
                     divisor_override: int | None = None) -> tuple[sps.csr_matrix, tuple[int, int, int]]:
    """Average pooling (PyTorch ``AvgPool2d`` semantics) as a CSR matrix, and the output shape.

    Each output is ``sum(window) / divisor`` with the divisor PyTorch uses: the window size
    clipped to the padded input (``count_include_pad``), the number of input pixels in the window
    (``count_include_pad=False``), or ``divisor_override``. Symmetric padding.
    """
    c, h, w = (int(v) for v in in_shape)
    kh, kw = _pair(kernel, "kernel_size")
    sh, sw = _pair(kernel if stride is None else stride, "stride")
    ph, pw = _pair(padding, "padding")
    if min(kh, kw, sh, sw) < 1 or min(ph, pw) < 0:
        raise ValueError("kernel and stride must be positive, padding non-negative")
    if 2 * ph > kh or 2 * pw > kw:
        raise ValueError(f"padding {padding} must be at most half the kernel size {kernel}")
    if divisor_override is not None and int(divisor_override) < 1:
        raise ValueError(f"divisor_override must be a positive integer, got {divisor_override!r}")
    ho = pool_output_size(h, kh, sh, ph, ceil_mode)
    wo = pool_output_size(w, kw, sw, pw, ceil_mode)
    rows, cols, vals = [], [], []
    chan = np.arange(c)
    for i in range(ho):
        for j in range(wo):
            h0, w0 = i * sh - ph, j * sw - pw
            h1, w1 = min(h0 + kh, h + ph), min(w0 + kw, w + pw)
            padded_size = (h1 - h0) * (w1 - w0)
            h0, w0, h1, w1 = max(h0, 0), max(w0, 0), min(h1, h), min(w1, w)
            if h0 >= h1 or w0 >= w1:
                continue
            if divisor_override is not None:
                divisor = int(divisor_override)
            else:
                divisor = padded_size if count_include_pad else (h1 - h0) * (w1 - w0)
            hh, ww = np.meshgrid(np.arange(h0, h1), np.arange(w0, w1), indexing="ij")
            src = (chan[:, None] * h + hh.reshape(1, -1)) * w + ww.reshape(1, -1)
            rows.append(np.repeat((chan * ho + i) * wo + j, src.shape[1]))
            cols.append(src.reshape(-1))
            vals.append(np.full(src.size, 1.0 / divisor))
    if not rows:
        raise ValueError("average pooling has no window inside the input")
    A = sps.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                       shape=(c * ho * wo, c * h * w))
    return A, (c, ho, wo)

