"""Cross-check funclib's mpmath references against PyTorch, JAX and Keras 3.

One parametrized case per ``implementations`` record of every elementwise catalog entry:

* ``test_values``: the framework's float64 output against ``entry.reference`` on a point set
  spanning magnitudes (±0, tiny, small, ±1e-300, ±5, ±20, ±40, ±700, every kink of the
  formula and its float64 neighbours), to ``RTOL`` = 1e-12, the reference computed with
  ``DPS`` = 400 digits and checked at 800;
* ``test_derivatives``: the framework's automatic derivative (torch autograd, ``jax.grad``;
  Keras through ``jax.grad`` on the JAX backend) against the reference derivative, including
  the derivative chosen at kinks;
* ``test_special_values``: NaN, ±inf and ±0 against the entry's ``special_cases``.

A record is ``{framework, function, variant?, kwargs?, params?}``: ``kwargs`` go to the
framework function, ``params`` are the catalog parameter values it corresponds to (entry
defaults for the rest).

Known disagreements are data, not silence: ``TOLERANCES`` widens a tolerance with the reason
(each widening is tied to a named cancellation in the framework's formula),
``KINK_DERIVATIVES`` states a framework's different derivative choice at a kink,
``SPECIAL_DEVIATIONS`` lists special inputs where a framework returns something else, and
``XFAIL`` marks whole records. Every entry of these tables is checked to still happen, so a
fixed framework shows up as a failure asking to delete the entry.

Frameworks are optional (``pytest.importorskip``). Keras runs on the JAX backend with x64
enabled, fed float64 JAX arrays: Keras 3's dtype rules map float64 to float32 on non-TensorFlow
backends when it converts an input, so on its NumPy backend every activation computes in
float32. JAX on CPU flushes subnormal inputs to zero (``jnp.float64(5e-324) > 0`` is false), so
the neighbours of a kink at 0 are taken as ±2.2e-308 rather than ±5e-324.
Checked with torch 2.13.0, jax 0.10.2 and keras 3.15.1.
"""

from __future__ import annotations

import importlib
import math
import os
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Callable

# Keras reads its backend once, at import; choose JAX unless the user chose otherwise.
os.environ.setdefault("KERAS_BACKEND", "jax")

import numpy as np
import pytest

import funclib
from helpers import kinks

EPS = float(np.finfo(np.float64).eps)
TINY = float(np.finfo(np.float64).tiny)
RTOL = 1e-12
# Reference precision. entry.reference evaluates at a fixed precision, so a result that hinges
# on a quantity far below 1 (log1mexp(700) = log(1 - 9.9e-305)) needs more than 300 digits;
# every reference is recomputed at CHECK_DPS digits and must not change (see _reference).
DPS = 400
CHECK_DPS = 800

BASE_POINTS = (
    0.0, -0.0, 1e-300, -1e-300, 1e-30, -1e-30, 1e-8, -1e-8, 1e-3, -1e-3,
    0.1, -0.1, 0.25, -0.25, 0.5, -0.5, 0.75, -0.75, 1.0, -1.0, 1.5, -1.5, 2.0, -2.0,
    2.5, -2.5, 3.0, -3.0, 4.0, -4.0, 5.0, -5.0, 6.0, -6.0, 7.5, -7.5, 10.0, -10.0,
    15.0, -15.0, 20.0, -20.0, 25.0, -25.0, 30.0, -30.0, 35.0, -35.0, 40.0, -40.0,
    100.0, -100.0, 700.0, -700.0,
)


# --------------------------------------------------------------------------------------
# Known disagreements (data)
# --------------------------------------------------------------------------------------


ANY = "*"  # matches any kwargs in the tables below


@dataclass(frozen=True)
class Tolerance:
    """Allowed |framework - reference| = rtol*|ref| + atol + atol_x*|x| + atol_fn(x)."""

    reason: str
    rtol: float = RTOL
    atol: float = 0.0
    atol_x: float = 0.0
    atol_fn: Callable[[np.ndarray], np.ndarray] | None = None


#: (framework function, "value" | "derivative", variant) -> widened tolerance, with the
#: cancellation in the framework's formula that needs it. Bounds were sized on a dense grid
#: (|x| <= 700) with a margin of about 2.
TOLERANCES: dict[tuple[str, str, str | None], Tolerance] = {}


