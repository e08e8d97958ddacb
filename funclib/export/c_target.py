"""Exported C and CUDA sources: ``NAME_value``, ``NAME_derivative`` and
``NAME_value_and_derivative`` as ``static inline`` functions of one ``double`` (or ``float``,
``dtype="float32"``: single-precision math functions and constants rounded once to float).

The text is a header (include guard, ``<math.h>`` only). Branches are C conditionals, so only
the taken side is evaluated. The CUDA source marks the functions ``__host__ __device__`` under
``nvcc`` (and plain ``static inline`` otherwise, so the same text compiles as C) and adds a
grid-stride kernel ``NAME_kernel(x, y, dy, n)``.
"""

from __future__ import annotations

import math
import re

import numpy as np
import sympy as sp

from .plan import Computation, ExportError, Plan
from .printers import ExprPrinter

__all__ = ["c_source", "c_identifier"]

_NAMES = {n: n for n in ("exp", "log", "log1p", "expm1", "sin", "cos", "tan", "sinh", "cosh", "tanh", "asin",
                         "acos", "atan", "asinh", "acosh", "atanh", "erf", "erfc", "lgamma", "sqrt", "cbrt",
                         "floor", "ceil", "pow")}
_NAMES |= {"gamma": "tgamma", "abs": "fabs"}  # no digamma in C99 or CUDA's math library


def c_identifier(text: str) -> str:
    """``text`` as a C identifier (``gelu:tanh`` -> ``gelu_tanh``)."""
    ident = re.sub(r"[^A-Za-z0-9_]", "_", text)
    return ident if re.match(r"[A-Za-z_]", ident) else "f_" + ident


class CPrinter(ExprPrinter):
    def __init__(self, names, dtype: str, prefix: str, target: str):
        super().__init__(names)
        self.dtype = dtype
        self.target = target
        suffix = "f" if dtype == "float32" else ""
        self.table = {k: v + suffix for k, v in _NAMES.items()}
        self.table |= {"sigmoid": f"{prefix}_sigmoid_", "softplus": f"{prefix}_softplus_"}

    @property
    def ctype(self) -> str:
        return "float" if self.dtype == "float32" else "double"

    def number(self, value: float) -> str:
        if math.isnan(value):
            return "NAN"
        if math.isinf(value):
            return "INFINITY" if value > 0 else "(-INFINITY)"
        text = repr(value) + ("f" if self.dtype == "float32" else "")
        return f"({text})" if value < 0 or text.startswith("-") else text

    def select(self, cond: str, a: str, b: str) -> str:
        return f"({cond} ? {a} : {b})"

    def logic(self, op: str, args: list[str]) -> str:
        if op in ("true", "false"):
            return "1" if op == "true" else "0"
        if op == "not":
            return f"(!{args[0]})"
        return "(" + (" && " if op == "and" else " || ").join(args) + ")"

    def assign(self, name: str, text: str, boolean: bool = False) -> str:
        return f"const {'int' if boolean else self.ctype} {name} = {text};"


def _body(comp: Computation, printer: CPrinter) -> list[str]:
    lines = []
    for k, (temp, _) in enumerate(comp.temps):
        printer.names[temp] = f"t{k}"
    for temp, value in comp.temps:
        text = printer.expr(value)
        boolean = isinstance(value, (sp.core.relational.Relational, sp.And, sp.Or, sp.Not))
        lines += printer.lines + [printer.assign(printer.names[temp], text, boolean)]
        printer.lines = []
    fmax = float(np.finfo(printer.dtype).max)
    for k, (e, patches) in enumerate(zip(comp.outputs, comp.patches)):
        text = printer.expr(e)
        lines += printer.lines + [f"{printer.ctype} o{k} = {text};"]
        printer.lines = []
        for p in patches:
            t = p.threshold[printer.dtype]
            if math.isinf(t):
                continue  # no law in this format
            sign = "" if p.direction > 0 else "-"
            if t == fmax:
                cond = f"(x == {sign}INFINITY)"
            else:
                cond = f"(x {'>' if p.direction > 0 else '<'} {printer.number(p.direction * t)})"
            v = printer.expr(p.value)
            lines += printer.lines + [f"if {cond} o{k} = {v};  /* {p.what} at {sign or '+'}inf */"]
            printer.lines = []
        lines.append(f"if (isnan(x)) o{k} = x;")
    return lines


