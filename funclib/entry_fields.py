"""Build one :class:`~funclib.entry.Entry` from its TOML table: one parser per field.

:func:`build_entry` validates a raw ``[[entry]]`` table and collects *every* problem (file,
entry and field named) in a :class:`Problems` list instead of stopping at the first one. Each
field has its own parser below; which kinds may use a field is the table :data:`KIND_FIELDS`;
the allowed keys of the sub-tables are derived from the dataclasses they fill (a new dataclass
field is a new TOML key, in one place). :mod:`funclib.registry` loads files and looks entries up.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Callable

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
from .formula import FormulaError, RowMax, RowMin, RowSum, parse_formula
from .ranges import Range, parse_number

__all__ = ["CLAIM_KEYS", "KIND_FIELDS", "STRUCTURAL_CLAIMS", "Problems", "build_entry"]


def _keys(cls: type, *, drop: Iterable[str] = (), add: Iterable[str] = ()) -> frozenset[str]:
    """The TOML keys of a sub-table: the dataclass's fields, less derived ones, plus renamed ones."""
    return frozenset({f.name for f in dataclasses.fields(cls)} - set(drop) | set(add))


_ID = re.compile(r"^[a-z][a-z0-9_]*$")
_REQUIRED = ("id", "name", "kind", "family", "summary", "formula", "references")
_PARAM_FIELDS = _keys(Param, drop={"name"})
_VARIANT_FIELDS = _keys(Variant, drop={"name", "expr"})
_CONVENTION_FIELDS = _keys(Convention)
_SPECIAL_FIELDS = _keys(SpecialCase)
_REFERENCE_FIELDS = _keys(Reference)
_IMPLEMENTATION_FIELDS = frozenset(
    {"framework", "function", "variant", "kwargs", "params", "note", "disagreement", "rtol"}
)
_THRESHOLD_FIELDS = _keys(Threshold, drop={"lower", "upper", "equation_text", "bracket_text"}, add={"bracket"})
_MASK_FIELDS = _keys(Mask)
_MASK_RULES = ("limit", "remove")
_KNOWN_FAILURE_FIELDS = _keys(KnownFailure)
_COINCIDES_FIELDS = _keys(Coincidence)

#: Which kinds may use a field (fields not named here are open to every kind), and the message
#: for an entry of another kind.
KIND_FIELDS: dict[str, tuple[tuple[str, ...], str]] = {
    "threshold": (("rowwise",), "only rowwise entries define an implicit threshold"),
    "mask": (("rowwise",), "only rowwise entries define a masking rule"),
    "jacobian": (
        ("rowwise", "grouped"),
        "only rowwise entries and grouped entries with a formula list store a Jacobian",
    ),
}


# --- claims -------------------------------------------------------------------------------

#: Claim name -> validator of its value (returns the normalized value or raises ValueError).
CLAIM_KEYS: dict[str, Callable[[Any], Any]] = {}


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"expected true or false, got {value!r}")
    return value


def _one_of(*allowed: str) -> Callable[[Any], str]:
    def validate(value: Any) -> str:
        if value not in allowed:
            raise ValueError(f"expected one of {', '.join(allowed)}, got {value!r}")
        return value

    return validate


def _slope_bounds(value: Any) -> tuple[float, float]:
    if not (isinstance(value, list) and len(value) == 2):
        raise ValueError(f"expected [lo, hi], got {value!r}")
    lo, hi = parse_number(value[0]), parse_number(value[1])
    if not lo <= hi:
        raise ValueError(f"slope bounds [{lo}, {hi}] are not ordered")
    return (lo, hi)


def _lipschitz(value: Any) -> float | str:
    """A Lipschitz constant: a number, or a formula in the parameters and ``n`` (parsed by
    :func:`_claims` with the entry's parameters)."""
    if isinstance(value, str) and value.strip() not in ("inf", "-inf", "nan"):
        try:
            number = parse_number(value)
        except ValueError:
            return value
    else:
        number = parse_number(value)
    if not number >= 0:
        raise ValueError(f"a Lipschitz constant must be >= 0, got {value!r}")
    return number


def _tolerance(value: Any) -> float:
    number = parse_number(value)
    if not 0 < number < 1:
        raise ValueError(f"claim_tolerance must be in (0, 1), got {value!r}")
    return number


