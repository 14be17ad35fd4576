"""Figures from stored Results: latency distributions, accuracy vs p95, cross-device bars, energy, run timelines, and
a language model's generation (TTFT, TPOT, tokens/s, perplexity, energy per token).

Every figure is a `matplotlib.figure.Figure` on the Agg canvas (no pyplot, no display, no global figure
registry), sized by its number of categories, with units in its labels and emulated/estimated figures marked.
"""

from __future__ import annotations

import functools
import io
import re
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
from matplotlib import rc_context  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402
from matplotlib.ticker import FuncFormatter  # noqa: E402
from numpy.lib.stride_tricks import sliding_window_view  # noqa: E402

from edgeprof.constraints import METRICS, metric_interval, metric_method, metric_value, workload_of  # noqa: E402
from edgeprof.decisions import Recommendation, Report  # noqa: E402
from edgeprof.errors import ConfigError  # noqa: E402
from edgeprof.result import Result, viewer  # noqa: E402
from edgeprof.units import bound_text, duration, duration_unit  # noqa: E402

FORMATS = ("png", "svg", "pdf")
DPI = 100
ESTIMATE_HATCH = "///"
EMULATED_STYLE = "--"
BUDGET_COLOR = "#c0392b"
SPREAD_FOR_LOG = 30  # a log axis once the largest figure shown is this many times the smallest
SPREAD_FOR_TIMELINE_LOG = 10  # a timeline's axis is logarithmic once its top (the p99) is this many medians
OFF_SCALE = 10  # a bar chart's budget this many times its tallest bar is noted, not drawn to scale
FORMAT_MARKER = {"onnx": "o", "tflite": "s"}  # accuracy-latency points: the file format by marker shape
POINT_ALPHA = 0.75  # points drawn see-through, so one on top of another still shows both
NEAR_X, NEAR_Y = 0.25, 0.04  # points' names closer than these fractions of the axes are stacked, not overlaid
CHAR_INCHES = 0.085  # a generous average character width at the 9 pt tick font
_RC = {"svg.hashsalt": "edgeprof", "svg.fonttype": "path", "font.size": 9, "axes.titlesize": 10}
_METADATA = {"png": {"Software": None}, "svg": {"Date": None, "Creator": None}, "pdf": {"CreationDate": None,
                                                                                         "Creator": None,
                                                                                         "Producer": None}}


@dataclass
class Plot:
    """One figure and what it shows: `name` is its file stem, `device` None for cross-device figures."""

    name: str
    caption: str
    device: str | None
    figure: Figure


# ---------------------------------------------------------------- reading Results


def _get(result: dict[str, Any], section: str, key: str) -> Any:
    return (result.get(section) or {}).get(key)


def emulation(result: dict[str, Any]) -> str | None:
    """The emulation mode of a Result ('qemu-tcg', ...) or None on real hardware."""
    method = _get(result, "latency", "method") or ""
    if method.startswith("emulated:"):
        return method.split(":", 1)[1]
    return (result.get("device_info") or {}).get("emulated")


def is_estimate(method: str | None) -> bool:
    """True for figures that come from a model, not a sensor (`estimate:...`)."""
    return bool(method) and str(method).startswith("estimate")


def budget(result: dict[str, Any], metric: str) -> tuple[str, float] | None:
    """(op, bound) of the stored verdict on `metric`, or None when the Result was not judged on it."""
    for verdict in result.get("verdicts") or []:
        if verdict.get("constraint") == metric and verdict.get("bound") is not None:
            return str(verdict["op"]), float(verdict["bound"])
    return None


def _scaled(bound: tuple[str, float] | None, scale: float) -> tuple[str, float] | None:
    """A budget (op, bound) in an axis's unit: the bound divided by `scale`."""
    return None if bound is None else (bound[0], bound[1] / scale)


def _measured(results: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in results if r.get("status") != "failed"]


