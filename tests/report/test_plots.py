"""Each figure read back: series, labels with units, budget lines, hatched estimates, emulated marks, layout."""

from __future__ import annotations

import itertools
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from matplotlib.collections import LineCollection, PolyCollection
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from edgeprof.decisions import Report
from edgeprof.errors import ConfigError
from edgeprof.report import plots
from edgeprof.report.plots import (
    BUDGET_COLOR,
    accuracy_latency_figure,
    build_plots,
    device_comparison_figure,
    energy_figure,
    figure_bytes,
    latency_distribution_figure,
    make_plots,
    timeline_figure,
)
from edgeprof.verdicts import build_report


def on(results: list[dict[str, Any]], device: str) -> list[dict[str, Any]]:
    return [r for r in results if r["device"] == device]


def legend_texts(fig: Figure) -> list[str]:
    return [t.get_text() for legend in fig.legends for t in legend.get_texts()]


def budget_levels(ax: Any) -> list[float]:
    """The y of every budget segment drawn on an axes."""
    levels = []
    for coll in ax.collections:
        if isinstance(coll, LineCollection) and np.allclose(coll.get_colors()[0][:3], _rgb(BUDGET_COLOR)):
            levels += [float(seg[0][1]) for seg in coll.get_segments()]
    return levels


def _rgb(hex_color: str) -> tuple[float, ...]:
    return tuple(int(hex_color[i:i + 2], 16) / 255 for i in (1, 3, 5))


def bars(ax: Any) -> list[Rectangle]:
    return [p for p in ax.patches if isinstance(p, Rectangle) and p.get_height() > 0]


def test_latency_boxes_one_per_variant_with_p95_budget(results: list[dict[str, Any]]) -> None:
    fig = latency_distribution_figure(on(results, "pi4"))
    ax = fig.axes[0]
    assert len([p for p in ax.patches if p.__class__.__name__ == "PathPatch"]) == 4  # the failed run has no box
    assert "(ms)" in ax.get_ylabel()
    assert [t.get_text() for t in ax.get_xticklabels()] == ["fp32", "fp16", "int8-static", "int8-dynamic"]
    assert budget_levels(ax) == [20.0]
    assert "p95 budget <= 20.0 ms" in legend_texts(fig)
    p95 = [c for c in ax.collections if c.get_label() == "p95"][0].get_offsets()[:, 1]
    assert np.allclose(p95, [r["latency"]["p95_ms"] for r in on(results, "pi4")[:4]])
    assert "EMULATED" not in ax.get_title()


def test_emulated_device_is_marked_in_title_and_legend(results: list[dict[str, Any]]) -> None:
    qemu = on(results, "qemu-pi4")
    fig = latency_distribution_figure(qemu)
    assert "EMULATED: qemu-tcg" in fig.axes[0].get_title()
    assert "p95 (emulated timing)" in legend_texts(fig)
    fig = accuracy_latency_figure(qemu)
    assert "EMULATED: qemu-tcg" in fig.axes[0].get_title()
    assert "fp32 (emulated timing)" in legend_texts(fig)
    assert "each inference (emulated timing)" in legend_texts(timeline_figure(qemu))
    real = accuracy_latency_figure(on(results, "pi4"))
    assert "fp32" in legend_texts(real) and not any("emulated" in t for t in legend_texts(real))


def test_accuracy_vs_p95_front_region_and_pick(results: list[dict[str, Any]]) -> None:
    rows = on(results, "pi4")[:4]
    fp32, fp16, int8, dyn = rows
    rec = SimpleNamespace(best=int8, front=[fp32, int8, fp16], rejected=[])
    ax = accuracy_latency_figure(rows, rec).axes[0]
    assert ax.get_xlabel().startswith("p95 latency (ms)") and "95% CI" in ax.get_xlabel()
    assert ax.get_ylabel() == "top-1 accuracy (%)"
    points = [c for c in ax.containers if c.__class__.__name__ == "ErrorbarContainer"]
    assert len(points) == 4
    low, high = fp32["latency"]["ci"]["p95"]
    xerr = points[0].lines[2][0].get_segments()[0]
    assert np.allclose(sorted(xerr[:, 0]), [low, high])
    region = [c for c in ax.collections if isinstance(c, PolyCollection)]
    assert len(region) == 1
    verts = region[0].get_paths()[0].vertices
    assert verts[:, 0].max() == pytest.approx(20.0) and verts[:, 1].min() == pytest.approx(85.0)
    front = [line for line in ax.lines if line.get_label().startswith("Pareto front")][0]
    assert list(front.get_xdata()) == sorted(r["latency"]["p95_ms"] for r in (fp32, int8, fp16))
    star = [c for c in ax.collections if c.get_label() == "recommended: int8-static"][0]
    assert np.allclose(star.get_offsets()[0], [int8["latency"]["p95_ms"], 100 * int8["accuracy"]["top1"]])
    labels = [line.get_label() for line in ax.lines]
    assert "p95 budget <= 20.0 ms" in labels and "top-1 minimum >= 85 %" in labels


