"""Latency: load, first inference, warm-up until stable, then steady state timed per call until precise enough."""

from __future__ import annotations

import itertools
import math
import time
from typing import Any, Callable

import numpy as np

from .. import stats
from ..spec import LatencyBudget

CALIBRATION_NS = 2_000_000
COPY_RUNS = 51
FLOOR_SHARE = 0.25  # a microsecond model's samples reach min_seconds by this share of max_runs
PROGRESS_NS = 500_000_000  # a progress event at most every half second


def time_call(fn: Callable[[], Any]) -> float:
    """Milliseconds one call takes, by perf_counter_ns."""
    start = time.perf_counter_ns()
    fn()
    return (time.perf_counter_ns() - start) / 1e6


Advance = Callable[[], Callable[[], Any]]  # binds the next input feed outside the timed window, returns the call


def warm_up(run_once: Callable[[], Any], budget: LatencyBudget,
            progress: Callable[[int, int | None], None], advance: Advance | None = None) -> dict[str, Any]:
    """Run until two successive windows agree (pyperf's test), at least warmup_min and at most warmup_max runs,
    and never longer than the steady-state time budget (max_seconds) for a slow model; with `advance`, each run
    on the next feed. `pace_ms`: the median ms of the last window, the pace the steady state is planned at."""
    samples: list[float] = []
    start = time.perf_counter()
    stable = False
    while len(samples) < budget.warmup_max and time.perf_counter() - start < budget.max_seconds:
        samples.append(time_call(run_once))
        if advance is not None:
            run_once = advance()
        if len(samples) >= budget.warmup_min and stats.is_stable(samples):
            stable = True
            break
        if len(samples) % 10 == 0:
            progress(len(samples), budget.warmup_max)
    pace = float(np.median(samples[-stats.STABLE_WINDOW:])) if samples else None  # the last window's median
    return {"runs": len(samples), "stable": stable, "ms": (time.perf_counter() - start) * 1000, "pace_ms": pace}


def calls_per_sample(run_once: Callable[[], Any], budget: LatencyBudget) -> int:
    """pyperf's loops: how many back-to-back calls one sample times, so that a quarter of max_runs samples lasts
    min_seconds (a microsecond model then passes the time floor with room left to stop on precision before the
    sample cap); 1 for slower models."""
    floor_ns = budget.min_seconds * 1e9 / (budget.max_runs * FLOOR_SHARE)
    if floor_ns <= 0:
        return 1
    calls = 1  # a slow model's one call already lasts CALIBRATION_NS: no extra runs on a board
    while True:  # the sampler's own loop, doubled until it lasts CALIBRATION_NS
        start = time.perf_counter_ns()
        for _ in itertools.repeat(None, calls):
            run_once()
        elapsed = time.perf_counter_ns() - start
        if elapsed >= CALIBRATION_NS or calls >= budget.max_runs:
            return max(1, math.ceil(floor_ns / max(elapsed / calls, 1.0)))
        calls *= 2


def steady_state(run_once: Callable[[], Any], budget: LatencyBudget,
                 progress: Callable[[int, int | None], None], calls: int = 1,
                 advance: Advance | None = None, pace_ms: float | None = None) -> tuple[np.ndarray, str, int]:
    """Per-call latencies (ms, in run order; with `calls` > 1 each sample is the mean of that many back-to-back
    calls), why sampling stopped (precision, max_runs or max_seconds) and how many of them lead as the stopping
    rule's pilot (they plan the rest and enter no percentile or interval). With `advance`, each sample runs on
    the next feed, bound between samples (never inside the timed window).

    When to stop is `stats.StoppingRule`'s call, asked after every sample: the time budget then never overruns by
    more than one sample. `pace_ms`, the ms a sample was seen to take before sampling (the warm-up's), plans the
    samples max_seconds allows (the rule's `planned_runs`; without it, the first sample's pace does).
    """
    max_runs = budget.max_runs
    samples = np.empty(min(max_runs, 4096), dtype=np.float64)
    n = 0
    clock = time.perf_counter_ns
    loop = itertools.repeat
    start = clock()
    planned = int(budget.max_seconds * 1e3 / pace_ms) if pace_ms else None
    rule = stats.StoppingRule(budget.target_rel_halfwidth, budget.confidence, max_runs, budget.max_seconds,
                              min_runs=budget.min_runs, min_seconds=budget.min_seconds, planned_runs=planned)
    next_progress = start + PROGRESS_NS
    while True:
        if calls == 1:
            t0 = clock()
            run_once()
            t1 = clock()
        else:
            t0 = clock()
            for _ in loop(None, calls):
                run_once()
            t1 = clock()
        if n == len(samples):
            samples = np.concatenate((samples, np.empty(min(n, max_runs - n), dtype=np.float64)))
        samples[n] = (t1 - t0) / 1e6 / calls
        n += 1
        if advance is not None:
            run_once = advance()
        reason = rule.should_stop(samples[:n], (t1 - start) / 1e9)
        if reason is not None:
            return samples[:n], reason, rule.pilot or 0
        if t1 >= next_progress:
            progress(n, max_runs)
            next_progress = t1 + PROGRESS_NS


def copy_ms(copies: Callable[[], Any] | None, runs: int = COPY_RUNS) -> float | None:
    """Median ms of the input/output copies the timed call leaves out (None when it leaves none out)."""
    if copies is None:
        return None
    return float(np.median([time_call(copies) for _ in range(runs)]))


def latency_section(samples_ms: np.ndarray, reason: str, budget: LatencyBudget, *, load_ms: float,
                    first_ms: float, warmup: dict[str, Any], method: str, calls_per_sample: int = 1,
                    copy_ms: float | None = None, pilot: int = 0) -> dict[str, Any]:
    """The `latency` section of the Result: per-call figures and their intervals from the samples after the
    stopping rule's `pilot`; the drift check and the samples kept (for the histogram) over all of them."""
    section: dict[str, Any] = {
        "method": method,
        "load_ms": load_ms,
        "first_ms": first_ms,
        "warmup": warmup,
        "samples": int(len(samples_ms)),
        "pilot_samples": pilot,
        "calls_per_sample": calls_per_sample,
        "stop_reason": reason,
        "target_rel_halfwidth": budget.target_rel_halfwidth,
        "max_runs": budget.max_runs,
        "copy_ms": copy_ms,
    }
    section.update(stats.summarise(samples_ms[pilot:], budget.confidence))
    p95_ci = section["ci"].get("p95")
    section["p95_rel_halfwidth"] = (
        (p95_ci[1] - p95_ci[0]) / 2 / section["p95_ms"] if p95_ci and section["p95_ms"] > 0 else None
    )
    section["drift"] = stats.drift(samples_ms)
    section.update(stats.raw_samples(samples_ms, budget.keep_samples))
    return section
