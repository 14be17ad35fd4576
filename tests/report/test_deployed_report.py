"""Reports, tables and figures of real local deploys: the shipped digits int8-static ONNX and TFLite files, measured
by the agent on this host into a temporary store, then rendered and read back."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from html import unescape
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from rich.console import Console

from edgeprof.report.html import to_html, write_report
from edgeprof.report.plots import throughput_figure, timeline_figure
from edgeprof.report.table import render_verdicts
from edgeprof.store import open_store
from edgeprof.verdicts import build_report
from tests.models.onnx_graphs import dynamic_length
from tests.support import DIGITS

# idle_w = max_w: the utilisation estimate reads the same watts idle and under load, as a busy host pinned at
# max_w does (the field report: idle 6.4 W, load 6.4 W, net energy -1.9e-16 mJ)
PROFILE = """description = "this host, power estimated with idle = max (tests)"
kind = "local"
[runtime]
threads = 1
[power]
method = "estimate"
idle_w = 6.4
max_w = 6.4
[constraints]
"latency.p95_ms" = "<= 1000"
"accuracy.top1" = ">= 0.5"
"accuracy.drop" = "<= 0.5"
"""
LABELS = ("digits int8-static onnx", "digits int8-static tflite")


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[dict[str, Any]], str]:
    """Both files deployed once (offline sweep over batch 1 and 2 included) on a local 'flat' device: the run's
    Results and the deploy's stderr."""
    root = tmp_path_factory.mktemp("deployed")
    (root / "devices").mkdir()
    (root / "devices" / "flat.toml").write_text(PROFILE)
    env = {**os.environ, "EDGEPROF_DEVICE_PATH": str(root / "devices"), "EDGEPROF_CACHE": str(root / "cache")}
    store = root / "results.db"
    proc = subprocess.run(
        [sys.executable, "-m", "edgeprof", "deploy", "-d", "flat", "-m", str(DIGITS / "digits-int8-static.onnx"),
         "-m", str(DIGITS / "digits-int8-static.tflite"), "--dataset", str(DIGITS / "test.npz"),
         "--min-runs", "20", "--max-runs", "300", "--min-seconds", "0", "--max-seconds", "0.5",
         "--power-seconds", "0.4", "--op-profile", "--scenario", "offline", "--batch", "1,2",
         "--scenario-seconds", "0.1", "--store", str(store)],
        capture_output=True, text=True, env=env, cwd=root, timeout=300)
    assert proc.returncode == 0, proc.stderr
    with open_store(store, create=False) as db:
        return db.load_run(db.resolve_run("latest")), proc.stderr


def text_of(page: str) -> str:
    """What a reader of the HTML sees, as one line of text."""
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", page)))


def test_power_estimate_that_cannot_tell_idle_from_load_says_so(deployed: tuple[list[dict[str, Any]], str]) -> None:
    results, _ = deployed
    for result in results:
        power = result["power"]
        assert power["method"] == "estimate:utilisation"
        assert power["idle_w"] == pytest.approx(6.4) and power["avg_w"] == pytest.approx(6.4)
        assert power["net_energy_mj_per_inference"] is None and power["net_status"] == "indistinguishable"
        assert "is not above idle 6.4 W" in power["net_reason"]
    console = Console(width=120, record=True)
    render_verdicts(results, console)
    assert console.export_text().count("net energy: load 6.4 W is not above idle 6.4 W") == 2
    assert text_of(to_html(build_report(results))).count("above idle indistinguishable from idle (load 6.4 W") == 2


def test_html_shows_every_measured_fact_per_result(deployed: tuple[list[dict[str, Any]], str]) -> None:
    results, _ = deployed
    text = text_of(to_html(build_report(results)))
    for label in LABELS:
        assert f"{label} what measured load, first load " in text  # its own table of measurements
        assert re.search(rf"{label} (onnxruntime|ai-edge-litert) \d", text)  # its row of the verdict summary
        assert re.search(rf"{label} latency.p95_ms \d+(\.\d+)? µs <= 1.00 s PASS measured", text)  # verdict detail
    for fact in ("load, first load ", "first inference ", "latency (95% CI) p50 ", "p95 ", "p99 ",
                 "timed, stopped by ", "memory (RSS) baseline ", "after load ", "peak ",
                 "vs reference agreement ", "SQNR ", "dB, accuracy drop ",
                 "(estimate:utilisation — an estimate, not a measurement)", "provider asked cpu; ran CPUExecutionProvider",
                 "provider asked xnnpack; ran xnnpack", "Placement and top operators", "op type time/run share"):
        assert fact in text, fact
    thermal = results[0]["thermal"]
    assert ("thermal not measured: " if thermal["method"] == "none" else "thermal hottest ") in text
    assert "governor None" not in text and "None/None" not in text and "None MHz" not in text


