"""The `ssh` transport: paramiko with ssh_config, ssh-agent, known_hosts checking and hash-cached SFTP uploads."""

from __future__ import annotations

import errno
import hashlib
import logging
import os
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
from dataclasses import replace
from pathlib import Path
from typing import Any

from edgeprof.agent.spec import BLOB_DIR, PARTIAL_PREFIX
from edgeprof.devices import Connection
from edgeprof.errors import ConfigError, DeviceError, one_line
from edgeprof.transport.base import (
    KILL_GRACE_S,
    CommandResult,
    RemoteProcess,
    Transport,
    Upload,
    work_dir_not_a_directory,
)
from edgeprof.transport.hostkeys import (
    HostKeyPolicy,
    HostKeyRefused,
    changed_key_message,
    known_hosts_name,
    load_known_hosts,
)
from edgeprof.transport.sshconfig import Identities, load_identities, resolve_ssh_config
from edgeprof.transport.sshlib import paramiko
from edgeprof.transport.sshproxy import ProxyCommandLink, parse_jump
from edgeprof.units import file_size

__all__ = ["SSHProcess", "SSHTransport", "resolve_ssh_config"]

TRANSIENT_ATTEMPTS = 3
BACKOFF_S = 0.5
ABORT_GRACE_S = 1.0  # abort(): time for an upload to stop between chunks (and remove its partial) before the cut
STALE_UPLOAD_S = 15 * 60  # a partial upload untouched this long was left by a dropped connection (any host)
# Partial uploads are named .tmp-<sha256>-<this host's tag>-<pid>-<random>, so the next connection from this
# host can tell which of them were left by a dropped upload of its own (a dead pid, or ours but no longer active).
_HOST_TAG = hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]
_PARTIAL = re.compile(rf"^{re.escape(PARTIAL_PREFIX)}[0-9a-f]{{64}}-([0-9a-f]{{8}})-(\d+)-[0-9a-f]{{8}}$")
_active_partials: set[str] = set()  # the partial uploads this process is writing now
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
    "print(json.dumps({'sha256': h, 'free': s.f_bavail*s.f_frsize, 'inodes': s.f_favail if s.f_files else None}))"
)
_LINK_ERRORS = (paramiko.SSHException, OSError, EOFError)
READBACK_MAX = 4 << 20  # bytes: a blob up to this size is verified by reading it back, not by a remote Python
# sh -c SCRIPT sh PID: stop the process group PID leads (sshd makes the command a session leader): SIGTERM and
# SIGCONT (a stopped process only acts on SIGTERM once continued), up to 2 s to exit, then SIGKILL.
STOP_GROUP_SCRIPT = (
    'kill -TERM -"$1" 2>/dev/null; kill -CONT -"$1" 2>/dev/null; i=0; '
    'while kill -0 -"$1" 2>/dev/null && [ $i -lt 20 ]; do sleep 0.1; i=$((i+1)); done; '
    'kill -KILL -"$1" 2>/dev/null; exit 0'
)


def _quiet_paramiko() -> None:
    """paramiko logs every failed handshake with a traceback; edgeprof reports each failure as one line instead,
    so its logger goes nowhere (not even to logging's last-resort stderr handler)."""
    logger = logging.getLogger("paramiko")
    logger.addHandler(logging.NullHandler())
    logger.propagate = False
    previous = threading.excepthook

    def hook(args: threading.ExceptHookArgs) -> None:
        if not isinstance(args.thread, paramiko.Transport):  # a dying transport thread is a dropped link
            previous(args)

    threading.excepthook = hook


_quiet_paramiko()


class _StallGuardSocket(socket.socket):
    """A TCP socket whose send gives up once the peer has taken nothing for `stall_s` (paramiko retries a send
    that times out for ever, so a link that silently stops forwarding would hang every writer); afterwards the
    socket is shut down, which ends the SSH connection and everything waiting on it."""

    stall_s: float = 120.0
    stalled = False
    _since: float | None = None

    def send(self, data: Any, flags: int = 0) -> int:
        if self.stalled:
            raise ConnectionAbortedError(f"nothing moved for {self.stall_s:g} s")
        try:
            sent = super().send(data, flags)
        except socket.timeout:
            now = time.monotonic()
            self._since = self._since or now
            if now - self._since < self.stall_s:
                raise
            self.stalled = True
            self.abort()
            raise ConnectionAbortedError(f"nothing moved for {self.stall_s:g} s") from None
        self._since = None
        return sent

    def abort(self) -> None:
        """Shut the connection down from any thread: blocked senders and readers fail at once."""
        try:
            self.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


