#!/usr/bin/env python3
"""How much the agent's measuring costs, and how many samples its stopping rule needs. Prints figures.

1. Timing bias: the agent's steady-state sampler (`steady_state` on `runtime.timed(feeds)`, as the agent runs
   it) against a truly bare loop written here, on the runtime's own object: `session.run(None, feeds)` for
   ONNX, `interpreter.invoke()` after one `set_tensor` for TFLite; interleaved rounds, median of the per-round
   p50 ratios (target: within 1%). Also the copy cost the agent reports apart and the zipapp's own p50.
2. Stopping rule: the p95 precision a fixed 1000-run loop reaches, and how many samples the stopping rule
   needs to reach the same precision and the default 2% (min_seconds set to 0 to isolate the rule: with
   the default min_seconds = 1 a microsecond model hits max_runs first).

    .venv/bin/python scripts/bench_overhead.py [--models models/] [--rounds 21] [--calls 500] [--pattern '*fp32*']

Uses the shipped models under models/ if there are any, else builds two tiny ONNX models (an MLP and a
small conv net) in a temporary directory.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from edgeprof.agent import stats  # noqa: E402
from edgeprof.agent.backends import open_runtime  # noqa: E402
from edgeprof.agent.inputs import make_feeds  # noqa: E402
from edgeprof.agent.probes.latency import copy_ms, steady_state  # noqa: E402
from edgeprof.agent.run import _guarded  # noqa: E402
from edgeprof.agent.spec import LatencyBudget  # noqa: E402
from edgeprof.agent_bundle import build_agent  # noqa: E402


def tiny_models(directory: Path) -> list[Path]:
    """An MLP (microseconds per call) and a small conv net (about a millisecond), built with onnx.helper."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)

    def weight(name: str, *shape: int) -> onnx.TensorProto:
        return numpy_helper.from_array((rng.standard_normal(shape) * 0.1).astype(np.float32), name)

    def save(graph: onnx.GraphProto, name: str) -> Path:
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
        model.ir_version = 8
        onnx.save(model, str(directory / name))
        return directory / name

    mlp = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w1"], ["h"]), helper.make_node("Add", ["h", "b1"], ["hb"]),
         helper.make_node("Relu", ["hb"], ["r"]), helper.make_node("MatMul", ["r", "w2"], ["o"]),
         helper.make_node("Softmax", ["o"], ["y"])], "mlp",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 64])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10])],
        [weight("w1", 64, 128), weight("b1", 128), weight("w2", 128, 10)])
    conv = helper.make_graph(
        [helper.make_node("Conv", ["x", "k1"], ["c1"], pads=[1, 1, 1, 1]), helper.make_node("Relu", ["c1"], ["r1"]),
         helper.make_node("Conv", ["r1", "k2"], ["c2"], pads=[1, 1, 1, 1], strides=[2, 2]),
         helper.make_node("Relu", ["c2"], ["r2"]), helper.make_node("GlobalAveragePool", ["r2"], ["g"]),
         helper.make_node("Flatten", ["g"], ["f"]), helper.make_node("MatMul", ["f", "w"], ["y"])], "conv",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 64, 64])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10])],
        [weight("k1", 16, 3, 3, 3), weight("k2", 32, 16, 3, 3), weight("w", 32, 10)])
    return [save(mlp, "tiny-mlp.onnx"), save(conv, "tiny-conv.onnx")]


def bare_loop(run_once: Callable[[], Any], calls: int) -> np.ndarray:
    """The reference: nothing but perf_counter_ns around the runtime call."""
    clock = time.perf_counter_ns
    out = np.empty(calls)
    for i in range(calls):
        t0 = clock()
        run_once()
        out[i] = clock() - t0
    return out / 1e6


def agent_loop(run_once: Callable[[], Any], calls: int) -> np.ndarray:
    """The agent's sampler as run.py drives it (guarded phase, budget checks), fixed at `calls` runs."""
    budget = LatencyBudget(min_runs=calls, max_runs=calls, max_seconds=1e9, target_rel_halfwidth=0.0)
    samples, _, _ = _guarded(lambda: steady_state(run_once, budget, lambda d, t: None), "latency")()
    return samples


def p95_halfwidth(samples: np.ndarray) -> float:
    """The relative half-width of the 95% CI of p95."""
    return stats.relative_halfwidth(np.sort(samples), 0.95, 0.95)


