"""Generate the source of a CUDA kernel module from the same symbolic work as the CPU kernels.

Nothing here re-derives a formula: :func:`funclib.kernels.codegen.symbolic_outputs` gives the
stable outputs, limits at ±inf and the CSE, and :func:`funclib.kernels.codegen.kernel_body` prints
them with the same :class:`~funclib.kernels.printer.Printer` (typed constants of the kernel
dtype, branch-free selects, kink conventions, saturation thresholds). The statements are
pasted into CUDA kernels; the module binds the printer's ``vm``/``lm``/``math`` prefixes to
:mod:`funclib.kernels.cuda.devmath`, whose device functions carry the same names.

The generated module defines

``point(xi, *params)``
    device function: all element outputs of one input;
``run(x, y0, ..., *params)``
    grid-stride elementwise kernel over 1-D arrays (``xi = T(x[i])``: float16 inputs are
    computed in the kernel dtype; stores convert to the output arrays' dtype);
``run_grad(x, g, y0, ..., part, *params)``
    the same plus, per chunk of ``GRAD_CHUNK = GRAD_TPB * GRAD_ITEMS`` elements, the sums of
    ``g * df/dθ``: thread ``t`` of the block owning the chunk adds the elements
    ``chunk_start + t + k GRAD_TPB`` for ``k = 0..GRAD_ITEMS-1`` in order, then a shared-memory
    tree combines the ``GRAD_TPB`` thread sums in a fixed pattern (no atomics);
``reduce_partials(part, out)``
    the second pass: one block per parameter, thread ``t`` sums rows ``t, t + GRAD_TPB, ...``
    in order, then the same tree.

The result depends only on the number of elements (and ``GRAD_TPB``), never on the grid size
or on scheduling, so repeated runs are bitwise identical.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path

from ..codegen import KernelSpec, indent_lines, printed_kernel
from ..module_header import module_header

__all__ = ["CUDA_FORMAT_VERSION", "cuda_key", "generate_cuda_source", "launch_constants"]

#: Bump when the generated CUDA code changes meaning (part of every CUDA cache key).
CUDA_FORMAT_VERSION = 1

_SOURCES = ("codegen.py", "devmath.py")
#: The generated CUDA module's imports (the printer's ``vm``/``lm`` prefixes are devmath too).
_IMPORTS = ("import numpy as np", "from numba import cuda", "", "from funclib.kernels.cuda import devmath as math", "",
            "vm = math", "lm = math")


def launch_constants(simulator: bool) -> dict[str, int]:
    """Compile-time block shapes: GPU sizes, or small blocks under the simulator (each
    simulated thread is a Python thread; the code paths are the same)."""
    if simulator:
        return {"GRAD_TPB": 32, "GRAD_ITEMS": 4}
    return {"GRAD_TPB": 256, "GRAD_ITEMS": 8}


@lru_cache(maxsize=4)
def _sources_hash(simulator: bool) -> str:
    import numba_cuda  # noqa: F401 - the version is part of the key

    h = hashlib.sha256(str(getattr(numba_cuda, "__version__", "?")).encode())
    h.update(b"sim" if simulator else b"gpu")
    here = Path(__file__).parent
    for name in _SOURCES:
        h.update((here / name).read_bytes())
    return h.hexdigest()[:16]


def cuda_key(spec: KernelSpec, simulator: bool) -> str:
    """Cache key of the CUDA module for ``spec`` (the CPU key plus the CUDA sources)."""
    text = f"cuda{CUDA_FORMAT_VERSION}:{spec.key()}:{_sources_hash(simulator)}"
    return "cu" + hashlib.sha256(text.encode()).hexdigest()[:22]


def generate_cuda_source(spec: KernelSpec, simulator: bool) -> str:
    """The text of the CUDA kernel module for ``spec``."""
    kernel = printed_kernel(spec)
    sym, printer, body, n_el, n_w, pargs, ys, store = kernel
    zero = printer.const(0.0)
    consts = launch_constants(simulator)

    identity = [f"CPU_KEY = {spec.key()!r}", "TARGET = 'cuda'", f"SIMULATOR = {bool(simulator)!r}"]
    shapes = [f"GRAD_TPB = {consts['GRAD_TPB']}", f"GRAD_ITEMS = {consts['GRAD_ITEMS']}",
              "GRAD_CHUNK = GRAD_TPB * GRAD_ITEMS", f"NW = {max(n_w, 1)}"]
    detail = f"target: cuda{' (simulator)' if simulator else ''}"
    src = module_header(spec, sym, printer, what="CUDA kernel", detail=detail, imports=_IMPORTS,
                        key=cuda_key(spec, simulator), identity=identity, target=shapes)
    src += [
        f"_CACHE = {not simulator!r}",
        "",
        "",
        *kernel.point("@cuda.jit(device=True)"),
    ]
    if n_el:
        src += [
            "",
            "@cuda.jit(cache=_CACHE)",
            f"def run(x{ys}{pargs}):",
            "    start = cuda.grid(1)",
            "    stride = cuda.gridsize(1)",
            "    for i in range(start, x.shape[0], stride):",
            *indent_lines(["xi = T(x[i])", *body, *store], 8),
            "",
        ]
    if n_w:
        acc_init = [f"a{j} = {zero}" for j in range(n_w)]
        acc_add = [f"a{j} += gi * o{n_el + j}" for j in range(n_w)]
        sh_store = [f"sh[{j}, t] = a{j}" for j in range(n_w)]
        sh_add = [f"sh[{j}, t] += sh[{j}, t + s]" for j in range(n_w)]
        part_store = [f"part[c, {j}] = sh[{j}, 0]" for j in range(n_w)]
        src += [
            "",
            "@cuda.jit(cache=_CACHE)",
            f"def run_grad(x, g{ys}, part{pargs}):",
            "    sh = cuda.shared.array((NW, GRAD_TPB), dtype=T)",
            "    t = cuda.threadIdx.x",
            "    n = x.shape[0]",
            "    c = cuda.blockIdx.x",
            "    while c < part.shape[0]:",
            *indent_lines(acc_init, 8),
            "        base = c * GRAD_CHUNK + t",
            "        for k in range(GRAD_ITEMS):",
            "            i = base + k * GRAD_TPB",
            "            if i < n:",
            *indent_lines(["xi = T(x[i])", "gi = T(g[i])", *body, *store, *acc_add], 16),
            *indent_lines(sh_store, 8),
            "        cuda.syncthreads()",
            "        s = GRAD_TPB // 2",
            "        while s > 0:",
            "            if t < s:",
            *indent_lines(sh_add, 16),
            "            cuda.syncthreads()",
            "            s //= 2",
            "        if t == 0:",
            *indent_lines(part_store, 12),
            "        cuda.syncthreads()",
            "        c += cuda.gridDim.x",
            "",
            "",
            "@cuda.jit(cache=_CACHE)",
            "def reduce_partials(part, out):",
            "    sh = cuda.shared.array(GRAD_TPB, dtype=T)",
            "    t = cuda.threadIdx.x",
            "    j = cuda.blockIdx.x",
            f"    a = {zero}",
            "    for r in range(t, part.shape[0], GRAD_TPB):",
            "        a += part[r, j]",
            "    sh[t] = a",
            "    cuda.syncthreads()",
            "    s = GRAD_TPB // 2",
            "    while s > 0:",
            "        if t < s:",
            "            sh[t] += sh[t + s]",
            "        cuda.syncthreads()",
            "        s //= 2",
            "    if t == 0:",
            "        out[j] = sh[0]",
            "",
        ]
    return "\n".join(src) + "\n"
