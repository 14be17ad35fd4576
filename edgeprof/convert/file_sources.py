"""ONNX and TFLite files as sources, run in the runtimes a device uses (the agent's backends). TFLite to ONNX with
tf2onnx; ONNX to TFLite has no converter in edgeprof (docs/converting.md says why)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgeprof.convert.formats import Source
from edgeprof.convert.sources import InputSpec, Made, SourceModel, batch_of_one, given_shapes
from edgeprof.convert.variants import tool_versions
from edgeprof.errors import ConfigError

OPSET = 17


class FileModel(SourceModel):
    """An ONNX or TFLite model in its runtime (onnxruntime, LiteRT)."""

    def __init__(self, source: Source, shapes: dict[str, tuple[int, ...]]) -> None:
        from edgeprof.agent.backends import open_runtime

        self.source = source
        self.runtime = open_runtime(source.where, source.kind, 1)
        names = [i.name for i in self.runtime.inputs]
        dims = given_shapes(names, shapes, [batch_of_one(i.shape) for i in self.runtime.inputs], source.where)
        self.inputs = [InputSpec(i.name, d, i.dtype) for i, d in zip(self.runtime.inputs, dims)]
        self.output_names = [o.name for o in self.runtime.outputs]

    def run(self, arrays: list[np.ndarray]) -> list[np.ndarray]:
        return self.runtime.run({i.name: a for i, a in zip(self.inputs, arrays)})

    def convert(self, target: str, path: Path) -> Made:
        if self.source.kind == target:
            raise ConfigError(f"{self.source.where} is already {target.upper()}")
        if target == "tflite":
            raise ConfigError("no converter from ONNX to TFLite in edgeprof: onnx2tf needs Python >= 3.12 and "
                              "exact numpy/onnx/onnxruntime versions of its own (see edgeprof docs converting); convert "
                              "from the PyTorch or Keras source instead")
        import tf2onnx

        tf2onnx.convert.from_tflite(self.source.where, opset=OPSET, output_path=str(path))
        return Made("tf2onnx (from TFLite)", tool_versions("tf2onnx", "tensorflow-cpu", "tensorflow", "onnx"),
                    {"opset": OPSET})
