"""No duplicates in the catalog: equal functions are aliases, variants or declared coincidences."""

from __future__ import annotations

import pytest

import funclib
from funclib import duplicates
from funclib.registry import load_catalog

ENTRIES = funclib.entries()


def _entry_toml(entry_id: str, formula: str, extra: str = "") -> str:
    """A minimal user-catalog entry."""
    return (f'[[entry]]\nid = "{entry_id}"\nname = "{entry_id}"\nkind = "elementwise"\nfamily = "test"\n'
            f'summary = "a test function."\nformula = "{formula}"\n{extra}'
            '[[entry.references]]\ntitle = "t"\nauthors = "a"\nyear = 2020\n\n')


def test_no_undeclared_duplicates():
    found = duplicates.undeclared(ENTRIES)
    assert not found, "equal functions that are separate entries (make one an alias or variant, or declare " \
        "`coincides` when two parametric families meet at their defaults):\n" + "\n".join(
            f"  {c.a} ({c.sources[0]}) == {c.b} ({c.sources[1]}) [{how}]" for c, how in found)


def test_declarations_are_true():
    assert duplicates.stale_declarations(ENTRIES) == []


def test_screen_finds_a_planted_duplicate(tmp_path):
    path = tmp_path / "dup.toml"
    path.write_text(_entry_toml("my_relu", "(x + Abs(x))/2") + _entry_toml("my_relu2", "Max(x, 0)"))
    entries = list(load_catalog([path]).values())
    (cand,) = duplicates.screen(entries)
    assert {cand.a, cand.b} == {"my_relu", "my_relu2"}


def test_different_functions_are_not_confirmed():
    same, how = duplicates.confirm("gelu", "gelu:tanh")
    assert not same and "differ" in how
    assert duplicates.confirm("silu", "xsilu") == (True, "symbolic") or duplicates.confirm("silu", "xsilu")[0]


def test_bad_declaration_is_named(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text(_entry_toml("x_gelu_bad", "x", 'coincides = [{ entry = "gelu", reason = "it is not, which the screen must say" }]\n'))
    entries = list(load_catalog([path]).values())
    (msg,) = duplicates.stale_declarations(entries)
    assert "x_gelu_bad" in msg and "coincides" in msg and "not the same function" in msg
