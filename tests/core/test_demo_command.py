"""`edgeprof demo --out DIR`: the shipped sample profiled on this machine, everything it writes in the folder named,
and the commands it suggests pointed at that folder's store."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def edgeprof(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "edgeprof", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)


def test_demo_writes_only_in_the_folder_named_and_says_how_to_read_it(tmp_path: Path) -> None:
    done = edgeprof(tmp_path, "demo", "--out", "demo out")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")) == [
        "demo out", "demo out/report.html", "demo out/results.db"]
    assert "report: demo out/report.html" in done.stdout
    assert "edgeprof runs list --store 'demo out/results.db'" in done.stdout
    for model in ("digits-fp32.onnx", "digits-fp16.onnx", "digits-int8-static.onnx", "digits-int8-static.tflite"):
        assert model in done.stderr.splitlines()[0]
    listed = edgeprof(tmp_path, "runs", "show", "latest", "--json", "--store", "demo out/results.db")
    assert listed.returncode == 0, listed.stderr
    results = json.loads(listed.stdout)
    assert sorted(r["model"]["variant"] + " " + r["model"]["format"] for r in results) == [
        "fp16 onnx", "fp32 onnx", "int8-static onnx", "int8-static tflite"]
    assert all(r["accuracy"]["samples"] == 360 and r["device"] == "local" for r in results)
