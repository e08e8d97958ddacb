"""Gated families: the GLU family (kind "gated"), expanded gating, GoLU, and the MoE gates.

The GLU entries are not elementwise, so the generic catalog tests skip them; here their partial
derivatives are checked against finite differences, their values against PyTorch and against
hand-computed numbers, and the pinned half split against ``torch.nn.functional.glu``. The
non-elementwise gates of ``funclib.families.gates`` (DSelect-k, noisy top-k, z-loss) are checked
against independent formulations (Kronecker products, PyTorch).
"""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest
import sympy as sp

import funclib
from funclib import calculus
from funclib.families import gates
from funclib.formula import make_symbol
from funclib.mpeval import mp_evaluate
from funclib.npeval import np_evaluate
from funclib.properties import compute_properties

GATED = [e for e in funclib.entries() if e.kind == "gated" and e.family == "glu"]
A, B, X = make_symbol("a"), make_symbol("b"), make_symbol("x")


def test_glu_family_is_complete():
    ids = {e.id for e in GATED}
    assert {"glu", "bilinear_glu", "reglu", "geglu", "swiglu", "xglu", "xgeglu", "xswiglu", "atglu", "xatglu"} <= ids
    for entry in GATED:
        assert entry.variables == ("a", "b"), entry.id


# -- the pinned split ------------------------------------------------------------------------


def test_split_convention_is_first_half_value_second_half_gate():
    z = np.array([[1.0, 2.0, 3.0, -4.0]])
    a, b = gates.split_halves(z)
    np.testing.assert_array_equal(a, [[1.0, 2.0]])
    np.testing.assert_array_equal(b, [[3.0, -4.0]])
    out = gates.gated_forward(funclib.get("glu"), z)
    sig = lambda t: 1 / (1 + math.exp(-t))  # noqa: E731
    np.testing.assert_allclose(out, [[1.0 * sig(3.0), 2.0 * sig(-4.0)]], rtol=1e-15)
    # Along another axis.
    z2 = np.arange(12.0).reshape(4, 3) / 7 - 0.8
    np.testing.assert_allclose(gates.gated_forward(funclib.get("bilinear_glu"), z2, axis=0), z2[:2] * z2[2:], rtol=1e-15)
    with pytest.raises(ValueError, match="odd length"):
        gates.split_halves(np.ones(5))
    with pytest.raises(TypeError, match="gated entry"):
        gates.gated_forward(funclib.get("gelu"), np.ones(4))


def test_glu_agrees_with_torch_glu():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    z = np.concatenate([rng.normal(size=(6, 8)) * 4, [[40.0, -40.0, 1e-300, 0.0, -800.0, 800.0, 0.0, -0.0]]])
    for dim in (-1, 0):
        zz = z if dim == -1 else np.concatenate([z, z[:1]], axis=0)
        expected = torch.nn.functional.glu(torch.from_numpy(zz), dim=dim).numpy()
        got = gates.gated_forward(funclib.get("glu"), zz, axis=dim)
        np.testing.assert_allclose(got, expected, rtol=1e-15, atol=0)


def _torch_reference(torch, name, a, b, alpha=0.0):
    """Each family member written from its paper/reference code with PyTorch ops."""
    F = torch.nn.functional
    expanded = lambda g: g * (1 + 2 * alpha) - alpha  # noqa: E731  (Huang's code: XS gate)
    return {
        "glu": lambda: a * torch.sigmoid(b),
        "bilinear_glu": lambda: a * b,
        "reglu": lambda: a * F.relu(b),
        "geglu": lambda: a * F.gelu(b),
        "swiglu": lambda: a * F.silu(b),
        "atglu": lambda: a * (torch.arctan(b) + math.pi / 2) / math.pi,
        "xatglu": lambda: a * (torch.arctan(b) * ((1 + 2 * alpha) / math.pi) + 0.5),
        "xglu": lambda: a * expanded(torch.sigmoid(b)),
        "xgeglu": lambda: a * b * (torch.erf(b / math.sqrt(2)) * (0.5 + alpha) + 0.5),
        "xswiglu": lambda: a * b * expanded(torch.sigmoid(b)),
    }[name]()


