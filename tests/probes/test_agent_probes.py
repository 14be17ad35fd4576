"""The power and thermal sections through the real agent zipapp, the way the host receives them."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import pytest
from onnx import TensorProto, helper

from tests.agent.conftest import run_agent, save, spec_for
from tests.probes.conftest import BIN, FIXTURES, power_spec

SECRET = "SECRET-TOKEN-123"


@pytest.fixture(scope="module")
def relu(tmp_path_factory: pytest.TempPathFactory) -> Path:
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "relu",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 8])])
    return save(graph, tmp_path_factory.mktemp("model") / "relu.onnx")


def test_meter_and_pi_thermal_sections_in_the_result(relu: Path) -> None:
    meter = power_spec(method="command", command=str(BIN / "meter-5w"), idle_seconds=0.2)
    spec = spec_for(relu, power=asdict(meter),
                    thermal={"sysfs_root": str(FIXTURES / "pi-thermal"), "vcgencmd": str(BIN / "vcgencmd-pi5")})
    run = run_agent(spec)
    power, thermal = run.result["power"], run.result["thermal"]
    assert power["method"] == "sensor:command" and power["avg_w"] == 5.0 and power["inferences"] > 0
    assert power["energy_mj_per_inference"] == pytest.approx(5.0 * power["window_s"] / power["inferences"] * 1000)
    assert any(e["event"] == "progress" and e["stage"] == "power" for e in run.events)
    assert thermal["method"] == "sensor:thermal_zone" and thermal["max_c"] == 47.0
    assert thermal["throttled"]["raw"] == "0x50005"
    assert "the device is throttling now: under-voltage, throttled" in run.result["warnings"]


def test_a_failing_meter_token_never_reaches_the_host(relu: Path) -> None:
    failing = power_spec(method="command", command=f"sh -c 'exit 9' --token={SECRET}", idle_w=1.0, max_w=3.0,
                         seconds=0.2, idle_seconds=0.1)
    spec = spec_for(relu, power=asdict(failing))
    run = run_agent(spec)
    power = run.result["power"]
    assert power["method"] == "estimate:utilisation"
    assert power["fallback_reason"] == "command: power command failed (exit 9)"
    assert SECRET not in json.dumps(run.events) and SECRET not in run.stderr
