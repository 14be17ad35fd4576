"""`edgeprof sweep` from the model the user trained (marker `convert`: run by scripts/converters_stage.sh in
.venv-convert): a torch.export program and a Keras model converted into ONNX and TFLite, each conversion quantised,
every model measured on `local`, and every agreement, SQNR and accuracy drop measured against the source
framework's own outputs, which the test computes itself in torch and Keras."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edgeprof.agent.backends import open_runtime
from edgeprof.artifacts import load_artifact
from edgeprof.store import open_store
from tests.convert.cli import edgeprof
from tests.convert.nets import SHAPE_NCHW, keras_convnet, torch_convnet, torch_program

pytestmark = pytest.mark.convert

VARIANTS = ("fp32", "fp16", "int8-dynamic", "int8-static")
ACCELERATOR = {"onnx": "cpu", "tflite": "xnnpack"}  # each runtime's default
FAST = ("--max-seconds", "0.2")


def sweep(*args: str | Path, cache: Path) -> tuple[str, str]:
    """`sweep` that must succeed (a failed default constraint is exit 1): its stdout and stderr."""
    proc = edgeprof("sweep", "--device", "local", *FAST, *args, cache=cache, timeout=900)
    assert proc.returncode in (0, 1), proc.stderr
    return proc.stdout, proc.stderr


def table_rows(stdout: str) -> list[tuple[str, str, str]]:
    """(format, precision, accelerator) of each row of the sweep's table."""
    rows = [line.split("│")[1:4] for line in stdout.splitlines() if line.startswith(("│ onnx", "│ tflite"))]
    return [(fmt.strip(), precision.strip(), accel.strip()) for fmt, precision, accel in rows]


def sqnr(reference: np.ndarray, got: np.ndarray) -> float:
    reference, got = reference.astype(np.float64), got.astype(np.float64)
    return float(10 * np.log10(np.sum(reference ** 2) / np.sum((got - reference) ** 2)))


def test_torch_program_sweeps_every_format_and_variant_against_torch(tmp_path: Path) -> None:
    import torch

    source = torch_program(tmp_path / "net.pt2")
    x = np.random.default_rng(7).standard_normal((24, *SHAPE_NCHW[1:])).astype(np.float32)
    with torch.no_grad():
        logits = torch_convnet()(torch.from_numpy(x)).numpy()
    np.savez(tmp_path / "test.npz", x=x, y=logits.argmax(1))  # labelled with torch's own answers
    out, store = tmp_path / "out", tmp_path / "r.db"
    stdout, _ = sweep(source, "--formats", "onnx,tflite", "--variants", ",".join(VARIANTS), "--dataset",
                      tmp_path / "test.npz", "--out", out, "--store", store, cache=tmp_path / "cache")
    title = " ".join(stdout.split())  # the table's title, folded to the terminal's width
    assert f"against the torch source {source}: its outputs on the 24 samples of" in title
    assert sorted(table_rows(stdout)) == sorted((f, v, ACCELERATOR[f]) for f, v in
                                                itertools.product(("onnx", "tflite"), VARIANTS))
    sent = np.load(out / "net-source-outputs.npz")["outputs"]
    np.testing.assert_allclose(sent, logits, rtol=1e-5, atol=1e-6)  # the file holds torch's outputs
    with open_store(str(store)) as db:
        results = {(r["model"]["format"], r["model"]["variant"]): r for r in db.query()}
    assert set(results) == set(itertools.product(("onnx", "tflite"), VARIANTS))
    for key, result in results.items():
        assert result["status"] == "ok", (key, result["error"])
        compared = result["accuracy"]["reference"]
        assert compared["against"] == "outputs" and compared["top1"] == 1.0, key  # torch's top-1 on its labels
        assert compared["accuracy_drop"] == pytest.approx(1.0 - result["accuracy"]["top1"])
    for fmt in ("onnx", "tflite"):  # the fp32 exports too are compared with torch (not with themselves)
        compared = results[(fmt, "fp32")]["accuracy"]["reference"]
        assert not compared["identical"] and compared["sqnr_db"] > 100, fmt
    runtime = open_runtime(str(out / "net.onnx"), "onnx", 1)
    exported = np.concatenate([runtime.run({runtime.inputs[0].name: x[i:i + 1]})[0] for i in range(len(x))])
    assert results[("onnx", "fp32")]["accuracy"]["reference"]["sqnr_db"] == pytest.approx(sqnr(sent, exported),
                                                                                           abs=1.0)
    manifest = {e["path"]: e for e in json.loads((out / "manifest.json").read_text())["models"]}
    assert manifest["net.tflite"]["source_kind"] == "torch-export"
    assert manifest["net-int8-static.tflite"]["source_sha256"] == load_artifact(out / "net.tflite").sha256
    # swept again into the same folder: its own conversion and variants (weights in external data) are replaced
    again, _ = sweep(source, "--formats", "onnx", "--variants", "int8-dynamic", "--dataset", tmp_path / "test.npz",
                     "--out", out, "--store", store, cache=tmp_path / "cache")
    assert table_rows(again) == [("onnx", "fp32", "cpu"), ("onnx", "int8-dynamic", "cpu")]


def test_keras_model_without_a_dataset_is_compared_on_seeded_samples(tmp_path: Path) -> None:
    import keras

    source = tmp_path / "net.keras"
    keras_convnet().save(str(source))
    stdout, stderr = sweep(source, "--variants", "fp32,int8-weight-only", "--out", tmp_path / "out",
                           "--store", tmp_path / "r.db", "--json", cache=tmp_path / "cache")
    assert "note: int8-weight-only left out for ONNX: no such ONNX variant" in stderr
    results: list[dict[str, Any]] = json.loads(stdout)
    assert [(r["model"]["format"], r["model"]["variant"]) for r in results] == [
        ("onnx", "fp32"), ("tflite", "fp32"), ("tflite", "int8-weight-only")]
    samples = np.load(tmp_path / "out" / "net-samples.npz")["x"]
    assert samples.shape == (64, 16, 16, 3)
    expected = keras.models.load_model(str(source), compile=False)(samples, training=False).numpy()
    np.testing.assert_allclose(np.load(tmp_path / "out" / "net-source-outputs.npz")["outputs"], expected,
                               rtol=1e-5, atol=1e-6)
    for result in results:
        assert result["status"] == "ok", result["error"]
        accuracy = result["accuracy"]
        assert accuracy["inputs"] == "dataset" and accuracy["samples"] == 64 and "top1" not in accuracy
        assert accuracy["reference"]["against"] == "outputs" and accuracy["reference"]["sqnr_db"] > 20
