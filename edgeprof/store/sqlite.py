"""The SQLite backend: one file, WAL, writers queued by BEGIN IMMEDIATE and a busy timeout."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Any
from urllib.parse import quote

from edgeprof.errors import StoreError
from edgeprof.store.base import BUSY_TIMEOUT_S, Store


class SQLiteStore(Store):
    """A results store in one SQLite file (the default)."""

    errors = (sqlite3.Error,)
    serial = "INTEGER PRIMARY KEY AUTOINCREMENT"

    def __init__(self, path: Path, *, create: bool = True, busy_timeout_s: float = BUSY_TIMEOUT_S) -> None:
        self.path = Path(path)
        self.read_only = False
        super().__init__(str(self.path), busy_timeout_s)
        if not create and not self.path.exists():
            raise StoreError(f"no results store at {self.path} (run `edgeprof deploy` first, or pass --store)")
        try:
            try:
                if create:
                    _create_private(self.path)
                self._db = self._connect("")
            except (OSError, sqlite3.Error) as exc:
                raise StoreError(f"cannot open results store {self.path}: {exc}") from exc
            self._open_checked(create=create)
        except StoreError:
            if create or not self._open_read_only():
                raise

    def _connect(self, mode: str) -> sqlite3.Connection:
        """A connection to the file, read-write, or with `mode` a read-only URI parameter (mode=ro, immutable=1)."""
        target = f"file:{quote(str(self.path.absolute()))}?{mode}" if mode else str(self.path)
        db = sqlite3.connect(target, timeout=self.busy_timeout_s, isolation_level=None, uri=bool(mode))
        db.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_s * 1000)}")
        db.execute("PRAGMA foreign_keys = ON")
        return db

    def _open_read_only(self) -> bool:
        """For a store that cannot be opened for writing (a read-only mount, a full disk): open it read-only, the
        file as it is when no write-ahead log holds changes besides it; whether that worked."""
        wal = self.path.with_name(self.path.name + "-wal")
        modes = ("mode=ro",) if wal.exists() and wal.stat().st_size else ("mode=ro", "immutable=1")
        for mode in modes:
            try:
                self._db = self._connect(mode)
                self.read_only = True
                self._open_checked(create=False)
                return True
            except (OSError, sqlite3.Error, StoreError):
                continue
        return False

    def _after_open(self) -> None:
        if not self.read_only and self._execute("PRAGMA journal_mode")[0][0] != "wal":  # once the file is ours
            self._execute("PRAGMA journal_mode = WAL")

    def _execute(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        return self._db.execute(sql, args).fetchall()

    def _begin_write(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def _tables(self) -> set[str]:
        rows = self._execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
        return {r[0] for r in rows}

    def _columns(self, table: str) -> set[str]:
        return {r[1] for r in self._execute(f'PRAGMA table_info("{table}")')}

    def _agg(self, expr: str) -> str:
        return f"group_concat(DISTINCT {expr})"

    def close(self) -> None:
        """Close the database connection."""
        self._db.close()


def _create_private(path: Path) -> None:
    """A new store's folder (0700) and empty file (0600: only its owner reads the measurements and commands);
    an existing one is left as it is. SQLite gives its -wal and -shm files the file's mode."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass
