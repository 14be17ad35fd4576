"""The terminal verdict table: one table per device, one row per model variant."""

from __future__ import annotations

from typing import Any, Callable

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from edgeprof.report.figures import (
    FIGURES,
    STATUS_SYMBOL,
    fmt,
    key_figures,
    method_tag,
    overall,
    verdict_summary,
)
from edgeprof.report.placement import placement_lines
from edgeprof.result import Result, viewer

STYLE = {"fail": "red", "error": "red", "inconclusive": "yellow", "pass": "green", "informational": "cyan",
         "not measured": "dim"}


def _styled(text: str, status: str) -> str:
    style = STYLE.get(status)
    return f"[{style}]{escape(text)}[/{style}]" if style else escape(text)


def _verdict_table(device: str, rows: list[dict[str, Any]], view: Callable[[dict[str, Any]], Result]) -> Table:
    table = Table(title=f"{device}: verdicts", title_justify="left")
    for column in ("model", "constraint", "value", "bound", "status", "method", "why"):
        table.add_column(column)
    for result in rows:
        label = view(result).model_label
        if result.get("status") == "failed":
            error = result.get("error") or {}
            table.add_row(escape(label), "-", "-", "-", _styled("RUN FAILED", "error"), "-",
                          escape(f"{error.get('kind')}: {error.get('message')}"))
        for v in result.get("verdicts") or []:
            table.add_row(
                escape(label), escape(v["constraint"]), escape(fmt(v.get("value")) + method_tag(v.get("method"))),
                escape(f"{v['op']} {v['bound']:g}"), _styled(STATUS_SYMBOL.get(v["status"], v["status"]), v["status"]),
                escape(str(v.get("method"))), escape(v.get("detail") or ""),
            )
    return table


def render_verdicts(results: list[dict[str, Any]], console: Console) -> None:
    """Print one table per device: key figures (methods marked), each constraint's verdict, and where each
    Result's graph ran with its slowest operators."""
    view = viewer(results)
    devices: dict[str, list[dict[str, Any]]] = {}
    for result in results:
        devices.setdefault(result.get("device", "?"), []).append(result)
    for device, rows in devices.items():
        info = Result(rows[0]).device_info
        emulated = f" — emulated ({info['emulated']})" if info.get("emulated") else ""
        table = Table(title=f"{device}{emulated}", title_justify="left")
        table.add_column("model")
        table.add_column("variant")
        table.add_column("runtime")
        for column in FIGURES:
            table.add_column(column, justify="right")
        table.add_column("verdict")
        for result in rows:
            shown = view(result)
            runtime = shown.runtime
            figures = key_figures(result)
            table.add_row(
                escape(shown.name), escape(shown.variant_label),
                escape(f"{runtime.get('name', '-')} {runtime.get('version', '')}".strip()),
                *(escape(figures[c]) for c in FIGURES),
                _styled(verdict_summary(result), overall(result)),
            )
        console.print(table)
        console.print(_verdict_table(device, rows, view))
        for result in rows:
            lines = placement_lines(result)
            if lines:
                console.print(escape(f"{view(result).model_label}:"), highlight=False)
                console.print("\n".join(escape(f"  {line}") for line in lines), highlight=False, soft_wrap=True)
    if any("(est)" in key_figures(r)["mJ/inf"] for r in results):
        console.print("(est) = estimate from CPU utilisation and the profile's idle/max watts, not a measurement")
    if any("(emu)" in key_figures(r)["p95 ms"] for r in results):
        console.print("(emu) = measured under emulation: functional/relative figures, not a real board's latency")
