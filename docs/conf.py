"""Sphinx configuration of the funclib documentation.

Build (from the repository root)::

    python -m pip install -e . sphinx numpydoc matplotlib myst-parser sphinx-mathjax-offline
    python -m sphinx -W -b html docs docs/_build/html

Everything about the catalog is generated at build time from ``funclib.entries()`` by the
in-repo extension ``docs/_ext/funclib_catalog.py`` (one page per entry, family pages, the
sortable table, the API reference and the benchmark page); nothing is typed in by hand.

MathJax is served from the built site, never from a CDN, so pages render offline. The files
come from an installed package: ``sphinx-mathjax-offline`` (PyPI; MathJax 3.2.2 under
``sphinx-mathjax-offline/static/mathjax``) or ``django-static-mathjax`` (PyPI; MathJax 3.2.2
under ``mathjax/static/mathjax/es5``), or from a folder named by the environment variable
``FUNCLIB_MATHJAX_DIR`` (e.g. ``node_modules/mathjax/es5`` after ``npm install mathjax@3``).
:func:`mathjax_source` finds them, and the build copies them to ``_static/mathjax/``.
"""

from __future__ import annotations

import importlib.metadata
import os
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "_ext"))

import funclib  # noqa: E402

project = "funclib"
author = "the funclib authors"
copyright = "the funclib authors, MIT License"
release = version = funclib.__version__

extensions = [
    "myst_parser",
    "sphinx.ext.mathjax",
    "sphinx.ext.autodoc",
    "numpydoc",
    "matplotlib.sphinxext.plot_directive",
    "funclib_catalog",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store", "**/.gitignore", "README.md"]
templates_path = ["_templates"]
html_static_path = ["_static"]
html_theme = "alabaster"
html_title = f"funclib {release}"
html_theme_options = {
    "description": "The reference for the mathematical functions of neural networks",
    "fixed_sidebar": True,
    "page_width": "1180px",
    "sidebar_width": "230px",
    "show_relbars": True,
}
html_sidebars = {"**": ["about.html", "searchbox.html", "navigation.html"]}
html_last_updated_fmt = None
html_copy_source = False

myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
myst_dmath_double_inline = True
myst_heading_anchors = 3  # the topic pages link to each other's sections (catalog-format.md#...)

# numpydoc + autodoc
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
autodoc_member_order = "bysource"
autodoc_typehints = "none"
autodoc_default_options = {"members": True, "undoc-members": False, "show-inheritance": False}

# matplotlib plot directive (user guide figures)
plot_formats = [("png", 100)]
plot_html_show_formats = False
plot_html_show_source_link = False
plot_include_source = True
plot_pre_code = "import numpy as np\nimport funclib\nimport funclib.plotting as fp\n"
plot_rcparams = {"figure.dpi": 100}

# numpydoc renders "References" sections as citations; a docstring need not cite each one in its text.
suppress_warnings = ["ref.citation"]


def mathjax_source() -> Path:
    """The folder holding MathJax 3's ``tex-chtml.js`` (and its fonts and components).

    Raises
    ------
    RuntimeError
        If no MathJax 3 copy is installed (the message says how to get one).
    """
    candidates: list[Path] = []
    if os.environ.get("FUNCLIB_MATHJAX_DIR"):
        candidates.append(Path(os.environ["FUNCLIB_MATHJAX_DIR"]))
    for dist, inner in (
        ("sphinx-mathjax-offline", "sphinx-mathjax-offline/static/mathjax"),
        ("django-static-mathjax", "mathjax/static/mathjax/es5"),
    ):
        try:
            candidates.append(Path(importlib.metadata.distribution(dist).locate_file(inner)))
        except importlib.metadata.PackageNotFoundError:
            pass
    candidates += [HERE / "node_modules" / "mathjax" / "es5", HERE.parent / "node_modules" / "mathjax" / "es5"]
    for folder in candidates:
        if (folder / "tex-chtml.js").is_file() and (folder / "output" / "chtml" / "fonts").is_dir():
            return folder
    raise RuntimeError(
        "MathJax 3 is not installed, and the docs serve it locally: "
        "python -m pip install sphinx-mathjax-offline (or set FUNCLIB_MATHJAX_DIR to a MathJax 3 'es5' folder)"
    )


MATHJAX_DIR = mathjax_source()
mathjax_path = "mathjax/tex-chtml.js"  # relative to _static
mathjax3_config = {"chtml": {"displayAlign": "center"}, "tex": {"processEscapes": True}}


def _copy_mathjax(app, exc) -> None:
    """Copy MathJax into the built site (build-finished, HTML builders only)."""
    if exc is not None or app.builder.format != "html":
        return
    from sphinx.util.fileutil import copy_asset

    copy_asset(str(MATHJAX_DIR), str(Path(app.outdir) / "_static" / "mathjax"))


def setup(app):
    app.connect("build-finished", _copy_mathjax)
