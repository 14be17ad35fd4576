"""RunSpec checks: defaults filled in, malformed budgets refused with one line naming the key."""

from __future__ import annotations

import json
from typing import Any

import pytest

from edgeprof.agent.spec import AgentFailure, InputSettings, LatencyBudget, defaults, parse_spec

MINIMAL = {"spec_version": 1, "model": {"path": "/m.onnx", "format": "onnx"}}


def parse(**changes: Any) -> dict[str, Any]:
    return parse_spec(json.dumps({**MINIMAL, **changes}))


def test_defaults_fill_a_minimal_spec() -> None:
    spec = parse(latency={"max_runs": 100})
    assert spec["latency"] == {**defaults(LatencyBudget), "max_runs": 100}
    assert (spec["threads"], spec["seed"], spec["input_shapes"], spec["op_profile"]) == (None, 0, {}, False)
    assert spec["inputs"] == defaults(InputSettings) == {"timing": "random", "ranges": {}}


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
    ({"seed": "zero"}, "seed must be an integer"),
    ({"threads": 0}, "threads must be a positive integer"),
    ({"model": {"path": "/m.pt", "format": "torch"}}, "format of 'onnx', 'tflite' or 'gguf'"),
])
def test_malformed_specs_are_spec_errors(changes: dict[str, Any], text: str) -> None:
    with pytest.raises(AgentFailure) as failure:
        parse(**changes)
    assert failure.value.kind == "spec" and text in failure.value.message
