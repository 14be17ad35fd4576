"""The shareable report: one self-contained HTML file (figures inline as base64 PNG), or Markdown and PNGs."""

from __future__ import annotations

import base64
from html import escape
from pathlib import Path
from typing import Any, Callable

from edgeprof.decisions import Report, Status, overall
from edgeprof.errors import ConfigError
from edgeprof.report.details import result_rows
from edgeprof.report.escape import markdown_text
from edgeprof.report.figures import (
    by_workload,
    figure_names,
    fmt,
    key_figures,
    mark_notes,
    status_symbol,
    verdict_bound,
    verdict_method,
    verdict_summary,
    verdict_value,
    verdict_why,
)
from edgeprof.report.markdown import to_markdown
from edgeprof.report.placement import accelerator_rows, compile_text, fallback_rows, top_node_rows, top_op_rows
from edgeprof.report.plots import Plot, build_plots, emulation, figure_bytes, group_by
from edgeprof.report.recommendation import describe
from edgeprof.report.trend import trend_figure
from edgeprof.result import Result, viewer
from edgeprof.units import size

REPORT_FORMATS = ("html", "md")
_CSS = """
body{font-family:system-ui,sans-serif;margin:2em;max-width:1400px;color:#222}
table{border-collapse:collapse;margin:.6em 0 1.2em}td,th{border:1px solid #ccc;padding:3px 8px;font-size:90%}
th{background:#f3f3f3;text-align:left}.pass{color:#1e7e34}.fail,.error{color:#c0392b;font-weight:bold}
.inconclusive{color:#b7791f}.failed{color:#c0392b}.badge{background:#fde68a;border-radius:4px;padding:1px 6px;font-size:80%}
figure{margin:1em 0}figure img{max-width:100%;border:1px solid #eee}figcaption{font-size:90%;color:#555}
"""


def _section_methods(result: dict[str, Any]) -> str:
    parts = []
    measured = ("generation", "memory", "power", "thermal") if Result(result).generative else \
        ("latency", "memory", "power", "thermal", "accuracy")
    for section in measured:
        method = (result.get(section) or {}).get("method")
        parts.append(f"{section}: {method or 'not measured'}")
    return "; ".join(parts)


def cpu_text(system: dict[str, Any]) -> str:
    """'Cortex-A72 x4, governor performance, 1500/1500 MHz': only the facts the device gave, 'unknown' once for
    the rest."""
    freq = system.get("freq_mhz") or {}
    cur, top = freq.get("cur"), freq.get("max")
    clocks = (f"{fmt(cur)}/{fmt(top)} MHz" if cur is not None and top is not None else f"{fmt(cur)} MHz"
              if cur is not None else f"max {fmt(top)} MHz" if top is not None else None)
    governor = f"governor {system['governor']}" if system.get("governor") else None
    missing = [name for name, known in (("governor", governor), ("clocks", clocks)) if known is None]
    count = f" x{system['cpu_count']}" if system.get("cpu_count") else ""
    return ", ".join([f"{system.get('cpu_model') or 'CPU model unknown'}{count}",
                      *(fact for fact in (governor, clocks) if fact),
                      *([" and ".join(missing) + " unknown"] if missing else [])])


def metadata_rows(result: dict[str, Any], view: Result | None = None) -> dict[str, str]:
    """What ran and how it was measured, as label -> text (device, runtime, versions, governor, methods); `view`
    labels the model (default: the Result alone)."""
    runtime = result.get("runtime") or {}
    system = result.get("system") or {}
    model = result.get("model") or {}
    threads = runtime.get("threads") or {}
    labels = [f"emulated ({emulation(result)})"] if emulation(result) else []
    labels += [f"estimated {s}" for s in ("power", "latency", "memory")
               if str((result.get(s) or {}).get("method") or "").startswith("estimate")]
    return {
        "model": (view or Result(result)).model_label,
        "run": f"{result.get('run_id', '-')} ({result.get('created', '-')})",
        "runtime": f"{runtime.get('name', '-')} {runtime.get('version', '')} threads "
                   + ", ".join(f"{k}={v}" for k, v in threads.items()),
        "versions": f"python {system.get('python', '-')}, numpy {system.get('numpy', '-')}, "
                    f"kernel {system.get('kernel', '-')}",
        "cpu": cpu_text(system),
        "methods": _section_methods(result),
        "labels": ", ".join(labels) or "measured on hardware",
        "model sha256": str(model.get("sha256", "-"))[:16],
        "warnings": "; ".join(result.get("warnings") or []) or "-",
    }


