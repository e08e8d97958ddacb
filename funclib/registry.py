"""Load, validate, look up and search catalog entries.

The catalog is the set of TOML files shipped in ``funclib.catalog`` (read with
:mod:`importlib.resources`, so it works from a wheel as well as an editable install). Loading
collects *every* problem in every file and raises one :class:`CatalogError` listing them, each
naming the file, the entry and the field.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from collections.abc import Iterable, Sequence
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import sympy as sp

from .calculus import BOUND_SUFFIXES
from .entry import (
    KINDS,
    KNOWN_FAILURE_CHECKS,
    VECTOR_KINDS,
    Coincidence,
    Convention,
    Entry,
    KnownFailure,
    Mask,
    Param,
    Reference,
    SpecialCase,
    Threshold,
    Variant,
)
from .catalog_index import catalog_files, catalog_index, records, search_records
from .formula import FormulaError, RowMax, RowMin, RowSum, parse_formula
from .ranges import Interval, parse_number

__all__ = [
    "CatalogError",
    "UnknownEntryError",
    "load_catalog",
    "entries",
    "get",
    "index",
    "search",
    "search_index",
    "CLAIM_KEYS",
]

_ID = re.compile(r"^[a-z][a-z0-9_]*$")

_ENTRY_FIELDS = {
    "id", "name", "aliases", "kind", "family", "tags", "summary", "description", "variables",
    "formula", "domain", "params", "variants", "conventions", "surrogate_gradient",
    "special_cases", "claims", "references", "implementations", "jacobian", "threshold", "mask",
    "known_failures", "coincides",
}
_REQUIRED = ("id", "name", "kind", "family", "summary", "formula", "references")
_PARAM_FIELDS = {"default", "range", "trainable", "description"}
_VARIANT_FIELDS = {"formula", "description", "params"}
_CONVENTION_FIELDS = {"at", "derivative", "description"}
_SPECIAL_FIELDS = {"input", "value", "derivative", "variant"}
_REFERENCE_FIELDS = {"title", "authors", "year", "arxiv", "doi", "url", "note"}
_IMPLEMENTATION_FIELDS = {"framework", "function", "variant", "kwargs", "params", "note", "disagreement", "rtol"}
_THRESHOLD_FIELDS = {"name", "equation", "bracket", "description"}
_MASK_FIELDS = {"rule", "value", "fully_masked", "description"}
_MASK_RULES = ("limit", "remove")
_KNOWN_FAILURE_FIELDS = {"check", "reason", "variant", "dtype", "output", "input"}
_COINCIDES_FIELDS = {"entry", "reason"}

#: Claim name -> validator of its value (returns the normalized value or raises ValueError).
CLAIM_KEYS: dict[str, Any] = {}


def _claim(name: str):
    def register(func):
        CLAIM_KEYS[name] = func
        return func

    return register


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"expected true or false, got {value!r}")
    return value


for _key in ("bounded_below", "bounded_above", "odd", "even", "convex", "concave"):
    CLAIM_KEYS[_key] = _bool


def _one_of(*allowed: str):
    def validate(value: Any) -> str:
        if value not in allowed:
            raise ValueError(f"expected one of {', '.join(allowed)}, got {value!r}")
        return value

    return validate


CLAIM_KEYS["monotonic"] = _one_of("increasing", "nondecreasing", "decreasing", "nonincreasing", "none")
CLAIM_KEYS["smoothness"] = _one_of("discontinuous", "C0", "C1", "C2", "Cinf")


@_claim("range")
def _range(value: Any) -> Interval:
    return Interval.parse(value)


@_claim("slope_bounds")
def _slope_bounds(value: Any) -> tuple[float, float]:
    if not (isinstance(value, list) and len(value) == 2):
        raise ValueError(f"expected [lo, hi], got {value!r}")
    lo, hi = parse_number(value[0]), parse_number(value[1])
    if not lo <= hi:
        raise ValueError(f"slope bounds [{lo}, {hi}] are not ordered")
    return (lo, hi)


for _key in ("value_at_zero", "slope_at_zero", "limit_at_inf", "limit_at_neg_inf"):
    CLAIM_KEYS[_key] = parse_number


#: Structural claims of vector-valued maps (row-wise, grouped, attention entries). They must hold
#: for every admissible parameter value; the tests of each family prove them (docs/catalog-format.md).
STRUCTURAL_CLAIMS = (
    "lipschitz_l2", "lipschitz_linf", "sum_preserving", "norm_preserving",
    "gradient_norm_preserving", "piecewise_linear", "positively_homogeneous",
    "additively_homogeneous", "shift_invariant", "sums_to_one",
)
for _key in STRUCTURAL_CLAIMS[2:]:
    CLAIM_KEYS[_key] = _bool


def _lipschitz(value: Any) -> float | str:
    """A Lipschitz constant: a number, or a formula in the parameters and ``n`` (checked later)."""
    if isinstance(value, str) and value.strip() not in ("inf", "-inf", "nan"):
        try:
            number = parse_number(value)
        except ValueError:
            return value  # a formula: parsed with the entry's parameters in _build_entry
    else:
        number = parse_number(value)
    if not number >= 0:
        raise ValueError(f"a Lipschitz constant must be >= 0, got {value!r}")
    return number


CLAIM_KEYS["lipschitz_l2"] = _lipschitz
CLAIM_KEYS["lipschitz_linf"] = _lipschitz


@_claim("claim_tolerance")
def _tolerance(value: Any) -> float:
    number = parse_number(value)
    if not 0 < number < 1:
        raise ValueError(f"claim_tolerance must be in (0, 1), got {value!r}")
    return number


class CatalogError(ValueError):
    """One or more problems in catalog files; ``problems`` lists one message per problem."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        head = f"{len(problems)} problem(s) in the catalog:"
        super().__init__("\n".join([head] + [f"  - {p}" for p in problems]))


