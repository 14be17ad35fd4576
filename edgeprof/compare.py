"""Runs over time and run against run: the ratios of the figures each workload tracks (constraints.Workload), a
Mann-Whitney U test on the raw samples of each timed distribution (a classifier's latency; a language model's TTFT
and TPOT) with its effect size, the pairing of two runs' Results by model identity, and change points in a series
of figures."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

from edgeprof.constraints import above, metric_interval, metric_method, metric_value, value_at, workload_of
from edgeprof.result import Result, viewer

DEFAULT_ALPHA = 0.01
DEFAULT_MIN_EFFECT = 0.05
NO_CHANGE = "no significant change"
BELOW_EFFECT = "below the minimum effect"  # significant at alpha, but the median moved less than min_effect
SERIES_ALPHA = 0.05
MIN_SEGMENT = 4  # points each side of a change point: 4 v 4 is the fewest whose exact two-sided U test reaches 0.05


@dataclass
class LatencyTest:
    """Mann-Whitney U on two runs' latency samples: verdict faster / slower / no significant change / below the
    minimum effect; `effect_size` is Cliff's delta, P(b > a) - P(b < a): +1 every B sample slower, 0 no shift."""

    verdict: str
    median_ratio: float | None
    p_value: float | None
    n_a: int
    n_b: int
    alpha: float
    min_effect: float
    effect_size: float | None = None


@dataclass(frozen=True)
class OpChange:
    """One operator type's time per run in A and B (their op profiles), its part of the change (the share of all op
    types' summed absolute change) and, where nodes of it moved between a delegate or provider and the CPU
    fallback, that move as the cause."""

    op: str
    a_ms: float
    b_ms: float
    share: float
    cause: str | None = None
    fell_back: int = 0  # nodes of this type on the CPU fallback in B that were not in A

    @property
    def delta_ms(self) -> float:
        return self.b_ms - self.a_ms


@dataclass
class Comparison:
    """One device x model variant present in both runs: B/A ratio of each figure its workload tracks (keyed by
    metric name), `apart`: for each with a 95% interval in both, whether the intervals do not overlap, the test
    on each timed distribution's raw samples (`tests`, keyed by its name: 'latency', or 'TTFT' and 'TPOT') and,
    where both Results have an op profile of one method, the operator types that moved most (`ops`)."""

    device: str
    model: str
    ratios: dict[str, float | None]
    tests: dict[str, LatencyTest]
    a: dict[str, Any] = field(repr=False)
    b: dict[str, Any] = field(repr=False)
    ops: list[OpChange] | None = None
    apart: dict[str, bool] = field(default_factory=dict)

    @property
    def latency(self) -> LatencyTest:
        """The test on the first timed distribution (a classifier's latency, a language model's TTFT)."""
        return next(iter(self.tests.values()))

    @property
    def same_file(self) -> bool:
        """False when the two Results measured different model files under one label (a retrained model)."""
        return Result(self.a).model.get("sha256") == Result(self.b).model.get("sha256")


def latency_test(a: list[float], b: list[float], *, alpha: float = DEFAULT_ALPHA,
                 min_effect: float = DEFAULT_MIN_EFFECT) -> LatencyTest:
    """Is B's latency distribution shifted from A's? Significant at `alpha` AND a median change >= `min_effect`."""
    if len(a) < 2 or len(b) < 2:
        return LatencyTest("not tested (no raw samples)", None, None, len(a), len(b), alpha, min_effect)
    import numpy as np  # numpy and scipy are slow to import: only a comparison with samples needs them
    from scipy.stats import mannwhitneyu

    ratio = float(np.median(b) / np.median(a))
    test = mannwhitneyu(a, b, alternative="two-sided")
    p_value = float(test.pvalue)
    verdict = NO_CHANGE
    if p_value < alpha:
        verdict = BELOW_EFFECT if abs(ratio - 1.0) < min_effect else "slower" if ratio > 1.0 else "faster"
    delta = 1.0 - 2.0 * float(test.statistic) / (len(a) * len(b))  # U counts the pairs where a > b (ties half)
    return LatencyTest(verdict, ratio, p_value, len(a), len(b), alpha, min_effect, delta)


def _ratio(a: Any, b: Any) -> float | None:
    return float(b) / float(a) if a not in (None, 0) and b is not None else None


def identity(result: dict[str, Any]) -> tuple[Any, ...]:
    """What one Result measured: its configuration (Result.configuration) and the model file's sha256."""
    view = Result(result)
    return *view.configuration, view.model.get("sha256")


