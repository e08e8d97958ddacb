"""Hostile and careless inputs: each gets the correct result or one clear error, never a silent
wrong answer or a traceback (issue: hardening). Grouped by class."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

import funclib

# -- 1. certificates never rest on installed data they did not check --------------------------


def test_tampered_property_cache_cannot_lower_a_certificate(tmp_path, monkeypatch):
    """ReLU's cached slope bounds edited to [0, 0.5]: the certificate still uses [0, 1]."""
    from funclib import properties
    from funclib.verify import Network, lipschitz
    from funclib.verify import activations as acts

    real = properties._sidecar

    def tampered(rel):
        data = json.loads(json.dumps(real(rel)))
        if "relu" in data:
            data["relu"]["default"]["facts"]["slope_bounds"]["value"] = [0.0, 0.5]
        return data

    monkeypatch.setattr(properties, "_sidecar", tampered)
    properties._MEMO.clear()
    acts._slope_fact.cache_clear()
    try:
        assert funclib.get("relu").properties().slope_bounds == (0.0, 0.5)  # the lookup sees the edit
        net = Network([np.eye(2) * 3.0, np.eye(2) * 2.0], "relu")
        with pytest.warns(acts.CorruptCacheWarning, match="corrupt or was edited"):
            res = lipschitz(net, lower=False)
        assert res.value >= 6.0 - 1e-6  # the true constant of x -> 2 relu(3x) is 6, not 3
    finally:
        properties._MEMO.clear()
        acts._slope_fact.cache_clear()


# -- 1b. network files and models: refused, never cast ---------------------------------------


@pytest.mark.parametrize("bad, message", [
    (np.array([[1 + 2j, 0.0]]), "complex"),
    (np.array([[True, False]]), "dtype bool"),
    (np.array([["1", "2"]]), "dtype <U1"),
    (np.array([[object(), 1.0]], dtype=object), "not a numeric array"),
])
def test_network_weights_must_be_real_numbers(bad, message):
    from funclib.verify import Network, NetworkError

    with pytest.raises(NetworkError, match=message):
        Network([bad, np.ones((1, 1))], "relu")


def test_complex_npz_is_refused_by_the_cli(tmp_path, capsys):
    from funclib.cli import main

    path = tmp_path / "net.npz"
    np.savez(path, W0=np.array([[1.0, 2j], [0.5, 1.0]]), W1=np.ones((1, 2)))
    assert main(["lipschitz", str(path)]) == 2
    err = capsys.readouterr().err
    assert "complex" in err and "Traceback" not in err


def test_complex_mat_is_refused(tmp_path):
    scipy_io = pytest.importorskip("scipy.io")
    from funclib.verify import NetworkError, load

    path = tmp_path / "net.mat"
    cells = np.empty((1, 2), dtype=object)
    cells[0, 0] = np.array([[1.0, 1j]])
    cells[0, 1] = np.ones((1, 1))
    scipy_io.savemat(path, {"weights": cells})
    with pytest.raises(NetworkError, match="complex"):
        load(path)


def test_from_torch_refuses_subclasses_that_override_forward():
    torch = pytest.importorskip("torch")
    from funclib.verify import NetworkError, from_torch

    class Doubled(torch.nn.Linear):
        def forward(self, x):
            return 2 * super().forward(x)

    class Sneaky(torch.nn.LeakyReLU):
        def forward(self, x):
            return torch.relu(x) * 3

    with pytest.raises(NetworkError, match="Doubled"):
        from_torch(torch.nn.Sequential(Doubled(2, 2), torch.nn.ReLU(), torch.nn.Linear(2, 1)))
    with pytest.raises(NetworkError, match="Sneaky"):
        from_torch(torch.nn.Sequential(torch.nn.Linear(2, 2), Sneaky(), torch.nn.Linear(2, 1)))
    net = from_torch(torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.GELU(approximate="tanh"), torch.nn.Linear(2, 1)))
    assert net.activations[0].name == "gelu:tanh"


