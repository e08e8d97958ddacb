"""The ``funclib`` command line: output, --json, and exit status 2 on bad input."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from funclib.cli import main

GELU_SLOPE = (-0.128904, 1.128904)


def run(capsys, *args):
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_show_gelu_json(capsys):
    code, out, _ = run(capsys, "show", "gelu", "--json")
    assert code == 0
    data = json.loads(out)
    assert "erfc" in data["formula"]
    assert "exp" in data["derivative"]
    fact = data["properties"]["slope_bounds"]
    assert fact["method"] in ("interval", "symbolic")
    lo, hi = fact["value"]
    # Outer bounds that enclose the true [inf f', sup f'] and are within 1e-6 of it.
    assert lo <= GELU_SLOPE[0] + 1e-6 and hi >= GELU_SLOPE[1] - 1e-6
    assert abs(lo - GELU_SLOPE[0]) < 1e-6 and abs(hi - GELU_SLOPE[1]) < 1e-6
    assert "tanh" in data["variants"]
    assert data["references"][0]["arxiv"] == "1606.08415"


def test_show_text(capsys):
    code, out, _ = run(capsys, "show", "mish")
    assert code == 0
    assert "slope_bounds" in out and "[interval]" in out and "reference" in out


@pytest.mark.parametrize(
    "args, message",
    [
        (("show", "gelux"), "unknown function 'gelux'; did you mean gelu"),
        (("show", "silu", "--param", "beta=-1"), "outside its range"),
        (("show", "silu", "--param", "gamma=1"), "has no parameter 'gamma'"),
        (("show", "silu", "--param", "beta"), "NAME=VALUE"),
        (("diff", "x*foo(x)"), "function 'foo' is not allowed"),
        (("diff", "__import__('os').system('true')"), "only plain function names may be called"),
        (("search", "--property", "shiny"), "unknown property"),
        (("list", "--kind", "pointwise"), "unknown kind"),
    ],
)
def test_bad_input_exits_2_with_one_line(capsys, args, message):
    code, out, err = run(capsys, *args)
    assert code == 2
    assert message in err
    assert len(err.strip().splitlines()) == 1


def test_diff_formula_and_entry(capsys):
    code, out, _ = run(capsys, "diff", "x*sigmoid(x)")
    assert code == 0 and "sigmoid" in out
    code, out, _ = run(capsys, "diff", "relu", "--json")
    data = json.loads(out)
    assert data["source"] == "relu" and "where" in data["derivative"]
    code, out, _ = run(capsys, "diff", "x**3", "--order", "2")
    assert out.strip() == "6*x"
    code, out, _ = run(capsys, "diff", "x*tanh(beta*x)", "--param", "beta=2")
    assert code == 0 and "tanh(2*x)" in out


def test_search_and_list(capsys):
    code, out, _ = run(capsys, "search", "sigmoid", "--json")
    ids = {e["id"] for e in json.loads(out)}
    assert {"sigmoid", "hard_sigmoid", "log_sigmoid"} <= ids
    code, out, _ = run(capsys, "list", "--kind", "rowwise")
    assert "softmax" in out
    code, out, _ = run(capsys, "search", "--tag", "jax", "--property", "monotonic", "--json")
    ids = {e["id"] for e in json.loads(out)}
    assert "sigmoid" in ids and "gelu" not in ids


def test_tour(capsys):
    code, out, _ = run(capsys, "tour")
    assert code == 0
    assert "GELU" in out and "slope bounds" in out and "interval" in out


def test_console_script_entry_point():
    """The installed `funclib` script exists and returns 2 on bad input."""
    proc = subprocess.run([sys.executable, "-m", "funclib.cli", "show", "nope_nope"], capture_output=True, text=True)
    assert proc.returncode == 2 and "unknown function" in proc.stderr


def test_broken_catalog_exits_1_not_2(capsys, monkeypatch):
    # A CatalogError is a ValueError; it must not be reported as the user's bad input.
    from funclib import registry

    def broken(name):
        raise registry.CatalogError(["catalog/x.toml: entry 'x': field 'formula': unknown name 'q'"])

    monkeypatch.setattr(registry, "get", broken)
    monkeypatch.setattr("funclib.show_cards.cached_card", lambda name, as_json=False: None)  # the full path
    assert main(["show", "gelu"]) == 1
    err = capsys.readouterr().err
    assert "catalog error" in err and "field 'formula'" in err
