"""Fixtures for the agent tests: tiny real models built with onnx.helper, and a runner for the zipapp."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from edgeprof.agent_bundle import build_agent

FAST_LATENCY = {"min_runs": 20, "max_runs": 400, "min_seconds": 0.05, "max_seconds": 0.5,
                "warmup_min": 3, "warmup_max": 30}


def save(graph: onnx.GraphProto, path: Path, opset: int = 17) -> Path:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


@pytest.fixture(scope="session")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Tiny real ONNX models, each with one trait real user models have."""
    out = tmp_path_factory.mktemp("models")
    rng = np.random.default_rng(0)
    w = numpy_helper.from_array(rng.standard_normal((16, 4)).astype(np.float32), "w")
    mlp = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["h"]), helper.make_node("Softmax", ["h"], ["y"])], "mlp",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4])], [w])
    mixed = helper.make_graph(
        [helper.make_node("Cast", ["ids"], ["ids_f"], to=TensorProto.FLOAT),
         helper.make_node("Cast", ["mask"], ["mask_f"], to=TensorProto.FLOAT),
         helper.make_node("Mul", ["ids_f", "mask_f"], ["masked"]),
         helper.make_node("Mul", ["masked", "scale"], ["scaled"]),
         helper.make_node("ReduceSum", ["scaled"], ["total"], keepdims=0),
         helper.make_node("Identity", ["masked"], ["echo"])], "mixed",
        [helper.make_tensor_value_info("ids", TensorProto.INT64, [1, 8]),
         helper.make_tensor_value_info("mask", TensorProto.BOOL, [1, 8]),
         helper.make_tensor_value_info("scale", TensorProto.FLOAT, [])],
        [helper.make_tensor_value_info("total", TensorProto.FLOAT, []),
         helper.make_tensor_value_info("echo", TensorProto.FLOAT, [1, 8])])
    custom = helper.make_graph(
        [helper.make_node("FancyOp", ["x"], ["y"], domain="com.example.custom")], "custom",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])])
    custom_model = helper.make_model(custom, opset_imports=[helper.make_opsetid("", 17),
                                                            helper.make_opsetid("com.example.custom", 1)])
    custom_model.ir_version = 8
    onnx.save(custom_model, str(out / "custom.onnx"))
    body = helper.make_graph(
        [helper.make_node("Identity", ["cond_in"], ["cond_out"]), helper.make_node("Add", ["acc_in", "one"], ["acc_out"])],
        "body",
        [helper.make_tensor_value_info("i", TensorProto.INT64, []),
         helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
         helper.make_tensor_value_info("acc_in", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
         helper.make_tensor_value_info("acc_out", TensorProto.FLOAT, [1])],
        [numpy_helper.from_array(np.ones(1, np.float32), "one")])
    endless = helper.make_graph(
        [helper.make_node("Loop", ["trips", "keep_going", "x"], ["y"], body=body)], "endless",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
        [numpy_helper.from_array(np.array(10**12, np.int64), "trips"),
         numpy_helper.from_array(np.array(True), "keep_going")])
    return {"mlp": save(mlp, out / "mlp.onnx"), "mixed": save(mixed, out / "mixed.onnx"),
            "custom": out / "custom.onnx", "endless": save(endless, out / "endless.onnx")}


def spec_for(path: Path, **overrides: Any) -> dict[str, Any]:
    """A RunSpec for a local file, fast enough for tests."""
    spec: dict[str, Any] = {
        "spec_version": 1,
        "model": {"path": str(path), "format": path.suffix[1:], "sha256": hashlib.sha256(path.read_bytes()).hexdigest()},
        "threads": 1,
        "latency": dict(FAST_LATENCY),
        "power": {"method": "none"},
    }
    spec.update(overrides)
    return spec


class AgentRun:
    """The events of one agent run, and its exit code."""

    def __init__(self, code: int, events: list[dict[str, Any]], stderr: str) -> None:
        self.code, self.events, self.stderr = code, events, stderr

    @property
    def final(self) -> dict[str, Any]:
        return self.events[-1]

    @property
    def result(self) -> dict[str, Any]:
        assert self.final["event"] == "result", self.final
        return self.final["result"]


def run_agent(spec: dict[str, Any], python: list[str] | None = None, env: dict[str, str] | None = None,
              timeout: float = 120) -> AgentRun:
    """Run the built zipapp the way the host does: spec on stdin, stdin held open until the final line."""
    bundle = build_agent()
    argv = (python or [sys.executable]) + [str(bundle.path)]
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env)
    assert proc.stdin and proc.stdout and proc.stderr
    proc.stdin.write(json.dumps(spec) + "\n")
    proc.stdin.flush()
    events = []
    for line in proc.stdout:
        events.append(json.loads(line))
        if events[-1]["event"] in ("result", "error"):
            break
    proc.stdin.close()
    code = proc.wait(timeout)
    return AgentRun(code, events, proc.stderr.read())


@pytest.fixture()
def agent() -> Callable[..., AgentRun]:
    return run_agent
