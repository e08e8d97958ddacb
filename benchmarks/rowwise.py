"""Row-wise maps over 2**22 float32 values: funclib kernels against PyTorch and the entmax package.

For rows of length n in {256, 1024, 4096, 32768} (2**22 / n rows), in one run and with the
same thread count (``torch.set_num_threads(numba.get_num_threads())``):

* softmax and log-softmax: ``torch.softmax``/``torch.log_softmax`` against funclib's three
  algorithms (``three_pass``, ``online``, ``two_pass``), which are also compared with each other;
* sparsemax, 1.5-entmax and alpha-entmax (alpha = 1.5 by bisection): the ``entmax`` package's
  ``sparsemax``, ``entmax15`` and ``entmax_bisect`` (its default ``n_iter=50``) against
  ``funclib.kernels.rowwise.sparsemax`` (Condat), ``entmax15`` (exact, sort-based) and
  ``entmax_bisect``;
* value and VJP. The VJP is timed from a saved forward output on both sides: PyTorch/entmax run
  ``torch.autograd.grad(y, x, u, retain_graph=True)`` on a graph built once; funclib calls
  ``*_vjp(x, u, y=y)``.

Every time is the best of ``--repeat`` runs after a warm-up (which also compiles the Numba
kernels; the entmax package's slow calls use fewer repeats). Ratios are baseline time / funclib
time (> 1: funclib faster). Results go to ``benchmarks/results/rowwise.json``.

Run: ``python benchmarks/rowwise.py [--repeat R] [--sizes 256,1024] [--total-log2 22]``.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numba
import numpy as np
import torch

import entmax
from funclib.kernels import rowwise as rw
from hostinfo import call_times, cpu_model, llvm_cpu_name  # benchmarks/ is on sys.path when a script runs

RESULTS = Path(__file__).resolve().parent / "results" / "rowwise.json"

#: Issue targets: baseline / funclib ratio that each map's value must reach.
TARGETS = {"softmax": 1.0, "log_softmax": 1.0, "sparsemax": 10.0, "entmax15": 5.0, "entmax_bisect": 5.0}


def timed(fn, repeat: int, spreads: dict, key: str) -> float:
    """Best wall time of ``repeat`` calls after a warm-up; the spread (max/min) goes to
    ``spreads[key]``."""
    times = call_times(fn, repeat)
    spreads[key] = max(times) / min(times)
    return min(times)


def torch_vjp(fn, x: np.ndarray, u: np.ndarray):
    """A closure timing the backward of ``fn`` from a graph built once."""
    xt = torch.from_numpy(x).requires_grad_(True)
    y = fn(xt)
    ut = torch.from_numpy(u)
    return lambda: torch.autograd.grad(y, xt, ut, retain_graph=True)


def bench_size(n: int, total: int, repeat: int, slow_repeat: int) -> list[dict]:
    rows = total // n
    rng = np.random.default_rng(n)
    x = rng.standard_normal((rows, n)).astype(np.float32)
    u = rng.standard_normal((rows, n)).astype(np.float32)
    xt = torch.from_numpy(x)
    out = []

    spreads: dict = {}

    def record(name, kind, baseline_name, t_base, variants):
        rec = {"map": name, "kind": kind, "n": n, "rows": rows, "baseline": baseline_name, "baseline_s": t_base,
               "funclib_s": variants, "spread_max_over_min": dict(spreads)}
        spreads.clear()
        rec["ratio"] = {k: t_base / v for k, v in variants.items()}
        out.append(rec)
        ratios = "  ".join(f"{k} {t * 1e3:8.2f} ms ({t_base / t:6.2f}x, spread {rec['spread_max_over_min'].get(k, 1):.2f})"
                           for k, t in variants.items())
        print(f"n={n:6d} {name:14s} {kind:5s} {baseline_name:22s} {t_base * 1e3:9.2f} ms | {ratios}", flush=True)

    # softmax and log-softmax: three algorithms each.
    for name, f_ours, f_torch, f_vjp in (
        ("softmax", rw.softmax, lambda t: torch.softmax(t, -1), rw.softmax_vjp),
        ("log_softmax", rw.log_softmax, lambda t: torch.log_softmax(t, -1), rw.log_softmax_vjp),
    ):
        t_base = timed(lambda: f_torch(xt), repeat, spreads, "baseline")
        variants = {a: timed(lambda a=a: f_ours(x, algorithm=a), repeat, spreads, a) for a in rw.SOFTMAX_ALGORITHMS}
        record(name, "value", f"torch.{name}", t_base, variants)
        y = f_ours(x)
        t_base = timed(torch_vjp(f_torch, x, u), repeat, spreads, "baseline")
        record(name, "vjp", f"torch.{name} backward", t_base,
               {"closed_form": timed(lambda: f_vjp(x, u, y=y), repeat, spreads, "closed_form")})

    # sparse maps against the entmax package.
    for name, f_ours, f_pkg, f_vjp in (
        ("sparsemax", rw.sparsemax, lambda t: entmax.sparsemax(t, -1), rw.sparsemax_vjp),
        ("entmax15", rw.entmax15, lambda t: entmax.entmax15(t, -1), rw.entmax15_vjp),
        ("entmax_bisect", lambda a: rw.entmax_bisect(a, 1.5), lambda t: entmax.entmax_bisect(t, 1.5, -1),
         lambda a, g, y: rw.entmax_bisect_vjp(a, 1.5, g, y=y)),
    ):
        t_base = timed(lambda: f_pkg(xt), slow_repeat, spreads, "baseline")
        t_ours = timed(lambda: f_ours(x), repeat, spreads, "funclib")
        record(name, "value", f"entmax.{name}", t_base, {"funclib": t_ours})
        y = f_ours(x)
        t_base = timed(torch_vjp(f_pkg, x, u), slow_repeat, spreads, "baseline")
        t_ours = timed(lambda: f_vjp(x, u, y=y), repeat, spreads, "funclib")
        record(name, "vjp", f"entmax.{name} backward", t_base, {"funclib": t_ours})
    return out


def summary(results: list[dict]) -> dict:
    """Per map: the worst (smallest) value ratio over n, for the default algorithm, and the target."""
    summ = {}
    for name, target in TARGETS.items():
        vals = [r for r in results if r["map"] == name and r["kind"] == "value"]
        key = "three_pass" if name in ("softmax", "log_softmax") else "funclib"
        worst = min(r["ratio"][key] for r in vals)
        best_algo = min(max(r["ratio"].values()) for r in vals)
        summ[name] = {"target_ratio": target, "worst_ratio_default": worst, "worst_ratio_best_algorithm": best_algo,
                      "met": worst >= target}
    return summ


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--slow-repeat", type=int, default=2, help="repeats of the entmax package's calls")
    ap.add_argument("--sizes", default="256,1024,4096,32768")
    ap.add_argument("--total-log2", type=int, default=22)
    ap.add_argument("--output", default=str(RESULTS))
    args = ap.parse_args(argv)
    threads = numba.get_num_threads()
    torch.set_num_threads(threads)
    total = 2**args.total_log2
    load0 = os.getloadavg()
    print(f"{total} float32 values, {threads} threads (numba and torch), load average {load0[0]:.2f}", flush=True)
    results = []
    t0 = time.time()
    for n in (int(s) for s in args.sizes.split(",")):
        results.extend(bench_size(n, total, args.repeat, args.slow_repeat))
    summ = summary(results)
    print("\nworst value ratio over n (baseline time / funclib time):")
    for name, s in summ.items():
        print(f"  {name:14s} {s['worst_ratio_default']:7.2f}x (best algorithm {s['worst_ratio_best_algorithm']:7.2f}x)"
              f"  target >= {s['target_ratio']}x: {'met' if s['met'] else 'NOT met'}")
    load1 = os.getloadavg()
    doc = {
        "benchmark": "rowwise",
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "total_values": total,
        "dtype": "float32",
        "threads": threads,
        "machine": {"cpu": cpu_model(), "llvm_cpu": llvm_cpu_name(), "cpu_count": os.cpu_count(),
                    "load_average_start": load0, "load_average_end": load1},
        "versions": {"numpy": np.__version__, "numba": numba.__version__, "torch": torch.__version__,
                     "entmax": getattr(entmax, "__version__", "unknown")},
        "wall_s": time.time() - t0,
        "results": results,
        "summary": summ,
    }
    path = Path(args.output)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
