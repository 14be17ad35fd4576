"""Formatting shared by every report: figures with their method marked, statuses with their symbols."""

from __future__ import annotations

from typing import Any

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


def fmt(value: Any, digits: int = 3) -> str:
    """A number to `digits` significant figures, '-' for missing."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return str(value)


FIGURES = ("p50 ms", "p95 ms", "peak MB", "top-1", "mJ/inf", "size MB")


def key_figures(result: dict[str, Any]) -> dict[str, str]:
    """The figures every table shows for one Result (keyed by FIGURES), as text."""
    view = Result(result)
    latency, power = view.latency, view.power
    ci = (latency.get("ci") or {}).get("p95")
    lat_tag = method_tag(latency.get("method"))
    return {
        "p50 ms": fmt(latency.get("p50_ms")) + lat_tag,
        "p95 ms": fmt(latency.get("p95_ms")) + (f" [{fmt(ci[0])}, {fmt(ci[1])}]" if ci else "") + lat_tag,
        "peak MB": fmt(view.memory.get("peak_rss_mb")),
        "top-1": fmt(view.accuracy.get("top1")),
        "mJ/inf": fmt(power.get("energy_mj_per_inference")) + method_tag(power.get("method")),
        "size MB": fmt(view.model.get("size_bytes", 0) / 1e6),
    }


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