class UnknownEntryError(KeyError):
    """No entry has this id or alias; the message suggests close matches."""

    def __init__(self, name: str, suggestions: list[str]) -> None:
        self.name = name
        self.suggestions = suggestions
        hint = f"; did you mean {', '.join(suggestions)}?" if suggestions else ""
        super().__init__(f"unknown function {name!r}{hint}")

    def __str__(self) -> str:
        return self.args[0]


class _Problems:
    """Collects problems with their location instead of stopping at the first one."""

    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, source: str, entry: str | None, field: str | None, message: str) -> None:
        where = [source]
        if entry:
            where.append(f"entry {entry!r}")
        if field:
            where.append(f"field {field!r}")
        self.items.append(": ".join(where) + ": " + message)


def _parse_params(
    table: Any, source: str, entry_id: str, field: str, problems: _Problems
) -> dict[str, Param]:
    params: dict[str, Param] = {}
    if not isinstance(table, dict):
        problems.add(source, entry_id, field, "must be a table of parameters")
        return params
    for name, spec in table.items():
        where = f"{field}.{name}"
        if not isinstance(spec, dict):
            problems.add(source, entry_id, where, "must be a table with default and range")
            continue
        unknown = set(spec) - _PARAM_FIELDS
        if unknown:
            problems.add(source, entry_id, where, f"unknown field(s) {', '.join(sorted(unknown))}")
        if "default" not in spec:
            problems.add(source, entry_id, where, "has no default")
            continue
        try:
            default = parse_number(spec["default"])
            interval = Interval.parse(spec.get("range", "(-inf, inf)"))
        except ValueError as exc:
            problems.add(source, entry_id, where, str(exc))
            continue
        if default not in interval:
            problems.add(
                source, entry_id, where, f"default {default!r} is outside its range {interval}"
            )
            continue
        trainable = spec.get("trainable", False)
        if not isinstance(trainable, bool):
            problems.add(source, entry_id, f"{where}.trainable", "must be true or false")
            continue
        params[name] = Param(name, default, interval, trainable, str(spec.get("description", "")))
    return params


def _string_list(value: Any, source: str, entry_id: str, field: str, problems: _Problems) -> tuple[str, ...]:
    if value is None:
        return ()
    if not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
        problems.add(source, entry_id, field, "must be a list of strings")
        return ()
    return tuple(value)


def _table_list(value: Any, allowed: set[str], source: str, entry_id: str, field: str, problems: _Problems) -> list[dict]:
    if value is None:
        return []
    if not (isinstance(value, list) and all(isinstance(v, dict) for v in value)):
        problems.add(source, entry_id, field, "must be an array of tables")
        return []
    for k, item in enumerate(value):
        unknown = set(item) - allowed
        if unknown:
            problems.add(source, entry_id, f"{field}[{k}]", f"unknown field(s) {', '.join(sorted(unknown))}")
    return value


