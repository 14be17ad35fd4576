"""The benchmarks that the README's figures come from still run: each at its smallest setting, on the shipped models.

A figure is only as good as the script that prints it; a script that no longer starts (an API it calls changed) would
leave the README quoting numbers nobody can reproduce. These runs check that each script ends well and prints the
figure lines the README quotes — not the figures themselves, which the scripts measure on purpose-built runs.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def run_script(*args: str, timeout: float = 300) -> str:
    done = subprocess.run([sys.executable, *args], cwd=REPO, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{args[0]} exited {done.returncode}:\n{done.stderr[-3000:]}"
    return done.stdout


@pytest.mark.parametrize(("args", "figure"), [
    (("scripts/bench_stopping.py", "--reps", "3"), r"oracle n \d+"),
    (("scripts/bench_overhead.py", "--rounds", "1", "--calls", "5", "--pattern", "digits-fp32.onnx"),
     r"agent sampler p50 / bare p50: median [\d.]+"),
    (("scripts/bench_startup.py", "--rounds", "1"), r"edgeprof --help: median [\d.]+x the numpy floor"),
    (("scripts/bench_deploy.py", "--repeat", "1", "--model", "models/digits/digits-fp32.onnx"),
     r"fixed overhead / floor, ssh: median [\d.]+x"),
], ids=["stopping", "overhead", "startup", "deploy"])
def test_benchmark_runs_and_prints_its_figures(args: tuple[str, ...], figure: str) -> None:
    assert re.search(figure, run_script(*args)), f"{args[0]} no longer prints {figure!r}"
