"""The judge: the one place a status is produced. A Result against its constraints gives verdict rows; judged
Results give the exit code and, per device and model, the recommendation with a reason for every variant not
chosen; `build_report` puts them into the report model (edgeprof.decisions) that every renderer draws.

Stored verdict rows are never judged again here: a recommendation reads the statuses as stored, so a row naming
a metric this version does not know is shown as stored, and `recommend` and the report decide alike by
construction. Accuracy differences count only where McNemar's exact test on the samples both models scored says
so (docs/verdicts.md); latency, and a language model's perplexity, TPOT and TTFT, only where the 95% intervals do
not overlap.
"""

from __future__ import annotations

import math
from typing import Any

from edgeprof.constraints import (
    METRICS,
    OPERATORS,
    TIMED,
    Constraint,
    Workload,
    above,
    meaningless,
    metric_method,
    metric_value,
    value_at,
    workload_of,
)
from edgeprof.decisions import Reason, Recommendation, Report, Status
from edgeprof.errors import EXIT_CONSTRAINT_FAILED, EXIT_DEVICE, EXIT_OK
from edgeprof.proportions import mcnemar_exact
from edgeprof.result import Result
from edgeprof.units import bound_text, figure, p_value, sig, value_text

Doc = dict[str, Any]
ALPHA = 0.05  # McNemar's exact test: two accuracies on the same samples differ below this p-value


# ---------------------------------------------------------------- one Result against its constraints


def _more_samples(latency: Doc, ci: list[float], value: float, bound: float, unit: str) -> str:
    """What would decide a straddling CI (width ~ 1/sqrt(n)), within what the budget allows: about how many more
    samples, the --max-runs that would hold them, or how narrow the interval can get at this budget.

    Uses the CI's half on the bound's side of the estimate: it must shrink below the gap to the bound, and the
    samples it was drawn from (those after the stopping rule's pilot).
    """
    n = int(latency.get("samples") or 0) - int(latency.get("pilot_samples") or 0)
    half = (value - ci[0]) if bound < value else (ci[1] - value)
    gap = abs(value - bound)
    if n <= 0 or gap == 0 or half <= 0:
        return ""
    needed = int(math.ceil(n * (half / gap) ** 2))
    cap = int(latency.get("max_runs") or 5000)
    if needed <= cap:
        return f": about {max(needed - n, 1)} more samples would decide it (--precision {gap / value:.2g})"
    narrowest = half * math.sqrt(n / cap) if n < cap else half
    if needed <= 100 * cap:
        return f": raise --max-runs to {needed} (and --max-seconds to match) to decide it"
    return (f": the interval cannot get narrower than +-{value_text(narrowest, unit)} at this budget (max_runs "
            f"{cap}); the bound is {value_text(gap, unit)} from the estimate")


def server_validity(result: Doc) -> list[Doc]:
    """A `server.valid` verdict row for a fixed-QPS server run (INVALID fails), none without one."""
    run = ((result.get("scenario") or {}).get("run")) or None
    if not run:
        return []
    method = str(result["scenario"].get("method") or "measured")
    status = Status.PASS if run.get("valid") else Status.FAIL
    if method.startswith("emulated"):
        status = Status.INFORMATIONAL
    return [{"constraint": "server.valid", "op": "==", "bound": True, "value": bool(run.get("valid")),
             "status": status.value, "margin": None, "method": method, "unit": "", "source": "scenario",
             "detail": f"{run.get('result')} at {run.get('target_qps')} QPS"
                       + (f": {'; '.join(run.get('invalid_reasons') or [])}" if run.get("invalid_reasons") else "")}]