def _build_entry(raw: dict, source: str, problems: _Problems) -> Entry | None:
    entry_id = raw.get("id") if isinstance(raw.get("id"), str) else None
    before = len(problems.items)
    unknown = set(raw) - _ENTRY_FIELDS
    if unknown:
        problems.add(source, entry_id, None, f"unknown field(s) {', '.join(sorted(unknown))}")
    for name in _REQUIRED:
        if name not in raw:
            problems.add(source, entry_id, name, "is required")
    if len(problems.items) > before and not all(n in raw for n in _REQUIRED):
        return None
    if entry_id is None or not _ID.match(entry_id):
        problems.add(source, entry_id, "id", f"{raw.get('id')!r} is not a lowercase id [a-z][a-z0-9_]*")
        return None
    kind = raw["kind"]
    if kind not in KINDS:
        problems.add(source, entry_id, "kind", f"{kind!r} is not one of {', '.join(KINDS)}")
        return None
    for name in ("name", "family", "summary", "formula"):
        value = raw[name]
        if name == "formula" and kind == "grouped" and isinstance(value, list):
            # A grouped entry writes its group map as a list: one formula per output.
            if value and all(isinstance(v, str) and v.strip() for v in value):
                continue
            problems.add(source, entry_id, name, "must be a non-empty list of non-empty formula strings")
        elif not isinstance(value, str) or not value.strip():
            problems.add(source, entry_id, name, "must be a non-empty string")

    variables = _string_list(raw.get("variables", ["x"]), source, entry_id, "variables", problems) or ("x",)
    params = _parse_params(raw.get("params", {}), source, entry_id, "params", problems)
    # Formulas may use every declared parameter name, even one whose spec is invalid (that
    # problem is reported once, above, not again for every formula that uses the name).
    declared = list(raw["params"]) if isinstance(raw.get("params"), dict) else list(params)
    context = {"source": source, "entry": entry_id}
    raw_threshold = raw.get("threshold")
    threshold_name = None
    if raw_threshold is not None:
        if kind != "rowwise":
            problems.add(source, entry_id, "threshold", "only rowwise entries define an implicit threshold")
        elif not isinstance(raw_threshold, dict) or not isinstance(raw_threshold.get("name"), str):
            problems.add(source, entry_id, "threshold", "must be a table with name, equation and bracket")
        else:
            threshold_name = raw_threshold["name"]
    # Row formulas name the component x_i and, for nested reductions, the running elements of
    # the enclosing reductions (x_j, x_k, ...); further row vectors v give v_i, v_j, ...
    row_names = (
        [f"{v}_i" for v in variables]
        + [f"{v}_{s}" for v in variables for s in BOUND_SUFFIXES]
        + ["n"]
        + ([threshold_name] if threshold_name else [])
    )

    def parse(text: Any, field: str, extra_params: Iterable[str] = (), variables_override=None):
        if kind in VECTOR_KINDS:
            names, reduction = row_names, variables[0]
        else:
            names, reduction = list(variables), None
        if variables_override is not None:
            names = variables_override
        try:
            expr = parse_formula(
                text, names, declared + list(extra_params), reduction_variable=reduction,
                field=field, **context,
            )
        except FormulaError as exc:
            problems.items.append(str(exc))
            return None
        if kind in VECTOR_KINDS and variables_override is None:
            # (A Jacobian formula's x_j is the column index, not a running element.)
            for message in _unbound_row_names(expr, variables):
                problems.add(source, entry_id, field, message)
        return expr

    if kind == "grouped" and isinstance(raw["formula"], list):
        parts = [parse(text, f"formula[{k}]") for k, text in enumerate(raw["formula"])]
        expr = None if any(p is None for p in parts) else sp.ImmutableMatrix(parts)
    else:
        expr = parse(raw["formula"], "formula")

    threshold = None
    if threshold_name is not None:
        threshold = _parse_threshold(raw_threshold, parse, source, entry_id, problems)

    variants: dict[str, Variant] = {}
    raw_variants = raw.get("variants", {})
    if not isinstance(raw_variants, dict):
        problems.add(source, entry_id, "variants", "must be a table of named variants")
        raw_variants = {}
    for vname, spec in raw_variants.items():
        where = f"variants.{vname}"
        if not isinstance(spec, dict) or "formula" not in spec:
            problems.add(source, entry_id, where, "must be a table with a formula")
            continue
        unknown = set(spec) - _VARIANT_FIELDS
        if unknown:
            problems.add(source, entry_id, where, f"unknown field(s) {', '.join(sorted(unknown))}")
        vparams = _parse_params(spec.get("params", {}), source, entry_id, f"{where}.params", problems)
        clash = set(vparams) & set(params)
        if clash:
            problems.add(source, entry_id, where, f"redeclares parameter(s) {', '.join(sorted(clash))}")
        vexpr = parse(spec["formula"], f"{where}.formula", vparams)
        if vexpr is not None:
            variants[vname] = Variant(vname, spec["formula"], vexpr, str(spec.get("description", "")), vparams)

    conventions = []
    for k, spec in enumerate(_table_list(raw.get("conventions"), _CONVENTION_FIELDS, source, entry_id, "conventions", problems)):
        if kind != "elementwise" and "at" not in spec and "derivative" not in spec:
            # A rule in words for a vector-valued map (tie breaking, subgradient choice).
            if not str(spec.get("description", "")).strip():
                problems.add(source, entry_id, f"conventions[{k}]", "needs at/derivative or a description")
            else:
                conventions.append(Convention(None, None, str(spec["description"])))
            continue
        at = parse(str(spec.get("at", "")), f"conventions[{k}].at")
        der = parse(str(spec.get("derivative", "")), f"conventions[{k}].derivative")
        if at is not None and der is not None:
            conventions.append(Convention(at, der, str(spec.get("description", ""))))

    special_cases = []
    for k, spec in enumerate(_table_list(raw.get("special_cases"), _SPECIAL_FIELDS, source, entry_id, "special_cases", problems)):
        try:
            der = spec.get("derivative")
            variant = spec.get("variant")
            if variant is not None and variant not in raw_variants:
                raise ValueError(f"unknown variant {variant!r}")
            special_cases.append(
                SpecialCase(
                    parse_number(spec["input"]),
                    parse_number(spec["value"]),
                    None if der is None else parse_number(der),
                    variant,
                )
            )
        except KeyError as exc:
            problems.add(source, entry_id, f"special_cases[{k}]", f"missing {exc.args[0]!r}")
        except ValueError as exc:
            problems.add(source, entry_id, f"special_cases[{k}]", str(exc))

    claims: dict[str, Any] = {}
    raw_claims = raw.get("claims", {})
    if not isinstance(raw_claims, dict):
        problems.add(source, entry_id, "claims", "must be a table")
        raw_claims = {}
    for cname, value in raw_claims.items():
        validator = CLAIM_KEYS.get(cname)
        if validator is None:
            hint = difflib.get_close_matches(cname, list(CLAIM_KEYS), n=1)
            extra = f"; did you mean {hint[0]!r}?" if hint else ""
            problems.add(source, entry_id, f"claims.{cname}", f"unknown claim{extra}")
            continue
        if cname in STRUCTURAL_CLAIMS and kind == "elementwise":
            problems.add(source, entry_id, f"claims.{cname}", "is a claim about vector-valued maps; elementwise entries state slope_bounds")
            continue
        try:
            claims[cname] = validator(value)
        except ValueError as exc:
            problems.add(source, entry_id, f"claims.{cname}", str(exc))
            continue
        if cname in ("lipschitz_l2", "lipschitz_linf") and isinstance(claims[cname], str):
            try:
                parse_formula(claims[cname], ["n"], declared, field=f"claims.{cname}", **context)
            except FormulaError as exc:
                problems.items.append(str(exc))

    references = []
    for k, spec in enumerate(_table_list(raw.get("references"), _REFERENCE_FIELDS, source, entry_id, "references", problems)):
        missing = [f for f in ("title", "authors", "year") if f not in spec]
        if missing:
            problems.add(source, entry_id, f"references[{k}]", f"missing {', '.join(missing)}")
            continue
        if not isinstance(spec["year"], int):
            problems.add(source, entry_id, f"references[{k}].year", "must be an integer")
            continue
        references.append(Reference(**{f: spec.get(f) for f in _REFERENCE_FIELDS}))
    if not references and "references" in raw:
        problems.add(source, entry_id, "references", "needs at least one reference")

    implementations = tuple(
        _table_list(raw.get("implementations"), _IMPLEMENTATION_FIELDS, source, entry_id, "implementations", problems)
    )
    for k, impl in enumerate(implementations):
        if "framework" not in impl or "function" not in impl:
            problems.add(source, entry_id, f"implementations[{k}]", "needs framework and function")
        if impl.get("variant") is not None and impl["variant"] not in raw_variants:
            problems.add(source, entry_id, f"implementations[{k}].variant", f"unknown variant {impl['variant']!r}")

    surrogate = None
    if "surrogate_gradient" in raw:
        surrogate = parse(raw["surrogate_gradient"], "surrogate_gradient")

    jacobian = None
    jacobian_formula = raw.get("jacobian")
    if "jacobian" in raw:
        if kind == "rowwise":
            v = variables[0]
            names = [f"{v}_i", f"{v}_j", "y_i", "y_j", "delta_ij", "n"]
            names += [f"{w}_{s}" for w in variables[1:] for s in ("i", "j")]
            names += [threshold_name] if threshold_name else []
            jacobian = parse(raw["jacobian"], "jacobian", variables_override=names)
        elif kind == "grouped" and isinstance(expr, sp.MatrixBase):
            jacobian, jacobian_formula = _parse_group_jacobian(raw["jacobian"], expr.shape[0], variables, parse, source, entry_id, problems)
        else:
            problems.add(source, entry_id, "jacobian", "only rowwise entries and grouped entries with a formula list store a Jacobian")

    mask = None
    if "mask" in raw:
        if kind != "rowwise":
            problems.add(source, entry_id, "mask", "only rowwise entries define a masking rule")
        else:
            mask = _parse_mask(raw["mask"], source, entry_id, problems)

    try:
        domain = Interval.parse(raw.get("domain", "(-inf, inf)"))
    except ValueError as exc:
        problems.add(source, entry_id, "domain", str(exc))
        domain = Interval.real_line()

    known_failures = _parse_known_failures(raw.get("known_failures"), raw_variants, source, entry_id, problems)
    coincides = _parse_coincides(raw.get("coincides"), source, entry_id, problems)
    aliases = _string_list(raw.get("aliases"), source, entry_id, "aliases", problems)
    tags = _string_list(raw.get("tags"), source, entry_id, "tags", problems)
    if len(problems.items) > before or expr is None:
        return None
    return Entry(
        id=entry_id,
        name=raw["name"],
        kind=kind,
        family=raw["family"],
        summary=raw["summary"],
        expr=expr,
        references=tuple(references),
        source=source,
        aliases=aliases,
        tags=tags,
        description=str(raw.get("description", "")),
        variables=variables,
        domain=domain,
        params=params,
        variants=variants,
        conventions=tuple(conventions),
        surrogate_gradient=surrogate,
        special_cases=tuple(special_cases),
        claims=claims,
        implementations=implementations,
        jacobian=jacobian,
        jacobian_formula=jacobian_formula,
        threshold=threshold,
        mask=mask,
        known_failures=known_failures,
        coincides=coincides,
        formula=tuple(raw["formula"]) if isinstance(raw["formula"], list) else raw["formula"],
    )


