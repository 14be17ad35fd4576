"""Latency statistics: distribution-free CIs cover the truth as often as they claim; the stopping rule."""

from __future__ import annotations

import math
import time
from dataclasses import replace
from typing import Callable

import numpy as np
import pytest

from edgeprof.agent import stats
from edgeprof.agent.probes.latency import FLOOR_SHARE, calls_per_sample, steady_state
from edgeprof.agent.spec import LatencyBudget

BUDGET = LatencyBudget(min_runs=50, max_runs=20000, min_seconds=0.0, max_seconds=5.0, target_rel_halfwidth=0.02,
                       confidence=0.95)


def test_binomial_cdf_matches_exact_small_case() -> None:
    cdf = stats.binomial_cdf(4, 0.5)
    assert np.allclose(cdf, np.cumsum([1, 4, 6, 4, 1]) / 16)


@pytest.mark.parametrize("q", [0.5, 0.95, 0.99])
def test_quantile_ci_covers_the_true_quantile_at_the_stated_rate(q: float) -> None:
    rng = np.random.default_rng(1)
    true = math.exp(0.5 * {0.5: 0.0, 0.95: 1.6448536, 0.99: 2.3263479}[q])  # lognormal(0, 0.5) quantile
    n, reps, hits, defined = 400, 600, 0, 0
    for _ in range(reps):
        ci = stats.quantile_ci(np.sort(rng.lognormal(0.0, 0.5, n)), q, 0.95)
        if ci is not None:
            defined += 1
            hits += ci[0] <= true <= ci[1]
    assert defined == reps
    coverage = hits / reps
    assert 0.93 <= coverage <= 0.995, coverage  # >= 95% by construction (discrete ranks), never far above


def test_ci_undefined_with_too_few_samples() -> None:
    assert stats.quantile_ci(np.sort(np.arange(10.0)), 0.99, 0.95) is None
    assert stats.quantile_ci(np.sort(np.arange(100.0)), 0.5, 0.95) is not None


def test_summary_matches_numpy() -> None:
    samples = np.random.default_rng(2).gamma(2.0, 1.0, 1000)
    summary = stats.summarise(samples, 0.95)
    for label, q in stats.PERCENTILES.items():
        assert summary[f"{label}_ms"] == pytest.approx(np.quantile(samples, q))
    assert summary["mean_ms"] == pytest.approx(samples.mean())
    assert summary["throughput_ips"] == pytest.approx(1000 / samples.mean())
    lo, hi = summary["ci"]["p95"]
    assert lo < summary["p95_ms"] < hi


def test_drift_flags_a_slowdown() -> None:
    steady = np.full(200, 1.0)
    assert not stats.drift(steady)["flag"]
    slowing = np.linspace(1.0, 1.5, 200)
    assert stats.drift(slowing)["flag"] and stats.drift(slowing)["ratio"] > 1.3


def test_warmup_stability_test() -> None:
    assert not stats.is_stable([5.0] * 10 + [1.0] * 10)
    assert stats.is_stable([1.0] * 20)


class SimulatedClock:
    """perf_counter_ns for steady_state: time moves only when the measured call says how long it took, so the
    stopping rule is tested on exact latencies, not on this machine's sleep jitter."""

    def __init__(self) -> None:
        self.ns = 0

    def __call__(self) -> int:
        return self.ns

    def call_taking(self, seconds: Callable[[], float]) -> Callable[[], None]:
        def run_once() -> None:
            self.ns += int(seconds() * 1e9)
        return run_once


def test_precise_samples_stop_on_precision_noisy_ones_on_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = SimulatedClock()
    monkeypatch.setattr(time, "perf_counter_ns", clock)
    rng = np.random.default_rng(3)
    steady = clock.call_taking(lambda: 0.0002 * float(rng.lognormal(0.0, 0.05)))
    samples, reason, pilot = steady_state(steady, replace(BUDGET, max_seconds=10.0, target_rel_halfwidth=0.05),
                                          lambda d, t: None)
    assert reason == "precision" and 0 < pilot < len(samples) < BUDGET.max_runs

    noisy = clock.call_taking(lambda: float(rng.choice([0.0001, 0.002])) * float(rng.lognormal(0.0, 0.05)))
    samples, reason, pilot = steady_state(noisy, replace(BUDGET, max_seconds=0.3, target_rel_halfwidth=0.0001),
                                          lambda d, t: None)
    assert reason == "max_seconds" and pilot == 0 and 0.3 <= samples.sum() / 1e3 < 0.31  # to the clock, all measured


