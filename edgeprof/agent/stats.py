"""Latency statistics in numpy alone: percentiles, distribution-free confidence intervals, drift, stability."""

from __future__ import annotations

import functools
import math
from typing import Any, Sequence

import numpy as np

PERCENTILES = {"p50": 0.50, "p90": 0.90, "p95": 0.95, "p99": 0.99, "p999": 0.999}
STABLE_WINDOW = 10
STABLE_TOLERANCE = 0.05
LOOK_RATIO = 1.25  # precision looks at geometrically spaced sample counts
_BISECTIONS = 14  # the per-look alpha to within (1 - confidence) / 2**14
PILOT_NEAR = 3  # the pilot ends once this many of its samples lie within the target of its quantile sample
PLAN_FACTOR = 0.95  # the measured stage takes this share of the pilot's estimate (scripts/bench_stopping.py)
PILOT_SHARE = 0.25  # the pilot takes at most this share of the samples the budget allows
ONE_STAGE = 4  # a budget of fewer than this many times the fewest samples with an interval: one stage
TIME_MARGIN = 0.05  # the measured stage is planned to end this share of the time left early


def first_look(q: float, confidence: float) -> int:
    """The fewest samples with a q-quantile interval at `confidence` (72 for p95 at 0.95, 6 for the median):
    an earlier look could never stop."""
    tail = math.log((1.0 - confidence) / 2.0)
    return math.ceil(max(tail / math.log(q), tail / math.log1p(-q)))


def look_points(min_runs: int, max_runs: int, q: float = 0.95, confidence: float = 0.95) -> list[int]:
    """The sample counts at which the stopping rule checks precision: x1.25 from the first count with a q-quantile
    interval at `confidence` (and at least min_runs), max_runs last."""
    points: list[int] = []
    n = max(min_runs, first_look(q, confidence))
    while n < max_runs:
        points.append(n)
        n = max(n + 1, math.ceil(n * LOOK_RATIO))
    return points + [max_runs]


class StoppingRule:
    """When to stop sampling a timed quantity: once the `quantile`'s interval is within `target` of it (relative
    half-width), or at `max_runs` samples or `max_seconds`; precision is judged only at the looks of `look_points`
    taken once `min_seconds` have passed, and at the per-look level of `look_confidence`, so the interval wherever
    the rule stops covers with `confidence` whatever the distribution (every look it could stop at counted).

    `planned_runs`, the samples the time budget is expected to allow from timing taken before sampling (the
    warm-up's pace), ends the looks there: the rule stops at that count (reason max_seconds) with its last interval
    at `final_confidence`, near the nominal level, and the looks it would never reach cost nothing. A time stop
    before it (sampling slower than planned) comes at a count that the latencies themselves set, so its intervals
    stay at the per-look level.

    Drive it with every new sample: `reason = rule.should_stop(samples, elapsed_s)` returns None (go on) or
    "precision", "max_runs" or "max_seconds"; then draw the intervals at `rule.interval_confidence`. A sample may
    be anything timed (a call, a loop of calls, a whole prompt's time to first token); `target` 0 never stops on
    precision. One rule serves one sampling run (it remembers its looks).
    """

    def __init__(self, target: float, confidence: float = 0.95, max_runs: int = 5000,
                 max_seconds: float = math.inf, *, min_runs: int = 0, min_seconds: float = 0.0,
                 quantile: float = 0.95, planned_runs: int | None = None) -> None:
        self.target, self.confidence, self.quantile = target, confidence, quantile
        self.max_runs, self.max_seconds, self.min_seconds = max_runs, max_seconds, min_seconds
        self.last = max(1, min(max_runs, planned_runs or max_runs))  # the count the rule stops at, at the latest
        self.looks = look_points(min_runs, self.last, quantile, confidence)
        self._next = 0  # the index of the next look
        self.level: float | None = None  # fixed at the first look taken, over it and the looks after it
        self.taken: list[int] = []  # the looks taken (precision judged there at `level`)
        self.final_level: float | None = None  # set on reaching `last`: `final_confidence`

    @property
    def interval_confidence(self) -> float:
        """The confidence to draw the reported intervals at: the final look's after stopping at `last`
        (`final_confidence`), else the per-look level, or the nominal one if no look was taken."""
        return self.final_level or self.level or self.confidence

    def should_stop(self, samples: Sequence[float] | np.ndarray, elapsed_s: float) -> str | None:
        """Why to stop after the latest of `samples` (all of them so far, in order), or None to take another;
        `elapsed_s` is the sampling time so far. Call it after every sample: looks are at exact counts."""
        n = len(samples)
        if n >= self.looks[self._next]:
            if self.target > 0 and elapsed_s >= self.min_seconds:
                if self.level is None:
                    self.level = look_confidence(tuple(self.looks[self._next:]), self.quantile, self.confidence)
                self.taken.append(n)
                if relative_halfwidth(np.sort(samples), self.quantile, self.level) <= self.target:
                    return "precision"
            self._next = min(self._next + 1, len(self.looks) - 1)
        if n >= self.last:
            if self.level is not None:
                self.final_level = final_confidence(tuple(self.taken), self.level, n, self.quantile,
                                                    self.confidence)
            return "max_runs" if n >= self.max_runs else "max_seconds"
        return "max_seconds" if elapsed_s >= self.max_seconds else None