# -- 1c. kernels: no silent casts, no aliasing surprises ---------------------------------------


@pytest.mark.parametrize("bad, what", [
    (np.array([1 + 1j, 2.0]), "complex"),
    (np.array([True, False]), "boolean"),
    (np.array(["1.0", "2"]), "string"),
    (np.array([1.0, None], dtype=object), "object"),
])
def test_kernel_refuses_inputs_it_would_cast(bad, what):
    from funclib.kernels.printer import KernelError

    k = funclib.get("silu").kernel(dtype="float64")
    with pytest.raises(KernelError, match=what):
        k(bad)


def test_float64_input_that_overflows_float32_is_refused():
    from funclib.kernels.printer import KernelError

    k = funclib.get("silu").kernel(dtype="float32")
    with pytest.raises(KernelError, match="overflows float32"):
        k(np.array([1.0, 1e300]))
    y, _ = k(np.array([1.0, np.inf, -np.inf, np.nan]))  # infinities and NaN are values, not overflow
    assert y[1] == np.inf and np.isnan(y[3])
    assert k(np.arange(4))[0].dtype == np.float32  # integers are real numbers


def test_parameter_that_overflows_float32_is_refused():
    from funclib.kernels.printer import KernelError

    k = funclib.get("silu").kernel(dtype="float32")
    with pytest.raises(KernelError, match="beta=1e.40 overflows float32"):
        k(np.array([1.0], np.float32), beta=1e40)
    edge = 2.0**128 - 2.0**103  # the first value that rounds to inf
    with pytest.raises(KernelError, match="overflows float32"):
        k(np.array([1.0], np.float32), beta=edge)
    below = float(np.nextafter(edge, 0.0))  # rounds to FLT_MAX
    assert np.isfinite(k(np.array([0.0], np.float32), beta=below)[0][0])


def test_run_flat_takes_only_what_its_loops_take():
    from funclib.kernels.printer import KernelError

    k = funclib.get("silu").kernel(dtype="float32", outputs="value")
    x = np.linspace(-4, 4, 9, dtype=np.float32)
    y = np.empty_like(x)
    k.run_flat(x, (y,), {"beta": 1.5})
    assert np.array_equal(y, k(x, beta=1.5))
    for bad_x, bad_outs in [(x.astype(np.float64), (y,)), (x.reshape(3, 3), (y.reshape(3, 3),)),
                            (x, (y[:4],)), (x, (y, y.copy()))]:
        with pytest.raises(KernelError, match="run_flat takes 1-D float32 arrays"):
            k.run_flat(bad_x, bad_outs, {})
    with pytest.raises(KernelError, match="has no parameter 'gamma'"):
        k.run_flat(x, (y,), {"gamma": 1.0})
    with pytest.raises(funclib.ParameterError):  # the entry's range check, as in a call
        k.run_flat(x, (y,), {"beta": float("nan")})
    assert np.isfinite(funclib.get("silu").kernel(dtype="float64")(np.array([1.0]), beta=1e40)[1]).all()
    with pytest.raises(KernelError, match="real number"):
        k(np.array([1.0], np.float32), beta=1 + 2j)


def test_out_overlapping_the_input_gives_correct_values():
    k = funclib.get("gelu").kernel(dtype="float64", outputs=("value",))
    base = np.linspace(-3, 3, 101)
    expect = k(base[1:].copy())
    buf = base.copy()
    k(buf[1:], out=buf[:-1])  # shifted view: out[i] is input[i - 1]
    np.testing.assert_array_equal(buf[:-1], expect)
    same = base.copy()
    k(same, out=same)  # exact in-place
    np.testing.assert_array_equal(same, k(base))


def test_one_array_for_two_outputs_is_an_error():
    from funclib.kernels.printer import KernelError

    k = funclib.get("gelu").kernel(dtype="float64")
    x = np.linspace(-1, 1, 8)
    y = np.empty_like(x)
    with pytest.raises(KernelError, match="overlapping out arrays"):
        k(x, out=(y, y))


