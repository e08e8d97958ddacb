"""Reference evaluators of the row-wise normalizers: float64 (NumPy) and high precision (mpmath).

* :func:`evaluate` -- every row-wise catalog entry in float64, stable, over the last axis of
  any batch shape, with ``-inf`` masks and the entry's fully-masked convention;
* :func:`jacobian` -- the closed-form Jacobians in float64;
* :func:`mp_reference` -- one row at 50 (or more) digits, written from the definitions;
* :mod:`funclib.rowwise.sparse` -- sparsemax, 1.5-entmax (sort-based, exact) and alpha-entmax
  (bisection) as published;
* :mod:`funclib.rowwise.breadth` -- the breadth maps of issue 15 (softmax relatives, row
  normalizations, selections, soft maxima, MoE routers), registered into the three above.

The catalog entries (``catalog/normalizer/*.toml``) are the definitions; these evaluators are
tested against them, against each other, against PyTorch and against the ``entmax`` package
(``tests/test_rowwise_reference.py``).
"""

from .jacobians import jacobian
from .mpref import mp_reference
from .reference import NORMALIZERS, evaluate
from .sparse import entmax15_rows, entmax_bisect_rows, sparsemax_rows

__all__ = [
    "evaluate",
    "jacobian",
    "mp_reference",
    "NORMALIZERS",
    "sparsemax_rows",
    "entmax15_rows",
    "entmax_bisect_rows",
]
