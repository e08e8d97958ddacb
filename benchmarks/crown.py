"""Benchmark of CROWN certificates (funclib.verify.crown) on digits MLPs and CNNs.

Trains small networks on scikit-learn's 8x8 digits (inputs scaled to [0, 1]; no download) with
PyTorch, for each activation of ``--acts`` (default ReLU, GELU, SiLU, Mish, GoLU; GoLU is the
catalog entry as a ``funclib.torch.Activation`` module):

* ``mlp``: 64-64-64-10 (full-batch Adam, 300 epochs),
* ``cnn``: Conv(1->8, 3x3, stride 2) - act - Conv(8->8, 3x3) - act - Linear(128 -> 10),

then on ``--inputs`` test inputs reports, at each l2 eps of ``--eps`` and each l-inf eps of
``--linf-eps`` (``--norms``), the certified accuracy of

* the global Lipschitz certificate margin / (sqrt(2) L), L the certified LipSDP bound
  (``funclib.verify.lipschitz``): what a user of funclib's Lipschitz tools would otherwise use
  (for l-inf, the l2 radius divided by sqrt(64): the l-inf ball lies in that l2 ball),
* CROWN with funclib's proven relaxations, plain (``--repeats`` timed runs: median and spread)
  and alpha-CROWN (``--alpha`` steps, lower and upper slopes tuned),
* auto_LiRPA's CROWN and alpha-CROWN (``CROWN-optimized``, ``--alpha`` iterations) on the same
  network and inputs (float64), when it imports: natively where it supports the activation
  (ReLU), otherwise first tried natively (its refusal is recorded) and then run with funclib's
  relaxations through ``funclib.relaxation.autolirpa`` -- two independent CROWN
  implementations on the same relaxations, so their plain-CROWN bounds must agree,
* a PGD attack (margin loss, 50 steps, 2 restarts): the inputs it does NOT break bound what any
  sound certificate can certify, so ``pgd / lipschitz`` is the largest ratio possible.

Ratios printed per case: certified(alpha-CROWN) / certified(Lipschitz) (the issue's target is
>= 1.5 for the smooth activations), the ceiling pgd / Lipschitz, and the ratio of *uncertified*
inputs (1 - Lipschitz) / (1 - alpha-CROWN), meaningful where the Lipschitz certificate already
certifies more than 2/3 of the inputs and a ratio of 1.5 cannot be reached; and
certified(funclib CROWN) / certified(auto_LiRPA CROWN) (the issue's target for ReLU: within 5 %).
The only auto_LiRPA release on PyPI (0.3) requires torch < 1.13; its source (0.7.1) imports
with torch 2.13 when installed with ``pip install --no-deps`` (see docs/guide/relaxations.md).
Where it does not import, its columns are skipped and the reason is printed and recorded.

Usage::

    python benchmarks/crown.py [--inputs 400] [--alpha 10] [--archs mlp cnn] [--acts relu gelu ...]
        [--norms l2 linf] [--eps 0.1 0.2 0.3] [--linf-eps 0.01 0.02 0.03] [--no-lirpa]
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

ACTS = ("relu", "gelu", "silu", "mish", "golu")


def _layer(act: str):
    import torch

    builtin = {"relu": torch.nn.ReLU, "gelu": torch.nn.GELU, "silu": torch.nn.SiLU, "mish": torch.nn.Mish}
    if act in builtin:
        return builtin[act]()
    from funclib.torch import Activation

    return Activation(act, trainable=())


def _train(act: str, X, y, arch: str = "mlp", seed: int = 0, epochs: int = 300):
    """A digits classifier (float64, evaluation mode); ``X`` has 64 features per row (the CNN
    sees them as a 1x8x8 image)."""
    import torch

    torch.manual_seed(seed)
    nn = torch.nn
    if arch == "mlp":
        model = nn.Sequential(nn.Linear(64, 64), _layer(act), nn.Linear(64, 64), _layer(act), nn.Linear(64, 10))
    else:
        model = nn.Sequential(nn.Conv2d(1, 8, 3, stride=2, padding=1), _layer(act),
                              nn.Conv2d(8, 8, 3, padding=1), _layer(act), nn.Flatten(), nn.Linear(128, 10))
    model = model.double()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3 if arch == "mlp" else 1e-2, weight_decay=1e-4)
    Xt, yt = torch.tensor(X if arch == "mlp" else X.reshape(-1, 1, 8, 8)), torch.tensor(y)
    for _ in range(epochs):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(Xt), yt)
        loss.backward()
        opt.step()
    return model.eval()


def _pgd_robust(model, X, y, eps: float, shape: tuple, norm: str = "l2", steps: int = 50,
                restarts: int = 2) -> np.ndarray:
    """Inputs correctly classified that a PGD attack (margin loss) in the ``norm`` ball does not
    break within eps; ``X`` is flat, ``shape`` the model's input shape per sample."""
    import torch

    net = model
    model = lambda x: net(x.reshape((-1,) + shape))  # noqa: E731 - flat rows in, logits out
    x0, lab = torch.tensor(X), torch.tensor(y)
    with torch.no_grad():
        broken = model(x0).argmax(1) != lab
    mask = torch.nn.functional.one_hot(lab, 10).bool()
    for r in range(restarts):
        d = torch.randn(x0.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(r))
        if norm == "l2":
            d = d / d.norm(dim=1, keepdim=True) * eps * 0.5
        else:
            d = d.clamp(-1, 1) * eps * 0.5
        for _ in range(steps):
            d.requires_grad_(True)
            z = model(x0 + d)
            loss = (z.masked_fill(mask, -math.inf).max(1).values - z[mask]).sum()
            (g,) = torch.autograd.grad(loss, d)
            with torch.no_grad():
                if norm == "l2":
                    d = d + 0.1 * eps * g / (g.norm(dim=1, keepdim=True) + 1e-30)
                    d = d * torch.clamp(eps / (d.norm(dim=1, keepdim=True) + 1e-30), max=1.0)
                else:
                    d = (d + 0.1 * eps * g.sign()).clamp(-eps, eps)
                broken |= model(x0 + d).argmax(1) != lab
    return (~broken).numpy()