def _tol(functions, what, variant, tol):
    for f in functions:
        TOLERANCES[(f, what, variant)] = tol


_tol(["torch.nn.functional.tanhshrink", "keras.activations.tanh_shrink"], "value", None,
     Tolerance("computes x - tanh(x), which cancels: absolute error up to ~1 ulp of x "
               "(relative error 1 for |x| < 1e-5)", atol_x=4 * EPS))
_tol(["torch.nn.functional.tanhshrink", "keras.activations.tanh_shrink"], "derivative", None,
     Tolerance("the derivative 1 - (1 - tanh(x)**2) cancels near 0: absolute error ~ eps",
               atol=4 * EPS))
_tol(["torch.nn.functional.gelu"], "value", None,
     Tolerance("evaluates x/2*(1 + erf(x/sqrt(2))); 1 + erf cancels for x < 0: absolute error "
               "up to ~1 ulp of x (jax.nn.gelu uses erfc and agrees to 1e-12)", atol_x=4 * EPS))
_tol(["torch.nn.functional.gelu"], "derivative", None,
     Tolerance("the derivative contains 1 + erf(x/sqrt(2)), which cancels for x < 0: absolute "
               "error ~ eps", atol=4 * EPS))
_tol(["torch.nn.functional.gelu", "jax.nn.gelu", "keras.activations.gelu"], "value", "tanh",
     Tolerance("evaluates x/2*(1 + tanh(u)); 1 + tanh(u) cancels for u < 0 (the true value is "
               "x*sigmoid(2u)): absolute error up to ~2 ulp of x", atol_x=8 * EPS))


def _gelu_tanh_scale(x: np.ndarray) -> np.ndarray:
    # d/dx of x*(1 + tanh(u))/2 has the term x*u'(x)*(1 - tanh(u)**2)/2, whose absolute error
    # is eps*|x*u'(x)|/2 with u' = sqrt(2/pi)*(1 + 3*0.044715*x**2).
    return 1 + np.abs(x) * math.sqrt(2 / math.pi) * (1 + 3 * 0.044715 * x**2) / 2


_tol(["torch.nn.functional.gelu", "jax.nn.gelu", "keras.activations.gelu"], "derivative", "tanh",
     Tolerance("the derivative contains 1 + tanh(u) and 1 - tanh(u)**2, which cancel before "
               "tanh saturates: absolute error ~ eps*|x*u'(x)| (up to ~160 eps at x = 7.3 in JAX)",
               atol_fn=lambda x: 16 * EPS * _gelu_tanh_scale(x)))
_tol(["jax.nn.squareplus", "keras.activations.squareplus"], "value", None,
     Tolerance("evaluates (x + sqrt(x**2 + b))/2, which cancels for x << 0 (the true value is "
               "~b/(4|x|)): absolute error up to ~1 ulp of x", atol_x=4 * EPS))
_tol(["jax.nn.squareplus", "keras.activations.squareplus"], "derivative", None,
     Tolerance("the derivative (1 + x/sqrt(x**2 + b))/2 cancels for x << 0: absolute error ~ eps",
               atol=4 * EPS))
_tol(["jax.nn.elu", "keras.activations.elu", "jax.nn.celu", "keras.activations.celu",
      "jax.nn.selu", "keras.activations.selu"], "derivative", None,
     Tolerance("JAX differentiates expm1 as expm1(x) + 1, which loses exp(x) for x << 0: absolute "
               "error ~ eps*alpha (relative error 1 below x ~ -37; PyTorch uses exp and agrees)",
               atol=8 * EPS))
_tol(["torch.sigmoid", "jax.nn.sigmoid", "keras.activations.sigmoid"], "derivative", None,
     Tolerance("the derivative is computed from the output y as y*(1 - y); 1 - y cancels for "
               "x >> 0: absolute error ~ eps (relative error 1 beyond x ~ 37)", atol=2 * EPS))
_tol(["torch.tanh", "jax.nn.tanh"], "derivative", None,
     Tolerance("the derivative is computed from the output y as 1 - y**2, which cancels for "
               "|x| >> 0: absolute error ~ eps (JAX's float64 tanh is also up to ~7 ulp off "
               "near saturation, e.g. tanh(-19.18) = -0.9999999999999992)", atol=16 * EPS))
