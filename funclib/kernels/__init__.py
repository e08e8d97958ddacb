"""Fast, accurate CPU kernels generated from any elementwise formula (Numba).

>>> import funclib
>>> k = funclib.get("gelu").kernel(dtype="float32")       # value and derivative, fused
>>> y, dy = k(x)                                           # any shape, any strides
>>> k = funclib.compile("x*tanh(softplus(beta*x))", params={"beta": 1.0})
>>> y, dy = k(x, beta=1.5)                                 # parameters at call time

Modules: :mod:`~funclib.kernels.codegen` (formula → module source), ``printer`` (typed
branch-free Numba code), ``limits`` (values at ±inf), ``cache`` (content-hashed modules on
disk), ``kernel`` (the callable), ``ufuncs`` (NumPy ufuncs), ``vecmath`` (vectorizable
exp/log/erf/... for float32 and float64), ``libm`` (the C-library fallback), ``remez``
(minimax coefficients), ``reduce`` (deterministic sums), ``cli``.

This package imports Numba lazily: ``import funclib.kernels`` is cheap; the first
:func:`compile` pays for it.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from importlib import import_module
from pathlib import Path

__all__ = ["compile", "entry_kernel", "entry_ufunc", "formula_ufunc", "Kernel", "KernelError", "vecmath_version"]

_LAZY = {
    "compile": ("api", "compile"),
    "entry_kernel": ("api", "entry_kernel"),
    "entry_ufunc": ("api", "entry_ufunc"),
    "formula_ufunc": ("api", "formula_ufunc"),
    "Kernel": ("kernel", "Kernel"),
    "KernelError": ("printer", "KernelError"),
}

#: Sources whose text is part of every kernel's cache key.
_KEY_SOURCES = ("codegen.py", "module_header.py", "printer.py", "limits.py", "asymptotes.py", "mathlib/vecmath.py",
                "mathlib/libm.py", "mathlib/intrinsics.py", "mathlib/coefficients.py", "reduce.py",
                # the exact rewrites that the printers print (calculus layer)
                "../stable_forms/__init__.py", "../stable_forms/sums.py", "../stable_forms/cancelling.py")


@lru_cache(maxsize=1)
def vecmath_version() -> str:
    """Hash of the code generator and math library sources plus the Numba version."""
    import numba

    h = hashlib.sha256(numba.__version__.encode())
    here = Path(__file__).parent
    for name in _KEY_SOURCES:
        h.update((here / name).read_bytes())
    return h.hexdigest()[:16]


def __getattr__(name: str):
    if name in _LAZY:
        module, attr = _LAZY[name]
        return getattr(import_module(f"{__name__}.{module}"), attr)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
