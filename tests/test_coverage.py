"""The coverage report against the breadth target list (funclib.coverage, `funclib coverage`)."""

from __future__ import annotations

import json

import pytest

import funclib
from funclib import coverage
from funclib.cli import main


def test_every_target_row_has_exactly_one_status():
    rows = coverage.coverage()
    assert len(rows) == len(coverage.targets()) == 573
    assert len({r.id for r in rows}) == len(rows)
    assert all(r.status in coverage.STATUSES for r in rows)


def test_covered_rows_name_real_entries():
    for r in coverage.coverage():
        if r.status in ("out_of_scope", "missing"):
            assert r.entry is None
            continue
        entry_id, _, variant = r.entry.partition(":")
        entry = funclib.get(entry_id)
        assert not variant or variant in entry.variants


def test_in_funclib_rows_are_covered():
    """Rows the target list marks as already in funclib resolve to an entry."""
    status = {r.id: r for r in coverage.coverage()}
    for row in coverage.targets():
        if row["status"] == "in_funclib":
            assert status[row["id"]].status != "missing", row["id"]


def test_out_of_scope_rows_say_why():
    for r in coverage.coverage():
        if r.status == "out_of_scope":
            assert len(r.reason) >= 10, r.id


def test_cli_json(capsys):
    assert main(["coverage", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["summary"]["total"] == 573
    assert data["summary"]["covered"] + data["summary"]["missing"] == 573


def test_cli_filters_by_status(capsys):
    assert main(["coverage", "--status", "entry"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out and all(" entry " in line for line in out)
    assert main(["coverage", "--status", "bogus"]) == 2


def test_malformed_record_names_file_and_field(tmp_path, monkeypatch):
    bad = tmp_path / "_coverage"
    bad.mkdir()
    (bad / "targets.tsv").write_text((coverage._coverage_dir() / "targets.tsv").read_text())
    (bad / "x.toml").write_text('[[target]]\nid = "relu"\nstatus = "out_of_scope"\n')
    monkeypatch.setattr(coverage, "_coverage_dir", lambda: bad)
    coverage.targets.cache_clear()
    try:
        with pytest.raises(coverage.CoverageError, match=r"x.toml: target\[0\]: field 'reason'"):
            coverage.coverage()
    finally:
        coverage.targets.cache_clear()


@pytest.mark.parametrize("record, field", [
    ('status = "missing"\n', "reason"),  # work left says what blocks it
    ('status = "missing"\nreason = "the paper is not reachable here"\nentry = "relu"\n', "entry"),
    ('status = "pending"\nreason = "not a status the format knows"\n', "status"),
])
def test_missing_records_are_checked(tmp_path, monkeypatch, record, field):
    bad = tmp_path / "_coverage"
    bad.mkdir()
    (bad / "targets.tsv").write_text((coverage._coverage_dir() / "targets.tsv").read_text())
    (bad / "x.toml").write_text('[[target]]\nid = "relu"\n' + record)
    monkeypatch.setattr(coverage, "_coverage_dir", lambda: bad)
    coverage.targets.cache_clear()
    try:
        with pytest.raises(coverage.CoverageError, match=rf"x.toml: target\[0\]: field '{field}'"):
            coverage.coverage()
    finally:
        coverage.targets.cache_clear()


def test_missing_records_count_as_missing(tmp_path, monkeypatch):
    # a row with no entry (opau) given a missing record in a coverage folder of its own
    own = tmp_path / "_coverage"
    own.mkdir()
    (own / "targets.tsv").write_text((coverage._coverage_dir() / "targets.tsv").read_text())
    (own / "x.toml").write_text('[[target]]\nid = "opau"\nstatus = "missing"\nreason = "blocked: see arXiv 2103.07552"\n')
    monkeypatch.setattr(coverage, "_coverage_dir", lambda: own)
    coverage.targets.cache_clear()
    try:
        rows = {r.id: r for r in coverage.coverage()}
    finally:
        coverage.targets.cache_clear()
    assert rows["opau"].status == "missing" and "arXiv 2103.07552" in rows["opau"].reason
