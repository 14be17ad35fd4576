"""Results over time and run against run, for the terminal: the history table, the comparison table and JSON."""

from __future__ import annotations

from typing import Any

from rich.markup import escape
from rich.table import Table

from edgeprof.compare import BELOW_EFFECT, Comparison, ops_json
from edgeprof.report.figures import fmt, method_tag
from edgeprof.report.units import p_value
from edgeprof.result import Result

HISTORY_COLUMNS = ("run_id", "device", "model", "sha", "scenario", "threads", "accelerator", "p50_ms",
                   "p95_ms", "peak_rss_mb", "top1", "energy_mj")
_HEADINGS = {"run_id": "run (time UTC)", "sha": "file", "accelerator": "provider", "scenario": "scenario", "p50_ms": "p50 ms", "p95_ms": "p95 ms",
             "peak_rss_mb": "peak MB", "top1": "top-1", "energy_mj": "mJ/inf"}
_WRAP = ("device", "model")  # the others keep their width: a run id, a sha or a figure cut short misleads
_FIGURES_FROM = HISTORY_COLUMNS.index("p50_ms")
CHANGED_MARK = "!"
_METHOD_OF = {"p50_ms": "latency_method", "p95_ms": "latency_method", "energy_mj": "power_method"}
_RATIOS = ("p50_ms", "p95_ms", "peak_rss_mb", "top1", "energy_mj")


def history_table(rows: list[dict[str, Any]]) -> Table:
    """One row per history row (edgeprof.compare.history_rows), figures with their method marked, a model file
    that differs from the previous one under the same label marked '!' (see `history_notes`)."""
    table = Table(title="History", title_justify="left")
    for column in HISTORY_COLUMNS:
        table.add_column(_HEADINGS.get(column, column), no_wrap=column not in _WRAP,
                         overflow="fold" if column in _WRAP else "ellipsis")
    for row in rows:
        cells = [fmt(row[c]) for c in HISTORY_COLUMNS[:_FIGURES_FROM]]
        cells[HISTORY_COLUMNS.index("sha")] += f" {CHANGED_MARK}" if row["file_changed"] else ""
        if row["status"] == "failed":
            cells += ["failed"] * (len(HISTORY_COLUMNS) - _FIGURES_FROM)
        else:
            cells += [fmt(row[c]) + (method_tag(row[_METHOD_OF[c]]) if c in _METHOD_OF else "")
                      for c in HISTORY_COLUMNS[_FIGURES_FROM:]]
        table.add_row(*(escape(cell) for cell in cells), style="bold" if row["file_changed"] else None)
    return table


def history_notes(rows: list[dict[str, Any]]) -> list[str]:
    """One note per row whose model file changed under the same label: its figures are not the old file's."""
    return [f"note: {CHANGED_MARK} {row['model']} in run {row['run_id']} is a different file (sha "
            f"{row['previous_sha']} -> {row['sha']}) from the previous row under that name: its figures measure "
            "another model (`edgeprof explain` lists what else changed)"
            for row in rows if row["file_changed"]]


def comparison_table(title: str, comparisons: list[Comparison]) -> Table:
    """B/A ratios of the key figures and the latency test's verdict, one row per device x model variant."""
    table = Table(title=title, title_justify="left")
    for column in ("device", "model", "p50", "p95", "peak MB", "top-1", "mJ/inf", "latency", "median", "p-value"):
        table.add_column(column)
    for c in comparisons:
        style = {"slower": "red", "faster": "green"}.get(c.latency.verdict)
        shown = c.latency.verdict
        if shown == BELOW_EFFECT:
            shown = f"significant, below the {c.latency.min_effect:.0%} minimum effect"
        verdict = f"[{style}]{shown}[/{style}]" if style else escape(shown)
        ratios = [f"x{c.ratios[k]:.3f}" if c.ratios[k] is not None else "-" for k in _RATIOS]
        model = c.model if c.same_file else f"{c.model} ({CHANGED_MARK} different file)"
        table.add_row(escape(c.device), escape(model), *ratios, verdict,
                      f"x{c.latency.median_ratio:.3f}" if c.latency.median_ratio else "-",
                      p_value(c.latency.p_value) if c.latency.p_value is not None else "-")
    return table


def regression_line(c: Comparison, max_ratio: float) -> str:
    """The rich-markup line naming one regression that fails `check --baseline`."""
    return (f"[red]regression[/red]: {escape(Result(c.b).label)} median latency "
            f"x{c.latency.median_ratio:.3f} > --max-ratio {max_ratio:g} ({p_value(c.latency.p_value)})")


def accuracy_drop_line(c: Comparison, drop: float, max_drop: float) -> str:
    """The rich-markup line naming one top-1 drop (`drop`, absolute) that fails the baseline gate."""
    return (f"[red]accuracy drop[/red]: {escape(Result(c.b).label)} top-1 {Result(c.a).accuracy['top1']:.4g} -> "
            f"{Result(c.b).accuracy['top1']:.4g} (-{drop:.4g} > --max-drop {max_drop:g})")


def comparison_json(c: Comparison) -> dict[str, Any]:
    """One comparison as the JSON `compare --json` and `check --json` print."""
    return {"device": c.device, "model": c.model, "ratios": c.ratios, "latency": c.latency.__dict__,
            "run_a": c.a.get("run_id"), "run_b": c.b.get("run_id"), "same_file": c.same_file, "ops": ops_json(c.ops)}
