"""Tiny real ONNX models written with onnx.helper: shapes and dtypes the shipped models do not cover."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

REPO = Path(__file__).resolve().parents[2]
MODELS = REPO / "models"
DIGITS = MODELS / "digits"


def save(graph: onnx.GraphProto, path: Path) -> Path:
    """Check and write a graph as an opset-17 model."""
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def dynamic_length(path: Path) -> Path:
    """Identity on x: [batch, length], both dims dynamic (a sequence model's input)."""
    return save(helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])], "dynamic_length",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", "length"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", "length"])]), path)


def mixed_inputs(path: Path) -> Path:
    """Inputs: float 'image' [batch, 4], int64 'ids' [batch, 3], bool 'mask' [batch, 3], float scalar 'gain';
    outputs: 'scores' [batch, 4] (image * gain) and 'count' [batch] (ids masked and summed)."""
    nodes = [
        helper.make_node("Mul", ["image", "gain"], ["scores"]),
        helper.make_node("Cast", ["mask"], ["mask_i"], to=TensorProto.INT64),
        helper.make_node("Mul", ["ids", "mask_i"], ["kept"]),
        helper.make_node("ReduceSum", ["kept", "axis"], ["count"], keepdims=0),
    ]
    graph = helper.make_graph(
        nodes, "mixed",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", 4]),
         helper.make_tensor_value_info("ids", TensorProto.INT64, ["batch", 3]),
         helper.make_tensor_value_info("mask", TensorProto.BOOL, ["batch", 3]),
         helper.make_tensor_value_info("gain", TensorProto.FLOAT, [])],
        [helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["batch", 4]),
         helper.make_tensor_value_info("count", TensorProto.INT64, ["batch"])],
        [numpy_helper.from_array(np.array([1], np.int64), "axis")])
    return save(graph, path)


def linear_classifier(path: Path, weights: np.ndarray, *, batch: int | str = "batch") -> Path:
    """'x' [batch, features] @ weights -> 'scores' [batch, classes]; a fixed batch when `batch` is an int."""
    features, classes = weights.shape
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["scores"])], "linear",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, features])],
        [helper.make_tensor_value_info("scores", TensorProto.FLOAT, [batch, classes])],
        [numpy_helper.from_array(weights.astype(np.float32), "w")])
    return save(graph, path)


def hardmax_in_the_middle(path: Path) -> Path:
    """x [1, 4] -> MatMul -> Add -> Relu -> Hardmax -> Mul -> Add -> y: OpenVINO's execution provider refuses
    Hardmax (the CPU provider runs it), so it is the one node that falls back."""
    w = numpy_helper.from_array(np.full((4, 4), 0.5, np.float32), "w")
    b = numpy_helper.from_array(np.array([0.1, 0.2, 0.3, 0.4], np.float32), "b")
    k = numpy_helper.from_array(np.full(4, 2.0, np.float32), "k")
    nodes = [
        helper.make_node("MatMul", ["x", "w"], ["t0"], name="head_matmul"),
        helper.make_node("Add", ["t0", "b"], ["t1"], name="head_add"),
        helper.make_node("Relu", ["t1"], ["t2"], name="head_relu"),
        helper.make_node("Hardmax", ["t2"], ["t3"], name="odd_hardmax", axis=-1),
        helper.make_node("Mul", ["t3", "k"], ["t4"], name="tail_mul"),
        helper.make_node("Add", ["t4", "b"], ["y"], name="tail_add"),
    ]
    graph = helper.make_graph(nodes, "fallback", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])], [w, b, k])
    return save(graph, path)


def gather_table(path: Path, rows: int = 5, *, width: int = 4, batch: int | str = "batch") -> Path:
    """An embedding lookup: int64 'ids' [batch, 3] index a float table of `rows` x `width` (an initializer);
    'scores' [batch, 3 * width] are the rows found. An index outside 0..rows-1 makes ONNX Runtime raise."""
    table = np.arange(rows * width, dtype=np.float32).reshape(rows, width)
    graph = helper.make_graph(
        [helper.make_node("Gather", ["table", "ids"], ["found"], axis=0),
         helper.make_node("Flatten", ["found"], ["scores"], axis=1)], "gather",
        [helper.make_tensor_value_info("ids", TensorProto.INT64, [batch, 3])],
        [helper.make_tensor_value_info("scores", TensorProto.FLOAT, [batch, 3 * width])],
        [numpy_helper.from_array(table, "table")])
    return save(graph, path)
