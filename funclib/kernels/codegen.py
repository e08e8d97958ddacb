"""Generate the source of a kernel module from a formula.

Pipeline: the formula (parameters as symbols) → :func:`funclib.calculus.stabilize` /
:func:`funclib.calculus.derivative` for every requested output (value, derivative,
derivatives with respect to the trainable parameters) → kink conventions of the entry applied
where the symbolic derivative disagrees → limits at ±inf (:mod:`funclib.kernels.limits`) →
:func:`funclib.calculus.cse_outputs` over all outputs together → :class:`Printer` (typed
constants, branch-free selects) → a Python module with

``point(xi, *params)``
    all element outputs of one input (Numba function);
``run(x, y0, ..., *params)`` / ``run_parallel(...)``
    serial and ``prange`` loops over 1-D arrays;
``run_grad(x, g, y0, ..., part, *params)`` / ``run_grad_parallel(...)``
    the same plus per-block sums of ``g * df/dθ`` (blocks of ``GRAD_BLOCK`` elements, each
    summed in a fixed order, so the result does not depend on the thread count);
``ufunc_scalar`` / ``ufunc_gu``
    plain functions that :mod:`funclib.kernels.ufuncs` turns into NumPy ufuncs.

Every output is NaN where the input is NaN, and the limit at ±inf where the input is
infinite.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import NamedTuple

import numpy as np
import sympy as sp

from .. import calculus
from ..formula import exact_decimal, make_symbol, to_formula
from ..mittag_leffler import eliminate, mittag_leffler
from ..mpeval import mp_evaluate
from .asymptotes import asymptote_threshold, fit_asymptote
from .limits import Limit, limit_at_infinity, saturation_threshold
from .module_header import module_header
from .printer import KernelError, Printer, kernel_form

__all__ = ["KernelSpec", "FORMAT_VERSION", "OUTPUT_NAMES", "asymptotic_branch", "generate_source", "printed_kernel",
           "PrintedKernel", "symbolic_outputs"]

#: Bump when the generated code changes meaning (part of every cache key).
FORMAT_VERSION = 7
OUTPUT_NAMES = ("value", "derivative", "grad_params")
#: Elements per prange block (elementwise loops).
BLOCK = 8192
#: Elements per parameter-gradient block (the unit of the deterministic reduction).
GRAD_BLOCK = 1024
#: The generated CPU module's imports.
_IMPORTS = ("import math", "", "import numpy as np", "from numba import njit, prange", "",
            "from funclib.kernels.mathlib import libm as lm", "from funclib.kernels.mathlib import vecmath as vm",
            "from funclib.kernels.reduce import lane_sum")


@dataclass(frozen=True)
class KernelSpec:
    """Everything a kernel depends on (hashable; the cache key is derived from it).

    ``params`` are the runtime parameters in call order with their ``defaults`` (None: must
    be given); ``baked`` parameters are compiled in as constants instead; ``wrt`` are the
    parameters whose gradient ``grad_params`` reduces; ``conventions`` are ``(at, value)``
    pairs for the derivative at kinks.
    """

    name: str
    expr: sp.Expr
    variable: str
    params: tuple[str, ...]
    defaults: tuple[float | None, ...]
    wrt: tuple[str, ...]
    dtype: str
    outputs: tuple[str, ...]
    accuracy: str
    variant: str | None = None
    baked: tuple[tuple[str, float], ...] = ()
    conventions: tuple[tuple[sp.Expr, sp.Expr], ...] = ()
    #: Search for more accurate forms of outputs that miss the ULP target
    #: (:mod:`funclib.kernels.rewrite_search`; user formulas, or catalog entries on request).
    rewrite_search: bool = False
    param_info: tuple[tuple[str, object], ...] = field(default=(), compare=False, hash=False)

    def symbolic_key(self) -> tuple:
        """The dtype-independent part (shared symbolic work)."""
        key = (self.name, self.expr, self.variable, self.params, self.defaults, self.wrt,
               self.outputs, self.variant, self.baked, self.conventions)
        # the search measures errors in the dtype: its outcome is per dtype
        return key + (("rewrite_search", self.dtype),) if self.rewrite_search else key

    def key(self) -> str:
        from . import vecmath_version

        if self.rewrite_search:  # the search's own sources: a changed search regenerates
            from .rewrite_search import search_version

            fields = {"rewrite_search": search_version()}
        else:
            fields = {}  # default keys unchanged
        text = json.dumps(
            {
                **fields,
                "format": FORMAT_VERSION,
                "math": vecmath_version(),
                "name": self.name,
                "formula": to_formula(self.expr),
                "variable": self.variable,
                "params": list(self.params),
                "defaults": [repr(d) for d in self.defaults],
                "wrt": list(self.wrt),
                "dtype": self.dtype,
                "outputs": list(self.outputs),
                "accuracy": self.accuracy,
                "variant": self.variant,
                "baked": [[n, repr(v)] for n, v in self.baked],
                "conventions": [[to_formula(a), to_formula(b)] for a, b in self.conventions],
            },
            sort_keys=True,
        )
        return hashlib.sha256(text.encode()).hexdigest()[:24]

    @property
    def element_outputs(self) -> tuple[str, ...]:
        return tuple(o for o in self.outputs if o != "grad_params")


@dataclass
class SymbolicOutputs:
    names: list[str]  # "value", "derivative", "d/d<param>" ...
    exprs: list[sp.Expr]
    limits: list[tuple[Limit | None, Limit | None]]
    replacements: list[tuple[sp.Symbol, sp.Expr]]
    reduced: list[sp.Expr]
    conventions_applied: list[str]
    rewrites: list[list] = field(default_factory=list)  # records of the rewrite search


@lru_cache(maxsize=256)
def _symbolic_cached(key: tuple, spec: KernelSpec) -> SymbolicOutputs:
    return _symbolic(spec)


def symbolic_outputs(spec: KernelSpec) -> SymbolicOutputs:
    """Stable symbolic outputs, their limits and the CSE (memoized across dtypes)."""
    return _symbolic_cached(spec.symbolic_key(), spec)


def _symbolic(spec: KernelSpec) -> SymbolicOutputs:
    x = make_symbol(spec.variable)
    expr = spec.expr
    if expr.has(mittag_leffler):
        closed = eliminate(expr)  # an exact identity: compile the classic function E equals
        if closed is None:
            raise KernelError("the Mittag-Leffler function has a kernel only at its closed-form parameters "
                              "(E_{1,1}, E_{2,1}, E_{2,2}, E_{1/2,1}, E_{0,b} and integer shifts of them)")
        expr = closed
    baked = {make_symbol(n): exact_decimal(v) for n, v in spec.baked}
    if baked:
        expr = expr.subs(baked)
    names: list[str] = []
    exprs: list[sp.Expr] = []
    applied: list[str] = []
    defaults = {make_symbol(n): d for n, d in zip(spec.params, spec.defaults) if d is not None}
    for out in spec.element_outputs:
        if out == "value":
            names.append("value")
            exprs.append(calculus.stabilize(expr))
        elif out == "derivative":
            d = calculus.derivative(expr, x, 1)
            d, notes = _apply_conventions(d, x, spec.conventions, defaults, baked)
            applied += notes
            names.append("derivative")
            exprs.append(d)
    if "grad_params" in spec.outputs:
        for p in spec.wrt:
            names.append(f"d/d{p}")
            exprs.append(calculus.derivative(expr, make_symbol(p), 1))
    info = dict(spec.param_info)
    limits = []
    for e in exprs:
        pair = []
        for direction in (1, -1):
            try:
                lim = limit_at_infinity(e, x, direction, info, defaults)
            except Exception:  # noqa: BLE001 - a limit we cannot find is simply not patched
                lim = None
            if lim is not None and not lim.guarded and _straight_line_ok(e, x, direction, lim.value):
                lim = None  # the code already evaluates to the limit at this infinity
            pair.append(lim)  # None: no select needed (or no limit known)
        limits.append(tuple(pair))
    # kernel-only rewrites after the limits, which SymPy finds more easily on the plain forms
    forms = [kernel_form(e, x) for e in exprs]
    rewrites = []
    if spec.rewrite_search:
        from .rewrite_search import search_outputs

        forms, rewrites = search_outputs(names, exprs, forms, limits, x, spec.dtype)
    replacements, reduced = calculus.cse_outputs(forms)
    return SymbolicOutputs(names, exprs, limits, list(replacements), list(reduced), applied, rewrites)


def _straight_line_ok(e: sp.Expr, x: sp.Symbol, direction: int, value: sp.Expr) -> bool:
    """Whether evaluating ``e`` operation by operation in float64 at ``±inf`` already gives the
    limit (parameter-free outputs only), so no select is needed."""
    from ..npeval import NpEvalError, np_evaluate

    if e.free_symbols - {x} or not value.is_number:
        return False
    try:
        got = float(np_evaluate(e, {x: np.array([math.inf * direction])})[0])
        want = float(value)
    except (NpEvalError, TypeError, ValueError, ZeroDivisionError):
        return False
    return got == want


def _apply_conventions(d, x, conventions, defaults, baked):
    """Make the derivative take the entry's value at each kink where it does not already."""
    notes = []
    env = {**{s: v for s, v in defaults.items()}, **{s: float(v) for s, v in baked.items()}}
    for at, value in conventions:
        at_b, value_b = at.subs(baked), value.subs(baked)
        try:
            got = mp_evaluate(d, {**env, x: mp_evaluate(at_b, env)}, 40)
            want = mp_evaluate(value_b, env, 40)
            agrees = abs(got - want) <= 1e-30
        except Exception:  # noqa: BLE001 - not decidable numerically: enforce it
            agrees = False
        if not agrees:
            d = sp.Piecewise((value_b, sp.Eq(x, at_b)), (d, True))
            notes.append(f"derivative at {to_formula(at)} set to {to_formula(value)}")
    return d, notes


