"""Convolutional networks in the verifier and certified robustness radii.

Second methods: unrolled convolutions and pooling against PyTorch's layers; the LipSDP bound of
an unrolled CNN against the same network built from PyTorch's outputs on the unit basis; radii
of a linear classifier against the exact distance to its decision boundary; radii of trained
networks against a PGD attack (which must never change a prediction inside them).
"""

from __future__ import annotations

import functools
import json
import math

import numpy as np
import pytest
import scipy.sparse as sps

from helpers import assert_survives_pgd, pgd_flips

from funclib.verify import Network, NetworkError, VerificationError, from_torch, lipschitz, load, robustness, save_npz

torch = pytest.importorskip("torch")
nn = torch.nn


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    """Small models on a shared 2-core machine: threads only contend."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _eval_double(model):
    return model.double().eval()


def _compare(model, input_shape, n=4, seed=0):
    net = from_torch(model, input_shape=input_shape)
    x = torch.randn((n,) + tuple(input_shape), dtype=torch.float64, generator=torch.Generator().manual_seed(seed))
    want = model(x).detach().numpy().reshape(n, -1)
    got = net(x.numpy().reshape(n, -1))
    assert np.allclose(got, want, rtol=1e-10, atol=1e-10), np.abs(got - want).max()
    return net


# -- loading ---------------------------------------------------------------------------------

@pytest.mark.parametrize("seed", range(12))
def test_conv_configurations_match_torch(seed):
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    c_in, groups = [(1, 1), (2, 1), (2, 2), (3, 3), (4, 2)][seed % 5]
    c_out = groups * int(rng.integers(1, 3))
    k = (int(rng.integers(1, 4)), int(rng.integers(1, 5)))
    padding = "same" if seed % 4 == 0 else ("valid" if seed % 4 == 1 else (int(rng.integers(0, 3)), 1))
    stride = 1 if padding == "same" else (int(rng.integers(1, 3)), int(rng.integers(1, 3)))
    dilation = (int(rng.integers(1, 3)), 1)
    conv = nn.Conv2d(c_in, c_out, k, stride=stride, padding=padding, dilation=dilation, groups=groups,
                     bias=bool(seed % 2))
    shape = (c_in, int(rng.integers(6, 10)), int(rng.integers(6, 10)))
    width = conv(torch.zeros((1,) + shape)).numel()
    model = _eval_double(nn.Sequential(conv, nn.Tanh(), nn.Flatten(), nn.Linear(width, 3)))
    net = _compare(model, shape)
    assert sps.issparse(net.weights[0]) and net.input_shape == shape


@pytest.mark.parametrize("ceil_mode, count_include_pad, divisor", [(False, True, None), (True, True, None),
                                                                   (True, False, None), (False, False, 3)])
def test_avgpool_and_batchnorm_fold_match_torch(ceil_mode, count_include_pad, divisor):
    torch.manual_seed(1)
    bn2, bn1 = nn.BatchNorm2d(3), nn.BatchNorm1d(5)
    for bn in (bn2, bn1):
        bn.running_mean.normal_()
        bn.running_var.uniform_(0.3, 3.0)
        bn.weight.data.normal_()
        bn.bias.data.normal_()
    model = nn.Sequential(
        nn.Conv2d(1, 3, 3, padding=1), bn2, nn.GELU(), nn.Dropout(0.5),
        nn.AvgPool2d(3, stride=2, padding=1, ceil_mode=ceil_mode, count_include_pad=count_include_pad,
                     divisor_override=divisor),
        nn.Identity(), nn.Conv2d(3, 2, 2), nn.ELU(0.7), nn.Flatten(),
    )
    width = model(torch.zeros(1, 1, 8, 8)).shape[1]
    model = _eval_double(nn.Sequential(*model, nn.Linear(width, 5), bn1, nn.SiLU(), nn.Linear(5, 4)))
    net = _compare(model, (1, 8, 8))
    assert [a.name for a in net.activations] == ["gelu", "elu", "silu"]
    assert net.activations[1].params == {"alpha": 0.7}
    assert len(net.weights) == 4  # conv+bn | pool+conv | linear+bn | linear


def test_adjacent_affine_modules_merge_and_funclib_activations_load():
    ft = pytest.importorskip("funclib.torch")
    torch.manual_seed(2)
    model = _eval_double(nn.Sequential(nn.Linear(4, 6), nn.Dropout(), nn.Linear(6, 5), ft.Activation("golu"),
                                       nn.Identity(), nn.Linear(5, 2)))
    net = _compare(model, (4,))
    assert net.dims == (4, 5, 2) and net.activations[0].name == "golu"
    W = model[2].weight.detach().numpy() @ model[0].weight.detach().numpy()
    assert np.allclose(net.weights[0], W, rtol=1e-14, atol=1e-14)


class _SneakyReLU(nn.ReLU):
    def forward(self, x):
        return 3 * x


class _SneakyConv(nn.Conv2d):
    pass


def _hostile_cases():
    import funclib.torch as ft

    conv = lambda: nn.Conv2d(1, 2, 3)  # noqa: E731
    hooked = nn.ReLU()
    hooked.register_forward_hook(lambda mod, inp, out: out * 2)
    no_stats = nn.BatchNorm2d(2, track_running_stats=False)
    complex_lin = nn.Linear(2, 2)
    complex_lin.weight = nn.Parameter(torch.ones(2, 2, dtype=torch.complex64))
    nan_lin = nn.Linear(2, 2)
    nan_lin.weight.data[0, 0] = math.nan
    return [
        (nn.Sequential(conv(), nn.ReLU(), nn.Flatten(), nn.Linear(18, 2)), None, "input_shape"),
        (nn.Sequential(conv(), nn.ReLU(), nn.Linear(3, 2)), (1, 5, 5), "add nn.Flatten"),
        (nn.Sequential(nn.Linear(2, 2), _SneakyReLU(), nn.Linear(2, 2)), None, "module 1 .*_SneakyReLU"),
        (nn.Sequential(_SneakyConv(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(18, 2)), (1, 5, 5), "_SneakyConv"),
        (nn.Sequential(nn.Linear(2, 2), hooked, nn.Linear(2, 2)), None, "module 1 .*hooks"),
        (nn.Sequential(conv(), no_stats, nn.ReLU(), nn.Flatten(), nn.Linear(18, 2)), (1, 5, 5), "running statistics"),
        (nn.Sequential(complex_lin, nn.ReLU(), nn.Linear(2, 2)), None, "module 0 .*complex"),
        (nn.Sequential(nan_lin, nn.ReLU(), nn.Linear(2, 2)), None, "module 0 .*NaN"),
        (nn.Sequential(nn.Conv2d(1, 2, 3, padding=1, padding_mode="reflect"), nn.ReLU(), nn.Flatten(),
                       nn.Linear(50, 2)), (1, 5, 5), "padding_mode='reflect'"),
        (nn.Sequential(conv(), nn.ReLU(), nn.Flatten(start_dim=2), nn.Linear(9, 2)), (1, 5, 5), "Flatten\\(start_dim=2"),
        (nn.Sequential(nn.ReLU(), nn.Linear(2, 2)), None, "before the first affine"),
        (nn.Sequential(nn.Linear(2, 2), nn.ReLU()), None, "ends with an activation"),
        (nn.Sequential(conv(), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(2, 2)), (1, 5, 5),
         "module 2 .*MaxPool2d"),
        (nn.Sequential(nn.Conv2d(1, 2, 7), nn.ReLU(), nn.Flatten(), nn.Linear(2, 2)), (1, 5, 5), "does not fit"),
        (nn.Sequential(nn.Linear(3, 2), nn.ReLU(), nn.Linear(2, 2)), (4,), "Linear\\(3, 2\\) applied to a tensor"),
        (nn.Sequential(conv(), nn.BatchNorm2d(3), nn.ReLU(), nn.Flatten(), nn.Linear(18, 2)), (1, 5, 5),
         "BatchNorm2d\\(3\\) does not fit"),
        (nn.Sequential(nn.Linear(2, 3), ft.Activation("prelu", num_parameters=3), nn.Linear(3, 2)), None,
         "3 values of parameter 'a'"),
    ]


@pytest.mark.parametrize("case", range(len(_hostile_cases())))
def test_hostile_models_are_refused_by_layer(case):
    model, shape, message = _hostile_cases()[case]
    with pytest.raises(NetworkError, match=message):
        from_torch(model, input_shape=shape)


def test_formula_activation_is_refused():
    ft = pytest.importorskip("funclib.torch")
    model = nn.Sequential(nn.Linear(2, 2), ft.Activation("x*tanh(x)"), nn.Linear(2, 1))
    with pytest.raises(NetworkError, match="formula"):
        from_torch(model)


def test_sparse_weights_are_checked_like_dense_ones():
    good = sps.random(4, 3, density=0.5, random_state=0, format="csr")
    Network([good, np.ones((2, 4))], "relu")
    bad = good.copy()
    bad.data[0] = np.inf
    with pytest.raises(NetworkError, match="layer 0: weight has NaN"):
        Network([bad, np.ones((2, 4))])
    with pytest.raises(NetworkError, match="layer 1: weight is complex"):
        Network([good, sps.csr_matrix(np.ones((2, 4)) * 1j)])
    with pytest.raises(NetworkError, match="input_shape"):
        Network([good, np.ones((2, 4))], input_shape=(2, 2))


def test_npz_round_trip_keeps_input_shape_and_values(tmp_path):
    torch.manual_seed(3)
    model = _eval_double(nn.Sequential(nn.Conv2d(1, 2, 3, stride=2), nn.ReLU(), nn.Flatten(), nn.Linear(8, 3)))
    net = from_torch(model, input_shape=(1, 5, 5))
    save_npz(net, tmp_path / "cnn.npz")
    back = load(tmp_path / "cnn.npz")
    assert back.input_shape == (1, 5, 5)
    x = np.random.default_rng(0).standard_normal((3, 25))
    assert np.allclose(back(x), net(x), rtol=1e-14, atol=1e-14)  # dense vs sparse sums: rounding only


def test_unrolled_cnn_bound_equals_the_dense_network_from_torch_outputs():
    """The conv operator rebuilt from PyTorch's outputs on the unit basis (no funclib unrolling)
    gives the same LipSDP bound."""
    torch.manual_seed(4)
    model = _eval_double(nn.Sequential(nn.Conv2d(1, 3, 3, stride=2, padding=1), nn.ReLU(), nn.AvgPool2d(2),
                                       nn.Conv2d(3, 4, 2), nn.GELU(), nn.Flatten(), nn.Linear(4, 3)))
    net = from_torch(model, input_shape=(1, 8, 8))
    with torch.no_grad():
        basis = torch.eye(64, dtype=torch.float64).reshape(64, 1, 8, 8)
        W0 = (model[0](basis) - model[0](torch.zeros(1, 1, 8, 8, dtype=torch.float64))).reshape(64, -1).T.numpy()
        pooled = torch.eye(48, dtype=torch.float64).reshape(48, 3, 4, 4)
        W1 = (model[3](model[2](pooled)) - model[3](model[2](0 * pooled[:1]))).reshape(48, -1).T.numpy()
    dense = Network([W0, W1, model[6].weight.detach().numpy()], ["relu", "gelu"])
    a = lipschitz(net, lower=False, solver="structured").value
    b = lipschitz(dense, lower=False, solver="structured").value
    assert abs(a / b - 1) < 1e-6


# -- robustness ------------------------------------------------------------------------------

def test_linear_classifier_radii_are_the_exact_boundary_distance():
    rng = np.random.default_rng(5)
    W, b = rng.standard_normal((4, 6)), rng.standard_normal(4)
    net = Network([W], [], [b])
    X = rng.standard_normal((30, 6))
    y = np.argmax(X @ W.T + b, axis=1)
    y[:3] = (y[:3] + 1) % 4  # three misclassified inputs
    pair = robustness(net, X, y, method="pairwise")
    glob = robustness(net, X, y, method="global")
    logits = X @ W.T + b
    for i in range(3, 30):
        dist = [(logits[i, y[i]] - logits[i, j]) / np.linalg.norm(W[y[i]] - W[j]) for j in range(4) if j != y[i]]
        assert pair.radii[i] == pytest.approx(min(dist), rel=1e-9)
        j = [j for j in range(4) if j != y[i]][int(np.argmin(dist))]
        step = (W[j] - W[y[i]]) / np.linalg.norm(W[j] - W[y[i]])
        assert np.argmax(net(X[i] + 1.001 * pair.radii[i] * step)) != y[i]  # the radius is exact
    assert np.all(pair.radii[:3] == 0) and np.all(glob.radii <= pair.radii)
    assert glob.lipschitz == pytest.approx(np.linalg.norm(W, 2), rel=1e-9)
    assert pair.certified_accuracy(0.0) == pytest.approx(np.mean(pair.radii > 0))


def test_pair_solves_in_threads_give_the_serial_radii():
    rng = np.random.default_rng(11)
    W1, W2 = rng.standard_normal((12, 5)), rng.standard_normal((4, 12))
    net = Network([W1, W2], ["tanh"], [rng.standard_normal(12), rng.standard_normal(4)])
    X = rng.standard_normal((40, 5))
    y = np.argmax(net(X), axis=1)
    serial = robustness(net, X, y, method="pairwise", pair_threads=1)
    threaded = robustness(net, X, y, method="pairwise", pair_threads=3)
    assert [s["pair"] for s in serial.solves] == [s["pair"] for s in threaded.solves]
    np.testing.assert_allclose(threaded.radii, serial.radii, rtol=1e-9)
    assert any("at a time" in n for n in threaded.notes)
    with pytest.raises(ValueError, match="pair_threads"):
        robustness(net, X, y, method="pairwise", pair_threads=0)


@pytest.mark.parametrize("seed", range(20))
def test_solving_only_limiting_pairs_gives_the_radii_of_all_pairs(seed):
    """The selection of verify.robustness against solving every pair, with made-up pair bounds
    (each at most sqrt(2) L, as the LipSDP values capped by it are)."""
    from funclib.verify.robustness import radii_from_bounds, solve_limiting_pairs

    rng = np.random.default_rng(seed)
    m, K = 60, 6
    labels = rng.integers(0, K, m)
    correct = rng.random(m) < 0.9
    low = rng.standard_normal((m, K)) + 2.0
    low[np.arange(m), labels] = np.inf
    cap = 3.0
    true = rng.uniform(0.3, 1.0, (K, K)) * cap
    true = np.minimum(true, true.T)

    full = np.full((K, K), cap)
    for i in range(K):
        for j in range(K):
            if i != j:
                full[i, j] = true[i, j]
    lazy = np.full((K, K), cap)
    solved = []

    def solve_pairs(pairs):
        for i, j in pairs:
            solved.append((i, j))
            lazy[i, j] = lazy[j, i] = true[i, j]

    solve_limiting_pairs(low, lazy, labels, correct, solve_pairs)
    assert len(solved) == len(set(solved)) <= K * (K - 1) // 2
    assert np.array_equal(radii_from_bounds(low, lazy, labels, correct), radii_from_bounds(low, full, labels, correct))


@functools.lru_cache(maxsize=1)
def _digits():
    load_digits = pytest.importorskip("sklearn.datasets").load_digits
    data = load_digits()
    X = (data.data / 16.0).astype(np.float32)
    idx = np.random.default_rng(0).permutation(len(X))
    return X[idx[:1400]], data.target[idx[:1400]], X[idx[1400:]], data.target[idx[1400:]]


def _train(model, X, y, epochs):
    torch.manual_seed(0)
    opt = torch.optim.Adam(model.parameters(), 1e-2)
    Xt, yt = torch.tensor(X), torch.tensor(y)
    for _ in range(epochs):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(Xt), yt).backward()
        opt.step()
    return _eval_double(model)


@functools.lru_cache(maxsize=None)
def _nets(which):
    """A small classifier trained on 700 of the 8x8 digits (a few seconds), and 120 test inputs."""
    Xtr, ytr, Xte, yte = _digits()
    Xtr, ytr = Xtr[:700], ytr[:700]
    img = lambda a: a.reshape(-1, 1, 8, 8)  # noqa: E731
    act = nn.ReLU if "relu" in which else nn.GELU
    if which.startswith("mlp"):
        model = _train(nn.Sequential(nn.Linear(64, 24), act(), nn.Linear(24, 10)), Xtr, ytr, 60)
        return model, Xte[:120].astype(np.float64), yte[:120]
    model = _train(nn.Sequential(nn.Conv2d(1, 3, 3, stride=2, padding=1), act(), nn.Flatten(),
                                 nn.Linear(48, 10)), img(Xtr), ytr, 60)
    return model, img(Xte[:120]).astype(np.float64), yte[:120]


@pytest.mark.parametrize("which", ["mlp-relu", "mlp-gelu", "cnn-relu", "cnn-gelu"])
def test_global_radii_survive_pgd_on_trained_digits_nets(which):
    model, X, y = _nets(which)
    res = robustness(model, X, y, method="global")
    assert res.accuracy > 0.8  # a real classifier, so the radii are not trivially 0
    correct = res.predictions == y
    assert np.median(res.radii[correct]) > 0.02
    assert_survives_pgd(model, X, y, res.radii, among=correct, steps=30)
    # the attack is real: at 20x the certified radius it changes some predictions
    assert np.any(pgd_flips(model, X, y, 20 * res.radii + 1e-3, steps=20, restarts=1) & correct)


def test_pairwise_radii_survive_pgd_and_dominate_global_on_a_cnn():
    model, X, y = _nets("cnn-relu")
    keep = y == 0  # inputs of one class: 9 of the 45 pairs, to stay fast
    X, y = X[keep], y[keep]
    glob = robustness(model, X, y, method="global")
    pair = robustness(model, X, y, method="pairwise")
    assert len(pair.solves) <= 1 + 9  # only the pairs that limit some radius
    assert np.all(pair.radii >= glob.radii) and np.mean(pair.radii) > 1.05 * np.mean(glob.radii)
    correct = pair.predictions == y
    assert_survives_pgd(model, X, y, pair.radii, among=correct)


@pytest.mark.parametrize("which", ["mlp-gelu", "cnn-relu"])
def test_crown_radii_dominate_global_and_survive_pgd(which):
    model, X, y = _nets(which)
    X, y = X[:40], y[:40]
    glob = robustness(model, X, y, method="global")
    crown = robustness(model, X, y, method="crown", crown_steps=8)
    assert np.all(crown.radii >= glob.radii)
    # bound propagation is much tighter than the global Lipschitz radius on these nets
    assert np.mean(crown.radii) > 1.2 * np.mean(glob.radii)
    correct = crown.predictions == y
    assert_survives_pgd(model, X, y, crown.radii, among=correct)


@pytest.mark.slow
@pytest.mark.parametrize("which", ["mlp-gelu", "cnn-gelu"])
def test_pairwise_radii_survive_pgd_on_all_classes(which):
    model, X, y = _nets(which)
    glob = robustness(model, X, y, method="global")
    pair = robustness(model, X, y, method="pairwise")
    assert np.all(pair.radii >= glob.radii)
    correct = pair.predictions == y
    assert_survives_pgd(model, X, y, pair.radii, among=correct, restarts=3)


def test_bad_robustness_input_is_refused():
    net = Network([np.eye(3), np.ones((2, 3))], "relu")
    X = np.zeros((2, 3))
    with pytest.raises(NetworkError, match="labels y must be integers"):
        robustness(net, X, np.array([0.0, 1.0]))
    with pytest.raises(NetworkError, match="0..1"):
        robustness(net, X, np.array([0, 2]))
    with pytest.raises(NetworkError, match="shape \\(4,\\) per input"):
        robustness(net, np.zeros((2, 4)), np.array([0, 1]))
    with pytest.raises(NetworkError, match="NaN"):
        robustness(net, np.full((2, 3), np.nan), np.array([0, 1]))
    with pytest.raises(ValueError, match="norm"):
        robustness(net, X, np.array([0, 1]), norm="l1")
    with pytest.raises(ValueError, match="method"):
        robustness(net, X, np.array([0, 1]), method="exact")
    with pytest.raises(ValueError, match="local_bounds"):
        robustness(net, X, np.array([0, 1]), method="local", local_bounds="box")
    with pytest.raises(ValueError, match="enumerate_coords"):
        robustness(net, X, np.array([0, 1]), method="local", enumerate_coords=40)
    with pytest.raises(ValueError, match="batch_size"):
        robustness(net, X, np.array([0, 1]), method="local", batch_size=0)
    from funclib.verify.local import local_pair_lipschitz

    with pytest.raises(ValueError, match="label"):
        local_pair_lipschitz(net, X[0], 0.1, 2)
    with pytest.raises(ValueError, match="eps"):
        local_pair_lipschitz(net, X[0], -0.1, 0)
    with pytest.raises(ValueError, match="norm"):
        local_pair_lipschitz(net, X[0], 0.1, 0, norm="l1")
    with pytest.raises(NetworkError, match="at least 2 outputs"):
        robustness(Network([np.eye(3), np.ones((1, 3))]), X, np.array([0, 0]))


def test_no_radius_from_an_uncertified_bound(monkeypatch):
    import funclib.verify.api as api

    def fail(*args, **kwargs):
        raise VerificationError("solver failed")

    monkeypatch.setattr(api, "lipschitz", fail)
    with pytest.raises(VerificationError):
        robustness(Network([np.eye(2), np.eye(2)]), np.zeros((1, 2)), np.array([0]))


def test_cli_certify(tmp_path):
    from funclib.cli import main

    rng = np.random.default_rng(6)
    W = rng.standard_normal((3, 4))
    net = Network([sps.csr_matrix(np.eye(4)), W], "relu")
    save_npz(net, tmp_path / "net.npz")
    X = np.abs(rng.standard_normal((10, 4)))
    np.savez(tmp_path / "data.npz", X=X, y=np.argmax(X @ W.T, axis=1))
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["certify", str(tmp_path / "net.npz"), "--data", str(tmp_path / "data.npz"), "--eps", "0.05",
                     "--method", "pairwise", "--json"])
    assert code == 0
    data = json.loads(out.getvalue())
    assert data["accuracy"] == 1.0 and len(data["radii"]) == 10 and "0.05" in data["certified_accuracy"]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["certify", str(tmp_path / "net.npz"), "--data", str(tmp_path / "data.npz"), "--method", "local",
                     "--json"]) == 0
    local = json.loads(out.getvalue())
    assert local["baseline_radii"] == data["radii"] and np.all(np.array(local["radii"]) >= data["radii"])
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["certify", str(tmp_path / "net.npz"), "--data", str(tmp_path / "data.npz"), "--method", "local",
                     "--norm", "linf", "--json"]) == 0
    linf = json.loads(out.getvalue())
    assert linf["norm"] == "linf" and np.all(np.array(linf["radii"]) >= linf["baseline_radii"])
    assert np.array(linf["baseline_radii"]) * 2 == pytest.approx(data["radii"], rel=1e-12)  # √n = 2: r∞ = r2/2
    np.savez(tmp_path / "bad.npz", X=X)
    with contextlib.redirect_stderr(io.StringIO()) as err:
        assert main(["certify", str(tmp_path / "net.npz"), "--data", str(tmp_path / "bad.npz")]) == 2
    assert "missing y" in err.getvalue()


# -- local bounds ----------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["relu", "gelu", "silu", "tanh", "elu", "softplus"])
def test_cell_enclosures_contain_sampled_values_and_chord_slopes(name):
    from funclib.verify import activation, slope_bound
    from funclib.verify.activations import elementwise_kernels
    from funclib.verify.local import cell_table

    act = activation(name)
    table = cell_table(act)
    f = elementwise_kernels(act)[0]
    rng = np.random.default_rng(7)
    lo = rng.uniform(-20, 20, 300)
    hi = lo + rng.exponential(1.0, 300) * rng.choice([1e-3, 1.0, 5.0], 300)
    f_lo, f_hi = table.value_range(lo, hi)
    s_lo, s_hi = table.slope_range(lo, hi)
    t = lo[:, None] + (hi - lo)[:, None] * rng.random((300, 20))
    vals = f(t)
    assert np.all(vals >= f_lo[:, None] - 1e-12) and np.all(vals <= f_hi[:, None] + 1e-12)
    a, b = t[:, :10], t[:, 10:]
    chord = (f(a) - f(b)) / (a - b)
    ok = np.abs(a - b) > 1e-6  # rounding in f dominates closer chords
    assert np.all((chord >= s_lo[:, None] - 1e-7) | ~ok) and np.all((chord <= s_hi[:, None] + 1e-7) | ~ok)
    glob = slope_bound(act)
    assert np.all(s_lo >= glob.alpha) and np.all(s_hi <= glob.beta)
    assert np.mean(s_hi - s_lo) < 0.5 * (glob.beta - glob.alpha)  # the point of the local method


@pytest.mark.parametrize("act", ["gelu", "relu"])
def test_local_bound_is_above_jacobian_norms_in_the_ball_and_below_global(act):
    from funclib.verify import jacobian
    from funclib.verify.local import local_lipschitz

    rng = np.random.default_rng(8)
    net = Network([rng.standard_normal((10, 4)), rng.standard_normal((8, 10)), rng.standard_normal((3, 8))], act,
                  [rng.standard_normal(10), rng.standard_normal(8), np.zeros(3)])
    glob = lipschitz(net, lower=False).value
    x = rng.standard_normal(4)
    for eps in (0.05, 0.4):
        local = local_lipschitz(net, x, eps)
        d = rng.standard_normal((400, 4))
        d *= (eps * rng.random((400, 1)) ** 0.25) / np.linalg.norm(d, axis=1, keepdims=True)
        sampled = max(np.linalg.norm(jacobian(net, x + row), 2) for row in d)
        assert sampled <= local * (1 + 1e-9) and local <= glob * (1 + 1e-6)
    assert local_lipschitz(net, x, 0.05) < 0.9 * glob  # a small ball sees few slopes


def test_local_radii_on_a_small_net_dominate_global_and_survive_pgd():
    torch.manual_seed(9)
    model = _eval_double(nn.Sequential(nn.Linear(3, 8), nn.GELU(), nn.Linear(8, 3)))
    X = np.random.default_rng(9).standard_normal((5, 3))
    with torch.no_grad():
        y = model(torch.tensor(X)).argmax(1).numpy()
    glob = robustness(model, X, y, method="global")
    local = robustness(model, X, y, method="local", local_steps=2)
    assert np.all(local.radii >= glob.radii) and np.any(local.radii > 1.01 * glob.radii)
    assert_survives_pgd(model, X, y, local.radii)


def _small_gelu_case(n=8, seed=9):
    torch.manual_seed(seed)
    model = _eval_double(nn.Sequential(nn.Linear(3, 8), nn.GELU(), nn.Linear(8, 8), nn.GELU(), nn.Linear(8, 3)))
    X = np.random.default_rng(seed).standard_normal((n, 3))
    with torch.no_grad():
        y = model(torch.tensor(X)).argmax(1).numpy()
    return model, X, y


@pytest.mark.slow  # starts a LocalCluster of 2 processes (about 30 s on 2 loaded cores)
def test_local_batches_on_a_two_worker_dask_cluster_match_the_in_process_run():
    pytest.importorskip("distributed")
    model, X, y = _small_gelu_case()
    here = robustness(model, X, y, method="local", local_steps=4, batch_size=3)
    dask = robustness(model, X, y, method="local", local_steps=4, batch_size=3, workers=2)
    assert np.array_equal(dask.radii, here.radii)
    assert any("3 Dask task(s) on 2 worker(s)" in note for note in dask.notes)
    assert_survives_pgd(model, X, y, dask.radii)


def test_a_failed_local_batch_task_reports_no_radius(monkeypatch):
    import funclib.jobs as jobs

    def failing_run(tasks, **kwargs):
        report = jobs.JobReport(results={k: np.zeros(1) for k in list(tasks)[1:]})
        report.failures[next(iter(tasks))] = "KilledWorker: worker died"
        return report

    monkeypatch.setattr(jobs, "run_tasks", failing_run)
    model, X, y = _small_gelu_case()
    with pytest.raises(VerificationError, match="local batch task"):
        robustness(model, X, y, method="local", batch_size=3, workers=2)


def test_local_radii_dominate_pairwise_and_survive_pgd_on_two_hidden_layers():
    model, X, y = _small_gelu_case(n=12, seed=4)
    for bounds in ("crown", "ibp"):
        local = robustness(model, X, y, method="local", local_bounds=bounds)
        pair = local.baseline_radii
        assert np.all(local.radii >= pair) and np.any(local.radii > 1.01 * pair)
        assert_survives_pgd(model, X, y, local.radii, restarts=3, label=bounds)


@pytest.mark.slow
def test_local_radii_dominate_global_and_survive_pgd():
    model, X, y = _nets("mlp-gelu")
    X, y = X[:6], y[:6]
    glob = robustness(model, X, y, method="global")
    local = robustness(model, X, y, method="local", local_steps=2)
    correct = local.predictions == y
    assert np.all(local.radii >= glob.radii) and np.any(local.radii[correct] > 1.01 * glob.radii[correct])
    assert_survives_pgd(model, X, y, local.radii, among=correct)


# -- exact local constants of tiny ReLU nets, by enumeration of activation patterns ------------

def _reachable_patterns(net, x0, eps):
    """Activation patterns of a ReLU network whose region meets the ball B(x0, eps) in an open
    set (full-dimensional pieces only), found by depth-first search over the neurons with one
    second-order cone feasibility problem per partial pattern (cvxpy): maximize the slack t of
    the sign constraints s_i (a_i x + c_i) >= t ‖a_i‖ inside the ball; a pattern is reachable
    when t > 0. Independent of funclib's interval code."""
    cp = pytest.importorskip("cvxpy")
    W = [np.asarray(w.toarray() if sps.issparse(w) else w) for w in net.weights]
    b = list(net.biases)
    xv, t = cp.Variable(x0.size), cp.Variable()

    def feasible(rows, consts, signs):
        A, c, s = np.array(rows), np.array(consts), np.array(signs, dtype=float)
        norms = np.linalg.norm(A, axis=1)
        prob = cp.Problem(cp.Maximize(t), [cp.multiply(s, A @ xv + c) >= t * norms, cp.norm(xv - x0) <= eps, t <= 1])
        prob.solve(solver="CLARABEL")
        return prob.status == "optimal" and t.value > 1e-7

    found = []

    def search(layer, A, c, neuron, rows, consts, signs, pattern):
        if neuron == A.shape[0]:  # layer complete: the next layer's affine map given this pattern
            d = np.array(pattern[-1], dtype=float)
            A2, c2 = W[layer + 1] @ (d[:, None] * A), W[layer + 1] @ (d * c) + b[layer + 1]
            if layer + 1 == len(W) - 1:
                found.append((tuple(map(tuple, pattern)), A2))  # A2 is the Jacobian on this piece
                return
            search(layer + 1, A2, c2, 0, rows, consts, signs, pattern + [[]])
            return
        for s in (1, -1):
            r, k, g = rows + [A[neuron]], consts + [c[neuron]], signs + [s]
            if feasible(r, k, g):
                search(layer, A, c, neuron + 1, r, k, g, pattern[:-1] + [pattern[-1] + [1 if s > 0 else 0]])

    search(0, W[0], b[0], 0, [], [], [], [[]])
    return found


