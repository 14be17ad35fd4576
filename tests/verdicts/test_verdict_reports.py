"""JUnit XML (parsed back and counted), Markdown summary and the terminal table."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from rich.console import Console

from edgeprof.constraints import CLASSIFIER, parse_constraint
from edgeprof.report.junit import to_junit
from edgeprof.report.markdown import to_markdown
from edgeprof.report.table import render_verdicts
from edgeprof.verdicts import judge
from tests.verdicts.factory import make

CONSTRAINTS = [parse_constraint(t) for t in ("latency.p95_ms<=12.1", "memory.peak_rss_mb<=128",
                                              "accuracy.top1>=0.98", "thermal.max_c<=80")]


def results() -> list[dict]:
    """local: fp32 (inconclusive p95, pass, fail, thermal missing) and a crashed int8; pi4: one emulated."""
    fp32 = make(thermal=None)
    crashed = make(variant="int8", status="failed", error={"kind": "crashed", "message": "segfault", "stage": "run"},
                   latency=None, memory=None, accuracy=None)
    emulated = make(device="qemu-pi4", variant="fp16", latency__method="emulated:qemu-tcg",
                    power__method="estimate:utilisation", device_info={"name": "qemu-pi4", "emulated": "qemu-tcg"})
    for result in (fp32, crashed, emulated):
        result["verdicts"] = judge(result, CONSTRAINTS)
    return [fp32, crashed, emulated]


def counts(node: ET.Element) -> tuple[int, int, int, int]:
    return tuple(int(node.get(k)) for k in ("tests", "failures", "errors", "skipped"))  # type: ignore[return-value]


def test_junit_counts_and_structure() -> None:
    root = ET.fromstring(to_junit(results()))
    assert root.tag == "testsuites"
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == ["local", "qemu-pi4"]
    local, qemu = suites
    # local: 4 + 4 verdict cases + 1 error case for the crashed run; failures: top-1 fp32; skipped: inconclusive,
    # thermal not measured, and the crashed run's 4 not-measured verdicts
    assert counts(local) == (9, 1, 1, 6)
    # qemu: p95 informational (skipped), memory pass, top-1 fail, thermal pass
    assert counts(qemu) == (4, 1, 0, 1)
    assert counts(root) == (13, 2, 1, 7)
    for node in [root, *suites, *root.iter("testcase")]:
        float(node.get("time"))
    for suite in suites:
        assert len(suite.findall("testcase")) == int(suite.get("tests"))
    case = local.find("testcase[@name='accuracy.top1 >= 0.98 [onnx]']")
    assert case is not None and case.get("classname") == "local.digits-fp32"
    message = case.find("failure").get("message")
    assert "value 0.97" in message and ">= 0.98" in message and "method measured" in message
    assert local.find("testcase[@name='run']/error").get("type") == "crashed"


def test_junit_testcases_carry_their_measured_value_with_its_unit() -> None:
    local = ET.fromstring(to_junit(results())).find("testsuite")
    for case in local.iter("testcase"):
        if case.get("name") == "run":
            continue
        out = case.find("system-out")
        assert out is not None and out.text.startswith(case.get("name").split(" ")[0] + " = "), case.get("name")
    passed = [c for c in local.iter("testcase") if c.find("failure") is None and c.find("skipped") is None
              and c.find("error") is None]
    assert passed and all("(pass, bound " in c.find("system-out").text for c in passed)
    memory = next(c for c in local.iter("testcase") if c.get("name").startswith("memory.peak_rss_mb"))
    assert " MB " in memory.find("system-out").text  # sizes and durations with their unit
    latency = next(c for c in local.iter("testcase") if c.get("name").startswith("latency.p95_ms"))
    assert "s (" in latency.find("system-out").text and "bound <= " in latency.find("system-out").text


def test_junit_strict_turns_inconclusive_into_failures() -> None:
    local = ET.fromstring(to_junit(results(), strict=True)).find("testsuite")
    assert counts(local) == (9, 2, 1, 5)
    assert local.find("testcase[@name='latency.p95_ms <= 12.1 [onnx]']/failure").get("type") == "inconclusive"


def test_markdown_table_per_device() -> None:
    text = to_markdown(results())
    assert "### local" in text and "### qemu-pi4 (emulated: qemu-tcg)" in text
    rows = [line for line in text.splitlines() if line.startswith("| digits")]
    # model, variant, the key figures, verdict
    assert len(rows) == 3 and all(row.count("|") == len(CLASSIFIER.figures) + 4 for row in rows)
    assert "FAIL: accuracy.top1" in rows[0] and "RUN FAILED (crashed)" in rows[1]
    assert "(emu)" in rows[2] and "(est)" in rows[2]
    assert "`accuracy.top1 >= 0.98`: **FAIL** (value 0.970, measured)" in text
    assert "run failed: crashed: segfault" in text
    assert "_(est) = estimate from CPU utilisation" in text and "_(emu) = measured under emulation" in text
    assert "No results." in to_markdown([])


def test_terminal_table_marks_status_and_methods() -> None:
    console = Console(record=True, width=200)
    render_verdicts(results(), console)
    text = console.export_text()
    assert "RUN FAILED" in text and "INCONCLUSIVE" in text and "info" in text
    assert "(emu)" in text and "(est)" in text and "qemu-pi4 — emulated (qemu-tcg)" in text


def test_method_column_follows_the_status_not_the_section() -> None:
    """accuracy.drop without a reference comparison is 'not measured': its method cell says so, not 'measured'."""
    result = make(accuracy={"method": "measured", "samples": 360, "top1": 0.97})
    result["verdicts"] = judge(result, [parse_constraint("accuracy.drop<=0.01"), parse_constraint("latency.p95_ms<=50")])
    drop, latency = result["verdicts"]
    assert drop["status"] == "not measured" and drop["method"] == "measured"  # what judge stores
    console = Console(record=True, width=200)
    render_verdicts([result], console)
    rows = {line.split("│")[2].strip(): [c.strip() for c in line.split("│")[1:-1]]
            for line in console.export_text().splitlines() if line.count("│") == 8}
    assert rows["accuracy.drop"][4:7] == ["n/m", "-", "not measured in this run"]
    assert rows["latency.p95_ms"][5] == "measured" and rows["latency.p95_ms"][3] == "<= 50.0 ms"


def test_narrow_terminal_keeps_whole_tables_and_prints_the_reasons_below() -> None:
    console = Console(record=True, width=80)
    render_verdicts(results(), console)
    text = console.export_text()
    assert all(len(line) <= 80 for line in text.splitlines())
    table = [line for line in text.splitlines() if line.startswith(("│", "┃", "┏", "└"))]
    assert all(line.endswith(("│", "┃", "┓", "┘")) for line in table)  # no table cropped at the edge
    assert "digits fp32 onnx latency.p95_ms: 95% CI" in text  # the inconclusive one's reason, below the table
    assert "digits int8 onnx: crashed: segfault" in text
    assert "digits fp32 onnx memory.peak_rss_mb:" not in text  # a pass needs no reason
