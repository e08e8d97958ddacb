"""The catalog entry: one function with its definition, variants, parameters and claims.

An :class:`Entry` is immutable. It is built by :mod:`funclib.registry` from a TOML table after
validation; everything derived (derivatives, Jacobians, proven properties, reference values)
is computed from it on demand.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import sympy as sp

from . import calculus, stable_forms
# One definition of the kinds, shared with the catalog index (which must not import SymPy).
from .catalog_index import KINDS, VECTOR_KINDS
from .formula import exact_decimal, make_symbol, parse_formula, to_formula
from .oracle import Undecided, reference_value
from .ranges import Range

if TYPE_CHECKING:  # pragma: no cover
    from .properties import Properties
    from .relaxation import Relaxation

__all__ = [
    "Entry",
    "Param",
    "Variant",
    "Convention",
    "SpecialCase",
    "Reference",
    "Threshold",
    "Mask",
    "KINDS",
    "VECTOR_KINDS",
    "ParameterError",
]


class ParameterError(ValueError):
    """A parameter value that is unknown or outside its admissible range."""


@dataclass(frozen=True)
class Param:
    """A parameter: default, admissible range and whether training updates it."""

    name: str
    default: float
    range: Range
    trainable: bool = False
    description: str = ""

    def check(self, value: float, entry_id: str) -> float:
        """Return ``value`` as float if it lies in the range, else raise :class:`ParameterError`."""
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ParameterError(
                f"entry {entry_id!r}: parameter {self.name!r} must be a real number, got {value!r}"
            ) from None
        if number not in self.range:
            raise ParameterError(
                f"entry {entry_id!r}: parameter {self.name!r} = {number!r} is outside its "
                f"range {self.range}"
            )
        return number

    @property
    def symbol(self) -> sp.Symbol:
        return make_symbol(self.name)


@dataclass(frozen=True)
class Variant:
    """A named alternative definition (GELU's tanh approximation); never swapped silently."""

    name: str
    formula: str
    expr: sp.Expr
    description: str = ""
    params: Mapping[str, Param] = field(default_factory=dict)


@dataclass(frozen=True)
class Convention:
    """The derivative value chosen at a kink, e.g. relu'(0) = 0.

    For vector-valued kinds (row-wise, grouped, attention) a convention may be a rule in
    words only (``at`` and ``derivative`` are then ``None``), e.g. how ties are broken.
    """

    at: sp.Expr | None
    derivative: sp.Expr | None
    description: str = ""


@dataclass(frozen=True)
class Threshold:
    r"""An implicitly defined row threshold (sparsemax, entmax): the root in ``[lower, upper]``
    of ``equation`` = 0, where the equation is nonincreasing in the threshold.

    ``equation``, ``lower`` and ``upper`` are row formulas (they may use row reductions, ``n``
    and the entry's parameters); ``name`` is the symbol the formula and Jacobian use.
    """

    name: str
    equation: sp.Expr
    lower: sp.Expr
    upper: sp.Expr
    equation_text: str = ""
    bracket_text: tuple[str, str] = ("", "")
    description: str = ""

    @property
    def symbol(self) -> sp.Symbol:
        return make_symbol(self.name)


@dataclass(frozen=True)
class Mask:
    """How a row-wise entry treats masked entries (``-inf``).

    ``rule`` is ``"limit"`` (the formula's value as the masked entries tend to ``-inf``) or
    ``"remove"`` (the formula is applied to the sub-row of unmasked entries, so ``n`` counts
    the unmasked entries). ``value`` is the output at a masked position (``None`` for a row
    reduction such as log-sum-exp) and ``fully_masked`` every output of a row whose entries are
    all masked.
    """

    rule: str
    value: float | None
    fully_masked: float
    description: str = ""


@dataclass(frozen=True)
class SpecialCase:
    """Expected output at a special input (±0, ±inf, NaN, ...)."""

    input: float
    value: float
    derivative: float | None = None
    variant: str | None = None


#: What a ``known_failures`` row may name: the kernel accuracy target (per dtype and output)
#: or one of the catalog-wide generic checks (``tests/test_catalog.py``).
KNOWN_FAILURE_CHECKS = ("accuracy", "tails", "nan", "finite_differences", "kernel_special_case")


@dataclass(frozen=True)
class KnownFailure:
    """An expected failure of one generic check, with its reason (data, not silence).

    ``check`` is one of :data:`KNOWN_FAILURE_CHECKS`; an ``accuracy`` row names the ``dtype``
    and ``output`` (``value`` or ``derivative``) whose kernel misses the ULP target. The tests
    expect exactly these to fail (strict xfail), so a fix must remove its row.
    """

    check: str
    reason: str
    variant: str | None = None
    dtype: str | None = None
    output: str | None = None
    #: for ``kernel_special_case``: the special input (``"inf"``, ``"-0"``, a number) whose
    #: stated value or derivative the compiled kernels miss
    input: float | None = None


@dataclass(frozen=True)
class Coincidence:
    """A declared equality at default parameters with another entry (or ``entry:variant``).

    Parametric families meet at their defaults (xGELU with alpha = 0 is GELU, CELU with
    alpha = 1 is ELU); the duplicate screen (:mod:`funclib.duplicates`) accepts exactly the
    pairs declared this way and checks that each declaration is true.
    """

    entry: str
    reason: str


@dataclass(frozen=True)
class Reference:
    """A paper or other source."""

    title: str
    authors: str
    year: int
    arxiv: str | None = None
    doi: str | None = None
    url: str | None = None
    note: str | None = None

    @property
    def link(self) -> str | None:
        if self.arxiv:
            return f"https://arxiv.org/abs/{self.arxiv}"
        if self.doi:
            return f"https://doi.org/{self.doi}"
        return self.url

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}


