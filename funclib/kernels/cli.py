"""``funclib kernel NAME_OR_FORMULA``: compile a kernel, report its ULP accuracy and speed.

Also contributes the kernel section of ``funclib tour``. Numba and the generated modules are
imported only when a command runs, so ``funclib --help`` stays fast.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from typing import Any

__all__ = ["add_commands", "cmd_kernel", "tour"]


def add_commands(add) -> None:
    """Register ``funclib kernel`` with the main parser (``add(name, func, help)``)."""
    p = add("kernel", cmd_kernel, "compile a fused value+derivative CPU kernel; report ULP accuracy and speed")
    p.add_argument("target", metavar="NAME_OR_FORMULA", help="catalog id/alias or a formula in x")
    p.add_argument("--dtype", choices=("float32", "float64"), default="float64")
    p.add_argument("--variant")
    p.add_argument("--param", dest="params", action="append", metavar="NAME=VALUE")
    p.add_argument("--accuracy", choices=("fast", "libm"), default="fast")
    p.add_argument("--target", dest="device", choices=("cpu", "cuda"), default="cpu",
                   help="where the kernel runs: cpu (Numba) or cuda (numba-cuda; NUMBA_ENABLE_CUDASIM=1 "
                        "runs the CUDA simulator without a GPU)")
    p.add_argument("--bench", action="store_true", help="measure throughput against NumPy and libm")
    p.add_argument("--size", type=int, default=1 << 20, help="elements for --bench (default 2^20)")
    p.add_argument("--points", type=int, default=120, help="points per scale for the ULP summary")
    p.add_argument("--source", action="store_true", help="print the generated module")


def _entry_for(target: str, params: dict[str, float]):
    """A catalog entry, or an ad-hoc entry for a formula (so the reference oracle applies)."""
    from .. import registry
    from .formulas import formula_entry

    try:
        return registry.get(target), True
    except registry.UnknownEntryError:
        if not any(c in target for c in "()*+-/") and target.isidentifier() and target != "x":
            raise
    return formula_entry(target, params), False


def _time(func, repeat: int = 5) -> float:
    best = math.inf
    for _ in range(repeat):
        t = time.perf_counter()
        func()
        best = min(best, time.perf_counter() - t)
    return best


def _summary(results) -> list[dict[str, Any]]:
    return [
        {
            "output": r.output,
            "dtype": r.dtype,
            "points": r.n,
            "max_ulp": r.max_ulp,
            "p99_ulp": r.p99_ulp,
            "max_abs": r.max_abs,
            "max_ulp_over_kappa": r.max_scaled,
            "worst_x": r.worst_x,
            "target_ulp": r.target,
            "passed": r.passed,
            "undecided": r.undecided,
        }
        for r in results
    ]


def _bench(entry, kernel, args, params) -> dict[str, float]:
    import numpy as np

    from ..npeval import np_evaluate

    n = args.size
    x = np.random.default_rng(0).normal(0, 4, n).astype(args.dtype)
    kernel(x[:1024])  # compile the serial loop; the next call compiles the parallel one
    kernel(x)
    t_kernel = _time(lambda: kernel(x))
    value = entry.numeric_expr(args.variant, params or None)
    deriv = entry.derivative(variant=args.variant, params=params or None, numeric=True)
    x64 = x.astype(np.float64)
    t_numpy = _time(lambda: (np_evaluate(value, {entry.symbol: x64}), np_evaluate(deriv, {entry.symbol: x64})), 3)
    libm = entry.kernel(dtype=args.dtype, variant=args.variant, params=params or None, accuracy="libm")
    libm(x)
    t_libm = _time(lambda: libm(x))
    # the kernel reads n and writes 2n elements; a copy of 1.5n elements moves the same bytes
    copy_src = np.ones(3 * n // 2, args.dtype)
    copy_dst = np.empty_like(copy_src)
    t_copy = _time(lambda: np.copyto(copy_dst, copy_src))
    nbytes = 3 * n * np.dtype(args.dtype).itemsize
    return {
        "elements": n,
        "kernel_s": t_kernel,
        "melem_per_s": n / t_kernel / 1e6,
        "gbytes_per_s": nbytes / t_kernel / 1e9,
        "numpy_s": t_numpy,
        "speedup_vs_numpy": t_numpy / t_kernel,
        "libm_s": t_libm,
        "speedup_vs_libm": t_libm / t_kernel,
        "copy_gbytes_per_s": nbytes / t_copy / 1e9,
        "fraction_of_copy_bandwidth": t_copy / t_kernel,
    }


def cmd_kernel(args: argparse.Namespace) -> int:
    """Compile, report accuracy (and speed with ``--bench``)."""
    from ..cli import UsageError, parse_params

    if args.device == "cuda":
        return _cmd_kernel_cuda(args)
    if args.size < 1 or args.points < 4:
        raise UsageError("--size must be >= 1 and --points >= 4")
    params = parse_params(args.params)
    entry, from_catalog = _entry_for(args.target, params)
    if entry.kind != "elementwise":
        raise UsageError(f"entry {entry.id!r} is {entry.kind}; `funclib kernel` builds elementwise kernels")
    from ..accuracy import measure, sample_points

    t = time.perf_counter()
    kernel = entry.kernel(dtype=args.dtype, variant=args.variant, params=params or None, accuracy=args.accuracy)
    import numpy as np

    kernel(np.zeros(8, args.dtype))
    t_compile = time.perf_counter() - t
    pts = sample_points(args.dtype, n_linear=args.points, n_log=args.points)
    results = [
        measure(entry, variant=args.variant, dtype=args.dtype, output=o, accuracy=args.accuracy,
                params=params or None, points=pts, kernel=single)
        for o, single in (
            ("value", lambda x: kernel(x)[0]),
            ("derivative", lambda x: kernel(x)[1]),
        )
    ]
    bench = _bench(entry, kernel, args, params) if args.bench else None
    data = {
        "name": entry.id if from_catalog else args.target,
        "variant": args.variant,
        "dtype": args.dtype,
        "accuracy": args.accuracy,
        "module": kernel.path,
        "from_cache": not kernel.generated,
        "first_call_s": t_compile,
        "expressions": kernel.expressions,
        "ulp": _summary(results),
        "bench": bench,
    }
    if args.json:
        print(json.dumps(data, indent=1))
        return 0
    print(f"kernel {data['name']}{'[' + args.variant + ']' if args.variant else ''}  {args.dtype}  "
          f"accuracy={args.accuracy}  ({'loaded from cache' if data['from_cache'] else 'generated'}, "
          f"first call {t_compile:.2f} s)")
    for name, text in kernel.expressions.items():
        print(f"  {name:<10} {text}")
    print(f"  module     {kernel.path}")
    print(f"\n  ULP error against the correctly rounded reference ({results[0].n} points, ±0, subnormals, tails, ±inf, NaN):")
    print(f"  {'output':<11}{'max':>9}{'p99':>8}{'max/κ':>8}{'max abs':>11}   worst x   target")
    for r in results:
        status = "ok" if r.passed else "FAIL"
        print(f"  {r.output:<11}{r.max_ulp:>9.2f}{r.p99_ulp:>8.2f}{r.max_scaled:>8.2f}{r.max_abs:>11.2e}"
              f"   {r.worst_x:<9.4g} ≤{r.target:g}·max(1,κ) {status}")
    for r in results:
        if r.undecided:
            shown = ", ".join(f"{t:.6g}" for t in r.undecided[:5]) + (" ..." if len(r.undecided) > 5 else "")
            print(f"  {r.output}: reference undecided at x = {shown} ({len(r.undecided)} points left out)")
    if bench:
        print(f"\n  throughput on {bench['elements']} elements (value + derivative):")
        print(f"    funclib kernel   {bench['melem_per_s']:9.1f} Melem/s  {bench['gbytes_per_s']:6.2f} GB/s "
              f"({100 * bench['fraction_of_copy_bandwidth']:.0f}% of a memory copy of the same bytes)")
        print(f"    NumPy (stable)   {bench['speedup_vs_numpy']:9.1f}x slower")
        print(f"    libm kernel      {bench['speedup_vs_libm']:9.1f}x slower")
    if args.source:
        print()
        print(kernel.source)
    return 0 if all(r.passed for r in results) else 1


def _cmd_kernel_cuda(args: argparse.Namespace) -> int:
    """``funclib kernel NAME --target cuda``: build the CUDA kernel, compare it with the CPU kernel."""
    import numpy as np

    from ..accuracy import ulp_error
    from ..cli import UsageError, parse_params

    try:
        from .cuda.kernel import cuda_status
    except Exception as exc:  # noqa: BLE001 - report any import problem as "unavailable"
        raise UsageError(f"CUDA is unavailable: {exc}") from None
    ok, where = cuda_status()
    if not ok:
        raise UsageError(f"{where}. The CUDA target needs an NVIDIA GPU with its driver and numba-cuda "
                         f"(pip install funclib[cuda]); to test without a GPU, run with "
                         f"NUMBA_ENABLE_CUDASIM=1 (the CUDA simulator).")
    params = parse_params(args.params)
    entry, from_catalog = _entry_for(args.target, params)
    if entry.kind != "elementwise":
        raise UsageError(f"entry {entry.id!r} is {entry.kind}; `funclib kernel` builds elementwise kernels")
    t = time.perf_counter()
    kernel = entry.kernel(dtype=args.dtype, variant=args.variant, params=params or None, target="cuda")
    cpu = entry.kernel(dtype=args.dtype, variant=args.variant, params=params or None)
    x = np.concatenate([np.linspace(-20, 20, 401), [0.0, -0.0, np.inf, -np.inf, np.nan]]).astype(args.dtype)
    got = kernel(x)
    t_first = time.perf_counter() - t
    want = cpu(x)
    ulps = []
    for g, w in zip(got, want):
        w = np.asarray(w)
        ulps.append(float(np.max(ulp_error(np.asarray(g), w, str(w.dtype)), initial=0.0)))
    data = {"name": entry.id if from_catalog else args.target, "dtype": args.dtype, "target": "cuda",
            "device": where, "module": kernel.path, "first_call_s": t_first,
            "max_ulp_vs_cpu": dict(zip(kernel.outputs, ulps)), "points": int(x.size)}
    if args.bench and not kernel.simulator:
        data["bench"] = _bench_cuda(kernel, args)
    if args.json:
        print(json.dumps(data, indent=1))
        return 0
    print(f"kernel {data['name']}  {args.dtype}  target=cuda on {where} (first call {t_first:.2f} s)")
    for name, text in kernel.expressions.items():
        print(f"  {name:<10} {text}")
    print(f"  module     {kernel.path}")
    print(f"  agreement with the CPU kernel on {x.size} points (incl. ±0, ±inf, NaN): " +
          ", ".join(f"{o} max {u:.1f} ULP" for o, u in data["max_ulp_vs_cpu"].items()))
    if "bench" in data:
        b = data["bench"]
        print(f"  {b['elements']} elements: {b['gbytes_per_s']:.0f} GB/s "
              f"({100 * b['fraction_of_copy_bandwidth']:.0f}% of a device-to-device copy)")
    elif args.bench:
        print("  --bench skipped: the simulator's timings mean nothing")
    if args.source:
        print()
        print(kernel.source)
    return 0


def _bench_cuda(kernel, args) -> dict[str, float]:
    import numpy as np
    from numba import cuda

    n = args.size
    x = cuda.to_device(np.random.default_rng(0).normal(0, 4, n).astype(args.dtype))
    kernel(x)
    cuda.synchronize()
    t_k = _time(lambda: (kernel(x), cuda.synchronize()))
    src = cuda.device_array(3 * n // 2, dtype=args.dtype)
    dst = cuda.device_array(3 * n // 2, dtype=args.dtype)
    t_c = _time(lambda: (dst.copy_to_device(src), cuda.synchronize()))
    nbytes = 3 * n * np.dtype(args.dtype).itemsize
    return {"elements": n, "kernel_s": t_k, "gbytes_per_s": nbytes / t_k / 1e9,
            "copy_gbytes_per_s": 2 * (3 * n // 2) * np.dtype(args.dtype).itemsize / t_c / 1e9,
            "fraction_of_copy_bandwidth": t_c / t_k}


def tour() -> None:
    """The kernel section of ``funclib tour``: GELU's float32 kernel, accuracy and speed."""
    import numpy as np

    from .. import registry
    from ..accuracy import measure, sample_points
    from ..npeval import np_evaluate

    gelu = registry.get("gelu")
    t = time.perf_counter()
    k = gelu.kernel(dtype="float32")
    x = np.random.default_rng(0).normal(0, 3, 1 << 20).astype(np.float32)
    k(x[:16])
    t_first = time.perf_counter() - t
    pts = sample_points("float32", n_linear=40, n_log=40)
    acc = [measure(gelu, dtype="float32", output=o, points=pts, kernel=(lambda z, j=j: k(z)[j]))
           for j, o in enumerate(("value", "derivative"))]
    k(x)
    t_k = _time(lambda: k(x), 3)
    x64 = x.astype(np.float64)
    deriv = gelu.derivative()
    t_np = _time(lambda: (np_evaluate(gelu.expr, {gelu.symbol: x64}), np_evaluate(deriv, {gelu.symbol: x64})), 2)
    print(">>> k = funclib.get('gelu').kernel(dtype='float32');  y, dy = k(x)")
    print(f"fused value + derivative, Numba, funclib's vectorizable erfc/exp "
          f"({'from the disk cache' if not k.generated else 'compiled'} in {t_first:.2f} s)")
    for r in acc:
        print(f"  {r.output:<10} max {r.max_ulp:.2f} ULP (p99 {r.p99_ulp:.2f}) over {r.n} float32 inputs; "
              f"max error/max(1,κ) {r.max_scaled:.2f} ULP")
    print(f"  2^20 elements: {t_k * 1e3:.2f} ms ({len(x) / t_k / 1e6:.0f} Melem/s), "
          f"{t_np / t_k:.0f}x faster than NumPy/SciPy in float64")
    sys.stdout.flush()
