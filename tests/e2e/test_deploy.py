"""`edgeprof deploy` end to end: the real CLI, the real agent, a real OpenSSH server on loopback, real SQLite."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from edgeprof.store.sqlite import SQLiteStore as ResultStore
from tests.support import DIGITS, store_rows, trust_loopback_host, write_loopback_profile

FAST = ["--min-runs", "20", "--max-runs", "300", "--min-seconds", "0.2", "--max-seconds", "1", "--power-seconds", "0.5"]
FP32 = DIGITS / "digits-fp32.onnx"


def edgeprof(*args: str | Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run the real CLI in a subprocess, as a user would."""
    return subprocess.run([sys.executable, "-m", "edgeprof", *map(str, args)], capture_output=True, text=True,
                          env=env, timeout=300)


def deploy_json(*args: str | Path) -> tuple[subprocess.CompletedProcess[str], list[dict[str, Any]]]:
    proc = edgeprof("deploy", "--json", *FAST, *args)
    assert proc.stdout.strip(), proc.stderr
    return proc, json.loads(proc.stdout)


def dig(doc: dict[str, Any], dotted: str) -> Any:
    for part in dotted.split("."):
        doc = doc[part]
    return doc


REQUIRED_KEYS = [
    "device", "model.path", "model.sha256", "model.format", "runtime.name", "runtime.version",
    "latency.load_ms", "latency.first_ms", "latency.p50_ms", "latency.p95_ms", "latency.p99_ms",
    "latency.samples", "latency.method", "memory.peak_rss_mb", "memory.method", "transfer.bytes_sent", "verdicts",
]


@pytest.mark.ssh
def test_deploy_over_ssh_stores_results_and_caches_uploads(loopback_device: str, tmp_path: Path) -> None:
    store = tmp_path / "results.db"
    first, results = deploy_json("--device", loopback_device, "--model", FP32, "--store", store)
    assert first.returncode == 0, first.stderr
    (result,) = results
    for key in REQUIRED_KEYS:
        dig(result, key)
    assert result["device"] == "loop" and result["status"] == "ok"
    assert result["model"]["format"] == "onnx" and result["runtime"]["name"] == "onnxruntime"
    assert result["latency"]["p50_ms"] <= result["latency"]["p95_ms"] <= result["latency"]["p99_ms"]
    assert result["transfer"]["bytes_sent"] >= FP32.stat().st_size
    assert {v["constraint"] for v in result["verdicts"]} >= {"latency.p95_ms", "memory.peak_rss_mb"}
    assert all({"constraint", "bound", "value", "status"} <= set(v) for v in result["verdicts"])

    second, (again,) = deploy_json("--device", loopback_device, "--model", FP32, "--store", store)
    assert second.returncode == 0, second.stderr
    assert again["transfer"]["bytes_sent"] == 0
    assert again["transfer"]["files_cached"] >= 2

    with ResultStore(store, create=False) as db:
        runs = db.list_runs()
        assert len(runs) == 2
        stored = db.load_run(runs[0].run_id)
        assert stored[0]["latency"]["p95_ms"] == again["latency"]["p95_ms"]


def test_deploy_on_local_device_table_output(tmp_path: Path) -> None:
    proc = edgeprof("deploy", "--model", FP32, *FAST, "--store", tmp_path / "r.db")
    assert proc.returncode == 0, proc.stderr
    assert "local" in proc.stdout and "digits" in proc.stdout
    assert "stored run" in proc.stderr


def test_failed_constraint_exits_1(tmp_path: Path) -> None:
    proc, (result,) = deploy_json("--model", FP32, "--constraint", "latency.p50_ms<=0.00001",
                                  "--store", tmp_path / "r.db")
    assert proc.returncode == 1
    assert any(v["constraint"] == "latency.p50_ms" and v["status"] == "fail" for v in result["verdicts"])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--device", "pi-4"], "unknown device 'pi-4' (did you mean pi4"),
        (["--constraint", "latency.p97_ms<=3"], "latency.p97_ms"),
        (["--input-shape", "x=1xtwo"], "--input-shape"),
    ],
)
def test_usage_errors_exit_2_with_one_line(args: list[str], message: str, tmp_path: Path) -> None:
    proc = edgeprof("deploy", "--model", FP32, *args, "--store", tmp_path / "r.db")
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "r.db").exists()


def test_corrupt_model_is_refused_on_the_host(tmp_path: Path) -> None:
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(FP32.read_bytes()[:100])
    proc = edgeprof("deploy", "--model", bad, "--store", tmp_path / "r.db")
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1 and str(bad) in proc.stderr


@pytest.mark.ssh
def test_unknown_host_key_refused_then_accepted(tmp_path: Path, sshd: dict[str, str],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    profiles = tmp_path / "profiles"
    known_hosts = tmp_path / "known_hosts"
    write_loopback_profile(profiles, sshd, known_hosts=known_hosts)
    monkeypatch.setenv("EDGEPROF_DEVICE_PATH", str(profiles))
    refused = edgeprof("deploy", "--device", "loop", "--model", FP32, *FAST, "--store", tmp_path / "r.db")
    assert refused.returncode == 3
    assert "SHA256:" in refused.stderr and str(known_hosts) in refused.stderr
    assert "Traceback" not in refused.stderr and store_rows(tmp_path / "r.db") == 0
    accepted = edgeprof("deploy", "--device", "loop", "--model", FP32, *FAST, "--accept-new-host-key",
                        "--store", tmp_path / "r.db")
    assert accepted.returncode == 0, accepted.stderr
    assert f"[127.0.0.1]:{sshd['EDGEPROF_TEST_SSH_PORT']}" in known_hosts.read_text()


@pytest.mark.ssh
def test_changed_host_key_always_refused(tmp_path: Path, sshd: dict[str, str],
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    known_hosts = trust_loopback_host(tmp_path / "known_hosts", sshd)
    other = tmp_path / "other_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    key_type, key_b64 = Path(f"{other}.pub").read_text().split()[:2]
    known_hosts.write_text(f"[127.0.0.1]:{sshd['EDGEPROF_TEST_SSH_PORT']} {key_type} {key_b64}\n")
    if key_type != Path(sshd["EDGEPROF_TEST_SSH_HOSTKEY_PUB"]).read_text().split()[0]:
        pytest.fail("the test needs the sshd's host key type to be ed25519")
    write_loopback_profile(tmp_path / "profiles", sshd, known_hosts=known_hosts)
    monkeypatch.setenv("EDGEPROF_DEVICE_PATH", str(tmp_path / "profiles"))
    proc = edgeprof("deploy", "--device", "loop", "--model", FP32, *FAST, "--accept-new-host-key",
                    "--store", tmp_path / "r.db")
    assert proc.returncode == 3
    assert "changed" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.ssh
def test_unreachable_device_exits_3_naming_it(tmp_path: Path, sshd: dict[str, str],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    write_loopback_profile(tmp_path / "profiles", sshd, name="gone", port=closed_port)
    monkeypatch.setenv("EDGEPROF_DEVICE_PATH", str(tmp_path / "profiles"))
    proc = edgeprof("deploy", "--device", "gone", "--model", FP32, "--store", tmp_path / "r.db")
    assert proc.returncode == 3
    assert "gone" in proc.stderr and "Traceback" not in proc.stderr
    assert store_rows(tmp_path / "r.db") == 0