def indent_lines(lines: Sequence[str], n: int) -> list[str]:
    return [" " * n + line for line in lines]


def kernel_body(spec: KernelSpec, sym: SymbolicOutputs, printer: Printer) -> list[str]:
    """Statements computing ``o0, o1, ...`` from ``xi`` and the parameters."""
    lines: list[str] = []
    for temp, value in sym.replacements:
        text = printer.expr(value)
        lines += printer.lines
        printer.lines = []
        lines.append(f"{printer.names[temp]} = {text}")
    for k, e in enumerate(sym.reduced):
        text = printer.expr(e)
        lines += printer.lines
        printer.lines = []
        lines.append(f"o{k} = {text}")
    # special inputs: limits at ±inf, then NaN
    inf = printer.const(math.inf)
    guard = " & ".join(f"(p_{n} == {printer.const(float(d))})" for n, d in zip(spec.params, spec.defaults) if d is not None)
    x = make_symbol(spec.variable)
    env = {make_symbol(n): d for n, d in zip(spec.params, spec.defaults) if d is not None}
    thresholds: list = []
    asymptotes: list = []
    for k, (pos, neg) in enumerate(sym.limits):
        e = sym.exprs[k]
        for lim, direction in ((pos, 1), (neg, -1)):
            if lim is None or not lim.value.is_finite or lim.value == 0:
                law = asymptotic_branch(e, x, direction, spec.dtype)
                if law is not None:
                    expr, t = law
                    text = printer.expr(expr)
                    lines += printer.lines
                    printer.lines = []
                    far = f"xi {'>' if direction > 0 else '<'} {printer.const(direction * t)}"
                    lines.append(f"o{k} = {text} if {far} else o{k}")
                    asymptotes.append([sym.names[k], direction, t, to_formula(expr)])
                    if lim is not None and lim.value == 0:
                        continue  # the law gives the limit 0 at infinity too
            if lim is None:
                continue
            sign = "" if direction > 0 else "-"
            test = f"xi == {sign}{inf}"
            value = printer.expr(lim.value)
            lines += printer.lines
            printer.lines = []
            has_params = bool(e.free_symbols - {x})
            # beyond T the function has reached its limit (in this dtype) but the formula may
            # overflow (inf*0): return the limit from T on
            t = None
            if not has_params or all(s in env for s in e.free_symbols - {x}):
                # a limit in the parameters (e-swish' -> beta) saturates at a threshold found
                # at the defaults, applied only while the call's parameters are the defaults
                finite = all(math.isfinite(v) for v in env.values())  # Min(x, c) with c = inf
                at_defaults = lim.value.xreplace({s: exact_decimal(v) for s, v in env.items()}) if finite else None
                if at_defaults is not None and at_defaults.is_number:
                    t = saturation_threshold(e, x, direction, at_defaults, spec.dtype, env)
            if t is not None and (not has_params or guard):
                far = f"xi {'>' if direction > 0 else '<'} {printer.const(direction * t)}"
                cond = far if not has_params else f"({far}) & {guard}"
                thresholds.append([sym.names[k], direction, t, bool(has_params)])
                if has_params and not lim.guarded:
                    lines.append(f"o{k} = {value} if {test} else o{k}")
                if has_params:
                    # the guard holds the parameters at their defaults: return the limit there
                    # rounded once, not the parameter formula evaluated in the kernel's dtype
                    # (tbs_relu_l' -> tanh(a) printed as sigmoid(-2a)**3*(...) is 2.4 ULP off in float32)
                    value = printer.const(at_defaults)
                lines.append(f"o{k} = {value} if {cond} else o{k}")
                continue
            cond = test if not (lim.guarded and guard) else f"({test}) & {guard}"
            lines.append(f"o{k} = {value} if {cond} else o{k}")
        lines.append(f"o{k} = xi if xi != xi else o{k}")
    printer.asymptotes = asymptotes
    printer.thresholds = thresholds
    return lines


