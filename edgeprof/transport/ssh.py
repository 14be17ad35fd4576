"""The `ssh` transport: paramiko with ssh_config, ssh-agent, known_hosts checking and hash-cached SFTP uploads."""

from __future__ import annotations

import errno
import getpass
import posixpath
import secrets
import shlex
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paramiko

from edgeprof.devices import Connection
from edgeprof.errors import DeviceError
from edgeprof.transport.base import BLOB_DIR, CommandResult, RemoteProcess, Transport, Upload
from edgeprof.transport.hostkeys import HostKeyPolicy, HostKeyRefused, fingerprint, known_hosts_name

TRANSIENT_ATTEMPTS = 3
BACKOFF_S = 0.5
_HASH_SNIPPET = (
    "import hashlib,sys\n"
    "h=hashlib.sha256()\n"
    "with open(sys.argv[1],'rb') as f:\n"
    "    for b in iter(lambda: f.read(1<<20), b''): h.update(b)\n"
    "print(h.hexdigest())"
)


def resolve_ssh_config(connection: Connection) -> dict[str, Any]:
    """Host, port, user and identity files after ssh_config (the profile's extra file first, then ~/.ssh/config)."""
    merged: dict[str, Any] = {}
    for path in (Path("~/.ssh/config").expanduser(), Path(connection.ssh_config).expanduser()
                 if connection.ssh_config else None):
        if path is not None and path.is_file():
            merged.update(paramiko.SSHConfig.from_path(str(path)).lookup(connection.host))
    identity = [connection.identity_file] if connection.identity_file else merged.get("identityfile", [])
    return {
        "hostname": merged.get("hostname", connection.host),
        "port": connection.port or int(merged.get("port", 22)),
        "user": connection.user or merged.get("user") or getpass.getuser(),
        "identity": [str(Path(p).expanduser()) for p in identity],
    }


class SSHProcess(RemoteProcess):
    """A command on an SSH channel; closing the channel gives the remote process EOF on stdin."""

    def __init__(self, channel: paramiko.Channel) -> None:
        self._channel = channel
        self._stdout = channel.makefile("rb")
        self._stderr: list[bytes] = []
        self._drain = threading.Thread(target=self._read_stderr, daemon=True)
        self._drain.start()

    def _read_stderr(self) -> None:
        stream = self._channel.makefile_stderr("rb")
        for line in stream:
            self._stderr.append(line)

    def write_line(self, line: str) -> None:
        try:
            self._channel.sendall((line + "\n").encode())
        except (OSError, paramiko.SSHException):
            pass  # the process is gone; wait() and stderr_text() say why

    def close_stdin(self) -> None:
        try:
            self._channel.shutdown_write()
        except (OSError, paramiko.SSHException):
            pass

    def lines(self) -> Iterator[str]:
        for raw in self._stdout:
            yield raw.decode(errors="replace").rstrip("\n")

    def stderr_text(self) -> str:
        self._drain.join(timeout=5)
        return b"".join(self._stderr).decode(errors="replace")

    def wait(self, timeout: float | None = None) -> int | None:
        if not self._channel.status_event.wait(timeout):
            return None
        return self._channel.recv_exit_status()

    def kill(self) -> None:
        self._channel.close()


