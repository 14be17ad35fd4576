"""The judge: the one place a status is produced. A Result against its constraints gives verdict rows; judged
Results give the exit code and, per device and model, the recommendation with a reason for every variant not
chosen; `build_report` puts them into the report model (edgeprof.decisions) that every renderer draws.

Stored verdict rows are never judged again here: a recommendation reads the statuses as stored, so a row naming
a metric this version does not know is shown as stored, and `recommend` and the report decide alike by
construction. Accuracy differences count only where McNemar's exact test on the samples both models scored says
so (docs/verdicts.md); latency only where the p95 intervals do not overlap.
"""

from __future__ import annotations

import math
from typing import Any

from edgeprof.constraints import METRICS, OPERATORS, TIMED, Constraint, Metric, value_at
from edgeprof.decisions import Reason, Recommendation, Report, Status
from edgeprof.errors import EXIT_CONSTRAINT_FAILED, EXIT_DEVICE, EXIT_OK
from edgeprof.proportions import mcnemar_exact
from edgeprof.result import Result
from edgeprof.units import bound_text, duration, p_value, sig, size, value_text

Doc = dict[str, Any]
ALPHA = 0.05  # McNemar's exact test: two accuracies on the same samples differ below this p-value


# ---------------------------------------------------------------- one Result against its constraints


def _method(result: Doc, metric: Metric) -> str:
    section = metric.method_section if metric.method_section is not None else metric.path.split(".")[0]
    if not section:
        return "host"
    return str((result.get(section) or {}).get("method") or "none")


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
        "status": Status.NOT_MEASURED.value, "margin": None, "method": _method(result, metric), "detail": "",
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
    compared = (result.get("accuracy") or {}).get("reference") or {}
    if metric.path == "accuracy.reference.agreement_top1" and compared.get("meaningful") is False:
        status, row["detail"] = Status.INFORMATIONAL, f"{compared['reason']} (would be {status})"
    if method.startswith("emulated") and metric.path.startswith(TIMED) and not calibrated_emulation:
        row["detail"] = f"{method}: emulated timing is not a real board's (would be {status})"
        status = Status.INFORMATIONAL
    row["status"] = status.value
    return row


def judge(result: Doc, constraints: list[Constraint], *, calibrated_emulation: bool = False) -> list[Doc]:
    """Every constraint's verdict for one Result."""
    return ([judge_one(result, c, calibrated_emulation=calibrated_emulation) for c in constraints]
            + server_validity(result))


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


def _figure(result: Doc, path: str) -> float | None:
    value = value_at(result, path)
    return float(value) if value is not None else None


def accuracy_test(a: Doc, b: Doc) -> tuple[bool, float | None]:
    """Whether a's top-1 is supported as higher than b's, and the p-value behind it: McNemar's exact test where
    both scored the same samples (same dataset, per-sample answers recorded), else (older Results) only where the
    95% Wilson intervals do not overlap (p None)."""
    top_a, top_b = _figure(a, "accuracy.top1"), _figure(b, "accuracy.top1")
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
    ci_a, ci_b = view_a.top1_interval, view_b.top1_interval
    return bool(ci_a and ci_b and ci_a[0] > ci_b[1]), None


def _p95_slower(a: Doc, b: Doc) -> bool:
    """Whether a's p95 is supported as higher than b's: their confidence intervals do not overlap (the values
    alone where an interval is missing)."""
    pa, pb = _figure(a, "latency.p95_ms"), _figure(b, "latency.p95_ms")
    if pa is None or pb is None:
        return False
    ci_a = (Result(a).latency.get("ci") or {}).get("p95")
    ci_b = (Result(b).latency.get("ci") or {}).get("p95")
    if ci_a and ci_b:
        return ci_a[0] > ci_b[1]
    return pa > pb


def _higher(a: Doc, b: Doc, path: str) -> bool:
    va, vb = _figure(a, path), _figure(b, path)
    return va is not None and vb is not None and va > vb


def _p(p: float | None) -> str:
    return "95% intervals do not overlap" if p is None else p_value(p)