def _parse_known_failures(value: Any, variants: dict, source: str, entry_id: str, problems: _Problems) -> tuple[KnownFailure, ...]:
    rows = []
    for k, spec in enumerate(_table_list(value, _KNOWN_FAILURE_FIELDS, source, entry_id, "known_failures", problems)):
        where = f"known_failures[{k}]"
        check, reason = spec.get("check"), spec.get("reason")
        if check not in KNOWN_FAILURE_CHECKS:
            problems.add(source, entry_id, f"{where}.check", f"must be one of {', '.join(KNOWN_FAILURE_CHECKS)}, got {check!r}")
            continue
        if not isinstance(reason, str) or len(reason.strip()) < 20:
            problems.add(source, entry_id, f"{where}.reason", "must say why, in a sentence (20+ characters)")
            continue
        variant = spec.get("variant")
        if variant is not None and variant not in variants:
            problems.add(source, entry_id, f"{where}.variant", f"unknown variant {variant!r}")
            continue
        dtype, output = spec.get("dtype"), spec.get("output")
        if check == "accuracy":
            if dtype not in ("float32", "float64") or output not in ("value", "derivative"):
                problems.add(source, entry_id, where, "an accuracy row needs dtype (float32/float64) and output (value/derivative)")
                continue
        elif dtype is not None or output is not None:
            problems.add(source, entry_id, where, f"dtype and output belong to accuracy rows, not to {check!r}")
            continue
        special = None
        if check == "kernel_special_case":
            try:
                special = parse_number(spec.get("input"))
            except (TypeError, ValueError):
                problems.add(source, entry_id, f"{where}.input", "a kernel_special_case row names the special input")
                continue
        elif "input" in spec:
            problems.add(source, entry_id, f"{where}.input", f"belongs to kernel_special_case rows, not to {check!r}")
            continue
        rows.append(KnownFailure(check, reason.strip(), variant, dtype, output, special))
    return tuple(rows)


