"""A torch.onnx dynamo export with external data (net.onnx + net.onnx.data) deployed to the emulated board: the
data file travels as its own blob and the board's ONNX Runtime finds it. The export needs torch, which the
emulated stage's .venv lacks: it is made by .venv-convert's Python (scripts/converters_stage.sh sets that up)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from edgeprof.artifacts import load_artifact
from tests.emulated.test_qemu_pi4 import FAST, edgeprof, qemu_pi4  # noqa: F401 (the fixture)

pytestmark = pytest.mark.emulated
CONVERT_PYTHON = Path(__file__).resolve().parents[2] / ".venv-convert" / "bin" / "python"


def test_dynamo_export_with_external_data_runs_on_the_board(qemu_pi4: str, tmp_path: Path) -> None:  # noqa: F811
    if not CONVERT_PYTHON.is_file():
        pytest.skip("no .venv-convert with torch: run scripts/converters_stage.sh first")
    model = tmp_path / "net.onnx"
    subprocess.run([str(CONVERT_PYTHON), "-m", "tests.convert.nets", str(model)], check=True, timeout=600,
                   cwd=Path(__file__).resolve().parents[2])
    (data,) = load_artifact(model).data_files
    runs = []
    for _ in range(2):
        proc = edgeprof("deploy", "--device", qemu_pi4, "--model", model, *FAST, "--store", tmp_path / "r.db",
                        "--json")
        assert proc.returncode == 0, proc.stderr[-2000:]
        runs.append(json.loads(proc.stdout)[0])
    first, again = runs
    assert first["status"] == "ok" and first["system"]["machine"] == "aarch64", first["error"]
    assert first["model"]["external_data"] == [data.describe()]
    assert again["transfer"]["bytes_sent"] == 0  # model, data and agent all cached on the board
