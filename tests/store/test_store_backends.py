"""The store's contract on both backends: whole runs, lookups, tags, and stores it refuses before anything runs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from edgeprof.errors import EXIT_USAGE, ConfigError, StoreError
from edgeprof.store import open_store
from edgeprof.store.base import STORE_SCHEMA_VERSION
from tests.store.helpers import raw, result


def test_save_load_list_and_query(store_target: str) -> None:
    with open_store(store_target) as db:
        run_id = db.save_run([result(), result(variant="int8-static", status="failed")], command="edgeprof deploy")
        db.save_run([result(device="pi4")], command="b")
        assert [r["model"]["variant"] for r in db.load_run(run_id)] == ["fp32", "int8-static"]
        newest, oldest = db.list_runs()
        assert (oldest.run_id, oldest.n_results, oldest.n_failed, oldest.devices) == (run_id, 2, 1, ["local"])
        assert oldest.models == ["digits-fp32", "digits-int8-static"] and oldest.host
        assert newest.devices == ["pi4"] and db.list_runs(limit=1) == [newest]
        assert len(db.query(device="local")) == 2 and len(db.query(model="digits")) == 3
        assert len(db.query(model="digits-int8-static")) == 1 and len(db.query(model="digits-fp32", device="pi4")) == 1
        assert [r["device"] for r in db.query(limit=2)] == ["local", "pi4"]


def test_resolve_by_prefix_tag_and_latest(store_target: str) -> None:
    with open_store(store_target) as db:
        first = db.save_run([result()], command="a")
        second = db.save_run([result(device="pi4")], command="b")
        assert db.resolve_run("latest") == second and db.resolve_run(first[:-2]) in (first,)
        assert db.tag(first, "baseline") == first and db.resolve_run("baseline") == first
        db.tag(second, "baseline")  # a tag moves
        assert db.tags() == {"baseline": second} and db.list_runs()[0].tags == ["baseline"]
        with pytest.raises(ConfigError, match="no run or tag 'nope'"):
            db.resolve_run("nope")
        with pytest.raises(ConfigError, match="ambiguous"):
            db.resolve_run("2")


def test_failed_write_leaves_nothing_behind(store_target: str) -> None:
    with open_store(store_target) as db:
        db.save_run([result()], command="a")
        bad = [result(), {"device": "x", "model": {}, "unserialisable": {1, 2}}]
        with pytest.raises(TypeError):
            db.save_run(bad, command="b")
        assert len(db.list_runs()) == 1 and len(db.query()) == 1 and "run_id" not in bad[0]
        db.save_run([result()], command="c")  # the connection is still usable
        assert len(db.list_runs()) == 2


@pytest.mark.parametrize(("name", "message"), [
    ("latest", "'latest' always means the newest run"),
    ("", "a tag name cannot be empty"),
    ("  ", "a tag name cannot be empty"),
    ("20990101T000000Z-abcdef", "has the shape of a run id"),
])
def test_tag_names_that_could_be_misread_are_refused(store_target: str, name: str, message: str) -> None:
    with open_store(store_target) as db:
        run_id = db.save_run([result()], command="a")
        with pytest.raises(ConfigError, match=message) as err:
            db.tag(run_id, name)
        if not name.strip():
            assert "latest" not in str(err.value)
        with pytest.raises(ConfigError, match="shape of a run id"):
            db.tag("latest", run_id)
        with pytest.raises(ConfigError, match=r"is \(the start of\) a run id"):
            db.tag("latest", run_id[:4])
        assert db.tags() == {} and db.resolve_run(run_id) == run_id


def test_a_store_edgeprof_did_not_create_is_refused_untouched(store_target: str) -> None:
    raw(store_target, "CREATE TABLE runs (id INTEGER, name TEXT)", "INSERT INTO runs VALUES (1, 'theirs')")
    before = _snapshot(store_target)
    for create in (True, False):
        with pytest.raises(StoreError, match="is not an edgeprof results store .*tables runs.*not changed") as err:
            open_store(store_target, create=create)
        assert err.value.exit_code == EXIT_USAGE
    assert _snapshot(store_target) == before


def test_a_dropped_column_is_found_on_open(store_target: str) -> None:
    open_store(store_target).close()
    raw(store_target, "DROP INDEX results_by_device_model", "ALTER TABLE results DROP COLUMN model_stem")
    with pytest.raises(StoreError, match="is damaged: table results has no column model_stem"):
        open_store(store_target, create=False)


def test_newer_schema_is_refused(store_target: str) -> None:
    open_store(store_target).close()
    assert raw(store_target, "SELECT value FROM meta WHERE key = 'schema_version'") == [(str(STORE_SCHEMA_VERSION),)]
    raw(store_target, "UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(StoreError, match="newer than this edgeprof"):
        open_store(store_target)


def test_an_empty_database_becomes_a_store(store_target: str) -> None:
    if store_target.endswith(".db"):
        open(store_target, "wb").close()
    with open_store(store_target, create=False) as db:
        assert db.list_runs() == []
        with pytest.raises(ConfigError, match="holds no runs yet"):
            db.resolve_run("latest")


def _snapshot(target: str) -> object:
    if target.startswith("postgresql://"):
        return raw(target, "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
                           " ORDER BY 1"), raw(target, "SELECT * FROM runs")
    with open(target, "rb") as fh:
        return fh.read()


def test_psycopg_is_imported_only_for_a_postgresql_store(tmp_path: Path) -> None:
    code = ("import sys, edgeprof.cli, edgeprof.pipeline, edgeprof.store.spool; from edgeprof.store import open_store;"
            f" open_store({str(tmp_path / 'r.db')!r}).close(); assert 'psycopg' not in sys.modules, 'psycopg'")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