def judge_one(result: Doc, constraint: Constraint, *, calibrated_emulation: bool = False) -> Doc:
    """One verdict row: status, value, bound, margin, method and a detail saying why."""
    metric = METRICS[constraint.metric]
    row: Doc = {
        "constraint": constraint.metric, "op": constraint.op, "bound": constraint.bound, "value": None,
        "status": Status.NOT_MEASURED.value, "margin": None, "method": metric_method(result, constraint.metric),
        "detail": "",
        "source": constraint.source, "unit": metric.unit,
    }
    if result.get("status") == "failed":
        killed = Result(result).oom_detail
        if killed and constraint.metric == "memory.peak_rss_mb":
            row.update(status=Status.FAIL.value, detail=killed, method="run error")
        else:
            row["detail"] = f"run failed: {(result.get('error') or {}).get('kind', 'error')}"
        return row
    value = value_at(result, metric.path)
    if value is None:
        section = result.get(metric.path.split(".")[0]) or {}
        row["detail"] = section.get("reason") or "not measured in this run"
        return row
    value = float(value)
    passed = OPERATORS[constraint.op](value, constraint.bound)
    status = Status.PASS if passed else Status.FAIL
    row.update(value=value, margin=(constraint.bound - value) if constraint.op in ("<=", "<")
               else (value - constraint.bound))
    method = row["method"]
    if method.startswith("estimate"):
        row["detail"] = "estimate, not a measurement"
    if method == "none":
        row.update(value=None, margin=None, detail="no sensor or estimate on this device")
        return row
    if metric.percentile:  # the distribution the percentile was read from holds its interval: latency, a TTFT
        distribution = value_at(result, metric.path.rpartition(".")[0]) or {}
        ci = (distribution.get("ci") or {}).get(metric.percentile)
        if ci is None:
            status, row["detail"] = Status.INCONCLUSIVE, "too few samples for a confidence interval"
        elif ci[0] <= constraint.bound <= ci[1]:
            status = Status.INCONCLUSIVE
            row["detail"] = (f"{distribution['ci'].get('confidence', 0.95):.0%} CI [{value_text(ci[0], metric.unit)}, "
                             f"{value_text(ci[1], metric.unit)}] straddles the bound"
                             + _more_samples(distribution, ci, value, constraint.bound, metric.unit))
    pointless = meaningless(result, constraint.metric)
    if pointless:
        status, row["detail"] = Status.INFORMATIONAL, f"{pointless} (would be {status})"
    if method.startswith("emulated") and metric.path.startswith(TIMED) and not calibrated_emulation:
        row["detail"] = f"{method}: emulated timing is not a real board's (would be {status})"
        status = Status.INFORMATIONAL
    row["status"] = status.value
    return row


def applies(result: Doc, constraint: Constraint) -> bool:
    """Whether a constraint is about this Result's kind of model: one on a figure only another workload has (a
    classifier's latency or top-1 for a language model, a generation's TTFT for a classifier) does not apply, so a
    device profile's default constraints judge each kind on what it measures."""
    owner = METRICS[constraint.metric].workload
    return owner is None or owner == workload_of(result).name


def judge(result: Doc, constraints: list[Constraint], *, calibrated_emulation: bool = False) -> list[Doc]:
    """Every applicable constraint's verdict for one Result (see `applies`)."""
    return ([judge_one(result, c, calibrated_emulation=calibrated_emulation) for c in constraints
             if applies(result, c)] + server_validity(result))


def exit_code(results: list[Doc], *, strict: bool = False) -> int:
    """0 all met, 1 a constraint failed (or inconclusive with strict), 3 a run failed for a non-memory reason or
    ran out of memory with no failed verdict to say so: a failed run never exits 0."""
    code = EXIT_OK
    for result in results:
        failed_verdict = any((status := _status(v)) is not None and status.failing(strict=strict)
                             for v in result.get("verdicts") or [])
        if result.get("status") == "failed" and not (Result(result).oom_detail and failed_verdict):
            return EXIT_DEVICE
        if failed_verdict:
            code = EXIT_CONSTRAINT_FAILED
    return code


def _status(verdict: Doc) -> Status | None:
    return Status.of(verdict.get("status"))


# ---------------------------------------------------------------- which variant to ship, and why not the others


def latest_variants(results: list[Doc]) -> list[Doc]:
    """The last Result per device x model x variant x format x accelerator (input oldest to newest), in first-seen
    order."""
    latest: dict[tuple[str | None, ...], Doc] = {}
    for result in results:
        latest[Result(result).configuration] = result
    return list(latest.values())


def _feasible(verdict: Doc) -> bool:
    """A verdict that lets a variant through: a pass, or informational (emulated) figures that would pass."""
    status = _status(verdict)
    if status is Status.PASS:
        return True
    return (status is Status.INFORMATIONAL and verdict.get("value") is not None and verdict.get("op") in OPERATORS
            and OPERATORS[verdict["op"]](verdict["value"], verdict["bound"]))


