"""Benchmark of certified robustness radii (funclib.verify.robustness) on digits CNNs.

Parts:

1. ``certify``: a small CNN trained on scikit-learn's 8x8 digits (pixels in [0, 1], test
   accuracy >= 95 %), 400 test inputs: certified accuracy at several ε (ℓ2) and wall time for
   each method (``global``, ``pairwise``), against what a user would otherwise compute: the radius
   margin / (√2 Π‖W_k‖₂) from the naive product of spectral norms. A PGD ℓ2 attack gives the
   empirical (upper) side: the fraction of inputs it breaks at ε.
2. ``local`` (``--local N``): the local method on the first N inputs against ``global`` and
   ``pairwise`` on the same inputs, for the CNN and MLPs 64-32-32-10 (ReLU, GELU): certified
   accuracy, the ratio local/global per ε, the time split into LipSDP solves (the pairwise
   constants ``local`` starts from) and the bisection with bounds on the balls, and a PGD check
   at 0.999 x the local radius.
3. ``scale``: the certified global LipSDP bound of a CNN with 1280 hidden neurons (unrolled
   convolutions), wall/CPU time, peak memory, the certified distance to the SDP optimum.
4. ``threads`` (``--threads``): one LipSDP solve of the CNN (global and one class pair) with
   the library's BLAS policy (one thread for small LMIs, :mod:`funclib.verify.threads`) against
   the BLAS default (all cores), alternating, same process: wall and CPU time per solve.
5. ``cli`` (``--cli``): ``funclib certify MODEL --data X.npz --method local [--norm]`` on the
   CNN's 400 test inputs, end to end in a subprocess (loading, 1 + 46 LipSDP solves, the local
   bisection), against the 10-minute target.
6. ``plain`` (``--plain N``): a second small CNN trained the plain way the issue describes
   (:func:`plain_cnn`: conv-ReLU-conv-ReLU-linear, cross-entropy, Adam at its default step, no
   weight decay or other regularization): ``global`` / ``pairwise`` / ``local`` / ``crown`` on the
   first N test inputs with times, the PGD ceiling per ε, PGD at 2 x the global radii and at
   0.999 x the local radii, and the unstable ReLUs on the ε = 0.1 balls of the inputs ``local``
   does or does not certify there.
7. ``ablation`` (``--ablation``): training recipes (step size, weight decay, epochs, one or two
   convolutions) against test accuracy, ``global`` certified accuracy and the PGD ceiling: why
   the CNN of part 1 is certified far above the issue's "about half".

Each case runs in a forked child (its own time and peak memory). Timings are repeated
(``--repeat``) and the spread is recorded with the CPU model and the load average.

    python benchmarks/robustness.py [--quick] [--repeat 2] [--local N] [--out benchmarks/results/robustness.json]
    python benchmarks/robustness.py --only-local --local 400 [--arch cnn-relu --arch mlp-gelu]  # local cases
    python benchmarks/robustness.py --only-extra --threads 3 --cli l2 [--cli linf]  # parts 4 and 5
    python benchmarks/robustness.py --plain 100  # part 6;  --ablation: part 7 (merged into --out)
    python benchmarks/robustness.py --only-local --local 400 --arch mlp-relu --local-key local_crown_margins
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
from pathlib import Path

import numpy as np
from hostinfo import cpu_model  # benchmarks/ is on sys.path when a script runs

EPS = (0.05, 0.1, 0.2, 0.3, 0.5)
ARCHS = ("cnn-relu", "mlp-relu", "mlp-gelu")




def _child(conn, func, args):
    try:
        t0 = time.perf_counter()
        c0 = resource.getrusage(resource.RUSAGE_SELF)
        out = func(*args)
        c1 = resource.getrusage(resource.RUSAGE_SELF)
        kids = resource.getrusage(resource.RUSAGE_CHILDREN)
        out.update(wall_s=time.perf_counter() - t0,
                   cpu_s=c1.ru_utime + c1.ru_stime - c0.ru_utime - c0.ru_stime + kids.ru_utime + kids.ru_stime,
                   peak_rss_mb=max(c1.ru_maxrss, kids.ru_maxrss) / 1024.0)
        conn.send(out)
    except Exception as exc:  # recorded, not fatal
        conn.send({"error": f"{type(exc).__name__}: {exc}"})


def run_case(func, *args):
    ctx = mp.get_context("fork")
    a, b = ctx.Pipe(duplex=False)
    p = ctx.Process(target=_child, args=(b, func, args))
    p.start()
    out = a.recv()
    p.join()
    return out


def digits():
    from sklearn.datasets import load_digits

    d = load_digits()
    X = (d.data / 16.0).astype(np.float32).reshape(-1, 1, 8, 8)
    idx = np.random.default_rng(0).permutation(len(X))
    return X[idx[:1397]], d.target[idx[:1397]], X[idx[1397:]], d.target[idx[1397:]]


def train_digits(build, epochs: int, lr: float = 5e-3, weight_decay: float = 1e-4):
    """``build(torch.nn)`` trained on the digits with Adam (cross-entropy, batches of 128, seed 0, one
    thread): ``(model in float64, eval mode; test inputs; test labels; test accuracy)``."""
    import torch

    torch.manual_seed(0)
    torch.set_num_threads(1)
    Xtr, ytr, Xte, yte = digits()
    model = build(torch.nn)
    opt = torch.optim.Adam(model.parameters(), lr, weight_decay=weight_decay)
    Xt, yt = torch.tensor(Xtr), torch.tensor(ytr)
    gen = torch.Generator().manual_seed(0)
    for _ in range(epochs):
        for batch in torch.randperm(len(yt), generator=gen).split(128):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(Xt[batch]), yt[batch]).backward()
            opt.step()
    model = model.double().eval()
    with torch.no_grad():
        acc = float((model(torch.tensor(Xte, dtype=torch.float64)).argmax(1).numpy() == yte).mean())
    return model, Xte.astype(np.float64), yte, acc


def small_cnn(epochs: int):
    """Conv(1->8, 3x3, stride 2) - ReLU - Linear(128 -> 10), trained with Adam (seconds)."""
    return train_digits(lambda nn: nn.Sequential(nn.Conv2d(1, 8, 3, stride=2, padding=1), nn.ReLU(), nn.Flatten(),
                                                 nn.Linear(128, 10)), epochs)


def plain_cnn(epochs: int = 40, lr: float = 1e-3, weight_decay: float = 0.0, two_convs: bool = True):
    """Conv(1->8, 3x3, pad 1) - ReLU - Conv(8->8, 3x3, stride 2, pad 1) - ReLU - Linear(128 -> 10),
    trained the plain way: cross-entropy, Adam at PyTorch's default step (1e-3), no weight decay,
    no Lipschitz or other regularization, the same data, batches and seed as :func:`small_cnn`.
    The arguments vary the recipe for the ablation (``two_convs=False``: :func:`small_cnn`'s layers)."""

    def build(nn):
        convs = [nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, stride=2, padding=1)] if two_convs \
            else [nn.Conv2d(1, 8, 3, stride=2, padding=1)]
        return nn.Sequential(*convs, nn.ReLU(), nn.Flatten(), nn.Linear(128, 10))

    return train_digits(build, epochs, lr, weight_decay)