#: Structural claims of vector-valued maps (row-wise, grouped, attention entries). They must hold
#: for every admissible parameter value; the tests of each family prove them (docs/catalog-format.md).
STRUCTURAL_CLAIMS = (
    "lipschitz_l2", "lipschitz_linf", "sum_preserving", "norm_preserving",
    "gradient_norm_preserving", "piecewise_linear", "positively_homogeneous",
    "additively_homogeneous", "shift_invariant", "sums_to_one",
)

for _key in ("bounded_below", "bounded_above", "odd", "even", "convex", "concave", *STRUCTURAL_CLAIMS[2:]):
    CLAIM_KEYS[_key] = _bool
for _key in ("value_at_zero", "slope_at_zero", "limit_at_inf", "limit_at_neg_inf"):
    CLAIM_KEYS[_key] = parse_number
CLAIM_KEYS.update(
    monotonic=_one_of("increasing", "nondecreasing", "decreasing", "nonincreasing", "none"),
    smoothness=_one_of("discontinuous", "C0", "C1", "C2", "C3", "C4", "C5", "Cinf"),
    range=Range.parse,
    slope_bounds=_slope_bounds,
    lipschitz_l2=_lipschitz,
    lipschitz_linf=_lipschitz,
    claim_tolerance=_tolerance,
)


# --- the problem list and the per-entry context -------------------------------------------------


class Problems:
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


@dataclass
class _Context:
    """What every field parser needs: where the entry is, its kind, its names, the problem list."""

    raw: dict
    source: str
    entry_id: str
    kind: str
    problems: Problems
    variables: tuple[str, ...] = ("x",)
    declared: list[str] = field(default_factory=list)
    threshold_name: str | None = None

    def add(self, field: str | None, message: str) -> None:
        self.problems.add(self.source, self.entry_id, field, message)

    @property
    def row_names(self) -> list[str]:
        """Names a row formula may use: the component x_i, the running elements of nested
        reductions (x_j, x_k, ...), further row vectors v_i, v_j, ..., n and the threshold."""
        return (
            [f"{v}_i" for v in self.variables]
            + [f"{v}_{s}" for v in self.variables for s in BOUND_SUFFIXES]
            + ["n"]
            + ([self.threshold_name] if self.threshold_name else [])
        )

    def parse(
        self, text: Any, field: str, extra_params: Iterable[str] = (), variables_override: Sequence[str] | None = None
    ) -> sp.Basic | None:
        """A formula of this entry, or None after recording the problem."""
        vector = self.kind in VECTOR_KINDS
        names = list(variables_override) if variables_override is not None else (
            self.row_names if vector else list(self.variables)
        )
        try:
            expr = parse_formula(
                text, names, self.declared + list(extra_params),
                reduction_variable=self.variables[0] if vector else None,
                field=field, source=self.source, entry=self.entry_id,
            )
        except FormulaError as exc:
            self.problems.items.append(str(exc))
            return None
        if vector and variables_override is None:
            # (A Jacobian formula's x_j is the column index, not a running element.)
            for message in _unbound_row_names(expr, self.variables):
                self.add(field, message)
        return expr

    def string_list(self, name: str, default: Any = None) -> tuple[str, ...]:
        value = self.raw.get(name, default)
        if value is None:
            return ()
        if not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
            self.add(name, "must be a list of strings")
            return ()
        return tuple(value)

    def table_list(self, name: str, allowed: frozenset[str]) -> list[dict]:
        value = self.raw.get(name)
        if value is None:
            return []
        if not (isinstance(value, list) and all(isinstance(v, dict) for v in value)):
            self.add(name, "must be an array of tables")
            return []
        for k, item in enumerate(value):
            unknown = set(item) - allowed
            if unknown:
                self.add(f"{name}[{k}]", f"unknown field(s) {', '.join(sorted(unknown))}")
        return value

    @property
    def variant_names(self) -> dict:
        variants = self.raw.get("variants", {})
        return variants if isinstance(variants, dict) else {}


# --- one parser per field -------------------------------------------------------------------


def _check_header(raw: dict, source: str, problems: Problems) -> _Context | None:
    """Unknown and required fields, the id and the kind: everything the other parsers rely on."""
    entry_id = raw.get("id") if isinstance(raw.get("id"), str) else None
    before = len(problems.items)
    unknown = set(raw) - ENTRY_FIELDS
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
    ctx = _Context(raw, source, entry_id, kind, problems)
    for name, (kinds, message) in KIND_FIELDS.items():
        if name in raw and kind not in kinds:
            ctx.add(name, message)
    return ctx


