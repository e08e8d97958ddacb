"""Training with funclib.torch activations: an MLP on scikit-learn's digits, CPU, float32.

For each activation, the same model (64 -> H -> H -> 10, two activation layers, hidden width
``--hidden``) is trained for whole epochs of mini-batches (SGD, cross-entropy) with

* ``funclib.torch.Activation(name)`` (fused value / derivative kernels, saves the input only), and
* what a PyTorch user would otherwise write: the built-in module (``nn.GELU``, ``nn.SiLU``,
  ``nn.Mish``) or, where PyTorch has none (GoLU), the composition of PyTorch operations of the
  same formula.

Both runs use the same thread count (``torch.set_num_threads(numba.get_num_threads())``), the
same seeds and data, alternating funclib / baseline epochs so that load drifts hit both. Reported
per activation: the median and spread (min, max) of the epoch times over ``--epochs`` epochs after
a warm-up epoch, the ratio baseline / funclib of the medians (> 1: funclib faster), the same for
one activation layer alone (forward + backward on a ``batch x hidden`` tensor, 45 blocks of 20
steps, alternating), and the bytes
the activations save for backward in one forward pass (counted with
``torch.autograd.graph.saved_tensors_hooks``, activation layers only). The final training losses
of the two runs are printed too (they should be close: the same function). Results go to
``benchmarks/results/torch_adapter.json``.

Run: ``python benchmarks/torch_adapter.py [--epochs 7] [--hidden 512] [--batch 64]``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numba
import numpy as np
import torch
from sklearn.datasets import load_digits

import funclib.torch as ft
from hostinfo import cpu_model  # benchmarks/ is on sys.path when a script runs

RESULTS = Path(__file__).resolve().parent / "results" / "torch_adapter.json"


class GoLUComposition(torch.nn.Module):
    """GoLU as a PyTorch user writes it without funclib: x * exp(-exp(-x))."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.exp(-torch.exp(-x))


BASELINES = {
    "gelu": ("nn.GELU", torch.nn.GELU),
    "silu": ("nn.SiLU", torch.nn.SiLU),
    "mish": ("nn.Mish", torch.nn.Mish),
    "golu": ("composition x*exp(-exp(-x))", GoLUComposition),
}




def make_model(act: Callable[[], torch.nn.Module], hidden: int) -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(64, hidden), act(), torch.nn.Linear(hidden, hidden), act(),
                               torch.nn.Linear(hidden, 10))


def saved_bytes(model: torch.nn.Module, x: torch.Tensor) -> int:
    """Bytes saved for backward by the activation layers in one forward pass."""
    total = 0

    def pack(t):
        nonlocal total
        if recording:
            total += t.numel() * t.element_size()
        return t

    recording = False
    acts = [m for m in model if not isinstance(m, torch.nn.Linear)]
    h = x
    for m in model:
        recording = m in acts
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            h = m(h)
    return total


def epoch(model, opt, data, labels, batch: int) -> tuple[float, float]:
    t0 = time.perf_counter()
    loss = None
    for i in range(0, len(data), batch):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(data[i:i + batch]), labels[i:i + batch])
        loss.backward()
        opt.step()
    return time.perf_counter() - t0, loss.item()


def layer_times(act: torch.nn.Module, shape: tuple[int, int], blocks: int = 15, reps: int = 20) -> list[float]:
    """Seconds per forward + backward of one activation layer alone, one value per block of ``reps``."""
    torch.manual_seed(1)
    x = torch.randn(*shape, requires_grad=True)
    g = torch.randn(*shape)
    act(x).backward(g)  # warm-up
    out = []
    for _ in range(blocks):
        t0 = time.perf_counter()
        for _ in range(reps):
            act(x).backward(g)
        out.append((time.perf_counter() - t0) / reps)
    return out


