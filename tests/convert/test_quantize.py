"""quantize(): real ONNX Runtime / ai-edge-quantizer conversions whose outputs load and stay accurate."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest

from edgeprof.agent.accuracy import evaluate
from edgeprof.agent.backends import open_runtime
from edgeprof.artifacts import load_artifact, reference_for, sha256_file
from edgeprof.convert import quantize
from edgeprof.errors import ConfigError
from tests.models.onnx_graphs import DIGITS, REPO, mixed_inputs

CALIBRATION = DIGITS / "calibration.npz"


def accuracy_against_source(path: Path) -> dict:
    """The accuracy section of a freshly written variant, with its manifest-proven source as reference."""
    artifact = load_artifact(path)
    reference = reference_for(artifact)
    assert reference is not None
    return evaluate(open_runtime(str(path), artifact.format, 1), str(DIGITS / "test.npz"),
                    open_runtime(str(reference), artifact.format, 1), lambda done, total: None)


@pytest.mark.parametrize("fmt,variants", [
    ("onnx", ["fp16", "int8-dynamic", "int8-static"]),
    ("tflite", ["fp16", "int8-dynamic", "int8-weight-only", "int8-static"]),
])
def test_round_trip_writes_accurate_models_and_a_manifest(tmp_path: Path, fmt: str, variants: list[str]) -> None:
    source = DIGITS / f"digits-fp32.{fmt}"
    results = quantize(source, variants, tmp_path, CALIBRATION)
    assert [r.variant for r in results] == variants
    manifest = {e["path"]: e for e in json.loads((tmp_path / "manifest.json").read_text())["models"]}
    for result in results:
        assert result.path == tmp_path / f"digits-{result.variant}.{fmt}"
        entry = manifest[result.path.name]
        assert entry["sha256"] == sha256_file(result.path) and entry["size_bytes"] == result.path.stat().st_size
        assert entry["source_sha256"] == sha256_file(source) and entry["method"] and entry["tools"]["python"]
        assert result.size_bytes < source.stat().st_size
        section = accuracy_against_source(result.path)
        assert section["top1"] >= 0.95 and section["reference"]["agreement_top1"] >= 0.97, result.variant
    if "int8-static" in variants:
        assert manifest[f"digits-int8-static.{fmt}"]["parameters"]["calibration_samples"] == 200


def test_onnx_static_is_per_channel_qdq_and_qoperator_on_request(tmp_path: Path) -> None:
    (qdq,) = quantize(DIGITS / "digits-fp32.onnx", ["int8-static"], tmp_path, CALIBRATION)
    (qop,) = quantize(DIGITS / "digits-fp32.onnx", ["int8-static"], tmp_path, CALIBRATION, qoperator=True)
    qdq_ops = {n.op_type for n in onnx.load(str(qdq.path)).graph.node}
    qop_ops = {n.op_type for n in onnx.load(str(qop.path)).graph.node}
    assert "QuantizeLinear" in qdq_ops and "Conv" in qdq_ops and "QLinearConv" not in qdq_ops
    assert "QLinearConv" in qop_ops and qop.variant == "int8-static-qop"
    assert qop.path.name == "digits-int8-static-qop.onnx"
    assert qdq.parameters["per_channel"] and qdq.parameters["format"] == "QDQ"
    assert accuracy_against_source(qop.path)["top1"] >= 0.95


def test_fp16_onnx_keeps_float32_io(tmp_path: Path) -> None:
    (fp16,) = quantize(DIGITS / "digits-fp32.onnx", ["fp16"], tmp_path, None)
    model = onnx.load(str(fp16.path))
    assert [i.type.tensor_type.elem_type for i in model.graph.input] == [onnx.TensorProto.FLOAT]
    assert any(t.data_type == onnx.TensorProto.FLOAT16 for t in model.graph.initializer)


def test_tflite_static_records_its_integer_io(tmp_path: Path) -> None:
    (static,) = quantize(DIGITS / "digits-fp32.tflite", ["int8-static"], tmp_path, CALIBRATION)
    assert static.parameters["io"] == "int8 in, int8 out"
    assert load_artifact(static.path).inputs[0].dtype == "int8"


def test_manifest_entries_are_replaced_not_duplicated(tmp_path: Path) -> None:
    quantize(DIGITS / "digits-fp32.onnx", ["int8-dynamic"], tmp_path, None)
    quantize(DIGITS / "digits-fp32.onnx", ["int8-dynamic", "fp16"], tmp_path, None)
    paths = [e["path"] for e in json.loads((tmp_path / "manifest.json").read_text())["models"]]
    assert paths == ["digits-fp16.onnx", "digits-int8-dynamic.onnx"]


@pytest.mark.parametrize("source,variants,calibration,qoperator,expected", [
    ("digits-fp32.onnx", ["int8-static"], None, False, "needs calibration data: pass --calibration"),
    ("digits-fp32.tflite", ["int8-static"], None, False, "needs calibration data"),
    ("digits-fp32.onnx", ["int4"], None, False, "variant 'int4' is not available for ONNX models"),
    ("digits-fp32.onnx", ["int8-weight-only"], None, False, "not available for ONNX"),
    ("digits-fp32.tflite", ["int8-dynamic"], None, True, "--qoperator applies to ONNX models only"),
    ("digits-int8-static.onnx", ["fp16"], None, False, "already the int8-static variant of digits"),
    ("digits-fp32.onnx", ["int8-static"], "absent.npz", False, "calibration file .*absent.npz does not exist"),
])
def test_bad_requests_are_one_line_config_errors(tmp_path: Path, source: str, variants: list[str],
                                                 calibration: str | None, qoperator: bool, expected: str) -> None:
    with pytest.raises(ConfigError, match=expected) as caught:
        quantize(DIGITS / source, variants, tmp_path, tmp_path / calibration if calibration else None,
                 qoperator=qoperator)
    assert "\n" not in str(caught.value)
    assert not list(tmp_path.glob("*.onnx")) and not list(tmp_path.glob("*.tflite"))


def test_calibration_for_the_wrong_input_is_named(tmp_path: Path) -> None:
    wrong = tmp_path / "wrong.npz"
    np.savez(wrong, pixels=np.zeros((4, 8, 8, 1), np.float32))
    for fmt in ("onnx", "tflite"):
        with pytest.raises(ConfigError, match=r"no array for .*input.*keys: \['pixels'\]"):
            quantize(DIGITS / f"digits-fp32.{fmt}", ["int8-static"], tmp_path, wrong)


@pytest.mark.parametrize("fmt", ["onnx", "tflite"])
def test_a_converter_failure_is_one_line(tmp_path: Path, fmt: str) -> None:
    calibration = tmp_path / "two_channels.npz"
    np.savez(calibration, x=np.ones((3, 8, 8, 2), np.float32))  # the model takes one channel
    with pytest.raises(ConfigError, match=f"digits-fp32.{fmt}: int8-static conversion failed: ") as caught:
        quantize(DIGITS / f"digits-fp32.{fmt}", ["int8-static"], tmp_path / "out", calibration)
    assert "\n" not in str(caught.value)


def test_calibration_keeps_integer_inputs_integer(tmp_path: Path) -> None:
    model = mixed_inputs(tmp_path / "mixed.onnx")
    calibration = tmp_path / "cal.npz"
    np.savez(calibration, image=np.ones((2, 4), np.float32), ids=np.arange(6).reshape(2, 3),
             mask=np.ones((2, 3), bool), gain=np.full(2, 2.0, np.float32))
    (result,) = quantize(model, ["int8-static"], tmp_path / "out", calibration)
    assert result.parameters["calibration_samples"] == 2
    assert load_artifact(result.path).inputs == load_artifact(model).inputs


def test_onnx_variants_reproduce_the_shipped_files_byte_for_byte(tmp_path: Path) -> None:
    for result in quantize(DIGITS / "digits-fp32.onnx", ["fp16", "int8-dynamic", "int8-static"], tmp_path,
                           CALIBRATION):
        assert result.sha256 == sha256_file(DIGITS / result.path.name), result.variant


def test_cli_prints_the_table_and_errors_in_one_line(tmp_path: Path) -> None:
    source = Path(shutil.copy(DIGITS / "digits-fp32.onnx", tmp_path / "digits-fp32.onnx"))
    run = [sys.executable, "-c", "from edgeprof.cli import main, quantize_cmd; main()", "quantize", str(source)]
    done = subprocess.run(run + ["--variants", "fp16,int8-dynamic"], capture_output=True, text=True, cwd=REPO,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert "int8-dynamic" in done.stdout and "onnxruntime.quantization" in done.stdout and re.search(r"\d [kMG]B ", done.stdout)
    assert (tmp_path / "digits-int8-dynamic.onnx").is_file() and done.stderr == ""
    failed = subprocess.run(run + ["--variants", "int8-static"], capture_output=True, text=True, cwd=REPO,
                            timeout=120)
    assert failed.returncode == 2 and failed.stdout == ""
    assert failed.stderr.strip().count("\n") == 0 and "needs calibration data" in failed.stderr


def test_quantize_never_replaces_a_file_it_did_not_write(tmp_path: Path) -> None:
    shipped = tmp_path / "digits"
    shutil.copytree(DIGITS, shipped)
    before = {p.name: p.read_bytes() for p in shipped.iterdir()}
    with pytest.raises(ConfigError, match="digits-fp16.onnx exists and quantize did not write it") as caught:
        quantize(shipped / "digits-fp32.onnx", ["fp16", "int8-dynamic"], shipped, None)  # curated entries
    assert "--force" in str(caught.value)
    assert {p.name: p.read_bytes() for p in shipped.iterdir()} == before
    mine = tmp_path / "mine"
    quantize(shipped / "digits-fp32.onnx", ["fp16"], mine, None)
    quantize(shipped / "digits-fp32.onnx", ["fp16"], mine, None)  # its own file, unchanged: replaced
    (mine / "digits-fp16.onnx").write_bytes(b"edited by hand")
    with pytest.raises(ConfigError, match="did not write it as it is"):
        quantize(shipped / "digits-fp32.onnx", ["fp16"], mine, None)
    (result,) = quantize(shipped / "digits-fp32.onnx", ["fp16"], mine, None, force=True)
    assert sha256_file(result.path) == result.sha256


@pytest.mark.parametrize("new_data", [False, True], ids=["weights-inside", "weights-beside"])
def test_a_placed_model_leaves_no_weights_of_the_model_it_replaces(tmp_path: Path, new_data: bool) -> None:
    from edgeprof.convert.variants import VariantResult, place

    out, staging = tmp_path / "out", tmp_path / "out" / ".staging"
    staging.mkdir(parents=True)
    (out / "m.onnx").write_bytes(b"old model")
    (out / "m.onnx.data").write_bytes(b"old weights")
    (staging / "m.onnx").write_bytes(b"new model")
    if new_data:
        (staging / "m.onnx.data").write_bytes(b"new weights")
    made = VariantResult(staging / "m.onnx", "m", "fp16", "onnx", "0" * 64, 9, "1" * 64, str(tmp_path / "src.onnx"),
                         "test", external_data=[{"location": "m.onnx.data"}] if new_data else [])
    placed = place(made, out)
    assert placed.path == out / "m.onnx" and placed.path.read_bytes() == b"new model"
    data = out / "m.onnx.data"
    assert (data.read_bytes() == b"new weights") if new_data else not data.exists()
