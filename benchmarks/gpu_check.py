"""One-command device check of funclib's CUDA kernels; writes JSON into a results folder.

Usage::

    python benchmarks/gpu_check.py [RESULTS_DIR]          # on an NVIDIA GPU, < 5 minutes
    NUMBA_ENABLE_CUDASIM=1 python benchmarks/gpu_check.py --smoke /tmp/out   # simulator, tiny sizes

Measures (each time the best of a few CUDA-event-timed repetitions, after a warm-up launch):

* ``copy``: device-to-device copy bandwidth (bytes read + written / time) — the ceiling;
* ``elementwise``: fused value+derivative kernels (GELU, SiLU, Mish, GoLU, PAU, ReLU) for
  2^20 ... 2^28 elements in float32 and float64 (read n, write 2n elements): GB/s and the
  fraction of the copy bandwidth;
* ``rowwise``: softmax (three-pass and online) and sparsemax over 2^24 values as rows of
  256 ... 32768 (read n + write n per pass that the kernel makes over memory is *not* assumed:
  the fraction is of the minimal traffic, one read and one write);
* ``launch_overhead``: time of an elementwise launch on 1 element (includes Python dispatch);
* ``ulp``: float32 value and derivative error on 2^24 inputs against the float64 CPU kernel
  (libm accuracy) rounded to float32, in ULPs (max and 99.9th percentile).

``--smoke`` shrinks every size so the script also runs under the CUDA simulator (its timings
mean nothing there; it only proves the script works).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

ELEMENTWISE = ("gelu", "silu", "mish", "golu", "pau", "relu")


def _sim() -> bool:
    from numba import config

    return bool(config.ENABLE_CUDASIM)


def _timer(cuda, fn, repeat):
    """Best time of ``repeat`` runs of ``fn`` (CUDA events; wall clock under the simulator)."""
    _SIM = _sim()
    fn()
    cuda.synchronize()
    best = math.inf
    for _ in range(repeat):
        if _SIM:
            t = time.perf_counter()
            fn()
            best = min(best, time.perf_counter() - t)
            continue
        start, stop = cuda.event(), cuda.event()
        start.record()
        fn()
        stop.record()
        stop.synchronize()
        best = min(best, cuda.event_elapsed_time(start, stop) / 1e3)
    return best


def _copy_bandwidth(cuda, nbytes, repeat):
    n = nbytes // 4
    src = cuda.to_device(np.ones(n, np.float32))
    dst = cuda.device_array(n, np.float32)
    t = _timer(cuda, lambda: dst.copy_to_device(src), repeat)
    return {"bytes": 2 * n * 4, "seconds": t, "gbytes_per_s": 2 * n * 4 / t / 1e9}


def _elementwise(cuda, funclib, sizes, dtypes, repeat, copy_gbs):
    rows = []
    for name in ELEMENTWISE:
        entry = funclib.get(name)
        for dt in dtypes:
            k = entry.kernel(dtype=dt, target="cuda")
            for logn in sizes:
                n = 1 << logn
                x = cuda.to_device(np.random.default_rng(0).normal(0, 3, n).astype(dt))
                y0 = cuda.device_array(n, dt)
                y1 = cuda.device_array(n, dt)
                t = _timer(cuda, lambda: k(x, out=(y0, y1)), repeat)
                gbs = 3 * n * np.dtype(dt).itemsize / t / 1e9
                rows.append({"name": name, "dtype": dt, "log2_n": logn, "seconds": t, "gbytes_per_s": gbs,
                             "fraction_of_copy": gbs / copy_gbs})
    return rows


def _rowwise(cuda, total_log2, lengths, repeat, copy_gbs):
    from funclib.kernels.cuda import rowwise as R

    rows = []
    total = 1 << total_log2
    for n in lengths:
        r = max(1, total // n)
        x = cuda.to_device(np.random.default_rng(1).normal(0, 2, (r, n)).astype(np.float32))
        for label, fn in (("softmax_three_pass", lambda: R.softmax(x)),
                          ("softmax_online", lambda: R.softmax(x, algorithm="online")),
                          ("sparsemax", lambda: R.sparsemax(x))):
            t = _timer(cuda, fn, repeat)
            gbs = 2 * r * n * 4 / t / 1e9
            rows.append({"map": label, "row_length": n, "rows": r, "seconds": t, "gbytes_per_s": gbs,
                         "fraction_of_copy": gbs / copy_gbs})
    return rows


def _ulp(funclib, cuda, n):
    out = []
    x = np.random.default_rng(2).normal(0, 1, n) * np.exp(np.random.default_rng(3).uniform(-6, 4, n))
    x = x.astype(np.float32)
    for name in ELEMENTWISE:
        entry = funclib.get(name)
        gpu = entry.kernel(dtype="float32", target="cuda")
        ref = entry.kernel(dtype="float64", accuracy="libm")
        got = gpu(cuda.to_device(x))
        want = ref(x.astype(np.float64))
        for label, g, w in zip(("value", "derivative"), got, want):
            g = g.copy_to_host().astype(np.float64)
            w32 = w.astype(np.float32)
            spacing = np.spacing(np.abs(w32)).astype(np.float64)
            same = (g == w32) | (np.isnan(g) & np.isnan(w32))
            err = np.where(same, 0.0, np.abs(g - w) / spacing)
            finite = np.isfinite(err)
            out.append({"name": name, "output": label, "samples": int(n),
                        "max_ulp": float(np.max(err[finite])) if finite.any() else None,
                        "p999_ulp": float(np.quantile(err[finite], 0.999)) if finite.any() else None,
                        "nan_or_inf_mismatch": int((~finite).sum())})
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("results", nargs="?", default=str(Path(__file__).parent / "results"))
    ap.add_argument("--smoke", action="store_true", help="tiny sizes (runs under NUMBA_ENABLE_CUDASIM=1)")
    args = ap.parse_args(argv)
    import funclib
    from funclib.kernels.cuda.kernel import require_cuda

    where = require_cuda()
    from numba import cuda

    t0 = time.perf_counter()
    if args.smoke:
        sizes, dtypes, repeat = [6], ("float32", "float64"), 1
        copy_bytes, row_total, lengths, ulp_n = 1 << 12, 8, [64, 128], 256
    else:
        sizes, dtypes, repeat = [20, 22, 24, 26, 28], ("float32", "float64"), 5
        copy_bytes, row_total, lengths, ulp_n = 1 << 30, 24, [256, 1024, 4096, 32768], 1 << 24
    copy = _copy_bandwidth(cuda, copy_bytes, repeat)
    result = {
        "device": where,
        "smoke": bool(args.smoke),
        "python": platform.python_version(),
        "numba_cuda": __import__("numba_cuda").__version__,
        "copy": copy,
        "elementwise": _elementwise(cuda, funclib, sizes, dtypes, repeat, copy["gbytes_per_s"]),
        "rowwise": _rowwise(cuda, row_total, lengths, repeat, copy["gbytes_per_s"]),
    }
    k = funclib.get("relu").kernel(dtype="float32", target="cuda")
    one = cuda.to_device(np.ones(1, np.float32))
    y0, y1 = cuda.device_array(1, np.float32), cuda.device_array(1, np.float32)
    reps = 3 if args.smoke else 200
    k(one, out=(y0, y1))
    cuda.synchronize()
    t = time.perf_counter()
    for _ in range(reps):
        k(one, out=(y0, y1))
    cuda.synchronize()
    result["launch_overhead_s"] = (time.perf_counter() - t) / reps
    result["ulp"] = _ulp(funclib, cuda, ulp_n)
    result["wall_s"] = time.perf_counter() - t0
    out_dir = Path(args.results)
    out_dir.mkdir(parents=True, exist_ok=True)
    name = "gpu_check_smoke.json" if args.smoke else "gpu_check.json"
    path = out_dir / name
    path.write_text(json.dumps(result, indent=1))
    print(f"wrote {path} ({result['wall_s']:.1f} s on {where})")
    if not args.smoke:
        big = [r for r in result["elementwise"] if r["dtype"] == "float32" and r["log2_n"] >= 26]
        print(f"copy {copy['gbytes_per_s']:.0f} GB/s; float32 elementwise (2^26+) fraction of copy: "
              f"min {min(r['fraction_of_copy'] for r in big):.2f}")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    sys.exit(main())
