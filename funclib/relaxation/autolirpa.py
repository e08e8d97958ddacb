r"""funclib's proven relaxations inside auto_LiRPA: bound propagation for any catalog activation.

auto_LiRPA (the bound-propagation library of the α,β-CROWN verifier) hand-writes the linear
relaxation of each activation it knows; in version 0.7.1 it refuses GELU, ELU and GoLU
("There are unsupported operations"), fails on Softplus and Mish (``bound_relax`` not
implemented) and on float64 SiLU.  This adapter gives it funclib's instead, through its
custom-operator API (``BoundedModule(..., custom_ops=...)``):

* :func:`lirpa_activation` is an ``nn.Module`` applying a catalog entry through a
  ``torch.autograd.Function`` whose ONNX symbolic is the operator ``custom::FunclibActivation``
  (attributes: the entry id and its parameters as JSON), so auto_LiRPA's tracer sees one node;
* :func:`bound_ops` maps that operator to a bound class, a subclass of auto_LiRPA's
  ``BoundOptimizableActivation`` whose ``bound_relax`` sets the lines

  .. math:: a_L z + b_L \le f(z) \le a_U z + b_U \qquad (z \in [l, u])

  from :func:`funclib.relaxation.relax_entry` on the pre-activation bounds ``[l, u]`` auto_LiRPA
  computed, and whose interval bound (IBP) is the lines' extremes on :math:`[l, u]`
  (:math:`\min(a_L l, a_L u) + b_L \le f \le \max(a_U l, a_U u) + b_U`), valid for
  non-monotone functions too, where auto_LiRPA's default :math:`[f(l), f(u)]` is not;
* :func:`convert` replaces the activation modules of a model by such modules (ReLU is kept by
  default: auto_LiRPA bounds it natively and optimizes its slopes in α-CROWN), and
  :func:`bounded_module` is ``BoundedModule(convert(model), example, custom_ops=bound_ops())``.

Every intercept is proven with arb interval arithmetic (see :mod:`funclib.relaxation`).  In
float32 the slopes are rounded to float32, the intercepts moved by the most the rounding
changes the line on the interval and then rounded outward, so the float32 lines are still
bounds of :math:`f`.  In auto_LiRPA's ``CROWN-optimized`` (α-CROWN) the bound class is
optimizable: per (specification row, input, neuron) it holds the lower and upper slope, for
the lower- and the upper-bound pass, starting at funclib's choice and projected on each step
onto :attr:`~funclib.relaxation.Relaxation.lower_slope_range` /
:attr:`~funclib.relaxation.Relaxation.upper_slope_range` of the current pre-activation bounds;
the intercept of every tuned slope is proven
(:meth:`~funclib.relaxation.Relaxation.lower_intercept_for`), with gradient
:math:`\partial b / \partial a = -x^*` (the touching point).  As in auto_LiRPA itself, the
matrix products are float arithmetic without directed rounding.  CPU tensors only (as
:mod:`funclib.torch`).

auto_LiRPA is not on PyPI in a version that works with current PyTorch (0.3 needs
torch < 1.13); install it from source without dependencies, see ``docs/guide/relaxations.md``.
It is imported only when a function here is called.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = ["OP_NAME", "available", "bound_ops", "bounded_module", "convert", "lirpa_activation", "relaxation_tensors"]

OP_NAME = "custom::FunclibActivation"

_INSTALL = ("auto_LiRPA is needed for funclib.relaxation.autolirpa; install it from its source, keeping "
            "torch as it is: git clone https://github.com/Verified-Intelligence/auto_LiRPA && "
            "pip install --no-deps -e auto_LiRPA && pip install appdirs tqdm graphviz")


def available() -> bool:
    """Whether auto_LiRPA imports here."""
    try:
        _lirpa()
    except ImportError:
        return False
    return True


def _lirpa():
    try:
        import auto_LiRPA
    except ImportError as exc:
        raise ImportError(f"{_INSTALL} (import failed: {exc})") from exc
    return auto_LiRPA


def _spec(name: str, params: Mapping[str, float] | None) -> tuple[str, dict[str, float]]:
    """The entry id (``entry`` or ``entry:variant``) and its parameters, checked against the catalog."""
    from funclib import registry

    entry = registry.get(name)  # UnknownEntryError names close matches
    if entry.kind != "elementwise":
        raise ValueError(f"entry {entry.id!r} is {entry.kind}; auto_LiRPA can use relaxations of elementwise entries only")
    given = dict(params or {})
    for key, value in given.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ValueError(f"entry {entry.id!r}: parameter {key!r} must be a finite real number, got {value!r}")
    entry.param_values(given)  # ParameterError (a ValueError) for an unknown name or a value out of range
    values = {key: float(value) for key, value in given.items()}
    return entry.id, values


def relaxation_tensors(name: str, params: Mapping[str, float] | None, lower, upper):
    r"""The proven lines of entry ``name`` on ``[lower, upper]`` as tensors ``(lw, lb, uw, ub)``.

    Parameters
    ----------
    name : str
        Catalog entry id (``"gelu"``, ``"gelu:tanh"``).
    params : mapping or None
        Parameter values (entry defaults otherwise).
    lower, upper : torch.Tensor
        Interval ends (same shape, float32 or float64).

    Returns
    -------
    tuple of torch.Tensor
        ``lw * z + lb <= f(z) <= uw * z + ub`` for every ``z`` in ``[lower, upper]``, in the
        dtype and device of ``lower``.  For float32 the slopes are rounded and the intercepts
        moved outward to cover the change (see :func:`_as_float32`).

    Raises
    ------
    funclib.relaxation.RelaxationError
        A bound that cannot be proven (names the entry and the interval).
    """
    import torch

    rel, lo, hi = _relaxation(name, params, lower, upper)
    aL, bL, aU, bU = rel.lower_slope, rel.lower_intercept, rel.upper_slope, rel.upper_intercept
    if lower.dtype == torch.float32:
        aL, bL = _as_float32(aL, bL, lo, hi, upper=False)
        aU, bU = _as_float32(aU, bU, lo, hi, upper=True)
    return tuple(_tensor(a, lower) for a in (aL, bL, aU, bU))


def _relaxation(name: str, params: Mapping[str, float] | None, lower, upper):
    """funclib's :class:`~funclib.relaxation.Relaxation` on the tensors' intervals, and the
    float64 interval ends."""
    import torch

    from funclib import registry

    if lower.dtype not in (torch.float32, torch.float64) or upper.dtype != lower.dtype:
        raise TypeError(f"entry {name!r}: interval bounds must both be float32 or float64, got {lower.dtype} and {upper.dtype}")
    lo = lower.detach().cpu().numpy().astype(np.float64)
    hi = upper.detach().cpu().numpy().astype(np.float64)
    # auto_LiRPA's float bounds can cross by a rounding on a zero-width ball; their hull holds the value.
    lo, hi = np.minimum(lo, hi), np.maximum(lo, hi)
    return registry.get(name).relaxation(lo, hi, params=dict(params or {}) or None), lo, hi


def _tensor(a: np.ndarray, like):
    import torch

    return torch.as_tensor(np.ascontiguousarray(a), dtype=like.dtype).to(like.device)


def _as_float32(a: np.ndarray, b: np.ndarray, lo: np.ndarray, hi: np.ndarray, *, upper: bool):
    r"""A line :math:`a x + b` (a bound of f on [lo, hi]) as float32 numbers that still bound f.

    With the rounded slope :math:`\tilde a` and :math:`e = a - \tilde a`,
    :math:`\tilde a x + b + \min_{[l,u]} e x \le a x + b` (lower side; max for the upper one),
    so that intercept, rounded outward (every float step moved away from f), keeps the bound.
    Infinite intervals have constant lines (:math:`a = 0`, exact).
    """
    with np.errstate(over="ignore"):
        a32 = a.astype(np.float32)
    if not np.all(np.isfinite(a32)):
        raise OverflowError("a slope of the relaxation overflows float32; bound the network in float64")
    e = a - a32.astype(np.float64)  # exact (Sterbenz: a and its float32 rounding are within 2x)
    with np.errstate(invalid="ignore", over="ignore"):
        ends = np.where(e == 0, 0.0, np.maximum(e * lo, e * hi) if upper else np.minimum(e * lo, e * hi))
    away = np.inf if upper else -np.inf
    return a32, _round_out32(np.nextafter(b + np.nextafter(ends, away), away), upper=upper)


def _round_out32(b: np.ndarray, *, upper: bool) -> np.ndarray:
    """float64 intercepts as float32, rounded away from the function (up for upper lines)."""
    b32 = b.astype(np.float32)
    wrong = b32.astype(np.float64) < b if upper else b32.astype(np.float64) > b
    return np.where(wrong, np.nextafter(b32, np.float32(np.inf if upper else -np.inf)), b32)


@functools.cache
def _classes() -> tuple[type, type, type]:
    """The autograd function, module and bound class (built on first use: torch and auto_LiRPA
    are imported only then)."""
    import torch
    from auto_LiRPA.operators import BoundOptimizableActivation

    _lirpa()
    from funclib.torch import function

    class FunclibActivationOp(torch.autograd.Function):
        """``f(x)`` of a catalog entry, seen by auto_LiRPA's tracer as one ``custom::FunclibActivation`` node."""

        @staticmethod
        def symbolic(g, x, name, params_json):
            return g.op(OP_NAME, x, name_s=name, params_s=params_json)

        @staticmethod
        def forward(ctx, x, name, params_json):
            ctx.save_for_backward(x)
            ctx.spec = (name, params_json)
            return function(name, x, params=json.loads(params_json))

        @staticmethod
        def backward(ctx, grad):
            (x,) = ctx.saved_tensors
            name, params_json = ctx.spec
            with torch.enable_grad():
                xx = x.detach().requires_grad_(True)
                (gx,) = torch.autograd.grad(function(name, xx, params=json.loads(params_json)), xx, grad)
            return gx, None, None

    class FunclibLirpaActivation(torch.nn.Module):
        """A catalog activation that auto_LiRPA bounds with funclib's proven relaxations."""

        def __init__(self, name: str, params: Mapping[str, float] | None = None) -> None:
            super().__init__()
            self.name, self.params = _spec(name, params)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return FunclibActivationOp.apply(x, self.name, json.dumps(self.params, sort_keys=True))

        def extra_repr(self) -> str:
            return repr(self.name) + "".join(f", {k}={v:g}" for k, v in self.params.items())

    class Intercept(torch.autograd.Function):
        r"""Proven intercept :math:`b(a)` of lines of slope ``a`` (``upper``: above f), with
        :math:`\partial b/\partial a = -x^*`, the touching point."""

        @staticmethod
        def forward(ctx, slope, rel, upper):
            a = slope.detach().cpu().numpy().astype(np.float64)  # float32 slopes widen exactly
            b, where = (rel.upper_intercept_for if upper else rel.lower_intercept_for)(a)
            if slope.dtype == torch.float32:
                b = _round_out32(b, upper=upper)
            ctx.save_for_backward(_tensor(where, slope))
            return _tensor(b, slope)

        @staticmethod
        def backward(ctx, grad):
            (where,) = ctx.saved_tensors
            return -grad * where, None, None

    class BoundFunclibActivation(BoundOptimizableActivation):
        """auto_LiRPA bound operator of ``custom::FunclibActivation``: funclib's proven lines,
        with the slopes tuned in ``CROWN-optimized`` (α-CROWN)."""

        def __init__(self, attr=None, inputs=None, output_index=0, options=None):
            super().__init__(attr, inputs, output_index, options)
            self.entry_name, self.entry_params = _spec(attr["name"], json.loads(attr["params"]))

        def forward(self, x):
            return function(self.entry_name, x, params=self.entry_params)

        def _init_opt_parameters_impl(self, size_spec, name_start=None, **kwargs):
            # Rows: lower and upper slope for the lower-bound pass, then for the upper-bound pass,
            # per (specification row, input, neuron); they start at the untuned slopes.
            x = self.inputs[0]
            lw, _, uw, _ = relaxation_tensors(self.entry_name, self.entry_params, x.lower, x.upper)
            return torch.stack([lw, uw, lw, uw]).unsqueeze(1).expand(4, size_spec, *lw.shape).clone().detach()

        def bound_relax(self, x, init=False, dim_opt=None):
            if self.opt_stage not in ("opt", "reuse"):
                self.lw, self.lb, self.uw, self.ub = relaxation_tensors(self.entry_name, self.entry_params, x.lower, x.upper)
                return
            alpha = self.alpha[self._start]
            rel, lo, hi = _relaxation(self.entry_name, self.entry_params, x.lower, x.upper)
            if not (np.isfinite(lo).all() and np.isfinite(hi).all()):  # tuned slopes need finite intervals
                lines = relaxation_tensors(self.entry_name, self.entry_params, x.lower, x.upper)
                self.lw, self.lb, self.uw, self.ub = (t.expand((2,) + alpha.shape[1:]) for t in lines)
                return
            # Projected onto the ranges where tight lines lie (they move with the pre-activation
            # bounds, so the projection is done here, as auto_LiRPA does for its own functions).
            with torch.no_grad():
                for rows, (r0, r1) in ((slice(0, 4, 2), rel.lower_slope_range), (slice(1, 4, 2), rel.upper_slope_range)):
                    alpha.data[rows] = torch.maximum(torch.minimum(alpha.data[rows], _tensor(r1, alpha)), _tensor(r0, alpha))
            self.lw, self.uw = alpha[0::2], alpha[1::2]
            self.lb = Intercept.apply(self.lw, rel, False)
            self.ub = Intercept.apply(self.uw, rel, True)

        def interval_propagate(self, *v):
            lo, hi = v[0][0], v[0][1]
            lw, lb, uw, ub = relaxation_tensors(self.entry_name, self.entry_params, lo, hi)
            # The lines' extremes on [lo, hi] (an infinite end meets slope 0 there: constant bounds).
            low = torch.where(lw == 0, lb, torch.minimum(lw * lo, lw * hi) + lb)
            high = torch.where(uw == 0, ub, torch.maximum(uw * lo, uw * hi) + ub)
            return low, high

    return FunclibActivationOp, FunclibLirpaActivation, BoundFunclibActivation