def asymptotic_branch(e: sp.Expr, x: sp.Symbol, direction: int, dtype: str) -> tuple[sp.Expr, float] | None:
    """``(law, T)``: the law :mod:`funclib.kernels.asymptotes` fits to the parameter-free
    output ``e`` as ``x -> direction*inf`` and the threshold beyond which it replaces ``e``."""
    if e.free_symbols - {x}:
        return None
    law = _fitted_law(e, x, direction)
    if law is None:
        return None
    t = asymptote_threshold(e, x, law, dtype)
    return None if t is None else (law.expr(x), t)


@lru_cache(maxsize=256)
def _fitted_law(e: sp.Expr, x: sp.Symbol, direction: int):
    try:
        return fit_asymptote(e, x, direction)
    except Exception:  # noqa: BLE001 - no law found is no branch, never a failed kernel
        return None


class PrintedKernel(NamedTuple):
    """A kernel's printed body and the argument lists every generator writes around it."""

    sym: SymbolicOutputs
    printer: Printer
    body: list[str]  # statements computing o0, o1, ... from xi and p_<name>
    n_el: int  # element outputs (arrays y0, y1, ...)
    n_w: int  # parameter-gradient outputs (after the element outputs)
    pargs: str  # ", p_a, p_b": the parameter arguments
    ys: str  # ", y0, y1": the output-array arguments
    store: list[str]  # y{k}[i] = o{k}

    def point(self, decorator: str) -> list[str]:
        """The function ``point(xi, *params)`` returning all outputs of one input."""
        outs = ", ".join(f"o{k}" for k in range(self.n_el + self.n_w))
        return [decorator, f"def point(xi{self.pargs}):", *indent_lines(self.body, 4), f"    return ({outs},)", ""]


