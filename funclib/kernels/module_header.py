"""The header of a generated kernel module: docstring, imports and the module constants.

The CPU generator (:mod:`funclib.kernels.codegen`) and the CUDA generator
(:mod:`funclib.kernels.cuda.codegen`) write the same header around their own imports and
target constants, so a kernel module describes its entry (``NAME``, ``VARIANT``, ``DTYPE``,
``ACCURACY``, ``OUTPUTS``, ``PARAMS``, ``DEFAULTS``, ``EXPRESSIONS``, ``LIMITS`` ...) the same
way on every target. This file is hashed into the CPU kernel cache key
(:data:`funclib.kernels._KEY_SOURCES`): a changed header regenerates the kernels.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import sympy as sp

from ..formula import to_formula

if TYPE_CHECKING:
    from .codegen import KernelSpec, SymbolicOutputs
    from .limits import Limit
    from .printer import Printer

__all__ = ["docstring_lines", "metadata_lines", "module_header"]


def docstring_lines(spec: KernelSpec, sym: SymbolicOutputs, what: str, detail: str) -> list[str]:
    """The generated module's docstring: the entry, the formula and every output."""
    src = [f'"""funclib generated {what} (do not edit; regenerated when anything it depends on changes).', "",
           f"name: {spec.name}   variant: {spec.variant}   dtype: {spec.dtype}   {detail}",
           f"f({spec.variable}) = {to_formula(spec.expr)}"]
    src += [f"{n}: {to_formula(e)}" for n, e in zip(sym.names, sym.exprs)]
    src += [f"convention: {note}" for note in sym.conventions_applied]
    return src + ['"""']


def _literal_float(value) -> str:
    """A float as Python source that evaluates to it, NaN and infinities included."""
    if value is None:
        return "None"
    value = float(value)
    return repr(value) if math.isfinite(value) else f"float({str(value)!r})"


def _literal_floats(values) -> str:
    return "(" + "".join(f"{_literal_float(v)}, " for v in values) + ")"


def _describe(lim: Limit | None) -> str | None:
    if lim is None:
        return None
    text = to_formula(lim.value) if isinstance(lim.value, sp.Basic) else str(lim.value)
    return text + (" (at the default parameters)" if lim.guarded else "")


def metadata_lines(spec: KernelSpec, sym: SymbolicOutputs, printer: Printer) -> list[str]:
    """Module constants describing the kernel (read by the Kernel wrappers and by users)."""
    searched = [f"REWRITES = {sym.rewrites!r}  # [output, max ULP/kappa on the search sample before, after, "
                "form kept, candidates tried, budget exhausted]"] if spec.rewrite_search else []
    return [
        f"NAME = {spec.name!r}",
        f"VARIANT = {spec.variant!r}",
        f"DTYPE = {spec.dtype!r}",
        f"ACCURACY = {spec.accuracy!r}",
        f"OUTPUTS = {spec.outputs!r}",
        f"ELEMENT_OUTPUTS = {spec.element_outputs!r}",
        f"PARAMS = {spec.params!r}",
        f"DEFAULTS = {_literal_floats(spec.defaults)}",
        f"WRT = {spec.wrt!r}",
        f"BAKED = ({''.join(f'({n!r}, {_literal_float(v)}), ' for n, v in spec.baked)})",
        f"EXPRESSIONS = {dict(zip(sym.names, [to_formula(e) for e in sym.exprs]))!r}",
        f"LIMITS = {[[_describe(a), _describe(b)] for a, b in sym.limits]!r}",
        f"CONVENTIONS = {sym.conventions_applied!r}",
        f"SATURATION = {printer.thresholds!r}  # [output, direction, |x| beyond which the limit is returned, needs default params]",
        f"ASYMPTOTES = {printer.asymptotes!r}  # [output, direction, |x| beyond which the law is returned, law]",
        *searched,
    ]


def module_header(spec: KernelSpec, sym: SymbolicOutputs, printer: Printer, *, what: str, detail: str,
                  imports: Sequence[str], key: str, identity: Sequence[str] = (),
                  target: Sequence[str] = ()) -> list[str]:
    """The lines of a kernel module up to its first function.

    Parameters
    ----------
    spec, sym : KernelSpec, SymbolicOutputs
        The kernel and its symbolic outputs.
    printer : Printer
        The printer that has printed the kernel body (its constants, saturation thresholds and
        asymptotes go into the header).
    what, detail : str
        The docstring's kind of module (``"kernel"``) and the rest of its ``name:`` line.
    imports : sequence of str
        The import block (followed by one empty line).
    key : str
        The module's cache key (``KEY``).
    identity, target : sequence of str
        Constants written after ``KEY`` (format, target) and after the entry's metadata
        (block shapes).

    Returns
    -------
    list of str
        Docstring, imports, ``T``, ``KEY``, ``identity``, the metadata, ``target``, then the
        printer's typed constants, each block followed by an empty line.
    """
    return [
        *docstring_lines(spec, sym, what, detail),
        *imports,
        "",
        f"T = np.{spec.dtype}",
        f"KEY = {key!r}",
        *identity,
        *metadata_lines(spec, sym, printer),
        *target,
        "",
        *printer.constant_lines(),
        "",
    ]
