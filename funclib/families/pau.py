r"""Padé activation units (PAU): rational activations :math:`P(x)/Q(x)` of any degrees.

A PAU of degrees :math:`(m, n)` is

.. math::

    F(x) = \frac{P(x)}{Q(x)}, \qquad P(x) = \sum_{j=0}^{m} a_j x^j,

with one of four denominators, each its own catalog entry for :math:`(m, n) = (5, 4)`
(``catalog/rational/pau.toml``):

============  ====================================================  ======================
form          :math:`Q(x)`                                          catalog id
============  ====================================================  ======================
``safe``      :math:`1 + \sum_{k=1}^{n} |b_k|\,|x|^k`                ``pau`` (code default)
``abs_sum``   :math:`1 + |\sum_{k=1}^{n} b_k x^k|`                    ``pau_abs_sum``
``eps``       :math:`0.1 + |\sum_{k=0}^{n} b_k x^k|`                  ``pau_eps``
``unsafe``    :math:`1 + \sum_{k=1}^{n} b_k x^k`                      ``pau_unsafe``
============  ====================================================  ======================

``safe`` is version "A" of the reference implementation (the default of ``PAU()`` in
ml-research/pau and ml-research/rational_activations); ``abs_sum`` is version "B", ``eps``
version "C" (note the constant term :math:`b_0`), ``unsafe`` the plain Padé form (the
"unrestricted" CUDA kernel of ml-research/pau), which has poles where :math:`Q = 0`.

Formulas are written in Horner form, e.g. ``a0 + x*(a1 + x*(a2 + ...))``, the form a kernel
evaluates. Derivatives with respect to :math:`x` and to every coefficient come from
:meth:`funclib.entry.Entry.derivative` (``wrt=``); at a coefficient :math:`b_k = 0` the
derivative of :math:`|b_k|` is ``sign(0) = 0`` here, whereas the reference CUDA kernels use
``copysign(1, b_k)`` (a one-sided derivative).

References
----------
.. [1] A. Molina, P. Schramowski, K. Kersting, "Padé Activation Units: End-to-end Learning of
   Flexible Activation Functions in Deep Networks", ICLR 2020, arXiv:1907.06732.
"""

from __future__ import annotations

from collections.abc import Sequence

import sympy as sp

from ..entry import Entry, Param, Reference
from ..formula import parse_formula
from ..ranges import Range

__all__ = [
    "DENOMINATORS",
    "PUBLISHED_LEAKY_RELU",
    "pau_formula",
    "pau_param_names",
    "pau_entry",
    "pau_derivatives",
]

#: Denominator forms and the constant term they add to the absolute part.
DENOMINATORS: tuple[str, ...] = ("safe", "abs_sum", "eps", "unsafe")

#: Catalog id of the (5, 4) entry of each denominator form.
CATALOG_IDS: dict[str, str] = {"safe": "pau", "abs_sum": "pau_abs_sum", "eps": "pau_eps", "unsafe": "pau_unsafe"}

#: The published leaky-ReLU (negative slope 0.01) initial coefficients for degrees (5, 4),
#: fitted on [-3, 3]: ``(numerator a_0..a_5, denominator b_1..b_4)`` (``eps``: b_0..b_4).
#: ``safe`` and ``unsafe``: ``pade_optimized_leakyrelu`` of ml-research/pau (``Pade.py``), the
#: initializer that repository pairs with both its abs ("A") and its unrestricted kernel.
#: ``abs_sum`` / ``eps``: ``PAU_version_B5/4`` / ``PAU_version_C5/4`` ``leaky_relu`` of
#: ml-research/rational_activations (``pau/paus_config.json``).
PUBLISHED_LEAKY_RELU: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {
    "safe": (
        (3.35583603e-02, 5.05000375e-01, 1.65343934e00, 2.01001052e00, 9.31901999e-01, 1.52424124e-01),
        (3.30847488e-06, 3.98021568e00, 5.12471206e-07, 3.01830109e-01),
    ),
    "abs_sum": (
        (0.03355815890668059, 0.5049940948281444, 1.6534163637528791, 2.0099850112036783,
         0.9318900490866645, 0.1524224383838956),
        (-5.748546580824416e-05, 3.9802477853818083, -4.2529808614931225e-05, 0.3018338162009311),
    ),
    "eps": (
        (196.38473781144324, 2955.268174340017, 9675.912975159641, 11762.533577818234,
         5453.460439606311, 891.9799911699981),
        (5851.901706492194, 0.07575758053307785, 23292.039508779046, 0.05485007490938515,
         1766.288418374912),
    ),
    "unsafe": (
        (3.35583603e-02, 5.05000375e-01, 1.65343934e00, 2.01001052e00, 9.31901999e-01, 1.52424124e-01),
        (3.30847488e-06, 3.98021568e00, 5.12471206e-07, 3.01830109e-01),
    ),
}

