"""The agent on OpenVINO's execution provider (a real second provider on this x86 CPU, in .venv-openvino):
placement, a deliberate fallback, compile time apart from load, and the compiled-blob cache."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.agent.conftest import run_agent, spec_for
from tests.models.onnx_graphs import DIGITS, MODELS, hardmax_in_the_middle

OPENVINO_CPU = {"name": "openvino", "options": {"device_type": "CPU"}}


def on_openvino(python: Path, model: Path, *providers: dict[str, Any], cache_dir: Path | None = None) -> Any:
    runtime = {"providers": list(providers), "cache_dir": str(cache_dir) if cache_dir else None}
    run = run_agent(spec_for(model, runtime=runtime), python=[str(python)])
    assert run.code == 0, run.final
    return run.result


def test_openvino_takes_every_node_of_the_shipped_models(openvino_py: Path) -> None:
    for model in (DIGITS / "digits-fp32.onnx", MODELS / "mobilenetv2" / "mobilenetv2-int8-static.onnx"):
        result = on_openvino(openvino_py, model, OPENVINO_CPU)
        placement = result["placement"]
        assert result["runtime"]["providers"][0] == "OpenVINOExecutionProvider"
        (openvino,) = placement["by_accelerator"]
        assert openvino["name"] == "OpenVINOExecutionProvider" and openvino["nodes"] == placement["nodes"] >= 11
        assert placement["fallback_count"] == 0 and placement["accelerated_fraction"] == 1.0


def test_an_operator_openvino_refuses_falls_back_and_is_named(openvino_py: Path, tmp_path: Path) -> None:
    model = hardmax_in_the_middle(tmp_path / "hardmax.onnx")
    placement = on_openvino(openvino_py, model, OPENVINO_CPU, {"name": "cpu"})["placement"]
    assert [(n["op"], n["ran_on"]) for n in placement["fallback_nodes"]] == [("Hardmax", "CPUExecutionProvider")]
    names = {e["name"]: e["nodes"] for e in placement["by_accelerator"]}
    assert names["CPUExecutionProvider"] == 1 and names["OpenVINOExecutionProvider"] >= 3
    assert 0 < placement["accelerated_fraction"] < 1 and placement["fraction_basis"] == "time"


def test_compile_is_timed_apart_and_the_second_run_reuses_the_cache(openvino_py: Path, tmp_path: Path) -> None:
    model = DIGITS / "digits-fp32.onnx"
    cold = on_openvino(openvino_py, model, OPENVINO_CPU, cache_dir=tmp_path / "cache")["runtime"]["compile"]
    warm = on_openvino(openvino_py, model, OPENVINO_CPU, cache_dir=tmp_path / "cache")["runtime"]["compile"]
    assert (cold["cache"], warm["cache"]) == ("miss", "hit") and cold["cache_key"] == warm["cache_key"]
    assert cold["ms"] >= 0 and cold["session_ms"] > 0 and cold["method"].startswith("derived:")
    assert any(p.suffix == ".blob" for p in (tmp_path / "cache" / cold["cache_key"]).iterdir())
    other = on_openvino(openvino_py, model, {"name": "openvino", "options": {"device_type": "CPU",
                                                                               "num_of_threads": "1"}},
                        cache_dir=tmp_path / "cache")["runtime"]["compile"]
    assert other["cache"] == "miss" and other["cache_key"] != cold["cache_key"]


def test_a_provider_that_will_not_start_is_not_a_silent_cpu_run(openvino_py: Path) -> None:
    spec = spec_for(DIGITS / "digits-fp32.onnx",
                    runtime={"providers": [{"name": "openvino", "options": {"device_type": "NPU"}}]})
    run = run_agent(spec, python=[str(openvino_py)])
    assert run.code == 1 and run.final["kind"] == "accelerator_missing"
    assert "could not start OpenVINOExecutionProvider" in run.final["message"]