def _text_fields(ctx: _Context) -> None:
    for name in ("name", "family", "summary", "formula"):
        value = ctx.raw[name]
        if name == "formula" and ctx.kind == "grouped" and isinstance(value, list):
            # A grouped entry writes its group map as a list: one formula per output.
            if value and all(isinstance(v, str) and v.strip() for v in value):
                continue
            ctx.add(name, "must be a non-empty list of non-empty formula strings")
        elif not isinstance(value, str) or not value.strip():
            ctx.add(name, "must be a non-empty string")


def parse_params(table: Any, ctx: _Context, field: str) -> dict[str, Param]:
    """``params`` (or a variant's ``params``): name -> :class:`Param` with a checked default."""
    params: dict[str, Param] = {}
    if not isinstance(table, dict):
        ctx.add(field, "must be a table of parameters")
        return params
    for name, spec in table.items():
        where = f"{field}.{name}"
        if not isinstance(spec, dict):
            ctx.add(where, "must be a table with default and range")
            continue
        unknown = set(spec) - _PARAM_FIELDS
        if unknown:
            ctx.add(where, f"unknown field(s) {', '.join(sorted(unknown))}")
        if "default" not in spec:
            ctx.add(where, "has no default")
            continue
        try:
            default = parse_number(spec["default"])
            interval = Range.parse(spec.get("range", "(-inf, inf)"))
        except ValueError as exc:
            ctx.add(where, str(exc))
            continue
        if default not in interval:
            ctx.add(where, f"default {default!r} is outside its range {interval}")
            continue
        trainable = spec.get("trainable", False)
        if not isinstance(trainable, bool):
            ctx.add(f"{where}.trainable", "must be true or false")
            continue
        params[name] = Param(name, default, interval, trainable, str(spec.get("description", "")))
    return params


def _threshold_name(ctx: _Context) -> None:
    raw = ctx.raw.get("threshold")
    if raw is None or ctx.kind != "rowwise":
        return
    if not isinstance(raw, dict) or not isinstance(raw.get("name"), str):
        ctx.add("threshold", "must be a table with name, equation and bracket")
    else:
        ctx.threshold_name = raw["name"]


def _formula(ctx: _Context) -> sp.Basic | None:
    text = ctx.raw["formula"]
    if ctx.kind == "grouped" and isinstance(text, list):
        parts = [ctx.parse(t, f"formula[{k}]") for k, t in enumerate(text)]
        return None if any(p is None for p in parts) else sp.ImmutableMatrix(parts)
    return ctx.parse(text, "formula")


def _threshold(ctx: _Context) -> Threshold | None:
    if ctx.threshold_name is None:
        return None
    raw = ctx.raw["threshold"]
    unknown = set(raw) - _THRESHOLD_FIELDS
    if unknown:
        ctx.add("threshold", f"unknown field(s) {', '.join(sorted(unknown))}")
    bracket = raw.get("bracket")
    if not isinstance(raw.get("equation"), str) or not (
        isinstance(bracket, list) and len(bracket) == 2 and all(isinstance(b, str) for b in bracket)
    ):
        ctx.add("threshold", "needs equation (a formula) and bracket ([lower, upper] formulas)")
        return None
    equation = ctx.parse(raw["equation"], "threshold.equation")
    lower = ctx.parse(bracket[0], "threshold.bracket[0]")
    upper = ctx.parse(bracket[1], "threshold.bracket[1]")
    if equation is None or lower is None or upper is None:
        return None
    name = raw["name"]
    symbol = sp.Symbol(name, real=True)
    if symbol not in equation.free_symbols:
        ctx.add("threshold.equation", f"does not use the threshold {name!r}")
        return None
    if symbol in lower.free_symbols | upper.free_symbols:
        ctx.add("threshold.bracket", f"may not use the threshold {name!r} itself")
        return None
    return Threshold(name, equation, lower, upper, raw["equation"], (bracket[0], bracket[1]), str(raw.get("description", "")))


