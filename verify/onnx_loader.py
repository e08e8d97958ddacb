"""Read an ONNX model (the interchange format of the VNN-COMP verifiers) as a Network.

The graph must be a chain: one graph input, each node consuming the previous node's output
(plus initializers or ``Constant`` values), one graph output. Affine nodes between two
activations are composed into one affine layer (:class:`~funclib.verify.torch_loader.AffineChain`):

- ``Gemm`` (``transA = 0``), ``MatMul``, ``Add``/``Sub``/``Mul``/``Div`` by a constant,
  ``Conv`` (2-D: strides, pads, dilations, group, ``auto_pad``), ``BatchNormalization``
  (inference), ``AveragePool`` (2-D, symmetric pads, ``ceil_mode = 0``), ``Flatten``
  (``axis = 1``), ``Reshape`` to ``(N, -1)``, ``Identity``, ``Dropout`` (inference);
- activations mapped to catalog entries: ``Relu``, ``LeakyRelu``, ``Elu``, ``Celu``, ``Sigmoid``,
  ``Tanh``, ``Softplus``, ``Softsign``, ``Gelu`` (``approximate`` ``none``/``tanh``), ``Mish``,
  ``HardSwish``, ``Selu`` and ``HardSigmoid`` (default parameters only), ``PRelu`` (one slope).

Anything else is refused with the op type and the node's name. The file is parsed as protobuf
by the ``onnx`` package (optional extra ``funclib[onnx]``); nothing is unpickled.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from .conv import avgpool2d_matrix, conv2d_matrix
from .network import Network, NetworkError, real_array
from .torch_loader import AffineChain

__all__ = ["load_onnx"]

_SIMPLE = {"Relu": "relu", "Sigmoid": "sigmoid", "Tanh": "tanh", "Softsign": "softsign", "Mish": "mish",
           "HardSwish": "hard_swish"}
_PASS = ("Identity", "Dropout")


def _attrs(node) -> dict[str, Any]:
    import onnx

    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _activation(node, attrs: dict, consts: dict) -> Any:
    op = node.op_type
    if op in _SIMPLE:
        return (_SIMPLE[op], {})
    if op == "LeakyRelu":
        return ("leaky_relu", {"negative_slope": float(attrs.get("alpha", 0.01))})
    if op in ("Elu", "Celu"):
        return (op.lower(), {"alpha": float(attrs.get("alpha", 1.0))})
    if op == "Softplus":
        return ("softplus", {})
    if op == "Gelu":
        approx = attrs.get("approximate", b"none")
        approx = approx.decode() if isinstance(approx, bytes) else str(approx)
        if approx not in ("none", "tanh"):
            raise NetworkError(f"node {node.name!r} (Gelu): approximate={approx!r} is not a catalog function")
        return ("gelu:tanh" if approx == "tanh" else "gelu", {})
    if op == "Selu":
        if not (math.isclose(attrs.get("alpha", 1.67326319217681884765625), 1.6732632, rel_tol=1e-6)
                and math.isclose(attrs.get("gamma", 1.05070102214813232421875), 1.0507010, rel_tol=1e-6)):
            raise NetworkError(f"node {node.name!r} (Selu): only the standard alpha and gamma are catalog selu")
        return ("selu", {})
    if op == "HardSigmoid":
        if not (math.isclose(attrs.get("alpha", 0.2), 1 / 6, rel_tol=1e-6) and math.isclose(attrs.get("beta", 0.5), 0.5)):
            raise NetworkError(f"node {node.name!r} (HardSigmoid): only alpha=1/6, beta=1/2 (PyTorch's) is "
                               "catalog hard_sigmoid")
        return ("hard_sigmoid", {})
    if op == "PRelu":
        slope = consts.get(node.input[1])
        if slope is None or slope.size != 1:
            raise NetworkError(f"node {node.name!r} (PRelu): needs one constant slope")
        return ("prelu", {"a": float(slope.reshape(-1)[0])})
    return None


def _const(consts: dict, name: str, node, what: str) -> np.ndarray:
    if name not in consts:
        raise NetworkError(f"node {node.name!r} ({node.op_type}): {what} {name!r} is not a constant "
                           "(only chains with constant weights are supported)")
    return consts[name]


def _pair_attr(attrs: dict, key: str, default: int, node) -> tuple[int, int]:
    vals = tuple(int(v) for v in attrs.get(key, (default, default)))
    if len(vals) != 2:
        raise NetworkError(f"node {node.name!r} ({node.op_type}): only 2-D is supported, got {key}={vals}")
    return vals


def _conv(node, attrs, consts, shape):
    if shape is None or len(shape) != 3:
        raise NetworkError(f"node {node.name!r} (Conv): needs an image input (C, H, W), got shape {shape}")
    kernel = real_array(_const(consts, node.input[1], node, "weight"), f"node {node.name!r}: Conv weight")
    strides = _pair_attr(attrs, "strides", 1, node)
    dil = _pair_attr(attrs, "dilations", 1, node)
    auto = attrs.get("auto_pad", b"NOTSET")
    auto = auto.decode() if isinstance(auto, bytes) else str(auto)
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        pads = []
        for size, k, s, d in zip(shape[1:], kernel.shape[2:], strides, dil):
            total = max((math.ceil(size / s) - 1) * s + d * (k - 1) + 1 - size, 0)
            pads.append((total - total // 2, total // 2) if auto == "SAME_LOWER" else (total // 2, total - total // 2))
        pads = (pads[0][0], pads[1][0], pads[0][1], pads[1][1])
    elif auto in ("NOTSET", "VALID"):
        pads = tuple(int(p) for p in attrs.get("pads", (0, 0, 0, 0))) if auto == "NOTSET" else (0, 0, 0, 0)
    else:
        raise NetworkError(f"node {node.name!r} (Conv): auto_pad={auto!r} is not supported")
    try:
        A, out = conv2d_matrix(kernel, shape, stride=strides, pads=pads, dilation=dil, groups=int(attrs.get("group", 1)))
    except ValueError as exc:
        raise NetworkError(f"node {node.name!r} (Conv): {exc}") from None
    c = None
    if len(node.input) > 2 and node.input[2]:
        c = np.repeat(real_array(_const(consts, node.input[2], node, "bias"), f"node {node.name!r}: Conv bias"),
                      out[1] * out[2])
    return A, c, out


def _affine(node, attrs, consts, shape):
    """(A, c, new_shape) of an affine node; NotImplemented if the node is not affine."""
    import scipy.sparse as sps

    op = node.op_type
    name = f"node {node.name!r} ({op})"
    if op in _PASS:
        return None, None, shape
    if op == "Flatten":
        if int(attrs.get("axis", 1)) != 1:
            raise NetworkError(f"{name}: only axis=1 is supported")
        return None, None, None if shape is None else (int(np.prod(shape)),)
    if op == "Reshape":
        target = [int(v) for v in _const(consts, node.input[1], node, "shape").reshape(-1)]
        if len(target) != 2 or target[0] not in (0, 1, -1) or (shape is not None and target[1] not in (-1, int(np.prod(shape)))):
            raise NetworkError(f"{name}: only a reshape to (batch, -1) is supported, got {target}")
        return None, None, None if shape is None else (int(np.prod(shape)),)
    if op in ("Gemm", "MatMul"):
        if shape is not None and len(shape) != 1:
            raise NetworkError(f"{name}: applied to a tensor of shape {shape} (flatten it first)")
        if op == "Gemm" and int(attrs.get("transA", 0)):
            raise NetworkError(f"{name}: transA=1 is not supported")
        B = real_array(_const(consts, node.input[1], node, "weight"), f"{name} weight")
        W = B if op == "Gemm" and int(attrs.get("transB", 0)) else B.T
        W = float(attrs.get("alpha", 1.0)) * W
        c = None
        if op == "Gemm" and len(node.input) > 2 and node.input[2]:
            c = float(attrs.get("beta", 1.0)) * real_array(_const(consts, node.input[2], node, "bias"), f"{name} bias")
            c = np.broadcast_to(c.reshape(-1), (W.shape[0],)).copy()
        if shape is not None and W.shape[1] != shape[0]:
            raise NetworkError(f"{name}: weight takes {W.shape[1]} inputs, the tensor has {shape[0]}")
        return W, c, (W.shape[0],)
    if op in ("Add", "Sub", "Mul", "Div"):
        if node.input[0] in consts and op in ("Sub", "Div"):
            raise NetworkError(f"{name}: constant on the left is not supported")
        const_name = node.input[0] if node.input[0] in consts else node.input[1]
        if shape is None:
            raise NetworkError(f"{name}: the tensor shape is not known here")
        k = real_array(_const(consts, const_name, node, "operand"), f"{name} operand")
        try:
            full = np.broadcast_to(k.reshape(k.shape[1:] if k.ndim == len(shape) + 1 else k.shape), shape).reshape(-1)
        except ValueError:
            raise NetworkError(f"{name}: operand of shape {k.shape} does not broadcast to {shape}") from None
        if op == "Add":
            return None, full.copy(), shape
        if op == "Sub":
            return None, -full, shape
        if op == "Div" and np.any(full == 0):
            raise NetworkError(f"{name}: division by zero")
        return sps.diags(full if op == "Mul" else 1.0 / full, format="csr"), None, shape
    if op == "Conv":
        return _conv(node, attrs, consts, shape)
    if op == "BatchNormalization":
        if shape is None:
            raise NetworkError(f"{name}: the tensor shape is not known here")
        scale, bias, mean, var = (real_array(_const(consts, node.input[i], node, "parameter"), f"{name} parameter")
                                  for i in range(1, 5))
        if scale.shape != (shape[0],):
            raise NetworkError(f"{name}: {scale.size} channels, the tensor has shape {shape}")
        s = scale / np.sqrt(var + float(attrs.get("epsilon", 1e-5)))
        per = int(np.prod(shape[1:], dtype=np.int64))
        return sps.diags(np.repeat(s, per), format="csr"), np.repeat(bias - mean * s, per), shape
    if op == "AveragePool":
        if shape is None or len(shape) != 3:
            raise NetworkError(f"{name}: needs an image input (C, H, W), got shape {shape}")
        pads = tuple(int(p) for p in attrs.get("pads", (0, 0, 0, 0)))
        if pads[:2] != pads[2:] or int(attrs.get("ceil_mode", 0)) or attrs.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
            raise NetworkError(f"{name}: only symmetric pads, ceil_mode=0 and auto_pad=NOTSET are supported")
        k = _pair_attr(attrs, "kernel_shape", 1, node)
        try:
            A, out = avgpool2d_matrix(shape, k, stride=_pair_attr(attrs, "strides", 1, node), padding=pads[:2],
                                      count_include_pad=bool(attrs.get("count_include_pad", 0)))
        except ValueError as exc:
            raise NetworkError(f"{name}: {exc}") from None
        return A, None, out
    return NotImplemented, None, None


def _constants(graph) -> dict[str, np.ndarray]:
    from onnx import numpy_helper

    consts = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant":
            attrs = _attrs(node)
            if "value" not in attrs:
                raise NetworkError(f"node {node.name!r} (Constant): only tensor values are supported")
            consts[node.output[0]] = numpy_helper.to_array(attrs["value"])
    return consts


def _input_shape(graph, consts) -> tuple[str, tuple[int, ...] | None]:
    inputs = [i for i in graph.input if i.name not in consts]
    if len(inputs) != 1 or len(graph.output) != 1:
        raise NetworkError(f"the graph must have one input and one output, got {len(inputs)} and {len(graph.output)}")
    dims = inputs[0].type.tensor_type.shape.dim
    sizes = [d.dim_value if d.HasField("dim_value") else None for d in dims][1:]
    return inputs[0].name, tuple(sizes) if sizes and all(s for s in sizes) else None


def load_onnx(source: str | Path | Any, input_shape: tuple[int, ...] | None = None) -> Network:
    """Build a :class:`Network` from an ONNX file (or a loaded ``onnx.ModelProto``).

    Parameters
    ----------
    source : path or onnx.ModelProto
        The model; a path is read with ``onnx.load`` (protobuf, no pickles).
    input_shape : tuple of int, optional
        Shape of one input without the batch axis, if the graph does not state it.

    Raises
    ------
    NetworkError
        Unsupported op (named with the node), a graph that is not a chain, non-constant weights,
        complex or non-finite values, shape mismatches, an unreadable file.
    """
    try:
        import onnx
    except ImportError:
        raise NetworkError("reading ONNX models needs the onnx package: pip install 'funclib[onnx]'") from None
    if isinstance(source, (str, Path)):
        try:
            model = onnx.load(str(source))
        except Exception as exc:  # noqa: BLE001 - protobuf raises several types on garbage
            raise NetworkError(f"{source}: cannot read as ONNX ({type(exc).__name__}: {exc})") from None
    else:
        model = source
    graph = model.graph
    consts = _constants(graph)
    current, shape = _input_shape(graph, consts)
    if input_shape is not None:
        shape = tuple(int(v) for v in input_shape)
    first = shape
    chain, weights, biases, acts = AffineChain(), [], [], []
    width = None if shape is None else int(np.prod(shape))
    for node in graph.node:
        if node.op_type == "Constant":
            continue
        data_inputs = [i for i in node.input if i and i not in consts]
        if data_inputs != [current]:
            raise NetworkError(f"node {node.name!r} ({node.op_type}): the graph is not a chain (inputs "
                               f"{list(node.input)}, expected the output of the previous node {current!r})")
        attrs = _attrs(node)
        A, c, new_shape = _affine(node, attrs, consts, shape)
        if A is NotImplemented:
            act = _activation(node, attrs, consts)
            if act is None:
                raise NetworkError(f"node {node.name!r}: unsupported ONNX op {node.op_type}")
            if chain.empty:
                raise NetworkError(f"node {node.name!r} ({node.op_type}): activation without an affine layer before it")
            W, b = chain.take(width)
            weights.append(W)
            biases.append(b)
            acts.append(act)
            width = W.shape[0]
        else:
            if first is None and A is not None:
                first, width = (A.shape[1],), A.shape[1]
            chain.then(A, None if c is None else np.asarray(c, dtype=np.float64))
            shape = new_shape
        current = node.output[0]
    if current != graph.output[0].name:
        raise NetworkError(f"the graph output {graph.output[0].name!r} is not the end of the node chain")
    if chain.empty:
        raise NetworkError("the model ends with an activation (or has no affine layer)")
    W, b = chain.take(width)
    weights.append(W)
    biases.append(b)
    return Network(weights, acts, biases, input_shape=first)
