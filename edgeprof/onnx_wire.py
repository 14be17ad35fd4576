"""An ONNX model's graph inputs and outputs read straight from the protobuf wire format, without importing `onnx`.

`import onnx` costs about 0.45 s (most of it ml_dtypes) on every deploy, only to read a signature; this walks the
few ModelProto fields a signature needs (onnx.proto3: ModelProto.graph = 7; GraphProto.initializer = 5,
input = 11, output = 12; ValueInfoProto.name = 1, type = 2; TypeProto.tensor_type = 1; Tensor.elem_type = 1,
shape = 2; TensorShapeProto.dim = 1; Dimension.dim_value = 1; TensorProto.name = 8, external_data = 13,
data_location = 14; StringStringEntryProto.key = 1, value = 2) and skips every other field
by its length, so the weights are never decoded. Anything that does not parse (a truncated file, a length past
the end, an unknown wire type, a ModelProto without a graph) raises WireError.

A tensor type without a `shape` field declares no shape at all, which is not the declared shape of no dims that
a scalar has: ONNX Runtime reports `[]` for both, so `WireTensor.shape_declared` is where they differ.
"""

from __future__ import annotations

import mmap
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

# TensorProto.DataType -> numpy dtype name (the names onnx.helper.tensor_dtype_to_np_dtype gives, ml_dtypes' for
# the narrow floats and ints).
DTYPES = {
    1: "float32", 2: "uint8", 3: "int8", 4: "uint16", 5: "int16", 6: "int32", 7: "int64", 8: "object", 9: "bool",
    10: "float16", 11: "float64", 12: "uint32", 13: "uint64", 14: "complex64", 15: "complex128", 16: "bfloat16",
    17: "float8_e4m3fn", 18: "float8_e4m3fnuz", 19: "float8_e5m2", 20: "float8_e5m2fnuz", 21: "uint4", 22: "int4",
    23: "float4_e2m1",
}
_VARINT, _I64, _LEN, _I32 = 0, 1, 2, 5


class WireError(ValueError):
    """The bytes are not a well-formed ModelProto (as far as the signature's fields go)."""


@dataclass(frozen=True)
class WireTensor:
    """A graph input or output: name, dims (None for a dynamic or named dim), numpy dtype name (None: not a
    tensor, or an element type this reader does not know), and whether its type declares a shape at all (False:
    no `shape` field, so `shape` is [] though the tensor may have any rank; a scalar declares one of no dims)."""

    name: str
    shape: list[int | None]
    dtype: str | None
    shape_declared: bool = True


