"""funclib's proven relaxations inside auto_LiRPA (funclib.relaxation.autolirpa).

Skipped where auto_LiRPA does not import (it is installed from source, not from PyPI); the
message when it is missing is tested everywhere.  Where it imports: the lines hold at sampled
points (float64 and float32), auto_LiRPA's CROWN, IBP and CROWN-optimized (tuned slopes)
bounds with them contain sampled network outputs, and its CROWN agrees with funclib's own (:mod:`funclib.verify.crown`), a
second implementation of the same algorithm on the same relaxations.
"""

from __future__ import annotations

import sys
import warnings

import numpy as np
import pytest

from funclib.relaxation import autolirpa


def test_missing_auto_lirpa_names_the_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "auto_LiRPA", None)  # import of a None entry raises ImportError
    assert not autolirpa.available()
    with pytest.raises(ImportError, match="pip install --no-deps"):
        autolirpa._lirpa()


torch = pytest.importorskip("torch")
pytest.importorskip("auto_LiRPA", exc_type=ImportError)
from auto_LiRPA import BoundedTensor  # noqa: E402
from auto_LiRPA.perturbations import PerturbationLpNorm  # noqa: E402

from funclib import registry  # noqa: E402
from funclib.torch import Activation  # noqa: E402

nn = torch.nn
_slow = pytest.mark.slow
ENTRIES = [("gelu", {}), ("golu", {}), pytest.param("elu", {"alpha": 0.7}, marks=_slow),
           pytest.param("softplus:threshold", {"beta": 2.0, "threshold": 5.0}, marks=_slow),
           pytest.param("tanh", {}, marks=_slow), pytest.param("mish", {}, marks=_slow)]


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def _f(name, params, x: np.ndarray) -> np.ndarray:
    return registry.get(name).ufunc(params=params or None)(x)


@pytest.mark.parametrize("name,params", ENTRIES)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_lines_hold_at_samples(name, params, dtype):
    rng = np.random.default_rng(1)
    centre = rng.normal(0, 3, 40)
    width = np.concatenate([rng.uniform(0, 0.5, 15), rng.uniform(0.5, 12, 24), [0.0]])
    lo = torch.tensor(centre - width / 2, dtype=dtype)
    hi = torch.tensor(centre + width / 2, dtype=dtype)
    lw, lb, uw, ub = autolirpa.relaxation_tensors(name, params, lo, hi)
    assert all(t.dtype == dtype and t.shape == lo.shape for t in (lw, lb, uw, ub))
    t = np.linspace(0, 1, 2001)[:, None]
    x = lo.double().numpy() + t * (hi.double().numpy() - lo.double().numpy())
    if dtype == torch.float32:
        x = x.astype(np.float32).astype(np.float64)  # points the float32 network can hold
        x = np.clip(x, lo.double().numpy(), hi.double().numpy())
    fx = _f(name, params, x)
    # a32 * x is exact in float64 (24 + 24 bits); the rest is far below float32's 6e-8.
    tol = 1e-12 * (1 + np.abs(fx))
    lower = lw.double().numpy() * x + lb.double().numpy()
    upper = uw.double().numpy() * x + ub.double().numpy()
    assert np.all(lower <= fx + tol), np.max(lower - fx)
    assert np.all(upper >= fx - tol), np.max(fx - upper)


def test_float32_rounding_moves_intercepts_outward():
    lo = torch.tensor([-3.1, 0.3, -40.0], dtype=torch.float64)
    hi = torch.tensor([2.7, 9.9, 35.0], dtype=torch.float64)
    l64 = autolirpa.relaxation_tensors("gelu", None, lo, hi)
    l32 = autolirpa.relaxation_tensors("gelu", None, lo.float(), hi.float())
    # lower intercepts only go down, upper ones only up (beyond what the slope rounding needs)
    assert torch.all(l32[1].double() <= l64[1] + 1e-5) and torch.all(l32[3].double() >= l64[3] - 1e-5)
    assert torch.allclose(l32[0].double(), l64[0], rtol=1e-6) and torch.allclose(l32[2].double(), l64[2], rtol=1e-6)


def _mlp(act, dtype=torch.float64, seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(6, 12), act, nn.Linear(12, 12), act, nn.Linear(12, 3)).to(dtype).eval()


def _cnn(act, seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(1, 4, 3, stride=2, padding=1), act, nn.Conv2d(4, 4, 3, padding=1), act,
                         nn.Flatten(), nn.Linear(64, 3)).double().eval()


