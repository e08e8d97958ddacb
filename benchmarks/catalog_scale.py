"""Start-up cost at the catalog's size: ``import funclib``, ``funclib show gelu``, ``funclib
search sigmoid``, ``funclib list``, each end to end in a fresh interpreter (the way a user runs
them), repeated; prints median, min and max and writes ``benchmarks/results/catalog_scale.json``
with the CPU and the entry count. Targets (issue "catalog at 400+ entries"): import <= 0.3 s,
each command <= 0.5 s.

    python benchmarks/catalog_scale.py [--repeat 7]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from hostinfo import cpu_model  # benchmarks/ is on sys.path when a script runs

COMMANDS = {
    "import funclib": [sys.executable, "-c", "import funclib"],
    "funclib show gelu": [sys.executable, "-m", "funclib.cli", "show", "gelu"],
    "funclib search sigmoid": [sys.executable, "-m", "funclib.cli", "search", "sigmoid"],
    "funclib list": [sys.executable, "-m", "funclib.cli", "list"],
    "funclib show gelu:tanh --json": [sys.executable, "-m", "funclib.cli", "show", "gelu:tanh", "--json"],
}
TARGETS = {"import funclib": 0.3}




def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    import funclib.catalog_index as ci

    n_entries = len(ci.catalog_index().records)
    for cmd in COMMANDS.values():  # warm the OS file cache and the property cache once
        subprocess.run(cmd, capture_output=True, check=True)
    rows = {}
    for name, cmd in COMMANDS.items():
        times = []
        for _ in range(args.repeat):
            t = time.perf_counter()
            subprocess.run(cmd, capture_output=True, check=True)
            times.append(time.perf_counter() - t)
        target = TARGETS.get(name, 0.5)
        rows[name] = {"median_s": statistics.median(times), "min_s": min(times), "max_s": max(times),
                      "target_s": target, "met": statistics.median(times) <= target}
        r = rows[name]
        print(f"{name:<32} median {r['median_s']:.3f} s  (min {r['min_s']:.3f}, max {r['max_s']:.3f})  "
              f"target {target} s  {'met' if r['met'] else 'MISSED'}")
    out = {"cpu": cpu_model(), "python": platform.python_version(), "entries": n_entries,
           "repeat": args.repeat, "results": rows}
    path = Path(__file__).parent / "results" / "catalog_scale.json"
    path.write_text(json.dumps(out, indent=1) + "\n")
    print(f"{n_entries} entries, CPU: {out['cpu']}; wrote {path}")


if __name__ == "__main__":
    main()
