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
# # Explore properties: slope bands, monotonicity, parameter sweeps, Mittag-Leffler members
#
# funclib derives the properties of every elementwise function (never typed in) and labels each
# with the method that proved it. This notebook surveys the slope bands of the catalog, finds
# monotonicity regions from the sign of $f'$, sweeps parameters, and checks the Mittag-Leffler
# members of the unified gated family against their closed forms. Every fact shown is asserted.

# %%
import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import scipy.special as sc

import funclib
import funclib.plotting as fp

# %% [markdown]
# ## Slope bands of the catalog
#
# A band $[\alpha, \beta]$ is an *outer* bound of $[\inf f', \sup f']$. Dense sampling of $f'$
# (a second, independent method) must stay inside every proven band:

# %%
from funclib.properties import cache_key, load_cache

cache = load_cache()  # the committed proofs; an entry edited since its last proof is skipped here
rows, stale = [], []
for e in funclib.entries(kind="elementwise"):
    if cache.get(e.id, {}).get("key") != cache_key(e):
        stale.append(e.id)  # proving it again takes seconds to minutes: python -m funclib.properties --write ID
        continue
    fact = e.properties()["slope_bounds"]
    lo, hi = fact.value
    data = fp.curve(e, orders=(1,), x_range=(-12, 12), points=4001, slope_band=False, features=False)
    d = data.values[1][np.isfinite(data.values[1])]
    rows.append((e.id, lo, hi, fact.method, d.min(), d.max()))
    if fact.method != "estimated":
        assert lo - 1e-12 <= d.min() and d.max() <= hi + 1e-12, (e.id, lo, hi, d.min(), d.max())
print(f"{len(rows)} bands checked against 4001 samples of f' on [-12, 12]")
if stale:
    print(f"not in the committed proof cache (skipped): {', '.join(stale)}")
assert len(rows) >= 20
finite = sorted((r for r in rows if math.isfinite(r[1]) and math.isfinite(r[2])), key=lambda r: r[2] - r[1])
fig, ax = plt.subplots(figsize=(6.4, 0.18 * len(finite) + 1), layout="constrained")
for i, (name, lo, hi, method, smin, smax) in enumerate(finite):
    ax.barh(i, hi - lo, left=lo, color="#0072B2" if method != "estimated" else "#D55E00")
    ax.plot([smin, smax], [i, i], "|", color="k", ms=6)
ax.set_yticks(range(len(finite)), [r[0] for r in finite], fontsize=6)
ax.set_xlabel("proven slope band (bars) and sampled extremes of f' (ticks)")
fig

# %% [markdown]
# Known values (DESIGN §10): SiLU $[-0.0998, 1.0998]$ for any $\beta > 0$, GELU
# $[-0.1289, 1.1289]$, Mish $[-0.1125, 1.0885]$, sigmoid $[0, 1/4]$:

# %%
known = {"silu": (-0.0998, 1.0998), "gelu": (-0.1289, 1.1289), "mish": (-0.1125, 1.0885), "sigmoid": (0.0, 0.25)}
for name, (a, b) in known.items():
    lo, hi = funclib.get(name).properties().slope_bounds
    assert abs(lo - a) < 1e-4 and abs(hi - b) < 1e-4, (name, lo, hi)

# %% [markdown]
# ## Monotonicity regions
#
# SiLU decreases exactly left of its minimum $x^* \approx -1.2785$, where
# $f'(x) = \sigma(x)(1 + x(1 - \sigma(x))) = 0$:

# %%
data = fp.curve("silu", x_range=(-8, 4), points=4801)
(m,) = data.extrema
from scipy.optimize import brentq

root = brentq(lambda t: sc.expit(t) * (1 + t * (1 - sc.expit(t))), -3, -0.5, xtol=1e-16)
assert abs(m.x - root) < 1e-12
falling = data.x[data.values[1] < 0]
print(f"f' < 0 on [{falling.min():.4f}, {falling.max():.4f}] of the window; minimum at {m.x:.12f}")
assert falling.max() < m.x + 0.01 and funclib.get("silu").properties().monotonic == "none"
ax = fp.plot("silu", x_range=(-8, 4))
ax.fill_between(data.x, 0, 1, where=data.values[1] < 0, transform=ax.get_xaxis_transform(), color="0.85", zorder=0)
ax.figure