_tol(["torch.sinc", "jax.numpy.sinc"], "value", None,
     Tolerance("evaluates sin(pi*x)/(pi*x) with pi and pi*x rounded: absolute error ~ eps/pi "
               "(3.9e-17 at the integers, where the catalog's reduced sin(pi x) gives exact zeros)",
               atol=2 * EPS))
_tol(["torch.sinc", "jax.numpy.sinc"], "derivative", None,
     Tolerance("the derivative (cos(pi x) - sinc(x))/x cancels as x -> 0 (the true value is "
               "-(pi**2/3) x): absolute error ~ eps/|x|, plus the rounded pi*x of the value; "
               "JAX's derivative overflows to +-inf below |x| ~ 1e-154 (it divides by x**2)",
               atol=4 * EPS,
               atol_fn=lambda x: np.where(np.abs(x) < 1e-150, np.inf, 4 * EPS / np.maximum(np.abs(x), 1e-300))))
_tol(["torch.nn.functional.hardsigmoid"], "derivative", None,
     Tolerance("PyTorch's hardsigmoid backward multiplies by the float32 constant 1/6 = "
               "0.1666666716337204 even in float64 (relative error 3e-8; hardswish is exact)",
               rtol=5e-8))


@dataclass(frozen=True)
class KinkDerivative:
    """The derivative a framework returns at kinks (or next to them) instead of funclib's."""

    values: Callable[[dict[str, float]], dict[float, float]]  # params -> {x: derivative}
    reason: str


_ULP_BELOW_3 = math.nextafter(3.0, 0.0)
_ULP_BELOW_1, _ULP_ABOVE_1 = math.nextafter(1.0, 0.0), math.nextafter(1.0, 2.0)

#: (framework function, kwargs or ANY) -> what it returns at kinks, and why.
KINK_DERIVATIVES: dict[tuple[str, Any], KinkDerivative] = {
    ("jax.nn.leaky_relu", ANY): KinkDerivative(
        lambda p: {0.0: 1.0},
        "jax.nn.leaky_relu is where(x >= 0, x, a*x): derivative 1 at 0 (PyTorch: the slope a)"),
    ("keras.activations.leaky_relu", ANY): KinkDerivative(
        lambda p: {0.0: 1.0}, "Keras' JAX backend calls jax.nn.leaky_relu: derivative 1 at 0"),
    ("keras.activations.relu", (("negative_slope", 0.01),)): KinkDerivative(
        lambda p: {0.0: 1.0}, "keras relu(negative_slope=a) calls jax.nn.leaky_relu"),
    ("jax.nn.hard_tanh", ANY): KinkDerivative(
        lambda p: {-1.0: 1.0, 1.0: 1.0},
        "jax.nn.hard_tanh keeps x on the closed interval [-1, 1]: derivative 1 at the bounds "
        "(PyTorch: 0)"),
    ("keras.activations.hard_tanh", ANY): KinkDerivative(
        lambda p: {-1.0: 1.0, 1.0: 1.0}, "Keras' JAX backend calls jax.nn.hard_tanh"),
    ("jax.nn.sparse_sigmoid", ANY): KinkDerivative(
        lambda p: {-1.0: 0.25, 1.0: 0.25, _ULP_BELOW_1: 0.25, _ULP_ABOVE_1: 0.25},
        "jax.nn.sparse_sigmoid is 0.5*clip(x + 1, 0, 2); the derivative of clip splits ties "
        "(1/4 at the bounds), and x + 1 rounds to 2 one ulp either side of 1"),
    ("keras.activations.sparse_sigmoid", ANY): KinkDerivative(
        lambda p: {-1.0: 0.25, 1.0: 0.25, _ULP_BELOW_1: 0.25, _ULP_ABOVE_1: 0.25},
        "Keras' JAX backend calls jax.nn.sparse_sigmoid"),
    ("jax.nn.hard_sigmoid", ANY): KinkDerivative(
        lambda p: {_ULP_BELOW_3: 0.0},
        "relu6(x + 3)/6: x + 3 rounds to 6 for x = 3 - 1ulp, where relu6' = 0"),
    ("keras.activations.hard_sigmoid", ANY): KinkDerivative(
        lambda p: {_ULP_BELOW_3: 0.0}, "Keras' JAX backend calls jax.nn.hard_sigmoid"),
}
for _f in ["jax.nn.hard_swish", "jax.nn.hard_silu", "keras.activations.hard_swish",
           "keras.activations.hard_silu"]:
    KINK_DERIVATIVES[(_f, ANY)] = KinkDerivative(
        lambda p: {_ULP_BELOW_3: 1.0},
        "x*relu6(x + 3)/6: x + 3 rounds to 6 for x = 3 - 1ulp, so the slope is 1, not 3/2")