# -- 2. formulas that are not real functions are refused ---------------------------------------


@pytest.mark.parametrize("text, message", [
    ("nan*x", "undefined constant"),
    ("0/0*x", "undefined constant"),
    ("log(0)*x", "complex infinity"),
    ("x + 1/0", "complex infinity"),
    ("sqrt(-1)*x", "imaginary unit"),
])
def test_undefined_constants_are_refused(text, message):
    with pytest.raises(funclib.FormulaError, match=message):
        funclib.parse_formula(text)


def test_nan_is_allowed_as_an_undefined_branch():
    expr = funclib.parse_formula("where(x > 0, x, nan)")
    assert funclib.parse_formula(funclib.to_formula(expr)) == expr


def test_documented_grammar_is_accepted():
    import sympy as sp

    x = sp.Symbol("x", real=True)
    cube = funclib.parse_formula("cbrt(x)")
    assert float(cube.subs(x, -8)) == -2.0  # the real cube root
    assert funclib.parse_formula("+".join(["x"] * 52)) == 52 * funclib.parse_formula("x")
    assert funclib.parse_formula("*".join(["x"] * 300)) == funclib.parse_formula("x**300")


def test_long_formula_is_refused_with_a_message_not_a_recursion_error():
    with pytest.raises(funclib.FormulaError, match="longer than"):
        funclib.parse_formula("+".join(["x"] * 1500))


# -- 3. the command line: bounded work, one clear line, JSON under --json ----------------------


def test_derivative_order_is_capped(capsys):
    from funclib.cli import main

    assert main(["diff", "gelu", "--order", "1000000"]) == 2
    assert "above the limit of 20" in capsys.readouterr().err


def test_errors_are_json_under_json(capsys):
    from funclib.cli import main

    assert main(["show", "nosuch", "--json"]) == 2
    captured = capsys.readouterr()
    error = json.loads(captured.out)["error"]
    # the message may go on with suggestions ("did you mean hosc?"): the catalog decides those
    assert error["kind"] == "error" and error["exit_code"] == 2
    assert error["message"].startswith("unknown function 'nosuch'")
    assert captured.err.strip() == f"funclib: error: {error['message']}"


def test_kernel_bench_uses_default_parameters(capsys):
    from funclib.cli import main

    assert main(["kernel", "silu", "--bench", "--size", "4096", "--points", "8", "--json"]) == 0
    bench = json.loads(capsys.readouterr().out)["bench"]
    assert bench["elements"] == 4096 and bench["speedup_vs_numpy"] > 0


# -- 4. damaged or degenerate network files: one line, exit 2, or the exact answer -------------


def _npz_bytes(tmp_path):
    path = tmp_path / "ok.npz"
    np.savez(path, W0=np.eye(2), W1=np.ones((1, 2)))
    return path.read_bytes()


