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
# # Certified Lipschitz bounds of small trained networks
#
# `funclib.verify.lipschitz` bounds the $\ell_2$ Lipschitz constant of a network of affine
# layers and catalog activations with LipSDP. Each activation enters through its *proven*
# slope band $[\alpha, \beta]$ from the catalog, and the solver's multipliers are certified in
# float64, so the bound is a theorem about the weights, not a solver's estimate. Every result
# comes with a sandwich: a lower bound (the largest Jacobian norm found by sampling and gradient
# ascent) and the naive product of spectral norms times the activations' Lipschitz constants.
#
# Here we train two small networks (NumPy, full-batch Adam on a synthetic regression task,
# seconds), certify their bounds, and check the sandwich with an independent computation of
# Jacobian norms. Without `funclib.verify` the cells say so and check nothing.

# %%
import importlib.util
import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import scipy.special as sc

import funclib

VERIFY = importlib.util.find_spec("funclib.verify") is not None
if VERIFY:
    try:
        from funclib.verify import Network, lipschitz
    except ImportError as exc:
        VERIFY = False
        print(f"SKIPPED: funclib.verify is incomplete here ({exc}); nothing below is checked.")
else:
    print("SKIPPED: funclib.verify is not installed here; nothing below is checked.")

# %% [markdown]
# ## The slope bands the verifier will use

# %%
for name in ("tanh", "gelu"):
    fact = funclib.get(name).properties()["slope_bounds"]
    print(f"{name:5s} slope band {fact.value} ({fact.method})")
    assert fact.method in ("symbolic", "interval")

# %% [markdown]
# ## Train two small networks
#
# $\mathbb{R}^2 \to \mathbb{R}$, two hidden layers of 16 units, fitted to
# $\sin(2x_1)\cos(x_2)$ on 512 points; one with tanh, one with GELU.

# %%
ACT = {
    "tanh": (np.tanh, lambda z: 1 - np.tanh(z) ** 2),
    "gelu": (lambda z: z * sc.ndtr(z), lambda z: sc.ndtr(z) + z * np.exp(-z * z / 2) / math.sqrt(2 * math.pi)),
}


def forward(params, X, act):
    f, _ = ACT[act]
    h = X
    cache = []
    for k, (W, b) in enumerate(params):
        z = h @ W.T + b
        cache.append((h, z))
        h = f(z) if k < len(params) - 1 else z
    return h, cache


def train(act, steps=600, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-2, 2, size=(512, 2))
    Y = (np.sin(2 * X[:, 0]) * np.cos(X[:, 1]))[:, None]
    sizes = [2, 16, 16, 1]
    params = [(rng.normal(size=(m, n)) / math.sqrt(n), np.zeros(m)) for n, m in zip(sizes[:-1], sizes[1:])]
    moments = [[np.zeros_like(W), np.zeros_like(b), np.zeros_like(W), np.zeros_like(b)] for W, b in params]
    _, df = ACT[act]
    for t in range(1, steps + 1):
        out, cache = forward(params, X, act)
        grad = 2 * (out - Y) / len(X)
        for k in reversed(range(len(params))):
            h, z = cache[k]
            if k < len(params) - 1:
                grad = grad * df(z)
            W, b = params[k]
            gW, gb = grad.T @ h, grad.sum(0)
            grad = grad @ W
            m = moments[k]
            for i, g in ((0, gW), (1, gb)):
                m[i] = 0.9 * m[i] + 0.1 * g
                m[i + 2] = 0.999 * m[i + 2] + 0.001 * g * g
            lr = 0.01
            W = W - lr * (m[0] / (1 - 0.9**t)) / (np.sqrt(m[2] / (1 - 0.999**t)) + 1e-8)
            b = b - lr * (m[1] / (1 - 0.9**t)) / (np.sqrt(m[3] / (1 - 0.999**t)) + 1e-8)
            params[k] = (W, b)
    loss = float(np.mean((forward(params, X, act)[0] - Y) ** 2))
    return params, loss


nets = {}
for act in ("tanh", "gelu"):
    params, loss = train(act)
    nets[act] = params
    print(f"{act}: training MSE {loss:.4f}")
    assert loss < 0.05  # the target has variance ~0.25: the networks learned it

# %% [markdown]
# ## Independent check: Jacobian norms
#
# $J(x) = W_3\,\mathrm{diag}(\sigma'(z_2))\,W_2\,\mathrm{diag}(\sigma'(z_1))\,W_1$; the largest
# $\|J(x)\|_2$ over many points is a lower bound on the Lipschitz constant, computed here
# without funclib.

# %%
def max_jacobian_norm(params, act, n=20000, seed=1):
    _, df = ACT[act]
    X = np.random.default_rng(seed).uniform(-4, 4, size=(n, 2))
    _, cache = forward(params, X, act)
    J = np.broadcast_to(params[0][0], (n,) + params[0][0].shape)
    for k in range(1, len(params)):
        J = params[k][0][None] @ (df(cache[k - 1][1])[:, :, None] * J)
    return float(np.max(np.linalg.norm(J, ord=2, axis=(1, 2))))


sampled = {act: max_jacobian_norm(nets[act], act) for act in nets}
print(sampled)

# %% [markdown]
# ## Certified bounds and the sandwich

# %%
results = {}
if VERIFY:
    for act, params in nets.items():
        net = Network([W for W, _ in params], act, biases=[b for _, b in params])
        res = lipschitz(net)
        results[act] = res
        act_lip = funclib.get(act).properties().lipschitz  # proven: max(|alpha|, |beta|)
        naive = math.prod(np.linalg.norm(W, 2) for W, _ in params) * act_lip ** (len(params) - 1)
        print(f"{act}: certified {res.value:.4f} (certified={res.certified}, {res.method}, {res.solver}, "
              f"{res.status}); lower {res.lower:.4f}; naive {res.naive:.4f}; upper/lower {res.ratio_upper_lower:.3f}")
        assert res.certified
        assert res.lower <= res.value <= res.naive * (1 + 1e-9)
        assert abs(res.naive - naive) <= 1e-9 * naive          # spectral norms (not Frobenius) x Lip(act)
        assert sampled[act] <= res.value * (1 + 1e-9)          # no sampled Jacobian beats the certificate
        assert res.value < res.naive                           # LipSDP improves on the naive bound

# %%
if VERIFY:
    fig, ax = plt.subplots(figsize=(6.4, 3.2), layout="constrained")
    for i, (act, res) in enumerate(results.items()):
        ax.plot([res.lower, res.value, res.naive], [i] * 3, "-", color="0.6", zorder=0)
        ax.plot(res.lower, i, "o", color="#009E73", label="lower (sampling + ascent)" if i == 0 else None)
        ax.plot(sampled[act], i, "x", color="#000000", label="max ‖J‖ (independent sample)" if i == 0 else None)
        ax.plot(res.value, i, "D", color="#0072B2", label="certified LipSDP bound" if i == 0 else None)
        ax.plot(res.naive, i, "s", color="#D55E00", label="naive product of norms" if i == 0 else None)
    ax.set_yticks(range(len(results)), list(results))
    ax.set_xlabel("Lipschitz constant (ℓ2)")
    ax.legend(loc="lower right", fontsize=8)
    fig

# %% [markdown]
# ## A single affine layer: the bound is the spectral norm

# %%
if VERIFY:
    W = np.random.default_rng(3).normal(size=(3, 5))
    res = lipschitz(Network([W]))
    print(res.value, np.linalg.norm(W, 2))
    assert abs(res.value - np.linalg.norm(W, 2)) <= 1e-6 * np.linalg.norm(W, 2)
