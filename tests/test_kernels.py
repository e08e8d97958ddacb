"""Generated CPU kernels: API, shapes and strides, parameters at call time, special inputs,
parameter gradients, determinism, ufuncs, the disk cache, float32 purity and SIMD.

Accuracy in ULPs over the whole range is tests/test_accuracy.py; the math library itself is
tests/test_vecmath.py.
"""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

numba = pytest.importorskip("numba")

import funclib  # noqa: E402
from catalog_sample import slow_entries  # noqa: E402
from funclib.accuracy import ulp_error  # noqa: E402
from funclib.kernels import KernelError  # noqa: E402
from funclib.kernels import kernel as kernel_module  # noqa: E402
from funclib.kernels.mathlib.intrinsics import vector_registers  # noqa: E402

ELEMENTWISE = [e for e in funclib.entries() if e.kind == "elementwise"]
SLOW_ENTRIES = slow_entries(ELEMENTWISE)
POINTS = np.array([-750.0, -40.0, -6.5, -2.0, -0.7, -1e-300, -0.0, 0.0, 5e-324, 0.3, 1.0, 3.25, 12.0, 50.0, 800.0])
SAMPLE = ["gelu", "silu", "mish", "elu", "relu", "softplus", "tanh", "hard_tanh"]


def _check(y, ref, dtype, tol):
    err = ulp_error(y, ref, dtype)
    assert np.all(err <= tol), (err, y, ref)


# -- API -------------------------------------------------------------------------------

def test_compile_formula_value_and_derivative():
    k = funclib.compile("x*tanh(softplus(x))", dtype="float64")
    mish = funclib.get("mish")
    y, dy = k(POINTS)
    _check(y, mish.reference(POINTS), "float64", 4)
    _check(dy, mish.reference(POINTS, order=1), "float64", 4)
    assert k.outputs == ("value", "derivative")
    assert Path(k.path).read_text().startswith('"""funclib generated kernel')


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", SAMPLE)
def test_entry_kernel_matches_reference(name, dtype):
    from funclib.accuracy import known_inaccurate, measure

    entry = funclib.get(name)
    k = entry.kernel(dtype=dtype)
    for j, output in enumerate(("value", "derivative")):
        r = measure(entry, dtype=dtype, output=output, points=POINTS, kernel=lambda x, j=j: k(x)[j])
        if (name, None, dtype, output) in known_inaccurate():
            assert r.max_scaled < 2 * r.target, r.failures  # known, but no worse than documented
        else:
            assert r.passed, r.failures


def test_single_output_returns_an_array():
    k = funclib.get("silu").kernel(outputs=("derivative",))
    out = k(np.array([0.5, -1.0]))
    assert isinstance(out, np.ndarray) and out.shape == (2,)
    assert k(0.5).shape == ()  # scalar in, scalar out


def test_parameters_at_call_time_without_recompiling():
    elu = funclib.get("elu")
    k = elu.kernel(dtype="float64")
    x = np.array([-3.0, -0.5, 0.25, 2.0])
    for alpha in (0.5, 1.0, 2.5):
        y, dy = k(x, alpha=alpha)
        _check(y, elu.reference(x, params={"alpha": alpha}), "float64", 2)
        _check(dy, elu.reference(x, params={"alpha": alpha}, order=1), "float64", 2)
    again = elu.kernel(dtype="float64", params={"alpha": 2.5})
    assert again.module is k.module  # same compiled code, other defaults
    assert again(x)[0][0] == k(x, alpha=2.5)[0][0]


