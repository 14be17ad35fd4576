"""The `ssh` transport: paramiko with ssh_config, ssh-agent, known_hosts checking and hash-cached SFTP uploads."""

from __future__ import annotations

import json
import posixpath
import re
import secrets
import shlex
import signal
import socket
import stat
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import paramiko

from edgeprof.devices import Connection
from edgeprof.errors import ConfigError, DeviceError
from edgeprof.transport.base import BLOB_DIR, KILL_GRACE_S, CommandResult, RemoteProcess, Transport, Upload
from edgeprof.transport.hostkeys import (
    HostKeyPolicy,
    HostKeyRefused,
    changed_key_message,
    known_hosts_name,
    load_known_hosts,
)
from edgeprof.transport.sshconfig import load_identities, resolve_ssh_config

__all__ = ["SSHProcess", "SSHTransport", "resolve_ssh_config"]

TRANSIENT_ATTEMPTS = 3
BACKOFF_S = 0.5
SFTP_TIMEOUT_S = 120.0  # no SFTP reply for this long: the link is dead (a silent drop would hang forever)
STALE_UPLOAD_S = 15 * 60  # a partial upload untouched this long was left by a dropped connection
TMP_PREFIX = ".tmp-"
_PID_MARK = "edgeprof-pid"
_PID_LINE = re.compile(rf"^{_PID_MARK} (\d+)\n?$")
# Run with the remote python: the sha256 of a file (null if absent) and the free bytes where it lives.
_PROBE_SNIPPET = (
    "import hashlib,json,os,sys\n"
    "h=None\n"
    "if os.path.isfile(sys.argv[1]):\n"
    "    d=hashlib.sha256()\n"
    "    with open(sys.argv[1],'rb') as f:\n"
    "        for b in iter(lambda: f.read(1<<20), b''): d.update(b)\n"
    "    h=d.hexdigest()\n"
    "s=os.statvfs(os.path.dirname(sys.argv[1]))\n"
    "print(json.dumps({'sha256': h, 'free': s.f_bavail*s.f_frsize}))"
)
_LINK_ERRORS = (paramiko.SSHException, OSError, EOFError)


class SSHProcess(RemoteProcess):
    """A command on an SSH channel; closing the channel gives the remote process EOF on stdin.

    The command runs as `echo edgeprof-pid $$ >&2; exec <argv>`, so the process's pid is known (and
    removed from its stderr) for a best-effort kill of a process that ignores EOF.
    """

    def __init__(self, channel: paramiko.Channel, kill_remote: Callable[[int], None]) -> None:
        self._channel = channel
        self._kill_remote = kill_remote
        self._stdout = channel.makefile("rb")
        self._stderr: list[bytes] = []
        self.pid: int | None = None
        self._drain = threading.Thread(target=self._read_stderr, daemon=True)
        self._drain.start()

    def _read_stderr(self) -> None:
        try:
            for line in self._channel.makefile_stderr("rb"):
                mark = _PID_LINE.match(line.decode(errors="replace")) if self.pid is None else None
                if mark:
                    self.pid = int(mark.group(1))
                else:
                    self._stderr.append(line)
        except _LINK_ERRORS:
            pass  # the connection went away; what arrived is kept

    def write_line(self, line: str) -> None:
        try:
            self._channel.sendall((line + "\n").encode())
        except _LINK_ERRORS:
            pass  # the process is gone; wait() and stderr_text() say why

    def close_stdin(self) -> None:
        try:
            self._channel.shutdown_write()
        except _LINK_ERRORS:
            pass

    def lines(self) -> Iterator[str]:
        try:
            for raw in self._stdout:
                yield raw.decode(errors="replace").rstrip("\n")
        except _LINK_ERRORS:
            return  # the connection dropped: stdout ends here

    def read_all(self) -> bytes:
        """All of stdout until the process closes it."""
        try:
            return self._stdout.read()
        except _LINK_ERRORS:
            return b""

    def stderr_text(self) -> str:
        self._drain.join(timeout=5)
        return b"".join(self._stderr).decode(errors="replace")

    def wait(self, timeout: float | None = None) -> int | None:
        if not self._channel.status_event.wait(timeout):
            return None
        return self._channel.recv_exit_status()

    def kill(self) -> None:
        """Send EOF; if the process has not exited within a moment, kill its pid; then close the channel."""
        if not self._channel.closed and not self._channel.exit_status_ready():
            self.close_stdin()
            if not self._channel.status_event.wait(KILL_GRACE_S) and self.pid is not None:
                self._kill_remote(self.pid)
        self._channel.close()