def bench(name: str, data, labels, hidden: int, batch: int, epochs: int) -> dict:
    label, baseline = BASELINES[name]
    models = {"funclib": make_model(lambda: ft.Activation(name), hidden), "baseline": make_model(baseline, hidden)}
    opts = {k: torch.optim.SGD(m.parameters(), lr=0.05) for k, m in models.items()}
    times: dict[str, list[float]] = {k: [] for k in models}
    losses: dict[str, float] = {}
    for k in models:  # warm-up (kernel compilation, allocator)
        epoch(models[k], opts[k], data, labels, batch)
    for _ in range(epochs):
        for k in models:
            t, losses[k] = epoch(models[k], opts[k], data, labels, batch)
            times[k].append(t)
    med = {k: statistics.median(v) for k, v in times.items()}
    layer = {"funclib": [], "baseline": []}
    for _ in range(3):  # alternate, so that load drifts hit both
        layer["funclib"] += layer_times(ft.Activation(name), (batch, hidden))
        layer["baseline"] += layer_times(baseline(), (batch, hidden))
    lmed = {k: statistics.median(v) for k, v in layer.items()}
    row = {
        "activation": name,
        "baseline": label,
        "epoch_s": {k: {"median": med[k], "min": min(v), "max": max(v), "all": v} for k, v in times.items()},
        "ratio_baseline_over_funclib": med["baseline"] / med["funclib"],
        "layer_step_s": {k: {"median": lmed[k], "min": min(v), "max": max(v)} for k, v in layer.items()},
        "layer_ratio_baseline_over_funclib": lmed["baseline"] / lmed["funclib"],
        "saved_bytes_per_forward": {k: saved_bytes(m, data[:batch]) for k, m in models.items()},
        "final_loss": losses,
    }
    sb = row["saved_bytes_per_forward"]
    print(f"{name:5s} funclib {med['funclib'] * 1e3:7.1f} ms/epoch [{min(times['funclib']) * 1e3:.1f}, "
          f"{max(times['funclib']) * 1e3:.1f}]  {label} {med['baseline'] * 1e3:7.1f} ms "
          f"[{min(times['baseline']) * 1e3:.1f}, {max(times['baseline']) * 1e3:.1f}]  "
          f"ratio {row['ratio_baseline_over_funclib']:.2f}x  saved for backward {sb['funclib']} vs {sb['baseline']} B  "
          f"loss {losses['funclib']:.4f} / {losses['baseline']:.4f}", flush=True)
    print(f"      one layer ({batch}x{hidden}) forward+backward: funclib {lmed['funclib'] * 1e6:.0f} us "
          f"[{min(layer['funclib']) * 1e6:.0f}, {max(layer['funclib']) * 1e6:.0f}], {label} "
          f"{lmed['baseline'] * 1e6:.0f} us [{min(layer['baseline']) * 1e6:.0f}, {max(layer['baseline']) * 1e6:.0f}]"
          f"  ratio {row['layer_ratio_baseline_over_funclib']:.2f}x", flush=True)
    return row


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--epochs", type=int, default=7)
    ap.add_argument("--hidden", type=int, default=512)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--activations", default=",".join(BASELINES))
    ap.add_argument("--output", default=str(RESULTS))
    args = ap.parse_args(argv)
    threads = numba.get_num_threads()
    torch.set_num_threads(threads)
    digits = load_digits()
    data = torch.tensor(digits.data / 16.0, dtype=torch.float32)
    labels = torch.tensor(digits.target)
    load0 = os.getloadavg()
    print(f"digits {tuple(data.shape)}, MLP 64-{args.hidden}-{args.hidden}-10, batch {args.batch}, float32, "
          f"{threads} threads, CPU {cpu_model()}, load average {load0[0]:.2f}", flush=True)
    t0 = time.time()
    rows = [bench(n, data, labels, args.hidden, args.batch, args.epochs) for n in args.activations.split(",")]
    doc = {
        "benchmark": "torch_adapter",
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "setup": {"data": "sklearn digits", "samples": len(data), "hidden": args.hidden, "batch": args.batch,
                  "epochs_timed": args.epochs, "dtype": "float32", "optimizer": "SGD lr=0.05"},
        "threads": threads,
        "machine": {"cpu": cpu_model(), "cpu_count": os.cpu_count(), "load_average_start": load0,
                    "load_average_end": os.getloadavg()},
        "versions": {"numpy": np.__version__, "numba": numba.__version__, "torch": torch.__version__},
        "wall_s": time.time() - t0,
        "results": rows,
    }
    path = Path(args.output)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
