"""Results that differ only by accelerator: apart in every figure, and the report's placement tables."""

from __future__ import annotations

from pathlib import Path

from matplotlib.patches import Rectangle

from edgeprof.decisions import Report
from edgeprof.report.html import to_html
from edgeprof.report.plots import device_comparison_figure, latency_distribution_figure, make_plots
from tests.report.factory import make_result, on_accelerator


def _pair() -> list[dict]:
    base = make_result("pi4", "fp32", median_ms=12.0)
    return [on_accelerator(base, ["cpu"]), on_accelerator(make_result("pi4", "fp32", median_ms=6.0, seed=1),
                                                          ["openvino", "cpu"], compile_ms=52.0)]


def test_plots_keep_results_apart_that_differ_only_by_accelerator(tmp_path: Path) -> None:
    results = _pair()
    ax = latency_distribution_figure(results).axes[0]
    assert [t.get_text().replace("\n", " ") for t in ax.get_xticklabels()] == ["fp32 @cpu", "fp32 @openvino,cpu"]
    assert len({tuple(box.get_facecolor()) for box in ax.patches}) == 2
    figure = device_comparison_figure(results)
    legend = [t.get_text() for legend in figure.legends for t in legend.get_texts()]
    assert {"fp32 @cpu", "fp32 @openvino,cpu"} <= set(legend)
    bars = [p for p in figure.axes[0].patches if isinstance(p, Rectangle) and p.get_height() > 0]
    assert len(bars) == 2 and len({tuple(b.get_facecolor()) for b in bars}) == 2
    written = make_plots(Report(results), tmp_path, ["png"])
    assert tmp_path / "latency-pi4.png" in written and all(p.read_bytes().startswith(b"\x89PNG") for p in written)


def test_html_report_has_a_placement_table_per_result() -> None:
    page = to_html(Report(_pair()))
    assert "<h3>Placement and top operators</h3>" in page
    assert "<h4>mobilenet fp32 onnx @openvino,cpu</h4>" in page and "<h4>mobilenet fp32 onnx @cpu</h4>" in page
    assert "<tr><td>OpenVINOExecutionProvider</td><td>11/12</td><td>970 µs</td><td>97%</td></tr>" in page
    assert "<tr><td>odd_hardmax</td><td>Hardmax</td><td>CPUExecutionProvider</td></tr>" in page
    assert "<p>compile 52.0 ms (cache miss)</p>" in page
    assert "<tr><td>Conv</td><td>500 µs</td><td>50%</td></tr>" in page
    assert "<tr><td>hardmax_0</td><td>Hardmax</td><td>CPUExecutionProvider</td>" not in page  # top 5 only
    assert "Placement and top operators" not in to_html(Report([make_result("pi4", "fp32")]))
