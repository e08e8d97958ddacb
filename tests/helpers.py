"""The tests' shared vocabulary (as SciPy's ``_mptestutils``): ULP distances and kinks.

Import as ``from helpers import ...`` (pytest puts ``tests/`` on the path; so does running a
test file as a script, as the CUDA subprocess checks do). The spacing of a format is
:func:`funclib.accuracy.ulp`, the library's one definition; these helpers only add what tests
need on top: references that are exact mpmath numbers, and a floor for measuring near zeros.
For the certified robustness radii: a PGD attack (:func:`pgd_flips`) and the check that no
prediction changes at 0.999 x the radii (:func:`assert_survives_pgd`).
"""

from __future__ import annotations

import math

import mpmath
import numpy as np

from funclib.accuracy import ulp

__all__ = ["ulp_distance", "max_ulp_distance", "kinks", "row_battery", "pgd_flips", "assert_survives_pgd"]


def ulp_distance(y, exact, dtype, *, floor: float = 0.0) -> np.ndarray:
    r"""Elementwise :math:`|y - e| / \operatorname{ulp}(\max(|e|, \text{floor}))` in the format ``dtype``.

    Parameters
    ----------
    y : array_like
        Results in ``dtype`` (any float array; compared through float64, which holds them exactly).
    exact : array_like or sequence of mpmath numbers
        The reference: floats, or exact mpmath values (then the difference is taken in mpmath,
        so a reference closer than float64 is not rounded first).
    dtype : str or numpy dtype
        The format whose ULP is the unit (float32 results are measured in float32 ULPs).
    floor : float
        Measure in ULPs of at least ``floor`` (derivatives near their zeros, log-domain maps);
        0 measures relatively everywhere.

    Returns
    -------
    numpy.ndarray
        0 where ``y`` equals the reference or both are NaN; inf where exactly one is NaN, where
        an infinity does not match, or where the reference rounds to ±inf in the format and
        ``y`` is not that infinity.
    """
    dtype = np.dtype(dtype)
    ys = np.asarray(y).astype(np.float64).reshape(-1)
    refs = list(exact) if not isinstance(exact, np.ndarray) else exact.astype(np.float64).reshape(-1).tolist()
    if len(refs) != len(ys):
        raise ValueError(f"{len(ys)} results but {len(refs)} references")
    out = np.empty(len(ys))
    for i, (o, r) in enumerate(zip(ys.tolist(), refs)):
        if mpmath.isnan(r) or math.isnan(o):
            out[i] = 0.0 if (mpmath.isnan(r) and math.isnan(o)) else math.inf
            continue
        with np.errstate(over="ignore"):
            beyond = np.isinf(np.array(float(r)).astype(dtype))
        if beyond:  # the reference rounds to ±inf in the format: only that infinity matches
            out[i] = 0.0 if math.isinf(o) and (o > 0) == (r > 0) else math.inf
            continue
        if math.isinf(o):
            out[i] = math.inf
            continue
        unit = float(ulp(np.array(max(abs(float(r)), floor)), dtype.name))
        out[i] = float(abs(mpmath.mpf(o) - r)) / unit  # r as given: mpf(r) would round it to 53 bits
    return out.reshape(np.shape(y))


def max_ulp_distance(y, exact, dtype, *, floor: float = 0.0) -> float:
    """The largest :func:`ulp_distance` (0 for no points)."""
    d = ulp_distance(y, exact, dtype, floor=floor)
    return float(np.max(d)) if d.size else 0.0


def kinks(entry, variant: str | None = None, params=None) -> list[float]:
    """The real points where the entry's formula switches branch (:func:`funclib.properties.breakpoints`
    of the numeric expression); none when they cannot be computed."""
    from funclib.properties import breakpoints

    try:  # numeric_expr takes the variant's own parameters too (softplus:threshold's threshold)
        return [float(p) for p in breakpoints(entry.numeric_expr(variant, params), entry.symbol)]
    except (TypeError, ValueError):
        return []