def _constraint_reason(verdict: Doc) -> Reason:
    """'fails latency.p95_ms <= 100 ms (value 142 ms)' and the like, for the verdict that rules a variant out."""
    unit = verdict.get("unit") or ""
    text = f"{verdict['constraint']} {verdict.get('op', '')} {bound_text(verdict.get('bound'), unit)}".strip()
    status = _status(verdict)
    value = f" (value {value_text(verdict.get('value'), unit)})" if verdict.get("value") is not None else ""
    detail = f": {verdict['detail']}" if verdict.get("detail") else ""
    if status is Status.FAIL:
        words = f"fails {text}{value}"
    elif status is Status.INCONCLUSIVE:
        words = f"inconclusive on {text}{value}{detail}"
    elif status is Status.NOT_MEASURED:
        words = f"not measured: {text}{detail}"
    elif status is Status.INFORMATIONAL:
        words = f"would fail {text}{value}{detail}"
    else:
        words = f"{verdict.get('status')} on {text}{value} (a status this version does not know)"
    return Reason("constraint", words, verdict=verdict)


ORDER = {Status.FAIL: 0, Status.INCONCLUSIVE: 1, Status.NOT_MEASURED: 2, Status.INFORMATIONAL: 3}


def blocking_reason(result: Doc) -> Reason | None:
    """Why a variant cannot be chosen (a failed run first, then its worst stored verdict), None when it meets
    every constraint."""
    view = Result(result)
    if not view.ok:
        failing = [v for v in view.verdicts if _status(v) is Status.FAIL]
        if failing:
            return _constraint_reason(failing[0])
        return Reason("run", f"run failed: {view.error.get('kind')}: {view.error.get('message')}")
    blocking = sorted((v for v in view.verdicts if not _feasible(v)), key=lambda v: ORDER.get(_status(v), 4))
    return _constraint_reason(blocking[0]) if blocking else None


def accuracy_test(a: Doc, b: Doc) -> tuple[bool, float | None]:
    """Whether a's top-1 is supported as higher than b's, and the p-value behind it: McNemar's exact test where
    both scored the same samples (same dataset, per-sample answers recorded), else (older Results) only where the
    95% Wilson intervals do not overlap (p None)."""
    top_a, top_b = metric_value(a, "accuracy.top1"), metric_value(b, "accuracy.top1")
    if top_a is None or top_b is None or top_a <= top_b:
        return False, None
    view_a, view_b = Result(a), Result(b)
    correct_a, correct_b = view_a.correct, view_b.correct  # each unpacked once
    if (correct_a is not None and correct_b is not None and len(correct_a) == len(correct_b)
            and view_a.accuracy.get("dataset_sha256") == view_b.accuracy.get("dataset_sha256")):
        only_a = sum(x and not y for x, y in zip(correct_a, correct_b))
        only_b = sum(y and not x for x, y in zip(correct_a, correct_b))
        p = mcnemar_exact(only_a, only_b)
        return p < ALPHA, p
    return above(a, b, "accuracy.top1"), None


def better_quality(a: Doc, b: Doc, workload: Workload) -> tuple[bool, float | None]:
    """Whether a's quality figure is supported as better than b's, and the p-value where a test gives one: top-1
    by accuracy_test; another (a language model's perplexity) only where the 95% intervals do not overlap."""
    if workload.quality == "accuracy.top1":
        return accuracy_test(a, b)
    return (above(a, b, workload.quality) if METRICS[workload.quality].higher else above(b, a, workload.quality)), None


def _worse(a: Doc, b: Doc, name: str) -> bool:
    """Whether metric `name` is supported as worse in a than in b: their 95% intervals do not overlap."""
    return above(b, a, name) if METRICS[name].higher else above(a, b, name)


def _rank(result: Doc, name: str) -> float:
    """A metric's value for sorting, best first (missing last)."""
    value = metric_value(result, name)
    return math.inf if value is None else -value if METRICS[name].higher else value


def _more(a: Doc, b: Doc, name: str) -> bool:
    va, vb = metric_value(a, name), metric_value(b, name)
    return va is not None and vb is not None and va > vb


def _p(p: float | None) -> str:
    return "95% intervals do not overlap" if p is None else p_value(p)


def _text(result: Doc, name: str) -> str:
    """A metric's value as a reason shows it, beside its label (units.figure)."""
    return figure(metric_value(result, name), METRICS[name].unit)


# how a variant that loses on its workload's quality figure is described, before 'its value vs the leader's'
WORSE_QUALITY = {"classifier": "less accurate: top-1", "generative": "higher perplexity:"}