def _tiny_relu_net(seed, widths):
    rng = np.random.default_rng(seed)
    dims = [3, *widths, 3]
    weights = [rng.standard_normal((dims[k + 1], dims[k])) for k in range(len(dims) - 1)]
    biases = [0.5 * rng.standard_normal(d) for d in dims[1:]]
    return Network(weights, "relu", biases)


@pytest.mark.parametrize("seed, widths, eps", [(11, (10,), 0.5), (12, (5, 4), 0.4), (13, (4, 4, 3), 0.3)])
def test_local_bounds_are_above_the_exact_constant_from_pattern_enumeration(seed, widths, eps):
    from funclib.verify.local import local_lipschitz, local_pair_lipschitz

    net = _tiny_relu_net(seed, widths)
    x0 = np.random.default_rng(seed + 100).standard_normal(3)
    pieces = _reachable_patterns(net, x0, eps)
    assert 1 < len(pieces) < 2 ** sum(widths)  # the ball meets several pieces, not all
    # every pattern met by sampled points of the ball is among the enumerated ones
    d = np.random.default_rng(seed).standard_normal((3000, 3))
    d *= eps * np.random.default_rng(seed + 1).random((3000, 1)) ** (1 / 3) / np.linalg.norm(d, axis=1, keepdims=True)
    sampled, h = set(), x0 + d
    pats = []
    for w, bias in zip(net.weights[:-1], net.biases[:-1]):
        z = h @ w.T + bias
        pats.append(z > 0)
        h = np.maximum(z, 0)
    for row in zip(*pats):
        sampled.add(tuple(tuple(int(v) for v in layer) for layer in row))
    assert sampled <= {p for p, _ in pieces}
    # exact constants: the full Jacobian's spectral norm and each margin's gradient norm
    exact_full = max(np.linalg.norm(J, 2) for _, J in pieces)
    label = int(np.argmax(net(x0)))
    exact_pair = np.array([max(np.linalg.norm(J[label] - J[j]) for _, J in pieces) for j in range(3)])
    pair = local_pair_lipschitz(net, x0, eps, label)
    assert np.all(pair >= exact_pair * (1 - 1e-12)) and pair[label] == 0
    assert np.all(pair <= 2.0 * exact_pair + 1e-12)  # and not vacuous
    full = local_lipschitz(net, x0, eps)
    assert full >= exact_full * (1 - 1e-9)
    assert full <= lipschitz(net, lower=False).value * (1 + 1e-6)