def row_battery(dtype) -> list[np.ndarray]:
    """Rows for the row-wise kernel tests: random, ties, near finfo.max, tiny, subnormal, -inf."""
    big = 3e38 if dtype == np.float32 else 1.7e308
    sub = float(np.finfo(dtype).smallest_subnormal)
    rng = np.random.default_rng(1)
    rows = [
        rng.normal(size=11), rng.normal(scale=30.0, size=17), rng.normal(loc=5.0, scale=0.1, size=6),
        np.array([1.0, 1.0, 1.0, 0.0, 0.0]), np.array([0.5, 0.5, 0.5]), np.array([-1.0, -1.0, 2.0, 2.0]),
        np.array([big, -big, 0.0, big / 2]), np.array([-big, -big / 3, 1.0]), np.array([big / 7]),
        np.array([1e-30, 0.0, -1e-30, 1e-38]), np.array([3 * sub, -sub, 2 * sub]),
        np.array([2.0, -np.inf, 1.0, -np.inf]), np.array([-np.inf, -np.inf, 7.0]),
        np.array([1e4, -1e4, 9999.5, 0.0]), np.array([0.25]), np.array([-0.9990234375, -1.0, -1.0009765625]),
    ]
    return [r.astype(dtype) for r in rows]


def pgd_flips(model, X, y, radii, *, norm: str = "l2", steps: int = 40, restarts: int = 2, seed: int = 0) -> np.ndarray:
    """Inputs whose prediction a PGD attack on the margin changes within ``radii``.

    Parameters
    ----------
    model : torch.nn.Module
        A float64 classifier (logits in the last dimension).
    X, y : numpy.ndarray
        Inputs (any shape the model takes) and their labels.
    radii : array_like
        Per-input radius of the ball.
    norm : {"l2", "linf"}
        ``"l2"``: normalized gradient steps from random points of the half-radius sphere,
        projection onto the ball; ``"linf"``: signed gradient steps from random points of the
        box (odd restarts from random corners), projection onto the box.
    steps, restarts, seed
        Steps of ``2.5 radius / steps`` per restart, restarts, and the seed of the starts.

    Returns
    -------
    numpy.ndarray
        Boolean, True where some step of some restart changed the prediction.
    """
    import torch

    gen = torch.Generator().manual_seed(seed)
    x0 = torch.tensor(X, dtype=torch.float64)
    r = torch.tensor(radii, dtype=torch.float64).reshape((-1,) + (1,) * (x0.ndim - 1))
    labels = torch.tensor(y)
    flipped = torch.zeros(len(y), dtype=torch.bool)
    for k in range(restarts):
        if norm == "l2":
            delta = torch.randn(x0.shape, dtype=torch.float64, generator=gen)
            delta = delta / delta.flatten(1).norm(dim=1).reshape(r.shape) * r * 0.5
        else:
            u = torch.rand(x0.shape, dtype=torch.float64, generator=gen) * 2 - 1
            delta = r * (torch.sign(u) if k % 2 else u)
        for _ in range(steps):
            delta.requires_grad_(True)
            out = model(x0 + delta)
            true = out.gather(1, labels[:, None])[:, 0]
            other = out.masked_fill(torch.nn.functional.one_hot(labels, out.shape[1]).bool(), -math.inf).max(1).values
            (other - true).sum().backward()
            with torch.no_grad():
                delta = _pgd_step(delta, delta.grad, r, 2.5 * r / steps, norm)
                flipped |= model(x0 + delta).argmax(1) != labels
    return flipped.numpy()


def _pgd_step(delta, grad, r, step, norm: str):
    """One ascent step of ``delta`` along ``grad``, projected back onto the ball of radius ``r``."""
    import torch

    if norm == "l2":
        g = grad / grad.flatten(1).norm(dim=1).clamp_min(1e-30).reshape(r.shape)
        delta = delta + step * g
        return delta * torch.clamp(r / delta.flatten(1).norm(dim=1).reshape(r.shape).clamp_min(1e-30), max=1.0)
    return torch.maximum(torch.minimum(delta + step * torch.sign(grad), r), -r)


def assert_survives_pgd(model, X, y, radii, *, among=None, label: str = "", **attack) -> None:
    """Assert that :func:`pgd_flips` at 0.999 x ``radii`` changes no prediction (of the inputs
    where the boolean mask ``among`` is True; all when None): certified radii must survive the
    attack. ``attack``: ``norm``, ``steps``, ``restarts``, ``seed`` of :func:`pgd_flips`."""
    flips = pgd_flips(model, X, y, 0.999 * np.asarray(radii), **attack)
    if among is not None:
        flips = flips & among
    assert not np.any(flips), f"{label} PGD changed {int(np.sum(flips))} predictions inside the radii".strip()