@pytest.mark.parametrize("damage", ["truncated", "empty", "garbage"])
def test_damaged_npz_is_one_clear_error(tmp_path, capsys, damage):
    from funclib.cli import main

    data = _npz_bytes(tmp_path)
    path = tmp_path / "bad.npz"
    path.write_bytes({"truncated": data[: len(data) // 2], "empty": b"", "garbage": bytes(range(256)) * 3}[damage])
    assert main(["lipschitz", str(path)]) == 2
    err = capsys.readouterr().err
    assert "cannot read as .npz" in err and "Traceback" not in err


def test_npz_header_declaring_a_huge_array_is_refused_without_allocating(tmp_path):
    import zipfile

    from funclib.verify import NetworkError, load

    header = "{'descr': '<f8', 'fortran_order': False, 'shape': (100000, 100000), }"
    header = header + " " * (118 - len(header)) + "\n"
    blob = b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header.encode()
    path = tmp_path / "huge.npz"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("W0.npy", blob)
        archive.writestr("W1.npy", blob)
    with pytest.raises(NetworkError, match="declares shape"):
        load(path)


def test_zero_layer_gives_the_exact_constant_zero():
    from funclib.verify import Network, lipschitz

    res = lipschitz(Network([np.zeros((3, 2)), np.ones((1, 3))], "gelu"), lower=False)
    assert res.value == 0.0 and res.certified


@pytest.mark.parametrize("scales", [(2.0**-900, 2.0**500, 1.0), (1e-300, 1e-300, 1.0), (1e150, 1e150, 1e10)])
def test_bounds_scale_with_the_weights(scales):
    """LipSDP is homogeneous in each weight matrix: extreme magnitudes give the scaled bound
    (or inf where it overflows float64), never a ZeroDivisionError or a NaN."""
    from funclib.verify import Network, lipschitz

    rng = np.random.default_rng(3)
    ws = [rng.normal(size=(5, 3)), rng.normal(size=(4, 5)), rng.normal(size=(2, 4))]
    base = lipschitz(Network(ws, "elu"), lower=False).value
    res = lipschitz(Network([w * s for w, s in zip(ws, scales)], "elu"), lower=False)
    with np.errstate(over="ignore"):
        expect = float(np.float64(base) * np.float64(scales[0]) * np.float64(scales[1]) * np.float64(scales[2]))
    if expect == 0.0:
        assert 0.0 < res.value <= 1e-300  # underflow: still a (tiny) upper bound
    elif np.isinf(expect):
        assert np.isinf(res.value)
    else:
        assert res.value == pytest.approx(expect, rel=1e-6)


# -- 5. caches heal themselves; the cache directory is the user's -----------------------------


def _fresh_compile(formula, **kw):
    import sys as _sys

    from funclib.kernels import api

    api._MEMO.clear()
    for name in [m for m in _sys.modules if m.startswith("funclib_kernel_cache_")]:
        _sys.modules.pop(name, None)
    return funclib.compile(formula, **kw)


def test_damaged_module_that_keeps_its_key_line_is_regenerated(tmp_path, monkeypatch):
    import glob

    monkeypatch.setenv("FUNCLIB_CACHE_DIR", str(tmp_path))
    k = _fresh_compile("x*sigmoid(1.5*x)", dtype="float64", outputs=("value",))
    (path,) = glob.glob(str(tmp_path / "kernels" / "fk_*.py"))
    text = open(path).read()
    open(path, "w").write(text[: len(text) // 2] + f"\nKEY = {k.key!r}\n")  # truncated, key kept
    k2 = _fresh_compile("x*sigmoid(1.5*x)", dtype="float64", outputs=("value",))
    assert k2(np.array([2.0]))[0] == pytest.approx(2 / (1 + np.exp(-3.0)))
    from funclib.kernels.cache import is_sealed

    assert is_sealed(open(path).read())


def test_published_cache_files_follow_the_umask(tmp_path, monkeypatch):
    import glob
    import os

    monkeypatch.setenv("FUNCLIB_CACHE_DIR", str(tmp_path))
    old = os.umask(0o022)
    try:
        _fresh_compile("x*tanh(x)/3", dtype="float64", outputs=("value",))
    finally:
        os.umask(old)
    (path,) = glob.glob(str(tmp_path / "kernels" / "fk_*.py"))
    assert os.stat(path).st_mode & 0o777 == 0o644


def test_non_finite_parameter_default_compiles(tmp_path, monkeypatch):
    monkeypatch.setenv("FUNCLIB_CACHE_DIR", str(tmp_path))
    k = _fresh_compile("Min(x, c)", params={"c": float("inf")}, dtype="float64", outputs=("value",))
    assert list(k(np.array([-1.0, 5.0]))) == [-1.0, 5.0]


@pytest.mark.parametrize("kind", ["file", "missing_parent"])
def test_unusable_cache_directory_is_one_clear_error(tmp_path, kind):
    import os

    target = tmp_path / "afile"
    target.write_text("x")
    cache = target if kind == "file" else "/proc/funclib-nonexistent"
    proc = subprocess.run([sys.executable, "-m", "funclib.cli", "kernel", "x*tanh(x)", "--points", "8"],
                          capture_output=True, text=True, env={**os.environ, "FUNCLIB_CACHE_DIR": str(cache)})
    assert proc.returncode == 1
    assert "cache error" in proc.stderr and "FUNCLIB_CACHE_DIR" in proc.stderr and "Traceback" not in proc.stderr


def test_row_wise_numba_caches_go_to_the_funclib_cache(tmp_path):
    import os

    code = ("import numpy as np; from funclib.kernels import rowwise;"
            "rowwise.sparsemax(np.array([[1.0, 2.0, 0.5]]))")
    subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ, "FUNCLIB_CACHE_DIR": str(tmp_path)})
    cached = list((tmp_path / "numba").rglob("*.nbi"))
    assert cached, "no Numba index under FUNCLIB_CACHE_DIR/numba"
    package = os.path.dirname(funclib.__file__)
    assert all(str(p).startswith(str(tmp_path)) for p in cached) and not str(tmp_path).startswith(package)


# -- 6. user catalogs ----------------------------------------------------------------------------


def test_user_catalog_given_as_one_path(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text('[[entry]]\nid = "my_fn"\nname = "mine"\nkind = "elementwise"\nfamily = "test"\n'
                    'summary = "x squared."\nformula = "x**2"\n[[entry.references]]\ntitle = "t"\nauthors = "a"\nyear = 2020\n')
    assert list(funclib.load_catalog(str(path))) == ["my_fn"]
    assert list(funclib.load_catalog(path)) == ["my_fn"]


@pytest.mark.parametrize("content, message", [
    (b'[[entry]]\nid = "\xff\xfe"\n', "not UTF-8"),
    (("a = " + "[" * 100000 + "]" * 100000).encode(), "nested too deeply|invalid TOML"),
])
def test_unreadable_user_catalogs_are_catalog_errors(tmp_path, content, message):
    path = tmp_path / "bad.toml"
    path.write_bytes(content)
    with pytest.raises(funclib.CatalogError, match=message):
        funclib.load_catalog([path])


def test_missing_user_catalog_is_a_catalog_error(tmp_path):
    with pytest.raises(funclib.CatalogError, match="cannot read the file"):
        funclib.load_catalog([tmp_path / "absent.toml"])


# -- 7. one documented convention per map -----------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_a_row_of_only_minus_infinity_is_fully_masked(dtype):
    from funclib.kernels import rowwise

    x = np.full((1, 5), -np.inf, dtype)
    mask = np.zeros((1, 5), bool)
    for name, expect in (("softmax", 0.0), ("log_softmax", -np.inf), ("sparsemax", 0.0),
                         ("entmax15", 0.0), ("softpick", 0.0)):
        got = getattr(rowwise, name)(x)
        assert np.all(got == expect), name
        assert np.array_equal(got, getattr(rowwise, name)(np.zeros((1, 5), dtype), mask=mask)), name
    assert rowwise.logsumexp(x)[0] == -np.inf
    torch = pytest.importorskip("torch")
    assert torch.logsumexp(torch.from_numpy(x), dim=-1).item() == -np.inf  # the same convention


def test_ssmax_scale_that_overflows_is_refused():
    from funclib.kernels import rowwise

    with pytest.raises(ValueError, match="overflows float64"):
        rowwise.ssmax(np.array([[1e10, 2.0, 3.0]]), s=1e300)
    assert np.isfinite(rowwise.ssmax(np.array([[1.0, 2.0, 3.0]]), s=1e300)).all()


def test_floor_and_ceiling_derivatives_are_zero_off_the_integers():
    import sympy as sp

    from funclib import calculus

    x = sp.Symbol("x", real=True)
    assert calculus.derivative(funclib.parse_formula("x*floor(x) + ceiling(x)"), x) == sp.floor(x)
    k = funclib.compile("x*floor(x)", dtype="float64")
    y, dy = k(np.array([2.5, -0.5]))
    assert list(y) == [5.0, 0.5] and list(dy) == [2.0, -1.0]


def test_gamma_and_loggamma_kernels_have_their_derivatives():
    scipy_special = pytest.importorskip("scipy.special")
    x = np.array([0.5, 1.4616321449683622, 2.5, 7.25, 33.0, -0.3, -4.5])
    y, dy = funclib.compile("loggamma(x)", dtype="float64")(x[:5])
    np.testing.assert_allclose(dy, scipy_special.digamma(x[:5]), rtol=1e-13, atol=4e-16)
    y, dy = funclib.compile("gamma(x)", dtype="float64")(x)
    np.testing.assert_allclose(dy, scipy_special.gamma(x) * scipy_special.digamma(x), rtol=1e-12, atol=1e-15)
    # float32 kernels evaluate the gamma functions in double and round once (libm has no
    # float32 gamma): within a float32 rounding of the double result
    y32, dy32 = funclib.compile("loggamma(x)", dtype="float32")(x[:5].astype(np.float32))
    x32 = x[:5].astype(np.float32).astype(np.float64)
    np.testing.assert_allclose(y32, scipy_special.gammaln(x32), rtol=2e-7, atol=1e-7)
    np.testing.assert_allclose(dy32, scipy_special.digamma(x32), rtol=2e-7, atol=1e-7)


def test_out_of_memory_solver_keeps_the_certified_closed_form_bound(monkeypatch):
    """A network too large for the SDP solver (MemoryError) still gets the certified
    layer-wise closed-form bound, flagged as what it is, not a traceback."""
    from funclib.verify import Network, VerificationError, api, lipschitz

    def no_memory(*args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(api, "solve", no_memory)
    rng = np.random.default_rng(2)
    net = Network([rng.normal(size=(6, 3)), rng.normal(size=(4, 6)), rng.normal(size=(2, 4))], "relu")
    with pytest.raises(VerificationError, match="out of memory") as info:
        lipschitz(net, lower=False)
    res = info.value.result
    assert res.status == "failed" and res.method == "closed-form" and res.certified
    from funclib.verify import exact_lipschitz_pl

    assert res.value >= exact_lipschitz_pl(net)  # still an upper bound


def test_odd_root_powers_use_the_real_branch_for_value_and_derivative():
    k = funclib.compile("x**(1/3)", dtype="float64")
    y, dy = k(np.array([-8.0, 8.0]))
    assert list(y) == [-2.0, 2.0]
    np.testing.assert_allclose(dy, [1 / 12, 1 / 12], rtol=1e-15)
    assert funclib.parse_formula("x**(1/3)") == funclib.parse_formula("cbrt(x)")


def test_damaged_property_cache_is_recomputed_not_an_input_error(monkeypatch):
    """A sidecar that is not JSON is ignored: properties are proven afresh (never exit 2 as if
    the user's input were bad, never trusted)."""
    from funclib import properties
    from funclib.cli import main

    monkeypatch.setattr(properties, "_sidecar", lambda rel: {})  # what a damaged file loads as
    properties._MEMO.clear()
    try:
        props = funclib.get("relu6").properties()
        assert props.slope_bounds == (0.0, 1.0) and props["slope_bounds"].method in ("symbolic", "interval")
        assert main(["show", "relu6", "--json"]) == 0
    finally:
        properties._MEMO.clear()


def test_damaged_sidecar_file_loads_as_empty(tmp_path, monkeypatch):
    from funclib import properties

    (tmp_path / "x.properties.json").write_text("{ not json")

    class Root:
        def joinpath(self, rel):
            return tmp_path / rel

    monkeypatch.setattr(properties.resources, "files", lambda package: Root())
    properties._sidecar.cache_clear()
    try:
        assert properties._sidecar("x.properties.json") == {}
    finally:
        properties._sidecar.cache_clear()
