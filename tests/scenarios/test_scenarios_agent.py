"""The offline and server scenarios run by the real agent zipapp on the local device with the digits model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from onnx import TensorProto, helper, numpy_helper

from tests.agent.conftest import run_agent, save, spec_for
from tests.support import DIGITS

MODEL = DIGITS / "digits-fp32.onnx"


def test_offline_sweeps_batches_and_threads() -> None:
    scenario = {"name": "offline", "batches": [1, 8], "threads": [1, 2], "seconds": 0.2}
    result = run_agent(spec_for(MODEL, scenario=scenario)).result
    section = result["scenario"]
    assert section["name"] == "offline" and section["method"] == "measured"
    assert section["settings"]["batches"] == [1, 8] and section["batch_dim"] == "dynamic"
    points = {(p["threads"], p["batch"]): p for p in section["points"]}
    assert set(points) == {(1, 1), (1, 8), (2, 1), (2, 8)}
    for point in points.values():
        assert point["runs"] >= 3 and point["inferences_per_s"] > 0
        assert point["batch_latency_ms"]["p50"] <= point["batch_latency_ms"]["p99"]
    assert section["offline_ips"] == max(p["inferences_per_s"] for p in points.values())
    # batching amortises the per-call overhead of a tiny model
    assert points[(1, 8)]["inferences_per_s"] > points[(1, 1)]["inferences_per_s"]


def test_server_at_a_target_qps_and_the_max_qps_search() -> None:
    scenario = {"name": "server", "target_qps": 300, "seconds": 2.0, "find_max_qps": True, "p99_bound_ms": 50.0,
                "search_point_seconds": 0.5, "search_seconds": 8.0}
    result = run_agent(spec_for(MODEL, scenario=scenario)).result
    section = result["scenario"]
    run = section["run"]
    assert run["target_qps"] == 300 and run["result"] == "VALID", run["invalid_reasons"]
    assert 450 < run["queries"] < 800 and abs(run["achieved_qps"] - 300) < 75
    assert run["p50_ms"] <= run["p99_ms"] <= run["p99_early_stopping_ms"] <= 50.0
    search = section["max_qps_search"]
    assert search["tried"] and search["seconds"] < 8.0 + 10.0  # one point may overrun the budget
    assert section["max_qps"] == search["max_qps"] and section["max_qps"] > 300
    assert all(t["meets"] == (t["valid"] and t["p99_ms"] <= 50.0) for t in search["tried"])


def test_single_stream_is_named() -> None:
    assert run_agent(spec_for(MODEL)).result["scenario"] == {"name": "single-stream"}


def test_offline_says_when_the_batch_is_fixed(tmp_path: Path) -> None:
    w = numpy_helper.from_array(np.ones((16, 4), np.float32), "w")
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"])], "fixed",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 16])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 4])], [w])
    model = save(graph, tmp_path / "fixed.onnx")
    result = run_agent(spec_for(model, scenario={"name": "offline", "batches": [1, 4], "seconds": 0.05})).result
    section = result["scenario"]
    assert section["batch_dim"] == "fixed" and section["batches"] == [2]
    assert [p["batch"] for p in section["points"]] == [2]
    assert any("batch dimension is fixed at 2" in w for w in result["warnings"])
