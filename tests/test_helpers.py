"""The shared test helpers agree with the library's one ULP definition (funclib.accuracy)."""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest

import funclib
from funclib.accuracy import ulp_error
from helpers import kinks, max_ulp_distance, ulp_distance


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_ulp_distance_matches_ulp_error_on_float_references(dtype):
    rng = np.random.default_rng(3)
    ref = np.concatenate([rng.standard_normal(50) * 10.0 ** rng.integers(-30, 30, 50), [0.0, 1.0, -2.0]])
    ref = ref.astype(dtype)
    y = np.nextafter(ref, np.asarray(np.inf, dtype))
    y = np.nextafter(y, np.asarray(np.inf, dtype))  # two ulps up (one where a binade starts)
    assert np.array_equal(ulp_distance(y, ref, dtype), ulp_error(y, ref.astype(np.float64), dtype))


def test_ulp_distance_special_values_and_exact_references():
    inf, nan = math.inf, math.nan
    got = ulp_distance([nan, 1.0, inf, inf, 1.0, -inf], [nan, nan, inf, 3.5e38, inf, -inf], "float32")
    assert list(got) == [0.0, math.inf, 0.0, 0.0, math.inf, 0.0]  # 3.5e38 rounds to inf in float32
    with mpmath.workdps(40):
        third = mpmath.mpf(1) / 3  # a reference finer than float64: not rounded first
    d = ulp_distance([float(third)], [third], "float64")[0]
    assert 0 < d <= 0.5
    assert max_ulp_distance(np.float32([1e-6]), [0.0], "float32", floor=1.0) == pytest.approx(1e-6 / 2**-23, rel=1e-6)
    assert max_ulp_distance([], [], "float64") == 0.0


def test_kinks():
    assert kinks(funclib.get("relu")) == [0.0]
    assert kinks(funclib.get("silu")) == []