_HELPERS = {
    "sigmoid": "{q} {ty} {p}_sigmoid_({ty} u) {{ /* branch on the sign: exp never overflows */\n"
               "    const {ty} e = exp{s}(-fabs{s}(u));\n    return u >= 0 ? 1 / (1 + e) : e / (1 + e);\n}}",
    "softplus": "{q} {ty} {p}_softplus_({ty} u) {{ /* max(u, 0) + log1p(exp(-|u|)) */\n"
                "    return (u > 0 ? u : 0) + log1p{s}(exp{s}(-fabs{s}(u)));\n}}",
}


def c_source(plan: Plan, target: str, header: list[str], *, dtype: str = "float64", name: str | None = None) -> str:
    """The C (``target="c"``) or CUDA (``"cuda"``) source of ``plan``."""
    if dtype not in ("float64", "float32"):
        raise ExportError(f"dtype must be float64 or float32, got {dtype!r}")
    prefix = c_identifier(name or plan.entry_id)
    qual = "FUNCLIB_EXPORT_FN" if target == "cuda" else "static inline"
    funcs: list[str] = []
    used: set[str] = set()
    ty = "float" if dtype == "float32" else "double"

    def function(signature: str, comp: Computation, ret: list[str]) -> None:
        printer = CPrinter({plan.variable: "x"}, dtype, prefix, target)
        body = _body(comp, printer)
        used.update(printer.used)
        funcs.extend([f"{qual} {signature} {{", *["    " + line for line in body + ret], "}", ""])

    function(f"{ty} {prefix}_value({ty} x)", plan.value, ["return o0;"])
    function(f"{ty} {prefix}_derivative({ty} x)", plan.derivative, ["return o0;"])
    function(f"void {prefix}_value_and_derivative({ty} x, {ty} *value, {ty} *derivative)", plan.both,
             ["*value = o0;", "*derivative = o1;"])
    guard = f"FUNCLIB_EXPORT_{prefix.upper()}_{'F32' if dtype == 'float32' else 'F64'}_H"
    out = ["/*", *[(" * " + h.replace("*/", "* /")).rstrip() for h in header], " */",
           f"#ifndef {guard}", f"#define {guard}", "", "#include <math.h>", ""]
    if target == "cuda":
        out += ["#ifndef FUNCLIB_EXPORT_FN", "#ifdef __CUDACC__",
                "#define FUNCLIB_EXPORT_FN static __host__ __device__ inline", "#else",
                "#define FUNCLIB_EXPORT_FN static inline", "#endif", "#endif", ""]
    s = "f" if dtype == "float32" else ""
    for h in ("sigmoid", "softplus"):
        if h in used:
            out += [_HELPERS[h].format(q=qual, ty=ty, p=prefix, s=s), ""]
    out += funcs
    if target == "cuda":
        out += ["#ifdef __CUDACC__",
                "/* y[i] = f(x[i]) and, where dy is not NULL, dy[i] = f'(x[i]) for i < n (grid-stride loop) */",
                f"__global__ void {prefix}_kernel(const {ty} *x, {ty} *y, {ty} *dy, long long n) {{",
                "    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n;"
                " i += (long long)blockDim.x * gridDim.x) {",
                f"        if (dy) {prefix}_value_and_derivative(x[i], &y[i], &dy[i]);",
                f"        else y[i] = {prefix}_value(x[i]);",
                "    }", "}", "#endif", ""]
    out += [f"#endif /* {guard} */"]
    return "\n".join(out) + "\n"