def _varint(data: memoryview, pos: int, end: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        if pos >= end or shift > 63:
            raise WireError("a varint runs past the end of its message")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7


def _fields(data: memoryview, pos: int, end: int) -> Iterator[tuple[int, int, Any]]:
    """(field number, wire type, value) of each field in data[pos:end]: an int for varints, a (start, stop)
    pair for length-delimited fields; fixed-width fields are skipped."""
    while pos < end:
        key, pos = _varint(data, pos, end)
        number, wire = key >> 3, key & 7
        if wire == _VARINT:
            value, pos = _varint(data, pos, end)
            yield number, wire, value
        elif wire == _LEN:
            length, pos = _varint(data, pos, end)
            if pos + length > end:
                raise WireError(f"field {number} is {length} bytes long but its message ends {end - pos} bytes on")
            yield number, wire, (pos, pos + length)
            pos += length
        elif wire in (_I64, _I32):
            pos += 8 if wire == _I64 else 4
            if pos > end:
                raise WireError(f"fixed-width field {number} runs past the end of its message")
        else:
            raise WireError(f"field {number} has wire type {wire}, which protobuf does not define")


def _text(data: memoryview, span: tuple[int, int]) -> str:
    try:
        return bytes(data[span[0]:span[1]]).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise WireError("a name is not UTF-8") from exc


def _signed(value: int) -> int:
    """A varint read as a two's complement int64 (a negative dim_value is 10 bytes on the wire)."""
    return value - (1 << 64) if value >= 1 << 63 else value


def _dim(data: memoryview, span: tuple[int, int]) -> int | None:
    value = None
    for number, wire, field in _fields(data, *span):
        if number == 1 and wire == _VARINT:
            value = _signed(field)
        elif number == 2:  # dim_param: a named dim, dynamic like an unset one
            value = None
    return value


def _value_info(data: memoryview, span: tuple[int, int]) -> WireTensor:
    name, dtype, shape, declared = "", None, [], False
    for number, wire, field in _fields(data, *span):
        if number == 1 and wire == _LEN:
            name = _text(data, field)
        elif number == 2 and wire == _LEN:
            for t_number, t_wire, t_field in _fields(data, *field):
                if t_number == 1 and t_wire == _LEN:  # tensor_type
                    for s_number, s_wire, s_field in _fields(data, *t_field):
                        if s_number == 1 and s_wire == _VARINT:
                            dtype = DTYPES.get(s_field)
                        elif s_number == 2 and s_wire == _LEN:
                            declared = True
                            shape = [_dim(data, d) for n, w, d in _fields(data, *s_field) if n == 1 and w == _LEN]
    return WireTensor(name, shape, dtype, declared)


def _initializer_name(data: memoryview, span: tuple[int, int]) -> str:
    for number, wire, field in _fields(data, *span):
        if number == 8 and wire == _LEN:
            return _text(data, field)
    return ""


def read_signature(data: bytes | mmap.mmap) -> tuple[list[WireTensor], list[WireTensor]]:
    """The graph inputs that are not initializers, and the graph outputs, of a serialised ModelProto (bytes, or a
    read-only mmap of the file, released again on return so the caller can close it)."""
    with memoryview(data) as view:
        return _signature(view)


def _graph(view: memoryview) -> tuple[int, int]:
    """The span of the ModelProto's graph."""
    graph = None
    for number, wire, field in _fields(view, 0, len(view)):
        if number == 7 and wire == _LEN:  # a repeated graph field would merge; every writer writes one
            graph = field
    if graph is None:
        raise WireError("no graph in the ModelProto")
    return graph


def _signature(view: memoryview) -> tuple[list[WireTensor], list[WireTensor]]:
    graph = _graph(view)
    inputs: list[WireTensor] = []
    outputs: list[WireTensor] = []
    initializers: set[str] = set()
    for number, wire, field in _fields(view, *graph):
        if wire != _LEN:
            continue
        if number == 11:
            inputs.append(_value_info(view, field))
        elif number == 12:
            outputs.append(_value_info(view, field))
        elif number == 5:
            initializers.add(_initializer_name(view, field))
    return [i for i in inputs if i.name not in initializers], outputs


def _entry(data: memoryview, span: tuple[int, int]) -> tuple[str, str]:
    key = value = ""
    for number, wire, field in _fields(data, *span):
        if number in (1, 2) and wire == _LEN:
            key, value = (_text(data, field), value) if number == 1 else (key, _text(data, field))
    return key, value


def external_locations(data: bytes | mmap.mmap) -> dict[str, str]:
    """Initializer name -> the file (relative to the model) that holds its data, for each initializer of the main
    graph stored as external data (data_location EXTERNAL): what torch.onnx and onnx.save_model's
    save_as_external_data write. Tensors in node attributes or subgraphs are not read."""
    with memoryview(data) as view:
        found: dict[str, str] = {}
        for number, wire, field in _fields(view, *_graph(view)):
            if number != 5 or wire != _LEN:
                continue
            name, external, location = "", False, ""
            for t_number, t_wire, t_field in _fields(view, *field):
                if t_number == 8 and t_wire == _LEN:
                    name = _text(view, t_field)
                elif t_number == 14 and t_wire == _VARINT:
                    external = t_field == 1
                elif t_number == 13 and t_wire == _LEN:
                    key, value = _entry(view, t_field)
                    location = value if key == "location" else location
            if external:
                found[name] = location
        return found
