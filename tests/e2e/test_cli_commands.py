"""The smaller commands end to end: sweep, doctor, devices, runs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import DIGITS, store_rows

FAST = ["--max-seconds", "0.3"]


def edgeprof(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "edgeprof", *map(str, args)], capture_output=True, text=True,
                          timeout=300, cwd=cwd)


def test_sweep_quantizes_and_measures_every_variant(tmp_path: Path) -> None:
    out = tmp_path / "variants"
    proc = edgeprof("sweep", DIGITS / "digits-fp32.onnx", "--variants", "fp16,int8-static",
                    "--calibration", DIGITS / "calibration.npz", "--dataset", DIGITS / "test.npz", "--out", out,
                    *FAST, "--store", tmp_path / "r.db", "--json")
    assert proc.returncode == 0, proc.stderr
    results = json.loads(proc.stdout)
    assert [r["model"]["variant"] for r in results] == ["fp32", "fp16", "int8-static"]
    assert {p.name for p in out.iterdir()} == {"digits-fp16.onnx", "digits-int8-static.onnx", "manifest.json"}
    int8 = results[2]
    assert int8["accuracy"]["top1"] >= 0.95
    assert int8["accuracy"]["reference"]["agreement_top1"] >= 0.95  # compared with the fp32 source on the device
    assert store_rows(tmp_path / "r.db") == 3


def test_sweep_with_its_own_defaults_calibrates_on_the_dataset_and_names_what_to_ship(tmp_path: Path) -> None:
    proc = edgeprof("sweep", DIGITS / "digits-fp32.onnx", "--dataset", DIGITS / "test.npz", *FAST,
                    "--store", tmp_path / "r.db", cwd=tmp_path)
    assert proc.returncode in (0, 1), proc.stderr
    out = tmp_path / ".edgeprof" / "variants" / "digits"
    assert {p.name for p in out.glob("*.onnx")} == {"digits-fp16.onnx", "digits-int8-dynamic.onnx",
                                                    "digits-int8-static.onnx"}
    assert "variants in .edgeprof/variants/digits (manifest: .edgeprof/variants/digits/manifest.json)" in proc.stdout
    assert "agreement, SQNR and drop against the fp32 model digits-fp32.onnx, run beside each" in proc.stdout
    rows = [line.split("│")[1:4] for line in proc.stdout.splitlines() if line.startswith("│ onnx")]
    assert [[cell.strip() for cell in row] for row in rows] == [
        ["onnx", v, "cpu"] for v in ("fp32", "fp16", "int8-dynamic", "int8-static")]  # format x precision x accel
    assert "local / digits: recommended " in proc.stdout or "local / digits: no variant meets" in proc.stdout
    assert proc.stdout.count("\n  not ") >= 3  # a reason for each of the four variants not chosen, as recommend shows it
    assert "dynamic dims" not in proc.stderr  # the shipped models' only dynamic dim is the batch


def test_sweep_without_calibration_or_dataset_leaves_int8_static_out_with_a_note(tmp_path: Path) -> None:
    proc = edgeprof("sweep", DIGITS / "digits-fp32.onnx", "--variants", "fp16,int8-static", *FAST,
                    "--out", tmp_path / "v", "--store", tmp_path / "r.db", "--json")
    assert proc.returncode in (0, 1), proc.stderr
    assert "note: int8-static left out: it needs calibration inputs" in proc.stderr
    assert [r["model"]["variant"] for r in json.loads(proc.stdout)] == ["fp32", "fp16"]


def test_sweep_static_int8_without_calibration_is_one_clear_line(tmp_path: Path) -> None:
    proc = edgeprof("sweep", DIGITS / "digits-fp32.onnx", "--variants", "int8-static", "--out", tmp_path / "v",
                    "--store", tmp_path / "r.db")
    assert proc.returncode == 2 and "needs calibration data" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_doctor_on_the_local_device() -> None:
    proc = edgeprof("doctor", "--json")
    report = json.loads(proc.stdout)
    assert report["facts"]["runtimes"]["onnxruntime"]
    assert report["facts"]["python"] == sys.version.split()[0]
    assert proc.returncode == (1 if report["problems"] else 0)


@pytest.mark.ssh
def test_doctor_over_ssh(loopback_device: str) -> None:
    proc = edgeprof("doctor", "--device", loopback_device, "--json")
    report = json.loads(proc.stdout)
    assert report["device"] == "loop" and report["facts"]["numpy"]
    assert report["facts"]["work_dir"].endswith("remote-work")


def test_devices_list_and_show() -> None:
    listed = json.loads(edgeprof("devices", "list", "--json").stdout)
    assert {"local", "pi4", "pi5", "jetson-orin-nano", "jetson-nano"} <= {d["name"] for d in listed}
    shown = json.loads(edgeprof("devices", "show", "pi5", "--json").stdout)
    assert shown["power"]["method"] == "pi5-pmic" and shown["hardware"]["cores"] == 4
    table = edgeprof("devices", "show", "pi4")
    assert table.returncode == 0 and "Cortex-A72" in table.stdout


def test_runs_list_and_show(tmp_path: Path) -> None:
    store = tmp_path / "r.db"
    deployed = edgeprof("deploy", "--model", DIGITS / "digits-int8-static.tflite", *FAST, "--store", store)
    assert deployed.returncode == 0, deployed.stderr
    runs = json.loads(edgeprof("runs", "list", "--json", "--store", store).stdout)
    assert len(runs) == 1 and runs[0]["models"] == ["digits-int8-static"]
    shown = json.loads(edgeprof("runs", "show", "latest", "--json", "--store", store).stdout)
    assert shown[0]["runtime"]["name"] == "ai-edge-litert"
    missing = edgeprof("runs", "list", "--store", tmp_path / "none.db")
    assert missing.returncode == 2 and "no results store" in missing.stderr  # a store is configuration