def test_a_microsecond_model_passes_the_time_floor_early_and_stops_on_precision(monkeypatch: pytest.MonkeyPatch) -> None:
    """On a simulated clock, a 10 us call with a quiet host's spread: the loops of calls make min_seconds pass at a
    quarter of max_runs, and the rule, planning min_seconds at its pilot's pace, stops there on precision."""
    clock = SimulatedClock()
    monkeypatch.setattr(time, "perf_counter_ns", clock)
    rng = np.random.default_rng(4)
    call = clock.call_taking(lambda: 10e-6 * float(rng.lognormal(0.0, 0.1)))
    budget = replace(BUDGET, min_seconds=0.5, max_seconds=20.0, target_rel_halfwidth=0.02)
    calls = calls_per_sample(call, budget)
    samples, reason, pilot = steady_state(call, budget, lambda d, t: None, calls)
    floor_at = int(np.searchsorted(np.cumsum(samples) * calls / 1e3, budget.min_seconds)) + 1
    assert floor_at <= FLOOR_SHARE * budget.max_runs * 1.1
    assert reason == "precision" and abs(len(samples) - floor_at) <= 0.01 * floor_at
    assert np.sum(samples[:pilot]) * calls / 1e3 >= stats.PILOT_SHARE * budget.min_seconds  # a stretch of time


def test_the_fewest_samples_with_an_interval() -> None:
    assert stats.fewest_samples(0.95, 0.95) == 72 and stats.fewest_samples(0.5, 0.95) == 6
    assert stats.quantile_ci_ranks(72, 0.95, 0.95) is not None and stats.quantile_ci_ranks(71, 0.95, 0.95) is None


def stop_where_the_rule_does(x: np.ndarray, rule: stats.StoppingRule) -> tuple[int, int, str]:
    """Drive a rule with one synthetic sample at a time (no clock) until it stops: its measured samples' first
    index (after the pilot) and end, and why."""
    for n in range(1, len(x) + 1):
        reason = rule.should_stop(x[:n], 0.0)
        if reason is not None:
            return rule.pilot or 0, n, reason
    raise AssertionError("the rule never stopped")


@pytest.mark.parametrize("target, median_samples", [(0.04, 441), (0.02, 1252)])
def test_the_measured_interval_covers_the_true_p95_at_the_nominal_rate(target: float, median_samples: int) -> None:
    """The rule as the agent applies it, on seeded lognormal samples: the samples after the pilot, their count
    planned from the pilot alone, cover at the nominal level, their half-width is the target in the median, and
    where the rule stops is the same every run."""
    rng = np.random.default_rng(5)
    true = math.exp(0.15 * 1.6448536)
    hits, stops, widths, reasons, reps = 0, [], [], [], 600
    for _ in range(reps):
        x = rng.lognormal(0.0, 0.15, 5000)
        start, stop, reason = stop_where_the_rule_does(x, stats.StoppingRule(target, 0.95, 5000))
        assert 0 < start < stop
        reasons.append(reason)
        measured = np.sort(x[start:stop])
        lo, hi = stats.quantile_ci(measured, 0.95, 0.95)
        hits += lo <= true <= hi
        stops.append(stop)
        widths.append(stats.relative_halfwidth(measured, 0.95, 0.95))
    assert hits / reps >= 0.93, hits / reps  # >= 0.95 exactly; binomial slack of 600 draws
    assert 0.8 * target <= np.median(widths) <= target
    assert np.median(stops) == median_samples
    assert set(reasons) <= {"precision", "max_runs"} and reasons.count("precision") >= 0.9 * reps  # max_runs: the
    # pilot saw too few samples near p95 and planned past the cap


