"""ONNX models as verifier networks: every supported op against onnx's reference evaluator."""

from __future__ import annotations

import numpy as np
import pytest

from funclib.verify import NetworkError

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402
from onnx.reference import ReferenceEvaluator  # noqa: E402

from funclib.verify.onnx_loader import load_onnx  # noqa: E402


def _model(nodes, inits, in_shape, out_dim):
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.DOUBLE, ["N", *in_shape])],
        [helper.make_tensor_value_info(nodes[-1].output[0], TensorProto.DOUBLE, ["N", out_dim])],
        [numpy_helper.from_array(np.asarray(v, dtype=np.int64 if np.asarray(v).dtype.kind == "i" else np.float64), k)
         for k, v in inits.items()])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)])


def _check(model, in_shape, n=4):
    net = load_onnx(model)
    x = np.random.default_rng(0).standard_normal((n, *in_shape))
    want = ReferenceEvaluator(model).run(None, {"x": x})[0].reshape(n, -1)
    got = net(x.reshape(n, -1))
    # 1e-6: the reference evaluator's Gelu is not accurate to float64 (4e-8 seen); structure errors are O(1)
    assert np.allclose(got, want, rtol=1e-6, atol=1e-6), np.abs(got - want).max()
    return net


def _cnn(act_nodes, pool=True, auto_pad=None):
    rng = np.random.default_rng(1)
    inits = {"W1": rng.standard_normal((3, 1, 3, 3)), "B1": rng.standard_normal(3),
             "s": rng.uniform(0.5, 2, 3), "b": rng.standard_normal(3), "m": rng.standard_normal(3),
             "v": rng.uniform(0.5, 2, 3), "shape": np.array([-1, 48 if pool else 192]),
             "W2": rng.standard_normal((48 if pool else 192, 5)), "B2": rng.standard_normal(5), "c": rng.standard_normal(5)}
    conv_kw = {"auto_pad": auto_pad} if auto_pad else {"pads": [1, 1, 1, 1]}
    nodes = [helper.make_node("Conv", ["x", "W1", "B1"], ["c1"], name="conv", **conv_kw),
             helper.make_node("BatchNormalization", ["c1", "s", "b", "m", "v"], ["bn"], name="bn", epsilon=1e-3)]
    last = "bn"
    for k, (op, kw) in enumerate(act_nodes[:1]):
        nodes.append(helper.make_node(op, [last], [f"a{k}"], name=f"act{k}", **kw))
        last = f"a{k}"
    if pool:
        nodes.append(helper.make_node("AveragePool", [last], ["p"], name="pool", kernel_shape=[2, 2], strides=[2, 2]))
        last = "p"
    nodes += [helper.make_node("Reshape", [last, "shape"], ["r"], name="reshape"),
              helper.make_node("MatMul", ["r", "W2"], ["mm"], name="mm"),
              helper.make_node("Add", ["mm", "B2"], ["add"], name="add")]
    last = "add"
    for k, (op, kw) in enumerate(act_nodes[1:], start=1):
        nodes.append(helper.make_node(op, [last], [f"a{k}"], name=f"act{k}", **kw))
        last = f"a{k}"
        inits[f"G{k}"] = rng.standard_normal((3, 5))
        nodes.append(helper.make_node("Gemm", [last, f"G{k}", "c3"], [f"g{k}"], name=f"gemm{k}", transB=1, alpha=0.5))
        inits["c3"] = rng.standard_normal(3)
        last = f"g{k}"
    return _model(nodes, inits, (1, 8, 8), 3 if len(act_nodes) > 1 else 5)


@pytest.mark.parametrize("acts", [
    [("Relu", {}), ("Tanh", {})],
    [("Gelu", {}), ("LeakyRelu", {"alpha": 0.1})],
    [("Elu", {"alpha": 0.5}), ("Sigmoid", {})],
    [("Softplus", {}), ("Gelu", {"approximate": "tanh"})],
])
def test_onnx_cnn_matches_the_reference_evaluator(acts):
    net = _check(_cnn(acts), (1, 8, 8))
    assert net.input_shape == (1, 8, 8) and len(net.weights) == 3


def test_onnx_same_padding_and_flatten():
    model = _cnn([("Relu", {})], pool=False, auto_pad="SAME_UPPER")
    net = _check(model, (1, 8, 8))
    assert net.dims[:2] == (64, 192)


def test_onnx_file_round_trip_and_cli(tmp_path, capsys):
    import json

    from funclib.cli import main
    from funclib.verify import load

    rng = np.random.default_rng(2)
    model = _model([helper.make_node("Gemm", ["x", "W", "b"], ["h"], name="fc1", transB=1),
                    helper.make_node("Relu", ["h"], ["r"], name="relu"),
                    helper.make_node("MatMul", ["r", "W2"], ["o"], name="fc2")],
                   {"W": rng.standard_normal((6, 4)), "b": rng.standard_normal(6), "W2": rng.standard_normal((6, 3))},
                   (4,), 3)
    onnx.save(model, tmp_path / "m.onnx")
    net = load(tmp_path / "m.onnx")
    X = rng.standard_normal((8, 4))
    np.savez(tmp_path / "data.npz", X=X, y=np.argmax(net(X), axis=1))
    assert main(["certify", str(tmp_path / "m.onnx"), "--data", str(tmp_path / "data.npz"), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["accuracy"] == 1.0 and min(out["radii"]) > 0


def test_onnx_hostile_graphs_are_refused(tmp_path):
    W = np.ones((4, 3))
    bad_op = _model([helper.make_node("MatMul", ["x", "W"], ["h"], name="mm"),
                     helper.make_node("Softmax", ["h"], ["s"], name="sm")], {"W": W}, (4,), 3)
    with pytest.raises(NetworkError, match="'sm': unsupported ONNX op Softmax"):
        load_onnx(bad_op)
    branch = _model([helper.make_node("MatMul", ["x", "W"], ["h"], name="mm"),
                     helper.make_node("Relu", ["h"], ["r"], name="relu"),
                     helper.make_node("Add", ["r", "h"], ["o"], name="skip")], {"W": W}, (4,), 3)
    with pytest.raises(NetworkError, match="'skip'.*not a chain"):
        load_onnx(branch)
    nonfinite = _model([helper.make_node("MatMul", ["x", "W"], ["h"], name="mm")], {"W": W * np.nan}, (4,), 3)
    with pytest.raises(NetworkError, match="NaN"):
        load_onnx(nonfinite)
    selu = _model([helper.make_node("MatMul", ["x", "W"], ["h"], name="mm"),
                   helper.make_node("Selu", ["h"], ["s"], name="selu", alpha=2.0),
                   helper.make_node("MatMul", ["s", "W2"], ["o"], name="mm2")], {"W": W, "W2": np.ones((3, 2))}, (4,), 2)
    with pytest.raises(NetworkError, match="'selu'.*standard alpha"):
        load_onnx(selu)
    (tmp_path / "garbage.onnx").write_bytes(b"\x00not a model")
    with pytest.raises(NetworkError, match="cannot read as ONNX"):
        load_onnx(tmp_path / "garbage.onnx")
