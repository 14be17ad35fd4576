"""The results store: versioned Result documents kept whole in one SQLite file."""

from __future__ import annotations

import json
import secrets
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from edgeprof.errors import ConfigError, StoreError
from edgeprof.result import Result, utc_now

STORE_SCHEMA_VERSION = 1
BUSY_TIMEOUT_S = 30.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    created TEXT NOT NULL,
    command TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS results (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id TEXT NOT NULL REFERENCES runs(run_id),
    seq INTEGER NOT NULL,
    device TEXT NOT NULL,
    model_name TEXT NOT NULL,
    variant TEXT NOT NULL,
    model_stem TEXT NOT NULL,
    status TEXT NOT NULL,
    created TEXT NOT NULL,
    doc TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS results_by_device_model ON results(device, model_name, variant);
CREATE TABLE IF NOT EXISTS tags (name TEXT PRIMARY KEY, run_id TEXT NOT NULL REFERENCES runs(run_id));
"""


@dataclass(frozen=True)
class RunRow:
    """One stored run, as listed by `edgeprof runs list`."""

    run_id: str
    created: str
    command: str
    devices: list[str]
    models: list[str]
    n_results: int
    n_failed: int
    tags: list[str]


def new_run_id() -> str:
    """A sortable, unique run id such as 20261129T031500Z-3f2a9c."""
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)


class ResultStore:
    """The SQLite results store; one transaction per run, so a run is stored whole or not at all."""

    def __init__(self, path: Path, *, create: bool = True) -> None:
        self.path = Path(path)
        if not create and not self.path.exists():
            raise StoreError(f"no results store at {self.path} (run `edgeprof deploy` first, or pass --store)")
        try:
            if create:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
            self._db.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
            self._db.execute("PRAGMA journal_mode = WAL")
            self._db.execute("PRAGMA foreign_keys = ON")
            self._migrate()
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"cannot open results store {self.path}: {exc}") from exc

    def _migrate(self) -> None:
        with self._transaction():
            for statement in filter(str.strip, _SCHEMA.split(";")):
                self._db.execute(statement)
            row = self._db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
            if row is None:
                self._db.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(STORE_SCHEMA_VERSION),))
            elif int(row[0]) > STORE_SCHEMA_VERSION:
                raise StoreError(
                    f"results store {self.path} has schema {row[0]}, newer than this edgeprof "
                    f"understands ({STORE_SCHEMA_VERSION}): upgrade edgeprof"
                )

    def _transaction(self) -> "_Transaction":
        return _Transaction(self._db)

    def save_run(self, results: list[dict[str, Any]], *, command: str) -> str:
        """Store every Result of one run in one transaction; set and return its run id."""
        run_id = new_run_id()
        created = utc_now()
        try:
            with self._transaction():
                self._db.execute("INSERT INTO runs VALUES (?, ?, ?)", (run_id, created, command))
                for seq, result in enumerate(results):
                    result["run_id"] = run_id
                    view = Result(result)
                    self._db.execute(
                        "INSERT INTO results (run_id, seq, device, model_name, variant, model_stem, status,"
                        " created, doc) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (
                            run_id,
                            seq,
                            view.device,
                            view.name,
                            view.variant,
                            Path(view.model.get("path", "?")).stem,
                            view.status,
                            result.get("created", created),
                            json.dumps(result, sort_keys=True),
                        ),
                    )
        except sqlite3.Error as exc:
            for result in results:
                result.pop("run_id", None)
            raise StoreError(f"cannot write results store {self.path}: {exc} (nothing was stored)") from exc
        return run_id

    def list_runs(self, limit: int = 50) -> list[RunRow]:
        """The newest runs first."""
        rows = self._query(
            "SELECT r.run_id, r.created, r.command,"
            " group_concat(DISTINCT s.device), group_concat(DISTINCT s.model_name || '-' || s.variant),"
            " count(s.id), sum(s.status != 'ok'),"
            " (SELECT group_concat(t.name) FROM tags t WHERE t.run_id = r.run_id)"
            " FROM runs r LEFT JOIN results s ON s.run_id = r.run_id"
            " GROUP BY r.run_id ORDER BY r.rowid DESC LIMIT ?",
            (limit,),
        )
        return [
            RunRow(
                run_id=r[0],
                created=r[1],
                command=r[2],
                devices=_split(r[3]),
                models=_split(r[4]),
                n_results=r[5],
                n_failed=r[6] or 0,
                tags=_split(r[7]),
            )
            for r in rows
        ]

    def resolve_run(self, ref: str) -> str:
        """A run id from a full id, a unique prefix, a tag name, or 'latest'."""
        if ref == "latest":
            row = self._query("SELECT run_id FROM runs ORDER BY rowid DESC LIMIT 1", ())
            if not row:
                raise ConfigError(f"the results store {self.path} holds no runs yet")
            return row[0][0]
        tagged = self._query("SELECT run_id FROM tags WHERE name = ?", (ref,))
        if tagged:
            return tagged[0][0]
        matches = self._query("SELECT run_id FROM runs WHERE run_id LIKE ? ESCAPE '\\'", (_like_prefix(ref),))
        if len(matches) == 1:
            return matches[0][0]
        if not matches:
            raise ConfigError(f"no run or tag '{ref}' in {self.path} (see `edgeprof runs list`)")
        raise ConfigError(f"run id prefix '{ref}' is ambiguous: {', '.join(m[0] for m in matches[:5])}")

    def load_run(self, run_id: str) -> list[dict[str, Any]]:
        """The Result documents of one run, in saved order, at the current schema (see edgeprof.result.migrate)."""
        rows = self._query("SELECT doc FROM results WHERE run_id = ? ORDER BY seq", (run_id,))
        return [self._document(r[0]) for r in rows]

    def query(
        self, *, device: str | None = None, model: str | None = None, limit: int | None = None
    ) -> list[dict[str, Any]]:
        """Results oldest to newest; `model` matches the model name, 'name-variant' or the file stem."""
        sql = "SELECT doc FROM results WHERE 1=1"
        args: list[Any] = []
        if device:
            sql += " AND device = ?"
            args.append(device)
        if model:
            sql += " AND (model_name = ? OR model_name || '-' || variant = ? OR model_stem = ?)"
            args += [model, model, model]
        sql += " ORDER BY id DESC"
        if limit:
            sql += " LIMIT ?"
            args.append(limit)
        rows = self._query(sql, tuple(args))
        return [self._document(r[0]) for r in reversed(rows)]

    def tag(self, run_id: str, name: str) -> None:
        """Name a run (e.g. a baseline); a tag moves if it already existed."""
        run_id = self.resolve_run(run_id)
        try:
            with self._transaction():
                self._db.execute("INSERT OR REPLACE INTO tags VALUES (?, ?)", (name, run_id))
        except sqlite3.Error as exc:
            raise StoreError(f"cannot write results store {self.path}: {exc}") from exc

    def _document(self, text: str) -> dict[str, Any]:
        return Result.load(text, source=f"results store {self.path}").doc

    def _query(self, sql: str, args: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        try:
            return self._db.execute(sql, args).fetchall()
        except sqlite3.Error as exc:
            raise StoreError(f"cannot read results store {self.path}: {exc}") from exc

    def close(self) -> None:
        """Close the database connection."""
        self._db.close()

    def __enter__(self) -> "ResultStore":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT, or ROLLBACK on any exception."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, *_: object) -> None:
        self._db.execute("ROLLBACK" if exc_type else "COMMIT")


def _split(text: str | None) -> list[str]:
    return sorted(text.split(",")) if text else []


def _like_prefix(ref: str) -> str:
    escaped = ref.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%"
