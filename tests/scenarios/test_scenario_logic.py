"""Scenario logic without a runtime: the Poisson schedule, the FIFO queue, VALID/INVALID, the max-QPS search."""

from __future__ import annotations

import json

import numpy as np
import pytest

from edgeprof.agent import scenarios as sc
from edgeprof.agent.spec import AgentFailure, parse_spec

SERVICE_S = 0.001  # a synthetic server: 1 ms per query, capacity 1000 QPS


def synthetic_measure(bound_ms: float, calls: list[float]):
    """measure(qps) of an M/D/1 queue: Poisson arrivals (seed 0) served FIFO in SERVICE_S each."""

    def measure(qps: float) -> tuple[float, bool]:
        calls.append(qps)
        arrivals = sc.poisson_schedule(qps, max(3.0, 1.2 * sc.min_queries() / qps), seed=0)
        latencies = sc.queue_latencies(arrivals, np.full(len(arrivals), SERVICE_S)) * 1000
        judged = sc.judge_server(latencies, float(arrivals[-1]), drained=True, min_duration_s=1.0,
                                 p99_bound_ms=bound_ms)
        return judged["p99_ms"], judged["valid"]

    return measure


def test_poisson_schedule_reproducible_by_seed_and_at_the_rate() -> None:
    first, again, other = (sc.poisson_schedule(500, 20, seed) for seed in (7, 7, 8))
    assert np.array_equal(first, again)
    assert not np.array_equal(first[:100], other[:100])
    assert np.all(np.diff(first) > 0) and first[-1] < 20
    assert abs(len(first) - 10_000) < 5 * np.sqrt(10_000)  # Poisson count: mean 10000, sd 100
    gaps = np.diff(first)
    assert abs(gaps.std() / gaps.mean() - 1) < 0.05  # exponential gaps: coefficient of variation 1


def test_queue_latency_counts_waiting() -> None:
    arrivals = np.array([0.0, 0.1, 0.15, 1.0])
    latencies = sc.queue_latencies(arrivals, np.full(4, 0.2))
    assert latencies == pytest.approx([0.2, 0.3, 0.45, 0.2])


def test_early_stopping_needs_enough_queries() -> None:
    n = sc.min_queries()
    assert n == 459  # 0.99**459 < 0.01 < 0.99**458
    assert sc.early_stopping_p99(np.arange(n - 1, dtype=float)) is None
    bound = sc.early_stopping_p99(np.arange(n, dtype=float))
    assert bound is not None and bound >= np.quantile(np.arange(n), 0.99)


def test_valid_run() -> None:
    latencies = np.random.default_rng(0).exponential(1.0, 5000)
    judged = sc.judge_server(latencies, 5.0, drained=True, min_duration_s=1.0, p99_bound_ms=10.0)
    assert judged["result"] == "VALID" and judged["invalid_reasons"] == []
    assert judged["p99_ms"] <= judged["p99_early_stopping_ms"] <= 10.0
    assert judged["p50_ms"] == pytest.approx(np.log(2), rel=0.1)


@pytest.mark.parametrize("queries,duration,drained,bound,reason", [
    (100, 5.0, True, None, "fewer than the 459"),
    (5000, 0.5, True, None, "under the 1 s minimum"),
    (5000, 5.0, False, None, "overloaded"),
    (5000, 5.0, True, 3.0, "above the 3 ms bound"),
])
def test_invalid_runs_say_why(queries: int, duration: float, drained: bool, bound: float | None,
                              reason: str) -> None:
    latencies = np.random.default_rng(1).exponential(1.0, queries)
    judged = sc.judge_server(latencies, duration, drained=drained, min_duration_s=1.0, p99_bound_ms=bound)
    assert judged["result"] == "INVALID" and not judged["valid"]
    assert len(judged["invalid_reasons"]) == 1 and reason in judged["invalid_reasons"][0]