def test_pair_bound_enumeration_is_the_exact_maximum_over_the_sector_box():
    """One hidden layer, every slope-box vertex enumerated: the bound is the brute-force maximum."""
    import itertools

    from funclib.verify.local import PairBounds, local_sectors

    net = _tiny_relu_net(21, (9,))
    x0 = np.random.default_rng(21).standard_normal(3)
    for eps in (0.3, 1.0):
        alphas, betas = local_sectors(net, x0, eps)
        W0, W1 = net.weights
        brute = np.zeros(3)
        for s in itertools.product(*[sorted({a, b}) for a, b in zip(alphas[0], betas[0])]):
            J = W1 @ (np.array(s)[:, None] * W0)
            brute = np.maximum(brute, [np.linalg.norm(J[0] - J[j]) for j in range(3)])
        got = PairBounds(net, enumerate_coords=9)(x0, eps, 0)
        assert got == pytest.approx(brute, rel=1e-12) and np.all(got >= brute)
        coarse = PairBounds(net, enumerate_coords=0)(x0, eps, 0)  # intervals only: valid, looser
        assert np.all(coarse >= got)


def test_spectral_norm_bound_is_above_the_svd_value_and_close_to_it():
    from funclib.verify.local import _spectral_norm_up

    rng = np.random.default_rng(31)
    for shape in ((64, 40), (5, 30), (30, 1), (8, 8)):
        M = rng.standard_normal(shape) * rng.choice([1e-3, 1.0, 1e3])
        svd = np.linalg.svd(M, compute_uv=False)[0]
        got = _spectral_norm_up(M)
        assert svd <= got <= svd * (1 + 1e-6)
    rank_one = np.outer(rng.standard_normal(20), rng.standard_normal(7))
    assert _spectral_norm_up(rank_one) >= np.linalg.norm(rank_one, 2)


