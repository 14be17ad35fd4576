"""Accuracy on the device: labelled metrics from an NPZ, and agreement with a reference: the fp32 reference model, run
here, or the source framework's outputs the host computed (a PyTorch or Keras model no device runs)."""

from __future__ import annotations

import base64
from typing import Any, Callable

import numpy as np

from .backends import Runtime, TensorInfo
from .inputs import load_dataset, random_input, resolve_given, resolve_shape, to_input
from .spec import REFERENCE_OUTPUTS_KEY

RANDOM_SAMPLES = 64
PROGRESS_EVERY = 50
BATCH = 32  # samples per call when the model's batch dim is dynamic
CONSTANT_OUTPUT_TOLERANCE = 1e-6  # a reference whose outputs spread less than this (relative) is constant


def _to_float(info: TensorInfo, value: np.ndarray) -> np.ndarray:
    """An output as float32; quantised outputs are dequantised."""
    if info.quant is not None and value.dtype.kind in "iu":
        scale, zero = info.quant
        return (value.astype(np.float32) - zero) * scale
    return value.astype(np.float32)


def _batch_size(inputs: list[TensorInfo]) -> int | None:
    """How many samples one call takes: a fixed leading dim, or None when the batch dim is dynamic."""
    leading = {info.shape[0] for info in inputs if info.shape}
    return leading.pop() if len(leading) == 1 and None not in leading else None


def _align(feeds: dict[str, np.ndarray], inputs: list[TensorInfo]) -> dict[str, np.ndarray]:
    """The feeds keyed by these inputs' names; by position when the names differ (a variant and its reference)."""
    if all(info.name in feeds for info in inputs):
        return {info.name: feeds[info.name] for info in inputs}
    if len(feeds) != len(inputs):
        raise ValueError(f"the model takes {len(inputs)} inputs {[i.name for i in inputs]}, "
                         f"the data has {len(feeds)}: {sorted(feeds)}")
    return {info.name: value for info, value in zip(inputs, feeds.values())}


