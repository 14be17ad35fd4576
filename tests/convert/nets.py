"""Tiny models the converter tests build: a torch conv net (its factory is what `package.module:factory` names) and
a Keras conv net. Imports torch or keras only when called. `python -m tests.convert.nets OUT.onnx` writes the
dynamo export with external data (OUT.onnx + OUT.onnx.data) for the emulated stage, whose Python has no torch."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

SHAPE_NCHW = (1, 3, 16, 16)
SHAPE_NHWC = (1, 16, 16, 3)
FACTORY = "tests.convert.nets:torch_convnet"


def torch_convnet() -> Any:
    """A seeded conv net: conv, batch norm, ReLU, pooling, a linear head of 10 classes."""
    import torch
    from torch import nn

    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.Conv2d(8, 8, 3, stride=2),
                        nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 10))
    return net.eval()


def torch_program(path: Path) -> Path:
    """The conv net as a torch.export program saved to `path` (.pt2)."""
    import torch

    program = torch.export.export(torch_convnet(), (torch.zeros(SHAPE_NCHW),))
    torch.export.save(program, str(path))
    return path


def dynamo_export(path: Path) -> Path:
    """The conv net through torch.onnx's dynamo exporter, its weights in `<path>.data` beside it."""
    import torch

    torch.onnx.export(torch_convnet(), (torch.zeros(SHAPE_NCHW),), str(path), dynamo=True, external_data=True)
    return path


def keras_convnet() -> Any:
    """A seeded Keras conv net with the same layers, NHWC."""
    import keras

    keras.utils.set_random_seed(0)
    return keras.Sequential([
        keras.Input(SHAPE_NHWC[1:], name="image"),
        keras.layers.Conv2D(8, 3, padding="same"), keras.layers.BatchNormalization(), keras.layers.ReLU(),
        keras.layers.Conv2D(8, 3, strides=2), keras.layers.ReLU(), keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(10),
    ])


def keras_two_inputs() -> Any:
    """A seeded Keras model of two inputs ('a', 4 values; 'b', 3), concatenated into a dense head of 5."""
    import keras

    keras.utils.set_random_seed(0)
    a, b = keras.Input((4,), name="a"), keras.Input((3,), name="b")
    return keras.Model([a, b], keras.layers.Dense(5)(keras.layers.Concatenate()([a, b])))


if __name__ == "__main__":
    dynamo_export(Path(sys.argv[1]))