def test_accuracy_figure_names_variants_without_accuracy(results: list[dict[str, Any]]) -> None:
    rows = [dict(r) for r in on(results, "jetson-orin-nano")]
    rows[1]["accuracy"] = None
    ax = accuracy_latency_figure(rows).axes[0]
    assert len(ax.containers) == 3
    assert any("no accuracy measured: mobilenet-fp16" in t.get_text() for t in ax.texts)


def test_cross_device_bars_budgets_hatching_and_emulation(results: list[dict[str, Any]]) -> None:
    fig = device_comparison_figure(results)
    latency, memory, energy = fig.axes
    assert [ax.get_ylabel() for ax in fig.axes] == ["p95 latency (ms)", "peak memory (MB RSS)",
                                                      "energy per inference\n(mJ)"]
    assert len(bars(latency)) == len(bars(memory)) == 12  # 3 devices x 4 variants
    assert len(bars(energy)) == 8  # the emulated device has no power section
    assert sum(t.get_text() == "n/m" for t in energy.texts) == 4
    assert budget_levels(latency) == [20.0] and budget_levels(memory) == [300.0] and budget_levels(energy) == [40.0]
    pi4_x = [i for i, t in enumerate(energy.get_xticklabels()) if t.get_text() == "pi4"][0]
    for bar in bars(energy):
        estimated = abs(bar.get_x() + bar.get_width() / 2 - pi4_x) < 0.5
        assert bool(bar.get_hatch()) == estimated
    qemu = [t.get_text() for t in energy.get_xticklabels()][2]
    assert qemu == "qemu-pi4\n(emulated)"
    dashed = [b for b in bars(latency) if b.get_linestyle() == "--"]
    assert len(dashed) == 4
    texts = legend_texts(fig)
    assert "hatched: estimated energy (not a sensor)" in texts and "dashed outline: emulated device" in texts
    assert "EMULATED: qemu-tcg" in fig.texts[0].get_text()  # the suptitle


def test_energy_estimates_hatched_with_method_in_legend(results: list[dict[str, Any]]) -> None:
    estimated = energy_figure(on(results, "pi4"))
    measured = energy_figure(on(results, "jetson-orin-nano"))
    for fig, hatched, method in ((estimated, True, "estimate:utilisation (estimate, not measured)"),
                                 (measured, False, "sensor:jetson-ina3221")):
        mj, watts = fig.axes
        assert mj.get_ylabel() == "energy per inference (mJ)" and watts.get_ylabel() == "average power (W)"
        assert len(bars(mj)) == len(bars(watts)) == 4
        assert all(bool(b.get_hatch()) == hatched for b in bars(mj) + bars(watts))
        assert method in legend_texts(fig)
        assert budget_levels(mj) == [40.0] and budget_levels(watts) == []
    with pytest.raises(ValueError):
        energy_figure(on(results, "qemu-pi4"))


