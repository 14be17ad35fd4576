"""A factory of Result dicts following docs/result-schema.md."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

from edgeprof.result import build_result

MODEL = {"path": "models/digits/digits-fp32.onnx", "name": "digits", "variant": "fp32", "format": "onnx",
         "sha256": "ab" * 32, "size_bytes": 2_000_000}
MEASURED: dict[str, Any] = {  # the agent's sections
    "runtime": {"name": "onnxruntime", "version": "1.32.0"},
    "latency": {"method": "measured", "samples": 800, "p50_ms": 10.0, "p90_ms": 11.0, "p95_ms": 12.0,
                "p99_ms": 14.0, "mean_ms": 10.2, "throughput_ips": 100.0,
                "ci": {"confidence": 0.95, "p50": [9.9, 10.1], "p90": [10.9, 11.1], "p95": [11.8, 12.2],
                       "p99": [13.5, 14.5]}, "samples_ms": []},
    "memory": {"method": "measured", "peak_rss_mb": 100.0},
    "power": {"method": "sensor:pi5-pmic", "avg_w": 4.0, "energy_mj_per_inference": 40.0},
    "thermal": {"method": "sensor:thermal_zone", "max_c": 50.0},
    "accuracy": {"method": "measured", "samples": 360, "top1": 0.97,
                 "reference": {"agreement_top1": 0.99, "accuracy_drop": 0.01}},
    "warnings": [],
}


def make(**changes: Any) -> dict[str, Any]:
    """A Result: keyword 'section__key' sets a nested value (None removes the section), 'variant' etc. the model."""
    result = build_result(device_info={"name": "local", "emulated": None}, model=copy.deepcopy(MODEL),
                          agent=copy.deepcopy(MEASURED), error=None, timing={"stages": {}}, transfer={})
    result["created"] = "2026-11-29T03:15:00Z"
    for key, value in changes.items():
        if key in ("name", "variant"):
            result["model"][key] = value
            result["model"]["path"] = f"models/{result['model']['name']}/{result['model']['name']}-" \
                                      f"{result['model']['variant']}.onnx"
        elif "__" in key:
            section, field = key.split("__", 1)
            result[section][field] = value
        else:
            result[key] = value
    return result


def with_samples(result: dict[str, Any], median: float, seed: int, n: int = 400) -> dict[str, Any]:
    """Attach realistic right-skewed latency samples (lognormal around `median`)."""
    rng = np.random.default_rng(seed)
    result["latency"]["samples_ms"] = (median * rng.lognormal(0.0, 0.05, n)).round(4).tolist()
    return result


def judged(results: list[dict[str, Any]], constraints: Any) -> list[dict[str, Any]]:
    """The Results with their verdicts set by the real judge: `constraints` a list, or a function of the Result."""
    from edgeprof.verdicts import judge

    for result in results:
        result["verdicts"] = judge(result, constraints(result) if callable(constraints) else constraints)
    return results
