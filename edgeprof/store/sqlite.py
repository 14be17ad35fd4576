"""The SQLite backend: one file, WAL, writers queued by BEGIN IMMEDIATE and a busy timeout."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from edgeprof.errors import StoreError
from edgeprof.store.base import BUSY_TIMEOUT_S, Store


class SQLiteStore(Store):
    """A results store in one SQLite file (the default)."""

    errors = (sqlite3.Error,)
    serial = "INTEGER PRIMARY KEY AUTOINCREMENT"

    def __init__(self, path: Path, *, create: bool = True, busy_timeout_s: float = BUSY_TIMEOUT_S) -> None:
        self.path = Path(path)
        super().__init__(str(self.path), busy_timeout_s)
        if not create and not self.path.exists():
            raise StoreError(f"no results store at {self.path} (run `edgeprof deploy` first, or pass --store)")
        try:
            if create:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, timeout=busy_timeout_s, isolation_level=None)
            self._db.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")
            self._db.execute("PRAGMA foreign_keys = ON")
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"cannot open results store {self.path}: {exc}") from exc
        self._open_checked(create=create)

    def _after_open(self) -> None:
        if self._execute("PRAGMA journal_mode")[0][0] != "wal":  # only once the file is known to be ours
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
