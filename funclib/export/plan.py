"""What an exported module computes, independent of the language it is printed in.

The symbolic work is the kernels' (:func:`funclib.kernels.codegen.symbolic_outputs`): the
stabilized value and derivative, the entry's kink conventions, the kernel-only rewrites
(``erfc(c*u)``, cancelling sums, overflow-free square roots) and the common subexpressions.
The special inputs are handled as :func:`funclib.kernels.codegen.kernel_body` handles them, as
an ordered list of :class:`Patch` es per output: an asymptotic law beyond a threshold, the limit
at ±inf (returned from the saturation threshold on, where the formula may overflow although the
function has converged), then NaN in → NaN out.

Every parameter is compiled in (``--param`` values or the entry's defaults), so the exported
functions take ``x`` only and every threshold applies unguarded. Thresholds depend on the
float format; a plan carries them for float64 and float32 and the printers choose.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import sympy as sp

from ..formula import make_symbol, to_formula
from ..kernels.api import entry_spec
from ..kernels.codegen import asymptotic_branch, symbolic_outputs
from ..kernels.limits import saturation_threshold

__all__ = ["DTYPES", "Patch", "Computation", "Plan", "ExportError", "resolve_entry", "make_plan"]

DTYPES = ("float64", "float32")


class ExportError(ValueError):
    """A request that cannot be exported (the message names the entry, target or function)."""


@dataclass(frozen=True)
class Patch:
    """``out = value`` where ``direction * x > threshold[dtype]``.

    A threshold equal to the format's largest finite number selects ``x = ±inf`` only; ``inf``
    selects nothing (no law in that format). ``what`` is ``"asymptote"`` or ``"limit"``.
    """

    direction: int
    value: sp.Expr
    threshold: Mapping[str, float]
    what: str


@dataclass(frozen=True)
class Computation:
    """Straight-line code for some outputs: ``temps`` (CSE temporaries, possibly boolean) then
    one expression per output, each followed by its patches (NaN handling is implied)."""

    names: tuple[str, ...]
    temps: tuple[tuple[sp.Symbol, sp.Basic], ...]
    outputs: tuple[sp.Expr, ...]
    patches: tuple[tuple[Patch, ...], ...]
    exprs: tuple[sp.Expr, ...]  # the stabilized outputs before the kernel rewrites (for headers)


@dataclass(frozen=True)
class Plan:
    """An entry (or formula) with compiled-in parameters, ready to print.

    ``value``, ``derivative`` and ``both`` are separate computations so that each exported
    function shares subexpressions only with what it returns.
    """

    entry_id: str
    display: str
    variable: sp.Symbol
    formula: str
    params: tuple[tuple[str, float], ...]
    references: tuple[str, ...]
    conventions: tuple[str, ...]
    value: Computation
    derivative: Computation
    both: Computation


def resolve_entry(name_or_formula: str, variant: str | None, params: Mapping[str, float]):
    """The catalog entry (a variant as its own function) or an ad-hoc entry for a formula.

    Raises :class:`funclib.UnknownEntryError` for an unknown id that is not a formula either,
    :class:`funclib.FormulaError` for a malformed formula, :class:`ExportError` for a request
    that has no elementwise function to export.
    """
    from .. import registry
    from ..kernels.formulas import formula_entry

    text = name_or_formula.strip()
    try:
        entry = registry.get(text)
    except registry.UnknownEntryError:
        # a bare identifier is a misspelt id (with suggestions), not a formula in an unknown symbol
        if text.isidentifier() and text != "x":
            raise
        if variant is not None:
            raise ExportError(
                f"--variant {variant!r} applies to catalog entries, not to the formula {text!r}") from None
        return formula_entry(text, params)
    if variant is not None:
        if ":" in entry.id:
            raise ExportError(f"{entry.id!r} is already a variant; drop --variant {variant!r}")
        entry = registry.get(f"{entry.id}:{variant}")
    if entry.kind != "elementwise":
        raise ExportError(f"entry {entry.id!r} is {entry.kind}; export takes elementwise functions")
    return entry


def _limit_threshold(e, x, direction: int, value, dtype: str) -> float:
    t = saturation_threshold(e, x, direction, value, dtype, {}) if value.is_number else None
    return float(np.finfo(dtype).max) if t is None else float(t)


def _patches(e: sp.Expr, x: sp.Symbol, limits) -> tuple[Patch, ...]:
    """The special-input branches of one output, in :func:`kernel_body`'s order."""
    out: list[Patch] = []
    for lim, direction in zip(limits, (1, -1)):
        if lim is None or not lim.value.is_finite or lim.value == 0:
            laws = {d: asymptotic_branch(e, x, direction, d) for d in DTYPES}
            found = [law for law in laws.values() if law is not None]
            if found:
                thresholds = {d: math.inf if law is None else float(law[1]) for d, law in laws.items()}
                out.append(Patch(direction, found[0][0], thresholds, "asymptote"))
                if lim is not None and lim.value == 0:
                    continue  # the law gives the limit 0 at infinity too
        if lim is None:
            continue
        out.append(Patch(direction, lim.value, {d: _limit_threshold(e, x, direction, lim.value, d) for d in DTYPES},
                         "limit"))
    return tuple(out)


def _computation(entry, outputs: tuple[str, ...], values: Mapping[str, float]) -> Computation:
    # the kernels' own spec, baked: the same expression, conventions and parameter checks
    spec, _, _ = entry_spec(entry, dtype="float64", outputs=outputs, params=values, accuracy="libm", baked=True,
                            rewrite_search=False)
    sym = symbolic_outputs(spec)
    x = make_symbol(entry.variables[0])
    return Computation(
        names=tuple(sym.names), temps=tuple(sym.replacements), outputs=tuple(sym.reduced),
        patches=tuple(_patches(e, x, lim) for e, lim in zip(sym.exprs, sym.limits)), exprs=tuple(sym.exprs),
    )


def make_plan(name_or_formula: str, *, variant: str | None = None, params: Mapping[str, float] | None = None) -> Plan:
    """The :class:`Plan` of a catalog entry or formula at the given parameter values.

    Parameters
    ----------
    name_or_formula : str
        Catalog id or alias (``"gelu"``, ``"gelu:tanh"``) or a formula in ``x`` (allow-list
        parser; never evaluated).
    variant : str, optional
        A variant of the entry (same as ``"id:variant"``).
    params : mapping, optional
        Parameter values (range-checked for entries; required for each parameter of a formula).
    """
    if not isinstance(name_or_formula, str):
        raise ExportError(f"expected an entry id or a formula string, got {type(name_or_formula).__name__}")
    params = dict(params or {})
    entry = resolve_entry(name_or_formula, variant, params)
    values = entry.param_values(params)  # names and ranges checked (ParameterError)
    if any(not math.isfinite(v) for v in values.values()):
        raise ExportError(f"parameters must be finite numbers, got {values}")
    refs = tuple(f"{r.authors} ({r.year}). {r.title}." + (f" {r.link}" if r.link else "") for r in entry.references)
    conventions = tuple(f"f'({to_formula(c.at)}) = {to_formula(c.derivative)}" for c in entry.conventions
                        if c.at is not None)
    return Plan(
        entry_id=entry.id, display=entry.name if entry.id != "formula" else "user formula",
        variable=make_symbol(entry.variables[0]), formula=to_formula(entry.formula_expr()),
        params=tuple((n, float(v)) for n, v in values.items()), references=refs, conventions=conventions,
        value=_computation(entry, ("value",), values), derivative=_computation(entry, ("derivative",), values),
        both=_computation(entry, ("value", "derivative"), values),
    )
