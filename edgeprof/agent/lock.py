"""One run per device at a time: an flock on a file in the work dir, released by the kernel if the agent dies."""

from __future__ import annotations

import fcntl
import json
import os
import socket
import stat
import time
from typing import IO, Callable

from .spec import AgentFailure, ErrorKind, LockSettings, Stage

POLL_S = 0.5


def _holder(fh: IO[str]) -> str:
    fh.seek(0)
    try:
        info = json.loads(fh.read() or "{}")
    except json.JSONDecodeError:
        return "another edgeprof run"
    return f"pid {info.get('pid')} on {info.get('host')} since {info.get('since')}"


def _open(path: str) -> IO[str]:
    """The lock file, created 0600 if new; never through a symbolic link (whose target would be truncated):
    AgentFailure('integrity') for a link or anything but a regular file."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        what = "is a symbolic link" if os.path.islink(path) else f"cannot be opened ({exc.strerror})"
        raise AgentFailure(ErrorKind.INTEGRITY, f"the device lock {path} {what}: remove it", Stage.LOCK) from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise AgentFailure(ErrorKind.INTEGRITY, f"the device lock {path} is not a regular file: remove it",
                           Stage.LOCK)
    return os.fdopen(fd, "r+")


def acquire(settings: LockSettings | None, note: Callable[[str], None]) -> IO[str] | None:
    """Take the device lock (waiting up to settings.wait_s); AgentFailure('busy') naming the holder,
    AgentFailure('integrity') when the lock's path is a symbolic link or not a file."""
    if not settings:
        return None
    fh = _open(settings.path)
    deadline = time.monotonic() + float(settings.wait_s)
    waited = False
    while True:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if time.monotonic() >= deadline:
                holder = _holder(fh)
                fh.close()
                raise AgentFailure(ErrorKind.BUSY, f"the device is in use by {holder}", Stage.LOCK) from None
            if not waited:
                note(f"the device is in use by {_holder(fh)}: waiting up to {settings.wait_s} s")
                waited = True
            time.sleep(POLL_S)
    fh.seek(0)
    fh.truncate()
    fh.write(json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                         "since": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}))
    fh.flush()
    return fh


def release(fh: IO[str] | None) -> None:
    """Give the lock back (the kernel also does this when the process ends, however it ends)."""
    if fh is not None:
        fh.seek(0)
        fh.truncate()
        fcntl.flock(fh, fcntl.LOCK_UN)
        fh.close()