class SSHTransport(Transport):
    """A device reached over SSH with paramiko."""

    def __init__(self, device: str, connection: Connection, *, accept_new_host_key: bool = False,
                 known_hosts: Path | None = None) -> None:
        self.device = device
        self.connection = connection
        self.accept_new_host_key = accept_new_host_key
        self.known_hosts = known_hosts or Path(connection.known_hosts or "~/.ssh/known_hosts").expanduser()
        self.work_dir = connection.work_dir
        self._client: paramiko.SSHClient | None = None
        self._sftp: paramiko.SFTPClient | None = None

    # ------------------------------------------------------------------ connection

    def connect(self) -> None:
        settings = resolve_ssh_config(self.connection)
        where = f"device '{self.device}' ({settings['user']}@{settings['hostname']}:{settings['port']})"
        for attempt in range(TRANSIENT_ATTEMPTS):
            try:
                self._client = self._open(settings)
                break
            except _Transient as exc:
                if attempt == TRANSIENT_ATTEMPTS - 1:
                    raise DeviceError(f"{where}: {exc} (after {TRANSIENT_ATTEMPTS} attempts)") from exc
                time.sleep(BACKOFF_S * 2**attempt)
            except _Fatal as exc:
                raise DeviceError(f"{where}: {exc}") from exc
        try:
            self._sftp = self._client.open_sftp()
        except (paramiko.SSHException, OSError, EOFError) as exc:
            raise DeviceError(f"{where}: SFTP is not available ({exc}); enable the sftp subsystem in sshd") from exc
        self.work_dir = self._prepare_work_dir()

    def _open(self, settings: dict[str, Any]) -> paramiko.SSHClient:
        timeout = self.connection.connect_timeout_s
        try:
            sock = socket.create_connection((settings["hostname"], settings["port"]), timeout=timeout)
        except socket.gaierror as exc:
            raise _Fatal(f"cannot resolve host name '{settings['hostname']}'") from exc
        except ConnectionRefusedError as exc:
            raise _Transient("connection refused (is sshd running, is the port right?)") from exc
        except (socket.timeout, TimeoutError) as exc:
            raise _Transient(f"connection timed out after {timeout:g} s") from exc
        except OSError as exc:
            raise _Transient(f"cannot connect: {exc.strerror or exc}") from exc
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        client = paramiko.SSHClient()
        if self.known_hosts.is_file():
            client.load_host_keys(str(self.known_hosts))
        client.set_missing_host_key_policy(HostKeyPolicy(self.known_hosts, self.accept_new_host_key))
        try:
            client.connect(
                settings["hostname"], port=settings["port"], username=settings["user"],
                key_filename=settings["identity"] or None, sock=sock, timeout=timeout,
                banner_timeout=timeout, auth_timeout=timeout, allow_agent=True,
                look_for_keys=not settings["identity"],
            )
        except paramiko.BadHostKeyException as exc:
            sock.close()
            raise _Fatal(
                f"host key for {known_hosts_name(settings['hostname'], settings['port'])} CHANGED "
                f"(now {fingerprint(exc.key)}, {self.known_hosts} has {fingerprint(exc.expected_key)}): "
                "possible man-in-the-middle; if the device was reinstalled, remove the old line from "
                f"{self.known_hosts}"
            ) from exc
        except paramiko.AuthenticationException as exc:
            sock.close()
            raise _Fatal(
                f"authentication failed for user '{settings['user']}' (check the key: "
                f"{', '.join(settings['identity']) or 'ssh-agent / default keys'}, the user name, "
                "and that the public key is in the device's ~/.ssh/authorized_keys)"
            ) from exc
        except HostKeyRefused as exc:
            sock.close()
            raise _Fatal(str(exc)) from exc
        except (socket.timeout, TimeoutError, EOFError, ConnectionResetError) as exc:
            sock.close()
            raise _Transient(f"the SSH handshake failed ({type(exc).__name__})") from exc
        except paramiko.SSHException as exc:
            sock.close()
            raise _Transient(f"SSH error: {exc}") from exc
        transport = client.get_transport()
        assert transport is not None
        transport.set_keepalive(15)
        return client

    def _prepare_work_dir(self) -> str:
        """Expand ~ on the device, create the work dir and its blob dir mode 700."""
        assert self._sftp is not None
        path = self.connection.work_dir
        if path == "~" or path.startswith("~/"):
            path = posixpath.join(self._sftp.normalize("."), path[2:])
        path = posixpath.normpath(path)
        if not posixpath.isabs(path):
            path = posixpath.join(self._sftp.normalize("."), path)
        try:
            for directory in (path, posixpath.join(path, BLOB_DIR)):
                self._mkdirs(directory)
                self._sftp.chmod(directory, 0o700)
        except OSError as exc:
            raise DeviceError(f"device '{self.device}': cannot create work dir {path}: {exc}") from exc
        return path

    def _mkdirs(self, path: str) -> None:
        assert self._sftp is not None
        parts = path.strip("/").split("/")
        for i in range(1, len(parts) + 1):
            current = "/" + "/".join(parts[:i])
            try:
                self._sftp.stat(current)
            except FileNotFoundError:
                self._sftp.mkdir(current, 0o700)

    def close(self) -> None:
        if self._sftp is not None:
            self._sftp.close()
        if self._client is not None:
            self._client.close()

    # ------------------------------------------------------------------ commands

    def _channel(self, argv: list[str]) -> paramiko.Channel:
        if self._client is None:
            raise DeviceError(f"device '{self.device}': not connected")
        transport = self._client.get_transport()
        if transport is None or not transport.is_active():
            raise DeviceError(f"device '{self.device}': the SSH connection dropped")
        try:
            channel = transport.open_session(timeout=self.connection.connect_timeout_s)
            channel.exec_command(shlex.join(argv))
        except (paramiko.SSHException, OSError, EOFError) as exc:
            raise DeviceError(f"device '{self.device}': cannot start a command: {exc}") from exc
        return channel

    def run(self, argv: list[str], timeout: float | None = None) -> CommandResult:
        channel = self._channel(argv)
        channel.settimeout(timeout)
        try:
            stdout = channel.makefile("rb").read()
            stderr = channel.makefile_stderr("rb").read()
            code = channel.recv_exit_status()
        except (socket.timeout, TimeoutError) as exc:
            channel.close()
            raise DeviceError(f"device '{self.device}': {argv[0]} timed out after {timeout:g} s") from exc
        except (paramiko.SSHException, OSError, EOFError) as exc:
            raise DeviceError(f"device '{self.device}': the SSH connection dropped ({exc})") from exc
        return CommandResult(code, stdout.decode(errors="replace"), stderr.decode(errors="replace"))

    def start(self, argv: list[str]) -> RemoteProcess:
        return SSHProcess(self._channel(argv))

    # ------------------------------------------------------------------ uploads

    def put_file(self, local: Path, sha256: str, suffix: str = "") -> Upload:
        assert self._sftp is not None
        target = self.blob_path(sha256, suffix)
        try:
            self._sftp.stat(target)
            return Upload(target, 0)  # a blob only gets its final name after its hash was verified
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise DeviceError(f"device '{self.device}': cannot stat {target}: {exc}") from exc
        partial = self.remote_path(f"{BLOB_DIR}/.tmp-{sha256}-{secrets.token_hex(4)}")
        try:
            attrs = self._sftp.put(str(local), partial, confirm=True)
            check = self.run([self.connection.python, "-c", _HASH_SNIPPET, partial], timeout=300)
            if check.exit_code != 0 or check.stdout.strip() != sha256:
                raise DeviceError(f"device '{self.device}': {local.name} arrived corrupted (sha256 mismatch on "
                                  "the device); nothing was kept")
            self._sftp.posix_rename(partial, target)
        except OSError as exc:
            self._remove_quietly(partial)
            raise DeviceError(f"device '{self.device}': upload of {local.name} failed: {_upload_reason(exc)}; "
                              "the partial file was removed") from exc
        except DeviceError:
            self._remove_quietly(partial)
            raise
        return Upload(target, int(attrs.st_size or 0))

    def _remove_quietly(self, path: str) -> None:
        try:
            assert self._sftp is not None
            self._sftp.remove(path)
        except (OSError, paramiko.SSHException, EOFError):
            pass


class _Transient(Exception):
    """A failure worth retrying: refused, timed out, reset."""


class _Fatal(Exception):
    """A failure retrying cannot fix: DNS, authentication, host key."""


def _upload_reason(exc: OSError) -> str:
    text = str(exc)
    if exc.errno == errno.ENOSPC or "space" in text.lower() or "Failure" in text:
        return f"{text or 'failure'} (is the device's disk full?)"
    return text or type(exc).__name__
