"""scripts/sshd_loopback.sh: start (idempotent), env, stop, on a private directory."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "sshd_loopback.sh"


def _script(action: str, directory: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(SCRIPT), action, str(directory)], capture_output=True, text=True, timeout=60)


@pytest.mark.skipif(not Path("/usr/sbin/sshd").exists() or shutil.which("ssh-keygen") is None,
                    reason="openssh-server is not installed (scripts/sshd_loopback.sh would apt-get it)")
def test_start_env_stop(tmp_path: Path) -> None:
    directory = tmp_path / "sshd"
    started = _script("start", directory)
    try:
        assert started.returncode == 0, started.stderr
        env = dict(line.split("=", 1) for line in (directory / "env").read_text().split())
        assert set(env) == {"EDGEPROF_TEST_SSH_PORT", "EDGEPROF_TEST_SSH_KEY", "EDGEPROF_TEST_SSH_HOSTKEY_PUB",
                            "EDGEPROF_TEST_SSH_USER"}
        port = int(env["EDGEPROF_TEST_SSH_PORT"])
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            assert sock.recv(8).startswith(b"SSH-2.0")
        again = _script("start", directory)
        assert "already running" in again.stdout
        assert (directory / "env").read_text().count(f"PORT={port}\n") == 1
        exported = _script("env", directory)
        assert exported.returncode == 0 and f"export EDGEPROF_TEST_SSH_PORT={port}" in exported.stdout
        pid = int((directory / "sshd.pid").read_text())
    finally:
        stopped = _script("stop", directory)
    assert stopped.returncode == 0
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert _script("env", directory).returncode == 1