def test_parameter_errors_are_clear():
    k = funclib.get("elu").kernel()
    with pytest.raises(KernelError, match="no parameter 'beta'"):
        k(np.ones(3), beta=2.0)
    with pytest.raises(funclib.ParameterError, match="alpha"):
        k(np.ones(3), alpha=-1.0)  # outside (0, inf)
    f = funclib.compile("a*x", params=["a"])
    with pytest.raises(KernelError, match="no default"):
        f(np.ones(2))
    assert f(np.ones(2), a=3.0)[0][0] == 3.0


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: funclib.compile("x*y", variables=("x", "y")), "exactly one variable"),
        (lambda: funclib.compile("x", dtype="float16"), "float32 or float64"),
        (lambda: funclib.compile("x", outputs=("hessian",)), "unknown output"),
        (lambda: funclib.compile("x", accuracy="exact"), "accuracy"),
        (lambda: funclib.compile("lambertw(x)"), "no kernel implementation"),
        (lambda: funclib.get("relu").kernel(outputs=("grad_params",)), "no trainable"),
        (lambda: funclib.get("softmax").kernel(), "elementwise"),
    ],
)
def test_bad_requests_raise(call, message):
    with pytest.raises((KernelError, TypeError, ValueError), match=message):
        call()


# -- shapes, strides, out= ---------------------------------------------------------------

@pytest.fixture(scope="module")
def gelu32():
    return funclib.get("gelu").kernel(dtype="float32")


def _expected(k, x):
    flat = np.ascontiguousarray(x).reshape(-1)
    y, dy = k(flat)
    return y.reshape(x.shape), dy.reshape(x.shape)


@pytest.mark.parametrize(
    "make",
    [
        lambda a: a,  # C-contiguous 2-D
        lambda a: np.asfortranarray(a),
        lambda a: a[:, ::3],  # non-contiguous 2-D
        lambda a: a.T[::2],  # transposed + strided
        lambda a: a[2],  # 1-D contiguous row
        lambda a: a[:, 5],  # 1-D strided column
        lambda a: a[::-1, 4],  # negative stride
        lambda a: a.reshape(4, 6, 10),
        lambda a: a[:0],  # empty
    ],
    ids=["C", "F", "strided2d", "transposed", "row", "column", "reversed", "3d", "empty"],
)
def test_any_shape_and_layout(gelu32, make):
    base = np.linspace(-6, 6, 240, dtype=np.float32).reshape(24, 10)
    x = make(base)
    y, dy = gelu32(x)
    ey, edy = _expected(gelu32, x)
    assert y.shape == x.shape and dy.shape == x.shape and y.dtype == np.float32
    np.testing.assert_array_equal(y, ey)
    np.testing.assert_array_equal(dy, edy)


def test_out_arguments_including_strided(gelu32):
    x = np.linspace(-4, 4, 60, dtype=np.float32).reshape(6, 10)
    big_y = np.full((6, 20), np.nan, np.float32)
    dy = np.empty((6, 10), np.float32, order="F")
    ry, rdy = gelu32(x, out=(big_y[:, ::2], dy))
    ey, edy = _expected(gelu32, x)
    np.testing.assert_array_equal(big_y[:, ::2], ey)
    assert np.isnan(big_y[:, 1::2]).all()  # untouched
    np.testing.assert_array_equal(dy, edy)
    assert ry.base is big_y or ry is big_y or np.shares_memory(ry, big_y)
    with pytest.raises(KernelError, match="shape"):
        gelu32(x, out=(np.empty(3, np.float32), dy))


def test_inputs_are_converted_to_the_kernel_dtype(gelu32):
    y, _ = gelu32([1.0, 2.0])
    assert y.dtype == np.float32


# -- special inputs -------------------------------------------------------------------------

SPECIAL = [(e, s) for e in ELEMENTWISE for s in e.special_cases]


def _special_case_check(entry, case, dtype):
    k = entry.kernel(dtype=dtype, variant=case.variant)
    y, dy = k(np.array([case.input], dtype=dtype))
    if math.isnan(case.value):
        assert math.isnan(y[0])
    else:
        assert y[0] == pytest.approx(case.value, rel=1e-6 if dtype == "float32" else 1e-15, abs=0)
        if case.value == 0 and case.input == 0:
            assert math.copysign(1, y[0]) == math.copysign(1, case.value), "sign of zero"
    if case.derivative is not None:
        if math.isnan(case.derivative):
            assert math.isnan(dy[0])
        else:
            assert dy[0] == pytest.approx(case.derivative, rel=1e-6 if dtype == "float32" else 1e-15, abs=0)


