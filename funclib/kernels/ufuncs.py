"""Build real NumPy ufuncs from generated kernel modules.

One output gives an elementwise ufunc (``numba.vectorize``); several give a generalized
ufunc with scalar core dimensions ``(),()->(),()`` (``numba.guvectorize``). Either way the
object returned is a genuine :class:`numpy.ufunc`, so broadcasting, ``out=``, ``where=``,
strided and non-native-order arrays are handled by NumPy, and array types that implement
``__array_ufunc__`` (Dask, xarray, CuPy's CPU fallback, your own wrappers) dispatch on it.
Both are compiled with ``cache=True`` from the cached module's source.
"""

from __future__ import annotations

from types import ModuleType

import numpy as np
from numba import guvectorize, vectorize

from . import numba_cache  # noqa: F401 - Numba caches go to the funclib cache, not the package

__all__ = ["build_ufunc"]


def build_ufunc(module: ModuleType, n_params: int, name: str) -> np.ufunc:
    """The ufunc of a kernel module whose runtime parameters are its last ``n_params`` inputs."""
    dt = module.DTYPE
    n_out = len(module.ELEMENT_OUTPUTS)
    ins = ", ".join([dt] * (1 + n_params))
    if n_out == 1:
        built = vectorize([f"{dt}({ins})"], cache=True)(module.ufunc_scalar)
        uf = built.ufunc
    else:
        outs = ", ".join([f"{dt}[:]"] * n_out)
        layout = ",".join(["()"] * (1 + n_params)) + "->" + ",".join(["()"] * n_out)
        built = guvectorize([f"void({ins}, {outs})"], layout, cache=True)(module.ufunc_gu)
        uf = built.ufunc
    _KEEP.append(built)  # the ufunc's loops live in the Numba object; keep it alive
    return uf


_KEEP: list = []
