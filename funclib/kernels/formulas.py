"""Kernels for formulas typed by a user (not catalog entries), and their accuracy report.

A formula in ``x`` becomes an ad-hoc elementwise :class:`funclib.Entry` (``id = "formula"``),
so everything a catalog entry has applies to it: the stabilizing rewrites, the limits at ±inf,
the saturation and asymptotic branches (:mod:`funclib.kernels.asymptotes`), the correctly
rounded oracle (:mod:`funclib.oracle`) and the accuracy harness (:mod:`funclib.accuracy`).
:func:`measure_formula` is what ``funclib kernel FORMULA`` and the user-formula corpus test
(``tests/data/user_formulas.txt``) report.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

__all__ = ["formula_entry", "measure_formula", "FormulaReport", "read_corpus", "corpus_known"]


def formula_entry(text: str, params: Mapping[str, float] | None = None):
    """An elementwise :class:`funclib.Entry` for the formula ``text`` in ``x``.

    Parameters
    ----------
    text : str
        SymPy-syntax formula, parsed by the allow-list parser :func:`funclib.formula.parse_formula`
        (never ``eval``); errors name the command line as the field.
    params : mapping, optional
        Parameter name -> value (the parameters' default values; admissible on the real line).
    """
    from ..entry import Entry

    return Entry.from_formula(text, params, name=text, family="user", summary="formula from the command line",
                              source="command line", field="command line")


@dataclass
class FormulaReport:
    """Accuracy of one formula's kernel in one dtype: value and derivative results."""

    formula: str
    dtype: str
    results: list  # list[funclib.accuracy.AccuracyResult], value then derivative

    def nonfinite_misses(self) -> list[dict[str, float]]:
        """Points where the kernel returns NaN or ±inf although the reference is finite."""
        return [
            dict(f, output=r.output) for r in self.results for f in r.failures
            if not math.isfinite(f["y"]) and math.isfinite(f["reference"])
        ]


def measure_formula(
    text: str, dtype: str, *, n_linear: int = 40, n_log: int = 40, seed: int = 0, accuracy: str = "fast"
) -> FormulaReport:
    """Build the fused value+derivative kernel of ``text`` in ``dtype`` (one compilation) and
    measure both outputs with :func:`funclib.accuracy.measure` on :func:`funclib.accuracy.sample_points`
    (all failures kept, so that every non-finite miss is reported)."""
    from ..accuracy import measure, sample_points

    entry = formula_entry(text)
    kernel = entry.kernel(dtype=dtype, accuracy=accuracy)
    pts = sample_points(dtype, n_linear=n_linear, n_log=n_log, seed=seed)
    results = [
        measure(entry, dtype=dtype, output=o, accuracy=accuracy, points=pts, kernel=lambda z, j=j: kernel(z)[j],
                max_failures=len(pts))
        for j, o in enumerate(("value", "derivative"))
    ]
    return FormulaReport(text, np.dtype(dtype).name, results)


def read_corpus(path) -> list[str]:
    """The formulas of a corpus file: one per line, ``#`` comments and blank lines skipped."""
    with open(path, encoding="utf-8") as fh:
        lines = [line.split("#", 1)[0].strip() for line in fh]
    return [line for line in lines if line]


KNOWN_MARK = "# known nonfinite:"


def corpus_known(path) -> dict[str, str]:
    """Formula -> reason for the corpus lines marked ``FORMULA  # known nonfinite: REASON``:
    kernels still NaN/inf somewhere the function is finite (strict expected failures)."""
    known = {}
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if KNOWN_MARK in line and not line.lstrip().startswith("#"):
                formula, reason = line.split(KNOWN_MARK, 1)
                known[formula.strip()] = reason.strip()
    return known
