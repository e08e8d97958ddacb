"""The network description: affine layers with activations between them.

A :class:`Network` with weights ``W_0, ..., W_{L-1}`` (``W_k`` of shape ``(n_{k+1}, n_k)``),
biases ``b_k`` and hidden activations ``phi_1, ..., phi_{L-1}`` is the map

.. math:: f(x) = W_{L-1}\\,\\varphi_{L-1}(\\cdots \\varphi_1(W_0 x + b_0) \\cdots) + b_{L-1}.

The last layer has no activation. Shapes are checked when the network is built; activations
are looked up in the catalog (:func:`funclib.verify.activations.activation`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .activations import Activation, activation

__all__ = ["Network", "NetworkError", "real_array"]


class NetworkError(ValueError):
    """A malformed network description (shapes, types, activations)."""


def real_array(value: Any, what: str) -> np.ndarray:
    """``value`` as a float64 array if it holds real numbers (integers or floats); anything else
    (complex, boolean, strings, objects) is refused, never cast: a certificate for the real part
    of complex weights would certify a different network."""
    arr = np.asarray(value)
    if arr.dtype == object:
        try:
            arr = np.array(value.tolist() if isinstance(value, np.ndarray) else value, dtype=np.float64)
        except (TypeError, ValueError):
            raise NetworkError(f"{what} is not a numeric array (dtype object)") from None
    if np.iscomplexobj(arr):
        raise NetworkError(f"{what} is complex ({arr.dtype}); the verifier certifies real networks only")
    if arr.dtype.kind not in "iuf":
        raise NetworkError(f"{what} has dtype {arr.dtype}, not real numbers")
    return np.array(arr, dtype=np.float64)


def _matrix(w: Any, k: int) -> np.ndarray:
    try:
        arr = real_array(w, f"layer {k}: weight")
    except (TypeError, ValueError) as exc:
        if isinstance(exc, NetworkError):
            raise
        raise NetworkError(f"layer {k}: weight is not a numeric matrix") from None
    if arr.ndim == 1:
        arr = arr.reshape(1, -1)
    if arr.ndim != 2 or 0 in arr.shape:
        raise NetworkError(f"layer {k}: weight must be a non-empty 2-D matrix, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise NetworkError(f"layer {k}: weight has NaN or infinite entries")
    return arr


@dataclass(frozen=True, eq=False)
class Network:
    """A feed-forward network: affine layers and the activations between them.

    Parameters
    ----------
    weights : sequence of 2-D arrays
        ``W_k`` of shape ``(n_{k+1}, n_k)`` (PyTorch's ``Linear.weight`` layout).
    activations : name, ``(name, params)``, Activation, or a sequence of them
        One per hidden layer (``len(weights) - 1``); a single value is used for every hidden
        layer.
    biases : sequence of 1-D arrays or None
        ``b_k`` of shape ``(n_{k+1},)``; ``None`` (or a ``None`` item) means zero. Biases do not
        change the Lipschitz constant; they matter for the lower bound (where the kinks are).
    """

    weights: tuple[np.ndarray, ...]
    activations: tuple[Activation, ...]
    biases: tuple[np.ndarray, ...]

    def __init__(self, weights: Sequence[Any], activations: Any = "relu", biases: Sequence[Any] | None = None):
        if isinstance(weights, np.ndarray) and weights.ndim == 2:
            weights = [weights]
        ws = tuple(_matrix(w, k) for k, w in enumerate(weights))
        if not ws:
            raise NetworkError("a network needs at least one layer")
        for k in range(1, len(ws)):
            if ws[k].shape[1] != ws[k - 1].shape[0]:
                raise NetworkError(
                    f"layer {k}: weight has shape {ws[k].shape}, so it expects {ws[k].shape[1]} inputs, "
                    f"but layer {k - 1} has {ws[k - 1].shape[0]} outputs"
                )
        hidden = len(ws) - 1
        if isinstance(activations, (str, Activation)) or (
            isinstance(activations, tuple) and len(activations) == 2 and isinstance(activations[1], dict)
        ):
            acts = [activations] * hidden
        else:
            acts = list(activations)
            if len(acts) != hidden:
                raise NetworkError(
                    f"{hidden} hidden layer(s) need {hidden} activation(s), got {len(acts)}"
                )
        resolved = tuple(activation(a) for a in acts)
        for k, act in enumerate(resolved):
            if act.kind == "grouped":
                act.group_size_for(ws[k].shape[0])  # divisibility
        if biases is None:
            bs = tuple(np.zeros(w.shape[0]) for w in ws)
        else:
            biases = list(biases)
            if len(biases) != len(ws):
                raise NetworkError(f"{len(ws)} layers need {len(ws)} biases, got {len(biases)}")
            bs = []
            for k, (w, b) in enumerate(zip(ws, biases)):
                if b is None:
                    bs.append(np.zeros(w.shape[0]))
                    continue
                arr = real_array(b, f"layer {k}: bias").reshape(-1)
                if arr.shape != (w.shape[0],):
                    raise NetworkError(f"layer {k}: bias has {arr.size} entries, the layer has {w.shape[0]} outputs")
                if not np.all(np.isfinite(arr)):
                    raise NetworkError(f"layer {k}: bias has NaN or infinite entries")
                bs.append(arr)
            bs = tuple(bs)
        object.__setattr__(self, "weights", ws)
        object.__setattr__(self, "activations", resolved)
        object.__setattr__(self, "biases", bs)

    # -- shape --------------------------------------------------------------------------
    @property
    def dims(self) -> tuple[int, ...]:
        """(n_0, n_1, ..., n_L): input width, hidden widths, output width."""
        return (self.weights[0].shape[1],) + tuple(w.shape[0] for w in self.weights)

    @property
    def n_hidden(self) -> int:
        """Total number of hidden neurons."""
        return int(sum(self.dims[1:-1]))

    def __repr__(self) -> str:
        acts = ", ".join(a.name for a in self.activations)
        return f"Network({'-'.join(map(str, self.dims))}; {acts or 'affine'})"

    # -- pieces -------------------------------------------------------------------------
    def slice(self, start: int, stop: int) -> "Network":
        """The sub-network of layers ``start .. stop-1`` (used by the splitting method)."""
        return Network(self.weights[start:stop], list(self.activations[start:stop - 1]), self.biases[start:stop])

    def with_weights(self, weights: Sequence[np.ndarray]) -> "Network":
        """The same architecture with other weights (biases kept)."""
        return Network(list(weights), list(self.activations), list(self.biases))

    # -- evaluation ---------------------------------------------------------------------
    def __call__(self, x: np.ndarray) -> np.ndarray:
        """Evaluate f at one point or at rows of a 2-D array (float64)."""
        from .lower import forward

        x = np.asarray(x, dtype=np.float64)
        if x.ndim == 1:
            return forward(self, x)[0]
        return np.stack([forward(self, row)[0] for row in x])