def group_by(results: Iterable[dict[str, Any]], part: str) -> dict[str, list[dict[str, Any]]]:
    """Results grouped by one of their `Result` properties ('device', 'name', 'run_id'; '-' where unset), groups
    and members in first-seen order."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for result in results:
        groups.setdefault(str(getattr(Result(result), part) or "-"), []).append(result)
    return groups


def _mixed_formats(results: list[dict[str, Any]]) -> set[tuple[str, str]]:
    """(model, variant) pairs present in more than one file format (ONNX and TFLite of one variant)."""
    formats: dict[tuple[str, str], set[str]] = {}
    for result in results:
        view = Result(result)
        formats.setdefault((view.name, view.variant), set()).add(view.format)
    return {key for key, found in formats.items() if len(found) > 1}


def _variant_namer(results: list[dict[str, Any]], *, with_model: bool = False) -> Callable[[dict[str, Any]], str]:
    """How a figure of `results` names each: the variant (or model-variant), with its file format where another
    format of it is shown too, and its accelerator where not the default or the results mix accelerators."""
    mixed = _mixed_formats(results)
    view_of = viewer(results)

    def name(result: dict[str, Any]) -> str:
        view = view_of(result)
        if (view.name, view.variant) in mixed:
            return view.ref_label if with_model else view.variant_label
        return (view.ref if with_model else view.variant) + view.accelerator_tag
    return name


def _run_names(run_ids: list[str]) -> dict[str, str]:
    """Short names for run ids ('20261129T031500Z-3f2a9c' -> 'run 3f2a9c'): the part after the last separator
    where that tells them apart, else the whole id (never cut mid-string)."""
    tails = {run: re.split(r"[-_]", run)[-1] for run in run_ids}
    unique = len(set(tails.values())) == len(tails)
    return {run: f"run {tails[run] if unique else run}" for run in run_ids}


def _labels(results: list[dict[str, Any]], *, with_model: bool = True) -> list[str]:
    """Category names; a short run name on its own line where the same variant appears from several runs."""
    name = _variant_namer(results, with_model=with_model)
    base = [name(r) for r in results]
    repeated = {b for b in base if base.count(b) > 1}
    runs = _run_names(list(dict.fromkeys(str(r.get("run_id") or "-") for r in results)))
    return [f"{b}\n{runs[str(r.get('run_id') or '-')]}" if b in repeated else b for b, r in zip(base, results)]


def _categories(results: list[dict[str, Any]]) -> tuple[list[str], str, str]:
    """Category labels, the axis name and a subject for the title: variants alone when there is one model."""
    models = list(dict.fromkeys(Result(r).name for r in results))
    if len(models) == 1:
        return _labels(results, with_model=False), "variant", f"{models[0]}, "
    return _labels(results), "model-variant", ""


def _with_samples(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The measured Results that kept raw latency samples; ValueError when there are none."""
    rows = [r for r in _measured(results) if _get(r, "latency", "samples_ms")]
    if not rows:
        raise ValueError("no latency samples to plot")
    return rows


def _emulated_note(results: list[dict[str, Any]]) -> str:
    modes = sorted({m for m in (emulation(r) for r in results) if m})
    return f" [EMULATED: {', '.join(modes)}; relative timing, not a real board's]" if modes else ""


def _emulated_legend(results: list[dict[str, Any]], what: str = "timing") -> str:
    """The suffix legend entries carry when any of the Results was measured under emulation."""
    return f" (emulated {what})" if any(emulation(r) for r in results) else ""


def titled(fig: Figure, text: str) -> str:
    """The title wrapped to the figure's width."""
    return _wrap(text, max(40, int(fig.get_figwidth() * 13)))


# ---------------------------------------------------------------- layout helpers


def new_figure(width: float, height: float) -> Figure:
    """A figure of this size (inches) on its own Agg canvas, laid out by matplotlib's constrained layout."""
    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _category_width(n: int, per: float = 0.95, minimum: float = 6.4) -> float:
    return max(minimum, 2.2 + per * n)


def _wrap(text: str, width: int = 18) -> str:
    """Wrap each line of `text` to `width` characters (names break at hyphens, titles at spaces only; a word is
    never cut, so a run id stays whole)."""
    return "\n".join(textwrap.fill(line, width=width, break_long_words=False, break_on_hyphens=width < 40)
                     for line in text.split("\n"))


def _category_axis(ax: Axes, positions: list[float], labels: list[str]) -> None:
    """Category ticks: horizontal names wrapped to the width each category has on the axis."""
    inches = ax.get_figure().get_figwidth() * ax.get_position().width / max(len(labels), 1)
    chars = max(6, int(inches / CHAR_INCHES))
    ax.set_xticks(positions)
    ax.set_xticklabels([_wrap(label, chars) for label in labels])


def label_colors(labels: list[str]) -> dict[str, Any]:
    """One colour per distinct label, in first-seen order (tab10, or tab20 past ten labels)."""
    cmap = matplotlib.colormaps["tab10" if len(set(labels)) <= 10 else "tab20"]
    return {label: cmap(i % cmap.N) for i, label in enumerate(dict.fromkeys(labels))}


def _budget_segments(ax: Axes, spans: list[tuple[float, float]], bounds: list[tuple[str, float] | None],
                     unit: str, what: str, scale: float = 1.0) -> Line2D | None:
    """Draw each category's bound over its span (one line per run of equal bounds; `bounds` in the axis's unit,
    `scale` of the metric's `unit` per axis unit); the legend handle or None."""
    start = 0
    for i in range(1, len(spans) + 1):
        if i < len(spans) and bounds[i] == bounds[start]:
            continue
        if bounds[start] is not None:
            ax.hlines(bounds[start][1], spans[start][0], spans[i - 1][1], colors=BUDGET_COLOR,
                      linestyles="--", linewidth=1.6, zorder=5, label="_budget")
        start = i
    present = sorted({b for b in bounds if b is not None}, key=lambda b: b[1])
    if not present:
        return None
    text = f"{what} budget " + ", ".join(f"{op} {bound_text(bound * scale, unit)}" for op, bound in present)
    return Line2D([], [], color=BUDGET_COLOR, linestyle="--", linewidth=1.6, label=text)


def _off_scale(ax: Axes, line: Line2D, bounds: list[tuple[str, float] | None], values: list[float],
               bottom: float = 0.0) -> Line2D:
    """Keep bars and boxes readable when the budget is far above them: clip the axis (from `bottom`) and say so in
    the legend entry."""
    top = max((b[1] for b in bounds if b is not None), default=0.0)
    if values and max(values) > 0 and top > OFF_SCALE * max(values):
        ax.set_ylim(bottom, max(values) * 1.25)
        line.set_label(f"{line.get_label()} (off scale, above the axis)")
    return line