def pgd_attack(model, X, y, radii, steps=50):
    """A PGD l2 attack (margin loss) within per-input ``radii``: ``(correct, changed)``, the inputs
    classified correctly before the attack and those whose prediction some step changed."""
    import torch

    x0 = torch.tensor(X).reshape(len(X), -1)
    r = torch.tensor(np.broadcast_to(radii, (len(X),)).copy())[:, None]
    labels = torch.tensor(y)
    fwd = lambda v: model(v.reshape((-1,) + tuple(X.shape[1:])))  # noqa: E731
    correct = fwd(x0).argmax(1) == labels
    gen = torch.Generator().manual_seed(0)
    delta = torch.randn(x0.shape, dtype=torch.float64, generator=gen)
    delta = delta / delta.norm(dim=1, keepdim=True) * r * 0.5
    changed = torch.zeros(len(y), dtype=torch.bool)
    for _ in range(steps):
        delta.requires_grad_(True)
        out = fwd(x0 + delta)
        true = out.gather(1, labels[:, None])[:, 0]
        other = out.masked_fill(torch.nn.functional.one_hot(labels, 10).bool(), -math.inf).max(1).values
        (other - true).sum().backward()
        with torch.no_grad():
            g = delta.grad / delta.grad.norm(dim=1, keepdim=True).clamp_min(1e-30)
            delta = delta + 2.5 * r / steps * g
            delta = delta * torch.clamp(r / delta.norm(dim=1, keepdim=True).clamp_min(1e-30), max=1.0)
            changed |= fwd(x0 + delta).argmax(1) != labels
    return correct.numpy(), changed.numpy()


