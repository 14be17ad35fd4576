"""Latency statistics in numpy alone: percentiles, distribution-free confidence intervals, the stopping rule,
drift, stability."""

from __future__ import annotations

import functools
import math
from typing import Any, Sequence

import numpy as np

PERCENTILES = {"p50": 0.50, "p90": 0.90, "p95": 0.95, "p99": 0.99, "p999": 0.999}
STABLE_WINDOW = 10
STABLE_TOLERANCE = 0.05
PILOT_NEAR = 3  # the pilot ends once this many of its samples lie within the target of its quantile sample
PLAN_FACTOR = 0.95  # the measured stage takes this share of the pilot's estimate (scripts/bench_stopping.py)
PILOT_SHARE = 0.25  # the pilot takes at most this share of the samples the budget allows
NEAR_BOUND = 6.3  # the 95% upper bound of a Poisson count of 2: the most that fewer than PILOT_NEAR near stand for
ONE_STAGE = 4  # a budget of fewer than this many times the fewest samples with an interval: one stage
TIME_MARGIN = 0.05  # the measured stage is planned to end this share of the time left early


def fewest_samples(q: float, confidence: float) -> int:
    """The fewest samples with a q-quantile interval at `confidence` (72 for p95 at 0.95, 6 for the median)."""
    tail = math.log((1.0 - confidence) / 2.0)
    return math.ceil(max(tail / math.log(q), tail / math.log1p(-q)))


class StoppingRule:
    """When to stop sampling a timed quantity, in two stages of which only the second is measured, so that the
    `quantile`'s interval at `confidence` covers with `confidence` whatever the latency distribution, and no look
    has to be paid for (a rule that stops once its interval is narrow must draw every interval it could stop on
    wider; this one stops at a count fixed before its measured samples are drawn).

    The pilot samples until PILOT_NEAR of its samples lie within `target` (relative) of its quantile sample
    (`near_count`: they give the share of the distribution there, which the interval at the right count spans)
    and it has lasted PILOT_SHARE of `min_seconds` (a stretch of time, not a burst of microsecond samples); or
    until it has taken PILOT_SHARE of the samples the budget allows, or even the share NEAR_BOUND samples would
    stand for plans more than the budget has left. Then it plans the measured stage: the fewest samples whose
    interval spans that share (`samples_for_share`) times PLAN_FACTOR, so that the half-width is `target` in the
    median; at least the fewest with an interval, `min_runs` in all and enough for `min_seconds` at the pilot's
    pace; at most what `max_runs` and `max_seconds` (less TIME_MARGIN) allow at that pace. The measured samples
    are fresh and their count depends on the pilot's alone, so their intervals at `confidence` are exact for
    independent samples, the assumption of every order-statistic interval. The pilot's samples (`pilot`: how many
    lead the run) enter no percentile and no interval.

    The budget: `planned_runs` (the samples the time budget is expected to allow, from timing taken before
    sampling: the warm-up's pace), else `max_runs`. A budget of fewer than ONE_STAGE times the fewest samples
    with an interval, or `target` 0, is sampled in one stage to its end, every sample measured: a count fixed
    before they are drawn. So is a run without `planned_runs` whose pace shows max_seconds to allow fewer, but
    to the clock.

    Drive it with every new sample: `reason = rule.should_stop(samples, elapsed_s)` returns None (go on) or
    "precision" (the count planned for the target was reached), "max_runs" or "max_seconds" (the count the budget
    allowed, or the clock). A stop by the clock before a planned count comes at a count the latencies set, which
    the exact argument leaves out: the clock sums the latencies, which moves the count too little to matter
    (tests/agent/test_stats.py builds the cases where the count follows them most closely). A sample may be
    anything timed (a call, a loop of calls, a whole prompt's time to first token). One rule serves one run.
    """

    def __init__(self, target: float, confidence: float = 0.95, max_runs: int = 5000,
                 max_seconds: float = math.inf, *, min_runs: int = 0, min_seconds: float = 0.0,
                 quantile: float = 0.95, planned_runs: int | None = None) -> None:
        self.target, self.confidence, self.quantile = target, confidence, quantile
        self.max_runs, self.max_seconds = max_runs, max_seconds
        self.min_runs, self.min_seconds = min_runs, min_seconds
        self.fewest = fewest_samples(quantile, confidence)
        self.planned = max(1, min(max_runs, planned_runs)) if planned_runs else None
        self.pilot: int | None = None  # the samples that lead the run unmeasured (None: the pilot goes on)
        self.stop_at: int | None = None  # the count planned, known once the pilot ends
        self.reason = "max_runs"  # why the run stops at stop_at
        self._counted = False  # PILOT_NEAR samples were near before the pilot could end (min_seconds)
        if target <= 0 or (self.planned or max_runs) < ONE_STAGE * self.fewest:
            self._one_stage(self.planned or max_runs)

    def should_stop(self, samples: Sequence[float] | np.ndarray, elapsed_s: float) -> str | None:
        """Why to stop after the latest of `samples` (all of them so far, in order), or None to take another;
        `elapsed_s` is the sampling time so far. Call it after every sample: the pilot may end at any."""
        n = len(samples)
        if self.pilot is None:
            self._plan(samples, elapsed_s)
        if self.stop_at is not None and n >= self.stop_at:
            return self.reason
        if elapsed_s >= self.max_seconds:
            if self.pilot is None or self.pilot >= n:
                self.pilot = 0  # the clock ended the pilot: its samples are all there is to measure
            return "max_seconds"
        return None

    def _one_stage(self, count: int) -> None:
        """Sample to `count` (or the clock), every sample measured."""
        self.pilot, self.stop_at = 0, count
        self.reason = "max_runs" if count >= self.max_runs else "max_seconds"

    def _room(self, n: int, elapsed_s: float) -> int:
        """The samples the budget allows in all, n taken in `elapsed_s`: max_runs, or fewer at their pace."""
        if elapsed_s <= 0 or self.max_seconds == math.inf:
            return self.max_runs
        left = (self.max_seconds - elapsed_s) * (1.0 - TIME_MARGIN)
        return min(self.max_runs, n + max(1, int(left * n / elapsed_s)))

    def _plan(self, samples: Sequence[float] | np.ndarray, elapsed_s: float) -> None:
        """End the pilot after these samples if it has its estimate or its share of the budget, and plan the
        measured stage from it."""
        n = len(samples)
        room = self._room(n, elapsed_s)
        if self.planned is None and room < ONE_STAGE * self.fewest:
            self._one_stage(self.max_runs)
            return
        near = near_count(np.sort(samples), self.quantile, self.target)
        rest = max(room - n, 1)
        most = math.ceil(rest / PLAN_FACTOR)  # a plan of more is capped by the budget
        out_of_reach = near < PILOT_NEAR and _span(most, self.quantile, self.confidence) > NEAR_BOUND / max(n - 1, 1)
        waiting = near < PILOT_NEAR or elapsed_s < PILOT_SHARE * self.min_seconds
        if waiting and n < PILOT_SHARE * (self.planned or room) and not out_of_reach:
            self._counted |= near >= PILOT_NEAR
            return
        # the count where it first reaches PILOT_NEAR is inverse sampling's, one less; a later one a fixed n's
        share = (near - (0 if self._counted else 1)) / (n - 1)
        need = samples_for_share(share, self.quantile, self.confidence, most) if near >= PILOT_NEAR else None
        time_floor = math.ceil((self.min_seconds - elapsed_s) * n / elapsed_s) if elapsed_s > 0 else 0
        wanted = math.inf if need is None else max(self.fewest, self.min_runs - n, time_floor,
                                                   math.ceil(PLAN_FACTOR * need))
        self.pilot, self.stop_at = n, n + int(min(wanted, rest))
        self.reason = "precision" if wanted <= rest else "max_runs" if room >= self.max_runs else "max_seconds"


