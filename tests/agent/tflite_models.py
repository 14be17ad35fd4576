"""Tiny real TFLite models written with the flatbuffer schema that ai-edge-litert ships (no converter needed)."""

from __future__ import annotations

from pathlib import Path

import flatbuffers
import numpy as np
from ai_edge_litert import schema_py_generated as fb

_IDENTIFIER = b"TFL3"


def _tensor(name: str, shape: list[int], dtype: int, buffer: int,
            quant: tuple[float, int] | None = None) -> fb.TensorT:
    tensor = fb.TensorT()
    tensor.name = name
    tensor.type = dtype
    tensor.buffer = buffer
    tensor.shape = [abs(d) for d in shape]
    tensor.shapeSignature = list(shape)
    if quant is not None:
        params = fb.QuantizationParametersT()
        params.scale, params.zeroPoint = [quant[0]], [quant[1]]
        tensor.quantization = params
    return tensor


def _operator(opcode: int, inputs: list[int], outputs: list[int]) -> fb.OperatorT:
    op = fb.OperatorT()
    op.opcodeIndex, op.inputs, op.outputs = opcode, inputs, outputs
    return op


def _opcode(builtin: int) -> fb.OperatorCodeT:
    code = fb.OperatorCodeT()
    code.builtinCode = builtin
    code.deprecatedBuiltinCode = min(builtin, 127)
    code.version = 1
    return code


def _save(path: Path, tensors: list[fb.TensorT], operators: list[fb.OperatorT], codes: list[fb.OperatorCodeT],
          buffers: list[fb.BufferT], inputs: list[int], outputs: list[int]) -> Path:
    graph = fb.SubGraphT()
    graph.tensors, graph.operators, graph.inputs, graph.outputs = tensors, operators, inputs, outputs
    graph.name = "main"
    model = fb.ModelT()
    model.version = 3
    model.operatorCodes, model.subgraphs, model.buffers = codes, [graph], buffers
    model.description = "edgeprof test model"
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=_IDENTIFIER)
    path.write_bytes(bytes(builder.Output()))
    return path


def _buffer(data: np.ndarray | None = None) -> fb.BufferT:
    buffer = fb.BufferT()
    if data is not None:
        buffer.data = np.frombuffer(data.tobytes(), dtype=np.uint8)
    return buffer


def add_relu(path: Path) -> Path:
    """float32 y = relu(x + b), x of shape [-1, 4] (a dynamic batch dim)."""
    bias = np.array([0.5, -0.5, 1.0, -1.0], dtype=np.float32)
    tensors = [
        _tensor("x", [-1, 4], fb.TensorType.FLOAT32, 0),
        _tensor("b", [4], fb.TensorType.FLOAT32, 1),
        _tensor("sum", [-1, 4], fb.TensorType.FLOAT32, 0),
        _tensor("y", [-1, 4], fb.TensorType.FLOAT32, 0),
    ]
    codes = [_opcode(fb.BuiltinOperator.ADD), _opcode(fb.BuiltinOperator.RELU)]
    operators = [_operator(0, [0, 1], [2]), _operator(1, [2], [3])]
    return _save(path, tensors, operators, codes, [_buffer(), _buffer(bias)], [0], [3])


def dequantize(path: Path, scale: float = 0.05, zero_point: int = -3) -> Path:
    """int8 input with (scale, zero point) dequantised to float32: a quantised model's input stage."""
    tensors = [
        _tensor("q", [1, 64], fb.TensorType.INT8, 0, (scale, zero_point)),
        _tensor("f", [1, 64], fb.TensorType.FLOAT32, 0),
    ]
    codes = [_opcode(fb.BuiltinOperator.DEQUANTIZE)]
    return _save(path, tensors, [_operator(0, [0], [1])], codes, [_buffer()], [0], [1])


def add_sign_relu(path: Path) -> Path:
    """float32 y = relu(sign(x + b)): XNNPACK has no SIGN kernel, so SIGN falls back to the built-in kernels."""
    bias = np.array([0.5, -0.5, 1.0, -1.0], dtype=np.float32)
    tensors = [_tensor(name, [1, 4], fb.TensorType.FLOAT32, 0) for name in ("x", "sum", "sign", "y")]
    tensors.insert(1, _tensor("b", [4], fb.TensorType.FLOAT32, 1))
    codes = [_opcode(fb.BuiltinOperator.ADD), _opcode(fb.BuiltinOperator.SIGN), _opcode(fb.BuiltinOperator.RELU)]
    operators = [_operator(0, [0, 1], [2]), _operator(1, [2], [3]), _operator(2, [3], [4])]
    return _save(path, tensors, operators, codes, [_buffer(), _buffer(bias)], [0], [4])


def gather(path: Path, rows: int = 5, axis: int = 0) -> Path:
    """float32 y = GATHER(table, ids) on `axis`: int32 'serving_default_ids:0' [1, 3] (a converter's input name)
    index a 4 x `rows` table (axis 1) or a `rows` x 4 one (axis 0)."""
    shape = [rows, 4] if axis == 0 else [4, rows]
    table = np.arange(rows * 4, dtype=np.float32).reshape(shape)
    out = [1, 3, 4] if axis == 0 else [4, 1, 3]
    tensors = [
        _tensor("serving_default_ids:0", [1, 3], fb.TensorType.INT32, 0),
        _tensor("table", shape, fb.TensorType.FLOAT32, 1),
        _tensor("StatefulPartitionedCall:0", out, fb.TensorType.FLOAT32, 0),
    ]
    op = _operator(0, [1, 0], [2])
    op.builtinOptionsType = fb.BuiltinOptions.GatherOptions
    op.builtinOptions = fb.GatherOptionsT()
    op.builtinOptions.axis = axis
    return _save(path, tensors, [op], [_opcode(fb.BuiltinOperator.GATHER)], [_buffer(), _buffer(table)], [0], [2])
