"""``funclib prove`` and ``funclib accuracy``: catalog-wide jobs on Dask (:mod:`funclib.jobs`)."""

from __future__ import annotations

import argparse
import json
import sys


def _ids(args) -> list[str] | None:
    from .cli import UsageError

    if args.all and args.ids:
        raise UsageError("give entry ids or --all, not both")
    if not args.all and not args.ids:
        raise UsageError("give entry ids or --all")
    return None if args.all else list(args.ids)


def _failures(report) -> int:
    for key, why in sorted(report.failures.items()):
        print(f"funclib: task {key} failed: {why}", file=sys.stderr)
    return 1 if report.failures else 0


def cmd_prove(args: argparse.Namespace) -> int:
    from . import jobs

    ids = _ids(args)
    progress = None if args.json else jobs.progress_bar()
    try:
        report = jobs.prove(ids, write=args.write, scheduler=args.scheduler, workers=args.workers, progress=progress)
    except jobs.JobError as exc:
        from .cli import EXIT_ERROR, fail

        return fail(EXIT_ERROR, "job error", str(exc), args.json)
    if args.json:
        print(json.dumps({"proved": sorted(report.results), "failures": report.failures,
                          "seconds": report.seconds, "workers": report.workers, "written": bool(args.write)}, indent=1))
    else:
        print(f"proved {len(report.results)} entries in {report.seconds:.1f} s on {report.workers} workers"
              + ("; cache written" if args.write and report.results else ""))
    return _failures(report)


def cmd_accuracy(args: argparse.Namespace) -> int:
    from . import jobs

    ids = _ids(args)
    progress = None if args.json else jobs.progress_bar()
    try:
        if args.exhaustive:
            if args.dtype != "float32":
                from .cli import UsageError

                raise UsageError("--exhaustive covers float32 (2^32 inputs); float64 is sampled")
            lo, hi = (0, 1 << 32) if args.bits is None else (int(args.bits[0], 0), int(args.bits[1], 0))
            rows, report = jobs.exhaustive_float32(ids or [], bits=(lo, hi), reference=args.reference,
                                                   scheduler=args.scheduler,
                                                   workers=args.workers, progress=progress)
        else:
            report = jobs.accuracy(ids, dtypes=(args.dtype,) if args.dtype else ("float64", "float32"),
                                   scheduler=args.scheduler, workers=args.workers, progress=progress)
            rows = sorted(report.results.values(), key=lambda r: (r["entry"], str(r["variant"]), r["dtype"], r["output"]))
    except jobs.JobError as exc:
        from .cli import EXIT_ERROR, fail

        return fail(EXIT_ERROR, "job error", str(exc), args.json)
    if args.json:
        print(json.dumps({"results": rows, "failures": report.failures, "seconds": report.seconds,
                          "workers": report.workers}, indent=1))
        return _failures(report)
    for r in rows:
        if args.exhaustive:
            rate = r["checked"] / r["cpu_seconds"] / 1e6 if r["cpu_seconds"] else float("nan")
            print(f"{r['entry']:<20} {r['output']:<10} max {r['max_ulp']:.3g} ULP, not correctly rounded "
                  f"{r['not_correctly_rounded']}, not faithful {r['not_faithful']} of {r['checked']} "
                  f"({'all 2^32' if r['exhaustive'] else 'partial'}; {rate:.1f} M inputs/s per worker)"
                  + ("" if r["reference_ok"] else f"; REFERENCE GAP {r['reference_gap']:.3g} ULP"))
        else:
            status = "ok" if r["passed"] else "ABOVE TARGET"
            print(f"{r['entry']:<20} {str(r['variant'] or ''):<10} {r['dtype']:<8} {r['output']:<10} "
                  f"{r['max_scaled']:6.2f} ULP (target {r['target']:g})  {status}")
    print(f"{len(rows)} results in {report.seconds:.1f} s on {report.workers} workers", file=sys.stderr)
    return _failures(report)


def add_commands(add) -> None:
    for name, func, text in (("prove", cmd_prove, "prove properties of entries on a Dask cluster (local by default)"),
                             ("accuracy", cmd_accuracy, "measure kernel accuracy of entries on a Dask cluster")):
        p = add(name, func, text)
        p.add_argument("ids", nargs="*", metavar="ID")
        p.add_argument("--all", action="store_true", help="every elementwise entry")
        p.add_argument("--scheduler", help="address of an existing Dask scheduler (tcp://HOST:PORT); "
                       "default: $FUNCLIB_SCHEDULER, else a local cluster")
        p.add_argument("--workers", type=int, help="local cluster size (default: the CPU count)")
        if name == "prove":
            p.add_argument("--write", action="store_true", help="merge the results into the committed cache")
        else:
            p.add_argument("--dtype", choices=("float64", "float32"))
            p.add_argument("--exhaustive", action="store_true", help="all 2^32 float32 inputs (with --dtype float32)")
            p.add_argument("--reference", choices=("fast", "libm"), default="fast",
                           help="float64 reference kernel of --exhaustive (fast: cross-checked against libm on 1/64 of the inputs)")
            p.add_argument("--bits", nargs=2, metavar=("LO", "HI"), help="only these float32 bit patterns (e.g. 0x3f000000 0x40000000)")
