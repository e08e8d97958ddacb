"""funclib.verify: certified LipSDP bounds, the sandwich, loaders and the CLI.

Every upper bound is checked against an independent quantity: the exact constant (product of
nonnegative weights, spectral norm, pattern enumeration with LPs), a lower bound from real
Jacobians, another solver, or the published LipSDP values.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from funclib.verify import (
    EstimatedBoundError,
    Network,
    NetworkError,
    NotSlopeRestrictedError,
    VerificationError,
    certify,
    exact_lipschitz_pl,
    jacobian,
    lipschitz,
    load,
    load_mat,
    lower_bound,
    save_npz,
)
from funclib.verify import activations as acts
from funclib.verify import solvers
from funclib.verify.certify import min_rho, verify_psd
from funclib.verify.closed_form import layerwise_multipliers
from funclib.verify.reduce import reduce
from funclib.verify.structure import LipSDP, layer_qcs

# The reference example lives in the shared data folder laid next to the repository.
DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "lipsdp" / "random_weights.mat"

HAVE_CVXPY = "CVXOPT" in solvers.available_solvers() or "SDPA" in solvers.available_solvers()


def rand_net(dims, act="relu", seed=0, nonneg=False, bias=0.0):
    rng = np.random.default_rng(seed)
    ws = [rng.standard_normal((dims[k + 1], dims[k])) / math.sqrt(dims[k]) for k in range(len(dims) - 1)]
    if nonneg:
        ws = [np.abs(w) for w in ws]
    bs = [bias * rng.standard_normal(dims[k + 1]) for k in range(len(dims) - 1)]
    return Network(ws, act, bs)


def lmi_of(net, method="neuron"):
    bounds = [None if a.kind == "grouped" else acts.slope_bound(a) for a in net.activations]
    return LipSDP(net.weights, layer_qcs(net.activations, net.dims[1:-1], bounds), method)


# -- the reference example -------------------------------------------------------------------

@pytest.fixture(scope="module")
def reference_net():
    if not DATA.exists():
        pytest.skip("shared/data/lipsdp/random_weights.mat is not laid out next to the repository")
    return load_mat(DATA)


def test_reference_example_neuron_layer_split(reference_net):
    net = reference_net
    assert net.dims == (2, 10, 30, 20, 2)
    exact = float(np.linalg.norm(net.weights[3] @ net.weights[2] @ net.weights[1] @ net.weights[0], 2))
    neuron = lipschitz(net, method="neuron", solver="structured")
    layer = lipschitz(net, method="layer", solver="structured", lower=False)
    split = lipschitz(net, method="neuron", split=2, solver="structured", lower=False)
    assert round(neuron.value, 3) == 36.482  # published LipSDP-Neuron
    assert round(layer.value, 3) == 39.839  # published LipSDP-Layer
    assert round(split.value, 3) == 37.668  # published LipSDP-Neuron, split size 2
    assert neuron.certified and layer.certified and split.certified
    # nonnegative weights: the exact constant is ‖W4W3W2W1‖ and LipSDP-Neuron attains it
    assert exact <= neuron.value <= exact * (1 + 1e-6)
    assert neuron.lower <= exact * (1 + 1e-12)
    assert neuron.lower >= exact * (1 - 1e-9)  # the pattern search finds the all-active region
    assert neuron.naive > layer.value > neuron.value
    assert neuron.sdp_lower is not None and neuron.sdp_lower <= neuron.value
    assert neuron.value <= neuron.closed_form <= neuron.naive * (1 + 1e-9)


@pytest.mark.skipif(not HAVE_CVXPY, reason="cvxpy with SDPA or CVXOPT is not installed")
def test_reference_example_with_cvxpy_solvers(reference_net):
    name = "CVXOPT" if "CVXOPT" in solvers.available_solvers() else "SDPA"
    res = lipschitz(reference_net, solver=name, lower=False)
    assert res.solver == name and res.certified
    assert round(res.value, 3) == 36.482
    assert abs(res.raw_solver_value - res.value) < 1e-3 * res.value


# -- exact cases -------------------------------------------------------------------------------

def test_single_affine_layer_is_its_spectral_norm():
    w = np.random.default_rng(3).standard_normal((5, 7))
    res = lipschitz(Network([w]), lower_samples=64, lower_starts=2)
    sigma = float(np.linalg.svd(w, compute_uv=False)[0])
    assert sigma <= res.value <= sigma * (1 + 1e-12)
    assert res.certified and res.lower == pytest.approx(sigma, rel=1e-12)


@pytest.mark.parametrize("dims,seed", [((3, 6, 4, 2), 1), ((5, 12, 9, 7, 3), 2), ((8, 20, 1), 3)])
def test_nonnegative_relu_nets_are_exact(dims, seed):
    net = rand_net(dims, nonneg=True, seed=seed)
    prod = net.weights[0]
    for w in net.weights[1:]:
        prod = w @ prod
    exact = float(np.linalg.norm(prod, 2))
    res = lipschitz(net, solver="structured")
    assert exact <= res.value <= exact * (1 + 1e-5)
    assert res.lower == pytest.approx(exact, rel=1e-9)
    assert res.ratio_upper_lower <= 1 + 1e-5


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_sandwich_on_small_relu_nets_with_invertible_first_layer(seed):
    rng = np.random.default_rng(10 + seed)
    w0 = rng.standard_normal((6, 6))
    assert abs(np.linalg.det(w0)) > 1e-3
    net = Network([w0, rng.standard_normal((3, 6))], "relu", [rng.standard_normal(6), np.zeros(3)])
    exact = exact_lipschitz_pl(net)  # every pattern realized: max over 2^6 Jacobians
    neuron = lipschitz(net, solver="structured")
    layer = lipschitz(net, method="layer", solver="structured", lower=False)
    assert neuron.value >= exact * (1 - 1e-12)
    assert exact >= neuron.lower * (1 - 1e-12)
    assert layer.value >= neuron.value * (1 - 1e-9)
    assert neuron.lower >= 0.8 * exact  # the local search gets close


def test_sandwich_on_two_hidden_layers_with_lp_enumeration():
    rng = np.random.default_rng(7)
    net = Network([rng.standard_normal((4, 3)), rng.standard_normal((4, 4)), rng.standard_normal((2, 4))],
                  "leaky_relu", [rng.standard_normal(4), rng.standard_normal(4), np.zeros(2)])
    exact = exact_lipschitz_pl(net)
    res = lipschitz(net, solver="structured")
    assert res.value >= exact * (1 - 1e-12) >= res.lower * (1 - 1e-12)


# -- grouped activations ----------------------------------------------------------------------

@pytest.mark.parametrize("act,width", [("maxmin", 2), ("maxmin", 6), (("groupsort", {"group_size": 3}), 6),
                                       ("fullsort", 5), (("householder", {"theta": 0.7}), 4)])
def test_grouped_identity_layers_are_one_lipschitz(act, width):
    net = Network([np.eye(width), np.eye(width)], act)
    res = lipschitz(net, solver="structured", lower_samples=64, lower_starts=2)
    assert res.certified
    assert 1.0 <= res.value <= 1.0 + 1e-6
    assert res.lower == pytest.approx(1.0, abs=1e-12)


def test_halves_layout_is_a_permutation_of_contiguous():
    rng = np.random.default_rng(21)
    w0, w1 = rng.standard_normal((6, 4)), rng.standard_normal((3, 6))
    perm = np.array([0, 3, 1, 4, 2, 5])  # contiguous pair i <-> halves pair (i, i + 3)
    halves = Network([w0, w1], ("maxmin", {"layout": "halves"}))
    contiguous = Network([w0[perm], w1[:, perm]], "maxmin")
    x = rng.standard_normal((5, 4))
    assert np.allclose(halves(x), contiguous(x))
    a = lipschitz(halves, solver="structured", lower=False, rel_gap=1e-7)
    b = lipschitz(contiguous, solver="structured", lower=False, rel_gap=1e-7)
    assert a.value == pytest.approx(b.value, rel=1e-5)
    assert 1.0 <= lipschitz(Network([np.eye(4), np.eye(4)], ("householder", {"layout": "halves"})),
                            solver="structured", lower=False).value <= 1 + 1e-6


def test_relu_reformulation_of_maxmin_is_not_one():
    # MaxMin(z) = (z2 + relu(z1 - z2), z1 - relu(z1 - z2)): LipSDP on this residual ReLU form does
    # not recover 1 (the paper's motivation); the grouped QC does.
    w0 = np.array([[1.0, -1.0], [0.0, 1.0], [0.0, -1.0], [1.0, 0.0], [-1.0, 0.0]])
    w1 = np.array([[1.0, 1.0, -1.0, 0.0, 0.0], [-1.0, 0.0, 0.0, 1.0, -1.0]])
    relu_form = lipschitz(Network([w0, w1], "relu"), solver="structured", lower=False)
    x = np.random.default_rng(0).standard_normal((20, 2))
    direct = np.stack([x.max(1), x.min(1)], 1)
    assert np.allclose(Network([w0, w1], "relu")(x), direct)
    assert relu_form.value > 1.05


def test_grouped_qc_holds_on_samples():
    """ΔvᵀΓΔv - ΔzᵀΓΔz ≥ 0 for Γ = λI + μuuᵀ, λ ≥ 0, any μ (the QC of Pauli et al. 2024)."""
    rng = np.random.default_rng(5)
    for spec in ["maxmin", ("groupsort", {"group_size": 4}), ("householder", {"theta": 2.1})]:
        act = acts.activation(spec)
        g = act.group_size
        u = act.preserved_direction(g)
        for _ in range(200):
            v, w = rng.standard_normal(g) * 3, rng.standard_normal(g) * 3
            dv = v - w
            dz = act.apply_grouped(v)[0] - act.apply_grouped(w)[0]
            lam, mu = rng.uniform(0, 2), rng.uniform(-5, 5)
            gamma = lam * np.eye(g) + mu * np.outer(u, u)
            assert dv @ gamma @ dv - dz @ gamma @ dz >= -1e-9 * (1 + dv @ dv)


# -- refusals and failures ---------------------------------------------------------------------

def test_non_slope_restricted_activations_are_refused():
    w = [np.ones((2, 2)), np.ones((1, 2))]
    with pytest.raises(NotSlopeRestrictedError, match="not slope-restricted"):
        lipschitz(Network(w, "exponential"))
    with pytest.raises(NotSlopeRestrictedError):
        lipschitz(Network(w, "hardshrink"))  # a jump: slope unbounded
    with pytest.raises(NotSlopeRestrictedError, match="rowwise"):
        Network(w, "softmax")


def test_estimated_bounds_need_opt_in(monkeypatch):
    real = acts._slope_fact

    def fake(name, params):
        lo, hi, _, _ = real(name, params)
        return lo, hi, "estimated", "sampling only (test)"

    monkeypatch.setattr(acts, "_slope_fact", fake)
    net = rand_net((3, 5, 2), "tanh")
    with pytest.raises(EstimatedBoundError, match="allow_estimated"):
        lipschitz(net)
    res = lipschitz(net, allow_estimated=True, solver="structured", lower=False)
    assert not res.certified and any("NOT certified" in n for n in res.notes)


def test_network_lipsdp_is_not_offered():
    with pytest.raises(ValueError, match="unsound"):
        lipschitz(rand_net((2, 3, 1)), method="network")


def test_solver_failure_raises_with_certified_fallback(monkeypatch):
    def failing(lmi, y_start, solver, **kw):
        return solvers.SolveOutcome(solver, "infeasible", None, None, 0.0, message="forced failure")

    monkeypatch.setattr("funclib.verify.api.solve", failing)
    net = rand_net((3, 6, 2), seed=4)
    with pytest.raises(VerificationError, match="forced failure") as info:
        lipschitz(net, solver="structured")
    res = info.value.result
    assert res is not None and res.status == "failed" and res.method == "closed-form"
    assert res.value >= res.lower  # the fallback is still a valid (certified) bound


def test_garbage_multipliers_are_repaired_or_rejected():
    net = rand_net((4, 5, 4, 2), seed=5)
    lmi = lmi_of(net)
    interior = layerwise_multipliers(lmi)
    garbage = np.random.default_rng(0).standard_normal(lmi.n_vars) * 10  # negative entries too
    cert = certify(lmi, garbage, interior=interior)
    truth = exact_lipschitz_pl(net)
    assert cert.bound >= truth
    assert verify_psd(lmi, cert.y, cert.rho)[0]
    assert not verify_psd(lmi, cert.y, 0.5 * truth ** 2)[0]  # below the truth nothing verifies
    with pytest.raises(VerificationError):
        certify(lmi, -np.ones(lmi.n_vars))  # all multipliers clipped to 0: hidden part singular


@pytest.mark.skipif(not HAVE_CVXPY, reason="cvxpy is not installed")
def test_cvxpy_time_limit_is_enforced(monkeypatch):
    def slow_child(conn, *args):
        import time

        time.sleep(30)

    monkeypatch.setattr(solvers, "_cvxpy_child", slow_child)
    out = solvers.solve_cvxpy(lmi_of(rand_net((2, 3, 1))), solvers.available_solvers()[1], time_limit=0.2)
    assert out.status == "time_limit" and out.y is None and out.seconds < 10


def test_unknown_solver_is_bad_input():
    with pytest.raises(ValueError, match="not available"):
        lipschitz(rand_net((2, 3, 1)), solver="nonsense")


# -- the formulation ---------------------------------------------------------------------------

@pytest.mark.parametrize("method", ["neuron", "layer"])
@pytest.mark.parametrize("act", ["relu", "gelu", "maxmin"])
def test_sparse_lmi_data_match_the_dense_assembly(method, act):
    net = rand_net((3, 4, 6, 2), act, seed=6)
    lmi = lmi_of(net, method)
    y = np.random.default_rng(1).uniform(0.1, 2.0, lmi.n_vars)
    S = lmi.dense(y)
    s0, F = lmi.vec_map()
    assert np.allclose((s0 + F @ y).reshape(lmi.n, lmi.n, order="F"), S, atol=1e-12)
    V, z_rows, in_rows, (p, q, val, var) = lmi.pool()
    U = np.hstack([V, np.eye(lmi.n)[:, z_rows], np.eye(lmi.n)[:, in_rows]])
    rebuilt = lmi.constant() + sum(y[var[e]] * val[e] * np.outer(U[:, p[e]], U[:, q[e]]) for e in range(len(p)))
    assert np.allclose(rebuilt, S, atol=1e-12)
    # the paper's form: S = -(AᵀQA + ...) with the textbook block matrices (slope layers)
    if act != "maxmin" and method == "neuron":
        b = [acts.slope_bound(a) for a in net.activations][0]
        t = y[1:]
        T = np.diag(t)
        A = np.zeros((10, lmi.n))
        A[:4, :3] = net.weights[0]
        A[4:, 3:7] = net.weights[1]
        B = np.zeros((10, lmi.n))
        B[:, 3:] = np.eye(10)
        Q = np.block([[-2 * b.alpha * b.beta * T, (b.alpha + b.beta) * T], [(b.alpha + b.beta) * T, -2 * T]])
        M = np.vstack([A, B]).T @ Q @ np.vstack([A, B])
        M[:3, :3] -= y[0] * np.eye(3)
        M[7:, 7:] += net.weights[2].T @ net.weights[2]
        assert np.allclose(-M, S, atol=1e-12)


def test_reductions_are_exact():
    net = rand_net((30, 8, 6, 3), seed=8)  # wide first layer: compressed 30 -> 8
    lmi = lmi_of(net)
    red = reduce(lmi)
    assert red.lmi.dims[0] == 8 and red.compressed_from == 30
    assert all(math.log2(s) == round(math.log2(s)) for s in red.scales)
    y = layerwise_multipliers(lmi)
    r_orig = min_rho(lmi, y)
    r_red = min_rho(red.lmi, red.to_reduced(y)) * red.var_scale[0]
    assert r_red == pytest.approx(r_orig, rel=1e-10)
    full = lipschitz(net, solver="structured", lower=False, rel_gap=1e-6)
    assert full.value == pytest.approx(math.sqrt(r_orig), rel=0.5) and full.value <= math.sqrt(r_orig)


@pytest.mark.skipif(not HAVE_CVXPY, reason="cvxpy is not installed")
def test_structured_solver_agrees_with_cvxpy():
    net = rand_net((6, 10, 8, 3), "gelu", seed=9)
    ours = lipschitz(net, solver="structured", rel_gap=1e-7, lower=False)
    name = "CVXOPT" if "CVXOPT" in solvers.available_solvers() else "SDPA"
    theirs = lipschitz(net, solver=name, lower=False)
    assert ours.value == pytest.approx(theirs.value, rel=1e-5)
    assert ours.sdp_lower is None or ours.sdp_lower <= theirs.value * (1 + 1e-9)


def test_split_includes_the_cut_activation():
    net = rand_net((4, 6, 6, 6, 2), ("leaky_relu", {"negative_slope": 0.1}), seed=11)
    whole = lipschitz(net, solver="structured", lower=False)
    parts = lipschitz(net, solver="structured", split=2, lower=False)
    assert parts.method == "split-neuron" and parts.value >= whole.value * (1 - 1e-9)


# -- lower bounds and Jacobians ------------------------------------------------------------------

def test_jacobian_matches_torch_autograd():
    torch = pytest.importorskip("torch")
    from funclib.verify import from_torch

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(5, 7), torch.nn.GELU(), torch.nn.Linear(7, 6),
                                torch.nn.Tanh(), torch.nn.Linear(6, 3)).double()
    net = from_torch(model)
    assert [a.name for a in net.activations] == ["gelu", "tanh"]
    x = np.random.default_rng(0).standard_normal(5)
    jt = torch.autograd.functional.jacobian(model, torch.tensor(x)).numpy()
    assert np.allclose(jacobian(net, x), jt, rtol=1e-12, atol=1e-12)
    assert np.allclose(net(x), model(torch.tensor(x)).detach().numpy(), atol=1e-12)


def test_torch_loader_rejects_unsupported_modules():
    torch = pytest.importorskip("torch")
    from funclib.verify import from_torch

    with pytest.raises(NetworkError, match="Softmax"):
        from_torch(torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Softmax(dim=-1), torch.nn.Linear(2, 1)))
    with pytest.raises(NetworkError, match="after another activation"):
        from_torch(torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.ReLU(), torch.nn.Tanh(), torch.nn.Linear(2, 1)))


def test_gradient_ascent_improves_on_sampling_for_smooth_nets():
    net = rand_net((4, 16, 16, 2), "tanh", seed=12, bias=0.5)
    few = lower_bound(net, samples=20, ascent_steps=0, starts=1)
    more = lower_bound(net, samples=20, ascent_steps=60, starts=4)
    assert more.value >= few.value
    assert more.value == pytest.approx(np.linalg.norm(jacobian(net, more.x), 2), rel=1e-12)
    upper = lipschitz(net, solver="structured", lower=False)
    assert more.value <= upper.value


# -- loaders and CLI -----------------------------------------------------------------------------

def test_npz_round_trip_and_errors(tmp_path):
    net = rand_net((3, 4, 2), ("leaky_relu", {"negative_slope": 0.2}), seed=13, bias=1.0)
    path = tmp_path / "net.npz"
    save_npz(net, path)
    back = load(path)
    assert back.dims == net.dims and back.activations[0].params == {"negative_slope": 0.2}
    assert np.array_equal(back.biases[0], net.biases[0])
    np.savez(tmp_path / "bad.npz", W0=np.ones((3, 2)), W1=np.ones((2, 4)))
    with pytest.raises(NetworkError, match="expects 4 inputs"):
        load(tmp_path / "bad.npz")
    np.savez(tmp_path / "gap.npz", W0=np.ones((3, 2)), W2=np.ones((2, 3)))
    with pytest.raises(NetworkError, match="without gaps"):
        load(tmp_path / "gap.npz")
    with pytest.raises(NetworkError, match="no such file"):
        load(tmp_path / "missing.npz")
    import funclib

    with pytest.raises(funclib.UnknownEntryError):
        Network([np.ones((2, 2)), np.ones((1, 2))], "relux")


def test_cli_lipschitz(tmp_path, capsys, reference_net):
    from funclib.cli import main

    path = tmp_path / "ref.npz"
    save_npz(reference_net, path)
    assert main(["lipschitz", str(path), "--json", "--quiet", "--solver", "structured"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert round(data["value"], 3) == 36.482 and data["certified"]
    for key in ("value", "certified", "method", "solver", "status", "seconds", "naive", "lower", "ratio_upper_lower"):
        assert key in data
    assert main(["lipschitz", str(path), "--method", "layer", "--no-lower", "--solver", "structured"]) == 0
    captured = capsys.readouterr()
    assert "39.83" in captured.out and "iter" in captured.err  # progress on stderr
    assert main(["lipschitz", str(tmp_path / "nope.npz")]) == 2
    assert main(["lipschitz", str(path), "--activation", "exponential", "--quiet"]) == 2
    assert main(["lipschitz", str(path), "--solver", "nonsense", "--quiet"]) == 2


def test_tour_section_is_fast(capsys):
    import time

    from funclib.verify.cli import tour

    t = time.perf_counter()
    tour()
    out = capsys.readouterr().out
    assert "certified" in out and time.perf_counter() - t < 15


def _blas_threads() -> list[int]:
    from threadpoolctl import threadpool_info

    return [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]


def test_small_lmis_solve_on_one_blas_thread(monkeypatch):
    """BLAS threads only contend on these small factorizations (funclib.verify.threads): the
    solve runs on one thread, a large problem keeps the default, and the setting is restored."""
    import funclib.verify.barrier as barrier
    from funclib.verify.threads import SINGLE_THREAD_MAX_N, blas_threads

    before = _blas_threads()
    with blas_threads(SINGLE_THREAD_MAX_N):
        assert _blas_threads() and set(_blas_threads()) == {1}
    assert _blas_threads() == before
    with blas_threads(SINGLE_THREAD_MAX_N + 1):
        assert _blas_threads() == before
    seen = []
    real = barrier.solve_structured

    def spy(*args, **kwargs):
        seen.append(_blas_threads())
        return real(*args, **kwargs)

    monkeypatch.setattr(barrier, "solve_structured", spy)  # solvers.solve imports it at call time
    res = lipschitz(rand_net((8, 12, 4), seed=3), solver="structured", lower=False)
    assert res.certified and seen and all(set(s) == {1} for s in seen)
    assert _blas_threads() == before


# -- slow: scale -------------------------------------------------------------------------------

@pytest.mark.slow
def test_structured_solver_at_scale_is_certified_and_near_optimal():
    net = rand_net((200, 120, 60, 10), seed=14)
    res = lipschitz(net, solver="structured", lower=False, rel_gap=1e-3)
    assert res.certified and res.sdp_lower is not None
    assert res.value <= res.sdp_lower * 1.001
    assert res.value <= res.closed_form <= res.naive
