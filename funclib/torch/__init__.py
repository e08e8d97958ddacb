"""Catalog functions and formulas as PyTorch autograd functions and modules (CPU).

>>> import torch, funclib.torch as ft
>>> act = ft.Activation("silu")                 # a catalog entry: its trainable beta is a Parameter
>>> y = act(torch.randn(8, 16, requires_grad=True))
>>> prelu = ft.Activation("prelu", num_parameters=16)   # one slope per channel (dimension 1)
>>> mine = ft.Activation("x*tanh(softplus(b*x))", params={"b": 1.0}, trainable=["b"])
>>> p = ft.Rowwise("sparsemax")(torch.randn(4, 10))     # row-wise maps over ``dim``

Elementwise forward runs the entry's generated value kernel; backward runs one fused kernel
that returns :math:`f'(x)` and the parameter gradients
:math:`\\sum_i g_i\\,\\partial f/\\partial\\theta(x_i)` (per channel, reduced
deterministically). Autograd saves only the input and the parameters, never the
intermediates of the formula. Double backward uses the catalog's stabilized second
derivatives. Both are ``torch.library`` custom ops (``funclib::elementwise``,
``funclib::elementwise_backward``, ``funclib::rowwise``, ``funclib::rowwise_backward``) with
fake-tensor registrations, so ``torch.compile(fullgraph=True)`` traces models that use them
(eager mode runs the elementwise implementation through an equivalent ``autograd.Function``).

Scope: CPU tensors of float32/float64 (float16/bfloat16 compute in float32 and return their own
dtype). Other devices and dtypes are refused with a message naming them. PyTorch is imported
by this package only (``import funclib`` does not need it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch

from .elementwise_ops import apply
from .rowwise_ops import Rowwise, rowwise
from funclib.adapter import Spec, resolve

__all__ = ["Activation", "function", "Rowwise", "rowwise", "Spec"]


def function(name_or_formula: str, x: torch.Tensor, *, params: Mapping[str, float] | None = None) -> torch.Tensor:
    """:math:`f(x)` with autograd (to any order) for a catalog entry id (``"gelu"``,
    ``"gelu:tanh"``) or a formula, parameters fixed at ``params`` (entry defaults otherwise);
    use :class:`Activation` to train them.

    Parameters
    ----------
    name_or_formula : str
        Entry id or alias, or a formula in funclib's grammar.
    x : torch.Tensor
        CPU tensor of a floating dtype.
    params : mapping, optional
        Parameter values (required for each parameter of a formula).

    Returns
    -------
    torch.Tensor
        :math:`f(x)`, same shape and dtype as ``x``.
    """
    spec, values = resolve(name_or_formula, params, trainable=())
    return apply(x, spec, [torch.tensor(values[n], dtype=torch.float64) for n in spec.params])


class Activation(torch.nn.Module):
    r"""A catalog function (or formula) :math:`f(x;\theta)` as an ``nn.Module``.

    Parameters
    ----------
    name_or_formula : str
        Entry id or alias (``"gelu"``, ``"gelu:tanh"``, ``"golu"``), or a formula in funclib's
        grammar (``"x*tanh(softplus(b*x))"``).
    params : mapping, optional
        Initial parameter values (entry defaults otherwise; required for a formula's parameters).
    trainable : sequence of str, optional
        Parameters to train (``nn.Parameter``); default: the entry's ``trainable`` ones, none for
        a formula. The others are buffers of shape ``()``.
    num_parameters : int
        1 (default): each trained parameter is one scalar. ``C``: one value per channel, as in
        ``nn.PReLU(num_parameters=C)``: a tensor of shape ``(C,)`` broadcast over dimension 1
        of the input (which must have ``C`` channels there); gradients are summed per channel.
    """

    def __init__(self, name_or_formula: str, *, params: Mapping[str, float] | None = None,
                 trainable: Sequence[str] | None = None, num_parameters: int = 1) -> None:
        super().__init__()
        if isinstance(num_parameters, bool) or not isinstance(num_parameters, int) or num_parameters < 1:
            raise ValueError(f"num_parameters must be a positive integer, got {num_parameters!r}")
        self.spec, values = resolve(name_or_formula, params, trainable)
        if num_parameters > 1 and not self.spec.wrt:
            raise ValueError(f"{self.spec.name!r}: num_parameters={num_parameters} needs a trained parameter "
                             "(pass trainable=[...])")
        self.num_parameters = num_parameters
        for name in self.spec.params:
            shape = (num_parameters,) if num_parameters > 1 and name in self.spec.wrt else ()
            value = torch.full(shape, float(values[name]), dtype=torch.get_default_dtype())
            if name in self.spec.wrt:
                self.register_parameter(name, torch.nn.Parameter(value))
            else:
                self.register_buffer(name, value)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return apply(x, self.spec, [getattr(self, n) for n in self.spec.params])

    def extra_repr(self) -> str:
        def show(t: torch.Tensor) -> str:
            return f"{t.item():g}" if t.numel() == 1 else f"<{t.numel()} channels>"

        values = ", ".join(f"{n}={show(getattr(self, n))}" for n in self.spec.params)
        return f"{self.spec.name!r}" + (f", {values}" if values else "")