def _plain_log_ticks(axis: Any) -> None:
    """Tick labels of a log axis as plain numbers (0.1, 20, 50), not powers of ten; minor ticks at 2 and 5 only."""
    axis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    axis.set_minor_formatter(FuncFormatter(
        lambda value, _: f"{value:g}" if value > 0 and round(value / 10 ** np.floor(np.log10(value))) in (2, 5)
        else ""))


def styled(draw: Callable[..., Figure]) -> Callable[..., Figure]:
    """Build the figure under edgeprof's rc settings (font sizes, deterministic SVG ids)."""
    @functools.wraps(draw)
    def wrapper(*args: Any, **kwargs: Any) -> Figure:
        with rc_context(_RC):
            return draw(*args, **kwargs)
    return wrapper


# ---------------------------------------------------------------- figures


@styled
def latency_distribution_figure(results: list[dict[str, Any]]) -> Figure:
    """One device: box plot of the raw per-inference latencies of each variant, its p95 and the p95 budget."""
    rows = _with_samples(results)
    labels, axis_name, subject = _categories(rows)
    raw = [np.asarray(_get(r, "latency", "samples_ms"), dtype=float) for r in rows]
    unit, scale = duration_unit(max(float(np.percentile(d, 99)) for d in raw))  # the unit the tables use
    data = [d / scale for d in raw]
    positions = list(range(1, len(rows) + 1))
    fig = new_figure(_category_width(len(rows)), 4.8)
    ax = fig.add_subplot()
    colors = label_colors(labels)
    boxes = ax.boxplot(data, positions=positions, widths=0.6, whis=(1, 99), showfliers=False, patch_artist=True)
    for patch, label in zip(boxes["boxes"], labels):
        patch.set_facecolor(colors[label])
        patch.set_alpha(0.55)
    p95 = [_get(r, "latency", "p95_ms") for r in rows]
    mode = _emulated_note(rows)
    marker = ax.scatter(positions, [np.nan if v is None else v / scale for v in p95], marker="D", color="black", zorder=6,
                        s=22, label="p95" + _emulated_legend(rows))
    handles = [Patch(facecolor="grey", alpha=0.55, label="box: p25–p75, line: median, whiskers: p1–p99"), marker]
    bounds = [_scaled(budget(r, "latency.p95_ms"), scale) for r in rows]
    line = _budget_segments(ax, [(p - 0.4, p + 0.4) for p in positions], bounds, "ms", "p95", scale)
    low = min(float(np.percentile(d, 1)) for d in data)
    high = max(float(np.percentile(d, 99)) for d in data)  # the axis follows the data, not the budget
    log = low > 0 and max([high] + [b[1] for b in bounds if b and b[1] <= OFF_SCALE * high]) / low > SPREAD_FOR_LOG
    if log:
        ax.set_yscale("log")
    handles += [_off_scale(ax, line, bounds, [high], bottom=low / 1.4 if log else 0.0)] if line is not None else []
    _category_axis(ax, positions, labels)
    ax.set_ylabel(f"latency per inference ({unit})")
    ax.set_xlabel(axis_name)
    ax.set_title(titled(fig, f"{Result(rows[0]).device}: {subject}latency distribution per variant ({unit}){mode}"))
    ax.grid(axis="y", alpha=0.3)
    fig.legend(handles=handles, loc="outside lower center", ncols=min(3, len(handles)))
    return fig