# %% [markdown]
# ## Parameter sweeps
#
# SiLU's slope band does not depend on $\beta$ (it is $f'$ of $x\sigma(x)$ rescaled in $x$);
# the curves sharpen towards ReLU:

# %%
fig = fp.compare("silu", sweep={"beta": [0.5, 1.0, 2.0, 8.0]}, derivative=True)
for c, beta in zip(fig.funclib_curves, [0.5, 1.0, 2.0, 8.0]):
    assert np.allclose(c.values[0], c.x * sc.expit(beta * c.x), rtol=1e-13, atol=1e-300)
    # f'(x; beta) = g'(beta x) with g = silu(., 1): the same range of slopes
    assert abs(c.values[1].min() - known["silu"][0]) < 2e-3
fig

# %% [markdown]
# Expanded gating, when the family is in the catalog: $\mathrm{xGELU}_\alpha(x) = (1+2\alpha)\,
# \mathrm{GELU}(x) - \alpha x$ for $\alpha \in \{0, 0.5, 1\}$:

# %%
ids = {e.id for e in funclib.entries()}
if "xgelu" in ids:
    fig = fp.compare("xgelu", sweep={"alpha": [0.0, 0.5, 1.0]})
    for c, alpha in zip(fig.funclib_curves, [0.0, 0.5, 1.0]):
        expected = (1 + 2 * alpha) * c.x * sc.ndtr(c.x) - alpha * c.x
        assert np.allclose(c.values[0], expected, rtol=1e-12, atol=1e-14)
    display = fig
else:
    print("SKIPPED: xgelu is not in this catalog")

# %% [markdown]
# ## Mittag-Leffler members of the unified gated family
#
# Members written with $E_{\alpha,\beta}(z) = \sum_k z^k/\Gamma(\alpha k + \beta)$ carry their
# closed form as a variant; the two must agree (here to $10^{-12}$ at high precision on a grid):

# %%
members = [e for e in funclib.entries(kind="elementwise") if "mittag" in (e.family + " " + " ".join(e.tags)).lower()]
print([e.id for e in members])
from funclib.mpeval import mp_evaluate

checked = 0
for e in members:
    closed = next((v for v in e.variants if "closed" in v), None)
    if closed is None:
        continue
    for t in (-3.0, -1.0, -0.25, 0.5, 2.0):
        a = mp_evaluate(e.numeric_expr(), {e.symbol: t}, 30)
        b = mp_evaluate(e.numeric_expr(closed), {e.symbol: t}, 30)
        assert abs(a - b) <= 1e-12 * max(1, abs(b)), (e.id, t, a, b)
    checked += 1
print(f"{checked} Mittag-Leffler members equal their closed forms on the grid")
if members:
    assert checked == len([e for e in members if any("closed" in v for v in e.variants)])
    drawable = []
    for e in members:
        try:
            fp.curve(e, orders=(0,), slope_band=False, features=False, points=51)
            drawable.append(e)
        except Exception as exc:
            print(f"{e.id}: not drawable in float64 here ({type(exc).__name__})")
    if drawable:
        fig = fp.compare(drawable[:6], x_range=(-4, 4))
        fig
else:
    print("SKIPPED: no Mittag-Leffler members in this catalog")

# %% [markdown]
# ## Row-wise maps on the simplex
#
# Softmax sends every row to the interior of the probability simplex; rows of length 3:

# %%
fig = fp.simplex_map("softmax", n=3, resolution=61)
out = fig.funclib_simplex.outputs
assert fig.funclib_simplex.probability and out.min() > 0
assert np.allclose(out.reshape(-1, 3), sc.softmax(fig.funclib_simplex.inputs.reshape(-1, 3), axis=1), rtol=1e-13)
fig
