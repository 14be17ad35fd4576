"""`edgeprof deploy --scenario offline|server` on the local device with the shipped digits model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.e2e.test_deploy import FAST, FP32, edgeprof


def test_deploy_offline_scenario(tmp_path: Path) -> None:
    proc = edgeprof("deploy", "--json", *FAST, "--model", FP32, "--scenario", "offline", "--batch", "1,4",
                    "--sweep-threads", "1,2", "--scenario-seconds", "0.1", "--store", tmp_path / "r.db")
    assert proc.returncode == 0, proc.stderr
    (result,) = json.loads(proc.stdout)
    section = result["scenario"]
    assert section["settings"]["batches"] == [1, 4] and section["settings"]["threads"] == [1, 2]
    assert {(p["threads"], p["batch"]) for p in section["points"]} == {(1, 1), (1, 4), (2, 1), (2, 4)}


def test_deploy_server_table_output_says_valid_or_why_not(tmp_path: Path) -> None:
    proc = edgeprof("deploy", *FAST, "--model", FP32, "--scenario", "server", "--target-qps", "200",
                    "--scenario-seconds", "0.5", "--store", tmp_path / "r.db")
    assert proc.returncode == 0, proc.stderr
    line = next(x for x in proc.stdout.splitlines() if "server at 200 QPS" in x)
    assert line.startswith("local digits fp32 onnx: ") and ("VALID," in line or "INVALID (" in line)
    # the stored `server.valid` verdict is drawn as stored: report and plot read it (they raised KeyError)
    report = edgeprof("report", "--latest", "--out", tmp_path / "r.html", "--store", tmp_path / "r.db")
    assert report.returncode == 0 and report.stderr == "", report.stderr
    assert "server.valid" in (tmp_path / "r.html").read_text()
    plot = edgeprof("plot", "--latest", "--out", tmp_path / "plots", "--store", tmp_path / "r.db")
    assert plot.returncode == 0 and plot.stderr == "", plot.stderr


def test_deploy_server_scenario_with_max_qps_constraint(tmp_path: Path) -> None:
    proc = edgeprof("deploy", "--json", *FAST, "--model", FP32, "--scenario", "server", "--find-max-qps",
                    "--p99-bound", "50", "--scenario-seconds", "0.5", "-c", "server.max_qps>=1e9",
                    "--store", tmp_path / "r.db")
    assert proc.returncode == 1, proc.stderr  # a tiny model on this host serves far more than 0 but not 1e9 QPS
    (result,) = json.loads(proc.stdout)
    search = result["scenario"]["max_qps_search"]
    assert result["scenario"]["max_qps"] == search["max_qps"] > 0
    verdict = next(v for v in result["verdicts"] if v["constraint"] == "server.max_qps")
    assert verdict["status"] == "fail" and verdict["value"] == search["max_qps"] and verdict["unit"] == "QPS"


@pytest.mark.parametrize("args,message", [
    (["--scenario", "server"], "needs --target-qps"),
    (["--scenario", "server", "--find-max-qps"], "needs --p99-bound"),
    (["--scenario", "burst"], "expected single-stream, offline or server"),
    (["--batch", "1,4"], "apply to --scenario offline"),
    (["--scenario", "offline", "--batch", "1,x"], "--batch '1,x'"),
    (["--devices-from", "/nonexistent/devices.txt"], "devices file /nonexistent/devices.txt does not exist"),
])
def test_scenario_usage_errors_exit_2(args: list[str], message: str, tmp_path: Path) -> None:
    proc = edgeprof("deploy", "--model", FP32, *args, "--store", tmp_path / "r.db")
    assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr
