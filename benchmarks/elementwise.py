"""Fused value + derivative over 10^7 elements: funclib kernels against the alternatives.

For each function and dtype, in one run and with the same thread count:

* ``funclib``   generated kernel, funclib's vectorizable math (``accuracy="fast"``)
* ``libm``      the same kernel with the C library's scalar math (``accuracy="libm"``)
* ``torch``     PyTorch CPU eager: forward, then backward of ``y.backward(ones)`` (and the
  coefficient gradients for PAU, which funclib returns as ``grad_params``)
* ``lambdify``  SymPy ``lambdify`` of the same stabilized expressions, NumPy/SciPy modules
* ``numpy``     hand-written stable NumPy forms (value and derivative)
* ``copy``      ``numpy.copyto`` moving the same bytes as the fused kernel (read x, write y
  and dy): the memory-bandwidth ceiling

Times are the best of several runs after a warm-up. Also measured: cold compile time per
entry and dtype (fresh funclib and Numba caches, after Numba's one-time initialization) and
the first-call time of a kernel from a warm disk cache in a fresh process. Results are
printed as ratios and written to ``benchmarks/results/elementwise.json``.

Run: ``python benchmarks/elementwise.py [--size N] [--repeat R] [--only gelu,silu]``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import numpy as np
import scipy.special as sc

import funclib
from hostinfo import call_times, cpu_model, llvm_cpu_name  # benchmarks/ is on sys.path when a script runs

FUNCTIONS = ["gelu", "silu", "mish", "golu", "softplus", "elu", "pau", "xgelu", "relu", "leaky_relu", "hard_tanh"]
TRANSCENDENTAL = {"gelu", "silu", "mish", "golu", "softplus", "elu", "pau", "xgelu"}
PIECEWISE_LINEAR = {"relu", "leaky_relu", "hard_tanh"}
RESULTS = Path(__file__).with_name("results") / "elementwise.json"


#: Per-call times of every timed function, by label (the spread the results record).
SPREADS: dict[str, list[float]] = {}


def best_time(func, repeat: int, label: str | None = None) -> float:
    """The best of ``repeat`` calls after a warm-up call; every call's time is kept under
    ``label`` in :data:`SPREADS` (max/min is the spread the results report)."""
    times = call_times(func, repeat)
    if label is not None:
        SPREADS[label] = times
    return min(times)


# -- hand-written NumPy ---------------------------------------------------------------------

def _sigmoid(x):
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1, e) / (1 + e)


def numpy_forms(name: str, entry):
    """Stable value and derivative written by hand in NumPy/SciPy."""
    p = entry.param_values()
    if name == "gelu" or name == "xgelu":
        a = p.get("alpha", 0.0)

        def f(x):
            c = sc.erfc(-x * (1 / math.sqrt(2)))
            v = 0.5 * x * c
            d = 0.5 * c + x * np.exp(-0.5 * x * x) * (1 / math.sqrt(2 * math.pi))
            if name == "xgelu":
                return (1 + 2 * a) * v - a * x, (1 + 2 * a) * d - a
            return v, d

        return f
    if name == "silu":
        b = p["beta"]

        def f(x):
            s = _sigmoid(b * x)
            return x * s, s * (1 + b * x * (1 - s))

        return f
    if name == "mish":
        def f(x):
            t = np.tanh(np.logaddexp(0, x))
            return x * t, t + x * _sigmoid(x) * (1 - t * t)

        return f
    if name == "golu":
        al, be, ga = p["alpha"], p["beta"], p["rate"]

        def f(x):
            e = np.exp(-ga * x)
            v = al * x * np.exp(-be * e)
            d = al * np.exp(-be * e) + al * be * ga * x * np.exp(-ga * x - be * e)
            return v, d

        return f
    if name == "softplus":
        b = p["beta"]

        def f(x):
            return np.logaddexp(0, b * x) / b, _sigmoid(b * x)

        return f
    if name == "elu":
        a = p["alpha"]

        def f(x):
            pos = x > 0
            return np.where(pos, x, a * np.expm1(x)), np.where(pos, 1.0, a * np.exp(x)).astype(x.dtype)

        return f
    if name == "relu":
        return lambda x: (np.maximum(x, 0), (x > 0).astype(x.dtype))
    if name == "leaky_relu":
        s = p["negative_slope"]
        return lambda x: (np.where(x > 0, x, s * x), np.where(x > 0, 1, s).astype(x.dtype))
    if name == "hard_tanh":
        lo, hi = p["min_val"], p["max_val"]
        return lambda x: (np.clip(x, lo, hi), ((x > lo) & (x < hi)).astype(x.dtype))
    if name == "pau":
        a = [p[f"a{k}"] for k in range(6)]
        b = [p[f"b{k}"] for k in range(1, 5)]

        def f(x):
            ax = np.abs(x)
            num = a[5]
            dnum = 5 * a[5]
            for k in range(4, -1, -1):
                num = num * x + a[k]
            for k in range(4, 0, -1):
                dnum = dnum * x + k * a[k]
            den = abs(b[3])
            dden = 4 * abs(b[3])
            for k in range(2, -1, -1):
                den = den * ax + abs(b[k])
            for k in range(3, 0, -1):
                dden = dden * ax + k * abs(b[k - 1])
            den = 1 + ax * den
            dden = dden * np.sign(x)
            v = num / den
            d = (dnum - v * dden) / den
            # coefficient gradients (what PyTorch's backward also computes)
            pw = np.ones_like(x)
            grads = []
            for k in range(6):
                grads.append(np.sum(pw / den))
                pw = pw * x
            pa = ax
            for k in range(4):
                grads.append(-np.sum(v / den * pa) * np.sign(b[k]))
                pa = pa * ax
            return v, d, np.array(grads)

        return f
    raise KeyError(name)


# -- PyTorch --------------------------------------------------------------------------------

def torch_forms(name: str, entry, torch):
    F = torch.nn.functional
    p = entry.param_values()
    if name == "gelu":
        return lambda x: F.gelu(x)
    if name == "silu":
        b = p["beta"]
        return (lambda x: F.silu(x)) if b == 1 else (lambda x: x * torch.sigmoid(b * x))
    if name == "mish":
        return lambda x: F.mish(x)
    if name == "golu":
        al, be, ga = p["alpha"], p["beta"], p["rate"]
        return lambda x: al * x * torch.exp(-be * torch.exp(-ga * x))
    if name == "softplus":
        return lambda x: F.softplus(x, beta=p["beta"])
    if name == "elu":
        return lambda x: F.elu(x, alpha=p["alpha"])
    if name == "xgelu":
        a = p["alpha"]
        return lambda x: (1 + 2 * a) * F.gelu(x) - a * x
    if name == "relu":
        return lambda x: F.relu(x)
    if name == "leaky_relu":
        return lambda x: F.leaky_relu(x, p["negative_slope"])
    if name == "hard_tanh":
        return lambda x: F.hardtanh(x, p["min_val"], p["max_val"])
    raise KeyError(name)


def torch_fwd_bwd(name, entry, torch, x_np):
    x = torch.from_numpy(x_np.copy())
    ones = torch.ones_like(x)
    if name == "pau":
        p = entry.param_values()
        a = torch.tensor([p[f"a{k}"] for k in range(6)], dtype=x.dtype, requires_grad=True)
        b = torch.tensor([p[f"b{k}"] for k in range(1, 5)], dtype=x.dtype, requires_grad=True)

        def run():
            xr = x.detach().requires_grad_(True)
            a.grad = b.grad = None
            num = a[5]
            for k in range(4, -1, -1):
                num = num * xr + a[k]
            ax = xr.abs()
            den = b[3].abs()
            for k in range(2, -1, -1):
                den = den * ax + b[k].abs()
            y = num / (1 + ax * den)
            y.backward(ones)
            return y, xr.grad

        return run
    f = torch_forms(name, entry, torch)

    def run():
        xr = x.detach().requires_grad_(True)
        y = f(xr)
        y.backward(ones)
        return y, xr.grad

    return run


# -- SymPy lambdify -------------------------------------------------------------------------

def lambdified(entry):
    import sympy as sp

    value = entry.numeric_expr()
    deriv = entry.derivative(numeric=True)
    x = entry.symbol
    custom = {
        "sigmoid": _sigmoid,
        "softplus": lambda u: np.logaddexp(0, u),
        "erfc": sc.erfc,
    }
    return sp.lambdify([x], [value, deriv], modules=[custom, "scipy", "numpy"])


# -- compile times (fresh processes) ------------------------------------------------------------

COLD = textwrap.dedent(
    """
    import json, sys, time
    import numpy as np, numba
    import funclib
    @numba.njit(cache=False)
    def _init(a):
        return a + 1
    t = time.perf_counter(); _init(1); t_init = time.perf_counter() - t
    out = {"numba_init_s": t_init}
    for name in sys.argv[1].split(","):
        entry = funclib.get(name)
        for dtype in ("float32", "float64"):
            outputs = ("value", "derivative", "grad_params") if name == "pau" else ("value", "derivative")
            t = time.perf_counter()
            k = entry.kernel(dtype=dtype, outputs=outputs)
            t_gen = time.perf_counter() - t
            t = time.perf_counter(); k.compile(parallel=False); t_serial = time.perf_counter() - t
            t = time.perf_counter(); k.compile(parallel=True); t_par = time.perf_counter() - t
            out[f"{name}/{dtype}"] = {"codegen_s": t_gen, "compile_serial_s": t_serial, "compile_parallel_s": t_par}
    print(json.dumps(out))
    """
)

WARM = textwrap.dedent(
    """
    import json, sys, time
    t0 = time.perf_counter()
    import numpy as np, numba
    import funclib
    t_import = time.perf_counter() - t0
    name, dtype = sys.argv[1], sys.argv[2]
    entry = funclib.get(name)
    x = np.linspace(-3, 3, 1000).astype(dtype)
    if sys.argv[3] == "after-init":
        @numba.njit  # not cache=True: a function from `python -c` has no file to cache to
        def _init(a):
            return a + 1
        _init(1)
    t = time.perf_counter()
    k = entry.kernel(dtype=dtype)
    k(x)
    first = time.perf_counter() - t
    print(json.dumps({"import_s": t_import, "first_call_s": first, "from_cache": not k.generated}))
    """
)


def compile_times(names: list[str]) -> dict:
    with tempfile.TemporaryDirectory() as cache, tempfile.TemporaryDirectory() as numba_cache:
        env = {**os.environ, "FUNCLIB_CACHE_DIR": cache, "NUMBA_CACHE_DIR": numba_cache}
        out = subprocess.run([sys.executable, "-c", COLD, ",".join(names)], env=env, capture_output=True,
                             text=True, check=True)
        cold = json.loads(out.stdout.strip().splitlines()[-1])
        warm = {}
        for name in names:
            for dtype in ("float32", "float64"):
                for mode in ("including-numba-init", "after-init"):
                    r = subprocess.run([sys.executable, "-c", WARM, name, dtype, mode], env=env, capture_output=True,
                                       text=True, check=True)
                    warm[f"{name}/{dtype}/{mode}"] = json.loads(r.stdout.strip().splitlines()[-1])
    return {"cold": cold, "warm": warm}


# -- main -----------------------------------------------------------------------------------

def run(size: int, repeat: int, names: list[str]) -> dict:
    import numba
    import torch

    threads = numba.get_num_threads()
    torch.set_num_threads(threads)
    rng = np.random.default_rng(0)
    results: dict = {
        "machine": {
            "python": platform.python_version(),
            "numpy": np.__version__,
            "numba": numba.__version__,
            "torch": torch.__version__,
            "cpu": cpu_model(),
            "llvm_cpu": llvm_cpu_name(),
            "cores": os.cpu_count(),
            "threads": threads,
            "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None,
        },
        "size": size,
        "repeat": repeat,
        "functions": {},
    }
    for dtype in ("float32", "float64"):
        x = (rng.normal(0, 3, size)).astype(dtype)
        itemsize = np.dtype(dtype).itemsize
        src = np.ones(3 * size // 2, dtype)
        dst = np.empty_like(src)
        t_copy = best_time(lambda: np.copyto(dst, src), repeat)
        results.setdefault("copy", {})[dtype] = {"seconds": t_copy, "gbytes_per_s": 3 * size * itemsize / t_copy / 1e9}
        for name in names:
            entry = funclib.get(name)
            outputs = ("value", "derivative", "grad_params") if name == "pau" else ("value", "derivative")
            fast = entry.kernel(dtype=dtype, outputs=outputs)
            libm = entry.kernel(dtype=dtype, outputs=outputs, accuracy="libm")
            key = f"{name}/{dtype}"
            row = {"funclib": best_time(lambda: fast(x), repeat, f"{key}/funclib"),
                   "libm": best_time(lambda: libm(x), repeat, f"{key}/libm")}
            row["torch"] = best_time(torch_fwd_bwd(name, entry, torch, x), repeat, f"{key}/torch")
            slow = max(1, repeat // 2)
            lam = lambdified(entry)
            row["lambdify"] = best_time(lambda: lam(x), slow)
            hand = numpy_forms(name, entry)
            row["numpy"] = best_time(lambda: hand(x), slow)
            row["copy"] = t_copy
            ratios = {k: v / row["funclib"] for k, v in row.items() if k != "funclib"}
            ratios["fraction_of_copy_bandwidth"] = t_copy / row["funclib"]
            spread = {k: max(SPREADS[f"{key}/{k}"]) / min(SPREADS[f"{key}/{k}"]) for k in ("funclib", "libm", "torch")}
            results["functions"][key] = {"seconds": row, "ratios": ratios, "spread_max_over_min": spread,
                                         "times": {k: SPREADS[f"{key}/{k}"] for k in spread}}
            print(f"{name:<11} {dtype}  funclib {row['funclib'] * 1e3:8.1f} ms (spread {spread['funclib']:.2f})  "
                  + "  ".join(f"{k} x{r:6.2f}" for k, r in ratios.items() if k != "copy"), flush=True)
    summary = {}
    for dtype in ("float32", "float64"):
        rows = {k.split("/")[0]: v for k, v in results["functions"].items() if k.endswith(dtype)}
        trans = [r["ratios"] for n, r in rows.items() if n in TRANSCENDENTAL]
        summary[dtype] = {
            "median_speedup_vs_torch_transcendental": statistics.median(r["torch"] for r in trans) if trans else None,
            "median_speedup_vs_lambdify_transcendental": statistics.median(r["lambdify"] for r in trans) if trans else None,
            "median_speedup_vs_numpy_transcendental": statistics.median(r["numpy"] for r in trans) if trans else None,
            "piecewise_linear_fraction_of_copy_bandwidth": {n: r["ratios"]["fraction_of_copy_bandwidth"]
                                                            for n, r in rows.items() if n in PIECEWISE_LINEAR},
        }
    results["summary"] = summary
    return results


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=10**7)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--only", help="comma-separated subset of " + ",".join(FUNCTIONS))
    parser.add_argument("--no-compile-times", action="store_true")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    names = args.only.split(",") if args.only else FUNCTIONS
    available = {e.id for e in funclib.entries()}
    missing = [n for n in names if n not in available]
    names = [n for n in names if n in available]
    results = run(args.size, args.repeat, names)
    results["missing_entries"] = missing
    if not args.no_compile_times:
        results["compile"] = compile_times(names)
        for key, v in results["compile"]["cold"].items():
            if isinstance(v, dict):
                print(f"cold compile {key:<22} codegen {v['codegen_s']:.2f} s  serial {v['compile_serial_s']:.2f} s  "
                      f"parallel {v['compile_parallel_s']:.2f} s")
        for key, v in results["compile"]["warm"].items():
            print(f"warm first call {key:<40} {v['first_call_s'] * 1e3:8.1f} ms (import {v['import_s']:.2f} s)")
    print(json.dumps(results["summary"], indent=1))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=1))
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
