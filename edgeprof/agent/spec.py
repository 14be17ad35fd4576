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
    return spec
