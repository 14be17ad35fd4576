"""Keras and TensorFlow sources: a Keras model (.keras, .h5) or a SavedModel folder. To TFLite with TensorFlow's own
converter, to ONNX with tf2onnx (opset 17)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from edgeprof.convert.formats import Source
from edgeprof.convert.sources import InputSpec, Made, SourceModel, batch_of_one, flat_outputs, given_shapes
from edgeprof.convert.variants import tool_versions

OPSET = 17


class KerasModel(SourceModel):
    """A Keras model, or a SavedModel's serving signature, with a tf.function over its inputs."""

    def __init__(self, source: Source, shapes: dict[str, tuple[int, ...]]) -> None:
        import tensorflow as tf

        self.source = source
        if source.kind == "savedmodel":
            self.keras = None
            self.loaded = tf.saved_model.load(source.where)  # kept: the signature's variables live in it
            signature = self.loaded.signatures["serving_default"]
            specs = signature.structured_input_signature[1]
            names = sorted(specs)
            found = [batch_of_one(specs[n].shape) for n in names]
            dtypes = [specs[n].dtype.name for n in names]
            self.output_names = sorted(signature.structured_outputs)
            self._call = lambda *xs: [signature(**dict(zip(names, xs)))[k] for k in self.output_names]
        else:
            import keras

            self.keras = keras.models.load_model(source.where, compile=False)
            tensors = list(self.keras.inputs)
            names = [t.name for t in tensors]
            found = [batch_of_one(t.shape) for t in tensors]
            dtypes = [np.dtype(getattr(t.dtype, "name", t.dtype)).name for t in tensors]
            self.output_names = [getattr(t, "name", f"output_{i}") for i, t in enumerate(self.keras.outputs)]
            model = self.keras
            self._call = lambda *xs: flat_outputs(model(list(xs) if len(xs) > 1 else xs[0], training=False))
        dims = given_shapes(names, shapes, found, source.where)
        self.inputs = [InputSpec(n, d, t) for n, d, t in zip(names, dims, dtypes)]
        self.signature = [tf.TensorSpec(i.shape, i.dtype, name=i.name) for i in self.inputs]

    def run(self, arrays: list[np.ndarray]) -> list[np.ndarray]:
        return [np.asarray(t) for t in self._call(*arrays)]

    def convert(self, target: str, path: Path) -> Made:
        import tensorflow as tf

        if target == "tflite":
            if self.keras is None:
                path.write_bytes(tf.lite.TFLiteConverter.from_saved_model(self.source.where).convert())
                return Made("tf.lite.TFLiteConverter", tool_versions("tensorflow-cpu", "tensorflow", "keras"))
            # through Keras's own SavedModel export (the inputs' dims fixed): the TFLite model keeps its
            # serving_default signature, which int8-static calibration (ai-edge-quantizer) needs
            with tempfile.TemporaryDirectory() as exported:
                self.keras.export(exported, format="tf_saved_model", verbose=False,
                                  input_signature=[self.signature] if len(self.signature) > 1 else self.signature)
                path.write_bytes(tf.lite.TFLiteConverter.from_saved_model(exported).convert())
            return Made("tf.lite.TFLiteConverter", tool_versions("tensorflow-cpu", "tensorflow", "keras"),
                        {"from": "keras export (SavedModel)"})
        import tf2onnx

        tf2onnx.convert.from_function(self._function(), input_signature=self.signature, opset=OPSET,
                                      output_path=str(path))
        return Made("tf2onnx", tool_versions("tf2onnx", "tensorflow-cpu", "tensorflow", "onnx"), {"opset": OPSET})

    def _function(self) -> Any:
        import tensorflow as tf

        call = self._call
        return tf.function(lambda *xs: call(*xs), input_signature=self.signature)