SAMPLE_SPECIAL = [it for it in SPECIAL if it[0].id in SAMPLE]


@pytest.mark.parametrize("item", SAMPLE_SPECIAL, ids=lambda it: f"{it[0].id}-{it[1].input}-{it[1].variant}")
def test_special_cases_sample(item):
    _special_case_check(*item, "float64")


def _special_param(entry, case):
    """A special case, marked as a strict expected failure where the entry says its kernels miss it."""
    def same(a, b):
        return a == b and math.copysign(1, a) == math.copysign(1, b) or (math.isnan(a) and math.isnan(b))

    reasons = [r.reason for r in entry.known_failures
               if r.check == "kernel_special_case" and r.variant == case.variant and same(r.input, case.input)]
    marks = [pytest.mark.xfail(reason=reasons[0], strict=True)] if reasons else []
    return pytest.param((entry, case), marks=marks, id=f"{entry.id}-{case.input}-{case.variant}")


@pytest.mark.slow
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("item", [_special_param(e, c) for e, c in SPECIAL if e in SLOW_ENTRIES])
def test_special_cases_all(item, dtype):
    _special_case_check(*item, dtype)


def _infinities_check(entry, variant, dtype):
    k = entry.kernel(dtype=dtype, variant=variant)
    x = np.array([math.inf, -math.inf, math.nan], dtype=dtype)
    if not all(math.isinf(t) and t in entry.domain or math.isnan(t) for t in x):
        x = np.array([t for t in x if math.isnan(t) or t in entry.domain], dtype=dtype)
    y, dy = k(x)
    ref = entry.reference(x.astype(np.float64), variant=variant)
    dref = entry.reference(x.astype(np.float64), variant=variant, order=1)
    for got, want in ((y, ref), (dy, dref)):
        for g, w in zip(got, want):
            if math.isnan(w):
                assert math.isnan(g), (entry.id, x, got, want)
            else:
                assert float(g) == pytest.approx(float(w), rel=1e-6, abs=1e-300), (entry.id, x, got, want)


@pytest.mark.parametrize("name", SAMPLE)
def test_nan_and_infinities_sample(name):
    _infinities_check(funclib.get(name), None, "float64")


@pytest.mark.slow
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("case", [(e, v) for e in SLOW_ENTRIES for v in (None, *e.variants)],
                         ids=lambda c: f"{c[0].id}[{c[1]}]")
def test_nan_and_infinities_all(case, dtype):
    _infinities_check(case[0], case[1], dtype)


CONVENTIONS = [(e, c) for e in ELEMENTWISE for c in e.conventions]


@pytest.mark.parametrize("item", CONVENTIONS, ids=lambda it: f"{it[0].id}-at-{funclib.to_formula(it[1].at)}")
def test_kink_conventions(item):
    entry, convention = item
    values = {funclib.formula.make_symbol(k): v for k, v in entry.param_values().items()}
    at = float(convention.at.subs(values))
    want = float(convention.derivative.subs(values))
    dy = entry.kernel(outputs=("derivative",))(np.array([at]))
    assert dy[0] == pytest.approx(want, rel=4.5e-16, abs=0)  # the chosen branch, up to rounding


# -- parameter gradients (PAU) -------------------------------------------------------------

def _pau():
    try:
        return funclib.get("pau")
    except funclib.UnknownEntryError:
        pytest.skip("PAU entries not in the catalog")


