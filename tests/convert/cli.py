"""The real CLI in a subprocess for the convert tests, with a private cache (the local device's work dir)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

FAST = ["--min-runs", "10", "--max-runs", "100", "--min-seconds", "0.1", "--max-seconds", "0.5",
        "--power-seconds", "0.2"]


def edgeprof(*args: str | Path, cache: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "EDGEPROF_CACHE": str(cache)}
    return subprocess.run([sys.executable, "-m", "edgeprof", *map(str, args)], capture_output=True, text=True,
                          env=env, timeout=timeout)


def deploy(*args: str | Path, cache: Path) -> list[dict[str, Any]]:
    """`deploy --json` that must succeed; its Results."""
    proc = edgeprof("deploy", "--json", *FAST, *args, cache=cache)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)