def _variants(ctx: _Context, params: dict[str, Param]) -> dict[str, Variant]:
    raw_variants = ctx.raw.get("variants", {})
    if not isinstance(raw_variants, dict):
        ctx.add("variants", "must be a table of named variants")
        return {}
    variants: dict[str, Variant] = {}
    for vname, spec in raw_variants.items():
        where = f"variants.{vname}"
        if not isinstance(spec, dict) or "formula" not in spec:
            ctx.add(where, "must be a table with a formula")
            continue
        unknown = set(spec) - _VARIANT_FIELDS
        if unknown:
            ctx.add(where, f"unknown field(s) {', '.join(sorted(unknown))}")
        vparams = parse_params(spec.get("params", {}), ctx, f"{where}.params")
        clash = set(vparams) & set(params)
        if clash:
            ctx.add(where, f"redeclares parameter(s) {', '.join(sorted(clash))}")
        vexpr = ctx.parse(spec["formula"], f"{where}.formula", vparams)
        if vexpr is not None:
            variants[vname] = Variant(vname, spec["formula"], vexpr, str(spec.get("description", "")), vparams)
    return variants


def _conventions(ctx: _Context) -> tuple[Convention, ...]:
    conventions = []
    for k, spec in enumerate(ctx.table_list("conventions", _CONVENTION_FIELDS)):
        if ctx.kind != "elementwise" and "at" not in spec and "derivative" not in spec:
            # A rule in words for a vector-valued map (tie breaking, subgradient choice).
            if not str(spec.get("description", "")).strip():
                ctx.add(f"conventions[{k}]", "needs at/derivative or a description")
            else:
                conventions.append(Convention(None, None, str(spec["description"])))
            continue
        at = ctx.parse(str(spec.get("at", "")), f"conventions[{k}].at")
        der = ctx.parse(str(spec.get("derivative", "")), f"conventions[{k}].derivative")
        if at is not None and der is not None:
            conventions.append(Convention(at, der, str(spec.get("description", ""))))
    return tuple(conventions)


def _special_cases(ctx: _Context) -> tuple[SpecialCase, ...]:
    cases = []
    for k, spec in enumerate(ctx.table_list("special_cases", _SPECIAL_FIELDS)):
        try:
            der = spec.get("derivative")
            variant = spec.get("variant")
            if variant is not None and variant not in ctx.variant_names:
                raise ValueError(f"unknown variant {variant!r}")
            cases.append(SpecialCase(
                parse_number(spec["input"]), parse_number(spec["value"]),
                None if der is None else parse_number(der), variant,
            ))
        except KeyError as exc:
            ctx.add(f"special_cases[{k}]", f"missing {exc.args[0]!r}")
        except ValueError as exc:
            ctx.add(f"special_cases[{k}]", str(exc))
    return tuple(cases)


def _claims(ctx: _Context) -> dict[str, Any]:
    raw_claims = ctx.raw.get("claims", {})
    if not isinstance(raw_claims, dict):
        ctx.add("claims", "must be a table")
        return {}
    claims: dict[str, Any] = {}
    for cname, value in raw_claims.items():
        validator = CLAIM_KEYS.get(cname)
        if validator is None:
            hint = difflib.get_close_matches(cname, list(CLAIM_KEYS), n=1)
            extra = f"; did you mean {hint[0]!r}?" if hint else ""
            ctx.add(f"claims.{cname}", f"unknown claim{extra}")
            continue
        if cname in STRUCTURAL_CLAIMS and ctx.kind == "elementwise":
            ctx.add(f"claims.{cname}", "is a claim about vector-valued maps; elementwise entries state slope_bounds")
            continue
        try:
            claims[cname] = validator(value)
        except ValueError as exc:
            ctx.add(f"claims.{cname}", str(exc))
            continue
        if cname in ("lipschitz_l2", "lipschitz_linf") and isinstance(claims[cname], str):
            try:
                parse_formula(claims[cname], ["n"], ctx.declared, field=f"claims.{cname}",
                              source=ctx.source, entry=ctx.entry_id)
            except FormulaError as exc:
                ctx.problems.items.append(str(exc))
    return claims


def _references(ctx: _Context) -> tuple[Reference, ...]:
    references = []
    for k, spec in enumerate(ctx.table_list("references", _REFERENCE_FIELDS)):
        missing = [f for f in ("title", "authors", "year") if f not in spec]
        if missing:
            ctx.add(f"references[{k}]", f"missing {', '.join(missing)}")
            continue
        if not isinstance(spec["year"], int):
            ctx.add(f"references[{k}].year", "must be an integer")
            continue
        references.append(Reference(**{f: spec.get(f) for f in _REFERENCE_FIELDS}))
    if not references and "references" in ctx.raw:
        ctx.add("references", "needs at least one reference")
    return tuple(references)


