"""funclib.torch: catalog functions and formulas as PyTorch autograd functions and modules."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
ft = pytest.importorskip("funclib.torch")

SAMPLE = ["gelu", "gelu:tanh", "silu", "mish", "elu", "golu", "xgelu", "softplus", "sigmoid"]


@pytest.mark.parametrize("name", SAMPLE)
def test_gradcheck(name):
    torch.manual_seed(0)
    x = (torch.randn(40, dtype=torch.float64) * 3).requires_grad_()
    act = ft.Activation(name).double()
    params = [getattr(act, n) for n in act.spec.params]
    inputs = (x, *[p.detach().clone().requires_grad_(n in act.spec.wrt) for n, p in zip(act.spec.params, params)])
    assert torch.autograd.gradcheck(lambda t, *ps: ft._Function.apply(t, act.spec, *ps), inputs)


def test_formula_with_a_trained_parameter():
    x = torch.linspace(-4, 4, 33, dtype=torch.float64, requires_grad=True)
    b = torch.tensor(0.7, dtype=torch.float64, requires_grad=True)
    act = ft.Activation("x*tanh(softplus(b*x))", params={"b": 0.7}, trainable=["b"])
    assert torch.autograd.gradcheck(lambda t, p: ft._Function.apply(t, act.spec, p), (x, b))
    assert [n for n, _ in act.named_parameters()] == ["b"]


@pytest.mark.parametrize("name, builtin", [("gelu", torch.nn.GELU()), ("silu", torch.nn.SiLU()),
                                           ("mish", torch.nn.Mish()), ("elu", torch.nn.ELU())])
def test_agrees_with_pytorch(name, builtin):
    x = torch.linspace(-30, 30, 2001, dtype=torch.float64, requires_grad=True)
    ours, theirs = ft.Activation(name).double()(x), builtin(x)
    torch.testing.assert_close(ours, theirs, rtol=1e-13, atol=1e-15)
    (g1,) = torch.autograd.grad(ours.sum(), x)
    (g2,) = torch.autograd.grad(theirs.sum(), x)
    torch.testing.assert_close(g1, g2, rtol=1e-12, atol=1e-14)


def test_training_matches_the_builtin():
    """20 steps of an MLP in float64: the same losses as nn.GELU to 1e-6."""
    rng = np.random.default_rng(0)
    data = torch.from_numpy(rng.normal(size=(256, 16)))
    labels = torch.from_numpy(rng.integers(0, 4, 256))

    def run(act):
        torch.manual_seed(3)
        model = torch.nn.Sequential(torch.nn.Linear(16, 32), act, torch.nn.Linear(32, 4)).double()
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        losses = []
        for _ in range(20):
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(data), labels)
            loss.backward()
            opt.step()
            losses.append(loss.item())
        return losses

    np.testing.assert_allclose(run(ft.Activation("gelu")), run(torch.nn.GELU()), rtol=1e-6)


def test_trainable_parameter_learns():
    act = ft.Activation("silu", trainable=["beta"])
    x = torch.linspace(-3, 3, 64)
    target = x * torch.sigmoid(2.0 * x)
    opt = torch.optim.Adam(act.parameters(), lr=0.05)
    for _ in range(200):
        opt.zero_grad()
        ((act(x) - target) ** 2).mean().backward()
        opt.step()
    assert abs(act.beta.item() - 2.0) < 0.05


def test_half_precision_computes_in_float32():
    x = torch.randn(10, dtype=torch.float16)
    y = ft.Activation("gelu")(x)
    assert y.dtype == torch.float16
    torch.testing.assert_close(y, torch.nn.functional.gelu(x.float()).half())


@pytest.mark.parametrize("bad", [torch.arange(4), torch.zeros(3, dtype=torch.complex64)])
def test_unsupported_dtypes_are_named(bad):
    with pytest.raises(TypeError, match=str(bad.dtype)):
        ft.Activation("gelu")(bad)


def test_bad_names_and_parameters():
    import funclib

    with pytest.raises(funclib.FormulaError):
        ft.Activation("not a formula(")
    with pytest.raises(funclib.ParameterError):
        ft.Activation("elu", params={"alpha": -1.0})
    with pytest.raises(ValueError, match="rowwise"):
        ft.Activation("softmax")
    with pytest.raises(ValueError, match="no parameter 'zeta'"):
        ft.Activation("silu", trainable=["zeta"])


def test_functional_form():
    x = torch.linspace(-2, 2, 9, dtype=torch.float64)
    torch.testing.assert_close(ft.function("gelu", x), torch.nn.functional.gelu(x), rtol=1e-14, atol=1e-15)
