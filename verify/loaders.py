"""Load networks from files and from PyTorch.

Formats
-------
``.npz`` (NumPy archive), the documented layout:

- ``W0``, ``W1``, ..., ``W{L-1}``: weight matrices, ``W_k`` of shape ``(n_{k+1}, n_k)``;
- ``b0``, ... (optional): biases of shape ``(n_{k+1},)``;
- ``activations`` (optional): array of strings, one per hidden layer, or a single string for
  all of them (default ``relu``);
- ``activation_params`` (optional): a JSON string holding a list (one dict per hidden layer) or
  one dict for all layers, e.g. ``'{"negative_slope": 0.1}'``.

``.mat`` (MATLAB, read with :func:`scipy.io.loadmat`): a cell array ``weights`` of matrices in
the same orientation (the layout of the reference LipSDP examples); optional ``biases`` cell
array; the activation is given by the caller (default ``relu``, as in LipSDP).

- ``input_shape`` (optional): integer array, the shape of one input before flattening
  (``(C, H, W)`` for a convolutional network).

Sparse weights (unrolled convolutions) are written dense: the file layout stays plain arrays.

PyTorch: :func:`from_torch` (in :mod:`funclib.verify.torch_loader`) takes an ``nn.Sequential``
of affine modules (``Linear``, ``Conv2d``, ``AvgPool2d``, ``BatchNorm``, ...) and activations.
"""

from __future__ import annotations

import json
import re
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from .network import Network, NetworkError, real_array
from .torch_loader import from_torch

__all__ = ["load", "load_npz", "save_npz", "load_mat", "from_torch", "check_npz_sizes"]

_W_KEY = re.compile(r"^W(\d+)$")


def _with_activation(activations: Any, params: Any, hidden: int) -> Any:
    if activations is None:
        activations = "relu"
    if isinstance(activations, str):
        activations = [activations] * hidden
    activations = list(activations)
    if params is None:
        return activations
    if isinstance(params, Mapping):
        params = [params] * len(activations)
    params = list(params)
    if len(params) != len(activations):
        raise NetworkError(f"{len(activations)} activations but {len(params)} parameter sets")
    return [(a, dict(p or {})) for a, p in zip(activations, params)]


#: Largest array a network file may declare (elements); a header can claim any shape, and
#: NumPy allocates what it claims before reading the data.
MAX_ARRAY_ELEMENTS = 1 << 28


def check_npz_sizes(path: str | Path) -> None:
    """Read each member's .npy header (not its data) and refuse a damaged archive or a declared
    shape beyond :data:`MAX_ARRAY_ELEMENTS` or beyond the bytes actually stored."""
    try:
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                if not info.filename.endswith(".npy"):
                    continue
                with archive.open(info) as member:
                    major, _ = np.lib.format.read_magic(member)
                    read_header = (np.lib.format.read_array_header_1_0 if major == 1
                                   else np.lib.format.read_array_header_2_0)
                    shape, _, dtype = read_header(member)
                count = int(np.prod(shape, dtype=object)) if shape else 1
                if count > MAX_ARRAY_ELEMENTS:
                    raise NetworkError(f"{path}: array {info.filename[:-4]!r} declares shape {shape} "
                                       f"({count} elements, limit {MAX_ARRAY_ELEMENTS})")
                if dtype.itemsize and count * dtype.itemsize > info.file_size:
                    raise NetworkError(f"{path}: array {info.filename[:-4]!r} declares shape {shape} but the "
                                       f"file holds only {info.file_size} bytes of it (truncated or damaged)")
    except NetworkError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError) as exc:
        raise NetworkError(f"{path}: cannot read as .npz ({type(exc).__name__}: {exc})") from None