@dataclass(frozen=True)
class Entry:
    """One catalog function. Build entries with :func:`funclib.registry.load_catalog`.

    Attributes mirror the TOML fields of ``docs/catalog-format.md``; ``expr`` is the parsed
    formula with parameters as symbols, ``source`` the file the entry came from.
    """

    id: str
    name: str
    kind: str
    family: str
    summary: str
    formula: str | tuple[str, ...]
    expr: sp.Expr
    references: tuple[Reference, ...]
    source: str
    aliases: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    description: str = ""
    variables: tuple[str, ...] = ("x",)
    domain: Range = field(default_factory=Range.real_line)
    params: Mapping[str, Param] = field(default_factory=dict)
    variants: Mapping[str, Variant] = field(default_factory=dict)
    conventions: tuple[Convention, ...] = ()
    surrogate_gradient: sp.Expr | None = None
    special_cases: tuple[SpecialCase, ...] = ()
    claims: Mapping[str, Any] = field(default_factory=dict)
    implementations: tuple[Mapping[str, Any], ...] = ()
    jacobian: sp.Expr | None = None
    jacobian_formula: str | tuple[tuple[str, ...], ...] | None = None
    threshold: Threshold | None = None
    mask: Mask | None = None
    known_failures: tuple[KnownFailure, ...] = ()
    coincides: tuple[Coincidence, ...] = ()
    #: For a variant promoted to a function (``gelu:tanh``): (entry id, variant name).
    parent: tuple[str, str] | None = None

    # -- identity -----------------------------------------------------------------------
    def __repr__(self) -> str:
        return f"<funclib entry {self.id!r}: {self.name}>"

    @property
    def symbol(self) -> sp.Symbol:
        """The input symbol (the first variable; ``x_i`` for row-wise entries)."""
        if self.kind in VECTOR_KINDS:
            return make_symbol(f"{self.variables[0]}_i")
        return make_symbol(self.variables[0])

    @property
    def outputs(self) -> tuple[sp.Expr, ...]:
        """The output formulas: one for a scalar formula, one per component of a vector map
        (grouped entries write their group map as a list of formulas)."""
        if isinstance(self.expr, sp.MatrixBase):
            return tuple(self.expr)
        return (self.expr,)

    @property
    def is_row_reduction(self) -> bool:
        """True for a row-wise formula that does not use ``x_i`` (log-sum-exp: R^n -> R)."""
        return self.kind in VECTOR_KINDS and self.symbol not in self.expr.free_symbols

    # -- parameters ---------------------------------------------------------------------
    def all_params(self, variant: str | None = None) -> dict[str, Param]:
        """The entry's parameters plus those a variant adds."""
        params = dict(self.params)
        if variant is not None:
            params.update(self.variant(variant).params)
        return params

    def param_values(self, params: Mapping[str, float] | None = None, variant: str | None = None) -> dict[str, float]:
        """Defaults overridden by ``params``, each checked against its range."""
        known = self.all_params(variant)
        values = {name: p.default for name, p in known.items()}
        for name, value in (params or {}).items():
            if name not in known:
                raise ParameterError(
                    f"entry {self.id!r} has no parameter {name!r} "
                    f"(parameters: {', '.join(known) or 'none'})"
                )
            values[name] = known[name].check(value, self.id)
        return values

    @classmethod
    def from_formula(
        cls, text: str, params: Mapping[str, float] | None = None, *, variable: str = "x",
        name: str | None = None, family: str = "formula", summary: str = "a formula given by the user",
        source: str = "<formula>", field: str = "formula",
    ) -> "Entry":
        """An elementwise entry for a user's formula (allow-list parser, never ``eval``): the
        parameters ``params`` (name -> default) are admissible on the whole real line; parse
        errors name ``field``; ``name`` defaults to the parsed formula printed back."""
        params = dict(params or {})
        expr = parse_formula(text, (variable,), list(params), field=field)
        return cls(
            id="formula", name=to_formula(expr) if name is None else name, kind="elementwise", family=family,
            summary=summary, formula=text, expr=expr, references=(), source=source, variables=(variable,),
            params={n: Param(n, float(v), Range.real_line()) for n, v in params.items()},
        )

    def with_params(self, **values: float) -> "Entry":
        """A copy whose parameter defaults are ``values`` (validated against the ranges)."""
        self.param_values(values)  # validates names and ranges before anything changes
        new = {
            name: dataclasses.replace(p, default=float(values[name])) if name in values else p
            for name, p in self.params.items()
        }
        return dataclasses.replace(self, params=new)

    def variant_function(self, name: str) -> "Entry":
        """The variant ``name`` as a function of its own (id ``"entry:variant"``).

        It has what an entry has: its formula is the variant's, its parameters the entry's plus
        the variant's, and it keeps the special cases, known failures and implementations
        recorded for that variant. Its properties are the entry's proven variant properties (the
        same cache slot) while the parameters are at their defaults. Claims belong to the main
        formula and are not carried over.
        """
        v = self.variant(name)

        def mine(items):
            return tuple(dataclasses.replace(i, variant=None) for i in items if i.variant == name)

        return dataclasses.replace(
            self,
            id=f"{self.id}:{name}",
            name=f"{self.name} ({name})",
            summary=v.description or self.summary,
            formula=v.formula,
            expr=v.expr,
            params=self.all_params(name),
            variants={},
            special_cases=mine(self.special_cases),
            known_failures=mine(self.known_failures),
            implementations=tuple({k: val for k, val in i.items() if k != "variant"}
                                  for i in self.implementations if i.get("variant") == name),
            claims={},
            coincides=(),
            parent=(self.id, name),
        )

    # -- formulas -----------------------------------------------------------------------
    def variant(self, name: str) -> Variant:
        try:
            return self.variants[name]
        except KeyError:
            known = ", ".join(self.variants) or "none"
            raise KeyError(f"entry {self.id!r} has no variant {name!r} (variants: {known})") from None

    def formula_expr(self, variant: str | None = None) -> sp.Expr:
        """The symbolic formula (parameters as symbols) of the entry or one of its variants."""
        return self.expr if variant is None else self.variant(variant).expr

    def numeric_expr(
        self, variant: str | None = None, params: Mapping[str, float] | None = None
    ) -> sp.Expr:
        """The formula with every parameter replaced by its (exact) value.

        An implicit threshold (``threshold`` field) is replaced by its defining
        :class:`funclib.calculus.RowThreshold`, so the result is self-contained: expanding it
        for a row length gives outputs that :mod:`funclib.mpeval` evaluates and SymPy
        differentiates.
        """
        subs = self.param_subs(params, variant)
        return self._with_threshold(self.formula_expr(variant).subs(subs), subs)

    def _with_threshold(self, expr: sp.Expr, subs: Mapping[sp.Symbol, sp.Expr]) -> sp.Expr:
        if self.threshold is None:
            return expr
        t = self.threshold
        root = calculus.RowThreshold(t.equation.subs(subs), t.symbol, t.lower.subs(subs), t.upper.subs(subs))
        return expr.subs(t.symbol, root)

    def param_subs(
        self, params: Mapping[str, float] | None = None, variant: str | None = None
    ) -> dict[sp.Symbol, sp.Rational]:
        """Parameter symbols mapped to their exact (decimal) values: the substitution used
        everywhere a formula is evaluated."""
        values = self.param_values(params, variant)
        return {make_symbol(k): exact_decimal(v) for k, v in values.items()}

    def derivative(
        self,
        order: int = 1,
        *,
        variant: str | None = None,
        params: Mapping[str, float] | None = None,
        wrt: str | None = None,
        numeric: bool = False,
        stable: bool = True,
    ) -> sp.Expr:
        """Symbolic derivative of order ``order`` with respect to the input (or parameter ``wrt``).

        Parameters stay symbolic unless ``numeric=True`` or ``params`` is given. The result is
        stabilized (:func:`funclib.calculus.stabilize`) unless ``stable=False``; it is the form
        the proofs and the docs use. :meth:`evaluation_form` gives the same function with its
        cancelling sums rewritten, as the kernels evaluate it.
        """
        expr = (
            self.numeric_expr(variant, params)
            if numeric or params is not None
            else self.formula_expr(variant)
        )
        symbol = self.symbol if wrt is None else make_symbol(wrt)
        if wrt is not None and wrt not in self.all_params(variant) and wrt not in self.variables:
            raise ParameterError(f"entry {self.id!r} has no variable or parameter {wrt!r}")
        return calculus.derivative(expr, symbol, order, stable=stable)

    def evaluation_form(
        self,
        derivative: int = 0,
        *,
        variant: str | None = None,
        params: Mapping[str, float] | None = None,
    ) -> sp.Expr:
        """The value (``derivative=0``) or a derivative in the form the kernels evaluate.

        Equal to :meth:`derivative` (or the stabilized formula) wherever that is defined, with
        every cancelling sum and overflowing square rewritten exactly
        (:func:`funclib.stable_forms.evaluation_form`), so a float evaluation of it rounds as
        well as the kernels' does before their library-routine choices: squareplus' derivative
        :math:`(1 + x/\\sqrt{x^2 + b})/2` is :math:`b/(2\\sqrt{x^2+b}\\,(\\sqrt{x^2+b} - x))` for
        x < 0, not a difference that cancels to nothing. The kernels also enforce the entry's
        kink conventions; this form keeps the formula's own values at kinks.
        """
        # order 0 of derivative() is the stabilized formula
        return stable_forms.evaluation_form(self.derivative(derivative, variant=variant, params=params), self.symbol)

    def latex(self, variant: str | None = None, *, derivative: int = 0) -> str:
        """LaTeX of the formula (or of its ``derivative``-th derivative)."""
        expr = self.formula_expr(variant)
        if derivative:
            expr = self.derivative(derivative, variant=variant)
        return sp.latex(expr)

    def formula_text(self, variant: str | None = None, *, derivative: int = 0) -> str:
        """The formula (or a derivative) in funclib's parseable formula syntax."""
        expr = self.formula_expr(variant)
        if derivative:
            expr = self.derivative(derivative, variant=variant)
        return to_formula(expr)

    # -- row-wise -----------------------------------------------------------------------
    def jacobian_matrix(
        self, n: int | None = None, *, closed_form: bool = False, params: Mapping[str, float] | None = None
    ):
        """Jacobian for row length ``n``: symbolic (default) or the stored closed form.

        Row-wise entries: ``J[i, j] = dy_i/dx_j`` for rows of length ``n`` (with respect to the
        first variable; further row vectors such as Gumbel noise are held fixed). Grouped
        entries: the Jacobian of the group map (``n`` is ignored). Returns ``(inputs, matrix)``.
        """
        if self.kind == "grouped":
            return self._group_jacobian(closed_form=closed_form, params=params)
        if self.kind != "rowwise":
            raise TypeError(f"entry {self.id!r} is {self.kind}, not rowwise or grouped")
        if n is None:
            raise TypeError(f"entry {self.id!r}: give the row length n")
        expr = self.numeric_expr(params=params)
        if closed_form:
            if self.jacobian is None:
                raise ValueError(f"entry {self.id!r} stores no closed-form Jacobian")
            subs = self.param_subs(params)
            jac = self._with_threshold(self.jacobian.subs(subs), subs)
            return calculus.closed_form_jacobian(jac, expr, n, vectors=self.variables)
        return calculus.rowwise_jacobian(expr, n, vectors=self.variables)

    def _group_jacobian(self, *, closed_form: bool, params: Mapping[str, float] | None):
        inputs = [make_symbol(v) for v in self.variables]
        subs = self.param_subs(params)
        if closed_form:
            if self.jacobian is None:
                raise ValueError(f"entry {self.id!r} stores no closed-form Jacobian")
            return inputs, sp.Matrix(self.jacobian.subs(subs))
        outputs = [o.subs(subs) for o in self.outputs]
        return inputs, sp.Matrix(
            len(outputs), len(inputs), lambda i, j: calculus.ae_derivative(outputs[i], inputs[j])
        )

    # -- numbers ------------------------------------------------------------------------
    def reference_expr(self, *, variant: str | None = None, params: Mapping[str, float] | None = None,
                       order: int = 0) -> sp.Expr:
        """The expression :meth:`reference` evaluates: f (or its ``order``-th derivative) at the
        given parameters, in the form the oracle encloses best."""
        if self.kind not in ("elementwise",):
            raise TypeError(f"entry {self.id!r} is {self.kind}; reference() is elementwise")
        expr = self.numeric_expr(variant, params)
        from .mittag_leffler import eliminate

        # E_{a,b} at its closed-form parameters: the equal classic function, which arb encloses
        # at any magnitude (the Mittag-Leffler form overflows mpmath's erfc beyond |x| ~ 1e150)
        expr = eliminate(expr) or expr
        if order:
            expr = calculus.derivative(expr, self.symbol, order)
        return expr

    def reference(
        self,
        x: Sequence[float] | np.ndarray | float,
        *,
        variant: str | None = None,
        params: Mapping[str, float] | None = None,
        order: int = 0,
        dps: int = 40,
        undecided: list[float] | None = None,
    ) -> np.ndarray:
        """Correctly rounded float64 values of f (order 0) or its derivatives at float64 points.

        Each input is taken as its exact binary value; the exact result is enclosed with
        ``arb`` ball arithmetic at increasing precision until it rounds to one float64
        (:func:`funclib.oracle.reference_value`; mpmath at ``dps`` digits for the few
        functions the interval engine lacks). NaN maps to NaN; ±inf maps to the limit of the
        expression (:func:`funclib.limits.limit_at`). Where the oracle cannot decide the
        value it raises :class:`funclib.oracle.Undecided`, unless a list ``undecided`` is given:
        then such points are NaN in the result and appended to that list.
        """
        expr = self.reference_expr(variant=variant, params=params, order=order)
        points = np.asarray(x, dtype=np.float64)
        out = np.empty(points.shape, dtype=np.float64)
        flat_in, flat_out = points.reshape(-1), out.reshape(-1)
        limits: dict[float, float] = {}
        for k, t in enumerate(flat_in):
            t = float(t)
            if math.isnan(t):
                flat_out[k] = math.nan
            elif math.isinf(t):
                if t not in limits:
                    from .limits import limit_at

                    limits[t] = limit_at(expr, self.symbol, t)
                flat_out[k] = limits[t]
            else:
                try:
                    flat_out[k] = reference_value(expr, self.symbol, t, dps=dps)
                except Undecided:
                    if undecided is None:
                        raise
                    flat_out[k] = math.nan
                    undecided.append(t)
        return out

    def properties(self, variant: str | None = None, *, recompute: bool = False) -> "Properties":
        """Proven properties (slope bounds, range, monotonicity, ...) with their methods.

        Read from the committed property cache when it is fresh for this entry, else computed
        (which can take seconds: rigorous interval branch and bound).
        """
        from .properties import properties_of

        if self.parent is not None and variant is None and not recompute:
            from .registry import get

            base_id, name = self.parent
            base = get(base_id)
            if {n: p.default for n, p in base.all_params(name).items()} == {n: p.default for n, p in self.params.items()}:
                return base.properties(name)  # the proven (cached) variant slot
        return properties_of(self, variant, recompute=recompute)

    def relaxation(self, l, u, *, variant: str | None = None, params: Mapping[str, float] | None = None,
                   lower_slope=None) -> "Relaxation":
        r"""Proven linear bounds :math:`a_L x + b_L \le f(x) \le a_U x + b_U` on each interval
        :math:`[l, u]` (arrays, vectorized); the intercepts are proven with arb interval
        arithmetic, ``lower_slope`` overrides the lower slopes (α-CROWN). See
        :func:`funclib.relaxation.relax`."""
        from .relaxation import relax_entry

        return relax_entry(self, l, u, variant=variant, params=params, lower_slope=lower_slope)

    def kernel(self, *, dtype="float64", outputs=("value", "derivative"), params=None, variant=None,
               accuracy="fast", wrt=None, target="cpu", rewrite_search=None):
        """Compiled CPU kernel ``k(x, out=None, upstream=None, **params)`` fusing ``outputs``
        (``value``, ``derivative``, ``grad_params``); ``target="cuda"`` gives the CUDA kernel of
        the same generated code; ``rewrite_search=True`` opts a catalog entry into the rewrite
        search (user formulas have it by default); see :func:`funclib.kernels.entry_kernel`."""
        from .kernels import entry_kernel

        return entry_kernel(self, dtype=dtype, outputs=outputs, params=params, variant=variant,
                            accuracy=accuracy, wrt=wrt, target=target, rewrite_search=rewrite_search)

    def ufunc(self, *, dtype="float64", outputs=("value",), params=None, variant=None,
              accuracy="fast", param_inputs=False):
        """A NumPy ufunc (works with ``__array_ufunc__`` array types such as Dask arrays); see
        :func:`funclib.kernels.entry_ufunc`."""
        from .kernels import entry_ufunc

        return entry_ufunc(self, dtype=dtype, outputs=outputs, params=params, variant=variant,
                           accuracy=accuracy, param_inputs=param_inputs)

    def key(self) -> str:
        """Content hash of everything the derived properties depend on (for the cache)."""
        import hashlib

        parts = [
            self.kind,
            to_formula(self.expr),
            repr(sorted((n, p.default) for n, p in self.params.items())),
            repr(sorted((n, to_formula(v.expr)) for n, v in self.variants.items())),
        ]
        return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]
