"""SSH-only behaviour against the real loopback OpenSSH server: host keys, ssh_config, auth, failures, uploads."""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import pytest

from edgeprof.devices import Connection
from edgeprof.errors import ConfigError, DeviceError
from edgeprof.transport import open_transport
from edgeprof.transport.ssh import STALE_UPLOAD_S, SSHTransport
from edgeprof.transport.sshconfig import USER_CONFIG_ENV, resolve_ssh_config
from tests.tcp_proxy import TcpProxy
from tests.transport.conftest import SshServer
from tests.transport.tmpfs import small_tmpfs


def _openssh_fingerprint(pub: Path) -> str:
    """The fingerprint as OpenSSH's own ssh-keygen prints it."""
    return subprocess.run(["ssh-keygen", "-lf", str(pub)], capture_output=True, text=True, check=True).stdout.split()[1]


def _connect(connection: Connection, **kwargs: object) -> SSHTransport:
    transport = open_transport("loop", "ssh", connection, **kwargs)  # type: ignore[arg-type]
    assert isinstance(transport, SSHTransport)
    transport.connect()
    return transport


@pytest.fixture()
def proxy(ssh_server: SshServer) -> Iterator[TcpProxy]:
    relay = TcpProxy(ssh_server.port)
    yield relay
    relay.close()


# ---------------------------------------------------------------- host keys

def test_unknown_host_key_is_refused_with_its_fingerprint(connection: Connection, ssh_server: SshServer,
                                                         tmp_path: Path) -> None:
    known_hosts = tmp_path / "empty_known_hosts"
    with pytest.raises(DeviceError) as caught:
        _connect(replace(connection, known_hosts=str(known_hosts)))
    message = str(caught.value)
    assert "\n" not in message
    assert _openssh_fingerprint(ssh_server.hostkey_pub) in message
    assert str(known_hosts) in message and "--accept-new-host-key" in message
    assert not known_hosts.exists()


def test_accept_new_records_the_key_like_openssh(connection: Connection, ssh_server: SshServer,
                                                 tmp_path: Path) -> None:
    known_hosts = tmp_path / "ssh" / "known_hosts"
    _connect(replace(connection, known_hosts=str(known_hosts)), accept_new_host_key=True).close()
    found = subprocess.run(["ssh-keygen", "-F", f"[127.0.0.1]:{ssh_server.port}", "-f", str(known_hosts)],
                           capture_output=True, text=True)
    assert found.returncode == 0, "OpenSSH does not find the recorded key"
    assert known_hosts.read_text() == ssh_server.hostkey_line()
    _connect(replace(connection, known_hosts=str(known_hosts))).close()  # now known: no flag needed
    assert known_hosts.read_text() == ssh_server.hostkey_line()  # and not recorded twice


def test_the_known_hosts_argument_wins_over_the_profile(connection: Connection, tmp_path: Path) -> None:
    empty = tmp_path / "other_known_hosts"
    with pytest.raises(DeviceError, match="unknown host key"):
        _connect(connection, known_hosts=empty)


def test_a_changed_host_key_is_refused_even_with_accept_new(connection: Connection, ssh_server: SshServer,
                                                            spare_key: Path, tmp_path: Path) -> None:
    known_hosts = tmp_path / "stale_known_hosts"
    impostor = SshServer(ssh_server.port, "", Path(f"{spare_key}.pub"), "")
    known_hosts.write_text(impostor.hostkey_line())
    before = known_hosts.read_text()
    transport = open_transport("loop", "ssh", replace(connection, known_hosts=str(known_hosts)),
                               accept_new_host_key=True)
    with pytest.raises(DeviceError) as caught:
        transport.connect()
    assert transport.connect_attempts == 1  # type: ignore[attr-defined]
    message = str(caught.value)
    assert "has changed" in message and "man-in-the-middle" in message
    assert _openssh_fingerprint(ssh_server.hostkey_pub) in message
    assert known_hosts.read_text() == before


def test_hashed_known_hosts_entries_are_honoured(connection: Connection, trusted_known_hosts: Path) -> None:
    subprocess.run(["ssh-keygen", "-q", "-H", "-f", str(trusted_known_hosts)], check=True, capture_output=True)
    assert trusted_known_hosts.read_text().startswith("|1|")
    _connect(connection).close()


def test_a_malformed_known_hosts_is_a_config_error(connection: Connection, trusted_known_hosts: Path) -> None:
    trusted_known_hosts.write_text("[127.0.0.1]:22 ssh-ed25519 not!base64\n")
    with pytest.raises(ConfigError, match="malformed line"):
        _connect(connection)


# ---------------------------------------------------------------- ssh_config

