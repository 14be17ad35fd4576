"""Runs over time and run against run: figure ratios and a Mann-Whitney U test on the raw latency samples."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from edgeprof.constraints import value_at
from edgeprof.result import Result, viewer

FIGURES = {
    "p50_ms": "latency.p50_ms",
    "p95_ms": "latency.p95_ms",
    "throughput_ips": "latency.throughput_ips",
    "peak_rss_mb": "memory.peak_rss_mb",
    "top1": "accuracy.top1",
    "energy_mj": "power.energy_mj_per_inference",
}
DEFAULT_ALPHA = 0.01
DEFAULT_MIN_EFFECT = 0.05
NO_CHANGE = "no significant change"


@dataclass
class LatencyTest:
    """Mann-Whitney U on two runs' latency samples: verdict faster / slower / no significant change."""

    verdict: str
    median_ratio: float | None
    p_value: float | None
    n_a: int
    n_b: int
    alpha: float
    min_effect: float


@dataclass
class Comparison:
    """One device x model variant present in both runs: B/A ratio of each figure and the latency test."""

    device: str
    model: str
    ratios: dict[str, float | None]
    latency: LatencyTest
    a: dict[str, Any] = field(repr=False)
    b: dict[str, Any] = field(repr=False)


def latency_test(a: list[float], b: list[float], *, alpha: float = DEFAULT_ALPHA,
                 min_effect: float = DEFAULT_MIN_EFFECT) -> LatencyTest:
    """Is B's latency distribution shifted from A's? Significant at `alpha` AND a median change >= `min_effect`."""
    if len(a) < 2 or len(b) < 2:
        return LatencyTest("not tested (no raw samples)", None, None, len(a), len(b), alpha, min_effect)
    import numpy as np  # numpy and scipy are slow to import: only a comparison with samples needs them
    from scipy.stats import mannwhitneyu

    ratio = float(np.median(b) / np.median(a))
    p_value = float(mannwhitneyu(a, b, alternative="two-sided").pvalue)
    verdict = NO_CHANGE
    if p_value < alpha and abs(ratio - 1.0) >= min_effect:
        verdict = "slower" if ratio > 1.0 else "faster"
    return LatencyTest(verdict, ratio, p_value, len(a), len(b), alpha, min_effect)


def _ratio(a: Any, b: Any) -> float | None:
    return float(b) / float(a) if a not in (None, 0) and b is not None else None


def compare_runs(run_a: list[dict[str, Any]], run_b: list[dict[str, Any]], *, alpha: float = DEFAULT_ALPHA,
                 min_effect: float = DEFAULT_MIN_EFFECT) -> list[Comparison]:
    """Per device x model variant x accelerator measured in both runs (failed runs skipped): ratios B/A and the
    latency test."""
    before = {Result(r).configuration: r for r in run_a if Result(r).ok}
    view = viewer([*run_a, *run_b])
    comparisons = []
    for b in run_b:
        a = before.get(Result(b).configuration)
        if a is None or not Result(b).ok:
            continue
        ratios = {name: _ratio(value_at(a, path), value_at(b, path)) for name, path in FIGURES.items()}
        samples = [list(value_at(r, "latency.samples_ms") or []) for r in (a, b)]
        comparisons.append(Comparison(view(b).device, view(b).ref_label, ratios,
                                      latency_test(*samples, alpha=alpha, min_effect=min_effect), a, b))
    return comparisons


def regressions(comparisons: list[Comparison], max_ratio: float) -> list[Comparison]:
    """The significant latency slow-downs whose median grew by more than `max_ratio`."""
    return [c for c in comparisons
            if c.latency.verdict == "slower" and (c.latency.median_ratio or 0.0) > max_ratio]


def history_rows(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per Result, oldest first: when, which run, and the figures compared over time."""
    views = [Result(r) for r in results]
    return [{"created": v.created, "run_id": v.run_id, "device": v.doc.get("device"), "model": v.ref_label,
             "status": v.doc.get("status"), **{name: value_at(v.doc, path) for name, path in FIGURES.items()},
             "latency_method": v.latency.get("method"), "power_method": v.power.get("method")}
            for v in views]
