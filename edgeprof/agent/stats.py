"""Latency statistics in numpy alone: percentiles, distribution-free confidence intervals, drift, stability."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

PERCENTILES = {"p50": 0.50, "p90": 0.90, "p95": 0.95, "p99": 0.99, "p999": 0.999}
STABLE_WINDOW = 10
STABLE_TOLERANCE = 0.05
FIRST_LOOK = 100  # no p95 interval at the corrected confidence is defined much below this
LOOK_RATIO = 1.25  # precision looks at geometrically spaced sample counts
LOOK_SPENDING = 2.0  # the looks' alpha is split as over this many independent looks (see look_confidence)


def look_points(min_runs: int, max_runs: int) -> list[int]:
    """The sample counts at which the stopping rule checks precision: x1.25 from max(min_runs, 100), max_runs last."""
    points: list[int] = []
    n = max(min_runs, FIRST_LOOK)
    while n < max_runs:
        points.append(n)
        n = max(n + 1, math.ceil(n * LOOK_RATIO))
    return points + [max_runs]


def look_confidence(confidence: float) -> float:
    """The confidence of each look's interval, so the one reported wherever the rule stops covers with
    `confidence` (stopping on a narrow interval is optimistic). Successive x1.25 looks share most samples, so a
    Bonferroni split over all of them (coverage 0.998, 2.2x the samples) is far too strict: alpha is split as
    over LOOK_SPENDING looks, which scripts/bench_stopping.py checks covers >= `confidence`."""
    return 1.0 - (1.0 - confidence) / LOOK_SPENDING


def binomial_cdf(n: int, q: float) -> np.ndarray:
    """P(B <= i) for B ~ Binomial(n, q), i = 0..n, computed in log space so large n stays exact enough."""
    i = np.arange(n + 1)
    k = np.arange(1, n + 1)
    log_choose = np.concatenate(([0.0], np.cumsum(np.log((n - k + 1) / k))))
    log_pmf = log_choose + i * math.log(q) + (n - i) * math.log1p(-q)
    pmf = np.exp(log_pmf - log_pmf.max())
    return np.cumsum(pmf) / pmf.sum()


def quantile_ci_ranks(n: int, q: float, confidence: float) -> tuple[int, int] | None:
    """1-based ranks (l, u) with P(X(l) <= true q-quantile <= X(u)) >= confidence; None if n is too small.

    Order statistics bracket a quantile with a binomial probability whatever the distribution (the method
    MLPerf LoadGen's early stopping uses): X(l) <= x_q iff B >= l, X(u) > x_q iff B <= u - 1, B ~ Bin(n, q).
    """
    if n < 1:
        return None
    cdf = binomial_cdf(n, q)
    tail = (1.0 - confidence) / 2.0
    below = np.nonzero(cdf <= tail)[0]
    above = np.nonzero(cdf >= 1.0 - tail)[0]
    if below.size == 0 or above.size == 0:
        return None
    lower, upper = int(below[-1]) + 1, int(above[0]) + 1
    if lower < 1 or upper > n:
        return None
    return lower, upper


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
