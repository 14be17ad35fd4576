"""Fixtures for the transport tests: the loopback OpenSSH server (self-contained), connections and transports."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from edgeprof.devices import Connection
from edgeprof.transport import Transport, open_transport
from edgeprof.transport.local import LocalTransport


@dataclass(frozen=True)
class SshServer:
    """The loopback sshd started by scripts/sshd_loopback.sh (settings from its env file)."""

    port: int
    key: str
    hostkey_pub: Path
    user: str

    def hostkey_line(self, name: str | None = None) -> str:
        """A known_hosts line for this server (under `name`, default [127.0.0.1]:port)."""
        key_type, key_b64 = self.hostkey_pub.read_text().split()[:2]
        return f"{name or f'[127.0.0.1]:{self.port}'} {key_type} {key_b64}\n"


@pytest.fixture(scope="session")
def ssh_server() -> SshServer:
    """Skips (fails in CI) unless scripts/sshd_loopback.sh start $EDGEPROF_TEST_SSHD_DIR has run."""
    run_dir = os.environ.get("EDGEPROF_TEST_SSHD_DIR")
    env_file = Path(run_dir, "env") if run_dir else None
    if env_file is None or not env_file.is_file():
        reason = "no loopback sshd: run scripts/sshd_loopback.sh start DIR and set EDGEPROF_TEST_SSHD_DIR=DIR"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    values = dict(line.removeprefix("export ").split("=", 1) for line in env_file.read_text().split("\n") if "=" in line)
    return SshServer(int(values["EDGEPROF_TEST_SSH_PORT"]), values["EDGEPROF_TEST_SSH_KEY"],
                     Path(values["EDGEPROF_TEST_SSH_HOSTKEY_PUB"]), values["EDGEPROF_TEST_SSH_USER"])


@pytest.fixture()
def trusted_known_hosts(tmp_path: Path, ssh_server: SshServer) -> Path:
    """A known_hosts file that already has the loopback server's key."""
    path = tmp_path / "known_hosts"
    path.write_text(ssh_server.hostkey_line())
    return path


@pytest.fixture()
def connection(tmp_path: Path, ssh_server: SshServer, trusted_known_hosts: Path) -> Connection:
    """A working connection to the loopback server, its work dir under tmp_path."""
    return Connection(host="127.0.0.1", port=ssh_server.port, user=ssh_server.user, identity_file=ssh_server.key,
                      python=sys.executable, work_dir=str(tmp_path / "remote-work"), connect_timeout_s=5.0,
                      known_hosts=str(trusted_known_hosts))


@pytest.fixture()
def ssh(connection: Connection) -> Iterator[Transport]:
    """A connected SSH transport to the loopback server."""
    with open_transport("loop", "ssh", connection) as transport:
        yield transport


@pytest.fixture(params=["local", "ssh"])
def any_transport(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Transport]:
    """Each transport in turn, connected: the semantics tests hold for both."""
    if request.param == "local":
        transport: Transport = LocalTransport("here", tmp_path / "local-work")
        with transport:
            yield transport
    else:
        yield request.getfixturevalue("ssh")


@pytest.fixture()
def spare_key(tmp_path: Path) -> Path:
    """A fresh ed25519 key the server does not know."""
    path = tmp_path / "spare_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)
    return path