def _auto_lirpa_status() -> str:
    import importlib

    try:
        mod = importlib.import_module("auto_LiRPA")
    except Exception as exc:  # noqa: BLE001 - any import failure means "not comparable here"
        return f"unavailable: {type(exc).__name__}: {exc}"
    return f"auto_LiRPA {getattr(mod, '__version__', '?')}"


class _Lirpa:
    """auto_LiRPA bounds of one network: natively if it accepts the network, otherwise with
    funclib's relaxations (``funclib.relaxation.autolirpa``); float64 throughout (auto_LiRPA
    needs the default dtype float64 for a float64 model)."""

    def __init__(self, model, shape: tuple, alpha: int):
        import torch
        import warnings

        from auto_LiRPA import BoundedModule

        from funclib.relaxation import autolirpa

        self.shape, self.alpha = shape, alpha
        example = torch.zeros((1,) + shape, dtype=torch.float64)
        opts = {"optimize_bound_args": {"iteration": max(alpha, 1)}}
        self.native_error = None
        with _float64(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                self.bm = BoundedModule(model, example, device="cpu", bound_opts=opts)
                for method in ("CROWN", "CROWN-optimized"):
                    self._bounds(np.zeros((1, math.prod(shape))), np.zeros(1, dtype=int), 0.01, "l2", method)
                self.mode = "native"
            except Exception as exc:  # noqa: BLE001 - whatever auto_LiRPA raises is the refusal we record
                self.native_error = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
                self.bm = autolirpa.bounded_module(model, example, device="cpu", bound_opts=opts)
                self.mode = "funclib relaxations"

    def _bounds(self, X, y, eps, norm, method):
        import torch
        from auto_LiRPA import BoundedTensor
        from auto_LiRPA.perturbations import PerturbationLpNorm

        from funclib.verify.crown import _margin_spec

        x = torch.tensor(X.reshape((-1,) + self.shape))
        C = torch.tensor(_margin_spec(10, y))
        ptb = PerturbationLpNorm(norm=2 if norm == "l2" else math.inf, eps=eps)
        lb, _ = self.bm.compute_bounds(x=(BoundedTensor(x, ptb),), C=C, method=method, bound_upper=False)
        return lb.detach().numpy()

    def margins(self, X, y, eps, norm, optimized: bool) -> np.ndarray:
        import warnings

        with _float64(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return self._bounds(X, y, eps, norm, "CROWN-optimized" if optimized else "CROWN")


class _float64:
    """``torch.set_default_dtype(torch.float64)`` inside a ``with`` block."""

    def __enter__(self):
        import torch

        self.old = torch.get_default_dtype()
        torch.set_default_dtype(torch.float64)

    def __exit__(self, *exc):
        import torch

        torch.set_default_dtype(self.old)


def _ratio(a: float, b: float) -> float:
    return a / b if b > 0 else math.inf


def _timed(fn, repeats: int):
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return out, {"median": statistics.median(times), "min": min(times), "max": max(times), "runs": len(times)}


def _case(arch: str, act: str, data, args) -> dict:
    from funclib.verify import from_torch, lipschitz
    from funclib.verify.crown import crown_margins

    Xtr, ytr, Xte, yte = data
    t0 = time.perf_counter()
    model = _train(act, Xtr, ytr, arch)
    shape = (64,) if arch == "mlp" else (1, 8, 8)
    net = from_torch(model, input_shape=None if arch == "mlp" else shape)
    row = {"train_s": time.perf_counter() - t0, "hidden": [int(d) for d in net.dims[1:-1]]}
    logits = net(Xte)
    correct = np.argmax(logits, axis=1) == yte
    t0 = time.perf_counter()
    lip = lipschitz(net, lower=False).value
    row.update(accuracy=float(correct.mean()), lipschitz=lip, lipschitz_s=time.perf_counter() - t0)
    lirpa = None
    if args.lirpa:
        lirpa = _Lirpa(model, shape, args.alpha)
        row["auto_lirpa_mode"] = lirpa.mode
        row["auto_lirpa_native_error"] = lirpa.native_error
        if lirpa.native_error:
            print(f"{arch:3s} {act:4s}: auto_LiRPA refuses it natively ({lirpa.native_error}); "
                  "its columns use funclib's relaxations", flush=True)
    top2 = np.sort(logits, axis=1)
    lip_radius = np.where(correct, top2[:, -1] - top2[:, -2], 0.0) / (math.sqrt(2) * lip)
    for norm in args.norms:
        for eps in (args.eps if norm == "l2" else args.linf_eps):
            # An l-inf ball of radius eps lies in the l2 ball of radius eps * sqrt(n).
            res = {"lipschitz": float(np.mean(correct & (lip_radius >= eps * (1 if norm == "l2" else math.sqrt(64)))))}
            for name, steps, repeats in (("crown", 0, args.repeats), ("alpha_crown", args.alpha, 1)):
                m, res[f"{name}_s"] = _timed(lambda: crown_margins(net, Xte, yte, eps, norm=norm, alpha_steps=steps), repeats)
                res[name] = float(np.mean(correct & (m.min(axis=1) > 0)))
                if lirpa is not None:
                    lm, res[f"auto_lirpa_{name}_s"] = _timed(lambda: lirpa.margins(Xte, yte, eps, norm, steps > 0), repeats)
                    res[f"auto_lirpa_{name}"] = float(np.mean(correct & (lm.min(axis=1) > 0)))
                    if steps == 0:  # same algorithm; with the same relaxations the bounds agree
                        res["crown_bound_max_abs_diff"] = float(np.max(np.abs(lm - m)))
            t0 = time.perf_counter()
            res["pgd_unbroken"] = float(np.mean(_pgd_robust(model, Xte, yte, eps, shape, norm)))
            res["pgd_s"] = time.perf_counter() - t0
            best, lc = res["alpha_crown"], res["lipschitz"]
            res["ratio"] = _ratio(best, lc)
            res["ceiling_ratio"] = _ratio(res["pgd_unbroken"], lc)  # no sound method exceeds it
            res["uncertified_ratio"] = _ratio(1 - lc, 1 - best)
            res["target_1.5x_met"] = bool(res["ratio"] >= 1.5)
            res["target_1.5x_possible"] = bool(res["ceiling_ratio"] >= 1.5)
            certified = [best, res["crown"]] + [res[k] for k in ("auto_lirpa_crown", "auto_lirpa_alpha_crown") if k in res]
            if res["pgd_unbroken"] < max(certified):  # a certified input was broken: a certificate is wrong
                raise AssertionError(f"{arch}/{act} {norm} eps={eps}: PGD broke a certified input")
            line = (f"{arch:3s} {act:4s} {norm:4s} eps={eps}: Lipschitz {lc:.3f}  CROWN {res['crown']:.3f} "
                    f"({res['crown_s']['median']:.1f} s)  alpha-CROWN {best:.3f} ({res['alpha_crown_s']['median']:.1f} s)  "
                    f"PGD-unbroken {res['pgd_unbroken']:.3f} | ratio {res['ratio']:.2f} (ceiling {res['ceiling_ratio']:.2f}), "
                    f"uncertified ratio {res['uncertified_ratio']:.2f}")
            if lirpa is not None:
                res["crown_vs_auto_lirpa"] = _ratio(res["crown"], res["auto_lirpa_crown"])
                res["alpha_crown_vs_auto_lirpa"] = _ratio(best, res["auto_lirpa_alpha_crown"])
                res["target_within_5pct_met"] = bool(res["crown_vs_auto_lirpa"] >= 0.95)
                line += (f"\n    auto_LiRPA ({lirpa.mode}) CROWN {res['auto_lirpa_crown']:.3f} "
                         f"({res['auto_lirpa_crown_s']['median']:.1f} s)  alpha-CROWN {res['auto_lirpa_alpha_crown']:.3f} "
                         f"({res['auto_lirpa_alpha_crown_s']['median']:.1f} s) | funclib/auto_LiRPA CROWN "
                         f"{res['crown_vs_auto_lirpa']:.3f}, alpha {res['alpha_crown_vs_auto_lirpa']:.3f}; "
                         f"max |bound difference| {res['crown_bound_max_abs_diff']:.2e}")
            row[f"eps{eps}" if norm == "l2" else f"linf_eps{eps}"] = res
            print(line, flush=True)
    return row


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inputs", type=int, default=400)
    parser.add_argument("--alpha", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--eps", type=float, nargs="+", default=[0.1, 0.2, 0.3], help="l2 radii")
    parser.add_argument("--linf-eps", type=float, nargs="+", default=[0.01, 0.02, 0.03], help="l-inf radii")
    parser.add_argument("--norms", nargs="+", default=["l2", "linf"], choices=["l2", "linf"])
    parser.add_argument("--no-lirpa", dest="lirpa", action="store_false", help="skip the auto_LiRPA columns")
    parser.add_argument("--archs", nargs="+", default=["mlp", "cnn"], choices=["mlp", "cnn"])
    parser.add_argument("--acts", nargs="+", default=list(ACTS), choices=list(ACTS))
    parser.add_argument("--out", default="benchmarks/results/crown.json")
    args = parser.parse_args(argv)

    import torch
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    torch.set_num_threads(1)
    digits = load_digits()
    Xtr, Xte, ytr, yte = train_test_split(digits.data / 16.0, digits.target, test_size=0.4, random_state=0)
    data = (Xtr, ytr, Xte[: args.inputs], yte[: args.inputs])
    status = _auto_lirpa_status()
    if args.lirpa and status.startswith("unavailable"):
        print(f"auto_LiRPA columns skipped: {status}", flush=True)
        args.lirpa = False
    report = {"cpu": cpu_model(), "cores": os.cpu_count(), "python": sys.version.split()[0],
              "torch": torch.__version__, "loadavg_start": os.getloadavg(), "inputs": int(len(data[3])),
              "alpha_steps": args.alpha, "eps": args.eps, "linf_eps": args.linf_eps, "norms": args.norms,
              "auto_lirpa": status if args.lirpa or status.startswith("unavailable") else f"{status} (not run: --no-lirpa)",
              "nets": {}}
    for arch in args.archs:
        for act in args.acts:
            report["nets"][f"{arch}_{act}"] = _case(arch, act, data, args)
    report["loadavg_end"] = os.getloadavg()
    print("auto_LiRPA:", report["auto_lirpa"])
    print("CPU:", report["cpu"], "| load average at start / end:", report["loadavg_start"], report["loadavg_end"])
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
