"""Helpers the tests share: repository paths and loopback device profiles."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


REPO = Path(__file__).resolve().parent.parent
DIGITS = REPO / "models" / "digits"


def sshd_env() -> dict[str, str]:
    """The loopback sshd's settings, written by scripts/sshd_loopback.sh (started by scripts/test.sh)."""
    run_dir = os.environ.get("EDGEPROF_TEST_SSHD_DIR")
    env_file = Path(run_dir) / "env" if run_dir else None
    if env_file is None or not env_file.is_file():
        if os.environ.get("CI"):
            pytest.fail("the loopback sshd is not running: run the tests through scripts/test.sh")
        pytest.skip("no loopback sshd (run the tests through scripts/test.sh)")
    values: dict[str, str] = {}
    for line in env_file.read_text().splitlines():
        key, sep, value = line.removeprefix("export ").partition("=")
        if sep:
            values[key.strip()] = value.strip().strip("'\"")
    return values
