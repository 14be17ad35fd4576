"""CUDA and TensorRT through the same code path as every provider: run where a GPU and a GPU build of onnxruntime
exist, skipped with that reason elsewhere."""

from __future__ import annotations

from pathlib import Path

import onnxruntime
import pytest

from tests.agent.conftest import run_agent, spec_for
from tests.models.onnx_graphs import MODELS

pytestmark = pytest.mark.gpu
MOBILENET = MODELS / "mobilenetv2" / "mobilenetv2-fp32.onnx"


def needs(provider: str) -> None:
    if provider not in onnxruntime.get_available_providers():
        pytest.skip(f"no {provider} in this onnxruntime ({onnxruntime.__version__}: "
                    f"{', '.join(onnxruntime.get_available_providers())}); needs a GPU and onnxruntime-gpu")


def test_cuda_takes_the_nodes(tmp_path: Path) -> None:
    needs("CUDAExecutionProvider")
    run = run_agent(spec_for(MOBILENET, runtime={"providers": [{"name": "cuda"}, {"name": "cpu"}]}))
    assert run.code == 0, run.final
    placement = run.result["placement"]
    assert placement["by_accelerator"][0]["name"] == "CUDAExecutionProvider" and placement["accelerated_fraction"] > 0


def test_tensorrt_builds_an_engine_once_and_reuses_it(tmp_path: Path) -> None:
    needs("TensorrtExecutionProvider")
    runtime = {"providers": [{"name": "tensorrt"}, {"name": "cuda"}, {"name": "cpu"}], "cache_dir": str(tmp_path)}
    cold, warm = (run_agent(spec_for(MOBILENET, runtime=runtime), timeout=900) for _ in range(2))
    assert cold.code == warm.code == 0, (cold.final, warm.final)
    assert (cold.result["runtime"]["compile"]["cache"], warm.result["runtime"]["compile"]["cache"]) == ("miss", "hit")
    assert cold.result["placement"]["by_accelerator"][0]["name"] == "TensorrtExecutionProvider"
