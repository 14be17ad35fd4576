"""Every store test runs on both backends: a SQLite file and a fresh database on the loopback PostgreSQL server."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from tests.support import pg_url


def fresh_pg_database() -> Iterator[str]:
    """A new empty database on the loopback server, dropped afterwards; its URL."""
    import psycopg

    admin = pg_url()
    name = f"edgeprof_{secrets.token_hex(4)}"
    with psycopg.connect(admin, autocommit=True) as db:
        db.execute(f"CREATE DATABASE {name}")
    try:
        yield urlunsplit(urlsplit(admin)._replace(path=f"/{name}"))
    finally:
        with psycopg.connect(admin, autocommit=True) as db:
            db.execute(f"DROP DATABASE {name} WITH (FORCE)")


@pytest.fixture()
def pg_store() -> Iterator[str]:
    """The URL of an empty PostgreSQL database."""
    yield from fresh_pg_database()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Where a store goes: a SQLite path, or an empty PostgreSQL database's URL."""
    if request.param == "sqlite":
        yield str(tmp_path / "results.db")
    else:
        yield from fresh_pg_database()
