"""A round-one SQLite store (schema 1: runs ordered by rowid, no host) is migrated in place and keeps its history."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from edgeprof.store import open_store
from tests.store.helpers import raw, result

# The schema edgeprof's first release created, as it was: the input of the migration.
ROUND_ONE = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE runs (run_id TEXT PRIMARY KEY, created TEXT NOT NULL, command TEXT NOT NULL);
CREATE TABLE results (id INTEGER PRIMARY KEY AUTOINCREMENT, run_id TEXT NOT NULL REFERENCES runs(run_id),
    seq INTEGER NOT NULL, device TEXT NOT NULL, model_name TEXT NOT NULL, variant TEXT NOT NULL,
    model_stem TEXT NOT NULL, status TEXT NOT NULL, created TEXT NOT NULL, doc TEXT NOT NULL);
CREATE INDEX results_by_device_model ON results(device, model_name, variant);
CREATE TABLE tags (name TEXT PRIMARY KEY, run_id TEXT NOT NULL REFERENCES runs(run_id));
INSERT INTO meta VALUES ('schema_version', '1');
"""


def round_one_store(path: Path, run_ids: list[str]) -> None:
    with sqlite3.connect(path) as db:
        db.executescript(ROUND_ONE)
        for run_id in run_ids:
            db.execute("INSERT INTO runs VALUES (?, '2025-01-01T00:00:00Z', 'edgeprof deploy')", (run_id,))
            doc = {**result(), "run_id": run_id}
            db.execute("INSERT INTO results (run_id, seq, device, model_name, variant, model_stem, status, created,"
                       " doc) VALUES (?, 0, 'local', 'digits', 'fp32', 'digits-fp32', 'ok', 'x', ?)",
                       (run_id, json.dumps(doc)))
        db.execute("INSERT INTO tags VALUES ('baseline', ?)", (run_ids[0],))
    db.close()


def test_round_one_store_is_migrated_and_keeps_its_order(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    # Inserted out of id order: round one's "newest" was the last inserted row, not the largest id.
    old = ["20250101T000000Z-bbbbbb", "20250101T000000Z-aaaaaa", "20250101T000000Z-cccccc"]
    round_one_store(path, old)
    with open_store(path, create=False) as db:
        assert [row.run_id for row in db.list_runs()] == old[::-1]
        assert db.resolve_run("latest") == old[-1] and db.resolve_run("baseline") == old[0]
        assert [r["run_id"] for r in db.load_run(old[1])] == [old[1]]
        new = db.save_run([result()], command="after")
        assert db.resolve_run("latest") == new
    assert raw(str(path), "SELECT value FROM meta WHERE key = 'schema_version'") == [("2",)]
    assert raw(str(path), "SELECT run_id, seq FROM runs ORDER BY seq") == [*zip(old, (1, 2, 3)), (new, 4)]
    with open_store(path) as db:  # opening again migrates nothing more
        assert len(db.list_runs()) == 4
