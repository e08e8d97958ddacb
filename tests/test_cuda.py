"""CUDA target tests, run under the CUDA simulator in subprocesses.

The pytest process has already imported Numba without ``NUMBA_ENABLE_CUDASIM``, and Numba
reads that variable once, at import; so every CUDA check runs in a fresh interpreter started
with ``NUMBA_ENABLE_CUDASIM=1`` that executes this file's ``_check_*`` functions (``python
tests/test_cuda.py GROUP``) and fails with a message when a check fails. No GPU is needed.
On a machine with a GPU the same groups run on it when ``FUNCLIB_CUDA_TEST_GPU=1`` is set.

Agreement with the CPU kernels (documented in docs/cuda.md):

* bitwise: ReLU and PAU (arithmetic only) in both dtypes; SiLU, Mish, softplus, ELU in
  float64 against the CPU ``accuracy="libm"`` kernel (the simulator's math is the same C
  library); tropical kernels (additions and comparisons only);
* within ``ELEMENTWISE_ULP`` ULP of the CPU ``libm`` kernel (same stable formula) and
  ``FAST_ULP`` of the CPU ``fast`` kernel for every sampled entry and dtype (derivatives in ULPs
  of ``max(|f'|, DERIVATIVE_FLOOR)``);
* row-wise maps within ``ROW_TOL`` x eps (absolute, values O(1)) of the CPU kernels.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from helpers import max_ulp_distance

HERE = Path(__file__).resolve()
ROOT = HERE.parents[1]
ELEMENTWISE = ("gelu", "silu", "mish", "golu", "softplus", "elu", "relu", "pau", "tanhshrink")
ELEMENTWISE_ULP = 8
#: Against the CPU ``fast`` kernel (other math library; ill-conditioned points such as GoLU's
#: double exponential in float32 amplify both libraries' rounding).
FAST_ULP = 64
ROW_TOL = 32
#: Derivatives are compared in ULPs of max(|f'|, DERIVATIVE_FLOOR) (cancellation near zeros of f').
DERIVATIVE_FLOOR = 2.0**-4


def _run(group: str, *, sim: bool = True, timeout: int = 300, extra=()) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    if sim and not os.environ.get("FUNCLIB_CUDA_TEST_GPU"):
        env["NUMBA_ENABLE_CUDASIM"] = "1"
    elif not sim:
        env.pop("NUMBA_ENABLE_CUDASIM", None)
    env["PYTHONWARNINGS"] = "ignore"
    return subprocess.run([sys.executable, str(HERE), group, *extra], env=env, capture_output=True,
                          text=True, timeout=timeout, cwd=ROOT)


def _check_ok(group: str, timeout: int = 300):
    proc = _run(group, timeout=timeout)
    assert proc.returncode == 0, f"{group} failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    return proc.stdout


# ------------------------------------------------------------------------------------------
# checks that run without CUDA at all
# ------------------------------------------------------------------------------------------
def test_import_does_not_import_numba_cuda():
    code = ("import sys, funclib, funclib.kernels, funclib.kernels.api, funclib.kernels.tropical;"
            "funclib.get('relu');"
            "print('numba.cuda' in sys.modules, 'numba_cuda' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "False"], out.stdout


def test_bad_target_is_a_clear_error():
    import funclib
    from funclib.kernels import KernelError

    with pytest.raises(KernelError, match="target must be 'cpu' or 'cuda'"):
        funclib.compile("x*x", target="tpu")


def test_cli_without_cuda_explains_the_simulator():
    proc = _run("cli-nocuda", sim=False, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_cpu_tropical_kernels_match_the_reference():
    from funclib import tropical as ref
    from funclib.kernels import tropical as cpu

    rng = np.random.default_rng(3)
    for dt in (np.float32, np.float64):
        a = rng.integers(-3, 4, (2, 4, 6)).astype(dt)  # integers: many ties
        b = rng.integers(-3, 4, (2, 6, 5)).astype(dt)
        a[0, 1, 2] = np.nan
        a[1, 2, :] = -np.inf
        c0, k0 = ref.maxplus_matmul(a, b)
        c1, k1 = cpu.maxplus_matmul(a, b)
        assert c1.dtype == dt
        np.testing.assert_array_equal(c1, c0.astype(dt))
        np.testing.assert_array_equal(k1, k0)
        q = rng.integers(-2, 3, (2, 4, 5)).astype(dt)
        k = rng.integers(-2, 3, (2, 3, 5)).astype(dt)
        for got, want in zip(cpu.hilbert_score(q, k), ref.hilbert_score(q, k)):
            np.testing.assert_array_equal(got, want.astype(got.dtype))
    with pytest.raises(ValueError, match="inner dimensions"):
        cpu.maxplus_matmul(np.zeros((2, 3)), np.zeros((4, 2)))
    with pytest.raises(ValueError, match="batch"):
        cpu.hilbert_score(np.zeros((2, 2, 3)), np.zeros((3, 2, 3)))


# ------------------------------------------------------------------------------------------
# simulator checks (each group in its own interpreter)
# ------------------------------------------------------------------------------------------
def test_sim_elementwise_matches_cpu():
    _check_ok("elementwise")


@pytest.mark.slow  # 17 s on 2 cores: the default run keeps the elementwise simulator check
def test_sim_grad_params_deterministic():
    _check_ok("grad")


def test_sim_device_arrays_streams_float16():
    _check_ok("device")


@pytest.mark.slow  # 52 s on 2 cores: the default run keeps the elementwise simulator check
def test_sim_rowwise_matches_cpu():
    _check_ok("rowwise")


def test_sim_tropical_bitwise():
    _check_ok("tropical")


@pytest.mark.slow
def test_sim_rowwise_sweep():
    _check_ok("rowwise-sweep", timeout=1800)


@pytest.mark.slow
def test_gpu_check_smoke(tmp_path):
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="1", PYTHONWARNINGS="ignore")
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu_check.py"), "--smoke", str(tmp_path)],
                          env=env, capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    data = json.loads((tmp_path / "gpu_check_smoke.json").read_text())
    assert data["smoke"] and data["copy"]["gbytes_per_s"] > 0
    assert {r["name"] for r in data["elementwise"]} == {"gelu", "silu", "mish", "golu", "pau", "relu"}
    assert {r["map"] for r in data["rowwise"]} == {"softmax_three_pass", "softmax_online", "sparsemax"}
    assert all(r["nan_or_inf_mismatch"] == 0 for r in data["ulp"])


def test_ptx_float32_kernels_have_no_float64():
    """Compile generated kernels to PTX for sm_90 (needs NVVM/NVRTC, not a GPU); skipped without them."""
    proc = _run("ptx", sim=False, timeout=600)
    if proc.returncode == 3:
        pytest.skip("NVVM/NVRTC not found (install nvidia-cuda-nvrtc and nvidia-nvvm to run this check)")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]


# ------------------------------------------------------------------------------------------
# the subprocess side
# ------------------------------------------------------------------------------------------
def _points(dt):
    x = np.concatenate([np.linspace(-25, 25, 41), np.geomspace(1e-6, 80, 12), -np.geomspace(1e-6, 80, 12),
                        [0.0, -0.0, np.inf, -np.inf, np.nan, 700.0, -700.0, 1e-40, -1e-310]])
    return x.astype(dt)


def _check_elementwise():
    import funclib

    for name in ELEMENTWISE:
        entry = funclib.get(name)
        for dt in ("float32", "float64"):
            x = _points(dt)
            gpu = entry.kernel(dtype=dt, target="cuda")
            got = gpu(x)
            fast = entry.kernel(dtype=dt)(x)
            libm = entry.kernel(dtype=dt, accuracy="libm")(x)
            for out, g, f, lm in zip(gpu.outputs, got, fast, libm):
                assert g.dtype == np.dtype(dt) and g.shape == x.shape
                floor = 0.0 if out == "value" else DERIVATIVE_FLOOR
                # GELU: the CPU libm kernel rounds -x/sqrt(2) (hundreds of ULP in the tail);
                # CUDA and the fast kernel carry that rounding error (erfc_scaled / exp_sq)
                ref = f if name == "gelu" else lm
                u = max_ulp_distance(g, ref, dt, floor=floor)
                assert u <= ELEMENTWISE_ULP, f"{name} {dt} {out}: {u} ULP from the CPU reference kernel"
                uf = max_ulp_distance(g, f, dt, floor=floor)
                assert uf <= FAST_ULP, f"{name} {dt} {out}: {uf} ULP from the CPU fast kernel"
                if name in ("relu", "pau") or (dt == "float64" and name in ("silu", "mish", "softplus", "elu")):
                    assert np.array_equal(g, lm, equal_nan=True), f"{name} {dt} {out}: not bitwise equal to CPU libm"
                print(name, dt, out, "max ULP vs CPU libm (gelu: fast)", u, "vs CPU fast", uf)
    # a formula with parameters at call time, and the 2-D shape / F order round trip
    k = funclib.compile("x*tanh(softplus(beta*x))", params={"beta": 1.0}, dtype="float32", target="cuda")
    x = np.asfortranarray(np.linspace(-4, 4, 24, dtype=np.float32).reshape(4, 6))
    y, dy = k(x, beta=1.5)
    cy, cdy = funclib.compile("x*tanh(softplus(beta*x))", params={"beta": 1.0}, dtype="float32",
                              accuracy="libm")(x, beta=1.5)
    assert y.shape == (4, 6) and y.flags.f_contiguous
    assert max_ulp_distance(y, cy, "float32") <= ELEMENTWISE_ULP
    assert max_ulp_distance(dy, cdy, "float32", floor=DERIVATIVE_FLOOR) <= ELEMENTWISE_ULP
    src = k.source
    assert "from funclib.kernels.cuda import devmath as math" in src and "@cuda.jit" in src


def _check_grad():
    import funclib

    pau = funclib.get("pau")
    for dt, rtol in (("float64", 1e-12), ("float32", 2e-4)):
        gpu = pau.kernel(dtype=dt, outputs=("value", "derivative", "grad_params"), target="cuda")
        cpu = pau.kernel(dtype=dt, outputs=("value", "derivative", "grad_params"))
        x = np.random.default_rng(0).normal(0, 2, 300).astype(dt)
        g = np.random.default_rng(1).normal(0, 1, 300).astype(dt)
        y, dy, gp = gpu(x, upstream=g)
        cy, cdy, cgp = cpu(x, upstream=g)
        assert np.array_equal(y, cy) and np.array_equal(dy, cdy)
        np.testing.assert_allclose(gp, cgp, rtol=rtol, atol=rtol * np.abs(cgp).max())
        again = gpu(x, upstream=g)[2]
        assert np.array_equal(again, gp), "grad_params not reproducible"
        # the partials do not depend on the grid: rerun the first pass on one block
        from numba import cuda

        mod = gpu.module
        n = x.size
        nchunks = (n + mod.GRAD_CHUNK - 1) // mod.GRAD_CHUNK
        pvals = gpu._param_values({})
        parts = []
        for blocks in (nchunks, 1):
            part = cuda.device_array((nchunks, len(gpu.wrt)), dtype=dt)
            ys = [cuda.device_array(n, dtype=dt) for _ in range(2)]
            mod.run_grad[blocks, mod.GRAD_TPB](cuda.to_device(x), cuda.to_device(g), *ys, part, *pvals)
            parts.append(part.copy_to_host())
        assert np.array_equal(parts[0], parts[1]), "partials depend on the grid size"
        print("pau", dt, "grad_params rel diff", float(np.max(np.abs(gp - cgp) / np.abs(cgp).max())))


def _check_device():
    import funclib
    from numba import cuda

    k = funclib.get("silu").kernel(dtype="float32", target="cuda")
    x = np.linspace(-6, 6, 50, dtype=np.float32).reshape(5, 10)
    want = k(x)
    dx = cuda.to_device(x)
    stream = cuda.stream()
    y, dy = k(dx, stream=stream)
    stream.synchronize()
    assert not isinstance(y, np.ndarray) and tuple(y.shape) == (5, 10)
    assert np.array_equal(y.copy_to_host(), want[0]) and np.array_equal(dy.copy_to_host(), want[1])
    oy, ody = cuda.device_array((5, 10), np.float32), cuda.device_array((5, 10), np.float32)
    r = k(dx, out=(oy, ody))
    assert r[0] is oy and np.array_equal(oy.copy_to_host(), want[0])
    # float16 inputs computed in float32, returned as float16
    h = np.linspace(-6, 6, 33).astype(np.float16)
    yh, dyh = k(h)
    assert yh.dtype == np.float16
    ref = funclib.get("silu").kernel(dtype="float32")(h.astype(np.float32))
    assert np.array_equal(yh, ref[0].astype(np.float16)) and np.array_equal(dyh, ref[1].astype(np.float16))
    # host input with a stream
    y2, _ = k(x, stream=stream)
    assert np.array_equal(y2, want[0])
    # a device array of the wrong dtype is refused with a clear message
    try:
        k(cuda.to_device(np.zeros(4, np.float64)))
    except funclib.kernels.KernelError as exc:
        assert "dtype" in str(exc)
    else:
        raise AssertionError("a float64 device array was accepted by a float32 kernel")
    # row-wise and tropical on device arrays
    from funclib.kernels import rowwise
    from funclib.kernels.cuda import rowwise as cuda_rowwise, tropical as cuda_tropical

    xr = np.random.default_rng(0).normal(size=(3, 9))
    d = cuda_rowwise.softmax(cuda.to_device(xr))
    assert np.allclose(d.copy_to_host(), rowwise.softmax(xr), rtol=0, atol=1e-15)
    xa, xb = np.ascontiguousarray(xr[:, :4]), np.ascontiguousarray(xr.T[:4, :3])
    c, kk = cuda_tropical.maxplus_matmul(cuda.to_device(xa), cuda.to_device(xb))
    assert tuple(c.shape) == (3, 3)
    assert np.array_equal(c.copy_to_host(), cuda_tropical.maxplus_matmul(xa, xb)[0])
    print("device arrays, streams and float16: ok")


def _row_data(dt, rows=5, n=37, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 2, (rows, n)).astype(dt)
    x[1, 3] = -np.inf
    x[2, :] = -np.inf
    x[3, 4] = np.nan
    x[4, :4] = [0.0, -0.0, 30.0, -30.0]
    mask = rng.random((rows, n)) > 0.3
    mask[0, :] = False
    v = rng.normal(size=x.shape).astype(dt)
    return x, mask, v


def _compare_rows(label, got, want, dt):
    eps = np.finfo(dt).eps
    assert got.dtype == want.dtype == np.dtype(dt), label
    assert np.array_equal(np.isnan(got), np.isnan(want)), f"{label}: NaN pattern differs"
    ok = np.isfinite(want)
    assert np.array_equal(got[~ok & ~np.isnan(want)], want[~ok & ~np.isnan(want)]), f"{label}: infinities differ"
    err = float(np.max(np.abs(got[ok].astype(np.float64) - want[ok]), initial=0.0))
    assert err <= ROW_TOL * eps * max(1.0, float(np.max(np.abs(want[ok]), initial=0.0))), f"{label}: error {err}"
    return err


# (map, dtype, path, with mask, kwargs): a representative sample; the slow sweep does all.
# Default run: one case per kernel family and path (the simulator runs every thread in
# Python); the slow sweep covers every map, dtype, path, mask and algorithm.
ROW_CASES = [
    ("softmax", np.float64, "warp", True, {"algorithm": "three_pass"}),
    ("softmax", np.float32, "block", True, {"algorithm": "online"}),
    ("sparsemax", np.float64, "warp", True, {}),
    ("entmax_bisect", np.float64, "block", True, {"alpha": 1.3}),
    ("log_softmax_jvp", np.float64, "warp", True, {}),
    ("softpick_vjp", np.float64, "warp", True, {}),
]


def _row_call(mod, name, x, mask, v, kw, path=None):
    extra = {} if path is None else {"path": path}
    kw = dict(kw)
    if name.startswith("ssmax"):
        args = (x, 0.5) if name == "ssmax" else (x, 0.5, v)
    elif name.startswith("entmax_bisect"):
        alpha = kw.pop("alpha")
        args = (x, alpha) if name == "entmax_bisect" else (x, alpha, v)
    elif name.endswith(("_jvp", "_vjp")):
        args = (x, v)
    else:
        args = (x,)
    return getattr(mod, name)(*args, mask=mask, **kw, **extra)


def _check_rows(cases):
    from funclib.kernels import rowwise
    from funclib.kernels.cuda import rowwise as cuda_rowwise

    for name, dt, path, with_mask, kw in cases:
        x, mask, v = _row_data(dt)
        m = mask if with_mask else None
        got = _row_call(cuda_rowwise, name, x, m, v, kw, path)
        want = _row_call(rowwise, name, x, m, v, kw)
        err = _compare_rows(f"{name} {dt.__name__} {path} mask={with_mask} {kw}", got, want, dt)
        if with_mask and not name.endswith(("_jvp", "_vjp")):
            fill = -np.inf if name == "log_softmax" else 0.0
            assert np.all(got[0] == fill), f"{name}: fully masked row"
            # masked entries get the fill value (a NaN row is NaN everywhere, as on the CPU)
            assert np.all(((got == fill) | np.isnan(want))[~mask]), f"{name}: masked entries"
        print(name, dt.__name__, path, "mask" if with_mask else "", kw, "max abs diff", err)


def _check_rowwise():
    _check_rows(ROW_CASES)
    # the same input through a batch shape and another axis
    from funclib.kernels import rowwise
    from funclib.kernels.cuda import rowwise as cuda_rowwise

    x = np.random.default_rng(5).normal(size=(2, 7, 3))
    got = cuda_rowwise.sparsemax(x, axis=1)
    assert got.shape == x.shape
    np.testing.assert_allclose(got, rowwise.sparsemax(x, axis=1), rtol=0, atol=1e-15)


def _check_rowwise_sweep():
    names = ["softmax", "log_softmax", "ssmax", "sparsemax", "entmax15", "entmax_bisect", "softpick",
             "softmax_jvp", "softmax_vjp", "log_softmax_jvp", "log_softmax_vjp", "ssmax_jvp", "ssmax_vjp",
             "sparsemax_jvp", "sparsemax_vjp", "entmax15_jvp", "entmax15_vjp", "entmax_bisect_jvp",
             "entmax_bisect_vjp", "softpick_jvp", "softpick_vjp"]
    # every map in both dtypes and both paths, with and without a mask, every algorithm/alpha:
    # (float32, warp, mask) and (float64, block, no mask) per setting keeps the sweep to about
    # 60 simulated launches (the simulator runs each GPU thread as a Python thread)
    cases = []
    for name in names:
        kws = [{}]
        if name in ("softmax", "log_softmax", "ssmax"):
            kws = [{"algorithm": "three_pass"}, {"algorithm": "online"}]
        if name.startswith("entmax_bisect"):
            kws = [{"alpha": 1.25}, {"alpha": 2.0}]
        for kw in kws:
            cases += [(name, np.float32, "warp", True, kw), (name, np.float64, "block", False, kw)]
    _check_rows(cases)


def _check_tropical():
    from funclib.kernels import tropical
    from funclib.kernels.cuda import tropical as cuda_tropical

    rng = np.random.default_rng(7)
    for dt in (np.float32, np.float64):
        for (m, kk, n) in ((5, 7, 6), (1, 1, 1), (3, 9, 2)):
            a = rng.integers(-3, 4, (2, m, kk)).astype(dt)
            b = rng.integers(-3, 4, (2, kk, n)).astype(dt)
            a[0, 0, 0] = np.nan
            b[1, -1, :] = -np.inf
            for got, want in zip(cuda_tropical.maxplus_matmul(a, b), tropical.maxplus_matmul(a, b)):
                assert np.array_equal(got, want, equal_nan=True), f"maxplus {dt} {(m, kk, n)}"
            q = rng.normal(size=(2, m, kk)).astype(dt)
            k = rng.normal(size=(2, n, kk)).astype(dt)
            q[1, 0, -1] = np.inf
            for got, want in zip(cuda_tropical.hilbert_score(q, k), tropical.hilbert_score(q, k)):
                assert np.array_equal(got, want, equal_nan=True), f"hilbert {dt} {(m, kk, n)}"
    print("tropical: bitwise equal")


def _check_cli_nocuda():
    env = dict(os.environ)
    env.pop("NUMBA_ENABLE_CUDASIM", None)
    from funclib.cli import main

    import contextlib
    import io

    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        rc = main(["kernel", "gelu", "--target", "cuda"])
    from funclib.kernels.cuda.kernel import cuda_status

    if cuda_status()[0]:  # a real GPU: the command must work
        assert rc == 0, err.getvalue()
        return
    assert rc == 2, err.getvalue()
    text = err.getvalue()
    assert "CUDA is unavailable" in text and "NUMBA_ENABLE_CUDASIM=1" in text, text


def _check_ptx():
    import numba.cuda.dispatcher as dispatcher
    from numba import cuda, types

    try:
        cuda.compile_ptx(lambda a: a + a, (types.float32,), device=True, cc=(9, 0))
    except Exception:  # noqa: BLE001 - no NVVM/NVRTC here
        sys.exit(3)

    class _Device:  # device functions ask for the current device's compute capability
        compute_capability = (9, 0)

    dispatcher.get_current_device = lambda: _Device()
    import funclib
    from funclib.kernels.api import entry_spec
    from funclib.kernels.cache import load_module
    from funclib.kernels.cuda.codegen import cuda_key, generate_cuda_source

    for name in ("gelu", "mish", "pau", "silu"):
        spec, _, _ = entry_spec(funclib.get(name), dtype="float32", outputs=("value", "derivative"), params=None,
                                variant=None, accuracy="fast", wrt=None)
        mod, _ = load_module(cuda_key(spec, False), lambda: generate_cuda_source(spec, False))
        arr = types.float32[::1]
        sig = (arr, arr, arr) + (types.float32,) * len(spec.params)
        ptx, _ = cuda.compile_ptx(mod.run.py_func, sig, cc=(9, 0))
        f64 = [line for line in ptx.splitlines() if ".f64" in line]
        assert not f64, f"{name}: float32 kernel uses float64: {f64[:3]}"
    from funclib.kernels.cuda.rowwise_kernels import kernels

    a, mk = types.float32[:, ::1], types.boolean[:, ::1]
    for path in ("warp", "block"):
        ptx, _ = cuda.compile_ptx(kernels("float32", path)["softmax"].py_func,
                                  (a, mk, types.boolean, types.int64, types.boolean, types.boolean, types.float64, a),
                                  cc=(9, 0))
        assert ("shfl" in ptx) == (path == "warp")
    print("ptx: ok")


if __name__ == "__main__":
    warnings.simplefilter("ignore")
    sys.path.insert(0, str(ROOT))
    group = sys.argv[1]
    {
        "elementwise": _check_elementwise,
        "grad": _check_grad,
        "device": _check_device,
        "rowwise": _check_rowwise,
        "rowwise-sweep": _check_rowwise_sweep,
        "tropical": _check_tropical,
        "cli-nocuda": _check_cli_nocuda,
        "ptx": _check_ptx,
    }[group]()
