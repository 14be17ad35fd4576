"""The agent as the host runs it: a real zipapp in a subprocess, real ONNX Runtime, the JSON-lines protocol."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest

from edgeprof.agent.spec import EVENTS, MEASURING, RESULT_SECTIONS, STAGES, Event
from edgeprof.agent_bundle import build_agent
from tests.agent.conftest import spec_for
from tests.models.onnx_graphs import dynamic_length, gather_table


def test_result_has_every_section(agent: Callable[..., Any], models: dict[str, Path]) -> None:
    run = agent(spec_for(models["mlp"], input_shapes={"x": [4, 16]}))
    assert run.code == 0, run.stderr
    assert run.events[0]["event"] == Event.HELLO and {e["event"] for e in run.events} <= set(EVENTS)
    assert {e["stage"] for e in run.events if e["event"] == Event.PROGRESS} <= set(STAGES)
    result = run.result
    assert list(result) == [*RESULT_SECTIONS, "timing"] and set(result["timing"]["stages"]) <= set(MEASURING)
    latency = result["latency"]
    assert latency["method"] == "measured"
    assert latency["load_ms"] > 0 and latency["first_ms"] > 0
    assert latency["samples"] == len(latency["samples_ms"]) >= 20
    assert latency["p50_ms"] <= latency["p90_ms"] <= latency["p95_ms"] <= latency["p99_ms"] <= latency["max_ms"]
    lo, hi = latency["ci"]["p95"]
    assert lo <= latency["p95_ms"] <= hi
    assert latency["stop_reason"] in ("precision", "max_runs", "max_seconds")
    assert result["inputs"] == [{"name": "x", "shape": [4, 16], "dtype": "float32", "source": "random(seed=0)",
                                 "range": None}]
    memory = result["memory"]
    assert memory["peak_rss_mb"] >= memory["after_first_rss_mb"] >= memory["baseline_rss_mb"] > 0
    assert result["runtime"]["name"] == "onnxruntime" and result["runtime"]["threads"]["intra_op"] == 1
    assert result["system"]["python"] == sys.version.split()[0]
    assert result["power"] is None


def test_dynamic_dims_default_to_one_with_a_warning_but_a_batch_dim_silently(
        agent: Callable[..., Any], models: dict[str, Path], tmp_path: Path) -> None:
    run = agent(spec_for(dynamic_length(tmp_path / "seq.onnx")))
    warnings = [e["message"] for e in run.events if e["event"] == "warning"]
    assert any("dynamic dims [None, None]" in w and "--input-shape x=" in w for w in warnings)
    assert run.result["inputs"][0]["shape"] == [1, 1]
    batch_only = agent(spec_for(models["mlp"]))
    assert not [e for e in batch_only.events if e["event"] == "warning" and "dynamic dims" in e["message"]]
    assert batch_only.result["inputs"][0]["shape"] == [1, 16]


def test_int_bool_scalar_inputs_and_two_outputs(agent: Callable[..., Any], models: dict[str, Path]) -> None:
    result = agent(spec_for(models["mixed"], inputs={"ranges": {"ids": [3, 7]}})).result
    assert [(i["name"], i["dtype"], i["shape"], i["range"]) for i in result["inputs"]] == [
        ("ids", "int64", [1, 8], [3, 7]), ("mask", "bool", [1, 8], None), ("scale", "float32", [], None)]


def test_dataset_timing_feeds_the_timed_runs_batches_of_the_real_samples(agent: Callable[..., Any],
                                                                         tmp_path: Path) -> None:
    model, data = gather_table(tmp_path / "gather.onnx"), tmp_path / "d.npz"
    np.savez(data, ids=np.random.default_rng(0).integers(0, 5, (10, 3)), y=np.arange(10))
    dataset = {"path": str(data), "sha256": hashlib.sha256(data.read_bytes()).hexdigest()}
    run = agent(spec_for(model, dataset=dataset, inputs={"timing": "dataset"}, input_shapes={"ids": [2, 3]}))
    assert run.code == 0, run.final
    assert run.result["inputs"] == [{"name": "ids", "shape": [2, 3], "dtype": "int64", "source": "dataset",
                                     "samples": 10, "batches": 5, "range": None}]
    assert run.result["latency"]["samples"] > 0 and run.result["accuracy"]["samples"] == 10


@pytest.mark.parametrize(
    ("mutate", "kind", "text"),
    [
        (lambda s, m: s.update(input_shapes={"nope": [1]}), "input", "unknown inputs ['nope']"),
        (lambda s, m: s.update(input_shapes={"x": [1, 2, 3]}), "input", "rank 2"),
        (lambda s, m: s.update(model=spec_for(m["mixed"])["model"]), "input",
         "input 'ids' takes int64 values whose range edgeprof cannot read from the model: give it with "
         "--input-range ids=LO:HI"),
        (lambda s, m: s.update(inputs={"ranges": {"x": [0, 9]}}), "input", "--input-range x: the input takes float32"),
        (lambda s, m: s["model"].update(sha256="0" * 64), "integrity", "does not match its sha256"),
        (lambda s, m: s.update(spec_version=9), "spec", "unsupported spec_version"),
        (lambda s, m: s.update(model={"path": str(m["custom"]), "format": "onnx"}), "model_load", "FancyOp"),
    ],
)
def test_structured_errors(agent: Callable[..., Any], models: dict[str, Path], mutate: Callable[..., None],
                           kind: str, text: str) -> None:
    spec = spec_for(models["mlp"])
    mutate(spec, models)
    run = agent(spec)
    assert run.code == 1
    assert run.final["event"] == "error" and run.final["kind"] == kind
    assert text in run.final["message"]


def test_malformed_spec_line(models: dict[str, Path]) -> None:
    proc = subprocess.run([sys.executable, str(build_agent().path)], input="{not json\n", capture_output=True,
                          text=True, timeout=60)
    final = json.loads(proc.stdout.strip().splitlines()[-1])
    assert (final["event"], final["kind"]) == ("error", "spec")


def test_agent_exits_when_the_host_goes_away(models: dict[str, Path]) -> None:
    spec = spec_for(models["mlp"], latency={"min_runs": 10, "max_runs": 10**7, "min_seconds": 60,
                                             "max_seconds": 60, "warmup_max": 5})
    proc = subprocess.Popen([sys.executable, str(build_agent().path)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdin and proc.stdout
    proc.stdin.write(json.dumps(spec) + "\n")
    proc.stdin.flush()
    for line in proc.stdout:
        if json.loads(line).get("stage") == "latency":
            break
    start = time.monotonic()
    proc.stdin.close()
    assert proc.wait(timeout=10) == 75
    assert time.monotonic() - start < 10


def test_a_hanging_inference_is_stopped_naming_the_stage(agent: Callable[..., Any], models: dict[str, Path]) -> None:
    start = time.monotonic()
    run = agent(spec_for(models["endless"], timeouts={"load_s": 60, "stage_s": 2}))
    assert run.final["event"] == "error" and run.final["kind"] == "timeout"
    assert run.final["stage"] == "first" and "longer than 2 s" in run.final["message"]
    assert run.code == 1 and time.monotonic() - start < 30


def test_device_lock_refuses_a_second_run(agent: Callable[..., Any], models: dict[str, Path], tmp_path: Path) -> None:
    import fcntl

    lock = tmp_path / "device.lock"
    with lock.open("w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        held.write(json.dumps({"pid": 4242, "host": "other-host", "since": "2026-11-29T00:00:00Z"}))
        held.flush()
        run = agent(spec_for(models["mlp"], lock={"path": str(lock), "wait_s": 0.5}))
    assert run.final["kind"] == "busy" and "pid 4242 on other-host" in run.final["message"]
    # once the holder is gone (as after a crash or a reboot) the lock is simply taken
    assert agent(spec_for(models["mlp"], lock={"path": str(lock), "wait_s": 0.5})).code == 0


def test_op_profile_aggregates_by_type_and_node(agent: Callable[..., Any], models: dict[str, Path]) -> None:
    profile = agent(spec_for(models["mlp"], op_profile=True)).result["op_profile"]
    ops = {row["op"] for row in profile["by_op_type"]}
    assert {"MatMul", "Softmax"} <= ops
    assert abs(sum(row["share"] for row in profile["by_op_type"]) - 1.0) < 1e-6


def test_doctor_reports_runtimes() -> None:
    proc = subprocess.run([sys.executable, str(build_agent().path), "--doctor"], capture_output=True, text=True,
                          timeout=60)
    facts = json.loads(proc.stdout)
    assert facts["runtimes"]["onnxruntime"] and facts["numpy"] and facts["python"]
