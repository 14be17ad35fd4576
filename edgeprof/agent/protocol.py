"""JSON lines on stdout, structured failures, and the watchdogs that keep the agent from outliving its host."""

from __future__ import annotations

import json
import math
import os
import re
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
    """Write one protocol line and flush it. A NaN or infinity (which JSON cannot carry) is written as null, and
    a result's warnings name where: one non-finite figure never loses the others."""
    fields, nonfinite = finite_only(fields)
    result = fields.get("result")
    if nonfinite and isinstance(result, dict):
        where = dict.fromkeys(re.sub(r"\[\d+\]", "[]", path.removeprefix("result.")) for path in nonfinite)
        result["warnings"] = [*(result.get("warnings") or []),
                              f"not a finite number, recorded as null: {', '.join(where)}"]
    line = json.dumps({"event": event, **fields}, default=_jsonable, allow_nan=False)
    with _lock:
        out = _channel or sys.stdout
        out.write(line + "\n")
        out.flush()
        if event in FINAL_EVENTS:
            _final_exit.append(0 if event == Event.RESULT else 1)


def finite_only(value: Any, path: str = "") -> tuple[Any, list[str]]:
    """`value` with every NaN and infinity (numpy's too) replaced by None, and the dotted paths where they were
    (`result.latency.p95_ms`, `result.latency.samples_ms[3]`)."""
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):
        value = value.tolist()
    if isinstance(value, float):
        return (value, []) if math.isfinite(value) else (None, [path])
    if isinstance(value, dict):
        pairs = [(key, finite_only(item, f"{path}.{key}" if path else str(key))) for key, item in value.items()]
        return {key: item for key, (item, _) in pairs}, [where for _, (_, found) in pairs for where in found]
    if isinstance(value, (list, tuple)):
        items = [finite_only(item, f"{path}[{index}]") for index, item in enumerate(value)]
        return [item for item, _ in items], [where for _, found in items for where in found]
    return value, []


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
