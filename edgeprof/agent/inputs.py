"""The data each model input is fed: seeded random values that match its shape, dtype and value range, or the
dataset's samples in batches; and the plain input names (`input` for TFLite's `serving_default_input:0`)."""

from __future__ import annotations

import itertools
import math
from typing import Any, Callable, Collection

import numpy as np

from .backends import TensorInfo
from .spec import AgentFailure, ErrorKind, Stage, integer_input, plain_name, resolve_name

TIMING_FEEDS_BYTES = 64 << 20  # the dataset batches built before timing: at most this much memory (at least one)


def resolve_given(given: dict[str, Any], inputs: list[TensorInfo], option: str) -> dict[str, Any]:
    """`given` (by exact or plain input name) keyed by the model's input names; AgentFailure for a name that is
    no input of the model."""
    names = [info.name for info in inputs]
    resolved = {given_name: resolve_name(given_name, names) for given_name in given}
    unknown = sorted(name for name, found in resolved.items() if found is None)
    if unknown:
        raise AgentFailure(ErrorKind.INPUT, f"{option} names unknown inputs {unknown}; the model's inputs are {names}",
                           Stage.INPUTS)
    return {resolved[name]: value for name, value in given.items()}


def dataset_key(name: str, keys: list[str], inputs: int) -> str | None:
    """The dataset array for a model input: keyed by its name or plain name, or `x` for a single-input model."""
    found = resolve_name(plain_name(name), keys) if name not in keys else name
    return found or ("x" if inputs == 1 and "x" in keys else None)


def resolve_shape(info: TensorInfo, given: dict[str, list[int]], warn: Callable[[str], None],
                  undeclared: Collection[str] = ()) -> list[int]:
    """The concrete shape of an input: --input-shape where given, else dynamic dims default to 1: a dynamic batch
    (the first dim) silently, as single-stream timing feeds one sample; any other with a warning. An input that
    declares no dims (a scalar, or a model that leaves its shape out: ONNX Runtime reports [] for both, the host
    names the latter in `undeclared`) takes a given shape of any rank; without one it is fed a scalar, with a
    warning where the model leaves its shape out."""
    if info.name in given:
        shape = list(given[info.name])
        if info.shape and len(shape) != len(info.shape):
            raise AgentFailure(ErrorKind.INPUT, f"--input-shape {info.name}: the model's input has rank "
                               f"{len(info.shape)}, got {len(shape)} dims", Stage.INPUTS)
        for fixed, wanted in zip(info.shape, shape):
            if fixed is not None and fixed != wanted:
                raise AgentFailure(ErrorKind.INPUT, f"--input-shape {info.name}: dim {wanted} conflicts with the "
                                   f"model's fixed shape {info.shape}", Stage.INPUTS)
        return shape
    if any(d is None for d in info.shape[1:]):
        warn(f"input '{info.name}' has dynamic dims {info.shape}: using 1 "
             f"(set them with --input-shape {plain_name(info.name)}=...)")
    if not info.shape and info.name in undeclared:
        warn(f"input '{info.name}' has no declared shape: feeding a scalar "
             f"(set its shape with --input-shape {plain_name(info.name)}=...)")
    return [1 if d is None else d for d in info.shape]


def quantize(values: np.ndarray, dtype: Any, quant: tuple[float, int]) -> np.ndarray:
    """Float values as an integer tensor with this (scale, zero point) holds them: round(x / scale + zero),
    clipped to the dtype's range. The one rule for random feeds, dataset feeds and `dataset build`."""
    scale, zero = quant
    limits = np.iinfo(dtype)
    return np.clip(np.round(values / scale + zero), limits.min, limits.max).astype(dtype)


def random_input(info: TensorInfo, shape: list[int], rng: np.random.Generator,
                 value_range: list[int] | None = None) -> np.ndarray:
    """Values a model of that input type would plausibly see: N(0,1) floats, quantised N(0,1), bools, and plain
    integers uniform over `value_range` (inclusive; AgentFailure without one: no guess can be in bounds)."""
    dtype = np.dtype(info.dtype)
    if dtype == np.bool_:
        return rng.random(shape) < 0.5
    if dtype.kind == "f":
        return rng.standard_normal(shape).astype(dtype)
    if info.quant is not None:
        return quantize(rng.standard_normal(shape), dtype, info.quant)
    if dtype.kind in "iu":
        if value_range is None:
            raise AgentFailure(ErrorKind.INPUT, f"input '{info.name}' takes {info.dtype} values whose range edgeprof "
                               f"cannot read from the model: give it with --input-range {plain_name(info.name)}=LO:HI",
                               Stage.INPUTS)
        return rng.integers(value_range[0], value_range[1], size=shape, endpoint=True).astype(dtype)
    raise AgentFailure(ErrorKind.INPUT, f"input '{info.name}' has dtype {info.dtype}, which edgeprof cannot generate",
                       Stage.INPUTS)


def make_feeds(inputs: list[TensorInfo], given: dict[str, list[int]], seed: int, warn: Callable[[str], None],
               ranges: dict[str, list[int]] | None = None,
               undeclared: Collection[str] = ()) -> tuple[dict[str, np.ndarray], list[dict[str, Any]]]:
    """One seeded random feed per model input, plus the `inputs` section of the Result (with the range used);
    `undeclared`: the inputs whose shape the model leaves out (resolve_shape)."""
    given = resolve_given(given, inputs, "--input-shape")
    ranges = resolve_given(ranges or {}, inputs, "--input-range")
    for name in ranges:
        info = next(i for i in inputs if i.name == name)
        if not integer_input(info):
            raise AgentFailure(ErrorKind.INPUT, f"--input-range {name}: the input takes {info.dtype} values, not plain "
                               "integers", Stage.INPUTS)
    rng = np.random.default_rng(seed)
    feeds: dict[str, np.ndarray] = {}
    described: list[dict[str, Any]] = []
    for info in inputs:
        shape = resolve_shape(info, given, warn, undeclared)
        value_range = ranges.get(info.name)
        feeds[info.name] = random_input(info, shape, rng, value_range)
        described.append({"name": info.name, "shape": shape, "dtype": info.dtype, "source": f"random(seed={seed})",
                          "range": list(value_range) if value_range is not None else None})
    return feeds, described


