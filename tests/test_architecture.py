"""Architecture rules of issue 21, read from the source with :mod:`ast` (nothing is imported).

- no function (or method) longer than 150 lines in ``funclib/`` and ``verify/``;
- no private name used across modules: ``from X import _name`` or ``module._name`` where the
  name belongs to another funclib module (dunders and SymPy's printer protocol ``_print*``
  are allowed);
- no import cycle at module level among funclib modules (imports inside functions are the
  deliberate way to defer a dependency and do not count).

Each test names every offender, so a failure says what to fix.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: source folder -> the package name it is installed as (setup.cfg ``package_dir``)
PACKAGES = {"funclib": "funclib", "verify": "funclib.verify", "catalog": "funclib.catalog"}
MAX_FUNCTION_LINES = 150


def _modules() -> dict[str, Path]:
    """Dotted module name -> file, for every ``.py`` file of the installed packages."""
    out = {}
    for folder, package in PACKAGES.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            parts = list(path.relative_to(ROOT / folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join([package, *parts])] = path
    return out


MODULES = _modules()
TREES = {name: ast.parse(path.read_text(), filename=str(path)) for name, path in MODULES.items()}


def _is_package(module: str) -> bool:
    return MODULES[module].name == "__init__.py"


def _absolute(module: str, node: ast.ImportFrom) -> str:
    """The absolute module named by ``from ... import`` inside ``module``."""
    if not node.level:
        return node.module or ""
    base = module.split(".")
    # a package's own name counts as level 1; a plain module's parent is its package
    base = base if _is_package(module) else base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _resolve(name: str) -> str | None:
    """``name`` or its longest prefix that is one of our modules."""
    while name:
        if name in MODULES:
            return name
        name = name.rpartition(".")[0]
    return None


def _private(name: str) -> bool:
    """A private name; dunders and SymPy's printer protocol (``_print_Foo``) are public API."""
    dunder = name.startswith("__") and name.endswith("__")
    return name.startswith("_") and not dunder and not name.startswith("_print")


def _module_level_imports(tree: ast.Module):
    """Import statements executed when the module is imported: at top level, in module-level
    ``if``/``try``/``with`` blocks, not inside functions or under ``if TYPE_CHECKING``."""
    stack = list(tree.body)
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        elif isinstance(node, ast.If):
            if "TYPE_CHECKING" not in ast.unparse(node.test):
                stack.extend(node.body)
            stack.extend(node.orelse)
        elif isinstance(node, ast.Try):
            stack.extend(node.body + node.orelse + node.finalbody)
            for handler in node.handlers:
                stack.extend(handler.body)
        elif isinstance(node, ast.With):
            stack.extend(node.body)


def _dependencies(module: str) -> set[str]:
    """Our modules that ``module`` imports at module level. An edge goes to the module named
    (``from .a import b`` needs ``a``; ``from . import a`` needs ``a``), not to the parent
    packages that Python initialises first: a package is already being initialised when its
    own ``__init__`` imports a submodule, so that is no cycle unless the submodule imports a
    name from the package."""
    deps = set()
    for node in _module_level_imports(TREES[module]):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        else:
            base = _absolute(module, node)
            targets = [f"{base}.{alias.name}" if _resolve(f"{base}.{alias.name}") == f"{base}.{alias.name}" else base
                       for alias in node.names]
        for target in targets:
            resolved = _resolve(target)
            if resolved is not None and resolved != module:
                deps.add(resolved)
    return deps


def find_long_functions(limit: int = MAX_FUNCTION_LINES) -> list[str]:
    out = []
    for module, tree in TREES.items():
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > limit:
                    out.append(f"{MODULES[module].relative_to(ROOT)}:{node.lineno} {node.name} ({length} lines)")
    return out


def find_private_imports() -> list[str]:
    """``from ours import _x`` and ``ours_module._x`` where ``ours`` is another funclib module."""
    out = []
    for module, tree in TREES.items():
        where = MODULES[module].relative_to(ROOT)
        aliases: dict[str, str] = {}  # local name -> our module it is bound to
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                base = _absolute(module, node)
                if _resolve(base) is None:
                    continue
                for alias in node.names:
                    full = f"{base}.{alias.name}"
                    if _resolve(full) == full:
                        aliases[alias.asname or alias.name] = full
                        if _private(alias.name):
                            out.append(f"{where}:{node.lineno} imports the private module {full}")
                    elif _private(alias.name) and _resolve(base) != module:
                        out.append(f"{where}:{node.lineno} from {base} import {alias.name}")
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if _resolve(alias.name) is not None:  # `import a.b` binds a, `import a.b as c` binds a.b
                        bound = alias.name if alias.asname else alias.name.partition(".")[0]
                        aliases[alias.asname or bound] = bound
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and _private(node.attr):
                chain = []
                value = node.value
                while isinstance(value, ast.Attribute):
                    chain.append(value.attr)
                    value = value.value
                if not isinstance(value, ast.Name) or value.id not in aliases:
                    continue
                target = ".".join([aliases[value.id], *reversed(chain)])
                owner = _resolve(target)
                if owner is not None and owner == target and owner != module:
                    out.append(f"{where}:{node.lineno} uses {target}.{node.attr}")
    return out