def pgd_broken(model, X, y, eps, steps=50):
    """Fraction of inputs whose prediction a PGD l2 attack (margin loss) changes within eps
    (misclassified inputs count as broken)."""
    correct, changed = pgd_attack(model, X, y, eps, steps)
    return float(np.mean(~correct | changed))


def pgd_broken_radii(model, X, y, radii, steps=50):
    """Inputs (correctly classified) whose prediction PGD changes within their own radius (must be 0)."""
    correct, changed = pgd_attack(model, X, y, radii, steps)
    return int(np.sum(changed & correct))


def pgd_ceiling(model, X, y, grid) -> dict:
    """Per ε of ``grid``: the fraction of inputs PGD leaves correct (an upper bound of any
    certified accuracy)."""
    return {f"{e:g}": 1.0 - pgd_broken(model, X, y, e) for e in grid}


def certified_table(radii: dict, ok: np.ndarray, grid) -> tuple[dict, dict]:
    """Certified accuracy per method of ``radii`` (which holds ``"global"``) and ε of ``grid``
    (inputs where ``ok`` with a radius above ε), and each other method's ratio to ``global``."""
    cert = {m: {f"{e:g}": float(np.mean(ok & (r > e))) for e in grid} for m, r in radii.items()}
    ratio = {m: {f"{e:g}": (cert[m][f"{e:g}"] / cert["global"][f"{e:g}"] if cert["global"][f"{e:g}"] else None)
                 for e in grid} for m in radii if m != "global"}
    return cert, ratio


def certify_case(method: str, epochs: int):
    from funclib.verify import from_torch, robustness

    model, X, y, acc = small_cnn(epochs)
    net = from_torch(model, input_shape=(1, 8, 8))
    t0 = time.perf_counter()
    if method == "naive":
        from funclib.verify.robustness import _margins

        norms = math.prod(float(np.linalg.norm(w.toarray() if hasattr(w, "toarray") else w, 2)) for w in net.weights)
        pred, _, low = _margins(net, X.reshape(len(X), -1), y)
        low[np.arange(len(y)), y] = np.inf
        radii = np.where(pred == y, np.maximum(low.min(1), 0) / (math.sqrt(2) * norms), 0.0)
        cert = {f"{e:g}": float(np.mean(radii > e)) for e in EPS}
        return {"method": method, "test_accuracy": acc, "certified_accuracy": cert, "seconds": time.perf_counter() - t0,
                "lipschitz": norms, "n_inputs": len(y), "median_radius": float(np.median(radii[pred == y]))}
    res = robustness(model, X, y, method=method)
    out = {"method": method, "test_accuracy": acc, "seconds": time.perf_counter() - t0, "lipschitz": res.lipschitz,
           "n_inputs": len(y), "n_solves": len(res.solves),
           "certified_accuracy": {f"{e:g}": res.certified_accuracy(e) for e in EPS},
           "median_radius": float(np.median(res.radii[res.predictions == y])),
           "radii": [float(r) for r in res.radii]}
    if method == "global":
        out["pgd_broken"] = {f"{e:g}": pgd_broken(model, X, y, e) for e in EPS}
        out["lipschitz_width"] = net.dims
    return out


