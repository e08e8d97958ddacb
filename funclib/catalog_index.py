"""The catalog index: what listing, searching and looking up need, without parsing formulas.

Reading every TOML file and parsing every formula takes seconds at hundreds of entries, and
``funclib list``/``search``/``show`` need none of it (``show`` needs one entry). The index holds,
per catalog file, the SHA-256 of the file and, per entry, its id, name, aliases, kind, family,
tags, summary, description, variants and references. It is committed as
``catalog/index.json`` (regenerate with ``python -m funclib.catalog_index --write``) and checked
file by file when loaded: a file whose hash differs (edited since) is re-read with ``tomllib``,
so the index is never stale, only slower; the default tests fail while the committed copy is
stale. This module imports neither SymPy nor NumPy.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from dataclasses import asdict, dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

__all__ = ["KINDS", "VECTOR_KINDS", "IndexRecord", "records", "search_records", "CatalogIndex", "catalog_index", "catalog_files", "build_index", "INDEX_FILE"]

#: The kinds of entries (``docs/catalog-format.md``); vector kinds take row formulas.
KINDS = ("elementwise", "rowwise", "gated", "grouped", "attention")
VECTOR_KINDS = ("rowwise", "attention")

INDEX_FILE = "index.json"
INDEX_VERSION = 1


@dataclass(frozen=True)
class IndexRecord:
    """One entry as the index sees it (no formulas parsed)."""

    id: str
    name: str
    kind: str
    family: str
    summary: str
    source: str
    aliases: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    description: str = ""
    variants: tuple[str, ...] = ()
    references: tuple[str, ...] = ()

    def haystack(self) -> str:
        """The text that word search looks in."""
        return " ".join([self.id, self.name, self.family, self.summary, self.description,
                         *self.aliases, *self.tags]).lower()


def _strings(value: Any) -> tuple[str, ...]:
    return tuple(v for v in value if isinstance(v, str)) if isinstance(value, list) else ()


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def records_of(source: str, data: dict) -> list[IndexRecord]:
    """Index records of a parsed TOML file (malformed entries are left to the full loader)."""
    out = []
    for raw in data.get("entry", []) if isinstance(data.get("entry"), list) else []:
        if not isinstance(raw, dict) or not isinstance(raw.get("id"), str):
            continue
        refs = tuple(
            f"{r.get('authors', '')} ({r.get('year', '')}). {r.get('title', '')}"
            for r in raw.get("references", []) if isinstance(r, dict)
        ) if isinstance(raw.get("references"), list) else ()
        out.append(IndexRecord(
            id=raw["id"], name=_text(raw.get("name")), kind=_text(raw.get("kind")),
            family=_text(raw.get("family")), summary=_text(raw.get("summary")), source=source,
            aliases=_strings(raw.get("aliases")), tags=_strings(raw.get("tags")),
            description=_text(raw.get("description")),
            variants=tuple(raw["variants"]) if isinstance(raw.get("variants"), dict) else (),
            references=refs,
        ))
    return out


def catalog_files() -> list[tuple[str, bytes]]:
    """(display path ``catalog/...``, bytes) of every entry TOML file of ``funclib.catalog``."""
    root = resources.files("funclib.catalog")
    found: list[tuple[str, bytes]] = []

    def walk(node, prefix: str) -> None:
        for child in sorted(node.iterdir(), key=lambda c: c.name):
            if child.is_dir() and not child.name.startswith(("_", ".")):
                walk(child, f"{prefix}{child.name}/")
            elif child.name.endswith(".toml"):
                found.append((f"catalog/{prefix}{child.name}", child.read_bytes()))

    walk(root, "")
    return found


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class CatalogIndex:
    """Index records by id, the name -> id map (ids and aliases, lowercase) and raw entries."""

    def __init__(self, files: list[tuple[str, bytes]], stored: dict[str, Any]) -> None:
        self.texts = {source: data for source, data in files}
        self.records: dict[str, IndexRecord] = {}
        self.names: dict[str, str] = {}
        self.stale: list[str] = []
        stored_files = stored.get("files", {}) if stored.get("version") == INDEX_VERSION else {}
        for source, data in files:
            slot = stored_files.get(source)
            if slot is not None and slot.get("sha256") == _digest(data):
                recs = [IndexRecord(**{k: tuple(v) if isinstance(v, list) else v for k, v in r.items()})
                        for r in slot["entries"]]
            else:
                self.stale.append(source)
                try:
                    recs = records_of(source, tomllib.loads(data.decode("utf-8")))
                except (tomllib.TOMLDecodeError, UnicodeDecodeError):
                    recs = []  # the full loader reports the file with its problem
            for rec in recs:
                self.records.setdefault(rec.id, rec)
                for name in (rec.id, *rec.aliases):
                    self.names.setdefault(name.lower(), rec.id)
        self.stale += sorted(set(stored_files) - set(self.texts))

    def raw_entry(self, entry_id: str) -> dict:
        """The TOML table of one entry (its file parsed once)."""
        source = self.records[entry_id].source
        for raw in _parsed(source, self.texts[source]).get("entry", []):
            if isinstance(raw, dict) and raw.get("id") == entry_id:
                return raw
        raise KeyError(entry_id)


@lru_cache(maxsize=256)
def _parsed(source: str, data: bytes) -> dict:
    return tomllib.loads(data.decode("utf-8"))


def _stored() -> dict[str, Any]:
    try:
        text = resources.files("funclib.catalog").joinpath(INDEX_FILE).read_text(encoding="utf-8")
        return json.loads(text)
    except (FileNotFoundError, OSError, json.JSONDecodeError):
        return {}  # absent or damaged: every file is read (slower, still correct)


@lru_cache(maxsize=1)
def catalog_index() -> CatalogIndex:
    """The index of the built-in catalog, verified against the files it describes."""
    return CatalogIndex(catalog_files(), _stored())


def records(kind: str | None = None) -> list[IndexRecord]:
    """Index records of the built-in entries (optionally of one ``kind``), sorted by id."""
    if kind is not None and kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}; kinds are {', '.join(KINDS)}")
    found = catalog_index().records.values()
    return sorted((r for r in found if kind is None or r.kind == kind), key=lambda r: r.id)


def search_records(text: str | None = None, *, tag: str | None = None, kind: str | None = None) -> list[IndexRecord]:
    """Records matching every word of ``text`` (in id, name, aliases, family, tags, summary or
    description), ``tag`` and ``kind``; no formula is parsed."""
    words = (text or "").lower().split()
    return [r for r in records(kind)
            if all(w in r.haystack() for w in words)
            and (tag is None or tag.lower() in (t.lower() for t in r.tags))]


def build_index() -> dict[str, Any]:
    """The content of ``catalog/index.json`` for the files as they are now."""
    files = {}
    for source, data in catalog_files():
        recs = records_of(source, tomllib.loads(data.decode("utf-8")))
        files[source] = {"sha256": _digest(data), "entries": [asdict(r) for r in recs]}
    return {"version": INDEX_VERSION, "files": files}


def main(argv: list[str] | None = None) -> int:
    """``python -m funclib.catalog_index --write``: regenerate ``catalog/index.json`` and the
    cards of ``funclib show`` (``catalog/show_cards.json``, :mod:`funclib.show_cards`)."""
    import argparse

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args(argv)
    text = json.dumps(build_index(), indent=0, sort_keys=True, ensure_ascii=False) + "\n"
    if args.write:
        path = Path(__file__).resolve().parent.parent / "catalog" / INDEX_FILE
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
        print(f"wrote {path}")
        # the cards of `funclib show` are keyed through the index: read it again, as written
        from funclib import catalog_index as index_module  # not __main__'s copy under `python -m`
        from funclib import show_cards

        index_module.catalog_index.cache_clear()
        show_cards.write_cards(path.with_name(show_cards.CARDS_FILE))
        print(f"wrote {path.with_name(show_cards.CARDS_FILE)} and {show_cards.JSON_CARDS_FILE}")
    else:
        print(text, end="")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
