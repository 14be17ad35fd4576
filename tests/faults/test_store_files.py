"""The store's files: private modes, a damaged schema version, reads on a read-only mount or a full disk, and a
spool folder holding a FIFO or a file that is not a spooled run."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from edgeprof.store import open_store
from edgeprof.store.spool import spool_run
from tests.store.helpers import edgeprof, raw
from tests.verdicts.factory import make


@pytest.fixture(autouse=True)
def private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("EDGEPROF_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("EDGEPROF_STORE", raising=False)
    return tmp_path / "cache"


def one_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    return lines[0]


def test_a_new_store_and_spool_are_private_under_a_permissive_umask(tmp_path: Path, private_cache: Path) -> None:
    old = os.umask(0o022)
    try:
        with open_store(tmp_path / "new" / "r.db") as db:
            db.save_run([make()], command="test")
        spooled = spool_run([make()], command="test", store=str(tmp_path / "r.db"), error="x")
    finally:
        os.umask(old)
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in (tmp_path / "new").iterdir()}
    assert modes["r.db"] == 0o600 and set(modes.values()) == {0o600}, modes
    assert stat.S_IMODE((tmp_path / "new").stat().st_mode) == 0o700
    assert stat.S_IMODE(spooled.stat().st_mode) == 0o600 and stat.S_IMODE(spooled.parent.stat().st_mode) == 0o700


def test_an_existing_store_keeps_its_mode(tmp_path: Path) -> None:
    store = tmp_path / "shared.db"
    open_store(store).close()
    store.chmod(0o664)
    open_store(store).close()
    assert stat.S_IMODE(store.stat().st_mode) == 0o664


@pytest.mark.parametrize("version", ["abc", "0", "-1", "²"])
def test_a_damaged_schema_version_is_one_line(tmp_path: Path, version: str) -> None:
    store = tmp_path / "r.db"
    open_store(store).close()
    raw(str(store), f"UPDATE meta SET value = '{version}' WHERE key = 'schema_version'")
    before = store.read_bytes()
    proc = edgeprof("runs", "list", "--store", str(store), timeout=60)
    assert proc.returncode == 2 and "is damaged: its schema version is" in one_line(proc.stderr)
    assert "Traceback" not in proc.stderr and store.read_bytes() == before


def in_own_mounts(setup: str, *args: str) -> subprocess.CompletedProcess[str]:
    """`edgeprof ARGS` after the shell `setup` (mounts), in a private user and mount namespace."""
    if not shutil.which("unshare") or subprocess.run(["unshare", "-rm", "true"], capture_output=True,
                                                      timeout=30).returncode != 0:
        pytest.skip("no user namespaces here (unshare -rm): a read-only or full mount cannot be made")
    command = f"{setup} && exec {shlex.join([sys.executable, '-m', 'edgeprof', *args])}"
    return subprocess.run(["unshare", "-rm", "sh", "-c", command], capture_output=True, text=True, timeout=120)


def stored(folder: Path) -> str:
    folder.mkdir()
    with open_store(folder / "r.db") as db:
        return db.save_run([make()], command="test")


def test_reads_work_on_a_read_only_mount(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    run_id = stored(folder)
    mount = f"mount --bind {shlex.quote(str(folder))} {shlex.quote(str(folder))}" \
            f" && mount -o remount,bind,ro {shlex.quote(str(folder))}"
    listed = in_own_mounts(mount, "runs", "list", "--store", str(folder / "r.db"))
    assert listed.returncode == 0 and run_id in listed.stdout, listed.stderr
    shown = in_own_mounts(mount, "runs", "show", "latest", "--json", "--store", str(folder / "r.db"))
    assert shown.returncode == 0 and run_id in shown.stdout, shown.stderr
    tagged = in_own_mounts(mount, "runs", "tag", "latest", "baseline", "--store", str(folder / "r.db"))
    assert tagged.returncode == 2 and "readonly database" in one_line(tagged.stderr)


def test_reads_work_on_a_full_disk(tmp_path: Path) -> None:
    source = tmp_path / "src"
    run_id = stored(source)
    full = tmp_path / "full"
    full.mkdir()
    fill = (f"mount -t tmpfs -o size=256k tmpfs {shlex.quote(str(full))}"
            f" && cp {shlex.quote(str(source / 'r.db'))} {shlex.quote(str(full))}/"
            f" && {{ dd if=/dev/zero of={shlex.quote(str(full / 'fill'))} bs=4k 2>/dev/null; true; }}")
    listed = in_own_mounts(fill, "runs", "list", "--store", str(full / "r.db"))
    assert listed.returncode == 0 and run_id in listed.stdout, listed.stderr


def test_one_bad_spool_file_does_not_keep_the_others_from_the_store(tmp_path: Path, private_cache: Path) -> None:
    store = tmp_path / "r.db"
    first = spool_run([make()], command="edgeprof deploy", store=str(store), error="locked")
    spool = first.parent
    os.mkfifo(spool / "0-a-fifo.json")
    (spool / "1-not-json.json").write_text("{ half")
    (spool / "2-a-list.json").write_text("[1, 2]")
    (spool / "3-no-results.json").write_text('{"store": "x", "command": "c", "created": "t", "host": "h", '
                                             '"results": [5]}')
    (spool / "4-bad-utf8.json").write_bytes(b'{"store": "\xff"}')
    (spool / "5-bad-result.json").write_text(json.dumps({"store": str(store), "command": "c", "created": "t",
                                                         "host": "h", "results": [{"model": 5}]}))
    last = spool_run([make(variant="int8")], command="edgeprof deploy", store=str(store), error="locked")
    proc = edgeprof("store", "flush", timeout=60)
    assert proc.returncode == 2 and "6 spooled run(s) still not stored" in one_line(proc.stderr)
    assert "is a FIFO" in proc.stderr
    assert proc.stdout.count("as run") == 2 and not first.exists() and not last.exists()
    with open_store(store) as db:
        assert len(db.list_runs()) == 2
    assert sorted(p.name for p in spool.iterdir()) == ["0-a-fifo.json", "1-not-json.json", "2-a-list.json",
                                                       "3-no-results.json", "4-bad-utf8.json", "5-bad-result.json"]
