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
    samples, reason, _ = steady_state(steady, replace(BUDGET, max_seconds=10.0, target_rel_halfwidth=0.05),
                                      lambda d, t: None)
    assert reason == "precision" and len(samples) < BUDGET.max_runs

    noisy = clock.call_taking(lambda: float(rng.choice([0.0001, 0.002])) * float(rng.lognormal(0.0, 0.05)))
    samples, reason, _ = steady_state(noisy, replace(BUDGET, max_seconds=0.3, target_rel_halfwidth=0.0001),
                                      lambda d, t: None)
    assert reason == "max_seconds" and 0.3 <= samples.sum() / 1e3 < 0.31


def test_a_microsecond_model_passes_the_time_floor_early_and_stops_on_precision(monkeypatch: pytest.MonkeyPatch) -> None:
    """On a simulated clock, a 10 us call with a quiet host's spread: the loops of calls make min_seconds pass at a
    quarter of max_runs, so the rule stops on precision at a look, not on the cap."""
    clock = SimulatedClock()
    monkeypatch.setattr(time, "perf_counter_ns", clock)
    rng = np.random.default_rng(4)
    call = clock.call_taking(lambda: 10e-6 * float(rng.lognormal(0.0, 0.1)))
    budget = replace(BUDGET, min_seconds=0.5, max_seconds=20.0, target_rel_halfwidth=0.02)
    calls = calls_per_sample(call, budget)
    samples, reason, _ = steady_state(call, budget, lambda d, t: None, calls)
    floor_at = int(np.searchsorted(np.cumsum(samples) * calls / 1e3, budget.min_seconds)) + 1
    assert floor_at <= FLOOR_SHARE * budget.max_runs * 1.1
    assert reason == "precision" and len(samples) < budget.max_runs
    assert len(samples) == min(n for n in stats.look_points(BUDGET.min_runs, budget.max_runs) if n >= floor_at)


def test_looks_are_geometric_and_end_on_the_cap() -> None:
    points = stats.look_points(50, 5000)
    assert points[0] == stats.first_look(0.95, 0.95) == 72 and points[-1] == 5000
    assert stats.quantile_ci_ranks(72, 0.95, 0.95) is not None and stats.quantile_ci_ranks(71, 0.95, 0.95) is None
    assert stats.look_points(0, 100, 0.5)[0] == stats.first_look(0.5, 0.95) == 6
    assert all(b > a for a, b in zip(points, points[1:])) and len(points) < 25
    assert stats.look_points(10, 20) == [20]


def stop_where_the_rule_does(x: np.ndarray, rule: stats.StoppingRule) -> tuple[int, str]:
    """Drive a rule with one synthetic sample at a time (no clock: every look taken) until it stops."""
    for n in range(1, len(x) + 1):
        reason = rule.should_stop(x[:n], 0.0)
        if reason is not None:
            return n, reason
    raise AssertionError("the rule never stopped")


@pytest.mark.parametrize("target, median_samples", [(0.04, 547), (0.02, 2090)])
def test_the_stopped_interval_covers_the_true_p95_at_the_nominal_rate(target: float, median_samples: int) -> None:
    """The rule as the agent applies it, on seeded lognormal samples: stopping on a narrow interval stays honest,
    and where it stops is the same look every run."""
    rng = np.random.default_rng(5)
    true = math.exp(0.15 * 1.6448536)
    hits, stops, reps = 0, [], 300
    for _ in range(reps):
        x = rng.lognormal(0.0, 0.15, 5000)
        rule = stats.StoppingRule(target, 0.95, 5000)
        n, reason = stop_where_the_rule_does(x, rule)
        assert reason == "precision" and n in rule.looks
        lo, hi = stats.quantile_ci(np.sort(x[:n]), 0.95, rule.interval_confidence)
        hits += lo <= true <= hi
        stops.append(n)
    assert hits / reps >= 0.95, hits / reps  # simultaneous coverage is >= 0.95 whatever the stop
    assert np.median(stops) == median_samples


def two_spikes(rng: np.random.Generator, n: int) -> np.ndarray:
    """Latencies built to fool a rule that stops on a narrow interval: two narrow spikes either side of the true
    p95 (quantile levels: the bulk below 0.80, a spike at 1.0 up to 0.95, one at 1.1 above)."""
    u = rng.random(n)
    return np.where(u < 0.80, u, np.where(u < 0.95, 1.0 + 1e-9 * u, 1.1 + 1e-9 * u))


