"""Results over time and run against run, for the terminal: the history table, the comparison table and JSON."""

from __future__ import annotations

from typing import Any

from rich.console import Group
from rich.markup import escape
from rich.text import Text

from edgeprof.compare import BELOW_EFFECT, Comparison, LatencyTest, ops_json, slowdowns
from edgeprof.constraints import METRICS, WORKLOADS, workload_of
from edgeprof.report.figures import fmt, method_tag
from edgeprof.report.table import Cell, Column, fitted_table
from edgeprof.result import Result
from edgeprof.units import figure, p_value

IDENTITY = ("run_id", "device", "model", "sha", "scenario", "threads", "accelerator")
# Each column as the terminal shows it; `drop`: what goes first when the table does not fit (device, model and the
# figures not named in FIGURE_DROP always stay, and nothing is cut: text folds at spaces, figures keep their width).
_COLUMNS = {"run_id": Column("run (time UTC)"), "device": Column("device", wrap=True),
            "model": Column("model", wrap=True), "sha": Column("file", drop=3), "scenario": Column("scenario", drop=5),
            "threads": Column("threads", drop=4, justify="right"), "accelerator": Column("provider", drop=6)}
FIGURE_DROP = {"latency.p50_ms": 1, "memory.peak_rss_mb": 2, "power.energy_mj": 2,
               "generation.ttft_p50_ms": 1, "generation.tpot_p50_ms": 1, "generation.decode_tokens_per_s": 2,
               "generation.load_ms": 3, "generation.context_growth_mb": 3, "generation.agreement": 3,
               "generation.energy_mj_per_token": 2}
COMPARE_DROP = {"latency.p50_ms": 2, "memory.peak_rss_mb": 3, "accuracy.top1": 1,
                "power.energy_mj": 3, "generation.ttft_p50_ms": 2, "generation.tpot_p50_ms": 2,
                "generation.decode_tokens_per_s": 3, "generation.load_ms": 5, "generation.context_growth_mb": 5,
                "generation.agreement": 5, "generation.energy_mj_per_token": 3, "generation.perplexity": 1}
CHANGED_MARK = "!"
APART_MARK = "*"
INTERVALS_FROM = 160  # terminals at least this wide show the history's figures with their intervals


def _figure(row: dict[str, Any], name: str, interval: bool) -> str:
    """One figure of a history row: durations and sizes in the unit that suits them, its interval where asked and
    known, its method marked."""
    shown = figure(row["figures"].get(name), METRICS[name].unit, row["intervals"].get(name) if interval else None)
    return shown + method_tag(row["methods"].get(name))


def history_table(rows: list[dict[str, Any]], width: int) -> Group:
    """One table per workload among the history rows (edgeprof.compare.history_rows: a classifier's latency,
    memory, accuracy and energy; a language model's TTFT, TPOT, tokens/s, load, RSS growth, memory, perplexity,
    agreement and energy per token), each row within `width` columns (report.table.fitted_table: the least needed
    columns dropped, never a cut figure), durations in the unit that suits them, figures with their method marked
    (and their intervals on a wide terminal), a model file that differs from the previous one under the same label
    marked '!' (see `history_notes`) and its row bold."""
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_kind.setdefault(row["workload"], []).append(row)
    tables = []
    for kind, members in by_kind.items() or [("classifier", [])]:
        names = WORKLOADS[kind].tracked
        shown = set(WORKLOADS[kind].intervals) if width >= INTERVALS_FROM else set()
        cells = []
        for row in members:
            text = [fmt(row[c]) for c in IDENTITY]
            text[IDENTITY.index("sha")] += f" {CHANGED_MARK}" if row["file_changed"] else ""
            text += (["failed"] * len(names) if row["status"] == "failed"
                     else [_figure(row, name, name in shown) for name in names])
            cells.append([Text(t, style="bold" if row["file_changed"] else "") for t in text])
        columns = [*(_COLUMNS[c] for c in IDENTITY),
                   *(Column(METRICS[n].label, drop=FIGURE_DROP.get(n, 0), justify="right") for n in names)]
        title = "History" + (f" ({kind} models)" if len(by_kind) > 1 else "")
        tables.append(fitted_table(title, columns, cells, width)[0])
    return Group(*tables)


def history_notes(rows: list[dict[str, Any]]) -> list[str]:
    """One note per row whose model file changed under the same label: its figures are not the old file's."""
    return [f"note: {CHANGED_MARK} {row['model']} in run {row['run_id']} is a different file (sha "
            f"{row['previous_sha']} -> {row['sha']}) from the previous row under that name: its figures measure "
            "another model (`edgeprof explain` lists what else changed)"
            for row in rows if row["file_changed"]]


