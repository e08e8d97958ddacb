"""Read a PyTorch ``nn.Sequential`` as a :class:`~funclib.verify.network.Network`.

Every module between two activations is linear or affine on the flattened tensor; the loader
composes them into one affine layer ``x -> A x + c`` (:class:`AffineChain`):

- ``Linear`` (dense ``W``), ``Conv2d`` (stride, padding incl. ``"same"``/``"valid"``, dilation,
  groups, zero padding; a sparse CSR operator from :mod:`funclib.verify.conv`), ``AvgPool2d``
  (sparse), ``BatchNorm1d``/``BatchNorm2d`` (running statistics, folded:
  ``y = γ (x - μ) / sqrt(σ² + ε) + β`` is a diagonal affine map), ``Flatten`` (the C-order
  layout already is the flattened one), ``Identity`` and ``Dropout`` (evaluation mode: identity).
- Activations: PyTorch built-ins with their parameters and ``funclib.torch.Activation`` modules
  of catalog entries.

The network is read as in evaluation mode. Types are matched exactly: a subclass may override
``forward`` and compute something else, and so may a module with forward hooks; both are refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sps

from .conv import avgpool2d_matrix, conv2d_matrix
from .network import Network, NetworkError, real_array

__all__ = ["from_torch", "AffineChain", "catalog_activation"]


@dataclass
class AffineChain:
    """An affine map ``x -> A x + c`` on flattened tensors, composed one operator at a time.

    ``A`` is None (identity), a dense array or a CSR matrix: sparse times sparse stays sparse,
    anything with a dense factor becomes dense.
    """

    matrix: np.ndarray | sps.csr_matrix | None = None
    bias: np.ndarray | None = None

    @property
    def empty(self) -> bool:
        return self.matrix is None and self.bias is None

    def then(self, A: np.ndarray | sps.csr_matrix | None, c: np.ndarray | None) -> None:
        """Compose ``x -> A x + c`` after the current map (``A=None``: a pure shift)."""
        if A is not None:
            if self.matrix is None:
                self.matrix = A
            elif sps.issparse(A) and sps.issparse(self.matrix):
                self.matrix = sps.csr_matrix(A @ self.matrix)
            elif sps.issparse(A):
                self.matrix = np.asarray(A @ self.matrix)
            else:
                self.matrix = np.asarray((self.matrix.T @ A.T).T) if sps.issparse(self.matrix) else A @ self.matrix
            if self.bias is not None:
                self.bias = np.asarray(A @ self.bias).reshape(-1)
        if c is not None:
            self.bias = c.copy() if self.bias is None else self.bias + c

    def take(self, width: int) -> tuple[np.ndarray | sps.csr_matrix, np.ndarray | None]:
        """The composed (matrix, bias), identity if only shifts were seen; resets the chain."""
        A = sps.identity(width, format="csr") if self.matrix is None else self.matrix
        out = (A, self.bias)
        self.matrix = self.bias = None
        return out


def _tensor(t: Any, what: str) -> np.ndarray:
    """A parameter/buffer as float64, refusing complex and non-finite values (never cast)."""
    import torch

    if t.is_complex():
        raise NetworkError(f"{what} is complex ({t.dtype}); the verifier certifies real networks only")
    arr = real_array(t.detach().cpu().numpy() if t.dtype != torch.bfloat16 else t.detach().cpu().float().numpy(), what)
    if not np.all(np.isfinite(arr)):
        raise NetworkError(f"{what} has NaN or infinite entries")
    return arr


def catalog_activation(module: Any) -> tuple[str, dict[str, float]] | None:
    """The catalog entry of an activation module.

    Parameters
    ----------
    module : torch.nn.Module

    Returns
    -------
    tuple of (str, dict) or None
        The entry id (``"gelu:tanh"`` for a variant) and its parameter values; None if
        ``module`` is not an activation.

    Raises
    ------
    NetworkError
        An activation the catalog does not hold in that form (per-channel PReLU slopes, a
        formula, ``nn.GELU(approximate=...)`` other than ``"none"``/``"tanh"``).
    """
    import torch.nn as nn

    simple = {
        nn.ReLU: "relu", nn.Tanh: "tanh", nn.Sigmoid: "sigmoid", nn.SiLU: "silu", nn.Mish: "mish",
        nn.ReLU6: "relu6", nn.Hardsigmoid: "hard_sigmoid", nn.Hardswish: "hard_swish", nn.SELU: "selu",
        nn.LogSigmoid: "log_sigmoid", nn.Softsign: "softsign", nn.Tanhshrink: "tanhshrink",
    }
    kind = type(module)
    if kind in simple:
        return (simple[kind], {})
    if kind is nn.LeakyReLU:
        return ("leaky_relu", {"negative_slope": float(module.negative_slope)})
    if kind is nn.ELU:
        return ("elu", {"alpha": float(module.alpha)})
    if kind is nn.CELU:
        return ("celu", {"alpha": float(module.alpha)})
    if kind is nn.GELU:
        if module.approximate == "tanh":
            return ("gelu:tanh", {})
        if module.approximate != "none":
            raise NetworkError(f"nn.GELU(approximate={module.approximate!r}) is not a catalog function")
        return ("gelu", {})
    if kind is nn.Softplus:
        return ("softplus", {"beta": float(module.beta)})
    if kind is nn.Hardtanh:
        return ("hard_tanh", {"min_val": float(module.min_val), "max_val": float(module.max_val)})
    if kind is nn.Softshrink:
        return ("softshrink", {"lambd": float(module.lambd)})
    if kind is nn.PReLU:
        w = _tensor(module.weight, "PReLU weight").reshape(-1)
        if w.size != 1:
            raise NetworkError("nn.PReLU with one slope per channel is not supported (use a single slope)")
        return ("prelu", {"a": float(w[0])})
    from funclib import torch as ft

    if kind is ft.Activation:
        if module.spec.is_formula:
            raise NetworkError(f"funclib.torch.Activation({module.spec.name!r}) is a formula, not a catalog "
                               "entry: the verifier needs the entry's proven slope bounds")
        params = {}
        for n in module.spec.params:
            value = _tensor(getattr(module, n), f"{module.spec.name} parameter {n}").reshape(-1)
            if value.size != 1:
                raise NetworkError(f"funclib.torch.Activation({module.spec.name!r}) has {value.size} values of "
                                   f"parameter {n!r} (one per channel); the verifier needs one value per layer")
            params[n] = float(value[0])
        return (module.spec.name, params)
    return None


def _conv_pads(module: Any) -> tuple[int, int, int, int]:
    """(h_begin, w_begin, h_end, w_end) of a Conv2d, including ``padding="same"``/``"valid"``."""
    if module.padding_mode != "zeros":
        raise NetworkError(f"Conv2d with padding_mode={module.padding_mode!r} is not supported (zeros only)")
    if module.padding == "valid":
        return (0, 0, 0, 0)
    if module.padding == "same":  # PyTorch puts the odd pixel at the end
        total = [d * (k - 1) for d, k in zip(module.dilation, module.kernel_size)]
        return (total[0] // 2, total[1] // 2, total[0] - total[0] // 2, total[1] - total[1] // 2)
    ph, pw = module.padding
    return (ph, pw, ph, pw)


def _batchnorm(module: Any, shape: tuple[int, ...], name: str) -> tuple[sps.csr_matrix, np.ndarray]:
    """Folded eval-mode batch norm on a tensor of ``shape``: a diagonal matrix and a shift."""
    if module.running_mean is None or module.running_var is None:
        raise NetworkError(f"{name}: {type(module).__name__} without running statistics "
                           "(track_running_stats=False) normalizes by the batch; it is not a fixed map")
    want = 1 if type(module).__name__ == "BatchNorm1d" else 3
    if len(shape) != want or shape[0] != module.num_features:
        raise NetworkError(f"{name}: {type(module).__name__}({module.num_features}) does not fit a tensor of shape {shape}")
    var = _tensor(module.running_var, f"{name}: running_var")
    if np.any(var + module.eps <= 0):
        raise NetworkError(f"{name}: running_var + eps is not positive")
    scale = 1.0 / np.sqrt(var + float(module.eps))
    shift = -_tensor(module.running_mean, f"{name}: running_mean") * scale
    if module.affine:
        gamma = _tensor(module.weight, f"{name}: weight")
        scale, shift = gamma * scale, gamma * shift + _tensor(module.bias, f"{name}: bias")
    per = int(np.prod(shape[1:], dtype=np.int64))
    return sps.diags(np.repeat(scale, per), format="csr"), np.repeat(shift, per)


def _check_plain(module: Any, name: str) -> None:
    hooks = ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks")
    if any(getattr(module, h, None) for h in hooks):
        raise NetworkError(f"{name}: {type(module).__name__} has hooks registered; they can change what it computes")


def _affine_module(module: Any, shape: tuple[int, ...] | None, name: str):
    """(A, c, new_shape) for a linear/affine module, None if the module is not one."""
    import torch.nn as nn

    kind = type(module)
    if kind in (nn.Identity, nn.Dropout, nn.Dropout1d, nn.Dropout2d):
        return None, None, shape
    if kind is nn.Flatten:
        if module.start_dim != 1 or module.end_dim != -1:
            raise NetworkError(f"{name}: Flatten(start_dim={module.start_dim}, end_dim={module.end_dim}) is not "
                               "supported (only the default, which flattens each sample)")
        return None, None, None if shape is None else (int(np.prod(shape)),)
    if kind is nn.Linear:
        if shape is not None and shape != (module.in_features,):
            raise NetworkError(f"{name}: Linear({module.in_features}, {module.out_features}) applied to a tensor "
                               f"of shape {shape} (add nn.Flatten before it)")
        W = _tensor(module.weight, f"{name}: Linear weight")
        b = None if module.bias is None else _tensor(module.bias, f"{name}: Linear bias")
        return W, b, (module.out_features,)
    if kind is nn.Conv2d:
        if shape is None or len(shape) != 3:
            raise NetworkError(f"{name}: Conv2d needs an image input (C, H, W): pass input_shape=(C, H, W)"
                               if shape is None else f"{name}: Conv2d applied to a tensor of shape {shape}")
        try:
            A, out = conv2d_matrix(_tensor(module.weight, f"{name}: Conv2d weight"), shape, stride=module.stride,
                                   pads=_conv_pads(module), dilation=module.dilation, groups=module.groups)
        except ValueError as exc:
            raise NetworkError(f"{name}: Conv2d: {exc}") from None
        c = None
        if module.bias is not None:
            c = np.repeat(_tensor(module.bias, f"{name}: Conv2d bias"), out[1] * out[2])
        return A, c, out
    if kind is nn.AvgPool2d:
        if shape is None or len(shape) != 3:
            raise NetworkError(f"{name}: AvgPool2d needs an image input (C, H, W), got shape {shape}")
        try:
            A, out = avgpool2d_matrix(shape, module.kernel_size, stride=module.stride, padding=module.padding,
                                      ceil_mode=module.ceil_mode, count_include_pad=module.count_include_pad,
                                      divisor_override=module.divisor_override)
        except ValueError as exc:
            raise NetworkError(f"{name}: AvgPool2d: {exc}") from None
        return A, None, out
    if kind in (nn.BatchNorm1d, nn.BatchNorm2d):
        if shape is None:
            raise NetworkError(f"{name}: {kind.__name__} before the input shape is known: pass input_shape")
        A, c = _batchnorm(module, shape, name)
        return A, c, shape
    return NotImplemented, None, None


def from_torch(model: Any, input_shape: tuple[int, ...] | None = None) -> Network:
    """Build a :class:`Network` from a ``torch.nn.Sequential``.

    Parameters
    ----------
    model : torch.nn.Sequential
        Affine modules (``Linear``, ``Conv2d``, ``AvgPool2d``, ``BatchNorm1d/2d``, ``Flatten``,
        ``Identity``, ``Dropout``) and activations; consecutive affine modules are merged into one
        layer, so an activation must stand between any two such groups, and the model must start
        and end with an affine group.
    input_shape : tuple of int, optional
        Shape of one input without the batch axis (``(C, H, W)``); required when the first
        module is a convolution, pooling or batch norm.

    Returns
    -------
    Network
        Weights of the merged affine layers: dense where a ``Linear`` is involved, CSR for
        convolution/pooling/batch-norm chains. ``input_shape`` is recorded.

    Raises
    ------
    NetworkError
        Unsupported module (named with its index), shape mismatch, complex or non-finite
        parameters, batch norm without running statistics, hooks, subclasses.
    """
    import torch.nn as nn

    if type(model) is not nn.Sequential:
        raise NetworkError(f"expected torch.nn.Sequential, got {type(model).__name__}")
    _check_plain(model, "the Sequential")
    shape = None if input_shape is None else tuple(int(v) for v in input_shape)
    first_shape = shape
    weights, biases, acts = [], [], []
    chain = AffineChain()
    width = None if shape is None else int(np.prod(shape))
    chain_in = width
    for index, module in enumerate(model):
        name = f"module {index} ({type(module).__name__})"
        _check_plain(module, name)
        A, c, new_shape = _affine_module(module, shape, name)
        if A is not NotImplemented:
            if first_shape is None and new_shape is not None and not weights and chain.empty and A is not None:
                first_shape = (A.shape[1],)
                chain_in = A.shape[1]
            chain.then(A, c)
            shape = new_shape
            continue
        act = catalog_activation(module)
        if act is None:
            raise NetworkError(f"{name}: unsupported PyTorch module {type(module).__name__} in nn.Sequential")
        if chain.empty:
            where = "before the first affine layer" if not weights else "right after another activation"
            raise NetworkError(f"{name}: activation {where} (an affine layer must stand between activations)")
        W, b = chain.take(chain_in)
        weights.append(W)
        biases.append(b)
        acts.append(act)
        chain_in = W.shape[0]
    if chain.empty:
        raise NetworkError("nn.Sequential has no affine layer" if not weights else
                           "the network ends with an activation; the verifier expects a final affine layer")
    W, b = chain.take(chain_in)
    weights.append(W)
    biases.append(b)
    return Network(weights, acts, biases, input_shape=first_shape)