TWO_SPIKES_P95 = 1.0 + 1e-9 * 0.95  # the top of the lower spike


def test_a_distribution_built_to_fool_the_rule_still_gets_its_coverage() -> None:
    """The worst case for stopping on a narrow interval: two narrow spikes either side of the true p95, so an
    interval is narrow exactly when it lies inside one spike, missing the p95; the rule then stops at the first
    look that misses. Its per-look level still covers >= 0.95; checking each look at the nominal level does not."""
    rng, reps, hits, hits_nominal = np.random.default_rng(11), 600, 0, 0
    for _ in range(reps):
        x = two_spikes(rng, 1000)
        rule = stats.StoppingRule(0.02, 0.95, 1000)
        n, _ = stop_where_the_rule_does(x, rule)
        lo, hi = stats.quantile_ci(np.sort(x[:n]), 0.95, rule.interval_confidence)
        hits += lo <= TWO_SPIKES_P95 <= hi
        n = next(n for n in rule.looks if stats.relative_halfwidth(np.sort(x[:n]), 0.95, 0.95) <= 0.02
                 or n == rule.looks[-1])
        lo, hi = stats.quantile_ci(np.sort(x[:n]), 0.95, 0.95)
        hits_nominal += lo <= TWO_SPIKES_P95 <= hi
    assert hits / reps >= 0.93, hits / reps  # 0.952 exactly (the per-look level's); binomial slack of 600 draws
    assert hits_nominal / reps < 0.85, hits_nominal / reps


def test_a_planned_time_stop_draws_its_last_interval_near_the_nominal_level() -> None:
    """A slow device, 0.11 s a sample, its warm-up pace planning the 181 samples max_seconds allows: the looks end
    there (none to 5,000 counted), the last interval is at final_confidence, and it still covers >= 0.95 on the
    two-spike distribution, where the rule stops at the first look that misses."""
    rng, reps, hits = np.random.default_rng(12), 600, 0
    for _ in range(reps):
        x = two_spikes(rng, 5000)
        rule = stats.StoppingRule(0.02, 0.95, 5000, max_seconds=19.9, planned_runs=181)
        n, reason = next((n, r) for n in range(1, 5001) if (r := rule.should_stop(x[:n], n * 0.11)))
        lo, hi = stats.quantile_ci(np.sort(x[:n]), 0.95, rule.interval_confidence)
        hits += lo <= TWO_SPIKES_P95 <= hi
        if reason == "max_seconds":
            assert n == 181 and rule.taken == rule.looks == [72, 90, 113, 142, 178, 181]
            assert rule.interval_confidence == stats.final_confidence(tuple(rule.taken), rule.level, 181, 0.95, 0.95)
            assert rule.interval_confidence <= rule.level < 0.97  # against 0.9924 for the looks to 5,000
    assert hits / reps >= 0.93, hits / reps  # >= 0.95 exactly; binomial slack of 600 draws
    assert stats.joint_coverage((113, 142, 178, 181), (1 - rule.level,) * 3 + (1 - rule.interval_confidence,),
                                0.95) >= 0.95


def test_a_time_stop_before_the_plan_keeps_the_per_look_level() -> None:
    """Sampling slower than planned: max_seconds comes first, at a count the latencies set, not one fixed
    beforehand, so its intervals stay at the per-look level."""
    x = np.random.default_rng(13).lognormal(0.0, 0.15, 400)
    rule = stats.StoppingRule(0.02, 0.95, 5000, max_seconds=30.0, planned_runs=300)
    n, reason = next((n, r) for n in range(1, 401) if (r := rule.should_stop(x[:n], n * 0.15)))
    assert (n, reason) == (200, "max_seconds") and rule.interval_confidence == rule.level


def test_a_sample_may_cost_seconds_and_be_any_quantile() -> None:
    """A generative model's time to first token: one sample a whole prompt (~1.5 s), its median judged; the time
    budget stops it after the sample that passes max_seconds, a loose target at a look."""
    rng = np.random.default_rng(6)
    ttft = 1.5 * rng.lognormal(0.0, 0.3, 200)
    elapsed = np.cumsum(ttft)
    rule = stats.StoppingRule(0.001, 0.95, 200, max_seconds=60.0, quantile=0.5)
    stopped = next((n, r) for n in range(1, 201) if (r := rule.should_stop(ttft[:n], float(elapsed[n - 1]))))
    assert stopped == (int(np.searchsorted(elapsed, 60.0)) + 1, "max_seconds")
    assert rule.interval_confidence > 0.95 and rule.looks[0] == 6

    loose = stats.StoppingRule(0.2, 0.95, 200, max_seconds=60.0, quantile=0.5)
    n = next(n for n in range(1, 201) if loose.should_stop(ttft[:n], float(elapsed[n - 1])))
    assert n in loose.looks and loose.should_stop(ttft[:n], float(elapsed[n - 1])) == "precision"