def two_spikes(rng: np.random.Generator, n: int) -> np.ndarray:
    """Latencies built to fool a rule that stops on a narrow interval: two narrow spikes either side of the true
    p95 (quantile levels: the bulk below 0.80, a spike at 1.0 up to 0.95, one at 1.1 above)."""
    u = rng.random(n)
    return np.where(u < 0.80, u, np.where(u < 0.95, 1.0 + 1e-9 * u, 1.1 + 1e-9 * u))


TWO_SPIKES_P95 = 1.0 + 1e-9 * 0.95  # the top of the lower spike
NARROW_CHECKS = (72, 90, 113, 142, 178, 223, 279, 349, 437, 547, 684, 855, 1000)  # x1.25 apart


def test_a_distribution_built_to_fool_the_rule_still_gets_its_coverage() -> None:
    """The worst case for stopping on a narrow interval: two narrow spikes either side of the true p95, so an
    interval is narrow exactly when it lies inside one spike, missing the p95. Stopping at the first of x1.25-spaced
    counts whose nominal interval is narrow covers far less than 0.95; the rule's measured samples, fresh and their
    count fixed by the pilot, cover at the nominal level."""
    rng, reps, hits, hits_narrow = np.random.default_rng(11), 2000, 0, 0
    for _ in range(reps):
        x = two_spikes(rng, 1000)
        start, stop, _ = stop_where_the_rule_does(x, stats.StoppingRule(0.02, 0.95, 1000))
        lo, hi = stats.quantile_ci(np.sort(x[start:stop]), 0.95, 0.95)
        hits += lo <= TWO_SPIKES_P95 <= hi
        n = next(n for n in NARROW_CHECKS if stats.relative_halfwidth(np.sort(x[:n]), 0.95, 0.95) <= 0.02
                 or n == NARROW_CHECKS[-1])
        lo, hi = stats.quantile_ci(np.sort(x[:n]), 0.95, 0.95)
        hits_narrow += lo <= TWO_SPIKES_P95 <= hi
    assert hits / reps >= 0.94, hits / reps  # >= 0.95 exactly; binomial slack of 2000 draws
    assert hits_narrow / reps < 0.85, hits_narrow / reps


def test_a_short_planned_budget_is_sampled_in_one_stage() -> None:
    """A slow device, 0.11 s a sample, its warm-up pace planning the 181 samples max_seconds allows (fewer than
    four times the 72 with an interval): no pilot, the rule stops at the planned count, every sample measured at
    the nominal level, and covers on the two-spike distribution."""
    rng, reps, hits = np.random.default_rng(12), 600, 0
    for _ in range(reps):
        x = two_spikes(rng, 5000)
        rule = stats.StoppingRule(0.02, 0.95, 5000, max_seconds=19.9, planned_runs=181)
        n, reason = next((n, r) for n in range(1, 5001) if (r := rule.should_stop(x[:n], n * 0.11)))
        assert (n, reason, rule.pilot) == (181, "max_seconds", 0)
        lo, hi = stats.quantile_ci(np.sort(x[:n]), 0.95, 0.95)
        hits += lo <= TWO_SPIKES_P95 <= hi
    assert hits / reps >= 0.93, hits / reps  # >= 0.95 exactly; binomial slack of 600 draws


def test_a_device_slower_than_the_pilot_is_stopped_by_the_clock() -> None:
    """The pilot's pace plans the measured stage within max_seconds; when the samples after it come twice as slow,
    the clock stops the run first, the pilot still leading it."""
    x = np.random.default_rng(13).lognormal(0.0, 0.15, 1000)
    rule = stats.StoppingRule(0.02, 0.95, 5000, max_seconds=30.0, planned_runs=1000)
    elapsed = np.cumsum(np.where(np.arange(1000) < rule.planned * stats.PILOT_SHARE, 0.1, 0.2))
    n, reason = next((n, r) for n in range(1, 1001) if (r := rule.should_stop(x[:n], float(elapsed[n - 1]))))
    assert reason == "max_seconds" and 0 < (rule.pilot or 0) < n < (rule.stop_at or 0)
    assert elapsed[n - 2] < 30.0 <= elapsed[n - 1]