#: (framework function, kwargs or ANY, input, "value" | "derivative") -> why it differs.
SPECIAL_DEVIATIONS: dict[tuple[str, Any, float, str], str] = {}


def _dev(functions, inputs, what, reason):
    for f in functions:
        kwargs = ANY
        if isinstance(f, tuple):
            f, kwargs = f
        for t in inputs:
            SPECIAL_DEVIATIONS[(f, kwargs, t, what)] = reason


_dev(["torch.sinc", "jax.numpy.sinc"], [math.inf, -math.inf], "value",
     "computes sin(pi*x)/(pi*x), and sin(inf) is NaN (the limit is 0)")


_SELF_GATED = [
    "torch.nn.functional.gelu", "torch.nn.functional.silu", "torch.nn.functional.mish",
    "torch.nn.functional.hardswish", "jax.nn.gelu", "jax.nn.silu", "jax.nn.swish", "jax.nn.mish",
    "jax.nn.hard_swish", "jax.nn.hard_silu", "keras.activations.gelu", "keras.activations.silu",
    "keras.activations.swish", "keras.activations.mish", "keras.activations.hard_swish",
    "keras.activations.hard_silu",
]
_dev(_SELF_GATED, [-math.inf], "value",
     "computes x*g(x) with g(-inf) = 0, and -inf*0 is NaN (the limit is 0)")
_dev([f for f in _SELF_GATED if "hard" not in f], [-math.inf], "derivative",
     "the derivative also contains -inf*0 = NaN")
_dev([f for f in _SELF_GATED if "hard" not in f], [math.inf], "derivative",
     "the derivative contains x*g'(x) = inf*0 = NaN at +inf (the limit is 1)")
_dev(["torch.nn.functional.softsign", "jax.nn.soft_sign", "keras.activations.softsign"],
     [math.inf, -math.inf], "value", "computes x/(1 + |x|) = inf/inf = NaN (the limit is ±1)")
_dev(["torch.nn.functional.softsign", "jax.nn.soft_sign", "keras.activations.softsign"],
     [math.inf, -math.inf], "derivative", "the derivative also evaluates inf/inf")
_dev(["jax.nn.squareplus", "keras.activations.squareplus"], [-math.inf], "value",
     "(x + sqrt(x**2 + b))/2 is -inf + inf = NaN at -inf (the limit is 0)")
_dev(["jax.nn.squareplus", "keras.activations.squareplus"], [math.inf, -math.inf], "derivative",
     "the derivative contains x/sqrt(x**2 + b) = inf/inf = NaN")
_dev(["jax.nn.sparse_plus", "keras.activations.sparse_plus"], [math.inf, -math.inf],
     "derivative", "jnp.where differentiates every branch; the unselected (x + 1)**2/4 has an "
     "infinite derivative at ±inf and 0*inf = NaN")
_dev(["keras.activations.soft_shrink", "keras.activations.hard_shrink",
      "keras.activations.threshold", ("keras.activations.relu", (("threshold", 1.5),))],
     [math.nan], "value",
     "uses where(|x| > t, x, 0) or where(x > t, x, v): every comparison with NaN is false, so "
     "NaN maps to 0 or v (PyTorch propagates NaN)")

#: (framework function, variant) -> reason the whole record is expected to fail.
XFAIL: dict[tuple[str, str | None], str] = {
    ("keras.activations.tanh", None): (
        "keras.ops.tanh casts float64 to float32 (Keras 3 maps float64 to float32 on non-"
        "TensorFlow backends), so values agree only to float32 precision"),
}


