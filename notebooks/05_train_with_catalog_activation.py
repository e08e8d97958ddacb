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
# # Train a model with a catalog activation
#
# `funclib.torch.Activation(name_or_formula)` is an `nn.Module` on the generated kernels: the
# forward pass runs the entry's value kernel, the backward pass one fused derivative kernel, and
# autograd keeps only the input for backward. This notebook trains the same small MLP on
# scikit-learn's digits twice, once with `Activation("golu")` (GoLU, $x\,e^{-e^{-x}}$, which
# PyTorch does not have) and once with the PyTorch composition of the same formula, from the same
# initial weights and the same batches. The loss curves agree; the memory that autograd holds for
# backward does not.
#
# Needs PyTorch and scikit-learn (the `torch` and `bench` extras). Without them the cells below
# say so and check nothing.

# %%
import importlib.util

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

HAVE = all(importlib.util.find_spec(m) is not None for m in ("torch", "sklearn", "numba"))
if not HAVE:
    print("SKIPPED: PyTorch, scikit-learn or Numba is not installed here; nothing below is checked.")
else:
    import torch
    from sklearn.datasets import load_digits

    import funclib.torch as ft

    torch.manual_seed(0)

# %% [markdown]
# ## Data and model
#
# 1797 8×8 images of digits, standardized, 1400 for training and the rest for testing. The MLP
# is 64 → 128 → 128 → 10 with the activation after each hidden layer.

# %%
if HAVE:
    digits = load_digits()
    X = torch.tensor(digits.data, dtype=torch.float32)
    X = (X - X.mean(0)) / (X.std(0) + 1e-6)
    Y = torch.tensor(digits.target)
    perm = torch.randperm(len(X), generator=torch.Generator().manual_seed(0))
    train, test = perm[:1400], perm[1400:]

    class GoLUComposition(torch.nn.Module):
        """GoLU as PyTorch operations: every intermediate is saved for backward."""

        def forward(self, x):
            return x * torch.exp(-torch.exp(-x))

    def mlp(act):
        return torch.nn.Sequential(torch.nn.Linear(64, 128), act(), torch.nn.Linear(128, 128), act(),
                                   torch.nn.Linear(128, 10))

    torch.manual_seed(1)
    model_f = mlp(lambda: ft.Activation("golu", trainable=[]))  # alpha = beta = gamma = 1, fixed
    model_c = mlp(GoLUComposition)
    model_c.load_state_dict(model_f.state_dict(), strict=False)  # the same weights (GoLU's constants are buffers)
    print(model_f)

# %% [markdown]
# ## Training: the same steps with both activations

# %%
if HAVE:
    def fit(model, steps=100, batch=128):
        opt = torch.optim.Adam(model.parameters(), lr=3e-3)
        order = torch.Generator().manual_seed(2)  # the same batches for both models
        losses = []
        for _ in range(steps):
            idx = train[torch.randint(len(train), (batch,), generator=order)]
            loss = torch.nn.functional.cross_entropy(model(X[idx]), Y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
        with torch.no_grad():
            accuracy = (model(X[test]).argmax(1) == Y[test]).float().mean().item()
        return np.array(losses), accuracy

    losses_f, acc_f = fit(model_f)
    losses_c, acc_c = fit(model_c)
    print(f"funclib GoLU:     loss {losses_f[0]:.3f} -> {losses_f[-1]:.4f}, test accuracy {acc_f:.3f}")
    print(f"composition GoLU: loss {losses_c[0]:.3f} -> {losses_c[-1]:.4f}, test accuracy {acc_c:.3f}")
    gap = np.max(np.abs(losses_f - losses_c))
    print(f"largest difference between the two loss curves: {gap:.2e}")
    # float32 rounding differs (fused kernel vs three operations) and Adam carries it along
    assert gap < 1e-4, gap
    assert losses_f[-10:].mean() < 0.25 * losses_f[:10].mean()
    assert acc_f > 0.9 and abs(acc_f - acc_c) < 0.03

# %%
if HAVE:
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(losses_c, label="PyTorch composition", lw=3, alpha=0.5)
    ax.plot(losses_f, label='funclib.torch.Activation("golu")', lw=1)
    ax.set(xlabel="step", ylabel="cross-entropy (batch)", yscale="log", title="MLP on digits with GoLU")
    ax.legend()
    fig.tight_layout()
    assert len(ax.lines) == 2

# %% [markdown]
# ## Memory held for backward
#
# `torch.autograd.graph.saved_tensors_hooks` sees every tensor autograd saves. The composition
# saves `exp(-x)`, the gate `exp(-exp(-x))` and `x` (three tensors of the input's size); the
# funclib activation saves the input only.

# %%
if HAVE:
    def saved_bytes(module, x):
        seen = {}

        def pack(t):
            seen[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
            return t

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            module(x)
        return sum(seen.values())

    h = torch.randn(256, 1024, requires_grad=True)
    b_f, b_c = saved_bytes(ft.Activation("golu", trainable=[]), h), saved_bytes(GoLUComposition(), h)
    print(f"saved for backward: funclib {b_f / 2**20:.1f} MiB, composition {b_c / 2**20:.1f} MiB "
          f"(input {h.nbytes / 2**20:.1f} MiB)")
    assert b_f <= h.nbytes + 1024  # the input (and GoLU's three scalar constants)
    assert b_f <= b_c / 2

    # the funclib activation's backward is the catalog's derivative
    g = torch.autograd.grad(ft.Activation("golu", trainable=[])(h).sum(), h)[0]
    g_c = torch.autograd.grad(GoLUComposition()(h).sum(), h)[0]
    print(f"max |difference of the gradients| on 256×1024 normal inputs: {(g - g_c).abs().max().item():.1e}")
    assert torch.allclose(g, g_c, atol=1e-6)

# %% [markdown]
# The same function without funclib: `funclib export golu --to torch` prints a module whose
# `Module` saves only the input as well (see the guide page "Export a function as source code").
