"""Jobs over the whole catalog as Dask task graphs: proofs and accuracy sweeps.

``funclib prove`` and ``funclib accuracy`` (and the functions below) split the work into tasks
(one entry per proof; one entry, variant, dtype and output per accuracy measurement; 2^26
inputs per exhaustive float32 task) and run them on

* a local cluster of worker processes on this machine (the default: nothing to start), or
* an existing Dask cluster: ``scheduler="tcp://HOST:PORT"`` (or ``FUNCLIB_SCHEDULER``); its
  workers need funclib installed. An unreachable scheduler is an error within
  :data:`CONNECT_TIMEOUT` seconds.

A task whose worker dies is retried (:data:`RETRIES`), then reported as failed with its
reason; the other results still come back. Results are gathered here and the property cache
is written only at the end, file by file and atomically, so it is never left half-written.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["JobError", "JobReport", "cluster", "run_tasks", "prove", "accuracy", "exhaustive_float32", "CONNECT_TIMEOUT"]

CONNECT_TIMEOUT = 10
RETRIES = 2


class JobError(RuntimeError):
    """The job could not run (no scheduler, Dask missing)."""


@dataclass
class JobReport:
    """Results by task key, failures (key -> reason) and the wall time."""

    results: dict[str, Any] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    workers: int = 0


@contextlib.contextmanager
def cluster(scheduler: str | None = None, workers: int | None = None) -> Iterator[Any]:
    """A ``distributed.Client``: on ``scheduler`` (or ``$FUNCLIB_SCHEDULER``), else on a local
    cluster of ``workers`` single-threaded processes (default: the CPU count)."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise JobError("catalog-wide jobs need Dask: pip install 'funclib[jobs]' (dask distributed)") from None
    address = scheduler or os.environ.get("FUNCLIB_SCHEDULER") or None
    if address:
        try:
            client = Client(address, timeout=f"{CONNECT_TIMEOUT}s")
        except (OSError, TimeoutError) as exc:
            raise JobError(f"cannot reach the Dask scheduler at {address} within {CONNECT_TIMEOUT} s "
                           f"({type(exc).__name__}: {exc})") from None
        try:
            yield client
        finally:
            client.close()
        return
    n = workers or os.cpu_count() or 1
    with LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None) as local, \
            Client(local) as client:
        yield client


def run_tasks(tasks: dict[str, tuple[Callable, tuple]], *, scheduler=None, workers=None, progress=None) -> JobReport:
    """Run ``tasks`` (key -> (function, args); plain picklable functions) on :func:`cluster`:
    each task retried :data:`RETRIES` times, then reported in ``failures`` with its reason;
    ``progress(done, total, key)`` is called as tasks finish."""
    import time

    from distributed import as_completed

    start = time.perf_counter()
    report = JobReport()
    with cluster(scheduler, workers) as client:
        report.workers = len(client.scheduler_info().get("workers", {}))
        futures = {client.submit(func, *args, key=f"funclib-{key}", retries=RETRIES, pure=False): key
                   for key, (func, args) in tasks.items()}
        done = 0
        for future in as_completed(futures):
            key = futures[future]
            done += 1
            try:
                report.results[key] = future.result()
            except Exception as exc:  # noqa: BLE001 - a failed task is reported, not fatal
                report.failures[key] = f"{type(exc).__name__}: {exc}"
            if progress:
                progress(done, len(futures), key)
    report.seconds = time.perf_counter() - start
    return report


def progress_bar(stream=sys.stderr) -> Callable[[int, int, str], None]:
    """A one-line progress display: ``[done/total] last task``."""
    def show(done: int, total: int, key: str) -> None:
        width = 30
        filled = width * done // max(total, 1)
        stream.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} {key[:40]:<40}")
        if done == total:
            stream.write("\n")
        stream.flush()

    return show


# -- the tasks (run on workers: plain functions of picklable arguments) ------------------------


def _prove_task(entry_id: str) -> tuple[str, dict]:
    import funclib
    from funclib.properties import build_cache

    entry = funclib.get(entry_id)
    return entry.source, build_cache([entry])[entry_id]