def test_timeline_samples_in_order_and_temperature_when_measured(results: list[dict[str, Any]]) -> None:
    fig = timeline_figure(on(results, "pi4"))
    rows = on(results, "pi4")[:4]
    main = [ax for ax in fig.axes if ax.get_ylabel() == "latency (ms)"]
    twins = [ax for ax in fig.axes if ax.get_ylabel() == "temperature (°C)"]
    assert len(main) == 4 and len(twins) == 4
    assert np.allclose(main[0].lines[0].get_ydata(), rows[0]["latency"]["samples_ms"])
    thermal = rows[0]["thermal"]
    assert list(twins[0].lines[0].get_ydata()) == [thermal["before_c"]["cpu-thermal"],
                                                   thermal["after_c"]["cpu-thermal"]]
    assert twins[0].lines[1].get_ydata()[0] == thermal["max_c"]
    assert fig.axes[len(main) - 1].get_xlabel() == "inference # (run order)"
    emulated = timeline_figure(on(results, "qemu-pi4"))
    assert not [ax for ax in emulated.axes if ax.get_ylabel() == "temperature (°C)"]
    assert "(emulated: qemu-tcg)" in emulated.axes[0].get_title(loc="left")


def _overlaps(fig: Figure, axis: Any) -> list[tuple[str, str]]:
    renderer = fig.canvas.get_renderer()
    fig.draw(renderer)
    boxes = [(t.get_text(), t.get_window_extent(renderer)) for t in axis.get_xticklabels() if t.get_text()]
    return [(a, b) for (a, box_a), (b, box_b) in itertools.combinations(boxes, 2) if box_a.overlaps(box_b)]


def test_six_devices_by_eight_variants_no_overlapping_labels(big: list[dict[str, Any]]) -> None:
    device = big[0]["device"]
    for fig in (latency_distribution_figure(on(big, device)), energy_figure(on(big, device)),
                device_comparison_figure(big)):
        labelled = [ax for ax in fig.axes if [t for t in ax.get_xticklabels() if t.get_text()]]
        assert labelled
        for ax in labelled:
            assert len([t for t in ax.get_xticklabels() if t.get_text()]) in (6, 8)
            assert _overlaps(fig, ax) == []


def test_overlap_check_can_fail(big: list[dict[str, Any]]) -> None:
    """The overlap check above detects overlaps: squeeze the same figure and it finds them."""
    fig = latency_distribution_figure(on(big, big[0]["device"]))
    fig.set_size_inches(2.0, 4.0)
    ax = fig.axes[0]
    ax.set_xticklabels([t.get_text() for t in ax.get_xticklabels()], rotation=0)
    assert _overlaps(fig, ax)


def test_make_plots_writes_every_figure_deterministically(results: list[dict[str, Any]], tmp_path: Path) -> None:
    names = [p.name for p in build_plots(Report(results))]
    assert names == ["latency-jetson-orin-nano", "accuracy-jetson-orin-nano-mobilenet", "energy-jetson-orin-nano",
                     "timeline-jetson-orin-nano", "latency-pi4", "accuracy-pi4-mobilenet", "energy-pi4",
                     "timeline-pi4", "latency-qemu-pi4", "accuracy-qemu-pi4-mobilenet", "timeline-qemu-pi4",
                     "devices-mobilenet"]
    one = on(results, "jetson-orin-nano")
    first = figure_bytes(latency_distribution_figure(one), "svg")
    assert first == figure_bytes(latency_distribution_figure(one), "svg")
    assert b"<dc:date>" not in first
    assert figure_bytes(latency_distribution_figure(one), "png") == figure_bytes(latency_distribution_figure(one),
                                                                                 "png")
    with pytest.raises(ConfigError, match="unknown figure format 'gif'"):
        make_plots(Report(results), tmp_path, ["gif"])
    assert plots.parse_formats("png, SVG") == ["png", "svg"]


def test_build_plots_marks_the_recommended_variant_from_recommend(results: list[dict[str, Any]]) -> None:
    figure = {p.name: p.figure for p in build_plots(build_report(results))}["accuracy-jetson-orin-nano-mobilenet"]
    ax = figure.axes[0]
    assert [c.get_label() for c in ax.collections if c.get_label().startswith("recommended")] == \
        ["recommended: int8-static"]
    front = [line for line in ax.lines if line.get_label().startswith("Pareto front")][0]
    assert len(front.get_xdata()) == 3  # int8-dynamic is dominated by int8-static


