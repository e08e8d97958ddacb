"""Exported modules for the array libraries: NumPy, PyTorch and JAX.

Each module defines ``value(x)``, ``derivative(x)`` and ``value_and_derivative(x)`` on arrays
of the library, elementwise, computing in the input's precision (float32 or float64; float16
and bfloat16 compute in float32 and return their dtype; other dtypes raise ``TypeError``).
Branches are ``where`` selects: both sides are evaluated (the stable forms keep the unused one
finite; NumPy's floating-point warnings are silenced inside the functions). Saturation and
asymptote thresholds are chosen by the input's precision at call time.

PyTorch modules add ``Function`` (an autograd function whose backward is ``derivative``, saving
only the input) and ``Module``; JAX modules make ``value`` a ``jax.custom_jvp`` with
``derivative`` as its JVP (both ``jit``/``vmap`` compatible).
"""

from __future__ import annotations

import math

from .plan import Computation, Plan
from .printers import ExprPrinter

__all__ = ["python_source", "PYTHON_TARGETS"]

PYTHON_TARGETS = ("numpy", "torch", "jax")

_COMMON = {n: f"_ns.{n}" for n in ("exp", "log", "log1p", "expm1", "sin", "cos", "tan", "sinh", "cosh", "tanh",
                                     "sqrt", "abs", "floor", "ceil")}
_COMMON |= {n: f"_ns.arc{n[1:]}" for n in ("asin", "acos", "atan", "asinh", "acosh", "atanh")}
_COMMON |= {"sigmoid": "_sigmoid", "softplus": "_softplus", "pow": "_ns.power"}

_TABLES = {
    "numpy": _COMMON | {"erf": "_sc.erf", "erfc": "_sc.erfc", "gamma": "_sc.gamma", "lgamma": "_sc.gammaln",
                        "digamma": "_sc.digamma", "cbrt": "_ns.cbrt"},
    "torch": _COMMON | {"erf": "_ns.special.erf", "erfc": "_ns.special.erfc", "lgamma": "_ns.lgamma",
                        "digamma": "_ns.special.digamma", "cbrt": "_cbrt", "pow": "_ns.pow"},
    "jax": _COMMON | {"erf": "_sc.erf", "erfc": "_sc.erfc", "gamma": "_sc.gamma", "lgamma": "_sc.gammaln",
                      "digamma": "_sc.digamma", "cbrt": "_ns.cbrt"},
}

_IMPORTS = {
    "numpy": (["import numpy as _ns"], "from scipy import special as _sc"),
    "torch": (["import torch as _ns"], None),
    "jax": (["import jax", "import jax.numpy as _ns"], "from jax.scipy import special as _sc"),
}

#: (half dtypes computed in float32, the test for a float array, how to convert back)
_PREPARE = {
    "numpy": '''def _prepare(x):
    x = _ns.asarray(x)
    if x.dtype in (_ns.float32, _ns.float64):
        return x, None
    if x.dtype == _ns.float16:
        return x.astype(_ns.float32), x.dtype
    raise TypeError(f"{NAME}: arrays of dtype {x.dtype} are not supported (float16, float32, float64)")


def _finish(y, dtype):
    return y if dtype is None else y.astype(dtype)''',
    "torch": '''def _prepare(x):
    if not isinstance(x, _ns.Tensor):
        raise TypeError(f"{NAME}: expected a torch.Tensor, got {type(x).__name__}")
    if x.dtype in (_ns.float32, _ns.float64):
        return x, None
    if x.dtype in (_ns.float16, _ns.bfloat16):
        return x.float(), x.dtype
    raise TypeError(f"{NAME}: tensors of dtype {x.dtype} are not supported (float16, bfloat16, float32, float64)")


def _finish(y, dtype):
    return y if dtype is None else y.to(dtype)''',
    "jax": '''def _prepare(x):
    x = _ns.asarray(x)
    if x.dtype in (_ns.float32, _ns.float64):
        return x, None
    if x.dtype in (_ns.float16, _ns.bfloat16):
        return x.astype(_ns.float32), x.dtype
    raise TypeError(f"{NAME}: arrays of dtype {x.dtype} are not supported (float16, bfloat16, float32, float64)")


def _finish(y, dtype):
    return y if dtype is None else y.astype(dtype)''',
}

_HELPER_SOURCE = {
    "sigmoid": '''def _sigmoid(u):
    # branch on the sign so that exp never overflows
    e = _ns.exp(-_ns.abs(u))
    return _ns.where(u >= 0, 1 / (1 + e), e / (1 + e))''',
    "softplus": '''def _softplus(u):
    # max(u, 0) + log1p(exp(-|u|)): no overflow, no cancellation
    return _ns.maximum(u, _ns.zeros_like(u)) + _ns.log1p(_ns.exp(-_ns.abs(u)))''',
    "cbrt": '''def _cbrt(u):
    # real cube root (torch has none): sign(u) |u|^(1/3)
    return _ns.sign(u) * _ns.pow(_ns.abs(u), 1.0 / 3.0)''',
}


