"""The fault matrix at the deploy level: real CLI, real sshd on loopback, real agent, real SQLite."""

from __future__ import annotations

import fcntl
import json
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support import DIGITS, REPO, default_sigint, store_rows, write_loopback_profile
from tests.tcp_proxy import TcpProxy

MOBILENET = REPO / "models" / "mobilenetv2" / "mobilenetv2-fp32.onnx"
FP32 = DIGITS / "digits-fp32.onnx"
LONG = ["--min-seconds", "60", "--max-seconds", "60", "--max-runs", "100000000", "--power-seconds", "0"]


def start_cli(*args: str | Path) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "edgeprof", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, preexec_fn=default_sigint)


def agents_under(work_dir: Path, pattern: str = r"\.pyz --unpack-to") -> list[int]:
    """PIDs of agent processes started from this work dir (the 'device' is this machine): the agent runs its blob
    with --unpack-to; with `pattern=""` every process naming a blob (the upload checks too)."""
    found = subprocess.run(["pgrep", "-f", f"{work_dir}/blobs/.*{pattern}"], capture_output=True, text=True)
    return [int(pid) for pid in found.stdout.split()]


def wait_for(predicate, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    pytest.fail(f"timed out waiting for {what}")


@pytest.mark.ssh
def test_ctrl_c_stops_the_remote_agent_and_stores_nothing(loopback_device: str, tmp_path: Path) -> None:
    work_dir = tmp_path / "profiles" / "remote-work"
    store = tmp_path / "r.db"
    proc = start_cli("deploy", "--device", loopback_device, "--model", MOBILENET, "--store", store, *LONG)
    wait_for(lambda: agents_under(work_dir), 60, "the agent to start on the device")
    time.sleep(1.0)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    wait_for(lambda: not agents_under(work_dir), 10, "the remote agent to exit")
    assert store_rows(store) == 0
    with (work_dir / "device.lock").open("a") as lock:  # the device lock was released
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    assert not list((work_dir / "blobs").glob(".tmp-*"))


@pytest.mark.ssh
def test_dropped_connection_fails_cleanly_without_orphans(tmp_path: Path, sshd: dict[str, str],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    known_hosts = tmp_path / "known_hosts"
    key_type, key_b64 = Path(sshd["EDGEPROF_TEST_SSH_HOSTKEY_PUB"]).read_text().split()[:2]
    profiles = tmp_path / "profiles"
    monkeypatch.setenv("EDGEPROF_DEVICE_PATH", str(profiles))
    store = tmp_path / "r.db"
    args = ["deploy", "--device", "flaky", "--model", FP32, "--store", store, "--min-seconds", "3",
            "--max-seconds", "3", "--max-runs", "100000000", "--power-seconds", "0"]

    # measure how many bytes a whole run takes from the server, then cut every connection halfway
    probe = TcpProxy(int(sshd["EDGEPROF_TEST_SSH_PORT"]))
    known_hosts.write_text(f"[127.0.0.1]:{probe.port} {key_type} {key_b64}\n")
    write_loopback_profile(profiles, sshd, name="flaky", known_hosts=known_hosts, port=probe.port)
    whole = start_cli(*args)
    _, err = whole.communicate(timeout=120)
    assert whole.returncode == 0, err
    probe.close()
    total = probe.downstream_bytes
    store.unlink()

    proxy = TcpProxy(int(sshd["EDGEPROF_TEST_SSH_PORT"]), downstream_limit=int(total * 0.6))
    known_hosts.write_text(f"[127.0.0.1]:{proxy.port} {key_type} {key_b64}\n")
    write_loopback_profile(profiles, sshd, name="flaky", known_hosts=known_hosts, port=proxy.port)
    start = time.monotonic()
    cut = start_cli(*args)
    _, err = cut.communicate(timeout=180)
    assert cut.returncode == 3, err
    lines = [line for line in err.strip().splitlines() if line.startswith("edgeprof: error")]
    assert len(lines) == 1 and "connection dropped" in lines[0] and "flaky" in lines[0], err
    assert "Traceback" not in err
    assert store_rows(store) == 0
    wait_for(lambda: not agents_under(profiles / "remote-work"), 15, "the orphaned agent to exit")
    proxy.close()
    assert time.monotonic() - start < 120


def test_unreachable_device_fails_within_the_connect_timeout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A device that never answers, on loopback only: a listener whose accept backlog is full and never drained.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    filler = []
    for _ in range(3):
        sock = socket.socket()
        sock.setblocking(False)
        sock.connect_ex(listener.getsockname())
        filler.append(sock)
    port = listener.getsockname()[1]
    profiles = tmp_path / "profiles"
    key = tmp_path / "key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    sshd = {"EDGEPROF_TEST_SSH_PORT": str(port), "EDGEPROF_TEST_SSH_USER": "root", "EDGEPROF_TEST_SSH_KEY": str(key)}
    write_loopback_profile(profiles, sshd, name="silent")
    monkeypatch.setenv("EDGEPROF_DEVICE_PATH", str(profiles))
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "edgeprof", "deploy", "--device", "silent", "--model", str(FP32),
                           "--store", str(tmp_path / "r.db")], capture_output=True, text=True, timeout=120)
    elapsed = time.monotonic() - start
    assert proc.returncode == 3
    assert "silent" in proc.stderr and "Traceback" not in proc.stderr
    assert elapsed < 60, elapsed  # connect_timeout_s is 5 in the profile: bounded by attempts x timeout
    for sock in filler:
        sock.close()
    listener.close()


def test_out_of_memory_is_a_failed_memory_verdict(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    big = helper.make_graph(
        [helper.make_node("ConstantOfShape", ["shape"], ["big"],
                          value=helper.make_tensor("v", TensorProto.FLOAT, [1], [1.0])),
         helper.make_node("Add", ["big", "x"], ["sum"]), helper.make_node("ReduceSum", ["sum"], ["y"], keepdims=0)],
        "hungry", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [])],
        [numpy_helper.from_array(np.array([256, 1024, 1024], np.int64), "shape")])  # 1 GiB of float32
    model = helper.make_model(big, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path = tmp_path / "hungry.onnx"
    onnx.save(model, str(path))
    profiles = tmp_path / "profiles"
    profiles.mkdir()
    local = (REPO / "device_profiles" / "local.toml").read_text()
    (profiles / "small.toml").write_text(local.replace("threads = 1", "threads = 1\nmemory_limit_mb = 700"))
    monkeypatch.setenv("EDGEPROF_DEVICE_PATH", str(profiles))
    store = tmp_path / "r.db"
    proc = subprocess.run([sys.executable, "-m", "edgeprof", "deploy", "--device", "small", "--model", str(path),
                           "--store", str(store), "--json"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1, proc.stderr
    (result,) = json.loads(proc.stdout)
    assert result["status"] == "failed" and result["error"]["kind"] == "memory"
    memory = next(v for v in result["verdicts"] if v["constraint"] == "memory.peak_rss_mb")
    assert memory["status"] == "fail" and memory["detail"].startswith("killed: out of memory")
    assert "700 MB" in memory["detail"]
    assert store_rows(store) == 1  # the failed run is recorded, with its reason
    assert "Traceback" not in proc.stderr