def small_mlp(act: str, epochs: int):
    """Linear(64->32) - act - Linear(32->32) - act - Linear(32->10), trained with Adam (seconds)."""

    def build(nn):
        layer = {"relu": nn.ReLU, "gelu": nn.GELU}[act]
        return nn.Sequential(nn.Flatten(), nn.Linear(64, 32), layer(), nn.Linear(32, 32), layer(), nn.Linear(32, 10))

    return train_digits(build, epochs)


def local_case(arch: str, n_inputs: int, steps: int, bounds: str, epochs: int):
    """``local`` against ``global`` and ``pairwise`` on the same inputs; ``pairwise`` radii come from
    the same run (``local`` starts from them), its LipSDP solves timed separately."""
    from funclib.verify import from_torch, robustness

    model, X, y, acc = small_cnn(epochs) if arch == "cnn-relu" else small_mlp(arch.split("-")[1], epochs)
    X, y = X[:n_inputs], y[:n_inputs]
    net = from_torch(model, input_shape=(1, 8, 8))
    t0 = time.perf_counter()
    glob = robustness(net, X, y, method="global")
    t_glob = time.perf_counter() - t0
    t0 = time.perf_counter()
    res = robustness(net, X, y, method="local", local_steps=steps, local_bounds=bounds)
    t_local = time.perf_counter() - t0
    t_sdp = sum(s.get("seconds", 0.0) for s in res.solves)
    pair = res.baseline_radii  # the pairwise radii local starts from (every needed pair solved)
    ok = res.predictions == y
    t0 = time.perf_counter()
    crown = robustness(net, X, y, method="crown").radii  # for reference
    t_crown = time.perf_counter() - t0
    cert, over = certified_table({"global": glob.radii, "pairwise": pair, "local": res.radii, "crown": crown}, ok,
                                 EPS + (0.7,))
    cert["pgd_ceiling"] = pgd_ceiling(model, X, y, EPS + (0.7,))
    ratio = over["local"]
    return {"arch": arch, "dims": net.dims, "test_accuracy": acc, "n_inputs": n_inputs, "steps": steps,
            "bounds": bounds, "certified_accuracy": cert, "local_over_global": ratio,
            "seconds_global": t_glob, "seconds_crown": t_crown, "seconds_local_total": t_local,
            "seconds_lipsdp_solves": t_sdp,
            "seconds_local_bisection": t_local - t_sdp,
            "median_radius_ratio_local_over_pairwise": float(np.median(res.radii[ok] / pair[ok])),
            "max_radius_ratio_local_over_pairwise": float(np.max(res.radii[ok] / pair[ok])),
            "local_dominates_pairwise": bool(np.all(res.radii >= pair)),
            "pgd_broken_at_0.999_local_radius": pgd_broken_radii(model, X, y, 0.999 * res.radii),
            "radii": {"global": [float(r) for r in glob.radii], "pairwise": [float(r) for r in pair],
                      "local": [float(r) for r in res.radii]}}


