"""funclib: the reference for the mathematical functions of neural networks.

Look up a function, get its exact definition, derivative and proven properties::

    >>> import funclib
    >>> gelu = funclib.get("gelu")
    >>> gelu.formula_text()
    'x*erfc(-x*sqrt(2)/2)/2'

Everything about a function comes from its catalog entry (``catalog/*.toml``).
"""

from importlib import import_module

#: Public names and the module that defines each: imported on first use (PEP 562), so that
#: ``import funclib`` costs milliseconds and SymPy, NumPy and Numba load only when needed.
_LAZY = {
    "Entry": "entry",
    "ParameterError": "entry",
    "FormulaError": "formula",
    "parse_formula": "formula",
    "to_formula": "formula",
    "CatalogError": "registry",
    "UnknownEntryError": "registry",
    "entries": "registry",
    "get": "registry",
    "load_catalog": "registry",
    "search": "registry",
}


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'funclib' has no attribute {name!r}")
    loaded = import_module(f".{module}", __name__)
    # Bind every public name of that module at once: importing it also bound the submodule's
    # own name on the package (``certify`` the module), which the function of that name replaces.
    for public, where in _LAZY.items():
        if where == module:
            globals()[public] = getattr(loaded, public)
    return globals()[name]


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))

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
