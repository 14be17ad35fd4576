"""The `local` transport: the device is this machine; the agent runs as a subprocess."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

from edgeprof.agent.spec import BLOB_DIR, PARTIAL_PREFIX
from edgeprof.artifacts import sha256_file
from edgeprof.errors import ConfigError, DeviceError
from edgeprof.paths import cache_dir
from edgeprof.transport.base import (
    KILL_GRACE_S,
    CommandResult,
    RemoteProcess,
    Transport,
    Upload,
    work_dir_not_a_directory,
)

CHUNK = 1 << 20


class LocalProcess(RemoteProcess):
    """A subprocess with its stderr drained in the background (so it can never block on a full pipe)."""

    def __init__(self, argv: list[str], cwd: str) -> None:
        try:
            self._proc = subprocess.Popen(
                argv, cwd=cwd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                text=True, bufsize=1, start_new_session=True,
            )
        except OSError as exc:
            raise DeviceError(f"cannot start {argv[0]!r} on this machine: {exc.strerror}") from exc
        self.pid = self._proc.pid
        self._stderr: list[str] = []
        self._drain = threading.Thread(target=self._read_stderr, daemon=True)
        self._drain.start()

    def _read_stderr(self) -> None:
        assert self._proc.stderr is not None
        for line in self._proc.stderr:
            self._stderr.append(line)

    def write_line(self, line: str) -> None:
        assert self._proc.stdin is not None
        try:
            self._proc.stdin.write(line + "\n")
            self._proc.stdin.flush()
        except BrokenPipeError:
            pass  # the process already ended; its exit code and stderr tell why

    def close_stdin(self) -> None:
        if self._proc.stdin and not self._proc.stdin.closed:
            try:
                self._proc.stdin.close()
            except BrokenPipeError:
                pass

    def lines(self) -> Iterator[str]:
        assert self._proc.stdout is not None
        for line in self._proc.stdout:
            yield line.rstrip("\n")

    def stderr_text(self) -> str:
        self._drain.join(timeout=5)
        return "".join(self._stderr)

    def wait(self, timeout: float | None = None) -> int | None:
        try:
            return self._proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def kill(self) -> None:
        """Send EOF; if the process has not exited within a moment, stop its process group (its own session):
        SIGTERM and SIGCONT (a stopped process acts on SIGTERM only once continued), then SIGKILL after 2 s."""
        self.close_stdin()
        if self.wait(KILL_GRACE_S) is not None:
            return
        for sig in (signal.SIGTERM, signal.SIGCONT):
            self._signal_group(sig)
        if self.wait(2.0) is None:
            self._signal_group(signal.SIGKILL)
            self._proc.wait()

    def _signal_group(self, sig: signal.Signals) -> None:
        try:
            os.killpg(self.pid, sig)
        except ProcessLookupError:
            pass  # already gone


class LocalTransport(Transport):
    """This machine as a device: commands run as subprocesses, uploads are copies into the work dir."""

    def __init__(self, device: str, work_dir: Path | None = None) -> None:
        self.device = device
        self._root = (work_dir or cache_dir() / "local").expanduser()
        self.work_dir = str(self._root)

    def connect(self) -> None:
        try:  # created 0700; an existing work dir keeps its mode
            for directory in (self._root, self._root / BLOB_DIR):
                if directory.exists() and not directory.is_dir():
                    raise work_dir_not_a_directory(self.device, str(self._root), str(directory))
                directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as exc:
            raise DeviceError(f"device '{self.device}': cannot create work dir {self._root}: {exc.strerror}") from exc
        self.work_dir = str(self._root.resolve())

    def close(self) -> None:
        """Nothing to release."""

    def run(self, argv: list[str], timeout: float | None = None) -> CommandResult:
        try:
            done = subprocess.run(argv, cwd=self.work_dir, stdin=subprocess.DEVNULL, capture_output=True,
                                  text=True, timeout=timeout)
        except FileNotFoundError:
            return CommandResult(127, "", f"{argv[0]}: not found")
        except subprocess.TimeoutExpired as exc:
            raise DeviceError(f"device '{self.device}': {argv[0]} timed out after {timeout:.0f} s") from exc
        return CommandResult(done.returncode, done.stdout, done.stderr)

    def start(self, argv: list[str]) -> RemoteProcess:
        return LocalProcess(argv, self.work_dir)

    def put_file(self, local: Path, sha256: str, suffix: str = "", *, verified_on_use: bool = False) -> Upload:
        """Copy into blobs/ under a temp name, check the hash, rename; a blob with the right hash is reused."""
        target = Path(self.blob_path(sha256, suffix))
        if not local.is_file():
            raise ConfigError(f"cannot read {local}: no such file")
        if target.is_file() and (target.stat().st_size == local.stat().st_size if verified_on_use
                                 else sha256_file(target) == sha256):
            os.utime(target)  # just used: the cache cap evicts the least recently used first
            return Upload(str(target), 0)
        partial = target.with_name(f"{PARTIAL_PREFIX}{target.name}-{os.getpid()}-{threading.get_ident()}")
        digest = hashlib.sha256()
        sent = 0
        try:
            with local.open("rb") as src, partial.open("wb") as dst:
                while chunk := src.read(CHUNK):
                    digest.update(chunk)
                    dst.write(chunk)
                    sent += len(chunk)
            if not verified_on_use and digest.hexdigest() != sha256:
                raise DeviceError(f"device '{self.device}': {local} changed while it was copied (hash mismatch)")
            partial.replace(target)
        except OSError as exc:
            raise DeviceError(f"device '{self.device}': cannot copy {local} into {self.work_dir}: "
                              f"{exc.strerror}") from exc
        finally:
            partial.unlink(missing_ok=True)
        return Upload(str(target), sent)
