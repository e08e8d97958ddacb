"""Gradients of the row-wise maps with respect to their parameters (SSMax s, α-entmax α, softpick ε):
the closed forms of funclib.kernels.rowwise.param_vjp against central differences of the forward
kernels and against the entmax package; the PyTorch path (gradcheck, trainable modules, refusals)."""

from __future__ import annotations

import numpy as np
import pytest

from funclib.kernels import rowwise as rk
from funclib.kernels.rowwise import param_vjp as pv

FORWARD = {
    "ssmax": lambda x, p, m: rk.ssmax(x, p, mask=m),
    "entmax": lambda x, p, m: rk.entmax_bisect(x, p, mask=m),
    "softpick": lambda x, p, m: rk.softpick(x, mask=m, eps=p),
}
VJP = {"ssmax": pv.ssmax_scale_vjp, "entmax": pv.entmax_alpha_vjp, "softpick": pv.softpick_eps_vjp}


@pytest.mark.parametrize("name, value", [
    ("ssmax", 0.43), ("ssmax", 2.0), ("entmax", 1.05), ("entmax", 1.5), ("entmax", 1.95),
    ("softpick", 1e-3), ("softpick", 0.7),
])
@pytest.mark.parametrize("masked", [False, True])
def test_param_vjp_matches_central_differences(name, value, masked):
    rng = np.random.default_rng(11)
    x = rng.normal(size=(5, 9)) * 2.0
    x[0, 3] = -np.inf  # an excluded entry
    u = rng.normal(size=x.shape)
    mask = (rng.random(x.shape) > 0.25) if masked else None
    keep = np.ones(x.shape, bool) if mask is None else mask
    f = FORWARD[name]
    y = f(x, value, mask)
    h = 1e-6 * max(1.0, value)
    if name == "entmax":
        h = min(h, (2.0 - value) / 2, (value - 1.0) / 2)
    fd = (np.where(keep, (f(x, value + h, mask) - f(x, value - h, mask)) * u, 0.0)).sum(axis=1) / (2 * h)
    got = VJP[name](x, value, u, y, mask=mask)
    assert got.shape == (5,)
    np.testing.assert_allclose(got, fd, rtol=2e-6, atol=2e-8)


def test_param_vjp_over_a_middle_axis_has_the_reduced_shape():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(2, 7, 3))
    u = rng.normal(size=x.shape)
    y = rk.entmax_bisect(x, 1.4, axis=1)
    got = pv.entmax_alpha_vjp(x, 1.4, u, y, axis=1)
    ref = pv.entmax_alpha_vjp(np.moveaxis(x, 1, -1), 1.4, np.moveaxis(u, 1, -1), np.moveaxis(y, 1, -1))
    assert got.shape == (2, 3)
    np.testing.assert_array_equal(got, ref)


def test_param_vjp_is_zero_on_fully_masked_rows_and_huge_softpick_inputs():
    x = np.array([[1.0, 2.0, 3.0], [800.0, 1.0, 0.0]])
    u = np.ones_like(x)
    mask = np.array([[False, False, False], [True, True, True]])
    for name, value in (("ssmax", 0.5), ("entmax", 1.5), ("softpick", 0.1)):
        y = FORWARD[name](x, value, mask)
        got = VJP[name](x, value, u, y, mask=mask)
        assert got[0] == 0.0 and np.isfinite(got).all(), (name, got)


# -- PyTorch --------------------------------------------------------------------------------

torch = pytest.importorskip("torch")
ft = pytest.importorskip("funclib.torch")


@pytest.mark.parametrize("name, key, value", [("ssmax", "s", 0.6), ("entmax", "alpha", 1.3), ("softpick", "eps", 0.3)])
def test_gradcheck_input_and_parameter(name, key, value):
    torch.manual_seed(5)
    x = torch.randn(3, 6, 2, dtype=torch.float64, requires_grad=True)
    mask = torch.rand(3, 6, 2) > 0.25
    p = torch.tensor(value, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda t, q: ft.rowwise(name, t, dim=1, mask=mask, params={key: q}).masked_fill(~mask, 0), (x, p))


def test_alpha_gradient_agrees_with_the_entmax_package():
    entmax = pytest.importorskip("entmax")
    torch.manual_seed(8)
    x = torch.randn(6, 10, dtype=torch.float64) * 2
    u = torch.randn(6, 10, dtype=torch.float64)
    a1 = torch.tensor(1.35, dtype=torch.float64, requires_grad=True)
    a2 = torch.tensor(1.35, dtype=torch.float64, requires_grad=True)
    y1 = ft.rowwise("entmax", x, params={"alpha": a1})
    y2 = entmax.entmax_bisect(x, alpha=a2, dim=-1, n_iter=80)
    torch.testing.assert_close(y1, y2, rtol=1e-10, atol=1e-12)
    (g1,) = torch.autograd.grad((y1 * u).sum(), a1)
    (g2,) = torch.autograd.grad((y2 * u).sum(), a2)
    torch.testing.assert_close(g1, g2, rtol=1e-8, atol=1e-10)


def test_trainable_alpha_learns_and_is_deterministic():
    torch.manual_seed(9)
    x = torch.randn(32, 12)
    target = ft.rowwise("entmax", x, params={"alpha": 1.8})
    layer = ft.Rowwise("entmax", params={"alpha": 1.2}, trainable=True)
    opt = torch.optim.SGD(layer.parameters(), lr=0.02)
    first = None
    for _ in range(40):
        opt.zero_grad()
        loss = (layer(x) - target).square().sum()
        loss.backward()
        if first is None:
            first = loss.item()
            g = layer.parameter.grad.clone()
            layer.parameter.grad = None
            (layer(x) - target).square().sum().backward()
            assert torch.equal(g, layer.parameter.grad)  # bitwise the same on a second run
        opt.step()
        with torch.no_grad():
            layer.parameter.clamp_(1.01, 2.0)
    assert loss.item() < 0.1 * first
    assert abs(layer.parameter.item() - 1.8) < 0.1
    assert "alpha trainable" in repr(layer)


def test_parameter_refusals():
    import funclib

    x = torch.randn(2, 5)
    with pytest.raises(ValueError, match="no parameter to train"):
        ft.Rowwise("softmax", trainable=True)
    with pytest.raises(TypeError, match="one-element float32/float64"):
        ft.rowwise("entmax", x, params={"alpha": torch.tensor([1.2, 1.3])})
    with pytest.raises(TypeError, match="one-element float32/float64"):
        ft.rowwise("ssmax", x, params={"s": torch.tensor(1)})
    layer = ft.Rowwise("entmax", trainable=True)
    with torch.no_grad():
        layer.parameter.fill_(2.5)  # moved out of (1, 2] by a careless optimizer
    with pytest.raises(funclib.ParameterError):
        layer(x)


def test_fullgraph_trace_of_the_parameter_op():
    torch._dynamo.reset()
    layer = ft.Rowwise("ssmax", trainable=True)
    x = torch.randn(4, 8)
    compiled = torch.compile(layer, backend="eager", fullgraph=True)
    torch.testing.assert_close(compiled(x), layer(x))
