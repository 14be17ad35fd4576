"""The shipped models: manifests match the files, and every variant is as accurate in its real runtime as its
manifest says."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest

from edgeprof.agent.accuracy import evaluate
from edgeprof.agent.backends import open_runtime
from edgeprof.artifacts import check_dataset, load_artifact, reference_for, sha256_file
from scripts.shapes import CLASSES
from tests.models.onnx_graphs import DIGITS, MODELS

MODEL_FILES = sorted(p for p in MODELS.glob("*/*") if p.suffix in (".onnx", ".tflite"))
DIGITS_FILES = [p for p in MODEL_FILES if p.parent.name == "digits"]
MOBILENET = MODELS / "mobilenetv2"
MOBILENET_FILES = [p for p in MODEL_FILES if p.parent == MOBILENET]
MOBILENET_MIN_TOP1 = 0.9


def manifest_entries() -> dict[Path, dict]:
    """Every manifest entry under models/, keyed by the file it describes."""
    entries = {}
    for manifest in MODELS.glob("*/manifest.json"):
        for entry in json.loads(manifest.read_text())["models"]:
            entries[(manifest.parent / entry["path"]).resolve()] = entry
    return entries


def test_every_model_file_is_in_a_manifest_with_its_hash_and_size() -> None:
    entries = manifest_entries()
    assert len(MODEL_FILES) >= 12
    assert {p.resolve() for p in MODEL_FILES} == set(entries)
    for path, entry in entries.items():
        assert entry["sha256"] == sha256_file(path), path
        assert entry["size_bytes"] == path.stat().st_size, path
        assert entry["format"] == path.suffix[1:] and entry["method"] and entry["tools"], path
        artifact = load_artifact(path)
        for kind in ("inputs", "outputs"):  # the fields each entry records (older entries: name, shape, dtype)
            specs = [json.loads(json.dumps(asdict(t))) for t in getattr(artifact, kind)]
            assert entry[kind] == [{key: s[key] for key in e} for s, e in zip(specs, entry[kind])], path
            assert len(entry[kind]) == len(specs), path
        assert entry["layout"].startswith("NHWC") and entry["intended_use"], path


def test_variants_name_their_fp32_source_and_formats_keep_one_layout() -> None:
    entries = manifest_entries()
    for path, entry in entries.items():
        source = (path.parent / entry["source_path"]).resolve()
        assert entry["source_sha256"] == sha256_file(source), path
        assert entries[source]["variant"] == "fp32" and source.suffix == path.suffix, path
    for fmt in ("onnx", "tflite"):
        layouts = {tuple(load_artifact(p).inputs[0].shape[1:]) for p in DIGITS_FILES if p.suffix == f".{fmt}"}
        assert layouts == {(8, 8, 1)}  # NHWC in both formats, as the manifests say


def test_both_models_have_both_formats_and_record_accuracy_and_preprocessing() -> None:
    variants = {(load_artifact(p).variant, p.suffix) for p in DIGITS_FILES}
    assert variants == {(v, s) for v in ("fp32", "fp16", "int8-dynamic", "int8-static") for s in (".onnx", ".tflite")}
    variants = {(load_artifact(p).variant, p.suffix) for p in MOBILENET_FILES}
    assert variants == {(v, s) for v in ("fp32", "int8-static") for s in (".onnx", ".tflite")}
    for path, entry in manifest_entries().items():
        assert entry["accuracy"]["dataset"] == "test.npz" and entry["accuracy"]["top1"] > 0.5, path
        assert entry["preprocessing"].endswith("NHWC"), path
    assert {manifest_entries()[p.resolve()]["preprocessing"] for p in MOBILENET_FILES} == {
        "RGB, 96x96, scale 1/255, NHWC"}


def test_models_folder_stays_small() -> None:
    assert sum(p.stat().st_size for p in MODELS.rglob("*") if p.is_file()) < 25_000_000


def test_digits_data_matches_the_models() -> None:
    with np.load(DIGITS / "test.npz") as test, np.load(DIGITS / "calibration.npz") as calibration:
        assert test["x"].dtype == np.float32 and test["x"].shape[1:] == (8, 8, 1)
        assert test["y"].dtype == np.int64 and len(test["y"]) == len(test["x"]) >= 300
        assert set(np.unique(test["y"])) == set(range(10))
        assert calibration.files == ["x"] and calibration["x"].shape[1:] == (8, 8, 1)
        assert 0.0 <= test["x"].min() and test["x"].max() <= 1.0
    for path in DIGITS_FILES:
        check_dataset(load_artifact(path), DIGITS / "test.npz")


@pytest.mark.parametrize("fmt", ["onnx", "tflite"])
def test_digits_fp32_is_accurate_in_its_runtime(fmt: str) -> None:
    runtime = open_runtime(str(DIGITS / f"digits-fp32.{fmt}"), fmt, 1)
    section = evaluate(runtime, str(DIGITS / "test.npz"), None, lambda done, total: None)
    assert section["method"] == "measured" and section["samples"] == 360
    assert section["top1"] >= 0.95 and section["top5"] >= section["top1"]
    assert np.array(section["confusion"]).sum() == 360


@pytest.mark.parametrize("path", [p for p in DIGITS_FILES if "fp32" not in p.name], ids=lambda p: p.name)
def test_each_digits_variant_keeps_accuracy_and_agrees_with_its_fp32_source(path: Path) -> None:
    artifact = load_artifact(path)
    reference = reference_for(artifact)
    assert reference is not None and reference.name == f"digits-fp32.{artifact.format}"
    section = evaluate(open_runtime(str(path), artifact.format, 1), str(DIGITS / "test.npz"),
                       open_runtime(str(reference), artifact.format, 1), lambda done, total: None)
    compared = section["reference"]
    recorded = artifact.manifest["accuracy"]
    assert recorded["top1"] == round(section["top1"], 4) and recorded["batch"] == section["batch"]
    assert section["top1"] >= 0.95
    assert compared["agreement_top1"] >= 0.98 and compared["cosine"] > 0.99
    assert compared["sqnr_db"] > 25 and abs(compared["accuracy_drop"]) <= 0.02
    assert compared["accuracy_drop"] == pytest.approx(compared["top1"] - section["top1"])


def test_mobilenet_data_matches_the_models() -> None:
    with np.load(MOBILENET / "test.npz") as test, np.load(MOBILENET / "calibration.npz") as calibration:
        assert test["x"].dtype == np.float32 and test["x"].shape[1:] == (96, 96, 3)
        assert test["y"].dtype == np.int64 and len(test["y"]) == len(test["x"]) >= 200
        assert np.bincount(test["y"]).tolist() == [len(test["y"]) // 10] * 10
        assert calibration.files == ["x"] and calibration["x"].shape[1:] == (96, 96, 3)
        assert 0.0 <= test["x"].min() and test["x"].max() <= 1.0
    for path in MOBILENET_FILES:
        check_dataset(load_artifact(path), MOBILENET / "test.npz")


@pytest.mark.parametrize("path", MOBILENET_FILES, ids=lambda p: p.name)
def test_each_mobilenet_variant_is_as_accurate_as_its_manifest_says(path: Path) -> None:
    artifact = load_artifact(path)
    section = evaluate(open_runtime(str(path), artifact.format, 1), str(MOBILENET / "test.npz"), None,
                       lambda done, total: None)
    recorded = artifact.manifest["accuracy"]
    assert section["samples"] == recorded["samples"] >= 200
    assert recorded["top1"] == round(section["top1"], 4) >= MOBILENET_MIN_TOP1


@pytest.mark.parametrize("fmt", ["onnx", "tflite"])
def test_mobilenet_int8_agrees_with_its_fp32_source_on_the_held_out_images(fmt: str) -> None:
    variant = load_artifact(MOBILENET / f"mobilenetv2-int8-static.{fmt}")
    reference = reference_for(variant)
    assert reference is not None and reference.name == f"mobilenetv2-fp32.{fmt}"
    section = evaluate(open_runtime(str(variant.path), fmt, 1), str(MOBILENET / "test.npz"),
                       open_runtime(str(reference), fmt, 1), lambda done, total: None)
    compared = section["reference"]
    assert compared["meaningful"] is True and compared["identical"] is False
    assert compared["agreement_top1"] >= 0.95 and abs(compared["accuracy_drop"]) <= 0.03


def test_the_shipped_images_are_classified_as_their_folders_name_them(tmp_path: Path) -> None:
    from PIL import Image

    folders = sorted(p for p in (MOBILENET / "images").iterdir())
    assert [p.name for p in folders] == sorted(CLASSES)
    images, labels = [], []
    for folder in folders:
        files = sorted(folder.glob("*.png"))
        assert len(files) >= 8, folder
        for file in files:
            with Image.open(file) as image:
                assert image.mode == "RGB" and image.size == (96, 96), file
                images.append(np.asarray(image, dtype=np.float32) / 255)
            labels.append(CLASSES.index(folder.name))
    np.savez(tmp_path / "images.npz", x=np.stack(images), y=np.array(labels))
    section = evaluate(open_runtime(str(MOBILENET / "mobilenetv2-fp32.onnx"), "onnx", 1), str(tmp_path / "images.npz"),
                       None, lambda done, total: None)
    assert section["top1"] >= MOBILENET_MIN_TOP1