def plain_case(n_inputs: int, steps: int, epochs: int):
    """The plain CNN (:func:`plain_cnn`): global / pairwise / local / crown radii on the same inputs,
    the PGD ceiling, and what limits ``local`` (unstable neurons on the ε = 0.1 balls)."""
    from funclib.verify import from_torch, robustness
    from funclib.verify.local import ball_intervals

    model, X, y, acc = plain_cnn(epochs)
    X, y = X[:n_inputs], y[:n_inputs]
    net = from_torch(model, input_shape=(1, 8, 8))
    runs, seconds = {}, {}
    for method in ("global", "pairwise", "local", "crown"):
        t0 = time.perf_counter()
        runs[method] = robustness(net, X, y, method=method, local_steps=steps)
        seconds[method] = time.perf_counter() - t0
    loc = runs["local"]
    # local solves every needed pair (its ball bounds start from them); pairwise only the limiting ones
    # summed per solve: with pair solves in threads they overlap, so this exceeds their wall time
    seconds["LipSDP solve seconds summed, local run (threads overlap)"] = sum(s.get("seconds", 0.0) for s in loc.solves)
    ok = loc.predictions == y
    pair_solves = {"pairwise": len(runs["pairwise"].solves) - 1, "local": sum(1 for s in loc.solves if s.get("pair"))}
    # the two runs solve the same pair SDPs separately: equal up to the solver's last digits
    full = np.where(ok, loc.baseline_radii, 0.0)
    rel = np.abs(runs["pairwise"].radii - full) / np.where(full > 0, full, 1.0)
    same = {"max_relative_difference": float(np.max(rel, initial=0.0)), "equal_to_1e-9": bool(np.all(rel <= 1e-9))}
    radii = {"global": runs["global"].radii, "pairwise": runs["pairwise"].radii,
             "local": loc.radii, "crown": runs["crown"].radii}
    grid = EPS + (0.7,)
    cert, ratio = certified_table(radii, ok, grid)
    broken = {f"{e:g}": pgd_broken(model, X, y, e) for e in grid}
    ceiling = {k: 1.0 - v for k, v in broken.items()}
    # what limits local at 0.1: the hidden neurons whose interval on the ball contains 0 (ReLU sector [0, 1])
    unstable = {"certified_by_local": [], "not_certified_by_local": []}
    for i in np.flatnonzero(ok & (radii["pairwise"] <= 0.1) & (radii["pairwise"] > 0)):
        boxes = ball_intervals(net, X[i].reshape(-1), 0.1, bounds="crown")
        key = "certified_by_local" if radii["local"][i] > 0.1 else "not_certified_by_local"
        unstable[key].append([int(np.sum((l < 0) & (u > 0))) for l, u in boxes])
    unstable_summary = {k: {"inputs": len(v), "median_unstable_per_layer": np.median(v, axis=0).tolist() if v else None}
                        for k, v in unstable.items()}
    ratio_lp = radii["local"][ok] / np.where(radii["pairwise"][ok] > 0, radii["pairwise"][ok], np.inf)
    return {"arch": "cnn2-relu-plain", "dims": net.dims, "training": "cross-entropy, Adam lr 1e-3, no weight decay, "
            f"{epochs} epochs, batch 128, seed 0", "test_accuracy": acc, "n_inputs": n_inputs, "steps": steps,
            "lipschitz_global": runs["global"].lipschitz, "certified_accuracy": cert, "over_global": ratio,
            "pgd_broken": broken, "pgd_ceiling": ceiling,
            "pgd_ceiling_over_global": {k: (ceiling[k] / cert["global"][k] if cert["global"][k] else None)
                                        for k in ceiling},
            "pgd_broken_at_2x_global_radius": pgd_broken_radii(model, X, y, 2 * radii["global"]),
            "pgd_broken_at_0.999_local_radius": pgd_broken_radii(model, X, y, 0.999 * radii["local"]),
            "pairwise_ge_global_every_input": bool(np.all(radii["pairwise"] >= radii["global"])),
            "local_ge_pairwise_every_input": bool(np.all(radii["local"] >= full)),  # local's own start
            "median_radius_ratio_local_over_pairwise": float(np.median(ratio_lp[np.isfinite(ratio_lp)])),
            "max_radius_ratio_local_over_pairwise": float(np.max(ratio_lp[np.isfinite(ratio_lp)])),
            "unstable_relu_on_0.1_ball": unstable_summary, "hidden_widths": net.dims[1:-1],
            "seconds": seconds, "n_lipsdp_solves": sum(1 for s in loc.solves if "value" in s),
            "pair_solves": pair_solves, "pairwise_equals_local_start": same,
            "radii": {m: [float(v) for v in r] for m, r in radii.items()}}