def test_looks_before_min_seconds_are_not_taken_and_cost_nothing() -> None:
    x = np.random.default_rng(9).lognormal(0.0, 0.15, 5000)
    early, late = stats.StoppingRule(0.02, 0.95, 5000), stats.StoppingRule(0.02, 0.95, 5000, min_seconds=1.0)
    for n in range(1, 1101):
        early.should_stop(x[:n], 0.0)
        late.should_stop(x[:n], n / 1000)  # a millisecond per sample: min_seconds passes at the 1,000th
    assert early.level is not None and late.level is not None and 0.95 < late.level < early.level
    assert late.level == stats.look_confidence(tuple(n for n in late.looks if n >= 1000), 0.95, 0.95)
    assert stats.StoppingRule(0.0, 0.95, 300).interval_confidence == 0.95  # no precision look: nominal


def test_the_per_look_level_makes_every_look_cover_together() -> None:
    """Simulated: the intervals at all the looks hold at once with >= the nominal rate, and not far above it
    (the level is the least strict one that does); Bonferroni bounds it from above, a single look from below."""
    looks = tuple(stats.look_points(100, 2000))
    level = stats.look_confidence(looks, 0.95, 0.95)
    assert 0.95 < level < 1 - 0.05 / len(looks)
    assert stats.look_confidence((500,), 0.95, 0.95) == 0.95
    assert stats.look_confidence(looks[3:], 0.95, 0.95) < level  # fewer looks taken, a lower level
    rng = np.random.default_rng(11)
    true = -math.log(0.05)  # the p95 of Exp(1)
    reps, together = 2000, 0
    for _ in range(reps):
        x = rng.exponential(1.0, looks[-1])
        intervals = [stats.quantile_ci(np.sort(x[:n]), 0.95, level) for n in looks]
        together += all(ci[0] <= true <= ci[1] for ci in intervals if ci)  # no interval: no stop there
    assert 0.94 <= together / reps <= 0.97, together / reps  # 0.95 exact; binomial slack of 2000 draws


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


def test_summary_draws_intervals_at_the_per_look_level() -> None:
    samples = np.random.default_rng(2).gamma(2.0, 1.0, 1000)
    plain, wide = stats.summarise(samples, 0.95), stats.summarise(samples, 0.95, 0.99)
    assert wide["ci"]["confidence"] == 0.95 and wide["ci"]["per_look_confidence"] == 0.99
    assert wide["ci"]["p95"][0] <= plain["ci"]["p95"][0] and wide["ci"]["p95"][1] >= plain["ci"]["p95"][1]


def two_stage_stop(x: np.ndarray, rule: stats.TwoStageRule) -> tuple[int, int, str]:
    """Drive a two-stage rule with one synthetic sample at a time (no clock): the measured samples' bounds."""
    for n in range(1, len(x) + 1):
        reason = rule.should_stop(x[:n], 0.0)
        if reason is not None:
            return rule.pilot or 0, n, reason
    raise AssertionError("the rule never stopped")


def test_the_two_stage_rule_covers_the_fooling_distribution_at_the_nominal_level() -> None:
    """Its measured samples are fresh and their count is fixed by the pilot alone, so their interval at the
    nominal level covers on the two-spike distribution too, where stopping on a narrow interval does not."""
    rng, reps, hits = np.random.default_rng(11), 2000, 0
    for _ in range(reps):
        x = two_spikes(rng, 1000)
        start, stop, _ = two_stage_stop(x, stats.TwoStageRule(0.02, 0.95, 1000))
        assert start > 0 and stop - start >= stats.first_look(0.95, 0.95)
        lo, hi = stats.quantile_ci(np.sort(x[start:stop]), 0.95, 0.95)
        hits += lo <= TWO_SPIKES_P95 <= hi
    assert hits / reps >= 0.94, hits / reps  # >= 0.95 exactly; binomial slack of 2000 draws
