"""Formatting shared by every report: figures with their method marked, statuses with their symbols."""

from __future__ import annotations

from typing import Any

from edgeprof.report.units import duration, duration_range, sig
from edgeprof.result import Result

STATUS_SYMBOL = {"pass": "PASS", "fail": "FAIL", "inconclusive": "INCONCLUSIVE", "not measured": "n/m",
                 "informational": "info"}


def method_tag(method: str | None) -> str:
    """A short marker for figures that are not plain measurements: (est) for estimates, (emu) for emulation."""
    if not method:
        return ""
    if method.startswith("estimate"):
        return " (est)"
    if method.startswith("emulated"):
        return " (emu)"
    return ""


fmt = sig  # a number to 3 significant figures, '-' for missing (edgeprof.report.units)

FIGURES = ("p50", "p95", "peak MB", "top-1", "mJ/inf", "size MB")


def latency_text(latency: dict[str, Any], percentile: str, *, interval: bool = True) -> str:
    """One latency percentile ('p95') in the unit that suits it, with its CI when `interval` and known."""
    value = latency.get(f"{percentile}_ms")
    ci = (latency.get("ci") or {}).get(percentile)
    return duration_range(value, *ci) if interval and ci and value is not None else duration(value)


def key_figures(result: dict[str, Any], *, intervals: bool = True) -> dict[str, str]:
    """The figures every table shows for one Result (keyed by FIGURES), as text; latencies in the unit that suits
    them, p95 with its CI when `intervals`."""
    view = Result(result)
    latency, power = view.latency, view.power
    lat_tag = method_tag(latency.get("method"))
    return {
        "p50": latency_text(latency, "p50", interval=False) + lat_tag,
        "p95": latency_text(latency, "p95", interval=intervals) + lat_tag,
        "peak MB": fmt(view.memory.get("peak_rss_mb")),
        "top-1": fmt(view.accuracy.get("top1")),
        "mJ/inf": fmt(power.get("energy_mj_per_inference")) + method_tag(power.get("method")),
        "size MB": fmt(view.model.get("size_bytes", 0) / 1e6),
    }


def verdict_value(verdict: dict[str, Any]) -> str:
    """A verdict's value in its unit (durations in the unit that suits them), its method marked."""
    value = verdict.get("value")
    text = duration(value) if verdict.get("unit") == "ms" and value is not None else fmt(value)
    return text + method_tag(verdict.get("method"))


def verdict_bound(verdict: dict[str, Any]) -> str:
    """'<= 50.0 ms', '>= 0.9': a verdict's operator and bound (durations in the unit that suits them, others as typed)."""
    bound = verdict.get("bound")
    if bound is None:
        return f"{verdict['op']} -"
    unit = verdict.get("unit") or ""
    return f"{verdict['op']} " + (duration(bound) if unit == "ms" else f"{bound:g} {unit}".strip())


def verdict_method(verdict: dict[str, Any]) -> str:
    """How the verdict's value was obtained, as its status allows: '-' where nothing was measured."""
    return "-" if verdict.get("status") == "not measured" else str(verdict.get("method") or "-")


WORST_FIRST = ("fail", "inconclusive", "pass", "informational", "not measured")


def overall(result: dict[str, Any]) -> str:
    """The result's worst verdict (a failed run is 'error'), with the constraints that have it."""
    if result.get("status") == "failed":
        return "error"
    statuses = [v["status"] for v in result.get("verdicts") or []]
    for status in WORST_FIRST:
        if status in statuses:
            return status
    return "no constraints"


def verdict_summary(result: dict[str, Any]) -> str:
    """One short line: the worst status and the constraints that have it."""
    status = overall(result)
    if status == "error":
        error = result.get("error") or {}
        return f"RUN FAILED ({error.get('kind')})"
    names = [v["constraint"] for v in result.get("verdicts") or [] if v["status"] == status]
    label = STATUS_SYMBOL.get(status, status)
    return label if status == "pass" else f"{label}: {', '.join(names)}" if names else label
