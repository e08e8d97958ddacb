"""The network description: affine layers with activations between them.

A :class:`Network` with weights ``W_0, ..., W_{L-1}`` (``W_k`` of shape ``(n_{k+1}, n_k)``),
biases ``b_k`` and hidden activations ``phi_1, ..., phi_{L-1}`` is the map

.. math:: f(x) = W_{L-1}\\,\\varphi_{L-1}(\\cdots \\varphi_1(W_0 x + b_0) \\cdots) + b_{L-1}.

The last layer has no activation. Shapes are checked when the network is built; activations
are looked up in the catalog (:func:`funclib.verify.activations.activation`).

A weight may be a dense array or a ``scipy.sparse`` matrix (stored as CSR): a convolution enters
as its unrolled sparse operator (:mod:`funclib.verify.conv`), and every consumer sees affine
layers ``W_k`` of either kind (``W_k @ x`` works for both). ``input_shape`` records the image
shape ``(C, H, W)`` of a convolutional network's input (metadata only).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sps

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


def _sparse_matrix(w: Any, k: int) -> sps.csr_matrix:
    """A scipy.sparse weight as CSR float64, with the checks a dense weight gets."""
    if np.iscomplexobj(w.data):
        raise NetworkError(f"layer {k}: weight is complex ({w.dtype}); the verifier certifies real networks only")
    if w.dtype.kind not in "iuf":
        raise NetworkError(f"layer {k}: weight has dtype {w.dtype}, not real numbers")
    if len(w.shape) != 2 or 0 in w.shape:
        raise NetworkError(f"layer {k}: weight must be a non-empty 2-D matrix, got shape {w.shape}")
    arr = sps.csr_matrix(w, dtype=np.float64, copy=True)
    if not np.all(np.isfinite(arr.data)):
        raise NetworkError(f"layer {k}: weight has NaN or infinite entries")
    arr.sum_duplicates()
    return arr


def _matrix(w: Any, k: int) -> np.ndarray | sps.csr_matrix:
    if sps.issparse(w):
        return _sparse_matrix(w, k)
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
    input_shape : tuple of int, optional
        Shape of one input before flattening (``(C, H, W)`` for an image); its product must be
        ``n_0``. Default ``(n_0,)``.
    """

    weights: tuple[np.ndarray | sps.csr_matrix, ...]
    activations: tuple[Activation, ...]
    biases: tuple[np.ndarray, ...]
    input_shape: tuple[int, ...]

    def __init__(self, weights: Sequence[Any], activations: Any = "relu", biases: Sequence[Any] | None = None,
                 input_shape: Sequence[int] | None = None):
        if (isinstance(weights, np.ndarray) and weights.ndim == 2) or sps.issparse(weights):
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
        shape = (ws[0].shape[1],) if input_shape is None else tuple(int(v) for v in input_shape)
        if int(np.prod(shape)) != ws[0].shape[1] or min(shape) < 1:
            raise NetworkError(f"input_shape {shape} has {int(np.prod(shape))} entries, the first layer "
                               f"takes {ws[0].shape[1]} inputs")
        object.__setattr__(self, "weights", ws)
        object.__setattr__(self, "activations", resolved)
        object.__setattr__(self, "biases", bs)
        object.__setattr__(self, "input_shape", shape)

    # -- shape --------------------------------------------------------------------------
    @property
    def dims(self) -> tuple[int, ...]:
        """(n_0, n_1, ..., n_L): input width, hidden widths, output width."""
        return (self.weights[0].shape[1],) + tuple(w.shape[0] for w in self.weights)

    @property
    def n_hidden(self) -> int:
        """Total number of hidden neurons."""
        return int(sum(self.dims[1:-1]))

    @property
    def is_sparse(self) -> bool:
        """True when some weight is a scipy.sparse matrix (e.g. an unrolled convolution)."""
        return any(sps.issparse(w) for w in self.weights)

    def __repr__(self) -> str:
        acts = ", ".join(a.name for a in self.activations)
        return f"Network({'-'.join(map(str, self.dims))}; {acts or 'affine'})"

    def dense(self) -> "Network":
        """The same network with every weight as a dense array (``self`` if already dense)."""
        if not self.is_sparse:
            return self
        return Network([w.toarray() if sps.issparse(w) else w for w in self.weights], list(self.activations),
                       list(self.biases), self.input_shape)

    # -- pieces -------------------------------------------------------------------------
    def slice(self, start: int, stop: int) -> "Network":
        """The sub-network of layers ``start .. stop-1`` (used by the splitting method)."""
        return Network(self.weights[start:stop], list(self.activations[start:stop - 1]), self.biases[start:stop],
                       self.input_shape if start == 0 else None)

    def with_weights(self, weights: Sequence[np.ndarray]) -> "Network":
        """The same architecture with other weights (biases kept)."""
        return Network(list(weights), list(self.activations), list(self.biases), self.input_shape)

    # -- evaluation ---------------------------------------------------------------------
    def __call__(self, x: np.ndarray) -> np.ndarray:
        """Evaluate f at one point or at rows of a 2-D array (float64)."""
        from .lower import forward

        x = np.asarray(x, dtype=np.float64)
        if x.ndim == 1:
            return forward(self, x)[0]
        if any(a.kind == "grouped" for a in self.activations):
            return np.stack([forward(self, row)[0] for row in x])
        return self.forward_batch(x)

    def forward_batch(self, X: np.ndarray) -> np.ndarray:
        """f at the rows of ``X`` (shape ``(m, n_0)``), one matrix product per layer (elementwise
        activations only; sparse weights stay sparse)."""
        from .activations import elementwise_kernels

        H = np.asarray(X, dtype=np.float64)
        if H.ndim != 2 or H.shape[1] != self.dims[0]:
            raise NetworkError(f"inputs must have shape (m, {self.dims[0]}), got {H.shape}")
        for k, w in enumerate(self.weights):
            H = np.asarray(w @ H.T).T + self.biases[k]
            if k < len(self.activations):
                H = elementwise_kernels(self.activations[k])[0](H)
        return H
