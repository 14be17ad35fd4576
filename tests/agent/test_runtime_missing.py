"""A device without the runtime a model needs gets one `runtime_missing` error that says what to install."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy
import pytest

from tests.agent.conftest import run_agent, spec_for
from tests.agent.tflite_models import add_relu


@pytest.fixture(scope="module")
def numpy_only(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("numpy-only")
    (root / "numpy").symlink_to(Path(numpy.__file__).parent)
    return root


@pytest.mark.parametrize(("fmt", "text"), [("onnx", "pip install onnxruntime"), ("tflite", "pip install ai-edge-litert")])
def test_missing_runtime_is_reported(numpy_only: Path, models: dict[str, Path], tmp_path: Path, fmt: str,
                                     text: str) -> None:
    model = models["mlp"] if fmt == "onnx" else add_relu(tmp_path / "m.tflite")
    run = run_agent(spec_for(model), python=[sys.executable, "-S"],
                    env={"PYTHONPATH": str(numpy_only), "PATH": "/usr/bin:/bin"})
    assert run.code == 1 and run.final["event"] == "error", run.final
    assert (run.final["kind"], run.final["stage"]) == ("runtime_missing", "load") and text in run.final["message"]
    assert any(e["event"] == "hello" for e in run.events)
