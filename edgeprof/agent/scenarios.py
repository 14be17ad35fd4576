"""Load scenarios after the single-stream latency phase (MLPerf LoadGen's, with its statistics): offline
throughput over batch sizes x thread counts, and server load (Poisson arrivals at a target QPS, latency counted
from each query's scheduled arrival) with a bounded search for the highest QPS that meets a p99 bound."""

from __future__ import annotations

import dataclasses
import math
import time
from typing import Any, Callable

import numpy as np

from . import stats
from .backends.base import accel_settings
from .protocol import progress
from .spec import ModelFile, RunSpec, ScenarioSettings, Stage

SERVER_PERCENTILE = 0.99
EARLY_STOPPING_CONFIDENCE = 0.99  # one-sided, as MLPerf LoadGen's early stopping
OVERRUN_FACTOR = 2.0  # a server run that has not drained its schedule by 2x its duration is overloaded
OFFLINE_WARMUP_RUNS = 3

Measure = Callable[[float], "tuple[float, bool]"]


def poisson_schedule(qps: float, seconds: float, seed: int) -> np.ndarray:
    """Arrival times (s from the start) of a Poisson process at `qps` over `seconds`; the same seed, the same
    schedule."""
    if qps <= 0 or seconds <= 0:
        raise ValueError("qps and seconds must be above zero")
    rng = np.random.default_rng(seed)
    expected = qps * seconds
    gaps = rng.exponential(1.0 / qps, int(expected + 6 * math.sqrt(expected) + 16))
    arrivals = np.cumsum(gaps)
    return arrivals[arrivals < seconds]


def queue_latencies(arrivals_s: np.ndarray, service_s: np.ndarray) -> np.ndarray:
    """Latency (s) of each query served one at a time in arrival order: waiting in the queue plus service."""
    latencies = np.empty(len(arrivals_s))
    free_at = 0.0
    for i, (arrival, service) in enumerate(zip(arrivals_s, service_s)):
        free_at = max(free_at, arrival) + service
        latencies[i] = free_at - arrival
    return latencies


def min_queries(q: float = SERVER_PERCENTILE, confidence: float = EARLY_STOPPING_CONFIDENCE) -> int:
    """The fewest queries whose order statistics bound the q-quantile from above with `confidence`."""
    return math.ceil(math.log(1.0 - confidence) / math.log(q) - 1e-9)  # P(all n below the quantile) small


def early_stopping_p99(latencies_ms: np.ndarray) -> float | None:
    """An upper bound of the true p99 holding with 99% confidence (the order statistic MLPerf's early stopping
    reports), or None with too few queries."""
    two_sided = 2 * EARLY_STOPPING_CONFIDENCE - 1
    ranks = stats.quantile_ci_ranks(len(latencies_ms), SERVER_PERCENTILE, two_sided)
    if ranks is None:
        return None
    return float(np.sort(latencies_ms)[ranks[1] - 1])


def judge_server(latencies_ms: np.ndarray, duration_s: float, *, drained: bool, min_duration_s: float,
                 p99_bound_ms: float | None) -> dict[str, Any]:
    """p50/p99 and VALID/INVALID with the reasons: enough queries and duration for the p99, the schedule drained
    (not overloaded), and, with a bound, the early-stopping p99 within it."""
    reasons: list[str] = []
    needed = min_queries()
    if len(latencies_ms) < needed:
        reasons.append(f"{len(latencies_ms)} queries, fewer than the {needed} a p99 bound needs")
    if duration_s < min_duration_s:
        reasons.append(f"ran {duration_s:.2f} s, under the {min_duration_s:g} s minimum")
    if not drained:
        reasons.append("overloaded: the queue did not drain within "
                       f"{OVERRUN_FACTOR:g}x the scheduled duration")
    bound = early_stopping_p99(latencies_ms) if len(latencies_ms) else None
    if p99_bound_ms is not None and bound is not None and bound > p99_bound_ms:
        reasons.append(f"early-stopping p99 {bound:.3f} ms is above the {p99_bound_ms:g} ms bound")
    return {
        "queries": int(len(latencies_ms)),
        "duration_s": duration_s,
        "p50_ms": float(np.quantile(latencies_ms, 0.5)) if len(latencies_ms) else None,
        "p99_ms": float(np.quantile(latencies_ms, SERVER_PERCENTILE)) if len(latencies_ms) else None,
        "p99_early_stopping_ms": bound,
        "min_queries": needed,
        "valid": not reasons,
        "result": "VALID" if not reasons else "INVALID",
        "invalid_reasons": reasons,
    }