@pytest.mark.parametrize("case", ["the slow calls above p95", "two spikes either side of p95"])
def test_a_count_set_by_the_clock_still_covers(case: str) -> None:
    """Where the exact argument stops: a count the clock sets depends on the latencies. The clock sums them, so a
    stop after the sample that passes max_seconds follows the count below p95 only weakly; here are the cases
    where it follows it most closely (the calls below p95 taking no time, so the clock counts those above; or two
    spikes either side of p95), and the interval at that count still covers at the nominal level."""
    rng, reps, hits = np.random.default_rng(14), 2000, 0
    for _ in range(reps):
        if case == "the slow calls above p95":
            x, truth, budget = np.where(rng.random(4000) < 0.95, 1e-6 * rng.random(4000), 1.0), 1e-6, 100.0
        else:
            x, truth, budget = two_spikes(rng, 4000), TWO_SPIKES_P95, 300.0
        n = int(np.searchsorted(np.cumsum(x), budget)) + 1  # the clock passes max_seconds at the nth sample
        lo, hi = stats.quantile_ci(np.sort(x[:n]), 0.95, 0.95)
        hits += lo <= truth <= hi
    rule = stats.StoppingRule(0.0, 0.95, 4000, max_seconds=budget)
    assert next(m for m in range(1, 4001) if rule.should_stop(x[:m], float(np.sum(x[:m])))) == n
    assert hits / reps >= 0.94, hits / reps


def test_a_sample_may_cost_seconds_and_be_any_quantile() -> None:
    """A generative model's time to first token: one sample a whole prompt (~1.5 s), its median judged, no
    warm-up pace. A target too tight for the budget: the pilot takes its quarter of what the pace allows, the
    rest is planned to the time budget; a loose one stops on precision."""
    rng = np.random.default_rng(6)
    ttft = 1.5 * rng.lognormal(0.0, 0.3, 200)
    elapsed = np.cumsum(ttft)
    rule = stats.StoppingRule(0.001, 0.95, 200, max_seconds=60.0, quantile=0.5)
    n, reason = next((n, r) for n in range(1, 201) if (r := rule.should_stop(ttft[:n], float(elapsed[n - 1]))))
    assert reason == "max_seconds" and n == rule.stop_at and elapsed[n - 1] < 60.0
    assert rule.pilot is not None and 0.2 * n <= rule.pilot <= 0.3 * n and n - rule.pilot >= rule.fewest

    loose = stats.StoppingRule(0.5, 0.95, 200, max_seconds=60.0, quantile=0.5)
    n, reason = next((n, r) for n in range(1, 201) if (r := loose.should_stop(ttft[:n], float(elapsed[n - 1]))))
    assert reason == "precision" and n - (loose.pilot or 0) >= loose.fewest


def test_min_seconds_is_planned_at_the_pilots_pace() -> None:
    """A millisecond a sample and min_seconds 1: a tight latency needs 72 measured samples, the time floor 1,000
    in all, which the rule plans from its pilot's pace; the pilot lasts a quarter of min_seconds, though 4 of its
    samples already lie near p95."""
    x = np.random.default_rng(9).lognormal(0.0, 0.02, 5000)
    rule = stats.StoppingRule(0.02, 0.95, 5000, min_seconds=1.0)
    n, reason = next((n, r) for n in range(1, 5001) if (r := rule.should_stop(x[:n], n / 1000)))
    assert (n, reason, rule.pilot) == (1000, "precision", 250)