def load_dataset(path: str, inputs: list[TensorInfo]) -> tuple[dict[str, np.ndarray], np.ndarray | None]:
    """The model inputs (keyed by input name, or `x` for a single input) and optional labels `y`."""
    with np.load(path, allow_pickle=False) as data:
        arrays = {key: data[key] for key in data.files}
    feeds: dict[str, np.ndarray] = {}
    for info in inputs:
        key = dataset_key(info.name, list(arrays), len(inputs))
        if key is None:
            raise ValueError(f"the dataset has no array for input '{info.name}' (keys: {sorted(arrays)})")
        feeds[info.name] = arrays[key]
        _check_shape(key, arrays[key].shape, info)
    samples = {key: len(value) for key, value in feeds.items() if value.ndim}
    labels = arrays.get("y")
    if len(set(samples.values())) != 1 or (labels is not None and len(labels) not in samples.values()):
        raise ValueError(f"dataset arrays disagree on the number of samples: {samples}, "
                         f"y: {None if labels is None else len(labels)}")
    return feeds, labels


def _check_shape(key: str, shape: tuple[int, ...], info: TensorInfo) -> None:
    """ValueError unless the array is samples x the input's per-sample dims (dynamic dims match anything).

    A scalar input takes one 0-d array, fed with every sample."""
    if not info.shape:
        if shape:
            raise ValueError(f"dataset array '{key}' has shape {list(shape)}; model input '{info.name}' is a scalar")
        return
    expected = info.shape[1:]
    if len(shape) != len(expected) + 1 or any(e is not None and e != d for e, d in zip(expected, shape[1:])):
        wanted = ["n"] + ["?" if d is None else d for d in expected]
        raise ValueError(f"dataset array '{key}' has shape {list(shape)}; model input '{info.name}' "
                         f"takes {wanted} (samples first)")


def to_input(info: TensorInfo, batch: np.ndarray) -> np.ndarray:
    """Dataset values into the input's dtype; float values are quantised with the tensor's scale and zero point."""
    dtype = np.dtype(info.dtype)
    if info.quant is not None and dtype.kind in "iu" and batch.dtype.kind == "f":
        return quantize(batch, dtype, info.quant)
    return batch.astype(dtype, copy=False)


def dataset_feeds(path: str, inputs: list[TensorInfo], given: dict[str, list[int]],
                  warn: Callable[[str], None]) -> tuple[list[dict[str, np.ndarray]], list[dict[str, Any]]]:
    """The dataset's samples as ready feeds for the timed runs to cycle through, built now so that no slice,
    cast or copy is timed: batches of the input's batch size (--input-shape, the model's fixed dim, else 1), in
    order, wrapping around at the end, as many as fill the dataset once (at most TIMING_FEEDS_BYTES together);
    the other dims are the samples'. Plus the `inputs` section of the Result."""
    given = resolve_given(given, inputs, "--input-shape")
    try:
        arrays, _ = load_dataset(path, inputs)
    except ValueError as exc:
        raise AgentFailure(ErrorKind.INPUT, str(exc), Stage.INPUTS) from exc
    samples = next((len(a) for a in arrays.values() if a.ndim), 1)
    leading = set()  # the batch: given (--input-shape) or fixed by the model; the samples give the other dims
    for info in inputs:
        if info.shape and info.name in given:
            shape = resolve_shape(info, given, warn)
            if shape[1:] != list(arrays[info.name].shape[1:]):
                raise AgentFailure(ErrorKind.INPUT, f"input '{info.name}': the dataset's samples are "
                                   f"{list(arrays[info.name].shape[1:])}, the timed shape is {shape}", Stage.INPUTS)
            leading.add(shape[0])
        elif info.shape and info.shape[0] is not None:
            leading.add(info.shape[0])
    if len(leading) > 1:
        raise AgentFailure(ErrorKind.INPUT, f"the inputs' batch dims disagree ({sorted(leading)}): give one batch with "
                           "--input-shape", Stage.INPUTS)
    batch = leading.pop() if leading else 1
    per_feed = sum(np.dtype(info.dtype).itemsize * (batch * math.prod(arrays[info.name].shape[1:])
                                                    if info.shape else 1) for info in inputs)
    count = max(1, min(math.ceil(samples / batch), TIMING_FEEDS_BYTES // max(per_feed, 1)))
    feeds = []
    for start in range(0, count * batch, batch):
        rows = np.arange(start, start + batch) % samples
        feeds.append({info.name: np.ascontiguousarray(to_input(info, arrays[info.name][rows] if info.shape
                                                                else arrays[info.name]))
                      for info in inputs})
    described = [{"name": info.name, "shape": list(feeds[0][info.name].shape), "dtype": info.dtype,
                  "source": "dataset", "samples": min(samples, count * batch), "batches": count, "range": None}
                 for info in inputs]
    return feeds, described


def cycling(runtime: Any, feeds: list[dict[str, np.ndarray]]) -> Callable[[], Callable[[], Any]] | None:
    """How the timed runs move to the next feed, between timed calls: bind it (`runtime.timed`) and return the
    bare call; None for a single feed (bound once)."""
    if len(feeds) < 2:
        return None
    order = itertools.cycle(feeds[1:] + feeds[:1])
    return lambda: runtime.timed(next(order))