class SSHProcess(RemoteProcess):
    """A command on an SSH channel; closing the channel gives the remote process EOF on stdin.

    The command runs as `echo edgeprof-pid $$ >&2; exec <argv>`, so the process's pid is known (and
    removed from its stderr) for a best-effort kill of a process that ignores EOF.
    """

    def __init__(self, channel: paramiko.Channel, kill_remote: Callable[[int], None],
                 answers: Callable[[], bool], silence_s: float) -> None:
        self._channel = channel
        self._kill_remote = kill_remote
        self._answers = answers
        channel.settimeout(silence_s)  # stdout silent this long: ask the device whether the link still works
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

    def _chunks(self) -> Iterator[bytes]:
        """Stdout as it arrives; ends when the process closes it, or when the link no longer answers."""
        while True:
            try:
                data = self._channel.recv(65536)
            except socket.timeout:
                if self._answers():
                    continue  # a quiet process on a working link
                return
            except _LINK_ERRORS:
                return  # the connection dropped: stdout ends here
            if not data:
                return
            yield data

    def lines(self) -> Iterator[str]:
        pending = b""
        for data in self._chunks():
            *complete, pending = (pending + data).split(b"\n")
            for raw in complete:
                yield raw.decode(errors="replace")
        if pending:
            yield pending.decode(errors="replace")

    def read_all(self) -> bytes:
        """All of stdout until the process closes it."""
        return b"".join(self._chunks())

    def stderr_text(self) -> str:
        self._drain.join(timeout=5)
        return b"".join(self._stderr).decode(errors="replace")

    def wait(self, timeout: float | None = None) -> int | None:
        if not self._channel.status_event.wait(timeout):
            return None
        return self._channel.recv_exit_status()

    def kill(self) -> None:
        """Send EOF; if the process has not exited within a moment, stop its process group (SIGTERM and SIGCONT,
        then SIGKILL: a stopped process ignores SIGTERM until continued); then close the channel."""
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
        self._sock: _StallGuardSocket | None = None
        self._proxy: ProxyCommandLink | None = None
        self._jump: paramiko.SSHClient | None = None
        self._aborted = False

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
            self._sftp.get_channel().settimeout(self.connection.io_timeout_s)
        except _LINK_ERRORS as exc:
            self.close()
            raise DeviceError(f"{where}: SFTP is not available ({exc}); enable the sftp subsystem in sshd") from exc
        self.work_dir = self._prepare_work_dir()
        self._remove_stale_uploads()

    def _open(self, settings: dict[str, Any]) -> paramiko.SSHClient:
        """One connection attempt: straight to the device, through its ProxyCommand, or through its ProxyJump."""
        self.connect_attempts += 1
        self._close_proxies()
        timeout = self.connection.connect_timeout_s
        identities = load_identities(settings["identity"])  # a bad key is named before anything connects
        if settings["proxyjump"]:
            return self._handshake(settings, identities, self._jump_channel(settings, timeout), timeout)
        if settings["proxycommand"]:
            self._proxy = ProxyCommandLink(settings["proxycommand"])
            return self._handshake(settings, identities, self._guarded(self._proxy.socket), timeout)
        return self._handshake(settings, identities, self._guarded(self._tcp(settings, timeout)), timeout)

    def _tcp(self, settings: dict[str, Any], timeout: float) -> socket.socket:
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
        return sock

    def _guarded(self, sock: socket.socket) -> _StallGuardSocket:
        """`sock` as the connection's stall-guarded socket (the one abort() cuts)."""
        guarded = _StallGuardSocket(sock.family, sock.type, sock.proto, fileno=sock.detach())
        guarded.stall_s = self.connection.io_timeout_s
        self._sock = guarded
        if self._aborted:
            self._cut()
        return guarded

    def _jump_channel(self, settings: dict[str, Any], timeout: float) -> paramiko.Channel:
        """A direct-tcpip channel to the device from its ProxyJump host, reached (and its host key checked) the way
        a device is; the jump host's connection is kept until close()."""
        spec = settings["proxyjump"]
        jump = parse_jump(spec)
        hop = resolve_ssh_config(replace(self.connection, host=jump.host, port=jump.port, user=jump.user))
        shown = f"ProxyJump {spec} ({hop['user']}@{hop['hostname']}:{hop['port']})"
        if hop["proxyjump"] or hop["proxycommand"]:
            raise _Fatal(f"{shown}: the jump host has a proxy of its own in ssh_config; a chain is not supported")
        identities = load_identities(hop["identity"])
        try:
            self._jump = self._handshake(hop, identities, self._guarded(self._tcp(hop, timeout)), timeout)
        except _Transient as exc:
            raise _Transient(f"{shown}: {exc}") from exc
        except _Fatal as exc:
            raise _Fatal(f"{shown}: {exc}") from exc
        transport = self._jump.get_transport()
        assert transport is not None
        try:
            return transport.open_channel("direct-tcpip", (settings["hostname"], settings["port"]),
                                          ("127.0.0.1", 0), timeout=timeout)
        except (paramiko.SSHException, OSError, EOFError) as exc:
            raise _Transient(f"{shown} could not reach {settings['hostname']}:{settings['port']} "
                             f"({one_line(exc) or type(exc).__name__})") from exc

    def _handshake(self, settings: dict[str, Any], identities: Identities, sock: Any,
                   timeout: float) -> paramiko.SSHClient:
        """The SSH handshake and authentication over `sock` (a socket, or a jump host's channel)."""
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
            ended = self._proxy.ended() if self._proxy is not None else None
            if ended:
                raise _Fatal(f"ssh_config ProxyCommand {self._proxy.command!r} {ended}") from exc
            if not getattr(client.get_transport(), "remote_version", ""):  # silent, closed, or another protocol
                raise _Transient(f"no SSH server answered on port {settings['port']} (no SSH banner within "
                                 f"{timeout:g} s: is the port right, is sshd listening there?)") from exc
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

    def _close_proxies(self) -> None:
        """Stop the ProxyCommand and close the jump host's connection, if any."""
        proxy, jump, self._proxy, self._jump = self._proxy, self._jump, None, None
        if proxy is not None:
            proxy.close()
        if jump is not None:
            try:
                jump.close()
            except _LINK_ERRORS:
                pass

    def _prepare_work_dir(self) -> str:
        """Expand ~ on the device (SFTP's home dir), create the work dir and its blob dir mode 700 (existing ones
        keep their modes); DeviceError when one of them is a file."""
        assert self._sftp is not None
        try:
            home = self._sftp.normalize(".")
            path = self.connection.work_dir
            if path == "~" or path.startswith("~/"):
                path = posixpath.join(home, path[2:])
            path = posixpath.normpath(posixpath.join(home, path))
            for directory in (path, posixpath.join(path, BLOB_DIR)):
                self._mkdirs(directory)
        except NotADirectoryError as exc:
            raise work_dir_not_a_directory(self.device, self.connection.work_dir, exc.filename) from exc
        except _LINK_ERRORS as exc:
            raise DeviceError(f"device '{self.device}': cannot create work dir {self.connection.work_dir}: "
                              f"{exc}") from exc
        return path

    def _mkdirs(self, path: str) -> None:
        """`mkdir -p` (mode 700): a directory another connection creates meanwhile (two first deploys to one work
        dir at once) is as good as one made here; NotADirectoryError naming a part that is something else."""
        assert self._sftp is not None
        parts = path.strip("/").split("/")
        for i in range(1, len(parts) + 1):
            current = "/" + "/".join(parts[:i])
            try:
                mode = self._sftp.stat(current).st_mode or 0
            except FileNotFoundError:
                try:
                    self._sftp.mkdir(current, 0o700)
                except OSError as exc:
                    if not self._is_dir(current):  # SFTP says only "Failure" for a read-only file system
                        raise OSError(f"mkdir {current} refused ({exc.strerror or exc}): is "
                                      f"{posixpath.dirname(current)} read-only or not writable by this user?") from exc
                continue
            if not stat.S_ISDIR(mode):
                raise NotADirectoryError(errno.ENOTDIR, "not a directory", current)

    def _is_dir(self, path: str) -> bool:
        assert self._sftp is not None
        try:
            return stat.S_ISDIR(self._sftp.stat(path).st_mode or 0)
        except FileNotFoundError:
            return False

    def _remove_stale_uploads(self) -> None:
        """Delete the partial uploads a dropped connection left behind: this host's (their process is gone, or
        it is this one and no longer writing them), and anyone's untouched for STALE_UPLOAD_S."""
        assert self._sftp is not None
        blobs = posixpath.join(self.work_dir, BLOB_DIR)
        now = time.time()
        try:
            entries = self._sftp.listdir_attr(blobs)
        except _LINK_ERRORS:
            return
        for entry in entries:
            if not (entry.filename.startswith(PARTIAL_PREFIX) and stat.S_ISREG(entry.st_mode or 0)):
                continue
            path = posixpath.join(blobs, entry.filename)
            if now - (entry.st_mtime or now) > STALE_UPLOAD_S or _left_by_this_host(entry.filename, path):
                self._remove_quietly(path)

    def abort(self) -> None:
        """Stop using the connection, from any thread (Ctrl-C): an upload stops at its next chunk and removes its
        partial file; ABORT_GRACE_S later the connection is cut, so whatever still waits on it fails."""
        self._aborted = True
        cut = threading.Timer(ABORT_GRACE_S, self._cut)
        cut.daemon = True
        cut.start()

    def _cut(self) -> None:
        if self._sock is not None:
            self._sock.abort()

    def _check_aborted(self, *_progress: int) -> None:
        """SFTP's progress callback: an aborted transport stops its upload here."""
        if self._aborted:
            raise DeviceError(f"device '{self.device}': the upload was cancelled")

    @property
    def host_key_sha256(self) -> str | None:
        """The SHA-256 of the host key the device proved it holds (checked against known_hosts): which board this
        is, whatever address it was reached at; None before connecting."""
        transport = self._client.get_transport() if self._client else None
        return hashlib.sha256(transport.get_remote_server_key().asbytes()).hexdigest() if transport else None

    def close(self) -> None:
        """Close SFTP and the connection (safe to call twice, and on a link that already died)."""
        sftp, client, self._sftp, self._client = self._sftp, self._client, None, None
        for closeable in (sftp, client):  # closing sends messages: on a dead link that fails, which is fine here
            if closeable is not None:
                try:
                    closeable.close()
                except _LINK_ERRORS:
                    pass
        self._close_proxies()

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
        return SSHProcess(self._channel(argv), self._kill_remote, self._answers, self.connection.io_timeout_s)

    def _kill_remote(self, pid: int) -> None:
        try:
            self.run(["sh", "-c", STOP_GROUP_SCRIPT, "sh", str(pid)], timeout=self.connection.connect_timeout_s)
        except DeviceError:
            pass  # best effort: the channel is being closed anyway

    def _answers(self) -> bool:
        """Whether the device answers a keepalive within io_timeout_s; if not, the connection is cut."""
        transport = self._client.get_transport() if self._client else None
        if transport is None or not transport.is_active():
            return False
        ping = threading.Thread(target=transport.global_request, args=("keepalive@openssh.com",), daemon=True)
        ping.start()
        ping.join(self.connection.io_timeout_s)
        if ping.is_alive() or not transport.is_active():
            self._cut()
            return False
        return True

    def _connected(self) -> bool:
        transport = self._client.get_transport() if self._client else None
        return transport is not None and transport.is_active()

    # ------------------------------------------------------------------ uploads

    def put_file(self, local: Path, sha256: str, suffix: str = "", *, verified_on_use: bool = False) -> Upload:
        """Upload to a temp name, verify the sha256, rename; a verified blob is not sent again. A blob already
        there costs one SFTP stat (and, unless verified on use, a read-back hashed here): no remote Python."""
        target = self.blob_path(sha256, suffix)
        if self._sftp is None:
            raise DeviceError(f"device '{self.device}': not connected")
        try:
            size = local.stat().st_size
        except OSError as exc:
            raise ConfigError(f"cannot read {local}: {exc.strerror}") from exc
        if self._size(target) == size and (verified_on_use or self._sha256(target, size) == sha256):
            self._touch(target)
            return Upload(target, 0)
        existing = self._probe(target)
        if existing["free"] < size or existing.get("inodes") == 0:
            raise DeviceError(self._disk_full(local, size, existing))
        name = f"{PARTIAL_PREFIX}{sha256}-{_HOST_TAG}-{os.getpid()}-{secrets.token_hex(4)}"
        partial = self.remote_path(f"{BLOB_DIR}/{name}")
        _active_partials.add(partial)
        try:
            attrs = self._sftp.put(str(local), partial, callback=self._check_aborted, confirm=True)
            arrived = None if verified_on_use else self._sha256(partial, size)
            if arrived not in (None, sha256):
                raise DeviceError(f"device '{self.device}': {local.name} has sha256 {arrived} on the "
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
        finally:
            _active_partials.discard(partial)
        return Upload(target, int(attrs.st_size or 0))

    def _size(self, path: str) -> int | None:
        """The size of a remote file, None when it is absent (one SFTP stat)."""
        try:
            return int(self._sftp.stat(path).st_size or 0) if self._sftp is not None else None
        except FileNotFoundError:
            return None

    def _sha256(self, path: str, size: int) -> str | None:
        """The sha256 of a remote file: a small one read back over SFTP and hashed here, a large one hashed by
        the device's Python (whose start costs more than reading READBACK_MAX bytes)."""
        if size > READBACK_MAX or self._sftp is None:
            return self._probe(path)["sha256"]
        digest = hashlib.sha256()
        with self._sftp.open(path, "rb") as fh:
            fh.prefetch(size)
            while block := fh.read(1 << 20):
                digest.update(block)
        return digest.hexdigest()

    def _touch(self, path: str) -> None:
        """Mark a cached blob as just used (the cache cap evicts the least recently used first)."""
        try:
            if self._sftp is not None:
                self._sftp.utime(path, None)
        except _LINK_ERRORS:
            pass  # only the eviction order suffers

    def _probe(self, path: str) -> dict[str, Any]:
        """{'sha256': hex or None, 'free': bytes free in its directory}, computed on the device."""
        python = self.connection.python
        check = self.run([python, "-c", _PROBE_SNIPPET, path], timeout=600)
        answer = check.answer()
        if answer is None:
            raise DeviceError(f"device '{self.device}': cannot run {python} on the device to check uploads "
                              f"({check.failure()}); set connection.python in the device profile")
        return answer

    def _upload_failed(self, local: Path, size: int, partial: str, exc: BaseException) -> str:
        """One line saying why an upload broke: dropped connection, full disk, or the SFTP error."""
        if isinstance(exc, socket.timeout) or (self._sock is not None and self._sock.stalled):
            self._cut()  # a link that moves nothing for io_timeout_s is dead: nothing else may wait on it
            return (f"device '{self.device}': the SSH connection stalled while uploading {local.name} (nothing "
                    f"moved for {self.connection.io_timeout_s:g} s; connection.io_timeout_s); the partial file is "
                    "removed at the next connection from this host")
        try:
            space = self._probe(partial) if self._connected() else None
        except DeviceError:
            space = None  # the probe ran fine before the upload: the link broke
        if space is None:
            return (f"device '{self.device}': the SSH connection dropped while uploading {local.name} (the "
                    "partial file is removed at the next connection from this host)")
        if space["free"] < size or space.get("inodes") == 0:
            return self._disk_full(local, size, space) + "; the partial file was removed"
        return (f"device '{self.device}': upload of {local.name} failed: {str(exc) or type(exc).__name__}; "
                "the partial file was removed")

    def _disk_full(self, local: Path, size: int, space: dict[str, Any]) -> str:
        if space.get("inodes") == 0:
            room = f"no free inodes (files) left on the filesystem of {self.work_dir}"
        else:
            room = f"{file_size(size)} needed, {file_size(space['free'])} free in {self.work_dir}"
        return (f"device '{self.device}': no space left on the device for {local.name} ({room}; "
                f"`edgeprof clean --device {self.device}` frees edgeprof's cache)")

    def _remove_quietly(self, path: str) -> None:
        try:
            if self._sftp is not None:
                self._sftp.remove(path)
        except _LINK_ERRORS:
            pass


def _left_by_this_host(name: str, path: str) -> bool:
    """A partial upload of this host whose writer is gone: a dead pid, or this process no longer writing it."""
    mark = _PARTIAL.match(name)
    if mark is None or mark.group(1) != _HOST_TAG:
        return False
    pid = int(mark.group(2))
    if pid == os.getpid():
        return path not in _active_partials
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


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