@functools.lru_cache(maxsize=32)
def look_confidence(looks: tuple[int, ...], q: float, confidence: float) -> float:
    """The confidence of each look's q-quantile interval such that the intervals at all `looks` (the looks the rule
    actually takes) hold together with probability >= `confidence`, so the one reported wherever the rule stops
    covers (stopping on a narrow interval is optimistic; how optimistic depends on the distribution, a
    simultaneous guarantee does not).

    Exact and distribution-free (repeated confidence intervals, Jennison & Turnbull, in rank space): the interval
    at look k covers iff B_k, the count of the first n_k samples below the true quantile, lies in [l_k, u_k - 1],
    and B_k is a binomial random walk whatever the latency distribution; its law conditioned on covering at every
    look so far is propagated look to look by binomial convolution (`joint_coverage`). The per-look alpha is
    bisected between Bonferroni's (1 - confidence) / K, always valid, and 1 - confidence. Successive x1.25 looks share 80% of their
    samples, so this is far less strict than Bonferroni (0.9974 over 19 looks); scripts/bench_stopping.py prints
    the level and the coverage it gives.
    """
    if len(looks) == 1:
        return confidence
    valid, invalid = (1.0 - confidence) / len(looks), 1.0 - confidence
    for _ in range(_BISECTIONS):
        middle = (valid + invalid) / 2
        holds = joint_coverage(looks, (middle,) * len(looks), q) >= confidence
        valid, invalid = (middle, invalid) if holds else (valid, middle)
    return 1.0 - valid


def final_confidence(taken: tuple[int, ...], level: float, n: int, q: float, confidence: float) -> float:
    """The confidence of the interval reported at the last count n planned (a count fixed before sampling), the
    looks `taken` before it at `level`: the loosest at which it and theirs hold together with `confidence`. The
    looks not taken (before min_seconds) left their share of the error to it."""
    earlier = tuple(k for k in taken if k < n)
    if not earlier:
        return confidence
    valid, invalid = 0.0, 1.0 - confidence
    for _ in range(_BISECTIONS):
        middle = (valid + invalid) / 2
        holds = joint_coverage(earlier + (n,), (1.0 - level,) * len(earlier) + (middle,), q) >= confidence
        valid, invalid = (middle, invalid) if holds else (valid, middle)
    return 1.0 - valid