def ablation_case(lr: float, weight_decay: float, epochs: int, two_convs: bool):
    """Why the benchmark CNN differs from the issue's: test accuracy, ``global`` certified accuracy
    and the PGD ceiling of one training recipe (one LipSDP solve)."""
    from funclib.verify import robustness

    model, X, y, acc = plain_cnn(epochs, lr, weight_decay, two_convs)
    res = robustness(model, X, y, method="global")
    return {"lr": lr, "weight_decay": weight_decay, "epochs": epochs,
            "layers": "conv-relu-conv-relu-linear" if two_convs else "conv-relu-linear (small_cnn)",
            "test_accuracy": acc, "lipschitz": res.lipschitz,
            "global": {f"{e:g}": res.certified_accuracy(e) for e in (0.05, 0.1, 0.2)},
            "pgd_ceiling": pgd_ceiling(model, X, y, (0.05, 0.1, 0.2))}


ABLATION = ((5e-3, 1e-4, 40, False), (5e-3, 0.0, 40, False), (1e-3, 0.0, 40, False), (1e-3, 0.0, 100, False),
            (1e-3, 0.0, 40, True), (5e-3, 1e-4, 40, True))


def scale_case(seed: int):
    """Certified global bound of a CNN with 1024 + 256 hidden neurons (random He-initialized)."""
    import torch

    from funclib.verify import from_torch, lipschitz

    torch.manual_seed(seed)
    nn = torch.nn
    model = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 16, 3, stride=2, padding=1),
                          nn.ReLU(), nn.Flatten(), nn.Linear(256, 10)).double().eval()
    net = from_torch(model, input_shape=(1, 8, 8))
    nnz = [int(w.nnz) if hasattr(w, "nnz") else int(w.size) for w in net.weights]
    res = lipschitz(net, lower=False)
    return {"dims": net.dims, "hidden": net.n_hidden, "weight_nonzeros": nnz, "value": res.value,
            "certified": res.certified, "solver": res.solver, "status": res.status, "lmi_size": res.lmi_size,
            "sdp_lower": res.sdp_lower, "closed_form": res.closed_form, "naive": res.naive,
            "gap_to_optimum": None if not res.sdp_lower else res.value / res.sdp_lower - 1}


def threads_case(repeat: int, epochs: int):
    """One LipSDP solve (global, pair (0, 1)) with one BLAS thread vs the BLAS default, alternating."""
    from threadpoolctl import threadpool_info

    import funclib.verify.threads as threads
    from funclib.verify import from_torch, lipschitz
    from funclib.verify.robustness import _pair_network

    model, *_ = small_cnn(epochs)
    net = from_torch(model, input_shape=(1, 8, 8))
    nets = {"global": net, "pair(0,1)": _pair_network(net, 0, 1)}
    lipschitz(net, lower=False)  # slope bounds proven once, outside the timings
    default_max = threads.SINGLE_THREAD_MAX_N
    blas = [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]
    runs: dict = {f"{k} {policy}": {"wall_s": [], "cpu_s": []} for k in nets for policy in ("one_thread", "default")}
    values = {}
    for _ in range(repeat):
        for policy, limit in (("one_thread", default_max), ("default", -1)):
            threads.SINGLE_THREAD_MAX_N = limit
            for key, n in nets.items():
                t, c = time.perf_counter(), time.process_time()
                res = lipschitz(n, lower=False)
                runs[f"{key} {policy}"]["wall_s"].append(time.perf_counter() - t)
                runs[f"{key} {policy}"]["cpu_s"].append(time.process_time() - c)
                values[f"{key} {policy}"] = (res.value, res.solver, res.lmi_size)
    threads.SINGLE_THREAD_MAX_N = default_max
    ratio = {k: float(np.median(runs[f"{k} default"]["wall_s"]) / np.median(runs[f"{k} one_thread"]["wall_s"]))
             for k in nets}
    return {"blas_threads_default": blas, "runs": runs, "values": values,
            "median_wall_ratio_default_over_one_thread": ratio}


