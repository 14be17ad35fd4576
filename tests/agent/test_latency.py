"""The steady-state sampler's budgets: time checked after every call, runs capped, samples kept in order."""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np

from edgeprof.agent.probes.latency import latency_section, steady_state, warm_up
from edgeprof.agent.spec import LatencyBudget

BUDGET = LatencyBudget(min_runs=50, max_runs=5000, min_seconds=0.0, max_seconds=5.0, target_rel_halfwidth=0.0,
                       confidence=0.95, keep_samples=5000)


def test_a_slow_model_never_overruns_the_time_budget_by_more_than_a_call() -> None:
    start = time.perf_counter()
    samples, reason, _ = steady_state(lambda: time.sleep(0.02), replace(BUDGET, max_seconds=0.1), lambda d, t: None)
    elapsed = time.perf_counter() - start
    assert reason == "max_seconds" and np.all(samples >= 19.0)
    assert samples[:-1].sum() < 100 and elapsed < 0.1 + 2 * samples[-1] / 1e3  # the last call started in budget


def test_max_runs_is_exact_beyond_the_first_buffer() -> None:
    samples, reason, _ = steady_state(lambda: None, replace(BUDGET, max_runs=9000), lambda d, t: None)
    assert (reason, len(samples)) == ("max_runs", 9000)
    assert np.all(samples > 0)


def test_progress_is_reported_while_sampling() -> None:
    seen: list[tuple[int, int | None]] = []
    steady_state(lambda: time.sleep(0.001), replace(BUDGET, max_seconds=1.2), lambda d, t: seen.append((d, t)))
    assert len(seen) >= 2 and all(t == BUDGET.max_runs for _, t in seen)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)


def test_kept_samples_are_the_first_ones_in_run_order() -> None:
    samples = np.arange(1.0, 101.0)
    section = latency_section(samples, "max_runs", replace(BUDGET, keep_samples=10), load_ms=1.0, first_ms=2.0,
                              warmup={"runs": 0, "stable": False, "ms": 0.0}, method="measured")
    assert section["samples_ms"] == [float(i) for i in range(1, 11)] and section["samples_truncated"]
    assert section["samples"] == 100 and section["max_ms"] == 100.0


def test_warm_up_of_a_slow_model_is_capped_by_the_time_budget() -> None:
    budget = replace(BUDGET, max_seconds=0.1, warmup_min=5, warmup_max=200)
    warmup = warm_up(lambda: time.sleep(0.02), budget, lambda d, t: None)
    assert warmup["runs"] <= 6 and not warmup["stable"] and warmup["ms"] < 200


def test_warm_up_stops_once_stable() -> None:
    warmup = warm_up(lambda: time.sleep(0.001), replace(BUDGET, warmup_min=5, warmup_max=200), lambda d, t: None)
    assert warmup["stable"] and 20 <= warmup["runs"] < 200 and warmup["pace_ms"] >= 1.0


def test_the_warm_up_pace_plans_where_the_time_budget_stops() -> None:
    """A 20 ms model paced (pessimistically) at 40 ms with a 0.3 s budget: the rule plans 7 samples and stops
    there, before max_seconds, in one stage: no pilot, every sample measured."""
    start = time.perf_counter()
    samples, reason, pilot = steady_state(lambda: time.sleep(0.02), replace(BUDGET, max_seconds=0.3,
                                                                        target_rel_halfwidth=0.02),
                                          lambda d, t: None, pace_ms=40.0)
    assert (reason, len(samples), pilot) == ("max_seconds", 7, 0)
    assert time.perf_counter() - start < 0.3 or samples.sum() < 300


def test_a_section_of_unresolvable_calls_is_still_valid_json() -> None:
    import json

    samples = np.concatenate((np.zeros(50), np.full(50, 0.001)))  # calls faster than the clock's resolution
    section = latency_section(samples, "max_runs", BUDGET, load_ms=1.0, first_ms=1.0,
                              warmup={"runs": 0, "stable": False, "ms": 0.0}, method="measured")
    assert section["drift"]["ratio"] is None and not section["drift"]["flag"]
    json.dumps(section, allow_nan=False)


