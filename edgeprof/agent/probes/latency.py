"""Latency: load, first inference, warm-up until stable, then steady state timed per call until precise enough."""

from __future__ import annotations

import time
from typing import Any, Callable

import numpy as np

from .. import stats

CHECK_EVERY = 50
PROGRESS_NS = 500_000_000  # a progress event at most every half second


def time_call(fn: Callable[[], Any]) -> float:
    """Milliseconds one call takes, by perf_counter_ns."""
    start = time.perf_counter_ns()
    fn()
    return (time.perf_counter_ns() - start) / 1e6


def warm_up(run_once: Callable[[], Any], budget: dict[str, Any],
            progress: Callable[[int, int | None], None]) -> dict[str, Any]:
    """Run until two successive windows agree (pyperf's test), at least warmup_min and at most warmup_max runs,
    and never longer than the steady-state time budget (max_seconds) for a slow model."""
    samples: list[float] = []
    start = time.perf_counter()
    stable = False
    while len(samples) < budget["warmup_max"] and time.perf_counter() - start < budget["max_seconds"]:
        samples.append(time_call(run_once))
        if len(samples) >= budget["warmup_min"] and stats.is_stable(samples):
            stable = True
            break
        if len(samples) % 10 == 0:
            progress(len(samples), budget["warmup_max"])
    return {"runs": len(samples), "stable": stable, "ms": (time.perf_counter() - start) * 1000}


def steady_state(run_once: Callable[[], Any], budget: dict[str, Any],
                 progress: Callable[[int, int | None], None]) -> tuple[np.ndarray, str]:
    """Per-call latencies (ms, in run order) and why sampling stopped: precision, max_runs or max_seconds.

    The time budget is checked after every call (a slow model never overruns it by more than one call); the
    precision test sorts the samples, so it runs every CHECK_EVERY calls at first and every 5% of the
    samples later (at most 5% extra samples, and the checks stay a small share of the run).
    """
    max_runs = budget["max_runs"]
    samples = np.empty(min(max_runs, 4096), dtype=np.float64)
    n = 0
    clock = time.perf_counter_ns
    start = clock()
    min_ns, max_ns = budget["min_seconds"] * 1e9, budget["max_seconds"] * 1e9
    target = budget["target_rel_halfwidth"]
    next_check, next_progress = max(CHECK_EVERY, budget["min_runs"]), start + PROGRESS_NS
    while True:
        t0 = clock()
        run_once()
        t1 = clock()
        if n == len(samples):
            samples = np.concatenate((samples, np.empty(min(n, max_runs - n), dtype=np.float64)))
        samples[n] = (t1 - t0) / 1e6
        n += 1
        if n >= max_runs:
            return samples[:n], "max_runs"
        if t1 - start >= max_ns:
            return samples[:n], "max_seconds"
        if t1 >= next_progress:
            progress(n, max_runs)
            next_progress = t1 + PROGRESS_NS
        if n >= next_check and t1 - start >= min_ns and target > 0:
            next_check = n + max(CHECK_EVERY, n // 20)
            if stats.relative_halfwidth(np.sort(samples[:n]), 0.95, budget["confidence"]) <= target:
                return samples[:n], "precision"


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