def _alias_config(path: Path, ssh_server: SshServer, port: int | None = None) -> Path:
    path.write_text(f"Host mypi\n  HostName 127.0.0.1\n  Port {port or ssh_server.port}\n  User {ssh_server.user}\n"
                    f"  IdentityFile {ssh_server.key}\n")
    return path


def test_an_ssh_config_alias_is_resolved(connection: Connection, ssh_server: SshServer, tmp_path: Path) -> None:
    alias = Connection(host="mypi", ssh_config=str(_alias_config(tmp_path / "config", ssh_server)),
                       python=connection.python, work_dir=connection.work_dir, connect_timeout_s=5.0,
                       known_hosts=connection.known_hosts)
    with _connect(alias) as transport:
        assert transport.run(["id", "-un"], timeout=30).stdout.strip() == ssh_server.user


def test_the_user_ssh_config_path_is_injectable(connection: Connection, ssh_server: SshServer, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(USER_CONFIG_ENV, str(_alias_config(tmp_path / "config", ssh_server)))
    alias = Connection(host="mypi", python=connection.python, work_dir=connection.work_dir,
                       connect_timeout_s=5.0, known_hosts=connection.known_hosts)
    _connect(alias).close()


def test_ssh_config_precedence(ssh_server: SshServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    user_config = _alias_config(tmp_path / "user_config", ssh_server, port=2222)
    monkeypatch.setenv(USER_CONFIG_ENV, str(user_config))
    unrelated = tmp_path / "extra"
    unrelated.write_text("Host otherbox\n  HostName 10.9.9.9\n")
    # an extra file that does not mention the alias must not hide the user's HostName
    resolved = resolve_ssh_config(Connection(host="mypi", ssh_config=str(unrelated)))
    assert (resolved["hostname"], resolved["port"]) == ("127.0.0.1", 2222)
    # the extra file is read first: its values win; the profile's own values win over both
    extra = _alias_config(tmp_path / "extra2", ssh_server)
    assert resolve_ssh_config(Connection(host="mypi", ssh_config=str(extra)))["port"] == ssh_server.port
    assert resolve_ssh_config(Connection(host="mypi", port=7, ssh_config=str(extra)))["port"] == 7
    with pytest.raises(ConfigError, match="connection.ssh_config"):
        resolve_ssh_config(Connection(host="mypi", ssh_config=str(tmp_path / "missing")))


# ---------------------------------------------------------------- failures

def test_authentication_failure_is_one_line_with_a_hint_and_no_retry(connection: Connection, spare_key: Path,
                                                                    proxy: TcpProxy,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    transport = open_transport("loop", "ssh", replace(connection, port=proxy.port, identity_file=str(spare_key)),
                               known_hosts=_trust(connection, proxy.port))
    with pytest.raises(DeviceError) as caught:
        transport.connect()
    message = str(caught.value)
    assert "\n" not in message
    assert "authentication failed for user 'root'" in message
    assert str(spare_key) in message and "authorized_keys" in message and "ssh-agent" in message
    assert proxy.accepted == 1


def test_a_passphrase_key_points_to_ssh_agent(connection: Connection, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    locked = tmp_path / "locked_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "secret-pass", "-f", str(locked)], check=True)
    with pytest.raises(DeviceError, match="needs a passphrase: load it into ssh-agent") as caught:
        _connect(replace(connection, identity_file=str(locked)))
    assert "secret-pass" not in str(caught.value)


def test_a_missing_identity_file_is_a_config_error(connection: Connection, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="connection.identity_file"):
        _connect(replace(connection, identity_file=str(tmp_path / "nope")))


def test_connection_refused_is_quick_and_clear(connection: Connection) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    started = time.monotonic()
    transport = open_transport("loop", "ssh", replace(connection, port=closed_port))
    with pytest.raises(DeviceError, match=r"device 'loop' .*connection refused.*after 3 attempts"):
        transport.connect()
    assert time.monotonic() - started < 3
    assert transport.connect_attempts == 3  # type: ignore[attr-defined]


def test_an_unknown_host_name_is_not_retried(connection: Connection) -> None:
    transport = open_transport("loop", "ssh", replace(connection, host="no-such-board.invalid"))
    with pytest.raises(DeviceError, match="cannot resolve host name 'no-such-board.invalid'"):
        transport.connect()
    assert transport.connect_attempts == 1  # type: ignore[attr-defined]


def test_a_dropped_connection_during_upload(connection: Connection, proxy: TcpProxy, tmp_path: Path) -> None:
    local = tmp_path / "big.onnx"
    local.write_bytes(os.urandom(4_000_000))
    digest = hashlib.sha256(local.read_bytes()).hexdigest()
    link = replace(connection, port=proxy.port)
    known_hosts = _trust(connection, proxy.port)
    transport = open_transport("loop", "ssh", link, known_hosts=known_hosts)
    transport.connect()
    proxy.cut_after(1_000_000)
    with pytest.raises(DeviceError, match="connection dropped while uploading big.onnx"):
        transport.put_file(local, digest, ".onnx")
    transport.close()
    blobs = Path(transport.work_dir) / "blobs"
    (partial,) = blobs.iterdir()  # left behind: the device could not be told
    assert partial.name.startswith(".tmp-")
    size = -1
    while size != partial.stat().st_size:  # the server's sftp process may still be flushing what it got
        size = partial.stat().st_size
        time.sleep(0.5)
    fresh = blobs / ".tmp-someone-elses-upload"
    fresh.write_bytes(b"in progress")
    aged = time.time() - STALE_UPLOAD_S - 60
    os.utime(partial, (aged, aged))
    with open_transport("loop", "ssh", connection) as again:  # the next connection removes stale partials only
        assert sorted(p.name for p in blobs.iterdir()) == [fresh.name]
        assert again.put_file(local, digest, ".onnx").bytes_sent == local.stat().st_size


def test_a_full_disk_is_named(connection: Connection, tmp_path: Path) -> None:
    with small_tmpfs(tmp_path / "small-disk", "size=256k") as small:
        local = tmp_path / "large.onnx"
        local.write_bytes(os.urandom(1_000_000))
        with _connect(replace(connection, work_dir=str(small / "work"))) as transport:
            with pytest.raises(DeviceError, match=r"no space left on the device for large.onnx \(977 kB needed"):
                transport.put_file(local, hashlib.sha256(local.read_bytes()).hexdigest())
            assert os.listdir(small / "work" / "blobs") == []


def test_a_missing_remote_python_is_named(connection: Connection, tmp_path: Path) -> None:
    local = tmp_path / "m.onnx"
    local.write_bytes(b"model")
    with _connect(replace(connection, python="/nonexistent/python3")) as transport:
        with pytest.raises(DeviceError, match="cannot run /nonexistent/python3 on the device.*connection.python"):
            transport.put_file(local, hashlib.sha256(b"model").hexdigest())


# ---------------------------------------------------------------- work dir and socket

def test_tilde_work_dir_is_expanded_on_the_device(connection: Connection) -> None:
    name = f"edgeprof-test-{os.getpid()}"
    with _connect(replace(connection, work_dir=f"~/{name}/w")) as transport:
        home = transport.run(["sh", "-c", 'printf %s "$HOME"'], timeout=30).stdout
        try:
            assert transport.work_dir == f"{home}/{name}/w"
            assert oct(Path(transport.work_dir).stat().st_mode & 0o777) == "0o700"
        finally:
            shutil.rmtree(f"{home}/{name}")


def test_first_connections_to_one_fresh_work_dir_at_once(connection: Connection, tmp_path: Path) -> None:
    """Eight connections create one deep work dir and upload one blob at the same time (two first deploys to
    devices sharing a work dir): every one succeeds and finds the whole blob. Before `mkdir -p` semantics about
    half of these rounds failed with 'cannot create work dir ...: Failure'."""
    local = tmp_path / "m.onnx"
    local.write_bytes(os.urandom(500_000))
    digest = hashlib.sha256(local.read_bytes()).hexdigest()
    for round_ in range(5):
        work = tmp_path / f"round-{round_}" / "a" / "b" / "c" / "d" / "e" / "f" / "work"
        link = replace(connection, work_dir=str(work))
        start = threading.Barrier(8)

        def first_deploy() -> str:
            transport = open_transport("loop", "ssh", link)
            start.wait()
            with transport:
                return transport.put_file(local, digest, ".onnx").remote_path

        with ThreadPoolExecutor(8) as pool:
            landed = set(pool.map(lambda _: first_deploy(), range(8)))
        assert landed == {str(work / "blobs" / f"{digest}.onnx")}
        assert hashlib.sha256(Path(*landed).read_bytes()).hexdigest() == digest
        assert [p.name for p in (work / "blobs").iterdir()] == [f"{digest}.onnx"]  # no partial left


def test_the_socket_has_tcp_nodelay(ssh: SSHTransport) -> None:
    sock = ssh._client.get_transport().sock  # type: ignore[union-attr]
    assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1


def _trust(connection: Connection, port: int) -> Path:
    """A known_hosts naming the server under another port (the proxy's)."""
    assert connection.known_hosts is not None
    original = Path(connection.known_hosts)
    line = original.read_text().split(" ", 1)[1]
    path = original.with_name(f"known_hosts_{port}")
    path.write_text(f"[127.0.0.1]:{port} {line}")
    return path
