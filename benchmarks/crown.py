"""Benchmark of CROWN certificates (funclib.verify.crown) on digits MLPs.

Trains small MLPs (64-64-64-10, ReLU and GELU) on scikit-learn's 8x8 digits (inputs scaled to
[0, 1]; no download) with PyTorch, then on ``--inputs`` test inputs reports certified accuracy
at l2 eps = 0.1 and 0.2 from

* CROWN with funclib's proven relaxations (plain, and alpha-CROWN with ``--alpha`` steps),
* the global Lipschitz certificate margin / (sqrt(2) L), L from ``funclib.verify.lipschitz``,

with wall times (``--repeats`` runs of CROWN: median and spread) and the ratio CROWN / Lipschitz.
auto_LiRPA is compared when it imports: the only release on PyPI (0.3) requires torch < 1.13 and
fails to import with current NumPy (``numpy.lib.arraysetops``), so it is recorded as unavailable.

Usage::

    python benchmarks/crown.py [--inputs 400] [--alpha 10] [--out benchmarks/results/crown.json]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from hostinfo import cpu_model  # benchmarks/ is on sys.path when a script runs




def _train(act: str, X, y, seed: int = 0, epochs: int = 300):
    import torch

    torch.manual_seed(seed)
    layer = {"relu": torch.nn.ReLU, "gelu": torch.nn.GELU}[act]
    model = torch.nn.Sequential(torch.nn.Linear(64, 64), layer(), torch.nn.Linear(64, 64), layer(),
                                torch.nn.Linear(64, 10)).double()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3, weight_decay=1e-4)
    Xt, yt = torch.tensor(X), torch.tensor(y)
    for _ in range(epochs):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(Xt), yt)
        loss.backward()
        opt.step()
    return model


def _auto_lirpa_status() -> str:
    import importlib

    try:
        importlib.import_module("auto_LiRPA")
    except Exception as exc:  # noqa: BLE001 - any import failure means "not comparable here"
        return f"unavailable: {type(exc).__name__}: {exc}"
    return "importable (comparison not implemented for this version)"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inputs", type=int, default=400)
    parser.add_argument("--alpha", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default="benchmarks/results/crown.json")
    args = parser.parse_args(argv)

    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    from funclib.verify import from_torch, lipschitz
    from funclib.verify.crown import crown_margins

    data = load_digits()
    X = data.data / 16.0
    Xtr, Xte, ytr, yte = train_test_split(X, data.target, test_size=0.4, random_state=0)
    Xte, yte = Xte[: args.inputs], yte[: args.inputs]
    report = {"cpu": cpu_model(), "cores": os.cpu_count(), "python": sys.version.split()[0],
              "loadavg": os.getloadavg(), "inputs": int(len(yte)), "alpha_steps": args.alpha,
              "auto_lirpa": _auto_lirpa_status(), "nets": {}}
    for act in ("relu", "gelu"):
        model = _train(act, Xtr, ytr)
        net = from_torch(model)
        logits = net(Xte)
        correct = np.argmax(logits, axis=1) == yte
        lip = lipschitz(net, lower=False).value
        top2 = np.sort(logits, axis=1)
        margin = np.where(correct, top2[:, -1] - top2[:, -2], 0.0)
        lip_radius = margin / (math.sqrt(2) * lip)
        row = {"accuracy": float(correct.mean()), "lipschitz": lip}
        for eps in (0.1, 0.2):
            for name, steps in (("crown", 0), ("alpha_crown", args.alpha)):
                times, cert = [], None
                for _ in range(args.repeats if steps == 0 else 1):
                    t0 = time.perf_counter()
                    m = crown_margins(net, Xte, yte, eps, norm="l2", alpha_steps=steps)
                    times.append(time.perf_counter() - t0)
                    cert = correct & (m.min(axis=1) > 0)
                row[f"{name}_eps{eps}"] = {"certified": float(cert.mean()), "seconds_median": statistics.median(times),
                                           "seconds_min": min(times), "seconds_max": max(times)}
            lip_cert = float(np.mean(correct & (lip_radius >= eps)))
            row[f"lipschitz_eps{eps}"] = {"certified": lip_cert}
            best = row[f"alpha_crown_eps{eps}"]["certified"]
            row[f"ratio_eps{eps}"] = best / lip_cert if lip_cert > 0 else math.inf
            print(f"{act} eps={eps}: CROWN {row[f'crown_eps{eps}']['certified']:.3f} "
                  f"({row[f'crown_eps{eps}']['seconds_median']:.1f} s), alpha-CROWN {best:.3f} "
                  f"({row[f'alpha_crown_eps{eps}']['seconds_median']:.1f} s), Lipschitz {lip_cert:.3f}, "
                  f"ratio {row[f'ratio_eps{eps}']:.2f}", flush=True)
        report["nets"][act] = row
    print("auto_LiRPA:", report["auto_lirpa"])
    print("CPU:", report["cpu"])
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