def joint_coverage(looks: tuple[int, ...], alphas: tuple[float, ...], q: float) -> float:
    """P(the q-quantile intervals at all `looks`, look k's at confidence 1 - alphas[k], cover together): exact and
    distribution-free, the law of B (the count below the true quantile) conditioned on covering so far propagated
    look to look by binomial convolution. A look with no interval at its level cannot stop, so costs nothing."""
    dist, start, previous = np.ones(1), 0, 0  # P(B = start + i, covered so far)
    for n, alpha in zip(looks, alphas):
        dist, previous = np.convolve(dist, binomial_pmf(n - previous, q)), n
        ranks = _ranks(binomial_cdf(n, q), n, 1.0 - alpha)
        if ranks is not None:
            lo, hi = ranks[0] - start, ranks[1] - start
            dist, start = dist[max(lo, 0):max(hi, 0)], start + max(lo, 0)
    return float(dist.sum())


class TwoStageRule:
    """When to stop sampling a timed quantity, in two stages of which only the second is measured, so that the
    `quantile`'s interval at `confidence` covers with `confidence` whatever the latency distribution, with no
    look to pay for (a rule that stops once its interval is narrow must draw it wider, at a level that holds
    over every count it could stop at; this one stops at a count fixed before its measured samples are drawn).

    The pilot samples until PILOT_NEAR of its samples lie within `target` (relative) of its quantile sample (the
    share of the distribution they stand for, `near_share`, is what the interval at the measured count will
    span) or it has taken PILOT_SHARE of the samples the budget allows. It then plans the measured stage: the
    fewest samples whose interval spans that share (`samples_for_share`, times PLAN_FACTOR, so that the
    half-width is `target` in the median), at least the fewest with an interval, `min_runs` in all and enough for
    `min_seconds` at the pilot's pace, at most what `max_runs` and `max_seconds` (less TIME_MARGIN) allow at that
    pace. The measured samples are fresh and their count depends on the pilot's samples alone, so their
    intervals are exact at `confidence` for independent samples (the assumption every order-statistic interval
    makes); the pilot's samples (`pilot`: how many lead the run) enter no percentile and no interval.

    A budget of fewer than ONE_STAGE times the fewest samples with an interval (`planned_runs`, the samples the
    time budget is expected to allow from timing taken before sampling, the warm-up's pace; else `max_runs`), or
    `target` 0, is sampled in one stage to that count, every sample measured: a count fixed before sampling.

    Drive it with every new sample: `reason = rule.should_stop(samples, elapsed_s)` returns None (go on) or
    "precision" (the planned count was reached), "max_runs" or "max_seconds" (the count the budget allowed, or
    the clock: a stop by max_seconds before the planned count comes at a count the latencies set, and its
    intervals at `confidence` are then not covered by the exact argument). A sample may be anything timed (a
    call, a loop of calls, a whole prompt's time to first token). One rule serves one sampling run.
    """

    def __init__(self, target: float, confidence: float = 0.95, max_runs: int = 5000,
                 max_seconds: float = math.inf, *, min_runs: int = 0, min_seconds: float = 0.0,
                 quantile: float = 0.95, planned_runs: int | None = None) -> None:
        self.target, self.confidence, self.quantile = target, confidence, quantile
        self.max_runs, self.max_seconds = max_runs, max_seconds
        self.min_runs, self.min_seconds = min_runs, min_seconds
        self.fewest = first_look(quantile, confidence)
        planned = max(1, min(max_runs, planned_runs or max_runs))
        one_stage = target <= 0 or planned < ONE_STAGE * self.fewest
        self.pilot: int | None = 0 if one_stage else None  # the samples that lead the run unmeasured; None: pilot on
        self.stop_at: int | None = planned if one_stage else None  # the planned count
        self.planned_reason = "max_runs" if planned >= max_runs else "max_seconds"

    def should_stop(self, samples: Sequence[float] | np.ndarray, elapsed_s: float) -> str | None:
        """Why to stop after the latest of `samples` (all of them so far, in order), or None to take another;
        `elapsed_s` is the sampling time so far. Call it after every sample: the pilot may end at any."""
        n = len(samples)
        if self.pilot is None:
            self._plan(samples, elapsed_s)
        if self.stop_at is not None and n >= self.stop_at:
            return self.planned_reason
        if elapsed_s >= self.max_seconds:
            if self.pilot is None:
                self.pilot = 0  # the clock ended the pilot: its samples are all there is to measure
            return "max_seconds"
        return None

    def _plan(self, samples: Sequence[float] | np.ndarray, elapsed_s: float) -> None:
        """End the pilot after these samples if it has its estimate or its share of the budget, and plan the
        measured stage."""
        n = len(samples)
        pace = elapsed_s / n
        left = (self.max_seconds - elapsed_s) * (1.0 - TIME_MARGIN)
        room = self.max_runs if pace <= 0 else min(self.max_runs, n + max(int(left / pace), 1))
        share = near_share(np.sort(samples), self.quantile, self.target)
        if share is None and n < PILOT_SHARE * room and room >= ONE_STAGE * self.fewest:
            return
        floor = max(self.fewest, self.min_runs - n, math.ceil((self.min_seconds - elapsed_s) / pace) if pace > 0 else 0)
        need = samples_for_share(share, self.quantile, self.confidence) if share else math.inf
        wanted = max(floor, math.ceil(PLAN_FACTOR * need)) if need < math.inf else math.inf
        self.pilot, rest = n, max(room - n, 1)
        self.stop_at = n + min(wanted, rest)
        self.planned_reason = ("precision" if wanted <= rest else
                               "max_runs" if room >= self.max_runs else "max_seconds")


