"""Public entry points: :func:`compile` (a formula), :func:`entry_kernel` and
:func:`entry_ufunc` (a catalog entry, behind ``Entry.kernel`` / ``Entry.ufunc``)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence

import numpy as np

from ..formula import parse_formula
from .cache import load_module
from .codegen import OUTPUT_NAMES, KernelSpec, generate_source
from .kernel import Kernel
from .printer import KernelError

__all__ = ["compile", "entry_kernel", "entry_spec", "entry_ufunc", "formula_ufunc"]

_MEMO: dict[str, object] = {}
_MEMO_LOCK = threading.Lock()


def _dtype_name(dtype) -> str:
    try:
        name = np.dtype(dtype).name
    except TypeError:
        raise KernelError(f"dtype must be float32 or float64, got {dtype!r}") from None
    if name not in ("float32", "float64"):
        raise KernelError(f"dtype must be float32 or float64, got {dtype!r}")
    return name


def _outputs(outputs) -> tuple[str, ...]:
    if isinstance(outputs, str):
        outputs = (outputs,)
    outputs = tuple(outputs)
    if not outputs:
        raise KernelError("outputs must name at least one of " + ", ".join(OUTPUT_NAMES))
    for o in outputs:
        if o not in OUTPUT_NAMES:
            raise KernelError(f"unknown output {o!r} (choose from {', '.join(OUTPUT_NAMES)})")
    if len(set(outputs)) != len(outputs):
        raise KernelError(f"outputs repeat a name: {outputs}")
    return outputs


def _accuracy(accuracy: str) -> str:
    if accuracy not in ("fast", "libm"):
        raise KernelError(f"accuracy must be 'fast' (funclib's vectorizable math) or 'libm', got {accuracy!r}")
    return accuracy


def _target(target: str) -> str:
    if target not in ("cpu", "cuda"):
        raise KernelError(f"target must be 'cpu' or 'cuda', got {target!r}")
    return target


def _build(spec: KernelSpec, *, defaults=None, check=None, target: str = "cpu"):
    if _target(target) == "cuda":
        from .cuda.kernel import build_cuda_kernel  # imports numba.cuda only now

        return build_cuda_kernel(spec, defaults=defaults, check=check)
    key = spec.key()
    with _MEMO_LOCK:
        module = _MEMO.get(key)
    generated = False
    if module is None:
        module, generated = load_module(key, lambda: generate_source(spec))
        with _MEMO_LOCK:
            _MEMO[key] = module
    return Kernel(module, defaults=defaults, check=check, generated=generated)


def compile(  # noqa: A001 - the natural name; shadows the builtin only inside this module
    formula: str,
    variables: Sequence[str] = ("x",),
    params: Mapping[str, float | None] | Sequence[str] | None = None,
    *,
    dtype="float64",
    outputs: Sequence[str] | str = ("value", "derivative"),
    accuracy: str = "fast",
    wrt: Sequence[str] | None = None,
    name: str = "formula",
    target: str = "cpu",
    rewrite_search: bool = True,
) -> Kernel:
    """Compile a formula into a fused CPU kernel ``k(x, out=None, upstream=None, **params)``.

    Parameters
    ----------
    formula : str
        Elementwise formula in funclib's grammar (``"x*tanh(softplus(x))"``), parsed by the
        allow-list parser (never evaluated).
    variables : sequence of str
        The input variable (exactly one: kernels are elementwise).
    params : mapping or sequence, optional
        Parameters: ``{name: default}`` (a default of None must be passed at each call) or
        a list of names. They are runtime arguments: new values need no recompilation.
    dtype : {"float64", "float32"}
        Input, output and arithmetic precision (float32 kernels compute in float32).
    outputs : sequence of {"value", "derivative", "grad_params"}
        What a call returns, fused in one pass; ``grad_params`` is
        :math:`\\sum_i g_i\\,\\partial f/\\partial\\theta(x_i)` for the parameters ``wrt``.
    accuracy : {"fast", "libm"}
        ``fast``: funclib's vectorizable math (:mod:`funclib.kernels.mathlib.vecmath`, a few ULP);
        ``libm``: the C library's scalar functions.
    wrt : sequence of str, optional
        Parameters for ``grad_params`` (default: all).
    target : {"cpu", "cuda"}
        ``cuda``: the same generated code as CUDA kernels
        (:class:`funclib.kernels.cuda.kernel.CudaKernel`; needs numba-cuda and a GPU, or
        ``NUMBA_ENABLE_CUDASIM=1``; see ``docs/cuda.md``).
    rewrite_search : bool
        Search for more accurate forms of outputs that miss the ULP target
        (:mod:`funclib.kernels.rewrite_search`, a few seconds at most per output, once: the
        outcome is cached with the kernel and listed in its module's ``REWRITES``).

    Returns
    -------
    Kernel
        Also cached on disk (``$FUNCLIB_CACHE_DIR``), so later processes skip code generation
        and Numba compilation.
    """
    variables = tuple(variables)
    if len(variables) != 1:
        raise KernelError(f"kernels are elementwise: give exactly one variable, got {variables}")
    if params is None:
        defaults: dict[str, float | None] = {}
    elif isinstance(params, Mapping):
        defaults = {k: (None if v is None else float(v)) for k, v in params.items()}
    else:
        defaults = {k: None for k in params}
    if not isinstance(formula, str):
        raise KernelError(f"formula must be a string, got {type(formula).__name__}")
    expr = parse_formula(formula, variables, list(defaults), field="compile")
    names = tuple(defaults)
    wrt_t = names if wrt is None else tuple(wrt)
    for p in wrt_t:
        if p not in names:
            raise KernelError(f"wrt names {p!r}, which is not a parameter ({', '.join(names) or 'none'})")
    spec = KernelSpec(
        name=name,
        expr=expr,
        variable=variables[0],
        params=names,
        defaults=tuple(defaults[n] for n in names),
        wrt=wrt_t,
        dtype=_dtype_name(dtype),
        outputs=_outputs(outputs),
        accuracy=_accuracy(accuracy),
        rewrite_search=bool(rewrite_search),
    )
    return _build(spec, target=target)


def _user_formula(entry) -> bool:
    """Whether ``entry`` is a user's formula (:meth:`funclib.Entry.from_formula`, id ``formula``)
    rather than a catalog entry."""
    return entry.id == "formula"


def entry_spec(
    entry,
    *,
    dtype="float64",
    outputs: Sequence[str] | str = ("value", "derivative"),
    params: Mapping[str, float] | None = None,
    variant: str | None = None,
    accuracy: str = "fast",
    wrt: Sequence[str] | None = None,
    baked: bool = False,
    rewrite_search: bool | None = None,
) -> tuple[KernelSpec, dict[str, float], Callable[[str, float], float]]:
    """The :class:`~funclib.kernels.codegen.KernelSpec` of an elementwise entry, checked.

    The one place where an :class:`~funclib.entry.Entry` becomes a kernel specification: the
    kernels (:func:`entry_kernel`, :func:`entry_ufunc`) and the source export
    (:mod:`funclib.export.plan`) build their specs here, so both see the same expression,
    derivative conventions and parameter ranges.

    Parameters
    ----------
    entry : funclib.Entry
        An elementwise entry (a catalog entry or :meth:`funclib.Entry.from_formula`).
    dtype, outputs, accuracy, variant, wrt, rewrite_search
        As in :func:`entry_kernel`.
    params : mapping, optional
        Parameter values; range-checked, missing ones take the entry's defaults.
    baked : bool
        True: the parameter values become constants of the generated code (no parameter
        arguments, no ``grad_params``); False: they are the kernel's runtime defaults.

    Returns
    -------
    spec : KernelSpec
    values : dict
        The parameter values (checked, defaults filled in).
    check : callable
        ``check(name, value)`` range-checks a value passed to the kernel at call time.

    Raises
    ------
    KernelError
        Not elementwise, unknown ``wrt`` parameter, ``grad_params`` without parameters to
        differentiate, or a bad ``dtype``/``outputs``/``accuracy``.
    funclib.entry.ParameterError
        A parameter value out of its range or an unknown parameter name.
    """
    if entry.kind != "elementwise":
        raise KernelError(f"entry {entry.id!r} is {entry.kind}; elementwise kernels need an elementwise entry")
    known = entry.all_params(variant)
    values = entry.param_values(params, variant)  # validates names and ranges
    names = tuple(known)
    outputs = _outputs(outputs)
    if wrt is None:
        wrt_t = tuple(n for n, p in known.items() if p.trainable)
    else:
        wrt_t = tuple(wrt)
        for p in wrt_t:
            if p not in known:
                raise KernelError(f"entry {entry.id!r} has no parameter {p!r}")
    if "grad_params" in outputs and not wrt_t:
        raise KernelError(
            f"entry {entry.id!r} has no trainable parameters; pass wrt=[...] to differentiate others"
        )
    conventions = tuple((c.at, c.derivative) for c in entry.conventions)
    spec = KernelSpec(
        name=entry.id,
        expr=entry.formula_expr(variant),
        variable=entry.variables[0],
        params=() if baked else names,
        defaults=() if baked else tuple(known[n].default for n in names),
        wrt=() if baked else wrt_t,
        dtype=_dtype_name(dtype),
        outputs=outputs,
        accuracy=_accuracy(accuracy),
        variant=variant,
        baked=tuple((n, values[n]) for n in names) if baked else (),
        conventions=conventions,
        rewrite_search=_user_formula(entry) if rewrite_search is None else bool(rewrite_search),
        param_info=tuple((n, known[n]) for n in names),
    )

    def check(name: str, value: float) -> float:
        return known[name].check(value, entry.id)

    return spec, values, check


def entry_kernel(
    entry,
    *,
    dtype="float64",
    outputs: Sequence[str] | str = ("value", "derivative"),
    params: Mapping[str, float] | None = None,
    variant: str | None = None,
    accuracy: str = "fast",
    wrt: Sequence[str] | None = None,
    target: str = "cpu",
    rewrite_search: bool | None = None,
) -> Kernel:
    """The kernel of a catalog entry (see :meth:`funclib.Entry.kernel`).

    ``params`` become the kernel's defaults (range-checked); every call may override them.
    ``grad_params`` differentiates the entry's trainable parameters unless ``wrt`` says
    otherwise. ``target="cuda"`` builds the CUDA kernel from the same generated code.
    ``rewrite_search`` (:mod:`funclib.kernels.rewrite_search`): None searches for user formulas
    (:meth:`funclib.Entry.from_formula`) only, so catalog kernels stay as generated; True
    opts a catalog entry in.
    """
    spec, values, check = entry_spec(entry, dtype=dtype, outputs=outputs, params=params, variant=variant,
                                     accuracy=accuracy, wrt=wrt, rewrite_search=rewrite_search)
    return _build(spec, defaults=values, check=check, target=target)


def entry_ufunc(
    entry,
    *,
    dtype="float64",
    outputs: Sequence[str] | str = ("value",),
    params: Mapping[str, float] | None = None,
    variant: str | None = None,
    accuracy: str = "fast",
    param_inputs: bool = False,
) -> np.ufunc:
    """A NumPy ufunc of a catalog entry (see :meth:`funclib.Entry.ufunc`).

    With ``param_inputs=False`` the parameter values (``params`` or the defaults) are
    compiled in and the ufunc takes ``x`` only; with ``True`` it takes ``x`` followed by every
    parameter (in ``entry.all_params(variant)`` order), broadcast like any ufunc input.
    """
    outputs = _outputs(outputs)
    if "grad_params" in outputs:
        raise KernelError("grad_params is a reduction, not an elementwise output; use entry.kernel()")
    spec, values, _ = entry_spec(entry, dtype=dtype, outputs=outputs, params=params, variant=variant,
                                 accuracy=accuracy, wrt=(), baked=not param_inputs)
    return _ufunc(spec)


def formula_ufunc(
    formula: str,
    variables: Sequence[str] = ("x",),
    params: Sequence[str] = (),
    *,
    dtype="float64",
    outputs: Sequence[str] | str = ("value",),
    accuracy: str = "fast",
) -> np.ufunc:
    """A NumPy ufunc of a formula: inputs ``x`` then each parameter of ``params``."""
    kernel = compile(formula, variables, list(params), dtype=dtype, outputs=outputs, accuracy=accuracy, wrt=())
    return _cached_ufunc(kernel.key, kernel.module, len(kernel.params), kernel.name)


def _ufunc(spec: KernelSpec) -> np.ufunc:
    kernel = _build(spec)
    return _cached_ufunc(kernel.key, kernel.module, len(spec.params), spec.name)


_UFUNCS: dict[str, np.ufunc] = {}


def _cached_ufunc(key, module, n_params, name) -> np.ufunc:
    from .ufuncs import build_ufunc

    with _MEMO_LOCK:
        if key in _UFUNCS:
            return _UFUNCS[key]
    uf = build_ufunc(module, n_params, name)
    with _MEMO_LOCK:
        _UFUNCS[key] = uf
    return uf
