"""Exhaustive float32 accuracy (:mod:`funclib.exhaustive`): per-core speed, and the full runs.

``speed`` times one chunk per entry in this process on one thread (CPU time and wall time,
repeated; the spread is printed) with

* the fused loop (:func:`funclib.exhaustive.chunk_results`, fast reference and libm reference),
* the NumPy pipeline a user would write (bit patterns -> float32 kernel, float64 libm kernel ->
  ULP errors, not-faithful and not-correctly-rounded counts in array operations), and
* the module as it was before the fused loop (``--previous REV``: loaded from git),

prints the ratios and writes ``benchmarks/results/exhaustive_speed.json``.

``run`` checks all 2^32 inputs of each entry on a local Dask cluster (``--workers``), entry by
entry (largest use first), appending each result to ``benchmarks/results/exhaustive.json`` as
it lands, so a run stopped by ``--budget`` minutes keeps what it finished.

    python benchmarks/exhaustive.py speed [--entries gelu silu] [--bits 24] [--repeat 3]
    nice -n 10 python benchmarks/exhaustive.py run [IDS ...] [--workers 2] [--budget 60]
    python benchmarks/exhaustive.py table      # writes docs/accuracy-exhaustive.md from the results
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import importlib.util
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from hostinfo import cpu_model  # benchmarks/ is on sys.path when a script runs

RESULTS = Path(__file__).parent / "results"
PAGE = Path(__file__).resolve().parents[1] / "docs" / "accuracy-exhaustive.md"
#: The entries PyTorch / JAX / Keras ship (tests/test_framework_agreement.py's records, default
#: parameters), most used first.
FRAMEWORK_ACTIVATIONS = (
    "relu", "gelu", "gelu:tanh", "silu", "sigmoid", "tanh", "softplus", "elu", "mish", "leaky_relu",
    "selu", "celu", "hard_tanh", "relu6", "hard_sigmoid", "hard_swish", "log_sigmoid", "softsign",
    "tanhshrink", "softshrink", "hardshrink", "erf", "arctan", "arcsinh", "exponential",
    "softplus:threshold", "prelu", "rrelu", "squareplus", "sparse_plus", "sparse_sigmoid",
    "threshold", "identity", "sign", "logit", "probit", "log1mexp",
)
OUTPUTS = ("value", "derivative")
#: The run's fields of a results row (one run can cover one output or both).
ENTRY_FIELDS = ("date", "wall_s", "workers", "cpu", "kernel_sha")
#: The module before the fused loop, for ``speed --previous``.
PREVIOUS = "18b3627"


def kernel_sha(entry_id: str) -> str:
    """SHA-256 (12 hex digits) of the generated source of the entry's float32 and float64
    kernels without their cache keys: a row whose kernels generate differently today is stale."""
    import funclib
    from funclib.kernels.api import entry_spec
    from funclib.kernels.codegen import generate_source

    name, _, variant = entry_id.partition(":")
    h = hashlib.sha256()
    for dtype in ("float32", "float64"):
        spec, _, _ = entry_spec(funclib.get(name), dtype=dtype, variant=variant or None)
        h.update("\n".join(line for line in generate_source(spec).splitlines() if not line.startswith("KEY =")).encode())
    return h.hexdigest()[:12]


def numpy_pipeline(entry_id: str, start: int, count: int) -> tuple[float, int, int]:
    """(max ULP, not faithful, not correctly rounded) of the value and derivative, in NumPy
    array operations against the libm kernel (no midpoint oracle)."""
    import funclib

    entry = funclib.get(entry_id)
    x32 = np.arange(start, start + count, dtype=np.uint64).astype(np.uint32).view(np.float32)
    with np.errstate(invalid="ignore"):
        ys = entry.kernel(dtype="float32")(x32)
        rs = entry.kernel(dtype="float64", accuracy="libm")(x32.astype(np.float64))
    worst, unfaithful, wrong = 0.0, 0, 0
    for y, r in zip(ys, rs):
        with np.errstate(over="ignore", invalid="ignore"):
            r32 = r.astype(np.float32)
            finite = np.isfinite(r32)
            _, e = np.frexp(np.abs(r[finite]))
            ulp = np.ldexp(1.0, np.maximum(e - 1, -126) - 23)
            err = np.abs(y[finite].astype(np.float64) - r[finite]) / ulp
        worst = max(worst, float(np.max(err, initial=0.0)))
        unfaithful += int(np.sum(err >= 1.0))
        wrong += int(np.sum(y[finite] != r32[finite])) + int(np.sum(~(np.isnan(y[~finite]) & np.isnan(r32[~finite]))
                                                               & (y[~finite] != r32[~finite])))
    return worst, unfaithful, wrong


def _previous_module(rev: str):
    """``funclib.exhaustive`` as of git revision ``rev`` (None when git cannot show it)."""
    try:
        text = subprocess.run(["git", "show", f"{rev}:funclib/exhaustive.py"], capture_output=True, text=True,
                              check=True, cwd=Path(__file__).parent).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    text = text.replace("from .kernels import", "from funclib.kernels import")
    path = Path(tempfile.mkdtemp()) / "exhaustive_previous.py"
    path.write_text(text)
    spec = importlib.util.spec_from_file_location("exhaustive_previous", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["exhaustive_previous"] = module
    spec.loader.exec_module(module)
    return module


def _time(func, repeat: int) -> dict:
    func()  # compile / warm
    cpu, wall = [], []
    for _ in range(repeat):
        c0, w0 = time.process_time(), time.perf_counter()
        func()
        cpu.append(time.process_time() - c0)
        wall.append(time.perf_counter() - w0)
    return {"cpu_s": cpu, "wall_s": wall, "cpu_median_s": statistics.median(cpu)}


def speed(args) -> None:
    from funclib import exhaustive

    previous = _previous_module(args.previous) if args.previous else None
    count = 1 << args.bits
    rows = []
    for entry_id in args.entries:
        # a chunk around 1.0 (the busy part of every activation) and one spanning 2^-8 .. 2^8
        for label, start in (("[0.5, ...)", 0x3F000000), ("[-2^-8, ...)", 0xBB800000)):
            row = {"entry": entry_id, "chunk": label, "start": start, "count": count}
            timings = {
                "fused_fast": lambda: exhaustive.chunk_results(entry_id, start, count, reference="fast"),
                "fused_libm": lambda: exhaustive.chunk_results(entry_id, start, count, reference="libm"),
                "numpy": lambda: numpy_pipeline(entry_id, start, count),
            }
            if previous is not None:
                timings[f"previous_{args.previous}"] = lambda: previous.chunk_results(entry_id, start, count)
            for name, func in timings.items():
                row[name] = _time(func, args.repeat)
                row[name]["minputs_per_cpu_s"] = count / row[name]["cpu_median_s"] / 1e6
            base = row["fused_fast"]["cpu_median_s"]
            row["speedup_fused_fast"] = {k: row[k]["cpu_median_s"] / base for k in timings if k != "fused_fast"}
            rows.append(row)
            print(f"{entry_id:<12} {label:<14} " + "  ".join(
                f"{k} {row[k]['minputs_per_cpu_s']:6.1f} M/s (cpu {min(row[k]['cpu_s']):.2f}-{max(row[k]['cpu_s']):.2f} s)"
                for k in timings) + "  fused_fast is " + ", ".join(
                f"{v:.1f}x {k}" for k, v in row["speedup_fused_fast"].items()), flush=True)
    out = {"benchmark": "exhaustive float32: one chunk per entry, one thread", "cpu": cpu_model(),
           "cpus": os.cpu_count(), "load_average": os.getloadavg(), "python": platform.python_version(),
           "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
           "numba_threads": os.environ.get("NUMBA_NUM_THREADS"), "rows": rows}
    (RESULTS / "exhaustive_speed.json").write_text(json.dumps(out, indent=1) + "\n")


def _load() -> dict[str, dict]:
    """entry -> {date, wall_s, workers, load_average, outputs: {output: combined report}} from
    ``exhaustive.json`` (empty when there is none)."""
    path = RESULTS / "exhaustive.json"
    if not path.exists():
        return {}
    doc = json.loads(path.read_text())
    if "entries" in doc:  # the layout of runs started before the flat rows
        return doc["entries"]
    entries: dict[str, dict] = {}
    for row in doc["rows"]:
        # rows before the per-entry CPU and kernel fields were all run on the file's CPU
        rec = entries.setdefault(row["entry"], {k: row.get(k, doc["cpu"] if k == "cpu" else None) for k in ENTRY_FIELDS}
                                 | {"outputs": {}})
        rec["load_average"] = doc["load_average"][row["entry"]]
        # the run fields stay on each output too: a rerun of one output replaces only its row
        r = {k: v for k, v in row.items() if not k.startswith("worst_")} | {k: rec[k] for k in ENTRY_FIELDS if k not in row}
        r["worst"] = [dict(zip(("ulp", "x", "y", "reference"), w)) for w in doc["worst"][row["entry"]][row["output"]]]
        entries[row["entry"]]["outputs"][row["output"]] = r
    return entries


def _save(entries: dict[str, dict]) -> None:
    """``exhaustive.json``: one flat row per (entry, output) (what the docs' benchmark and entry
    pages show), the worst inputs as [ulp, x, y, reference] lists beside them."""
    rows, worst, load = [], {}, {}
    for entry_id, rec in entries.items():
        load[entry_id] = rec["load_average"]
        for output, r in rec["outputs"].items():
            w = r["worst"][0] if r["worst"] else {"x": None, "y": None, "reference": None}
            rows.append({"entry": entry_id} | {k: r.get(k, rec.get(k)) for k in ENTRY_FIELDS}
                        | {k: v for k, v in r.items() if k != "worst"}
                        | {"worst_x": w["x"], "worst_y": w["y"], "worst_reference": w["reference"]})
            worst.setdefault(entry_id, {})[output] = [[w["ulp"], w["x"], w["y"], w["reference"]] for w in r["worst"]]
    doc = {"description": "all 2^32 float32 inputs of each entry's float32 kernel, value and derivative, against "
                          "the float64 reference (funclib.exhaustive); written by benchmarks/exhaustive.py run",
           "cpu": cpu_model(), "cpus": os.cpu_count(), "rows": rows, "worst": worst, "load_average": load}
    (RESULTS / "exhaustive.json").write_text(json.dumps(doc, indent=1) + "\n")


def run(args) -> None:
    from funclib import jobs

    entries = {} if args.fresh else _load()
    deadline = time.monotonic() + 60 * args.budget
    for entry_id in args.ids or FRAMEWORK_ACTIVATIONS:
        if entry_id in entries and not args.redo:
            continue
        if time.monotonic() > deadline:
            print(f"budget of {args.budget} min spent; stopping before {entry_id}", flush=True)
            break
        t0 = time.perf_counter()
        rows, report = jobs.exhaustive_float32([entry_id], outputs=args.outputs, reference=args.reference,
                                               workers=args.workers)
        wall = time.perf_counter() - t0
        if report.failures:
            print(f"{entry_id}: {len(report.failures)} failed tasks, not recorded: "
                  f"{next(iter(report.failures.values()))}", flush=True)
            continue
        fields = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                  "wall_s": round(wall, 1), "workers": report.workers, "cpu": cpu_model(),
                  "kernel_sha": kernel_sha(entry_id)}
        kept = entries.get(entry_id, {}).get("outputs", {}) if len(args.outputs) < len(OUTPUTS) else {}
        entries[entry_id] = fields | {"load_average": os.getloadavg(),
                                      "outputs": kept | {r["output"]: r | fields for r in rows}}
        _save(entries)
        print(f"{entry_id:<20} {wall:6.0f} s wall  " + "  ".join(
            f"{r['output']} max {r['max_ulp']:.3g} ULP, not CR {r['not_correctly_rounded']}, "
            f"not faithful {r['not_faithful']}, gap {r['reference_gap']:.2g}" for r in rows), flush=True)


def _short_cpu(name: str) -> str:
    return name.replace("(R)", "").replace("(TM)", "").replace(" Processor", "").strip()


def _g(v: float) -> str:
    return "0" if v == 0 else f"{v:.3g}"


def table(args) -> None:
    """docs/accuracy-exhaustive.md from the two results files."""
    import funclib

    done = _load()
    _save(done)  # the current layout, whichever wrote the file
    speed_path = RESULTS / "exhaustive_speed.json"
    speed_doc = json.loads(speed_path.read_text()) if speed_path.exists() else None
    lines = [
        "# Exhaustive float32 accuracy",
        "",
        "Generated by `python benchmarks/exhaustive.py table` from `benchmarks/results/exhaustive.json`",
        "and `exhaustive_speed.json` (this file is not edited by hand). Every one of the 2³² float32",
        "inputs — all NaN payloads, ±inf, subnormals and ±0 included — of an entry's float32 kernel,",
        "value and derivative, is compared with a float64 reference ({mod}`funclib.exhaustive`):",
        "",
        "* **Reference**: the entry's float64 kernel (vectorized, `accuracy=\"fast\"`), accurate to a",
        "  few float64 ULP — about 2⁻²⁷ float32 ULP — by the accuracy tests against the arb oracle.",
        "  Every 64th input (2²⁶ per entry) is also evaluated by the libm kernel (the C library's",
        "  elementary functions); *gap* is the largest difference, in float32 ULP. A gap above",
        "  2⁻²² would make the rounding decisions below unsafe and marks the row (**!**). Where the",
        "  output is ill-conditioned (condition number κ in the thousands: GELU's far left tail, next",
        "  to a root of the output) the reference's own error, κ·2⁻²⁹ float32 ULP, can exceed the",
        "  midpoint guard; the sampled gap shows it, but not every such input is sampled.",
        "* **max ULP**: the largest |y − r| / ulp₃₂(r) (the subnormal spacing below the least normal",
        "  and at 0); **not CR**: results that differ from the correctly rounded float32 value;",
        "  **not faithful**: results that are not one of the two float32 numbers around the true",
        "  value. Where r lies within 2⁻²⁰ ULP of a rounding midpoint, the arb oracle",
        "  (`entry.reference`) decides the rounding (*oracle*). Where the oracle's correctly rounded",
        "  float64 is itself the midpoint (GELU and SiLU at subnormal outputs, f(x) = x/2 + O(x²)),",
        "  runs from 2026-12-07 on decide the side with an arb enclosure at 256 bits (128 in the",
        "  AMD EPYC runs of that day, which left 2 of arctan's derivative ties undecided and none other)",
        "  (`funclib.exhaustive.tie_side`); *undecided* counts the points none separates from the",
        "  midpoint. Earlier runs compared those with the midpoint's round-half-even, which can be the",
        "  wrong neighbour: there *not CR* is uncertain by up to the undecided count. Where the",
        "  expression is rational (piecewise linear rectifiers, hard sigmoid and hard swish, sparse",
        "  plus and their derivatives), runs from 2026-12-07 15:20 UTC on decide the rounding in exact",
        "  rational arithmetic (`funclib.rational_eval`) instead: exact midpoints too (leaky ReLU's",
        "  x/100 at subnormal outputs, which no enclosure can separate). Ties no 256-bit enclosure",
        "  separates (tanhshrink x − tanh x at |x| ≥ 2²⁴, 2^(−2²⁵) above the midpoint x − 1) are decided",
        "  from f − m with its rational terms evaluated exactly and the rest over one denominator",
        "  (1 − tanh x = 2/(e^(2x) + 1) > 0; `funclib.exhaustive.tie_side`). Where r is NaN or rounds to ±inf,",
        "  y must be NaN or the same infinity (*special*: mismatches).",
        "* Run with `funclib accuracy gelu --dtype float32 --exhaustive [--workers N | --scheduler",
        "  tcp://HOST:PORT]` (Dask tasks of 2²⁶ inputs) or `benchmarks/exhaustive.py run`.",
        "",
        "CPU: the column names the machine of each run (2 cores, sometimes shared with other jobs: the load",
        "average is recorded per entry in the JSON; wall times are those of the run, `nice -n 10`, 2 Dask",
        "workers). A row marked † was measured on kernels that generate differently today (the",
        "`kernel_sha` of the JSON: a later printer change touched them) and waits for a rerun.",
        "The SHA covers the generated module, not the math library it calls",
        "(`funclib/kernels/mathlib`); since the first row was run that library has only gained functions",
        "(`scale_f32`/`scale_f64`, `tanhshrink_f32`/`tanhshrink_f64`, which only kernels generated after",
        "them call), so no row's code changed there.",
        "",
        "| entry | output | max ULP | not CR | not faithful | special | oracle (undecided) | gap (ULP) | worst x | y there | reference there | wall | CPU |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    current = {e: kernel_sha(e) for e in done}
    stale = {(e, o) for e, rec in done.items() for o, r in rec["outputs"].items()
             if r.get("kernel_sha", rec.get("kernel_sha")) != current[e]}
    cpu_total, inputs_total, timed = 0.0, 0, set()
    for entry_id in [e for e in FRAMEWORK_ACTIVATIONS if e in done] + sorted(set(done) - set(FRAMEWORK_ACTIVATIONS)):
        rec = done[entry_id]
        for output, r in rec["outputs"].items():
            w = r["worst"][0] if r["worst"] else {"x": float("nan"), "y": float("nan"), "reference": float("nan")}
            flag = "" if r["reference_ok"] and r["exhaustive"] else " **!**"
            mark = " †" if (entry_id, output) in stale else ""
            lines.append(f"| {entry_id}{mark} | {output} | {_g(r['max_ulp'])}{flag} | {r['not_correctly_rounded']} | "
                         f"{r['not_faithful']} | {r['special_mismatch']} | {r['oracle_calls']} ({r['undecided']}) | {_g(r['reference_gap'])} | "
                         f"{w['x']:.9g} | {w['y']:.9g} | {w['reference']:.17g} | {r.get('wall_s', rec['wall_s']):.0f} s | "
                         f"{_short_cpu(r.get('cpu', rec['cpu']))} |")
            if r.get("cpu_clock") == "thread_time":  # earlier runs timed the wall clock in the worker
                cpu_total += r["cpu_seconds"]
                inputs_total += r["checked"] if output == "value" else 0
                timed.add(entry_id)
    missing = [e for e in FRAMEWORK_ACTIVATIONS if e not in done]
    n_catalog = sum(1 + len(e.variants) for e in funclib.entries("elementwise"))
    per_entry = cpu_total / max(len(timed), 1)
    lines += [
        "",
        f"**Run on all 2³² inputs**: {len(done)} of the {len(FRAMEWORK_ACTIVATIONS)} framework activations (a row "
        "marked **!** had a reference gap above the guard, so its rounding counts are not certified)"
        + (f"; not yet run: {', '.join(missing)}." if missing else ".")
        + (f" Stale (†, to rerun): {', '.join(f'{e} {o}' for e, o in sorted(stale))}." if stale else ""),
        "",
        "## Throughput",
        "",
        f"The run above took {per_entry:.0f} CPU seconds per entry on average ({len(timed)} entries timed; the "
        "arb oracle's calls are included: GELU's 16.8 M midpoint cases cost about 40 µs each) "
        f"({inputs_total / max(cpu_total, 1e-9) / 1e6:.1f} M inputs per CPU second, value and derivative together).",
        f"At that rate the whole catalog ({n_catalog} elementwise entries and variants) takes "
        f"{n_catalog * per_entry / 3600:.1f} h on one core, {n_catalog * per_entry / 3600 / 16:.1f} h on 16 workers and "
        f"{n_catalog * per_entry / 3600 / 64:.2f} h on 64 (the chunks are independent tasks).",
    ]
    if speed_doc:
        lines += [
            "",
            f"One chunk of 2^{int(math.log2(speed_doc['rows'][0]['count']))} inputs in one process, one thread, CPU time "
            f"(median of {len(speed_doc['rows'][0]['fused_fast']['cpu_s'])}; load average {speed_doc['load_average'][0]:.1f}: "
            f"the machine was shared), {speed_doc['date'][:10]}, M inputs/s:",
            "",
            "| entry | chunk | fused, fast reference | fused, libm reference | NumPy pipeline | before (" + PREVIOUS + ") | speed-up vs before |",
            "|---|---|---:|---:|---:|---:|---:|",
        ]
        for row in speed_doc["rows"]:
            prev = f"previous_{PREVIOUS}"
            lines.append(f"| {row['entry']} | {row['chunk']} | {row['fused_fast']['minputs_per_cpu_s']:.1f} | "
                         f"{row['fused_libm']['minputs_per_cpu_s']:.1f} | {row['numpy']['minputs_per_cpu_s']:.1f} | "
                         + (f"{row[prev]['minputs_per_cpu_s']:.1f} | {row['speedup_fused_fast'][prev]:.1f}x |"
                            if prev in row else "– | – |"))
    PAGE.write_text("\n".join(lines) + "\n")
    print(f"wrote {PAGE}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("speed")
    p.add_argument("--entries", nargs="+", default=["gelu", "silu", "tanh", "elu"])
    p.add_argument("--bits", type=int, default=22, help="log2 of the chunk size")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--previous", default=PREVIOUS, help="git revision of the module to compare ('' to skip)")
    p = sub.add_parser("run")
    p.add_argument("ids", nargs="*", help=f"entries (default: the framework activations, {len(FRAMEWORK_ACTIVATIONS)})")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--reference", choices=("fast", "libm"), default="fast")
    p.add_argument("--budget", type=float, default=60.0, help="minutes; no new entry starts after them")
    p.add_argument("--redo", action="store_true", help="rerun entries already in the results file")
    p.add_argument("--outputs", nargs="+", choices=OUTPUTS, default=list(OUTPUTS),
                   help="rerun only these outputs (the others keep their rows)")
    p.add_argument("--fresh", action="store_true", help="start a new results file")
    sub.add_parser("table")
    args = parser.parse_args()
    {"speed": speed, "run": run, "table": table}[args.command](args)


if __name__ == "__main__":
    main()
