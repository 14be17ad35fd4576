#!/usr/bin/env python3
"""Benchmark the accelerators this machine offers, through the real agent zipapp, and print the figures.

For each Python given (a device's interpreter: the main .venv has the CPU build of onnxruntime and LiteRT, and
.venv-openvino has onnxruntime-openvino; a GPU build adds CUDA and TensorRT), every provider or delegate that
Python offers is measured on each shipped model: p50/p95, load, compile cold (empty cache) and cached (second
run, same cache), and placement (nodes per provider or delegate, fallback nodes).

Usage: .venv/bin/python scripts/bench_accel.py [--python .venv/bin/python --python .venv-openvino/bin/python]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from edgeprof.agent.spec import (  # noqa: E402
    FINAL_EVENTS,
    Accelerator,
    LatencyBudget,
    ModelFile,
    RunSpec,
    RuntimeSettings,
)
from edgeprof.agent_bundle import build_agent  # noqa: E402
from edgeprof.artifacts import sha256_file  # noqa: E402

MODELS = [REPO / "models" / "digits" / "digits-fp32.onnx", REPO / "models" / "mobilenetv2" / "mobilenetv2-fp32.onnx",
          REPO / "models" / "mobilenetv2" / "mobilenetv2-int8-static.onnx",
          REPO / "models" / "mobilenetv2" / "mobilenetv2-fp32.tflite",
          REPO / "models" / "mobilenetv2" / "mobilenetv2-int8-static.tflite"]
# The configurations worth measuring for each accelerator a device reports (one list each, in order).
CONFIGS = {"CPUExecutionProvider": ("cpu",), "OpenVINOExecutionProvider": ("openvino:device_type=CPU", "cpu"),
           "CUDAExecutionProvider": ("cuda", "cpu"), "TensorrtExecutionProvider": ("tensorrt", "cuda", "cpu"),
           "xnnpack": ("xnnpack",)}
BUDGET = LatencyBudget(min_runs=200, max_runs=5000, min_seconds=1.0, max_seconds=5.0)


def agent(python: str, *args: str, spec: RunSpec | None = None) -> dict:
    """Run the agent zipapp with this Python: the --doctor facts, or one RunSpec's result (stdin stays open until
    the final line, as the host keeps it: EOF tells the agent its host is gone)."""
    command = [python, str(build_agent().path), *args]
    if spec is None:
        return json.loads(subprocess.run(command, capture_output=True, text=True, timeout=120).stdout)
    with subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                          text=True) as proc:
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(spec.to_json() + "\n")
        proc.stdin.flush()
        final = next(e for e in map(json.loads, proc.stdout) if e["event"] in FINAL_EVENTS)
        proc.stdin.close()
    if final["event"] != "result":
        raise SystemExit(f"bench_accel: {python}: {final.get('kind')}: {final.get('message')}")
    return final["result"]


def configurations(python: str) -> list[tuple[str, tuple[str, ...]]]:
    """(format, accelerator list) for every accelerator this Python offers, plus the TFLite built-in kernels."""
    offered = [a["name"] for a in agent(python, "--doctor").get("accelerators", [])]
    found = [("tflite" if name == "xnnpack" else "onnx", CONFIGS[name]) for name in offered if name in CONFIGS]
    return found + ([("tflite", ("none",))] if "xnnpack" in offered else [])


def run(python: str, model: Path, accelerators: tuple[str, ...], cache: str) -> dict:
    from edgeprof.accelerators import parse_accelerators

    chosen: tuple[Accelerator, ...] = parse_accelerators(",".join(accelerators), "bench")
    fmt = model.suffix[1:]
    runtime = RuntimeSettings(providers=chosen if fmt == "onnx" else None,
                              delegates=chosen if fmt == "tflite" else None, cache_dir=cache)
    spec = RunSpec(model=ModelFile(str(model), fmt, sha256_file(model)), threads=1,
                   latency=BUDGET, runtime=runtime)
    return agent(python, spec=spec)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", action="append", help="a device Python (repeatable)")
    pythons = parser.parse_args().python or [p for p in (str(REPO / ".venv/bin/python"),
                                                         str(REPO / ".venv-openvino/bin/python")) if Path(p).exists()]
    print(f"{'python':<16} {'model':<30} {'accelerators':<28} {'p50 ms':>8} {'p95 ms':>8} {'load ms':>8} "
          f"{'compile cold/cached ms':>22}  placement")
    for python in pythons:
        for fmt, accelerators in configurations(python):
            for model in (m for m in MODELS if m.suffix[1:] == fmt):
                with tempfile.TemporaryDirectory() as cache:
                    cold = run(python, model, accelerators, cache)
                    warm = run(python, model, accelerators, cache)
                lat, placement = warm["latency"], warm["placement"]
                compiles = [r["runtime"]["compile"] for r in (cold, warm)]
                compile_text = "-" if not compiles[0] else \
                    f"{compiles[0]['ms']:.1f} / {compiles[1]['ms']:.1f} ({compiles[1]['cache']})"
                where = ", ".join(f"{e['name']} {e['nodes']}" for e in placement["by_accelerator"])
                print(f"{Path(python).parent.parent.name:<16} {model.name:<30} {','.join(accelerators):<28} "
                      f"{lat['p50_ms']:>8.4f} {lat['p95_ms']:>8.4f} {lat['load_ms']:>8.1f} {compile_text:>22}  "
                      f"{where}; fallback {placement['fallback_count']}")


if __name__ == "__main__":
    main()