def near_count(ordered: np.ndarray, q: float, target: float) -> int:
    """Of sorted samples, how many others lie within `target` (relative) of the q-quantile sample (the one of rank
    nearest q (n + 1)). The pilot stops at PILOT_NEAR of n: (PILOT_NEAR - 1) / (n - 1), inverse sampling's
    unbiased estimate, is the share of the distribution within `target` of its q-quantile."""
    n = len(ordered)
    if n < 2:
        return 0
    centre = float(ordered[min(n, max(1, math.floor(q * (n + 1) + 0.5))) - 1])
    return int(np.searchsorted(ordered, centre * (1 + target), "right")
               - np.searchsorted(ordered, centre * (1 - target), "left")) - 1


@functools.lru_cache(maxsize=256)
def _span(n: int, q: float, confidence: float) -> float:
    """The expected share of the distribution between the bounds of the q-quantile interval of n samples."""
    ranks = quantile_ci_ranks(n, q, confidence)
    return math.inf if ranks is None else (ranks[1] - ranks[0]) / (n + 1)


def samples_for_share(share: float, q: float, confidence: float, most: int) -> int | None:
    """The fewest samples (bisected to 0.5%) whose q-quantile interval at `confidence` spans at most `share` of
    the distribution in expectation (F(X(u)) - F(X(l)) is (u - l) / (n + 1) on average, whatever F is), so that
    its half-width is that of the share's span around the quantile; None if `most` samples do not."""
    lo, hi = fewest_samples(q, confidence), max(most, fewest_samples(q, confidence))
    if _span(hi, q, confidence) > share:
        return None
    if _span(lo, q, confidence) <= share:
        return lo
    while hi - lo > max(1, lo // 200):
        middle = (lo + hi) // 2
        lo, hi = (middle, hi) if _span(middle, q, confidence) > share else (lo, middle)
    return hi


def binomial_pmf(n: int, q: float) -> np.ndarray:
    """P(B = i) for B ~ Binomial(n, q), i = 0..n, computed in log space so large n stays exact enough."""
    i = np.arange(n + 1)
    k = np.arange(1, n + 1)
    log_choose = np.concatenate(([0.0], np.cumsum(np.log((n - k + 1) / k))))
    log_pmf = log_choose + i * math.log(q) + (n - i) * math.log1p(-q)
    pmf = np.exp(log_pmf - log_pmf.max())
    return pmf / pmf.sum()


def binomial_cdf(n: int, q: float) -> np.ndarray:
    """P(B <= i) for B ~ Binomial(n, q), i = 0..n."""
    return np.cumsum(binomial_pmf(n, q))


def _ranks(cdf: np.ndarray, n: int, confidence: float) -> tuple[int, int] | None:
    tail = (1.0 - confidence) / 2.0
    lower = int(np.searchsorted(cdf, tail, side="right"))  # the count of i with P(B <= i) <= tail
    upper = int(np.searchsorted(cdf, 1.0 - tail, side="left")) + 1
    if lower < 1 or upper > n:
        return None
    return lower, upper


def quantile_ci_ranks(n: int, q: float, confidence: float) -> tuple[int, int] | None:
    """1-based ranks (l, u) with P(X(l) <= true q-quantile <= X(u)) >= confidence; None if n is too small.

    Order statistics bracket a quantile with a binomial probability whatever the distribution (the method
    MLPerf LoadGen's early stopping uses): X(l) <= x_q iff B >= l, X(u) > x_q iff B <= u - 1, B ~ Bin(n, q).
    """
    if n < 1:
        return None
    return _ranks(binomial_cdf(n, q), n, confidence)


def quantile_ci(sorted_samples: np.ndarray, q: float, confidence: float) -> tuple[float, float] | None:
    """The confidence interval of the q-quantile from sorted samples, or None with too few samples."""
    ranks = quantile_ci_ranks(len(sorted_samples), q, confidence)
    if ranks is None:
        return None
    return float(sorted_samples[ranks[0] - 1]), float(sorted_samples[ranks[1] - 1])


def relative_halfwidth(sorted_samples: np.ndarray, q: float, confidence: float) -> float:
    """Half the CI width over the estimate (inf while the CI is not defined yet)."""
    ci = quantile_ci(sorted_samples, q, confidence)
    estimate = float(np.quantile(sorted_samples, q))
    if ci is None or estimate <= 0:
        return math.inf
    return (ci[1] - ci[0]) / 2.0 / estimate


def summarise(samples_ms: np.ndarray, confidence: float) -> dict[str, Any]:
    """Percentiles, their confidence intervals, mean/std/min/max and throughput of per-call latencies."""
    ordered = np.sort(samples_ms)
    out: dict[str, Any] = {}
    ci: dict[str, Any] = {"confidence": confidence}
    for label, q in PERCENTILES.items():
        out[f"{label}_ms"] = float(np.quantile(ordered, q))
        bounds = quantile_ci(ordered, q, confidence)
        ci[label] = list(bounds) if bounds else None
    mean = float(ordered.mean())
    out.update({
        "mean_ms": mean,
        "std_ms": float(ordered.std(ddof=1)) if len(ordered) > 1 else 0.0,
        "min_ms": float(ordered[0]),
        "max_ms": float(ordered[-1]),
        "ci": ci,
        "throughput_ips": 1000.0 / mean if mean > 0 else None,
    })
    return out


def raw_samples(samples_ms: np.ndarray, keep: int) -> dict[str, Any]:
    """The raw samples a Result keeps (the first `keep`, rounded to the nanosecond) and whether any were left out."""
    return {"samples_ms": [round(float(x), 6) for x in samples_ms[:keep]], "samples_truncated": len(samples_ms) > keep}


def drift(samples_ms: np.ndarray, threshold: float = 0.10) -> dict[str, Any] | None:
    """First vs last decile (in run order) of the median latency; flagged when they differ by > threshold."""
    n = len(samples_ms)
    if n < 20:
        return None
    tenth = n // 10
    first = float(np.median(samples_ms[:tenth]))
    last = float(np.median(samples_ms[-tenth:]))
    if first <= 0:  # below the clock's resolution: no ratio (JSON has no infinity)
        return {"first_decile_ms": first, "last_decile_ms": last, "ratio": None, "flag": False}
    ratio = last / first
    return {"first_decile_ms": first, "last_decile_ms": last, "ratio": ratio, "flag": abs(ratio - 1.0) > threshold}


def is_stable(samples_ms: list[float], window: int = STABLE_WINDOW, tolerance: float = STABLE_TOLERANCE) -> bool:
    """pyperf's warm-up test: the medians of the last two windows agree within `tolerance`."""
    if len(samples_ms) < 2 * window:
        return False
    older = float(np.median(samples_ms[-2 * window:-window]))
    newer = float(np.median(samples_ms[-window:]))
    return newer > 0 and abs(older - newer) / newer <= tolerance