def test_a_microsecond_call_is_timed_in_loops_so_the_cap_never_cuts_the_floor_short() -> None:
    from edgeprof.agent.probes.latency import calls_per_sample

    budget = replace(BUDGET, min_seconds=0.2, max_runs=500, max_seconds=60.0)
    calls = calls_per_sample(lambda: None, budget)
    assert calls > 1
    samples, reason, _ = steady_state(lambda: None, budget, lambda d, t: None, calls)
    assert reason == "max_runs" and len(samples) == 500 and np.all(samples > 0)
    assert calls_per_sample(lambda: time.sleep(0.005), budget) == 1  # longer than a sample must last


def test_precision_stops_at_the_count_the_pilot_plans() -> None:
    """A target so loose that every sample is near p95: the pilot ends at its fourth sample, and the measured
    stage is the fewest samples with a p95 interval."""
    from edgeprof.agent import stats

    samples, reason, pilot = steady_state(lambda: None, replace(BUDGET, target_rel_halfwidth=10.0), lambda d, t: None)
    assert (reason, pilot) == ("precision", stats.PILOT_NEAR + 1)
    assert len(samples) - pilot == max(stats.fewest_samples(0.95, BUDGET.confidence), BUDGET.min_runs - pilot)


def test_without_a_target_every_sample_is_measured() -> None:
    _, reason, pilot = steady_state(lambda: None, replace(BUDGET, target_rel_halfwidth=0.0, max_runs=300),
                                    lambda d, t: None)
    assert (reason, pilot) == ("max_runs", 0)


def test_the_section_leaves_the_pilot_out_of_its_figures_and_keeps_it_in_the_histogram() -> None:
    samples = np.concatenate((np.full(100, 9.0), np.linspace(1.0, 2.0, 500)))  # a pilot of 100 slow samples
    section = latency_section(samples, "precision", BUDGET, load_ms=1.0, first_ms=1.0,
                              warmup={"runs": 0, "stable": True, "ms": 0.0}, method="measured",
                              calls_per_sample=4, copy_ms=0.01, pilot=100)
    assert (section["calls_per_sample"], section["copy_ms"], section["max_runs"]) == (4, 0.01, 5000)
    assert (section["samples"], section["pilot_samples"], section["max_ms"]) == (600, 100, 2.0)
    assert section["ci"]["confidence"] == 0.95 and section["ci"]["p95"][1] <= 2.0
    assert len(section["samples_ms"]) == 600 and section["drift"]["ratio"] < 0.5  # all samples, in run order


def test_tflite_times_invoke_alone_with_the_copies_apart() -> None:
    from pathlib import Path

    from edgeprof.agent.backends import open_runtime
    from edgeprof.agent.inputs import make_feeds

    model = Path(__file__).resolve().parents[2] / "models" / "digits" / "digits-fp32.tflite"
    runtime = open_runtime(str(model), "tflite", 1)
    feeds, _ = make_feeds(runtime.inputs, {}, 0, lambda m: None)
    timed = runtime.timed(feeds)
    assert timed == runtime._interp.invoke
    timed()
    expected = runtime.run(feeds)
    assert [np.array_equal(a, b) for a, b in zip(runtime.copies(feeds)(), expected)] == [True] * len(expected)


def test_with_advance_each_sample_runs_the_next_call_bound_outside_the_timed_window() -> None:
    ran: list[int] = []
    bound = iter(range(1, 10**6))

    def advance():  # type: ignore[no-untyped-def]
        time.sleep(0.02)  # a slow bind (TFLite's copy in): never inside a sample
        index = next(bound)
        return lambda: ran.append(index)

    samples, reason, _pilot = steady_state(lambda: ran.append(0), replace(BUDGET, max_runs=15), lambda d, t: None,
                                           advance=advance)
    assert reason == "max_runs" and ran == list(range(15)) and max(samples) < 10
    ran.clear()
    warmup = warm_up(lambda: ran.append(0), replace(BUDGET, warmup_min=4, warmup_max=4), lambda d, t: None, advance)
    assert warmup["runs"] == 4 and ran == [0, 16, 17, 18]