@styled
def accuracy_latency_figure(results: list[dict[str, Any]], recommendation: Recommendation | None = None) -> Figure:
    """One device x model: top-1 accuracy vs p95 latency (CI error bars), feasible region, Pareto front, pick."""
    rows = [r for r in _measured(results) if _get(r, "accuracy", "top1") is not None
            and _get(r, "latency", "p95_ms") is not None]
    if not rows:
        raise ValueError("no results with both accuracy and p95 latency")
    labels = _labels(rows, with_model=False)
    colors = label_colors(labels)
    unit, scale = duration_unit(max(float(_get(r, "latency", "p95_ms")) for r in rows))  # the tables' unit

    def p95(result: dict[str, Any]) -> float:
        return float(_get(result, "latency", "p95_ms")) / scale

    fig = new_figure(8.0, 5.2)
    ax = fig.add_subplot()
    xs, ys = [], []
    confidence = None
    for result, label in zip(rows, labels):
        latency = result["latency"]
        x, y = p95(result), 100.0 * float(result["accuracy"]["top1"])
        ci = [v / scale for v in (latency.get("ci") or {}).get("p95") or []] or None
        confidence = confidence or (latency.get("ci") or {}).get("confidence")
        xerr = [[x - ci[0]], [ci[1] - x]] if ci else None
        ax.errorbar([x], [y], xerr=xerr, fmt=FORMAT_MARKER.get(Result(result).format, "o"), color=colors[label],
                    capsize=4, markersize=7, alpha=POINT_ALPHA, label=label + _emulated_legend([result]), zorder=4)
        xs += [x] + (list(ci) if ci else [])
        ys.append(y)
    lat = _scaled(budget(rows[0], "latency.p95_ms"), scale)
    acc = budget(rows[0], "accuracy.top1")
    lat_off = lat is not None and lat[1] > OFF_SCALE * max(xs)  # the axis follows the points, not a far budget
    xs += [lat[1]] if lat and not lat_off else []
    ys += [100.0 * acc[1]] if acc else []
    x_lo, x_hi = min(xs), max(xs)
    y_lo, y_hi = min(ys), max(ys)
    x_pad, y_pad = max((x_hi - x_lo) * 0.12, x_hi * 0.05, 1e-3), max((y_hi - y_lo) * 0.15, 0.5)
    if x_lo > 0 and x_hi / x_lo > SPREAD_FOR_LOG:
        ax.set_xscale("log")
        ax.set_xlim(x_lo / 1.4, x_hi * 1.4)
        _plain_log_ticks(ax.xaxis)
    else:
        ax.set_xlim(max(0.0, x_lo - x_pad), x_hi + x_pad)
    ax.set_ylim(y_lo - y_pad, min(100.0 + y_pad / 3, y_hi + y_pad))
    (xl, xr), (yb, yt) = ax.get_xlim(), ax.get_ylim()
    if lat or acc:
        ax.fill_between([xl, min(lat[1], xr) if lat else xr], 100.0 * acc[1] if acc else yb, yt, color="tab:green",
                        alpha=0.12, zorder=0, label="feasible region")
    if lat:
        ax.axvline(lat[1], color=BUDGET_COLOR, linestyle="--", label=f"p95 budget {lat[0]} {duration(lat[1] * scale)}"
                   + (" (off scale, right of the axis)" if lat_off else ""))
        ax.set_xlim(xl, xr)
    if acc:
        ax.axhline(100.0 * acc[1], color="tab:green", linestyle="--",
                   label=f"top-1 minimum {acc[0]} {100.0 * acc[1]:g} %")
    if recommendation is not None:
        front = sorted(recommendation.front, key=lambda r: float(_get(r, "latency", "p95_ms")))
        front = [r for r in front if _get(r, "accuracy", "top1") is not None]
        if front:
            ax.plot([p95(r) for r in front],
                    [100.0 * float(_get(r, "accuracy", "top1")) for r in front], "-s", color="dimgrey",
                    linewidth=2.0, markersize=12, markerfacecolor="none", markeredgewidth=1.4, zorder=3,
                    label="Pareto front (accuracy vs p95)")
        best = recommendation.best
        if best is not None:
            ax.scatter([p95(best)], [100.0 * float(_get(best, "accuracy", "top1"))],
                       marker="*", s=380, facecolor="none", edgecolor="black", linewidth=1.5, zorder=6,
                       label=f"recommended: {_variant_namer(rows)(best)}")
    _point_labels(ax, [(p95(r), 100.0 * float(r["accuracy"]["top1"])) for r in rows], labels)
    level = f"{confidence:.0%} CI" if confidence else "CI"
    mode = _emulated_note(rows)
    ax.set_xlabel(f"p95 latency ({unit}), error bars: {level}" + (" — emulated timing" if mode else ""))
    ax.set_ylabel("top-1 accuracy (%)")
    ax.set_title(titled(fig, f"{Result(rows[0]).device} / {Result(rows[0]).name}: accuracy vs p95 latency{mode}"))
    ax.grid(alpha=0.3)
    missing = [Result(r).ref for r in _measured(results) if r not in rows]
    if missing:
        ax.text(0.01, 0.01, _wrap("no accuracy measured: " + ", ".join(missing), 90), transform=ax.transAxes,
                fontsize=7, va="bottom")
    fig.legend(loc="outside right upper")
    return fig


def _point_labels(ax: Axes, points: list[tuple[float, float]], labels: list[str]) -> None:
    """Name each point beside it; points whose names would run into each other (closer than NEAR_X across and
    NEAR_Y up) get their names stacked, so none hides another."""
    (xl, xr), (yb, yt) = ax.get_xlim(), ax.get_ylim()
    log = ax.get_xscale() == "log"
    where = [((np.log10(x) - np.log10(xl)) / (np.log10(xr) - np.log10(xl)) if log else (x - xl) / (xr - xl),
              (y - yb) / (yt - yb)) for x, y in points]
    for i, ((x, y), label) in enumerate(zip(points, labels)):
        near = sum(1 for j in range(i) if abs(where[j][0] - where[i][0]) < NEAR_X
                   and abs(where[j][1] - where[i][1]) < NEAR_Y)
        ax.annotate(label, (x, y), xytext=(7, 5 - 10 * near), textcoords="offset points", fontsize=7, zorder=7)


def _axis(label: str, rows: list[dict[str, Any]], metrics: tuple[str, ...]) -> tuple[str, float]:
    """An axis of `metrics` (one unit): its label (a duration's with the unit that suits the tallest bar, interval
    included, as the tables show it) and the metric's unit per axis unit."""
    if METRICS[metrics[0]].unit != "ms":
        return label, 1.0
    tops = [(metric_interval(r, m) or (0.0, metric_value(r, m) or 0.0))[1] for r in rows for m in metrics]
    unit, scale = duration_unit(max(tops, default=0.0))
    return f"{label} ({unit})", scale