def near_share(ordered: np.ndarray, q: float, target: float) -> float | None:
    """The share of the distribution within `target` (relative) of its q-quantile, from sorted samples: of the
    samples besides the q-quantile sample X(floor(q (n + 1))), the share within `target` of it, less one (the
    count stops at PILOT_NEAR: inverse sampling's unbiased estimate); None while fewer than PILOT_NEAR are."""
    n = len(ordered)
    if n < 2:
        return None
    centre = float(ordered[min(n, max(1, math.floor(q * (n + 1)))) - 1])
    near = int(np.searchsorted(ordered, centre * (1 + target), "right")
               - np.searchsorted(ordered, centre * (1 - target), "left")) - 1
    return (near - 1) / (n - 1) if near >= PILOT_NEAR else None


@functools.lru_cache(maxsize=256)
def _span(n: int, q: float, confidence: float) -> float:
    """The expected share of the distribution between the bounds of the q-quantile interval of n samples."""
    ranks = quantile_ci_ranks(n, q, confidence)
    return math.inf if ranks is None else (ranks[1] - ranks[0]) / (n + 1)


def samples_for_share(share: float, q: float, confidence: float, most: int = 1_000_000) -> float:
    """The fewest samples (bisected to 0.5%) whose q-quantile interval at `confidence` spans at most `share` of
    the distribution in expectation (F(X(u)) - F(X(l)) is (u - l) / (n + 1) on average, whatever F), so that its
    half-width is that of the share's interval; inf beyond `most`."""
    lo, hi = first_look(q, confidence), most
    if _span(hi, q, confidence) > share:
        return math.inf
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


def summarise(samples_ms: np.ndarray, confidence: float, interval_confidence: float | None = None) -> dict[str, Any]:
    """Percentiles, their confidence intervals, mean/std/min/max and throughput of per-call latencies; the
    intervals are drawn at `interval_confidence` (a sequential rule's per-look level) to cover with `confidence`."""
    ordered = np.sort(samples_ms)
    out: dict[str, Any] = {}
    ci: dict[str, Any] = {"confidence": confidence}
    if interval_confidence is not None:
        ci["per_look_confidence"] = interval_confidence
    for label, q in PERCENTILES.items():
        out[f"{label}_ms"] = float(np.quantile(ordered, q))
        bounds = quantile_ci(ordered, q, interval_confidence or confidence)
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