def _wait_until(t: float, clock: Callable[[], float]) -> None:
    """Sleep most of the gap, spin the last millisecond (sleep alone overshoots sub-millisecond gaps)."""
    remaining = t - clock()
    if remaining > 0.002:
        time.sleep(remaining - 0.001)
    while clock() < t:
        pass


def serve(run_once: Callable[[], Any], arrivals_s: np.ndarray) -> tuple[np.ndarray, float, bool, float]:
    """Issue the queries at their scheduled arrivals, one inference at a time (FIFO): latencies (ms) from each
    scheduled arrival, wall seconds, whether the schedule drained before OVERRUN_FACTOR x its span, and the p99
    of how late the harness issued a query the server was free for (ms).

    Latency is the FIFO queue of the measured service times (`queue_latencies`): waiting behind earlier queries
    counts, but a query the harness itself issued late (a sleep that overshot on a busy host) does not, so a
    low-QPS run, which sleeps between queries, is judged like a high-QPS one, which never sleeps."""
    clock = time.perf_counter
    service = np.empty(len(arrivals_s))
    lag: list[float] = []
    span = float(arrivals_s[-1]) if len(arrivals_s) else 0.0
    deadline = span * OVERRUN_FACTOR + 1.0
    start = clock()
    free_at = 0.0
    for i, arrival in enumerate(arrivals_s):
        if clock() - start > deadline:  # the rest never started: their latency is at least the wait so far
            now = clock() - start
            latencies = queue_latencies(arrivals_s[:i], service[:i])
            return np.concatenate((latencies, now - arrivals_s[i:])) * 1000.0, now, False, _p99(lag)
        _wait_until(start + arrival, clock)
        t0 = clock()
        run_once()
        t1 = clock()
        service[i] = t1 - t0
        if free_at <= arrival:
            lag.append(t0 - start - arrival)
        free_at = t1 - start
    return queue_latencies(arrivals_s, service) * 1000.0, clock() - start, True, _p99(lag)


def _p99(lag_s: list[float]) -> float:
    return float(np.quantile(lag_s, SERVER_PERCENTILE)) * 1000.0 if lag_s else 0.0


def server_run(run_once: Callable[[], Any], qps: float, settings: ScenarioSettings, seed: int) -> dict[str, Any]:
    """One server run at `qps`: schedule, serve, judge. Like LoadGen's minimum query count, the run lasts long
    enough to expect 1.2x the queries a p99 bound needs."""
    arrivals = poisson_schedule(qps, max(settings.seconds, 1.2 * min_queries() / qps), seed)
    latencies, wall, drained, lag_ms = serve(run_once, arrivals)
    section = judge_server(latencies, wall, drained=drained, min_duration_s=settings.min_duration_s,
                           p99_bound_ms=settings.p99_bound_ms)
    section["issue_lag_p99_ms"] = lag_ms
    section["target_qps"] = qps
    section["achieved_qps"] = len(latencies) / wall if wall > 0 else None
    return section


def find_max_qps(measure: Measure, p99_bound_ms: float, *, start_qps: float, max_steps: int = 12,
                 max_seconds: float = 120.0, rel_tolerance: float = 0.05,
                 clock: Callable[[], float] = time.monotonic) -> dict[str, Any]:
    """The highest QPS whose run is VALID with p99 <= the bound: grow x2 until a run fails, then bisect until the
    bracket is within `rel_tolerance`, within `max_steps` runs and `max_seconds`. `measure(qps) -> (p99, valid)`."""
    if start_qps <= 0 or p99_bound_ms <= 0:
        raise ValueError("start_qps and p99_bound_ms must be above zero")
    tried: list[dict[str, Any]] = []
    began = clock()

    def meets(qps: float) -> bool:
        p99, valid = measure(qps)
        ok = bool(valid) and p99 is not None and p99 <= p99_bound_ms
        tried.append({"qps": qps, "p99_ms": p99, "valid": bool(valid), "meets": ok})
        return ok

    def budget_left() -> bool:
        return len(tried) < max_steps and clock() - began < max_seconds

    low, high = 0.0, None
    qps = start_qps
    while budget_left() and high is None:
        if meets(qps):
            low, qps = qps, qps * 2
        else:
            high = qps
    while budget_left() and high is not None and (low == 0.0 or (high - low) / low > rel_tolerance):
        qps = (low + high) / 2 if low else high / 2
        if meets(qps):
            low = qps
        else:
            high = qps
    converged = high is not None and low > 0 and (high - low) / low <= rel_tolerance
    return {
        "p99_bound_ms": p99_bound_ms,
        "max_qps": low or None,
        "first_failing_qps": high,
        "converged": converged,
        "stop_reason": "converged" if converged else ("max_steps" if len(tried) >= max_steps else "max_seconds"),
        "tried": tried,
        "seconds": clock() - began,
    }


