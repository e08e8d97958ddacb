"""Float64 row primitives shared by the row-wise reference maps (:mod:`funclib.rowwise.reference`,
:mod:`funclib.rowwise.breadth`, :mod:`funclib.rowwise.jacobians`)."""

from __future__ import annotations

import numpy as np

__all__ = ["softmax"]


def softmax(z: np.ndarray) -> np.ndarray:
    r"""Softmax over the last axis, :math:`e^{z_i - m} / \sum_j e^{z_j - m}` with :math:`m = \max_j z_j`
    (the shift keeps every exponent :math:`\le 0`, so nothing overflows)."""
    m = np.max(z, axis=-1, keepdims=True)
    e = np.exp(z - m)
    return e / np.sum(e, axis=-1, keepdims=True)
