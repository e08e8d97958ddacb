"""Elementwise functions as ``torch.library`` custom ops with autograd to any order.

Two ops, both on CPU tensors:

* ``funclib::elementwise(x, params, spec) -> y`` runs the generated value kernel;
* ``funclib::elementwise_backward(g, x, params, spec) -> [g f'(x), Σ g ∂f/∂θ ...]`` runs the
  fused derivative kernel (f' and the parameter gradients of the trained parameters, reduced
  deterministically per channel).

The first op's autograd calls the second and saves only ``x`` and the parameters. The second
op's autograd (double backward: gradient penalties) evaluates the catalog's stabilized second
derivatives :math:`f''`, :math:`\\partial^2 f/\\partial x\\partial\\theta`,
:math:`\\partial^2 f/\\partial\\theta\\partial\\theta'` with PyTorch operations
(:mod:`funclib.arrayeval`), so third and higher derivatives follow from PyTorch's autograd.

Parameters are tensors of shape ``()`` (one value) or ``(C,)`` (one per channel, channel
dimension 1 of the input as in ``nn.PReLU``). Fake-tensor registrations make both ops
traceable by ``torch.compile(fullgraph=True)``.
"""

from __future__ import annotations

import math

import numpy as np
import sympy as sp
import torch
from torch import Tensor

from funclib import special
from funclib.arrayeval import Backend, evaluate

from funclib.adapter import Spec, spec_from_key

__all__ = ["apply", "check_tensor", "COMPUTE"]

#: The kernel dtype of each accepted tensor dtype (half types compute in float32).
COMPUTE = {torch.float32: torch.float32, torch.float64: torch.float64,
           torch.float16: torch.float32, torch.bfloat16: torch.float32}

_KERNEL_DTYPE = {torch.float32: "float32", torch.float64: "float64"}

TORCH = Backend("torch", torch, {sp.erf: torch.special.erf, sp.erfc: torch.special.erfc,
                                  special.erfc: torch.special.erfc})


def check_tensor(x: Tensor, what: str) -> None:
    """Refuse what the kernels cannot take, naming ``what`` and the dtype or device."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{what}: expected a torch.Tensor, got {type(x).__name__}")
    if x.dtype not in COMPUTE:
        raise TypeError(f"{what}: tensors of dtype {x.dtype} are not supported (float16/32/64, bfloat16)")
    if x.device.type != "cpu":
        raise NotImplementedError(f"{what}: tensors on {x.device} are not supported by this version (CPU only)")


def channels(x: Tensor, params: list[Tensor], what: str) -> int:
    """The number of channels the parameters give (1 for scalar parameters), checked against
    dimension 1 of ``x``."""
    n = 1
    for p in params:
        if p.ndim > 1 or (p.ndim == 1 and n != 1 and p.shape[0] not in (1, n)):
            raise ValueError(f"{what}: parameters must be scalars or share one length C, got shape {tuple(p.shape)}")
        if p.ndim == 1 and p.shape[0] != 1:
            n = p.shape[0]
    if n > 1 and (x.ndim < 2 or x.shape[1] != n):
        raise ValueError(f"{what}: {n} per-channel parameters need an input with {n} channels in dimension 1, "
                         f"got shape {tuple(x.shape)}")
    return n


def _values(spec: Spec, params: list[Tensor], c: int) -> dict[str, float]:
    return {n: p.item() if p.numel() == 1 else float(p.reshape(-1)[c]) for n, p in zip(spec.params, params)}


def _rows(t: Tensor, n: int, dtype: torch.dtype) -> Tensor:
    """``t`` in the kernel dtype as ``(n, -1)``: channel-first rows, or one row (no copy for a
    contiguous tensor of the kernel dtype)."""
    t = t.detach().to(dtype)
    if n > 1:
        t = t.movedim(1, 0)
    return t.contiguous().reshape(n, -1)


def _unrows(rows: Tensor, like: Tensor, n: int) -> Tensor:
    if n == 1:
        return rows.reshape(like.shape)
    shape = (like.shape[1], like.shape[0], *like.shape[2:])
    return rows.reshape(shape).movedim(0, 1).contiguous()


def _flat(t: Tensor) -> np.ndarray:
    """A contiguous tensor's storage as a 1-D NumPy array (no copy)."""
    return t.detach().numpy().reshape(-1)