@pytest.mark.parametrize("entry", GATED, ids=lambda e: e.id)
def test_values_and_partials_vs_pytorch(entry):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(11)
    a = np.concatenate([rng.normal(size=40) * 3, [1.0, -2.0, 0.5]])
    b = np.concatenate([rng.normal(size=40) * 3, [0.3, -35.0, 35.0]])
    alpha = 0.35 if "alpha" in entry.params else 0.0
    params = {"alpha": alpha} if alpha else None
    ta = torch.tensor(a, dtype=torch.float64, requires_grad=True)
    tb = torch.tensor(b, dtype=torch.float64, requires_grad=True)
    y = _torch_reference(torch, entry.id, ta, tb, alpha)
    got = gates.gated_forward(entry, np.concatenate([a, b]), params=params)
    np.testing.assert_allclose(got, y.detach().numpy(), rtol=1e-13, atol=1e-15)
    ga, gb = torch.autograd.grad(y.sum(), [ta, tb])
    da, db = gates.gated_partials(entry, a, b, params=params)
    np.testing.assert_allclose(da, ga.numpy(), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(db, gb.numpy(), rtol=1e-12, atol=1e-14)


def test_geglu_tanh_variant_vs_torch():
    torch = pytest.importorskip("torch")
    entry = funclib.get("geglu")
    a, b = np.linspace(-3, 3, 25), np.linspace(-6, 5, 25)
    expected = (torch.from_numpy(a) * torch.nn.functional.gelu(torch.from_numpy(b), approximate="tanh")).numpy()
    expr = entry.numeric_expr("tanh")
    got = np_evaluate(expr, {A: a, B: b})
    exact = np.array([float(mp_evaluate(expr, {A: s, B: t}, 40)) for s, t in zip(a, b)])
    np.testing.assert_allclose(got, exact, rtol=1e-14, atol=0)
    # torch computes 1 + tanh(u), which cancels in the left tail: absolute agreement only there.
    np.testing.assert_allclose(expected, exact, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("entry", GATED, ids=lambda e: e.id)
def test_partials_vs_finite_differences(entry):
    """d/da and d/db against 40-digit central differences (parameters at defaults and at alpha=0.35)."""
    rng = np.random.default_rng(len(entry.id))
    settings = [None] + ([{"alpha": 0.35}] if "alpha" in entry.params else [])
    checked = 0
    for params in settings:
        f = entry.numeric_expr(params=params)
        partials = {v: entry.derivative(wrt=v, params=params, numeric=True) for v in ("a", "b")}
        for a0, b0 in zip(rng.uniform(-4, 4, 5), rng.uniform(-4, 4, 5)):
            if abs(b0) < 1e-3:
                continue
            point = {A: float(a0), B: float(b0)}
            for name, symbol in (("a", A), ("b", B)):
                with mpmath.workdps(40):
                    fd = mpmath.diff(lambda s: mp_evaluate(f, {**point, symbol: s}, 80), mpmath.mpf(point[symbol]))
                    exact = mp_evaluate(partials[name], point, 40)
                    assert mpmath.almosteq(fd, exact, rel_eps=1e-25, abs_eps=1e-28), (entry.id, name, point)
                checked += 1
    assert checked >= 10


HAND = [
    ("glu", 2.0, 0.0, {}, 1.0),
    ("bilinear_glu", 2.0, 3.0, {}, 6.0),
    ("reglu", 3.0, -1.0, {}, 0.0),
    ("reglu", 3.0, 2.0, {}, 6.0),
    ("geglu", 1.0, 1.0, {}, 0.8413447460685429),  # Phi(1)
    ("swiglu", 1.0, 1.0, {}, 0.7310585786300049),  # sigmoid(1)
    ("swiglu", 2.0, 1.0, {"beta": 2.0}, 1.7615941559557649),  # 2*sigmoid(2)
    ("atglu", 2.0, 1.0, {}, 1.5),  # 2*(1/4 + 1/2)
    ("xatglu", 2.0, 1.0, {"alpha": 1.0}, 2.5),  # 2*(3*3/4 - 1)
    ("xglu", 4.0, 0.0, {"alpha": 1.0}, 2.0),  # 4*(3/2 - 1)
    ("xgeglu", 1.0, 1.0, {"alpha": 0.5}, 1.1826894921370858),  # 2*Phi(1) - 1/2
    ("xswiglu", 1.0, -1.0, {"alpha": 0.5}, -0.03788284273999024),  # -(2*sigmoid(-1) - 1/2)
]


@pytest.mark.parametrize("name,a,b,params,expected", HAND, ids=[f"{h[0]}-{h[1]}-{h[2]}" for h in HAND])
def test_hand_computed_values(name, a, b, params, expected):
    entry = funclib.get(name)
    value = float(mp_evaluate(entry.numeric_expr(params=params or None), {A: a, B: b}, 40))
    assert value == pytest.approx(expected, rel=4e-16, abs=1e-17)


def test_expanded_variants_reduce_to_plain_ones_at_alpha_zero():
    pairs = [("xglu", "glu"), ("xgeglu", "geglu"), ("xswiglu", "swiglu"), ("xatglu", "atglu")]
    for expanded, plain in pairs:
        diff = funclib.get(expanded).numeric_expr() - funclib.get(plain).numeric_expr()
        assert sp.simplify(diff.rewrite(sp.exp)) == 0, expanded


def test_implementations_declared_for_glu():
    torch = pytest.importorskip("torch")
    entry = funclib.get("glu")
    impl = [i for i in entry.implementations if i["framework"] == "pytorch"][0]
    assert impl["function"] == "torch.nn.functional.glu"
    z = np.random.default_rng(0).normal(size=(3, 10))
    got = torch.nn.functional.glu(torch.from_numpy(z), **impl["kwargs"]).numpy()
    np.testing.assert_allclose(got, gates.gated_forward(entry, z), rtol=1e-15)


# -- expanded gating and GoLU: slope bounds ----------------------------------------------------

GELU_C = 0.1289041451851548  # GELU's slopes fill [-c, 1 + c]
SILU_C = 0.0998393201288669


def _expanded_bounds(c: float, alpha: float) -> tuple[float, float]:
    """xF' = (1 + 2 alpha) F' - alpha with F' filling [-c, 1 + c]: an affine image."""
    ends = (-c - (1 + 2 * c) * alpha, 1 + c + (1 + 2 * c) * alpha)
    return min(ends), max(ends)


#: A branch and bound per alpha takes 5-15 s: two in the default run, the rest marked slow.
XGELU_ALPHAS = [-1.0, 0.5] + [pytest.param(a, marks=pytest.mark.slow) for a in (-0.25, 0.25, 1.0, 2.0)]


@pytest.mark.parametrize("alpha", XGELU_ALPHAS)
def test_xgelu_slope_bounds_as_function_of_alpha(alpha):
    """Interval proof at each alpha agrees with the closed form (second method)."""
    props = compute_properties(funclib.get("xgelu").with_params(alpha=alpha))
    lo, hi = props.slope_bounds
    assert props["slope_bounds"].method == "interval"
    expected = _expanded_bounds(GELU_C, alpha)
    assert lo == pytest.approx(expected[0], abs=1e-7) and hi == pytest.approx(expected[1], abs=1e-7)
    (inf_lo, inf_hi), (sup_lo, sup_hi) = props.get("slope_bounds_enclosure")
    assert inf_lo <= expected[0] + 1e-12 and sup_hi >= expected[1] - 1e-12


@pytest.mark.slow
@pytest.mark.parametrize("alpha", [-0.25, 0.5, 1.0])
def test_xsilu_slope_bounds_as_function_of_alpha(alpha):
    props = compute_properties(funclib.get("xsilu").with_params(alpha=alpha))
    expected = _expanded_bounds(SILU_C, alpha)
    assert props.slope_bounds[0] == pytest.approx(expected[0], abs=1e-7)
    assert props.slope_bounds[1] == pytest.approx(expected[1], abs=1e-7)


def test_atlu_is_increasing_by_convexity():
    """The engine proves f'' >= 0 (convex) but cannot settle the sign of f' near -inf, where
    f' ~ -2/(3 pi x^3) -> 0+. Convexity plus lim_{x->-inf} f'(x) = 0 proves f' > 0."""
    entry = funclib.get("atlu")
    props = entry.properties()
    assert props.convex is True and props["convex"].method == "interval"
    d = entry.derivative(numeric=True)
    assert sp.limit(d, X, -sp.oo) == 0
    assert sp.limit(d, X, sp.oo) == 1
    # Hence 0 < f' < 1 (f' increasing between its limits); the claims say so.
    assert entry.claims["slope_bounds"] == (0.0, 1.0) and entry.claims["monotonic"] == "increasing"
    # ... and the leading term of f' at -inf is -2/(3 pi x^3).
    lead = sp.limit(d * X**3, X, -sp.oo)
    assert sp.simplify(lead + sp.Rational(2, 3) / sp.pi) == 0


def test_golu_extrema_closed_forms():
    """Minimum -Omega*exp(-1/Omega) at x = -Omega (Omega = W(1)); slope extremes by root finding."""
    entry = funclib.get("golu")
    f = entry.numeric_expr()
    d1 = calculus.derivative(f, X, 1)
    d2 = calculus.derivative(d1, X, 1)
    with mpmath.workdps(40):
        omega = mpmath.lambertw(1).real
        assert abs(mp_evaluate(d1, {X: -omega}, 40)) < mpmath.mpf(10) ** -35
        minimum = -omega * mpmath.exp(-1 / omega)
        assert abs(mp_evaluate(f, {X: -omega}, 40) - minimum) < mpmath.mpf(10) ** -35
        lo_x = mpmath.findroot(lambda t: mp_evaluate(d2, {X: t}, 50), (-1.5, -0.5), solver="anderson")
        hi_x = mpmath.findroot(lambda t: mp_evaluate(d2, {X: t}, 50), (1.5, 3.0), solver="anderson")
        slopes = (mp_evaluate(d1, {X: lo_x}, 40), mp_evaluate(d1, {X: hi_x}, 40))
    props = entry.properties()
    assert props.range[0] == pytest.approx(float(minimum), abs=1e-8)
    (inf_lo, inf_hi), (sup_lo, sup_hi) = props.get("slope_bounds_enclosure")
    assert inf_lo <= float(slopes[0]) <= inf_hi and sup_lo <= float(slopes[1]) <= sup_hi
    assert float(slopes[0]) == pytest.approx(-0.1149, abs=5e-5) and float(slopes[1]) == pytest.approx(1.1134, abs=5e-5)


def test_golu_general_parameters():
    """With parameters, the derivative is alpha*exp(-beta*e^{-rate x})*(1 + beta*rate*x*e^{-rate x})."""
    entry = funclib.get("golu")
    params = {"alpha": 1.5, "beta": 0.7, "rate": 2.0}
    d = entry.derivative(params=params)
    t = mpmath.mpf("-0.8")
    with mpmath.workdps(40):
        e = mpmath.exp(-2 * t)
        expected = mpmath.mpf("1.5") * mpmath.exp(-mpmath.mpf("0.7") * e) * (1 + mpmath.mpf("0.7") * 2 * t * e)
        assert mpmath.almosteq(mp_evaluate(d, {X: t}, 40), expected, rel_eps=1e-30)


# -- tempered sigmoid, HeLU, CRReLU ---------------------------------------------------------


def test_tempered_sigmoid_special_members():
    entry = funclib.get("tempered_sigmoid")
    tanh_form = entry.numeric_expr().rewrite(sp.exp)
    assert sp.simplify(tanh_form - sp.tanh(X).rewrite(sp.exp)) == 0
    assert sp.simplify((tanh_form + tanh_form.subs(X, -X))) == 0  # odd, symbolically
    sigmoid_form = entry.numeric_expr(params={"s": 1.0, "T": 1.0, "o": 0.0})
    assert sp.simplify((sigmoid_form - 1 / (1 + sp.exp(-X))).rewrite(sp.exp)) == 0


def test_helu_surrogate_is_not_the_derivative():
    entry = funclib.get("helu")
    alpha = entry.params["alpha"].default
    surrogate = entry.surrogate_gradient.subs(entry.param_subs())
    d = entry.derivative(numeric=True)
    for t, s_expected, d_expected in [(-2 * alpha, 0, 0), (-alpha, 0, 0), (-alpha / 2, 1, 0), (0.0, 1, 0), (0.7, 1, 1)]:
        assert float(mp_evaluate(surrogate, {X: t})) == s_expected, t
        assert float(mp_evaluate(d, {X: t})) == d_expected, t
    # The forward map is exactly ReLU.
    assert entry.expr == funclib.get("relu").expr
    assert entry.properties().slope_bounds == funclib.get("relu").properties().slope_bounds


def test_crrelu_closed_form_extrema():
    entry = funclib.get("crrelu")
    eps = entry.params["epsilon"].default
    props = entry.properties()
    (inf_lo, inf_hi), (sup_lo, sup_hi) = props.get("slope_bounds_enclosure")
    assert inf_lo <= -2 * eps * math.exp(-1.5) <= inf_hi  # at x = -sqrt(3)
    assert sup_lo <= 1 + eps <= sup_hi  # at x = 0+
    assert props.slope_bounds[0] == pytest.approx(-2 * eps * math.exp(-1.5), abs=1e-8)
    assert props.range[0] == pytest.approx(-eps * math.exp(-0.5), abs=1e-8)  # at x = -1


# -- DSelect-k --------------------------------------------------------------------------------


def test_smooth_step_matches_catalog_entry():
    entry = funclib.get("dselect_smooth_step")
    t = np.linspace(-1.5, 1.5, 301)
    for gamma in (1.0, 0.4, 3.0):
        expected = np_evaluate(entry.numeric_expr(params={"width": gamma}), {X: t})
        # Same cubic, different rounding order: cancellation near -gamma/2 allows a few ulps of 1.
        np.testing.assert_allclose(gates.smooth_step(t, gamma), expected, rtol=1e-15, atol=2e-16)
    with pytest.raises(ValueError, match="gamma"):
        gates.smooth_step(t, 0.0)


def _kron_selector(z, gamma, n):
    """r(z) as a Kronecker product of [1 - S(z_j), S(z_j)], most significant digit first."""
    r = np.array([1.0])
    for zj in z:
        s = float(gates.smooth_step(zj, gamma))
        r = np.kron(r, [1 - s, s])
    return r[:n]


def test_dselect_selector_vs_kronecker_product():
    rng = np.random.default_rng(5)
    for m in (1, 2, 3, 4):
        for _ in range(5):
            z = rng.uniform(-0.8, 0.8, size=m)
            r = gates.dselect_selector(z, 1.0)
            np.testing.assert_allclose(r, _kron_selector(z, 1.0, 2**m), rtol=1e-14, atol=1e-16)
            assert r.sum() == pytest.approx(1.0, abs=1e-14)
            assert np.all(r >= 0)
    # Saturated logits select exactly one expert: z = (+, -, +) -> binary 101 = expert 5.
    r = gates.dselect_selector(np.array([0.6, -2.0, 0.5]), 1.0)
    np.testing.assert_array_equal(r, np.eye(8)[5])
    # Fewer experts than 2**m: the first n codes (weights need not sum to 1).
    np.testing.assert_allclose(gates.dselect_selector(np.array([0.1, -0.2]), 1.0, 3), _kron_selector([0.1, -0.2], 1.0, 3))
    with pytest.raises(ValueError, match="num_experts"):
        gates.dselect_selector(np.zeros(2), 1.0, 5)


def test_dselect_k_weights():
    rng = np.random.default_rng(9)
    z = rng.uniform(-0.6, 0.6, size=(3, 4))  # k = 3 selectors, m = 4 (16 experts)
    w = rng.normal(size=3)
    q = gates.dselect_k_weights(z, w, 1.0)
    softmax_w = np.exp(w - w.max()) / np.exp(w - w.max()).sum()
    expected = sum(softmax_w[l] * _kron_selector(z[l], 1.0, 16) for l in range(3))
    np.testing.assert_allclose(q, expected, rtol=1e-14, atol=1e-16)
    assert q.sum() == pytest.approx(1.0, abs=1e-14)
    # Converged selectors: at most k non-zeros.
    zc = np.where(z > 0, 1.0, -1.0)
    assert np.count_nonzero(gates.dselect_k_weights(zc, w, 1.0)) <= 3
    with pytest.raises(ValueError, match="do not match"):
        gates.dselect_k_weights(z, np.ones(2))


# -- noisy top-k, softmax gate, z-loss --------------------------------------------------------


def test_keep_top_k_exactly_k_with_ties():
    v = np.array([1.0, 3.0, 3.0, 0.5, 3.0])
    kept = gates.keep_top_k(v, 2)
    np.testing.assert_array_equal(kept, [-np.inf, 3.0, 3.0, -np.inf, -np.inf])  # lower index wins
    with pytest.raises(ValueError, match="k must be"):
        gates.keep_top_k(v, 0)
    with pytest.raises(ValueError, match="k must be"):
        gates.keep_top_k(v, 6)


def test_noisy_top_k_vs_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(21)
    clean = rng.normal(size=(6, 8)) * 2
    noise_logits = rng.normal(size=(6, 8))
    noise = rng.normal(size=(6, 8))
    for k in (1, 2, 5, 8):
        got = gates.noisy_top_k_gating(clean, k, noise_logits=noise_logits, noise=noise)
        h = torch.from_numpy(clean) + torch.from_numpy(noise) * torch.nn.functional.softplus(torch.from_numpy(noise_logits))
        top = torch.topk(h, k, dim=-1)
        masked = torch.full_like(h, float("-inf")).scatter(-1, top.indices, top.values)
        expected = torch.softmax(masked, dim=-1).numpy()
        np.testing.assert_allclose(got, expected, rtol=1e-13, atol=1e-300)
        assert np.all(np.count_nonzero(got, axis=-1) == k)
    np.testing.assert_allclose(gates.noisy_top_k_gating(clean, 3), gates.temperature_softmax(gates.keep_top_k(clean, 3)))
    with pytest.raises(ValueError, match="both noise and noise_logits"):
        gates.noisy_top_k_gating(clean, 2, noise=noise)


def test_top_k_jacobian_vs_finite_differences():
    h = np.array([0.3, -1.2, 2.0, 0.9, -0.1])
    jac = gates.top_k_softmax_jacobian(h, 3)
    step = 1e-6
    for j in range(5):
        e = np.zeros(5)
        e[j] = step
        fd = (gates.noisy_top_k_gating(h + e, 3) - gates.noisy_top_k_gating(h - e, 3)) / (2 * step)
        np.testing.assert_allclose(jac[:, j], fd, rtol=1e-7, atol=1e-9)
    assert np.all(jac[[1, 4], :] == 0) and np.all(jac[:, [1, 4]] == 0)


def test_temperature_softmax_gate_entry():
    torch = pytest.importorskip("torch")
    entry = funclib.get("temperature_softmax_gate")
    row = [0.3, -1.2, 2.0, 0.9]
    for tau in (0.5, 1.0, 3.0):
        xs, outputs = calculus.expand_rowwise(entry.numeric_expr(params={"tau": tau}), 4)
        ref = np.array([float(mp_evaluate(o, dict(zip(xs, row)), 40)) for o in outputs])
        np.testing.assert_allclose(gates.temperature_softmax(np.array(row), tau), ref, rtol=1e-14)
        np.testing.assert_allclose(torch.softmax(torch.tensor(row, dtype=torch.float64) / tau, -1).numpy(), ref, rtol=1e-14)
    masked = gates.temperature_softmax(np.array([-np.inf, 0.0, 1.0]), 2.0)
    assert masked[0] == 0.0 and masked.sum() == pytest.approx(1.0)


def test_z_loss_vs_entry_and_torch():
    torch = pytest.importorskip("torch")
    entry = funclib.get("z_loss")
    rng = np.random.default_rng(4)
    logits = np.concatenate([rng.normal(size=(4, 6)) * 3, [[700.0, 699.0, -700.0, 0.0, 1.0, 2.0]]])
    value, grad = gates.z_loss(logits)
    t = torch.from_numpy(logits).requires_grad_(True)
    loss = (torch.logsumexp(t, dim=-1) ** 2).mean()
    (tgrad,) = torch.autograd.grad(loss, [t])
    assert value == pytest.approx(loss.item(), rel=1e-14)
    np.testing.assert_allclose(grad, tgrad.numpy(), rtol=1e-12, atol=1e-300)
    # The row-wise entry: every output component is the row's z-loss.
    xs, outputs = calculus.expand_rowwise(entry.numeric_expr(), 6)
    for row in logits:
        vals = {float(mp_evaluate(o, dict(zip(xs, row)), 50)) for o in outputs}
        assert len(vals) == 1
        assert vals.pop() == pytest.approx(float(torch.logsumexp(torch.tensor(row), 0) ** 2), rel=1e-14)
    with pytest.raises(ValueError, match="shape"):
        gates.z_loss(np.ones(3))
