"""Speed and accuracy of funclib's float64 Mittag-Leffler evaluator against pymittagleffler.

For each parameter pair (alpha, beta), on the same float64 points z in [-50, 10]:

* speed: microseconds per value of ``funclib.mittag_leffler.mittag_leffler_np`` (vectorized
  NumPy) and of ``pymittagleffler.mittag_leffler`` (Rust, Garrappa's algorithm), best of
  several runs on 20 000 points;
* accuracy: maximum and median relative error of both against the 40-digit reference
  ``mittag_leffler_mp`` on 200 of those points (and z = 0, where pymittagleffler returns NaN
  for (alpha, beta) = (1, 2) and (2, 2)).

Results are printed and written to ``benchmarks/results/mittag_leffler.json``.

Run: ``python benchmarks/mittag_leffler.py [--size N] [--repeat R] [--check M]``
(``pip install pymittagleffler`` for the comparison; without it only funclib is measured).
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import mpmath
import numpy as np

from funclib.mittag_leffler import mittag_leffler_mp, mittag_leffler_np

PAIRS = [(0.5, 1.0), (0.7, 1.2), (0.9, 0.5), (1.0, 2.0), (1.3, 1.7), (1.5, 1.0), (1.9, 2.5), (2.0, 2.0), (0.25, 2.75)]
RESULTS = Path(__file__).with_name("results") / "mittag_leffler.json"


def best_time(func, repeat: int) -> float:
    func()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return min(times)


def relative_errors(values: np.ndarray, reference: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        err = np.abs(values / reference - 1)
    both_inf = np.isinf(values) & (values == reference)
    err[both_inf] = 0.0
    return np.where(np.isnan(err), np.inf, err)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=20000, help="points per timing run")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--check", type=int, default=200, help="points checked against mpmath")
    args = parser.parse_args(argv)
    try:
        import pymittagleffler
    except ImportError:  # pragma: no cover - optional peer
        pymittagleffler = None

    rng = np.random.default_rng(0)
    z = rng.uniform(-50, 10, args.size)
    rows = []
    for alpha, beta in PAIRS:
        # Keep the values finite: |z|^(1/alpha) below the float64 overflow of exp.
        zz = z[np.abs(z) ** (1 / alpha) < 700]
        row = {"alpha": alpha, "beta": beta, "points": int(zz.size)}
        t = best_time(lambda: mittag_leffler_np(alpha, beta, zz), args.repeat)
        row["funclib_us_per_value"] = 1e6 * t / zz.size
        if pymittagleffler is not None:
            t = best_time(lambda: pymittagleffler.mittag_leffler(zz, alpha, beta), args.repeat)
            row["pymittagleffler_us_per_value"] = 1e6 * t / zz.size
        check = np.concatenate([[0.0], zz[: args.check]])
        with mpmath.workdps(40):
            ref = np.array([float(mittag_leffler_mp(alpha, beta, float(t))) for t in check])
        ours = relative_errors(mittag_leffler_np(alpha, beta, check), ref)
        row["funclib_max_rel_err"] = float(ours.max())
        row["funclib_median_rel_err"] = float(np.median(ours))
        if pymittagleffler is not None:
            theirs_values = np.real(pymittagleffler.mittag_leffler(check, alpha, beta))
            theirs = relative_errors(theirs_values, ref)
            row["pymittagleffler_max_rel_err"] = float(theirs[1:].max())
            row["pymittagleffler_median_rel_err"] = float(np.median(theirs[1:]))
            row["pymittagleffler_at_zero"] = float(theirs_values[0])
        rows.append(row)
        print(
            f"alpha={alpha:<5} beta={beta:<5} funclib {row['funclib_us_per_value']:7.2f} us/value "
            f"max err {row['funclib_max_rel_err']:.1e}"
            + (
                f" | pymittagleffler {row['pymittagleffler_us_per_value']:7.2f} us/value "
                f"max err {row['pymittagleffler_max_rel_err']:.1e}, E(0) = {row['pymittagleffler_at_zero']}"
                if pymittagleffler is not None
                else ""
            ),
            flush=True,
        )
    summary = {
        "machine": platform.platform(),
        "processor": platform.processor(),
        "numpy": np.__version__,
        "pymittagleffler": getattr(pymittagleffler, "__version__", None) if pymittagleffler else None,
        "size": args.size,
        "rows": rows,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(summary, indent=1) + "\n")
    print(f"wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
