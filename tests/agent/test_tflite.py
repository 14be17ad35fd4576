"""TFLite models through the real LiteRT interpreter, in-process and through the zipapp."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest

from edgeprof.agent.backends import open_runtime
from edgeprof.agent.inputs import make_feeds
from tests.agent.conftest import spec_for
from tests.agent.tflite_models import add_relu, dequantize


@pytest.fixture(scope="module")
def tflite(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("tflite")
    return {"add_relu": add_relu(out / "add_relu.tflite"), "dequantize": dequantize(out / "dequantize.tflite")}


def test_litert_reports_signature_and_runs_resized_batches(tflite: dict[str, Path]) -> None:
    runtime = open_runtime(str(tflite["add_relu"]), "tflite", 1)
    assert runtime.name == "ai-edge-litert" and runtime.version[0].isdigit()
    assert runtime.threads == {"num_threads": 1}
    (x,) = runtime.inputs
    assert (x.name, x.shape, x.dtype, x.quant) == ("x", [None, 4], "float32", None)
    feeds, described = make_feeds(runtime.inputs, {"x": [3, 4]}, 0, lambda m: None)
    (y,) = runtime.run(feeds)
    assert y.shape == (3, 4)
    assert np.allclose(y, np.maximum(feeds["x"] + np.array([0.5, -0.5, 1.0, -1.0], np.float32), 0))
    assert described[0]["shape"] == [3, 4]


def test_batches_of_changing_size_resize_back_and_forth(tflite: dict[str, Path]) -> None:
    runtime = open_runtime(str(tflite["add_relu"]), "tflite", 1)
    for batch in (3, 1, 5, 1):
        x = np.full((batch, 4), 2.0, np.float32)
        (y,) = runtime.run({"x": x})
        assert y.shape == (batch, 4) and np.allclose(y[:, 0], 2.5)
    runtime.prepare({"x": np.zeros((7, 4), np.float32)})
    assert runtime.run({"x": np.zeros((7, 4), np.float32)})[0].shape == (7, 4)


def test_quantised_inputs_come_from_a_float_distribution(tflite: dict[str, Path]) -> None:
    runtime = open_runtime(str(tflite["dequantize"]), "tflite", None)
    (q,) = runtime.inputs
    assert q.dtype == "int8" and q.quant == pytest.approx((0.05, -3))
    feeds, _ = make_feeds(runtime.inputs, {}, 7, lambda m: None)
    (real,) = runtime.run(feeds)
    # dequantised values are N(0,1) draws (clipped to the int8 range): mean near 0, spread near 1
    assert abs(float(real.mean())) < 0.5 and 0.6 < float(real.std()) < 1.4
    assert feeds["q"].dtype == np.int8 and len(np.unique(feeds["q"])) > 10


def test_tflite_through_the_agent(agent: Callable[..., Any], tflite: dict[str, Path]) -> None:
    run = agent(spec_for(tflite["add_relu"]))
    assert run.code == 0, run.final
    result = run.result
    assert result["runtime"]["name"] == "ai-edge-litert"
    assert result["inputs"][0]["shape"] == [1, 4]
    assert not any(e["event"] == "warning" and "dynamic dims" in e["message"] for e in run.events)  # batch only
    assert result["latency"]["samples"] >= 20 and result["latency"]["p50_ms"] > 0


def test_a_corrupt_tflite_file_is_a_model_load_error(agent: Callable[..., Any], tflite: dict[str, Path],
                                                     tmp_path: Path) -> None:
    broken = tmp_path / "broken.tflite"
    broken.write_bytes(tflite["add_relu"].read_bytes()[:40])
    run = agent(spec_for(broken))
    assert (run.code, run.final["event"], run.final["kind"]) == (1, "error", "model_load")
    assert run.final["message"].startswith("ai-edge-litert cannot load the model") and "\n" not in run.final["message"]
