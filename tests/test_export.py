"""funclib export: every target's output imported or compiled and compared with the catalog's
correctly rounded reference (funclib.oracle) on a grid with tails, ±0, ±inf and NaN."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess

import numpy as np
import pytest

import funclib
from funclib.cli import main
from funclib.export import ExportError, export

#: (entry or formula, parameters): plain, tails that overflow naively (mish, golu), a kink with
#: a convention (elu), a user formula with a parameter, a parametric entry away from its defaults.
CASES = [("gelu", {}), ("mish", {}), ("golu", {}), ("elu", {"alpha": 0.7}), ("x*sigmoid(b*x)", {"b": 1.5}),
         ("xgelu", {"alpha": 0.25})]
IDS = [c[0] for c in CASES]

X = np.concatenate([np.linspace(-12, 12, 61), [0.0, -0.0, 1e-300, -1e-300, -20.5, 19.75, -40.0, 30.5, -700.0, 750.0,
                                                 -1e10, 1e10, -1e300, 1e300, np.inf, -np.inf, np.nan]])
with np.errstate(over="ignore"):
    X32 = np.unique(X.astype(np.float32))  # float32 grid (|x| beyond 3.4e38 became ±inf)

#: float64 relative tolerance: a few ULP times the condition number in the deep tails (golu's
#: exp(-exp(-x)) at x = -6 has condition number about 400)
RTOL64, RTOL32 = 1e-12, 2e-5


def _entry(name, params):
    return funclib.get(name) if "(" not in name else funclib.Entry.from_formula(name, params)


_REFS: dict = {}


def _reference(name, params, x):
    key = (name, tuple(sorted(params.items())), x.dtype.str)
    if key not in _REFS:
        e = _entry(name, params)
        kw = {"params": params or None} if "(" not in name else {}
        xs = x.astype(np.float64)
        _REFS[key] = (e.reference(xs, **kw), e.reference(xs, order=1, **kw))
    return _REFS[key]


def _agree(got, want, rtol, atol=0.0):
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    same = (got == want) | (np.isnan(got) & np.isnan(want))
    with np.errstate(invalid="ignore"):
        close = np.abs(got - want) <= rtol * np.abs(want) + atol
    bad = ~(same | (np.isfinite(want) & close))
    assert not bad.any(), list(zip(np.flatnonzero(bad)[:5], got[bad][:5], want[bad][:5]))


def _check(name, params, x, outs, rtol, atol=0.0):
    """outs: (value, derivative, value of value_and_derivative, derivative of it)."""
    ref, dref = _reference(name, params, x)
    if x.dtype == np.float32:  # the reference rounded to float32 (subnormal tails flush)
        ref, dref = ref.astype(np.float32), dref.astype(np.float32)
    # f' has a root in [-2, -0.5] for these gates (mish, gelu, golu, silu), where its O(1) terms
    # cancel: there an absolute error of a few ULP of 1 is what any evaluation in the format gives
    with np.errstate(invalid="ignore"):
        atol_d = np.where(np.abs(x) <= 4, 8 * np.finfo(x.dtype).eps, atol)
    v, d, v2, d2 = outs  # the fused function shares other subexpressions: checked on its own
    for got, want, tol in ((v, ref, atol), (d, dref, atol_d), (v2, ref, atol), (d2, dref, atol_d)):
        _agree(got, want, rtol, tol)


def _load(tmp_path, text, name):
    path = tmp_path / f"{name}.py"
    path.write_text(text)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _python_outputs(module, x):
    v, d = module.value(x), module.derivative(x)
    v2, d2 = module.value_and_derivative(x)
    return [np.asarray(a) for a in (v, d, v2, d2)]


@pytest.mark.parametrize(("name", "params"), CASES, ids=IDS)
def test_numpy(tmp_path, name, params):
    text = export(name, "numpy", params=params)
    assert "funclib" not in [line.split()[1] for line in text.splitlines() if line.startswith("import ")]
    m = _load(tmp_path, text, "exp_np")
    with np.errstate(all="raise"):  # the module silences its own intermediate overflow
        outs64, outs32 = _python_outputs(m, X), _python_outputs(m, X32)
    _check(name, params, X, outs64, RTOL64)
    _check(name, params, X32, outs32, RTOL32, atol=1e-37)
    assert m.value(X32).dtype == np.float32 and m.derivative(np.float16([1, -2])).dtype == np.float16
    with pytest.raises(TypeError, match="int64"):
        m.value(np.arange(3))


@pytest.mark.parametrize(("name", "params"), CASES, ids=IDS)
def test_torch(tmp_path, name, params):
    torch = pytest.importorskip("torch")
    m = _load(tmp_path, export(name, "torch", params=params), "exp_torch")
    _check(name, params, X, _python_outputs(m, torch.tensor(X)), RTOL64)
    _check(name, params, X32, _python_outputs(m, torch.tensor(X32)), RTOL32, atol=1e-37)
    # autograd through Function/Module uses the exported derivative
    t = torch.linspace(-5, 5, 11, dtype=torch.float64, requires_grad=True)
    m.Module()(t).sum().backward()
    assert torch.equal(t.grad, m.derivative(t.detach()))
    with pytest.raises(TypeError, match="int64"):
        m.value(torch.arange(3))
    assert m.value(torch.ones(2, dtype=torch.bfloat16)).dtype == torch.bfloat16


@pytest.mark.parametrize(("name", "params"), CASES[:3] + CASES[4:5], ids=IDS[:3] + IDS[4:5])
def test_jax(tmp_path, name, params):
    jax = pytest.importorskip("jax")
    import jax.numpy as jnp

    m = _load(tmp_path, export(name, "jax", params=params), "exp_jax")
    with jax.enable_x64(True):
        _check(name, params, X, _python_outputs(m, jnp.asarray(X)), RTOL64)
        g = jax.jit(jax.vmap(jax.grad(m.value)))(jnp.linspace(-5.0, 5.0, 11))  # custom_jvp = derivative
        # jit fuses differently: equal to a few ULP
        np.testing.assert_allclose(np.asarray(g), np.asarray(m.derivative(jnp.linspace(-5.0, 5.0, 11))), rtol=1e-14)
    _check(name, params, X32, _python_outputs(m, jnp.asarray(X32)), RTOL32, atol=1e-37)


_HARNESS = r"""
#include <stdio.h>
#include "export.h"
int main(void) {
    T x, v, d;
    while (fread(&x, sizeof x, 1, stdin) == 1) {
        NAME_value_and_derivative(x, &v, &d);
        T out[4] = {NAME_value(x), NAME_derivative(x), v, d};
        fwrite(out, sizeof out, 1, stdout);
    }
    return 0;
}
"""


def _run_c(tmp_path, text, x, compiler, flags, prefix="f"):
    (tmp_path / "export.h").write_text(text)
    ctype = "float" if x.dtype == np.float32 else "double"
    suffix = ".cu" if compiler == "nvcc" else ".c"
    (tmp_path / f"main{suffix}").write_text(_HARNESS.replace("NAME", prefix).replace("T ", f"{ctype} ", 2))
    exe = tmp_path / "main"
    subprocess.run([compiler, *flags, "-o", str(exe), str(tmp_path / f"main{suffix}"), "-lm"], check=True,
                   capture_output=True, cwd=tmp_path)
    out = subprocess.run([str(exe)], input=x.tobytes(), capture_output=True, check=True).stdout
    return np.frombuffer(out, dtype=x.dtype).reshape(-1, 4).T


_CC = shutil.which("cc")
_C_FLAGS = ["-std=c99", "-O2", "-Wall", "-Werror", "-Wno-unused-variable"]


@pytest.mark.skipif(_CC is None, reason="no C compiler (cc) on this system")
@pytest.mark.parametrize(("name", "params"), CASES, ids=IDS)
@pytest.mark.parametrize("target", ["c", "cuda"])
def test_c(tmp_path, name, params, target):
    """The C text, and the CUDA text's host path (its functions are plain C without nvcc),
    compiled with the system compiler in both precisions."""
    for x, dtype, rtol, atol in ((X, "float64", RTOL64, 0.0), (X32, "float32", RTOL32, 1e-37)):
        text = export(name, target, params=params, dtype=dtype, name="f")
        _check(name, params, x, _run_c(tmp_path, text, x, _CC, _C_FLAGS), rtol, atol)


@pytest.mark.skipif(shutil.which("nvcc") is None, reason="no CUDA compiler (nvcc)")
@pytest.mark.parametrize(("name", "params"), [CASES[0], CASES[2], CASES[3]], ids=["gelu", "golu", "elu"])
def test_cuda_nvcc(tmp_path, name, params):
    """nvcc compiles the CUDA text (kernel included) and its __host__ __device__ functions,
    run on the host, agree with the reference (no GPU needed)."""
    text = export(name, "cuda", params=params, name="f")
    assert "__global__ void f_kernel" in text
    _check(name, params, X, _run_c(tmp_path, text, X, "nvcc", ["-O2"]), RTOL64)


@pytest.mark.parametrize(("args", "message"), [
    (["gelux", "--to", "c"], "unknown function 'gelux'"),
    (["gelu", "--to", "fortran"], "unknown target 'fortran'"),
    (["x*((", "--to", "numpy"], "x*(("),
    (["__import__('os').system('true')", "--to", "numpy"], "__import__"),
    (["softmax", "--to", "c"], "rowwise"),
    (["gelu", "--to", "c", "--param", "foo=1"], "no parameter 'foo'"),
    (["elu", "--to", "c", "--param", "alpha=-1e400"], "alpha"),
    (["x*sigmoid(b*x)", "--to", "c"], "b"),
    (["loggamma(1 + x**2)", "--to", "c"], "'digamma' has no c printer"),  # in the derivative
    (["gamma(x)", "--to", "torch"], "'gamma' has no torch printer"),
    (["gelu", "--to", "c", "--name", "a;b"], "C identifier"),
    (["gelu", "--to", "torch", "--dtype", "float32"], "--dtype applies to C"),
    (["gelu", "--to", "c", "--dtype", "int8"], "float64 or float32"),
    (["gelu", "--to", "c", "--variant", "nope"], "nope"),
])
def test_bad_input(capsys, args, message):
    assert main(["export", *args]) == 2
    out, err = capsys.readouterr()
    assert out == "" and len(err.strip().splitlines()) == 1 and message in err and "Traceback" not in err


def test_cli_prints_module(capsys):
    assert main(["export", "gelu", "--variant", "tanh", "--to", "c"]) == 0
    text = capsys.readouterr().out
    assert "gelu_tanh_value(double x)" in text and "Hendrycks" in text and "f(x) = x*sigmoid(" in text


def test_header_cannot_end_comment():
    with pytest.raises(ExportError):
        export("gelu", "c", name="x*/")
    text = export("x*tanh(x)", "c")  # formula text only through to_formula, one line each
    assert text.index("*/") > text.index("generated by funclib")  # the first comment end is the header's
