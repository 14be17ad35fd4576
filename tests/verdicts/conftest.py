"""A real SQLite store holding hand-built Results."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from edgeprof.store.sqlite import SQLiteStore as ResultStore


@pytest.fixture()
def store_file(tmp_path: Path) -> Callable[[list[list[dict[str, Any]]]], Path]:
    """A real SQLite store with the given runs saved in order; returns its path."""
    def build(runs: list[list[dict[str, Any]]]) -> Path:
        path = tmp_path / "results.db"
        with ResultStore(path) as db:
            for results in runs:
                db.save_run(results, command="test")
        return path
    return build
