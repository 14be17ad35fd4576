"""The offline-sweep figure: one line per variant x thread count, throughput against batch size."""

from __future__ import annotations

from typing import Any

from edgeprof.decisions import Report
from edgeprof.report.plots import build_plots, throughput_figure


def offline_result(variant: str, fmt: str, scale: float) -> dict[str, Any]:
    points = [{"threads": t, "batch": b, "inferences_per_s": scale * b * t, "runs": 10}
              for t in (1, 2) for b in (1, 4, 16)]
    return {"device": "local", "status": "ok", "device_info": {"name": "local"},
            "model": {"name": "digits", "variant": variant, "format": fmt, "path": f"digits-{variant}.{fmt}"},
            "latency": {"method": "measured", "p95_ms": 1.0, "samples_ms": [1.0] * 30},
            "scenario": {"name": "offline", "points": points, "offline_ips": scale * 32}, "verdicts": []}


def test_throughput_figure_has_a_line_per_variant_and_thread_count() -> None:
    results = [offline_result("fp32", "onnx", 100.0), offline_result("int8-static", "tflite", 300.0)]
    fig = throughput_figure(results)
    ax = fig.axes[0]
    lines = ax.get_lines()
    assert len(lines) == 4
    assert [list(line.get_xdata()) for line in lines] == [[1, 4, 16]] * 4
    assert max(max(line.get_ydata()) for line in lines) == 300.0 * 16 * 2
    assert ax.get_xlabel() == "batch size (inferences per call)" and "inferences/s" in ax.get_ylabel()
    assert [t.get_text() for t in ax.get_xticklabels()] == ["1", "4", "16"]
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert any("int8-static" in t and "2 threads" in t for t in legend)


def test_build_plots_adds_it_only_when_an_offline_sweep_exists() -> None:
    with_sweep = [offline_result("fp32", "onnx", 100.0)]
    assert "throughput-local" in [p.name for p in build_plots(Report(with_sweep))]
    without = [dict(with_sweep[0], scenario={"name": "single-stream"})]
    assert "throughput-local" not in [p.name for p in build_plots(Report(without))]
