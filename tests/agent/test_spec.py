"""RunSpec checks: defaults filled in, malformed budgets refused with one line naming the key."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest

from edgeprof.agent.spec import (
    Accelerator,
    AgentFailure,
    InputSettings,
    LatencyBudget,
    LockSettings,
    ModelFile,
    RunSpec,
    RuntimeSettings,
    ScenarioSettings,
    SentFile,
    parse_spec,
)

MINIMAL = {"spec_version": 1, "model": {"path": "/m.onnx", "format": "onnx"}}


def parse(**changes: Any) -> RunSpec:
    return parse_spec(json.dumps({**MINIMAL, **changes}))


def test_defaults_fill_a_minimal_spec() -> None:
    spec = parse(latency={"max_runs": 100})
    assert spec.latency == replace(LatencyBudget(), max_runs=100)
    assert (spec.threads, spec.seed, spec.input_shapes, spec.op_profile) == (None, 0, {}, False)
    assert spec.inputs == InputSettings(timing="random", ranges={})


def test_the_host_spec_comes_back_as_the_same_typed_spec() -> None:
    """What the host writes (RunSpec.to_json) the agent reads back field for field: lists become the declared
    tuples, accelerators their dataclass."""
    sent = RunSpec(model=ModelFile("/m.onnx", "onnx", "ab"), threads=2, seed=7, dataset=SentFile("/d.npz"),
                   inputs=InputSettings(ranges={"ids": [0, 9]}, undeclared_shapes=("x",)),
                   scenario=ScenarioSettings(name="offline", batches=(1, 4), threads=(1, 2)),
                   runtime=RuntimeSettings(providers=(Accelerator("cuda", {"device_id": "0"}), Accelerator("cpu"))),
                   lock=LockSettings("/w/device.lock", 60.0))
    assert parse_spec(sent.to_json()) == sent
    compared = RunSpec(model=ModelFile("/m.onnx", "onnx"), dataset=SentFile("/d.npz", "cd"),
                       reference_outputs=SentFile("/o.npz", "ef"))
    assert parse_spec(compared.to_json()) == compared


@pytest.mark.parametrize(("changes", "text"), [
    ({"latency": {"max_runs": "lots"}}, "latency.max_runs must be a non-negative integer"),
    ({"latency": {"min_runs": 10, "max_runs": 5}}, "latency.min_runs (10) is above latency.max_runs (5)"),
    ({"latency": {"max_seconds": 0}}, "latency.max_runs and latency.max_seconds must be above zero"),
    ({"latency": {"min_seconds": 30}}, "latency.min_seconds (30) is above latency.max_seconds"),
    ({"latency": {"confidence": 95}}, "latency.confidence must be between 0 and 1"),
    ({"latency": {"target_rel_halfwidth": -0.1}}, "latency.target_rel_halfwidth must be a non-negative number"),
    ({"input_shapes": {"x": [1, 0]}}, "input_shapes.x must be a list of positive integers"),
    ({"input_shapes": [[1, 2]]}, "input_shapes must be an object"),
    ({"inputs": {"timing": "images"}}, "inputs.timing must be 'random' or 'dataset'"),
    ({"inputs": {"timing": "dataset"}}, "inputs.timing 'dataset' needs a dataset"),
    ({"inputs": {"ranges": {"ids": [9, 0]}}}, "inputs.ranges.ids must be [lo, hi] integers with lo <= hi"),
    ({"inputs": {"ranges": {"ids": [0.5, 3]}}}, "inputs.ranges.ids must be [lo, hi] integers"),
    ({"inputs": {"ranges": [[0, 3]]}}, "inputs.ranges must be an object"),
    ({"inputs": {"undeclared_shapes": "x"}}, "inputs.undeclared_shapes must be a list of input names"),
    ({"seed": "zero"}, "seed must be an integer"),
    ({"threads": 0}, "threads must be a positive integer"),
    ({"model": {"path": "/m.pt", "format": "torch"}}, "format of 'onnx', 'tflite', 'gguf' or 'genai'"),
    ({"latency": {"max_run": 100}}, "unknown RunSpec key latency.max_run"),
    ({"treads": 2}, "unknown RunSpec key treads"),
    ({"power": "estimate"}, "power must be an object"),
    ({"dataset": {"sha256": "ab"}}, "dataset must be an object with a path"),
    ({"reference_model": {"path": "/r.onnx"}}, "reference_model needs a path and a format"),
    ({"reference_outputs": {"path": "/o.npz"}}, "reference_outputs needs a dataset"),
    ({"reference_outputs": {"path": "/o.npz"}, "dataset": {"path": "/d.npz"},
      "reference_model": {"path": "/r.onnx", "format": "onnx"}}, "give one reference at most"),
    ({"reference_outputs": {"path": "/o.npz", "format": "npz"}}, "unknown RunSpec key reference_outputs.format"),
    ({"model": {"path": "/m.onnx", "format": "onnx", "size": 3}}, "unknown RunSpec key model.size"),
    ({"lock": {"path": "/l", "wait_s": "long"}}, "lock.wait_s must be a number"),
    ({"model": {"path": "/f", "format": "genai", "external_data": [{"path": "/b/1.data", "name": "../x"}]}},
     "model.external_data: each file of a genai model folder needs a plain file name"),
    ({"model": {"path": "/f", "format": "genai", "external_data": [{"path": "/b/1.data"}]}},
     "each file of a genai model folder needs a plain file name"),
    ({"model": {"path": "/f", "format": "genai", "external_data": [{"path": "/b/1.data", "name": "x"},
                                                                    {"path": "/b/2.data", "name": "x"}]}},
     "model.external_data names a file twice"),
])
def test_malformed_specs_are_spec_errors(changes: dict[str, Any], text: str) -> None:
    with pytest.raises(AgentFailure) as failure:
        parse(**changes)
    assert failure.value.kind == "spec" and text in failure.value.message
