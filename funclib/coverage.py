"""Coverage of the breadth target list: which candidate functions the catalog holds, and why
the others are left out.

The target list (``funclib.catalog/_coverage/targets.tsv``, 573 rows gathered from the survey of
Kunc & Kléma 2024, ``torch-activation``, framework built-ins and the catalog's seed papers; a
copy of the team's ``shared/breadth/targets.tsv``) suggests an id per candidate. A row is
covered when

* an entry has that id (``entry``), or lists it as an alias (``alias``), or the row's
  ``funclib_id`` column names an entry;
* a coverage record in ``catalog/_coverage/*.toml`` says so explicitly::

      [[target]]
      id = "gelu_tanh"            # the row's id in targets.tsv
      status = "variant"          # entry | alias | variant | preset | out_of_scope | missing (work left, with what blocks it)
      entry = "gelu:tanh"         # entry id, or entry:variant (not for out_of_scope)
      reason = "..."              # why (required for out_of_scope, alias, preset)

A record overrides the automatic match. Rows with neither are ``missing``.
"""

from __future__ import annotations

import csv
import io
import tomllib
from dataclasses import asdict, dataclass
from functools import lru_cache
from importlib import resources

__all__ = ["STATUSES", "TargetStatus", "coverage", "targets", "summary", "CoverageError"]

#: What a target row can be, in the order the report lists them.
STATUSES = ("entry", "alias", "variant", "preset", "out_of_scope", "missing")
_RECORD_FIELDS = {"id", "status", "entry", "reason"}


class CoverageError(ValueError):
    """A malformed coverage record (names the file, the row and the field)."""


@dataclass(frozen=True)
class TargetStatus:
    """One row of the target list and how the catalog covers it."""

    id: str
    name: str
    family: str
    kind: str
    well_defined: str
    status: str
    entry: str | None
    reason: str

    def as_json(self) -> dict:
        return asdict(self)


def _coverage_dir():
    return resources.files("funclib.catalog").joinpath("_coverage")


@lru_cache(maxsize=1)
def targets() -> tuple[dict[str, str], ...]:
    """The rows of the target list, as dicts keyed by its column names."""
    text = _coverage_dir().joinpath("targets.tsv").read_text(encoding="utf-8")
    return tuple(csv.DictReader(io.StringIO(text), delimiter="\t"))


def _records() -> dict[str, tuple[str, dict]]:
    """Explicit coverage records by target id, with their file, validated."""
    from .registry import get, UnknownEntryError

    found: dict[str, tuple[str, dict]] = {}
    known_ids = {row["id"] for row in targets()}
    for child in sorted(_coverage_dir().iterdir(), key=lambda c: c.name):
        if not child.name.endswith(".toml"):
            continue
        source = f"catalog/_coverage/{child.name}"
        try:
            data = tomllib.loads(child.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise CoverageError(f"{source}: invalid TOML: {exc}") from None
        for k, rec in enumerate(data.get("target", [])):
            where = f"{source}: target[{k}]"
            unknown = set(rec) - _RECORD_FIELDS
            if unknown:
                raise CoverageError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
            tid, status = rec.get("id"), rec.get("status")
            if tid not in known_ids:
                raise CoverageError(f"{where}: field 'id': {tid!r} is not a row of targets.tsv")
            if tid in found:
                raise CoverageError(f"{where}: target {tid!r} already has a record in {found[tid][0]}")
            if status not in STATUSES:
                raise CoverageError(f"{where}: field 'status': must be one of {', '.join(STATUSES)}, got {status!r}")
            reason = rec.get("reason", "")
            if status in ("out_of_scope", "alias", "preset", "missing") and len(str(reason).strip()) < 10:
                raise CoverageError(f"{where}: field 'reason': a {status} record says why")
            if status in ("out_of_scope", "missing"):
                # a missing record is work left: what blocks the row and what is known of it
                if rec.get("entry"):
                    raise CoverageError(f"{where}: field 'entry': an {status} row names no entry")
            else:
                name = str(rec.get("entry", ""))
                entry_id, _, variant = name.partition(":")
                try:
                    entry = get(entry_id)
                except UnknownEntryError as exc:
                    raise CoverageError(f"{where}: field 'entry': {exc}") from None
                if variant and variant not in entry.variants:
                    raise CoverageError(f"{where}: field 'entry': {entry.id!r} has no variant {variant!r}")
                if (status == "variant") != bool(variant):
                    raise CoverageError(f"{where}: field 'entry': status {status!r} "
                                        + ("needs entry:variant" if status == "variant" else "names an entry, not a variant"))
            found[tid] = (source, rec)
    return found


def coverage() -> list[TargetStatus]:
    """The status of every target row (explicit records first, then automatic matches)."""
    from .registry import entries

    by_id = {e.id: e for e in entries()}
    by_alias = {a.lower(): e.id for e in entries() for a in e.aliases}
    records = _records()
    out = []
    for row in targets():
        tid = row["id"]
        base = dict(id=tid, name=row["name"], family=row["family"], kind=row["kind"], well_defined=row["well_defined"])
        if tid in records:
            _, rec = records[tid]
            out.append(TargetStatus(**base, status=rec["status"], entry=rec.get("entry") or None,
                                    reason=str(rec.get("reason", ""))))
        elif tid in by_id:
            out.append(TargetStatus(**base, status="entry", entry=tid, reason=""))
        elif tid.lower() in by_alias:
            out.append(TargetStatus(**base, status="alias", entry=by_alias[tid.lower()],
                                    reason="the target id is an alias of the entry"))
        elif row.get("funclib_id") in by_id:
            out.append(TargetStatus(**base, status="alias", entry=row["funclib_id"],
                                    reason="the target list maps this row to the entry"))
        else:
            out.append(TargetStatus(**base, status="missing", entry=None, reason=""))
    return out


def summary(rows: list[TargetStatus] | None = None) -> dict[str, int]:
    """Counts per status (plus ``covered`` = every status except ``missing``)."""
    rows = coverage() if rows is None else rows
    counts = {s: 0 for s in STATUSES}
    for r in rows:
        counts[r.status] += 1
    counts["covered"] = len(rows) - counts["missing"]
    counts["total"] = len(rows)
    return counts
