"""`store copy` never moves a tag the destination already has: it keeps naming the destination's run, and the copy
says so."""

from __future__ import annotations

from pathlib import Path

from edgeprof.store import open_store
from tests.store.conftest import store_target  # noqa: F401  (the fixture: a SQLite file, then a PostgreSQL database)
from tests.store.helpers import edgeprof, result


def test_copy_keeps_the_destinations_tag_and_says_so(store_target: str, tmp_path: Path) -> None:  # noqa: F811
    src = str(tmp_path / "src.db")
    with open_store(src) as db:
        theirs = db.save_run([result(variant="int8")], command="src")
        db.tag(theirs, "baseline")
        db.tag(theirs, "nightly")
    with open_store(store_target) as db:
        ours = db.save_run([result()], command="dst")
        db.tag(ours, "baseline")
    proc = edgeprof("store", "copy", src, store_target, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "copied 1 run(s) (0 already there) and 1 tag(s)" in proc.stdout
    assert "kept" in proc.stderr and "baseline" in proc.stderr and "nightly" not in proc.stderr
    with open_store(store_target) as db:
        assert db.tags() == {"baseline": ours, "nightly": theirs}