def offline(model: ModelFile, accel: dict[str, Any], base_feeds: dict[str, np.ndarray], settings: ScenarioSettings,
            note: Callable[[str], None]) -> dict[str, Any]:
    """Inferences/s and batch latency for each thread count x batch size (a new runtime per thread count)."""
    from .backends import open_runtime

    threads_list = list(settings.threads or [None])
    points: list[dict[str, Any]] = []
    batch_dim = "dynamic"
    batches = list(settings.batches)
    for threads in threads_list:
        runtime = open_runtime(model.path, model.format, threads, accel)
        fixed = [i.shape[0] for i in runtime.inputs if i.shape and isinstance(i.shape[0], int)]
        if fixed and batch_dim == "dynamic":
            batch_dim = "fixed"
            batches = [fixed[0]]
            note(f"offline: the model's batch dimension is fixed at {fixed[0]}; batch sizes {list(settings.batches)} "
                 "were not swept")
        for batch in batches:
            feeds = base_feeds if batch_dim == "fixed" else {
                k: np.resize(v, (batch, *v.shape[1:])) for k, v in base_feeds.items()}
            points.append(_offline_point(runtime, feeds, batch, threads, settings.seconds))
            progress(Stage.SCENARIO, len(points), len(threads_list) * len(batches))
    best = max(points, key=lambda p: p["inferences_per_s"])
    return {"batch_dim": batch_dim, "batches": batches, "threads": threads_list,
            "seconds_per_point": settings.seconds, "points": points,
            "best": {k: best[k] for k in ("threads", "batch", "inferences_per_s")},
            "offline_ips": best["inferences_per_s"]}


def _offline_point(runtime: Any, feeds: dict[str, np.ndarray], batch: int, threads: int | None,
                   seconds: float) -> dict[str, Any]:
    """Back-to-back batches for `seconds` (at least 3), after a short warm-up."""
    runtime.prepare(feeds)
    for _ in range(OFFLINE_WARMUP_RUNS):
        runtime.run(feeds)
    clock = time.perf_counter_ns
    times: list[int] = []
    start = clock()
    while len(times) < 3 or clock() - start < seconds * 1e9:
        t0 = clock()
        runtime.run(feeds)
        times.append(clock() - t0)
    wall = (clock() - start) / 1e9
    ms = np.array(times) / 1e6
    return {"threads": threads, "batch": batch, "runs": len(times), "inferences_per_s": batch * len(times) / wall,
            "batch_latency_ms": {"p50": float(np.quantile(ms, 0.5)), "p99": float(np.quantile(ms, 0.99)),
                                 "mean": float(ms.mean())}}


def run_scenario(spec: RunSpec, feeds: dict[str, np.ndarray], run_once: Callable[[], Any],
                 mean_ms: float, note: Callable[[str], None]) -> dict[str, Any]:
    """The `scenario` section of the Result for the spec's scenario (settings included)."""
    settings = spec.scenario
    section: dict[str, Any] = {"name": settings.name, "settings": dataclasses.asdict(settings),
                               "method": f"emulated:{spec.emulation}" if spec.emulation else "measured"}
    if settings.name == "offline":
        section.update(offline(spec.model, accel_settings(spec), feeds, settings, note))
    elif settings.name == "server":
        section.update(_server(run_once, mean_ms, settings, spec.seed))
    return section


def _server(run_once: Callable[[], Any], mean_ms: float, settings: ScenarioSettings,
            seed: int) -> dict[str, Any]:
    out: dict[str, Any] = {"serving": "one inference at a time, FIFO queue"}
    if settings.target_qps:
        out["run"] = server_run(run_once, float(settings.target_qps), settings, seed)
    if settings.find_max_qps:
        def measure(qps: float) -> tuple[float, bool]:
            seconds = settings.search_point_seconds
            probe = dataclasses.replace(settings, seconds=seconds, min_duration_s=min(settings.min_duration_s, seconds))
            run = server_run(run_once, qps, probe, seed)
            progress(Stage.SCENARIO, len(search_runs) + 1, None)
            search_runs.append(run)
            return run["p99_ms"], run["valid"]

        search_runs: list[dict[str, Any]] = []
        start = 0.5 * 1000.0 / mean_ms if mean_ms > 0 else 100.0  # half the single-stream capacity
        out["max_qps_search"] = find_max_qps(measure, settings.p99_bound_ms, start_qps=start,
                                             max_seconds=settings.search_seconds)
        out["max_qps"] = out["max_qps_search"]["max_qps"]
    return out
