"""The results store's one interface and the SQL both dialects share: one run = many Result documents kept whole,
one transaction per run, the schema created, checked and migrated by edgeprof, tags.

A backend (sqlite.py, postgres.py) connects, names its error types and fills in where the dialects differ:
placeholders, string aggregation, the serial column, how a writer takes the store's write lock, and how the
tables and columns are listed.
"""

from __future__ import annotations

import json
import re
import secrets
import socket
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from edgeprof.errors import ConfigError, StoreError
from edgeprof.result import Result, stamp_stored, unstamp_stored, utc_now
from edgeprof.store.location import redact

STORE_SCHEMA_VERSION = 2
BUSY_TIMEOUT_S = 30.0
RUN_ID = re.compile(r"\d{8}T\d{6}Z-[0-9a-f]{6}")

# Every table and its columns: the one definition that creates a store and checks an existing one.
TABLES: dict[str, tuple[str, ...]] = {
    "meta": ("key TEXT PRIMARY KEY", "value TEXT NOT NULL"),
    "runs": ("run_id TEXT PRIMARY KEY", "seq INTEGER NOT NULL", "created TEXT NOT NULL", "command TEXT NOT NULL",
             "host TEXT NOT NULL DEFAULT ''"),
    "results": ("id {serial}", "run_id TEXT NOT NULL REFERENCES runs(run_id)", "seq INTEGER NOT NULL",
                "device TEXT NOT NULL", "model_name TEXT NOT NULL", "variant TEXT NOT NULL",
                "model_stem TEXT NOT NULL", "status TEXT NOT NULL", "created TEXT NOT NULL", "doc TEXT NOT NULL"),
    "tags": ("name TEXT PRIMARY KEY", "run_id TEXT NOT NULL REFERENCES runs(run_id)"),
}
INDEXES = (
    "CREATE UNIQUE INDEX IF NOT EXISTS runs_by_seq ON runs(seq)",
    "CREATE INDEX IF NOT EXISTS results_by_device_model ON results(device, model_name, variant)",
    "CREATE INDEX IF NOT EXISTS results_by_run ON results(run_id, seq)",
)
# Round one (schema 1, SQLite only) had no runs.seq (it ordered by rowid) and no runs.host.
MIGRATIONS: dict[int, tuple[str, ...]] = {
    1: ("ALTER TABLE runs ADD COLUMN seq INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE runs ADD COLUMN host TEXT NOT NULL DEFAULT ''",
        "UPDATE runs SET seq = rowid"),
}


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
    host: str = ""


def new_run_id() -> str:
    """A sortable, unique run id such as 20261129T031500Z-3f2a9c."""
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)


def check_tag_name(name: str) -> None:
    """ConfigError unless `name` can be a tag: not empty, not 'latest', not shaped like a run id."""
    if not name.strip():
        raise ConfigError("a tag name cannot be empty (give a name such as 'baseline')")
    if name == "latest":
        raise ConfigError("tag name 'latest' is not allowed: 'latest' always means the newest run")
    if RUN_ID.fullmatch(name):
        raise ConfigError(f"tag name {name!r} is not allowed: it has the shape of a run id")