def _choose(passing: list[Doc]) -> tuple[Doc | None, list[tuple[Doc, Reason]]]:
    """The pick among variants that meet every constraint, and why each other lost: accuracy first (only a
    supported difference counts: below the most accurate by the test, out), then p95 (intervals apart), then
    energy, then size."""
    if not passing:
        return None, []
    lost: list[tuple[Doc, Reason]] = []

    def top1(r: Doc) -> float:
        value = _figure(r, "accuracy.top1")
        return -math.inf if value is None else value

    leader = max(passing, key=top1)
    tier = []
    for result in passing:
        better, p = accuracy_test(leader, result)
        if better:
            lost.append((result, Reason("accuracy", f"less accurate: top-1 {sig(top1(result))} vs "
                                                    f"{sig(top1(leader))}, {_p(p)}", p_value=p)))
        elif top1(leader) > -math.inf and _figure(result, "accuracy.top1") is None:
            lost.append((result, Reason("accuracy", "accuracy not measured (the others' top-1 is)")))
        else:
            tier.append(result)

    def key(r: Doc) -> tuple[float, float, float]:
        def low(path: str) -> float:
            value = _figure(r, path)
            return math.inf if value is None else value
        return low("latency.p95_ms"), low("power.energy_mj_per_inference"), low("model.size_mb")

    best = min(tier, key=key)
    for result in tier:
        if result is best:
            continue
        p95 = (duration(_figure(result, "latency.p95_ms")), duration(_figure(best, "latency.p95_ms")))
        if _p95_slower(result, best):
            reason = Reason("latency", f"slower at equal accuracy: p95 {p95[0]} vs {p95[1]}")
        elif _higher(result, best, "power.energy_mj_per_inference"):
            reason = Reason("energy", "more energy at equal accuracy and p95: "
                            f"{sig(_figure(result, 'power.energy_mj_per_inference'))} vs "
                            f"{sig(_figure(best, 'power.energy_mj_per_inference'))} mJ/inference")
        elif _higher(result, best, "model.size_mb"):
            reason = Reason("size", f"larger at equal accuracy, p95 and energy: {size(_figure(result, 'model.size_mb'))}"
                            f" vs {size(_figure(best, 'model.size_mb'))}")
        else:
            reason = Reason("tie", f"tied with the pick on accuracy, p95 ({p95[0]} vs {p95[1]}), energy and size")
        lost.append((result, reason))
    return best, lost


def pareto_front(results: list[Doc], cost_path: str) -> list[Doc]:
    """Results no other beats on both higher top-1 accuracy and lower `cost_path` (sorted by that cost)."""
    points = [(r, _figure(r, "accuracy.top1"), _figure(r, cost_path)) for r in results]
    points = [(r, -math.inf if a is None else a, c) for r, a, c in points if c is not None]
    front = [r for r, a, c in points
             if not any(a2 >= a and c2 <= c and (a2 > a or c2 < c) for _, a2, c2 in points)]
    return sorted(front, key=lambda r: _figure(r, cost_path) or 0.0)


def recommend(results: list[Doc]) -> list[Recommendation]:
    """One Recommendation per device x model over the latest judged Result of each (variant, accelerator), read
    from the verdicts as stored: every variant not chosen carries its reason."""
    groups: dict[tuple[str, str], list[Doc]] = {}
    for result in latest_variants(results):
        view = Result(result)
        groups.setdefault((view.device, view.name), []).append(result)
    recommendations = []
    for (device, model), rows in groups.items():
        passing, rejected = [], []
        for result in rows:
            reason = blocking_reason(result)
            if reason is None:
                passing.append(result)
            else:
                rejected.append((result, reason))
        best, lost = _choose(passing)
        measured = [r for r in rows if Result(r).ok]
        recommendations.append(Recommendation(
            device=device, model=model, best=best, front=pareto_front(measured, "latency.p95_ms"),
            energy_front=pareto_front(measured, "power.energy_mj_per_inference"),
            rejected=sorted(lost + rejected, key=lambda pair: rows.index(pair[0])),
            candidates=rows))
    return recommendations


def build_report(results: list[Doc]) -> Report:
    """The report model of judged Results: their verdicts as stored and the recommendation per device x model."""
    return Report(results, {(rec.device, rec.model): rec for rec in recommend(results)})
