"""The terminal tables: one verdict table per device (one row per model variant), fitted to the terminal width."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

from rich.console import Console
from rich.table import Table
from rich.text import Text

from edgeprof.constraints import CLASSIFIER, Workload
from edgeprof.decisions import Status, overall
from edgeprof.report.figures import (
    REFERENCE_FIGURES,
    STATUS_SYMBOL,
    by_workload,
    figure_names,
    key_figures,
    reference_figures,
    status_symbol,
    verdict_bound,
    verdict_method,
    verdict_summary,
    verdict_value,
)
from edgeprof.report.generation import generation_lines
from edgeprof.report.placement import placement_lines
from edgeprof.result import Result, viewer

STYLE = {Status.FAIL: "red", Status.ERROR: "red", Status.INCONCLUSIVE: "yellow", Status.PASS: "green",
         Status.INFORMATIONAL: "cyan", Status.NOT_MEASURED: "dim"}
INTERVALS_FROM = 110  # terminals at least this wide show p95 with its CI
WRAP_MIN = 12  # a wrapping column is never squeezed below this many characters (or its longest word)
Cell = str | Text


@dataclass(frozen=True)
class Column:
    """A table column: `drop` ranks what goes first when the table does not fit (0: always shown, higher numbers
    first); a `wrap` column folds its text at spaces, the others never wrap."""

    name: str
    drop: int = 0
    justify: str = "left"
    wrap: bool = False


def _least(column: Column, cells: list[Text]) -> int:
    """The fewest characters `column` can have without cutting a word (a wrapping one) or anything (the rest)."""
    natural = max([len(column.name), *(cell.cell_len for cell in cells)])
    if not column.wrap:
        return natural
    longest_word = max([len(word) for cell in cells for word in cell.plain.split()] + [len(column.name)])
    return min(natural, max(longest_word, WRAP_MIN))


def fitted_table(title: str, columns: Sequence[Column], rows: Sequence[Sequence[Cell]],
                 width: int) -> tuple[Table, list[str]]:
    """A rich Table within `width` columns and the names of the columns dropped to fit (lowest-ranked first until
    the rest fit whole); numbers never wrap or get cut, text folds at spaces (and within a word where even the
    columns that are always shown would not fit otherwise)."""
    texts = [[cell if isinstance(cell, Text) else Text(cell) for cell in row] for row in rows]
    least = [_least(column, [row[i] for row in texts]) for i, column in enumerate(columns)]
    shown = list(range(len(columns)))
    while sum(least[i] + 3 for i in shown) + 1 > width and any(columns[i].drop for i in shown):
        shown.remove(max(shown, key=lambda i: (columns[i].drop, i)))
    if sum(least[i] + 3 for i in shown) + 1 > width:  # still too wide: long words fold too, rather than be cut
        least = [min(n, WRAP_MIN) if column.wrap else n for n, column in zip(least, columns)]
    table = Table(title=title, title_justify="left")
    for i in shown:
        column = columns[i]
        table.add_column(column.name, justify=column.justify, no_wrap=not column.wrap,  # type: ignore[arg-type]
                         overflow="fold", min_width=least[i])
    for row in texts:
        table.add_row(*(row[i] for i in shown))
    return table, [column.name for i, column in enumerate(columns) if i not in shown]


def _styled(text: str, status: str) -> Text:
    return Text(text, style=STYLE.get(status, ""))


VERDICT_COLUMNS = (Column("model", wrap=True), Column("constraint"), Column("value", justify="right"),
                   Column("bound"), Column("status"), Column("method", drop=2), Column("why", drop=1, wrap=True))


def _verdict_table(device: str, rows: list[dict[str, Any]], view: Callable[[dict[str, Any]], Result],
                   width: int) -> tuple[Table, list[str]]:
    """The table of every constraint's verdict, and the reasons it had no room for (one line each)."""
    cells: list[list[Cell]] = []
    for result in rows:
        label = view(result).model_label
        if result.get("status") == "failed":
            error = result.get("error") or {}
            cells.append([label, "-", "-", "-", _styled("RUN FAILED", "error"), "-",
                          f"{error.get('kind')}: {error.get('message')}"])
        for v in result.get("verdicts") or []:
            cells.append([label, v["constraint"], verdict_value(v), verdict_bound(v),
                          _styled(status_symbol(v["status"]), v["status"]), verdict_method(v),
                          v.get("detail") or ""])
    table, dropped = fitted_table(f"{device}: verdicts", VERDICT_COLUMNS, cells, width)
    status = [column.name for column in VERDICT_COLUMNS].index("status")
    why = [f"{row[0]}{'' if row[1] == '-' else ' ' + str(row[1])}: {row[-1]}" for row in cells
           if "why" in dropped and row[-1] and str(row[status]) != STATUS_SYMBOL[Status.PASS]]
    return table, why


# what goes first on a narrow terminal (the rest always stay)
FIGURE_DROP = {"size": 5, "peak mem": 3, "p50": 2, "top-1": 1, "agreement": 4, "TTFT p50": 2, "TPOT p50": 2,
               "tokens/s": 1}