def _parse_coincides(value: Any, source: str, entry_id: str, problems: _Problems) -> tuple[Coincidence, ...]:
    """``coincides = [{entry, reason}]``; the other entry's existence is checked by the
    duplicate screen, which sees the whole catalog."""
    rows = []
    for k, spec in enumerate(_table_list(value, _COINCIDES_FIELDS, source, entry_id, "coincides", problems)):
        other, reason = spec.get("entry"), spec.get("reason")
        if not isinstance(other, str) or not re.match(r"^[a-z][a-z0-9_]*(:[A-Za-z0-9_]+)?$", other):
            problems.add(source, entry_id, f"coincides[{k}].entry", f"must be an entry id or id:variant, got {other!r}")
            continue
        if not isinstance(reason, str) or len(reason.strip()) < 10:
            problems.add(source, entry_id, f"coincides[{k}].reason", "must say why the two are equal at the defaults")
            continue
        rows.append(Coincidence(other, reason.strip()))
    return tuple(rows)


def _unbound_row_names(expr: sp.Basic, variables: Sequence[str]) -> list[str]:
    """Messages for running elements (``x_j``, ``g_k``, ...) used outside a reduction deep enough
    to bind them: ``x_j`` names the element of the enclosing first-level reduction."""
    found: list[str] = []

    def walk(e: sp.Basic, depth: int) -> None:
        if isinstance(e, (RowSum, RowMax, RowMin)):
            walk(e.args[0], depth + 1)
            return
        if e.is_Symbol:
            base, _, suffix = e.name.rpartition("_")
            if base in variables and suffix in BOUND_SUFFIXES and BOUND_SUFFIXES.index(suffix) >= depth:
                level = BOUND_SUFFIXES.index(suffix) + 1
                found.append(
                    f"{e.name!r} names the running element of a reduction nested {level} deep; "
                    f"it is used where only {depth} reduction(s) enclose it"
                )
            return
        for a in e.args:
            walk(a, depth)

    walk(expr, 0)
    return sorted(set(found))


