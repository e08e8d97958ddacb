"""Catalog functions and formulas as PyTorch autograd functions and modules (CPU).

>>> import torch, funclib.torch as ft
>>> act = ft.Activation("silu")                 # a catalog entry: its trainable beta is a Parameter
>>> y = act(torch.randn(8, 16, requires_grad=True))
>>> golu = ft.Activation("golu")                # no PyTorch built-in
>>> mine = ft.Activation("x*tanh(softplus(b*x))", params={"b": 1.0}, trainable=["b"])

Forward runs the entry's generated value kernel; backward runs one fused kernel that returns
f'(x) and the parameter gradients :math:`\\sum_i g_i\\,\\partial f/\\partial\\theta(x_i)`
(reduced deterministically). Autograd saves only the input (and the parameter values), never
the intermediates of the formula: a composition such as ``x*torch.tanh(F.softplus(x))`` keeps
several full-size tensors alive until backward.

Scope of this version: CPU tensors of float32/float64 (float16/bfloat16 compute in float32
and return their own dtype); scalar parameters; first derivatives (``once_differentiable``:
double backward raises). Other devices and dtypes are refused with a message naming them.
PyTorch is imported by this module only (``import funclib`` does not need it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch
from torch.autograd.function import once_differentiable

__all__ = ["Activation", "function"]

_COMPUTE = {torch.float32: "float32", torch.float64: "float64", torch.float16: "float32", torch.bfloat16: "float32"}


@dataclass(frozen=True)
class _Spec:
    """What the kernels are built from: a catalog id (``gelu``, ``gelu:tanh``) or a formula."""

    name: str
    is_formula: bool
    params: tuple[str, ...]
    defaults: tuple[float, ...]
    wrt: tuple[str, ...]

    @lru_cache(maxsize=8)  # noqa: B019 - a handful of specs per process
    def kernels(self, dtype: str):
        """(forward kernel: value; backward kernel: derivative [+ grad_params])."""
        import funclib

        back = ("derivative", "grad_params") if self.wrt else ("derivative",)
        if self.is_formula:
            params = dict(zip(self.params, self.defaults))
            fwd = funclib.compile(self.name, params=params, dtype=dtype, outputs=("value",))
            bwd = funclib.compile(self.name, params=params, dtype=dtype, outputs=back, wrt=self.wrt or None)
        else:
            entry = funclib.get(self.name)
            fwd = entry.kernel(dtype=dtype, outputs=("value",))
            bwd = entry.kernel(dtype=dtype, outputs=back, wrt=self.wrt or None)
        return fwd, bwd


def _resolve(name_or_formula: str, params: Mapping[str, float] | None, trainable: Sequence[str] | None):
    """The spec and the initial parameter values of an entry id or a formula."""
    import funclib

    params = dict(params or {})
    try:
        entry = funclib.get(name_or_formula)
    except funclib.UnknownEntryError:
        entry = None
    if entry is not None:
        if entry.kind != "elementwise":
            raise ValueError(f"entry {entry.id!r} is {entry.kind}; funclib.torch takes elementwise functions")
        known = entry.all_params()
        values = entry.param_values(params)  # names and ranges checked (ParameterError)
        wrt = tuple(n for n, p in known.items() if p.trainable) if trainable is None else tuple(trainable)
        for n in wrt:
            if n not in known:
                raise ValueError(f"entry {entry.id!r} has no parameter {n!r} to train")
        names = tuple(known)
        return _Spec(entry.id, False, names, tuple(values[n] for n in names), wrt), values
    funclib.parse_formula(name_or_formula, params=list(params))  # a clear FormulaError if neither
    names = tuple(params)
    wrt = tuple(trainable or ())
    for n in wrt:
        if n not in params:
            raise ValueError(f"formula has no parameter {n!r} to train (parameters: {', '.join(names) or 'none'})")
    return _Spec(name_or_formula, True, names, tuple(float(params[n]) for n in names), wrt), dict(params)


def _check_tensor(x: torch.Tensor, name: str) -> str:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name}: expected a torch.Tensor, got {type(x).__name__}")
    if x.dtype not in _COMPUTE:
        raise TypeError(f"{name}: tensors of dtype {x.dtype} are not supported (float16/32/64, bfloat16)")
    if x.device.type != "cpu":
        raise NotImplementedError(f"{name}: tensors on {x.device} are not supported by this version (CPU only)")
    return _COMPUTE[x.dtype]


def _as_numpy(t: torch.Tensor, dtype: str) -> np.ndarray:
    t = t.detach()
    if t.dtype != getattr(torch, dtype):
        t = t.to(getattr(torch, dtype))
    return t.contiguous().numpy()


class _Function(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, spec: _Spec, *params):
        dtype = _check_tensor(x, spec.name)
        fwd, _ = spec.kernels(dtype)
        values = {n: p.item() for n, p in zip(spec.params, params)}
        y = torch.from_numpy(np.asarray(fwd(_as_numpy(x, dtype), **values)))
        ctx.spec = spec
        ctx.save_for_backward(x, *params)
        return y.to(x.dtype)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        x, *params = ctx.saved_tensors
        spec: _Spec = ctx.spec
        dtype = _COMPUTE[x.dtype]
        _, bwd = spec.kernels(dtype)
        values = {n: p.item() for n, p in zip(spec.params, params)}
        g = _as_numpy(grad, dtype)
        out = bwd(_as_numpy(x, dtype), upstream=g, **values)
        if spec.wrt:
            slope, grad_params = out
        else:
            slope, grad_params = out, None
        grad_x = (torch.from_numpy(np.asarray(slope)) * torch.from_numpy(g)).to(x.dtype)
        grads = []
        for name, p in zip(spec.params, params):
            if spec.wrt and name in spec.wrt and p.requires_grad:
                grads.append(torch.tensor(float(grad_params[spec.wrt.index(name)]), dtype=p.dtype))
            else:
                grads.append(None)
        return (grad_x, None, *grads)


def function(name_or_formula: str, x: torch.Tensor, *, params: Mapping[str, float] | None = None) -> torch.Tensor:
    """``f(x)`` with autograd for a catalog entry id (``"gelu"``, ``"gelu:tanh"``) or a formula
    (parameters fixed at ``params``; use :class:`Activation` to train them)."""
    spec, values = _resolve(name_or_formula, params, trainable=())
    p = [torch.tensor(float(values[n]), dtype=torch.float64) for n in spec.params]
    return _Function.apply(x, spec, *p)


class Activation(torch.nn.Module):
    """A catalog function (or formula) as an ``nn.Module``.

    Parameters
    ----------
    name_or_formula : str
        Entry id or alias (``"gelu"``, ``"gelu:tanh"``, ``"golu"``), or a formula in funclib's
        grammar (``"x*tanh(softplus(b*x))"``).
    params : mapping, optional
        Initial parameter values (entry defaults otherwise; required for a formula's parameters).
    trainable : sequence of str, optional
        Parameters to train (``nn.Parameter``); default: the entry's ``trainable`` ones, none for
        a formula. The others are buffers.
    """

    def __init__(self, name_or_formula: str, *, params: Mapping[str, float] | None = None,
                 trainable: Sequence[str] | None = None) -> None:
        super().__init__()
        self.spec, values = _resolve(name_or_formula, params, trainable)
        for name in self.spec.params:
            value = torch.tensor(float(values[name]), dtype=torch.get_default_dtype())
            if name in self.spec.wrt:
                self.register_parameter(name, torch.nn.Parameter(value))
            else:
                self.register_buffer(name, value)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _Function.apply(x, self.spec, *(getattr(self, n) for n in self.spec.params))

    def extra_repr(self) -> str:
        values = ", ".join(f"{n}={getattr(self, n).item():g}" for n in self.spec.params)
        return f"{self.spec.name!r}" + (f", {values}" if values else "")