def _advice(report: Report, device: str, rows: list[dict[str, Any]]) -> list[str]:
    """The recommendation lines (report.recommendation.describe) for every model on one device."""
    lines = []
    for model in dict.fromkeys(Result(r).name for r in rows):
        rec = report.recommendation(device, model)
        lines += describe(rec) if rec is not None else [f"{device} / {model}: no recommendation computed"]
    return lines


def failure_lines(rows: list[dict[str, Any]], view: Callable[[dict[str, Any]], Result]) -> list[str]:
    """What failed on one device and why: each failed run with its error, each failed constraint with its value
    and bound, each warning a Result carries once."""
    lines = []
    for result in rows:
        label = view(result).variant_label
        if overall(result) is Status.ERROR:
            error = result.get("error") or {}
            lines.append(f"{label}: run failed ({error.get('kind')}): {error.get('message')}")
        lines += [f"{label}: {v['constraint']}: {verdict_why(v)}"
                  for v in result.get("verdicts") or [] if Status.of(v.get("status")) is Status.FAIL]
    warnings = dict.fromkeys(w for result in rows for w in result.get("warnings") or [])
    return lines + [f"warning: {w}" for w in warnings]


def _answer_html(report: Report, view: Callable[[dict[str, Any]], Result]) -> list[str]:
    """The report's first section: per device, which variant to ship and why, then what failed and why."""
    parts = ['<section id="answer"><h2>The answer</h2>']
    for device, rows in group_by(report.results, "device").items():
        failed = failure_lines(rows, view)
        parts += [f"<h3>{escape(device)}</h3>",
                  "<ul>" + "".join(f"<li>{escape(line)}</li>" for line in _advice(report, device, rows)) + "</ul>"]
        if failed:
            parts += ['<p class="failed">What failed, and why</p>',
                      '<ul class="failed">' + "".join(f"<li>{escape(line)}</li>" for line in failed) + "</ul>"]
    return [*parts, "</section>"]


