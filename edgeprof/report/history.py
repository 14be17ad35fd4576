"""Results over time and run against run, for the terminal: the history table, the comparison table and JSON."""

from __future__ import annotations

from typing import Any

from rich.markup import escape
from rich.table import Table

from edgeprof.compare import Comparison
from edgeprof.report.figures import fmt, method_tag
from edgeprof.result import Result

HISTORY_COLUMNS = ("created", "run_id", "device", "model", "p50_ms", "p95_ms", "peak_rss_mb", "top1", "energy_mj")
_METHOD_OF = {"p50_ms": "latency_method", "p95_ms": "latency_method", "energy_mj": "power_method"}
_RATIOS = ("p50_ms", "p95_ms", "peak_rss_mb", "top1", "energy_mj")


def history_table(rows: list[dict[str, Any]]) -> Table:
    """One row per history row (edgeprof.compare.history_rows), figures with their method marked."""
    table = Table(title="History", title_justify="left")
    for column in HISTORY_COLUMNS:
        table.add_column(column)
    for row in rows:
        if row["status"] == "failed":
            table.add_row(*(escape(str(row[c])) for c in HISTORY_COLUMNS[:4]),
                          *["failed"] * (len(HISTORY_COLUMNS) - 4))
            continue
        table.add_row(*(escape(fmt(row[c]) + (method_tag(row[_METHOD_OF[c]]) if c in _METHOD_OF else ""))
                        for c in HISTORY_COLUMNS))
    return table


def comparison_table(title: str, comparisons: list[Comparison]) -> Table:
    """B/A ratios of the key figures and the latency test's verdict, one row per device x model variant."""
    table = Table(title=title, title_justify="left")
    for column in ("device", "model", "p50", "p95", "peak MB", "top-1", "mJ/inf", "latency", "median", "p-value"):
        table.add_column(column)
    for c in comparisons:
        style = {"slower": "red", "faster": "green"}.get(c.latency.verdict)
        verdict = f"[{style}]{c.latency.verdict}[/{style}]" if style else escape(c.latency.verdict)
        ratios = [f"x{c.ratios[k]:.3f}" if c.ratios[k] is not None else "-" for k in _RATIOS]
        table.add_row(escape(c.device), escape(c.model), *ratios, verdict,
                      f"x{c.latency.median_ratio:.3f}" if c.latency.median_ratio else "-",
                      f"{c.latency.p_value:.2g}" if c.latency.p_value is not None else "-")
    return table


def regression_line(c: Comparison, max_ratio: float) -> str:
    """The rich-markup line naming one regression that fails `check --baseline`."""
    return (f"[red]regression[/red]: {escape(Result(c.b).label)} median latency "
            f"x{c.latency.median_ratio:.3f} > --max-ratio {max_ratio:g} (p = {c.latency.p_value:.2g})")


def accuracy_drop_line(c: Comparison, drop: float, max_drop: float) -> str:
    """The rich-markup line naming one top-1 drop (`drop`, absolute) that fails the baseline gate."""
    return (f"[red]accuracy drop[/red]: {escape(Result(c.b).label)} top-1 {Result(c.a).accuracy['top1']:.4g} -> "
            f"{Result(c.b).accuracy['top1']:.4g} (-{drop:.4g} > --max-drop {max_drop:g})")


def comparison_json(c: Comparison) -> dict[str, Any]:
    """One comparison as the JSON `compare --json` and `check --json` print."""
    return {"device": c.device, "model": c.model, "ratios": c.ratios, "latency": c.latency.__dict__,
            "run_a": c.a.get("run_id"), "run_b": c.b.get("run_id")}
