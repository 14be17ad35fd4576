"""`deploy --ep/--delegate` through the CLI: the Intel edge box over real SSH (OpenVINO), the local device (plain
CPU build), the gate on fallback nodes, the compiled-blob cache across deploys, and several configurations."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from edgeprof.store.sqlite import SQLiteStore as ResultStore
from tests.models.onnx_graphs import hardmax_in_the_middle
from tests.support import DIGITS

FAST = ["--min-runs", "20", "--max-runs", "300", "--min-seconds", "0.1", "--max-seconds", "0.5", "--power-seconds",
        "0.2"]


def edgeprof(*args: object, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "edgeprof", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout)


def deploy_json(*args: object) -> tuple[int, list[dict], str]:
    proc = edgeprof("deploy", "--json", *FAST, *args)
    return proc.returncode, json.loads(proc.stdout or "[]"), proc.stderr


@pytest.mark.ssh
def test_openvino_on_the_edge_box_places_nodes_and_the_second_deploy_reuses_the_blob(
        intel_edge_profile: Path, tmp_path: Path) -> None:
    store = tmp_path / "r.db"
    args = ["--device", "intel-edge", "--ep", "openvino:device_type=CPU", "--model", DIGITS / "digits-fp32.onnx",
            "--store", store, "-c", "placement.fallback_nodes<=0", "-c", "placement.accelerated_fraction>=0.99"]
    code, (first,), stderr = deploy_json(*args)
    assert code == 0, stderr
    assert first["runtime"]["providers"][0] == "OpenVINOExecutionProvider"
    assert first["placement"]["by_accelerator"][0]["name"] == "OpenVINOExecutionProvider"
    assert first["runtime"]["compile"]["cache"] == "miss" and first["latency"]["compile_ms"] is not None
    code, (second,), stderr = deploy_json(*args)
    assert code == 0, stderr
    assert second["runtime"]["compile"]["cache"] == "hit"
    assert second["runtime"]["compile"]["cache_key"] == first["runtime"]["compile"]["cache_key"]
    statuses = {v["constraint"]: v["status"] for v in second["verdicts"]}
    assert statuses["placement.fallback_nodes"] == statuses["placement.accelerated_fraction"] == "pass"


@pytest.mark.ssh
def test_a_deliberate_fallback_fails_the_fallback_gate_with_exit_1(intel_edge_profile: Path, tmp_path: Path) -> None:
    model = hardmax_in_the_middle(tmp_path / "hardmax.onnx")
    code, (result,), stderr = deploy_json("--device", "intel-edge", "--ep", "openvino,cpu", "--model", model,
                                          "--store", tmp_path / "r.db", "-c", "placement.fallback_nodes<=0")
    assert code == 1, stderr
    assert [n["op"] for n in result["placement"]["fallback_nodes"]] == ["Hardmax"]
    (gate,) = [v for v in result["verdicts"] if v["constraint"] == "placement.fallback_nodes"]
    assert gate["status"] == "fail" and gate["value"] == 1


def test_a_provider_the_device_lacks_is_one_line_and_exit_3(tmp_path: Path) -> None:
    proc = edgeprof("deploy", *FAST, "--device", "local", "--ep", "openvino", "--model", DIGITS / "digits-fp32.onnx",
                    "--store", tmp_path / "r.db")
    assert proc.returncode == 3
    (line,) = [x for x in proc.stderr.splitlines() if x.startswith("edgeprof: error:")]
    assert "no execution provider 'OpenVINOExecutionProvider' (it has: " in line and "CPUExecutionProvider" in line


@pytest.mark.parametrize(("option", "text"), [
    (["--ep", "openvino:=3"], "'=3' is not a key=value option"),
    (["--ep", "cpu,,cuda"], "an empty accelerator name"),
    (["--delegate", ":x=1"], "an empty accelerator name"),
])
def test_malformed_accelerator_lists_are_usage_errors(tmp_path: Path, option: list[str], text: str) -> None:
    proc = edgeprof("deploy", "--device", "local", *option, "--model", DIGITS / "digits-fp32.onnx",
                    "--store", tmp_path / "r.db")
    assert proc.returncode == 2 and text in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "r.db").exists()


def test_each_ep_and_delegate_is_a_configuration_of_its_own(tmp_path: Path) -> None:
    store = tmp_path / "r.db"
    code, results, stderr = deploy_json("--device", "local", "--model", DIGITS / "digits-fp32.onnx",
                                        "--model", DIGITS / "digits-fp32.tflite", "--ep", "cpu", "--ep", "openvino,cpu",
                                        "--delegate", "xnnpack", "--delegate", "none", "--store", store)
    assert code == 0, stderr
    assert [(r["model"]["format"], r["placement"]["requested"]) for r in results] == [
        ("onnx", ["cpu"]), ("onnx", ["openvino", "cpu"]), ("tflite", ["xnnpack"]), ("tflite", ["none"])]
    assert results[1]["placement"]["unavailable"] == ["OpenVINOExecutionProvider"]
    assert results[3]["placement"]["accelerated_fraction"] == 0.0
    with ResultStore(store, create=False) as db:
        assert len(db.query()) == 4
