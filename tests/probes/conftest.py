"""Fixture trees (real sysfs layouts) and fake device tools for the power and thermal probes."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from edgeprof.agent.spec import PowerSettings

FIXTURES = Path(__file__).parent / "fixtures"
BIN = FIXTURES / "bin"


@pytest.fixture()
def tree(tmp_path: Path):
    """Copy a named fixture tree into tmp_path (so a test may move its counters) and return its root."""

    def copy(name: str) -> Path:
        root = tmp_path / name
        shutil.copytree(FIXTURES / name, root)
        return root

    return copy


def power_spec(**fields: Any) -> PowerSettings:
    """The RunSpec's power settings with the agent's defaults and short windows, overridden by `fields`."""
    return PowerSettings(**{"seconds": 0.5, "idle_seconds": 0.3, **fields})
