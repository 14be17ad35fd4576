"""load_artifact, reference_for and check_dataset on real model files, good and bad."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from edgeprof.artifacts import TensorSpec, check_dataset, load_artifact, reference_for, sha256_file
from edgeprof.errors import ConfigError
from tests.models.onnx_graphs import DIGITS, mixed_inputs


def one_line_error(path: Path) -> str:
    with pytest.raises(ConfigError) as caught:
        load_artifact(path)
    message = str(caught.value)
    assert "\n" not in message and str(path) in message
    return message


def test_shipped_variant_reads_its_manifest_entry() -> None:
    artifact = load_artifact(DIGITS / "digits-int8-static.tflite")
    assert (artifact.name, artifact.variant, artifact.format) == ("digits", "int8-static", "tflite")
    assert artifact.sha256 == sha256_file(artifact.path) and artifact.size_bytes == artifact.path.stat().st_size
    assert artifact.inputs[0].dtype == "int8" and artifact.outputs[0].shape == [None, 10]
    assert artifact.manifest is not None and artifact.manifest["method"].startswith("TFLiteConverter")


def test_reference_is_the_fp32_source_only_when_the_manifest_proves_it(tmp_path: Path) -> None:
    assert reference_for(load_artifact(DIGITS / "digits-fp16.onnx")) == (DIGITS / "digits-fp32.onnx").resolve()
    assert reference_for(load_artifact(DIGITS / "digits-fp32.onnx")) is None
    alone = shutil.copy(DIGITS / "digits-fp16.onnx", tmp_path / "digits-fp16.onnx")
    assert reference_for(load_artifact(Path(alone))) is None


def test_variant_is_guessed_from_the_name_without_a_manifest(tmp_path: Path) -> None:
    guessed = load_artifact(Path(shutil.copy(DIGITS / "digits-int8-dynamic.onnx", tmp_path / "net-int8-dynamic.onnx")))
    assert (guessed.name, guessed.variant, guessed.manifest) == ("net", "int8-dynamic", None)
    plain = load_artifact(Path(shutil.copy(DIGITS / "digits-fp32.tflite", tmp_path / "classifier.tflite")))
    assert (plain.name, plain.variant, plain.format) == ("classifier", "original", "tflite")


def test_several_inputs_of_mixed_dtypes_and_several_outputs(tmp_path: Path) -> None:
    artifact = load_artifact(mixed_inputs(tmp_path / "mixed.onnx"))
    assert artifact.inputs == [TensorSpec("image", [None, 4], "float32"), TensorSpec("ids", [None, 3], "int64"),
                               TensorSpec("mask", [None, 3], "bool"), TensorSpec("gain", [], "float32")]
    assert artifact.outputs == [TensorSpec("scores", [None, 4], "float32"), TensorSpec("count", [None], "int64")]


def test_missing_file(tmp_path: Path) -> None:
    assert "does not exist" in one_line_error(tmp_path / "absent.onnx")


@pytest.mark.parametrize("content", [b"", b"hello world, not a model", b"\x89PNG\r\n\x1a\n" + bytes(64)])
def test_not_a_model(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "model.onnx"
    path.write_bytes(content)
    assert "not an ONNX, TFLite or GGUF model" in one_line_error(path)


@pytest.mark.parametrize("source", ["digits-fp32.onnx", "digits-fp32.tflite"])
def test_truncated_model(tmp_path: Path, source: str) -> None:
    data = (DIGITS / source).read_bytes()
    path = tmp_path / source
    path.write_bytes(data[: len(data) // 2])
    assert f"truncated or corrupt {'ONNX' if source.endswith('onnx') else 'TFLite'} model" in one_line_error(path)


def test_corrupt_onnx_body(tmp_path: Path) -> None:
    data = bytearray((DIGITS / "digits-fp32.onnx").read_bytes())
    data[40:400] = bytes([0xFF]) * 360
    path = tmp_path / "digits.onnx"
    path.write_bytes(bytes(data))
    assert "corrupt ONNX model" in one_line_error(path)


def test_format_is_read_from_content_not_the_extension(tmp_path: Path) -> None:
    path = Path(shutil.copy(DIGITS / "digits-fp32.tflite", tmp_path / "digits.onnx"))
    assert "is TFLITE but its name ends in '.onnx'" in one_line_error(path)


def test_check_dataset_accepts_the_shipped_data_and_names_each_mismatch(tmp_path: Path) -> None:
    artifact = load_artifact(DIGITS / "digits-fp32.onnx")
    check_dataset(artifact, DIGITS / "test.npz")
    cases = {
        "wrong_key": ({"images": np.zeros((4, 8, 8, 1), np.float32)}, "no array for model input 'input'"),
        "nchw": ({"x": np.zeros((4, 1, 8, 8), np.float32)}, "'x' has shape [4, 1, 8, 8]"),
        "strings": ({"x": np.full((4, 8, 8, 1), "a")}, "'x' has dtype <U1"),
        "labels": ({"x": np.zeros((4, 8, 8, 1), np.float32), "y": np.zeros(3, np.int64)}, "'y' has 3 labels"),
    }
    for name, (arrays, expected) in cases.items():
        npz = tmp_path / f"{name}.npz"
        np.savez(npz, **arrays)
        with pytest.raises(ConfigError, match=expected.replace("[", r"\[")):
            check_dataset(artifact, npz)
    with pytest.raises(ConfigError, match="does not exist"):
        check_dataset(artifact, tmp_path / "absent.npz")
