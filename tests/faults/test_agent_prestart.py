"""The agent starts before its model is pushed (its Python, numpy and probes load while the model uploads), over a
real relay to the loopback sshd: the overlap shows in the Result's timing, and an upload that fails meanwhile
leaves no agent on the device."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.faults.test_deploy_faults import MOBILENET, agents_under, start_cli
from tests.faults.test_network_faults import finish, lock_is_free, one_error_line, proxied_device
from tests.support import store_rows
from tests.tcp_proxy import TcpProxy

pytestmark = pytest.mark.ssh
FAST = ["--min-seconds", "0", "--max-seconds", "0.3", "--power-seconds", "0", "--json"]


def test_the_agent_starts_while_the_model_uploads(tmp_path: Path, sshd: dict[str, str],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    proxy = TcpProxy(int(sshd["EDGEPROF_TEST_SSH_PORT"]), upstream_rate=1.5e6)  # 1.7 MB model: ~1.1 s
    proxied_device(tmp_path, sshd, proxy, monkeypatch)
    proc = start_cli("deploy", "--device", "net", "--model", MOBILENET, *FAST, "--store", tmp_path / "r.db")
    out, err = proc.communicate(timeout=120)
    proxy.close()
    assert proc.returncode == 0, err
    (result,) = json.loads(out)
    timing = result["timing"]
    assert result["transfer"]["bytes_sent"] > MOBILENET.stat().st_size
    assert timing["agent_wait_s"] > 0.2, timing  # started, it waited for the model to arrive
    assert timing["stages"]["upload"] > timing["agent_wait_s"], timing
    assert timing["agent_s"] >= timing["measure_s"] + timing["agent_wait_s"], timing


def test_a_model_upload_that_fails_after_the_agent_started_leaves_no_agent(
        tmp_path: Path, sshd: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    proxy = TcpProxy(int(sshd["EDGEPROF_TEST_SSH_PORT"]))
    work_dir = proxied_device(tmp_path, sshd, proxy, monkeypatch, io_timeout_s=2.0)
    proxy.stall_after(800_000)  # the agent (~0.1 MB) goes through; the model stops half way
    store = tmp_path / "r.db"
    code, err, took = finish(start_cli("deploy", "--device", "net", "--model", MOBILENET, "--store", store), 60)
    proxy.close()
    assert proxy.stalled.is_set() and code == 3, err
    one_error_line(err, "device 'net'", "stalled while uploading mobilenetv2-fp32.onnx")
    assert took < 30, took
    assert store_rows(store) == 0
    deadline = time.monotonic() + 15
    while agents_under(work_dir) and time.monotonic() < deadline:  # sshd ends the session once the link is gone
        time.sleep(0.2)
    assert not agents_under(work_dir) and lock_is_free(work_dir)