# -- ℓ∞ radii --------------------------------------------------------------------------------

def test_linf_radii_of_a_linear_classifier():
    """Exact ℓ∞ distance to the boundary: margin / ‖w_y - w_j‖₁. ``local`` reaches it (an affine
    margin's ℓ∞ constant is that ℓ1 norm); ``global``/``pairwise`` (ℓ2 constants times √n) stay below."""
    rng = np.random.default_rng(5)
    W, b = rng.standard_normal((4, 6)), rng.standard_normal(4)
    net = Network([W], [], [b])
    X = rng.standard_normal((30, 6))
    y = np.argmax(X @ W.T + b, axis=1)
    logits = X @ W.T + b
    exact = np.array([min((logits[i, y[i]] - logits[i, j]) / np.abs(W[y[i]] - W[j]).sum()
                          for j in range(4) if j != y[i]) for i in range(30)])
    res = {m: robustness(net, X, y, method=m, norm="linf") for m in ("global", "pairwise", "local", "crown")}
    assert all(r.norm == "linf" and "linf" in str(r) for r in res.values())
    assert res["local"].radii == pytest.approx(exact, rel=1e-9) and np.all(res["local"].radii <= exact)
    for m in ("global", "pairwise", "crown"):
        assert np.all(res[m].radii <= exact * (1 + 1e-12)), m
    assert np.all(res["pairwise"].radii * math.sqrt(6) >= res["pairwise"].radii)
    assert np.all(res["global"].radii <= res["pairwise"].radii) and np.all(res["pairwise"].radii <= res["local"].radii)
    # the radius is exact: the worst corner of the box just beyond it flips the prediction
    for i in range(30):
        j = min((j for j in range(4) if j != y[i]),
                key=lambda j: (logits[i, y[i]] - logits[i, j]) / np.abs(W[y[i]] - W[j]).sum())
        assert np.argmax(net(X[i] + 1.001 * exact[i] * np.sign(W[j] - W[y[i]]))) != y[i]
    # the ℓ∞ attack of the other tests is real: just beyond the exact radius it flips most inputs
    # (it climbs toward the runner-up class, which need not be the nearest boundary in ℓ∞)
    model = nn.Linear(6, 4).double()
    with torch.no_grad():
        model.weight.copy_(torch.tensor(W))
        model.bias.copy_(torch.tensor(b))
    assert np.mean(pgd_flips(model, X, y, 1.01 * exact, norm="linf")) > 0.6
    assert_survives_pgd(model, X, y, res["local"].radii, norm="linf")