def _lookup(table: dict, record: "Record", *rest):
    """Table value for (function, record kwargs, *rest), else (function, ANY, *rest)."""
    for kwargs in (record.kwargs, ANY):
        key = (record.function, kwargs, *rest)
        if key in table:
            return table[key]
    return None


# --------------------------------------------------------------------------------------
# Records
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Record:
    entry_id: str
    index: int
    framework: str
    function: str
    variant: str | None
    kwargs: tuple[tuple[str, Any], ...] = ()
    params: tuple[tuple[str, float], ...] = ()

    @property
    def id(self) -> str:
        short = self.function.rsplit(".", 1)[-1]
        tail = f"[{self.variant}]" if self.variant else ""
        args = ",".join(f"{k}={v}" for k, v in self.kwargs)
        return f"{self.entry_id}-{self.framework}-{short}{tail}" + (f"({args})" if args else "")


#: The frameworks this file checks to 1e-12; other records are independent third-party code.
FRAMEWORKS = ("pytorch", "jax", "keras")


def _records() -> list[Record]:
    out = []
    for entry in funclib.entries("elementwise"):
        for k, impl in enumerate(entry.implementations):
            if impl["framework"] not in FRAMEWORKS:
                continue  # independent third-party code: tests/test_independent_implementations.py
            out.append(
                Record(
                    entry.id, k, impl["framework"], impl["function"], impl.get("variant"),
                    tuple(sorted((impl.get("kwargs") or {}).items())),
                    tuple(sorted((impl.get("params") or {}).items())),
                )
            )
    return out


RECORDS = _records()


def _params(record: Record):
    marks = []
    reason = XFAIL.get((record.function, record.variant))
    if reason:
        marks.append(pytest.mark.xfail(reason=reason, strict=True))
    return pytest.param(record, id=record.id, marks=marks)


# --------------------------------------------------------------------------------------
# Points and references
# --------------------------------------------------------------------------------------


@lru_cache(maxsize=None)
def _points(entry_id: str, variant: str | None, params: tuple) -> np.ndarray:
    entry = funclib.get(entry_id)
    pts = set(BASE_POINTS)
    for k in kinks(entry, variant, dict(params)):
        if k == 0.0:
            # The float64 neighbours of 0 are subnormal, and XLA on CPU flushes subnormal
            # inputs to zero (jax.nn.relu(5e-324) takes the x <= 0 branch); use the smallest
            # normal numbers instead.
            pts.update({0.0, TINY, -TINY})
        else:
            pts.update({k, math.nextafter(k, math.inf), math.nextafter(k, -math.inf)})
    keep = [p for p in pts if p in entry.domain or (p == 0.0 and 0.0 in entry.domain)]
    # keep -0.0 next to 0.0 (a set treats them as equal)
    if 0.0 in entry.domain:
        keep = [p for p in keep if p != 0.0] + [0.0, -0.0]
    return np.array(sorted(keep, key=lambda t: (t, math.copysign(1.0, t))), dtype=np.float64)


@lru_cache(maxsize=None)
def _reference(entry_id: str, variant: str | None, params: tuple, order: int) -> np.ndarray:
    entry = funclib.get(entry_id)
    x = _points(entry_id, variant, params)
    ref = entry.reference(x, variant=variant, params=dict(params), order=order, dps=DPS)
    check = entry.reference(x, variant=variant, params=dict(params), order=order, dps=CHECK_DPS)
    same = (ref == check) | (np.isnan(ref) & np.isnan(check)) | (
        np.abs(ref - check) <= 1e-15 * np.abs(check)
    )
    assert same.all(), (
        f"funclib reference of {entry_id} (order {order}) changes between {DPS} and {CHECK_DPS} "
        f"digits at x = {x[~same].tolist()}: {ref[~same].tolist()} vs {check[~same].tolist()}"
    )
    return ref


# --------------------------------------------------------------------------------------
# Calling the frameworks
# --------------------------------------------------------------------------------------


def _resolve(dotted: str):
    parts = dotted.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for name in parts[cut:]:
            obj = getattr(obj, name)
        return obj
    raise ImportError(dotted)


@pytest.fixture(scope="module")
def jax_x64():
    jax = pytest.importorskip("jax")
    previous = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    yield jax
    jax.config.update("jax_enable_x64", previous)