def _parse_threshold(raw: dict, parse, source: str, entry_id: str, problems: _Problems) -> Threshold | None:
    unknown = set(raw) - _THRESHOLD_FIELDS
    if unknown:
        problems.add(source, entry_id, "threshold", f"unknown field(s) {', '.join(sorted(unknown))}")
    bracket = raw.get("bracket")
    if not isinstance(raw.get("equation"), str) or not (
        isinstance(bracket, list) and len(bracket) == 2 and all(isinstance(b, str) for b in bracket)
    ):
        problems.add(source, entry_id, "threshold", "needs equation (a formula) and bracket ([lower, upper] formulas)")
        return None
    equation = parse(raw["equation"], "threshold.equation")
    lower = parse(bracket[0], "threshold.bracket[0]")
    upper = parse(bracket[1], "threshold.bracket[1]")
    if equation is None or lower is None or upper is None:
        return None
    name = raw["name"]
    symbol = sp.Symbol(name, real=True)
    if symbol not in equation.free_symbols:
        problems.add(source, entry_id, "threshold.equation", f"does not use the threshold {name!r}")
        return None
    if symbol in lower.free_symbols | upper.free_symbols:
        problems.add(source, entry_id, "threshold.bracket", f"may not use the threshold {name!r} itself")
        return None
    return Threshold(name, equation, lower, upper, raw["equation"], (bracket[0], bracket[1]), str(raw.get("description", "")))


