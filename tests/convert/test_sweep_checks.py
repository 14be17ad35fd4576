"""`edgeprof sweep` of a source before any converter runs, and the host-side pieces a sweep from a source uses (real
ONNX Runtime, no torch or TensorFlow needed): what it refuses in one line before converting, the source's outputs
it compares every model with, and a model file swept in its own format."""

from __future__ import annotations

import importlib.util
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from edgeprof.agent.backends import open_runtime
from edgeprof.convert.converting import dataset_samples, load_source, random_samples, source_outputs
from edgeprof.convert.formats import detect_source
from tests.convert.cli import edgeprof
from tests.convert.test_convert_checks import one_error_line
from tests.models.onnx_graphs import DIGITS


def program(folder: Path) -> Path:
    """A file that is a torch.export program by its form (what sweep tells apart without loading it)."""
    path = folder / "net.pt2"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("net/archive_format", "pt2")
    return path


@pytest.mark.skipif(importlib.util.find_spec("torch") is not None, reason="torch is installed here")
def test_a_source_without_its_converters_is_one_line_naming_the_extra(tmp_path: Path) -> None:
    proc = edgeprof("sweep", program(tmp_path), "--out", tmp_path / "out", "--store", tmp_path / "r.db",
                    cache=tmp_path / "cache")
    assert proc.returncode == 2 and "pip install 'edgeprof[torch]'" in one_error_line(proc.stderr)
    assert not (tmp_path / "out").exists() and not (tmp_path / "r.db").exists()


def test_a_variant_no_target_format_has_is_refused_before_converting(tmp_path: Path) -> None:
    proc = edgeprof("sweep", program(tmp_path), "--formats", "onnx", "--variants", "fp16,int8-weight-only",
                    "--out", tmp_path / "out", cache=tmp_path / "cache")
    assert proc.returncode == 2
    assert "variant 'int8-weight-only' is not available for ONNX models" in one_error_line(proc.stderr)
    proc = edgeprof("sweep", program(tmp_path), "--formats", "onnx,coreml", cache=tmp_path / "cache")
    assert proc.returncode == 2 and "--formats 'onnx,coreml'" in one_error_line(proc.stderr)
    assert not (tmp_path / "out").exists()


def test_a_file_the_sweep_did_not_convert_is_never_replaced(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "net.onnx").write_bytes(b"mine")
    proc = edgeprof("sweep", program(tmp_path), "--formats", "onnx", "--out", tmp_path / "out",
                    cache=tmp_path / "cache")
    assert proc.returncode == 2 and "net.onnx exists and convert did not write it" in one_error_line(proc.stderr)
    assert (tmp_path / "out" / "net.onnx").read_bytes() == b"mine"


def test_a_model_file_is_swept_in_its_own_format_and_fp32_alone_measures_it_alone(tmp_path: Path) -> None:
    proc = edgeprof("sweep", DIGITS / "digits-fp32.onnx", "--formats", "tflite", cache=tmp_path / "cache")
    assert proc.returncode == 2
    assert "digits-fp32.onnx is ONNX, swept in its own format only" in one_error_line(proc.stderr)
    proc = edgeprof("sweep", DIGITS / "digits-fp32.onnx", "--variants", "fp32", "--formats", "onnx", "--out",
                    tmp_path / "out", "--store", tmp_path / "r.db", "--json", "--max-seconds", "0.3",
                    cache=tmp_path / "cache")
    assert proc.returncode in (0, 1), proc.stderr
    assert [(r["model"]["variant"], r["accuracy"]) for r in json.loads(proc.stdout)] == [("fp32", None)]
    assert not list((tmp_path / "out").glob("*.onnx"))


def test_the_sources_outputs_are_its_first_output_on_every_sample() -> None:
    """source_outputs run in the source's batch (an ONNX file, run in onnxruntime, takes one sample a call) equal
    one call over every sample, flattened per sample: what the device compares each model with."""
    model = load_source(detect_source(str(DIGITS / "digits-fp32.onnx")), ["onnx"], {})
    assert model.inputs[0].shape[0] == 1
    samples = dataset_samples(model.inputs, DIGITS / "test.npz")
    outputs = source_outputs(model, samples)
    runtime = open_runtime(str(DIGITS / "digits-fp32.onnx"), "onnx", 1)
    whole = runtime.run({runtime.inputs[0].name: samples[0]})[0]
    assert outputs.dtype == np.float32 and outputs.shape == (len(samples[0]), 10)
    np.testing.assert_allclose(outputs, whole.reshape(len(whole), -1), rtol=1e-5, atol=1e-6)
    drawn = random_samples(model.inputs, 64, seed=0)
    assert drawn[0].shape == (64, *model.inputs[0].shape[1:]) and drawn[0].dtype == np.float32
    np.testing.assert_array_equal(drawn[0], random_samples(model.inputs, 64, seed=0)[0])  # seeded
