"""ONNX models that keep their weights in external data files (what torch.onnx's dynamo exporter writes): checked,
identified with their data, quantised, deployed on `local` and over the loopback SSH device with the data carried."""

from __future__ import annotations

import json
from pathlib import Path

import onnx
import pytest

from edgeprof.artifacts import load_artifact
from edgeprof.convert import quantize
from edgeprof.errors import ConfigError
from tests.convert.cli import FAST, deploy, edgeprof
from tests.models.onnx_graphs import DIGITS


def external(folder: Path, name: str = "digits-fp32.onnx", location: str | None = None) -> Path:
    """The digits model saved with every initializer in one external data file beside it."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / name
    onnx.save_model(onnx.load(str(DIGITS / "digits-fp32.onnx")), str(target), save_as_external_data=True,
                    location=location or f"{name}.data", size_threshold=0)
    return target


def test_identity_covers_the_data_and_the_device_copy_names_it_by_hash(tmp_path: Path) -> None:
    model = external(tmp_path / "a")
    artifact = load_artifact(model)
    (data,) = artifact.data_files
    assert data.location == "digits-fp32.onnx.data" and data.size_bytes == (model.parent / data.location).stat().st_size
    assert artifact.size_bytes > data.size_bytes > model.stat().st_size
    copy = onnx.load(str(artifact.upload_path), load_external_data=False)
    locations = {e.value for t in copy.graph.initializer for e in t.external_data if e.key == "location"}
    assert locations == {f"{data.sha256}.data"}

    same = load_artifact(external(tmp_path / "b"))
    assert same.sha256 == artifact.sha256
    weights = bytearray((model.parent / data.location).read_bytes())
    weights[-1] ^= 1
    (model.parent / data.location).write_bytes(bytes(weights))
    assert load_artifact(model).sha256 != artifact.sha256  # the graph file is unchanged; its weights are not


def test_missing_data_file_is_one_line_before_anything_is_sent(tmp_path: Path) -> None:
    model = external(tmp_path / "m")
    (model.parent / "digits-fp32.onnx.data").unlink()
    proc = edgeprof("deploy", "--model", model, cache=tmp_path / "cache")
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("edgeprof: error: ") and len(proc.stderr.strip().splitlines()) == 1
    assert "external data file" in proc.stderr and "digits-fp32.onnx.data does not exist" in proc.stderr
    assert not list((tmp_path / "cache").glob("local/blobs/*"))


def test_data_outside_the_models_folder_is_refused(tmp_path: Path) -> None:
    model = external(tmp_path / "m", location="w.data")
    (tmp_path / "w.data").write_bytes((model.parent / "w.data").read_bytes())
    graph = onnx.load(str(model), load_external_data=False)
    for tensor in graph.graph.initializer:
        for entry in tensor.external_data:
            if entry.key == "location":
                entry.value = "../w.data"
    onnx.save_model(graph, str(model))
    with pytest.raises(ConfigError, match="outside the model's folder"):
        load_artifact(model)


def test_deploy_on_local_carries_the_data_once(tmp_path: Path) -> None:
    model, cache = external(tmp_path / "m"), tmp_path / "cache"
    (first,) = deploy("--model", model, cache=cache)
    assert first["status"] == "ok", first["error"]
    (data,) = load_artifact(model).data_files
    assert first["model"]["external_data"] == [data.describe()]
    assert first["transfer"]["bytes_sent"] >= data.size_bytes
    assert (cache / "local" / "blobs" / f"{data.sha256}.data").is_file()
    (again,) = deploy("--model", model, cache=cache)
    assert again["status"] == "ok" and again["transfer"]["bytes_sent"] == 0


def test_a_corrupted_data_blob_is_an_integrity_error(tmp_path: Path) -> None:
    model, cache = external(tmp_path / "m"), tmp_path / "cache"
    deploy("--model", model, cache=cache)
    (data,) = load_artifact(model).data_files
    blob = cache / "local" / "blobs" / f"{data.sha256}.data"
    weights = bytearray(blob.read_bytes())
    weights[0] ^= 0xFF
    blob.write_bytes(bytes(weights))  # same size: the host reuses it; the agent checks its hash
    proc = edgeprof("deploy", "--json", *FAST, "--model", model, cache=cache)
    (result,) = json.loads(proc.stdout)
    assert result["status"] == "failed" and result["error"]["kind"] == "integrity"
    assert "external data file" in result["error"]["message"]


def test_quantize_keeps_external_data_and_records_it(tmp_path: Path) -> None:
    model = external(tmp_path / "src")
    results = quantize(model, ["fp16", "int8-dynamic", "int8-static"], tmp_path / "out", DIGITS / "calibration.npz")
    manifest = {e["variant"]: e for e in json.loads((tmp_path / "out" / "manifest.json").read_text())["models"]}
    for result in results:
        made = load_artifact(result.path)
        assert made.data_files and made.sha256 == manifest[result.variant]["sha256"]
        assert manifest[result.variant]["external_data"] == [d.describe() for d in made.data_files]
        assert manifest[result.variant]["source_sha256"] == load_artifact(model).sha256
    (result,) = deploy("--model", tmp_path / "out" / "digits-int8-static.onnx", "--dataset", DIGITS / "test.npz",
                       cache=tmp_path / "cache")
    assert result["status"] == "ok", result["error"]
    assert result["accuracy"]["reference"]["agreement_top1"] >= 0.97
    again = quantize(model, ["fp16"], tmp_path / "out", None)  # its own variant, identified with its data: replaced
    assert again[0].sha256 == manifest["fp16"]["sha256"]


@pytest.mark.ssh
def test_deploy_over_ssh_carries_the_data_once(loopback_device: str, tmp_path: Path) -> None:
    model, cache = external(tmp_path / "m"), tmp_path / "cache"
    (first,) = deploy("--device", loopback_device, "--model", model, cache=cache)
    assert first["status"] == "ok", first["error"]
    (data,) = load_artifact(model).data_files
    assert first["model"]["external_data"] == [data.describe()]
    (again,) = deploy("--device", loopback_device, "--model", model, cache=cache)
    assert again["status"] == "ok" and again["transfer"]["bytes_sent"] == 0 and again["transfer"]["files_cached"] >= 3
