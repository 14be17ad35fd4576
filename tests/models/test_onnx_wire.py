"""The wire-format signature reader against onnx's own parsing: every shipped model and graphs built here."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from edgeprof.onnx_wire import WireError, read_signature
from tests.models.onnx_graphs import MODELS, mixed_inputs


def onnx_signature(data: bytes) -> tuple[list[tuple], list[tuple]]:
    """What onnx itself reads: non-initializer inputs and outputs as (name, dims, numpy dtype name, whether the
    type has a shape at all)."""
    model = onnx.load_from_string(data)
    initializers = {init.name for init in model.graph.initializer}

    def spec(value: onnx.ValueInfoProto) -> tuple:
        tensor = value.type.tensor_type
        dims = [d.dim_value if d.HasField("dim_value") else None for d in tensor.shape.dim]
        return value.name, dims, np.dtype(helper.tensor_dtype_to_np_dtype(tensor.elem_type)).name, \
            tensor.HasField("shape")

    return ([spec(v) for v in model.graph.input if v.name not in initializers],
            [spec(v) for v in model.graph.output])


def wire_signature(data: bytes) -> tuple[list[tuple], list[tuple]]:
    inputs, outputs = read_signature(data)
    return ([(t.name, t.shape, t.dtype, t.shape_declared) for t in inputs],
            [(t.name, t.shape, t.dtype, t.shape_declared) for t in outputs])


@pytest.mark.parametrize("path", sorted(MODELS.rglob("*.onnx")), ids=lambda p: p.name)
def test_shipped_models_read_as_onnx_reads_them(path: Path) -> None:
    data = path.read_bytes()
    assert wire_signature(data) == onnx_signature(data)


def built(dtype: int, input_dims: list | None, *, initializer_input: bool = False, negative_dim: bool = False) -> bytes:
    """An Identity graph of one input with `input_dims` (ints, names or None; None itself: no shape at all),
    optionally an initializer that is also listed as a graph input (ONNX IR < 4 style), optionally a negative
    dim_value."""
    x = helper.make_tensor_value_info("x", dtype, input_dims)
    if negative_dim:
        x.type.tensor_type.shape.dim[0].dim_value = -1
    nodes = [helper.make_node("Identity", ["x"], ["y"])]
    inputs, initializers = [x], []
    if initializer_input:
        weight = numpy_helper.from_array(np.arange(6, dtype=np.float32).reshape(2, 3), "w")
        initializers.append(weight)
        inputs.append(helper.make_tensor_value_info("w", TensorProto.FLOAT, [2, 3]))
        nodes.append(helper.make_node("Identity", ["w"], ["w_out"]))
    outputs = [helper.make_tensor_value_info("y", dtype, input_dims)]
    if initializer_input:
        outputs.append(helper.make_tensor_value_info("w_out", TensorProto.FLOAT, [2, 3]))
    graph = helper.make_graph(nodes, "g", inputs, outputs, initializers)
    graph.doc_string = "a doc string before the inputs, skipped by length"
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="edgeprof-test")
    return model.SerializeToString()


@pytest.mark.parametrize("dtype", [TensorProto.FLOAT, TensorProto.FLOAT16, TensorProto.DOUBLE, TensorProto.INT8,
                                   TensorProto.UINT8, TensorProto.INT64, TensorProto.BOOL, TensorProto.BFLOAT16,
                                   TensorProto.FLOAT8E4M3FN, TensorProto.STRING, TensorProto.UINT64])
def test_every_element_type(dtype: int) -> None:
    data = built(dtype, [1, 3])
    assert wire_signature(data) == onnx_signature(data)


@pytest.mark.parametrize("dims", [["batch", 3, 224, 224], [None, 10], [], [0, 7], ["n", "m"], [2**40, 1], None],
                         ids=["named", "unset", "scalar", "zero", "all-named", "large", "no-shape"])
def test_dynamic_named_and_static_dims(dims: list | None) -> None:
    data = built(TensorProto.FLOAT, dims)
    assert wire_signature(data) == onnx_signature(data)


def test_a_scalar_declares_its_shape_and_a_tensor_without_one_does_not() -> None:
    """ONNX Runtime reports [] for both: only the wire format tells them apart."""
    (scalar,), _ = read_signature(built(TensorProto.FLOAT, []))
    (undeclared,), _ = read_signature(built(TensorProto.FLOAT, None))
    assert (scalar.shape, scalar.shape_declared) == ([], True)
    assert (undeclared.shape, undeclared.shape_declared) == ([], False)


def test_initializers_listed_as_inputs_are_not_inputs() -> None:
    data = built(TensorProto.FLOAT, [1, 3], initializer_input=True)
    assert wire_signature(data) == onnx_signature(data)
    assert [name for name, *_ in wire_signature(data)[0]] == ["x"]


def test_negative_dim_value_is_read_as_int64() -> None:
    data = built(TensorProto.FLOAT, [1, 3], negative_dim=True)
    assert wire_signature(data) == onnx_signature(data)
    assert wire_signature(data)[0][0][1] == [-1, 3]


def test_the_mixed_input_graph(tmp_path: Path) -> None:
    data = mixed_inputs(tmp_path / "mixed.onnx").read_bytes()
    assert wire_signature(data) == onnx_signature(data)


@pytest.mark.parametrize("cut", [0.1, 0.5, 0.9, 0.999])
def test_a_truncated_model_is_a_wire_error(cut: float) -> None:
    data = (MODELS / "mobilenetv2" / "mobilenetv2-fp32.onnx").read_bytes()
    with pytest.raises(WireError):
        read_signature(data[: int(len(data) * cut)])


def test_garbage_and_a_model_without_a_graph_are_wire_errors() -> None:
    with pytest.raises(WireError):
        read_signature(b"\x08\x07" + b"\xff" * 20)
    with pytest.raises(WireError, match="no graph"):
        read_signature(helper.make_model(helper.make_graph([], "g", [], [])).SerializeToString()[:2])
