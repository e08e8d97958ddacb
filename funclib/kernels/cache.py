"""The on-disk kernel cache: generated modules, content-hashed, written atomically.

Numba can only cache functions whose source lives in a file (not ``exec``'d strings), so each
kernel is a real module ``fk_<key>.py`` in ``<cache>/kernels``; Numba keeps its compiled
code next to it in ``__pycache__``. ``<cache>`` is ``$FUNCLIB_CACHE_DIR`` if set, else the
platform's user cache directory (``$XDG_CACHE_HOME/funclib`` or ``~/.cache/funclib`` on
Linux, ``~/Library/Caches/funclib`` on macOS, ``%LOCALAPPDATA%\\funclib\\Cache`` on Windows).

The key hashes everything the module depends on (formula, parameters, outputs, dtype,
accuracy, the code generator and the math library sources), so a file, once written, never
changes. Writers create a private temporary file and publish it with ``os.link`` (fails if
the name exists: the first writer wins, later ones discard theirs, and the file's timestamp —
which Numba's own cache index checks — never moves) or ``os.replace`` where hard links are
unsupported. Concurrent processes therefore always import a complete, identical module.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

__all__ = ["cache_dir", "kernel_dir", "write_atomic", "load_module"]

_LOCK = threading.Lock()
_PACKAGE = "funclib_kernel_cache"


def cache_dir() -> Path:
    """The funclib cache directory (created on first use)."""
    env = os.environ.get("FUNCLIB_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "funclib"
    if os.name == "nt":
        base = os.environ.get("LOCALAPPDATA") or str(Path.home() / "AppData" / "Local")
        return Path(base) / "funclib" / "Cache"
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "funclib"


def kernel_dir() -> Path:
    """``<cache>/kernels``, created if missing."""
    path = cache_dir() / "kernels"
    path.mkdir(parents=True, exist_ok=True)
    return path


def write_atomic(path: Path, text: str) -> bool:
    """Publish ``text`` at ``path`` unless a complete file is already there.

    Returns True if this call created the file.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, path)
            return True
        except FileExistsError:
            return False
        except OSError:  # no hard links on this file system
            os.replace(tmp, path)
            tmp = None
            return True
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass


def _import(path: Path, key: str) -> ModuleType:
    name = f"{_PACKAGE}_{key}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


def load_module(key: str, source: Callable[[], str]) -> tuple[ModuleType, bool]:
    """Import the module for ``key``, generating it with ``source()`` if it is not cached.

    Returns ``(module, generated)``. A cached file that does not import or carries another
    key (a damaged cache) is regenerated.
    """
    with _LOCK:
        path = kernel_dir() / f"fk_{key}.py"
        generated = False
        if not path.exists():
            write_atomic(path, source())
            generated = True
        try:
            module = _import(path, key)
            if getattr(module, "KEY", None) != key:
                raise ImportError(f"{path} holds another kernel")
        except (SyntaxError, ImportError, AttributeError, NameError):
            sys.modules.pop(f"{_PACKAGE}_{key}", None)
            tmp = path.with_suffix(f".{os.getpid()}.new")
            tmp.write_text(source(), encoding="utf-8")
            os.replace(tmp, path)
            generated = True
            module = _import(path, key)
        return module, generated