def _forward_impl(x: Tensor, params: list[Tensor], spec: str) -> Tensor:
    s = spec_from_key(spec)
    dtype = COMPUTE[x.dtype]
    n = channels(x, params, s.name)
    fwd, _ = s.kernels(_KERNEL_DTYPE[dtype])
    if n == 1 and x.dtype == dtype and x.is_contiguous():  # the common case, without reshaping
        y = torch.empty_like(x, memory_format=torch.contiguous_format)
        fwd.run_flat(_flat(x), (_flat(y),), _values(s, params, 0))
        return y
    xs = _rows(x, n, dtype)
    ys = torch.empty_like(xs)
    for c in range(n):
        fwd(xs[c].numpy(), out=ys[c].numpy(), **_values(s, params, c))
    return _unrows(ys, x, n).to(x.dtype)


_forward = torch.library.custom_op("funclib::elementwise", _forward_impl, mutates_args=())


@_forward.register_fake
def _(x, params, spec):
    return x.new_empty(x.shape)


def _backward_impl(grad: Tensor, x: Tensor, params: list[Tensor], spec: str) -> list[Tensor]:
    s = spec_from_key(spec)
    dtype = COMPUTE[x.dtype]
    n = channels(x, params, s.name)
    _, bwd = s.kernels(_KERNEL_DTYPE[dtype])
    if not s.wrt and n == 1 and x.dtype == dtype and x.is_contiguous():  # the common case
        slopes = torch.empty_like(x, memory_format=torch.contiguous_format)
        bwd.run_flat(_flat(x), (_flat(slopes),), _values(s, params, 0))
        return [slopes.mul_(grad.to(dtype))]
    xs, gs = _rows(x, n, dtype), _rows(grad, n, dtype)
    slopes = torch.empty_like(xs)
    per_channel = np.zeros((len(s.wrt), n))
    for c in range(n):
        xc, gc = xs[c].numpy(), gs[c].numpy()
        if s.wrt:
            _, gp = bwd(xc, out=(slopes[c].numpy(), np.empty(len(s.wrt), xc.dtype)), upstream=gc,
                        **_values(s, params, c))
            per_channel[:, c] = gp
        else:
            bwd(xc, out=slopes[c].numpy(), **_values(s, params, c))
    grad_x = _unrows(slopes.mul_(gs), x, n).to(x.dtype)
    grads = [grad_x]
    for k, name in enumerate(s.wrt):
        p = params[s.params.index(name)]
        # one value per parameter element; a scalar shared by C channels sums them in order
        g = per_channel[k] if p.numel() == n else [math.fsum(per_channel[k])]
        grads.append(torch.tensor(g, dtype=p.dtype).reshape(p.shape))
    return grads


_backward = torch.library.custom_op("funclib::elementwise_backward", _backward_impl, mutates_args=())


@_backward.register_fake
def _(grad, x, params, spec):
    s = spec_from_key(spec)
    return [x.new_empty(x.shape)] + [params[s.params.index(n)].new_empty(params[s.params.index(n)].shape)
                                     for n in s.wrt]


def _setup_forward(ctx, inputs, output):
    x, params, spec = inputs
    ctx.spec = spec
    ctx.n_params = len(params)
    ctx.save_for_backward(x, *params)


def _autograd_forward(ctx, grad):
    x, *params = ctx.saved_tensors
    s = spec_from_key(ctx.spec)
    grad_x, *grad_wrt = _backward(grad, x, params, ctx.spec)
    by_name = dict(zip(s.wrt, grad_wrt))
    return grad_x, [by_name.get(n) for n in s.params], None


_forward.register_autograd(_autograd_forward, setup_context=_setup_forward)