def _implementations(ctx: _Context) -> tuple[dict, ...]:
    implementations = tuple(ctx.table_list("implementations", _IMPLEMENTATION_FIELDS))
    for k, impl in enumerate(implementations):
        if "framework" not in impl or "function" not in impl:
            ctx.add(f"implementations[{k}]", "needs framework and function")
        if impl.get("variant") is not None and impl["variant"] not in ctx.variant_names:
            ctx.add(f"implementations[{k}].variant", f"unknown variant {impl['variant']!r}")
    return implementations


def _jacobian(ctx: _Context, expr: sp.Basic | None) -> tuple[Any, Any]:
    """(parsed Jacobian, its text) of a row-wise entry or a grouped entry with a formula list."""
    raw = ctx.raw.get("jacobian")
    if raw is None or ctx.kind not in KIND_FIELDS["jacobian"][0]:
        return None, raw
    if ctx.kind == "rowwise":
        v = ctx.variables[0]
        names = [f"{v}_i", f"{v}_j", "y_i", "y_j", "delta_ij", "n"]
        names += [f"{w}_{s}" for w in ctx.variables[1:] for s in ("i", "j")]
        names += [ctx.threshold_name] if ctx.threshold_name else []
        return ctx.parse(raw, "jacobian", variables_override=names), raw
    if not isinstance(expr, sp.MatrixBase):
        ctx.add("jacobian", KIND_FIELDS["jacobian"][1])
        return None, raw
    size = expr.shape[0]
    if not (
        isinstance(raw, list) and len(raw) == size
        and all(isinstance(row, list) and len(row) == len(ctx.variables) and all(isinstance(c, str) for c in row) for row in raw)
    ):
        ctx.add("jacobian", f"must be a {size} x {len(ctx.variables)} list of lists of formulas (outputs x variables)")
        return None, None
    cells = [[ctx.parse(c, f"jacobian[{i}][{j}]") for j, c in enumerate(row)] for i, row in enumerate(raw)]
    if any(c is None for row in cells for c in row):
        return None, None
    return sp.ImmutableMatrix(cells), tuple(tuple(row) for row in raw)


def _mask(ctx: _Context) -> Mask | None:
    raw = ctx.raw.get("mask")
    if raw is None or ctx.kind != "rowwise":
        return None
    if not isinstance(raw, dict):
        ctx.add("mask", "must be a table with rule and fully_masked")
        return None
    unknown = set(raw) - _MASK_FIELDS
    if unknown:
        ctx.add("mask", f"unknown field(s) {', '.join(sorted(unknown))}")
    if raw.get("rule") not in _MASK_RULES:
        ctx.add("mask.rule", f"must be one of {', '.join(_MASK_RULES)}, got {raw.get('rule')!r}")
        return None
    try:
        value = None if raw.get("value") is None else parse_number(raw["value"])
        fully = parse_number(raw["fully_masked"])
    except KeyError:
        ctx.add("mask.fully_masked", "is required")
        return None
    except ValueError as exc:
        ctx.add("mask", str(exc))
        return None
    return Mask(raw["rule"], value, fully, str(raw.get("description", "")))


def _domain(ctx: _Context) -> Range:
    try:
        return Range.parse(ctx.raw.get("domain", "(-inf, inf)"))
    except ValueError as exc:
        ctx.add("domain", str(exc))
        return Range.real_line()


