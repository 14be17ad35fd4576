"""A password in a store URL is never stored, printed or spooled: not from --store, not from $EDGEPROF_STORE, not
from `?password=`, not echoed back by libpq, and a URL that does not parse is one line too."""

from __future__ import annotations

import json
import stat
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from edgeprof.store.location import redact, scrub, secrets_in
from edgeprof.store.postgres import WRITE_LOCK
from tests.store.conftest import fresh_pg_database
from tests.store.helpers import edgeprof, raw
from tests.support import DIGITS

SECRET = "S3cretPW"
FP32 = str(DIGITS / "digits-fp32.onnx")
FAST = ["--min-runs", "10", "--max-runs", "30", "--min-seconds", "0", "--max-seconds", "0.2", "--power-seconds", "0"]


@pytest.fixture()
def database() -> Iterator[str]:
    """An empty database's URL (the loopback server trusts its user: a password in the URL is accepted, unused)."""
    yield from fresh_pg_database()


def with_password(url: str) -> str:
    parts = urlsplit(url)
    return parts._replace(netloc=f"{parts.username}:{SECRET}@{parts.hostname}:{parts.port}").geturl()


@pytest.fixture(autouse=True)
def private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("EDGEPROF_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("EDGEPROF_STORE", raising=False)
    return tmp_path / "cache"


def test_a_password_in_the_store_url_is_neither_stored_nor_printed(database: str) -> None:
    secret_url = with_password(database)
    proc = edgeprof("deploy", "--model", FP32, *FAST, "--store", secret_url)
    assert proc.returncode == 0, proc.stderr
    assert SECRET not in proc.stdout + proc.stderr
    assert f"in {redact(secret_url)}" in proc.stderr
    (command,) = raw(database, "SELECT command FROM runs")[0]
    assert SECRET not in command and redact(secret_url) in command
    listed = edgeprof("runs", "list", "--store", secret_url)
    assert listed.returncode == 0 and SECRET not in listed.stdout + listed.stderr


def test_watch_summary_shows_the_store_without_its_password(database: str) -> None:
    secret_url = with_password(database)
    proc = edgeprof("watch", "--model", FP32, "--max-seconds", "0.2", "--power-seconds", "0", "--every", "1s",
                    "--runs", "1", env={"EDGEPROF_STORE": secret_url})
    assert proc.returncode == 0, proc.stderr
    assert f"1 run stored in {redact(secret_url)}" in proc.stderr
    assert SECRET not in proc.stdout + proc.stderr
    (command,) = raw(database, "SELECT command FROM runs")[0]
    assert SECRET not in command


def test_a_spooled_run_keeps_no_password_and_flush_finds_its_store_again(database: str, private_cache: Path) -> None:
    import psycopg

    secret_url = f"{database}?password={SECRET}&application_name=edgeprof-test"
    with psycopg.connect(database, autocommit=True) as holder:
        edgeprof("runs", "list", "--store", database)  # an edgeprof store, so the deploy opens it
        holder.execute("SELECT pg_advisory_lock(%s)", (WRITE_LOCK,))  # another writer, for the whole deploy
        proc = edgeprof("deploy", "--model", FP32, *FAST, "--json",
                        env={"EDGEPROF_STORE": secret_url, "EDGEPROF_STORE_TIMEOUT": "1"})
    assert proc.returncode == 2 and "spooled in" in proc.stderr, proc.stderr
    assert SECRET not in proc.stdout + proc.stderr
    (spooled,) = (private_cache / "spool").glob("*.json")
    assert SECRET not in spooled.read_text()
    assert json.loads(spooled.read_text())["store"] == redact(secret_url)
    assert stat.S_IMODE(spooled.stat().st_mode) == 0o600
    assert stat.S_IMODE(spooled.parent.stat().st_mode) == 0o700
    flushed = edgeprof("store", "flush", env={"EDGEPROF_STORE": secret_url})
    assert flushed.returncode == 0 and "as run" in flushed.stdout, flushed.stderr
    assert SECRET not in flushed.stdout + flushed.stderr and not spooled.exists()
    (command,) = raw(database, "SELECT command FROM runs")[0]
    assert SECRET not in command


@pytest.mark.parametrize(("netloc", "words"), [
    (f"edgeprof:{SECRET}@127.0.0.1:notaport", "notaport"),
    (f"edgeprof:{SECRET}@127.0.0.1:99999", "99999"),
    (f"edgeprof:{SECRET}@[::1", "IPv6"),
    (f"edgeprof:{SECRET}%zz@127.0.0.1:1", "percent"),
])
def test_a_store_url_that_does_not_parse_is_one_line_without_its_password(netloc: str, words: str) -> None:
    proc = edgeprof("runs", "list", "--store", f"postgresql://{netloc}/postgres", timeout=60)
    assert proc.returncode == 2 and proc.stdout == ""
    (line,) = proc.stderr.splitlines()
    assert line.startswith("edgeprof: error: cannot open results store") and words in line
    assert SECRET not in line


def test_redaction_takes_every_shape_of_url() -> None:
    assert redact("postgresql://u:p%40w@h:5/db?sslmode=require&password=x&a=1") == \
        "postgresql://u@h:5/db?sslmode=require&a=1"
    assert redact(f"edgeprof deploy --store=postgres://u:{SECRET}@[::1/db --json") == \
        "edgeprof deploy --store=postgres://u@[::1/db --json"
    assert redact("results/r.db") == "results/r.db"
    assert redact("postgresql://u:p?w#x@h:5/db") == "postgresql://u@h:5/db"  # libpq's password: 'p?w#x'
    assert secrets_in("postgresql://u:p?w#x@h:5/db") == ["p?w#x"]
    assert redact("postgresql://h:5/db?application_name=a@b") == "postgresql://h:5/db?application_name=a@b"
    assert scrub(f'invalid percent-encoded token: "{SECRET}%zz"', f"postgresql://u:{SECRET}%zz@h/db") == \
        'invalid percent-encoded token: "***"'
