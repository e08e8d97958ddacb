"""Time the rewrite search: code generation of every corpus formula with and without it.

For each formula of tests/data/user_formulas.txt and each dtype, the symbolic stage of the
kernel generator (`funclib.kernels.codegen._symbolic`: stabilizing rewrites, limits, CSE, and
with the search the sample, the oracle and the candidates) runs `--repeats` times with
`rewrite_search=False` and `True`, uncached. The search's cost is the difference; the outcome of
each search (`REWRITES`) is recorded too. Numba compilation, the same either way, is not timed.
Raw numbers go to benchmarks/results/rewrite_search_time.json.
Run: ``python benchmarks/rewrite_search_time.py [--repeats 3]``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import statistics
import time
import warnings
from pathlib import Path

from funclib.kernels.api import entry_spec
from funclib.kernels.codegen import _symbolic
from funclib.kernels.formulas import formula_entry, read_corpus
from funclib.kernels.rewrite_search import BUDGET_S

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "tests" / "data" / "user_formulas.txt"
RESULTS = ROOT / "benchmarks" / "results" / "rewrite_search_time.json"


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _time(spec) -> tuple[float, object]:
    t = time.perf_counter()
    sym = _symbolic(spec)
    return time.perf_counter() - t, sym


def summarize(rows: list[dict], repeats: int) -> dict:
    """The overhead of the search per kernel (value + derivative) and what it did. The
    generator's own time is given cold (first repeat): later repeats reuse its caches."""
    over = sorted(r["overhead_s"] for r in rows)
    cold = sorted(r["plain_s"][0] for r in rows)
    spread = [max(r["searched_s"]) - min(r["searched_s"]) for r in rows]
    return {
        "cpu": _cpu(), "repeats": repeats, "kernels": len(rows), "budget_s_per_output": BUDGET_S,
        "search_overhead_median_s": statistics.median(over), "search_overhead_max_s": over[-1],
        "search_time_spread_median_s": statistics.median(spread),
        "generator_cold_median_s": statistics.median(cold), "generator_cold_max_s": cold[-1],
        "outputs_rewritten": sum(1 for r in rows for rec in r["rewrites"] if rec[3] != "generator"),
        "outputs_searched": sum(1 for r in rows for rec in r["rewrites"] if rec[4]),
        "outputs_budget_exhausted": sum(1 for r in rows for rec in r["rewrites"] if rec[5]),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--from-results", action="store_true", help="recompute the summary of the stored rows")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")
    if args.from_results:
        stored = json.loads(RESULTS.read_text())
        summary = summarize(stored["rows"], stored["summary"]["repeats"])
        RESULTS.write_text(json.dumps({"summary": summary, "rows": stored["rows"]}, indent=1))
        print(json.dumps(summary, indent=1))
        return 0
    rows = []
    for f in read_corpus(CORPUS):
        for dtype in ("float64", "float32"):
            spec, _, _ = entry_spec(formula_entry(f), dtype=dtype, outputs=("value", "derivative"), params=None,
                                    variant=None, accuracy="fast", wrt=None, rewrite_search=False)
            searched = dataclasses.replace(spec, rewrite_search=True)
            plain_t, search_t, records = [], [], None
            for _ in range(args.repeats):
                plain_t.append(_time(spec)[0])
                t, sym = _time(searched)
                search_t.append(t)
                records = sym.rewrites
            row = {"formula": f, "dtype": dtype, "plain_s": plain_t, "searched_s": search_t,
                   "overhead_s": statistics.median(search_t) - statistics.median(plain_t), "rewrites": records}
            rows.append(row)
            print(f"{f} {dtype}: generator {statistics.median(plain_t):.2f} s, with search "
                  f"{statistics.median(search_t):.2f} s (spread {min(search_t):.2f}-{max(search_t):.2f})", flush=True)
    summary = summarize(rows, args.repeats)
    print(json.dumps(summary, indent=1))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"summary": summary, "rows": rows}, indent=1))
    print(f"wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
