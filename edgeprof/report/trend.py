"""Figures over time: p50/p95 with their intervals, top-1 accuracy and energy per inference of each device x model
configuration, run after run, with change points (edgeprof.compare.change_points) and changed settings
(edgeprof.explain.setting_changes) marked. Drawn like edgeprof.report.plots (Agg canvas, no pyplot).
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
from edgeprof.errors import ConfigError
from edgeprof.explain import setting_changes
from edgeprof.report.plots import FORMATS, figure_bytes, label_colors, new_figure, styled, titled
from edgeprof.result import Result, viewer
from edgeprof.units import duration_unit

Doc = dict[str, Any]
LATENCY = "latency"  # its panel's title gets the unit that suits the figures: 'latency (µs)'
PANELS = (("latency.p50_ms", "p50", LATENCY), ("latency.p95_ms", "p95", None),
          ("accuracy.top1", "top-1", "top-1 accuracy"), ("power.energy_mj_per_inference", "energy", "energy (mJ/inf)"))
CHANGE_COLOR = "#c0392b"
MAX_NOTES = 2  # changed settings written beside one run; more are counted
NOTE_FONT = 7  # points
NOTE_CHAR_WIDTH = 0.52  # a character's mean advance as a share of the font size (DejaVu Sans)


def _when(doc: Doc) -> datetime:
    return datetime.strptime(str(doc.get("created") or "1970-01-01T00:00:00Z"), "%Y-%m-%dT%H:%M:%SZ")


def _value(doc: Doc, path: str) -> float | None:
    section, key = path.split(".")
    value = (doc.get(section) or {}).get(key)
    return float(value) if isinstance(value, (int, float)) else None


def _interval(doc: Doc, name: str) -> tuple[float, float] | None:
    ci = ((doc.get("latency") or {}).get("ci") or {}).get(name)
    return (float(ci[0]), float(ci[1])) if ci else None


def series(results: list[Doc]) -> dict[str, list[Doc]]:
    """The successful Results grouped by device x model configuration (label), each oldest first."""
    view = viewer(results)
    grouped: dict[str, list[Doc]] = {}
    for doc in sorted((r for r in results if Result(r).ok), key=_when):
        grouped.setdefault(view(doc).label, []).append(doc)
    return grouped


def _draw(ax: Axes, docs: list[Doc], path: str, name: str, color: Any, label: str, scale: float = 1.0) -> bool:
    """One figure of one series on `ax` (divided by `scale`), with its interval and change points; False when none
    was measured."""
    times = [_when(d) for d in docs]
    values = [None if (v := _value(d, path)) is None else v / scale for d in docs]
    if all(v is None for v in values):
        return False
    style = "--" if name == "p95" else "-"
    ax.plot(times, [float("nan") if v is None else v for v in values], style, marker="o", markersize=3,
            color=color, label=f"{label} {name}")
    spans = [(i[0] / scale, i[1] / scale) if path.startswith("latency.") and (i := _interval(d, name)) else None
             for d in docs]
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
    panels = [p for p in PANELS if any(_value(d, p[0]) is not None for docs in grouped.values() for d in docs)]
    unit, scale = duration_unit(max((v for docs in grouped.values() for d in docs for path, _, _ in PANELS[:2]
                                     if (v := _value(d, path)) is not None), default=0.0))
    latency = f"{LATENCY} ({unit})"
    rows = [latency if title == LATENCY else title for _, _, title in panels if title] or [latency]
    fig = new_figure(10.0, 1.2 + 2.4 * len(rows))
    axes = dict(zip(rows, fig.subplots(len(rows), 1, sharex=True, squeeze=False)[:, 0]))
    colors = label_colors(list(grouped))
    notes = 0
    for label, docs in grouped.items():
        for path, name, title in panels:
            timed = title in (LATENCY, None)
            _draw(axes[latency if timed else title], docs, path, name, colors[label], label, scale if timed else 1.0)
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
                        + ", accuracy" * ("top-1 accuracy" in axes) + ", energy" * ("energy (mJ/inf)" in axes)))
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
