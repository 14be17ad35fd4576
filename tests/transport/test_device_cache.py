"""The device-side cache: partial uploads of a dropped connection go at the next connection, `edgeprof clean`
frees the work dir (and nothing outside it), and `connection.max_cache_mb` evicts the oldest blobs."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

from edgeprof.devices import Connection
from edgeprof.errors import DeviceError
from edgeprof.transport import open_transport
from edgeprof.transport.cache import evict_blobs
from edgeprof.transport.local import LocalTransport
from tests.support import DIGITS, trust_loopback_host, write_loopback_profile
from tests.tcp_proxy import TcpProxy


def blob(tmp_path: Path, name: str, size: int) -> tuple[Path, str]:
    path = tmp_path / name
    path.write_bytes(os.urandom(size))
    return path, hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.ssh
def test_a_dropped_upload_partial_is_removed_at_the_next_connection(connection: Connection, tmp_path: Path) -> None:
    proxy = TcpProxy(connection.port)  # type: ignore[arg-type]
    known_hosts = tmp_path / "known_hosts_proxy"
    line = Path(connection.known_hosts or "").read_text().split(" ", 1)[1]
    known_hosts.write_text(f"[127.0.0.1]:{proxy.port} {line}")
    local, digest = blob(tmp_path, "big.onnx", 4_000_000)
    transport = open_transport("loop", "ssh", replace(connection, port=proxy.port, known_hosts=str(known_hosts)))
    transport.connect()
    proxy.cut_after(1_000_000)
    with pytest.raises(DeviceError, match="removed at the next connection from this host"):
        transport.put_file(local, digest, ".onnx")
    transport.close()
    proxy.close()
    blobs = Path(transport.work_dir) / "blobs"
    assert [p.name for p in blobs.iterdir() if p.name.startswith(".tmp-")]
    with open_transport("loop", "ssh", connection):  # the message is true at once, not 15 minutes later
        assert not [p.name for p in blobs.iterdir() if p.name.startswith(".tmp-")]


def test_the_cache_cap_evicts_the_oldest_blobs_never_those_in_use(tmp_path: Path) -> None:
    with LocalTransport("here", tmp_path / "work") as transport:
        uploads = []
        for n in range(4):
            path, digest = blob(tmp_path, f"m{n}.onnx", 1_000_000)
            uploads.append(transport.put_file(path, digest, ".onnx").remote_path)
            os.utime(uploads[-1], (time.time() - 100 + n, time.time() - 100 + n))
        Path(transport.remote_path("compiled")).mkdir()
        freed = evict_blobs(transport, sys.executable, 2_000_000, keep={uploads[0]})
        left = sorted(Path(transport.work_dir, "blobs").iterdir())
        assert freed.files == 2 and freed.bytes == 2_000_000
        assert [str(p) for p in left] == sorted([uploads[0], uploads[3]])  # the oldest kept: it is in use


@pytest.mark.ssh
def test_edgeprof_clean_frees_the_work_dir_and_nothing_else(tmp_path: Path, sshd: dict[str, str],
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    profiles = tmp_path / "profiles"
    write_loopback_profile(profiles, sshd, known_hosts=trust_loopback_host(tmp_path / "known_hosts", sshd))
    env = {**os.environ, "EDGEPROF_DEVICE_PATH": str(profiles)}
    cli = [sys.executable, "-m", "edgeprof"]
    deploy = subprocess.run([*cli, "deploy", "--device", "loop", "--model", str(DIGITS / "digits-fp32.onnx"),
                             "--store", str(tmp_path / "r.db"), "--min-seconds", "0.2", "--max-seconds", "0.5",
                             "--power-seconds", "0"], env=env, capture_output=True, text=True, timeout=180)
    assert deploy.returncode == 0, deploy.stderr
    work = profiles / "remote-work"
    outside = work.parent / "precious.txt"
    outside.write_text("not edgeprof's")
    (work / "notes.txt").write_text("the user's")
    sizes = sum(p.stat().st_size for p in (work / "blobs").iterdir())
    unpacked = list((work / "compiled").glob("agent-*"))
    assert len(unpacked) == 1 and (unpacked[0] / "edgeprof_agent" / "run.py").is_file()  # the agent ran from there
    done = subprocess.run([*cli, "clean", "--device", "loop", "--json"], env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    remaining = list((work / "blobs").iterdir())
    assert [p.suffix for p in remaining] == [".pyz"] and unpacked[0].is_dir()  # the current agent stays
    assert report["bytes"] + report["kept_bytes"] == sizes and report["files"] >= 1
    everything = subprocess.run([*cli, "clean", "--device", "loop", "--all"], env=env, capture_output=True, text=True,
                                timeout=120)
    assert everything.returncode == 0 and "freed" in everything.stderr, everything.stderr
    assert not list((work / "blobs").iterdir()) and not list((work / "compiled").iterdir())
    assert outside.read_text() == "not edgeprof's" and (work / "notes.txt").read_text() == "the user's"


@pytest.mark.ssh
def test_a_deploy_over_the_cache_cap_evicts_old_blobs(tmp_path: Path, sshd: dict[str, str]) -> None:
    profiles = tmp_path / "profiles"
    path = write_loopback_profile(profiles, sshd, known_hosts=trust_loopback_host(tmp_path / "known_hosts", sshd))
    path.write_text(path.read_text().replace("connect_timeout_s = 5.0", "connect_timeout_s = 5.0\nmax_cache_mb = 0"))
    old = profiles / "remote-work" / "blobs" / f"{'0' * 64}.onnx"
    old.parent.mkdir(parents=True)
    old.write_bytes(b"an old model")
    deploy = subprocess.run([sys.executable, "-m", "edgeprof", "deploy", "--device", "loop", "--model",
                             str(DIGITS / "digits-fp32.onnx"), "--store", str(tmp_path / "r.db"), "--min-seconds",
                             "0.2", "--max-seconds", "0.5", "--power-seconds", "0"],
                            env={**os.environ, "EDGEPROF_DEVICE_PATH": str(profiles)}, capture_output=True, text=True,
                            timeout=180)
    assert deploy.returncode == 0, deploy.stderr
    assert not old.exists()
    assert sorted(p.suffix for p in old.parent.iterdir()) == [".onnx", ".pyz"]  # in use: kept