def _choose(passing: list[Doc], workload: Workload) -> tuple[Doc | None, list[tuple[Doc, Reason]]]:
    """The pick among variants that meet every constraint, and why each other lost: the workload's quality figure
    first (only a supported difference counts: below the best by the test, out), then its speed figures in turn
    (only where the 95% intervals do not overlap: a variant another beats so is never the pick), then energy, then
    size, and only then the speed figures' values (a difference the data does not support breaks a tie last)."""
    if not passing:
        return None, []
    lost: list[tuple[Doc, Reason]] = []
    quality, noun = workload.quality, workload.quality_noun
    label = METRICS[quality].label
    leader = min(passing, key=lambda r: _rank(r, quality))
    tier = []
    for result in passing:
        better, p = better_quality(leader, result, workload)
        if better:
            lost.append((result, Reason(noun, f"{WORSE_QUALITY[workload.name]} {_text(result, quality)} vs "
                                              f"{_text(leader, quality)}, {_p(p)}", p_value=p)))
        elif metric_value(leader, quality) is not None and metric_value(result, quality) is None:
            lost.append((result, Reason(noun, f"{noun} not measured (the others' {label} is)")))
        else:
            tier.append(result)

    def key(r: Doc) -> tuple[float, ...]:  # beaten on speed with intervals apart, energy, size; then speed's values
        beaten = (float(any(_worse(r, other, name) for other in tier)) for name in workload.speed)
        return (*beaten, _rank(r, workload.energy), _rank(r, "model.size_mb"),
                *(_rank(r, name) for name in workload.speed))

    best = min(tier, key=key)
    speed = "/".join(METRICS[name].label for name in workload.speed)
    energy = METRICS[workload.energy].label
    for result in tier:
        if result is best:
            continue
        slower = next((name for name in workload.speed if _worse(result, best, name)), None)
        if slower is not None:
            reason = Reason("latency", f"slower at equal {noun}: {METRICS[slower].label} {_text(result, slower)} vs "
                                       f"{_text(best, slower)}")
        elif _more(result, best, workload.energy):
            reason = Reason("energy", f"more energy at equal {noun} and {speed}: "
                                      f"{sig(metric_value(result, workload.energy))} vs "
                                      f"{sig(metric_value(best, workload.energy))} {energy}")
        elif _more(result, best, "model.size_mb"):
            reason = Reason("size", f"larger at equal {noun}, {speed} and energy: {_text(result, 'model.size_mb')}"
                                    f" vs {_text(best, 'model.size_mb')}")
        else:
            shown = ", ".join(f"{METRICS[name].label} ({_text(result, name)} vs {_text(best, name)})"
                              for name in workload.speed)
            reason = Reason("tie", f"tied with the pick on {noun}, {shown}, energy and size")
        lost.append((result, reason))
    return best, lost


def pareto_front(results: list[Doc], cost: str, quality: str = "accuracy.top1") -> list[Doc]:
    """Results no other beats on both better `quality` and lower `cost` (metric names), sorted by that cost."""
    points = [(r, -_rank(r, quality), metric_value(r, cost)) for r in results]
    points = [(r, q, c) for r, q, c in points if c is not None]
    front = [r for r, q, c in points
             if not any(q2 >= q and c2 <= c and (q2 > q or c2 < c) for _, q2, c2 in points)]
    return sorted(front, key=lambda r: metric_value(r, cost) or 0.0)


def recommend(results: list[Doc]) -> list[Recommendation]:
    """One Recommendation per device x model over the latest judged Result of each (variant, accelerator), read
    from the verdicts as stored: every variant not chosen carries its reason; the figures weighed are the model's
    workload's (constraints.Workload: top-1 and p95 for a classifier, perplexity and TPOT/TTFT for a language
    model)."""
    groups: dict[tuple[str, str], list[Doc]] = {}
    for result in latest_variants(results):
        view = Result(result)
        groups.setdefault((view.device, view.name), []).append(result)
    recommendations = []
    for (device, model), rows in groups.items():
        workload = workload_of(rows[0])
        passing, rejected = [], []
        for result in rows:
            reason = blocking_reason(result)
            if reason is None:
                passing.append(result)
            else:
                rejected.append((result, reason))
        best, lost = _choose(passing, workload)
        measured = [r for r in rows if Result(r).ok]
        recommendations.append(Recommendation(
            device=device, model=model, best=best,
            front=pareto_front(measured, workload.speed[0], workload.quality),
            energy_front=pareto_front(measured, workload.energy, workload.quality),
            rejected=sorted(lost + rejected, key=lambda pair: rows.index(pair[0])),
            candidates=rows))
    return recommendations


def build_report(results: list[Doc]) -> Report:
    """The report model of judged Results: their verdicts as stored and the recommendation per device x model."""
    return Report(results, {(rec.device, rec.model): rec for rec in recommend(results)})