def _broadcast(p: Tensor, x: Tensor, dtype: torch.dtype) -> Tensor:
    """A parameter as a tensor broadcastable to ``x`` (per-channel along dimension 1)."""
    p = p.to(dtype)
    if p.numel() > 1:
        return p.reshape(-1, *([1] * (x.ndim - 2)))
    return p.reshape(())


def _reduce(t: Tensor, p: Tensor) -> Tensor:
    """Sum ``t`` onto the shape of parameter ``p`` (per channel, or everything)."""
    if p.numel() > 1:
        return t.sum(dim=[d for d in range(t.ndim) if d != 1]).reshape(p.shape).to(p.dtype)
    return t.sum().reshape(p.shape).to(p.dtype)


def _setup_backward(ctx, inputs, output):
    grad, x, params, spec = inputs
    ctx.spec = spec
    ctx.save_for_backward(grad, x, *params)


def _autograd_backward(ctx, cotangents):
    """Cotangents ``u_x`` (of g f') and ``u_k`` (of Σ g ∂f/∂θ_k) → gradients of g, x, θ."""
    grad, x, *params = ctx.saved_tensors
    s = spec_from_key(ctx.spec)
    dtype = COMPUTE[x.dtype]
    xs, gs = x.to(dtype), grad.to(dtype)
    sym_x, sym_p = s.symbols
    env = {sym_x: xs, **{sym: _broadcast(p, x, dtype) for sym, p in zip(sym_p, params)}}

    def d(*wrt):  # a mixed derivative at (x, θ), broadcast to x's shape
        return torch.broadcast_to(torch.as_tensor(evaluate(s.derivative(*wrt), env, TORCH, xs), dtype=dtype),
                                  xs.shape)

    u_x, *u_p = cotangents
    terms = [] if u_x is None else [(u_x.to(dtype), "x")]
    for name, u in zip(s.wrt, u_p):
        if u is not None:
            terms.append((_broadcast(u, x, dtype), name))
    grad_g = sum((u * d(w) for u, w in terms), torch.zeros_like(xs))
    grad_x = gs * sum((u * d(w, "x") for u, w in terms), torch.zeros_like(xs))
    grad_params = []
    for name, p in zip(s.params, params):
        if name not in s.wrt:
            grad_params.append(None)
            continue
        grad_params.append(_reduce(gs * sum((u * d(w, name) for u, w in terms), torch.zeros_like(xs)), p))
    return grad_g.to(grad.dtype), grad_x.to(x.dtype), grad_params, None


_backward.register_autograd(_autograd_backward, setup_context=_setup_backward)


class _Eager(torch.autograd.Function):
    """The same computation as the custom ops without the dispatcher's per-call cost (eager
    mode); backward with ``create_graph=True`` goes through the backward op for its autograd."""

    @staticmethod
    def forward(ctx, x, spec, *params):
        ctx.spec = spec
        ctx.save_for_backward(x, *params)
        return _forward_impl(x, list(params), spec)

    @staticmethod
    def backward(ctx, grad):
        x, *params = ctx.saved_tensors
        s = spec_from_key(ctx.spec)
        if torch.is_grad_enabled():  # create_graph=True: keep the graph for double backward
            grad_x, *grad_wrt = _backward(grad, x, params, ctx.spec)
        else:
            grad_x, *grad_wrt = _backward_impl(grad, x, params, ctx.spec)
        by_name = dict(zip(s.wrt, grad_wrt))
        return (grad_x, None, *[by_name.get(n) for n in s.params])


def apply(x: Tensor, spec: Spec, params: list[Tensor]) -> Tensor:
    """``f(x; θ)`` after checking the input: the custom op when ``torch.compile`` traces, an
    equivalent ``autograd.Function`` in eager mode."""
    check_tensor(x, spec.name)
    for name, p in zip(spec.params, params):
        check_tensor(p, f"{spec.name} parameter {name!r}")
    channels(x, params, spec.name)  # before tracing too: a compiled graph fails the same way
    if torch.compiler.is_compiling():
        return torch.ops.funclib.elementwise(x, params, spec.key)
    return _Eager.apply(x, spec.key, *params)