def _ball_samples(x0: torch.Tensor, eps: float, norm: str, n: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(3)
    d = torch.randn((n,) + tuple(x0.shape[1:]), generator=g, dtype=torch.float64)
    if norm == "l2":
        flat = d.reshape(n, -1)
        d = (flat / flat.norm(dim=1, keepdim=True) * torch.rand(n, 1, generator=g, dtype=torch.float64) ** 0.2).reshape(d.shape)
    else:
        d = torch.sign(d) * torch.rand(d.shape, generator=g, dtype=torch.float64) ** 0.2
    return (x0 + eps * d).to(x0.dtype)


def _bounds(model, x, eps, norm, method, *more):
    """(lower, upper) bounds of ``model`` over the ball by auto_LiRPA's ``method`` (and ``more`` methods)."""
    bm = autolirpa.bounded_module(model, torch.zeros_like(x[:1]), device="cpu")
    ptb = PerturbationLpNorm(norm=2 if norm == "l2" else float("inf"), eps=eps)
    out = [tuple(t.detach() for t in bm.compute_bounds(x=(BoundedTensor(x, ptb),), method=m)) for m in (method, *more)]
    return out[0] if not more else out


@pytest.mark.parametrize("act", [nn.GELU(), nn.ELU(alpha=0.5), Activation("golu", trainable=())], ids=["gelu", "elu", "golu"])
@pytest.mark.parametrize("norm,eps", [("l2", 0.4), ("linf", 0.15)])
def test_network_bounds_contain_samples(act, norm, eps):
    model = _mlp(act).double()
    x = torch.rand(1, 6, dtype=torch.float64)
    (lb, ub), (ilb, iub) = _bounds(model, x, eps, norm, "CROWN", "IBP")
    with torch.no_grad():
        y = model(_ball_samples(x, eps, norm, 20000))
    for low, high in ((lb, ub), (ilb, iub)):
        assert torch.all(low[0] <= y.min(0).values) and torch.all(high[0] >= y.max(0).values)
        assert torch.all(high - low < 50)  # bounds, not infinities


@pytest.mark.parametrize("dtype", [torch.float64, pytest.param(torch.float32, marks=_slow)])
def test_optimized_slopes_are_sound_and_tighter(dtype):
    """CROWN-optimized tunes the slopes of the funclib lines (intercepts proven for each tuned
    slope): the bounds still hold at samples and are no looser than plain CROWN's."""
    model = _mlp(nn.GELU(), dtype, seed=2)
    x = torch.rand(2, 6, dtype=dtype)
    old = torch.get_default_dtype()
    torch.set_default_dtype(dtype)  # auto_LiRPA creates its tensors in the default dtype
    try:
        bm = autolirpa.bounded_module(model, torch.zeros_like(x[:1]), device="cpu",
                                      bound_opts={"optimize_bound_args": {"iteration": 8}})
        ptb = PerturbationLpNorm(norm=2, eps=0.5)
        plain = [t.detach() for t in bm.compute_bounds(x=(BoundedTensor(x, ptb),), method="CROWN")]
        tuned = [t.detach() for t in bm.compute_bounds(x=(BoundedTensor(x, ptb),), method="CROWN-optimized")]
    finally:
        torch.set_default_dtype(old)
    slack = 1e-5 if dtype == torch.float32 else 1e-10
    assert torch.all(tuned[0] >= plain[0] - slack) and torch.all(tuned[1] <= plain[1] + slack)
    assert torch.any(tuned[1] - tuned[0] < plain[1] - plain[0] - 1e-3)  # the tuning does something
    for i in range(2):
        with torch.no_grad():
            y = model(_ball_samples(x[i:i + 1], 0.5, "l2", 20000))
        assert torch.all(tuned[0][i] <= y.min(0).values) and torch.all(tuned[1][i] >= y.max(0).values)


def test_float32_network_bounds_contain_samples():
    model = _mlp(nn.GELU(), torch.float32)
    x = torch.rand(1, 6)
    lb, ub = _bounds(model, x, 0.5, "l2", "CROWN")
    with torch.no_grad():
        y = model(_ball_samples(x, 0.5, "l2", 20000))
    assert torch.all(lb[0] <= y.min(0).values) and torch.all(ub[0] >= y.max(0).values)


def test_ibp_of_a_non_monotone_activation_is_not_its_end_values():
    # GELU's minimum -0.17 (at -0.75) lies inside [-3, 0.5]; [f(-3), f(0.5)] would miss it.
    lin = nn.Linear(1, 1).double()
    with torch.no_grad():
        lin.weight.fill_(1.0)
        lin.bias.zero_()
    model = nn.Sequential(lin, nn.GELU()).eval()
    lb, ub = _bounds(model, torch.tensor([[-1.25]], dtype=torch.float64), 1.75, "linf", "IBP")
    xs = torch.linspace(-3, 0.5, 10001, dtype=torch.float64)
    f = torch.nn.functional.gelu(xs)
    assert lb.item() <= f.min().item() < torch.nn.functional.gelu(torch.tensor(-3.0)).item()
    assert ub.item() >= f.max().item()


@pytest.mark.parametrize("arch", ["mlp", "cnn"])
@pytest.mark.parametrize("norm", ["l2", "linf"])
def test_crown_agrees_with_funclib_crown(arch, norm):
    """auto_LiRPA's backward pass and funclib.verify.crown are separate implementations of CROWN;
    with the same relaxations their bounds agree (MLPs, and CNNs in l-inf).  On CNNs in l2,
    auto_LiRPA 0.7.1 bounds a zero-padded convolution with the whole kernel's norm at border
    positions too (sound, looser), so there funclib's bounds may only be tighter."""
    from funclib.verify import from_torch
    from funclib.verify.crown import crown_bounds

    act = Activation("golu", trainable=())
    model = (_mlp(act) if arch == "mlp" else _cnn(act)).double()
    shape = (6,) if arch == "mlp" else (1, 8, 8)
    x = torch.rand((3,) + shape, dtype=torch.float64)
    eps = 0.3 if norm == "l2" else 0.05
    C = np.concatenate([np.eye(3), -np.eye(3)])
    ours = crown_bounds(from_torch(model, input_shape=None if arch == "mlp" else shape), x.reshape(3, -1).numpy(),
                        eps, C, norm=norm)
    lb, ub = _bounds(model, x, eps, norm, "CROWN")
    theirs = np.concatenate([lb.numpy(), -ub.numpy()], axis=1)
    if arch == "cnn" and norm == "l2":
        assert np.all(ours >= theirs - 1e-9)
    else:
        np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=1e-10)


