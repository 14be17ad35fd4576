"""What a device or model finished is stored even when a later model or another device fails: an SSH device that
goes offline during the second model, a model file deleted before the next device's upload, a device whose
login prints on stdout."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from edgeprof.artifacts import sha256_file
from edgeprof.transport.local import LocalTransport
from tests.faults.test_deploy_faults import FP32, start_cli, wait_for
from tests.faults.test_network_faults import finish, one_error_line, proxied_device
from tests.support import DIGITS, REPO, store_rows, trust_loopback_host, write_loopback_profile
from tests.tcp_proxy import TcpProxy

pytestmark = pytest.mark.ssh
STEADY = ["--min-runs", "10", "--max-runs", "100000000", "--min-seconds", "2", "--max-seconds", "2",
          "--power-seconds", "0"]


def test_a_device_that_goes_offline_during_the_second_model_keeps_the_first(
        tmp_path: Path, sshd: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    proxy = TcpProxy(int(sshd["EDGEPROF_TEST_SSH_PORT"]))
    work_dir = proxied_device(tmp_path, sshd, proxy, monkeypatch, connect_timeout_s=2.0)
    store = tmp_path / "r.db"
    proc = start_cli("deploy", "-d", "net", "-m", FP32, "-m", DIGITS / "digits-fp32.tflite", *STEADY,
                     "--store", store)
    wait_for(lambda: any((work_dir / "blobs").glob("*.tflite")), 90, "the second model on the device")
    proxy.close()  # the device goes offline: every link cut, every reconnect refused
    code, err, _ = finish(proc, 90)
    assert code == 3, err
    one_error_line(err, "device 'net'", "connection refused", "(after 3 attempts)")
    assert store_rows(store) == 1


def test_a_model_file_gone_before_the_next_devices_upload_keeps_the_first_devices_results(
        tmp_path: Path, loopback_device: str) -> None:
    model = tmp_path / "digits-fp32.onnx"
    model.write_bytes(FP32.read_bytes())
    blob = Path(LocalTransport("local").blob_path(sha256_file(model), ".onnx"))
    store = tmp_path / "r.db"
    started = time.time()
    proc = start_cli("deploy", "-d", "local", "-d", loopback_device, "--jobs", "1", "-m", model, *STEADY,
                     "--store", store)

    def local_has_the_model() -> bool:  # its agent runs and the model was copied (or its blob reused) for it
        children = subprocess.run(["pgrep", "-f", "-P", str(proc.pid), r"\.pyz"], capture_output=True, text=True)
        return bool(children.stdout.split()) and blob.is_file() and blob.stat().st_mtime >= started

    wait_for(local_has_the_model, 60, "the model on 'local'")
    model.unlink()
    code, err, _ = finish(proc, 90)
    assert code == 2, err
    one_error_line(err, f"device '{loopback_device}'", "digits-fp32.onnx")
    assert store_rows(store) == 1


def banner_python(tmp: Path, text: str) -> Path:
    """A device Python whose login prints `text` on stdout first (a banner, a chatty shell start-up file)."""
    script = tmp / "python-with-banner"
    script.write_text(f"#!/bin/sh\necho '{text}'\nexec {REPO / '.venv' / 'bin' / 'python'} \"$@\"\n")
    script.chmod(0o755)
    return script


@pytest.mark.parametrize("banner", ["1", "Welcome to the board", '"hi"'])
def test_a_login_that_prints_on_stdout_does_not_lose_the_fleet(tmp_path: Path, sshd: dict[str, str],
                                                               monkeypatch: pytest.MonkeyPatch, banner: str) -> None:
    profiles = tmp_path / "profiles"
    write_loopback_profile(profiles, sshd, name="chatty", python=banner_python(tmp_path, banner),
                           known_hosts=trust_loopback_host(tmp_path / "known_hosts", sshd))
    monkeypatch.setenv("EDGEPROF_DEVICE_PATH", str(profiles))
    store = tmp_path / "r.db"
    code, err, _ = finish(start_cli("deploy", "-d", "local", "-d", "chatty", "-m", FP32, "--min-runs", "10",
                                    "--max-runs", "50", "--max-seconds", "0.3", "--power-seconds", "0",
                                    "--store", store), 120)
    assert code in (0, 1) and "edgeprof: error" not in err and "Traceback" not in err, err
    assert store_rows(store) == 2


def test_a_device_python_that_is_gone_is_one_line_without_reconnects(
        tmp_path: Path, loopback_device: str) -> None:
    store = tmp_path / "r.db"
    code, err, _ = finish(start_cli("deploy", "-d", loopback_device, "-m", FP32, "--min-runs", "10", "--max-runs",
                                    "50", "--max-seconds", "0.3", "--power-seconds", "0", "--store", store), 120)
    assert code in (0, 1), err  # the agent and the model are now on the device
    profile = tmp_path / "profiles" / f"{loopback_device}.toml"
    text = profile.read_text()
    profile.write_text("\n".join('python = "/nonexistent/python3"' if line.startswith("python =") else line
                                 for line in text.splitlines()) + "\n")
    started = time.monotonic()
    code, err, _ = finish(start_cli("deploy", "-d", loopback_device, "-m", FP32, "--store", store), 60)
    assert code == 3, err
    one_error_line(err, f"device '{loopback_device}'", "cannot start the agent", "/nonexistent/python3",
                   "connection.python")
    assert "reconnecting" not in err and time.monotonic() - started < 30
    assert store_rows(store) == 1
