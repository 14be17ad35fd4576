"""scripts/bench_generate.py (the README's harness-vs-bare generation figures) still runs, at its smallest setting."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.generative


def test_bench_generate_runs_and_prints_its_ratios(smollm: Path) -> None:
    done = subprocess.run([sys.executable, "scripts/bench_generate.py", "--model", str(smollm), "--rounds", "1",
                           "--max-tokens", "2"], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    for name in ("TTFT", "TPOT"):
        assert re.search(rf"{name} p50 harness / bare: [\d.]+", done.stdout), done.stdout
