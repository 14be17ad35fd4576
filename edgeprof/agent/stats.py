"""Latency statistics in numpy alone: percentiles, distribution-free confidence intervals, drift, stability."""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np

PERCENTILES = {"p50": 0.50, "p90": 0.90, "p95": 0.95, "p99": 0.99, "p999": 0.999}
STABLE_WINDOW = 10
STABLE_TOLERANCE = 0.05
FIRST_LOOK = 100  # no p95 interval at the corrected confidence is defined much below this
LOOK_RATIO = 1.25  # precision looks at geometrically spaced sample counts
_BISECTIONS = 14  # the per-look alpha to within (1 - confidence) / 2**14


def look_points(min_runs: int, max_runs: int) -> list[int]:
    """The sample counts at which the stopping rule checks precision: x1.25 from max(min_runs, 100), max_runs last."""
    points: list[int] = []
    n = max(min_runs, FIRST_LOOK)
    while n < max_runs:
        points.append(n)
        n = max(n + 1, math.ceil(n * LOOK_RATIO))
    return points + [max_runs]


@functools.lru_cache(maxsize=32)
def look_confidence(looks: tuple[int, ...], q: float, confidence: float) -> float:
    """The confidence of each look's q-quantile interval such that the intervals at all `looks` (the looks the rule
    actually takes) hold together with probability >= `confidence`, so the one reported wherever the rule stops
    covers (stopping on a narrow interval is optimistic; how optimistic depends on the distribution, a
    simultaneous guarantee does not).

    Exact and distribution-free (repeated confidence intervals, Jennison & Turnbull, in rank space): the interval
    at look k covers iff B_k, the count of the first n_k samples below the true quantile, lies in [l_k, u_k - 1],
    and B_k is a binomial random walk whatever the latency distribution; its law conditioned on covering at every
    look so far is propagated look to look by binomial convolution. The per-look alpha is bisected between
    Bonferroni's (1 - confidence) / K, always valid, and 1 - confidence. Successive x1.25 looks share 80% of their
    samples, so this is far less strict than Bonferroni: 0.992 over the 19 looks from 100 to 5,000, 0.986 over
    the 9 from 1,000 (Bonferroni: 0.9974); scripts/bench_stopping.py prints the coverage it gives.
    """
    if len(looks) == 1:
        return confidence
    cdfs = [binomial_cdf(n, q) for n in looks]
    steps = [binomial_pmf(b - a, q) for a, b in zip((0,) + looks[:-1], looks)]

    def covered(alpha: float) -> float:
        dist, start = np.ones(1), 0  # P(B = start + i, covered so far)
        for n, cdf, step in zip(looks, cdfs, steps):
            dist = np.convolve(dist, step)
            ranks = _ranks(cdf, n, 1.0 - alpha)
            if ranks is not None:  # no interval at this look: it cannot stop there
                lo, hi = ranks[0] - start, ranks[1] - 1 - start + 1
                dist, start = dist[max(lo, 0):max(hi, 0)], start + max(lo, 0)
        return float(dist.sum())

    valid, invalid = (1.0 - confidence) / len(looks), 1.0 - confidence
    for _ in range(_BISECTIONS):
        middle = (valid + invalid) / 2
        valid, invalid = (middle, invalid) if covered(middle) >= confidence else (valid, middle)
    return 1.0 - valid


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