def _known_failures(ctx: _Context) -> tuple[KnownFailure, ...]:
    rows = []
    for k, spec in enumerate(ctx.table_list("known_failures", _KNOWN_FAILURE_FIELDS)):
        where = f"known_failures[{k}]"
        check, reason = spec.get("check"), spec.get("reason")
        if check not in KNOWN_FAILURE_CHECKS:
            ctx.add(f"{where}.check", f"must be one of {', '.join(KNOWN_FAILURE_CHECKS)}, got {check!r}")
            continue
        if not isinstance(reason, str) or len(reason.strip()) < 20:
            ctx.add(f"{where}.reason", "must say why, in a sentence (20+ characters)")
            continue
        variant = spec.get("variant")
        if variant is not None and variant not in ctx.variant_names:
            ctx.add(f"{where}.variant", f"unknown variant {variant!r}")
            continue
        dtype, output = spec.get("dtype"), spec.get("output")
        if check == "accuracy":
            if dtype not in ("float32", "float64") or output not in ("value", "derivative"):
                ctx.add(where, "an accuracy row needs dtype (float32/float64) and output (value/derivative)")
                continue
        elif dtype is not None or output is not None:
            ctx.add(where, f"dtype and output belong to accuracy rows, not to {check!r}")
            continue
        special = None
        if check == "kernel_special_case":
            try:
                special = parse_number(spec.get("input"))
            except (TypeError, ValueError):
                ctx.add(f"{where}.input", "a kernel_special_case row names the special input")
                continue
        elif "input" in spec:
            ctx.add(f"{where}.input", f"belongs to kernel_special_case rows, not to {check!r}")
            continue
        rows.append(KnownFailure(check, reason.strip(), variant, dtype, output, special))
    return tuple(rows)


def _coincides(ctx: _Context) -> tuple[Coincidence, ...]:
    """``coincides = [{entry, reason}]``; the other entry's existence is checked by the
    duplicate screen, which sees the whole catalog."""
    rows = []
    for k, spec in enumerate(ctx.table_list("coincides", _COINCIDES_FIELDS)):
        other, reason = spec.get("entry"), spec.get("reason")
        if not isinstance(other, str) or not re.match(r"^[a-z][a-z0-9_]*(:[A-Za-z0-9_]+)?$", other):
            ctx.add(f"coincides[{k}].entry", f"must be an entry id or id:variant, got {other!r}")
            continue
        if not isinstance(reason, str) or len(reason.strip()) < 10:
            ctx.add(f"coincides[{k}].reason", "must say why the two are equal at the defaults")
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


#: Every top-level key an ``[[entry]]`` table may have.
ENTRY_FIELDS = frozenset({
    "id", "name", "aliases", "kind", "family", "tags", "summary", "description", "variables",
    "formula", "domain", "params", "variants", "conventions", "surrogate_gradient",
    "special_cases", "claims", "references", "implementations", "jacobian", "threshold", "mask",
    "known_failures", "coincides",
})


def build_entry(raw: dict, source: str, problems: Problems) -> Entry | None:
    """The :class:`Entry` of one ``[[entry]]`` table, or None after recording its problems.

    The order matters only where one field feeds another: the variables and parameters name what
    formulas may use, and a row-wise threshold's name is a row name of every row formula.
    """
    before = len(problems.items)
    ctx = _check_header(raw, source, problems)
    if ctx is None:
        return None
    _text_fields(ctx)
    ctx.variables = ctx.string_list("variables", ["x"]) or ("x",)
    params = parse_params(raw.get("params", {}), ctx, "params")
    # Formulas may use every declared parameter name, even one whose spec is invalid (that
    # problem is reported once, above, not again for every formula that uses the name).
    ctx.declared = list(raw["params"]) if isinstance(raw.get("params"), dict) else list(params)
    _threshold_name(ctx)
    expr = _formula(ctx)
    jacobian, jacobian_formula = _jacobian(ctx, expr)
    fields = dict(
        threshold=_threshold(ctx),
        variants=_variants(ctx, params),
        conventions=_conventions(ctx),
        special_cases=_special_cases(ctx),
        claims=_claims(ctx),
        references=_references(ctx),
        implementations=_implementations(ctx),
        surrogate_gradient=ctx.parse(raw["surrogate_gradient"], "surrogate_gradient") if "surrogate_gradient" in raw else None,
        jacobian=jacobian,
        jacobian_formula=jacobian_formula,
        mask=_mask(ctx),
        domain=_domain(ctx),
        known_failures=_known_failures(ctx),
        coincides=_coincides(ctx),
        aliases=ctx.string_list("aliases"),
        tags=ctx.string_list("tags"),
    )
    if len(problems.items) > before or expr is None:
        return None
    return Entry(
        id=ctx.entry_id,
        name=raw["name"],
        kind=ctx.kind,
        family=raw["family"],
        summary=raw["summary"],
        expr=expr,
        source=source,
        description=str(raw.get("description", "")),
        variables=ctx.variables,
        params=params,
        formula=tuple(raw["formula"]) if isinstance(raw["formula"], list) else raw["formula"],
        **fields,
    )
