"""Per-operator answers on real deploys with `--op-profile` (LiteRT's profiler for TFLite, ONNX Runtime's for
ONNX) to the local device and the loopback SSH device: the op profile in the Result and the report, the operator
types that moved between two runs in `compare` and `explain`, and a fallback to the CPU kernels named as the cause."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support import DIGITS

FAST = ["--min-runs", "20", "--max-runs", "300", "--min-seconds", "0.2", "--max-seconds", "1", "--power-seconds", "0.5"]
MOBILENETV2 = DIGITS.parent / "mobilenetv2"
SHIPPED = [MOBILENETV2 / f"mobilenetv2-{variant}.{fmt}" for variant in ("fp32", "int8-static")
           for fmt in ("tflite", "onnx")]


def edgeprof(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "edgeprof", *map(str, args)], capture_output=True, text=True,
                          timeout=300)


def deploy(store: Path, *models: Path, device: str = "local") -> tuple[str, list[dict[str, Any]]]:
    """One profiled deploy of `models`: (run id, Results)."""
    proc = edgeprof("deploy", "--device", device, *[a for m in models for a in ("--model", m)], *FAST, "--op-profile",
                    "--store", store, "--json")
    assert proc.returncode == 0, proc.stderr
    results = json.loads(proc.stdout)
    return results[0]["run_id"], results


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The shipped mobilenetv2 models (TFLite and ONNX, fp32 and int8) deployed twice; digits fp32 and int8-static
    TFLite each alone (int8's SOFTMAX falls back from XNNPACK to the built-in kernels)."""
    store = tmp_path_factory.mktemp("ops") / "r.db"
    first, results = deploy(store, *SHIPPED)
    second, _ = deploy(store, *SHIPPED)
    fp32, _ = deploy(store, DIGITS / "digits-fp32.tflite")
    int8, _ = deploy(store, DIGITS / "digits-int8-static.tflite")
    return {"store": store, "results": results, "first": first, "second": second, "fp32": fp32, "int8": int8}


def test_every_shipped_model_has_an_op_profile_of_its_runtime(stored: dict[str, Any]) -> None:
    for result in stored["results"]:
        profile = result["op_profile"]
        tflite = result["model"]["format"] == "tflite"
        assert profile["method"] == ("sensor:litert-profiler" if tflite else "sensor:onnxruntime-profiler")
        assert profile["by_node"] and profile["by_op_type"], result["model"]["path"]
        if tflite:  # TFLite's own op names, the node's index, the delegate that ran it
            assert {r["op"] for r in profile["by_op_type"]} >= {"CONV_2D", "DEPTHWISE_CONV_2D"}
            assert all(r["node"] == f"{r['op']}_{r['index']}" for r in profile["by_node"])
            assert {r["provider"] for r in profile["by_node"]} <= {"xnnpack", "builtin"}


def test_compare_lists_the_operators_that_moved(stored: dict[str, Any]) -> None:
    proc = edgeprof("compare", stored["first"], stored["second"], "--store", stored["store"], "--json")
    assert proc.returncode == 0, proc.stderr
    comparisons = json.loads(proc.stdout)
    assert len(comparisons) == len(SHIPPED)
    for c in comparisons:
        assert c["ops"] is not None, c["model"]
        assert 0.0 < sum(o["share"] for o in c["ops"]) <= 1.0 + 1e-9
        assert all(abs(o["b_ms"] - o["a_ms"] - o["delta_ms"]) < 1e-12 for o in c["ops"])
    table = edgeprof("compare", stored["first"], stored["second"], "--store", stored["store"])
    lines = [line for line in table.stdout.splitlines() if "operators: " in line]
    assert any(line.startswith("local / mobilenetv2-int8-static tflite operators: ") and " per run (" in line
               and "% of the change)" in line for line in lines), table.stdout


def test_explain_names_the_fallback_that_slowed_an_operator(stored: dict[str, Any]) -> None:
    proc = edgeprof("explain", stored["fp32"], stored["int8"], "--store", stored["store"], "--json")
    assert proc.returncode == 0, proc.stderr
    (explanation,) = json.loads(proc.stdout)
    softmax = next(o for o in explanation["operators"] if o["op"] == "SOFTMAX")
    assert softmax["cause"] == "1 node fell back from xnnpack to builtin" and softmax["fell_back"] == 1
    assert "SOFTMAX (1 node fell back from xnnpack to builtin)" in explanation["summary"] or softmax["delta_ms"] <= 0
    text = " ".join(edgeprof("explain", stored["fp32"], stored["int8"], "--store", stored["store"]).stdout.split())
    assert "operators that moved most (op profiles, A -> B):" in text
    assert "; 1 node fell back from xnnpack to builtin" in text


def test_report_shows_the_top_operators_of_each_variant(stored: dict[str, Any], tmp_path: Path) -> None:
    out = tmp_path / "report.md"
    proc = edgeprof("report", "--run", stored["first"], "--out", out, "--format", "md", "--store", stored["store"])
    assert proc.returncode == 0, proc.stderr
    text = out.read_text()
    for variant in ("fp32", "int8-static"):
        assert f"mobilenetv2 {variant} tflite: top op types: CONV_2D" in text or \
            f"mobilenetv2 {variant} tflite: top op types: DEPTHWISE_CONV_2D" in text, text
    assert "(CONV_2D, xnnpack)" in text
    page = tmp_path / "report.html"
    proc = edgeprof("report", "--run", stored["first"], "--out", page, "--store", stored["store"])
    assert proc.returncode == 0, proc.stderr
    html = page.read_text()
    section = html[html.index("Placement and top operators"):]
    assert "CONV_2D" in section and "DEPTHWISE_CONV_2D" in section and "xnnpack" in section


@pytest.mark.ssh
def test_tflite_op_profile_over_ssh(loopback_device: str, tmp_path: Path) -> None:
    _, results = deploy(tmp_path / "r.db", MOBILENETV2 / "mobilenetv2-int8-static.tflite", device=loopback_device)
    (result,) = results
    profile = result["op_profile"]
    assert result["device"] == "loop" and profile["method"] == "sensor:litert-profiler"
    assert profile["by_node"][0]["provider"] == "xnnpack" and profile["by_node"][0]["kernel"]
