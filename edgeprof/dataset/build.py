"""`dataset build`: a source's samples, chosen (--limit, --split), preprocessed and written as NPZ files that
`deploy --dataset` and `quantize --calibration` read."""

from __future__ import annotations

import math
import os
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from edgeprof.artifacts import TensorSpec, load_artifact, printable
from edgeprof.dataset.preprocess import Preprocessing, decode_image, finish, with_model
from edgeprof.dataset.sources import Source, open_source
from edgeprof.errors import ConfigError, one_line

if TYPE_CHECKING:
    import numpy as np

CLASS_NAMES = "class_names"  # the key of the class names (strings), beside x and y
CALIBRATION_SUFFIX = "-calibration"


@dataclass(frozen=True)
class BuildRequest:
    """Everything `dataset build` was asked for."""

    src: Path
    out: Path
    prep: Preprocessing = Preprocessing()
    labels_csv: Path | None = None
    label_column: str | None = None
    classes: list[str] | None = None
    model: Path | None = None
    input_name: str | None = None
    limit: int | None = None
    seed: int = 0
    split: float | None = None


def calibration_path(out: Path) -> Path:
    """Where --split writes its held-out part: data.npz -> data-calibration.npz beside it."""
    return out.with_name(out.stem + CALIBRATION_SUFFIX + out.suffix)


def build_dataset(request: BuildRequest) -> list[Path]:
    """Write the dataset (and, with --split, its calibration part); the paths written, OUT first."""
    import numpy as np

    if request.out.suffix.lower() != ".npz":
        raise ConfigError(f"--out {printable(str(request.out))} must end in .npz")
    if request.limit is not None and request.limit < 1:
        raise ConfigError(f"--limit {request.limit} must be at least 1")
    if request.split is not None and not 0 < request.split < 1:
        raise ConfigError(f"--split {request.split} must be a fraction between 0 and 1 (exclusive), e.g. 0.2")
    source = open_source(request.src, request.labels_csv, request.label_column, request.classes)
    key, spec, quant = _model_input(request)
    prep = _settle(request.prep, source, spec, quant)
    rng = np.random.default_rng(request.seed)
    labels = np.asarray(source.labels if source.labels is not None else [0] * len(source.items))
    keep = np.arange(len(labels))
    if request.limit is not None and request.limit < len(keep):
        keep = choose(labels, request.limit, rng)
    labels = labels[keep]
    values = _fit_model(finish(_load(source, keep, prep), prep), spec)
    parts = {request.out: np.arange(len(keep))}
    if request.split is not None:
        held = choose(labels, round(request.split * len(keep)), rng)
        rest = np.setdiff1d(parts[request.out], held)
        if not len(held) or not len(rest):
            raise ConfigError(f"--split {request.split} of {len(keep)} samples leaves a part empty")
        parts = {request.out: rest, calibration_path(request.out): held}
    files = {}
    for path, rows in parts.items():
        files[path] = {key: values[rows]}
        if source.labels is not None:
            files[path]["y"] = labels[rows].astype(np.int64)
        if source.class_names is not None:
            files[path][CLASS_NAMES] = np.asarray(source.class_names)
    write_npz(files)
    return list(files)


