"""Load, validate, look up and search catalog entries.

The catalog is the set of TOML files shipped in ``funclib.catalog`` (read with
:mod:`importlib.resources`, so it works from a wheel as well as an editable install). Loading
collects *every* problem in every file and raises one :class:`CatalogError` listing them, each
naming the file, the entry and the field.
"""

from __future__ import annotations

import difflib
import tomllib
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

from .catalog_index import catalog_files, catalog_index, records, search_records
from .entry import KINDS, Entry
from .entry_fields import CLAIM_KEYS, Problems, build_entry

__all__ = [
    "CatalogError",
    "UnknownEntryError",
    "load_catalog",
    "entries",
    "get",
    "index",
    "search",
    "search_index",
    "CLAIM_KEYS",
]


class CatalogError(ValueError):
    """One or more problems in catalog files; ``problems`` lists one message per problem."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        head = f"{len(problems)} problem(s) in the catalog:"
        super().__init__("\n".join([head] + [f"  - {p}" for p in problems]))


class UnknownEntryError(KeyError):
    """No entry has this id or alias; the message suggests close matches."""

    def __init__(self, name: str, suggestions: list[str]) -> None:
        self.name = name
        self.suggestions = suggestions
        hint = f"; did you mean {', '.join(suggestions)}?" if suggestions else ""
        super().__init__(f"unknown function {name!r}{hint}")

    def __str__(self) -> str:
        return self.args[0]


def _catalog_files() -> list[tuple[str, str]]:
    """(display path, text) of every TOML file in the installed ``funclib.catalog`` package."""
    return [(source, data.decode("utf-8")) for source, data in catalog_files()]


def load_catalog(paths: Iterable[str | Path] | None = None) -> dict[str, Entry]:
    """Load and validate catalog files; return entries by id.

    Parameters
    ----------
    paths : iterable of path, optional
        TOML files to load instead of the built-in catalog (e.g. a user's own entries).

    Raises
    ------
    CatalogError
        Listing every problem found, each with file, entry and field.
    """
    problems = Problems()
    if paths is None:
        files = _catalog_files()
    else:
        if isinstance(paths, (str, Path)):
            paths = [paths]  # one file, not an iterable of characters
        files = []
        for p in paths:
            try:
                files.append((str(p), Path(p).read_text(encoding="utf-8")))
            except UnicodeDecodeError as exc:
                problems.add(str(p), None, None, f"not UTF-8 text ({exc.reason} at byte {exc.start})")
            except OSError as exc:
                problems.add(str(p), None, None, f"cannot read the file ({type(exc).__name__}: {exc.strerror or exc})")
    result: dict[str, Entry] = {}
    names: dict[str, str] = {}
    for source, text in files:
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            problems.add(source, None, None, f"invalid TOML: {exc}")
            continue
        except RecursionError:
            problems.add(source, None, None, "invalid TOML: nested too deeply")
            continue
        unknown = set(data) - {"entry"}
        if unknown:
            problems.add(source, None, None, f"unknown top-level key(s) {', '.join(sorted(unknown))}; use [[entry]] tables")
        raw_entries = data.get("entry", [])
        if not isinstance(raw_entries, list):
            problems.add(source, None, None, "'entry' must be an array of tables ([[entry]])")
            continue
        for raw in raw_entries:
            entry = build_entry(raw, source, problems)
            if entry is None:
                continue
            for name in (entry.id, *entry.aliases):
                owner = names.get(name.lower())
                if owner is not None:
                    problems.add(source, entry.id, "id" if name == entry.id else "aliases",
                                 f"name {name!r} is already used by entry {owner!r}")
                else:
                    names[name.lower()] = entry.id
            result.setdefault(entry.id, entry)
    if problems.items:
        raise CatalogError(problems.items)
    return result


#: Entries built one at a time by :func:`get` (before or without the full catalog load).
_BUILT: dict[str, Entry] = {}


@lru_cache(maxsize=1)
def _builtin() -> tuple[dict[str, Entry], dict[str, str]]:
    """The whole built-in catalog, loaded and validated (every formula parsed)."""
    catalog = load_catalog()
    for entry_id, entry in _BUILT.items():  # keep one object per entry
        if entry_id in catalog:
            catalog[entry_id] = entry
    index = {}
    for entry in catalog.values():
        for name in (entry.id, *entry.aliases):
            index[name.lower()] = entry.id
    return catalog, index


def _entry(entry_id: str) -> Entry:
    """One built-in entry by id, parsed on first use (the rest of the catalog is not)."""
    if _builtin.cache_info().currsize:
        return _builtin()[0][entry_id]
    if entry_id not in _BUILT:
        idx = catalog_index()
        problems = Problems()
        entry = build_entry(idx.raw_entry(entry_id), idx.records[entry_id].source, problems)
        if problems.items or entry is None:
            raise CatalogError(problems.items or [f"entry {entry_id!r} could not be built"])
        _BUILT[entry_id] = entry
    return _BUILT[entry_id]


#: Index records (sorted by id, optionally of one kind), without parsing any formula.
index = records


def entries(kind: str | None = None) -> list[Entry]:
    """All built-in entries (optionally of one ``kind``), sorted by id."""
    catalog, _ = _builtin()
    if kind is not None and kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}; kinds are {', '.join(KINDS)}")
    return sorted((e for e in catalog.values() if kind is None or e.kind == kind), key=lambda e: e.id)


def get(name: str) -> Entry:
    """The entry with this id or alias (case-insensitive, ``-`` and ``_`` equivalent); a variant
    as a function of its own with ``"entry:variant"`` (``"gelu:tanh"``).

    Only this entry's formulas are parsed (the catalog index finds it).

    Raises
    ------
    UnknownEntryError
        With close matches in the message (an unknown variant lists the entry's variants).
    """
    names = catalog_index().names
    key = str(name).strip().lower().replace("-", "_")
    base, sep, variant = key.partition(":")
    if sep and base in names:
        entry = _entry(names[base])
        matches = [v for v in entry.variants if v.lower().replace("-", "_") == variant.strip()]
        if matches:
            return entry.variant_function(matches[0])
        raise UnknownEntryError(str(name), [f"{entry.id}:{v}" for v in entry.variants])
    if key in names:
        return _entry(names[key])
    suggestions = difflib.get_close_matches(key, list(names), n=5, cutoff=0.6)
    return_ids = list(dict.fromkeys(names[s] if s == names[s] else f"{s} ({names[s]})" for s in suggestions))
    raise UnknownEntryError(str(name), return_ids)


#: Index records matching words, tag and kind, without parsing any formula.
search_index = search_records


_PROPERTY_FILTERS = {
    "monotonic": lambda p: p.monotonic in ("increasing", "nondecreasing", "decreasing", "nonincreasing"),
    "increasing": lambda p: p.monotonic in ("increasing", "nondecreasing"),
    "bounded": lambda p: p.bounded_below and p.bounded_above,
    "bounded_below": lambda p: p.bounded_below,
    "bounded_above": lambda p: p.bounded_above,
    "smooth": lambda p: p.smoothness == "Cinf",
    "convex": lambda p: p.convex is True,
    "odd": lambda p: p.odd is True,
    "even": lambda p: p.even is True,
    "lipschitz": lambda p: p.lipschitz is not None and p.lipschitz < float("inf"),
    "slope_restricted": lambda p: p.slope_bounds is not None and all(abs(b) < float("inf") for b in p.slope_bounds),
}


def search(
    text: str | None = None,
    *,
    tag: str | None = None,
    kind: str | None = None,
    property: str | None = None,
) -> list[Entry]:
    """Entries matching all given filters.

    Parameters
    ----------
    text : str, optional
        Case-insensitive words, each found in id, name, aliases, family, tags, summary or
        description.
    tag : str, optional
        Exact tag (e.g. ``"pytorch"``).
    kind : str, optional
        One of :data:`funclib.entry.KINDS`.
    property : str, optional
        A proven property: ``monotonic``, ``increasing``, ``bounded``, ``bounded_below``,
        ``bounded_above``, ``smooth``, ``convex``, ``odd``, ``even``, ``lipschitz``,
        ``slope_restricted`` (elementwise entries; uses the property cache).
    """
    if property is not None and property not in _PROPERTY_FILTERS:
        raise ValueError(f"unknown property {property!r}; known: {', '.join(_PROPERTY_FILTERS)}")
    found = []
    for record in search_index(text, tag=tag, kind=kind):
        entry = _entry(record.id)
        if property is not None:
            if entry.kind != "elementwise" or not _PROPERTY_FILTERS[property](entry.properties()):
                continue
        found.append(entry)
    return found
