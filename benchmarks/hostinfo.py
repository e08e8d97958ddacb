"""What every benchmark records about the machine it ran on (imported by the scripts beside it)."""

from __future__ import annotations

import platform
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
