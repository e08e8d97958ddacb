"""funclib.torch: catalog functions and formulas as PyTorch autograd functions and modules."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
ft = pytest.importorskip("funclib.torch")

SAMPLE = ["gelu", "gelu:tanh", "silu", "mish", "elu", "golu", "xgelu", "softplus", "sigmoid"]
#: Entries with trained parameters (one value per channel in the per-channel tests).
TRAINED = ["prelu", "xgelu", "pau", "star_relu", "pelu", "snake", "aqulu"]


def _inputs(act, x, channels=1):
    """x and the module's parameters as float64 leaves (trained ones requiring grad)."""
    params = []
    for n in act.spec.params:
        p = getattr(act, n).detach().double()
        if channels > 1 and n in act.spec.wrt:  # distinct values per channel
            p = p + 0.05 * torch.arange(1, channels + 1, dtype=torch.float64)  # away from kinks at 0
        params.append(p.clone().requires_grad_(n in act.spec.wrt))
    return (x, *params)


def _call(act):
    return lambda t, *ps: ft.elementwise_ops.apply(t, act.spec, list(ps))


@pytest.mark.parametrize("name", SAMPLE)
def test_gradcheck(name):
    torch.manual_seed(0)
    act = ft.Activation(name)
    x = (torch.randn(40, dtype=torch.float64) * 3).requires_grad_()
    assert torch.autograd.gradcheck(_call(act), _inputs(act, x))


@pytest.mark.parametrize("name", TRAINED)
def test_per_channel_parameters_gradcheck(name):
    """Gradients w.r.t. per-channel parameters (the fused kernel's symbolic ∂f/∂θ, reduced per
    channel) against finite differences."""
    torch.manual_seed(1)
    act = ft.Activation(name, num_parameters=3)
    assert all(getattr(act, n).shape == (3,) for n in act.spec.wrt)
    x = (torch.randn(4, 3, 5, dtype=torch.float64) * 2).requires_grad_()
    assert torch.autograd.gradcheck(_call(act), _inputs(act, x, channels=3))


@pytest.mark.parametrize("name", ["prelu", "xgelu", "gelu", "golu", "mish", "softplus",
                                  pytest.param("pau", marks=pytest.mark.slow)])  # pau: 10 parameters, ~100 s
def test_gradgradcheck(name):
    """Double backward from the catalog's second derivatives, against finite differences of the
    first derivatives (per-channel parameters where the entry trains some)."""
    torch.manual_seed(2)
    act = ft.Activation(name, num_parameters=3 if ft.Activation(name).spec.wrt else 1)
    x = (torch.randn(2, 3, 4, dtype=torch.float64) * 2).requires_grad_()
    channels = 3 if act.spec.wrt else 1
    assert torch.autograd.gradgradcheck(_call(act), _inputs(act, x, channels))


def test_mixed_scalar_and_per_channel_parameters():
    """A scalar parameter shared by all channels next to a per-channel one (formula)."""
    x = torch.randn(3, 2, 4, dtype=torch.float64, requires_grad=True)
    a = torch.tensor([0.5, 1.5], dtype=torch.float64, requires_grad=True)
    b = torch.tensor(0.7, dtype=torch.float64, requires_grad=True)
    act = ft.Activation("a*x*tanh(softplus(b*x))", params={"a": 1.0, "b": 0.7}, trainable=["a", "b"])
    f = _call(act)
    assert torch.autograd.gradcheck(f, (x, a, b))
    assert torch.autograd.gradgradcheck(f, (x, a, b))