def _framework(record: Record, request):
    """Value and derivative callables (float64 ndarray -> float64 ndarray) for a record."""
    kwargs = dict(record.kwargs)
    if record.framework == "pytorch":
        torch = pytest.importorskip("torch")
        obj = _resolve(record.function)
        if isinstance(obj, type) and issubclass(obj, torch.nn.Module):
            module = obj(**kwargs).double().eval()
            func = module
        else:
            func = lambda t: obj(t, **kwargs)  # noqa: E731

        def value(x):
            with torch.no_grad():
                y = func(torch.tensor(x, dtype=torch.float64))
            assert y.dtype == torch.float64, f"{record.function} returned {y.dtype}"
            return y.numpy().copy()

        def derivative(x):
            t = torch.tensor(x, dtype=torch.float64, requires_grad=True)
            y = func(t)
            (g,) = torch.autograd.grad(y, t, grad_outputs=torch.ones_like(y))
            return g.detach().numpy().copy()

        return value, derivative

    if record.framework in ("jax", "keras"):
        jax = request.getfixturevalue("jax_x64")
        import jax.numpy as jnp

        if record.framework == "keras":
            keras = pytest.importorskip("keras")
            backend = keras.backend.backend()
            if backend != "jax":
                pytest.skip(
                    f"Keras backend is {backend!r}; this check needs the JAX backend "
                    "(Keras 3 casts float64 inputs to float32 on its NumPy backend)"
                )
        obj = _resolve(record.function)
        func = lambda t: obj(t, **kwargs)  # noqa: E731

        def value(x):
            y = func(jnp.asarray(x, dtype=jnp.float64))
            assert str(y.dtype) == "float64", f"{record.function} returned {y.dtype}"
            return np.asarray(y, dtype=np.float64)

        def derivative(x):
            g = jax.vmap(jax.grad(func))(jnp.asarray(x, dtype=jnp.float64))
            return np.asarray(g, dtype=np.float64)

        return value, derivative

    pytest.skip(f"no runner for framework {record.framework!r} (known: pytorch, jax, keras)")


# --------------------------------------------------------------------------------------
# Comparison
# --------------------------------------------------------------------------------------


def _compare(record: Record, what: str, x: np.ndarray, got: np.ndarray, ref: np.ndarray) -> None:
    tol = TOLERANCES.get((record.function, what, record.variant), Tolerance(""))
    both_nan = np.isnan(got) & np.isnan(ref)
    equal = (got == ref) | both_nan
    err = np.abs(got - ref)
    allowed = tol.rtol * np.abs(ref) + tol.atol + tol.atol_x * np.abs(x) + TINY
    if tol.atol_fn is not None:
        allowed = allowed + tol.atol_fn(x)
    ok = equal | (err <= allowed)
    if not ok.all():
        lines = [
            f"  x={xv!r}: {record.framework}={gv!r} funclib={rv!r} "
            f"relerr={(abs(gv - rv) / abs(rv) if rv else float('inf')):.3g}"
            for xv, gv, rv in zip(x[~ok], got[~ok], ref[~ok])
        ]
        note = f" (tolerance widened: {tol.reason})" if tol.reason else ""
        raise AssertionError(
            f"{record.id}: {what} disagrees at {int((~ok).sum())} of {len(x)} points{note}:\n"
            + "\n".join(lines[:20])
        )
    if tol.reason:
        # A widened tolerance must still be needed; otherwise it hides nothing and goes.
        strict = equal | (err <= RTOL * np.abs(ref) + TINY)
        assert not strict.all(), (
            f"{record.id}: {what} agrees to rtol {RTOL} at every point; remove the widened "
            f"tolerance ({tol.reason})"
        )


@pytest.mark.parametrize("record", [_params(r) for r in RECORDS])
def test_values(record: Record, request) -> None:
    value, _ = _framework(record, request)
    x = _points(record.entry_id, record.variant, record.params)
    with np.errstate(all="ignore"):
        got = value(x)
    ref = _reference(record.entry_id, record.variant, record.params, 0)
    _compare(record, "value", x, got, ref)