def cli_case(norm: str, epochs: int, workdir: str):
    """``funclib certify --method local`` on the CNN's 400 test inputs, as a subprocess."""
    import subprocess

    from funclib.verify import from_torch, save_npz

    model, X, y, acc = small_cnn(epochs)
    save_npz(from_torch(model, input_shape=(1, 8, 8)), Path(workdir) / "cnn.npz")
    np.savez(Path(workdir) / "digits400.npz", X=X, y=y)
    cmd = [sys.executable, "-m", "funclib.cli", "certify", str(Path(workdir) / "cnn.npz"), "--data",
           str(Path(workdir) / "digits400.npz"), "--method", "local", "--norm", norm, "--json"]
    for e in (EPS if norm == "l2" else (0.01, 0.02, 0.03, 0.05, 0.1)):
        cmd += ["--eps", str(e)]
    load = os.getloadavg()
    t = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t
    if proc.returncode != 0:
        return {"error": proc.stderr.strip()[-2000:], "returncode": proc.returncode}
    out = json.loads(proc.stdout)
    lipsdp = sum(s.get("seconds", 0.0) for s in out["solves"])
    base, radii = np.array(out["baseline_radii"]), np.array(out["radii"])  # pairwise: where local started
    pairwise = {k: float(np.mean(base > float(k))) for k in out["certified_accuracy"]}
    return {"norm": norm, "command": " ".join(["funclib"] + cmd[3:]), "test_accuracy": acc, "n_inputs": len(y),
            "wall_s_end_to_end": wall, "seconds_in_robustness": out["seconds"], "seconds_lipsdp_solves": lipsdp,
            "n_lipsdp_solves": sum(1 for s in out["solves"] if "value" in s),
            "certified_accuracy": out["certified_accuracy"], "certified_accuracy_pairwise_same_run": pairwise,
            "median_radius_local_over_pairwise": float(np.median(radii[base > 0] / base[base > 0])),
            "notes": out["notes"],
            "target_600_s_met": wall <= 600, "load_before": load, "load_after": os.getloadavg()}


def run_local(report: dict, args, epochs: int) -> None:
    key = args.local_key
    report[key] = {"machine": {"cpu": cpu_model(), "cpus": os.cpu_count(), "load_before": os.getloadavg()}}
    for arch in args.arch or ARCHS:
        out = run_case(local_case, arch, args.local, args.local_steps, args.local_bounds, epochs)
        out["load_after"] = os.getloadavg()
        report[key][arch] = out
        print(f"[local {arch}] {json.dumps({k: v for k, v in out.items() if k != 'radii'})}", flush=True)


