"""Per-model input options on the host: ranges read from a model's Gather tables (ONNX and TFLite), entries
resolved to each model's own input names, and the one-line errors before anything is uploaded."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from edgeprof.artifacts import load_artifact
from edgeprof.errors import ConfigError
from edgeprof.model_inputs import parse_input_range, parse_input_shape, resolve_inputs
from tests.agent.tflite_models import gather
from tests.models.onnx_graphs import gather_table, mixed_inputs, save
from tests.support import DIGITS

ONNX, TFLITE = DIGITS / "digits-fp32.onnx", DIGITS / "digits-fp32.tflite"


def resolve(models: list[Path], shapes: tuple[str, ...] = (), ranges: tuple[str, ...] = (),
            timing: str = "random") -> dict[str, object]:
    artifacts = [load_artifact(m) for m in models]
    resolved = resolve_inputs(artifacts, [parse_input_shape(s) for s in shapes],
                              [parse_input_range(r) for r in ranges], timing=timing)
    return {Path(path).name: (inputs.shapes, inputs.ranges) for path, inputs in resolved.items()}


def test_index_ranges_are_read_from_the_gather_tables(tmp_path: Path) -> None:
    assert load_artifact(gather_table(tmp_path / "g.onnx", rows=7)).inputs[0].range == (0, 6)
    assert load_artifact(gather(tmp_path / "g0.tflite", rows=6)).inputs[0].range == (0, 5)
    assert load_artifact(gather(tmp_path / "g1.tflite", rows=6, axis=1)).inputs[0].range == (0, 5)  # 4 x 6 table
    quantised = load_artifact(DIGITS / "digits-int8-static.tflite").inputs[0]
    assert quantised.quant is not None and quantised.range is None
    assert load_artifact(ONNX).classes == 10


def test_a_read_range_is_the_default_and_a_narrower_one_may_be_given(tmp_path: Path) -> None:
    onnx, tflite = gather_table(tmp_path / "g.onnx"), gather(tmp_path / "g.tflite")
    assert resolve([onnx, tflite]) == {"g.onnx": ({}, {"ids": [0, 4]}),
                                       "g.tflite": ({}, {"serving_default_ids:0": [0, 4]})}
    assert resolve([onnx, tflite], ranges=("ids=1:2",))["g.tflite"] == ({}, {"serving_default_ids:0": [1, 2]})


def test_an_unprefixed_shape_applies_to_every_model_with_that_input_and_a_prefixed_one_wins() -> None:
    assert resolve([ONNX, TFLITE], shapes=("input=2x8x8x1",)) == {
        "digits-fp32.onnx": ({"input": [2, 8, 8, 1]}, {}),
        "digits-fp32.tflite": ({"serving_default_input:0": [2, 8, 8, 1]}, {})}
    given = ("digits-fp32.tflite:input=4x8x8x1", "input=2x8x8x1")
    assert resolve([ONNX, TFLITE], shapes=given) == {
        "digits-fp32.onnx": ({"input": [2, 8, 8, 1]}, {}),
        "digits-fp32.tflite": ({"serving_default_input:0": [4, 8, 8, 1]}, {})}
    both = resolve([ONNX, TFLITE], shapes=("digits-fp32:serving_default_input:0=3x8x8x1",))  # a stem names both
    assert both == {"digits-fp32.onnx": ({}, {}), "digits-fp32.tflite": ({"serving_default_input:0": [3, 8, 8, 1]}, {})}


@pytest.mark.parametrize(("models", "shapes", "ranges", "message"), [
    ("digits", ("image=1x8x8x1",), (), "--input-shape image=1x8x8x1: no model has one input named 'image'"),
    ("digits", ("digits-fp32.onnx:image=1x8x8x1",), (), "no such model has one input named 'image' "
                                                        "(digits-fp32.onnx: input)"),
    ("digits", (), ("input=0:3",), "digits-fp32.onnx's input 'input' takes float32 values, not plain integers"),
    ("gather", (), ("ids=0:9",), "indexes a table of 5 rows, so its values run 0:4"),
    ("mixed", (), (), "mixed.onnx: input 'ids' takes int64 values whose range edgeprof cannot read from the model: "
                      "give it with --input-range ids=LO:HI"),
])
def test_bad_input_options_are_one_config_error(tmp_path: Path, models: str, shapes: tuple[str, ...],
                                                ranges: tuple[str, ...], message: str) -> None:
    paths = {"digits": [ONNX, TFLITE], "gather": [gather_table(tmp_path / "g.onnx")],
             "mixed": [mixed_inputs(tmp_path / "mixed.onnx")]}[models]
    with pytest.raises(ConfigError) as error:
        resolve(paths, shapes, ranges)
    assert message in str(error.value)


def test_an_integer_input_needs_no_range_when_the_dataset_is_timed(tmp_path: Path) -> None:
    assert resolve([mixed_inputs(tmp_path / "mixed.onnx")], timing="dataset") == {"mixed.onnx": ({}, {})}
    assert resolve([mixed_inputs(tmp_path / "mixed.onnx")], ranges=("ids=-3:3",))["mixed.onnx"][1] == {"ids": [-3, 3]}


@pytest.mark.parametrize("text", ["ids", "ids=3", "ids=9:0", "ids=a:b", "=0:1"])
def test_malformed_ranges_are_refused(text: str) -> None:
    with pytest.raises(ConfigError, match="expected \\[MODEL:\\]NAME=LO:HI"):
        parse_input_range(text)


def test_a_table_read_through_a_cast_or_dequantize_still_gives_the_range(tmp_path: Path) -> None:
    graph = helper.make_graph(
        [helper.make_node("DequantizeLinear", ["table_q", "scale"], ["table"]),
         helper.make_node("Cast", ["ids32"], ["ids"], to=TensorProto.INT64),
         helper.make_node("Gather", ["table", "ids"], ["found"], axis=1)], "quantised_gather",
        [helper.make_tensor_value_info("ids32", TensorProto.INT32, [1, 3])],
        [helper.make_tensor_value_info("found", TensorProto.FLOAT, [4, 1, 3])],
        [numpy_helper.from_array(np.zeros((4, 9), np.int8), "table_q"),
         numpy_helper.from_array(np.array(0.1, np.float32), "scale")])
    assert load_artifact(save(graph, tmp_path / "q.onnx")).inputs[0].range == (0, 8)
