"""The stored output of ``funclib show`` (:mod:`funclib.show_cards`), text and ``--json``, for
entries and their variants: fresh, equal to the full path, never served when its key is not
current, and served without importing SymPy."""

from __future__ import annotations

import subprocess
import sys

import pytest

import funclib
from funclib import show_cards
from funclib.cli import main


def test_committed_cards_are_fresh():
    stale = show_cards.stale_cards()
    assert not stale, f"catalog/show_cards.json is stale for {stale[:5]}: run python -m funclib.catalog_index --write"


@pytest.mark.parametrize("name", ["gelu", "mish", "relu6", "sparsemax", "pau", "darknet_stair"])
def test_card_is_what_the_full_path_prints(name, capsys):
    card = show_cards.cached_card(name)
    assert card is not None
    assert card == show_cards.render(funclib.get(name))
    assert main(["show", name]) == 0
    assert capsys.readouterr().out == card


@pytest.mark.parametrize("name", ["gelu", "gelu:tanh", "softplus:threshold", "hard_sigmoid:legacy_keras", "sparsemax"])
def test_json_and_variant_cards_are_what_the_full_path_prints(name, capsys, monkeypatch):
    for args in (["show", name], ["show", name, "--json"]):
        assert main(args) == 0
        from_card = capsys.readouterr().out
        with monkeypatch.context() as m:
            m.setattr(show_cards, "_stored", lambda *_: {})  # no cards: the full path
            assert main(args) == 0
            assert capsys.readouterr().out == from_card, args
    assert show_cards.cached_card(name.upper(), as_json=True)["id"] == funclib.get(name).id


def test_an_unknown_variant_takes_the_full_path_and_names_the_variants(capsys):
    assert show_cards.cached_card("gelu:nope") is None
    assert main(["show", "gelu:nope"]) != 0
    assert "gelu:tanh" in capsys.readouterr().err


def test_an_alias_gets_its_entry_card():
    entry = next(e for e in funclib.entries() if e.aliases)
    assert show_cards.cached_card(entry.aliases[0]) == show_cards.cached_card(entry.id) is not None


def test_a_card_with_another_key_is_not_served(monkeypatch, capsys):
    stored = dict(show_cards._stored())
    stored["gelu"] = {"key": "0" * 64, "card": "a stale card\n"}
    monkeypatch.setattr(show_cards, "_stored", lambda *_: stored)
    assert show_cards.cached_card("gelu") is None
    assert main(["show", "gelu"]) == 0
    out = capsys.readouterr().out
    assert "a stale card" not in out and "derivative: f'(x) =" in out


def test_key_follows_the_entry_and_its_proofs(monkeypatch):
    before = show_cards.card_key("gelu")
    index = show_cards.catalog_index()
    raw = dict(index.raw_entry("gelu"))
    monkeypatch.setattr(type(index), "raw_entry", lambda self, i: raw | {"summary": "edited"} if i == "gelu" else {})
    assert show_cards.card_key("gelu") != before
    monkeypatch.undo()
    show_cards._sidecar.cache_clear()
    monkeypatch.setattr(show_cards, "_sidecar", lambda relative: {"gelu": {"key": "other"}})
    assert show_cards.card_key("gelu") != before
    assert show_cards.card_key("no_such_entry") is None


@pytest.mark.parametrize("args", [["show", "gelu"], ["show", "gelu:tanh", "--json"]])
def test_show_from_a_card_does_not_import_sympy(args):
    code = (f"import sys; from funclib.cli import main; rc = main({args!r}); "
            "assert rc == 0 and 'sympy' not in sys.modules and 'numpy' not in sys.modules, sorted(sys.modules)[:0]")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "derivative: f'(x) =" in proc.stdout or '"slope_bounds"' in proc.stdout


@pytest.mark.parametrize("damaged", [["not", "a", "card"], {"key": None}, {"card": 3}])
def test_a_damaged_card_is_not_served(monkeypatch, damaged):
    stored = dict(show_cards._stored())
    good = stored["gelu"]
    stored["gelu"] = damaged if not isinstance(damaged, dict) else {**damaged, "key": good["key"]} | (
        {"key": None} if damaged.get("key", 0) is None else {})
    monkeypatch.setattr(show_cards, "_stored", lambda *_: stored)
    assert show_cards.cached_card("gelu") is None
