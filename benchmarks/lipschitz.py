"""Benchmark of funclib.verify (LipSDP): formulation, solvers, scale, tightness.

Parts (each case runs in a forked child, so time and peak memory are its own):

1. ``formulation``: the naive cvxpy formulation of the public Python ports (block matrices A, B
   multiplied by a ``cp.diag`` variable, ``[A;B]ᵀ Q [A;B]``) against funclib's sparse affine
   formulation with the *same* solver, and funclib's structured interior-point solver, on
   random ReLU MLPs of growing width. The naive formulation gets a per-case time limit.
2. ``target``: the 784-500-200-50-10 ReLU MLP (750 hidden neurons): certified LipSDP-Neuron
   bound, time, peak memory, the dual bound on the SDP optimum (the certified distance to the
   optimum), the layer-wise closed-form bound (ECLipsE-Fast style) and the naive bound.
3. ``digits``: ReLU MLPs trained on scikit-learn's digits data (no download): certified upper
   bound vs the lower bound from real Jacobians.

Timings are wall-clock and CPU seconds on the machine that runs it; the JSON records the load
average so that runs on a shared machine can be judged. Usage::

    python benchmarks/lipschitz.py [--quick] [--naive-limit 300] [--out benchmarks/results/lipschitz.json]
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing as mp
import os
import platform
import resource
import sys
import time
import traceback
from pathlib import Path

import numpy as np


# -- helpers ---------------------------------------------------------------------------------

def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _cpu() -> float:
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def _child(conn, func, args):
    try:
        start_rss = _rss_mb()
        t0, c0 = time.perf_counter(), _cpu()
        out = func(*args)
        out.update(wall_s=time.perf_counter() - t0, cpu_s=_cpu() - c0,
                   peak_rss_mb=max(_rss_mb(), resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0),
                   start_rss_mb=start_rss)
        conn.send(out)
    except Exception as exc:  # recorded, not fatal for the benchmark
        conn.send({"error": f"{type(exc).__name__}: {exc}", "trace": traceback.format_exc(limit=4)})
    finally:
        conn.close()


def run_case(func, args, limit: float | None):
    """Run func(*args) -> dict in a forked child with a wall-clock limit."""
    ctx = mp.get_context("fork")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(child, func, args))
    t0 = time.perf_counter()
    proc.start()
    child.close()
    if not parent.poll(limit):
        proc.kill()
        proc.join()
        return {"status": "time_limit", "wall_s": time.perf_counter() - t0, "limit_s": limit}
    try:
        out = parent.recv()
    except EOFError:
        out = {"error": "child died (out of memory?)"}
    proc.join()
    return out


def random_mlp(dims, seed=0):
    from funclib.verify import Network

    rng = np.random.default_rng(seed)
    ws = [rng.standard_normal((dims[k + 1], dims[k])) / math.sqrt(dims[k]) for k in range(len(dims) - 1)]
    return Network(ws, "relu")


# -- the cases -------------------------------------------------------------------------------

def naive_cvxpy(dims, seed, solver):
    """LipSDP-Neuron as written in the public Python ports: products of cvxpy expressions."""
    import cvxpy as cp
    from scipy.linalg import block_diag

    net = random_mlp(dims, seed)
    W = net.weights
    alpha, beta = 0.0, 1.0
    n0 = dims[0]
    N = sum(dims[1:-1])
    t0 = time.perf_counter()
    lam = cp.Variable(N, nonneg=True)
    rho = cp.Variable(nonneg=True)
    T = cp.diag(lam)
    A = np.hstack([block_diag(*W[:-1]), np.zeros((N, dims[-2]))])
    B = np.hstack([np.zeros((N, n0)), np.eye(N)])
    AB = np.vstack([A, B])
    Q = cp.bmat([[-2 * alpha * beta * T, (alpha + beta) * T], [(alpha + beta) * T, -2 * T]])
    size = n0 + N
    E = np.zeros((size, size))
    E[:n0, :n0] = np.eye(n0)
    Cout = np.zeros((size, size))
    Cout[size - dims[-2]:, size - dims[-2]:] = W[-1].T @ W[-1]
    M = AB.T @ Q @ AB - rho * E + Cout
    prob = cp.Problem(cp.Minimize(rho), [M << 0])
    prob.solve(solver=solver)
    return {"status": prob.status, "bound": math.sqrt(max(rho.value, 0.0)) if rho.value is not None else None,
            "time_s": time.perf_counter() - t0, "certified": False}


def ours(dims, seed, solver, rel_gap=1e-3):
    from funclib.verify import lipschitz

    net = random_mlp(dims, seed)
    t0 = time.perf_counter()
    res = lipschitz(net, solver=solver, lower=False, rel_gap=rel_gap)
    return {"time_s": time.perf_counter() - t0, "status": res.status, "bound": res.value, "certified": res.certified, "raw": res.raw_solver_value,
            "sdp_lower": res.sdp_lower, "closed_form": res.closed_form, "naive": res.naive,
            "lmi_size": res.lmi_size, "solve_s": res.solve_seconds, "solver": res.solver}


def target_case(dims, seed, rel_gap):
    from funclib.verify import lipschitz

    net = random_mlp(dims, seed)
    history = []
    res = lipschitz(net, solver="structured", rel_gap=rel_gap, lower=True,
                    progress=lambda e: history.append({k: e[k] for k in ("iteration", "rho", "gap", "seconds") if k in e}))
    gap = None if res.sdp_lower is None else res.value / res.sdp_lower - 1.0
    return {"status": res.status, "bound": res.value, "certified": res.certified, "sdp_lower": res.sdp_lower,
            "within_optimum": gap, "closed_form": res.closed_form, "naive": res.naive, "lower": res.lower,
            "lower_method": res.lower_method, "ratio_upper_lower": res.ratio_upper_lower,
            "naive_over_upper": res.naive / res.value, "closed_over_upper": res.closed_form / res.value,
            "solve_s": res.solve_seconds, "total_s": res.seconds, "iterations": len(history),
            "lmi_size": res.lmi_size, "history": history}


def digits_case(hidden, alpha_l2, seed):
    from sklearn.datasets import load_digits
    from sklearn.neural_network import MLPClassifier

    from funclib.verify import Network, lipschitz

    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    clf = MLPClassifier(hidden_layer_sizes=hidden, alpha=alpha_l2, max_iter=400, random_state=seed)
    clf.fit(X[:1400], y[:1400])
    acc = float(clf.score(X[1400:], y[1400:]))
    ws = [c.T for c in clf.coefs_]
    bs = list(clf.intercepts_)
    net = Network(ws, "relu", bs)
    res = lipschitz(net, lower=True)
    return {"hidden": list(hidden), "l2": alpha_l2, "test_accuracy": acc, "bound": res.value,
            "certified": res.certified, "lower": res.lower, "ratio_upper_lower": res.ratio_upper_lower,
            "naive": res.naive, "closed_form": res.closed_form, "solver": res.solver, "status": res.status,
            "lower_method": res.lower_method}


# -- main ------------------------------------------------------------------------------------

def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes only (a smoke run)")
    ap.add_argument("--naive-limit", type=float, default=300.0, help="seconds per naive cvxpy case")
    ap.add_argument("--target-limit", type=float, default=900.0)
    ap.add_argument("--solver", default="SDPA", help="the cvxpy solver for the formulation comparison")
    ap.add_argument("--parts", default="formulation,target,digits")
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "lipschitz.json"))
    args = ap.parse_args(argv)
    parts = set(args.parts.split(","))
    # import everything once so that the forked cases time only their own work
    import cvxpy  # noqa: F401

    import funclib
    from funclib.verify import lipschitz  # noqa: F401

    funclib.get("relu").properties()
    report = {
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "python": sys.version.split()[0],
                    "loadavg_start": os.getloadavg(),
                    "OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS")},
        "started": time.strftime("%Y-%m-%d %H:%M:%S"),
    }

    def show(*a):
        print(*a, flush=True)

    if "formulation" in parts:
        widths = [10, 25, 50] if args.quick else [10, 25, 50, 100, 150]
        rows = []
        naive_alive = True
        for h in widths:
            dims = (20, h, h, 10)
            row = {"dims": dims, "hidden": 2 * h}
            row["ours_same_solver"] = run_case(ours, (dims, 0, args.solver), args.naive_limit)
            row["ours_structured"] = run_case(ours, (dims, 0, "structured"), args.naive_limit)
            if naive_alive:
                row["naive_same_solver"] = run_case(naive_cvxpy, (dims, 0, args.solver), args.naive_limit)
                naive_alive = row["naive_same_solver"].get("status") != "time_limit"
            else:
                row["naive_same_solver"] = {"status": "skipped (previous size hit the limit)"}
            nv = row["naive_same_solver"]
            if "time_s" in nv and nv.get("bound"):
                row["speedup_same_solver"] = nv["time_s"] / row["ours_same_solver"]["time_s"]
                row["speedup_structured"] = nv["time_s"] / row["ours_structured"]["time_s"]
            rows.append(row)
            show(f"[formulation] hidden {2 * h}: naive {nv.get('time_s', nv.get('wall_s', float('nan'))):.1f}s "
                 f"({nv.get('status')}, bound {nv.get('bound')}), ours/{args.solver} "
                 f"{row['ours_same_solver'].get('time_s', float('nan')):.1f}s (bound {row['ours_same_solver'].get('bound')}), "
                 f"structured {row['ours_structured'].get('time_s', float('nan')):.1f}s "
                 f"(bound {row['ours_structured'].get('bound')})")
        report["formulation"] = rows

    if "target" in parts:
        dims = (100, 60, 30, 20, 10) if args.quick else (784, 500, 200, 50, 10)
        out = run_case(target_case, (dims, 0, 1e-2), args.target_limit)
        out["dims"] = dims
        report["target"] = out
        show(f"[target] {dims}: {json.dumps({k: v for k, v in out.items() if k != 'history'})}")

    if "digits" in parts:
        configs = [((32,), 1e-4), ((64,), 1e-4), ((32, 32), 1e-4), ((64, 32), 1e-3)]
        if args.quick:
            configs = configs[:2]
        rows = []
        for hidden, l2 in configs:
            out = run_case(digits_case, (hidden, l2, 0), 900.0)
            rows.append(out)
            show(f"[digits] {hidden} l2={l2}: {json.dumps(out)}")
        report["digits"] = rows

    report["loadavg_end"] = os.getloadavg()
    out_path = Path(args.out)
    if out_path.exists() and parts != {"formulation", "target", "digits"}:
        # a partial run updates the parts it ran and keeps the others
        old = json.loads(out_path.read_text())
        old.setdefault("partial_runs", []).append({"parts": sorted(parts), "machine": report["machine"],
                                                   "started": report["started"], "loadavg_end": report["loadavg_end"]})
        for key in parts:
            old[key] = report[key]
        report = old
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=1, default=float))
    show(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
