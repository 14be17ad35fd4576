"""What every transport offers: run a command, start the agent, upload content-addressed files."""

from __future__ import annotations

import json
import posixpath
import re
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgeprof.agent.spec import BLOB_DIR
from edgeprof.errors import ConfigError, DeviceError

KILL_GRACE_S = 1.0  # how long kill() waits for a process to exit on stdin EOF before killing it
_SAFE_NAME = re.compile(r"^[A-Za-z0-9._-]+$")


def work_dir_not_a_directory(device: str, work_dir: str, part: str) -> DeviceError:
    """The error for a work dir (or its blob dir) that exists as something other than a directory."""
    return DeviceError(f"device '{device}': work dir {work_dir}: {part} is a file, not a directory (remove it, or "
                       "set connection.work_dir)")


@dataclass(frozen=True)
class CommandResult:
    """The outcome of a short command on the device."""

    exit_code: int
    stdout: str
    stderr: str

    def answer(self) -> dict[str, Any] | None:
        """The JSON object a snippet printed last on stdout (a login banner or a shell start-up file may print
        before it); None when it printed none."""
        for line in reversed(self.stdout.splitlines()):
            try:
                value = json.loads(line)
            except ValueError:
                continue
            if isinstance(value, dict):
                return value
        return None

    def failure(self) -> str:
        """Why a snippet gave no answer: its last line on stderr, else its exit status."""
        return (self.stderr.strip().splitlines() or [f"exit status {self.exit_code}"])[-1]


@dataclass(frozen=True)
class Upload:
    """Where a file landed on the device, and how many bytes it took to get it there (0: cached)."""

    remote_path: str
    bytes_sent: int


class RemoteProcess(ABC):
    """A long-running process on the device (the agent): line-oriented stdin and stdout."""

    @abstractmethod
    def write_line(self, line: str) -> None:
        """Send one line to the process's stdin."""

    @abstractmethod
    def close_stdin(self) -> None:
        """Close stdin: the agent takes EOF as the signal to stop."""

    @abstractmethod
    def lines(self) -> Iterator[str]:
        """Stdout lines as they arrive, until the process closes stdout."""

    @abstractmethod
    def stderr_text(self) -> str:
        """Everything the process wrote to stderr (complete once it has exited)."""

    @abstractmethod
    def wait(self, timeout: float | None = None) -> int | None:
        """The exit code, or None if it did not exit in time."""

    @abstractmethod
    def kill(self) -> None:
        """Stop the process (and with it the agent on the device)."""

    def __enter__(self) -> "RemoteProcess":
        return self

    def __exit__(self, *exc: object) -> None:
        self.kill()


class Transport(ABC):
    """A way to reach one device."""

    device: str
    work_dir: str

    @abstractmethod
    def connect(self) -> None:
        """Reach the device and prepare its work dir; DeviceError (one line) on any failure."""

    @abstractmethod
    def close(self) -> None:
        """Release the connection."""

    def abort(self) -> None:
        """Cut the connection from any thread (Ctrl-C), so nothing waits on it any longer; local: nothing to cut."""

    @abstractmethod
    def run(self, argv: list[str], timeout: float | None = None) -> CommandResult:
        """Run a short command; argv elements reach the device literally, never through an unquoted shell."""

    @abstractmethod
    def start(self, argv: list[str]) -> RemoteProcess:
        """Start a long-running process."""

    @abstractmethod
    def put_file(self, local: Path, sha256: str, suffix: str = "", *, verified_on_use: bool = False) -> Upload:
        """Upload into <work_dir>/blobs/<sha256><suffix> unless the device already has it; verified by hash.

        `verified_on_use`: whoever uses the file checks its sha256 first (the agent's `_verify`), so a blob of the
        right name and size is reused and a fresh upload renamed into place without hashing it here as well.
        """

    def blob_path(self, sha256: str, suffix: str = "") -> str:
        """The remote path of a content-addressed blob, confined to the work dir."""
        name = f"{sha256}{suffix}"
        if not re.fullmatch(r"[0-9a-f]{64}", sha256) or not _SAFE_NAME.match(name):
            raise ConfigError(f"refusing unsafe remote file name {name!r}")
        return self.remote_path(f"{BLOB_DIR}/{name}")

    def remote_path(self, relative: str) -> str:
        """A path inside the work dir; `..`, absolute paths and odd characters are refused."""
        parts = relative.split("/")
        if relative.startswith("/") or any(p in ("", ".", "..") or not _SAFE_NAME.match(p) for p in parts):
            raise ConfigError(f"refusing remote path {relative!r}: it must stay inside the work dir")
        return posixpath.join(self.work_dir, *parts)

    def __enter__(self) -> "Transport":
        self.connect()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
