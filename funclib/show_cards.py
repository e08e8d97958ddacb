"""``funclib show NAME`` without SymPy: the text it prints, stored per entry with a checked key.

``show`` prints an entry's derivative and proven properties, and building an entry imports
SymPy (a third of a second) and differentiates its formula. What ``funclib show NAME`` prints
(default parameters; the text and the ``--json`` form, for each entry and each of its variants
``ID:VARIANT``) is therefore stored in ``catalog/show_cards.json`` (text) and ``catalog/show_cards_json.json``
(written by ``python -m funclib.catalog_index --write``, with the index), each card with a key:
the SHA-256 of the entry's TOML table, its slot in the property cache, and the sources of the
modules that shape the text (:data:`RENDER_SOURCES`, the SymPy version included). ``show``
serves a card only when its key equals the key computed now, so a card is never stale, only
unused: an edited entry, a recomputed proof or a changed printer falls back to the full path.
The default tests fail while the committed cards are stale (as for the index), and render a
sample of entries the full way to compare. This module imports neither SymPy nor NumPy.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
from functools import lru_cache
from importlib import resources
from importlib.util import find_spec
from pathlib import Path

from .catalog_index import catalog_index

__all__ = ["CARDS_FILE", "JSON_CARDS_FILE", "RENDER_SOURCES", "card_key", "cached_card", "build_cards", "stale_cards"]

CARDS_FILE = "show_cards.json"
#: The ``--json`` cards (a file of their own: each file stays small, and ``show`` reads one).
JSON_CARDS_FILE = "show_cards_json.json"
#: Modules (relative to the package) whose code decides what ``show`` prints: the printing
#: itself, entry building, differentiation, formula printing, and the property records.
RENDER_SOURCES = ("cli.py", "entry.py", "entry_fields.py", "calculus.py", "formula.py", "special.py",
                  "ranges.py", "registry.py", "properties/records.py", "properties/__init__.py")
_PROPERTIES_SUFFIX = ".properties.json"


@lru_cache(maxsize=1)
def _code_digest() -> str:
    here = Path(__file__).resolve().parent
    h = hashlib.sha256()
    for name in RENDER_SOURCES:
        h.update(name.encode() + b"\0" + (here / name).read_bytes())
    spec = find_spec("sympy")  # SymPy's printer is part of the text: its version is in the key
    if spec is not None and spec.origin:
        release = Path(spec.origin).with_name("release.py")
        h.update(release.read_bytes() if release.exists() else b"")
    return h.hexdigest()


@lru_cache(maxsize=64)
def _sidecar(relative: str) -> dict:
    try:
        return json.loads(resources.files("funclib.catalog").joinpath(relative).read_text(encoding="utf-8"))
    except (FileNotFoundError, OSError, json.JSONDecodeError):
        return {}


def card_key(entry_id: str) -> str | None:
    """The key a card of ``entry_id`` must carry to be served now (None: not a catalog entry)."""
    index = catalog_index()
    record = index.records.get(entry_id)
    if record is None:
        return None
    slot = _sidecar(record.source[len("catalog/"):-len(".toml")] + _PROPERTIES_SUFFIX).get(entry_id)
    text = json.dumps([index.raw_entry(entry_id), slot, _code_digest()], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


@lru_cache(maxsize=2)
def _stored(name: str = CARDS_FILE) -> dict:
    """The cards of one file: :data:`CARDS_FILE` (text) or :data:`JSON_CARDS_FILE` (``--json``)."""
    try:
        return json.loads(resources.files("funclib.catalog").joinpath(name).read_text(encoding="utf-8"))
    except (FileNotFoundError, OSError, json.JSONDecodeError):
        return {}


def _normalized(name: str) -> str:
    """A name as :func:`funclib.registry.get` compares it (case, ``-`` and ``_``)."""
    return str(name).strip().lower().replace("-", "_")


def cached_card(name: str, *, as_json: bool = False) -> str | dict | None:
    """What ``funclib show NAME`` prints (an id, alias or ``ID:VARIANT``), stored: the text, or
    with ``as_json`` the object that ``--json`` prints; None where no card with the current key
    exists (the caller takes the full path)."""
    base, sep, variant = _normalized(name).partition(":")
    entry_id = catalog_index().names.get(base)
    card = _stored(JSON_CARDS_FILE if as_json else CARDS_FILE).get(entry_id) if entry_id else None
    if not isinstance(card, dict) or card.get("key") != card_key(entry_id):
        return None  # absent, damaged or not current: the full path
    if sep:
        variants = card.get("variants")
        if not isinstance(variants, dict):
            return None
        card = next((c for v, c in variants.items() if _normalized(v) == variant.strip()), None)
        if not isinstance(card, dict):
            return None  # an unknown variant: the full path names the ones there are
    value = card.get("card")
    if not isinstance(value, str):
        return None
    if not as_json:
        return value
    try:  # stored as a string: reading the file then parses one string per card, not the objects
        obj = json.loads(value)
    except json.JSONDecodeError:
        return None
    return obj if isinstance(obj, dict) else None


def render(entry) -> str:
    """What ``funclib show`` prints for ``entry`` (the full path: SymPy, the property cache)."""
    from .cli import print_entry

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        print_entry(entry)
    return out.getvalue()


def _cards(entry) -> tuple[dict, dict]:
    """``entry``'s text card and ``--json`` card (the compact JSON text, re-indented when served)."""
    from .cli import entry_json

    return ({"card": render(entry)},
            {"card": json.dumps(entry_json(entry), ensure_ascii=False, separators=(",", ":"))})


def build_cards() -> tuple[dict[str, dict], dict[str, dict]]:
    """Every catalog entry's cards and its variants' cards, rendered the full way: the contents
    of :data:`CARDS_FILE` and of :data:`JSON_CARDS_FILE`."""
    from . import registry

    texts, jsons = {}, {}
    for entry_id in sorted(catalog_index().records):
        entry = registry.get(entry_id)
        key = card_key(entry_id)
        (text, js), variants = _cards(entry), {v: _cards(entry.variant_function(v)) for v in entry.variants}
        texts[entry_id] = {"key": key, **text, "variants": {v: c[0] for v, c in variants.items()}}
        jsons[entry_id] = {"key": key, **js, "variants": {v: c[1] for v, c in variants.items()}}
    return texts, jsons


def stale_cards() -> list[str]:
    """Ids whose committed cards (text or ``--json``) are missing or do not carry the current key."""
    texts, jsons = _stored(CARDS_FILE), _stored(JSON_CARDS_FILE)
    return [i for i in sorted(catalog_index().records)
            if not texts.get(i, {}).get("key") == jsons.get(i, {}).get("key") == card_key(i)]


def write_cards(path: Path) -> None:
    """Write :func:`build_cards` to ``path`` (:data:`CARDS_FILE`) and to :data:`JSON_CARDS_FILE`
    beside it, each atomically (two files: ``show NAME`` reads only the text cards)."""
    for cards, target in zip(build_cards(), (path, path.with_name(JSON_CARDS_FILE))):
        text = json.dumps(cards, indent=0, ensure_ascii=False, separators=(",", ":")) + "\n"
        tmp = target.with_name(target.name + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(target)
