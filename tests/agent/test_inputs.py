"""Seeded inputs: the same seed gives the same data; every dtype gets values a model would accept, integers within
their range; plain names; the dataset's samples as batches built before timing, bound one after another."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgeprof.agent.backends import TensorInfo, open_runtime
from edgeprof.agent.inputs import cycling, dataset_feeds, make_feeds
from edgeprof.agent.spec import AgentFailure, resolve_name
from tests.agent.tflite_models import gather
from tests.models.onnx_graphs import gather_table

INPUTS = [
    TensorInfo("image", [None, 3, 8, 8], "float32"),
    TensorInfo("ids", [1, 5], "int64"),
    TensorInfo("mask", [1, 5], "bool"),
    TensorInfo("temperature", [], "float16"),
    TensorInfo("q", [1, 16], "uint8", (0.02, 128)),
]


RANGES = {"ids": [0, 9]}


def test_same_seed_same_data_other_seed_other_data() -> None:
    warnings: list[str] = []
    a, described = make_feeds(INPUTS, {"image": [2, 3, 8, 8]}, 3, warnings.append, RANGES)
    b, _ = make_feeds(INPUTS, {"image": [2, 3, 8, 8]}, 3, warnings.append, RANGES)
    c, _ = make_feeds(INPUTS, {"image": [2, 3, 8, 8]}, 4, warnings.append, RANGES)
    assert all(np.array_equal(a[k], b[k]) for k in a) and not np.array_equal(a["image"], c["image"])
    assert warnings == []  # every dynamic dim was given
    assert [d["shape"] for d in described] == [[2, 3, 8, 8], [1, 5], [1, 5], [], [1, 16]]


def test_each_dtype_gets_plausible_values() -> None:
    feeds, _ = make_feeds(INPUTS, {}, 0, lambda m: None, RANGES)
    assert feeds["image"].shape == (1, 3, 8, 8) and feeds["image"].dtype == np.float32
    assert feeds["ids"].dtype == np.int64 and 0 <= feeds["ids"].min() <= feeds["ids"].max() <= 9
    assert feeds["mask"].dtype == np.bool_
    assert feeds["temperature"].shape == () and feeds["temperature"].dtype == np.float16
    q = feeds["q"]
    assert q.dtype == np.uint8 and abs(float(q.mean()) - 128) < 30  # N(0,1)/0.02 + 128, clipped to uint8


def test_a_dynamic_dim_defaults_to_one_a_batch_dim_silently() -> None:
    warnings: list[str] = []
    feeds, _ = make_feeds(INPUTS[:1], {}, 0, warnings.append)
    assert feeds["image"].shape == (1, 3, 8, 8) and warnings == []  # single-stream timing feeds one sample
    feeds, _ = make_feeds([TensorInfo("tokens", [1, None], "float32")], {}, 0, warnings.append)
    assert feeds["tokens"].shape == (1, 1) and "tokens" in warnings[0]


@pytest.mark.parametrize(("given", "text"), [
    ({"image": [1, 4, 8, 8]}, "conflicts with the model's fixed shape"),
    ({"image": [1, 3, 8]}, "rank 4"),
    ({"label": [1]}, "unknown inputs ['label']"),
])
def test_bad_input_shapes_are_input_errors(given: dict[str, list[int]], text: str) -> None:
    with pytest.raises(AgentFailure) as failure:
        make_feeds(INPUTS, given, 0, lambda m: None, RANGES)
    assert failure.value.kind == "input" and text in failure.value.message


def test_integer_inputs_cover_their_whole_range_and_nothing_outside() -> None:
    feeds, described = make_feeds([TensorInfo("ids", [64, 64], "int64")], {}, 0, lambda m: None, {"ids": [3, 4]})
    assert set(np.unique(feeds["ids"]).tolist()) == {3, 4} and described[0]["range"] == [3, 4]


def test_an_integer_input_without_a_range_asks_for_one_by_its_plain_name() -> None:
    with pytest.raises(AgentFailure) as failure:
        make_feeds([TensorInfo("serving_default_ids:0", [1, 3], "int32")], {}, 0, lambda m: None)
    assert failure.value.kind == "input" and "give it with --input-range ids=LO:HI" in failure.value.message


def test_plain_names_resolve_tflite_signature_names_when_unambiguous() -> None:
    assert resolve_name("input", ["serving_default_input:0"]) == "serving_default_input:0"
    assert resolve_name("x", ["serving_default_x:0", "serving_default_x:1"]) is None
    assert resolve_name("x", ["x", "serving_default_x:0"]) == "x"
    feeds, described = make_feeds([TensorInfo("serving_default_input:0", [None, 4], "float32")], {"input": [3, 4]},
                                  0, lambda m: None)
    assert feeds["serving_default_input:0"].shape == (3, 4) and described[0]["name"] == "serving_default_input:0"


def test_dataset_feeds_are_whole_batches_in_order_wrapping_around_built_ahead(tmp_path: Path) -> None:
    path = tmp_path / "d.npz"
    np.savez(path, ids=np.repeat(np.arange(5)[:, None], 3, axis=1), q=np.full((5, 4), 1.0), y=np.arange(5))
    inputs = [TensorInfo("ids", [None, 3], "int64"), TensorInfo("serving_default_q:0", [None, 4], "int8", (0.5, 1))]
    feeds, described = dataset_feeds(str(path), inputs, {"ids": [2, 3]}, lambda m: None)
    assert [f["ids"][:, 0].tolist() for f in feeds] == [[0, 1], [2, 3], [4, 0]]
    assert all(f["ids"].flags.c_contiguous and f["ids"].dtype == np.int64 for f in feeds)
    assert feeds[0]["serving_default_q:0"].dtype == np.int8 and feeds[0]["serving_default_q:0"].max() == 3
    assert described[0] == {"name": "ids", "shape": [2, 3], "dtype": "int64", "source": "dataset", "samples": 5,
                            "batches": 3, "range": None}


def test_dataset_feeds_refuse_a_timed_shape_the_samples_do_not_have(tmp_path: Path) -> None:
    np.savez(tmp_path / "d.npz", x=np.zeros((4, 6), np.float32))
    with pytest.raises(AgentFailure, match=r"the dataset's samples are \[6\], the timed shape is \[1, 7\]"):
        dataset_feeds(str(tmp_path / "d.npz"), [TensorInfo("x", [None, None], "float32")], {"x": [1, 7]},
                      lambda m: None)


@pytest.mark.parametrize("fmt", ["onnx", "tflite"])
def test_each_advance_binds_the_next_batch_for_the_bare_timed_call(tmp_path: Path, fmt: str) -> None:
    model = gather_table(tmp_path / "g.onnx", batch=1) if fmt == "onnx" else gather(tmp_path / "g.tflite")
    runtime = open_runtime(str(model), fmt, 1)
    np.savez(tmp_path / "d.npz", ids=np.array([[0, 1, 2], [4, 4, 4], [3, 2, 1]]))
    feeds, _ = dataset_feeds(str(tmp_path / "d.npz"), runtime.inputs, {}, lambda m: None)
    advance = cycling(runtime, feeds)
    assert advance is not None and cycling(runtime, feeds[:1]) is None
    seen = []
    for _ in range(4):  # the first feed is bound by runtime.timed; each advance binds the next, wrapping round
        call = advance()
        output = call()
        first = output[0] if fmt == "onnx" else runtime._interp.get_tensor(runtime._out_index[0])
        seen.append(int(np.asarray(first).reshape(-1)[0]) // 4)
    assert seen == [4, 3, 0, 4]
