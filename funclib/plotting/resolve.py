"""Targets of a plot: an entry id, an Entry, a variant or a formula, with parameter values applied."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass

import sympy as sp

from .. import registry
from ..entry import Entry
from ..formula import to_formula
from .figure import DEFAULT_RANGE, Target


# -- targets ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Resolved:
    """An elementwise target made concrete: an entry (real or synthesized for a formula)."""

    entry: Entry
    label: str
    variant: str | None
    params: dict[str, float]
    from_formula: bool


def _replace_defaults(entry: Entry, params: Mapping[str, float], variant: str | None) -> Entry:
    """``entry`` with parameter defaults (entry's and ``variant``'s) set to ``params``.

    Everything downstream (values, derivatives, properties) is then evaluated "at defaults",
    so the proven slope band always belongs to the parameters that are drawn.
    """
    if not params:
        return entry
    entry.param_values(params, variant)  # validates names and ranges (ParameterError)
    new_params = {
        n: dataclasses.replace(p, default=float(params[n])) if n in params else p for n, p in entry.params.items()
    }
    variants = dict(entry.variants)
    if variant is not None:
        v = entry.variant(variant)
        vparams = {
            n: dataclasses.replace(p, default=float(params[n])) if n in params else p for n, p in v.params.items()
        }
        variants[variant] = dataclasses.replace(v, params=vparams)
    return dataclasses.replace(entry, params=new_params, variants=variants)


def resolve(
    target: Target,
    params: Mapping[str, float] | None = None,
    variant: str | None = None,
    *,
    variable: str = "x",
) -> Resolved:
    """Turn a catalog name, an :class:`~funclib.entry.Entry` or a formula into a plot target.

    A string is looked up in the catalog first (ids and aliases); if it names no entry it is
    parsed as a formula in ``variable`` with the names in ``params`` as parameters.

    Raises
    ------
    funclib.FormulaError
        If a string is neither a catalog name nor a valid formula.
    funclib.ParameterError
        For unknown parameters or values outside their range.
    """
    params = {k: float(v) for k, v in (params or {}).items()}
    if isinstance(target, Entry):
        entry, from_formula = target, False
    elif isinstance(target, sp.Expr):
        entry = Entry.from_formula(to_formula(target), params, variable=variable, field="plot formula")
        from_formula = True
    elif isinstance(target, str):
        try:
            entry, from_formula = registry.get(target), False
        except registry.UnknownEntryError as missing:
            try:
                entry = Entry.from_formula(target, params, variable=variable, field="plot formula")
                from_formula = True
            except Exception as exc:  # neither a name nor a formula: say both
                raise type(exc)(f"{missing}; as a formula: {exc}") from None
    else:
        raise TypeError(f"plot target must be a catalog name, an Entry or a formula, not {type(target).__name__}")
    if variant is not None:
        entry.variant(variant)  # KeyError naming the entry and its variants
    entry = _replace_defaults(entry, params, variant) if not from_formula else entry
    label = entry.name if not from_formula else f"f(x) = {entry.name}"
    if variant is not None:
        label += f" [{variant}]"
    if params and not from_formula:
        label += " (" + ", ".join(f"{k}={num(v)}" for k, v in params.items()) + ")"
    return Resolved(entry, label, variant, params, from_formula)


def num(v: float) -> str:
    return f"{v:g}"


def require_elementwise(res: Resolved) -> None:
    if res.entry.kind != "elementwise" or len(res.entry.variables) != 1:
        hint = " (use funclib.plotting.simplex_map for row-wise maps)" if res.entry.kind == "rowwise" else ""
        raise TypeError(
            f"entry {res.entry.id!r} is {res.entry.kind}; plot() draws elementwise functions of one variable{hint}"
        )


def default_range(entry: Entry, x_range: tuple[float, float] | None) -> tuple[float, float]:
    lo, hi = x_range if x_range is not None else DEFAULT_RANGE
    lo, hi = float(lo), float(hi)
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise ValueError(f"x_range must be two finite numbers lo < hi, got {x_range!r}")
    dom = entry.domain
    lo, hi = max(lo, dom.lo), min(hi, dom.hi)  # never sample outside the domain
    if not lo < hi:
        if x_range is not None:
            raise ValueError(f"x_range {x_range!r} lies outside the domain {dom} of {entry.id!r}")
        lo, hi = (dom.lo, dom.lo + 10.0) if math.isfinite(dom.lo) else (dom.hi - 10.0, dom.hi)
    width = hi - lo
    if lo == dom.lo and not dom.lo_closed:
        lo += 1e-6 * width
    if hi == dom.hi and not dom.hi_closed:
        hi -= 1e-6 * width
    return lo, hi
