"""Results on accelerators: (variant, accelerator) candidates in recommend and compare, placement, compile and top
operators in the verdict table, the Markdown summary and JUnit."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

from rich.console import Console

from edgeprof.compare import compare_runs
from edgeprof.constraints import parse_constraint
from edgeprof.report.junit import to_junit
from edgeprof.report.markdown import to_markdown
from edgeprof.report.recommendation import describe
from edgeprof.report.table import render_verdicts
from edgeprof.verdicts import judge, latest_variants, recommend
from tests.report.factory import on_accelerator
from tests.verdicts.factory import make

LIMITS = [parse_constraint(t) for t in ("latency.p95_ms<=20", "accuracy.top1>=0.95")]


def pair(p95_cpu: float = 12.0, p95_openvino: float = 6.0) -> tuple[dict[str, Any], dict[str, Any]]:
    """digits fp32 on cpu and on openvino (compiled, one fallback node), judged."""
    cpu = on_accelerator(make(latency__p95_ms=p95_cpu), ["cpu"])
    openvino = on_accelerator(make(latency__p95_ms=p95_openvino), ["openvino", "cpu"], compile_ms=52.0)
    for result in (cpu, openvino):
        result["verdicts"] = judge(result, LIMITS)
    return cpu, openvino


def test_recommend_chooses_among_variant_accelerator_pairs() -> None:
    cpu, openvino = pair()
    assert latest_variants([cpu, openvino]) == [cpu, openvino]  # the cpu run does not hide the openvino one
    (rec,) = recommend([cpu, openvino])
    assert rec.best is openvino and rec.candidates == [cpu, openvino]
    lines = describe(rec)
    assert lines[0].startswith("local / digits: recommended fp32 onnx @openvino,cpu (p95 6")
    assert lines[1] == "Pareto front, accuracy vs p95: fp32 onnx @openvino,cpu"
    slow_openvino = pair(p95_openvino=30.0)
    (rec,) = recommend(list(slow_openvino))
    assert describe(rec)[0].startswith("local / digits: recommended fp32 onnx @cpu (")
    assert any(line.startswith("not fp32 onnx @openvino,cpu: fails latency.p95_ms <= 20.0 ms (value 30") for line in describe(rec))


def test_compare_pairs_runs_by_accelerator() -> None:
    cpu, openvino = pair()
    later_cpu, later_openvino = pair(p95_cpu=24.0, p95_openvino=6.0)
    comparisons = compare_runs([cpu, openvino], [later_cpu, later_openvino])
    assert [(c.model, c.ratios["latency.p95_ms"]) for c in comparisons] == [("digits-fp32 onnx @cpu", 2.0),
                                                                    ("digits-fp32 onnx @openvino,cpu", 1.0)]
    old = make(latency__p95_ms=12.0)  # no runtime.requested: counts as the default, cpu
    assert [c.model for c in compare_runs([old], [later_cpu, later_openvino])] == ["digits-fp32 onnx @cpu"]


def test_verdict_table_shows_placement_compile_and_top_operators() -> None:
    console = Console(record=True, width=200)
    render_verdicts(list(pair()), console)
    text = console.export_text()
    assert "fp32 onnx @cpu" in text and "fp32 onnx @openvino,cpu" in text
    lines = text.splitlines()
    assert "  placement: OpenVINOExecutionProvider 11/12 nodes (97% of time), 1 fallback: Hardmax (odd_hardmax)" \
        in lines
    assert "  placement: CPUExecutionProvider 12/12 nodes (100% of time)" in lines
    assert "  compile 52.0 ms (cache miss)" in lines
    assert "  top op types: Conv 500 µs (50%), Gemm 200 µs (20%), MaxPool 100 µs (10%), Relu 80.0 µs (8%), " \
           "Softmax 70.0 µs (7%)" in lines
    assert "  top node conv_0 (Conv, OpenVINOExecutionProvider): 500 µs/run (50%)" in lines
    assert all(len(line) <= 120 for line in lines if line.startswith("  "))
    console = Console(record=True, width=200)
    render_verdicts([make()], console)
    assert "placement" not in console.export_text()


def test_many_fallback_nodes_stay_within_120_columns() -> None:
    _, openvino = pair()
    placement = openvino["placement"]
    placement["fallback_nodes"] = [{"node": f"a_rather_long_node_name_{i}", "op": "Hardmax", "ran_on": "CPUExecutionProvider"}
                                   for i in range(20)]
    placement["fallback_count"] = 20
    console = Console(record=True, width=200)
    render_verdicts([openvino], console)
    line = next(x for x in console.export_text().splitlines() if "placement:" in x)
    assert len(line) <= 120 and line.endswith("…, +19 more") and "20 fallbacks: Hardmax (a_rather_long" in line


def test_markdown_summary_lists_placement() -> None:
    text = to_markdown(list(pair()))
    assert "| digits | fp32 onnx @openvino,cpu |" in text and "| digits | fp32 onnx @cpu |" in text
    assert "- digits fp32 onnx @openvino,cpu: placement: OpenVINOExecutionProvider 11/12 nodes (97% of time), " \
           "1 fallback: Hardmax (odd_hardmax)" in text
    assert "- digits fp32 onnx @openvino,cpu: compile 52.0 ms (cache miss)" in text
    assert "placement" not in to_markdown([make()])


def test_junit_names_the_accelerator_and_carries_placement_in_system_out() -> None:
    root = ET.fromstring(to_junit(list(pair())))
    cases = root.findall(".//testcase")
    assert {c.get("name") for c in cases} == {f"{limit} [onnx {accel}]" for accel in ("@cpu", "@openvino,cpu")
                                              for limit in ("latency.p95_ms <= 20", "accuracy.top1 >= 0.95")}
    out = next(c for c in cases if "openvino" in c.get("name", "")).find("system-out")
    assert out is not None and "placement: OpenVINOExecutionProvider 11/12 nodes" in (out.text or "")
    assert "fallback node odd_hardmax (Hardmax) ran on CPUExecutionProvider" in (out.text or "")
    assert "compile 52.0 ms (cache miss)" in (out.text or "")
    plain = ET.fromstring(to_junit([make(verdicts=judge(make(), LIMITS))]))
    assert "placement" not in "".join(out.text or "" for out in plain.iter("system-out"))
    assert plain.find(".//testcase").get("name").endswith("[onnx]")