def choose(labels: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """`count` positions into `labels`, sorted, drawn at random per label in proportion to its share
    (largest remainders settle the rounding): a stratified, seeded choice."""
    import numpy as np

    classes, sizes = np.unique(labels, return_counts=True)
    quotas = sizes * count / len(labels)
    taken = np.floor(quotas).astype(int)
    for i in np.argsort(-(quotas - taken), kind="stable")[: count - taken.sum()]:
        taken[i] += 1
    chosen = [rng.choice(np.flatnonzero(labels == c), size=k, replace=False) for c, k in zip(classes, taken)]
    return np.sort(np.concatenate(chosen)).astype(int)


def _model_input(request: BuildRequest) -> tuple[str, TensorSpec | None, tuple[float, int] | None]:
    """The NPZ key to write, the model input it feeds and that input's (scale, zero point) if quantised: key `x`
    for a model with one input (it fits that model in every format), the input's name for one of several;
    --input names the key when there is no model."""
    if request.model is None:
        return request.input_name or "x", None, None
    artifact = load_artifact(request.model)
    inputs = artifact.inputs
    if not inputs:
        raise ConfigError(f"{printable(str(request.model))}: its inputs cannot be read on this host (no TFLite "
                          "interpreter): build without --model")
    names = [spec.name for spec in inputs]
    if request.input_name is None:
        if len(inputs) > 1:
            raise ConfigError(f"{printable(str(request.model))} has {len(inputs)} inputs ({', '.join(names)}): "
                              "name the one these samples feed with --input")
        return "x", inputs[0], inputs[0].quant
    if request.input_name not in names:
        raise ConfigError(f"--input {request.input_name!r} is not an input of {printable(str(request.model))} "
                          f"(inputs: {', '.join(names)})")
    key = "x" if len(inputs) == 1 else request.input_name
    spec = inputs[names.index(request.input_name)]
    return key, spec, spec.quant


def _settle(prep: Preprocessing, source: Source, spec: TensorSpec | None, quant: tuple[float, int] | None
            ) -> Preprocessing:
    """The preprocessing to apply: model defaults filled in, and image-only options refused for other sources."""
    images = source.kind == "images"
    if not images:
        given = [name for name, value in (("--resize", prep.resize), ("--crop", prep.crop), ("--color", prep.color))
                 if value is not None]
        if given:
            raise ConfigError(f"{given[0]} applies to images; this source holds {source.kind} samples")
        if source.kind == "csv" and prep.layout is not None:
            raise ConfigError("--layout applies to images and .npy samples, not to CSV feature rows")
    if spec is not None:
        prep = with_model(prep, spec, quant, images)
    return replace(prep, color=prep.color or "rgb") if images else prep


def _load(source: Source, keep: np.ndarray, prep: Preprocessing) -> np.ndarray:
    """The chosen samples stacked (samples first); ConfigError naming two files whose shapes differ."""
    import numpy as np

    chosen = [source.items[int(index)] for index in keep]
    if source.kind == "csv":  # rows of one CSV: one length
        return np.stack(chosen)
    images = source.kind == "images"
    arrays = [decode_image(path, prep) if images else _read_npy(path) for path in chosen]
    for path, array in zip(chosen[1:], arrays[1:]):
        if array.shape != arrays[0].shape:
            hint = ": give --resize HxW" if images else ""
            raise ConfigError(f"samples differ in shape: {printable(str(chosen[0]))} is {_shape(arrays[0], images)}, "
                              f"{printable(str(path))} is {_shape(array, images)}{hint}")
    return np.stack(arrays)


def _shape(array: np.ndarray, images: bool) -> str:
    if images:
        return f"{array.shape[0]}x{array.shape[1]} (height x width)"
    return str(list(array.shape))


def _read_npy(path: Path) -> np.ndarray:
    """One sample from a .npy file: numbers only (no pickles)."""
    import numpy as np

    try:
        array = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        reason = "it holds pickled objects" if "allow_pickle" in str(exc) else one_line(exc, 200)
        raise ConfigError(f"{printable(str(path))}: not a readable .npy array ({reason})") from None
    if not isinstance(array, np.ndarray) or array.dtype.kind not in "biuf":
        raise ConfigError(f"{printable(str(path))}: a sample must be a numeric array, this holds {array.dtype}")
    return array


def _fit_model(values: np.ndarray, spec: TensorSpec | None) -> np.ndarray:
    """The samples in the model input's per-sample shape: as they are, or flat samples reshaped when the sizes
    agree (64 CSV features for an 8x8x1 input); ConfigError naming both shapes otherwise."""
    if spec is None or not spec.shape:
        return values
    wanted = spec.shape[1:]
    have = list(values.shape[1:])
    if len(have) == len(wanted) and all(w is None or w == h for w, h in zip(wanted, have)):
        return values
    if values.ndim == 2 and None not in wanted and math.prod(wanted) == values.shape[1]:  # type: ignore[arg-type]
        return values.reshape(len(values), *wanted)  # type: ignore[arg-type]
    shown = ["?" if d is None else d for d in spec.shape]
    raise ConfigError(f"the samples are {['n', *have]}, the model's input '{spec.name}' takes {shown} (see "
                      "--resize, --color, --layout)")


def write_npz(files: dict[Path, dict[str, np.ndarray]]) -> None:
    """Write each file's arrays as a compressed NPZ, atomically: every file to a temporary one beside it, then
    the renames, so a failure leaves the old files as they were."""
    import numpy as np

    temps: list[Path] = []
    try:
        for path, arrays in files.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
            temps.append(Path(temp))
            with os.fdopen(fd, "wb") as fh:
                np.savez_compressed(fh, **arrays)  # type: ignore[arg-type]
        for temp, path in zip(temps, files):
            os.replace(temp, path)
    except OSError as exc:
        raise ConfigError(f"cannot write {printable(str(path))} ({exc.strerror})") from None
    finally:
        for temp in temps:
            temp.unlink(missing_ok=True)
