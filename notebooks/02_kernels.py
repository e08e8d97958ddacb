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
# # Kernels from catalog entries and from your own formula
#
# `entry.kernel(dtype=..., outputs=("value", "derivative"))` and `funclib.compile(formula, ...)`
# generate a fused Numba kernel that returns the value and the derivative in one pass. This
# notebook builds kernels for GELU and for a formula of its own, measures their error in ULPs
# against the correctly rounded reference (`entry.reference`, arb ball arithmetic) with the
# accuracy harness's criterion (within $B \max(1, \kappa)$ ULP, $B$ = 4 for float64 and 2 for
# float32, $\kappa = |x f'/f|$), and times them against NumPy.
#
# The kernels live in `funclib.kernels` (extra dependency: Numba). Without it the cells below
# say so and check nothing.

# %%
import importlib.util
import math
import time

import matplotlib

matplotlib.use("Agg")
import numpy as np

import funclib
import funclib.plotting as fp

KERNELS = importlib.util.find_spec("numba") is not None and importlib.util.find_spec("funclib.kernels") is not None
HARNESS = importlib.util.find_spec("funclib.accuracy") is not None
if not KERNELS:
    print("SKIPPED: funclib.kernels (or Numba) is not installed here; nothing below is checked.")

# %% [markdown]
# ## GELU: value and derivative in one pass

# %%
if KERNELS:
    gelu = funclib.get("gelu")
    k64 = gelu.kernel(dtype="float64", outputs=("value", "derivative"))
    x = np.linspace(-6.0, 6.0, 241)
    y, dy = k64(x)
    ref_y = gelu.reference(x)
    ref_dy = gelu.reference(x, order=1)
    err_y, err_dy = fp.ulp_error(y, ref_y), fp.ulp_error(dy, ref_dy)
    print(f"float64 GELU on [-6, 6]: max {err_y.max():.1f} ULP (value), {err_dy.max():.1f} ULP (derivative)")
    assert y.shape == dy.shape == x.shape and y.dtype == np.float64

# %% [markdown]
# ## Accuracy over the whole line, with the harness's criterion
#
# Points spread over linear and logarithmic scales, the tails (|x| near 20, 35, 88.7, 709.8),
# ±0, subnormals, ±inf and NaN; every point must be within the tolerance:

# %%
if KERNELS and HARNESS:
    from funclib import accuracy

    pts = {dt: accuracy.sample_points(dt, n_linear=60, n_log=60) for dt in ("float64", "float32")}
    for dt in ("float64", "float32"):
        for output in ("value", "derivative"):
            res = accuracy.measure(gelu, dtype=dt, output=output, points=pts[dt])
            print(f"GELU {dt:7s} {output:10s}: {res.n} points, max {res.max_ulp:.3g} ULP, "
                  f"max error / max(1, kappa) = {res.max_scaled:.3g} (budget {res.target:g})")
            assert res.passed, res.failures[:3]
elif KERNELS:
    print("SKIPPED: funclib.accuracy is not installed here.")

# %% [markdown]
# The error against $x$ (the kernel when present, with the tolerance curve):

# %%
if KERNELS:
    ax = fp.error_plot("gelu", order=1, dtype="float32", implementation="kernel", x=np.linspace(-10, 10, 201))
    errors = ax.funclib_errors
    if errors.tolerance is not None:
        assert np.all(errors.ulp <= errors.tolerance)
    ax.figure

# %% [markdown]
# ## Your own formula
#
# Mish written by hand, $x \tanh(\mathrm{softplus}(x))$, compiled from the string (parsed by the
# allow-list parser, never evaluated), agrees with the catalog's Mish kernel and with the
# reference:

# %%
if KERNELS:
    mine = funclib.compile("x*tanh(softplus(x))", dtype="float64")
    mish = funclib.get("mish")
    x = np.linspace(-20.0, 20.0, 401)
    my_y, my_dy = mine(x)
    cat_y, cat_dy = mish.kernel(dtype="float64")(x)
    ulp_mine = fp.ulp_error(my_y, mish.reference(x))
    print(f"own formula vs reference: max {ulp_mine.max():.1f} ULP; vs catalog kernel: "
          f"max |diff| = {np.max(np.abs(my_y - cat_y)):.2e}")
    assert np.allclose(my_y, cat_y, rtol=4e-16 * 8, atol=1e-300)
    assert np.allclose(my_dy, cat_dy, rtol=4e-16 * 8, atol=1e-300)

# %% [markdown]
# Parameters are call-time arguments (no recompilation): SiLU $x\,\sigma(\beta x)$ at
# $\beta = 2$:

# %%
if KERNELS:
    silu = funclib.compile("x*sigmoid(beta*x)", params={"beta": 1.0}, dtype="float64")
    x = np.linspace(-10, 10, 101)
    y2, _ = silu(x, beta=2.0)
    expected = funclib.get("silu").reference(x, params={"beta": 2.0})
    assert np.max(fp.ulp_error(y2, expected)) <= 4

# %% [markdown]
# ## Timing against NumPy
#
# Value and derivative of GELU over $10^6$ float64 elements: the fused kernel against the
# hand-written NumPy/SciPy stable form (best of 5 runs; numbers depend on the machine and are
# reported, not asserted):

# %%
if KERNELS:
    import scipy.special as sc

    x = np.random.default_rng(0).normal(size=10**6) * 3

    def numpy_gelu(x):
        cdf = 0.5 * sc.erfc(-x / math.sqrt(2))
        return x * cdf, cdf + x * np.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)

    def best(fn, reps=5):
        fn(x)
        times = []
        for _ in range(reps):
            t = time.perf_counter()
            fn(x)
            times.append(time.perf_counter() - t)
        return min(times)

    t_kernel, t_numpy = best(k64), best(numpy_gelu)
    print(f"funclib kernel: {x.size / t_kernel / 1e6:.0f} M elements/s; NumPy: {x.size / t_numpy / 1e6:.0f} M/s; "
          f"ratio {t_numpy / t_kernel:.1f}x")
    ky, kdy = k64(x)
    ny, ndy = numpy_gelu(x)
    # Same numbers (f' cancels near its zero at x = -0.7518 in both, hence the absolute tolerance).
    assert np.allclose(ky, ny, rtol=1e-13, atol=1e-300) and np.allclose(kdy, ndy, rtol=1e-12, atol=1e-14)
    assert t_kernel > 0 and t_numpy > 0
