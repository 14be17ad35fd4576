"""ONNX Runtime sessions in-process: what ran is recorded, load failures are one-line model_load errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgeprof.agent.backends import open_runtime
from edgeprof.agent.backends.ort import aggregate_ort_profile
from edgeprof.agent.spec import AgentFailure


def test_threads_record_what_ran(models: dict[str, Path]) -> None:
    assert open_runtime(str(models["mlp"]), "onnx", 2).threads == {"intra_op": 2, "inter_op": 1, "spinning": False}
    assert open_runtime(str(models["mlp"]), "onnx", None).threads == {"intra_op": "default", "inter_op": 1,
                                                                      "spinning": True}


def test_signature_of_a_dynamic_model(models: dict[str, Path]) -> None:
    runtime = open_runtime(str(models["mlp"]), "onnx", 1)
    assert [(i.name, i.shape, i.dtype) for i in runtime.inputs] == [("x", [None, 16], "float32")]
    assert [(o.name, o.shape) for o in runtime.outputs] == [("y", [None, 4])]
    assert runtime.describe()["providers"] == ["CPUExecutionProvider"]


@pytest.mark.parametrize("name", ["custom", "garbage"])
def test_unloadable_models_are_model_load_errors(models: dict[str, Path], tmp_path: Path, name: str) -> None:
    path = models["custom"] if name == "custom" else tmp_path / "garbage.onnx"
    if name == "garbage":
        path.write_bytes(b"\x08\x07 this is not a protobuf")
    with pytest.raises(AgentFailure) as failure:
        open_runtime(str(path), "onnx", 1)
    assert failure.value.kind == "model_load" and "\n" not in failure.value.message
    assert failure.value.message.startswith("onnxruntime cannot load the model")


def test_profile_events_aggregate_by_type_and_node() -> None:
    events = [{"cat": "Session", "name": "model_run", "dur": 100}] * 2 + [
        {"cat": "Node", "name": "conv1_kernel_time", "dur": 600, "args": {"op_name": "Conv"}},
        {"cat": "Node", "name": "conv1_kernel_time", "dur": 600, "args": {"op_name": "Conv"}},
        {"cat": "Node", "name": "relu_kernel_time", "dur": 200, "args": {"op_name": "Relu"}},
        {"cat": "Node", "name": "relu_fence_before", "dur": 999, "args": {"op_name": "Relu"}},
    ]
    profile = aggregate_ort_profile(events)
    assert profile["runs"] == 2
    assert profile["by_op_type"] == [{"op": "Conv", "ms_per_run": 0.6, "share": 1200 / 1400},
                                     {"op": "Relu", "ms_per_run": 0.1, "share": 200 / 1400}]
    assert profile["by_node"][0]["node"] == "conv1" and len(profile["by_node"]) == 2