def load_npz(path: str | Path, activation: Any = None, params: Any = None) -> Network:
    """Load the documented ``.npz`` layout (see the module docstring).

    ``activation``/``params`` given here override what the file says.
    """
    check_npz_sizes(path)
    try:
        data = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise NetworkError(f"{path}: cannot read as .npz ({type(exc).__name__}: {exc})") from None
    with data:
        keys = set(data.files)
        found = sorted((int(m.group(1)), k) for k in keys if (m := _W_KEY.match(k)))
        if not found:
            raise NetworkError(f"{path}: no weight arrays W0, W1, ... (keys: {', '.join(sorted(keys)) or 'none'})")
        indices = [i for i, _ in found]
        if indices != list(range(len(indices))):
            raise NetworkError(f"{path}: weight keys must be W0..W{len(indices) - 1} without gaps, got {indices}")
        weights = [data[k] for _, k in found]
        biases = [data[f"b{i}"] if f"b{i}" in keys else None for i in range(len(weights))]
        file_acts = None
        if "activations" in keys:
            raw = data["activations"]
            file_acts = [str(a) for a in np.atleast_1d(raw).tolist()]
            if len(file_acts) == 1:
                file_acts = file_acts[0]
        input_shape = None
        if "input_shape" in keys:
            raw_shape = data["input_shape"]
            if raw_shape.dtype.kind not in "iu" or raw_shape.ndim != 1:
                raise NetworkError(f"{path}: input_shape must be a 1-D integer array, got {raw_shape.dtype} "
                                   f"of shape {raw_shape.shape}")
            input_shape = tuple(int(v) for v in raw_shape)
        file_params = None
        if "activation_params" in keys:
            try:
                file_params = json.loads(str(data["activation_params"]))
            except json.JSONDecodeError as exc:
                raise NetworkError(f"{path}: activation_params is not JSON ({exc})") from None
    hidden = len(weights) - 1
    acts = _with_activation(activation if activation is not None else file_acts,
                            params if params is not None else (None if activation is not None else file_params),
                            hidden)
    return Network(weights, acts, biases, input_shape)


def save_npz(network: Network, path: str | Path) -> None:
    """Write a network in the documented ``.npz`` layout (activation names and parameters)."""
    arrays: dict[str, Any] = {"input_shape": np.array(network.input_shape, dtype=np.int64)}
    for k, (w, b) in enumerate(zip(network.dense().weights, network.biases)):
        arrays[f"W{k}"] = w
        arrays[f"b{k}"] = b
    arrays["activations"] = np.array([a.name for a in network.activations], dtype=str)
    arrays["activation_params"] = np.array(json.dumps([dict(a.params) for a in network.activations]))
    np.savez(path, **arrays)


def _cells(value: Any, name: str, path: Any) -> list[np.ndarray]:
    """The matrices of a MATLAB cell array (or one matrix), refused unless real numbers."""
    arr = np.asarray(value)
    cells = [arr] if arr.dtype != object else list(arr.reshape(-1, order="F"))
    return [real_array(c, f"{path}: {name}[{k}]") for k, c in enumerate(cells)]


def load_mat(path: str | Path, activation: Any = "relu", params: Any = None) -> Network:
    """Load a MATLAB file holding a cell array ``weights`` (optional ``biases``).

    This is the layout of the reference LipSDP examples (``random_weights.mat``).
    """
    import scipy.io

    try:
        data = scipy.io.loadmat(str(path))
    except (OSError, ValueError, NotImplementedError) as exc:
        raise NetworkError(f"{path}: cannot read as MATLAB .mat ({exc})") from None
    if "weights" not in data:
        names = ", ".join(k for k in data if not k.startswith("__")) or "none"
        raise NetworkError(f"{path}: no variable 'weights' (variables: {names})")
    weights = _cells(data["weights"], "weights", path)
    biases = None
    if "biases" in data:
        biases = [b.reshape(-1) for b in _cells(data["biases"], "biases", path)]
    hidden = len(weights) - 1
    return Network(weights, _with_activation(activation, params, hidden), biases)


def load(path: str | Path, activation: Any = None, params: Any = None) -> Network:
    """Load a network by file extension (``.npz``, ``.mat`` or ``.onnx``)."""
    p = Path(path)
    if not p.exists():
        raise NetworkError(f"{path}: no such file")
    suffix = p.suffix.lower()
    if suffix == ".npz":
        return load_npz(p, activation, params)
    if suffix == ".mat":
        return load_mat(p, activation if activation is not None else "relu", params)
    if suffix == ".onnx":
        if activation is not None or params is not None:
            raise NetworkError(f"{path}: an ONNX model names its own activations (no --activation/--param)")
        from .onnx_loader import load_onnx

        return load_onnx(p)
    raise NetworkError(f"{path}: unknown network format {suffix!r} (expected .npz, .mat or .onnx)")
