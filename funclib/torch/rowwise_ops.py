"""Row-wise maps (softmax family, sparsemax, entmax, softpick, SSMax) as ``torch.library``
custom ops on the row-wise CPU kernels (:mod:`funclib.kernels.rowwise`).

Forward runs the map's kernel over ``dim`` with an optional boolean ``mask`` (``True`` where an
entry takes part; masked entries get the map's masked value and no gradient). Backward runs the
catalog's closed-form vector-Jacobian product (``*_vjp``: for softmax
:math:`J^\\top u = y\\odot(u - \\langle y, u\\rangle)`; for α-entmax
:math:`g\\odot u - g\\langle g, u\\rangle/\\sum g` with :math:`g = p^{2-\\alpha}` on the
support). The maps' parameters (α, SSMax's ``s``, softpick's ``eps``) are fixed numbers, or
scalar tensors that take a gradient (``Rowwise(..., trainable=True)`` makes the parameter an
``nn.Parameter``, as Correia et al. 2019 learn α per attention head): their VJPs are the closed
forms of :mod:`funclib.kernels.rowwise.param_vjp`, summed over the rows in a fixed order
(deterministic).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Optional

import torch
from torch import Tensor

from funclib.kernels import rowwise as rk
from funclib.kernels.rowwise import param_vjp as pv

from .elementwise_ops import COMPUTE, check_tensor

__all__ = ["Rowwise", "rowwise", "ROWWISE"]

# name -> (forward(x, axis, mask, params), vjp(x, u, axis, mask, y, params), parameter names)
ROWWISE: dict[str, tuple[Callable, Callable, tuple[str, ...]]] = {
    "softmax": (lambda x, a, m, p: rk.softmax(x, a, mask=m),
                lambda x, u, a, m, y, p: rk.softmax_vjp(x, u, a, mask=m, y=y), ()),
    "log_softmax": (lambda x, a, m, p: rk.log_softmax(x, a, mask=m),
                    lambda x, u, a, m, y, p: rk.log_softmax_vjp(x, u, a, mask=m, y=y), ()),
    "ssmax": (lambda x, a, m, p: rk.ssmax(x, p[0], a, mask=m),
              lambda x, u, a, m, y, p: rk.ssmax_vjp(x, p[0], u, a, mask=m, y=y), ("s",)),
    "sparsemax": (lambda x, a, m, p: rk.sparsemax(x, a, mask=m),
                  lambda x, u, a, m, y, p: rk.sparsemax_vjp(x, u, a, mask=m, y=y), ()),
    "entmax15": (lambda x, a, m, p: rk.entmax15(x, a, mask=m),
                 lambda x, u, a, m, y, p: rk.entmax15_vjp(x, u, a, mask=m, y=y), ()),
    "entmax": (lambda x, a, m, p: rk.entmax_bisect(x, p[0], a, mask=m),
               lambda x, u, a, m, y, p: rk.entmax_bisect_vjp(x, p[0], u, a, mask=m, y=y), ("alpha",)),
    "softpick": (lambda x, a, m, p: rk.softpick(x, a, mask=m, eps=p[0]),
                 lambda x, u, a, m, y, p: rk.softpick_vjp(x, u, a, mask=m, eps=p[0]), ("eps",)),
}


# name -> vjp with respect to the map's one parameter: (x, p, u, y, axis, mask) -> per-row array
PARAM_VJP: dict[str, Callable] = {
    "ssmax": lambda x, p, u, y, a, m: pv.ssmax_scale_vjp(x, p, u, y, a, mask=m),
    "entmax": lambda x, p, u, y, a, m: pv.entmax_alpha_vjp(x, p, u, y, a, mask=m),
    "softpick": lambda x, p, u, y, a, m: pv.softpick_eps_vjp(x, p, u, y, a, mask=m),
}


def _np(t: Tensor, dtype: torch.dtype):
    return t.detach().to(dtype).numpy()


def _mask(mask: Optional[Tensor]):
    return None if mask is None else mask.detach().numpy()


@torch.library.custom_op("funclib::rowwise", mutates_args=())
def _forward(x: Tensor, mask: Optional[Tensor], name: str, dim: int, params: list[float]) -> Tensor:
    fwd = ROWWISE[name][0]
    dtype = COMPUTE[x.dtype]
    return torch.from_numpy(fwd(_np(x, dtype), dim, _mask(mask), params)).to(x.dtype)


@_forward.register_fake
def _(x, mask, name, dim, params):
    return x.new_empty(x.shape)


@torch.library.custom_op("funclib::rowwise_backward", mutates_args=())
def _backward(grad: Tensor, x: Tensor, y: Tensor, mask: Optional[Tensor], name: str, dim: int,
              params: list[float]) -> Tensor:
    vjp = ROWWISE[name][1]
    dtype = COMPUTE[x.dtype]
    out = vjp(_np(x, dtype), _np(grad, dtype), dim, _mask(mask), _np(y, dtype), params)
    return torch.from_numpy(out).to(x.dtype)


@_backward.register_fake
def _(grad, x, y, mask, name, dim, params):
    return x.new_empty(x.shape)


def _setup(ctx, inputs, output):
    x, mask, name, dim, params = inputs
    ctx.name, ctx.dim, ctx.params = name, dim, params
    ctx.save_for_backward(x, output, mask)


def _autograd(ctx, grad):
    x, y, mask = ctx.saved_tensors
    return _backward(grad, x, y, mask, ctx.name, ctx.dim, ctx.params), None, None, None, None


_forward.register_autograd(_autograd, setup_context=_setup)


@torch.library.custom_op("funclib::rowwise_param", mutates_args=())
def _forward_param(x: Tensor, mask: Optional[Tensor], name: str, dim: int, param: Tensor) -> Tensor:
    fwd = ROWWISE[name][0]
    dtype = COMPUTE[x.dtype]
    return torch.from_numpy(fwd(_np(x, dtype), dim, _mask(mask), [_checked(name, param.item())])).to(x.dtype)


def _checked(name: str, value: float) -> float:
    """A parameter value checked against the entry's range (a trained value may have left it);
    inside the op, so that compiled graphs check it too."""
    import funclib

    key = ROWWISE[name][2][0]
    return float(funclib.get(name).param_values({key: value})[key])


@_forward_param.register_fake
def _(x, mask, name, dim, param):
    return x.new_empty(x.shape)


@torch.library.custom_op("funclib::rowwise_param_backward", mutates_args=())
def _backward_param(grad: Tensor, x: Tensor, y: Tensor, mask: Optional[Tensor], name: str, dim: int,
                    param: Tensor) -> tuple[Tensor, Tensor]:
    dtype = COMPUTE[x.dtype]
    p = param.item()
    xn, gn, yn, mn = _np(x, dtype), _np(grad, dtype), _np(y, dtype), _mask(mask)
    dx = torch.from_numpy(ROWWISE[name][1](xn, gn, dim, mn, yn, [p])).to(x.dtype)
    rows = PARAM_VJP[name](xn, p, gn, yn, dim, mn)
    dp = torch.tensor(float(rows.sum()), dtype=param.dtype).reshape(param.shape)
    return dx, dp


@_backward_param.register_fake
def _(grad, x, y, mask, name, dim, param):
    return x.new_empty(x.shape), param.new_empty(param.shape)


def _setup_param(ctx, inputs, output):
    x, mask, name, dim, param = inputs
    ctx.name, ctx.dim = name, dim
    ctx.save_for_backward(x, output, mask, param)


def _autograd_param(ctx, grad):
    x, y, mask, param = ctx.saved_tensors
    dx, dp = _backward_param(grad, x, y, mask, ctx.name, ctx.dim, param)
    return dx, None, None, None, dp


_forward_param.register_autograd(_autograd_param, setup_context=_setup_param)



def _resolve(name: str, params: Mapping[str, float | Tensor] | None) -> tuple[str, list[float], Optional[Tensor]]:
    """The entry id, the parameter values (checked against the entry's ranges) and the
    parameter tensor when one was given (the maps have at most one parameter)."""
    import funclib

    entry = funclib.get(name)  # UnknownEntryError names it
    if entry.id not in ROWWISE:
        raise ValueError(f"entry {entry.id!r} ({entry.kind}) has no row-wise PyTorch op; "
                         f"available: {', '.join(sorted(ROWWISE))}")
    tensor = None
    plain = dict(params or {})
    for key, value in plain.items():
        if isinstance(value, Tensor):
            if value.numel() != 1 or value.dtype not in (torch.float32, torch.float64) or value.device.type != "cpu":
                raise TypeError(f"{entry.id}: parameter {key!r} must be a one-element float32/float64 CPU "
                                f"tensor, got shape {tuple(value.shape)}, {value.dtype} on {value.device}")
            tensor = value
            plain[key] = value.item()
    values = entry.param_values(plain)  # names and ranges checked (ParameterError)
    return entry.id, [float(values[n]) for n in ROWWISE[entry.id][2]], tensor


def _check_mask(mask: Optional[Tensor], x: Tensor, name: str) -> None:
    if mask is None:
        return
    if not isinstance(mask, Tensor) or mask.dtype != torch.bool:
        raise TypeError(f"{name}: mask must be a boolean tensor (True where an entry takes part), "
                        f"got {getattr(mask, 'dtype', type(mask).__name__)}")
    try:
        torch.broadcast_shapes(mask.shape, x.shape)
    except RuntimeError:
        raise ValueError(f"{name}: mask of shape {tuple(mask.shape)} does not broadcast to the input's "
                         f"{tuple(x.shape)}") from None


def rowwise(name: str, x: Tensor, *, dim: int = -1, mask: Optional[Tensor] = None,
            params: Mapping[str, float | Tensor] | None = None) -> Tensor:
    r"""A row-wise catalog map over dimension ``dim`` of ``x``, with autograd.

    Parameters
    ----------
    name : str
        ``softmax``, ``log_softmax``, ``ssmax``, ``sparsemax``, ``entmax15``, ``entmax``
        (α-entmax, parameter ``alpha``) or ``softpick``.
    x : torch.Tensor
        CPU tensor of a floating dtype.
    dim : int
        The dimension normalized over.
    mask : torch.Tensor of bool, optional
        Broadcastable to ``x``; ``True`` where the entry takes part.
    params : mapping, optional
        The map's parameters (entry defaults otherwise): numbers (fixed), or a one-element
        tensor, which gets a gradient (the rows' contributions summed in a fixed order).

    Returns
    -------
    torch.Tensor
        Same shape and dtype as ``x``; for sparsemax :math:`\arg\min_{p\in\Delta}\|p - x\|^2`.
    """
    entry_id, values, tensor = _resolve(name, params)
    return _apply(x, mask, entry_id, dim, values, tensor)


def _apply(x: Tensor, mask: Optional[Tensor], name: str, dim: int, params: list[float],
           tensor: Optional[Tensor] = None) -> Tensor:
    check_tensor(x, name)
    _check_mask(mask, x, name)
    if not -x.ndim <= dim < max(x.ndim, 1):
        raise IndexError(f"{name}: dim={dim} is out of range for a {x.ndim}-D input")
    if tensor is not None:
        return torch.ops.funclib.rowwise_param(x, mask, name, dim, tensor)
    return torch.ops.funclib.rowwise(x, mask, name, dim, params)


class Rowwise(torch.nn.Module):
    """A row-wise catalog map as an ``nn.Module``: ``Rowwise("entmax", dim=-1, params={"alpha": 1.3})``;
    ``forward(x, mask=None)``. See :func:`rowwise`.

    With ``trainable=True`` the map's parameter (SSMax's ``s``, α-entmax's ``alpha``, softpick's
    ``eps``) is an ``nn.Parameter`` started at its value; the forward pass refuses a value that
    training has moved outside the entry's range (``ValueError`` naming it)."""

    def __init__(self, name: str, *, dim: int = -1, params: Mapping[str, float] | None = None,
                 trainable: bool = False) -> None:
        super().__init__()
        self.name, self.params, _ = _resolve(name, params)
        self.dim = dim
        names = ROWWISE[self.name][2]
        if trainable and not names:
            raise ValueError(f"{self.name}: the map has no parameter to train")
        self.parameter = (torch.nn.Parameter(torch.tensor(self.params[0], dtype=torch.get_default_dtype()))
                          if trainable else None)

    def forward(self, x: Tensor, mask: Optional[Tensor] = None) -> Tensor:
        if self.parameter is None:
            return _apply(x, mask, self.name, self.dim, self.params)
        return _apply(x, mask, self.name, self.dim, self.params, self.parameter)

    def extra_repr(self) -> str:
        names = ROWWISE[self.name][2]
        if self.parameter is not None:
            return f"{self.name!r}, dim={self.dim}, {names[0]} trainable"
        values = "".join(f", {n}={v:g}" for n, v in zip(names, self.params))
        return f"{self.name!r}, dim={self.dim}{values}"
