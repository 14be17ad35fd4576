"""The RunSpec the host sends (docs/agent-protocol.md), checked and filled with defaults."""

from __future__ import annotations

import json
from typing import Any

from .protocol import AgentFailure

SPEC_VERSION = 1
LATENCY_DEFAULTS = {
    "min_runs": 50, "max_runs": 5000, "min_seconds": 1.0, "max_seconds": 20.0, "target_rel_halfwidth": 0.02,
    "confidence": 0.95, "warmup_min": 5, "warmup_max": 200, "keep_samples": 5000,
}
POWER_DEFAULTS = {
    "method": "none", "idle_w": None, "max_w": None, "seconds": 3.0, "idle_seconds": 1.0, "sample_hz": 20,
    "command": None, "sysfs_root": "/", "vcgencmd": "vcgencmd", "pi5_correction": False,
}
THERMAL_DEFAULTS = {"sysfs_root": "/", "vcgencmd": "vcgencmd", "cooldown_to_c": None, "cooldown_max_s": 120}
TIMEOUT_DEFAULTS = {"load_s": 300.0, "stage_s": 600.0}
SCENARIO_DEFAULTS = {
    "name": "single-stream", "batches": [1], "threads": None, "seconds": 2.0, "target_qps": None,
    "find_max_qps": False, "p99_bound_ms": None, "min_duration_s": 1.0, "search_point_seconds": 2.0,
    "search_seconds": 60.0,
}


def parse_spec(line: str) -> dict[str, Any]:
    """Parse one JSON line into a complete RunSpec; AgentFailure(kind='spec') when it is malformed."""
    try:
        spec = json.loads(line)
    except json.JSONDecodeError as exc:
        raise AgentFailure("spec", f"the RunSpec is not JSON: {exc}") from exc
    if not isinstance(spec, dict):
        raise AgentFailure("spec", "the RunSpec must be a JSON object")
    if spec.get("spec_version") != SPEC_VERSION:
        raise AgentFailure("spec", f"unsupported spec_version {spec.get('spec_version')!r} (agent speaks 1)")
    for key in ("model",):
        if not isinstance(spec.get(key), dict):
            raise AgentFailure("spec", f"the RunSpec needs a '{key}' object")
    model = spec["model"]
    if model.get("format") not in ("onnx", "tflite") or not model.get("path"):
        raise AgentFailure("spec", "model needs a path and a format of 'onnx' or 'tflite'")
    spec["latency"] = {**LATENCY_DEFAULTS, **(spec.get("latency") or {})}
    spec["power"] = {**POWER_DEFAULTS, **(spec.get("power") or {})}
    spec["thermal"] = {**THERMAL_DEFAULTS, **(spec.get("thermal") or {})}
    spec["timeouts"] = {**TIMEOUT_DEFAULTS, **(spec.get("timeouts") or {})}
    spec["scenario"] = {**SCENARIO_DEFAULTS, **(spec.get("scenario") or {})}
    spec.setdefault("threads", None)
    spec.setdefault("input_shapes", {})
    spec.setdefault("seed", 0)
    spec.setdefault("dataset", None)
    spec.setdefault("reference_model", None)
    spec.setdefault("emulation", None)
    spec.setdefault("op_profile", False)
    spec.setdefault("lock", None)
    threads = spec["threads"]
    if threads is not None and (not isinstance(threads, int) or threads < 1):
        raise AgentFailure("spec", f"threads must be a positive integer, got {threads!r}")
    _check_latency(spec["latency"])
    _check_input_shapes(spec["input_shapes"])
    _check_scenario(spec["scenario"])
    if not isinstance(spec["seed"], int) or isinstance(spec["seed"], bool):
        raise AgentFailure("spec", f"seed must be an integer, got {spec['seed']!r}")
    return spec


def _number(value: Any, integer: bool = False) -> bool:
    kinds = (int,) if integer else (int, float)
    return isinstance(value, kinds) and not isinstance(value, bool)


def _check_latency(latency: dict[str, Any]) -> None:
    """Budgets the sampler can honour: positive counts and times, min <= max, a confidence in (0, 1)."""
    for key in ("min_runs", "max_runs", "warmup_min", "warmup_max", "keep_samples"):
        if not _number(latency[key], integer=True) or latency[key] < 0:
            raise AgentFailure("spec", f"latency.{key} must be a non-negative integer, got {latency[key]!r}")
    for key in ("min_seconds", "max_seconds", "target_rel_halfwidth"):
        if not _number(latency[key]) or latency[key] < 0:
            raise AgentFailure("spec", f"latency.{key} must be a non-negative number, got {latency[key]!r}")
    if latency["max_runs"] < 1 or latency["max_seconds"] <= 0:
        raise AgentFailure("spec", "latency.max_runs and latency.max_seconds must be above zero")
    for low, high in (("min_runs", "max_runs"), ("min_seconds", "max_seconds"), ("warmup_min", "warmup_max")):
        if latency[low] > latency[high]:
            raise AgentFailure("spec", f"latency.{low} ({latency[low]}) is above latency.{high} ({latency[high]})")
    if not _number(latency["confidence"]) or not 0 < latency["confidence"] < 1:
        raise AgentFailure("spec", f"latency.confidence must be between 0 and 1, got {latency['confidence']!r}")


def _check_input_shapes(shapes: Any) -> None:
    """input_shapes maps input names to lists of positive dims."""
    if not isinstance(shapes, dict):
        raise AgentFailure("spec", f"input_shapes must be an object of name -> dims, got {shapes!r}")
    for name, dims in shapes.items():
        if not isinstance(dims, list) or not all(_number(d, integer=True) and d > 0 for d in dims):
            raise AgentFailure("spec", f"input_shapes.{name} must be a list of positive integers, got {dims!r}")


def _check_scenario(scenario: dict[str, Any]) -> None:
    """A known scenario with the settings it needs: positive batches/threads/times, a QPS or a bounded search."""
    name = scenario["name"]
    if name not in ("single-stream", "offline", "server"):
        raise AgentFailure("spec", f"scenario.name must be single-stream, offline or server, got {name!r}")
    for key in ("batches", "threads"):
        values = scenario[key]
        if values is not None and (not isinstance(values, list) or not values
                                   or not all(_number(v, integer=True) and v > 0 for v in values)):
            raise AgentFailure("spec", f"scenario.{key} must be a list of positive integers, got {values!r}")
    for key in ("seconds", "min_duration_s", "search_point_seconds", "search_seconds"):
        if not _number(scenario[key]) or scenario[key] <= 0:
            raise AgentFailure("spec", f"scenario.{key} must be a positive number, got {scenario[key]!r}")
    for key in ("target_qps", "p99_bound_ms"):
        if scenario[key] is not None and (not _number(scenario[key]) or scenario[key] <= 0):
            raise AgentFailure("spec", f"scenario.{key} must be a positive number, got {scenario[key]!r}")
    if name == "server" and not scenario["target_qps"] and not scenario["find_max_qps"]:
        raise AgentFailure("spec", "the server scenario needs scenario.target_qps or scenario.find_max_qps")
    if scenario["find_max_qps"] and scenario["p99_bound_ms"] is None:
        raise AgentFailure("spec", "scenario.find_max_qps needs scenario.p99_bound_ms")
