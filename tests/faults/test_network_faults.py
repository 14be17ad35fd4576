"""The network and interruption faults, against the real CLI, the loopback
sshd, the real TCP relay (tests/tcp_proxy.py) and real agent processes. Each ends in one line on stderr, the
documented exit code, no traceback, and in bounded time."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from tests.faults.test_deploy_faults import FP32, LONG, MOBILENET, agents_under, start_cli, wait_for
from tests.support import store_rows, write_loopback_profile
from tests.tcp_proxy import HTTP_REPLY, TcpProxy
from tests.transport.tmpfs import small_tmpfs

pytestmark = pytest.mark.ssh


def proxied_device(tmp_path: Path, sshd: dict[str, str], proxy: TcpProxy, monkeypatch: pytest.MonkeyPatch,
                   **connection: object) -> Path:
    """Profile 'net' (on EDGEPROF_DEVICE_PATH) reaching the sshd through `proxy`, with extra [connection] keys;
    returns its work dir."""
    key_type, key_b64 = Path(sshd["EDGEPROF_TEST_SSH_HOSTKEY_PUB"]).read_text().split()[:2]
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(f"[127.0.0.1]:{proxy.port} {key_type} {key_b64}\n")
    profiles = tmp_path / "profiles"
    path = write_loopback_profile(profiles, sshd, name="net", known_hosts=known_hosts, port=proxy.port)
    extra = "".join(f"\n{key} = {value!r}" for key, value in connection.items())
    text = path.read_text()
    for key in connection:  # the extra keys replace write_loopback_profile's own
        text = "\n".join(line for line in text.splitlines() if not line.startswith(f"{key} =")) + "\n"
    path.write_text(text.replace("[runtime]", extra.lstrip("\n") + "\n[runtime]", 1))
    monkeypatch.setenv("EDGEPROF_DEVICE_PATH", str(profiles))
    return profiles / "remote-work"


def big_dataset(tmp_path: Path, megabytes: int = 24) -> Path:
    """A valid digits dataset (x: N x 8 x 8 x 1 float32) of random, incompressible values."""
    path = tmp_path / "big.npz"
    rows = megabytes * 2**20 // 256
    np.savez(path, x=np.random.default_rng(0).random((rows, 8, 8, 1), dtype=np.float32))
    return path


def finish(proc: subprocess.Popen[str], timeout: float) -> tuple[int, str, float]:
    """(exit code, stderr, seconds) of a CLI run that must end within `timeout`."""
    start = time.monotonic()
    _, err = proc.communicate(timeout=timeout)
    return proc.returncode, err, time.monotonic() - start


def one_error_line(err: str, *needles: str) -> str:
    """The single `edgeprof: ...` line of stderr, with each needle. Progress warnings may come before it (a busy
    device says so); no other error line and no traceback may."""
    errors = [line for line in err.splitlines() if line.startswith("edgeprof: ")]
    assert "Traceback" not in err and len(errors) == 1, err
    assert all(n in errors[0] for n in needles), err
    return errors[0]


def lock_is_free(work_dir: Path) -> bool:
    with (work_dir / "device.lock").open("a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True


def test_a_relay_that_stops_forwarding_mid_upload_fails_within_io_timeout(
        tmp_path: Path, sshd: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    proxy = TcpProxy(int(sshd["EDGEPROF_TEST_SSH_PORT"]))
    work_dir = proxied_device(tmp_path, sshd, proxy, monkeypatch, io_timeout_s=2.0)
    dataset = big_dataset(tmp_path)
    proxy.stall_after(5 * 2**20 + 200_000)  # the agent (~0.2 MB) goes through, the dataset stops after 5 MB
    store = tmp_path / "r.db"
    code, err, took = finish(start_cli("deploy", "--device", "net", "--model", FP32, "--dataset", dataset,
                                       "--store", store), 60)
    proxy.close()
    assert proxy.stalled.is_set()
    assert code == 3, err
    one_error_line(err, "device 'net'", "stalled while uploading big.npz", "io_timeout_s")
    assert took < 30, took
    assert store_rows(store) == 0
    assert not agents_under(work_dir)


def test_ctrl_c_during_a_stalled_upload_exits_130_within_5_s(
        tmp_path: Path, sshd: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    proxy = TcpProxy(int(sshd["EDGEPROF_TEST_SSH_PORT"]))
    proxied_device(tmp_path, sshd, proxy, monkeypatch, io_timeout_s=120.0)
    dataset = big_dataset(tmp_path)
    proxy.stall_after(5 * 2**20 + 200_000)
    store = tmp_path / "r.db"
    proc = start_cli("deploy", "--device", "net", "--model", FP32, "--dataset", dataset, "--store", store)
    wait_for(proxy.stalled.is_set, 60, "the relay to stop forwarding")
    time.sleep(1.0)  # the upload is now blocked on the dead link
    proc.send_signal(signal.SIGINT)
    code, err, took = finish(proc, 30)
    proxy.close()
    assert code == 130, err
    one_error_line(err, "interrupted")
    assert took < 5, took
    assert store_rows(store) == 0


@pytest.mark.parametrize("answer, case", [(b"", "20: accepts TCP, never speaks"), (HTTP_REPLY, "21: answers HTTP")])
def test_a_port_that_is_not_sshd_is_one_line(tmp_path: Path, sshd: dict[str, str],
                                                   monkeypatch: pytest.MonkeyPatch, answer: bytes, case: str) -> None:
    impostor = TcpProxy(None, answer=answer)
    proxied_device(tmp_path, sshd, impostor, monkeypatch, connect_timeout_s=1.0)
    code, err, took = finish(start_cli("deploy", "--device", "net", "--model", FP32, "--store", tmp_path / "r.db"), 60)
    impostor.close()
    assert code == 3, (case, err)
    one_error_line(err, "device 'net'", "no SSH server answered on port", "(after 3 attempts)")
    assert impostor.accepted == 3
    assert took < 20, took


def test_a_work_dir_out_of_inodes_says_so(tmp_path: Path, sshd: dict[str, str],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    with small_tmpfs(tmp_path / "few-inodes", "size=64m,nr_inodes=64") as small:
        work = small / "work"
        (work / "blobs").mkdir(parents=True)
        for n in range(64):  # use up every inode: plenty of bytes free, no room for one more file
            try:
                (work / f"filler-{n}").touch()
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
                break
        proxy = TcpProxy(int(sshd["EDGEPROF_TEST_SSH_PORT"]))
        proxied_device(tmp_path, sshd, proxy, monkeypatch, work_dir=str(work))
        code, err, _ = finish(start_cli("deploy", "--device", "net", "--model", FP32, "--store", tmp_path / "r.db"),
                              60)
        proxy.close()
        assert code == 3, err
        one_error_line(err, "no space left on the device", "no free inodes", "edgeprof clean --device net")
        assert not [p for p in (work / "blobs").iterdir()]


def test_ctrl_c_with_the_agent_stopped_kills_it_and_frees_the_lock(
        loopback_device: str, tmp_path: Path) -> None:
    work_dir = tmp_path / "profiles" / "remote-work"
    store = tmp_path / "r.db"
    proc = start_cli("deploy", "--device", loopback_device, "--model", MOBILENET, "--store", store, *LONG,
                     "--input-shape", "input=1x96x96x3")  # no dynamic-dims warning before the one error line
    wait_for(lambda: agents_under(work_dir), 60, "the agent to start on the device")
    time.sleep(1.0)
    try:
        for pid in agents_under(work_dir):
            with contextlib.suppress(ProcessLookupError):  # one that ended meanwhile needs no stopping
                os.kill(pid, signal.SIGSTOP)
        proc.send_signal(signal.SIGINT)
        code, err, took = finish(proc, 30)
        assert code == 130, err
        one_error_line(err, "interrupted")
        assert took < 5, took
        wait_for(lambda: not agents_under(work_dir), 10, "the stopped agent to be killed")  # a busy host: seconds
        assert lock_is_free(work_dir)
        assert store_rows(store) == 0
    finally:  # what this test stopped never outlives it, whatever failed above
        for pid in agents_under(work_dir, pattern=""):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
