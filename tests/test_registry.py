"""Catalog loading and validation: every problem reported with file, entry and field."""

from __future__ import annotations

import textwrap

import pytest

import funclib
from funclib.registry import CatalogError, UnknownEntryError, load_catalog

GOOD = """
[[entry]]
id = "mine"
name = "Mine"
aliases = ["my_act"]
kind = "elementwise"
family = "test"
summary = "a test function"
formula = "x*sigmoid(beta*x)"
[entry.params.beta]
default = 1.0
range = "(0, inf)"
trainable = true
[entry.variants.fast]
formula = "x*(1 + tanh(beta*x/2))/2"
[[entry.references]]
title = "A paper"
authors = "Someone"
year = 2020
arxiv = "2001.00001"
"""


def write(tmp_path, text, name="cat.toml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def test_good_file_loads(tmp_path):
    catalog = load_catalog([write(tmp_path, GOOD)])
    entry = catalog["mine"]
    assert entry.params["beta"].trainable
    assert entry.variants["fast"].formula.startswith("x*(1")
    assert entry.references[0].link == "https://arxiv.org/abs/2001.00001"


@pytest.mark.parametrize(
    "change, expected",
    [
        (("formula = \"x*sigmoid(beta*x)\"", "formula = \"x*sigmod(beta*x)\""), "field 'formula': function 'sigmod' is not allowed; did you mean sigmoid"),
        (("default = 1.0", "default = -1.0"), "field 'params.beta': default -1.0 is outside its range (0, inf)"),
        (("kind = \"elementwise\"", "kind = \"pointwise\""), "field 'kind': 'pointwise' is not one of"),
        (("summary = ", "sumary = "), "unknown field(s) sumary"),
        (("id = \"mine\"", "id = \"Mine!\""), "field 'id'"),
        (("tanh(beta*x/2))/2", "tanh(beta*x/2)/2"), "field 'variants.fast.formula': syntax error"),
        (("year = 2020", "year = \"2020\""), "field 'references[0].year': must be an integer"),
        (("range = \"(0, inf)\"", "range = \"(0, inf]\""), "infinite end must be open"),
        (("trainable = true", "trainable = \"yes\""), "must be true or false"),
    ],
)
def test_each_problem_is_named(tmp_path, change, expected):
    old, new = change
    assert old in GOOD
    path = write(tmp_path, GOOD.replace(old, new, 1))
    with pytest.raises(CatalogError) as info:
        load_catalog([path])
    message = str(info.value)
    assert str(path) in message
    assert expected in message


def test_all_problems_are_collected(tmp_path):
    bad = GOOD.replace("x*sigmoid", "x*sigmod").replace("default = 1.0", "default = -1.0")
    with pytest.raises(CatalogError) as info:
        load_catalog([write(tmp_path, bad)])
    assert len(info.value.problems) == 2


def test_duplicate_ids_and_aliases_case_insensitive(tmp_path):
    a = write(tmp_path, GOOD, "a.toml")
    b = write(tmp_path, GOOD.replace('id = "mine"', 'id = "other"').replace('"my_act"', '"MY_ACT"'), "b.toml")
    with pytest.raises(CatalogError, match="name 'MY_ACT' is already used by entry 'mine'"):
        load_catalog([a, b])
    c = write(tmp_path, GOOD.replace('aliases = ["my_act"]', 'aliases = ["x1"]'), "c.toml")
    with pytest.raises(CatalogError, match="name 'mine' is already used"):
        load_catalog([a, c])


def test_claims_are_validated(tmp_path):
    text = GOOD + '[entry.claims]\nmonotonic = "sometimes"\nslop_bounds = [0, 1]\n'
    with pytest.raises(CatalogError) as info:
        load_catalog([write(tmp_path, text)])
    message = str(info.value)
    assert "claims.monotonic" in message and "claims.slop_bounds" in message and "did you mean 'slope_bounds'" in message


def test_invalid_toml(tmp_path):
    with pytest.raises(CatalogError, match="invalid TOML"):
        load_catalog([write(tmp_path, "[[entry]\nid=")])


def test_get_unknown_suggests():
    with pytest.raises(UnknownEntryError) as info:
        funclib.get("relu7")
    assert "did you mean" in str(info.value) and "relu6" in str(info.value)


def test_get_is_case_and_dash_insensitive():
    assert funclib.get("ReLU").id == "relu"
    assert funclib.get("leaky-relu").id == "leaky_relu"


def test_with_params_validates_and_changes_nothing(tmp_path):
    entry = load_catalog([write(tmp_path, GOOD)])["mine"]
    with pytest.raises(funclib.ParameterError, match="outside its range"):
        entry.with_params(beta=-2)
    with pytest.raises(funclib.ParameterError, match="has no parameter 'gamma'"):
        entry.with_params(gamma=1)
    assert entry.params["beta"].default == 1.0
    assert entry.with_params(beta=2).params["beta"].default == 2.0


def test_builtin_catalog_loads_and_has_the_framework_activations():
    ids = {e.id for e in funclib.entries()}
    for name in ("relu", "gelu", "silu", "mish", "softplus", "sigmoid", "tanh", "elu", "selu"):
        assert name in ids
    assert len(ids) >= 30


def test_search_filters():
    assert "gelu" in {e.id for e in funclib.search("gaussian")}
    assert all("pytorch" in e.tags for e in funclib.search(tag="pytorch"))
    assert {e.kind for e in funclib.search(kind="elementwise")} == {"elementwise"}
    with pytest.raises(ValueError, match="unknown property"):
        funclib.search(property="shiny")