def _runs(results: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    return [(run, rows[0].get("created", "-"), ", ".join(dict.fromkeys(Result(r).device for r in rows)))
            for run, rows in group_by(results, "run_id").items()]


# ---------------------------------------------------------------- HTML


def _table(header: list[str], rows: list[list[str]], classes: list[str] | None = None) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = []
    for i, row in enumerate(rows):
        cls = f' class="{escape(classes[i])}"' if classes and classes[i] else ""
        body.append(f"<tr{cls}>" + "".join(f"<td>{escape(cell)}</td>" for cell in row) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def _summary_tables(rows: list[dict[str, Any]], view: Callable[[dict[str, Any]], Result]) -> str:
    """One table of key figures per workload among `rows` (a classifier's, a language model's)."""
    tables = []
    for workload, members in by_workload(rows):
        headings = figure_names(workload)
        summary = []
        for result in members:
            runtime = result.get("runtime") or {}
            shown = key_figures(result) if result.get("status") != "failed" else dict.fromkeys(headings, "-")
            summary.append([view(result).model_label,
                            f"{runtime.get('name', '-')} {runtime.get('version', '')}".strip(),
                            *(shown[c] for c in headings), verdict_summary(result)])
        tables.append(_table(["model", "runtime", *headings, "verdict"], summary, [overall(r) for r in members]))
    return "".join(tables)


def _verdict_tables(rows: list[dict[str, Any]], view: Callable[[dict[str, Any]], Result]) -> str:
    detail, classes = [], []
    for result in rows:
        if result.get("status") == "failed":
            error = result.get("error") or {}
            detail.append([view(result).model_label, "-", "-", "-", "RUN FAILED", "-",
                           f"{error.get('kind')}: {error.get('message')}"])
            classes.append("error")
        for v in result.get("verdicts") or []:
            detail.append([view(result).model_label, v["constraint"], verdict_value(v), verdict_bound(v),
                           status_symbol(v["status"]), verdict_method(v), verdict_why(v)])
            classes.append(v["status"])
    return (_summary_tables(rows, view)
            + _table(["model", "constraint", "value", "bound", "status", "method", "why"], detail, classes))


def _placement_html(rows: list[dict[str, Any]], view: Callable[[dict[str, Any]], Result]) -> str:
    """Per Result with a placement or an op profile: where its nodes ran, the fallback nodes, the compile and the
    slowest operator types and nodes ('' when none has either)."""
    parts = []
    for result in rows:
        tables = []
        if accelerator_rows(result):
            tables.append(_table(["provider / delegate", "nodes", "time", "share"], accelerator_rows(result)))
        if fallback_rows(result):
            tables += ["<p>Fallback nodes (ran on the plain CPU kernels while an accelerator was requested)</p>",
                       _table(["node", "op type", "ran on"], fallback_rows(result))]
        compiled = compile_text(result)
        tables += [f"<p>{escape(compiled)}</p>"] if compiled else []
        if top_op_rows(result):
            tables += [_table(["op type", "time/run", "share"], top_op_rows(result)),
                       _table(["node", "op type", "provider", "time/run", "share"], top_node_rows(result))]
        if tables:
            parts += [f"<h4>{escape(view(result).model_label)}</h4>", *tables]
    return "<h3>Placement and top operators</h3>" + "".join(parts) if parts else ""


def _details_html(rows: list[dict[str, Any]], view: Callable[[dict[str, Any]], Result]) -> str:
    """Per Result: everything it measured (details.result_rows), one two-column table each."""
    parts = ["<h3>Measurements</h3>"]
    for result in rows:
        parts += [f"<h4>{escape(view(result).model_label)}</h4>",
                  _table(["what", "measured"], [list(row) for row in result_rows(result)])]
    return "".join(parts)


def _figure_html(plot: Plot) -> str:
    data = base64.b64encode(figure_bytes(plot.figure, "png")).decode("ascii")
    return (f'<figure id="fig-{escape(plot.name)}"><img alt="{escape(plot.caption)}" '
            f'src="data:image/png;base64,{data}"><figcaption>{escape(plot.caption)}</figcaption></figure>')


def trend_plots(history: list[dict[str, Any]]) -> list[Plot]:
    """The figure over time (edgeprof.report.trend) when the history spans at least two runs, else none."""
    if len({r.get("run_id") for r in history if Result(r).ok}) < 2:
        return []
    return [Plot("trend", "Over time: p50/p95 with intervals (latency; a language model's TTFT and TPOT), accuracy "
                 "or perplexity, and energy per device and configuration; change points circled, changed settings "
                 "marked", None, trend_figure(history))]


def to_html(report: Report, *, plots: list[Plot] | None = None, history: list[dict[str, Any]] | None = None) -> str:
    """The whole report as one self-contained HTML document (no external assets; every text escaped); `history`
    (earlier Results of the same configurations) adds the figure over time."""
    results = report.results
    plots = (build_plots(report) if plots is None else plots) + trend_plots(history or [])
    view = viewer(results)
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             "<title>edgeprof report</title>", f"<style>{_CSS}</style></head><body>", "<h1>edgeprof report</h1>",
             *_answer_html(report, view), "<h2>Runs</h2>", _table(["run", "created", "devices"], [list(r) for r in _runs(results)]),
             "<ul>" + "".join(f"<li>{escape(note)}</li>" for note in mark_notes(results)) + "</ul>"]
    for device, rows in group_by(results, "device").items():
        info = rows[0].get("device_info") or {}
        hardware = info.get("hardware") or {}
        badge = f' <span class="badge">emulated: {escape(str(emulation(rows[0])))}</span>' if emulation(rows[0]) else ""
        parts += [f'<section id="device-{escape(device)}"><h2>{escape(device)}{badge}</h2>',
                  f"<p>{escape(str(info.get('description') or ''))} — {escape(str(hardware.get('cpu', '-')))}, "
                  f"{escape(str(hardware.get('cores', '-')))} cores, {escape(size(hardware.get('ram_mb')))} RAM"
                  "</p>", "<h3>Verdicts</h3>", _verdict_tables(rows, view), _details_html(rows, view),
                  _placement_html(rows, view)]
        meta = [metadata_rows(r, view(r)) for r in rows]
        parts += ["<h3>What ran, and how it was measured</h3>",
                  _table(list(meta[0]), [list(m.values()) for m in meta]), "<h3>Figures</h3>"]
        parts += [_figure_html(p) for p in plots if p.device == device]
        parts.append("</section>")
    cross = [p for p in plots if p.device is None]
    if cross:
        parts += ["<section><h2>Across devices and over time</h2>", *(_figure_html(p) for p in cross), "</section>"]
    parts.append("</body></html>")
    return "\n".join(parts)


# ---------------------------------------------------------------- Markdown


def _md_cell(text: str) -> str:
    return markdown_text(text)


def to_markdown_report(report: Report, out: Path, history: list[dict[str, Any]] | None = None) -> list[Path]:
    """Write `out` (Markdown: verdict tables, recommendations, metadata, figure links, the figure over time of
    `history`) and its PNGs beside it."""
    results = report.results
    plots = build_plots(report) + trend_plots(history or [])
    view = viewer(results)
    lines = ["# edgeprof report", "", "## The answer", ""]
    for device, rows in group_by(results, "device").items():
        lines += [f"**{_md_cell(device)}**", "", *(f"- {_md_cell(line)}" for line in _advice(report, device, rows))]
        failed = failure_lines(rows, view)
        lines += ["", "What failed, and why:", "", *(f"- {_md_cell(line)}" for line in failed)] if failed else []
        lines.append("")
    lines += ["## Runs", "", "| run | created | devices |", "|---|---|---|"]
    lines += [f"| {' | '.join(_md_cell(c) for c in run)} |" for run in _runs(results)]
    lines += ["", *(f"- {note}" for note in mark_notes(results)), "", to_markdown(results), ""]
    written = []
    for device, rows in group_by(results, "device").items():
        emulated = f" (emulated: {emulation(rows[0])})" if emulation(rows[0]) else ""
        lines += [f"## {_md_cell(device)}{emulated}", ""]
        for result in rows:
            lines += [f"### {_md_cell(view(result).model_label)}", "", "| what | measured |", "|---|---|"]
            lines += [f"| {_md_cell(what)} | {_md_cell(text)} |" for what, text in result_rows(result)] + [""]
        meta = [metadata_rows(r, view(r)) for r in rows]
        lines += ["| " + " | ".join(meta[0]) + " |", "|" + "---|" * len(meta[0])]
        lines += ["| " + " | ".join(_md_cell(v) for v in m.values()) + " |" for m in meta]
        lines.append("")
        for plot in [p for p in plots if p.device == device]:
            lines += [f"![{_md_cell(plot.caption)}]({out.stem}-{plot.name}.png)", ""]
    for plot in [p for p in plots if p.device is None]:
        lines += [f"![{_md_cell(plot.caption)}]({out.stem}-{plot.name}.png)", ""]
    for plot in plots:
        path = out.parent / f"{out.stem}-{plot.name}.png"
        path.write_bytes(figure_bytes(plot.figure, "png"))
        written.append(path)
    out.write_text("\n".join(lines))
    return [out, *written]


REPORT_SUFFIXES = {".html": "html", ".htm": "html", ".md": "md", ".markdown": "md"}


def report_format(out: Path, fmt_name: str | None) -> str:
    """The report's format: --format when given, else --out's extension (.md or .markdown: Markdown), else html;
    a --format that contradicts the extension is a ConfigError."""
    by_suffix = REPORT_SUFFIXES.get(out.suffix.lower())
    if fmt_name is None:
        return by_suffix or "html"
    if fmt_name not in REPORT_FORMATS:
        raise ConfigError(f"--format: unknown report format {fmt_name!r} (choose html or md)")
    if by_suffix is not None and by_suffix != fmt_name:
        raise ConfigError(f"--format {fmt_name} contradicts --out {out} (a {by_suffix} file name): drop --format, "
                          "or name the file for the format")
    return fmt_name


def write_report(report: Report, out: Path, fmt_name: str | None = None,
                 history: list[dict[str, Any]] | None = None) -> list[Path]:
    """Write the report to `out` in `fmt_name` ('html' or 'md'; None: as report_format reads `out`), with the figure
    over time of `history`; the files written (the report first)."""
    fmt_name = report_format(out, fmt_name)
    if not report.results:
        raise ConfigError("nothing to report: the selection holds no results")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        if fmt_name == "md":
            return to_markdown_report(report, out, history)
        out.write_text(to_html(report, history=history), encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"--out: cannot write {out}: {exc.strerror}") from exc
    return [out]