def _parse_group_jacobian(raw: Any, size: int, variables, parse, source: str, entry_id: str, problems: _Problems):
    if not (
        isinstance(raw, list) and len(raw) == size
        and all(isinstance(row, list) and len(row) == len(variables) and all(isinstance(c, str) for c in row) for row in raw)
    ):
        problems.add(source, entry_id, "jacobian", f"must be a {size} x {len(variables)} list of lists of formulas (outputs x variables)")
        return None, None
    cells = [[parse(c, f"jacobian[{i}][{j}]") for j, c in enumerate(row)] for i, row in enumerate(raw)]
    if any(c is None for row in cells for c in row):
        return None, None
    return sp.ImmutableMatrix(cells), tuple(tuple(row) for row in raw)


def _parse_mask(raw: Any, source: str, entry_id: str, problems: _Problems) -> Mask | None:
    if not isinstance(raw, dict):
        problems.add(source, entry_id, "mask", "must be a table with rule and fully_masked")
        return None
    unknown = set(raw) - _MASK_FIELDS
    if unknown:
        problems.add(source, entry_id, "mask", f"unknown field(s) {', '.join(sorted(unknown))}")
    if raw.get("rule") not in _MASK_RULES:
        problems.add(source, entry_id, "mask.rule", f"must be one of {', '.join(_MASK_RULES)}, got {raw.get('rule')!r}")
        return None
    try:
        value = None if raw.get("value") is None else parse_number(raw["value"])
        fully = parse_number(raw["fully_masked"])
    except KeyError:
        problems.add(source, entry_id, "mask.fully_masked", "is required")
        return None
    except ValueError as exc:
        problems.add(source, entry_id, "mask", str(exc))
        return None
    return Mask(raw["rule"], value, fully, str(raw.get("description", "")))


def _catalog_files() -> list[tuple[str, str]]:
    """(display path, text) of every TOML file in the installed ``funclib.catalog`` package."""
    return [(source, data.decode("utf-8")) for source, data in catalog_files()]


def load_catalog(paths: Iterable[str | Path] | None = None) -> dict[str, Entry]:
    """Load and validate catalog files; return entries by id.

    Parameters
    ----------
    paths : iterable of path, optional
        TOML files to load instead of the built-in catalog (e.g. a user's own entries).

    Raises
    ------
    CatalogError
        Listing every problem found, each with file, entry and field.
    """
    problems = _Problems()
    if paths is None:
        files = _catalog_files()
    else:
        if isinstance(paths, (str, Path)):
            paths = [paths]  # one file, not an iterable of characters
        files = []
        for p in paths:
            try:
                files.append((str(p), Path(p).read_text(encoding="utf-8")))
            except UnicodeDecodeError as exc:
                problems.add(str(p), None, None, f"not UTF-8 text ({exc.reason} at byte {exc.start})")
            except OSError as exc:
                problems.add(str(p), None, None, f"cannot read the file ({type(exc).__name__}: {exc.strerror or exc})")
    result: dict[str, Entry] = {}
    names: dict[str, str] = {}
    for source, text in files:
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            problems.add(source, None, None, f"invalid TOML: {exc}")
            continue
        except RecursionError:
            problems.add(source, None, None, "invalid TOML: nested too deeply")
            continue
        unknown = set(data) - {"entry"}
        if unknown:
            problems.add(source, None, None, f"unknown top-level key(s) {', '.join(sorted(unknown))}; use [[entry]] tables")
        raw_entries = data.get("entry", [])
        if not isinstance(raw_entries, list):
            problems.add(source, None, None, "'entry' must be an array of tables ([[entry]])")
            continue
        for raw in raw_entries:
            entry = _build_entry(raw, source, problems)
            if entry is None:
                continue
            for name in (entry.id, *entry.aliases):
                owner = names.get(name.lower())
                if owner is not None:
                    problems.add(source, entry.id, "id" if name == entry.id else "aliases",
                                 f"name {name!r} is already used by entry {owner!r}")
                else:
                    names[name.lower()] = entry.id
            result.setdefault(entry.id, entry)
    if problems.items:
        raise CatalogError(problems.items)
    return result


#: Entries built one at a time by :func:`get` (before or without the full catalog load).
_BUILT: dict[str, Entry] = {}


@lru_cache(maxsize=1)
def _builtin() -> tuple[dict[str, Entry], dict[str, str]]:
    """The whole built-in catalog, loaded and validated (every formula parsed)."""
    catalog = load_catalog()
    for entry_id, entry in _BUILT.items():  # keep one object per entry
        if entry_id in catalog:
            catalog[entry_id] = entry
    index = {}
    for entry in catalog.values():
        for name in (entry.id, *entry.aliases):
            index[name.lower()] = entry.id
    return catalog, index