@pytest.mark.parametrize("start_qps", [50.0, 5000.0])
def test_max_qps_search_converges_on_a_synthetic_queue(start_qps: float) -> None:
    calls: list[float] = []
    measure = synthetic_measure(10.0, calls)
    found = sc.find_max_qps(measure, 10.0, start_qps=start_qps, rel_tolerance=0.05)
    assert found["converged"] and found["stop_reason"] == "converged"
    best, failing = found["max_qps"], found["first_failing_qps"]
    assert best < failing <= best * 1.05
    p99, valid = measure(best)
    assert valid and p99 <= 10.0
    p99, valid = measure(failing)
    assert not (valid and p99 <= 10.0)
    # M/D/1 with a 1 ms service: a 10 ms p99 holds up to roughly 80% load
    assert 650 < best < 900
    assert [t["qps"] for t in found["tried"]] == calls[:len(found["tried"])]


def test_max_qps_search_is_bounded_in_steps_and_time() -> None:
    calls: list[float] = []
    found = sc.find_max_qps(synthetic_measure(10.0, calls), 10.0, start_qps=1.0, max_steps=4)
    assert len(found["tried"]) == 4 and found["stop_reason"] == "max_steps" and not found["converged"]
    ticks = iter(range(0, 1000, 10))  # every clock read is 10 s later
    found = sc.find_max_qps(synthetic_measure(10.0, []), 10.0, start_qps=100.0, max_seconds=25.0,
                            clock=lambda: float(next(ticks)))
    assert found["stop_reason"] == "max_seconds" and len(found["tried"]) <= 3


def test_max_qps_when_nothing_meets_the_bound() -> None:
    found = sc.find_max_qps(synthetic_measure(0.5, []), 0.5, start_qps=100.0, max_steps=6)
    assert found["max_qps"] is None and not found["converged"]


MINIMAL = {"spec_version": 1, "model": {"path": "m.onnx", "format": "onnx"}}


def test_spec_scenario_defaults_to_single_stream() -> None:
    assert parse_spec(json.dumps(MINIMAL)).scenario.name == "single-stream"


@pytest.mark.parametrize("scenario,needle", [
    ({"name": "batch"}, "scenario.name"),
    ({"name": "offline", "batches": [0]}, "scenario.batches"),
    ({"name": "offline", "threads": []}, "scenario.threads"),
    ({"name": "server"}, "target_qps or scenario.find_max_qps"),
    ({"name": "server", "find_max_qps": True}, "needs scenario.p99_bound_ms"),
    ({"name": "server", "target_qps": -5}, "scenario.target_qps"),
    ({"name": "offline", "seconds": 0}, "scenario.seconds"),
])
def test_spec_rejects_bad_scenarios(scenario: dict, needle: str) -> None:
    with pytest.raises(AgentFailure, match=needle):
        parse_spec(json.dumps({**MINIMAL, "scenario": scenario}))


def test_a_late_issued_query_is_not_counted_as_queueing() -> None:
    """serve() judges the FIFO queue of measured service times: the harness's own lateness (a sleep that
    overshoots) never adds to a query the server was free for."""
    import time

    arrivals = np.array([0.0, 0.05, 0.10])
    latencies, wall, drained, lag_ms = sc.serve(lambda: time.sleep(0.001), arrivals)
    assert drained and wall >= 0.10 and lag_ms >= 0.0
    assert np.all(latencies < 40.0)  # service ~1 ms each, never waiting behind a 50 ms gap


def test_an_invalid_server_run_is_a_failing_verdict() -> None:
    from edgeprof.verdicts import exit_code, judge

    result = {"status": "ok", "scenario": {"name": "server", "method": "measured", "run": {
        "valid": False, "result": "INVALID", "target_qps": 2000.0, "invalid_reasons": ["overloaded"]}}}
    rows = judge(result, [])
    assert [(r["constraint"], r["status"]) for r in rows] == [("server.valid", "fail")]
    assert "overloaded" in rows[0]["detail"] and exit_code([{**result, "verdicts": rows}]) == 1
    assert judge({"status": "ok", "scenario": {"name": "single-stream"}}, []) == []