def predict(runtime: Runtime, feeds: dict[str, np.ndarray], emit_progress: Callable[[int, int | None], None],
            batch: int = BATCH) -> np.ndarray:
    """The first output for every sample, as float32, fed in batches the model accepts (scalars every time)."""
    feeds = _align(feeds, runtime.inputs)
    n = len(next((v for v in feeds.values() if v.ndim), np.zeros(1)))
    fixed = _batch_size(runtime.inputs)
    size = fixed or batch
    if fixed and n % fixed:
        raise ValueError(f"the dataset's {n} samples do not split into the model's fixed batch of {fixed}")
    outputs: list[np.ndarray] = []
    for start in range(0, n, size):
        chunk = {info.name: to_input(info, feeds[info.name][start:start + size] if info.shape else feeds[info.name])
                 for info in runtime.inputs}
        first = runtime.run(chunk)[0]
        outputs.append(_to_float(runtime.outputs[0], first).reshape(min(size, n - start), -1))
        if (start // size) % PROGRESS_EVERY == 0 or start + size >= n:
            emit_progress(min(start + size, n), n)
    return np.concatenate(outputs)


def classification_metrics(scores: np.ndarray, labels: np.ndarray) -> dict[str, Any]:
    """Top-1, top-5 (more than 5 classes), macro precision/recall/F1, the confusion matrix, and which samples the
    top-1 got right (`correct`: numpy.packbits, base64; the host pairs two models' answers with it)."""
    classes = scores.shape[1]
    labels = labels.astype(np.int64).reshape(-1)
    if labels.size and (labels.min() < 0 or labels.max() >= classes):
        raise ValueError(f"labels y run from {labels.min()} to {labels.max()}, the model scores {classes} classes")
    predicted = scores.argmax(axis=1)
    confusion = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(confusion, (labels, predicted), 1)
    true_pos = np.diag(confusion).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(confusion.sum(0) > 0, true_pos / confusion.sum(0), 0.0)
        recall = np.where(confusion.sum(1) > 0, true_pos / confusion.sum(1), 0.0)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    present = confusion.sum(1) > 0
    correct = predicted == labels
    metrics: dict[str, Any] = {
        "samples": int(len(labels)),
        "top1": float(correct.mean()),
        "correct": base64.b64encode(np.packbits(correct).tobytes()).decode("ascii"),
        "precision_macro": float(precision[present].mean()),
        "recall_macro": float(recall[present].mean()),
        "f1_macro": float(f1[present].mean()),
        "confusion": confusion.tolist(),
    }
    if classes > 5:
        top5 = np.argsort(-scores, axis=1)[:, :5]
        metrics["top5"] = float((top5 == labels[:, None]).any(axis=1).mean())
    return metrics


def agreement(scores: np.ndarray, reference: np.ndarray) -> dict[str, Any]:
    """How closely a variant's outputs follow the reference's: top-1 agreement, SQNR, cosine, max abs diff."""
    noise = scores - reference
    signal_power = float(np.sum(reference.astype(np.float64) ** 2))
    noise_power = float(np.sum(noise.astype(np.float64) ** 2))
    sqnr = 10 * np.log10(signal_power / noise_power) if noise_power > 0 and signal_power > 0 else None
    norms = np.linalg.norm(scores, axis=1) * np.linalg.norm(reference, axis=1)
    cosine = np.sum(scores * reference, axis=1) / np.where(norms > 0, norms, 1.0)
    spread = float(np.ptp(reference.astype(np.float64), axis=0).max()) if len(reference) > 1 else 0.0
    scale = float(np.abs(reference).max()) or 1.0
    meaningful = spread > CONSTANT_OUTPUT_TOLERANCE * scale
    return {
        "agreement_top1": float((scores.argmax(1) == reference.argmax(1)).mean()) if scores.shape[1] > 1 else None,
        "sqnr_db": None if sqnr is None else float(sqnr),
        "identical": noise_power == 0,
        "cosine": float(cosine.mean()),
        "max_abs_diff": float(np.abs(noise).max()),
        "meaningful": meaningful,
        "reason": None if meaningful else (f"the reference's outputs do not vary over the {len(reference)} inputs "
                                           "(constant outputs): agreement and SQNR say nothing about this variant"),
    }


def random_feeds(inputs: list[TensorInfo], seed: int,
                 ranges: dict[str, list[int]] | None = None) -> dict[str, np.ndarray]:
    """RANDOM_SAMPLES seeded samples per input (whole fixed batches; one value for a scalar input; integer inputs
    within their `ranges`).

    A quantised input gets floats that its integer grid represents exactly (uniform over the grid), so a float
    reference sees the very values the quantised model sees."""
    rng = np.random.default_rng(seed)
    ranges = resolve_given(ranges or {}, inputs, "--input-range")
    feeds = {}
    for info in inputs:
        fixed = (info.shape[0] or 1) if info.shape else 1
        shape = [fixed * max(1, RANDOM_SAMPLES // fixed)] + resolve_shape(info, {}, lambda _m: None)[1:]
        shape = shape if info.shape else []
        if info.quant is not None and np.dtype(info.dtype).kind in "iu":
            scale, zero = info.quant
            limits = np.iinfo(info.dtype)
            grid = rng.integers(limits.min, limits.max, size=shape, endpoint=True)
            feeds[info.name] = ((grid - zero) * scale).astype(np.float32)
        else:
            feeds[info.name] = random_input(info, shape, rng, ranges.get(info.name))
    return feeds


def reference_outputs(path: str, samples: int) -> np.ndarray:
    """The reference outputs NPZ's one array (REFERENCE_OUTPUTS_KEY) as float32 samples x values; ValueError unless
    it holds one row per sample of the dataset."""
    with np.load(path, allow_pickle=False) as data:
        if REFERENCE_OUTPUTS_KEY not in data.files:
            raise ValueError(f"the reference outputs have no array '{REFERENCE_OUTPUTS_KEY}' (keys: {data.files})")
        outputs = data[REFERENCE_OUTPUTS_KEY]
    if outputs.ndim == 0 or len(outputs) != samples:
        raise ValueError(f"the reference outputs hold {len(outputs) if outputs.ndim else 0} samples, the dataset "
                         f"{samples}: they are not outputs on this dataset")
    return outputs.astype(np.float32).reshape(samples, -1)


def evaluate(runtime: Runtime, dataset_path: str | None, reference: Runtime | None,
             emit_progress: Callable[[int, int | None], None], *, seed: int = 0,
             ranges: dict[str, list[int]] | None = None, dataset_sha256: str | None = None,
             outputs_path: str | None = None) -> dict[str, Any]:
    """The `accuracy` section: labelled metrics when the dataset has labels, agreement when there is a reference
    (a model run on the same inputs, or `outputs_path`: a reference outputs NPZ on the dataset's samples);
    `dataset_sha256` (the dataset's hash) says which samples were scored, so the host pairs only like with like."""
    if dataset_path:
        feeds, labels = load_dataset(dataset_path, runtime.inputs)
        source = "dataset"
    else:
        feeds, labels, source = random_feeds(runtime.inputs, seed, ranges), None, f"random(seed={seed})"
    scores = predict(runtime, feeds, emit_progress)
    # the batch matters: dynamic int8 models scale activations per call, so accuracy can shift with it
    section: dict[str, Any] = {"method": "measured", "inputs": source, "samples": int(len(scores)),
                               "batch": _batch_size(runtime.inputs) or BATCH,
                               "dataset_sha256": dataset_sha256 if dataset_path else None}
    if labels is not None:
        section.update(classification_metrics(scores, labels))
    reference_scores = None
    if outputs_path is not None:
        reference_scores = reference_outputs(outputs_path, len(scores))
    elif reference is not None:
        reference_scores = predict(reference, feeds, emit_progress)
    if reference_scores is not None:
        if reference_scores.shape != scores.shape:
            raise ValueError(f"the reference's first output has {reference_scores.shape[1]} values per "
                             f"sample, this model's {scores.shape[1]}: they are not the same model")
        compared = agreement(scores, reference_scores)
        compared["against"] = "outputs" if outputs_path is not None else "model"
        if labels is not None:
            compared["top1"] = classification_metrics(reference_scores, labels)["top1"]
            compared["accuracy_drop"] = compared["top1"] - section["top1"]
        section["reference"] = compared
    return section
