"""Results over time and run against run, for the terminal: the history table, the comparison table and JSON."""

from __future__ import annotations

from typing import Any

from rich.markup import escape
from rich.table import Table
from rich.text import Text

from edgeprof.compare import BELOW_EFFECT, Comparison, ops_json
from edgeprof.report.figures import fmt, method_tag
from edgeprof.report.table import Column, fitted_table
from edgeprof.result import Result
from edgeprof.units import p_value, value_text

HISTORY_COLUMNS = ("run_id", "device", "model", "sha", "scenario", "threads", "accelerator", "p50_ms",
                   "p95_ms", "peak_rss_mb", "top1", "energy_mj")
# Each column as the terminal shows it; `drop`: what goes first when the table does not fit (device, model and p95
# always stay, and nothing is cut: text folds at spaces, figures keep their width).
_COLUMNS = {"run_id": Column("run (time UTC)"), "device": Column("device", wrap=True),
            "model": Column("model", wrap=True), "sha": Column("file", drop=3), "scenario": Column("scenario", drop=5),
            "threads": Column("threads", drop=4, justify="right"), "accelerator": Column("provider", drop=6),
            "p50_ms": Column("p50", drop=1, justify="right"), "p95_ms": Column("p95", justify="right"),
            "peak_rss_mb": Column("peak mem", drop=2, justify="right"), "top1": Column("top-1", justify="right"),
            "energy_mj": Column("mJ/inf", drop=2, justify="right")}
_FIGURES_FROM = HISTORY_COLUMNS.index("p50_ms")
CHANGED_MARK = "!"
_METHOD_OF = {"p50_ms": "latency_method", "p95_ms": "latency_method", "energy_mj": "power_method"}
_RATIOS = ("p50_ms", "p95_ms", "peak_rss_mb", "top1", "energy_mj")
_UNIT = {"p50_ms": "ms", "p95_ms": "ms", "peak_rss_mb": "MB"}  # the rest: as the column's title says


def _figure(row: dict[str, Any], column: str) -> str:
    return value_text(row[column], _UNIT.get(column, "")) + (method_tag(row[_METHOD_OF[column]]) if column in _METHOD_OF
                                                         else "")


def history_table(rows: list[dict[str, Any]], width: int) -> Table:
    """One row per history row (edgeprof.compare.history_rows) within `width` columns (report.table.fitted_table:
    the least needed columns dropped, never a cut figure), durations and sizes in the unit that suits them, figures with
    their method marked, a model file that differs from the previous one under the same label marked '!' (see
    `history_notes`) and its row bold."""
    cells = []
    for row in rows:
        text = [fmt(row[c]) for c in HISTORY_COLUMNS[:_FIGURES_FROM]]
        text[HISTORY_COLUMNS.index("sha")] += f" {CHANGED_MARK}" if row["file_changed"] else ""
        if row["status"] == "failed":
            text += ["failed"] * (len(HISTORY_COLUMNS) - _FIGURES_FROM)
        else:
            text += [_figure(row, c) for c in HISTORY_COLUMNS[_FIGURES_FROM:]]
        cells.append([Text(t, style="bold" if row["file_changed"] else "") for t in text])
    return fitted_table("History", [_COLUMNS[c] for c in HISTORY_COLUMNS], cells, width)[0]


def history_notes(rows: list[dict[str, Any]]) -> list[str]:
    """One note per row whose model file changed under the same label: its figures are not the old file's."""
    return [f"note: {CHANGED_MARK} {row['model']} in run {row['run_id']} is a different file (sha "
            f"{row['previous_sha']} -> {row['sha']}) from the previous row under that name: its figures measure "
            "another model (`edgeprof explain` lists what else changed)"
            for row in rows if row["file_changed"]]


_COMPARISON_COLUMNS = (Column("device", wrap=True), Column("model", wrap=True), Column("p50", drop=2),
                       Column("p95"), Column("peak mem", drop=3), Column("top-1", drop=1), Column("mJ/inf", drop=3),
                       Column("latency", wrap=True), Column("median"), Column("p-value", drop=4))


def comparison_table(title: str, comparisons: list[Comparison], width: int) -> Table:
    """B/A ratios of the key figures and the latency test's verdict, one row per device x model variant, within
    `width` columns (report.table.fitted_table: no cell cut)."""
    cells = []
    for c in comparisons:
        style = {"slower": "red", "faster": "green"}.get(c.latency.verdict, "")
        shown = c.latency.verdict
        if shown == BELOW_EFFECT:
            shown = f"significant, below the {c.latency.min_effect:.0%} minimum effect"
        ratios = [f"x{c.ratios[k]:.3f}" if c.ratios[k] is not None else "-" for k in _RATIOS]
        model = c.model if c.same_file else f"{c.model} ({CHANGED_MARK} different file)"
        cells.append([c.device, model, *ratios, Text(shown, style=style),
                      f"x{c.latency.median_ratio:.3f}" if c.latency.median_ratio else "-",
                      p_value(c.latency.p_value) if c.latency.p_value is not None else "-"])
    return fitted_table(title, _COMPARISON_COLUMNS, cells, width)[0]


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