def _entry(entry_id: str) -> Entry:
    """One built-in entry by id, parsed on first use (the rest of the catalog is not)."""
    if _builtin.cache_info().currsize:
        return _builtin()[0][entry_id]
    if entry_id not in _BUILT:
        idx = catalog_index()
        problems = _Problems()
        entry = _build_entry(idx.raw_entry(entry_id), idx.records[entry_id].source, problems)
        if problems.items or entry is None:
            raise CatalogError(problems.items or [f"entry {entry_id!r} could not be built"])
        _BUILT[entry_id] = entry
    return _BUILT[entry_id]


#: Index records (sorted by id, optionally of one kind), without parsing any formula.
index = records


def entries(kind: str | None = None) -> list[Entry]:
    """All built-in entries (optionally of one ``kind``), sorted by id."""
    catalog, _ = _builtin()
    if kind is not None and kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}; kinds are {', '.join(KINDS)}")
    return sorted((e for e in catalog.values() if kind is None or e.kind == kind), key=lambda e: e.id)


def get(name: str) -> Entry:
    """The entry with this id or alias (case-insensitive, ``-`` and ``_`` equivalent); a variant
    as a function of its own with ``"entry:variant"`` (``"gelu:tanh"``).

    Only this entry's formulas are parsed (the catalog index finds it).

    Raises
    ------
    UnknownEntryError
        With close matches in the message (an unknown variant lists the entry's variants).
    """
    names = catalog_index().names
    key = str(name).strip().lower().replace("-", "_")
    base, sep, variant = key.partition(":")
    if sep and base in names:
        entry = _entry(names[base])
        matches = [v for v in entry.variants if v.lower().replace("-", "_") == variant.strip()]
        if matches:
            return entry.variant_function(matches[0])
        raise UnknownEntryError(str(name), [f"{entry.id}:{v}" for v in entry.variants])
    if key in names:
        return _entry(names[key])
    suggestions = difflib.get_close_matches(key, list(names), n=5, cutoff=0.6)
    return_ids = list(dict.fromkeys(names[s] if s == names[s] else f"{s} ({names[s]})" for s in suggestions))
    raise UnknownEntryError(str(name), return_ids)


#: Index records matching words, tag and kind, without parsing any formula.
search_index = search_records


_PROPERTY_FILTERS = {
    "monotonic": lambda p: p.monotonic in ("increasing", "nondecreasing", "decreasing", "nonincreasing"),
    "increasing": lambda p: p.monotonic in ("increasing", "nondecreasing"),
    "bounded": lambda p: p.bounded_below and p.bounded_above,
    "bounded_below": lambda p: p.bounded_below,
    "bounded_above": lambda p: p.bounded_above,
    "smooth": lambda p: p.smoothness == "Cinf",
    "convex": lambda p: p.convex is True,
    "odd": lambda p: p.odd is True,
    "even": lambda p: p.even is True,
    "lipschitz": lambda p: p.lipschitz is not None and p.lipschitz < float("inf"),
    "slope_restricted": lambda p: p.slope_bounds is not None and all(abs(b) < float("inf") for b in p.slope_bounds),
}


def search(
    text: str | None = None,
    *,
    tag: str | None = None,
    kind: str | None = None,
    property: str | None = None,
) -> list[Entry]:
    """Entries matching all given filters.

    Parameters
    ----------
    text : str, optional
        Case-insensitive words, each found in id, name, aliases, family, tags, summary or
        description.
    tag : str, optional
        Exact tag (e.g. ``"pytorch"``).
    kind : str, optional
        One of :data:`funclib.entry.KINDS`.
    property : str, optional
        A proven property: ``monotonic``, ``increasing``, ``bounded``, ``bounded_below``,
        ``bounded_above``, ``smooth``, ``convex``, ``odd``, ``even``, ``lipschitz``,
        ``slope_restricted`` (elementwise entries; uses the property cache).
    """
    if property is not None and property not in _PROPERTY_FILTERS:
        raise ValueError(f"unknown property {property!r}; known: {', '.join(_PROPERTY_FILTERS)}")
    found = []
    for record in search_index(text, tag=tag, kind=kind):
        entry = _entry(record.id)
        if property is not None:
            if entry.kind != "elementwise" or not _PROPERTY_FILTERS[property](entry.properties()):
                continue
        found.append(entry)
    return found
