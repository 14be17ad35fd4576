"""What every source framework offers `convert`: its inputs, a run on numpy arrays (the outputs every conversion is
checked against), and a conversion to a target format."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np


@dataclass(frozen=True)
class InputSpec:
    """One source input: its name, dims (batch included) and numpy dtype name."""

    name: str
    shape: tuple[int, ...]
    dtype: str


@dataclass(frozen=True)
class Made:
    """What a converter did: its name, the versions of the tools, the options it was given."""

    converter: str
    tools: dict[str, str]
    options: dict[str, Any] = field(default_factory=dict)


class SourceModel(ABC):
    """A loaded source model."""

    inputs: list[InputSpec]
    output_names: list[str]

    @abstractmethod
    def run(self, arrays: list[np.ndarray]) -> list[np.ndarray]:
        """The source framework's outputs for one batch (one array per input, in `inputs` order)."""

    @abstractmethod
    def convert(self, target: str, path: Path) -> Made:
        """Write the model in `target` format to `path` (ConfigError when no converter makes it)."""


def batch_of_one(dims: Any) -> tuple[int | None, ...]:
    """A model's input dims with a dynamic batch (the first dim) taken as 1; other dynamic dims stay None."""
    return tuple(1 if i == 0 and d is None else d for i, d in enumerate(dims))


def given_shapes(names: list[str], shapes: dict[str, tuple[int, ...]], found: list[tuple[int | None, ...] | None],
                 where: str) -> list[tuple[int, ...]]:
    """Each input's dims: --input-shape's for that name (or the only input's), else the model's own; ConfigError
    naming the input when neither is known."""
    from edgeprof.errors import ConfigError

    chosen = []
    for index, name in enumerate(names):
        dims = shapes.get(name) or (shapes.get("") if len(names) == 1 else None) or found[index]
        if not dims or any(d is None or d <= 0 for d in dims):
            raise ConfigError(f"{where}: the dims of input '{name}' are not known: pass --input-shape "
                              f"{name}=1x3x224x224 (its real dims)")
        chosen.append(tuple(int(d) for d in dims))
    unknown = sorted(set(shapes) - set(names) - ({""} if len(names) == 1 else set()))
    if unknown:
        raise ConfigError(f"--input-shape {unknown[0]}: {where} has no input of that name (inputs: "
                          f"{', '.join(names)})")
    return chosen


def flat_outputs(out: Any) -> list[Any]:
    """The tensors of a model's output (a tensor, or tuples, lists and dicts of them), in order."""
    if isinstance(out, (tuple, list)):
        return [t for item in out for t in flat_outputs(item)]
    if isinstance(out, dict):
        return [t for key in out for t in flat_outputs(out[key])]
    return [out]