def test_both_formats_of_a_variant_are_told_apart(results: list[dict[str, Any]]) -> None:
    onnx = on(results, "pi4")[0]
    tflite = {**onnx, "model": {**onnx["model"], "format": "tflite", "path": "models/mobilenet/mobilenet-fp32.tflite"}}
    fp16 = on(results, "pi4")[1]
    ax = latency_distribution_figure([onnx, tflite, fp16]).axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["fp32 onnx", "fp32 tflite", "fp16"]
    legend = legend_texts(device_comparison_figure([onnx, tflite, fp16]))
    assert {"fp32 onnx", "fp32 tflite", "fp16"} <= set(legend)


def test_far_budgets_keep_the_data_readable() -> None:
    from tests.report.factory import make_result
    rows = [make_result("local", v, median_ms=0.01 * (i + 1), seed=i, budgets=("latency.p95_ms<=50",),
                        power_method=None)
            for i, v in enumerate(("fp32", "fp16"))]
    latency, _, energy = device_comparison_figure(rows).axes  # tens of µs: the axes count µs, as the tables do
    assert latency.get_ylabel() == "p95 latency (µs)"
    assert latency.get_ylim()[1] < 100 and budget_levels(latency) == [50000.0]
    assert "energy: not measured on any device" in [t.get_text() for t in energy.texts]
    assert "p95 budget <= 50.0 ms (off scale, above the axis)" in legend_texts(latency.get_figure())
    boxes = latency_distribution_figure(rows)  # the axis runs to the data: the boxes fill it
    assert boxes.axes[0].get_ylabel() == "latency per inference (µs)" and boxes.axes[0].get_ylim()[1] < 100
    assert "p95 budget <= 50.0 ms (off scale, above the axis)" in legend_texts(boxes)
    points = accuracy_latency_figure(rows).axes[0]
    assert points.get_xlabel().startswith("p95 latency (µs)") and points.get_xlim()[1] < 100
    assert "p95 budget <= 50.0 ms (off scale, right of the axis)" in [line.get_label() for line in points.lines]


def test_pareto_front_is_drawn_visibly_and_coinciding_points_stay_apart(results: list[dict[str, Any]]) -> None:
    rows = on(results, "pi4")[:2]
    twin = {**rows[0], "model": {**rows[0]["model"], "format": "tflite"}}  # the same figures from the TFLite file
    rec = SimpleNamespace(best=None, front=[rows[0], rows[1]], rejected=[])
    fig = accuracy_latency_figure([rows[0], twin, rows[1]], rec)
    ax = fig.axes[0]
    front = [line for line in ax.lines if line.get_label().startswith("Pareto front")][0]
    assert front.get_linewidth() >= 2 and front.get_marker() == "s" and front.get_markersize() >= 10
    entry = [h for lg in fig.legends for h in lg.legend_handles if h.get_label().startswith("Pareto front")][0]
    assert entry.get_linewidth() >= 2 and entry.get_marker() == "s"
    names = {t.get_text(): t for t in ax.texts}
    assert {"fp32 onnx", "fp32 tflite", "fp16"} <= set(names)
    assert names["fp32 onnx"].xy == names["fp32 tflite"].xy  # the same point ...
    assert names["fp32 onnx"].xyann != names["fp32 tflite"].xyann  # ... named twice, the names stacked
    markers = {c.lines[0].get_marker() for c in ax.containers if c.__class__.__name__ == "ErrorbarContainer"}
    assert markers == {"o", "s"}  # ONNX round, TFLite square
    assert all(c.lines[0].get_alpha() < 1 for c in ax.containers if c.__class__.__name__ == "ErrorbarContainer")


def test_repeated_variants_are_named_by_a_whole_short_run_id(results: list[dict[str, Any]]) -> None:
    first = on(results, "pi4")[0]
    later = {**first, "run_id": "20261130T101500Z-9b1d4e"}
    ax = latency_distribution_figure([first, later]).axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["fp32\nrun 3f2a9c", "fp32\nrun 9b1d4e"]
    same_tail = {**first, "run_id": "20261130T101500Z-3f2a9c"}
    labels = plots._labels([first, same_tail], with_model=False)
    assert labels == ["fp32\nrun 20261129T031500Z-3f2a9c", "fp32\nrun 20261130T101500Z-3f2a9c"]
    assert plots._wrap(labels[0], 8).splitlines()[-1] == "20261129T031500Z-3f2a9c"  # never cut inside a word