def zipapp_p50(model: Path) -> float:
    """The p50 the agent zipapp reports, run the way the host runs it (spec on stdin)."""
    spec = {"spec_version": 1, "threads": 1, "power": {"method": "none"},
            "model": {"path": str(model), "format": model.suffix[1:],
                      "sha256": hashlib.sha256(model.read_bytes()).hexdigest()},
            "latency": {"max_seconds": 5.0, "min_seconds": 2.0}}
    proc = subprocess.Popen([sys.executable, str(build_agent().path)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdin and proc.stdout
    proc.stdin.write(json.dumps(spec) + "\n")
    proc.stdin.flush()
    final: dict[str, Any] = {}
    for line in proc.stdout:
        final = json.loads(line)
        if final["event"] in ("result", "error"):
            break
    proc.stdin.close()
    proc.wait(60)
    if final.get("event") != "result":
        raise SystemExit(f"the agent failed on {model}: {final}")
    return float(final["result"]["latency"]["p50_ms"])


def bare_call(runtime: Any, feeds: dict[str, np.ndarray]) -> Callable[[], Any]:
    """The runtime's own call, reached here without the agent: ONNX `session.run`, TFLite `invoke` (inputs set
    once, as a hand-written benchmark would)."""
    if hasattr(runtime, "_session"):
        return functools.partial(runtime._session.run, None, feeds)
    interp = runtime._interp
    for detail in interp.get_input_details():
        interp.set_tensor(detail["index"], feeds[detail["name"]])
    return interp.invoke


def bench_model(model: Path, rounds: int, calls: int) -> None:
    runtime = open_runtime(str(model), model.suffix[1:], 1)
    feeds, _ = make_feeds(runtime.inputs, {}, 0, lambda message: None)

    run_once = runtime.timed(feeds)  # the call the agent times
    bare = bare_call(runtime, feeds)

    bare_loop(run_once, 1000)  # warm-up
    ratios, bare_p50s = [], []
    for round_ in range(rounds):  # alternate which loop goes first, so neither always follows the other
        if round_ % 2:
            agent = float(np.median(agent_loop(run_once, calls)))
            bare_p50 = float(np.median(bare_loop(bare, calls)))
        else:
            bare_p50 = float(np.median(bare_loop(bare, calls)))
            agent = float(np.median(agent_loop(run_once, calls)))
        bare_p50s.append(bare_p50)
        ratios.append(agent / bare_p50)
    ratio = float(np.median(ratios))
    bare_p50 = float(np.median(bare_p50s))
    print(f"\n{model.name}: bare p50 {bare_p50 * 1000:.2f} us ({rounds} interleaved rounds of {calls} calls)")
    print(f"  agent sampler p50 / bare p50: median {ratio:.4f} ({(ratio - 1) * 100:+.2f}%), "
          f"IQR {np.percentile(ratios, 25):.3f}-{np.percentile(ratios, 75):.3f}  [target within 1%: "
          f"{'met' if abs(ratio - 1) <= 0.01 else 'NOT met'}]")
    copy = copy_ms(runtime.copies(feeds))
    print(f"  copies kept out of the timed call: {'none' if copy is None else f'{copy * 1000:.2f} us'}")
    print(f"  zipapp-reported p50 {zipapp_p50(model) * 1000:.2f} us (own process; includes its placement noise)")

    fixed = [p95_halfwidth(bare_loop(run_once, 1000)) for _ in range(3)]
    same = float(np.median(fixed))
    print(f"  fixed 1000 runs: p95 CI half-width {', '.join(f'{w * 100:.2f}%' for w in fixed)}")
    for label, target in (("the fixed loop's median precision", same), ("the default 2%", 0.02)):
        needed, reached = [], []
        for _ in range(3):
            budget = LatencyBudget(min_seconds=0.0, max_seconds=30.0, max_runs=100_000,
                          target_rel_halfwidth=target)
            samples, reason, _ = steady_state(run_once, budget, lambda d, t: None)
            needed.append(f"{len(samples)}{'' if reason == 'precision' else ' (' + reason + ')'}")
            reached.append(p95_halfwidth(samples))
        print(f"  stopping rule to {label} ({target * 100:.2f}%): {', '.join(needed)} samples "
              f"(reached {', '.join(f'{w * 100:.2f}%' for w in reached)})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=Path, default=REPO / "models")
    parser.add_argument("--rounds", type=int, default=21)
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--pattern", default="*", help="glob on model file names, e.g. '*fp32*'")
    args = parser.parse_args()
    shipped = sorted(p for p in args.models.rglob(args.pattern) if p.suffix in (".onnx", ".tflite")) \
        if args.models.is_dir() else []
    with tempfile.TemporaryDirectory() as scratch:
        models = shipped or tiny_models(Path(scratch))
        print(f"edgeprof agent overhead, python {sys.version.split()[0]}, models: "
              f"{'shipped' if shipped else 'tiny, built for this run'}")
        for model in models:
            bench_model(model, args.rounds, args.calls)


if __name__ == "__main__":
    main()
