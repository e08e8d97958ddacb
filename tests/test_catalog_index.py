"""The catalog index: lookups without parsing the catalog, always consistent with the TOML."""

from __future__ import annotations

import subprocess
import sys

import funclib
from funclib import catalog_index, registry


def test_committed_index_is_fresh():
    stale = catalog_index.catalog_index().stale
    assert not stale, f"catalog/index.json is stale for {stale[:5]}: run python -m funclib.catalog_index --write"


def test_index_agrees_with_the_loaded_entries():
    records = catalog_index.catalog_index().records
    loaded = {e.id: e for e in funclib.entries()}
    assert set(records) == set(loaded)
    for entry_id, entry in loaded.items():
        r = records[entry_id]
        assert (r.name, r.kind, r.family, r.summary, r.source) == (entry.name, entry.kind, entry.family, entry.summary, entry.source)
        assert r.aliases == entry.aliases and r.tags == entry.tags and r.variants == tuple(entry.variants)


def test_a_damaged_index_is_not_trusted(monkeypatch):
    index = catalog_index.CatalogIndex(catalog_index.catalog_files(), {"version": 1, "files": {"catalog/x.toml": {}}})
    assert set(index.records) == set(catalog_index.catalog_index().records)
    assert "catalog/x.toml" in index.stale and len(index.stale) > 1
    wrong = catalog_index.build_index()
    source = next(iter(wrong["files"]))
    wrong["files"][source]["entries"][0]["summary"] = "tampered"
    index = catalog_index.CatalogIndex(catalog_index.catalog_files(), wrong)
    assert source not in index.stale  # same hash: the stored records are used ...
    wrong["files"][source]["sha256"] = "0" * 64
    index = catalog_index.CatalogIndex(catalog_index.catalog_files(), wrong)
    assert source in index.stale  # ... a different hash: the file is read again
    assert all(r.summary != "tampered" for r in index.records.values())


def test_get_parses_only_the_entry_it_returns():
    code = ("import funclib, funclib.registry as r; e = funclib.get('gelu'); v = funclib.get('gelu:tanh');"
            "print(r._builtin.cache_info().currsize, sorted(r._BUILT))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["0", "['gelu']"]


def test_import_funclib_loads_no_sympy():
    code = "import sys, funclib; print('sympy' in sys.modules, 'numpy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "False"]


def test_list_and_search_answer_from_the_index():
    code = ("import sys; from funclib.cli import main; main(['list']); main(['search', 'sigmoid']);"
            "print('sympy' in sys.modules, file=sys.stderr)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stderr.strip().splitlines()[-1] == "False"
    assert "gelu" in proc.stdout


def test_search_index_and_search_agree():
    for words in ("sigmoid", "relu", "smooth rectifier", ""):
        assert [r.id for r in registry.search_index(words)] == [e.id for e in registry.search(words)]


def test_output_into_a_closed_pipe_is_not_an_error():
    proc = subprocess.run(f"{sys.executable} -m funclib.cli list | head -1", shell=True, capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout.count("\n") == 1
    assert "Traceback" not in proc.stderr and "BrokenPipe" not in proc.stderr
