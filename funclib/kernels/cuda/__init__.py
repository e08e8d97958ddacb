"""Numba-CUDA kernels: the CUDA printer and device math, elementwise, row-wise and tropical kernels.

- :mod:`~funclib.kernels.cuda.codegen` prints an entry's kernel spec as CUDA device code;
  :mod:`~funclib.kernels.cuda.devmath` holds the device functions it calls (same names as the
  CPU math library, :mod:`funclib.kernels.mathlib`).
- :mod:`~funclib.kernels.cuda.kernel` compiles, caches and launches elementwise kernels
  (``entry.kernel(target="cuda")``) and holds the device-array helpers.
- :mod:`~funclib.kernels.cuda.rowwise` (device code in
  :mod:`~funclib.kernels.cuda.rowwise_kernels`) and :mod:`~funclib.kernels.cuda.tropical`: the
  GPU counterparts of :mod:`funclib.kernels.rowwise` and :mod:`funclib.kernels.tropical`.

Nothing here imports ``numba.cuda`` at package import; each module does when it is used. Tested
without a GPU under Numba's simulator (``NUMBA_ENABLE_CUDASIM=1``).
"""
