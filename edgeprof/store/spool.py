"""Nothing measured is lost: a run the store would not take is written to a spool file under the cache, and
`edgeprof store flush` stores it later (its Results, command, measurement time and controller host kept)."""

from __future__ import annotations

import json
import os
import secrets
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgeprof.errors import EdgeprofError, StoreError
from edgeprof.paths import cache_dir
from edgeprof.result import utc_now
from edgeprof.store import StoreTarget, open_store

SPOOL_VERSION = 1


def spool_dir() -> Path:
    """Where spooled runs wait: <cache>/spool."""
    return cache_dir() / "spool"


def spool_run(results: list[dict[str, Any]], *, command: str, store: str, error: str) -> Path:
    """Write one run that `store` refused (with `error`) to a new spool file; its path. StoreError if even that
    fails (the cache is unwritable too)."""
    created = utc_now()
    doc = {"spool_version": SPOOL_VERSION, "store": store, "command": command, "created": created,
           "host": socket.gethostname(), "error": error, "results": results}
    directory = spool_dir()
    path = directory / f"{created.replace(':', '')}-{secrets.token_hex(3)}.json"
    try:
        directory.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".partial")
        partial.write_text(json.dumps(doc, sort_keys=True), encoding="utf-8")
        os.replace(partial, path)
    except OSError as exc:
        raise StoreError(f"{error}; and the spool {directory} is not writable either: {exc.strerror}") from exc
    return path


@dataclass(frozen=True)
class Flushed:
    """One spool file's fate: stored as `run_id` in `store`, or still spooled with `error`."""

    path: Path
    store: str
    run_id: str | None = None
    error: str | None = None


def spooled() -> list[Path]:
    """The spool files, oldest first."""
    return sorted(spool_dir().glob("*.json"))


def flush(target: StoreTarget | None = None) -> list[Flushed]:
    """Store every spooled run in `target` (default: the store it was meant for) and remove its file; a file
    that fails again stays, with its error."""
    done = []
    for path in spooled():
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
            store = str(target) if target is not None else doc["store"]
        except (OSError, ValueError, KeyError) as exc:
            done.append(Flushed(path, "?", error=f"unreadable spool file: {exc}"))
            continue
        try:
            with open_store(store) as db:
                run_id = db.save_run(doc["results"], command=doc["command"], created=doc["created"],
                                     host=doc["host"])
        except EdgeprofError as exc:
            done.append(Flushed(path, store, error=str(exc)))
            continue
        path.unlink()
        done.append(Flushed(path, store, run_id=run_id))
    return done
