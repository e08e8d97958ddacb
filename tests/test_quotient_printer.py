"""The product splitter shared by the kernels' printer and the export printers
(:func:`funclib.kernels.printer.split_quotient` / :func:`~funclib.kernels.printer.print_quotient`).

The overflow guard is checked where it matters, against the oracle: a quotient c/u**k whose
denominator overflows although the quotient is a normal number, in both printers.
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import sympy as sp

import funclib
from funclib.accuracy import ulp_error
from funclib.export import export
from funclib.kernels.formulas import formula_entry
from funclib.kernels.printer import split_quotient

x, u = sp.symbols("x u")

# 2x/(3 + x^2)^2 at x = -1.5e11 in float32: (3 + x^2)^2 = 5e44 overflows, and (1/u)^2 = 1.9e-45
# is subnormal (one significant bit), while the quotient 5.7e-34 is a normal number
QUOTIENT = "2*x/(3 + x**2)**2"
FAR32 = np.array([-1.5171587e11, 4.0263184e7, -3.0e19, 2.0e30, -1.0, 0.5], np.float32)


def test_split_quotient_keeps_order_and_sign():
    e = sp.Mul(-3, x, sp.Pow(u, -2), sp.exp(x), sp.Pow(x + 1, -sp.Rational(1, 2)), evaluate=False)
    negative, coeff, factors = split_quotient(e)
    assert negative and coeff == 3
    assert factors == [(x, None), (u, 2), (sp.exp(x), None), (x + 1, sp.Rational(1, 2))]


def test_split_quotient_keep_predicate():
    e = x * sp.cosh(x) ** -2
    _, _, factors = split_quotient(e, keep=lambda f: isinstance(f.base, sp.cosh))
    assert (sp.cosh(x) ** -2, None) in factors


def test_kernel_quotient_with_overflowing_denominator_float32():
    entry = formula_entry(QUOTIENT)
    ref = entry.reference(FAR32.astype(np.float64))
    got = entry.kernel(dtype="float32", outputs="value", rewrite_search=False)(FAR32)
    assert np.all(np.isfinite(got))
    assert np.all(ulp_error(got, ref, "float32") <= 4), (got, ref)


def test_export_quotient_with_overflowing_denominator_float32(tmp_path):
    path = tmp_path / "q.py"
    path.write_text(export(QUOTIENT, "numpy"))
    spec = importlib.util.spec_from_file_location("q", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    ref = formula_entry(QUOTIENT).reference(FAR32.astype(np.float64))
    got = np.asarray(module.value(FAR32))
    assert got.dtype == np.float32
    assert np.all(ulp_error(got, ref, "float32") <= 4), (got, ref)


@pytest.mark.parametrize("name", ["softsign", "squareplus"])
def test_catalog_derivatives_beyond_the_overflow(name):
    entry = funclib.get(name)
    xs = np.array([-1e200, -3e154, 2e160, 1e300], np.float64)
    ref = entry.reference(xs, order=1)
    got = entry.kernel(dtype="float64", outputs="derivative")(xs)
    assert np.all(ulp_error(got, ref, "float64") <= 4), (got, ref)