def _accuracy_task(entry_id: str, variant: str | None, dtype: str, output: str) -> dict:
    import funclib
    from funclib.accuracy import CATALOG_SAMPLE, measure, sample_points

    entry = funclib.get(entry_id)
    r = measure(entry, variant=variant, dtype=dtype, output=output, points=sample_points(dtype, **CATALOG_SAMPLE))
    return {"entry": entry_id, "variant": variant, "dtype": dtype, "output": output, "max_ulp": r.max_ulp,
            "max_scaled": r.max_scaled, "target": r.target, "passed": r.passed, "worst_x": r.worst_x, "n": r.n}


def _exhaustive_task(entry_id: str, start: int, count: int, outputs: tuple[str, ...], reference: str = "fast"):
    from funclib.exhaustive import chunk_results

    return chunk_results(entry_id, start, count, outputs, reference)


# -- the jobs ------------------------------------------------------------------------------------


def _elementwise(ids: Sequence[str] | None):
    import funclib

    if ids:
        entries = [funclib.get(i) for i in ids]
        wrong = [e.id for e in entries if e.kind != "elementwise"]
        if wrong:
            raise ValueError(f"not elementwise (no proofs or kernels to check): {', '.join(wrong)}")
        return entries
    return funclib.entries("elementwise")


def prove(ids: Sequence[str] | None = None, *, write: bool = False, scheduler: str | None = None,
          workers: int | None = None, progress: Callable | None = None) -> JobReport:
    """Prove the properties of ``ids`` (default: every elementwise entry), one task per entry;
    with ``write``, merge the results into the committed cache (atomically, per file)."""
    entries = _elementwise(ids)
    tasks = {e.id: (_prove_task, (e.id,)) for e in entries}
    report = run_tasks(tasks, scheduler=scheduler, workers=workers, progress=progress)
    if write and report.results:
        from funclib.properties import write_cache

        write_cache({k: slot for k, (_, slot) in report.results.items()},
                    {k: source for k, (source, _) in report.results.items()})
    return report


def accuracy(ids: Sequence[str] | None = None, *, dtypes=("float64", "float32"), outputs=("value", "derivative"),
             scheduler: str | None = None, workers: int | None = None, progress: Callable | None = None) -> JobReport:
    """Kernel accuracy on the canonical sample (as the tests), one task per entry, variant,
    dtype and output."""
    tasks = {}
    for e in _elementwise(ids):
        for v in (None, *e.variants):
            for dtype in dtypes:
                for output in outputs:
                    tasks[f"{e.id}[{v}]-{dtype}-{output}"] = (_accuracy_task, (e.id, v, dtype, output))
    return run_tasks(tasks, scheduler=scheduler, workers=workers, progress=progress)


def exhaustive_float32(ids: Sequence[str], *, outputs=("value", "derivative"), bits: tuple[int, int] = (0, 1 << 32),
                       reference: str = "fast", scheduler: str | None = None, workers: int | None = None,
                       progress: Callable | None = None) -> tuple[list[dict], JobReport]:
    """Every float32 input (or the bit patterns in ``bits``) of each entry's float32 kernel,
    value and derivative, against the float64 ``reference`` kernel (``"fast"`` or ``"libm"``,
    see :mod:`funclib.exhaustive`): one task per 2^26 inputs; returns the combined reports."""
    from funclib.exhaustive import CHUNK_BITS, REFERENCES, combine

    if reference not in REFERENCES:
        raise ValueError(f"reference must be one of {REFERENCES}, got {reference!r}")

    entries = _elementwise(ids)
    lo, hi = bits
    if not 0 <= lo < hi <= 1 << 32:
        raise ValueError(f"bits must satisfy 0 <= lo < hi <= 2^32, got {bits}")
    step = 1 << CHUNK_BITS
    tasks = {}
    outputs = tuple(outputs)
    for e in entries:
        for start in range(lo, hi, step):
            count = min(step, hi - start)
            tasks[f"{e.id}-{start:08x}"] = (_exhaustive_task, (e.id, start, count, outputs, reference))
    report = run_tasks(tasks, scheduler=scheduler, workers=workers, progress=progress)
    combined = []
    for e in entries:
        for output in outputs:
            chunks = [c for k, results in report.results.items() if k.startswith(f"{e.id}-")
                      for c in results if c.output == output]
            if chunks:
                combined.append(combine(sorted(chunks, key=lambda c: c.start)))
    return combined, report
