"""The per-operator profile comes from its own session: profiling never inflates the timed latency."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest

from edgeprof.agent.backends.base import ProfileUnavailable
from edgeprof.agent.backends.litert_profiler import library_path, profile_events
from edgeprof.agent.backends.tflite import match_partition
from tests.agent.conftest import spec_for
from tests.support import DIGITS

MOBILENETV2 = DIGITS.parent / "mobilenetv2"

PRECISE = {"min_runs": 300, "max_runs": 3000, "min_seconds": 0.3, "max_seconds": 1.0, "warmup_min": 20,
           "warmup_max": 100, "target_rel_halfwidth": 0.0}


def test_profiling_does_not_touch_the_timed_runs(agent: Callable[..., Any], models: dict[str, Path]) -> None:
    plain = agent(spec_for(models["mlp"], latency=PRECISE)).result
    profiled = agent(spec_for(models["mlp"], latency=PRECISE, op_profile=True)).result
    # ORT's profiler makes each call of a small model several times slower; a separate session keeps it out
    assert profiled["latency"]["p50_ms"] < 2.0 * plain["latency"]["p50_ms"], (profiled["latency"]["p50_ms"],
                                                                             plain["latency"]["p50_ms"])
    profile = profiled["op_profile"]
    assert profile["runs"] >= 3 and "separate profiled session" in profile["note"]
    assert [row["node"] for row in profile["by_node"]] and plain["op_profile"] is None


SHIPPED_TFLITE = [MOBILENETV2 / "mobilenetv2-fp32.tflite", MOBILENETV2 / "mobilenetv2-int8-static.tflite",
                  DIGITS / "digits-int8-static.tflite"]


@pytest.mark.parametrize("model", SHIPPED_TFLITE, ids=lambda p: p.stem)
def test_tflite_profile_names_tflite_nodes_and_their_kernels(agent: Callable[..., Any], model: Path) -> None:
    run = agent(spec_for(model, op_profile=True))
    profile = run.result["op_profile"]
    assert profile["method"] == "sensor:litert-profiler" and profile["runs"] >= 3, profile
    assert "separate profiled session" in profile["note"] and "unmatched_partitions" not in profile
    graph = {n["node"]: n["ran_on"] for n in run.result["placement"]["fallback_nodes"]}
    for row in profile["by_node"]:
        # the node is the one the placement names: TFLite op type and index, on the delegate that took it
        assert row["node"] == f"{row['op']}_{row['index']}" and row["op"].isupper(), row
        assert row["provider"] == graph.get(row["node"], "xnnpack"), (row, graph)
        assert row["provider"] != "xnnpack" or row["kernel"], row  # XNNPACK's own operator name
    shares = [r["share"] for r in profile["by_op_type"]]
    assert shares == sorted(shares, reverse=True) and sum(shares) <= 1.0 + 1e-9, shares
    assert {r["op"] for r in profile["by_op_type"]} >= ({"CONV_2D"} if "mobilenet" in model.name else {"SOFTMAX"})


def test_tflite_profile_of_the_builtin_kernels_alone(agent: Callable[..., Any]) -> None:
    spec = spec_for(DIGITS / "digits-fp32.tflite", op_profile=True, runtime={"delegates": [{"name": "none"}]})
    profile = agent(spec).result["op_profile"]
    assert profile["method"] == "sensor:litert-profiler"
    assert {r["provider"] for r in profile["by_node"]} == {"builtin"}
    assert profile["by_op_type"][0]["op"] == "CONV_2D"  # without XNNPACK the convolutions dominate


def test_a_litert_without_the_profiler_api_gives_the_reason(tmp_path: Path) -> None:
    with pytest.raises(ProfileUnavailable, match="2.1.4 predates the profiler C API"):
        library_path(str(tmp_path), "2.1.4")
    with pytest.raises(ProfileUnavailable, match="2.3.0 has no libLiteRt.so"):
        library_path(str(tmp_path), "2.3.0")
    feeds = {"x": np.zeros((1, 8, 8, 1), np.float32)}
    with pytest.raises(ProfileUnavailable, match=r"libLiteRt.so has no profiler \(LiteRtCompiledModelGetProfiler"):
        profile(_loaded("libc.so"), DIGITS / "digits-fp32.tflite", feeds)  # a real library without the profiler


def test_a_profiler_that_crashes_costs_the_profile_only(tmp_path: Path) -> None:
    """A library with the profiler's names and another ABI (one that dereferences what it is given as a handle)
    crashes the child Python that calls it; the caller gets the reason."""
    source = tmp_path / "other_abi.c"
    source.write_text("\n".join(f"int {name}(void) {{ return *(volatile int *)0; }}" for name in
                                 ("LiteRtCompiledModelGetProfiler", "LiteRtStartProfiler", "LiteRtGetProfilerEvents",
                                  "LiteRtCreateEnvironment")) + "\n")
    library = tmp_path / "libLiteRt.so"
    subprocess.run(["cc", "-shared", "-fPIC", "-o", str(library), str(source)], check=True, timeout=60)
    with pytest.raises(ProfileUnavailable, match=r"crashed \(SIGSEGV\) in its own process"):
        profile(str(library), DIGITS / "digits-fp32.tflite", {"x": np.zeros((1, 8, 8, 1), np.float32)})


def profile(library: str, model: Path, feeds: dict[str, np.ndarray]) -> Any:
    return profile_events(library, str(model), 1, feeds, builtin_only=False, seconds=0.1, max_runs=3, timeout=60)


def _loaded(prefix: str) -> str:
    """The path of a shared library this process has mapped."""
    maps = [line.split()[-1] for line in Path("/proc/self/maps").read_text().splitlines() if "/" in line]
    return next(path for path in maps if Path(path).name.startswith(prefix))


def test_xnnpack_operators_match_tflite_nodes_around_inserted_reshapes() -> None:
    names = {0: "CONV_2D", 1: "MEAN", 2: "FULLY_CONNECTED", 3: "RESHAPE"}
    kernels = ["Convolution (NHWC, F32) IGEMM", "Mean (ND) Reduce", "Static Reshape (NC)",
               "Fully Connected (NC, F32) GEMM", "Static Reshape (NC)"]
    # the first reshape is XNNPACK's own, before the fully connected layer; the last is the model's RESHAPE
    assert match_partition(kernels, [0, 1, 2, 3], names) == {0: 0, 1: 1, 2: 2, 3: 2, 4: 3}
    assert match_partition(kernels[:3], [0, 1, 2, 3], names) is None  # fewer operators than nodes
    assert match_partition(kernels + ["Softmax (NC, F32)"], [0, 1, 2, 3], names) is None
