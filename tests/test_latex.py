"""Every catalog formula prints as LaTeX (the docs render every entry and variant)."""

from __future__ import annotations

import pytest
import sympy as sp

import funclib

ENTRIES = funclib.entries()


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e.id)
def test_formula_prints_as_latex(entry):
    for variant in (None, *entry.variants):
        expr = entry.formula_expr(variant)
        tex = sp.latex(expr)
        assert tex.strip()


def test_powers_of_funclib_functions_print():
    tex = sp.latex(funclib.parse_formula("x*sigmoid(x)**(3/2) + softplus(x)**2"))
    assert r"\sigma\left(x\right)^{\frac{3}{2}}" in tex and r"\operatorname{softplus}\left(x\right)^{2}" in tex