class PythonPrinter(ExprPrinter):
    """Array-library source; ``_z`` is a zero array like ``x`` (to give constant selects a dtype)."""

    def __init__(self, target: str, names):
        super().__init__(names)
        self.target = target
        self.table = _TABLES[target]

    def number(self, value: float) -> str:
        if math.isnan(value):
            return "_NAN"
        if math.isinf(value):
            return "_INF" if value > 0 else "(-_INF)"
        return repr(value) if value >= 0 or value != value else f"({value!r})"

    def select(self, cond: str, a: str, b: str) -> str:
        if a in self.constants and b in self.constants:
            a = f"(_z + {a})"  # a where of two Python floats would be float64 (float32 in torch)
        return f"_ns.where({cond}, {a}, {b})"

    def logic(self, op: str, args: list[str]) -> str:
        if op == "true":
            return "(_z == 0)"
        if op == "false":
            return "(_z != 0)"
        if op == "not":
            return f"(~{args[0]})"
        return "(" + (" & " if op == "and" else " | ").join(args) + ")"

    def assign(self, name: str, text: str, boolean: bool = False) -> str:
        return f"{name} = {text}"

    def call(self, name: str, *args: str) -> str:
        if name == "cbrt" and self.target == "torch":
            self.used.add("cbrt")
        return super().call(name, *args)


def _body(comp: Computation, printer: PythonPrinter) -> list[str]:
    """Statements computing ``o0, o1, ...`` from ``x`` (kernel_body's order)."""
    lines = []
    for k, (temp, _) in enumerate(comp.temps):
        printer.names[temp] = f"t{k}"
    for temp, value in comp.temps:
        text = printer.expr(value)
        lines += printer.lines + [f"{printer.names[temp]} = {text}"]
        printer.lines = []
    for k, (e, patches) in enumerate(zip(comp.outputs, comp.patches)):
        text = printer.expr(e)
        lines += printer.lines + [f"o{k} = {text}"]
        printer.lines = []
        for p in patches:
            t = f"_T(x, {printer.number(p.threshold['float64'])}, {printer.number(p.threshold['float32'])})"
            cond = f"(x > {t})" if p.direction > 0 else f"(x < -{t})"
            v = printer.expr(p.value)
            where = "+inf" if p.direction > 0 else "-inf"
            lines += printer.lines + [f"o{k} = {printer.select(cond, v, f'o{k}')}  # {p.what} at {where}"]
            printer.lines = []
        lines.append(f"o{k} = _ns.where(_ns.isnan(x), x, o{k})")
    return lines


def _function(name: str, doc: str, comp: Computation, plan: Plan, target: str, used: set[str]) -> list[str]:
    printer = PythonPrinter(target, {plan.variable: "x"})
    body = _body(comp, printer)
    used |= printer.used
    outs = ", ".join(f"_finish(o{k}, half)" for k in range(len(comp.outputs)))
    zero = ["_z = _ns.zeros_like(x)"] if any("_z" in line for line in body) else []
    inner = ["x, half = _prepare(x)", *zero, *body, f"return {outs}"]
    if target == "numpy":
        inner = [*inner[:1], "with _ns.errstate(all='ignore'):  # the unused side of a select may overflow",
                 *["    " + line for line in inner[1:-1]], inner[-1]]
    return [f"def {name}(x):", f'    """{doc}"""', *["    " + line for line in inner], "", ""]


_EXTRAS = {
    "torch": '''class Function(_ns.autograd.Function):
    """value(x) with derivative(x) as its backward (saves only the input)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return value(x)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * derivative(x)


class Module(_ns.nn.Module):
    """The function as a layer (autograd through :class:`Function`)."""

    def forward(self, x):
        return Function.apply(x)''',
    "jax": '''value = jax.custom_jvp(value)


@value.defjvp
def _value_jvp(primals, tangents):
    (x,), (t,) = primals, tangents
    return value(x), derivative(x) * t''',
}


def python_source(plan: Plan, target: str, header: list[str]) -> str:
    """The source of the ``target`` module (``numpy``, ``torch`` or ``jax``) of ``plan``."""
    used: set[str] = set()
    f = plan.formula
    funcs = _function("value", f"f(x) = {f}, elementwise (NaN in, NaN out).", plan.value, plan, target, used)
    funcs += _function("derivative", "f'(x), elementwise (the catalog's stabilized derivative).", plan.derivative,
                       plan, target, used)
    funcs += _function("value_and_derivative", "(f(x), f'(x)) in one pass sharing subexpressions.", plan.both,
                       plan, target, used)
    imports, special = _IMPORTS[target]
    src_text = "\n".join(funcs)
    lines = ["# " + h if h else "#" for h in header]
    lines += ['"""funclib export of ' + plan.entry_id + f' for {target} (generated; see the header above)."""', "",
              *imports]
    if special and "_sc." in src_text:
        lines.append(special)
    lines += ["", '__all__ = ["value", "derivative", "value_and_derivative"' +
              (', "Function", "Module"' if target == "torch" else "") + "]", "",
              f"NAME = {plan.entry_id!r}", f"FORMULA = {plan.formula!r}", f"PARAMS = {dict(plan.params)!r}",
              '_INF = float("inf")', '_NAN = float("nan")', "", "",
              _PREPARE[target], "", "",
              "def _T(x, t64, t32):",
              "    # saturation/asymptote thresholds depend on the precision computed in",
              "    return t64 if x.dtype == _ns.float64 else t32", "", ""]
    for h in ("sigmoid", "softplus", "cbrt"):
        if h in used:
            lines += [_HELPER_SOURCE[h], "", ""]
    lines += funcs
    if target in _EXTRAS:
        lines += [_EXTRAS[target], ""]
    return "\n".join(lines).rstrip() + "\n"
