"""Numba intrinsics for the vectorizable math: bit casts between floats and integers, and FMA.

Each intrinsic lowers to one LLVM instruction (``bitcast`` or ``llvm.fma``), so loops that use
them stay vectorizable. Integers of any width are accepted where an integer is expected and
truncated or sign-extended to the float's width (Numba widens ``int32 + int32`` to ``int64``).

``HAS_FMA`` says whether the host CPU has a fused multiply-add; where it does not,
:func:`madd` is an ordinary multiply and add (``llvm.fma`` would become a slow libm call).
"""

from __future__ import annotations

import llvmlite.binding as llvm
from llvmlite import ir
from numba import types
from numba.core.extending import intrinsic, register_jitable

__all__ = [
    "f64_bits",
    "f64_from_bits",
    "f32_bits",
    "f32_from_bits",
    "fma",
    "madd",
    "HAS_FMA",
    "host_features",
    "vector_registers",
    "wide_vector_features",
]


def host_features() -> set[str]:
    """The host CPU's feature flags as LLVM names them (``avx2``, ``fma``, ``avx512f``...)."""
    flags = llvm.get_host_cpu_features().flatten().split(",")
    return {f[1:] for f in flags if f.startswith("+")}


HAS_FMA: bool = "fma" in host_features()


def vector_registers() -> tuple[str, ...]:
    """The SIMD register classes a vectorized kernel loop may use on this CPU.

    The kernels are built for the host CPU at the vector width LLVM's cost model prefers for
    it: on AVX-512 hosts that is 256 bits (``ymm``) for CPUs tuned with ``prefer-256-bit``
    (Intel Xeons from Skylake-SP to Rocket Lake, where 512-bit instructions lower the clock)
    and 512 bits (``zmm``) for others; on AVX/AVX2 hosts 256 bits; otherwise SSE's 128 bits.
    A loop counts as vectorized when its packed arithmetic uses one of these classes.
    """
    features = host_features()
    if "avx512f" in features:
        return ("zmm", "ymm")
    if "avx" in features:
        return ("ymm",)
    return ("xmm",)


def wide_vector_features() -> str | None:
    """The ``NUMBA_CPU_FEATURES`` value that builds the kernels with 512-bit vectors on this
    AVX-512 host, or None where the host has no AVX-512.

    LLVM tunes Intel Xeons from Skylake-SP to Rocket Lake with ``prefer-256-bit`` (512-bit
    instructions lowered the clock on the first of them), so by default the kernels use 256-bit
    ``ymm`` vectors there. The width is a property of Numba's code generator for the whole
    process, so funclib does not change it behind the user's back (other Numba code in the
    process would change too); set it before Python starts::

        NUMBA_CPU_FEATURES="$(python -c 'from funclib.kernels.mathlib.intrinsics import \
            wide_vector_features as w; print(w())')" python train.py

    Measured on a 2-core Xeon (``rocketlake``), fused value + derivative on 10^7 elements
    (``docs/kernels.md``): Mish float32 46.4 -> 24.4 ms, GELU 14.3 -> 11.4 ms, float64 kernels
    25-35 % faster; results are bit-identical (no fast-math: the width does not reorder any
    floating-point operation).
    """
    flags = llvm.get_host_cpu_features().flatten()
    return flags + ",-prefer-256-bit" if "+avx512f" in flags.split(",") else None


def _int_to_width(builder, value, ty, width: int):
    bits = ty.bitwidth
    target = ir.IntType(width)
    if bits == width:
        return value
    if bits > width:
        return builder.trunc(value, target)
    return builder.sext(value, target) if ty.signed else builder.zext(value, target)


@intrinsic
def f64_bits(typingctx, x):
    """The IEEE-754 bits of a float64 as int64."""
    if x != types.float64:
        return None

    def codegen(context, builder, sig, args):
        return builder.bitcast(args[0], ir.IntType(64))

    return types.int64(types.float64), codegen


@intrinsic
def f64_from_bits(typingctx, i):
    """The float64 whose bits are the (64-bit) integer ``i``."""
    if not isinstance(i, types.Integer):
        return None

    def codegen(context, builder, sig, args):
        return builder.bitcast(_int_to_width(builder, args[0], sig.args[0], 64), ir.DoubleType())

    return types.float64(i), codegen


@intrinsic
def f32_bits(typingctx, x):
    """The IEEE-754 bits of a float32 as int32."""
    if x != types.float32:
        return None

    def codegen(context, builder, sig, args):
        return builder.bitcast(args[0], ir.IntType(32))

    return types.int32(types.float32), codegen


@intrinsic
def f32_from_bits(typingctx, i):
    """The float32 whose bits are the low 32 bits of the integer ``i``."""
    if not isinstance(i, types.Integer):
        return None

    def codegen(context, builder, sig, args):
        return builder.bitcast(_int_to_width(builder, args[0], sig.args[0], 32), ir.FloatType())

    return types.float32(i), codegen


@intrinsic
def fma(typingctx, a, b, c):
    """``a*b + c`` rounded once (``llvm.fma``); all three of one float type."""
    if not (a == b == c and a in (types.float32, types.float64)):
        return None

    def codegen(context, builder, sig, args):
        return builder.fma(*args)

    return a(a, b, c), codegen


if HAS_FMA:

    @register_jitable(inline="always")
    def madd(a, b, c):
        """``a*b + c``: fused where the CPU has FMA (a single rounding), else two roundings."""
        return fma(a, b, c)

else:  # pragma: no cover - depends on the CPU

    @register_jitable(inline="always")
    def madd(a, b, c):
        """``a*b + c``: fused where the CPU has FMA (a single rounding), else two roundings."""
        return a * b + c