def run_extra(report: dict, args, epochs: int) -> None:
    import tempfile

    machine = {"cpu": cpu_model(), "cpus": os.cpu_count(), "load_before": os.getloadavg()}
    if args.threads:
        report["threads"] = run_case(threads_case, args.threads, epochs) | {"machine": machine}
        print(f"[threads] {json.dumps(report['threads'])}", flush=True)
    for norm in args.cli or ():
        with tempfile.TemporaryDirectory() as tmp:
            out = run_case(cli_case, norm, epochs, tmp)
        report.setdefault("cli", {})[norm] = out | {"machine": machine}
        print(f"[cli {norm}] {json.dumps(out)}", flush=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer training epochs, no scale case")
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "robustness.json"))
    ap.add_argument("--local", type=int, default=0, metavar="N", help="also run the local method on N inputs")
    ap.add_argument("--local-steps", type=int, default=10)
    ap.add_argument("--local-bounds", default="crown", choices=("crown", "ibp"))
    ap.add_argument("--local-key", default="local", help="report key of the local cases (earlier runs keep theirs)")
    ap.add_argument("--arch", action="append", choices=ARCHS, help="local cases to run (default: all)")
    ap.add_argument("--only-local", action="store_true", help="run only the local case (merged into --out)")
    ap.add_argument("--ablation", action="store_true", help="training recipes vs global certified accuracy")
    ap.add_argument("--plain", type=int, default=0, metavar="N",
                    help="the plain-trained CNN (no weight decay): all methods on N inputs (merged into --out)")
    ap.add_argument("--threads", type=int, default=0, metavar="R", help="BLAS thread policy, R alternating repeats")
    ap.add_argument("--cli", action="append", choices=("l2", "linf"), help="funclib certify --method local, end to end")
    ap.add_argument("--only-extra", action="store_true", help="run only --threads/--cli (merged into --out)")
    args = ap.parse_args(argv)
    epochs = 10 if args.quick else 40
    report = {"machine": {"cpu": cpu_model(), "cpus": os.cpu_count(), "platform": platform.platform(),
                          "python": sys.version.split()[0], "load_before": os.getloadavg()},
              "epsilons": EPS, "certify": {}, "scale": None}
    if args.ablation:
        report = json.loads(Path(args.out).read_text())
        machine = {"cpu": cpu_model(), "cpus": os.cpu_count(), "load_before": os.getloadavg()}
        rows = [run_case(ablation_case, *recipe) for recipe in ABLATION]
        for row in rows:
            print(f"[ablation] {json.dumps(row)}", flush=True)
        report["cnn_training_ablation"] = {"rows": rows, "machine": machine | {"load_after": os.getloadavg()}}
        Path(args.out).write_text(json.dumps(report, indent=1, default=float))
        return 0
    if args.plain:
        report = json.loads(Path(args.out).read_text())
        machine = {"cpu": cpu_model(), "cpus": os.cpu_count(), "load_before": os.getloadavg()}
        out = run_case(plain_case, args.plain, args.local_steps, 40)
        report["plain_cnn"] = out | {"machine": machine | {"load_after": os.getloadavg()}}
        print(f"[plain] {json.dumps({k: v for k, v in out.items() if k != 'radii'})}", flush=True)
        Path(args.out).write_text(json.dumps(report, indent=1, default=float))
        return 0
    if args.only_local:
        report = json.loads(Path(args.out).read_text())
        run_local(report, args, epochs)
        Path(args.out).write_text(json.dumps(report, indent=1, default=float))
        return 0
    if args.only_extra:
        report = json.loads(Path(args.out).read_text())
        run_extra(report, args, epochs)
        Path(args.out).write_text(json.dumps(report, indent=1, default=float))
        return 0
    for method in ("naive", "global", "pairwise"):
        runs = [run_case(certify_case, method, epochs) for _ in range(args.repeat)]
        best = runs[0]
        best["seconds_runs"] = [r.get("seconds") for r in runs]  # the certification alone
        best["wall_s_runs"] = [r.get("wall_s") for r in runs]  # training included
        best["cpu_s_runs"] = [r.get("cpu_s") for r in runs]
        report["certify"][method] = best
        print(f"[certify] {method}: acc {best.get('test_accuracy')}, certified {best.get('certified_accuracy')}, "
              f"wall {best['wall_s_runs']}, cpu {best['cpu_s_runs']}, rss {best.get('peak_rss_mb')} MB "
              f"{best.get('error', '')}", flush=True)
    g, p, n = (report["certify"][m]["certified_accuracy"]["0.1"] for m in ("global", "pairwise", "naive"))
    print(f"certified accuracy at eps=0.1: naive {n:.4f}, global {g:.4f}, pairwise {p:.4f}; "
          f"global/naive {g / n if n else math.inf:.2f}x, pairwise/global {p / g if g else math.inf:.2f}x")
    if args.local:
        run_local(report, args, epochs)
    run_extra(report, args, epochs)
    if not args.quick:
        report["scale"] = run_case(scale_case, 0)
        print(f"[scale] {json.dumps(report['scale'])}", flush=True)
    report["machine"]["load_after"] = os.getloadavg()
    Path(args.out).write_text(json.dumps(report, indent=1, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
