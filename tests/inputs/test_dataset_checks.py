"""check_dataset on the host: every problem a dataset can have is one ConfigError naming the file, the key and
the first bad sample, before anything is uploaded; data the agent takes without loss passes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgeprof.artifacts import check_dataset, load_artifact
from edgeprof.errors import ConfigError
from tests.models.onnx_graphs import gather_table, linear_classifier
from tests.support import DIGITS

IMAGES = np.zeros((4, 8, 8, 1), np.float32)


def npz(tmp_path: Path, **arrays: np.ndarray) -> Path:
    path = tmp_path / "data.npz"
    np.savez(path, **arrays)
    return path


def with_value(value: float, at: int = 2) -> np.ndarray:
    images = IMAGES.copy()
    images[at, 3, 4, 0] = value
    return images


@pytest.mark.parametrize(("arrays", "message"), [
    ({"x": with_value(np.nan), "y": np.zeros(4, np.int64)}, "'x' holds NaN at sample 2 (pass --allow-nan"),
    ({"x": with_value(-np.inf, at=0)}, "'x' holds inf at sample 0"),
    ({"x": IMAGES, "y": np.array([0, 1, 2.5, 3])}, "'y' holds 2.5 at sample 2: labels are integer class indices"),
    ({"x": IMAGES, "y": np.array([0, -1, 2, 3])}, "'y' holds -1 at sample 1: labels are class indices from 0"),
    ({"x": IMAGES, "y": np.array([0, 1, 10, 3])}, "'y' holds 10 at sample 2, but the model scores 10 classes (0 to 9)"),
    ({"x": IMAGES, "y": np.array(["a", "b", "c", "d"])}, "'y' has dtype <U1: labels are integer class indices"),
    ({"x": IMAGES.astype(bool)}, "'x' has dtype bool, the model wants float32"),
])
def test_each_bad_dataset_for_a_float_model_is_one_line(tmp_path: Path, arrays: dict[str, np.ndarray],
                                                         message: str) -> None:
    path = npz(tmp_path, **arrays)
    with pytest.raises(ConfigError) as error:
        check_dataset(load_artifact(DIGITS / "digits-fp32.onnx"), path)
    assert str(error.value).startswith(f"dataset {path}: {message}") and "\n" not in str(error.value)


def test_what_the_agent_casts_without_loss_passes(tmp_path: Path) -> None:
    artifact = load_artifact(DIGITS / "digits-fp32.onnx")
    check_dataset(artifact, npz(tmp_path, x=IMAGES.astype(np.float64), y=np.array([0.0, 1.0, 9.0, 3.0])))
    check_dataset(artifact, npz(tmp_path, x=IMAGES.astype(np.uint8), y=np.array([0, 1, 9, 3], np.uint8)))
    check_dataset(artifact, npz(tmp_path, x=with_value(np.nan)), allow_nan=True)


def test_a_quantised_input_takes_floats_or_its_own_integers_and_plain_names_key_tflite_inputs(tmp_path: Path) -> None:
    artifact = load_artifact(DIGITS / "digits-int8-static.tflite")  # input serving_default_input:0, int8, quantised
    check_dataset(artifact, npz(tmp_path, input=IMAGES, y=np.zeros(4, np.int64)))
    check_dataset(artifact, npz(tmp_path, x=IMAGES.astype(np.int8)))
    with pytest.raises(ConfigError, match="'x' holds 200 at sample 0, which int8 .* cannot hold"):
        check_dataset(artifact, npz(tmp_path, x=np.full((4, 8, 8, 1), 200, np.int16)))


@pytest.mark.parametrize(("ids", "message"), [
    (np.full((4, 3), 1.0), "'ids' has dtype float64, the model's input 'ids' takes int64 (give integers"),
    (np.array([[0, 1, 2], [3, 4, 5], [0, 0, 0], [1, 1, 1]]), "'ids' holds 5 at sample 1, outside input 'ids''s "
                                                              "range 0:4"),
    (np.zeros((4, 4), np.int64), "'ids' has shape [4, 4], the model's input 'ids' is ['?', 3]"),
])
def test_an_index_input_takes_integers_within_its_table(tmp_path: Path, ids: np.ndarray, message: str) -> None:
    artifact = load_artifact(gather_table(tmp_path / "g.onnx"))
    with pytest.raises(ConfigError) as error:
        check_dataset(artifact, npz(tmp_path, ids=ids), ranges={"ids": [0, 4]})
    assert message in str(error.value)
    check_dataset(artifact, npz(tmp_path, ids=np.full((4, 3), 4, np.int32), y=np.full(4, 11)), ranges={"ids": [0, 4]})


def test_samples_must_fill_whole_fixed_batches(tmp_path: Path) -> None:
    artifact = load_artifact(linear_classifier(tmp_path / "four.onnx", np.eye(6, 3), batch=4))
    check_dataset(artifact, npz(tmp_path, x=np.zeros((8, 6), np.float32), y=np.zeros(8, np.int64)))
    with pytest.raises(ConfigError, match="'x' has 10 samples, which do not split into the model's fixed batch of 4"):
        check_dataset(artifact, npz(tmp_path, x=np.zeros((10, 6), np.float32)))
