"""Row-wise kernels of the issue-15 breadth maps against NumPy and PyTorch CPU compositions.

For each map with a kernel in :mod:`funclib.kernels.rowwise.breadth` (StableMax, Log-StableMax,
Taylor and spherical softmax, L2/RMS normalization, standardization, sparsegen-lin, the ReLU
attentions, AB-ReLU, k-WTA, hardmax, ev-softmax, mellowmax, the Boltzmann operator, ASH, the
classification Z-loss, and the compositions Switch router, DeepSeek-V3 gate, adaptive-temperature
softmax; sparsehourglass, VBAF and NaLaFormer's query feature of
:mod:`funclib.kernels.rowwise.breadth7`), float32
rows of length n in ``--sizes`` (``2**total_log2 / n`` rows), value and VJP, in one run:

* ``numpy``: the obvious NumPy composition of the definition (the float32 array expressions a
  user would write, e.g. ``s = where(x >= 0, x + 1, 1/(1 - x)); s / s.sum(-1)``);
* ``torch``: the same composition in PyTorch CPU, or the built-in where one exists
  (``F.normalize``, ``F.rms_norm``, ``F.layer_norm``; sparsegen-lin: the ``entmax`` package's
  ``sparsemax`` of ``x/(1 - lam)``); the VJP is ``torch.autograd.grad`` on a graph built once;
* ``funclib``: the Numba kernel (``*_vjp(x, u)`` for the VJP; NumPy has no VJP baseline).

Every configuration is timed ``--repeat`` times after a warm-up call (which compiles the
kernels); the median and the spread (min, max) are recorded, and ratios are baseline median /
funclib median (> 1: funclib faster). PyTorch uses Numba's thread count. The CPU model comes
from ``benchmarks/hostinfo.py``; the load average at start and end is recorded (the development
machine is shared). Results go to ``benchmarks/results/rowwise_breadth.json``.

Run: ``python benchmarks/rowwise_breadth.py [--repeat R] [--sizes 256,4096] [--total-log2 20]
[--threads T] [--maps name,name]``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numba
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from hostinfo import cpu_model  # noqa: E402

from funclib.kernels import rowwise as rw  # noqa: E402

try:
    import entmax
except ImportError:  # pragma: no cover - the bench extra installs it
    entmax = None

RESULTS = Path(__file__).resolve().parent / "results" / "rowwise_breadth.json"
F = torch.nn.functional


def times(fn, repeat: int) -> list[float]:
    """Wall times of ``repeat`` calls after one warm-up call."""
    fn()
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def stats(ts: list[float]) -> dict:
    return {"median_s": statistics.median(ts), "min_s": min(ts), "max_s": max(ts), "n": len(ts)}


# -- the obvious compositions ------------------------------------------------------------------

def np_stablemax(x):
    s = np.where(x >= 0, x + 1, 1 / (1 - x))
    return s / s.sum(-1, keepdims=True)


def np_log_stablemax(x):
    s = np.where(x >= 0, x + 1, 1 / (1 - x))
    return np.log(s) - np.log(s.sum(-1, keepdims=True))


def np_taylor(x):
    f = 1 + x + x * x / 2
    return f / f.sum(-1, keepdims=True)


def np_spherical(x):
    f = x * x
    return f / f.sum(-1, keepdims=True)


def np_l2(x):
    return x / np.maximum(np.sqrt((x * x).sum(-1, keepdims=True)), np.float32(1e-12))


def np_rms(x):
    return x / np.sqrt((x * x).mean(-1, keepdims=True) + np.float32(1e-8))


def np_standardize(x):
    d = x - x.mean(-1, keepdims=True)
    return d / np.sqrt((d * d).mean(-1, keepdims=True) + np.float32(1e-5))


def t_stablemax(t):
    s = torch.where(t >= 0, t + 1, 1 / (1 - t))
    return s / s.sum(-1, keepdim=True)


def t_log_stablemax(t):
    s = torch.where(t >= 0, t + 1, 1 / (1 - t))
    return torch.log(s) - torch.log(s.sum(-1, keepdim=True))


def t_taylor(t):
    f = 1 + t + t * t / 2
    return f / f.sum(-1, keepdim=True)


def t_spherical(t):
    f = t * t
    return f / f.sum(-1, keepdim=True)


LAM = 0.5


def np_relu_seqlen(x):
    return np.maximum(x, 0) / np.float32(x.shape[-1])


def np_relu2(x):
    return np.maximum(x / np.float32(x.shape[-1]), 0) ** 2


def np_ab_relu(x):
    return np.maximum(x - x.mean(-1, keepdims=True), 0)


def np_kwta(x, k):
    kth = -np.partition(-x, k - 1, axis=-1)[..., k - 1 : k]
    return np.where(x >= kth, x, 0)


def t_kwta(t, k):
    kth = torch.topk(t, k, dim=-1).values[..., -1:]
    return torch.where(t >= kth, t, torch.zeros((), dtype=t.dtype))


def np_hardmax(x):
    top = x == x.max(-1, keepdims=True)
    return top / top.sum(-1, keepdims=True)


def t_hardmax(t):
    top = (t == t.amax(-1, keepdim=True)).to(t.dtype)
    return top / top.sum(-1, keepdim=True)


def np_ev_softmax(x):
    z = np.where(x >= x.mean(-1, keepdims=True), x, -np.inf)
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def t_ev_softmax(t):
    return torch.softmax(t.masked_fill(t < t.mean(-1, keepdim=True), float("-inf")), -1)


def np_mellowmax(x):
    m = x.max(-1, keepdims=True)
    return m[..., 0] + np.log(np.exp(x - m).mean(-1))


def t_mellowmax(t):
    return torch.logsumexp(t, -1) - np.log(t.shape[-1])


def np_boltzmann(x):
    m = x.max(-1, keepdims=True)
    e = np.exp(x - m)
    return (x * e).sum(-1) / e.sum(-1)


def t_boltzmann(t):
    return (t * torch.softmax(t, -1)).sum(-1)


def np_ash(x, alpha=1.0, z=0.0):
    mu, sd = x.mean(-1, keepdims=True), x.std(-1, keepdims=True)
    return x / (1 + np.exp(-alpha * (x - mu - z * sd)))


def t_ash(t, alpha=1.0, z=0.0):
    mu, sd = t.mean(-1, keepdim=True), t.std(-1, keepdim=True, unbiased=False)
    return t * torch.sigmoid(alpha * (t - mu - z * sd))


def np_z_loss(x, a=1.0, b=0.0):
    z = (x - x.mean(-1, keepdims=True)) / x.std(-1, keepdims=True)
    return np.logaddexp(0, a * (b - z)) / a


def t_z_loss(t, a=1.0, b=0.0):
    z = (t - t.mean(-1, keepdim=True)) / t.std(-1, keepdim=True, unbiased=False)
    return F.softplus(a * (b - z)) / a


def np_switch(x, k):
    e = np.exp(x - x.max(-1, keepdims=True))
    p = e / e.sum(-1, keepdims=True)
    return np.where(x >= -np.partition(-x, k - 1, axis=-1)[..., k - 1 : k], p, 0)


def t_switch(t, k):
    return torch.where(t >= torch.topk(t, k, dim=-1).values[..., -1:], torch.softmax(t, -1), 0.0)


def np_gate(x, b, k):
    s = 1 / (1 + np.exp(-x))
    sc = s + b
    w = np.where(sc >= -np.partition(-sc, k - 1, axis=-1)[..., k - 1 : k], s, 0)
    return w / w.sum(-1, keepdims=True)


def t_gate(t, b, k):
    s = torch.sigmoid(t)
    sc = s + b
    w = torch.where(sc >= torch.topk(sc, k, dim=-1).values[..., -1:], s, 0.0)
    return w / w.sum(-1, keepdim=True)


def _beta(H, lib):
    c = (-0.037, 0.481, -2.3, 4.917, -1.791)
    p = (((c[0] * H + c[1]) * H + c[2]) * H + c[3]) * H + c[4]
    return lib.where((H > 0.5) & (p > 1), p, lib.ones_like(p))


def np_adaptive(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    s = e / e.sum(-1, keepdims=True)
    H = -(s * np.log(s)).sum(-1, keepdims=True)
    z = _beta(H, np) * x
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def t_adaptive(t):
    s = torch.softmax(t, -1)
    H = -(s * torch.log_softmax(t, -1)).sum(-1, keepdim=True)
    return torch.softmax(_beta(H, torch) * t, -1)


K = 16


def np_sparsemax(z):
    """Sort-based sparsemax (Martins & Astudillo 2016) over the last axis, as a user writes it."""
    zs = -np.sort(-z, axis=-1)
    k = np.arange(1, z.shape[-1] + 1, dtype=z.dtype)
    cs = np.cumsum(zs, axis=-1)
    support = 1 + k * zs > cs
    kz = support.sum(-1, keepdims=True)
    tau = (np.take_along_axis(cs, kz - 1, -1) - 1) / kz
    return np.maximum(z - tau, 0)


def np_sparsehourglass(x, q=1.0):
    nq = x.shape[-1] * q
    return np_sparsemax(x * ((1 + nq) / (np.abs(x.sum(-1, keepdims=True)) + nq)))


def t_sparsehourglass(t, q=1.0):
    nq = t.shape[-1] * q
    return entmax.sparsemax(t * ((1 + nq) / (t.sum(-1, keepdim=True).abs() + nq)), -1)


def np_vbaf(x):
    m = x.mean(-1, keepdims=True)
    return np.abs(x - m).sum(-1) / np.abs(m[..., 0])


def t_vbaf(t):
    m = t.mean(-1, keepdim=True)
    return (t - m).abs().sum(-1) / m[..., 0].abs()


def np_nala(x):
    r = np.linalg.norm(x, axis=-1, keepdims=True)
    return (np.maximum(x, 0) / r) ** (3 * (0.5 + np.tanh(r)))


def t_nala(t):
    r = torch.linalg.vector_norm(t, dim=-1, keepdim=True)
    return (torch.relu(t) / r) ** (3 * (0.5 + torch.tanh(r)))


def maps(n: int):
    """(name, funclib value, funclib vjp, numpy value, torch value, torch baseline name)."""
    out = [
        ("stablemax", rw.stablemax, rw.stablemax_vjp, np_stablemax, t_stablemax, "torch composition"),
        ("log_stablemax", rw.log_stablemax, rw.log_stablemax_vjp, np_log_stablemax, t_log_stablemax, "torch composition"),
        ("taylor_softmax", rw.taylor_softmax, rw.taylor_softmax_vjp, np_taylor, t_taylor, "torch composition"),
        ("spherical_softmax", rw.spherical_softmax, rw.spherical_softmax_vjp, np_spherical, t_spherical, "torch composition"),
        ("l2_normalize", rw.l2_normalize, rw.l2_normalize_vjp, np_l2, lambda t: F.normalize(t, dim=-1, eps=1e-12), "F.normalize"),
        ("rms_normalize", rw.rms_normalize, rw.rms_normalize_vjp, np_rms, lambda t: F.rms_norm(t, (n,), eps=1e-8), "F.rms_norm"),
        ("standardize", rw.standardize, rw.standardize_vjp, np_standardize, lambda t: F.layer_norm(t, (n,), eps=1e-5), "F.layer_norm"),
    ]
    out += [
        ("relu_seqlen_attention", rw.relu_seqlen_attention, rw.relu_seqlen_attention_vjp, np_relu_seqlen,
         lambda t: torch.relu(t) / n, "torch composition"),
        ("relu2_attention", rw.relu2_attention, rw.relu2_attention_vjp, np_relu2,
         lambda t: torch.relu(t / n) ** 2, "torch composition"),
        ("ab_relu", rw.ab_relu, rw.ab_relu_vjp, np_ab_relu, lambda t: torch.relu(t - t.mean(-1, keepdim=True)),
         "torch composition"),
        ("kwta", lambda a: rw.kwta(a, K), lambda a, u: rw.kwta_vjp(a, u, K), lambda a: np_kwta(a, K),
         lambda t: t_kwta(t, K), "torch.topk composition"),
        ("hardmax", rw.hardmax, rw.hardmax_vjp, np_hardmax, t_hardmax, "torch composition"),
        ("ev_softmax", rw.ev_softmax, rw.ev_softmax_vjp, np_ev_softmax, t_ev_softmax, "torch composition"),
        ("mellowmax", rw.mellowmax, None, np_mellowmax, t_mellowmax, "torch.logsumexp - log n"),
        ("boltzmann_operator", rw.boltzmann_operator, None, np_boltzmann, t_boltzmann, "torch composition"),
        ("ash", rw.ash, rw.ash_vjp, np_ash, t_ash, "torch composition"),
        ("z_loss_classification", rw.z_loss_classification, rw.z_loss_classification_vjp, np_z_loss, t_z_loss,
         "torch composition"),
    ]
    bias = np.linspace(-0.05, 0.05, n).astype(np.float32)
    out += [
        ("softmax_then_topk", lambda a: rw.softmax_then_topk(a, 2), lambda a, u: rw.softmax_then_topk_vjp(a, u, 2),
         lambda a: np_switch(a, 2), lambda t: t_switch(t, 2), "torch softmax + topk"),
        ("sigmoid_topk_gate", lambda a: rw.sigmoid_topk_gate(a, bias, 8), lambda a, u: rw.sigmoid_topk_gate_vjp(a, u, bias, 8),
         lambda a: np_gate(a, bias, 8), lambda t: t_gate(t, torch.from_numpy(bias), 8), "torch sigmoid + topk"),
        ("adaptive_temperature_softmax", rw.adaptive_temperature_softmax, rw.adaptive_temperature_softmax_vjp,
         np_adaptive, t_adaptive, "torch composition"),
    ]
    out += [
        ("vbaf", rw.vbaf, None, np_vbaf, t_vbaf, "torch composition"),
        ("nala_query_feature", rw.nala_query_feature, rw.nala_query_feature_vjp, np_nala, t_nala, "torch composition"),
    ]
    if entmax is not None:
        out.append(("sparsehourglass", rw.sparsehourglass, rw.sparsehourglass_vjp, np_sparsehourglass,
                    t_sparsehourglass, "entmax.sparsemax(alpha(x) x)"))
        out.append(("sparsegen_lin", lambda a: rw.sparsegen_lin(a, LAM), lambda a, u: rw.sparsegen_lin_vjp(a, u, LAM),
                    None, lambda t: entmax.sparsemax(t / (1 - LAM), -1), "entmax.sparsemax(x/(1-lam))"))
    return out


def bench_size(n: int, total: int, repeat: int, only: set[str] | None = None) -> list[dict]:
    rows = total // n
    rng = np.random.default_rng(n)
    x = rng.standard_normal((rows, n)).astype(np.float32)
    u = rng.standard_normal((rows, n)).astype(np.float32)
    xt = torch.from_numpy(x)
    out = []
    for name, f_val, f_vjp, f_np, f_t, t_name in maps(n):
        if only and name not in only:
            continue
        rec = {"map": name, "n": n, "rows": rows, "torch_baseline": t_name}
        rec["funclib_value"] = stats(times(lambda: f_val(x), repeat))
        with torch.no_grad():
            rec["torch_value"] = stats(times(lambda: f_t(xt), repeat))
        if f_np is not None:
            with np.errstate(all="ignore"):
                rec["numpy_value"] = stats(times(lambda: f_np(x), repeat))
        xg = torch.from_numpy(x).requires_grad_(True)
        y = f_t(xg)
        reduced = y.dim() < xg.dim()  # the soft maxima: one cotangent per row
        ur = u[:, 0].copy() if reduced else u
        ut = torch.from_numpy(ur)
        if y.requires_grad:  # hardmax's composition has no graph (comparisons only)
            rec["torch_vjp"] = stats(times(lambda: torch.autograd.grad(y, xg, ut, retain_graph=True), repeat))
        if f_vjp is None:
            f_vjp = getattr(rw, name + "_vjp")
        rec["funclib_vjp"] = stats(times(lambda: f_vjp(x, ur), repeat))
        fv, fj = rec["funclib_value"]["median_s"], rec["funclib_vjp"]["median_s"]
        rec["ratio"] = {"torch_value": rec["torch_value"]["median_s"] / fv}
        if "torch_vjp" in rec:
            rec["ratio"]["torch_vjp"] = rec["torch_vjp"]["median_s"] / fj
        if "numpy_value" in rec:
            rec["ratio"]["numpy_value"] = rec["numpy_value"]["median_s"] / fv
        out.append(rec)
        sp = rec["funclib_value"]
        print(f"n={n:6d} {name:18s} value {fv * 1e3:8.2f} ms [{sp['min_s'] * 1e3:.2f}, {sp['max_s'] * 1e3:.2f}]"
              f"  numpy {rec['ratio'].get('numpy_value', float('nan')):6.2f}x  torch {rec['ratio']['torch_value']:6.2f}x"
              f" | vjp {fj * 1e3:8.2f} ms  torch {rec['ratio'].get('torch_vjp', float('nan')):6.2f}x", flush=True)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=9)
    ap.add_argument("--sizes", default="256,4096")
    ap.add_argument("--total-log2", type=int, default=20)
    ap.add_argument("--threads", type=int, default=0,
                    help="threads for Numba and PyTorch (0: Numba's default); 1 is robust on a loaded machine")
    ap.add_argument("--maps", default="", help="comma-separated map names (default: all)")
    ap.add_argument("--output", default=str(RESULTS))
    args = ap.parse_args(argv)
    if args.threads > 0:
        numba.set_num_threads(args.threads)
    threads = numba.get_num_threads()
    torch.set_num_threads(threads)
    total = 2**args.total_log2
    load0 = os.getloadavg()
    cpu = cpu_model()
    print(f"{cpu}; {total} float32 values, {threads} threads (numba and torch), load average {load0[0]:.2f}", flush=True)
    if threads > 1 and load0[0] > (os.cpu_count() or 1):
        print("warning: the load average exceeds the CPU count; multi-threaded Numba rows wait for descheduled "
              "threads (use --threads 1)", flush=True)
    print("ratios: baseline median / funclib median (> 1: funclib faster); [min, max] of the funclib times", flush=True)
    t0 = time.time()
    results = []
    for n in (int(s) for s in args.sizes.split(",")):
        results.extend(bench_size(n, total, args.repeat, set(filter(None, args.maps.split(",")))))
    load1 = os.getloadavg()
    doc = {
        "benchmark": "rowwise_breadth",
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "total_values": total,
        "dtype": "float32",
        "threads": threads,
        "repeat": args.repeat,
        "machine": {"cpu_model": cpu, "cpu_count": os.cpu_count(), "load_average_start": load0,
                    "load_average_end": load1},
        "versions": {"numpy": np.__version__, "numba": numba.__version__, "torch": torch.__version__,
                     "entmax": getattr(entmax, "__version__", None)},
        "wall_s": time.time() - t0,
        "results": results,
    }
    path = Path(args.output)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"load average at the end {load1[0]:.2f}; wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
