"""Sphinx extension: generate the catalog part of the funclib docs from ``funclib.entries()``.

On ``builder-inited`` it writes MyST Markdown sources (only where the content changed, so
incremental builds stay incremental) into folders that hold nothing else:

``catalog/``
    one page per entry (definition and variants in LaTeX, parameters, derivative, Jacobian
    for row-wise maps, proven properties with their methods, claims and their status, special
    cases and conventions, framework implementations, plots, accuracy/speed records, references
    with arXiv links), one page per family, ``catalog/index`` and the sortable ``catalog/table``;
``api/``
    one autodoc page per importable module of ``funclib`` (modules that fail to import, e.g. a
    feature whose optional dependency is missing, are left out and logged);
``benchmarks/``
    tables and bar charts from ``benchmarks/results/*.json`` when there are any.

Plots are drawn with :mod:`funclib.plotting` into ``catalog/_plots`` under names that contain
a hash of the entry, the plotting code version and matplotlib's version, so they are redrawn
only when something they depend on changed. A plot that cannot be drawn (a function the NumPy
evaluator does not know yet) becomes a note on the page, not a build error.

Directives for hand-written pages:

``funclib-topics``
    ``:::{funclib-topics} kernels accuracy rowwise-kernels`` lists links to the topic pages
    (``docs/NAME.md``) that exist in this tree, so the guide never links to a missing page.
``funclib-notebooks``
    lists ``notebooks/*.py`` with their titles and a download link.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import shutil
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import sympy as sp
from sympy.printing.latex import LatexPrinter
from docutils import nodes
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

logger = logging.getLogger(__name__)

GENERATED_DIRS = ("catalog", "api", "benchmarks")
KIND_TITLES = {
    "elementwise": "Elementwise activations",
    "rowwise": "Row-wise normalizers",
    "gated": "Gated units",
    "grouped": "Grouped activations",
    "attention": "Attention maps",
}
METHOD_NOTE = {
    "symbolic": "decided exactly by SymPy",
    "interval": "rigorous arb interval enclosure (branch and bound)",
    "estimated": "sampling only, not a proof",
}
PROPERTY_ORDER = [
    "slope_bounds", "lipschitz", "range", "monotonic", "bounded_below", "bounded_above", "convex", "concave",
    "odd", "even", "smoothness", "value_at_zero", "slope_at_zero", "limit_at_neg_inf", "limit_at_inf",
    "slope_bounds_enclosure",
]
PROPERTY_TITLES = {
    "slope_bounds": "slope bounds [α, β] ⊇ [inf f′, sup f′]",
    "slope_bounds_enclosure": "brackets of inf f′ and sup f′",
    "lipschitz": "Lipschitz constant ≤",
    "range": "range ⊆",
    "value_at_zero": "f(0)",
    "slope_at_zero": "f′(0)",
    "limit_at_neg_inf": "limit at −∞",
    "limit_at_inf": "limit at +∞",
}
FRAMEWORK_TAGS = ("pytorch", "jax", "keras", "tensorflow")
ID_KEYS = ("entry", "id", "entry_id", "function", "name", "activation", "map")
LABEL_KEYS = ID_KEYS + ("kernel", "method", "kind", "dtype", "output", "n", "hidden", "size", "case")


# -- text helpers ---------------------------------------------------------------------------

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]<>()#+!|$~])")


def esc(text: Any) -> str:
    """Plain text for a Markdown paragraph or table cell (no markup, no math)."""
    return _MD_SPECIAL.sub(r"\\\1", str(text)).replace("\n", " ")


def code(text: Any) -> str:
    """Inline code; backticks inside are handled by a longer fence."""
    s = str(text).replace("\n", " ")
    fence = "``" if "`" in s else "`"
    return f"{fence}{s}{fence}" if fence == "`" else f"{fence} {s} {fence}"


def fmt_number(v: Any) -> str:
    if v is None:
        return "—"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, (int, float)):
        v = float(v)
        if math.isnan(v):
            return "NaN"
        if math.isinf(v):
            return "∞" if v > 0 else "−∞"
        if v == int(v) and abs(v) < 1e15:
            return str(int(v))
        return f"{v:.10g}"
    return str(v)


def fmt_value(v: Any) -> str:
    if isinstance(v, (tuple, list)):
        if len(v) == 2 and all(isinstance(t, (tuple, list)) for t in v):
            return "; ".join(fmt_value(t) for t in v)
        return "[" + ", ".join(fmt_number(t) for t in v) + "]"
    return fmt_number(v)


def link_arxiv(ref) -> str:
    parts = []
    if ref.arxiv:
        parts.append(f"[arXiv:{ref.arxiv}](https://arxiv.org/abs/{ref.arxiv})")
    if ref.doi:
        parts.append(f"[doi:{esc(ref.doi)}](https://doi.org/{ref.doi})")
    if ref.url and not ref.arxiv:
        parts.append(f"<{ref.url}>")
    return " · ".join(parts)


class _Latex(LatexPrinter):
    """SymPy's LaTeX printer plus funclib's row reductions (sum/max/min over j)."""

    def _reduction(self, expr, op: str, exp=None) -> str:
        body, var = expr.args
        idx = str(var).split("_")[-1] if "_" in str(var) else "j"
        tex = rf"\{op}_{{{idx}}} {self.parenthesize(body, 1000) if op != 'sum' else self._print(body)}"
        # raised to a power (SymPy passes exp=): bracket the reduction first
        return tex if exp is None else rf"\left({tex}\right)^{{{exp}}}"

    def _print_RowSum(self, expr, exp=None):
        return self._reduction(expr, "sum", exp)

    def _print_RowMax(self, expr, exp=None):
        return self._reduction(expr, "max", exp)

    def _print_RowMin(self, expr, exp=None):
        return self._reduction(expr, "min", exp)


def latex(expr) -> str:
    return _Latex().doprint(expr)


def display_math(tex: str) -> str:
    return f"$$\n{tex}\n$$"


def write_if_changed(path: Path, text: str, written: set[Path]) -> None:
    written.add(path.resolve())
    if path.exists() and path.read_text(encoding="utf-8") == text:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def md_table(header: list[str], rows: Iterable[list[str]]) -> str:
    rows = list(rows)
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(c.replace("\n", " ").replace("|", "\\|") if "$" not in c else c.replace("\n", " ")
                                       for c in row) + " |")
    return "\n".join(lines)


# -- benchmark / accuracy records -----------------------------------------------------------


def load_results(root: Path) -> dict[str, Any]:
    """``benchmarks/results/*.json`` parsed (files that fail to parse are logged and skipped)."""
    out: dict[str, Any] = {}
    folder = root / "benchmarks" / "results"
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            out[path.stem] = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            logger.info(f"funclib_catalog: skipping {path.name}: {exc}")
    return out


def _scalar(v: Any) -> bool:
    return isinstance(v, (str, int, float, bool)) or v is None


def record_lists(data: Any, path: str = "") -> list[tuple[str, list[dict]]]:
    """Every list of flat-ish dicts in a JSON document (the benchmark rows), with its path."""
    found: list[tuple[str, list[dict]]] = []
    if isinstance(data, list) and data and all(isinstance(r, dict) for r in data):
        found.append((path, data))
        return found
    if isinstance(data, dict):
        for k, v in data.items():
            found += record_lists(v, f"{path}.{k}" if path else str(k))
    return found


def flatten(record: dict, prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for k, v in record.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            flat.update(flatten(v, key + "."))
        elif _scalar(v):
            flat[key] = v
    return flat


def records_for(entry_id: str, results: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Benchmark/accuracy rows naming this entry (by an ``entry``/``id``/``function``... field)."""
    rows = []
    for name, data in results.items():
        for path, records in record_lists(data):
            for r in records:
                if any(str(r.get(k, "")).lower() == entry_id for k in ID_KEYS):
                    rows.append((f"{name}{':' + path if path else ''}", flatten(r)))
    return rows


# -- proven properties (from the committed cache only) ---------------------------------------


def proven(entry, variant: str | None = None):
    """The entry's properties if the committed proof cache is fresh for it, else None.

    The docs never run proofs (they can take minutes); the test suite keeps the cache fresh,
    and an entry edited since its last proof says so on its page.
    """
    from funclib.properties import cache_key, load_cache

    if entry.kind != "elementwise":
        return None
    if "data" not in _PROOF_CACHE:
        _PROOF_CACHE["data"] = load_cache()
    slot = _PROOF_CACHE["data"].get(entry.id, {})
    if slot.get("key") != cache_key(entry):
        return None
    if variant is not None and variant not in slot.get("variants", {}):
        return None
    return entry.properties(variant)


_PROOF_CACHE: dict[str, Any] = {}  # the committed cache, read once per build (reset in generate)

STALE_NOTE = ("Not in the committed proof cache (the entry changed since its last proof): regenerate with "
              "`python -m funclib.properties --write {id}`.")


# -- plots ------------------------------------------------------------------------------------


def plot_key(entry, extra: str = "") -> str:
    import matplotlib

    import funclib.plotting as fp

    text = "\n".join([entry.key(), fp.PLOT_VERSION, matplotlib.__version__, extra])
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def draw(entry, plots: Path, written: set[Path]) -> list[tuple[str, str]]:
    """Figures for one entry: [(file name, caption)]. Reuses files whose name (hash) exists."""
    import funclib.plotting as fp

    figures: list[tuple[str, str]] = []
    jobs = []
    if entry.kind == "elementwise" and len(entry.variables) == 1:
        jobs.append(("plot", None))
        if entry.variants:
            jobs.append(("variants", None))
    elif entry.kind == "rowwise":
        jobs += [("simplex", 2), ("simplex", 3)]
    elif entry.kind == "gated" and len(entry.variables) == 2 and isinstance(entry.expr, sp.Expr):
        jobs.append(("surface", None))
    for job, arg in jobs:
        key = plot_key(entry, f"{job}:{arg}")
        name = f"{entry.id}-{job}{arg or ''}-{key}.png"
        path = plots / name
        meta = path.with_suffix(".json")
        written.update({path.resolve(), meta.resolve()})
        if not (path.exists() and meta.exists()):
            try:
                caption = _render(fp, entry, job, arg, path)
            except Exception as exc:  # noqa: BLE001 - a missing picture must not stop the docs
                logger.info(f"funclib_catalog: no {job} plot for {entry.id}: {type(exc).__name__}: {exc}")
                figures.append(("", f"No {job} picture: {type(exc).__name__}: {exc}"))
                continue
            meta.write_text(json.dumps({"caption": caption}), encoding="utf-8")
        figures.append((name, json.loads(meta.read_text(encoding="utf-8"))["caption"]))
    return figures


def _render(fp, entry, job: str, arg, path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    if job == "plot":
        ax = fp.plot(entry, derivative=True, second=False, slope_band=proven(entry) is not None, points=801)
        data = ax.funclib_curve
        fp.save(ax.figure, path)
        fp.close(ax.figure)
        parts = ["f (solid), f′ (dashed)"]
        if data.slope_band is not None:
            b = data.slope_band
            parts.append(f"proven slope band f′ ∈ [{fmt_number(b.low)}, {fmt_number(b.high)}] ({b.method}, shaded)")
        if data.zeros:
            parts.append("zero crossings at x = " + ", ".join(f"{z:.10g}" for z in data.zeros))
        for f in data.extrema:
            parts.append(f"local {f.kind} at x = {f.x:.10g}, f = {f.y:.10g}")
        return "; ".join(parts) + ". Features refined at 30 digits with mpmath."
    if job == "variants":
        fig = fp.compare([entry] + [(entry, v) for v in entry.variants], difference=True)
        diffs = [float(abs(c.values[0] - fig.funclib_curves[0].values[0]).max()) for c in fig.funclib_curves[1:]]
        fp.save(fig, path)
        fp.close(fig)
        return "The definition and its variants, and each variant minus the definition: " + ", ".join(
            f"max |{v} − f| = {d:.3g} on the window" for v, d in zip(entry.variants, diffs)) + "."
    if job == "simplex":
        fig = fp.simplex_map(entry, n=arg, resolution=81 if arg == 3 else 121)
        prob = fig.funclib_simplex.probability
        fp.save(fig, path)
        fp.close(fig)
        what = "outputs are probability vectors" if prob else "outputs are not probability vectors"
        return f"Rows of length {arg}: {what} on this grid."
    if job == "surface":
        fig = fp.surface(entry)
        fp.save(fig, path)
        fp.close(fig)
        a, b = entry.variables
        return f"f({a}, {b}) on [-4, 4]² with contour lines."
    raise ValueError(job)


# -- entry pages ------------------------------------------------------------------------------


def _param_rows(params: dict, owner: str = "") -> list[list[str]]:
    return [
        [code(n), fmt_number(p.default), code(str(p.range)), "yes" if p.trainable else "no", esc(p.description),
         owner]
        for n, p in params.items()
    ]


def _properties_table(props, link: str) -> str:
    rows = []
    for name in sorted(props.facts, key=lambda n: (PROPERTY_ORDER.index(n) if n in PROPERTY_ORDER else 99, n)):
        fact = props.facts[name]
        method = f"[{fact.method}]({link})" if link else fact.method
        rows.append([PROPERTY_TITLES.get(name, name.replace("_", " ")), fmt_value(fact.value), method, esc(fact.detail)])
    return md_table(["property", "value", "method", "how"], rows)


def _claims_table(entry, props) -> str:
    from funclib.properties import claim_status, value_to_json

    status = claim_status(entry, props)
    rows = []
    for name, (state, why) in status.items():
        claimed = entry.claims[name]
        rows.append([name.replace("_", " "), esc(fmt_value(value_to_json(claimed)) if not hasattr(claimed, "lo") else claimed),
                     f"**{state}**", esc(why)])
    return md_table(["claim (hand-stated)", "stated", "status", "derived"], rows)


def entry_page(entry, ctx: dict) -> str:
    from funclib.formula import to_formula

    out: list[str] = [f"({entry.id})=", f"# {esc(entry.name)}", "", esc(entry.summary), ""]
    facts = [
        ["id", code(entry.id)],
        ["aliases", ", ".join(code(a) for a in entry.aliases) or "—"],
        ["kind", entry.kind],
        ["family", f"[{esc(entry.family)}](family-{entry.family}.md)"],
        ["tags", ", ".join(esc(t) for t in entry.tags) or "—"],
        ["variables", ", ".join(code(v) for v in entry.variables)],
        ["domain", code(str(entry.domain))],
        ["source", code(entry.source)],
    ]
    out += ["```{list-table}", ":class: funclib-facts", ""]
    for key, value in facts:
        out += [f"* - {key}", f"  - {value}"]
    out += ["```", ""]

    # Definition
    lhs = "y_i" if entry.kind == "rowwise" else f"f({', '.join(entry.variables)})"
    out += ["## Definition", "", display_math(f"{lhs} = {latex(entry.expr)}"), "",
            f"Catalog formula: {code(entry.formula)}", ""]
    if entry.kind == "rowwise":
        out += ["Written for one component $x_i$ of a row $x$ of length $n$; sums, maxima and minima run over "
                "the row.", ""]
    if entry.description.strip():
        out += [entry.description.strip(), ""]
    if entry.variants:
        out += ["### Variants", "", "Named alternative definitions; never swapped in silently.", ""]
        for name, v in entry.variants.items():
            out += [f"**{esc(name)}**" + (f" — {esc(v.description)}" if v.description else ""), "",
                    display_math(rf"f_{{\mathrm{{{name.replace('_', '-')}}}}}({', '.join(entry.variables)}) = {latex(v.expr)}"),
                    "", f"Formula: {code(v.formula)}", ""]

    # Parameters
    params = _param_rows(entry.params)
    for vname, v in entry.variants.items():
        params += _param_rows(v.params, f"variant {code(vname)}")
    if params:
        out += ["## Parameters", "", md_table(["name", "default", "range", "trainable", "meaning", "applies to"], params),
                "", "Defaults are taken exactly as written (0.01 is 1/100) in every symbolic computation.", ""]

    # Derivative / Jacobian
    if entry.kind == "elementwise" and len(entry.variables) == 1:
        out += ["## Derivative", "", "Stable symbolic form (rewritten so that float64 evaluation does not overflow):",
                "", display_math(f"f'(x) = {latex(entry.derivative())}"), ""]
        for name in entry.variants:
            out += [display_math(rf"f'_{{\mathrm{{{name.replace('_', '-')}}}}}(x) = {latex(entry.derivative(variant=name))}"), ""]
    if entry.conventions:
        out += ["**Conventions at kinks**", ""]
        for c in entry.conventions:
            if c.at is None:  # a rule in words (tie-breaking of row-wise and grouped maps)
                out.append(f"- {esc(c.description)}")
            else:
                out.append(f"- $f'({latex(c.at)}) = {latex(c.derivative)}$" + (f": {esc(c.description)}" if c.description else ""))
        out.append("")
    if entry.surrogate_gradient is not None:
        out += ["**Surrogate gradient** (used in training; *not* the derivative):", "",
                display_math(latex(entry.surrogate_gradient)), ""]
    if entry.kind == "rowwise" and entry.jacobian is not None:
        out += ["## Jacobian", "", "Closed form for any row length, with $y = f(x)$ and the Kronecker delta; "
                "checked against SymPy's Jacobian for n = 2..5 by the test suite:", "",
                display_math(rf"J_{{ij}} = \frac{{\partial y_i}}{{\partial x_j}} = {latex(entry.jacobian)}"), ""]

    # Properties
    if entry.kind == "elementwise":
        link = ctx["properties_link"]
        out += ["## Proven properties", "",
                "Derived by funclib, never typed in; each with the method that established it "
                "(" + ", ".join(f"**{m}**: {t}" for m, t in METHOD_NOTE.items()) + "). Parameters at their defaults.",
                ""]
        props = proven(entry)
        if props is None:
            out += [STALE_NOTE.format(id=entry.id), ""]
        else:
            out += [_properties_table(props, link), ""]
            for name in entry.variants:
                vprops = proven(entry, name)
                out += [f"Variant {code(name)}:", "",
                        _properties_table(vprops, link) if vprops is not None else STALE_NOTE.format(id=entry.id), ""]
            if entry.claims:
                out += ["### Claims", "", "Hand-stated in the catalog and checked against the proofs above; a refuted "
                        "claim fails the test suite.", "", _claims_table(entry, props), ""]

    # Special cases
    if entry.special_cases:
        rows = [[fmt_number(s.input), fmt_number(s.value), fmt_number(s.derivative) if s.derivative is not None else "—",
                 code(s.variant) if s.variant else "—"] for s in entry.special_cases]
        out += ["## Special cases", "", md_table(["input", "f", "f′", "variant"], rows), ""]

    # Plots
    figures = ctx["figures"]
    if figures:
        out += ["## Plots", ""]
        for name, caption in figures:
            if not name:
                out += [f"*{esc(caption)}*", ""]
                continue
            out += [f":::{{figure}} _plots/{name}", f":alt: {entry.name}: {esc(caption)[:120]}", ":width: 100%", "",
                    esc(caption), ":::", ""]

    # Frameworks
    if entry.implementations:
        rows = []
        for imp in entry.implementations:
            kwargs = imp.get("kwargs")
            rows.append([esc(imp.get("framework", "")), code(imp.get("function", "")),
                         code(imp["variant"]) if imp.get("variant") else "definition",
                         code(json.dumps(kwargs, sort_keys=True)) if kwargs else "—", esc(imp.get("note", ""))])
        out += ["## In the frameworks", "", "Cross-checked against funclib's reference values by the test suite.", "",
                md_table(["framework", "function", "computes", "arguments", "note"], rows), ""]

    # Accuracy and speed
    rows = ctx["records"]
    if rows:
        out += ["## Accuracy and speed", "", "Rows of the recorded benchmark and accuracy results "
                "(`benchmarks/results/`) that name this entry.", ""]
        for source, record in rows[:40]:
            cells = [[code(k), esc(fmt_number(v))] for k, v in record.items()]
            out += [f"From {code(source)}:", "", md_table(["field", "value"], cells), ""]
    if ctx.get("accuracy_page"):
        out += [f"See also the [accuracy tables]({ctx['accuracy_page']}).", ""]

    # References
    out += ["## References", ""]
    for k, ref in enumerate(entry.references, 1):
        line = f"{k}. {esc(ref.authors)} ({ref.year}). *{esc(ref.title)}*."
        links = link_arxiv(ref)
        if links:
            line += " " + links + "."
        if ref.note:
            line += f" {esc(ref.note)}."
        out.append(line)
    out += ["", "## Use it", "", "```python", "import funclib", "",
            f"f = funclib.get({entry.id!r})", "f.expr                 # the SymPy expression"]
    if entry.kind == "elementwise":
        out += ["f.derivative()         # stable symbolic derivative", "f.properties().slope_bounds"]
    if entry.kind == "rowwise":
        out += ["f.jacobian_matrix(3, closed_form=True)"]
    out += ["```", "", "```console", f"$ funclib show {entry.id}"]
    if entry.kind == "elementwise":
        out.append(f"$ funclib plot {entry.id} --derivative -o {entry.id}.png")
    out += ["```", ""]
    _ = to_formula  # (kept for parity with the CLI's JSON output, which prints formulas)
    return "\n".join(out)


def family_page(family: str, members: list, kinds: set[str]) -> str:
    out = [f"(family-{family})=", f"# Family: {esc(family)}", "",
           f"{len(members)} entr{'y' if len(members) == 1 else 'ies'} ({', '.join(sorted(kinds))}).", ""]
    rows = []
    for e in members:
        band = "—"
        if e.kind == "elementwise":
            p = proven(e)
            band = f"[{fmt_number(p.slope_bounds[0])}, {fmt_number(p.slope_bounds[1])}]" if p else "not in the proof cache"
        rows.append([f"[{esc(e.name)}]({e.id}.md)", code(e.id), e.kind, band, esc(e.summary)])
    out += [md_table(["entry", "id", "kind", "slope bounds", "summary"], rows), "",
            "```{toctree}", ":hidden:", ""] + [e.id for e in members] + ["```", ""]
    return "\n".join(out)


def table_page(entries: list) -> str:
    head = ["entry", "kind", "family", "α = inf f′ ≥", "β = sup f′ ≤", "proof", "monotonic", "range", "smoothness",
            "Lipschitz ≤", "frameworks"]
    rows = []
    for e in entries:
        cells = [f"[{esc(e.name)}]({e.id}.md)", e.kind, esc(e.family)]
        p = proven(e)
        if p is not None:
            try:
                lo, hi = p.slope_bounds
                rng = p.range
                cells += [fmt_number(lo), fmt_number(hi), p["slope_bounds"].method, str(p.monotonic),
                          f"[{fmt_number(rng[0])}, {fmt_number(rng[1])}]", str(p.smoothness), fmt_number(p.lipschitz)]
            except Exception:  # noqa: BLE001
                cells += ["—"] * 7
        else:
            cells += ["—"] * 7
        cells.append(", ".join(t for t in e.tags if t in FRAMEWORK_TAGS) or "—")
        rows.append(cells)
    lines = ["(catalog-table)=", "# Table of all entries", "",
             f"All {len(entries)} catalog entries with their key proven properties. Type in the filter box to "
             "search; click a column header to sort (click again to reverse). Slope bounds are outer bounds "
             "[α, β] ⊇ [inf f′, sup f′] with the method that proved them.", "",
             "```{list-table}", ":header-rows: 1", ":class: funclib-sortable", ""]
    for row in [head] + rows:
        lines.append("* - " + (row[0] or " "))
        lines += [f"  - {c or ' '}" for c in row[1:]]
    lines += ["```", ""]
    return "\n".join(lines)


def coverage_page(entry_ids: set[str]) -> str:
    """Every row of the breadth target list with its status (funclib.coverage)."""
    from funclib import coverage

    rows = coverage.coverage()
    counts = coverage.summary(rows)
    lines = ["(catalog-coverage)=", "# Coverage of the target list", "",
             f"The breadth target list (`catalog/_coverage/targets.tsv`: {counts['total']} candidate functions "
             "from the survey of Kunc & Kléma 2024, `torch-activation`, framework built-ins and the papers behind "
             f"the catalog) against the {len(entry_ids)} catalog entries: **{counts['covered']} covered** — "
             + ", ".join(f"{counts[st]} {st.replace('_', ' ')}" for st in coverage.STATUSES)
             + ". `funclib coverage` prints the same table.", "",
             "```{list-table}", ":header-rows: 1", ":class: funclib-sortable", "",
             "* - target", "  - name", "  - family", "  - status", "  - entry", "  - reason"]
    for r in rows:
        base = (r.entry or "").partition(":")[0]
        link = f"[{code(r.entry)}]({base}.md)" if base in entry_ids else (code(r.entry) if r.entry else "—")
        lines += [f"* - {code(r.id)}", f"  - {esc(r.name) or ' '}", f"  - {esc(r.family)}", f"  - {r.status}",
                  f"  - {link}", f"  - {esc(r.reason) or ' '}"]
    lines += ["```", ""]
    return "\n".join(lines)


def catalog_index(entries: list, families: dict[str, list]) -> str:
    by_kind: dict[str, list[str]] = defaultdict(list)
    for fam, members in families.items():
        for kind in sorted({m.kind for m in members}):
            by_kind[kind].append(fam)
    out = ["(catalog)=", "# The catalog", "",
           f"{len(entries)} functions in {len(families)} families, every page generated from the catalog entry "
           "(`catalog/*.toml`). The [table](table.md) lists them all with their proven properties; the "
           "[coverage page](coverage.md) maps the breadth target list onto them.", ""]
    for kind in [k for k in KIND_TITLES if k in by_kind] + sorted(k for k in by_kind if k not in KIND_TITLES):
        out += [f"## {KIND_TITLES.get(kind, kind)}", ""]
        for fam in sorted(by_kind[kind]):
            members = [m for m in families[fam] if m.kind == kind]
            names = ", ".join(f"[{esc(m.name)}]({m.id}.md)" for m in members)
            out.append(f"- [**{esc(fam)}**](family-{fam}.md): {names}")
        out.append("")
    out += ["```{toctree}", ":hidden:", "", "table", "coverage"] + [f"family-{f}" for f in sorted(families)] + ["```", ""]
    return "\n".join(out)


# -- API pages --------------------------------------------------------------------------------


def api_modules() -> list[str]:
    """Importable public modules of funclib (those failing to import are logged and left out)."""
    import importlib
    import pkgutil

    import funclib

    names = {"funclib"}
    for info in pkgutil.walk_packages(funclib.__path__, "funclib."):
        names.add(info.name)
    for extra in ("funclib.verify",):
        names.add(extra)
        try:
            pkg = importlib.import_module(extra)
            for info in pkgutil.walk_packages(getattr(pkg, "__path__", []), extra + "."):
                names.add(info.name)
        except Exception:  # noqa: BLE001
            pass
    good = []
    for name in sorted(names):
        if any(part.startswith("_") for part in name.split(".")) or name.endswith("__main__"):
            continue
        try:
            importlib.import_module(name)
        except Exception as exc:  # noqa: BLE001 - optional features may be absent
            logger.info(f"funclib_catalog: API page for {name} left out: {type(exc).__name__}: {exc}")
            continue
        good.append(name)
    return good


def api_pages(out_dir: Path, written: set[Path]) -> None:
    mods = api_modules()
    index = ["(api)=", "# API reference", "",
             "Generated by autodoc from the docstrings (numpydoc format) of every importable module.", "",
             "```{toctree}", ":maxdepth: 1", ""] + mods + ["```", ""]
    write_if_changed(out_dir / "index.md", "\n".join(index), written)
    import importlib

    for name in mods:
        options = ["   :members:"]
        if hasattr(importlib.import_module(name), "__path__"):
            # A package re-exports its submodules' objects in __all__; they are documented on the
            # submodule pages, so document only what the package itself defines.
            options.append("   :ignore-module-all:")
        text = "\n".join([f"# {name.replace('_', chr(92) + '_')}", "", "```{eval-rst}", f".. automodule:: {name}",
                          *options, "```", ""])
        write_if_changed(out_dir / f"{name}.md", text, written)


# -- benchmarks -------------------------------------------------------------------------------

RATIO_WORDS = ("ratio", "speedup", "gb_s", "gbps", "throughput", "ulp", "seconds", "time", "bound")


def _bar_chart(records: list[dict], path: Path) -> str | None:
    """Horizontal bars of the ratio-like numeric columns per labelled row; None if unsuitable."""
    flat = [flatten(r) for r in records]
    label_keys = [k for k in LABEL_KEYS if all(k in r and _scalar(r[k]) for r in flat)][:4]
    if not label_keys:
        return None
    keys = list(dict.fromkeys(k for r in flat for k in r))

    def is_num(v: Any) -> bool:
        return isinstance(v, (int, float)) and not isinstance(v, bool)

    numeric = [k for k in keys if any(w in k.lower() for w in RATIO_WORDS)
               and sum(k in r for r in flat) * 5 >= len(flat) and all(is_num(r[k]) for r in flat if k in r)]
    numeric.sort(key=lambda k: (0 if ("ratio" in k.lower() or "speedup" in k.lower()) else 1))
    if not numeric or len(flat) > 60:
        return None
    import funclib.plotting as fp

    cols = numeric[:4]
    fig, axes = fp.new_axes(1, ncols=len(cols), figsize=(3.2 * len(cols) + 1.2, 0.28 * len(flat) + 1.4))
    labels = [" ".join(str(r[k]) for k in label_keys) for r in flat]
    with fp.style():
        for ax, col in zip(axes, cols):
            vals = [float(r[col]) if col in r else float("nan") for r in flat]
            ax.barh(range(len(flat)), vals, color=fp.COLORS[0])
            ax.set_yticks(range(len(flat)), labels if ax is axes[0] else [""] * len(flat))
            ax.invert_yaxis()
            ax.set_title(col, fontsize=9)
            positive = [v for v in vals if v == v and v > 0]
            if positive and min(positive) > 0 and max(positive) / min(positive) > 30:
                ax.set_xscale("log")
            if "ratio" in col.lower() or "speedup" in col.lower():
                ax.axvline(1.0, color="0.3", lw=0.8)
    fp.save(fig, path)
    fp.close(fig)
    return path.name


def benchmarks_page(root: Path, out_dir: Path, results: dict[str, Any], written: set[Path]) -> None:
    plots = out_dir / "_plots"
    plots.mkdir(parents=True, exist_ok=True)
    out = ["(benchmarks)=", "# Benchmarks", ""]
    scripts = sorted(p.name for p in (root / "benchmarks").glob("*.py")) if (root / "benchmarks").is_dir() else []
    if scripts:
        out += ["Scripts: " + ", ".join(code(f"benchmarks/{s}") for s in scripts) + ".", ""]
    if not results:
        out += ["No results are recorded in `benchmarks/results/` in this tree yet; the benchmark scripts write "
                "JSON there, and this page shows it on the next docs build.", ""]
    for name, data in results.items():
        out += [f"## {esc(name)}", ""]
        if isinstance(data, dict):
            meta = [[code(k), esc(fmt_number(v))] for k, v in data.items() if _scalar(v)]
            if meta:
                out += [md_table(["field", "value"], meta), ""]
        for path, records in record_lists(data):
            title = path or "rows"
            out += [f"### {esc(title)}", ""]
            digest = hashlib.sha256(json.dumps(records, sort_keys=True, default=str).encode()).hexdigest()[:12]
            png = plots / f"{name}-{re.sub('[^a-zA-Z0-9_-]', '_', title)}-{digest}.png"
            chart = None
            if png.exists():
                chart = png.name
            else:
                try:
                    chart = _bar_chart(records, png)
                except Exception as exc:  # noqa: BLE001
                    logger.info(f"funclib_catalog: no chart for {name}/{title}: {exc}")
            if chart:
                written.add(png.resolve())
                out += [f"```{{image}} _plots/{chart}", f":alt: {esc(name)} {esc(title)}", ":width: 100%", "```", ""]
            flat = [flatten(r) for r in records[:80]]
            keys = list(dict.fromkeys(k for r in flat for k in r))[:12]
            rows = [[esc(fmt_number(r.get(k, ""))) for k in keys] for r in flat]
            out += [md_table([esc(k) for k in keys], rows), ""]
    write_if_changed(out_dir / "index.md", "\n".join(out), written)


# -- generation -------------------------------------------------------------------------------


def generate(app) -> None:
    import funclib

    src = Path(app.srcdir)
    root = src.parent
    written: set[Path] = set()
    _PROOF_CACHE.clear()
    cat = src / "catalog"
    entries = funclib.entries()
    results = load_results(root)
    families: dict[str, list] = defaultdict(list)
    for e in entries:
        families[e.family].append(e)
    properties_link = "../properties.md" if (src / "properties.md").exists() else ""
    accuracy_page = "../accuracy.md" if (src / "accuracy.md").exists() else ""
    logger.info(f"funclib_catalog: {len(entries)} entries, {len(families)} families")
    for e in entries:
        ctx = {
            "properties_link": properties_link,
            "accuracy_page": accuracy_page,
            "figures": draw(e, cat / "_plots", written),
            "records": records_for(e.id, results),
        }
        write_if_changed(cat / f"{e.id}.md", entry_page(e, ctx), written)
    for fam, members in families.items():
        write_if_changed(cat / f"family-{fam}.md", family_page(fam, members, {m.kind for m in members}), written)
    write_if_changed(cat / "index.md", catalog_index(entries, families), written)
    write_if_changed(cat / "table.md", table_page(entries), written)
    write_if_changed(cat / "coverage.md", coverage_page({e.id for e in entries}), written)
    api_pages(src / "api", written)
    benchmarks_page(root, src / "benchmarks", results, written)
    # Remove what an earlier build generated and this one did not (deleted entries, old plots).
    for folder in GENERATED_DIRS:
        base = src / folder
        for path in sorted(base.rglob("*"), reverse=True) if base.is_dir() else []:
            if path.name == ".gitignore":
                continue
            if path.is_file() and path.resolve() not in written:
                path.unlink()
            elif path.is_dir() and not any(path.iterdir()):
                shutil.rmtree(path)


# -- docstrings -------------------------------------------------------------------------------

_BACKTICKS = re.compile(r"(``.+?``|`[^`]+`)")
_ABS = re.compile(r"(?<![\\|\w])\|([^|\s`](?:[^|`]*[^|\s`])?)\|(?![\w|])")


def _escape_bars(text: str) -> str:
    parts = _BACKTICKS.split(text)
    return "".join(p if i % 2 else _ABS.sub(r"\\|\1\\|", p) for i, p in enumerate(parts))


def escape_absolute_values(app, what, name, obj, options, lines: list[str]) -> None:
    """Read ``|x|`` in docstrings as an absolute value, not as an RST substitution reference.

    Docstrings here write magnitudes as ``|x|``; reStructuredText would take that for an
    (undefined) substitution and fail the ``-W`` build. Text inside inline literals, roles,
    literal blocks and directive bodies (``.. math::``) is left alone.
    """
    if what == "module":
        # Section titles inside module docstrings become document sections whose names
        # ("references", "notes") clash across API pages; show them as rubrics instead.
        for i in range(len(lines) - 1):
            title, rule = lines[i].strip(), lines[i + 1].strip()
            if title and rule and set(rule) <= set("-=~^") and len(rule) >= len(title) and not lines[i].startswith(" "):
                lines[i], lines[i + 1] = f".. rubric:: {title}", ""
    raw_indent: int | None = None
    opener = False
    for i, line in enumerate(lines):
        stripped = line.strip()
        indent = len(line) - len(line.lstrip())
        if raw_indent is not None:
            if not stripped or indent > raw_indent:
                continue
            raw_indent = None
        if opener and stripped:
            opener = False
        if stripped.endswith("::") or re.match(r"^\.\.\s+[\w:-]+::", stripped):
            raw_indent = indent
            opener = True
            if stripped.startswith(".."):
                continue
        if "|" in line:
            lines[i] = _escape_bars(line)


# -- directives for hand-written pages -------------------------------------------------------


def _title_of(path: Path) -> str:
    for line in path.read_text(encoding="utf-8").splitlines():
        m = re.match(r"^#\s+(.*)", line.strip()) or re.match(r"^# #\s+(.*)", line.strip())
        if m:
            return m.group(1).strip()
    return path.stem


class TopicsDirective(SphinxDirective):
    """``{funclib-topics} NAME ...``: links to ``docs/NAME.md`` pages that exist in this tree."""

    required_arguments = 1
    final_argument_whitespace = True

    def run(self):
        from sphinx import addnodes

        src = Path(self.env.srcdir)
        items = nodes.bullet_list()
        missing = []
        for name in self.arguments[0].split():
            path = src / f"{name}.md"
            if not path.exists():
                missing.append(name)
                continue
            self.env.note_dependency(str(path))
            ref = addnodes.pending_xref("", refdomain="std", reftype="doc", reftarget=f"/{name}", refexplicit=True,
                                        refdoc=self.env.docname)
            ref += nodes.inline("", _title_of(path))
            para = nodes.paragraph("", "")
            para += ref
            para += nodes.Text(f" ({name}.md)")
            items += nodes.list_item("", para)
        result: list[nodes.Node] = [items] if len(items) else []
        if missing:
            result.append(nodes.paragraph("", "Not in this tree yet: " + ", ".join(f"{m}.md" for m in missing) + "."))
        return result


class NotebooksDirective(SphinxDirective):
    """``{funclib-notebooks}``: the notebooks in ``notebooks/`` with their titles and downloads."""

    def run(self):
        from sphinx import addnodes

        folder = Path(self.env.srcdir).parent / "notebooks"
        items = nodes.bullet_list()
        for path in sorted(folder.glob("*.py")) if folder.is_dir() else []:
            self.env.note_dependency(str(path))
            rel = Path("..") / ".." / "notebooks" / path.name  # from docs/guide/
            para = nodes.paragraph("", "")
            para += nodes.strong("", _title_of(path))
            para += nodes.Text(" — ")
            dl = addnodes.download_reference("", "", reftarget=str(rel), refdoc=self.env.docname, refdomain="",
                                             reftype="download", refexplicit=True)
            dl += nodes.literal("", f"notebooks/{path.name}")
            para += dl
            items += nodes.list_item("", para)
        if not len(items):
            return [nodes.paragraph("", "No notebooks in this tree.")]
        return [items]


def setup(app):
    app.connect("builder-inited", generate)
    app.connect("autodoc-process-docstring", escape_absolute_values, priority=600)
    app.add_directive("funclib-topics", TopicsDirective)
    app.add_directive("funclib-notebooks", NotebooksDirective)
    app.add_css_file("funclib.css")
    app.add_js_file("sortable-table.js")
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