def pair_runs(run_a: list[dict[str, Any]], run_b: list[dict[str, Any]]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(A, B) for each successful Result of B with a counterpart in A, in B's order: the same configuration and
    model file first; then a configuration measured once in each run, but with different files (a retrained model:
    `Comparison.same_file` is False). Two files under one label in one run never pair with each other's twin."""
    ok_a = [r for r in run_a if Result(r).ok]
    ok_b = [r for r in run_b if Result(r).ok]
    by_identity = {identity(r): r for r in ok_a}
    paired = {id(b): by_identity[identity(b)] for b in ok_b if identity(b) in by_identity}
    used = {id(a) for a in paired.values()}

    def left(results: list[dict[str, Any]], config: tuple[Any, ...], taken: set[int]) -> list[dict[str, Any]]:
        return [r for r in results if id(r) not in taken and Result(r).configuration == config]

    for b in ok_b:
        if id(b) in paired:
            continue
        config = Result(b).configuration
        rest_a, rest_b = left(ok_a, config, used), left(ok_b, config, set(paired))
        if len(rest_a) == 1 and len(rest_b) == 1:
            paired[id(b)] = rest_a[0]
            used.add(id(rest_a[0]))
    return [(paired[id(b)], b) for b in ok_b if id(b) in paired]


def compare_runs(run_a: list[dict[str, Any]], run_b: list[dict[str, Any]], *, alpha: float = DEFAULT_ALPHA,
                 min_effect: float = DEFAULT_MIN_EFFECT) -> list[Comparison]:
    """Per device x model variant x accelerator measured in both runs, paired by `pair_runs` (failed runs
    skipped): ratios B/A and the latency test."""
    view = viewer([*run_a, *run_b])
    return [compare_pair(a, b, view(b), alpha=alpha, min_effect=min_effect) for a, b in pair_runs(run_a, run_b)]


def compare_pair(a: dict[str, Any], b: dict[str, Any], shown: Result | None = None, *, alpha: float = DEFAULT_ALPHA,
                 min_effect: float = DEFAULT_MIN_EFFECT) -> Comparison:
    """B against A: the ratio B/A of every figure B's workload tracks, whether their intervals lie apart, and the
    test on each timed distribution's raw samples; `shown` labels it."""
    shown = shown or Result(b)
    workload = workload_of(b)
    ratios = {name: _ratio(metric_value(a, name), metric_value(b, name)) for name in workload.tracked}
    apart = {name: above(a, b, name) or above(b, a, name) for name in workload.tracked
             if metric_interval(a, name) and metric_interval(b, name)}
    tests = {name: latency_test(*(list(value_at(r, f"{path}.samples_ms") or []) for r in (a, b)), alpha=alpha,
                                min_effect=min_effect) for name, path in workload.distributions}
    return Comparison(shown.device, shown.ref_label, ratios, tests, a, b, op_changes(a, b), apart)


TOP_OPS = 5  # operator types named as the change's contributors


@dataclass
class _Moves:
    """One op type's nodes that ran on the CPU fallback in one Result and not in the other."""

    words: Counter[str] = field(default_factory=Counter)  # 'fell back from xnnpack to builtin' -> nodes
    fell_back: int = 0

    def text(self) -> str:
        return "; ".join(f"{n} node{'s' if n != 1 else ''} {what}" for what, n in self.words.items())


def _moves(a: dict[str, Any], b: dict[str, Any]) -> dict[str, _Moves]:
    """Per op type, its nodes that fell back to the CPU kernels in B but ran on an accelerator in A, or the
    reverse."""
    placements = Result(a).section("placement"), Result(b).section("placement")
    fell_a, fell_b = ({n["node"]: n for n in p.get("fallback_nodes") or []} for p in placements)
    moves: dict[str, _Moves] = {}
    for fell, other, placement, back in ((fell_b, fell_a, placements[0], True), (fell_a, fell_b, placements[1], False)):
        for node, entry in fell.items():
            if node in other:
                continue
            on = "+".join(x for x in placement.get("active") or [] if x != entry["ran_on"])
            if not on:  # no accelerator on the other side: the node ran on the CPU kernels there too
                continue
            move = moves.setdefault(entry["op"], _Moves())
            move.words[f"fell back from {on} to {entry['ran_on']}" if back else
                       f"moved from {entry['ran_on']} onto {on}"] += 1
            move.fell_back += back
    return moves


def op_changes(a: dict[str, Any], b: dict[str, Any], top: int = TOP_OPS) -> list[OpChange] | None:
    """The `top` operator types whose time per run changed most from A to B (those that changed), and any whose
    nodes moved to or from the CPU fallback, largest change first, each with its share of the summed absolute change
    and that move, if one happened; None unless both Results have an op profile of the same method (every op type
    is listed in a profile, so a type absent from one took no time there)."""
    profile_a, profile_b = Result(a).section("op_profile"), Result(b).section("op_profile")
    if not profile_a or not profile_b or profile_a.get("method") != profile_b.get("method"):
        return None
    ms_a = {row["op"]: float(row.get("ms_per_run") or 0.0) for row in profile_a.get("by_op_type") or []}
    ms_b = {row["op"]: float(row.get("ms_per_run") or 0.0) for row in profile_b.get("by_op_type") or []}
    deltas = {op: ms_b.get(op, 0.0) - ms_a.get(op, 0.0) for op in {*ms_a, *ms_b}}
    total = sum(abs(d) for d in deltas.values()) or 1.0
    moves = _moves(a, b)
    ranked = sorted(deltas, key=lambda op: (-abs(deltas[op]), op))
    ranked = [op for i, op in enumerate(ranked) if (i < top and deltas[op]) or op in moves]
    return [OpChange(op, ms_a.get(op, 0.0), ms_b.get(op, 0.0), abs(deltas[op]) / total,
                     moves[op].text() if op in moves else None, moves[op].fell_back if op in moves else 0)
            for op in ranked]


def ops_json(ops: list[OpChange] | None) -> list[dict[str, Any]] | None:
    """Operator changes as `compare --json` and `explain --json` print them (None: not both profiled)."""
    return None if ops is None else [{**asdict(o), "delta_ms": o.delta_ms} for o in ops]


def slowdowns(c: Comparison, max_ratio: float) -> list[tuple[str, LatencyTest]]:
    """The timed distributions of one comparison that got significantly slower, their median by more than
    `max_ratio` (name, test)."""
    return [(name, test) for name, test in c.tests.items()
            if test.verdict == "slower" and (test.median_ratio or 0.0) > max_ratio]


def regressions(comparisons: list[Comparison], max_ratio: float) -> list[Comparison]:
    """The comparisons with a significant slow-down whose median grew by more than `max_ratio` (slowdowns)."""
    return [c for c in comparisons if slowdowns(c, max_ratio)]


def history_rows(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per Result, oldest first: when, which run, what was measured (the model file's short sha, scenario,
    threads, accelerator), its workload and the figures that workload tracks (`figures`, by metric name) with
    their 95% intervals where known and the method of each, and `file_changed`: the model file differs from the
    one in the previous row under the same model label (name, variant, format)."""
    rows, last_sha = [], {}
    for v in (Result(r) for r in results):
        sha = v.model.get("sha256")
        label = (v.name, v.variant, v.format)
        tracked = workload_of(v.doc).tracked
        rows.append({"created": v.created, "run_id": v.run_id, "device": v.doc.get("device"), "model": v.ref_label,
                     "sha": sha[:8] if sha else None, "scenario": v.section("scenario").get("name"),
                     "threads": (v.runtime.get("threads") or {}).get("intra_op"), "accelerator": v.configuration[4],
                     "status": v.doc.get("status"), "workload": workload_of(v.doc).name,
                     "figures": {name: metric_value(v.doc, name) for name in tracked},
                     "intervals": {name: list(ci) for name in tracked if (ci := metric_interval(v.doc, name))},
                     "methods": {name: metric_method(v.doc, name) for name in tracked},
                     "file_changed": label in last_sha and sha != last_sha[label],
                     "previous_sha": (last_sha.get(label) or "")[:8] or None})
        last_sha[label] = sha
    return rows


def change_points(values: list[float | None], *, alpha: float = SERIES_ALPHA, min_effect: float = DEFAULT_MIN_EFFECT,
                  min_segment: int = MIN_SEGMENT) -> list[int]:
    """The indices where a series of figures (one per run, oldest first; None skipped) shifts: each is the first
    point after a change. Binary segmentation: the split with the largest CUSUM |sum of (x - mean)| up to it, with
    at least `min_segment` points each side, is a change point when a two-sided Mann-Whitney U test of the two
    sides gives p < `alpha` and their medians differ by at least `min_effect` (relative); then each side is
    searched the same way (docs/explain.md)."""
    import numpy as np
    from scipy.stats import mannwhitneyu  # only a series long enough to split needs it

    known = [(i, float(v)) for i, v in enumerate(values) if v is not None]
    found: list[int] = []

    def split(lo: int, hi: int) -> None:
        xs = np.array([v for _, v in known[lo:hi]])
        if len(xs) < 2 * min_segment:
            return
        cusum = np.abs(np.cumsum(xs - xs.mean()))[min_segment - 1:len(xs) - min_segment]
        k = int(np.argmax(cusum)) + min_segment
        before, after = np.median(xs[:k]), np.median(xs[k:])
        shift = abs(after - before) / abs(before) if before else float("inf")
        if mannwhitneyu(xs[:k], xs[k:], alternative="two-sided").pvalue < alpha and shift >= min_effect:
            found.append(known[lo + k][0])
            split(lo, lo + k)
            split(lo + k, hi)

    split(0, len(known))
    return sorted(found)
