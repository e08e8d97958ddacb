"""The ``funclib`` command line: show, search, list, diff and tour.

Every command accepts ``--json`` for scripts. Bad input (unknown function, malformed formula,
parameter out of range) exits with status 2 and a one-line message on stderr.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from collections.abc import Sequence
from typing import Any

from typing import TYPE_CHECKING

from . import catalog_index

if TYPE_CHECKING:  # pragma: no cover
    from .entry import Entry
    from .properties import Properties

# SymPy, the registry and the prover are imported by the commands that need them, so that
# `funclib list`, `search` and `--help` answer from the catalog index in a fraction of a second.

EXIT_OK, EXIT_ERROR, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """Bad input from the user: reported in one line, exit status 2."""


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return f"{value:.10g}"
    if isinstance(value, tuple):
        return "[" + ", ".join(_fmt(v) for v in value) + "]"
    return str(value)


def parse_params(items: Sequence[str]) -> dict[str, float]:
    params = {}
    for item in items or ():
        name, sep, value = item.partition("=")
        if not sep:
            raise UsageError(f"--param expects NAME=VALUE, got {item!r}")
        try:
            params[name.strip()] = float(value)
        except ValueError:
            raise UsageError(f"--param {name}: {value!r} is not a number") from None
    return params


def _properties_json(props: "Properties") -> dict[str, Any]:
    return {k: v.as_json() for k, v in props.facts.items()}


def entry_json(entry: "Entry", *, with_properties: bool = True) -> dict[str, Any]:
    import sympy as sp

    from .formula import to_formula

    data: dict[str, Any] = {
        "id": entry.id,
        "name": entry.name,
        "aliases": list(entry.aliases),
        "kind": entry.kind,
        "family": entry.family,
        "summary": entry.summary,
        "formula": list(entry.formula) if isinstance(entry.formula, tuple) else entry.formula,
        "expression": [to_formula(o) for o in entry.outputs] if len(entry.outputs) > 1 else to_formula(entry.expr),
        "latex": entry.latex(),
        "params": {
            n: {"default": p.default, "range": str(p.range), "trainable": p.trainable, "description": p.description}
            for n, p in entry.params.items()
        },
        "variants": {
            n: {"formula": v.formula, "latex": sp.latex(v.expr), "description": v.description}
            for n, v in entry.variants.items()
        },
        "conventions": [
            {"at": None if c.at is None else to_formula(c.at),
             "derivative": None if c.derivative is None else to_formula(c.derivative), "description": c.description}
            for c in entry.conventions
        ],
        "tags": list(entry.tags),
        "references": [r.as_dict() | {"link": r.link} for r in entry.references],
        "source": entry.source,
    }
    if entry.kind == "elementwise":
        data["derivative"] = entry.formula_text(derivative=1)
        data["derivative_latex"] = entry.latex(derivative=1)
        if with_properties:
            data["properties"] = _properties_json(entry.properties())
            data["variant_properties"] = {n: _properties_json(entry.properties(n)) for n in entry.variants}
    if entry.jacobian_formula and entry.kind != "elementwise":
        data["jacobian"] = entry.jacobian_formula
    if entry.threshold is not None:
        t = entry.threshold
        data["threshold"] = {"name": t.name, "equation": t.equation_text, "bracket": list(t.bracket_text)}
    if entry.mask is not None:
        data["mask"] = {"rule": entry.mask.rule, "value": entry.mask.value, "fully_masked": entry.mask.fully_masked}
    if entry.kind != "elementwise" and entry.claims:
        data["claims"] = {k: (v if isinstance(v, (bool, str)) else float(v)) for k, v in entry.claims.items()}
    if entry.surrogate_gradient is not None:
        data["surrogate_gradient"] = to_formula(entry.surrogate_gradient)
    return data


def _print_properties(props: "Properties", indent: str = "  ") -> None:
    order = [
        "slope_bounds", "range", "monotonic", "lipschitz", "value_at_zero", "slope_at_zero",
        "limit_at_neg_inf", "limit_at_inf", "bounded_below", "bounded_above", "odd", "even",
        "convex", "concave", "smoothness",
    ]
    for name in order:
        fact = props.facts.get(name)
        if fact is not None:
            # The periodicity argument (funclib.periodicity) is named: it is the proof's basis.
            how = re.search(r"proven by periodicity \(P = [^)]*\)", fact.detail)
            print(f"{indent}{name:<17} {_fmt(fact.value):<34} [{fact.method}]" + (f" {how.group(0)}" if how else ""))


def print_entry(entry: "Entry") -> None:
    """Print what ``funclib show`` shows of ``entry`` (also the text of :mod:`funclib.show_cards`)."""
    from .formula import to_formula

    print(f"{entry.name} ({entry.id}) — {entry.summary}")
    if entry.aliases:
        print(f"  aliases:    {', '.join(entry.aliases)}")
    print(f"  kind:       {entry.kind}    family: {entry.family}")
    if entry.kind == "elementwise":
        print(f"  definition: f(x) = {entry.formula}")
    elif entry.kind == "grouped":
        print(f"  definition: f({', '.join(entry.variables)}) = ({', '.join(entry.formula)})  (one group)")
    else:
        inputs = ", ".join(entry.variables)
        target = "y" if entry.is_row_reduction else "y_i"
        print(f"  definition: {target}({inputs}) = {entry.formula}")
    for name, variant in entry.variants.items():
        print(f"  variant {name}: {variant.formula}" + (f"  ({variant.description})" if variant.description else ""))
    for name, p in entry.params.items():
        train = ", trainable" if p.trainable else ""
        print(f"  param {name} = {_fmt(p.default)} in {p.range}{train}" + (f": {p.description}" if p.description else ""))
    if entry.kind == "elementwise":
        print(f"  derivative: f'(x) = {entry.formula_text(derivative=1)}")
    if entry.threshold is not None:
        t = entry.threshold
        print(f"  threshold:  {t.name} solves {t.equation_text} = 0 on [{t.bracket_text[0]}, {t.bracket_text[1]}]")
    if entry.kind == "rowwise" and entry.jacobian_formula:
        print(f"  Jacobian:   J_ij = {entry.jacobian_formula}")
    if entry.kind == "grouped" and entry.jacobian_formula:
        for r, row in enumerate(entry.jacobian_formula):
            print(f"  Jacobian row {r + 1}: [{', '.join(row)}]")
    if entry.mask is not None:
        m = entry.mask
        masked = "" if m.value is None else f"; masked entries give {_fmt(m.value)}"
        print(f"  masks:      -inf entries masked, rule {m.rule!r}{masked}; a fully masked row gives {_fmt(m.fully_masked)}")
    for c in entry.conventions:
        if c.at is None:
            print(f"  convention: {c.description}")
        else:
            print(f"  convention: f'({to_formula(c.at)}) = {to_formula(c.derivative)}" + (f"  ({c.description})" if c.description else ""))
    if entry.kind != "elementwise" and entry.claims:
        facts = ", ".join(f"{k} = {_fmt(v) if not isinstance(v, str) else v}" for k, v in entry.claims.items())
        print(f"  claims (proven in the family's tests): {facts}")
    if entry.surrogate_gradient is not None:
        print(f"  surrogate gradient (not the derivative): {to_formula(entry.surrogate_gradient)}")
    if entry.kind == "elementwise":
        print("  proven properties (method in brackets):")
        _print_properties(entry.properties(), "    ")
    for ref in entry.references:
        link = f" {ref.link}" if ref.link else ""
        print(f"  reference:  {ref.authors} ({ref.year}). {ref.title}.{link}")


def cmd_show(args: argparse.Namespace) -> int:
    if not args.params:
        from .show_cards import cached_card

        card = cached_card(args.name, as_json=args.json)  # stored, where its key shows it is current
        if card is not None:
            print(json.dumps(card, indent=1) if args.json else card, end="\n" if args.json else "")
            return EXIT_OK
    from . import registry

    entry = registry.get(args.name)
    if args.params:
        entry = entry.with_params(**parse_params(args.params))
    if args.json:
        print(json.dumps(entry_json(entry), indent=1))
    else:
        print_entry(entry)
    return EXIT_OK


def cmd_list(args: argparse.Namespace) -> int:
    found = catalog_index.records(args.kind)
    if args.json:
        print(json.dumps([{"id": e.id, "name": e.name, "kind": e.kind, "family": e.family, "summary": e.summary} for e in found], indent=1))
    else:
        for e in found:
            print(f"{e.id:<18} {e.kind:<12} {e.summary}")
    return EXIT_OK


def cmd_search(args: argparse.Namespace) -> int:
    if args.property is None:  # words, tags and kinds: answered from the index
        found = catalog_index.search_records(" ".join(args.text), tag=args.tag, kind=args.kind)
    else:
        from . import registry

        found = registry.search(" ".join(args.text), tag=args.tag, kind=args.kind, property=args.property)
    if args.json:
        print(json.dumps([{"id": e.id, "name": e.name, "kind": e.kind, "summary": e.summary} for e in found], indent=1))
    else:
        for e in found:
            print(f"{e.id:<18} {e.summary}")
        if not found:
            print("no match", file=sys.stderr)
    return EXIT_OK


def cmd_diff(args: argparse.Namespace) -> int:
    import sympy as sp

    from . import calculus, registry
    from .formula import make_symbol, parse_formula, to_formula

    params = parse_params(args.params)
    try:
        entry = registry.get(args.target)
    except registry.UnknownEntryError:
        entry = None
    if entry is not None:
        if entry.kind != "elementwise":
            raise UsageError(f"entry {entry.id!r} is {entry.kind}; diff works on elementwise functions")
        expr = entry.numeric_expr(args.variant, params) if params else entry.formula_expr(args.variant)
        result = entry.derivative(args.order, variant=args.variant, params=params or None)
        source = entry.id
    else:
        expr = parse_formula(args.target, (args.var,), list(params), field="command line")
        expr = expr.subs({make_symbol(k): sp.nsimplify(v) for k, v in params.items()})
        result = calculus.derivative(expr, make_symbol(args.var), args.order)
        source = "formula"
    if args.json:
        print(json.dumps({"source": source, "function": to_formula(expr), "order": args.order,
                          "derivative": to_formula(result), "latex": sp.latex(result)}, indent=1))
    else:
        print(to_formula(result))
    return EXIT_OK


def cmd_coverage(args: argparse.Namespace) -> int:
    from . import coverage

    try:
        rows = coverage.coverage()
    except coverage.CoverageError as exc:  # a broken coverage record is a broken catalog
        print(f"funclib: catalog error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    if args.status:
        unknown = set(args.status) - set(coverage.STATUSES)
        if unknown:
            raise UsageError(f"unknown status {sorted(unknown)[0]!r}; statuses are {', '.join(coverage.STATUSES)}")
    shown = [r for r in rows if not args.status or r.status in args.status]
    counts = coverage.summary(rows)
    if args.json:
        print(json.dumps({"summary": counts, "targets": [r.as_json() for r in shown]}, indent=1))
        return EXIT_OK
    for r in shown:
        target = r.entry or "-"
        print(f"{r.id:<34} {r.status:<13} {target:<28} {r.reason}")
    print(f"{counts['covered']} of {counts['total']} targets covered ("
          + ", ".join(f"{counts[s]} {s}" for s in coverage.STATUSES) + f"); {len(catalog_index.catalog_index().records)} catalog entries",
          file=sys.stderr)
    return EXIT_OK


def cmd_tour(args: argparse.Namespace) -> int:
    from . import registry

    entry = registry.get("gelu")
    props = entry.properties()
    if args.json:
        print(json.dumps({"entry": entry_json(entry, with_properties=False),
                          "properties": _properties_json(props)}, indent=1))
        return EXIT_OK
    print("funclib tour — look up a function, its derivative and its proven properties\n")
    print(f">>> funclib.get('gelu')          # {entry.name}: {entry.summary}")
    print(f"f(x)  = {entry.formula}")
    print(f"f'(x) = {entry.formula_text(derivative=1)}")
    for name, variant in entry.variants.items():
        print(f"variant {name!r}: {variant.formula}")
    lo, hi = props.slope_bounds
    fact = props["slope_bounds"]
    print(f"\nslope bounds [inf f', sup f'] ⊆ [{lo:.9f}, {hi:.9f}]  ({fact.method}: {fact.detail})")
    enc = props.get("slope_bounds_enclosure")
    if enc:
        print(f"  inf f' ∈ [{enc[0][0]:.12f}, {enc[0][1]:.12f}], sup f' ∈ [{enc[1][0]:.12f}, {enc[1][1]:.12f}]")
    print(f"range ⊆ [{props.range[0]:.9f}, {_fmt(props.range[1])}]   monotonic: {props.monotonic}   smoothness: {props.smoothness}")
    print(f"Lipschitz constant ≤ {props.lipschitz:.9f}")
    ref = entry.references[0]
    print(f"\nreference: {ref.authors} ({ref.year}), {ref.title} {ref.link or ''}")
    for module in _command_modules():
        if hasattr(module, "tour"):
            print()
            module.tour()
    print(f"\n{len(catalog_index.catalog_index().records)} functions in the catalog; try `funclib show mish`, `funclib search sigmoid`.")
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="funclib", description="The reference for the functions of neural networks.")
    sub = parser.add_subparsers(dest="command", required=True)

    def add(name: str, func, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument("--json", action="store_true", help="machine-readable output")
        p.set_defaults(func=func)
        return p

    p = add("show", cmd_show, "definition, variants, parameters, derivative, proven properties, references")
    p.add_argument("name")
    p.add_argument("--param", dest="params", action="append", metavar="NAME=VALUE")
    p = add("list", cmd_list, "list catalog entries")
    p.add_argument("--kind")
    p = add("search", cmd_search, "search by words, tag, kind or proven property")
    p.add_argument("text", nargs="*")
    p.add_argument("--tag")
    p.add_argument("--kind")
    p.add_argument("--property")
    p = add("diff", cmd_diff, "symbolic derivative of a catalog function or of a formula")
    p.add_argument("target", metavar="NAME_OR_FORMULA")
    p.add_argument("--order", type=int, default=1)
    p.add_argument("--variant")
    p.add_argument("--var", default="x", help="variable of a formula (default x)")
    p.add_argument("--param", dest="params", action="append", metavar="NAME=VALUE")
    p = add("coverage", cmd_coverage, "coverage of the breadth target list (573 candidate functions)")
    p.add_argument("--status", action="append", help="only rows with this status (repeatable)")
    add("tour", cmd_tour, "the main job on built-in defaults: GELU's definition, derivative and proven slope bounds")
    for module in _command_modules():
        module.add_commands(add)
    return parser


#: Modules that contribute subcommands (``add_commands(add)``) and tour sections (``tour()``).
COMMAND_MODULES = ("funclib.kernels.cli", "funclib.verify.cli", "funclib.plotting_cli", "funclib.jobs_cli",
                   "funclib.export_cli")


def _command_modules() -> list:
    """The command modules that are present (each feature package ships its own)."""
    import importlib

    found = []
    for name in COMMAND_MODULES:
        try:
            found.append(importlib.import_module(name))
        except ModuleNotFoundError as exc:
            if not name.startswith(str(exc.name)):
                raise  # a real missing dependency inside the module, not an absent module
    return found


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "order", 1) is not None and getattr(args, "order", 1) < 0:
        print("funclib: error: --order must be >= 0", file=sys.stderr)
        return EXIT_USAGE
    try:
        return args.func(args)
    except BrokenPipeError:
        # The reader went away (`funclib list | head`): not an error of ours. Point stdout at
        # /dev/null so that the interpreter's final flush does not raise again.
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except Exception as exc:  # noqa: BLE001 - classified below; anything else propagates
        return _report(exc, as_json=bool(getattr(args, "json", False)))


def _report(exc: Exception, *, as_json: bool = False) -> int:
    """One line on stderr and the documented exit status for a known error; re-raise others.

    The error classes are imported here, not at start-up: a command that raised one of them has
    imported its module already.
    """
    from .entry import ParameterError
    from .formula import FormulaError
    from .registry import CatalogError, UnknownEntryError

    from .kernels.cache import CacheDirError

    if isinstance(exc, CatalogError):  # a broken catalog, not bad input: before ValueError
        return fail(EXIT_ERROR, "catalog error", str(exc), as_json)
    if isinstance(exc, CacheDirError):  # the environment, not the command line
        return fail(EXIT_ERROR, "cache error", str(exc), as_json)
    if isinstance(exc, (UsageError, UnknownEntryError, FormulaError, ParameterError, KeyError, ValueError, TypeError)):
        text = exc.args[0] if type(exc) is KeyError and exc.args and isinstance(exc.args[0], str) else str(exc)
        message = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
        return fail(EXIT_USAGE, "error", message, as_json)
    raise exc


def fail(code: int, kind: str, message: str, as_json: bool) -> int:
    """Report an error: one line on stderr, and under ``--json`` also a JSON object on stdout
    (``{"error": {"kind", "message", "exit_code"}}``) so that scripts parse every outcome."""
    print(f"funclib: {kind}: {message}", file=sys.stderr)
    if as_json:
        print(json.dumps({"error": {"kind": kind.replace(" ", "_"), "message": message, "exit_code": code}}))
    return code


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
