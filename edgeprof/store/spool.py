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

from edgeprof.artifacts import check_regular_file
from edgeprof.errors import ConfigError, EdgeprofError, StoreError
from edgeprof.paths import cache_dir
from edgeprof.result import utc_now
from edgeprof.store import StoreTarget, open_store
from edgeprof.store.location import redact

SPOOL_VERSION = 1


def spool_dir() -> Path:
    """Where spooled runs wait: <cache>/spool."""
    return cache_dir() / "spool"


def spool_run(results: list[dict[str, Any]], *, command: str, store: str, error: str) -> Path:
    """Write one run that `store` refused (with `error`) to a new spool file (0600, in a 0700 folder; a store URL's
    password in `store` or `command` left out); its path. StoreError if even that fails (the cache is unwritable
    too)."""
    created = utc_now()
    doc = {"spool_version": SPOOL_VERSION, "store": redact(store), "command": redact(command), "created": created,
           "host": socket.gethostname(), "error": error, "results": results}
    directory = spool_dir()
    path = directory / f"{created.replace(':', '')}-{secrets.token_hex(3)}.json"
    try:
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        partial = path.with_suffix(".partial")
        with open(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w", encoding="utf-8") as out:
            out.write(json.dumps(doc, sort_keys=True))
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
    that fails again, or that is not a spool file at all (unreadable, not JSON, a FIFO), stays, with its error,
    and the files after it are still stored."""
    done = []
    for path in spooled():
        try:
            doc = _read(path)
        except ConfigError as exc:
            done.append(Flushed(path, "?", error=str(exc)))
            continue
        store = str(target) if target is not None else _meant_for(doc["store"])
        try:
            with open_store(store) as db:
                run_id = db.save_run(doc["results"], command=doc["command"], created=doc["created"],
                                     host=doc["host"])
        except EdgeprofError as exc:
            done.append(Flushed(path, redact(store), error=str(exc)))
            continue
        except (AttributeError, KeyError, TypeError, ValueError) as exc:  # a Result of the wrong shape
            done.append(Flushed(path, redact(store), error=f"spool file {path.name} holds a Result edgeprof cannot "
                                                           f"store ({type(exc).__name__}: {exc})"))
            continue
        path.unlink()
        done.append(Flushed(path, redact(store), run_id=run_id))
    return done


def _meant_for(location: str) -> str:
    """The store a spool file names (without its password): $EDGEPROF_STORE where that names the same store, as it
    may with the password."""
    named = os.environ.get("EDGEPROF_STORE", "")
    return named if named and redact(named) == location else location


def _read(path: Path) -> dict[str, Any]:
    """A spool file's document; ConfigError for a file that is not a regular one (a FIFO would block), or not
    what spool_run writes."""
    check_regular_file(path, "spool file")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"spool file {path.name} is unreadable: {exc}") from exc
    fields = {"store": str, "command": str, "created": str, "host": str, "results": list}
    if not isinstance(doc, dict) or any(not isinstance(doc.get(k), t) for k, t in fields.items()) \
            or not all(isinstance(r, dict) for r in doc["results"]):
        raise ConfigError(f"spool file {path.name} is not a spooled run (an object with {', '.join(fields)})")
    return doc
