"""Formatting shared by every report: figures with their method marked, statuses with their symbols."""

from __future__ import annotations

from typing import Any

from edgeprof.decisions import Status, overall
from edgeprof.result import Result
from edgeprof.units import bound_text, duration, duration_range, file_size, sig, size, value_text

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

FIGURES = ("p50", "p95", "peak mem", "top-1", "mJ/inf", "size")


def latency_text(latency: dict[str, Any], percentile: str, *, interval: bool = True) -> str:
    """One latency percentile ('p95') in the unit that suits it, with its CI when `interval` and known."""
    value = latency.get(f"{percentile}_ms")
    ci = (latency.get("ci") or {}).get(percentile)
    return duration_range(value, *ci) if interval and ci and value is not None else duration(value)


def key_figures(result: dict[str, Any], *, intervals: bool = True) -> dict[str, str]:
    """The figures every table shows for one Result (keyed by FIGURES), as text; latencies and sizes in the unit
    that suits them, p95 with its CI when `intervals`."""
    view = Result(result)
    latency, power = view.latency, view.power
    lat_tag = method_tag(latency.get("method"))
    return {
        "p50": latency_text(latency, "p50", interval=False) + lat_tag,
        "p95": latency_text(latency, "p95", interval=intervals) + lat_tag,
        "peak mem": size(view.memory.get("peak_rss_mb")),
        "top-1": top1_text(view, interval=intervals),
        "mJ/inf": fmt(power.get("energy_mj_per_inference")) + method_tag(power.get("method")),
        "size": file_size(view.model.get("size_bytes")),
    }


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


def top1_text(view: Result, *, interval: bool = True) -> str:
    """Top-1 accuracy with its 95% Wilson interval over the samples scored ('0.95 [0.93, 0.97]')."""
    top1 = view.accuracy.get("top1")
    ci = view.top1_interval if interval else None
    return fmt(top1) + (f" [{fmt(ci[0])}, {fmt(ci[1])}]" if ci else "")


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
    marks = " ".join(key_figures(r)["mJ/inf"] + key_figures(r)["p95"] for r in results)
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
