"""Seeded input data that matches each model input's shape and dtype."""

from __future__ import annotations

from typing import Callable

import numpy as np

from .backends import TensorInfo
from .spec import AgentFailure


def resolve_shape(info: TensorInfo, given: dict[str, list[int]], warn: Callable[[str], None]) -> list[int]:
    """The concrete shape of an input: --input-shape where given, else dynamic dims default to 1 (with a warning)."""
    if info.name in given:
        shape = list(given[info.name])
        if len(shape) != len(info.shape):
            raise AgentFailure("input", f"--input-shape {info.name}: the model's input has rank {len(info.shape)}, "
                               f"got {len(shape)} dims", "inputs")
        for fixed, wanted in zip(info.shape, shape):
            if fixed is not None and fixed != wanted:
                raise AgentFailure("input", f"--input-shape {info.name}: dim {wanted} conflicts with the model's "
                                   f"fixed shape {info.shape}", "inputs")
        return shape
    if any(d is None for d in info.shape):
        warn(f"input '{info.name}' has dynamic dims {info.shape}: using 1 "
             f"(set them with --input-shape {info.name}=...)")
    return [1 if d is None else d for d in info.shape]


def random_input(info: TensorInfo, shape: list[int], rng: np.random.Generator) -> np.ndarray:
    """Values a model of that input type would plausibly see: N(0,1) floats, small non-negative ints, bools."""
    dtype = np.dtype(info.dtype)
    if dtype == np.bool_:
        return rng.random(shape) < 0.5
    if dtype.kind == "f":
        return rng.standard_normal(shape).astype(dtype)
    if info.quant is not None:
        scale, zero = info.quant
        info_range = np.iinfo(dtype)
        quantised = np.round(rng.standard_normal(shape) / scale + zero)
        return np.clip(quantised, info_range.min, info_range.max).astype(dtype)
    if dtype.kind in "iu":
        return rng.integers(0, 10, size=shape).astype(dtype)
    raise AgentFailure("input", f"input '{info.name}' has dtype {info.dtype}, which edgeprof cannot generate",
                       "inputs")


def make_feeds(inputs: list[TensorInfo], given: dict[str, list[int]], seed: int,
               warn: Callable[[str], None]) -> tuple[dict[str, np.ndarray], list[dict[str, object]]]:
    """One feed per model input, plus the `inputs` section of the Result."""
    unknown = sorted(set(given) - {i.name for i in inputs})
    if unknown:
        raise AgentFailure("input", f"--input-shape names unknown inputs {unknown}; the model's inputs are "
                           f"{[i.name for i in inputs]}", "inputs")
    rng = np.random.default_rng(seed)
    feeds: dict[str, np.ndarray] = {}
    described: list[dict[str, object]] = []
    for info in inputs:
        shape = resolve_shape(info, given, warn)
        feeds[info.name] = random_input(info, shape, rng)
        described.append({"name": info.name, "shape": shape, "dtype": info.dtype, "source": f"random(seed={seed})"})
    return feeds, described