@pytest.mark.parametrize("record", [_params(r) for r in RECORDS])
def test_derivatives(record: Record, request) -> None:
    _, derivative = _framework(record, request)
    x = _points(record.entry_id, record.variant, record.params)
    with np.errstate(all="ignore"):
        got = derivative(x)
    ref = _reference(record.entry_id, record.variant, record.params, 1).copy()
    kink = _lookup(KINK_DERIVATIVES, record)
    if kink is not None:
        entry = funclib.get(record.entry_id)
        for at, expected in kink.values(entry.param_values(dict(record.params), record.variant)).items():
            hit = x == at
            assert hit.any(), f"{record.id}: no test point at x = {at!r} ({kink.reason})"
            # The framework must still return its recorded choice ...
            assert np.all(got[hit] == expected), (
                f"{record.id}: derivative at x = {at!r} is {got[hit].tolist()}, not the "
                f"recorded {expected} ({kink.reason}); update KINK_DERIVATIVES"
            )
            # ... and it must really differ from funclib's, else the table entry goes.
            assert np.all(ref[hit] != expected), (
                f"{record.id}: funclib's derivative at x = {at!r} is already {expected}; "
                f"remove it from KINK_DERIVATIVES"
            )
            ref[hit] = expected
    _compare(record, "derivative", x, got, ref)


def _same(a: float, b: float) -> bool:
    """Same float, telling NaN equal to NaN and -0 from 0."""
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)


def _special_cases(record: Record):
    """The entry's special cases that apply to this record.

    Cases of the record's variant, else of the main formula. With non-default parameters
    only NaN inputs are checked (the other special values are stated for the defaults).
    """
    entry = funclib.get(record.entry_id)
    own = [sc for sc in entry.special_cases if sc.variant == record.variant]
    cases = own + [
        sc for sc in entry.special_cases
        if record.variant is not None and sc.variant is None
        and not any(_same(sc.input, o.input) for o in own)
    ]
    if record.params:
        cases = [sc for sc in cases if math.isnan(sc.input)]
    return cases


def _deviation(record: Record, t: float, what: str) -> str | None:
    for (f, kwargs, at, w), reason in SPECIAL_DEVIATIONS.items():
        if f == record.function and kwargs in (ANY, record.kwargs) and w == what and _same(at, t):
            return reason
    return None


def _matches(got: float, expected: float, signed_zero: bool) -> bool:
    if math.isnan(expected):
        return math.isnan(got)
    if math.isinf(expected):
        return got == expected
    if expected == 0 and signed_zero:
        return got == 0 and math.copysign(1.0, got) == math.copysign(1.0, expected)
    return abs(got - expected) <= 1e-15 * abs(expected) + TINY


@pytest.mark.parametrize("record", [_params(r) for r in RECORDS])
def test_special_values(record: Record, request) -> None:
    cases = _special_cases(record)
    if not cases:
        pytest.skip("the entry states no special cases for these parameters")
    value, derivative = _framework(record, request)
    x = np.array([sc.input for sc in cases], dtype=np.float64)
    with np.errstate(all="ignore"):
        got = value(x)
        got_d = derivative(x)
    problems = []
    for k, sc in enumerate(cases):
        checks = [("value", float(got[k]), sc.value)]
        if sc.derivative is not None:
            checks.append(("derivative", float(got_d[k]), sc.derivative))
        for what, g, expected in checks:
            good = _matches(g, expected, signed_zero=(what == "value" and sc.input == 0))
            known = _deviation(record, sc.input, what)
            if known and good:
                problems.append(f"  x={sc.input!r}: {what} now matches; remove it from "
                                f"SPECIAL_DEVIATIONS ({known})")
            elif not good and not known:
                problems.append(f"  x={sc.input!r}: {what} {g!r}, expected {expected!r}")
    assert not problems, f"{record.id}:\n" + "\n".join(problems)


def test_every_elementwise_framework_entry_is_checked() -> None:
    """Entries tagged with a framework must carry implementations records for it."""
    missing = []
    for entry in funclib.entries("elementwise"):
        frameworks = {impl["framework"] for impl in entry.implementations}
        for tag in ("pytorch", "jax", "keras"):
            if tag in entry.tags and tag not in frameworks:
                missing.append(f"{entry.id}: tagged {tag!r} but has no {tag} implementation")
    assert not missing, "\n".join(missing)
