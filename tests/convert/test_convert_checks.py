"""`edgeprof convert` before any converter runs: sources told apart without unpickling, missing extras, refusals,
and the fidelity figures (real numpy, no converters needed)."""

from __future__ import annotations

import importlib.util
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest

from edgeprof.convert.fidelity import compare
from edgeprof.convert.formats import detect_source
from edgeprof.errors import ConfigError
from tests.convert.cli import edgeprof
from tests.models.onnx_graphs import DIGITS


def one_error_line(proc_stderr: str) -> str:
    lines = proc_stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("edgeprof: error: "), proc_stderr
    return lines[0]


def test_a_pickled_module_is_never_loaded_unless_allowed(tmp_path: Path) -> None:
    pickled = tmp_path / "net.pt"
    pickled.write_bytes(b"\x80\x04not really a pickle")
    with pytest.raises(ConfigError, match="--allow-pickle"):
        detect_source(str(pickled))
    assert detect_source(str(pickled), allow_pickle=True).kind == "torch-pickle"


def test_sources_are_told_apart_by_content_and_form(tmp_path: Path) -> None:
    program = tmp_path / "net.pt2"
    with zipfile.ZipFile(program, "w") as archive:
        archive.writestr("net/archive_format", "pt2")
    assert detect_source(str(program)).kind == "torch-export"
    assert detect_source(str(DIGITS / "digits-fp32.onnx")).kind == "onnx"
    assert detect_source(str(DIGITS / "digits-fp32.tflite")).kind == "tflite"
    assert detect_source("tests.convert.nets:torch_convnet").kind == "torch-factory"
    (tmp_path / "folder").mkdir()
    with pytest.raises(ConfigError, match="not a TensorFlow SavedModel"):
        detect_source(str(tmp_path / "folder"))
    with pytest.raises(ConfigError, match="no module 'no_such_package.nets'"):
        detect_source("no_such_package.nets:make")
    renamed = tmp_path / "net.keras"
    renamed.write_bytes(b"not a zip")
    with pytest.raises(ConfigError, match="not a model convert takes"):
        detect_source(str(renamed))


@pytest.mark.skipif(importlib.util.find_spec("torch") is not None, reason="torch is installed here")
def test_a_missing_converter_names_what_to_install(tmp_path: Path) -> None:
    program = tmp_path / "net.pt2"
    with zipfile.ZipFile(program, "w") as archive:
        archive.writestr("net/archive_format", "pt2")
    proc = edgeprof("convert", program, "--to", "onnx", cache=tmp_path / "cache")
    assert proc.returncode == 2
    assert "pip install 'edgeprof[torch]'" in one_error_line(proc.stderr)


def test_onnx_to_tflite_says_why_there_is_no_converter(tmp_path: Path) -> None:
    source = tmp_path / "digits.onnx"
    shutil.copy(DIGITS / "digits-fp32.onnx", source)
    proc = edgeprof("convert", source, "--to", "tflite", cache=tmp_path / "cache")
    assert proc.returncode == 2 and "onnx2tf needs Python >= 3.12" in one_error_line(proc.stderr)
    assert not list(tmp_path.glob("digits.tflite")) and not (tmp_path / "manifest.json").exists()


def test_unknown_target_and_existing_outputs_are_usage_errors(tmp_path: Path) -> None:
    source = tmp_path / "digits.tflite"
    shutil.copy(DIGITS / "digits-fp32.tflite", source)
    proc = edgeprof("convert", source, "--to", "coreml", cache=tmp_path / "cache")
    assert proc.returncode == 2 and "--to 'coreml'" in one_error_line(proc.stderr)
    (tmp_path / "digits.onnx").write_bytes(b"mine")
    proc = edgeprof("convert", source, "--to", "onnx", cache=tmp_path / "cache")
    assert proc.returncode == 2 and "already exists: pass --force" in one_error_line(proc.stderr)
    assert (tmp_path / "digits.onnx").read_bytes() == b"mine"


def test_fidelity_figures() -> None:
    rng = np.random.default_rng(0)
    want = rng.standard_normal((8, 10)).astype(np.float32)
    same = compare(["logits"], [want], [want + 1e-6], samples=8, inputs_from="seeded random")
    (out,) = same.outputs
    assert same.passes and out.max_abs_diff == pytest.approx(1e-6, rel=0.1) and out.top1_agreement == 1.0
    assert out.cosine == pytest.approx(1.0)
    flipped = want.copy()
    flipped[:4] = -flipped[:4]
    off = compare(["logits"], [want], [flipped], samples=8, inputs_from="seeded random")
    assert not off.passes and off.worst.name == "logits" and off.outputs[0].top1_agreement < 1.0
    assert off.outputs[0].cosine < 0.5
