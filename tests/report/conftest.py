"""Fixtures for the plot and report tests: hand-built Results and a real SQLite store holding them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from edgeprof.store.sqlite import SQLiteStore as ResultStore
from tests.report.factory import big_set, small_set


@pytest.fixture(scope="module")
def results() -> list[dict[str, Any]]:
    """Three devices (one emulated, one with estimated power) x four variants, plus one failed run."""
    return small_set()


@pytest.fixture(scope="module")
def big() -> list[dict[str, Any]]:
    """6 devices x 8 variants with long names."""
    return big_set()


@pytest.fixture()
def store(tmp_path: Path) -> Path:
    """A real results store holding small_set() as one run."""
    path = tmp_path / "results.db"
    with ResultStore(path) as db:
        db.save_run(small_set(), command="edgeprof deploy (test fixture)")
    return path