def find_import_cycles() -> list[list[str]]:
    """Strongly connected components (Tarjan) of the module-level import graph with more
    than one module, each given as one cycle through it."""
    graph = {m: _dependencies(m) for m in MODULES}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components = []

    def visit(v: str) -> None:  # recursion depth is bounded by the module count (a few hundred)
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return [_one_cycle(graph, component) for component in components]


def _one_cycle(graph: dict[str, set[str]], component: list[str]) -> list[str]:
    """A shortest cycle through the first module of a strongly connected component."""
    start, members = component[0], set(component)
    parents = {start: None}
    frontier = [start]
    while frontier:
        following = []
        for v in frontier:
            for w in sorted(graph[v] & members):
                if w == start:
                    path = [v]
                    while parents[path[-1]] is not None:
                        path.append(parents[path[-1]])
                    return [*reversed(path), start]
                if w not in parents:
                    parents[w] = v
                    following.append(w)
        frontier = following
    raise AssertionError(f"no cycle through {start}")  # cannot happen in a component


def test_the_source_tree_is_found():
    assert "funclib.entry" in MODULES and "funclib.verify.certify" in MODULES
    assert "funclib.kernels.printer" in _dependencies("funclib.kernels.codegen")


def test_no_function_over_150_lines():
    long = find_long_functions()
    assert not long, "functions over 150 lines:\n" + "\n".join(long)


def test_no_private_name_across_modules():
    found = find_private_imports()
    assert not found, "private names used across modules:\n" + "\n".join(found)


def test_no_import_cycle_at_module_level():
    cycles = find_import_cycles()
    assert not cycles, "import cycles at module level:\n" + "\n".join(" -> ".join(c) for c in cycles)


# the checks themselves, on small sources (so that a rule that finds nothing is known to work)
@pytest.mark.parametrize("source, expected", [
    ("def f():\n" + "    x = 1\n" * 150, 1),
    ("def f():\n" + "    x = 1\n" * 149, 0),
])
def test_long_function_rule(monkeypatch, source, expected):
    monkeypatch.setitem(globals(), "TREES", {"funclib.entry": ast.parse(source)})
    assert len(find_long_functions()) == expected


@pytest.mark.parametrize("source, expected", [
    ("from .npeval import _FUNCS", 1),
    ("from funclib.npeval import _FUNCS", 1),
    ("from . import npeval\nnpeval._FUNCS", 1),
    ("import funclib.npeval\nfunclib.npeval._FUNCS", 1),
    ("from .npeval import np_evaluate, __all__", 0),
    ("from sympy.printing.str import _print_x", 0),
    ("from . import npeval\nnpeval.np_evaluate\nself._x", 0),
])
def test_private_name_rule(monkeypatch, source, expected):
    monkeypatch.setitem(globals(), "TREES", {"funclib.entry": ast.parse(source)})
    assert len(find_private_imports()) == expected


def test_cycle_rule(monkeypatch):
    trees = dict(TREES)
    trees["funclib.formula"] = ast.parse("from . import entry")
    trees["funclib.entry"] = ast.parse("from .formula import parse\ndef f():\n    from . import registry")
    monkeypatch.setitem(globals(), "TREES", trees)
    cycles = find_import_cycles()
    assert ["funclib.entry", "funclib.formula", "funclib.entry"] in cycles


def test_every_package_is_installed():
    """A package folder missing from setup.cfg's ``packages`` is left out of a wheel: the
    editable install used by the tests still finds it, ``pip install .`` does not (the tour
    failed with ImportError when ``funclib.stable_forms`` was added without it)."""
    import configparser

    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    listed = set(cfg["options"]["packages"].split())
    packages = {name for name in MODULES if _is_package(name)}
    assert packages - listed == set(), "add to setup.cfg [options] packages"
    assert listed - packages == set(), "listed in setup.cfg but not a package"