def test_convert_replaces_every_activation_and_keeps_relu():
    gelu = nn.GELU()
    model = nn.Sequential(nn.Linear(3, 4), gelu, nn.Linear(4, 4), gelu, nn.ReLU(),
                          nn.Sequential(nn.Softplus(beta=2.0), nn.Linear(4, 2))).double().eval()
    out = autolirpa.convert(model)
    kinds = [type(m).__name__ for m in out.modules()]
    assert kinds.count("FunclibLirpaActivation") == 3 and kinds.count("ReLU") == 1 and kinds.count("GELU") == 0
    assert type(model[1]) is nn.GELU and type(model[3]) is nn.GELU  # the original is untouched
    x = torch.randn(50, 3, dtype=torch.float64) * 4
    with torch.no_grad():
        torch.testing.assert_close(out(x), model(x), rtol=1e-12, atol=1e-12)
    assert out[5][0].params == {"beta": 2.0, "threshold": 20.0}  # PyTorch's softplus switches to x


def test_the_module_has_gradients():
    act = autolirpa.lirpa_activation("silu", params={"beta": 1.5})
    x = torch.linspace(-4, 4, 9, dtype=torch.float64, requires_grad=True)
    (g,) = torch.autograd.grad(act(x).sum(), x)
    s = torch.sigmoid(1.5 * x.detach())
    torch.testing.assert_close(g, s + 1.5 * x.detach() * s * (1 - s))


def test_bad_entries_are_refused():
    from funclib.registry import UnknownEntryError

    with pytest.raises(UnknownEntryError):
        autolirpa.lirpa_activation("gleu_typo")
    with pytest.raises(ValueError, match="rowwise"):
        autolirpa.lirpa_activation("softmax")
    with pytest.raises(ValueError, match="no parameter 'gamma'"):
        autolirpa.lirpa_activation("elu", params={"gamma": 1.0})
    with pytest.raises(ValueError, match="finite"):
        autolirpa.lirpa_activation("elu", params={"alpha": float("nan")})
    with pytest.raises(ValueError, match="alpha"):
        autolirpa.lirpa_activation("golu", params={"alpha": -1.0})
    with pytest.raises(TypeError, match="float32 or float64"):
        autolirpa.relaxation_tensors("gelu", None, torch.zeros(2, dtype=torch.float16), torch.ones(2, dtype=torch.float16))
