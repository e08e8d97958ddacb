"""What the framework adapters (:mod:`funclib.torch`, :mod:`funclib.jax`) adapt: a catalog id
or a formula, its parameter names and the ones trained, with its kernels and stabilized
symbolic derivatives built once per process.

A :class:`Spec` travels through ``torch.library`` custom ops as its :attr:`Spec.key` (a JSON
string), so a compiled graph names the function by value, not by a Python object. This module
imports no framework.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property, lru_cache

import sympy as sp

__all__ = ["Spec", "resolve", "spec_from_key"]


@dataclass(frozen=True)
class Spec:
    """An elementwise function: catalog ``name`` (``gelu``, ``gelu:tanh``) or formula text.

    Attributes
    ----------
    name : str
    is_formula : bool
    params : tuple of str
        Every parameter, in the kernel's order (all are passed as tensors at each call).
    wrt : tuple of str
        The trained parameters (``grad_params`` order).
    key : str
        JSON of the four fields: how the custom ops name the function.
    """

    name: str
    is_formula: bool
    params: tuple[str, ...]
    wrt: tuple[str, ...]

    key: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # computed once: torch.compile reads the attribute, it cannot trace json.dumps
        object.__setattr__(self, "key", json.dumps([self.name, self.is_formula, list(self.params), list(self.wrt)]))

    @cached_property
    def symbols(self) -> tuple[sp.Symbol, tuple[sp.Symbol, ...]]:
        """The input symbol and the parameter symbols."""
        from funclib.formula import make_symbol

        return make_symbol(self._variable), tuple(make_symbol(n) for n in self.params)

    @cached_property
    def _variable(self) -> str:
        return "x" if self.is_formula else self._entry.variables[0]

    @cached_property
    def _entry(self):
        import funclib

        return funclib.get(self.name)

    @cached_property
    def expr(self) -> sp.Expr:
        """The formula with symbolic parameters."""
        if self.is_formula:
            from funclib import parse_formula

            return parse_formula(self.name, params=list(self.params))
        return self._entry.formula_expr()

    @lru_cache(maxsize=64)  # noqa: B019 - a bounded set of (spec, derivative) pairs per process
    def derivative(self, *wrt: str) -> sp.Expr:
        """The stabilized mixed derivative of the formula with respect to ``wrt`` (``"x"`` is
        the input, other names are parameters): ``derivative("x", "x")`` is :math:`f''`."""
        from funclib import calculus

        x, ps = self.symbols
        by_name = dict(zip(self.params, ps))
        expr = self.expr
        for name in wrt:
            expr = calculus.derivative(expr, x if name == "x" else by_name[name], 1)
        return expr

    @lru_cache(maxsize=8)  # noqa: B019 - two dtypes per spec
    def kernels(self, dtype: str):
        """(value kernel; derivative kernel [+ ``grad_params`` of :attr:`wrt`]) in ``dtype``;
        parameters are runtime arguments, so one pair serves every parameter value."""
        import funclib

        back = ("derivative", "grad_params") if self.wrt else ("derivative",)
        if self.is_formula:
            params = {n: None for n in self.params}
            fwd = funclib.compile(self.name, params=params, dtype=dtype, outputs=("value",))
            bwd = funclib.compile(self.name, params=params, dtype=dtype, outputs=back, wrt=self.wrt or None)
        else:
            fwd = self._entry.kernel(dtype=dtype, outputs=("value",))
            bwd = self._entry.kernel(dtype=dtype, outputs=back, wrt=self.wrt or None)
        return fwd, bwd


@lru_cache(maxsize=256)
def spec_from_key(key: str) -> Spec:
    """The :class:`Spec` whose :attr:`Spec.key` is ``key``."""
    name, is_formula, params, wrt = json.loads(key)
    return Spec(name, bool(is_formula), tuple(params), tuple(wrt))


def resolve(
    name_or_formula: str, params: Mapping[str, float] | None, trainable: Sequence[str] | None
) -> tuple[Spec, dict[str, float]]:
    """The spec and the initial parameter values of an entry id or a formula.

    Entry parameters are range-checked (:class:`funclib.ParameterError`); a formula must give a
    value for each of its parameters. ``trainable=None`` takes the entry's ``trainable`` flags
    (none for a formula).
    """
    import funclib

    if not isinstance(name_or_formula, str):
        raise TypeError(f"expected an entry id or a formula string, got {type(name_or_formula).__name__}")
    params = dict(params or {})
    try:
        entry = funclib.get(name_or_formula)
    except funclib.UnknownEntryError:
        entry = None
    if entry is not None:
        if entry.kind != "elementwise":
            raise ValueError(f"entry {entry.id!r} is {entry.kind}; this takes elementwise functions"
                             + (" (row-wise maps: funclib.torch.Rowwise, funclib.jax.rowwise)"
                                if entry.kind == "rowwise" else ""))
        known = entry.all_params()
        values = entry.param_values(params)  # names and ranges checked (ParameterError)
        wrt = tuple(n for n, p in known.items() if p.trainable) if trainable is None else tuple(trainable)
        for n in wrt:
            if n not in known:
                raise ValueError(f"entry {entry.id!r} has no parameter {n!r} to train")
        names = tuple(known)
        return Spec(entry.id, False, names, wrt), {n: values[n] for n in names}
    funclib.parse_formula(name_or_formula, params=list(params))  # a clear FormulaError if neither
    names = tuple(params)
    wrt = tuple(trainable or ())
    for n in wrt:
        if n not in params:
            raise ValueError(f"formula has no parameter {n!r} to train (parameters: {', '.join(names) or 'none'})")
    return Spec(name_or_formula, True, names, wrt), {n: float(params[n]) for n in names}
