#!/usr/bin/env python3
"""Benchmark `edgeprof deploy` over real SSH (a loopback OpenSSH server) and print the figures.

- wall time of the whole `edgeprof deploy` against the agent's own measuring time (target: <= 1.3x)
- bytes sent on the first and the second deploy of the same model (second: 0)
- the agent's peak RSS minus a bare python + numpy + runtime + model process (target: <= 15 MB)
- fixed overhead: deploy wall time minus the Result's `timing.measure_s`, against the floor (a bare
  `python -c "import numpy, onnxruntime; InferenceSession(M).run(...)"`) on the local device and over the same
  SSH connection on the loopback device, interleaved, medians of the per-round ratios (target: <= 2x)

Usage: .venv/bin/python scripts/bench_deploy.py [--model models/mobilenetv2/mobilenetv2-fp32.onnx] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from edgeprof.artifacts import sha256_file  # noqa: E402
from tests.support import trust_loopback_host, write_loopback_profile  # noqa: E402

BARE = """
import sys, numpy as np, onnxruntime as ort
opts = ort.SessionOptions(); opts.intra_op_num_threads = 1; opts.inter_op_num_threads = 1
s = ort.InferenceSession(sys.argv[1], opts, providers=["CPUExecutionProvider"])
feeds = {i.name: np.random.default_rng(0).standard_normal([d if isinstance(d, int) else 1 for d in i.shape])
         .astype(np.float32) for i in s.get_inputs()}
for _ in range(200):
    s.run(None, feeds)
print([l for l in open("/proc/self/status") if l.startswith("VmHWM")][0].split()[1])
"""


FLOOR = """
import sys, numpy as np, onnxruntime as ort
s = ort.InferenceSession(sys.argv[1], providers=["CPUExecutionProvider"])
s.run(None, {i.name: np.zeros([d if isinstance(d, int) else 1 for d in i.shape], np.float32) for i in s.get_inputs()})
"""


def agent_measuring_s(result: dict) -> float:
    """The seconds the agent spent measuring (the Result's `timing.measure_s`)."""
    return result["timing"]["measure_s"]


def deploy_once(device: str, model: Path, store: Path, env: dict[str, str]) -> tuple[float, dict]:
    """Wall time of one `edgeprof deploy --json` and its one Result."""
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "edgeprof", "deploy", "--device", device, "--json",
                           "--model", str(model), "--store", str(store)], capture_output=True, text=True, env=env)
    wall = time.perf_counter() - start
    if proc.returncode not in (0, 1):
        raise SystemExit(proc.stderr)
    (result,) = json.loads(proc.stdout)
    return wall, result


def floor_ratios(work: Path, model: Path, env: dict[str, str], rounds: int) -> None:
    """(deploy wall - measure_s) / floor, local and over loopback SSH, interleaved; prints the medians."""
    from edgeprof.devices import load_profile
    from edgeprof.transport import open_transport

    os.environ.update(env)
    profile = load_profile("bench")
    ssh = open_transport(profile.name, profile.kind, profile.connection)
    ssh.connect()
    ratios: dict[str, list[float]] = {"local": [], "ssh": []}
    try:
        remote_model = ssh.put_file(model, sha256_file(model), ".onnx").remote_path
        for _ in range(rounds):
            for device in ("local", "ssh"):
                start = time.perf_counter()
                if device == "local":
                    subprocess.run([sys.executable, "-c", FLOOR, str(model)], check=True, capture_output=True)
                else:
                    assert ssh.run([profile.connection.python, "-c", FLOOR, remote_model]).exit_code == 0
                floor = time.perf_counter() - start
                wall, result = deploy_once("local" if device == "local" else "bench", model, work / "f.db", env)
                ratios[device].append((wall - agent_measuring_s(result)) / floor)
                print(f"{device}: wall {wall:.2f} s, measure_s {agent_measuring_s(result):.2f} s, floor {floor:.2f} s,"
                      f" (wall - measure_s) / floor {ratios[device][-1]:.2f}x")
    finally:
        ssh.close()
    for device, values in ratios.items():
        print(f"fixed overhead / floor, {device}: median {statistics.median(values):.2f}x over {rounds} rounds "
              f"(range {min(values):.2f}-{max(values):.2f}x; target <= 2x)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=lambda text: Path(text).resolve(),
                        default=REPO / "models" / "mobilenetv2" / "mobilenetv2-fp32.onnx")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="edgeprof-bench-"))
    subprocess.run(["bash", str(REPO / "scripts" / "sshd_loopback.sh"), "start", str(work / "sshd")], check=True,
                   stdout=subprocess.DEVNULL)
    try:
        sshd = dict(line.split("=", 1) for line in (work / "sshd" / "env").read_text().split())
        write_loopback_profile(work / "profiles", sshd, name="bench",
                               known_hosts=trust_loopback_host(work / "known_hosts", sshd))
        env = {**os.environ, "EDGEPROF_DEVICE_PATH": str(work / "profiles"), "HOME": str(work)}
        ratios, sent = [], []
        for i in range(args.repeat):
            wall, result = deploy_once("bench", args.model, work / "r.db", env)
            measuring = agent_measuring_s(result)
            ratios.append(wall / measuring)
            sent.append(result["transfer"]["bytes_sent"])
            print(f"deploy {i + 1}: wall {wall:.2f} s, agent measuring {measuring:.2f} s, ratio {wall / measuring:.2f}x,"
                  f" bytes sent {result['transfer']['bytes_sent']}, p50 {result['latency']['p50_ms']:.3f} ms")
        bare = subprocess.run([sys.executable, "-c", BARE, str(args.model)], capture_output=True, text=True,
                              check=True)
        bare_mb = int(bare.stdout.strip()) / 1024
        overhead = result["memory"]["peak_rss_mb"] - bare_mb
        print(f"model: {args.model.relative_to(REPO)} ({args.model.stat().st_size / 1e6:.2f} MB)")
        print(f"bytes sent: first deploy {sent[0]}, later deploys {sent[1:]} (target: 0)")
        print(f"wall / agent measuring time: median {statistics.median(ratios):.2f}x (target <= 1.3x; "
              f"the first deploy also uploads)")
        print(f"agent peak RSS {result['memory']['peak_rss_mb']:.1f} MB - bare process {bare_mb:.1f} MB = "
              f"{overhead:.1f} MB (target <= 15 MB)")
        floor_ratios(work, args.model, env, args.repeat)
    finally:
        subprocess.run(["bash", str(REPO / "scripts" / "sshd_loopback.sh"), "stop", str(work / "sshd")], check=False)


if __name__ == "__main__":
    main()
