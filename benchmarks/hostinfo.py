"""What every benchmark records about the machine it ran on (imported by the scripts beside it)."""

from __future__ import annotations

import platform
import time
from pathlib import Path


def cpu_model() -> str:
    """The CPU's model name from ``/proc/cpuinfo`` (Linux), else what :mod:`platform` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def llvm_cpu_name() -> str:
    """The CPU name LLVM (and so Numba) compiles for: ``rocketlake``, ``znver4``... which
    decides the vector width the kernels are built at."""
    import llvmlite.binding as llvm

    return llvm.get_host_cpu_name()


def call_times(fn, repeat: int) -> list[float]:
    """Wall time of each of ``repeat`` calls of ``fn`` after one warm-up call (compilation,
    page faults); min is the time reported, max/min the spread."""
    fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times
