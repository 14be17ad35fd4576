"""Fleet wall time against the sum of per-device times: 4 loopback SSH devices (each its own work dir, so its own
device lock), the digits model, short latency budgets. Prints the figures.

    .venv/bin/python scripts/bench_fleet.py [--devices 4] [--sshd-dir DIR]

Uses the loopback sshd of $EDGEPROF_TEST_SSHD_DIR, or starts one with scripts/sshd_loopback.sh (and stops it).
Each device is measured cold (fresh work dir: agent and model uploaded) in both passes.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from edgeprof.artifacts import load_artifact  # noqa: E402
from edgeprof.deploy import DeployOptions, LatencyBudget, deploy_device, run_deploy  # noqa: E402
from edgeprof.devices import load_profile  # noqa: E402
from tests.support import trust_loopback_host, write_loopback_profile  # noqa: E402

SSHD = REPO / "scripts" / "sshd_loopback.sh"
OPTIONS = DeployOptions(latency=LatencyBudget(min_runs=20, max_runs=300, min_seconds=0.2, max_seconds=0.5),
                        power_seconds=0.3, idle_seconds=0.2, with_reference=False)


def read_env(run_dir: Path) -> dict[str, str]:
    pairs = (line.removeprefix("export ").split("=", 1) for line in (run_dir / "env").read_text().splitlines())
    return {k: v.strip("'\"") for k, v in pairs}


def fresh_profiles(root: Path, sshd: dict[str, str], count: int) -> list[str]:
    """`count` loopback profiles under root, each in its own directory (a cold work dir every call)."""
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    known_hosts = trust_loopback_host(root / "known_hosts", sshd)
    names = [f"bench-{i}" for i in range(count)]
    for name in names:
        write_loopback_profile(root / name, sshd, name=name, known_hosts=known_hosts)
    os.environ["EDGEPROF_DEVICE_PATH"] = os.pathsep.join(str(root / n) for n in names)
    return names


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=4)
    parser.add_argument("--sshd-dir", type=Path, default=None)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-fleet-"))
    run_dir = args.sshd_dir or (Path(os.environ["EDGEPROF_TEST_SSHD_DIR"]) if os.environ.get("EDGEPROF_TEST_SSHD_DIR")
                                else None)
    started = run_dir is None
    if started:
        run_dir = work / "sshd"
        subprocess.run(["bash", str(SSHD), "start", str(run_dir)], check=True, capture_output=True)
    try:
        sshd = read_env(run_dir)
        artifacts = [load_artifact(REPO / "models" / "digits" / "digits-fp32.onnx")]
        quiet = lambda device, label, event: None  # noqa: E731

        names = fresh_profiles(work / "seq", sshd, args.devices)
        per_device = []
        for name in names:
            start = time.perf_counter()
            deploy_device(load_profile(name), artifacts, OPTIONS, quiet)
            per_device.append(time.perf_counter() - start)

        names = fresh_profiles(work / "fleet", sshd, args.devices)
        start = time.perf_counter()
        results, failures = run_deploy([load_profile(n) for n in names], artifacts, OPTIONS, quiet)
        wall = time.perf_counter() - start
        if failures or len(results) != args.devices:
            raise SystemExit(f"fleet run failed: {failures}")
    finally:
        if started:
            subprocess.run(["bash", str(SSHD), "stop", str(run_dir)], check=False)
        shutil.rmtree(work, ignore_errors=True)
    total = sum(per_device)
    print(f"devices: {args.devices} loopback SSH (host cores: {os.cpu_count()})")
    print("per-device times (s, one at a time): " + ", ".join(f"{t:.2f}" for t in per_device))
    print(f"sum of per-device times: {total:.2f} s")
    print(f"fleet wall time (all concurrent): {wall:.2f} s  ({total / wall:.2f}x faster than one at a time)")


if __name__ == "__main__":
    main()