def test_linf_pair_bounds_are_above_gradient_l1_norms_in_the_box():
    """ℓ∞ pair constants on a box bound the ℓ1 norm of every margin gradient sampled in it
    (corners included; Jacobians by forward products, independent of the interval code)."""
    from funclib.verify import jacobian
    from funclib.verify.local import local_pair_lipschitz

    rng = np.random.default_rng(14)
    net = Network([rng.standard_normal((10, 4)), rng.standard_normal((8, 10)), rng.standard_normal((3, 8))], "gelu",
                  [rng.standard_normal(10), rng.standard_normal(8), np.zeros(3)])
    x = rng.standard_normal(4)
    for eps in (0.05, 0.3):
        for bounds in ("ibp", "crown"):
            linf = local_pair_lipschitz(net, x, eps, 0, bounds=bounds, norm="linf")
            d = eps * rng.uniform(-1, 1, (200, 4))
            d[:70] = eps * np.sign(d[:70])  # corners
            J = np.array([jacobian(net, x + row) for row in d])
            sampled = np.abs(J[:, :1, :] - J).sum(axis=2).max(axis=0)
            assert np.all(sampled <= linf * (1 + 1e-9)) and linf[0] == 0
            if eps == 0.05:  # a small box sees few slopes: the bound is close to the sampled maximum
                assert np.all(linf[1:] <= 1.5 * sampled[1:])


