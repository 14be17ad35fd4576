"""Latency statistics: distribution-free CIs cover the truth as often as they claim; the stopping rule."""

from __future__ import annotations

import math
import time
from typing import Callable

import numpy as np
import pytest

from edgeprof.agent import stats
from edgeprof.agent.probes.latency import FLOOR_SHARE, calls_per_sample, steady_state

BUDGET = {"min_runs": 50, "max_runs": 20000, "min_seconds": 0.0, "max_seconds": 5.0, "target_rel_halfwidth": 0.02,
          "confidence": 0.95}


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
    samples, reason, _ = steady_state(steady, dict(BUDGET, max_seconds=10.0, target_rel_halfwidth=0.05), lambda d, t: None)
    assert reason == "precision" and len(samples) < BUDGET["max_runs"]

    noisy = clock.call_taking(lambda: float(rng.choice([0.0001, 0.002])) * float(rng.lognormal(0.0, 0.05)))
    samples, reason, _ = steady_state(noisy, dict(BUDGET, max_seconds=0.3, target_rel_halfwidth=0.0001),
                                      lambda d, t: None)
    assert reason == "max_seconds" and 0.3 <= samples.sum() / 1e3 < 0.31


def test_a_microsecond_model_passes_the_time_floor_early_and_stops_on_precision(monkeypatch: pytest.MonkeyPatch) -> None:
    """On a simulated clock, a 10 us call with a quiet host's spread: the loops of calls make min_seconds pass at a
    quarter of max_runs, so the rule stops on precision at a look, not on the cap."""
    clock = SimulatedClock()
    monkeypatch.setattr(time, "perf_counter_ns", clock)
    rng = np.random.default_rng(4)
    call = clock.call_taking(lambda: 10e-6 * float(rng.lognormal(0.0, 0.1)))
    budget = dict(BUDGET, min_seconds=0.5, max_seconds=20.0, target_rel_halfwidth=0.02)
    calls = calls_per_sample(call, budget)
    samples, reason, _ = steady_state(call, budget, lambda d, t: None, calls)
    floor_at = int(np.searchsorted(np.cumsum(samples) * calls / 1e3, budget["min_seconds"])) + 1
    assert floor_at <= FLOOR_SHARE * budget["max_runs"] * 1.1
    assert reason == "precision" and len(samples) < budget["max_runs"]
    assert len(samples) == min(n for n in stats.look_points(BUDGET["min_runs"], budget["max_runs"]) if n >= floor_at)


def test_looks_are_geometric_and_end_on_the_cap() -> None:
    points = stats.look_points(50, 5000)
    assert points[0] == stats.first_look(0.95, 0.95) == 72 and points[-1] == 5000
    assert stats.quantile_ci_ranks(72, 0.95, 0.95) is not None and stats.quantile_ci_ranks(71, 0.95, 0.95) is None
    assert stats.look_points(0, 100, 0.5)[0] == stats.first_look(0.5, 0.95) == 6
    assert all(b > a for a, b in zip(points, points[1:])) and len(points) < 25
    assert stats.look_points(10, 20) == [20]


def test_the_stopped_interval_covers_the_true_p95_at_the_nominal_rate() -> None:
    """The rule as the agent applies it, on lognormal samples: stopping on a narrow interval stays honest."""
    rng = np.random.default_rng(5)
    true = math.exp(0.15 * 1.6448536)
    looks = stats.look_points(50, 5000)
    level = stats.look_confidence(tuple(looks), 0.95, 0.95)
    hits, reps = 0, 300
    for _ in range(reps):
        x = rng.lognormal(0.0, 0.15, 5000)
        for n in looks:
            if stats.relative_halfwidth(np.sort(x[:n]), 0.95, level) <= 0.02:
                break
        lo, hi = stats.quantile_ci(np.sort(x[:n]), 0.95, level)
        hits += lo <= true <= hi
    assert hits / reps >= 0.95, hits / reps  # simultaneous coverage is >= 0.95 whatever the stop


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