class SSHTransport(Transport):
    """A device reached over SSH with paramiko."""

    def __init__(self, device: str, connection: Connection, *, accept_new_host_key: bool = False,
                 known_hosts: Path | None = None) -> None:
        self.device = device
        self.connection = connection
        self.accept_new_host_key = accept_new_host_key
        self.known_hosts = (known_hosts or Path(connection.known_hosts or "~/.ssh/known_hosts")).expanduser()
        self.work_dir = connection.work_dir
        self.connect_attempts = 0
        self._client: paramiko.SSHClient | None = None
        self._sftp: paramiko.SFTPClient | None = None

    # ------------------------------------------------------------------ connection

    def connect(self) -> None:
        """Connect (bounded retries for refused/timeout/reset only), open SFTP, prepare the work dir."""
        self.close()
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
        assert self._client is not None
        try:
            self._sftp = self._client.open_sftp()
            self._sftp.get_channel().settimeout(SFTP_TIMEOUT_S)
        except _LINK_ERRORS as exc:
            self.close()
            raise DeviceError(f"{where}: SFTP is not available ({exc}); enable the sftp subsystem in sshd") from exc
        self.work_dir = self._prepare_work_dir()
        self._remove_stale_uploads()

    def _open(self, settings: dict[str, Any]) -> paramiko.SSHClient:
        self.connect_attempts += 1
        timeout = self.connection.connect_timeout_s
        identities = load_identities(settings["identity"])
        try:
            sock = socket.create_connection((settings["hostname"], settings["port"]), timeout=timeout)
        except socket.gaierror as exc:
            raise _Fatal(f"cannot resolve host name '{settings['hostname']}' ({exc.strerror})") from exc
        except ConnectionRefusedError as exc:
            raise _Transient("connection refused (is sshd running, is the port right?)") from exc
        except (socket.timeout, TimeoutError) as exc:
            raise _Transient(f"connection timed out after {timeout:g} s") from exc
        except OSError as exc:
            raise _Transient(f"cannot connect: {exc.strerror or exc}") from exc
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        client = paramiko.SSHClient()
        try:
            load_known_hosts(client, self.known_hosts)
            client.set_missing_host_key_policy(HostKeyPolicy(self.known_hosts, self.accept_new_host_key))
            client.connect(
                settings["hostname"], port=settings["port"], username=settings["user"],
                key_filename=identities.usable or None, sock=sock, timeout=timeout,
                banner_timeout=timeout, auth_timeout=timeout, channel_timeout=timeout, allow_agent=True,
                look_for_keys=not settings["identity"], transport_factory=_SignalAwareTransport,
            )
        except paramiko.BadHostKeyException as exc:
            name = known_hosts_name(settings["hostname"], settings["port"])
            raise _Fatal(changed_key_message(name, exc.key, exc.expected_key, self.known_hosts)) from exc
        except HostKeyRefused as exc:
            raise _Fatal(str(exc)) from exc
        except paramiko.AuthenticationException as exc:
            raise _Fatal(_auth_failed(settings, identities.encrypted)) from exc
        except paramiko.SSHException as exc:
            if "No authentication methods" in str(exc):
                raise _Fatal(_auth_failed(settings, identities.encrypted)) from exc
            raise _Transient(f"SSH handshake failed: {exc}") from exc
        except (socket.timeout, TimeoutError, EOFError, OSError) as exc:
            raise _Transient(f"the SSH handshake failed ({type(exc).__name__}: {exc})") from exc
        finally:
            if client.get_transport() is None or not client.get_transport().is_authenticated():
                client.close()
                sock.close()
        transport = client.get_transport()
        assert transport is not None
        transport.set_keepalive(15)
        return client

    def _prepare_work_dir(self) -> str:
        """Expand ~ on the device (SFTP's home dir), create the work dir and its blob dir mode 700."""
        assert self._sftp is not None
        try:
            home = self._sftp.normalize(".")
            path = self.connection.work_dir
            if path == "~" or path.startswith("~/"):
                path = posixpath.join(home, path[2:])
            path = posixpath.normpath(posixpath.join(home, path))
            for directory in (path, posixpath.join(path, BLOB_DIR)):
                self._mkdirs(directory)
                self._sftp.chmod(directory, 0o700)
        except _LINK_ERRORS as exc:
            raise DeviceError(f"device '{self.device}': cannot create work dir {self.connection.work_dir}: "
                              f"{exc}") from exc
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

    def _remove_stale_uploads(self) -> None:
        """Partial uploads a dropped connection left behind (untouched for STALE_UPLOAD_S) are deleted."""
        assert self._sftp is not None
        blobs = posixpath.join(self.work_dir, BLOB_DIR)
        now = time.time()
        try:
            entries = self._sftp.listdir_attr(blobs)
        except _LINK_ERRORS:
            return
        for entry in entries:
            old = now - (entry.st_mtime or now) > STALE_UPLOAD_S
            if entry.filename.startswith(TMP_PREFIX) and old and stat.S_ISREG(entry.st_mode or 0):
                self._remove_quietly(posixpath.join(blobs, entry.filename))

    def close(self) -> None:
        """Close SFTP and the connection (safe to call twice, and on a link that already died)."""
        sftp, client, self._sftp, self._client = self._sftp, self._client, None, None
        for closeable in (sftp, client):  # closing sends messages: on a dead link that fails, which is fine here
            if closeable is not None:
                try:
                    closeable.close()
                except _LINK_ERRORS:
                    pass

    # ------------------------------------------------------------------ commands

    def _channel(self, argv: list[str]) -> paramiko.Channel:
        if not argv:
            raise ConfigError("an empty command cannot be run")
        if self._client is None:
            raise DeviceError(f"device '{self.device}': not connected")
        transport = self._client.get_transport()
        if transport is None or not transport.is_active():
            raise DeviceError(f"device '{self.device}': the SSH connection dropped")
        try:
            channel = transport.open_session(timeout=self.connection.connect_timeout_s)
            channel.exec_command(f"echo {_PID_MARK} $$ >&2; exec {shlex.join(argv)}")
        except _LINK_ERRORS as exc:
            raise DeviceError(f"device '{self.device}': cannot start {argv[0]}: {exc}") from exc
        return channel

    def run(self, argv: list[str], timeout: float | None = None) -> CommandResult:
        """Run a short command with stdin closed; on timeout it is killed and DeviceError raised."""
        proc = self.start(argv)
        with proc:
            proc.close_stdin()
            out: list[bytes] = []
            reader = threading.Thread(target=lambda: out.append(proc.read_all()), daemon=True)
            reader.start()
            code = proc.wait(timeout)
            if not self._connected():
                raise DeviceError(f"device '{self.device}': the SSH connection dropped while {argv[0]} ran")
            if code is None:
                raise DeviceError(f"device '{self.device}': {argv[0]} timed out after {timeout:g} s")
            reader.join(timeout=5)
            return CommandResult(code, b"".join(out).decode(errors="replace"), proc.stderr_text())

    def start(self, argv: list[str]) -> SSHProcess:
        """Start a long-running process; its argv reaches the device literally (shlex-quoted)."""
        return SSHProcess(self._channel(argv), self._kill_remote)

    def _kill_remote(self, pid: int) -> None:
        try:
            self.run(["kill", "-TERM", str(pid)], timeout=self.connection.connect_timeout_s)
        except DeviceError:
            pass  # best effort: the channel is being closed anyway

    def _connected(self) -> bool:
        transport = self._client.get_transport() if self._client else None
        return transport is not None and transport.is_active()

    # ------------------------------------------------------------------ uploads

    def put_file(self, local: Path, sha256: str, suffix: str = "") -> Upload:
        """Upload to a temp name, verify the sha256 on the device, rename; a verified blob is not sent again."""
        target = self.blob_path(sha256, suffix)
        if self._sftp is None:
            raise DeviceError(f"device '{self.device}': not connected")
        try:
            size = local.stat().st_size
        except OSError as exc:
            raise ConfigError(f"cannot read {local}: {exc.strerror}") from exc
        existing = self._probe(target)
        if existing["sha256"] == sha256:
            return Upload(target, 0)
        if existing["free"] < size:
            raise DeviceError(self._disk_full(local, size, existing["free"]))
        partial = self.remote_path(f"{BLOB_DIR}/{TMP_PREFIX}{sha256}-{secrets.token_hex(4)}")
        try:
            attrs = self._sftp.put(str(local), partial, confirm=True)
            arrived = self._probe(partial)
            if arrived["sha256"] != sha256:
                raise DeviceError(f"device '{self.device}': {local.name} has sha256 {arrived['sha256']} on the "
                                  f"device, not {sha256} (corrupted in transit, or the file changed on the "
                                  "host); nothing was kept")
            self._sftp.posix_rename(partial, target)
        except _LINK_ERRORS as exc:
            reason = self._upload_failed(local, size, partial, exc)  # before removal: a full disk is still full
            self._remove_quietly(partial)
            raise DeviceError(reason) from exc
        except DeviceError:
            self._remove_quietly(partial)
            raise
        return Upload(target, int(attrs.st_size or 0))

    def _probe(self, path: str) -> dict[str, Any]:
        """{'sha256': hex or None, 'free': bytes free in its directory}, computed on the device."""
        python = self.connection.python
        check = self.run([python, "-c", _PROBE_SNIPPET, path], timeout=600)
        try:
            return dict(json.loads(check.stdout))
        except ValueError:
            detail = (check.stderr.strip().splitlines() or [f"exit status {check.exit_code}"])[-1]
            raise DeviceError(f"device '{self.device}': cannot run {python} on the device to check uploads "
                              f"({detail}); set connection.python in the device profile") from None

    def _upload_failed(self, local: Path, size: int, partial: str, exc: BaseException) -> str:
        """One line saying why an upload broke: dropped connection, full disk, or the SFTP error."""
        try:
            free = self._probe(partial)["free"] if self._connected() else None
        except DeviceError:
            free = None  # the probe ran fine before the upload: the link broke
        if free is None:
            return (f"device '{self.device}': the SSH connection dropped while uploading {local.name} (the "
                    "partial file is removed at the next connection)")
        if free < size:
            return self._disk_full(local, size, free) + "; the partial file was removed"
        return (f"device '{self.device}': upload of {local.name} failed: {str(exc) or type(exc).__name__}; "
                "the partial file was removed")

    def _disk_full(self, local: Path, size: int, free: int) -> str:
        return (f"device '{self.device}': no space left on the device for {local.name} "
                f"({size / 1e6:.1f} MB needed, {free / 1e6:.1f} MB free in {self.work_dir})")

    def _remove_quietly(self, path: str) -> None:
        try:
            if self._sftp is not None:
                self._sftp.remove(path)
        except _LINK_ERRORS:
            pass


