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

__all__ = ["cache_dir", "kernel_dir", "write_atomic", "load_module", "CacheDirError", "seal", "is_sealed"]

#: The last line of every published module: the SHA-256 of everything above it. A file that is
#: truncated or edited (even one that keeps its KEY line) fails the check and is regenerated.
_SEAL = "# funclib-sha256: "


class CacheDirError(OSError):
    """The cache directory cannot be used (a file, not writable, on a read-only system)."""


def seal(text: str) -> str:
    """``text`` with the checksum line appended."""
    import hashlib

    body = text if text.endswith("\n") else text + "\n"
    return body + _SEAL + hashlib.sha256(body.encode("utf-8")).hexdigest() + "\n"


def is_sealed(text: str) -> bool:
    """Whether ``text`` ends with a checksum line that matches what precedes it."""
    import hashlib

    body, sep, tail = text.rpartition(_SEAL)
    return bool(sep) and tail.strip() == hashlib.sha256(body.encode("utf-8")).hexdigest()

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
    """``<cache>/kernels``, created if missing.

    Raises
    ------
    CacheDirError
        When it cannot be created or written, naming the directory and ``FUNCLIB_CACHE_DIR``.
    """
    path = cache_dir() / "kernels"
    try:
        path.mkdir(parents=True, exist_ok=True)
        if not os.access(path, os.W_OK | os.X_OK):
            raise PermissionError(f"no write permission on {path}")
    except OSError as exc:
        raise CacheDirError(
            f"the kernel cache directory {path} cannot be used ({type(exc).__name__}: {exc}); "
            "set FUNCLIB_CACHE_DIR to a writable directory"
        ) from None
    return path


def write_atomic(path: Path, text: str) -> bool:
    """Publish ``text`` at ``path`` unless a complete file is already there.

    Returns True if this call created the file.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".tmp", dir=path.parent)
    try:
        # mkstemp makes the file private (0600); published files get the usual umask-based mode,
        # so a cache directory shared by a group works
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
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
            write_atomic(path, seal(source()))
            generated = True
        try:
            if not is_sealed(path.read_text(encoding="utf-8")):
                raise ImportError(f"{path} is damaged (checksum)")
            module = _import(path, key)
            if getattr(module, "KEY", None) != key:
                raise ImportError(f"{path} holds another kernel")
        except Exception:  # noqa: BLE001 - any failure to load a cached file: regenerate it once
            sys.modules.pop(f"{_PACKAGE}_{key}", None)
            tmp = path.with_suffix(f".{os.getpid()}.new")
            tmp.write_text(seal(source()), encoding="utf-8")
            os.replace(tmp, path)
            generated = True
            module = _import(path, key)
        return module, generated
