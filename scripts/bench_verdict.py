#!/usr/bin/env python3
"""Time to verdict on the emulated board: where a 4-variant deploy's minutes go. Prints figures.

Boots the QEMU board (`edgeprof emulate up`; left running if it already was, powered off after if this started
it), times the floor on it (a fresh SSH connection and a bare `python -c "import numpy, onnxruntime; ...run()"`
on the fp32 ONNX model, uploaded beforehand), then one `edgeprof deploy` of the four shipped mobilenetv2
variants for each --precision given, and splits each deploy's wall time into sampling (the Results' `latency`
stages), warm-up (`warmup` stages) and the fixed cost (the rest: connection, uploads, the agent's start, model
loads, first inferences, power, the store), with each variant's samples, why it stopped and its p95 half-width.

    .venv/bin/python scripts/bench_verdict.py [--device qemu-pi4] [--precision 0.02 0.05] [--floor-rounds 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from edgeprof.artifacts import sha256_file  # noqa: E402
from scripts.bench_deploy import FLOOR  # noqa: E402

MODELS = [REPO / "models" / "mobilenetv2" / f"mobilenetv2-{variant}"
          for variant in ("fp32.onnx", "int8-static.onnx", "fp32.tflite", "int8-static.tflite")]


def floor_s(device: str, model: Path, rounds: int) -> tuple[float, float]:
    """Median seconds of a fresh SSH connection plus the bare ONNX Runtime run on the board, and of the run alone."""
    from edgeprof.devices import load_profile
    from edgeprof.transport import open_transport

    profile = load_profile(device)
    ssh = open_transport(profile.name, profile.kind, profile.connection)
    ssh.connect()
    try:
        remote = ssh.put_file(model, sha256_file(model), ".onnx").remote_path
    finally:
        ssh.close()
    totals, runs = [], []
    for _ in range(rounds):
        start = time.perf_counter()
        ssh = open_transport(profile.name, profile.kind, profile.connection)
        ssh.connect()
        try:
            connected = time.perf_counter()
            if ssh.run([profile.connection.python, "-c", FLOOR, remote]).exit_code != 0:
                raise SystemExit("the bare onnxruntime run failed on the board")
            end = time.perf_counter()
        finally:
            ssh.close()
        totals.append(end - start)
        runs.append(end - connected)
    return statistics.median(totals), statistics.median(runs)


def deploy(device: str, store: Path, precision: float) -> tuple[float, list[dict]]:
    """Wall seconds of one `edgeprof deploy --json` of the four variants, and their Results."""
    command = [sys.executable, "-m", "edgeprof", "deploy", "--device", device, "--json", "--store", str(store),
               "--precision", str(precision)]
    for model in MODELS:
        command += ["--model", str(model)]
    start = time.perf_counter()
    proc = subprocess.run(command, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode not in (0, 1):
        raise SystemExit(proc.stderr.strip())
    return wall, json.loads(proc.stdout)


def report(precision: float, wall: float, results: list[dict], floor: float) -> None:
    stages = [r["timing"]["stages"] for r in results]
    warmup = sum(s.get("warmup") or 0.0 for s in stages)
    sampling = sum(s.get("latency") or 0.0 for s in stages)
    fixed = wall - warmup - sampling
    print(f"\n--precision {precision}: wall {wall:.1f} s = fixed {fixed:.1f} s + warm-up {warmup:.1f} s + sampling "
          f"{sampling:.1f} s; fixed / (4 x floor) {fixed / (4 * floor):.2f}x")
    for result, stage in zip(results, stages):
        latency = result["latency"]
        half = latency.get("p95_rel_halfwidth")
        interval = (f"+/- {half:.1%} at {latency['ci']['confidence']:.3f}" if half is not None
                    else "(too few samples for an interval)")
        print(f"  {Path(result['model']['path']).name:32s} warm-up {stage.get('warmup') or 0:5.1f} s "
              f"({latency['warmup']['runs']} runs), sampling {stage.get('latency') or 0:5.1f} s: "
              f"{latency['samples']} samples ({latency['pilot_samples']} pilot), stop {latency['stop_reason']}, "
              f"p50 {latency['p50_ms']:.1f} ms, p95 {latency['p95_ms']:.1f} ms {interval}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="qemu-pi4")
    parser.add_argument("--precision", type=float, nargs="+", default=[0.02])
    parser.add_argument("--floor-rounds", type=int, default=3)
    args = parser.parse_args()
    from edgeprof.emulate import vm

    _, was_running = vm.up(args.device)
    try:
        floor, run_only = floor_s(args.device, MODELS[0], args.floor_rounds)
        print(f"{args.device}: floor (SSH connect + bare onnxruntime run of {MODELS[0].name}) {floor:.2f} s, "
              f"the run alone {run_only:.2f} s (median of {args.floor_rounds})")
        with tempfile.TemporaryDirectory(prefix="edgeprof-verdict-") as work:
            for precision in args.precision:
                wall, results = deploy(args.device, Path(work) / "r.db", precision)
                report(precision, wall, results, floor)
    finally:
        if not was_running:
            vm.down(args.device)


if __name__ == "__main__":
    main()
