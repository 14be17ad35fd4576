"""Latency: load, first inference, warm-up until stable, then steady state timed per call until precise enough."""

from __future__ import annotations

import time
from typing import Any, Callable

import numpy as np

from .. import stats

CHECK_EVERY = 50


def time_call(fn: Callable[[], Any]) -> float:
    """Milliseconds one call takes, by perf_counter_ns."""
    start = time.perf_counter_ns()
    fn()
    return (time.perf_counter_ns() - start) / 1e6


def warm_up(run_once: Callable[[], Any], budget: dict[str, Any],
            progress: Callable[[int, int | None], None]) -> dict[str, Any]:
    """Run until two successive windows agree (pyperf's test), at least warmup_min and at most warmup_max runs."""
    samples: list[float] = []
    start = time.perf_counter()
    stable = False
    while len(samples) < budget["warmup_max"]:
        samples.append(time_call(run_once))
        if len(samples) >= budget["warmup_min"] and stats.is_stable(samples):
            stable = True
            break
        if len(samples) % 10 == 0:
            progress(len(samples), budget["warmup_max"])
    return {"runs": len(samples), "stable": stable, "ms": (time.perf_counter() - start) * 1000}


def steady_state(run_once: Callable[[], Any], budget: dict[str, Any],
                 progress: Callable[[int, int | None], None]) -> tuple[np.ndarray, str]:
    """Per-call latencies (ms, in run order) and why sampling stopped: precision, max_runs or max_seconds."""
    samples = np.empty(budget["max_runs"], dtype=np.float64)
    n = 0
    clock = time.perf_counter_ns
    start = time.perf_counter()
    target = budget["target_rel_halfwidth"]
    reason = "max_runs"
    while n < budget["max_runs"]:
        t0 = clock()
        run_once()
        samples[n] = (clock() - t0) / 1e6
        n += 1
        if n % CHECK_EVERY:
            continue
        elapsed = time.perf_counter() - start
        progress(n, budget["max_runs"])
        if elapsed >= budget["max_seconds"]:
            reason = "max_seconds"
            break
        if n >= budget["min_runs"] and elapsed >= budget["min_seconds"] and target > 0:
            if stats.relative_halfwidth(np.sort(samples[:n]), 0.95, budget["confidence"]) <= target:
                reason = "precision"
                break
    return samples[:n], reason


def latency_section(samples_ms: np.ndarray, reason: str, budget: dict[str, Any], *, load_ms: float,
                    first_ms: float, warmup: dict[str, Any], method: str) -> dict[str, Any]:
    """The `latency` section of the Result."""
    keep = budget["keep_samples"]
    section: dict[str, Any] = {
        "method": method,
        "load_ms": load_ms,
        "first_ms": first_ms,
        "warmup": warmup,
        "samples": int(len(samples_ms)),
        "stop_reason": reason,
        "target_rel_halfwidth": budget["target_rel_halfwidth"],
    }
    section.update(stats.summarise(samples_ms, budget["confidence"]))
    p95_ci = section["ci"].get("p95")
    section["p95_rel_halfwidth"] = (
        (p95_ci[1] - p95_ci[0]) / 2 / section["p95_ms"] if p95_ci and section["p95_ms"] > 0 else None
    )
    section["drift"] = stats.drift(samples_ms)
    section["samples_ms"] = [round(float(x), 6) for x in samples_ms[:keep]]
    section["samples_truncated"] = len(samples_ms) > keep
    return section