def _ratio(c: Comparison, name: str) -> str:
    """'x1.234' (B/A), marked '*' where the two 95% intervals do not overlap; '-' where either is missing."""
    ratio = c.ratios.get(name)
    return "-" if ratio is None else f"x{ratio:.3f}" + (APART_MARK if c.apart.get(name) else "")


def _test_cells(test: LatencyTest) -> list[Cell]:
    style = {"slower": "red", "faster": "green"}.get(test.verdict, "")
    shown = test.verdict
    if shown == BELOW_EFFECT:
        shown = f"significant, below the {test.min_effect:.0%} minimum effect"
    return [Text(shown, style=style), f"x{test.median_ratio:.3f}" if test.median_ratio else "-",
            p_value(test.p_value) if test.p_value is not None else "-"]


def comparison_table(title: str, comparisons: list[Comparison], width: int) -> Group:
    """B/A ratios of the figures each workload tracks ('*': the 95% intervals of A and B do not overlap) and each
    timed distribution's test verdict (a classifier's latency; a language model's TTFT and TPOT), one row per
    device x model variant and one table per workload, within `width` columns (report.table.fitted_table: no cell
    cut)."""
    by_kind: dict[str, list[Comparison]] = {}
    for c in comparisons:
        by_kind.setdefault(workload_of(c.b).name, []).append(c)
    parts: list[Any] = []
    for kind, members in by_kind.items() or [("classifier", [])]:
        workload = WORKLOADS[kind]
        names = workload.tracked
        tests = [name for name, _ in workload.distributions]
        columns = [Column("device", wrap=True), Column("model", wrap=True),
                   *(Column(METRICS[n].label, drop=COMPARE_DROP.get(n, 0)) for n in names)]
        for test in tests:
            prefix = "" if len(tests) == 1 else f"{test} "
            columns += [Column(test, wrap=True), Column(f"{prefix}median"), Column(f"{prefix}p-value", drop=4)]
        cells = []
        for c in members:
            model = c.model if c.same_file else f"{c.model} ({CHANGED_MARK} different file)"
            cells.append([c.device, model, *(_ratio(c, n) for n in names),
                          *(cell for test in tests for cell in _test_cells(c.tests[test]))])
        parts.append(fitted_table(title + (f" — {kind} models" if len(by_kind) > 1 else ""), columns, cells,
                                  width)[0])
    if any(c.apart.get(n) for c in comparisons for n in c.ratios):
        parts.append(Text(f"{APART_MARK} the 95% intervals of A and B do not overlap"))
    return Group(*parts)


def regression_line(c: Comparison, max_ratio: float) -> str:
    """The rich-markup line naming one regression that fails `check --baseline`: each timed distribution that got
    significantly slower beyond `max_ratio` (compare.slowdowns)."""
    slower = "; ".join(f"median {name} x{test.median_ratio:.3f} > --max-ratio {max_ratio:g} ({p_value(test.p_value)})"
                       for name, test in slowdowns(c, max_ratio))
    return f"[red]regression[/red]: {escape(Result(c.b).label)} {slower}"


def accuracy_drop_line(c: Comparison, drop: float, max_drop: float) -> str:
    """The rich-markup line naming one top-1 drop (`drop`, absolute) that fails the baseline gate."""
    return (f"[red]accuracy drop[/red]: {escape(Result(c.b).label)} top-1 {Result(c.a).accuracy['top1']:.4g} -> "
            f"{Result(c.b).accuracy['top1']:.4g} (-{drop:.4g} > --max-drop {max_drop:g})")


def comparison_json(c: Comparison) -> dict[str, Any]:
    """One comparison as the JSON `compare --json` and `check --json` print: the ratios and `apart` by metric name,
    `latency` the first timed distribution's test, `tests` every one by name."""
    return {"device": c.device, "model": c.model, "ratios": c.ratios, "apart": c.apart,
            "latency": c.latency.__dict__, "tests": {name: test.__dict__ for name, test in c.tests.items()},
            "run_a": c.a.get("run_id"), "run_b": c.b.get("run_id"), "same_file": c.same_file, "ops": ops_json(c.ops)}


def gate_change(c: Comparison) -> str:
    """'p95 x1.02 vs baseline, no significant change': the workload's first speed figure's ratio and the first
    timed distribution's verdict, as `watch` names a Result the baseline gate compared."""
    name = workload_of(c.b).speed[0]
    ratio = c.ratios.get(name)
    return ", ".join([f"{METRICS[name].label} x{ratio:.3f} vs baseline" if ratio else "vs baseline",
                      c.latency.verdict])