def test_linf_local_and_crown_radii_survive_pgd_on_a_small_net():
    model, X, y = _small_gelu_case(n=12, seed=4)
    pair = robustness(model, X, y, method="pairwise", norm="linf")
    crown = robustness(model, X, y, method="crown", norm="linf", crown_steps=8)
    assert np.all(crown.radii >= robustness(model, X, y, method="global", norm="linf").radii)
    local = robustness(model, X, y, method="local", norm="linf")  # CROWN boxes (ℓ1 dual norm) inside
    assert np.array_equal(local.baseline_radii, pair.radii)
    assert np.all(local.radii >= pair.radii) and np.any(local.radii > 1.01 * pair.radii)
    for name, res in (("local", local), ("crown", crown)):
        assert_survives_pgd(model, X, y, res.radii, norm="linf", restarts=3, label=name)


@pytest.mark.slow  # 22 LipSDP solves and four certifications per net (about a minute loaded)
@pytest.mark.parametrize("which", ["mlp-gelu", "cnn-relu"])
def test_linf_radii_survive_pgd_on_trained_digits_nets(which):
    """Every method's ℓ∞ radii survive a PGD-ℓ∞ attack at 0.999 x radius; the attack is real
    (it breaks some inputs at 4x the radii); local beats the √n conversion."""
    model, X, y = _nets(which)
    keep = y == 3  # one class: 9 LipSDP pair solves, to stay fast
    X, y = X[keep], y[keep]
    res = {m: robustness(model, X, y, method=m, norm="linf", crown_steps=8) for m in ("global", "pairwise", "local",
                                                                                        "crown")}
    correct = res["global"].predictions == y
    assert np.mean(correct) > 0.8
    assert np.all(res["pairwise"].radii >= res["global"].radii)
    assert np.all(res["local"].radii >= res["pairwise"].radii)
    assert np.all(res["crown"].radii >= res["global"].radii)
    assert np.mean(res["local"].radii) > 1.1 * np.mean(res["pairwise"].radii)
    for m, r in res.items():
        assert_survives_pgd(model, X, y, r.radii, among=correct, norm="linf", label=m)
    assert np.any(pgd_flips(model, X, y, 4 * res["local"].radii + 1e-3, norm="linf", restarts=1) & correct)


def test_local_pairs_certified_by_crown_margins_survive_pgd():
    # one hidden layer: the ball's intervals are the same for bounds="crown" and "ibp", so any
    # gain of "crown" comes from CROWN's margin bounds certifying pairs the slope bound misses
    torch.manual_seed(3)
    model = _eval_double(nn.Sequential(nn.Linear(3, 16), nn.ReLU(), nn.Linear(16, 3)))
    X = np.random.default_rng(3).standard_normal((16, 3))
    with torch.no_grad():
        y = model(torch.tensor(X)).argmax(1).numpy()
    ibp = robustness(model, X, y, method="local", local_bounds="ibp")
    both = robustness(model, X, y, method="local", local_bounds="crown")
    assert np.array_equal(ibp.baseline_radii, both.baseline_radii)
    assert np.all(both.radii >= both.baseline_radii) and np.any(both.radii > 1.05 * ibp.radii)
    assert_survives_pgd(model, X, y, both.radii, steps=60, restarts=4)
