"""funclib's math library for the generated CPU kernels.

- :mod:`~funclib.kernels.mathlib.vecmath`: vectorizable float32/float64 elementary functions
  (range reduction + minimax polynomials, no libm calls), used by ``accuracy="fast"`` kernels.
- :mod:`~funclib.kernels.mathlib.libm`: the ``accuracy="libm"`` counterparts (C library calls
  and the same stable composite forms).
- :mod:`~funclib.kernels.mathlib.remez`: the Remez fits that produce
  :mod:`~funclib.kernels.mathlib.coefficients` (generated; ``python -m
  funclib.kernels.mathlib.remez --write``).
- :mod:`~funclib.kernels.mathlib.intrinsics`: Numba intrinsics (bit casts, FMA).
"""
