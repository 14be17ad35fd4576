"""JSON lines on stdout, structured failures, and the watchdogs that keep the agent from outliving its host."""

from __future__ import annotations

import json
import os
import sys
import threading
from typing import Any, TextIO

from .spec import FINAL_EVENTS, ErrorKind, Event, Stage

EXIT_HOST_GONE = 75
_lock = threading.Lock()
_channel: TextIO | None = None  # the protocol's own copy of stdout, once claimed
_final_exit: list[int] = []  # set once the final line went out: the exit code it implies


def claim_stdout() -> None:
    """Keep fd 1 for protocol lines alone: whatever else prints to stdout (a runtime's native logging, a stray
    print) goes to stderr instead, so it can never corrupt the JSON-lines stream."""
    global _channel
    sys.stdout.flush()
    _channel = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    sys.stdout = sys.stderr


def emit(event: str, **fields: Any) -> None:
    """Write one protocol line and flush it."""
    line = json.dumps({"event": event, **fields}, default=_jsonable, allow_nan=False)
    with _lock:
        out = _channel or sys.stdout
        out.write(line + "\n")
        out.flush()
        if event in FINAL_EVENTS:
            _final_exit.append(0 if event == Event.RESULT else 1)


def _jsonable(value: Any) -> Any:
    """numpy scalars and arrays into plain JSON values."""
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def progress(stage: str, done: int, total: int | None) -> None:
    """A progress event."""
    emit(Event.PROGRESS, stage=stage, done=done, total=total)


def warn(message: str) -> None:
    """A warning event (also kept in the result by the caller)."""
    emit(Event.WARNING, message=message)


def fail_now(kind: str, message: str, stage: str | None) -> None:
    """Emit an error and exit at once, from any thread (used by watchdogs)."""
    emit(Event.ERROR, kind=kind, message=message, stage=stage)
    os._exit(1)


def watch_stdin() -> None:
    """Exit as soon as stdin reaches EOF: the host (or its SSH channel) is gone."""

    def wait_for_eof() -> None:
        try:
            while sys.stdin.readline():
                pass
        except (OSError, ValueError):
            pass
        with _lock:  # after the final line, EOF is the host saying goodbye, not going away
            os._exit(_final_exit[0] if _final_exit else EXIT_HOST_GONE)

    threading.Thread(target=wait_for_eof, name="stdin-watchdog", daemon=True).start()


class StageClock:
    """Names the current stage and kills the agent with a `timeout` error if a stage overruns its limit."""

    def __init__(self, stage_limit_s: float) -> None:
        self.stage: str = Stage.START
        self._limit = stage_limit_s
        self._timer: threading.Timer | None = None

    def enter(self, stage: str, limit_s: float | None = None) -> None:
        """Start timing a new stage."""
        self.stop()
        self.stage = stage
        limit = limit_s or self._limit
        self._timer = threading.Timer(
            limit, fail_now, args=(ErrorKind.TIMEOUT, f"stage '{stage}' took longer than {limit:g} s", stage)
        )
        self._timer.daemon = True
        self._timer.start()

    def stop(self) -> None:
        """Stop the current stage's timer."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