EPS_CONSTANT = "0.1"  # the constant of the ``eps`` denominator (version "C" of the reference code)

_REFERENCE = Reference(
    title="Padé Activation Units: End-to-end Learning of Flexible Activation Functions in Deep Networks",
    authors="Alejandro Molina, Patrick Schramowski, Kristian Kersting",
    year=2019,
    arxiv="1907.06732",
    note="ICLR 2020; code https://github.com/ml-research/pau",
)


def _check(m: int, n: int, denominator: str) -> None:
    if denominator not in DENOMINATORS:
        raise ValueError(f"PAU denominator must be one of {', '.join(DENOMINATORS)}, got {denominator!r}")
    for name, value, low in (("m", m, 0), ("n", n, 1)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low or value > 64:
            raise ValueError(f"PAU degree {name} must be an integer in [{low}, 64], got {value!r}")


def _horner(coefficients: Sequence[str], x: str) -> str:
    """``c0 + x*(c1 + x*(... + x*cN))`` for coefficient names c0..cN."""
    text, atomic = coefficients[-1], True
    for c in reversed(coefficients[:-1]):
        text, atomic = f"{c} + {x}*{text if atomic else f'({text})'}", False
    return text


def pau_param_names(m: int, n: int, denominator: str = "safe") -> tuple[list[str], list[str]]:
    """Names of the numerator and denominator coefficients.

    Returns ``(["a0", ..., "am"], ["b1", ..., "bn"])``; the ``eps`` form also has the
    constant ``b0``.
    """
    _check(m, n, denominator)
    first = 0 if denominator == "eps" else 1
    return [f"a{j}" for j in range(m + 1)], [f"b{k}" for k in range(first, n + 1)]


def pau_formula(m: int = 5, n: int = 4, denominator: str = "safe") -> str:
    r"""The PAU formula of degrees ``(m, n)`` in Horner form, in funclib's formula syntax.

    Parameters
    ----------
    m, n : int
        Degrees of the numerator :math:`P` (``m >= 0``) and denominator :math:`Q` (``n >= 1``).
    denominator : {"safe", "abs_sum", "eps", "unsafe"}
        :math:`1 + \sum |b_k||x|^k`, :math:`1 + |\sum_{k\ge1} b_k x^k|`,
        :math:`0.1 + |\sum_{k\ge0} b_k x^k|` or :math:`1 + \sum b_k x^k`.

    Returns
    -------
    str
        E.g. for ``(2, 2, "safe")``:
        ``(a0 + x*(a1 + x*a2))/(1 + Abs(x)*(Abs(b1) + Abs(x)*Abs(b2)))``.

    Raises
    ------
    ValueError
        For an unknown denominator form or degrees out of range.
    """
    numerator_names, denominator_names = pau_param_names(m, n, denominator)
    numerator = _horner(numerator_names, "x")
    if denominator == "safe":
        inner = _horner([f"Abs({b})" for b in denominator_names], "Abs(x)")
        q = f"1 + Abs(x)*{inner if len(denominator_names) == 1 else f'({inner})'}"
    elif denominator == "abs_sum":
        q = f"1 + Abs(x*({_horner(denominator_names, 'x')}))"
    elif denominator == "eps":
        q = f"{EPS_CONSTANT} + Abs({_horner(denominator_names, 'x')})"
    else:
        inner = _horner(denominator_names, "x")
        q = f"1 + x*{inner if len(denominator_names) == 1 else f'({inner})'}"
    return f"({numerator})/({q})"


def pau_entry(
    m: int = 5,
    n: int = 4,
    denominator: str = "safe",
    *,
    numerator_coefficients: Sequence[float] | None = None,
    denominator_coefficients: Sequence[float] | None = None,
) -> Entry:
    """An elementwise :class:`~funclib.entry.Entry` for a PAU of any degrees.

    The coefficients become trainable parameters (defaults = the given values). For degrees
    (5, 4) they default to the published leaky-ReLU initialization
    (:data:`PUBLISHED_LEAKY_RELU`); other degrees need both coefficient lists.

    Raises
    ------
    ValueError
        Unknown form, degrees out of range, missing coefficients or wrong counts.
    """
    numerator_names, denominator_names = pau_param_names(m, n, denominator)
    if numerator_coefficients is None or denominator_coefficients is None:
        if (m, n) != (5, 4):
            raise ValueError(
                f"PAU degrees ({m}, {n}) have no published initialization: pass "
                "numerator_coefficients and denominator_coefficients"
            )
        published = PUBLISHED_LEAKY_RELU[denominator]
        numerator_coefficients = numerator_coefficients or published[0]
        denominator_coefficients = denominator_coefficients or published[1]
    for names, values, what in (
        (numerator_names, numerator_coefficients, "numerator"),
        (denominator_names, denominator_coefficients, "denominator"),
    ):
        if len(values) != len(names):
            raise ValueError(
                f"PAU ({m}, {n}, {denominator!r}) needs {len(names)} {what} coefficients "
                f"({', '.join(names)}), got {len(values)}"
            )
    text = pau_formula(m, n, denominator)
    names = numerator_names + denominator_names
    params = {
        name: Param(name, float(value), Range.real_line(), True, f"{'numerator' if name[0] == 'a' else 'denominator'} coefficient")
        for name, value in zip(names, [*numerator_coefficients, *denominator_coefficients])
    }
    identifier = CATALOG_IDS[denominator] if (m, n) == (5, 4) else f"{CATALOG_IDS[denominator]}_{m}_{n}"
    return Entry(
        id=identifier,
        name=f"PAU ({m}, {n}) {denominator}",
        kind="elementwise",
        family="rational",
        summary=f"Padé activation unit of degrees ({m}, {n}), {denominator} denominator.",
        formula=text,
        expr=parse_formula(text, ["x"], names, field="formula", entry=identifier),
        references=(_REFERENCE,),
        source="funclib.families.pau",
        params=params,
    )


def pau_derivatives(entry: Entry, *, numeric: bool = False) -> dict[str, sp.Expr]:
    r"""Derivatives of a PAU with respect to ``x`` and to every coefficient.

    Parameters
    ----------
    entry : Entry
        A PAU entry (from the catalog or :func:`pau_entry`).
    numeric : bool
        Substitute the coefficient values (the entry's defaults) into the results.

    Returns
    -------
    dict
        ``{"x": dF/dx, "a0": dF/da0, ..., "b1": dF/db1, ...}`` (symbolic SymPy expressions,
        from :meth:`Entry.derivative` with ``wrt=``). Analytically
        :math:`\partial F/\partial a_j = x^j/Q` and
        :math:`\partial F/\partial b_k = -P/Q^2 \cdot \partial Q/\partial b_k`.
    """
    out = {"x": entry.derivative(numeric=numeric)}
    values = entry.param_subs() if numeric else {}
    for name in entry.params:
        d = entry.derivative(wrt=name)
        out[name] = d.subs(values) if numeric else d
    return out