def test_grad_params_against_the_symbolic_derivatives():
    pau = _pau()
    k = pau.kernel(dtype="float64", outputs=("value", "derivative", "grad_params"))
    assert set(k.wrt) == {n for n, p in pau.params.items() if p.trainable}
    rng = np.random.default_rng(3)
    x = rng.normal(size=3000) * 3
    g = rng.normal(size=3000)
    y, dy, grads = k(x, upstream=g)
    from funclib.npeval import np_evaluate

    for j, name in enumerate(k.wrt):
        d = pau.derivative(wrt=name).subs(pau.param_subs())
        expected = math.fsum(g * np_evaluate(d, {pau.symbol: x}))
        assert grads[j] == pytest.approx(expected, rel=1e-12, abs=1e-12), name
    # P(x) cancels near PAU's root and the quotient rule near its stationary points: the
    # accuracy harness measures these against the condition number; here a loose sanity check
    np.testing.assert_allclose(y[:50], pau.reference(x[:50]), rtol=1e-11, atol=1e-16)
    np.testing.assert_allclose(dy[:50], pau.reference(x[:50], order=1), rtol=1e-11, atol=1e-16)


def test_grad_params_are_deterministic_across_threads_and_paths():
    pau = _pau()
    k = pau.kernel(dtype="float32", outputs=("grad_params",))
    rng = np.random.default_rng(5)
    x = (rng.normal(size=300_001) * 2).astype(np.float32)
    g = rng.normal(size=x.size).astype(np.float32)
    results = []
    old_threads = numba.get_num_threads()
    old_threshold = kernel_module.PARALLEL_THRESHOLD
    try:
        for threads, threshold in ((old_threads, 1 << 16), (1, 1 << 16), (old_threads, 1 << 40)):
            numba.set_num_threads(threads)
            kernel_module.PARALLEL_THRESHOLD = threshold
            results.append(k(x, upstream=g))
    finally:
        numba.set_num_threads(old_threads)
        kernel_module.PARALLEL_THRESHOLD = old_threshold
    for r in results[1:]:
        np.testing.assert_array_equal(r, results[0])
    # and close to a float64 sum
    k64 = pau.kernel(dtype="float64", outputs=("grad_params",))
    np.testing.assert_allclose(results[0], k64(x.astype(np.float64), upstream=g.astype(np.float64)), rtol=2e-4)


def test_parallel_and_serial_elementwise_results_are_identical(gelu32):
    x = np.random.default_rng(0).normal(size=200_003).astype(np.float32) * 5
    y, dy = gelu32(x)  # parallel path
    ys = np.concatenate([gelu32(c)[0] for c in np.array_split(x, 64)])  # serial path
    np.testing.assert_array_equal(y, ys)


def test_grad_params_for_a_user_formula():
    k = funclib.compile("a*x + b*x**2", params={"a": 1.0, "b": 0.5}, outputs=("value", "grad_params"))
    x = np.array([1.0, 2.0, 3.0])
    y, grads = k(x, upstream=np.array([1.0, 1.0, 2.0]))
    np.testing.assert_allclose(y, x + 0.5 * x**2)
    np.testing.assert_allclose(grads, [1 + 2 + 6, 1 + 4 + 18])


# -- ufuncs ----------------------------------------------------------------------------

class Wrapped(np.lib.mixins.NDArrayOperatorsMixin):
    """A minimal array-like that implements __array_ufunc__ (as Dask or xarray do)."""

    def __init__(self, data):
        self.data = np.asarray(data)
        self.seen = []

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        raw = [i.data if isinstance(i, Wrapped) else i for i in inputs]
        self.seen.append(ufunc)
        result = getattr(ufunc, method)(*raw, **kwargs)
        if isinstance(result, tuple):
            return tuple(Wrapped(r) for r in result)
        return Wrapped(result)


def test_ufunc_is_a_real_numpy_ufunc_and_dispatches():
    gelu = funclib.get("gelu")
    u = gelu.ufunc()
    assert isinstance(u, np.ufunc) and u.nin == 1 and u.nout == 1
    x = np.linspace(-3, 3, 7)
    np.testing.assert_allclose(u(x), gelu.reference(x), rtol=1e-15)
    w = Wrapped(x)
    out = u(w)
    assert isinstance(out, Wrapped) and w.seen == [u]
    np.testing.assert_array_equal(out.data, u(x))
    # broadcasting and strides come from NumPy
    m = np.linspace(-2, 2, 12).reshape(3, 4)
    np.testing.assert_array_equal(u(m[:, ::2]), u(np.ascontiguousarray(m[:, ::2])))


