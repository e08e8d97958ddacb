"""funclib: the reference for the mathematical functions of neural networks.

Look up a function, get its exact definition, derivative and proven properties::

    >>> import funclib
    >>> gelu = funclib.get("gelu")
    >>> gelu.formula_text()
    'x*erfc(-x*sqrt(2)/2)/2'

Everything about a function comes from its catalog entry (``catalog/*.toml``).
"""

from .entry import Entry, ParameterError
from .formula import FormulaError, parse_formula, to_formula
from .registry import CatalogError, UnknownEntryError, entries, get, load_catalog, search

__all__ = [
    "Entry",
    "CatalogError",
    "compile",
    "FormulaError",
    "ParameterError",
    "UnknownEntryError",
    "entries",
    "get",
    "load_catalog",
    "parse_formula",
    "search",
    "to_formula",
    "__version__",
]

__version__ = "0.1.0"


def compile(formula, variables=("x",), params=None, **options):  # noqa: A001 - funclib.compile
    """Compile a formula into a fused CPU kernel (Numba); see :func:`funclib.kernels.compile`."""
    from .kernels import compile as _compile

    return _compile(formula, variables, params, **options)