def summary_columns(workload: Workload) -> tuple[Column, ...]:
    """The summary table's columns for one workload: model, variant, runtime, its key figures, the verdict."""
    return (Column("model", wrap=True), Column("variant", wrap=True), Column("runtime", drop=6, wrap=True),
            *(Column(c, drop=FIGURE_DROP.get(c, 0), justify="right") for c in figure_names(workload)),
            Column("verdict", wrap=True))


def _summary_table(title: str, workload: Workload, rows: list[dict[str, Any]],
                   view: Callable[[dict[str, Any]], Result], width: int) -> Table:
    cells: list[list[Cell]] = []
    for result in rows:
        shown = view(result)
        runtime = shown.runtime
        figures = key_figures(result, intervals=width >= INTERVALS_FROM)
        cells.append([shown.name, shown.variant_label,
                      f"{runtime.get('name', '-')} {runtime.get('version', '')}".strip(),
                      *figures.values(), _styled(verdict_summary(result), overall(result))])
    return fitted_table(title, summary_columns(workload), cells, width)[0]


# what goes first on a narrow terminal: p95, SQNR and the accuracy drop stay (TTFT/TPOT p95 and perplexity)
SWEEP_DROP = {"size": 6, "peak mem": 5, "mJ/inf": 4, "p50": 3, "top-1": 2, "agree": 1, "mJ/token": 4,
              "TTFT p50": 3, "TPOT p50": 3, "tokens/s": 2, "agreement": 1}


def sweep_columns(workload: Workload) -> tuple[tuple[str, ...], str]:
    """A sweep table's figure columns for one workload (its key figures, and a classifier's outputs against the
    reference: agreement, SQNR, drop; a language model's agreement is a key figure) and those last in words."""
    if workload is CLASSIFIER:
        return (*figure_names(workload), *REFERENCE_FIGURES), "agreement, SQNR and drop"
    return figure_names(workload), "greedy-answer agreement"


def _sweep_table(title: str, workload: Workload, rows: list[dict[str, Any]], width: int) -> Table:
    """A sweep's one table: a row per format x precision x accelerator, its key figures and how its outputs
    compare with the reference every row shares (the title says which)."""
    names = sweep_columns(workload)[0]
    cells: list[list[Cell]] = []
    for result in rows:
        shown = Result(result)
        figures = {**key_figures(result, intervals=width >= INTERVALS_FROM), **reference_figures(result)}
        cells.append([shown.format, shown.variant, shown.accelerator_run or "-", *(figures[c] for c in names),
                      _styled(verdict_summary(result), overall(result))])
    columns = (Column("format"), Column("precision", wrap=True), Column("accel", wrap=True),
               *(Column(c, drop=SWEEP_DROP.get(c, 0), justify="right") for c in names), Column("verdict", wrap=True))
    return fitted_table(title, columns, cells, width)[0]


def energy_notes(result: dict[str, Any]) -> list[str]:
    """What the power section says instead of a figure it could not give (net energy indistinguishable from idle)."""
    power = Result(result).power
    return [f"net energy: {power['net_reason']}"] if power.get("net_status") == "indistinguishable" else []


def render_verdicts(results: list[dict[str, Any]], console: Console, *, compared: str | None = None) -> None:
    """Print one table per device: key figures (methods marked; a sweep's, with what its models are `compared`
    with, one row per format x precision x accelerator with agreement, SQNR and drop), each constraint's verdict,
    and where each Result's graph ran with its slowest operators, all within the console's width."""
    view = viewer(results)
    devices: dict[str, list[dict[str, Any]]] = {}
    for result in results:
        devices.setdefault(result.get("device", "?"), []).append(result)
    for device, rows in devices.items():
        info = Result(rows[0]).device_info
        emulated = f" — emulated ({info['emulated']})" if info.get("emulated") else ""
        groups = by_workload(rows)
        for workload, members in groups:
            more = f" — {workload.name} models" if len(groups) > 1 else ""
            if compared is None:
                console.print(_summary_table(f"{device}{emulated}{more}", workload, members, view, console.width))
            else:
                console.print(_sweep_table(f"{device}{emulated}{more}: {sweep_columns(workload)[1]} against "
                                           f"{compared}", workload, members, console.width))
        table, why = _verdict_table(device, rows, view, console.width)
        console.print(table)
        if why:
            console.print(Text("\n".join(why)))
        for result in rows:
            lines = placement_lines(result) + energy_notes(result) + generation_lines(result)
            if lines:
                console.print(Text(f"{view(result).model_label}:"))
                console.print(Text("\n".join(f"  {line}" for line in lines)))
    marks = " ".join(text for r in results for text in key_figures(r).values())
    if "(est)" in marks:
        console.print("(est) = estimate from CPU utilisation and the profile's idle/max watts, not a measurement")
    if "(emu)" in marks:
        console.print("(emu) = measured under emulation: functional/relative figures, not a real board's latency")
