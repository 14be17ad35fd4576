"""`edgeprof convert` through every converter (marker `convert`: run by scripts/converters_stage.sh in
.venv-convert): tiny torch and Keras conv nets built here, each output checked against the source framework by
the CLI, its figures asserted, and deployed on `local`; a dynamo export with external data over loopback SSH."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edgeprof.artifacts import load_artifact, sha256_file
from tests.convert.cli import deploy, edgeprof
from tests.convert.nets import (
    FACTORY,
    SHAPE_NCHW,
    SHAPE_NHWC,
    dynamo_export,
    keras_convnet,
    keras_two_inputs,
    torch_convnet,
    torch_program,
)

pytestmark = pytest.mark.convert


def convert(*args: str | Path, cache: Path) -> list[dict[str, Any]]:
    """`convert --json` that must succeed; its manifest entries."""
    proc = edgeprof("convert", "--json", *args, cache=cache, timeout=600)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def assert_faithful(entries: list[dict[str, Any]], samples: int = 8) -> None:
    """Every output within float32 rounding of the source, the same top-1 class on every sample."""
    for entry in entries:
        fidelity = entry["fidelity"]
        assert fidelity["samples"] == samples
        for output in fidelity["outputs"]:
            assert output["max_abs_diff"] < 1e-4 and output["cosine"] > 0.99999, (entry["path"], output)
            assert output["top1_agreement"] == 1.0, (entry["path"], output)


def deployed_ok(out: Path, entries: list[dict[str, Any]], cache: Path) -> None:
    """Each output runs on the local device, as measured by the agent."""
    results = deploy(*[a for e in entries for a in ("--model", out / e["path"])], cache=cache)
    assert [r["status"] for r in results] == ["ok"] * len(entries), [r["error"] for r in results]


def test_torch_program_to_onnx_and_tflite(tmp_path: Path) -> None:
    source = torch_program(tmp_path / "net.pt2")
    entries = convert(source, "--to", "onnx,tflite", "--out", tmp_path / "out", cache=tmp_path / "cache")
    assert [e["format"] for e in entries] == ["onnx", "tflite"]
    assert_faithful(entries)
    onnx_entry, tflite_entry = entries
    assert onnx_entry["method"] == "torch.onnx.export (dynamo)" and "torch" in onnx_entry["tools"]
    assert [d["location"] for d in onnx_entry["external_data"]] == ["net.onnx.data"]  # dynamo's default
    assert tflite_entry["method"] == "litert-torch" and "litert-torch" in tflite_entry["tools"]
    assert {e["source_sha256"] for e in entries} == {sha256_file(source)}
    assert {e["source_kind"] for e in entries} == {"torch-export"} and {e["layout"] for e in entries} == {None}
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())["models"]
    assert [m["sha256"] for m in manifest] == [load_artifact(tmp_path / "out" / e["path"]).sha256 for e in entries]
    deployed_ok(tmp_path / "out", entries, tmp_path / "cache")


def test_torch_factory_takes_named_input_shapes(tmp_path: Path) -> None:
    proc = edgeprof("convert", FACTORY, "--to", "onnx", "--out", tmp_path, cache=tmp_path / "cache")
    assert proc.returncode == 2 and "pass --input-shape" in proc.stderr and len(proc.stderr.splitlines()) == 1
    shape = "x".join(map(str, SHAPE_NCHW))
    entries = convert(FACTORY, "--to", "onnx,tflite", "--input-shape", f"image={shape}", "--out", tmp_path,
                      cache=tmp_path / "cache")
    assert_faithful(entries)
    assert [i.name for i in load_artifact(tmp_path / "torch_convnet.onnx").inputs] == ["image"]
    deployed_ok(tmp_path, entries, tmp_path / "cache")


def test_pickled_module_only_with_allow_pickle(tmp_path: Path) -> None:
    import torch

    pickled = tmp_path / "net.pt"
    torch.save(torch_convnet(), pickled)
    shape = f"input={'x'.join(map(str, SHAPE_NCHW))}"
    proc = edgeprof("convert", pickled, "--to", "onnx", "--input-shape", shape, cache=tmp_path / "cache")
    assert proc.returncode == 2 and "--allow-pickle" in proc.stderr and not (tmp_path / "net.onnx").exists()
    entries = convert(pickled, "--to", "onnx", "--input-shape", shape, "--allow-pickle", cache=tmp_path / "cache")
    assert_faithful(entries)


@pytest.mark.parametrize("form", ["keras", "h5", "savedmodel"])
def test_keras_to_tflite_and_onnx(tmp_path: Path, form: str) -> None:
    model = keras_convnet()
    if form == "savedmodel":
        source = tmp_path / "net"
        model.export(str(source))
    else:
        source = tmp_path / f"net.{form}"
        model.save(str(source))
    entries = convert(source, "--to", "tflite,onnx", "--out", tmp_path / "out", cache=tmp_path / "cache")
    assert [e["format"] for e in entries] == ["tflite", "onnx"]
    assert_faithful(entries)
    assert entries[0]["method"] == "tf.lite.TFLiteConverter" and entries[1]["method"] == "tf2onnx"
    assert load_artifact(tmp_path / "out" / "net.onnx").inputs[0].shape == list(SHAPE_NHWC)
    from ai_edge_litert.interpreter import Interpreter

    signatures = Interpreter(model_path=str(tmp_path / "out" / "net.tflite")).get_signature_list()
    assert list(signatures) == ["serving_default"]  # what int8-static calibration (ai-edge-quantizer) reads
    deployed_ok(tmp_path / "out", entries, tmp_path / "cache")


def test_a_keras_model_of_two_inputs_is_fed_by_name(tmp_path: Path) -> None:
    """Its TFLite signature lists the inputs in another order than the model: each is fed the source's input of
    its name."""
    source = tmp_path / "two.keras"
    keras_two_inputs().save(str(source))
    (entry,) = convert(source, "--to", "tflite", cache=tmp_path / "cache")
    assert_faithful([entry])
    assert [i.name for i in load_artifact(tmp_path / "two.tflite").inputs] == ["serving_default_b:0",
                                                                               "serving_default_a:0"]


def test_dataset_samples_and_tflite_source_to_onnx(tmp_path: Path) -> None:
    source = tmp_path / "net.keras"
    keras_convnet().save(str(source))
    (tflite,) = convert(source, "--to", "tflite", cache=tmp_path / "cache")
    dataset = tmp_path / "samples.npz"
    np.savez(dataset, x=np.random.default_rng(1).random((12, *SHAPE_NHWC[1:]), dtype=np.float32))
    out = tmp_path / "from-tflite"
    entries = convert(tmp_path / tflite["path"], "--to", "onnx", "--dataset", dataset, "--out", out,
                      cache=tmp_path / "cache")
    assert entries[0]["fidelity"]["inputs"] == "dataset"
    assert_faithful(entries, samples=12)
    deployed_ok(out, entries, tmp_path / "cache")
    again = convert(tmp_path / tflite["path"], "--to", "onnx", "--out", out, "--force", cache=tmp_path / "cache")
    assert again[0]["fidelity"]["inputs"] == "seeded random"
    assert [e["fidelity"]["inputs"] for e in json.loads((out / "manifest.json").read_text())["models"]] == [
        "seeded random"]  # replaced, not added


def test_past_the_tolerance_nothing_is_written(tmp_path: Path) -> None:
    source = torch_program(tmp_path / "net.pt2")
    proc = edgeprof("convert", source, "--to", "onnx", "--atol", "0", "--min-cosine", "1.5", "--out",
                    tmp_path / "out", cache=tmp_path / "cache", timeout=600)
    assert proc.returncode == 1, proc.stderr
    (line,) = proc.stderr.strip().splitlines()
    assert "net.onnx strays from the torch source: output 'output_0' max abs diff" in line
    assert not list((tmp_path / "out").glob("net.onnx*")) and not (tmp_path / "out" / "manifest.json").exists()


@pytest.mark.ssh
def test_dynamo_export_with_external_data_over_ssh(loopback_device: str, tmp_path: Path) -> None:
    model = dynamo_export(tmp_path / "net.onnx")
    artifact = load_artifact(model)
    assert [d.location for d in artifact.data_files] == ["net.onnx.data"]
    (first,) = deploy("--device", loopback_device, "--model", model, cache=tmp_path / "cache")
    assert first["status"] == "ok", first["error"]
    assert first["model"]["external_data"] == [d.describe() for d in artifact.data_files]
    (again,) = deploy("--device", loopback_device, "--model", model, cache=tmp_path / "cache")
    assert again["status"] == "ok" and again["transfer"]["bytes_sent"] == 0
