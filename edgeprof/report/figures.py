"""Formatting shared by every report: figures with their method marked, statuses with their symbols."""

from __future__ import annotations

from typing import Any

from edgeprof.constraints import (
    METRICS,
    Workload,
    meaningless,
    metric_interval,
    metric_method,
    metric_value,
    workload_of,
)
from edgeprof.decisions import Status, overall
from edgeprof.result import Result
from edgeprof.units import bound_text, duration, duration_range, figure, sig, value_text

STATUS_SYMBOL = {Status.PASS: "PASS", Status.FAIL: "FAIL", Status.INCONCLUSIVE: "INCONCLUSIVE",
                 Status.NOT_MEASURED: "n/m", Status.INFORMATIONAL: "info"}


def status_symbol(status: str) -> str:
    """How a stored status is shown: its symbol, or the status as stored where this version does not know it."""
    known = Status.of(status)
    return STATUS_SYMBOL.get(known, status) if known is not None else str(status)


def method_tag(method: str | None) -> str:
    """A short marker for figures that are not plain measurements: (est) for estimates, (emu) for emulation."""
    if not method:
        return ""
    if method.startswith("estimate"):
        return " (est)"
    if method.startswith("emulated"):
        return " (emu)"
    return ""


fmt = sig  # a number to 3 significant figures, '-' for missing (edgeprof.units)

def figure_names(workload: Workload) -> tuple[str, ...]:
    """The headings of a workload's key figures, in order: the keys of key_figures."""
    return tuple(METRICS[name].label for name in workload.figures)


def latency_text(latency: dict[str, Any], percentile: str, *, interval: bool = True) -> str:
    """One latency percentile ('p95') in the unit that suits it, with its CI when `interval` and known."""
    value = latency.get(f"{percentile}_ms")
    ci = (latency.get("ci") or {}).get(percentile)
    return duration_range(value, *ci) if interval and ci and value is not None else duration(value)


def figure_text(result: dict[str, Any], name: str, *, interval: bool = True) -> str:
    """One metric of a Result as tables show it: durations and sizes in the unit that suits them, others to 3 figures, its
    95% interval beside it when `interval` and known, its method marked; an agreement against a reference whose
    outputs do not vary is marked meaningless."""
    value = metric_value(result, name)
    text = figure(value, METRICS[name].unit, metric_interval(result, name) if interval else None)
    if value is not None and meaningless(result, name):
        text += " (meaningless)"
    return text + method_tag(metric_method(result, name))


def by_workload(results: list[dict[str, Any]]) -> list[tuple[Workload, list[dict[str, Any]]]]:
    """The Results grouped by workload (each group a table with its own figures), groups in first-seen order."""
    groups: dict[str, tuple[Workload, list[dict[str, Any]]]] = {}
    for result in results:
        workload = workload_of(result)
        groups.setdefault(workload.name, (workload, []))[1].append(result)
    return list(groups.values())


def key_figures(result: dict[str, Any], *, intervals: bool = True) -> dict[str, str]:
    """The figures every table shows for one Result, those of its workload (constraints.Workload: latency, memory,
    top-1, energy and size of a classifier; TTFT, TPOT, tokens/s, energy per token, perplexity, agreement, memory
    and size of a language model), keyed by heading; p95, top-1, TTFT, TPOT and perplexity with their 95% intervals
    when `intervals`."""
    workload = workload_of(result)
    return {METRICS[name].label: figure_text(result, name, interval=intervals and name in workload.intervals)
            for name in workload.figures}


REFERENCE_FIGURES = ("agree", "SQNR dB", "drop")


def reference_figures(result: dict[str, Any]) -> dict[str, str]:
    """How one Result's outputs compare with its reference (keyed by REFERENCE_FIGURES): top-1 agreement, SQNR
    ('identical' for no difference at all), top-1 accuracy drop; 'n/m' where the reference's outputs never vary,
    '-' where there was no reference."""
    compared = Result(result).accuracy.get("reference") or {}
    if compared.get("meaningful") is False:
        return dict.fromkeys(REFERENCE_FIGURES, STATUS_SYMBOL[Status.NOT_MEASURED])
    return {"agree": fmt(compared.get("agreement_top1")),
            "SQNR dB": "identical" if compared.get("identical") else fmt(compared.get("sqnr_db")),
            "drop": fmt(compared.get("accuracy_drop"))}


def speed_text(result: dict[str, Any]) -> str:
    """'p95 1.23 ms', 'TPOT p95 31.0 ms': the first speed figure of a Result's workload, as one-line summaries name
    it."""
    name = workload_of(result).speed[0]
    return f"{METRICS[name].label} {figure_text(result, name, interval=False)}"


def verdict_value(verdict: dict[str, Any]) -> str:
    """A verdict's value in its unit ('1.23 ms', '41.2 MB', '0.840': edgeprof.units.value_text), its method
    marked."""
    return value_text(verdict.get("value"), verdict.get("unit") or "") + method_tag(verdict.get("method"))


def verdict_bound(verdict: dict[str, Any]) -> str:
    """'<= 50.0 ms', '<= 512 MB', '>= 0.9': a verdict's operator and bound in its unit (units.bound_text)."""
    return f"{verdict['op']} {bound_text(verdict.get('bound'), verdict.get('unit') or '')}"


def verdict_why(verdict: dict[str, Any]) -> str:
    """Why a verdict is what it is: the judge's detail, else for a failure its value against its bound."""
    if verdict.get("detail"):
        return str(verdict["detail"])
    if Status.of(verdict.get("status")) is Status.FAIL:
        return f"{verdict_value(verdict)}, needs {verdict_bound(verdict)}"
    return ""


MARK_NOTES = {"(est)": "(est) = estimate from CPU utilisation and the profile's idle/max watts, not a measurement; "
                       "hatched bars in the figures.",
              "(emu)": "(emu) = measured under emulation: functional/relative figures, not a real board's latency."}


def mark_notes(results: list[dict[str, Any]]) -> list[str]:
    """The legend of the marks these results' figures carry, only those present."""
    marks = " ".join(text for r in results for text in key_figures(r).values())
    return [note for mark, note in MARK_NOTES.items() if mark in marks]


def verdict_method(verdict: dict[str, Any]) -> str:
    """How the verdict's value was obtained, as its status allows: '-' where nothing was measured."""
    return "-" if verdict.get("status") == Status.NOT_MEASURED else str(verdict.get("method") or "-")


def verdict_summary(result: dict[str, Any]) -> str:
    """One short line: the worst status and the constraints that have it."""
    status = overall(result)
    if status is Status.ERROR:
        error = result.get("error") or {}
        return f"RUN FAILED ({error.get('kind')})"
    names = [v["constraint"] for v in result.get("verdicts") or [] if v["status"] == status.value]
    label = STATUS_SYMBOL.get(status, status.value)
    return label if status is Status.PASS else f"{label}: {', '.join(names)}" if names else label