def test_two_output_ufunc_with_parameter_inputs():
    elu = funclib.get("elu")
    u = elu.ufunc(outputs=("value", "derivative"), param_inputs=True)
    assert isinstance(u, np.ufunc) and (u.nin, u.nout) == (2, 2)
    x = np.array([-1.0, 0.5])
    y, dy = u(x[:, None], np.array([0.5, 2.0]))  # broadcast: 2 x 2
    assert y.shape == (2, 2)
    np.testing.assert_allclose(y[0], [0.5 * math.expm1(-1.0), 2.0 * math.expm1(-1.0)])
    np.testing.assert_allclose(dy[1], [1.0, 1.0])
    w = Wrapped(x)
    y2, _ = u(w, 1.0)
    assert isinstance(y2, Wrapped)


def test_dask_arrays_if_installed():
    da = pytest.importorskip("dask.array")
    u = funclib.get("silu").ufunc()
    x = da.from_array(np.linspace(-4, 4, 100), chunks=25)
    y = u(x)
    assert isinstance(y, da.Array)
    np.testing.assert_allclose(y.compute(), u(np.linspace(-4, 4, 100)))


# -- code: float32 purity, SIMD --------------------------------------------------------------

def _kernel_ir_lines(ir: str) -> list[str]:
    bodies = [b for b in ir.split("\ndefine ") if not re.match(r"[^(]*(cpython|cfunc)", b)]
    return [line for b in bodies for line in b.splitlines()]


@pytest.mark.parametrize("name, outputs", [("gelu", ("value", "derivative")), ("mish", ("value", "derivative")),
                                           ("pau", ("value", "grad_params"))])
def test_float32_kernels_never_compute_in_double(name, outputs):
    if name == "pau":
        _pau()
    k = funclib.get(name).kernel(dtype="float32", outputs=outputs)
    offending = [line for line in _kernel_ir_lines(k.inspect_llvm()) if re.search(r"\bdouble\b", line)]
    assert not offending, offending[:5]


def test_float64_kernel_ir_does_use_double():
    # the check above can fail: the same inspection finds doubles in a float64 kernel
    k = funclib.get("gelu").kernel(dtype="float64")
    assert any(re.search(r"\bdouble\b", line) for line in _kernel_ir_lines(k.inspect_llvm()))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", ["gelu", "silu", "elu"])
def test_kernels_are_vectorized(name, dtype):
    k = funclib.get(name).kernel(dtype=dtype)
    asm = k.inspect_asm()
    suffix = "pd" if dtype == "float64" else "ps"
    regs = "(?:" + "|".join(vector_registers()) + ")"
    packed = re.findall(rf"\bv?(?:fmadd\w*|fnmadd\w*|mul|add|sub|div|blendv){suffix}\b[^\n]*%{regs}", asm)
    assert len(packed) >= 10, f"{name} {dtype}: {len(packed)} packed instructions"


def test_libm_accuracy_mode():
    gelu = funclib.get("gelu")
    k = gelu.kernel(accuracy="libm")
    x = np.array([-3.0, -0.5, 0.0, 2.0])
    _check(k(x)[0], gelu.reference(x), "float64", 4 * np.maximum(1, x**2))  # kappa ~ x^2
    assert "lm.erfc_scaled_f64" in k.source and "vm." not in k.source


# -- the disk cache ----------------------------------------------------------------------------

def test_cache_directory_and_content_hash(tmp_path, monkeypatch):
    monkeypatch.setenv("FUNCLIB_CACHE_DIR", str(tmp_path))
    k = funclib.compile("x*sigmoid(1.25*x)", dtype="float64", outputs=("value",))
    path = Path(k.path)
    assert path.parent == tmp_path / "kernels" and path.name == f"fk_{k.key}.py"
    assert not list(path.parent.glob("*.tmp"))
    # a damaged file is regenerated
    path.write_text("garbage(")
    from funclib.kernels import api

    api._MEMO.clear()
    import sys as _sys

    _sys.modules.pop(f"funclib_kernel_cache_{k.key}", None)
    k2 = funclib.compile("x*sigmoid(1.25*x)", dtype="float64", outputs=("value",))
    assert k2(np.array([1.0]))[0] == pytest.approx(1 / (1 + math.exp(-1.25)))


