"""Figures over time: p50/p95 with their intervals, top-1 accuracy and energy per inference of each device x model
configuration (a language model's TTFT and TPOT p50/p95, perplexity and energy per token), run after run, with
change points (edgeprof.compare.change_points) and changed settings (edgeprof.explain.setting_changes) marked.
Drawn like edgeprof.report.plots (Agg canvas, no pyplot).
"""

from __future__ import annotations

import textwrap
from datetime import datetime
from pathlib import Path
from typing import Any

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from edgeprof.compare import change_points
from edgeprof.constraints import METRICS, metric_interval, metric_value
from edgeprof.errors import ConfigError
from edgeprof.explain import setting_changes
from edgeprof.report.plots import FORMATS, figure_bytes, label_colors, new_figure, styled, titled
from edgeprof.result import Result, viewer
from edgeprof.units import duration_unit

Doc = dict[str, Any]
# (axis title: a duration's gets the unit that suits its figures, 'latency (µs)'; the metrics drawn on it; their name
# in the figure's title: None for percentiles, named once)
PANELS = (("latency", ("latency.p50_ms", "latency.p95_ms"), None),
          ("TTFT", ("generation.ttft_p50_ms", "generation.ttft_p95_ms"), None),
          ("TPOT", ("generation.tpot_p50_ms", "generation.tpot_p95_ms"), None),
          ("top-1 accuracy", ("accuracy.top1",), "accuracy"),
          ("perplexity", ("generation.perplexity",), "perplexity"),
          ("energy (mJ/inf)", ("power.energy_mj",), "energy"),
          ("energy (mJ/token)", ("generation.energy_mj_per_token",), "energy per token"))
CHANGE_COLOR = "#c0392b"
MAX_NOTES = 2  # changed settings written beside one run; more are counted
NOTE_FONT = 7  # points
NOTE_CHAR_WIDTH = 0.52  # a character's mean advance as a share of the font size (DejaVu Sans)


def _when(doc: Doc) -> datetime:
    return datetime.strptime(str(doc.get("created") or "1970-01-01T00:00:00Z"), "%Y-%m-%dT%H:%M:%SZ")


def series(results: list[Doc]) -> dict[str, list[Doc]]:
    """The successful Results grouped by device x model configuration (label), each oldest first."""
    view = viewer(results)
    grouped: dict[str, list[Doc]] = {}
    for doc in sorted((r for r in results if Result(r).ok), key=_when):
        grouped.setdefault(view(doc).label, []).append(doc)
    return grouped


def _scale(grouped: dict[str, list[Doc]], metrics: tuple[str, ...]) -> tuple[str, float] | None:
    """(unit, ms per unit) that suits a duration panel's figures, None for a panel of another unit."""
    if METRICS[metrics[0]].unit != "ms":
        return None
    return duration_unit(max((v for docs in grouped.values() for d in docs for m in metrics
                              if (v := metric_value(d, m)) is not None), default=0.0))


def _draw(ax: Axes, docs: list[Doc], metric: str, color: Any, label: str, scale: float = 1.0) -> bool:
    """One metric of one series on `ax` (divided by `scale`), with its 95% intervals and change points; False when
    none was measured."""
    times = [_when(d) for d in docs]
    values = [None if (v := metric_value(d, metric)) is None else v / scale for d in docs]
    if all(v is None for v in values):
        return False
    style = "--" if METRICS[metric].percentile == "p95" else "-"
    ax.plot(times, [float("nan") if v is None else v for v in values], style, marker="o", markersize=3,
            color=color, label=f"{label} {METRICS[metric].label}")
    spans = [(i[0] / scale, i[1] / scale) if (i := metric_interval(d, metric)) else None for d in docs]
    shown = [(t, v, s) for t, v, s in zip(times, values, spans) if s is not None and v is not None]
    if shown:
        ax.errorbar([t for t, _, _ in shown], [v for _, v, _ in shown],
                    yerr=[[max(0.0, v - s[0]) for _, v, s in shown], [max(0.0, s[1] - v) for _, v, s in shown]],
                    fmt="none", ecolor=color, elinewidth=0.8, capsize=2, alpha=0.7)
    for i in change_points(values):
        ax.plot([times[i]], [values[i]], "o", markersize=10, markerfacecolor="none", markeredgecolor=CHANGE_COLOR,
                markeredgewidth=1.6)
    return True


