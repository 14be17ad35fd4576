"""Tiny models the converter tests build: a torch conv net (its factory is what `package.module:factory` names) and
a Keras conv net. Imports torch or keras only when called."""

from __future__ import annotations

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