def test_markdown_report_carries_the_same_facts(deployed: tuple[list[dict[str, Any]], str], tmp_path: Path) -> None:
    results, _ = deployed
    text = write_report(build_report(results), tmp_path / "report.md", "md")[0].read_text()
    for label in LABELS:
        assert f"### {label}" in text and f"| {label.split(' ', 1)[0]} | {label.split(' ', 1)[1]} |" in text
    assert "| vs reference | agreement " in text and "indistinguishable from idle" in text
    assert "None/None" not in text


def test_terminal_table_at_80_columns_is_readable(deployed: tuple[list[dict[str, Any]], str]) -> None:
    results, _ = deployed
    console = Console(width=80, record=True)
    render_verdicts(results, console)
    text = console.export_text()
    assert all(len(line) <= 80 for line in text.splitlines())
    table = [line for line in text.splitlines() if line.startswith(("│", "┃"))]
    assert not [line for line in table if "…" in line]  # nothing cut short: numbers whole, names folded at spaces
    rows = [line for line in table if line.startswith("│ digits │ int8-static")]
    assert len(rows) == 2 and all(re.search(r"\d+(\.\d+)? µs", row) for row in rows)  # digits runs in µs
    figures = re.findall(r"(\d+(?:\.\d+)?) (µs|ms)", rows[0])
    assert figures and all(len(value.replace(".", "").lstrip("0")) == 3 for value, _ in figures)  # 3 digits
    wide = Console(width=200, record=True)
    render_verdicts(results, wide)
    shown = wide.export_text()
    assert "runtime" in shown and re.search(r"µs \[\d", shown)  # p95 with its CI


def test_deploy_warnings_name_the_format(tmp_path: Path) -> None:
    """A warning line names the device and the model with its file format (a sequence model's dynamic length)."""
    model = dynamic_length(tmp_path / "seq.onnx")
    proc = subprocess.run([sys.executable, "-m", "edgeprof", "deploy", "--model", str(model), "--max-seconds", "0.3",
                           "--power-seconds", "0", "--store", str(tmp_path / "r.db")],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "local seq-original onnx: warning: input 'x' has dynamic dims" in proc.stderr, proc.stderr


def test_timeline_scaled_to_the_p99_in_a_unit_that_suits(deployed: tuple[list[dict[str, Any]], str]) -> None:
    results, _ = deployed
    fig = timeline_figure(results)
    main = [ax for ax in fig.axes if ax.get_ylabel().startswith("latency")]
    assert len(main) == 2 and {ax.get_ylabel() for ax in main} == {"latency (µs)"}
    for ax, result in zip(main, results):
        samples_us = np.asarray(result["latency"]["samples_ms"]) * 1000
        top = ax.get_ylim()[1]
        assert top <= np.percentile(samples_us, 99) * 1.16 or top >= samples_us.max()
        bottom = ax.get_ylim()[0]
        scale = np.log if ax.get_yscale() == "log" else (lambda v: v)
        height = (scale(np.median(samples_us)) - scale(bottom)) / (scale(top) - scale(bottom))
        assert height > 0.05  # the median is not a flat line at the bottom
        if samples_us.max() > top:
            assert "clipped" in ax.get_title(loc="right")
    heated = any(r["thermal"]["method"] != "none" for r in results)
    title = fig._suptitle.get_text()
    assert ("and temperature" in title) == heated and ("no temperature" in title) == (not heated)
    assert bool([ax for ax in fig.axes if ax.get_ylabel() == "temperature (°C)"]) == heated


def test_throughput_legend_tells_the_formats_apart(deployed: tuple[list[dict[str, Any]], str]) -> None:
    results, _ = deployed
    legend = [t.get_text() for lg in throughput_figure(results).legends for t in lg.get_texts()]
    assert any(t.startswith("int8-static onnx,") for t in legend)
    assert any(t.startswith("int8-static tflite,") for t in legend)
