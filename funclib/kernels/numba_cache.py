"""Numba's compiled-code cache for funclib's own jitted functions goes to the funclib cache.

By default Numba writes the cache of a ``@njit(cache=True)`` function into ``__pycache__``
beside its source file: for funclib's row-wise, reduction and tropical kernels, into the
installed package (often read-only, shared by users, and outside ``FUNCLIB_CACHE_DIR``). This
module registers a cache locator that Numba consults first and that claims exactly the source
files of the installed ``funclib`` package, placing their caches under
``<cache>/numba/`` (:func:`funclib.kernels.cache.cache_dir`). A user's own Numba functions are
not affected. Import it before defining cached functions (each jitted module does).
"""

from __future__ import annotations

import os
from pathlib import Path

from numba.core import caching

from .cache import cache_dir

__all__ = ["FunclibCacheLocator"]

_PACKAGE_ROOT = Path(__file__).resolve().parent.parent


class FunclibCacheLocator(caching.UserProvidedCacheLocator):
    """Cache path ``<cache>/numba/<file path relative to the package>`` for funclib sources."""

    def __init__(self, py_func, py_file):
        self._py_file = py_file
        self._lineno = py_func.__code__.co_firstlineno
        relative = Path(py_file).resolve().relative_to(_PACKAGE_ROOT.parent)
        self._cache_path = os.fspath(cache_dir() / "numba" / relative.parent)

    @classmethod
    def from_function(cls, py_func, py_file):
        try:
            Path(py_file).resolve().relative_to(_PACKAGE_ROOT)
        except (ValueError, OSError):
            return None  # not a funclib source file: Numba's own locators decide
        # the source-file checks and cache-directory creation of Numba's base locator (which
        # returns None when the directory cannot be created: Numba then compiles uncached)
        return super(caching.UserProvidedCacheLocator, cls).from_function(py_func, py_file)


if FunclibCacheLocator not in caching.CacheImpl._locator_classes:
    caching.CacheImpl._locator_classes.insert(0, FunclibCacheLocator)
