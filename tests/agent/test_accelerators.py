"""Choosing the execution provider or delegate, and where every node ran: real ONNX Runtime and LiteRT."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest

from edgeprof.agent.backends import open_runtime
from edgeprof.agent.backends.tflite import delegated_nodes
from edgeprof.agent.spec import AgentFailure
from tests.agent.conftest import spec_for
from tests.agent.tflite_models import add_relu, add_sign_relu

MOBILENET = Path(__file__).resolve().parents[2] / "models" / "mobilenetv2"


def ep(*names: str) -> dict[str, Any]:
    return {"providers": [{"name": n, "options": {}} for n in names]}


def delegate(*names: str, **options: str) -> dict[str, Any]:
    return {"delegates": [{"name": n, "options": dict(options)} for n in names]}


def placed(path: Path, fmt: str, accel: dict[str, Any]) -> dict[str, Any]:
    runtime = open_runtime(str(path), fmt, 1, accel, trace_placement=True)
    feeds = {i.name: np.zeros([d or 1 for d in i.shape], i.dtype) for i in runtime.inputs}
    runtime.run(feeds)
    placement = runtime.placement()
    assert placement is not None
    return placement


def test_onnx_on_the_cpu_provider_places_every_node_there() -> None:
    placement = placed(MOBILENET / "mobilenetv2-fp32.onnx", "onnx", {})
    (cpu,) = placement["by_accelerator"]
    assert cpu["name"] == "CPUExecutionProvider" and cpu["nodes"] == placement["nodes"] > 20
    assert cpu["share"] == pytest.approx(1.0) and placement["fraction_basis"] == "time"
    assert placement["fallback_nodes"] == [] and placement["accelerated_fraction"] == 0.0


def test_litert_default_xnnpack_takes_every_mobilenet_node() -> None:
    placement = placed(MOBILENET / "mobilenetv2-fp32.tflite", "tflite", {})
    assert placement["active"] == ["xnnpack"] and placement["accelerated_fraction"] == 1.0
    assert placement["by_accelerator"] == [{"name": "xnnpack", "nodes": 65, "ms": None, "share": None}]


def test_delegate_none_runs_on_the_builtin_kernels() -> None:
    placement = placed(MOBILENET / "mobilenetv2-fp32.tflite", "tflite", delegate("none"))
    assert placement["active"] == [] and placement["accelerated_fraction"] == 0.0
    assert placement["by_accelerator"][0]["name"] == "builtin" and placement["fallback_nodes"] == []


def test_an_operator_xnnpack_refuses_is_a_fallback_node(tmp_path: Path) -> None:
    placement = placed(add_sign_relu(tmp_path / "sign.tflite"), "tflite", {})
    assert placement["fallback_nodes"] == [{"node": "SIGN_1", "op": "SIGN", "ran_on": "builtin"}]
    assert placement["accelerated_fraction"] == pytest.approx(2 / 3)


def test_delegated_nodes_follow_each_partition_between_its_boundary_tensors() -> None:
    ops = [{"index": 0, "op_name": "ADD", "inputs": [0, 1], "outputs": [2]},
           {"index": 1, "op_name": "SIGN", "inputs": [2], "outputs": [3]},
           {"index": 2, "op_name": "RELU", "inputs": [3], "outputs": [4]},
           {"index": 3, "op_name": "DELEGATE", "inputs": [0, 1], "outputs": [2]},
           {"index": 4, "op_name": "DELEGATE", "inputs": [3], "outputs": [4]}]
    assert [n["ran_on"] for n in delegated_nodes(ops, "xnnpack")] == ["xnnpack", "builtin", "xnnpack"]


@pytest.mark.parametrize(("fmt", "accel", "text"), [
    ("onnx", ep("openvino"), "the device has no execution provider 'OpenVINOExecutionProvider' (it has: "),
    ("onnx", ep("tensorrt", "cuda"), "'TensorrtExecutionProvider'"),
    ("tflite", delegate("gpu"), "no delegate 'gpu (libtensorflowlite_gpu_delegate.so)' (it has: xnnpack"),
    ("tflite", delegate("/nowhere/libdelegate.so"), "no delegate '/nowhere/libdelegate.so'"),
    ("tflite", delegate("xnnpack", threads="2"), "delegate 'xnnpack' takes no options here"),
])
def test_an_accelerator_the_device_lacks_is_one_clear_line(tmp_path: Path, fmt: str, accel: dict[str, Any],
                                                           text: str) -> None:
    path = add_relu(tmp_path / "m.tflite") if fmt == "tflite" else MOBILENET / "mobilenetv2-fp32.onnx"
    with pytest.raises(AgentFailure) as failure:
        open_runtime(str(path), fmt, 1, accel)
    assert failure.value.kind in ("accelerator_missing", "accelerator_options") and failure.value.stage == "load"
    assert text in failure.value.message and "\n" not in failure.value.message


def test_a_delegate_library_that_will_not_start_is_an_error_even_with_a_fallback(tmp_path: Path) -> None:
    import ctypes.util

    libc = ctypes.util.find_library("c")  # loadable, but no TFLite delegate inside
    with pytest.raises(AgentFailure) as failure:
        open_runtime(str(add_relu(tmp_path / "m.tflite")), "tflite", 1, delegate(libc, "none"))
    assert failure.value.kind == "accelerator_options" and "did not start" in failure.value.message


def test_a_list_ending_in_a_fallback_runs_and_says_what_was_missing(agent: Callable[..., Any]) -> None:
    run = agent(spec_for(MOBILENET / "mobilenetv2-fp32.onnx", runtime=ep("openvino", "cpu")))
    assert run.code == 0, run.final
    placement = run.result["placement"]
    assert placement["requested"] == ["openvino", "cpu"] and placement["active"] == ["CPUExecutionProvider"]
    assert placement["unavailable"] == ["OpenVINOExecutionProvider"]
    assert any("OpenVINOExecutionProvider" in w for w in run.result["warnings"])
    assert run.result["runtime"]["providers"] == ["CPUExecutionProvider"]


def test_the_agent_refuses_a_provider_the_device_lacks(agent: Callable[..., Any]) -> None:
    run = agent(spec_for(MOBILENET / "mobilenetv2-fp32.onnx", runtime=ep("openvino")))
    assert run.code == 1 and run.final["kind"] == "accelerator_missing" and run.final["stage"] == "load"


def test_every_result_has_placement_and_the_tflite_delegates(agent: Callable[..., Any], tmp_path: Path) -> None:
    run = agent(spec_for(add_sign_relu(tmp_path / "s.tflite")))
    assert run.code == 0, run.final
    assert run.result["runtime"]["delegates"] == ["xnnpack"]
    assert [n["op"] for n in run.result["placement"]["fallback_nodes"]] == ["SIGN"]
