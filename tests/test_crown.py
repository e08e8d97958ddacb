"""CROWN bound propagation (funclib.verify.crown): soundness against exact enumeration and PGD."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import scipy.sparse as sps
from scipy.optimize import linprog

from funclib.verify.crown import crown_bounds, crown_margins, crown_radii
from funclib.verify.lower import jacobian
from funclib.verify.network import Network, NetworkError


def _net(rng, act, dims=(3, 8, 8, 2), scale=0.6):
    Ws = [rng.normal(0, scale, (dims[k + 1], dims[k])) for k in range(len(dims) - 1)]
    bs = [rng.normal(0, 0.3, dims[k + 1]) for k in range(len(dims) - 1)]
    return Network(Ws, act, bs)


def _exact_min_relu(net: Network, x0: np.ndarray, eps: float, c: np.ndarray) -> float:
    """min c @ f(x) over the l_inf ball, by enumerating activation patterns (one LP each)."""
    n0 = x0.size
    widths = net.dims[1:-1]
    best = np.inf
    for pattern in itertools.product((0.0, 1.0), repeat=sum(widths)):
        A, b = np.eye(n0), np.zeros(n0)  # h = A x + b
        rows, rhs, start = [], [], 0
        for k, w in enumerate(widths):
            s = np.array(pattern[start:start + w])
            start += w
            Z, z = net.weights[k] @ A, net.weights[k] @ b + net.biases[k]
            sign = np.where(s > 0, -1.0, 1.0)  # active: z >= 0; inactive: z <= 0
            rows.append(sign[:, None] * Z)
            rhs.append(-sign * z)
            A, b = s[:, None] * Z, s * z
        obj_A = c @ (net.weights[-1] @ A)
        obj_b = c @ (net.weights[-1] @ b + net.biases[-1])
        res = linprog(obj_A, A_ub=np.vstack(rows), b_ub=np.concatenate(rhs),
                      bounds=list(zip(x0 - eps, x0 + eps)), method="highs")
        if res.status == 0:
            best = min(best, res.fun + obj_b)
    return best


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_exact_enumeration_bounds_the_certified_margins(seed):
    rng = np.random.default_rng(seed)
    net = _net(rng, "relu", dims=(2, 4, 3, 2), scale=0.8)
    X = rng.normal(0, 1, (3, 2))
    c = np.array([1.0, -1.0])
    plain = crown_bounds(net, X, 0.4, c[None], norm="linf")[:, 0]
    tuned = crown_bounds(net, X, 0.4, c[None], norm="linf", alpha_steps=15)[:, 0]
    for i in range(3):
        exact = _exact_min_relu(net, X[i], 0.4, c)
        assert plain[i] <= tuned[i] + 1e-12
        assert tuned[i] <= exact + 1e-9
        assert exact - tuned[i] < 5.0  # a bound, not a triviality


@pytest.mark.parametrize("act", ["relu", "gelu", "mish"])
@pytest.mark.parametrize("norm", ["l2", "linf"])
def test_bounds_below_sampled_outputs(act, norm):
    rng = np.random.default_rng(3)
    net = _net(rng, act)
    X = rng.normal(0, 1, (4, 3))
    C = np.array([[1.0, -1.0], [-1.0, 1.0]])
    low = crown_bounds(net, X, 0.3, C, norm=norm, alpha_steps=10)
    for i in range(4):
        d = rng.normal(size=(4000, 3))
        if norm == "l2":
            d *= 0.3 / np.linalg.norm(d, axis=1, keepdims=True)
        else:
            d = 0.3 * np.sign(d)
        out = net(X[i] + d) @ C.T
        assert np.all(low[i] <= out.min(axis=0) + 1e-12)


def _pgd_flips(net, x, y, radius, norm, rng, steps=40, restarts=3) -> bool:
    """Projected gradient descent on the smallest margin; True if a prediction changes."""
    for _ in range(restarts):
        d = rng.normal(size=x.shape)
        d *= radius / (np.linalg.norm(d) if norm == "l2" else np.abs(d).max())
        for _ in range(steps):
            z = net(x + d)
            if np.argmax(z) != y:
                return True
            j = int(np.argmax(np.where(np.arange(z.size) == y, -np.inf, z)))
            g = jacobian(net, x + d)
            g = g[j] - g[y]  # ascend f_j - f_y
            if norm == "l2":
                d = d + 0.25 * radius * g / (np.linalg.norm(g) + 1e-30)
                d *= min(1.0, radius / np.linalg.norm(d))
            else:
                d = np.clip(d + 0.25 * radius * np.sign(g), -radius, radius)
        if np.argmax(net(x + d)) != y:
            return True
    return False


@pytest.mark.parametrize("act", ["relu", "gelu", "golu"])
@pytest.mark.parametrize("norm", ["l2", "linf"])
def test_pgd_at_the_certified_radius_never_flips(act, norm):
    rng = np.random.default_rng(5)
    net = _net(rng, act, dims=(4, 12, 12, 3), scale=0.7)
    X = rng.normal(0, 1, (8, 4))
    y = np.argmax(net(X), axis=1)
    y[0] = (y[0] + 1) % 3  # one misclassified input: radius 0
    res = crown_radii(net, X, y, norm=norm, eps_max=2.0, steps=8, alpha_steps=5)
    assert res.radii[0] == 0.0 and not res.correct[0]
    assert np.all(res.radii[1:] > 0)
    assert np.all(res.radii <= res.upper)
    for i in range(1, 8):
        assert not _pgd_flips(net, X[i], y[i], 0.999 * res.radii[i], norm, rng)
    assert res.certified_accuracy(0.0) == pytest.approx(7 / 8)


@pytest.mark.parametrize("act", ["gelu", "golu"])
def test_tuned_upper_slopes_are_sound_and_help(act):
    """alpha-CROWN tuning both slopes: never above sampled outputs, never below plain CROWN, and
    on average above tuning the lower slopes only (S-shaped pieces have a free upper line)."""
    rng = np.random.default_rng(11)
    net = _net(rng, act, dims=(4, 16, 16, 3))
    X = rng.normal(0, 1, (6, 4))
    C = np.array([[1.0, -1.0, 0.0], [0.0, 1.0, -1.0], [-1.0, 0.0, 1.0]])
    plain = crown_bounds(net, X, 0.5, C)
    lower_only = crown_bounds(net, X, 0.5, C, alpha_steps=20, tune_upper=False)
    both = crown_bounds(net, X, 0.5, C, alpha_steps=20)
    assert np.all(both >= plain) and np.all(lower_only >= plain)
    assert (both - lower_only).mean() > 1e-3
    for i in range(6):
        d = rng.normal(size=(4000, 4))
        d *= 0.5 / np.linalg.norm(d, axis=1, keepdims=True)
        assert np.all(both[i] <= (net(X[i] + d) @ C.T).min(axis=0) + 1e-12)


def test_sparse_weights_give_the_dense_bounds():
    rng = np.random.default_rng(7)
    net = _net(rng, "silu")
    sparse = Network.__new__(Network)
    object.__setattr__(sparse, "weights", tuple(sps.csr_matrix(w) for w in net.weights))
    object.__setattr__(sparse, "activations", net.activations)
    object.__setattr__(sparse, "biases", net.biases)
    X = rng.normal(0, 1, (3, 3))
    C = np.array([[1.0, -1.0]])
    np.testing.assert_allclose(crown_bounds(sparse, X, 0.2, C, alpha_steps=3),
                               crown_bounds(net, X, 0.2, C, alpha_steps=3), rtol=1e-12, atol=1e-12)


def test_bad_input_is_refused():
    rng = np.random.default_rng(0)
    net = _net(rng, "relu")
    with pytest.raises(NetworkError, match="features"):
        crown_bounds(net, np.zeros((1, 5)), 0.1, np.eye(2))
    with pytest.raises(ValueError, match="eps"):
        crown_bounds(net, np.zeros((1, 3)), -0.1, np.eye(2))
    with pytest.raises(ValueError, match="norm"):
        crown_bounds(net, np.zeros((1, 3)), 0.1, np.eye(2), norm="l1")
    with pytest.raises(ValueError, match="lr_decay"):
        crown_bounds(net, np.zeros((1, 3)), 0.1, np.eye(2), alpha_steps=2, lr_decay=0.0)
    with pytest.raises(ValueError, match="class indices"):
        crown_margins(net, np.zeros((1, 3)), [5], 0.1)
    grouped = Network([np.eye(4, 3), np.eye(2, 4)], "maxmin")
    with pytest.raises(NetworkError, match="layer 1.*maxmin"):
        crown_bounds(grouped, np.zeros((1, 3)), 0.1, np.eye(2))
