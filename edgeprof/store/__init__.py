"""The results store behind one interface (base.Store): SQLite (default) and PostgreSQL, migrations, the spool.

`open_store` picks the backend from what --store / $EDGEPROF_STORE names: a postgresql:// URL or a SQLite path.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Union

from edgeprof.errors import ConfigError
from edgeprof.store.base import BUSY_TIMEOUT_S, Store
from edgeprof.store.location import redact
from edgeprof.store.sqlite import SQLiteStore

StoreTarget = Union[str, Path]
PG_SCHEMES = ("postgresql://", "postgres://")


def lock_timeout_s() -> float:
    """How long a writer waits for the store's lock: $EDGEPROF_STORE_TIMEOUT seconds, default 30."""
    text = os.environ.get("EDGEPROF_STORE_TIMEOUT")
    if not text:
        return BUSY_TIMEOUT_S
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if value <= 0:
        raise ConfigError(f"$EDGEPROF_STORE_TIMEOUT={text!r}: give a number of seconds > 0")
    return value


def is_url(target: StoreTarget) -> bool:
    """Whether `target` names a PostgreSQL store."""
    return str(target).startswith(PG_SCHEMES)


def open_store(target: StoreTarget, *, create: bool = True) -> Store:
    """The store `target` names: a postgresql://user@host:port/db URL, else a SQLite path. StoreError when it
    cannot be opened, is not edgeprof's, is newer than this edgeprof, or lacks a column."""
    text = str(target)
    if is_url(text):
        from edgeprof.store.postgres import PostgresStore  # psycopg: only for PostgreSQL stores

        return PostgresStore(text, create=create, busy_timeout_s=lock_timeout_s())
    if "://" in text:
        raise ConfigError(f"--store {redact(text)}: not a SQLite path or a postgresql://user@host:port/db URL")
    return SQLiteStore(Path(text), create=create, busy_timeout_s=lock_timeout_s())
