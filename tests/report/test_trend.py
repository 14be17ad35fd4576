"""The trend figure read back: series over time, intervals, change points circled, changed settings annotated."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from edgeprof.errors import ConfigError
from edgeprof.report.trend import CHANGE_COLOR, trend_figure, write_trend
from tests.report.factory import failed_result, make_result


def runs(medians: list[float], *, version_from: int | None = None, device: str = "pi4") -> list[dict[str, Any]]:
    """One Result per run, a day apart; from run `version_from` on, onnxruntime 1.33.0."""
    results = []
    for day, median in enumerate(medians):
        result = make_result(device, "int8-static", median_ms=median, seed=day, run_id=f"2026110{day}T0000Z-aaaaaa")
        result["created"] = f"2026-11-{day + 1:02d}T03:00:00Z"
        if version_from is not None and day >= version_from:
            result["runtime"]["version"] = "1.33.0"
        results.append(result)
    return results


def circled(fig: Any) -> list[tuple[Any, float]]:
    """(x, y) of every change-point circle on the figure's axes."""
    return [(line.get_xdata()[0], line.get_ydata()[0]) for ax in fig.axes for line in ax.get_lines()
            if line.get_markeredgecolor() == CHANGE_COLOR and line.get_markersize() == 10 and line.get_xdata()]


def test_a_latency_step_is_circled_and_the_version_change_annotated() -> None:
    fig = trend_figure(runs([10.0] * 5 + [14.0] * 5, version_from=5) + [failed_result("pi4", "int8-static")])
    latency, accuracy, energy = fig.axes[:3]
    assert [ax.get_ylabel() for ax in (latency, accuracy, energy)] == ["latency (ms)", "top-1 accuracy",
                                                                       "energy (mJ/inf)"]
    labels = [line.get_label() for line in latency.get_lines() if not line.get_label().startswith("_")]
    assert labels == ["pi4 / mobilenet int8-static onnx p50", "pi4 / mobilenet int8-static onnx p95"]
    points = circled(fig)
    assert len(points) >= 2 and all(str(x).startswith("2026-11-06") for x, _ in points)  # p50, p95 (and energy)
    notes = [t.get_text() for t in latency.texts]
    assert notes == ["runtime version: 1.32.0 -> 1.33.0"]
    assert latency.collections  # the 95% interval error bars


def test_a_flat_series_has_no_change_point_and_two_devices_two_series(tmp_path: Path) -> None:
    flat = runs([10.0] * 8) + runs([20.0] * 8, device="jetson-orin-nano")
    fig = trend_figure(flat)
    assert circled(fig) == [] and len(fig.axes[0].texts) == 0
    assert len({line.get_label() for line in fig.axes[0].get_lines() if line.get_label().endswith("p50")}) == 2
    path = write_trend(flat, tmp_path / "trend.svg")
    assert path.read_text().startswith("<?xml")
    with pytest.raises(ConfigError, match="name a .png, .svg or .pdf file"):
        write_trend(flat, tmp_path / "trend.jpg")
    with pytest.raises(ConfigError, match="no successful stored results"):
        trend_figure([failed_result("pi4", "int8-static")])


def test_a_long_settings_note_stays_inside_its_panel() -> None:
    results = runs([10.0] * 6, version_from=3)
    for result in results[3:]:
        result["runtime"]["version"] = "1.33.0+cpu.build-from-a-local-wheel-with-a-rather-long-version-tag"
    fig = trend_figure(results)
    fig.canvas.draw()
    latency = fig.axes[0]
    (note,) = latency.texts
    panel, box = latency.get_window_extent(), note.get_window_extent()
    assert box.y0 >= panel.y0 - 1 and box.y1 <= panel.y1 + 1, (box, panel)
    assert "long-version-tag" in note.get_text().replace("\n", "")


def test_microsecond_latencies_are_drawn_in_microseconds() -> None:
    """The latency panel counts in the unit the tables show the figures in: µs for a model of tens of µs."""
    fig = trend_figure(runs([0.02] * 4))
    latency = fig.axes[0]
    assert latency.get_ylabel() == "latency (µs)"
    p50 = next(line for line in latency.get_lines() if line.get_label().endswith("p50"))
    assert 10 < max(p50.get_ydata()) < 40  # 20 µs, not 0.02
