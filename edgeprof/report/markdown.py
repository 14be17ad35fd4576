"""A compact Markdown summary (for $GITHUB_STEP_SUMMARY and PR comments): one table per device."""

from __future__ import annotations

from typing import Any

from edgeprof.decisions import Status, overall
from edgeprof.report.escape import markdown_text
from edgeprof.report.figures import (
    by_workload,
    figure_names,
    key_figures,
    mark_notes,
    status_symbol,
    verdict_bound,
    verdict_summary,
    verdict_value,
)
from edgeprof.report.placement import placement_lines
from edgeprof.result import Result, viewer

ICON = {Status.PASS: "✅", Status.FAIL: "❌", Status.INCONCLUSIVE: "⚠️", Status.ERROR: "💥"}


def _cell(text: str) -> str:
    return markdown_text(text)


def _problems(result: dict[str, Any]) -> list[str]:
    """One line per constraint that did not pass outright (of a failed run: only its failures), and why."""
    lines = []
    failed_run = result.get("status") == "failed"
    for v in result.get("verdicts") or []:
        if v["status"] == Status.PASS or (failed_run and v["status"] != Status.FAIL):
            continue
        lines.append(f"`{v['constraint']} {verdict_bound(v)}`: **{status_symbol(v['status'])}**"
                     f" (value {verdict_value(v)}, {v.get('method')})"
                     + (f" — {_cell(v['detail'])}" if v.get("detail") else ""))
    return lines


def to_markdown(results: list[dict[str, Any]]) -> str:
    """One table per device (key figures, estimates and emulation marked, overall verdict), the reasons, and where
    each graph ran."""
    view_of = viewer(results)
    devices: dict[str, list[dict[str, Any]]] = {}
    for result in results:
        devices.setdefault(str(result.get("device", "?")), []).append(result)
    out = ["## edgeprof verdicts", ""] if results else ["## edgeprof verdicts", "", "No results.", ""]
    for device, rows in devices.items():
        emulated = Result(rows[0]).device_info.get("emulated")
        out += [f"### {_cell(device)}" + (f" (emulated: {emulated})" if emulated else ""), ""]
        notes = []
        for workload, members in by_workload(rows):
            headings = figure_names(workload)
            out.append("| model | variant | " + " | ".join(headings) + " | verdict |")
            out.append("|---|---|" + "---:|" * len(headings) + "---|")
            for result in members:
                view = view_of(result)
                figures = key_figures(result)
                status = overall(result)
                out.append(f"| {_cell(view.name)} | {_cell(view.variant_label)} | "
                           + " | ".join(_cell(figures[c]) for c in headings)
                           + f" | {ICON.get(status, '')} {_cell(verdict_summary(result))} |".replace("|  ", "| "))
            out.append("")
        for result in rows:
            view = view_of(result)
            status = overall(result)
            name = _cell(view.model_label)
            notes += [f"- {name}: {line}" for line in _problems(result)]
            if status is Status.ERROR:
                error = result.get("error") or {}
                notes.append(f"- {name}: run failed: "
                             f"{_cell(str(error.get('kind')))}: {_cell(str(error.get('message')))}")
            notes += [f"- {name}: {_cell(line)}" for line in placement_lines(result)]
        out += notes + ([""] if notes else [])
    out += [f"_{note}_" for note in mark_notes(results)]
    return "\n".join(out).rstrip() + "\n"
