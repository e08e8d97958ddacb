"""funclib.plotting and ``funclib plot``: assertions on the plotted data, not on pixels.

Every number drawn is checked against a second method: hand-written SciPy/NumPy formulas,
closed-form roots (sin), SciPy's softmax, or ``numpy.nextafter`` for ULP counts.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import subprocess
import sys

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
import scipy.optimize
import scipy.special as sc

import funclib
import funclib.plotting as fp
from funclib.cli import main

GELU_MIN_X = -0.7517915246935645  # root of Phi(x) + x phi(x) (checked below with SciPy)


def _line(ax, gid):
    found = [line for line in ax.get_lines() if line.get_gid() == gid]
    assert len(found) == 1, f"expected one line with gid {gid!r}, found {len(found)}"
    return found[0]


def _gelu(x):
    return x * sc.ndtr(x)


def _gelu_prime(x):
    return sc.ndtr(x) + x * np.exp(-x * x / 2) / math.sqrt(2 * math.pi)


def test_gelu_plot_data_matches_independent_formulas():
    ax = fp.plot("gelu", second=True)
    x, y = _line(ax, "f0").get_data()
    _, dy = _line(ax, "f1").get_data()
    _, d2y = _line(ax, "f2").get_data()
    assert x[0] == -5.0 and x[-1] == 5.0 and len(x) == fp.GRID_POINTS
    np.testing.assert_allclose(y, _gelu(x), rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(dy, _gelu_prime(x), rtol=1e-12, atol=1e-15)
    phi = np.exp(-x * x / 2) / math.sqrt(2 * math.pi)
    np.testing.assert_allclose(d2y, phi * (2 - x * x), rtol=1e-11, atol=1e-14)
    fp.close(ax.figure)


def test_gelu_extremum_zero_and_band():
    ax = fp.plot("gelu")
    data = ax.funclib_curve
    root = scipy.optimize.brentq(_gelu_prime, -2, -0.1, xtol=1e-15, rtol=1e-15)
    assert abs(root - GELU_MIN_X) < 1e-13
    (minimum,) = data.extrema
    assert minimum.kind == "minimum"
    assert abs(minimum.x - root) < 1e-12
    assert abs(minimum.y - _gelu(root)) < 1e-14
    assert data.zeros == [0.0]
    mx, my = _line(ax, "minima").get_data()
    assert mx[0] == minimum.x and my[0] == minimum.y
    # The band is exactly the proven slope bounds, labelled with the method.
    fact = funclib.get("gelu").properties()["slope_bounds"]
    assert (data.slope_band.low, data.slope_band.high) == tuple(fact.value)
    assert data.slope_band.method == fact.method == "interval"
    band = [p for p in ax.patches if p.get_gid() == "slope_band"]
    assert len(band) == 1 and "(interval)" in band[0].get_label()
    rect = band[0]  # axhspan: a Rectangle spanning the axes width, from low to high in data units
    assert rect.get_y() == fact.value[0]
    assert rect.get_y() + rect.get_height() == pytest.approx(fact.value[1], abs=1e-15)
    # The sampled derivative stays inside the proven band.
    assert data.values[1].min() >= fact.value[0] and data.values[1].max() <= fact.value[1]
    fp.close(ax.figure)


def test_formula_zeros_and_extrema_are_refined():
    data = fp.curve("sin(x)", x_range=(-5, 5), slope_band=False)
    assert data.zeros == pytest.approx([-math.pi, 0.0, math.pi], abs=1e-15)
    kinds = [(f.kind, f.x) for f in data.extrema]
    assert [k for k, _ in kinds] == ["maximum", "minimum", "maximum", "minimum"]
    np.testing.assert_allclose([x for _, x in kinds], [-3 * math.pi / 2, -math.pi / 2, math.pi / 2, 3 * math.pi / 2],
                               atol=1e-14)


def test_formula_band_is_proven_on_the_spot():
    data = fp.curve("softplus(2*x)")  # f' = 2 sigmoid(2x) takes every value in (0, 2)
    assert data.slope_band.method == "interval"
    assert data.slope_band.low <= 0.0 and data.slope_band.low == pytest.approx(0.0, abs=1e-7)
    assert data.slope_band.high >= 2.0 and data.slope_band.high == pytest.approx(2.0, abs=1e-7)


def test_kinks_and_flat_pieces_give_no_spurious_features():
    relu = fp.curve("relu")
    assert relu.features == ()  # f = 0 on x <= 0 is not a sign change
    assert (relu.slope_band.low, relu.slope_band.high) == (0.0, 1.0)
    # |x| - 1: the minimum sits exactly on the kink; zeros at +-1.
    data = fp.curve("Abs(x) - 1", slope_band=False)
    assert data.zeros == pytest.approx([-1.0, 1.0], abs=1e-15)
    (m,) = data.extrema
    assert m.kind == "minimum" and abs(m.x) < 1e-15 and m.y == pytest.approx(-1.0, abs=1e-15)


def test_params_move_the_curve_and_the_band_belongs_to_them():
    one = fp.curve("silu", slope_band=False)
    two = fp.curve("silu", params={"beta": 2.0}, slope_band=False)
    # silu_beta(x) = x*sigmoid(beta*x): the minimum moves to x/beta.
    assert two.extrema[0].x == pytest.approx(one.extrema[0].x / 2, abs=1e-12)
    x = two.x
    np.testing.assert_allclose(two.values[0], x * sc.expit(2 * x), rtol=1e-13, atol=1e-16)
    assert two.label == "SiLU (beta=2)"
    # The band is proven for the drawn parameters, not taken from the defaults' cache.
    leaky = fp.curve("leaky_relu", params={"negative_slope": 0.2}, features=False)
    assert leaky.slope_band.low == pytest.approx(0.2, abs=1e-12) and leaky.slope_band.high == 1.0
    with pytest.raises(funclib.ParameterError, match="outside its range"):
        fp.curve("silu", params={"beta": -1.0})


def test_variant_and_difference_panel():
    fig = fp.compare(["gelu", ("gelu", "tanh")], difference=True, derivative=True)
    assert len(fig.axes) == 3
    ax_f, ax_d, ax_diff = fig.axes
    x, exact = _line(ax_f, "f0:0").get_data()
    _, approx = _line(ax_f, "f0:1").get_data()
    _, diff = _line(ax_diff, "diff:1").get_data()
    tanh_form = 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))
    np.testing.assert_allclose(approx, tanh_form, rtol=1e-13, atol=1e-15)  # both cancel in 1 + tanh near -5
    np.testing.assert_allclose(diff, tanh_form - _gelu(x), atol=1e-15)
    assert 4e-4 < np.abs(diff).max() < 5e-4  # the tanh approximation is off by < 5e-4 on [-5, 5]
    _, d_exact = _line(ax_d, "f1:0").get_data()
    np.testing.assert_allclose(d_exact, _gelu_prime(x), rtol=1e-12, atol=1e-15)
    fp.close(fig)


def test_parameter_sweep():
    fig = fp.compare("silu", sweep={"beta": [0.5, 1.0, 2.0]})
    labels = [line.get_label() for line in fig.axes[0].get_lines() if str(line.get_gid()).startswith("f0:")]
    assert labels == ["SiLU, beta=0.5", "SiLU, beta=1", "SiLU, beta=2"]
    for i, beta in enumerate([0.5, 1.0, 2.0]):
        x, y = _line(fig.axes[0], f"f0:{i}").get_data()
        np.testing.assert_allclose(y, x * sc.expit(beta * x), rtol=1e-13, atol=1e-16)
    fp.close(fig)
    with pytest.raises(ValueError, match="exactly one target"):
        fp.compare(["silu", "gelu"], sweep={"beta": [1.0]})


@pytest.mark.parametrize("n", [2, 3])
def test_softmax_on_the_simplex(n):
    fig = fp.simplex_map("softmax", n=n, resolution=41)
    data = fig.funclib_simplex
    rows = data.inputs.reshape(-1, n)
    np.testing.assert_allclose(data.outputs.reshape(-1, n), sc.softmax(rows, axis=1), rtol=1e-13, atol=1e-16)
    assert data.probability
    if n == 3:
        np.testing.assert_allclose(rows.sum(axis=1), 0.0, atol=1e-14)  # grid on x0 + x1 + x2 = 0
        image = [im for im in fig.axes[0].get_images() if im.get_gid() == "simplex_input"][0]
        np.testing.assert_allclose(image.get_array(), data.outputs)  # colour = outputs as RGB
    fp.close(fig)


def test_log_softmax_is_not_a_probability_map_and_wrong_kinds_raise():
    data = fp.simplex_data("log_softmax", 3, resolution=11)
    assert not data.probability
    np.testing.assert_allclose(data.outputs.reshape(-1, 3), sc.log_softmax(data.inputs.reshape(-1, 3), axis=1),
                               rtol=1e-12, atol=1e-15)
    with pytest.raises(TypeError, match="row-wise"):
        fp.simplex_data("gelu")
    with pytest.raises(ValueError, match="length 2 or 3"):
        fp.simplex_data("softmax", 4)
    with pytest.raises(TypeError, match="rowwise"):
        fp.plot("softmax")


def test_ulp_error_counts_ulps():
    one = np.array([1.0, -2.0, 0.0, np.nan, np.inf, 1.0])
    moved = np.array([np.nextafter(1.0, 2.0), np.nextafter(np.nextafter(-2.0, -3.0), -3.0), 0.0, np.nan, np.inf, np.nan])
    assert fp.ulp_error(moved, one, "float64").tolist() == [1.0, 2.0, 0.0, 0.0, 0.0, math.inf]
    x32 = np.float32(1.0)
    assert fp.ulp_error(np.nextafter(x32, np.float32(2)), np.array([1.0]), "float32").tolist() == [1.0]


def test_error_data_against_the_correctly_rounded_reference():
    exact = fp.error_data("relu", implementation="numpy")
    assert exact.max_ulp == 0.0
    bumped = fp.error_data("tanh", implementation=lambda x: np.nextafter(np.tanh(x), np.inf), x=[0.5, 1.0, 2.0])
    assert bumped.ulp.max() <= 2.0 and bumped.ulp.min() >= 0.0
    ax = fp.error_plot("gelu", order=1, implementation="numpy")
    data = ax.funclib_errors
    x, y = _line(ax, "ulp").get_data()
    np.testing.assert_array_equal(x, data.x)
    ref = np.array([float(_gelu_prime(np.float64(t))) for t in data.x[np.abs(data.x) < 8]])
    np.testing.assert_allclose(data.reference[np.abs(data.x) < 8], ref, rtol=1e-13, atol=1e-300)
    fp.close(ax.figure)


def test_kernel_error_plot_when_kernels_exist():
    entry = funclib.get("gelu")
    if not hasattr(entry, "kernel"):
        pytest.skip("funclib kernels are not installed in this tree (entry.kernel missing)")
    data = fp.error_data("tanh", implementation="kernel", dtype="float32", x=np.linspace(-6, 6, 61))
    assert data.implementation.startswith("funclib kernel")
    if data.tolerance is not None:  # funclib.accuracy's criterion: within B*max(1, kappa) ULP
        assert np.all(data.ulp <= data.tolerance), data.x[data.ulp > data.tolerance]


def test_saved_files_are_deterministic(tmp_path):
    paths = []
    for k in range(2):
        ax = fp.plot("tanh", points=301)
        for ext in ("svg", "png", "pdf"):
            paths.append(fp.save(ax.figure, tmp_path / f"g{k}.{ext}"))
        fp.close(ax.figure)
    for ext in ("svg", "png", "pdf"):
        assert (tmp_path / f"g0.{ext}").read_bytes() == (tmp_path / f"g1.{ext}").read_bytes()
    svg = (tmp_path / "g0.svg").read_text()
    assert "<dc:date>" not in svg and "Matplotlib v" not in svg
    # A fresh process draws the same bytes (no dependence on ids, hash seeds or time).
    code = (
        "import matplotlib; matplotlib.use('Agg'); import funclib.plotting as fp, sys;"
        "ax = fp.plot('tanh', points=301); fp.save(ax.figure, sys.argv[1])"
    )
    subprocess.run([sys.executable, "-c", code, str(tmp_path / "fresh.svg")], check=True,
                   env={**os.environ, "PYTHONHASHSEED": "123"})
    assert hashlib.sha256((tmp_path / "fresh.svg").read_bytes()).hexdigest() == \
        hashlib.sha256((tmp_path / "g0.svg").read_bytes()).hexdigest()
    with pytest.raises(ValueError, match=".png, .svg or .pdf"):
        fp.save(None, tmp_path / "x.jpg")


def test_draws_into_given_axes():
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2)
    assert fp.plot("tanh", ax=a) is a
    assert fp.plot("sigmoid", derivative=False, ax=b) is b
    assert _line(b, "f0") and not [l for l in b.get_lines() if l.get_gid() == "f1"]
    plt.close(fig)


# -- the command line --------------------------------------------------------------------


def run(capsys, *args):
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_plot_gelu_png(tmp_path, capsys):
    target = tmp_path / "gelu.png"
    code, out, _ = run(capsys, "plot", "gelu", "-o", str(target))
    assert code == 0
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"wrote {target}" in out and "local minimum at x = -0.75179152469" in out


def test_cli_plot_json_derivative_params(tmp_path, capsys):
    target = tmp_path / "elu.svg"
    code, out, _ = run(capsys, "plot", "elu", "--derivative", "--param", "alpha=0.5", "--json", "-o", str(target))
    assert code == 0
    data = json.loads(out)
    assert data["function"] == "ELU (alpha=0.5)"
    assert data["slope_bounds"] == {"value": [0.0, 1.0], "method": "interval"}  # 0.5 e^x on x < 0, 1 on x > 0
    assert data["zeros"] == [0.0] and data["extrema"] == []
    assert target.read_text().startswith("<?xml")


def test_cli_plot_compare_and_formula(tmp_path, capsys):
    code, out, _ = run(capsys, "plot", "gelu", "--variant", "tanh", "--vs", "gelu", "-o", str(tmp_path / "c.pdf"))
    assert code == 0 and "GELU [tanh] vs GELU" in out
    code, out, _ = run(capsys, "plot", "x/2 + Abs(x)/4", "--derivative", "-o", str(tmp_path / "f.png"))
    assert code == 0 and "proven slope band: f′ ∈ [0.25, 0.75] (interval)" in out


@pytest.mark.parametrize(
    "args, message",
    [
        (("plot", "gelu", "-o", "g.jpg"), "must end in .png, .svg or .pdf"),
        (("plot", "softmax", "-o", "s.png"), "simplex_map"),
        (("plot", "x*foo(x)", "-o", "f.png"), "function 'foo' is not allowed"),
        (("plot", "silu", "--param", "beta=-1", "-o", "s.png"), "outside its range"),
        (("plot", "gelu", "--x-range", "3,1", "-o", "g.png"), "LO < HI"),
        (("plot", "gelu", "--variant", "nope", "-o", "g.png"), "has no variant 'nope'"),
    ],
)
def test_cli_plot_bad_input_exits_2(tmp_path, monkeypatch, capsys, args, message):
    monkeypatch.chdir(tmp_path)
    code, _, err = run(capsys, *args)
    assert code == 2 and message in err and err.count("\n") == 1


def test_tour_writes_the_gelu_plot(tmp_path, monkeypatch, capsys):
    from funclib import plotting_cli

    monkeypatch.chdir(tmp_path)
    plotting_cli.tour()
    out = capsys.readouterr().out
    assert (tmp_path / "funclib-tour-gelu.png").stat().st_size > 10_000
    assert str(tmp_path / "funclib-tour-gelu.png") in out and "-0.7517915247" in out


def test_gate_surface():
    fig = fp.surface("glu", resolution=31)
    data = fig.funclib_surface
    a, b = data.grid[..., 0], data.grid[..., 1]
    assert data.variables == ("a", "b")
    np.testing.assert_allclose(data.values, a * sc.expit(b), rtol=1e-14, atol=1e-300)  # GLU: a*sigmoid(b)
    image = [im for im in fig.axes[0].get_images() if im.get_gid() == "surface"][0]
    np.testing.assert_array_equal(image.get_array(), data.values)
    fp.close(fig)
    with pytest.raises(TypeError, match="two variables"):
        fp.surface_data("gelu")