class Store:
    """The results store behind one interface; a run is stored whole or not at all."""

    #: the DB-API errors of the backend's driver
    errors: tuple[type[BaseException], ...] = ()
    #: the type of results.id, an auto-incrementing primary key
    serial = ""

    def __init__(self, location: str, busy_timeout_s: float) -> None:
        self.location = location
        self.busy_timeout_s = busy_timeout_s

    # ---- what each backend provides

    def _execute(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Run one statement (placeholders are `?`); its rows, [] when it returns none."""
        raise NotImplementedError

    def _begin_write(self) -> None:
        """Begin a transaction holding the store's write lock (writers queue, readers go on)."""
        raise NotImplementedError

    def _tables(self) -> set[str]:
        raise NotImplementedError

    def _columns(self, table: str) -> set[str]:
        raise NotImplementedError

    def _agg(self, expr: str) -> str:
        """SQL joining the distinct values of `expr` with commas."""
        raise NotImplementedError

    def close(self) -> None:
        """Close the connection."""
        raise NotImplementedError

    # ---- the schema

    def _after_open(self) -> None:
        """What a backend sets once the store is known to be edgeprof's."""

    def _open_checked(self, *, create: bool) -> None:
        """_open, then _after_open; on any failure close the connection, a driver error becoming a StoreError."""
        try:
            self._open(create=create)
            self._after_open()
        except self.errors as exc:
            self.close()
            raise StoreError(f"cannot open results store {self.location}: {first_line(exc)}") from exc
        except BaseException:
            self.close()
            raise

    def _open(self, *, create: bool) -> None:
        """Create an empty store's schema or migrate an older one; refuse one that is not edgeprof's, newer, or
        lacks a column. Nothing is written to a store that is refused."""
        version = self._version()
        if version is None or version < STORE_SCHEMA_VERSION:
            with self._write():
                version = self._version()
                if version is None:
                    self._create()
                else:
                    self._migrate(version)
        for table, columns in TABLES.items():
            missing = [c.split()[0] for c in columns if c.split()[0] not in self._columns(table)]
            if missing:
                raise StoreError(f"results store {self.location} is damaged: table {table} has no column "
                                 f"{', '.join(missing)} (restore it from a copy, or pass another --store)")

    def _version(self) -> int | None:
        """The store's schema version; None for an empty database; StoreError for one edgeprof did not make."""
        tables = self._tables()
        if not tables:
            return None
        row = self._execute("SELECT value FROM meta WHERE key = 'schema_version'") if "meta" in tables else []
        if not row:
            raise StoreError(f"{self.location} is not an edgeprof results store (it holds tables "
                             f"{', '.join(sorted(tables))}): pass another --store; it was not changed")
        text = str(row[0][0])
        if not (text.isascii() and text.isdigit()) or int(text) < min(MIGRATIONS):
            raise StoreError(f"results store {self.location} is damaged: its schema version is {text!r}, not one "
                             "edgeprof wrote (restore it from a copy, or pass another --store); it was not changed")
        if int(text) > STORE_SCHEMA_VERSION:
            raise StoreError(f"results store {self.location} has schema {text}, newer than this edgeprof "
                             f"understands ({STORE_SCHEMA_VERSION}): upgrade edgeprof")
        return int(text)

    def _create(self) -> None:
        for table, columns in TABLES.items():
            self._execute(f"CREATE TABLE {table} ({', '.join(columns)})".replace("{serial}", self.serial))
        for statement in INDEXES:
            self._execute(statement)
        self._execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(STORE_SCHEMA_VERSION),))

    def _migrate(self, version: int) -> None:
        for step in range(version, STORE_SCHEMA_VERSION):
            for statement in MIGRATIONS[step]:
                self._execute(statement)
        for statement in INDEXES:
            self._execute(statement)
        self._execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(STORE_SCHEMA_VERSION),))

    def _write(self) -> "_Write":
        return _Write(self)

    # ---- runs

    def save_run(self, results: list[dict[str, Any]], *, command: str, run_id: str | None = None,
                 created: str | None = None, host: str | None = None, store_s: float | None = None) -> str:
        """Store every Result of one run in one transaction; set and return its run id (a new one unless given,
        as `store copy` and `store flush` do). A store URL's password in `command` is not stored (location.redact).

        With `store_s`, the seconds this run already spent in the store (opening and checking it), each Result's
        `timing.stages.store` is set just before that Result is encoded: `store_s` plus the seconds spent here so
        far (waiting for the write lock, the run row, the Results before it). Its own encoding and insert and the
        commit come after and cannot be in the document they write (docs/result-schema.md `timing`)."""
        run_id = run_id or new_run_id()
        created = created or utc_now()
        started = time.perf_counter()
        try:
            with self._write():
                self._execute("INSERT INTO runs (run_id, seq, created, command, host)"
                              " SELECT ?, coalesce(max(seq), 0) + 1, ?, ?, ? FROM runs",
                              (run_id, created, redact(command), socket.gethostname() if host is None else host))
                for seq, result in enumerate(results):
                    stamp_stored(result, run_id, None if store_s is None else store_s + time.perf_counter() - started)
                    view = Result(result)
                    self._execute(
                        "INSERT INTO results (run_id, seq, device, model_name, variant, model_stem, status,"
                        " created, doc) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (run_id, seq, view.device, view.name, view.variant, Path(view.model.get("path", "?")).stem,
                         view.status, result.get("created", created), json.dumps(result, sort_keys=True)))
        except self.errors as exc:
            _unsaved(results, store_s)
            raise StoreError(f"cannot write results store {self.location}: {first_line(exc)} "
                             "(nothing was stored)") from exc
        except BaseException:
            _unsaved(results, store_s)
            raise
        return run_id

    def list_runs(self, limit: int | None = 50) -> list[RunRow]:
        """The newest runs first (all of them with limit None)."""
        devices, models, tags = (self._agg(e) for e in ("s.device", "s.model_name || '-' || s.variant", "t.name"))
        rows = self._query(
            f"SELECT r.run_id, r.created, r.command, {devices}, {models},"
            " count(s.id), sum(CASE WHEN s.status != 'ok' THEN 1 ELSE 0 END),"
            f" (SELECT {tags} FROM tags t WHERE t.run_id = r.run_id), r.host"
            " FROM runs r LEFT JOIN results s ON s.run_id = r.run_id"
            " GROUP BY r.run_id ORDER BY r.seq DESC" + (" LIMIT ?" if limit is not None else ""),
            (limit,) if limit is not None else (),
        )
        return [RunRow(run_id=r[0], created=r[1], command=r[2], devices=_split(r[3]), models=_split(r[4]),
                       n_results=r[5], n_failed=r[6] or 0, tags=_split(r[7]), host=r[8]) for r in rows]

    def resolve_run(self, ref: str) -> str:
        """A run id from a full id, a unique prefix, a tag name, or 'latest'."""
        if ref == "latest":
            row = self._query("SELECT run_id FROM runs ORDER BY seq DESC LIMIT 1", ())
            if not row:
                raise ConfigError(f"the results store {self.location} holds no runs yet")
            return row[0][0]
        tagged = self._query("SELECT run_id FROM tags WHERE name = ?", (ref,))
        if tagged:
            return tagged[0][0]
        matches = self._query("SELECT run_id FROM runs WHERE substr(run_id, 1, ?) = ? ORDER BY seq",
                              (len(ref), ref)) if ref else []
        if len(matches) == 1:
            return matches[0][0]
        if not matches:
            raise ConfigError(f"no run or tag '{ref}' in {self.location} (see `edgeprof runs list`)")
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

    # ---- tags

    def tag(self, run: str, name: str) -> str:
        """Name a run (e.g. a baseline); a tag moves if it already existed. ConfigError for a name that is empty,
        'latest', or could be read as a run id (one's shape, or the prefix of a stored one). The run id."""
        check_tag_name(name)
        if self._query("SELECT run_id FROM runs WHERE substr(run_id, 1, ?) = ?", (len(name), name)):
            raise ConfigError(f"tag name {name!r} is not allowed: it is (the start of) a run id in "
                              f"{self.location}")
        run_id = self.resolve_run(run)
        self._set_tag(name, run_id)
        return run_id

    def tags(self) -> dict[str, str]:
        """Every tag name and the run it names."""
        return dict(self._query("SELECT name, run_id FROM tags ORDER BY name", ()))

    def _set_tag(self, name: str, run_id: str) -> None:
        try:
            with self._write():
                self._execute("INSERT INTO tags VALUES (?, ?)"
                              " ON CONFLICT (name) DO UPDATE SET run_id = excluded.run_id", (name, run_id))
        except self.errors as exc:
            raise StoreError(f"cannot write results store {self.location}: {first_line(exc)}") from exc

    def copy_to(self, dst: "Store") -> tuple[int, int, int, list[str]]:
        """Copy every run (ids, times and commands kept; runs `dst` already holds are skipped) and tag into `dst`:
        (runs copied, runs skipped, tags set, tags kept). A tag `dst` already has for another run keeps naming that
        run: it is in the last list, not moved."""
        have = {row.run_id for row in dst.list_runs(limit=None)}
        copied = skipped = 0
        for row in reversed(self.list_runs(limit=None)):
            if row.run_id in have:
                skipped += 1
                continue
            dst.save_run(self.load_run(row.run_id), command=row.command, run_id=row.run_id, created=row.created,
                         host=row.host)
            copied += 1
        ours, theirs = self.tags(), dst.tags()
        kept = sorted(name for name, run_id in ours.items() if theirs.get(name, run_id) != run_id)
        new = {name: run_id for name, run_id in ours.items() if name not in theirs}
        for name, run_id in new.items():
            dst._set_tag(name, run_id)
        return copied, skipped, len(new), kept

    # ---- helpers

    def _document(self, text: str) -> dict[str, Any]:
        return Result.load(text, source=f"results store {self.location}").doc

    def _query(self, sql: str, args: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        try:
            return self._execute(sql, args)
        except self.errors as exc:
            raise StoreError(f"cannot read results store {self.location}: {first_line(exc)}") from exc

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _unsaved(results: list[dict[str, Any]], store_s: float | None) -> None:
    """Undo what a failed save_run set on the Results (they go to the spool as they were)."""
    for result in results:
        unstamp_stored(result, store_s is not None)


class _Write:
    """The backend's write transaction: COMMIT, or ROLLBACK on any exception."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def __enter__(self) -> None:
        self._store._begin_write()

    def __exit__(self, exc_type: object, *_: object) -> None:
        if exc_type is None:
            try:
                self._store._execute("COMMIT")
                return
            except self._store.errors:
                self._rollback()
                raise
        self._rollback()

    def _rollback(self) -> None:
        try:
            self._store._execute("ROLLBACK")
        except self._store.errors:
            pass  # nothing to roll back, or the connection is gone: the server drops the transaction


def first_line(exc: BaseException) -> str:
    """A driver error's first line (psycopg adds context lines), or its type's name."""
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _split(text: str | None) -> list[str]:
    return sorted(text.split(",")) if text else []

