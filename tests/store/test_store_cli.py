"""The store through the CLI: deploy refusing bad stores before measuring, spooling what a locked store will not
take, `store flush`, `store copy` both ways, `runs tag` names, and every read command on both backends."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from edgeprof.cli import command_app
from edgeprof.store import open_store
from tests.store.helpers import edgeprof, raw
from tests.support import DIGITS
from tests.verdicts.factory import make, with_samples

app = command_app()  # every command registered

FP32 = str(DIGITS / "digits-fp32.onnx")
FAST = ["--min-runs", "10", "--max-runs", "50", "--min-seconds", "0", "--max-seconds", "0.3", "--power-seconds", "0"]
runner = CliRunner()


def one_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    return lines[0]


def two_runs(target: str) -> tuple[str, str]:
    with open_store(target) as db:
        runs = [db.save_run([with_samples(make(), m, s), with_samples(make(variant="int8"), m * 0.6, s + 1)],
                            command="test") for m, s in ((10.0, 1), (11.0, 3))]
    return runs[0], runs[1]


@pytest.fixture(autouse=True)
def private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("EDGEPROF_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_deploy_refuses_a_store_edgeprof_did_not_create_before_measuring(tmp_path: Path) -> None:
    theirs = tmp_path / "theirs.db"
    raw(str(theirs), "CREATE TABLE runs (id INTEGER, name TEXT)", "INSERT INTO runs VALUES (1, 'x')")
    before = theirs.read_bytes()
    started = time.monotonic()
    proc = edgeprof("deploy", "--model", FP32, *FAST, "--store", str(theirs))
    assert proc.returncode == 2 and time.monotonic() - started < 20
    assert "is not an edgeprof results store" in one_line(proc.stderr) and "progress" not in proc.stderr
    assert theirs.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["theirs.db"]


def test_deploy_finds_a_dropped_column_before_measuring(tmp_path: Path) -> None:
    store = tmp_path / "r.db"
    open_store(store).close()
    raw(str(store), "DROP INDEX results_by_device_model", "ALTER TABLE results DROP COLUMN model_stem")
    proc = edgeprof("deploy", "--model", FP32, *FAST, "--json", "--store", str(store))
    assert proc.returncode == 2 and proc.stdout == ""
    assert "has no column model_stem" in one_line(proc.stderr)


def test_a_locked_store_spools_the_run_shows_it_and_flush_stores_it(tmp_path: Path, private_cache: Path) -> None:
    store = tmp_path / "r.db"
    open_store(store).close()
    holder = sqlite3.connect(store, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another writer holds the lock for the whole deploy
    try:
        proc = edgeprof("deploy", "--model", FP32, *FAST, "--json", "--store", str(store),
                        env={"EDGEPROF_STORE_TIMEOUT": "1"})
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert proc.returncode == 2, proc.stderr
    line = one_line(proc.stderr)
    assert "database is locked" in line and "spooled in" in line and "edgeprof store flush" in line
    (shown,) = json.loads(proc.stdout)
    assert shown["status"] == "ok" and shown["latency"]["p50_ms"] > 0
    (spooled,) = (private_cache / "spool").glob("*.json")
    assert str(spooled) in line
    flushed = edgeprof("store", "flush")
    assert flushed.returncode == 0, flushed.stderr
    assert "as run" in flushed.stdout and not spooled.exists()
    (stored,) = json.loads(edgeprof("runs", "show", "latest", "--json", "--store", str(store)).stdout)
    assert stored["latency"] == shown["latency"] and stored["run_id"]
    assert "nothing spooled" in edgeprof("store", "flush").stdout


def test_flush_that_fails_again_keeps_the_spool(tmp_path: Path, private_cache: Path) -> None:
    from edgeprof.store.spool import spool_run

    path = spool_run([make()], command="edgeprof deploy", store=str(tmp_path / "gone" / "r.db"), error="x")
    (tmp_path / "gone").write_text("a file where the store's directory was")
    proc = edgeprof("store", "flush")
    assert proc.returncode == 2 and "still not stored" in one_line(proc.stderr) and path.exists()
    assert edgeprof("store", "flush", "--store", str(tmp_path / "other.db")).returncode == 0 and not path.exists()


def test_store_copy_both_ways_keeps_ids_times_and_tags(tmp_path: Path, pg_store: str) -> None:
    src = str(tmp_path / "src.db")
    first, second = two_runs(src)
    with open_store(src) as db:
        db.tag(first, "baseline")
        original = [db.load_run(first), db.load_run(second)], db.list_runs()
    to_pg = edgeprof("store", "copy", src, pg_store)
    assert to_pg.returncode == 0, to_pg.stderr
    assert "copied 2 run(s) (0 already there) and 1 tag(s)" in to_pg.stdout
    assert "copied 0 run(s) (2 already there)" in edgeprof("store", "copy", src, pg_store).stdout
    back = str(tmp_path / "back.db")
    assert edgeprof("store", "copy", pg_store, back).returncode == 0
    for target in (pg_store, back):
        with open_store(target, create=False) as db:
            assert [db.load_run(first), db.load_run(second)] == original[0]
            assert [(r.run_id, r.created, r.command, r.tags) for r in db.list_runs()] == \
                [(r.run_id, r.created, r.command, r.tags) for r in original[1]]
            assert db.resolve_run("baseline") == first and db.resolve_run("latest") == second


def test_store_copy_from_a_missing_store_changes_nothing(tmp_path: Path) -> None:
    proc = edgeprof("store", "copy", str(tmp_path / "absent.db"), str(tmp_path / "dst.db"))
    assert proc.returncode == 2 and "no results store at" in one_line(proc.stderr)
    assert not (tmp_path / "dst.db").exists()


def cli(target: str, *args: str) -> Any:
    return runner.invoke(app, [*args, "--store", target])


def test_runs_tag_refuses_latest_run_ids_and_empty_names(store_target: str) -> None:
    first, second = two_runs(store_target)
    out = cli(store_target, "runs", "tag", "latest", first)
    assert out.exception.exit_code == 2 and "run id" in str(out.exception)
    out = cli(store_target, "runs", "tag", first, "")
    assert out.exception.exit_code == 2 and "cannot be empty" in str(out.exception)
    assert "latest" not in str(out.exception)
    shown = json.loads(cli(store_target, "runs", "show", first, "--json").stdout)
    assert {r["run_id"] for r in shown} == {first}


def test_every_read_command_works_on_both_backends(store_target: str, tmp_path: Path) -> None:
    first, second = two_runs(store_target)
    assert cli(store_target, "runs", "tag", first, "baseline").exit_code == 0
    listed = json.loads(cli(store_target, "runs", "list", "--json").stdout)
    assert [r["run_id"] for r in listed] == [second, first] and listed[1]["tags"] == ["baseline"]
    assert cli(store_target, "runs", "list").exit_code == 0
    assert len(json.loads(cli(store_target, "runs", "show", "latest", "--json").stdout)) == 2
    for args in (["check", "--baseline", "baseline"], ["history"], ["compare", first, second], ["explain", first, second],
                 ["recommend"],
                 ["report", "--out", str(tmp_path / "r.md"), "--format", "md"]):
        out = cli(store_target, *args)
        assert out.exit_code in (0, 1) and isinstance(out.exception, (type(None), SystemExit)), (args, out.output)
    assert (tmp_path / "r.md").is_file()


def test_missing_and_empty_stores_are_both_configuration_errors(tmp_path: Path) -> None:
    missing = edgeprof("runs", "show", "latest", "--store", str(tmp_path / "absent.db"))
    (tmp_path / "empty.db").write_bytes(b"")
    empty = edgeprof("runs", "show", "latest", "--store", str(tmp_path / "empty.db"))
    assert (missing.returncode, empty.returncode) == (2, 2)
    assert "no results store at" in one_line(missing.stderr) and "holds no runs yet" in one_line(empty.stderr)


def test_an_unreachable_postgresql_store_is_one_line(tmp_path: Path) -> None:
    proc = edgeprof("runs", "list", "--store", "postgresql://nobody:secret@127.0.0.1:1/none",
                    env={"EDGEPROF_STORE_TIMEOUT": "2"})
    line = one_line(proc.stderr)
    assert proc.returncode == 2 and "cannot open results store postgresql://nobody@127.0.0.1:1/none" in line
    assert "secret" not in line