def lirpa_activation(name: str, *, params: Mapping[str, float] | None = None) -> Any:
    """An ``nn.Module`` computing catalog entry ``name`` that auto_LiRPA bounds with funclib's
    proven relaxations (with :func:`bound_ops` passed as ``custom_ops``).

    Parameters
    ----------
    name : str
        Elementwise catalog entry id or alias, ``"entry:variant"`` for a variant.
    params : mapping, optional
        Parameter values (entry defaults otherwise).
    """
    return _classes()[1](name, params)


def bound_ops() -> dict[str, type]:
    """``{"custom::FunclibActivation": bound class}``, for ``BoundedModule(custom_ops=...)``."""
    return {OP_NAME: _classes()[2]}


def _catalog_of(module: Any) -> tuple[str, dict[str, float]] | None:
    """(entry, params) of an activation module, None for other modules."""
    import torch.nn as nn

    from funclib.verify.torch_loader import catalog_activation

    if type(module) is nn.Softplus:  # PyTorch's softplus is the identity beyond its threshold
        return ("softplus:threshold", {"beta": float(module.beta), "threshold": float(module.threshold)})
    if type(module) is _classes()[1]:
        return None
    return catalog_activation(module)


def convert(model: Any, *, keep: tuple[str, ...] = ("relu",)) -> Any:
    """A copy of ``model`` with every activation module (PyTorch built-ins and
    ``funclib.torch.Activation`` of catalog entries) replaced by :func:`lirpa_activation`.

    Parameters
    ----------
    model : torch.nn.Module
    keep : tuple of str
        Catalog ids left as they are (default ReLU, which auto_LiRPA bounds natively and
        optimizes in α-CROWN).

    Returns
    -------
    torch.nn.Module
        The copy (``model`` is not changed); the same function of the input.
    """
    import copy

    _classes()
    out = copy.deepcopy(model)

    def walk(parent: Any) -> None:
        for child_name, child in list(parent._modules.items()):  # named_children skips a reused module
            if child is None:
                continue
            found = _catalog_of(child)
            if found is not None and found[0] not in keep:
                setattr(parent, child_name, lirpa_activation(found[0], params=found[1]))
            elif found is None:
                walk(child)

    walk(out)
    return out


def bounded_module(model: Any, example: Any, *, keep: tuple[str, ...] = ("relu",), **kwargs: Any) -> Any:
    """``auto_LiRPA.BoundedModule(convert(model, keep=keep), example, custom_ops=bound_ops(), **kwargs)``."""
    from auto_LiRPA import BoundedModule

    ops = dict(kwargs.pop("custom_ops", None) or {})
    ops.update(bound_ops())
    return BoundedModule(convert(model, keep=keep), example, custom_ops=ops, **kwargs)
