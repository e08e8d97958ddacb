"""Lazy public attributes of a package (PEP 562), shared by ``funclib`` and ``funclib.verify``."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from importlib import import_module
from typing import Any


def lazy_attributes(package: str, namespace: dict[str, Any], where: Mapping[str, str]) -> tuple[Callable, Callable]:
    """``(__getattr__, __dir__)`` for a package whose public names (``where``: name -> submodule)
    are imported on first use.

    Importing a submodule binds every public name of it at once: the import also bound the
    submodule's own name on the package (``certify`` the module), which the function of that
    name replaces.
    """

    def __getattr__(name: str):
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        loaded = import_module(f".{module}", package)
        for public, source in where.items():
            if source == module:
                namespace[public] = getattr(loaded, public)
        return namespace[name]

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(where))

    return __getattr__, __dir__