def test_per_channel_prelu_matches_pytorch():
    """Values and gradients (input and per-channel slopes) agree with nn.PReLU(num_parameters=C)."""
    torch.manual_seed(3)
    ours = ft.Activation("prelu", num_parameters=4).double()
    theirs = torch.nn.PReLU(num_parameters=4).double()
    with torch.no_grad():
        w = torch.tensor([0.1, 0.25, -0.3, 2.0], dtype=torch.float64)
        ours.a.copy_(w)
        theirs.weight.copy_(w)
    x = torch.randn(5, 4, 3, 3, dtype=torch.float64, requires_grad=True)
    upstream = torch.randn(5, 4, 3, 3, dtype=torch.float64)
    y1, y2 = ours(x), theirs(x)
    torch.testing.assert_close(y1, y2, rtol=0, atol=0)
    g1 = torch.autograd.grad(y1, (x, ours.a), upstream)
    g2 = torch.autograd.grad(y2, (x, theirs.weight), upstream)
    torch.testing.assert_close(g1, g2, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("name, builtin", [("gelu", torch.nn.GELU()), ("mish", torch.nn.Mish()),
                                           ("silu", torch.nn.SiLU()), ("softplus", torch.nn.Softplus())])
def test_second_derivative_matches_pytorch(name, builtin):
    """A gradient penalty's ingredient: d/dx of f'(x) (create_graph=True) agrees with PyTorch's
    double backward of its built-in."""
    x = torch.linspace(-12, 12, 601, dtype=torch.float64, requires_grad=True)
    second = []
    for f in (ft.Activation(name).double(), builtin):
        (d1,) = torch.autograd.grad(f(x).sum(), x, create_graph=True)
        (d2,) = torch.autograd.grad(d1.sum(), x)
        second.append(d2)
    torch.testing.assert_close(second[0], second[1], rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("name", ["golu", "gelu:tanh"])
def test_second_derivative_matches_the_reference(name):
    """Double backward against the entry's correctly rounded second derivative (arb)."""
    import funclib

    points = np.array([-7.5, -3.0, -1.25, -0.3, 0.0, 0.4, 1.0, 2.5, 6.0, 15.0])
    x = torch.tensor(points, requires_grad=True)
    (d1,) = torch.autograd.grad(ft.function(name, x).sum(), x, create_graph=True)
    (d2,) = torch.autograd.grad(d1.sum(), x)
    np.testing.assert_allclose(d2.numpy(), funclib.get(name).reference(points, order=2), rtol=1e-12, atol=1e-15)


def test_gradient_penalty_trains_parameters():
    """WGAN-GP-style penalty ||∇_x f||² back-propagates into per-channel parameters and agrees
    with the same penalty written with PyTorch operations."""
    torch.manual_seed(4)
    x = torch.randn(6, 3, dtype=torch.float64, requires_grad=True)
    act = ft.Activation("xgelu", num_parameters=3).double()
    with torch.no_grad():
        act.alpha.copy_(torch.tensor([0.0, 0.2, 0.5], dtype=torch.float64))
    (gx,) = torch.autograd.grad(act(x).sum(), x, create_graph=True)
    (ours,) = torch.autograd.grad((gx ** 2).sum(), act.alpha)
    # xGELU(x) = (1+2α)GELU(x) - αx: the same penalty written with PyTorch operations
    alpha = torch.tensor([0.0, 0.2, 0.5], dtype=torch.float64, requires_grad=True)
    y = (1 + 2 * alpha) * torch.nn.functional.gelu(x) - alpha * x
    (gx,) = torch.autograd.grad(y.sum(), x, create_graph=True)
    (gw,) = torch.autograd.grad((gx ** 2).sum(), alpha)
    torch.testing.assert_close(ours, gw, rtol=1e-12, atol=1e-14)


def test_formula_with_a_trained_parameter():
    x = torch.linspace(-4, 4, 33, dtype=torch.float64, requires_grad=True)
    b = torch.tensor(0.7, dtype=torch.float64, requires_grad=True)
    act = ft.Activation("x*tanh(softplus(b*x))", params={"b": 0.7}, trainable=["b"])
    assert torch.autograd.gradcheck(_call(act), (x, b))
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
    with pytest.raises(ValueError, match="num_parameters"):
        ft.Activation("prelu", num_parameters=0)
    with pytest.raises(ValueError, match="needs a trained parameter"):
        ft.Activation("gelu", num_parameters=4)


def test_per_channel_shape_mismatch_is_named():
    act = ft.Activation("prelu", num_parameters=3)
    with pytest.raises(ValueError, match=r"3 channels in dimension 1, got shape \(2, 4\)"):
        act(torch.randn(2, 4))
    with pytest.raises(ValueError, match="3 channels"):
        act(torch.randn(3))


def test_functional_form():
    x = torch.linspace(-2, 2, 9, dtype=torch.float64)
    torch.testing.assert_close(ft.function("gelu", x), torch.nn.functional.gelu(x), rtol=1e-14, atol=1e-15)


def _compiled_matches_eager(backend):
    torch.manual_seed(5)
    model = torch.nn.Sequential(torch.nn.Linear(8, 6), ft.Activation("xgelu", num_parameters=6),
                                torch.nn.Linear(6, 6), ft.Activation("golu"), torch.nn.Linear(6, 4),
                                ft.Rowwise("entmax15"))
    x = torch.randn(16, 8)
    compiled = torch.compile(model, fullgraph=True, backend=backend)  # fullgraph: a graph break raises
    y1, y2 = model(x), compiled(x)
    g1 = torch.autograd.grad(y1.square().sum(), list(model.parameters()))
    g2 = torch.autograd.grad(y2.square().sum(), list(model.parameters()))
    torch.testing.assert_close(y2, y1, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(g2, g1, rtol=1e-5, atol=1e-6)


def test_torch_compile_fullgraph_traces_the_custom_ops():
    """fullgraph tracing (Dynamo, fake-tensor registrations) without graph breaks; AOT autograd
    and Inductor in the slow test below."""
    torch._dynamo.reset()
    _compiled_matches_eager("eager")


@pytest.mark.slow
def test_torch_compile_inductor_matches_eager():
    torch._dynamo.reset()
    _compiled_matches_eager("inductor")


ROWWISE = {"softmax": {}, "log_softmax": {}, "ssmax": {"s": 0.6}, "sparsemax": {}, "entmax15": {},
           "entmax": {"alpha": 1.3}, "softpick": {"eps": 1e-8}}


@pytest.mark.parametrize("name", sorted(ROWWISE))
def test_rowwise_gradcheck(name):
    """The closed-form VJPs against finite differences, over a middle dimension, with a mask."""
    torch.manual_seed(6)
    x = torch.randn(3, 6, 2, dtype=torch.float64, requires_grad=True)
    mask = torch.rand(3, 6, 2) > 0.25
    assert torch.autograd.gradcheck(lambda t: ft.rowwise(name, t, dim=1, params=ROWWISE[name]), (x,))
    # masked entries are constants (0, or -inf for log_softmax): compare the others
    assert torch.autograd.gradcheck(
        lambda t: ft.rowwise(name, t, dim=1, mask=mask, params=ROWWISE[name]).masked_fill(~mask, 0), (x,))


@pytest.mark.parametrize("name, theirs", [
    ("sparsemax", lambda x: entmax_pkg().sparsemax(x, dim=-1)),
    ("entmax15", lambda x: entmax_pkg().entmax15(x, dim=-1)),
    ("entmax", lambda x: entmax_pkg().entmax_bisect(x, alpha=1.3, dim=-1, n_iter=80)),
    ("softmax", lambda x: torch.softmax(x, -1)),
    ("log_softmax", lambda x: torch.log_softmax(x, -1)),
])
def test_rowwise_agrees_with_reference_packages(name, theirs):
    """Values and input gradients agree with the entmax package / PyTorch."""
    torch.manual_seed(7)
    x = (torch.randn(8, 11, dtype=torch.float64) * 2).requires_grad_()
    u = torch.randn(8, 11, dtype=torch.float64)
    y1, y2 = ft.rowwise(name, x, params=ROWWISE[name]), theirs(x)
    torch.testing.assert_close(y1, y2, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(torch.autograd.grad(y1, x, u)[0], torch.autograd.grad(y2, x, u)[0],
                               rtol=1e-9, atol=1e-11)


def entmax_pkg():
    return pytest.importorskip("entmax")


def test_rowwise_mask_drops_entries():
    """A masked row equals the map of its kept entries, zeros elsewhere (no gradient there)."""
    x = torch.tensor([[0.3, 2.0, -1.0, 1.5, 0.2]], dtype=torch.float64, requires_grad=True)
    mask = torch.tensor([[True, False, True, True, False]])
    y = ft.Rowwise("sparsemax")(x, mask)
    kept = ft.rowwise("sparsemax", x[:, mask[0]])
    torch.testing.assert_close(y[mask], kept[0])
    assert (y[~mask] == 0).all()
    (g,) = torch.autograd.grad(y[0, 3], x)
    assert (g[~mask] == 0).all()
    none = ft.rowwise("softmax", x, mask=torch.zeros(1, 5, dtype=torch.bool))
    assert (none == 0).all()  # fully masked row: zeros


def test_rowwise_refusals():
    import funclib

    with pytest.raises(ValueError, match="'gelu' .*no row-wise"):
        ft.Rowwise("gelu")
    with pytest.raises(funclib.ParameterError):
        ft.Rowwise("entmax", params={"alpha": 3.0})
    with pytest.raises(TypeError, match="mask must be a boolean"):
        ft.rowwise("softmax", torch.randn(2, 3), mask=torch.ones(2, 3))
    with pytest.raises(ValueError, match="does not broadcast"):
        ft.rowwise("softmax", torch.randn(2, 3), mask=torch.ones(4, dtype=torch.bool))
    with pytest.raises(TypeError, match="torch.int64"):
        ft.rowwise("softmax", torch.arange(3))
