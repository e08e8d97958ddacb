# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Look up and compare functions and their derivatives
#
# Every function in funclib is a catalog entry: an exact SymPy definition, its variants and
# parameters, a stable symbolic derivative and properties that funclib proves. This notebook
# looks GELU up, checks its derivative and its proven slope band against independent formulas,
# and compares it with its tanh approximation and with other activations. Every number shown
# is asserted.

# %%
import math

import matplotlib

matplotlib.use("Agg")
import numpy as np
import scipy.special as sc

import funclib
import funclib.plotting as fp

gelu = funclib.get("gelu")
print(gelu.name, "—", gelu.summary)
print("f(x)  =", gelu.formula_text())
print("f'(x) =", gelu.formula_text(derivative=1))
assert "erfc" in gelu.formula

# %% [markdown]
# ## The derivative, checked against a hand-written formula
#
# GELU is $x\,\Phi(x)$, so $f'(x) = \Phi(x) + x\,\varphi(x)$. funclib's derivative (evaluated in
# float64 from the symbolic form) agrees with SciPy's normal CDF to rounding:

# %%
x = np.linspace(-8, 8, 2001)
data = fp.curve("gelu", orders=(0, 1), x_range=(-8, 8), points=2001, slope_band=False)
by_hand = sc.ndtr(x) + x * np.exp(-x * x / 2) / math.sqrt(2 * math.pi)
err = np.max(np.abs(data.values[1] - by_hand))
print(f"max |f' - (Phi + x phi)| on [-8, 8]: {err:.2e}")
assert err < 1e-15

# The correctly rounded reference values agree too (arb ball arithmetic).
ref = gelu.reference([-3.0, -0.5, 0.0, 0.5, 3.0], order=1)
assert np.allclose(ref, sc.ndtr([-3.0, -0.5, 0.0, 0.5, 3.0]) + np.array([-3.0, -0.5, 0.0, 0.5, 3.0])
                   * np.exp(-np.array([9.0, 0.25, 0.0, 0.25, 9.0]) / 2) / math.sqrt(2 * math.pi), rtol=1e-15, atol=0)

# %% [markdown]
# ## Proven properties
#
# The slope band $[\alpha, \beta] \supseteq [\inf f', \sup f']$ is proven with rigorous interval
# arithmetic. GELU's extreme slopes are at $x = \mp\sqrt 2$, where $f'' = \varphi(x)(2 - x^2) = 0$:

# %%
props = gelu.properties()
lo, hi = props.slope_bounds
print("slope bounds:", props.slope_bounds, "method:", props["slope_bounds"].method)
exact_lo = float(sc.ndtr(-math.sqrt(2)) - math.sqrt(2) * math.exp(-1) / math.sqrt(2 * math.pi))  # f'(-sqrt 2)
exact_hi = 1 - exact_lo  # f'(x) + f'(-x) = 1
assert props["slope_bounds"].method == "interval"
assert lo <= exact_lo <= lo + 1e-8 and hi - 1e-8 <= exact_hi <= hi
assert props.monotonic == "none" and props.smoothness == "Cinf"
print(f"inf f' = {exact_lo:.12f} (at -sqrt 2), sup f' = {exact_hi:.12f} (at +sqrt 2)")

# %% [markdown]
# ## Plot: value, derivative, band, zeros and extrema
#
# The local minimum is found as a sign change of $f'$ and refined at 30 digits; it solves
# $\Phi(x) + x\varphi(x) = 0$:

# %%
ax = fp.plot("gelu", second=True)
(minimum,) = ax.funclib_curve.extrema
print(minimum)
from scipy.optimize import brentq

root = brentq(lambda t: sc.ndtr(t) + t * math.exp(-t * t / 2) / math.sqrt(2 * math.pi), -2, -0.1, xtol=1e-16)
assert minimum.kind == "minimum" and abs(minimum.x - root) < 1e-12
assert ax.funclib_curve.zeros == [0.0]
ax.figure

# %% [markdown]
# ## Exact GELU against its tanh approximation
#
# `jax.nn.gelu` defaults to the tanh approximation; PyTorch and Keras compute the exact form. The
# two differ by less than $5 \cdot 10^{-4}$ on $[-5, 5]$:

# %%
fig = fp.compare(["gelu", ("gelu", "tanh")], derivative=True, difference=True)
exact, approx = fig.funclib_curves
gap = np.max(np.abs(approx.values[0] - exact.values[0]))
print(f"max |tanh variant - exact| = {gap:.3e}")
assert 4e-4 < gap < 5e-4
fig

# %% [markdown]
# ## Several activations and their slopes at 0
#
# Slopes at the origin, from the correctly rounded derivative: ReLU's convention is
# $\mathrm{relu}'(0) = 0$, GELU and SiLU have $1/2$, Mish has $\tanh(\log 2) = 3/5$.

# %%
names = ["relu", "gelu", "silu", "mish", "softplus"]
slopes = {n: float(funclib.get(n).reference([0.0], order=1)[0]) for n in names}
print(slopes)
assert slopes == {"relu": 0.0, "gelu": 0.5, "silu": 0.5, "mish": 0.6, "softplus": 0.5}
fig = fp.compare(names, derivative=True, x_range=(-4, 3))
fig

# %% [markdown]
# ## Search
#
# By words, tag, kind or proven property:

# %%
found = [e.id for e in funclib.search("sigmoid")]
print(found)
assert "sigmoid" in found
monotone_jax = [e.id for e in funclib.search(tag="jax", property="monotonic")]
print(monotone_jax)
assert "sigmoid" in monotone_jax and "gelu" not in monotone_jax
rowwise = [e.id for e in funclib.entries(kind="rowwise")]
assert "softmax" in rowwise