def _channel_request(channel: paramiko.Channel, message: paramiko.Message) -> None:
    """Like paramiko's handler, but an 'exit-signal' becomes exit status -N (as subprocess reports a signal)."""
    start = message.packet.tell()
    if message.get_text() == "exit-signal":
        message.get_boolean()
        name = message.get_text()
        number = getattr(signal.Signals, f"SIG{name}", None)
        channel.exit_status = -int(number) if number is not None else -1
        channel.status_event.set()
        return
    message.packet.seek(start)
    paramiko.Channel._handle_request(channel, message)


class _SignalAwareTransport(paramiko.Transport):
    """paramiko ignores 'exit-signal' (a process killed by e.g. the OOM killer would report -1)."""

    _channel_handler_table = {**paramiko.Transport._channel_handler_table,
                              paramiko.common.MSG_CHANNEL_REQUEST: _channel_request}


class _Transient(Exception):
    """A failure worth retrying: refused, timed out, reset."""


class _Fatal(Exception):
    """A failure retrying cannot fix: DNS, authentication, host key."""


def _auth_failed(settings: dict[str, Any], encrypted: list[str]) -> str:
    """The authentication refusal, with what to check (never any secret)."""
    keys = ", ".join(settings["identity"]) or "ssh-agent keys and ~/.ssh/id_*"
    hint = (f"; {', '.join(encrypted)} needs a passphrase: load it into ssh-agent with ssh-add"
            if encrypted else "")
    return (f"authentication failed for user '{settings['user']}' with {keys} (check the user name, the key, "
            f"that ssh-agent holds it if you use one, and that its public key is in the device's "
            f"~/.ssh/authorized_keys{hint})")
