"""The committed property cache: one sidecar per catalog file, built, read and written.

The committed cache is split by catalog file: ``catalog/activation/relu_family.toml`` has its
proofs in ``catalog/activation/relu_family.properties.json`` beside it. One file per family
keeps the diffs of a change local and lets several people add families at once. The lookup of
one entry's slot (:func:`funclib.properties.properties_of`) lives in the package itself.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .proof import compute_properties
from .records import cache_key

if TYPE_CHECKING:  # pragma: no cover
    from ..entry import Entry

__all__ = ["CACHE_SUFFIX", "build_cache", "cache_file_for", "load_cache", "prune_cache", "write_cache"]

CACHE_SUFFIX = ".properties.json"


def cache_file_for(source: str) -> str:
    """The sidecar cache path (relative to the catalog root) of a catalog TOML ``source``."""
    if not source.startswith("catalog/") or not source.endswith(".toml"):
        raise ValueError(f"{source!r} is not a built-in catalog file; only those have a committed cache")
    return source[len("catalog/"):-len(".toml")] + CACHE_SUFFIX


def _catalog_root_for_writing() -> Path:
    # funclib/properties/cache.py -> the source tree's catalog/ (the sidecars are committed there)
    return Path(__file__).resolve().parents[2] / "catalog"


def _sidecar_texts() -> list[tuple[str, str]]:
    """(relative path, text) of every sidecar cache shipped in ``funclib.catalog``."""
    found: list[tuple[str, str]] = []

    def walk(node, prefix: str) -> None:
        for child in sorted(node.iterdir(), key=lambda c: c.name):
            if child.is_dir() and not child.name.startswith(("_", ".")):
                walk(child, f"{prefix}{child.name}/")
            elif child.name.endswith(CACHE_SUFFIX):
                found.append((prefix + child.name, child.read_text(encoding="utf-8")))

    try:
        walk(resources.files("funclib.catalog"), "")
    except (FileNotFoundError, OSError):
        return []
    return found


@lru_cache(maxsize=1)
def load_cache() -> dict[str, Any]:
    """The committed property cache (every ``*.properties.json`` sidecar merged), or {}."""
    data: dict[str, Any] = {}
    for _, text in _sidecar_texts():
        try:
            data.update(json.loads(text))
        except json.JSONDecodeError:
            continue  # a damaged sidecar: its entries are recomputed, never trusted
    return data


def build_cache(entries: Iterable["Entry"], progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Compute the properties of every elementwise entry and variant (the cache content)."""
    data: dict[str, Any] = {}
    for entry in entries:
        if entry.kind != "elementwise":
            continue
        if progress:
            progress(entry.id)
        slot = {"key": cache_key(entry), "default": compute_properties(entry).as_json(), "variants": {}}
        for name in entry.variants:
            slot["variants"][name] = compute_properties(entry, name).as_json()
        data[entry.id] = slot
    return data


def write_cache(data: dict[str, Any], sources: dict[str, str]) -> list[Path]:
    """Merge ``data`` (entry id -> slot) into the sidecars of the entries' catalog files.

    ``sources`` maps each id to its catalog file. Each sidecar is rewritten atomically (a
    temporary file renamed over it), so a crash never leaves one half-written.
    """
    from . import clear_cache_memo  # the lookup memo lives in the package (see its __init__)

    root = _catalog_root_for_writing()
    by_file: dict[str, dict[str, Any]] = {}
    for entry_id, slot in data.items():
        by_file.setdefault(cache_file_for(sources[entry_id]), {})[entry_id] = slot
    written = []
    for rel, slots in sorted(by_file.items()):
        path = root / rel
        old = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
        old.update(slots)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(dict(sorted(old.items())), indent=1) + "\n", encoding="utf-8")
        tmp.replace(path)
        written.append(path)
    clear_cache_memo()
    return written


def prune_cache(live_ids: set[str]) -> list[str]:
    """Drop sidecar slots of entries that no longer exist (or moved to another file)."""
    from ..registry import entries
    from . import clear_cache_memo

    root = _catalog_root_for_writing()
    where = {e.id: cache_file_for(e.source) for e in entries() if e.kind == "elementwise"}
    dropped = []
    for path in sorted(root.rglob("*" + CACHE_SUFFIX)):
        rel = path.relative_to(root).as_posix()
        data = json.loads(path.read_text(encoding="utf-8"))
        keep = {k: v for k, v in data.items() if k in live_ids and where.get(k) == rel}
        if keep != data:
            dropped += sorted(set(data) - set(keep))
            if keep:
                path.write_text(json.dumps(keep, indent=1) + "\n", encoding="utf-8")
            else:
                path.unlink()
    clear_cache_memo()
    return dropped
