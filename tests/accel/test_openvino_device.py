"""The "Intel edge box" test device: edgeprof reaches it over real SSH and its Python has the OpenVINO EP."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

from edgeprof.devices import load_profile_file
from edgeprof.transport import open_transport
from tests.support import DIGITS

FAST = ["--min-runs", "20", "--max-runs", "300", "--min-seconds", "0.2", "--max-seconds", "1", "--power-seconds", "0.5"]

pytestmark = pytest.mark.ssh


def test_the_device_python_lists_the_openvino_provider_over_ssh(intel_edge_profile: Path, openvino_py: Path) -> None:
    profile = load_profile_file(intel_edge_profile)
    assert profile.kind == "ssh" and profile.connection is not None
    assert profile.connection.python == str(openvino_py)
    probe = "import onnxruntime; print(onnxruntime.__version__); print(onnxruntime.get_available_providers())"
    with open_transport(profile.name, profile.kind, profile.connection) as transport:
        done = transport.run([profile.connection.python, "-c", probe], timeout=120)
    assert done.exit_code == 0, done.stderr
    version, providers = done.stdout.strip().splitlines()[-2:]
    assert version == "1.24.1"
    assert ast.literal_eval(providers)[:2] == ["OpenVINOExecutionProvider", "CPUExecutionProvider"]


def test_deploy_runs_on_the_intel_edge_box(intel_edge_profile: Path, tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "edgeprof", "deploy", "--json", *FAST, "--device", "intel-edge",
                           "--model", str(DIGITS / "digits-fp32.onnx"), "--store", str(tmp_path / "r.db")],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    (result,) = json.loads(proc.stdout)
    assert result["device"] == "intel-edge" and result["status"] == "ok"
    # the device's own onnxruntime (onnxruntime-openvino), not the host's
    assert result["runtime"]["name"] == "onnxruntime" and result["runtime"]["version"] == "1.24.1"
    assert result["latency"]["samples"] >= 20 and result["latency"]["p50_ms"] > 0