# what the cross-device figure compares, per workload: (metric, axis label: a duration's unit is added to it, what its
# budget is called)
DEVICE_PANELS = {
    "classifier": (("latency.p95_ms", "p95 latency", "p95"),
                   ("memory.peak_rss_mb", "peak memory (MB RSS)", "memory"),
                   ("power.energy_mj", "energy per inference (mJ)", "energy")),
    "generative": (("generation.tpot_p95_ms", "TPOT p95 per token", "TPOT p95"),
                   ("memory.peak_rss_mb", "peak memory (MB RSS)", "memory"),
                   ("generation.energy_mj_per_token", "energy per token (mJ)", "energy")),
}


@styled
def device_comparison_figure(results: list[dict[str, Any]]) -> Figure:
    """One model across devices: grouped bars of its workload's speed (p95 latency; a language model's TPOT p95,
    with their 95% intervals), peak memory and energy (per inference; per token), with budgets."""
    rows = _measured(results)
    if not rows:
        raise ValueError("no measured results to compare")
    devices = list(group_by(rows, "device"))
    name = _variant_namer(rows)
    variants = list(dict.fromkeys(name(r) for r in rows))
    colors = label_colors(variants)
    width = 0.8 / len(variants)
    fig = new_figure(_category_width(len(devices), per=0.4 + 0.22 * len(variants), minimum=8.0),
                      9.0 + 0.25 * len(variants))
    panels = DEVICE_PANELS[workload_of(rows[0]).name]
    axes = fig.subplots(len(panels), 1, sharex=True)
    budgets: list[Line2D] = []
    for ax, (metric, label, what) in zip(axes, panels):
        unit = METRICS[metric].unit
        ylabel, scale = _axis(label, rows, (metric,))
        spans, bounds, values = [], [], []
        for d, device in enumerate(devices):
            members = {name(r): r for r in rows if Result(r).device == device}
            for v, variant in enumerate(variants):
                result = members.get(variant)
                value = metric_value(result, metric) if result else None
                x = d - 0.4 + width * (v + 0.5)
                if result is None or value is None:
                    ax.text(x, 0, "n/m", rotation=90, ha="center", va="bottom", fontsize=7, color="grey")
                    continue
                ci = [c / scale for c in metric_interval(result, metric) or ()]
                value /= scale
                ax.bar(x, value, width * 0.92, color=colors[variant],
                       hatch=ESTIMATE_HATCH if is_estimate(metric_method(result, metric)) else None,
                       edgecolor="black", linewidth=0.6, linestyle=EMULATED_STYLE if emulation(result) else "-",
                       yerr=[[value - ci[0]], [ci[1] - value]] if ci else None, ecolor="black", capsize=2)
                values.append(ci[1] if ci else value)
            spans.append((d - 0.45, d + 0.45))
            bounds.append(_scaled(next((budget(r, metric) for r in rows
                                        if Result(r).device == device and budget(r, metric)), None), scale))
        ax.set_ylabel(_wrap(ylabel, 22))
        ax.grid(axis="y", alpha=0.3)
        if not values:
            ax.text(0.5, 0.5, f"{what}: not measured on any device", transform=ax.transAxes, ha="center",
                    color="grey")
            continue
        line = _budget_segments(ax, spans, bounds, unit, what, scale)
        budgets += [_off_scale(ax, line, bounds, values)] if line is not None else []
    legend = [Patch(facecolor=colors[v], edgecolor="black", label=v) for v in variants]
    if any(is_estimate(_get(r, "power", "method")) for r in rows):
        legend.append(Patch(facecolor="white", edgecolor="black", hatch=ESTIMATE_HATCH,
                            label="hatched: estimated energy (not a sensor)"))
    if any(emulation(r) for r in rows):
        legend.append(Patch(facecolor="white", edgecolor="black", linestyle=EMULATED_STYLE,
                            label="dashed outline: emulated device"))
    legend += budgets
    ticks = [f"{device}\n(emulated)" if any(emulation(r) for r in rows if Result(r).device == device) else device
             for device in devices]
    _category_axis(axes[-1], list(range(len(devices))), ticks)
    axes[-1].set_xlabel("device")
    named = [label.split(" (")[0] for _, label, _ in panels]
    shown = f"{', '.join(named[:-1])} and {named[-1]}"
    fig.suptitle(titled(fig, f"{Result(rows[0]).name}: {shown} per device" + _emulated_note(rows)))
    fig.legend(handles=legend, loc="outside lower center", title="variant", ncols=max(2, int(fig.get_figwidth() // 4)))
    return fig


# a language model's generation figure: (axis label: a duration's unit is added to it, the metrics drawn side by side:
# p50 light, p95 dark)
GENERATION_PANELS = (("time to first token", ("generation.ttft_p50_ms", "generation.ttft_p95_ms")),
                     ("time per output token", ("generation.tpot_p50_ms", "generation.tpot_p95_ms")),
                     ("decode (tokens/s)", ("generation.decode_tokens_per_s",)),
                     ("perplexity", ("generation.perplexity",)),
                     ("energy per token (mJ)", ("generation.energy_mj_per_token",)))


@styled
def generation_figure(results: list[dict[str, Any]]) -> Figure:
    """One device: per language-model variant, TTFT and TPOT (p50 and p95 bars with their 95% intervals), decode
    tokens/s, perplexity (with its interval) and energy per token (estimates hatched), each with its budget."""
    rows = [r for r in _measured(results) if Result(r).generation]
    if not rows:
        raise ValueError("no generation to plot")
    labels, axis_name, subject = _categories(rows)
    colors = label_colors(labels)
    fig = new_figure(_category_width(len(rows)), 2.2 * len(GENERATION_PANELS) + 1.2)
    axes = fig.subplots(len(GENERATION_PANELS), 1, sharex=True)
    positions = list(range(len(rows)))
    budgets: list[Line2D] = []
    for ax, (label, metrics) in zip(axes, GENERATION_PANELS):
        width = 0.8 / len(metrics)
        ylabel, scale = _axis(label, rows, metrics)
        values = []
        for x, (result, name) in enumerate(zip(rows, labels)):
            for k, metric in enumerate(metrics):
                value = metric_value(result, metric)
                at = x - 0.4 + width * (k + 0.5)
                if value is None:
                    ax.text(at, 0, "n/m", rotation=90, ha="center", va="bottom", fontsize=7, color="grey")
                    continue
                ci = [c / scale for c in metric_interval(result, metric) or ()]
                value /= scale
                ax.bar(at, value, width * 0.92, color=colors[name], alpha=1.0 if k == len(metrics) - 1 else 0.5,
                       hatch=ESTIMATE_HATCH if is_estimate(metric_method(result, metric)) else None,
                       edgecolor="black", linewidth=0.6, linestyle=EMULATED_STYLE if emulation(result) else "-",
                       yerr=[[value - ci[0]], [ci[1] - value]] if ci else None, ecolor="black", capsize=2)
                values.append(ci[1] if ci else value)
        judged = metrics[-1]  # a percentile panel's budget is its p95's
        bounds = [_scaled(budget(r, judged), scale) for r in rows]
        line = _budget_segments(ax, [(p - 0.4, p + 0.4) for p in positions], bounds, METRICS[judged].unit,
                                METRICS[judged].label, scale)
        budgets += [_off_scale(ax, line, bounds, values)] if line is not None and values else []
        ax.set_ylabel(_wrap(ylabel, 22))
        ax.grid(axis="y", alpha=0.3)
    legend = [Patch(facecolor="grey", alpha=0.5, edgecolor="black", label="light: p50"),
              Patch(facecolor="grey", edgecolor="black", label="dark: p95 (error bars: 95% intervals)")]
    if any(is_estimate(_get(r, "power", "method")) for r in rows):
        legend.append(Patch(facecolor="white", edgecolor="black", hatch=ESTIMATE_HATCH,
                            label="hatched: estimated energy (not a sensor)"))
    _category_axis(axes[-1], positions, labels)
    axes[-1].set_xlabel(axis_name)
    fig.suptitle(titled(fig, f"{Result(rows[0]).device}: {subject}generation per variant: TTFT, TPOT, decode "
                             "tokens/s, perplexity, energy per token" + _emulated_note(rows)))
    fig.legend(handles=legend + budgets, loc="outside lower center", ncols=2)
    return fig


@styled
def energy_figure(results: list[dict[str, Any]]) -> Figure:
    """One device: energy per inference and average power per variant; estimates hatched, method in the legend."""
    rows = [r for r in _measured(results) if _get(r, "power", "energy_mj_per_inference") is not None
            or _get(r, "power", "avg_w") is not None]
    if not rows:
        raise ValueError("no power data to plot")
    labels, axis_name, subject = _categories(rows)
    positions = list(range(len(rows)))
    fig = new_figure(_category_width(len(rows)), 7.0)
    axes = fig.subplots(2, 1, sharex=True)
    methods = list(dict.fromkeys(str(_get(r, "power", "method")) for r in rows))
    palette = label_colors(methods)
    budgets: list[Line2D] = []
    for ax, key, metric, ylabel, unit, what in (
            (axes[0], "energy_mj_per_inference", "power.energy_mj", "energy per inference (mJ)", "mJ", "energy"),
            (axes[1], "avg_w", "power.avg_w", "average power (W)", "W", "power")):
        for x, result in zip(positions, rows):
            value = _get(result, "power", key)
            if value is None:
                continue
            method = str(_get(result, "power", "method"))
            ax.bar(x, float(value), 0.6, color=palette[method], edgecolor="black", linewidth=0.6,
                   hatch=ESTIMATE_HATCH if is_estimate(method) else None, alpha=0.6 if is_estimate(method) else 1)
        bounds = [budget(r, metric) for r in rows]
        line = _budget_segments(ax, [(p - 0.4, p + 0.4) for p in positions], bounds, unit, what)
        values = [float(v) for r in rows if (v := _get(r, "power", key)) is not None]
        budgets += [_off_scale(ax, line, bounds, values)] if line is not None else []
        ax.set_ylabel(ylabel)
        ax.grid(axis="y", alpha=0.3)
    legend = [Patch(facecolor=palette[m], edgecolor="black", hatch=ESTIMATE_HATCH if is_estimate(m) else None,
                    alpha=0.6 if is_estimate(m) else 1,
                    label=(f"{m} (estimate, not measured)" if is_estimate(m) else m) + _emulated_legend(rows, "device"))
              for m in methods]
    legend += budgets
    _category_axis(axes[-1], positions, labels)
    axes[-1].set_xlabel(axis_name)
    fig.suptitle(titled(fig, f"{Result(rows[0]).device}: {subject}energy per inference (mJ) and average power (W)"
                             + _emulated_note(rows)))
    fig.legend(handles=legend, loc="outside lower center", title="power method", ncols=min(2, len(legend)))
    return fig


def _hottest(temps: dict[str, float] | None) -> float | None:
    return max(temps.values()) if temps else None


def _thermal_ends(result: dict[str, Any]) -> tuple[float, float] | None:
    """(hottest zone before, after) the run where a thermal sensor read both, else None."""
    thermal = result.get("thermal") or {}
    before, after = _hottest(thermal.get("before_c")), _hottest(thermal.get("after_c"))
    return (before, after) if thermal.get("method", "none") != "none" and before is not None and after is not None \
        else None


@styled
def timeline_figure(results: list[dict[str, Any]]) -> Figure:
    """One device: each variant's latencies in run order with a rolling median, in the unit that suits the median,
    the axis up to the p99 (rarer spikes clipped and counted; logarithmic where the p99 dwarfs the median);
    temperatures on a twin axis where measured."""
    rows = _with_samples(results)
    labels, _, subject = _categories(rows)
    unit, scale = duration_unit(float(np.median(np.concatenate(
        [np.asarray(r["latency"]["samples_ms"], dtype=float) for r in rows]))))
    fig = new_figure(9.0, 1.1 + 2.0 * len(rows))
    axes = np.atleast_1d(fig.subplots(len(rows), 1, squeeze=False)[:, 0])
    handles: dict[str, Any] = {}
    for ax, result, label in zip(axes, rows, labels):
        samples = np.asarray(result["latency"]["samples_ms"], dtype=float) / scale
        index = np.arange(len(samples))
        (raw,) = ax.plot(index, samples, linewidth=0.5, color="tab:blue", alpha=0.5,
                         label="each inference" + _emulated_legend(rows))
        window = max(5, len(samples) // 50)
        handles.setdefault("raw", raw)
        if len(samples) >= window:
            med = np.median(sliding_window_view(samples, window), axis=1)
            (line,) = ax.plot(index[window - 1:], med, color="tab:blue", linewidth=1.6,
                              label=f"rolling median ({window} inferences)")
            handles.setdefault("median", line)
        drift = result["latency"].get("drift") or {}
        flag = f" — drift flagged (last/first decile ×{drift['ratio']:.2f})" if drift.get("flag") else ""
        mode = emulation(result)
        ax.set_title(f"{label}{' (emulated: ' + mode + ')' if mode else ''}{flag}", loc="left")
        top = float(np.percentile(samples, 99)) * 1.15
        spikes = samples[samples > top]
        if top > SPREAD_FOR_TIMELINE_LOG * float(np.median(samples)) > 0:  # a median that would hug zero
            ax.set_yscale("log")
            ax.set_ylim(float(samples.min()) / 1.15, top)
            _plain_log_ticks(ax.yaxis)
        elif len(spikes) and top > 0:
            ax.set_ylim(0, top)
        if len(spikes) and top > 0:
            ax.set_title(f"{len(spikes)} spike{'s' if len(spikes) != 1 else ''} above the p99 clipped, up to "
                         f"{duration(float(spikes.max()) * scale)}", loc="right", fontsize=8, color="grey")
        ax.set_ylabel(f"latency ({unit})")
        ax.grid(alpha=0.3)
        ends = _thermal_ends(result)
        if ends is not None:
            twin = ax.twinx()
            (temp,) = twin.plot([0, len(samples) - 1], list(ends), "o-", color="tab:red", linewidth=0.8,
                                label="hottest zone before and after the run (°C)")
            handles.setdefault("temp", temp)
            max_c = (result.get("thermal") or {}).get("max_c")
            if max_c is not None:
                peak = twin.axhline(float(max_c), color="tab:red", linestyle=":",
                                    label="max temperature during run (°C)")
                handles.setdefault("max", peak)
            twin.set_ylabel("temperature (°C)", color="tab:red")
    axes[-1].set_xlabel("inference # (run order)")
    heat = (" and temperature (°C)" if any(_thermal_ends(r) for r in rows)
            else " (no temperature: no thermal sensor read)")
    fig.suptitle(titled(fig, f"{Result(rows[0]).device}: {subject}latency over the run ({unit}){heat}"
                             + _emulated_note(rows)))
    fig.legend(handles=list(handles.values()), loc="outside lower center", ncols=2)
    return fig


def _offline(result: dict[str, Any]) -> dict[str, Any] | None:
    scenario = result.get("scenario") or {}
    return scenario if scenario.get("name") == "offline" and scenario.get("points") else None


@styled
def throughput_figure(results: list[dict[str, Any]]) -> Figure:
    """One device: offline throughput against batch size, one line per variant x thread count (offline sweeps)."""
    rows = [r for r in results if _offline(r)]
    labels, _, subject = _categories(rows)
    fig = new_figure(8.0, 5.0)
    ax = fig.subplots()
    for result, label in zip(rows, labels):
        points = _offline(result)["points"]  # type: ignore[index]
        for threads in sorted({p["threads"] or 0 for p in points}):
            line = sorted((p for p in points if (p["threads"] or 0) == threads), key=lambda p: p["batch"])
            ax.plot([p["batch"] for p in line], [p["inferences_per_s"] for p in line], marker="o",
                    label=f"{label}, {threads or 'default'} thread{'s' if threads != 1 else ''}"
                    + _emulated_legend(rows))
    ax.set_xscale("log", base=2)
    batches = sorted({p["batch"] for r in rows for p in _offline(r)["points"]})  # type: ignore[index]
    ax.set_xticks(batches, [str(b) for b in batches])
    ax.set_xlabel("batch size (inferences per call)")
    ax.set_ylabel("throughput (inferences/s)")
    ax.grid(alpha=0.3)
    fig.suptitle(titled(fig, f"{Result(rows[0]).device}: {subject}offline throughput vs batch size and threads"
                             + _emulated_note(rows)))
    fig.legend(loc="outside lower center", ncols=2)
    return fig


# ---------------------------------------------------------------- all figures, files


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "x"


def build_plots(report: Report) -> list[Plot]:
    """Every figure the report's Results support, in a stable order: per device (a language model's generation
    figure after the classifiers'), then per model across devices; the accuracy figures mark each
    recommendation."""
    measured = _measured(report.results)
    plots: list[Plot] = []
    for device, on_device in group_by(measured, "device").items():
        rows = [r for r in on_device if not Result(r).generative]  # a language model has figures of its own
        generative = [r for r in on_device if Result(r).generative]
        note = " (emulated)" if any(emulation(r) for r in rows) else ""
        if any(_get(r, "latency", "samples_ms") for r in rows):
            plots.append(Plot(f"latency-{_slug(device)}", f"{device}{note}: latency distribution per variant",
                              device, latency_distribution_figure(rows)))
        for model, members in group_by(rows, "name").items():
            if any(_get(r, "accuracy", "top1") is not None and _get(r, "latency", "p95_ms") is not None
                   for r in members):
                plots.append(Plot(f"accuracy-{_slug(device)}-{_slug(model)}",
                                  f"{device}{note} / {model}: accuracy vs p95 latency", device,
                                  accuracy_latency_figure(members, report.recommendation(device, model))))
        if any(_get(r, "power", "energy_mj_per_inference") is not None or _get(r, "power", "avg_w") is not None
               for r in rows):
            plots.append(Plot(f"energy-{_slug(device)}", f"{device}{note}: energy per inference and average power",
                              device, energy_figure(rows)))
        if any(_get(r, "latency", "samples_ms") for r in rows):
            plots.append(Plot(f"timeline-{_slug(device)}", f"{device}{note}: latency over the run",
                              device, timeline_figure(rows)))
        if any(_offline(r) for r in rows):
            plots.append(Plot(f"throughput-{_slug(device)}", f"{device}{note}: offline throughput vs batch and threads",
                              device, throughput_figure(rows)))
        if any(Result(r).generation for r in generative):
            note = " (emulated)" if any(emulation(r) for r in generative) else ""
            plots.append(Plot(f"generation-{_slug(device)}", f"{device}{note}: generation per variant (TTFT, TPOT, "
                              "tokens/s, perplexity, energy per token)", device, generation_figure(generative)))
    for model, rows in group_by(measured, "name").items():
        plots.append(Plot(f"devices-{_slug(model)}", f"{model}: comparison across devices", None,
                          device_comparison_figure(rows)))
    return plots


def figure_bytes(fig: Figure, fmt: str) -> bytes:
    """The figure rendered to `fmt` (png, svg, pdf), deterministically: fixed salt, no dates in the metadata."""
    if fmt not in FORMATS:
        raise ConfigError(f"--format: unknown figure format {fmt!r} (choose from {', '.join(FORMATS)})")
    buffer = io.BytesIO()
    with rc_context(_RC):
        fig.savefig(buffer, format=fmt, dpi=DPI, metadata=_METADATA[fmt], bbox_inches="tight", pad_inches=0.1)
    return buffer.getvalue()


def parse_formats(text: str) -> list[str]:
    """'png,svg' -> ['png', 'svg']; ConfigError naming the flag for an unknown format."""
    formats = [f.strip().lower() for f in text.split(",") if f.strip()]
    unknown = [f for f in formats if f not in FORMATS]
    if unknown or not formats:
        raise ConfigError(f"--format: unknown figure format {', '.join(unknown) or repr(text)} "
                          f"(choose from {', '.join(FORMATS)})")
    return formats


def make_plots(report: Report, out_dir: Path, formats: list[str]) -> list[Path]:
    """Write every figure of the report once per format into out_dir; the paths written."""
    for fmt in formats:
        if fmt not in FORMATS:
            raise ConfigError(f"--format: unknown figure format {fmt!r} (choose from {', '.join(FORMATS)})")
    plots = build_plots(report)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"--out: cannot create {out_dir}: {exc.strerror}") from exc
    written = []
    for plot in plots:
        for fmt in formats:
            path = out_dir / f"{plot.name}.{fmt}"
            try:
                path.write_bytes(figure_bytes(plot.figure, fmt))
            except OSError as exc:
                raise ConfigError(f"--out: cannot write {path}: {exc.strerror}") from exc
            written.append(path)
    return written
