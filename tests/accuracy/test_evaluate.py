"""evaluate(): labelled metrics and agreement with a reference (a model, or a source's outputs on the dataset), on
real ONNX Runtime and LiteRT sessions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgeprof.agent.accuracy import agreement, classification_metrics, evaluate
from edgeprof.agent.backends import open_runtime
from edgeprof.proportions import unpack_correct
from tests.models.onnx_graphs import DIGITS, linear_classifier, mixed_inputs

WEIGHTS = np.random.default_rng(3).standard_normal((6, 7)).astype(np.float32)


def no_progress(done: int, total: int | None) -> None:
    """A progress sink that ignores the events."""


def labelled(tmp_path: Path, count: int = 40, **extra: np.ndarray) -> tuple[Path, np.ndarray]:
    """An NPZ of random features with labels from the linear model itself, three of them flipped."""
    x = np.random.default_rng(5).standard_normal((count, 6)).astype(np.float32)
    y = (x @ WEIGHTS).argmax(1)
    y[:3] = (y[:3] + 1) % 7
    path = tmp_path / "data.npz"
    np.savez(path, x=x, y=y, **extra)
    return path, y


def test_metrics_by_hand() -> None:
    scores = np.array([[0.9, 0.1, 0.0], [0.2, 0.7, 0.1], [0.1, 0.2, 0.7], [0.6, 0.3, 0.1]])
    metrics = classification_metrics(scores, np.array([0, 1, 2, 1]))
    assert metrics["top1"] == 0.75 and metrics["samples"] == 4 and "top5" not in metrics
    assert metrics["confusion"] == [[1, 0, 0], [1, 1, 0], [0, 0, 1]]
    assert metrics["precision_macro"] == pytest.approx((0.5 + 1 + 1) / 3)
    assert metrics["recall_macro"] == pytest.approx((1 + 0.5 + 1) / 3)
    assert metrics["f1_macro"] == pytest.approx((2 / 3 + 2 / 3 + 1) / 3)
    with pytest.raises(ValueError, match="labels y run from 0 to 3, the model scores 3 classes"):
        classification_metrics(scores, np.array([0, 1, 2, 3]))


def test_agreement_by_hand() -> None:
    reference = np.ones((10, 4), np.float32)
    same = agreement(reference.copy(), reference)
    assert same["identical"] and same["sqnr_db"] is None and same["max_abs_diff"] == 0.0
    noisy = agreement(reference + 0.1, reference)  # signal power 1, noise power 0.01 per value
    assert noisy["sqnr_db"] == pytest.approx(20.0, abs=1e-4) and noisy["max_abs_diff"] == pytest.approx(0.1)
    assert noisy["cosine"] == pytest.approx(1.0) and not noisy["identical"]


def test_labelled_dataset_with_dynamic_batch(tmp_path: Path) -> None:
    data, y = labelled(tmp_path)
    seen: list[tuple[int, int | None]] = []
    section = evaluate(open_runtime(str(linear_classifier(tmp_path / "m.onnx", WEIGHTS)), "onnx", 1), str(data),
                       None, lambda done, total: seen.append((done, total)), dataset_sha256="ab" * 32)
    assert section["top1"] == pytest.approx(37 / 40) and section["samples"] == 40 and "top5" in section
    assert section["method"] == "measured" and section["inputs"] == "dataset" and "reference" not in section
    assert section["batch"] == 32
    assert seen[-1] == (40, 40)
    # which samples top-1 got right, for the host's paired test (edgeprof.proportions.unpack_correct reads it)
    assert unpack_correct(section["correct"], 40) == [False] * 3 + [True] * 37  # the three flipped labels
    assert section["dataset_sha256"] == "ab" * 32


def test_fixed_batch_of_one_is_fed_sample_by_sample_and_compared_with_a_reference(tmp_path: Path) -> None:
    data, _ = labelled(tmp_path, count=10)
    model = open_runtime(str(linear_classifier(tmp_path / "one.onnx", WEIGHTS, batch=1)), "onnx", 1)
    noisy = WEIGHTS + np.random.default_rng(9).normal(0, 0.05, WEIGHTS.shape).astype(np.float32)
    reference = open_runtime(str(linear_classifier(tmp_path / "ref.onnx", noisy)), "onnx", 1)
    section = evaluate(model, str(data), reference, no_progress)
    compared = section["reference"]
    assert section["top1"] == pytest.approx(0.7) and section["batch"] == 1
    assert compared["accuracy_drop"] == pytest.approx(compared["top1"] - 0.7)
    assert 10 < compared["sqnr_db"] < 60 and compared["cosine"] > 0.99 and compared["agreement_top1"] >= 0.8


def test_no_dataset_compares_on_seeded_random_inputs(tmp_path: Path) -> None:
    model = open_runtime(str(linear_classifier(tmp_path / "m.onnx", WEIGHTS)), "onnx", 1)
    twin = open_runtime(str(linear_classifier(tmp_path / "twin.onnx", WEIGHTS)), "onnx", 1)
    first = evaluate(model, None, twin, no_progress, seed=4)
    assert first["inputs"] == "random(seed=4)" and first["samples"] == 64 and "top1" not in first
    assert first["reference"]["identical"] and first["reference"]["agreement_top1"] == 1.0
    assert "top1" not in first["reference"] and "accuracy_drop" not in first["reference"]
    assert evaluate(model, None, twin, no_progress, seed=4) == first


def test_quantised_io_against_a_float_reference_with_other_input_names() -> None:
    variant = open_runtime(str(DIGITS / "digits-int8-static.tflite"), "tflite", 1)
    reference = open_runtime(str(DIGITS / "digits-fp32.onnx"), "onnx", 1)
    assert variant.inputs[0].quant is not None and variant.inputs[0].name != reference.inputs[0].name
    labelled_section = evaluate(variant, str(DIGITS / "test.npz"), reference, no_progress)
    assert labelled_section["top1"] >= 0.95 and labelled_section["reference"]["agreement_top1"] >= 0.98
    random_section = evaluate(variant, None, reference, no_progress)
    assert random_section["reference"]["cosine"] > 0.9  # the float reference saw the same (dequantised) inputs


def test_several_inputs_of_mixed_dtypes_and_a_scalar(tmp_path: Path) -> None:
    runtime = open_runtime(str(mixed_inputs(tmp_path / "mixed.onnx")), "onnx", 1)
    section = evaluate(runtime, None, runtime, no_progress, ranges={"ids": [0, 9]})
    assert section["samples"] == 64 and section["reference"]["identical"]
    data = tmp_path / "mixed.npz"
    image = np.eye(4, dtype=np.float32)[[0, 1, 2, 3, 1]]
    np.savez(data, image=image, ids=np.ones((5, 3), np.int64), mask=np.ones((5, 3), bool),
             gain=np.float32(2.0), y=np.array([0, 1, 2, 3, 0]))
    assert evaluate(runtime, str(data), None, no_progress)["top1"] == pytest.approx(0.8)


@pytest.mark.parametrize("arrays,message", [
    ({"features": np.zeros((4, 6), np.float32)}, r"no array for input 'x' \(keys: \['features'\]\)"),
    ({"x": np.zeros((4, 5), np.float32)}, r"'x' has shape \[4, 5\]; model input 'x' takes \['n', 6\]"),
    ({"x": np.zeros((4, 6), np.float32), "y": np.zeros(3, np.int64)}, "disagree on the number of samples"),
    ({"x": np.zeros((4, 6), np.float32), "y": np.full(4, 9)}, "labels y run from 9 to 9"),
])
def test_mismatched_dataset_is_a_value_error(tmp_path: Path, arrays: dict[str, np.ndarray], message: str) -> None:
    np.savez(tmp_path / "bad.npz", **arrays)
    runtime = open_runtime(str(linear_classifier(tmp_path / "m.onnx", WEIGHTS)), "onnx", 1)
    with pytest.raises(ValueError, match=message):
        evaluate(runtime, str(tmp_path / "bad.npz"), None, no_progress)


def test_fixed_batch_that_does_not_divide_and_a_different_reference_are_value_errors(tmp_path: Path) -> None:
    data, _ = labelled(tmp_path, count=10)
    fours = open_runtime(str(linear_classifier(tmp_path / "four.onnx", WEIGHTS, batch=4)), "onnx", 1)
    with pytest.raises(ValueError, match="10 samples do not split into the model's fixed batch of 4"):
        evaluate(fours, str(data), None, no_progress)
    model = open_runtime(str(linear_classifier(tmp_path / "m.onnx", WEIGHTS)), "onnx", 1)
    other = open_runtime(str(linear_classifier(tmp_path / "o.onnx", WEIGHTS[:, :5])), "onnx", 1)
    with pytest.raises(ValueError, match="5 values per sample, this model's 7"):
        evaluate(model, str(data), other, no_progress)


def test_agreement_with_a_reference_whose_outputs_never_vary_is_marked_meaningless(tmp_path: Path) -> None:
    constant = open_runtime(str(linear_classifier(tmp_path / "zero.onnx", np.zeros_like(WEIGHTS))), "onnx", 1)
    model = open_runtime(str(linear_classifier(tmp_path / "m.onnx", WEIGHTS)), "onnx", 1)
    compared = evaluate(model, None, constant, no_progress)["reference"]
    assert compared["meaningful"] is False and "do not vary" in compared["reason"]
    varied = evaluate(model, None, model, no_progress)["reference"]
    assert varied["meaningful"] is True and varied["reason"] is None


def test_reference_outputs_are_compared_with_as_a_reference_models_are(tmp_path: Path) -> None:
    """The source's outputs sent as an NPZ (what `sweep` computes for a PyTorch or Keras model): the figures are
    the ones the file gives, whatever model made it; the drop is against the file's own top-1."""
    data, y = labelled(tmp_path, count=40)
    model = open_runtime(str(linear_classifier(tmp_path / "m.onnx", WEIGHTS)), "onnx", 1)
    x = np.load(data)["x"]
    exact = x @ WEIGHTS
    noise = np.random.default_rng(4).standard_normal(exact.shape).astype(np.float32) * 0.01
    outputs = tmp_path / "source-outputs.npz"
    np.savez(outputs, outputs=exact + noise)
    section = evaluate(model, str(data), None, no_progress, outputs_path=str(outputs))
    compared = section["reference"]
    signal, error = (exact + noise).astype(np.float64), noise.astype(np.float64)
    expected_sqnr = 10 * np.log10(np.sum(signal ** 2) / np.sum(error ** 2))
    assert compared["against"] == "outputs" and not compared["identical"]
    assert compared["sqnr_db"] == pytest.approx(expected_sqnr, abs=0.05)
    source_top1 = float(np.mean((exact + noise).argmax(1) == y))
    assert compared["top1"] == pytest.approx(source_top1)
    assert compared["accuracy_drop"] == pytest.approx(source_top1 - section["top1"])
    assert evaluate(model, str(data), model, no_progress)["reference"]["against"] == "model"


def test_reference_outputs_on_other_samples_are_value_errors(tmp_path: Path) -> None:
    data, _ = labelled(tmp_path, count=10)
    model = open_runtime(str(linear_classifier(tmp_path / "m.onnx", WEIGHTS)), "onnx", 1)
    for key, rows, width, message in (("outputs", 9, 7, "hold 9 samples, the dataset 10"),
                                      ("outputs", 10, 5, "5 values per sample"),
                                      ("logits", 10, 7, "no array 'outputs'")):
        np.savez(tmp_path / "bad.npz", **{key: np.zeros((rows, width), np.float32)})
        with pytest.raises(ValueError, match=message):
            evaluate(model, str(data), None, no_progress, outputs_path=str(tmp_path / "bad.npz"))
