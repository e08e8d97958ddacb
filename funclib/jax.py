"""Catalog functions and formulas as JAX functions: ``jit``, ``vmap`` and ``grad`` to any order.

>>> import jax, jax.numpy as jnp, funclib.jax as fj
>>> golu = fj.function("golu")
>>> y = jax.jit(golu)(jnp.linspace(-3, 3, 7))
>>> dy = jax.vmap(jax.grad(golu))(jnp.linspace(-3, 3, 7))
>>> swish = fj.function("silu")
>>> d_beta = jax.grad(lambda b: swish(jnp.ones(4), beta=b).sum())(1.0)   # parameters are inputs too

Why pure ``jax.numpy`` rather than the Numba kernels: a Numba kernel is opaque to XLA (it would
run through ``jax.pure_callback``: a host round trip, no fusion, no ``vmap`` or GPU), while the
catalog's stabilized SymPy expressions map one node to one ``jax.numpy`` call
(:mod:`funclib.arrayeval`), which XLA fuses and compiles for any backend.

Derivatives are not JAX's automatic differentiation of the formula (which overflows to NaN in the
tails of Mish, GoLU and friends, and through ``where`` branches): each function is a
``jax.custom_jvp`` whose JVP evaluates the catalog's stabilized partial derivatives
:math:`\\partial f/\\partial x` and :math:`\\partial f/\\partial\\theta_k`, each itself a
``custom_jvp`` of the next order, built when JAX first asks for it.

Inputs: float32/float64 arrays (float16/bfloat16 compute in float32 and return their dtype);
parameters are scalars or arrays broadcastable to ``x``. Row-wise maps: :func:`rowwise`
(softmax, log_softmax, sparsemax, entmax15) with the closed-form JVPs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import lru_cache

import jax
import jax.numpy as jnp
import sympy as sp
from jax.custom_derivatives import SymbolicZero
from jax.scipy import special as jsp

from . import special
from .adapter import Spec, resolve
from .arrayeval import Backend, evaluate

__all__ = ["function", "rowwise", "JAX"]

JAX = Backend("jax", jnp, {sp.erf: jsp.erf, sp.erfc: jsp.erfc, special.erfc: jsp.erfc, sp.gamma: jsp.gamma})

_HALF = (jnp.float16, jnp.bfloat16)


def _compute_dtype(x, what: str):
    dtype = jnp.result_type(x)
    if not jnp.issubdtype(dtype, jnp.floating):
        raise TypeError(f"{what}: arrays of dtype {dtype} are not supported (float16/32/64, bfloat16)")
    return jnp.float32 if dtype in _HALF else dtype


@lru_cache(maxsize=1024)
def _partial(spec: Spec, wrt: tuple[str, ...]) -> Callable:
    """:math:`\\partial^{|wrt|} f / \\partial wrt` as a ``custom_jvp`` function ``(x, *params)``."""
    expr = spec.derivative(*wrt)
    x_sym, p_syms = spec.symbols
    names = ("x", *spec.params)

    @jax.custom_jvp
    def g(x, *params):
        env = {x_sym: x, **dict(zip(p_syms, params))}
        value = evaluate(expr, env, JAX, x)
        shape = jnp.broadcast_shapes(jnp.shape(x), *[jnp.shape(p) for p in params])
        return jnp.broadcast_to(jnp.asarray(value, dtype=jnp.result_type(x)), shape)

    def g_jvp(primals, tangents):
        out = g(*primals)
        tangent = jnp.zeros_like(out)
        for name, t in zip(names, tangents):
            # constant inputs (symbolic zeros) and identically zero partials add nothing
            if not isinstance(t, SymbolicZero) and spec.derivative(*wrt, name) != 0:
                tangent = tangent + _partial(spec, (*wrt, name))(*primals) * t
        return out, tangent

    g.defjvp(g_jvp, symbolic_zeros=True)

    return g


def function(name_or_formula: str, *, params: Mapping[str, float] | None = None) -> Callable:
    r"""A JAX function :math:`x \mapsto f(x;\theta)` of a catalog entry or a formula.

    Parameters
    ----------
    name_or_formula : str
        Entry id or alias (``"gelu"``, ``"gelu:tanh"``, ``"golu"``), or a formula in funclib's
        grammar (``"x*tanh(softplus(b*x))"``).
    params : mapping, optional
        Default parameter values (entry defaults otherwise; required for a formula's parameters),
        range-checked here.

    Returns
    -------
    callable
        ``f(x, **params)``: keyword parameters override the defaults and may be traced arrays
        (differentiable, broadcast against ``x``). Works under ``jit``, ``vmap``, ``grad``,
        ``jvp``/``vjp`` to any order; the derivative of every order comes from the catalog's
        stabilized symbolic derivative.
    """
    spec, values = resolve(name_or_formula, params, trainable=())
    core = _partial(spec, ())

    def f(x, **overrides):
        unknown = set(overrides) - set(spec.params)
        if unknown:
            raise TypeError(f"{spec.name}: no parameter {sorted(unknown)[0]!r} "
                            f"(parameters: {', '.join(spec.params) or 'none'})")
        x = jnp.asarray(x)
        dtype = _compute_dtype(x, spec.name)
        ps = [jnp.asarray(overrides.get(n, values[n]), dtype=dtype) for n in spec.params]
        return core(x.astype(dtype), *ps).astype(x.dtype)

    f.__name__ = spec.name if not spec.is_formula else "formula"
    f.__doc__ = f"funclib {spec.name!r} (parameters: {', '.join(spec.params) or 'none'})"
    f.spec = spec
    return f


# -- row-wise maps ---------------------------------------------------------------------


def _masked(x, mask, fill):
    return x if mask is None else jnp.where(mask, x, fill)


def _softmax(x, mask):
    z = _masked(x, mask, -jnp.inf)
    m = jnp.max(z, axis=-1, keepdims=True)
    e = jnp.exp(z - jnp.where(jnp.isfinite(m), m, 0))
    s = jnp.sum(e, axis=-1, keepdims=True)
    return jnp.where(s > 0, e / jnp.where(s > 0, s, 1), 0)


def _sparse_tau(z, alpha):
    """Threshold of sparsemax (α = 2) or exact 1.5-entmax (α = 1.5) on the sorted row."""
    zs = jnp.flip(jnp.sort(z, axis=-1), axis=-1)
    k = jnp.arange(1, z.shape[-1] + 1, dtype=z.dtype)
    finite = jnp.isfinite(zs)
    zs0 = jnp.where(finite, zs, 0)
    if alpha == 2.0:
        cum = jnp.cumsum(zs0, axis=-1)
        tau_k = (cum - 1) / k
        support = finite & (zs0 > tau_k)
    else:  # Peters et al. 2019, Algorithm 2 on z/2
        zs0 = zs0 / 2
        mean = jnp.cumsum(zs0, axis=-1) / k
        mean_sq = jnp.cumsum(zs0 ** 2, axis=-1) / k
        delta = (1 - k * (mean_sq - mean ** 2)) / k
        tau_k = mean - jnp.sqrt(jnp.clip(delta, 0))
        support = finite & (tau_k <= zs0)
    n = jnp.sum(support, axis=-1, keepdims=True)
    return jnp.take_along_axis(tau_k, jnp.maximum(n - 1, 0), axis=-1), n


def _sparse(x, mask, alpha):
    z = _masked(x, mask, -jnp.inf)
    m = jnp.max(z, axis=-1, keepdims=True)
    z = z - jnp.where(jnp.isfinite(m), m, 0)  # both maps are shift-invariant
    tau, n = _sparse_tau(z, alpha)
    zz = jnp.where(jnp.isfinite(z), z, 0)
    if alpha == 2.0:
        p = jnp.maximum(zz - tau, 0)
    else:
        p = jnp.maximum(zz / 2 - tau, 0) ** 2
    return jnp.where(jnp.isfinite(z) & (n > 0), p, 0)


def _rowwise_map(name: str) -> Callable:
    """``(x, mask) -> y`` over the last axis as a ``custom_jvp`` with the closed-form JVP."""
    forward = {"softmax": _softmax,
               "log_softmax": lambda x, m: _log_softmax(x, m),
               "sparsemax": lambda x, m: _sparse(x, m, 2.0),
               "entmax15": lambda x, m: _sparse(x, m, 1.5)}[name]

    @jax.custom_jvp
    def f(x, mask):
        return forward(x, mask)

    @f.defjvp
    def f_jvp(primals, tangents):
        x, mask = primals
        v = tangents[0]
        y = f(x, mask)
        if name == "log_softmax":  # J v = v - <p, v>, p = exp(y)
            p = jnp.exp(y)
            t = v - jnp.sum(p * v, axis=-1, keepdims=True)
            return y, _masked(t, mask, 0)
        # softmax: g = y; sparsemax: support indicator; 1.5-entmax: sqrt(p)
        g = {"softmax": y, "sparsemax": (y > 0).astype(y.dtype), "entmax15": jnp.sqrt(y)}[name]
        s = jnp.sum(g, axis=-1, keepdims=True)
        t = g * v - g * jnp.sum(g * v, axis=-1, keepdims=True) / jnp.where(s > 0, s, 1)
        return y, _masked(t, mask, 0)

    return f


def _log_softmax(x, mask):
    z = _masked(x, mask, -jnp.inf)
    m = jnp.max(z, axis=-1, keepdims=True)
    m = jnp.where(jnp.isfinite(m), m, 0)
    s = jnp.sum(jnp.exp(z - m), axis=-1, keepdims=True)
    return jnp.where(s > 0, z - m - jnp.log(jnp.where(s > 0, s, 1)), -jnp.inf)


_ROWWISE = {name: _rowwise_map(name) for name in ("softmax", "log_softmax", "sparsemax", "entmax15")}


def rowwise(name: str, x, *, axis: int = -1, mask=None):
    r"""A row-wise catalog map over ``axis`` with its closed-form JVP (``jit``/``vmap``/``grad``).

    Parameters
    ----------
    name : {"softmax", "log_softmax", "sparsemax", "entmax15"}
        The catalog entry. JVPs: softmax :math:`y\odot(v-\langle y,v\rangle)`; log-softmax
        :math:`v - \langle e^{y}, v\rangle`; sparsemax and 1.5-entmax
        :math:`g\odot v - g\langle g,v\rangle/\sum g` with :math:`g` the support indicator or
        :math:`\sqrt{p}`.
    x : array
        Float array; rows along ``axis``.
    axis : int
        The axis normalized over.
    mask : bool array, optional
        Broadcastable to ``x``; ``True`` where the entry takes part. Masked entries give 0
        (``-inf`` for log_softmax); fully masked rows give zeros (``-inf``).
    """
    import funclib

    entry = funclib.get(name)
    if entry.id not in _ROWWISE:
        raise ValueError(f"entry {entry.id!r} ({entry.kind}) has no row-wise JAX form; "
                         f"available: {', '.join(sorted(_ROWWISE))}")
    x = jnp.asarray(x)
    dtype = _compute_dtype(x, entry.id)
    xm = jnp.moveaxis(x.astype(dtype), axis, -1)
    m = None
    if mask is not None:
        mask = jnp.asarray(mask)
        if mask.dtype != jnp.bool_:
            raise TypeError(f"{entry.id}: mask must be a boolean array (True where an entry takes part), "
                            f"got {mask.dtype}")
        m = jnp.moveaxis(jnp.broadcast_to(mask, x.shape), axis, -1)
    y = _ROWWISE[entry.id](xm, m)
    return jnp.moveaxis(y, -1, axis).astype(x.dtype)
