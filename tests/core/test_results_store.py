"""The SQLite results store: whole runs or nothing, lookups by id, prefix, tag and model."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from edgeprof.errors import ConfigError, StoreError
from edgeprof.store.sqlite import SQLiteStore as ResultStore
from tests.store.helpers import result


def test_save_and_load_run(tmp_path: Path) -> None:
    with ResultStore(tmp_path / "r.db") as db:
        run_id = db.save_run([result(), result(variant="int8-static", status="failed")], command="edgeprof deploy")
        loaded = db.load_run(run_id)
        assert [r["model"]["variant"] for r in loaded] == ["fp32", "int8-static"]
        assert all(r["run_id"] == run_id for r in loaded)
        (row,) = db.list_runs()
        assert (row.run_id, row.n_results, row.n_failed, row.devices) == (run_id, 2, 1, ["local"])


def test_resolve_by_prefix_tag_and_latest(tmp_path: Path) -> None:
    with ResultStore(tmp_path / "r.db") as db:
        first = db.save_run([result()], command="a")
        second = db.save_run([result(device="pi4")], command="b")
        assert db.resolve_run("latest") == second
        assert db.resolve_run(first) == first
        db.tag(first, "baseline")
        assert db.resolve_run("baseline") == first
        assert db.list_runs()[-1].tags == ["baseline"]
        with pytest.raises(ConfigError, match="no run or tag 'nope'"):
            db.resolve_run("nope")
        with pytest.raises(ConfigError, match="ambiguous"):
            db.resolve_run("2")


def test_query_by_device_and_model_labels(tmp_path: Path) -> None:
    with ResultStore(tmp_path / "r.db") as db:
        db.save_run([result(), result(variant="int8-static"), result(device="pi4")], command="a")
        assert len(db.query(device="local")) == 2
        assert len(db.query(model="digits")) == 3
        assert len(db.query(model="digits-int8-static")) == 1
        assert len(db.query(model="digits-fp32", device="pi4")) == 1
        assert len(db.query(limit=2)) == 2


def test_failed_write_leaves_nothing_behind(tmp_path: Path) -> None:
    path = tmp_path / "r.db"
    with ResultStore(path) as db:
        db.save_run([result()], command="a")
    bad = [result(), {"device": "x", "model": {}, "unserialisable": {1, 2}}]
    with ResultStore(path) as db:
        with pytest.raises(TypeError):
            db.save_run(bad, command="b")
        assert len(db.list_runs()) == 1
        assert len(db.query()) == 1


def test_missing_store_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="no results store at"):
        ResultStore(tmp_path / "absent.db", create=False)


def test_unwritable_location_is_a_clear_error(tmp_path: Path) -> None:
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("")
    with pytest.raises(StoreError, match="cannot open results store"):
        ResultStore(not_a_dir / "r.db")
    with pytest.raises(StoreError, match="cannot open results store"):
        ResultStore(Path("/proc/edgeprof-test/r.db"))


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "r.db"
    ResultStore(path).close()
    with sqlite3.connect(path) as db:
        db.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(StoreError, match="newer than this edgeprof"):
        ResultStore(path)


def test_the_store_stage_is_measured_before_each_document_is_written(tmp_path: Path) -> None:
    def timed() -> dict:
        return {**result(), "timing": {"stages": {"latency": 0.5, "store": None}, "measure_s": 0.5}}

    with ResultStore(tmp_path / "r.db") as db:
        saved = [timed(), timed()]
        run_id = db.save_run(saved, command="edgeprof deploy", store_s=0.25)
        stored = [r["timing"]["stages"]["store"] for r in db.load_run(run_id)]
        assert stored == [r["timing"]["stages"]["store"] for r in saved]  # what was returned is what was stored
        assert 0.25 <= stored[0] <= stored[1] < 5.0  # the second also waited for the first's insert
        copied = db.save_run(db.load_run(run_id), command="store copy")  # no store_s: the value is kept
        assert [r["timing"]["stages"]["store"] for r in db.load_run(copied)] == stored
        bad = [timed(), {**timed(), "unserialisable": {1, 2}}]
        with pytest.raises(TypeError):
            db.save_run(bad, command="b", store_s=0.25)
        assert [r["timing"]["stages"]["store"] for r in bad] == [None, None]  # nothing stored: nothing claimed