def test_concurrent_processes_share_the_cache(tmp_path):
    script = textwrap.dedent(
        """
        import sys, numpy as np, funclib
        k = funclib.compile("x*tanh(softplus(1.5*x)) + x/7", dtype="float32")
        y, dy = k(np.linspace(-5, 5, 11, dtype=np.float32))
        print(repr(y.tobytes().hex()), repr(dy.tobytes().hex()), k.key)
        """
    )
    env = {**os.environ, "FUNCLIB_CACHE_DIR": str(tmp_path)}
    procs = [subprocess.Popen([sys.executable, "-c", script], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(2)]
    outs = [p.communicate(timeout=600) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, err
    assert outs[0][0] == outs[1][0]
    files = list((tmp_path / "kernels").glob("fk_*.py"))
    assert len(files) == 1 and not list((tmp_path / "kernels").glob("*.tmp"))


# -- command line ------------------------------------------------------------------------------

def test_cli_kernel_reports_accuracy_and_speed(capsys):
    from funclib.cli import main

    assert main(["kernel", "gelu", "--dtype", "float32", "--points", "12", "--bench", "--size", "4096"]) == 0
    out = capsys.readouterr().out
    assert "ULP error" in out and "Melem/s" in out and "derivative" in out
    assert main(["kernel", "x*sigmoid(x)", "--points", "10", "--json"]) == 0
    import json

    data = json.loads(capsys.readouterr().out)
    assert data["name"] == "x*sigmoid(x)" and {r["output"] for r in data["ulp"]} == {"value", "derivative"}
    assert all(r["passed"] for r in data["ulp"])


def test_cli_kernel_errors(capsys):
    from funclib.cli import main

    assert main(["kernel", "softmax"]) == 2
    from funclib.kernels.cuda.kernel import cuda_status

    if not cuda_status()[0]:  # no GPU and no simulator: a clear error, not a crash
        assert main(["kernel", "gelu", "--target", "cuda"]) == 2
    assert main(["kernel", "no_such_function"]) == 2
    assert "error" in capsys.readouterr().err


def test_tour_section(capsys):
    from funclib.kernels.cli import tour

    tour()
    out = capsys.readouterr().out
    assert "gelu" in out and "ULP" in out and "faster than NumPy" in out


_WIDE_CHECK = """
import numpy as np, funclib
k = funclib.get("silu").kernel(dtype="float32")
x = np.linspace(-30, 30, 4097, dtype=np.float32)
y, dy = k(x)
np.save("{out}", np.stack([y, dy]))
print(sum(line.count("zmm") for line in k.inspect_asm().splitlines() if "ps" in line))
"""


@pytest.mark.slow
def test_wide_vectors_are_an_opt_in_with_identical_results(tmp_path):
    from funclib.kernels.mathlib.intrinsics import wide_vector_features

    features = wide_vector_features()
    if features is None:
        pytest.skip("the host has no AVX-512")
    import subprocess
    import sys

    runs = {}
    for label, extra in (("default", {}), ("wide", {"NUMBA_CPU_FEATURES": features})):
        env = {**os.environ, "FUNCLIB_CACHE_DIR": str(tmp_path / label), "NUMBA_CACHE_DIR": str(tmp_path / f"nb-{label}"),
               **extra}
        out = tmp_path / f"{label}.npy"
        done = subprocess.run([sys.executable, "-c", _WIDE_CHECK.format(out=out)], env=env, capture_output=True,
                              text=True, timeout=600)
        assert done.returncode == 0, done.stderr[-2000:]
        runs[label] = (int(done.stdout.split()[-1]), np.load(out))
    assert runs["wide"][0] > 0  # packed float32 arithmetic on zmm registers
    np.testing.assert_array_equal(runs["default"][1], runs["wide"][1])