def _note_width(ax: Axes) -> int:
    """How many characters of a note, written downwards from the panel's top, fit in most of its height."""
    height_pt = ax.get_position().height * ax.get_figure().get_figheight() * 72  # type: ignore[union-attr]
    return max(12, int(0.95 * height_pt / (NOTE_FONT * NOTE_CHAR_WIDTH)))


def _annotate(ax: Axes, docs: list[Doc], color: Any) -> int:
    """A dotted line at each run whose settings changed from the previous one, the changes written beside it."""
    count = 0
    for before, after in zip(docs, docs[1:]):
        changes = setting_changes(before, after)
        if not changes:
            continue
        count += 1
        more = f" (+{len(changes) - MAX_NOTES})" if len(changes) > MAX_NOTES else ""
        width = _note_width(ax)
        text = "\n".join(textwrap.fill(change, width) for change in changes[:MAX_NOTES]) + more
        ax.axvline(_when(after), color=color, linestyle=":", linewidth=1.0)
        ax.annotate(text, (_when(after), 1.0), xycoords=("data", "axes fraction"), rotation=90, fontsize=NOTE_FONT,
                    va="top", ha="right", color=color, bbox={"facecolor": "white", "alpha": 0.7, "edgecolor": "none"})
    return count


@styled
def trend_figure(results: list[Doc]) -> Figure:
    """p50/p95 with intervals, accuracy and energy of each device x model configuration over time; change points
    circled, runs whose settings changed marked with what changed. ConfigError without a successful Result."""
    grouped = series(results)
    if not grouped:
        raise ConfigError("no successful stored results to draw over time")
    panels = [p for p in PANELS if any(metric_value(d, m) is not None for docs in grouped.values() for d in docs
                                       for m in p[1])] or [PANELS[0]]
    scales = {title: _scale(grouped, metrics) for title, metrics, _ in panels}
    rows = [title if scales[title] is None else f"{title} ({scales[title][0]})" for title, _, _ in panels]
    fig = new_figure(10.0, 1.2 + 2.4 * len(rows))
    axes = dict(zip(rows, fig.subplots(len(rows), 1, sharex=True, squeeze=False)[:, 0]))
    colors = label_colors(list(grouped))
    notes = 0
    for label, docs in grouped.items():
        for (title, metrics, _), row in zip(panels, rows):
            for metric in metrics:
                _draw(axes[row], docs, metric, colors[label], label, (scales[title] or ("", 1.0))[1])
        notes += _annotate(axes[rows[0]], docs, colors[label])
    for title, ax in axes.items():
        ax.set_ylabel(title)
        ax.grid(alpha=0.3)
    axes[rows[-1]].set_xlabel("run time (UTC)")
    fig.autofmt_xdate()
    handles, _ = axes[rows[0]].get_legend_handles_labels()
    handles.append(Line2D([], [], marker="o", linestyle="none", markersize=10, markerfacecolor="none",
                          markeredgecolor=CHANGE_COLOR, label="change point (edgeprof docs explain)"))
    if notes:
        handles.append(Line2D([], [], color="grey", linestyle=":", label="settings changed from the previous run"))
    fig.suptitle(titled(fig, "Over time: p50 (solid) and p95 (dashed) with 95% intervals"
                        + "".join(f", {name}" for _, _, name in panels if name)))
    fig.legend(handles=handles, loc="outside lower center", ncols=2)
    return fig


def write_trend(results: list[Doc], path: Path) -> Path:
    """Draw trend_figure into `path` in the format its suffix names (png, svg, pdf); ConfigError otherwise."""
    fmt = path.suffix.lower().lstrip(".")
    if fmt not in FORMATS:
        raise ConfigError(f"--plot {path}: name a .png, .svg or .pdf file")
    data = figure_bytes(trend_figure(results), fmt)
    try:
        path.write_bytes(data)
    except OSError as exc:
        raise ConfigError(f"--plot {path}: cannot write: {exc.strerror}") from exc
    return path