def test_a_pilot_held_on_by_min_seconds_counts_its_near_samples_at_a_fixed_n() -> None:
    """The pilot reaches 3 samples near p95 long before a quarter of min_seconds has passed: the count where it
    ends is then a fixed sample count's, its share near / (n - 1), not inverse sampling's (near - 1) / (n - 1)."""
    x = np.random.default_rng(17).lognormal(0.0, 0.15, 5000)
    rule = stats.StoppingRule(0.02, 0.95, 5000, min_seconds=0.8)
    n = next(n for n in range(1, 5001) if rule.should_stop(x[:n], n / 1000))
    near = stats.near_count(np.sort(x[:200]), 0.95, 0.02)
    need = stats.samples_for_share(near / 199, 0.95, 0.95, math.ceil((5000 - 200) / stats.PLAN_FACTOR))
    assert rule.pilot == 200 and need is not None and n == 200 + math.ceil(stats.PLAN_FACTOR * need) > 800
    assert stats.StoppingRule(0.0, 0.95, 300).pilot == 0  # no target: one stage


def test_the_pilot_estimates_the_share_near_the_quantile_and_plans_its_span() -> None:
    """`near_count` over many samples gives the lognormal's probability within 2% of its p95; `samples_for_share`
    the count whose p95 interval spans that share, near the oracle n of bench_stopping (1,063 for this latency)."""
    x = np.sort(np.random.default_rng(10).lognormal(0.0, 0.15, 200_000))
    p95 = math.exp(0.15 * 1.6448536)
    cdf = lambda v: 0.5 * math.erfc(-math.log(v) / 0.15 / math.sqrt(2))  # noqa: E731
    share = cdf(p95 * 1.02) - cdf(p95 * 0.98)
    assert stats.near_count(x, 0.95, 0.02) / (len(x) - 1) == pytest.approx(share, rel=0.03)
    assert stats.near_count(np.array([1.0, 1.5, 2.0, 3.0]), 0.95, 0.02) == 0  # none near the p95 sample
    n = stats.samples_for_share(share, 0.95, 0.95, 5000)
    assert n is not None and 950 <= n <= 1100
    ranks = stats.quantile_ci_ranks(n, 0.95, 0.95)
    assert ranks is not None and (ranks[1] - ranks[0]) / (n + 1) <= share
    assert stats.samples_for_share(share, 0.95, 0.95, 500) is None


def test_a_pilot_that_finds_the_target_out_of_reach_ends_early() -> None:
    """A latency whose p95 has fewer than 3 samples within 2% of it among hundreds: even the share 6.3 near
    samples would stand for plans more than max_runs has left, so the pilot ends there, not at a quarter of the
    budget, and the rest is measured."""
    x = np.random.default_rng(16).lognormal(0.0, 3.0, 5000)  # ~0.001 of it within 2% of its p95
    start, stop, reason = stop_where_the_rule_does(x, stats.StoppingRule(0.02, 0.95, 5000))
    assert (stop, reason) == (5000, "max_runs")
    assert 450 < start < 550  # 6.3 / (n - 1) falls below the span of a p95 interval of the 4,500-odd samples left


def test_ranks_match_their_binomial_definition() -> None:
    for n, q, confidence in ((100, 0.95, 0.95), (1000, 0.5, 0.99), (20, 0.999, 0.95), (5000, 0.99, 0.992)):
        cdf = stats.binomial_cdf(n, q)
        ranks = stats.quantile_ci_ranks(n, q, confidence)
        tail = (1 - confidence) / 2
        if ranks is None:
            assert cdf[0] > tail or cdf[-2] < 1 - tail
            continue
        lower, upper = ranks
        assert cdf[lower - 1] <= tail < cdf[lower] and cdf[upper - 2] < 1 - tail <= cdf[upper - 1]




def test_a_clock_that_ends_the_pilot_leaves_its_samples_measured() -> None:
    """max_seconds passing at the sample that ends the pilot (a stall): no sample after it, so the pilot's are
    measured."""
    x = np.full(200, 1.0)  # all near p95: the pilot ends at its fourth sample
    rule = stats.StoppingRule(0.02, 0.95, 5000, max_seconds=4.0, planned_runs=1000)
    elapsed = [0.001, 0.002, 0.003, 5.0]
    assert [rule.should_stop(x[:n], elapsed[n - 1]) for n in range(1, 5)] == [None, None, None, "max_seconds"]
    assert rule.pilot == 0
