"""The per-operator profile comes from its own session: profiling never inflates the timed latency."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from tests.agent.conftest import spec_for
from tests.agent.tflite_models import add_relu

PRECISE = {"min_runs": 300, "max_runs": 3000, "min_seconds": 0.3, "max_seconds": 1.0, "warmup_min": 20,
           "warmup_max": 100, "target_rel_halfwidth": 0.0}


def test_profiling_does_not_touch_the_timed_runs(agent: Callable[..., Any], models: dict[str, Path]) -> None:
    plain = agent(spec_for(models["mlp"], latency=PRECISE)).result
    profiled = agent(spec_for(models["mlp"], latency=PRECISE, op_profile=True)).result
    # ORT's profiler makes each call of a small model several times slower; a separate session keeps it out
    assert profiled["latency"]["p50_ms"] < 2.0 * plain["latency"]["p50_ms"], (profiled["latency"]["p50_ms"],
                                                                             plain["latency"]["p50_ms"])
    profile = profiled["op_profile"]
    assert profile["runs"] >= 3 and "separate profiled session" in profile["note"]
    assert [row["node"] for row in profile["by_node"]] and plain["op_profile"] is None


def test_tflite_has_no_profile_and_says_so(agent: Callable[..., Any], tmp_path: Path) -> None:
    run = agent(spec_for(add_relu(tmp_path / "m.tflite"), op_profile=True))
    assert run.result["op_profile"] is None
    assert any("no per-operator profile for tflite" in w for w in run.result["warnings"])