def printed_kernel(spec: KernelSpec) -> PrintedKernel:
    """The symbolic outputs of ``spec`` printed as a kernel body, and its argument lists.

    The one start of every generator (CPU and CUDA): the input is named ``xi`` and the
    parameters ``p_<name>``, then :func:`kernel_body` prints the outputs.

    Raises
    ------
    KernelError
        ``grad_params`` requested without parameters to differentiate.
    """
    if "grad_params" in spec.outputs and not spec.wrt:
        raise KernelError(f"{spec.name}: output 'grad_params' needs parameters to differentiate (wrt=...)")
    sym = symbolic_outputs(spec)
    names = {make_symbol(spec.variable): "xi"}
    for p in spec.params:
        names[make_symbol(p)] = f"p_{p}"
    for temp, _ in sym.replacements:
        names[temp] = str(temp)
    printer = Printer(spec.dtype, spec.accuracy, names)
    body = kernel_body(spec, sym, printer)
    n_el = len(spec.element_outputs)
    return PrintedKernel(sym, printer, body, n_el, len(sym.names) - n_el, "".join(f", p_{p}" for p in spec.params),
                         "".join(f", y{k}" for k in range(n_el)), [f"y{k}[i] = o{k}" for k in range(n_el)])


def generate_source(spec: KernelSpec) -> str:
    """The text of the kernel module for ``spec``."""
    for out in spec.outputs:
        if out not in OUTPUT_NAMES:
            raise KernelError(f"unknown output {out!r} (choose from {', '.join(OUTPUT_NAMES)})")
    kernel = printed_kernel(spec)
    sym, printer, body, n_el, n_w, pargs, ys, store = kernel

    def loop(indent: int) -> list[str]:
        return indent_lines(["xi = x[i]", *body, *store], indent)

    src = module_header(spec, sym, printer, what="kernel", detail=f"accuracy: {spec.accuracy}", imports=_IMPORTS,
                        key=spec.key(), identity=[f"FORMAT = {FORMAT_VERSION}"],
                        target=[f"BLOCK = {BLOCK}", f"GRAD_BLOCK = {GRAD_BLOCK}"])
    src += [
        '_JIT = dict(cache=True, error_model="numpy", nogil=True)',
        "",
        "",
        *kernel.point("@njit(**_JIT)"),
    ]
    if n_el:
        src += [
            "",
            "@njit(**_JIT)",
            f"def run(x{ys}{pargs}):",
            "    for i in range(x.shape[0]):",
            *loop(8),
            "",
            "",
            "@njit(parallel=True, **_JIT)",
            f"def run_parallel(x{ys}{pargs}):",
            "    n = x.shape[0]",
            "    nb = (n + BLOCK - 1) // BLOCK",
            "    for b in prange(nb):",
            "        start = b * BLOCK",
            "        stop = min(start + BLOCK, n)",
            f"        run(x[start:stop]{''.join(f', y{k}[start:stop]' for k in range(n_el))}{pargs})",
            "",
            "",
            f"def ufunc_scalar(xi{pargs}):",
            *indent_lines(body, 4),
            "    return o0",
            "",
            "",
            f"def ufunc_gu(xi{pargs}{''.join(f', r{k}' for k in range(n_el))}):",
            *indent_lines(body, 4),
            *[f"    r{k}[0] = o{k}" for k in range(n_el)],
            "",
        ]
    if n_w:
        contrib = [f"tmp[{j}, i - start] = gi * o{n_el + j}" for j in range(n_w)]
        src += [
            "",
            "@njit(**_JIT)",
            f"def grad_block(x, g{ys}, part, b{pargs}):",
            "    n = x.shape[0]",
            "    start = b * GRAD_BLOCK",
            "    stop = min(start + GRAD_BLOCK, n)",
            f"    tmp = np.empty(({n_w}, GRAD_BLOCK), dtype=T)",
            "    for i in range(start, stop):",
            *indent_lines(["xi = x[i]", "gi = g[i]", *body, *store, *contrib], 8),
            f"    for j in range({n_w}):",
            "        part[b, j] = lane_sum(tmp[j], stop - start)",
            "",
            "",
            "@njit(**_JIT)",
            f"def run_grad(x, g{ys}, part{pargs}):",
            "    for b in range(part.shape[0]):",
            f"        grad_block(x, g{ys}, part, b{pargs})",
            "",
            "",
            "@njit(parallel=True, **_JIT)",
            f"def run_grad_parallel(x, g{ys}, part{pargs}):",
            "    for b in prange(part.shape[0]):",
            f"        grad_block(x, g{ys}, part, b{pargs})",
            "",
        ]
    return "\n".join(src) + "\n"

