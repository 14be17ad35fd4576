#!/usr/bin/env python3
"""CLI start-up against `python -c "import numpy"`: interleaved rounds, median of the per-round ratios (target <= 3x).

    .venv/bin/python scripts/bench_startup.py [--rounds 11]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

COMMANDS = {"edgeprof --help": ["-m", "edgeprof", "--help"], "edgeprof runs list": ["-m", "edgeprof", "runs", "list"]}
FLOOR = ["-c", "import numpy"]


def wall(args: list[str], cwd: str) -> float:
    """Seconds one Python process with these arguments takes, start to exit."""
    start = time.perf_counter()
    subprocess.run([sys.executable, *args], cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=11)
    args = parser.parse_args()
    cwd = tempfile.mkdtemp(prefix="bench-startup-")  # `runs list` on an empty directory: no store, a fast error
    ratios: dict[str, list[float]] = {name: [] for name in COMMANDS}
    floors = []
    for _ in range(args.rounds):
        floor = wall(FLOOR, cwd)
        floors.append(floor)
        for name, command in COMMANDS.items():
            ratios[name].append(wall(command, cwd) / floor)
    print(f"host: {os.cpu_count()} cores, Python {sys.version.split()[0]}; {args.rounds} interleaved rounds")
    print(f"python -c 'import numpy': median {statistics.median(floors):.3f} s")
    for name, values in ratios.items():
        print(f"{name}: median {statistics.median(values):.2f}x the numpy floor (target <= 3x)")
    Path(cwd).rmdir()


if __name__ == "__main__":
    main()
