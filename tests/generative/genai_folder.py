"""An ONNX Runtime GenAI model folder's shape, built here without onnxruntime-genai: genai_config.json naming the
decoder, the decoder as a real ONNX file whose weight lies in external data, and tokenizer files. It cannot generate
(onnxruntime-genai would refuse its graph); it is what the host checks, hashes and sends."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np


def genai_folder(path: Path) -> Path:
    """Write the folder at `path` (its name says the model and variant, e.g. tiny-llama-fp32) and return it."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    path.mkdir(parents=True)
    weight = numpy_helper.from_array(np.arange(16, dtype=np.float32).reshape(4, 4), "w")
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["logits"])], "decoder",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 4])], [weight])
    onnx.save(helper.make_model(graph), str(path / "model.onnx"), save_as_external_data=True,
              location="model.onnx.data", size_threshold=0)
    config = {"model": {"type": "llama", "context_length": 64, "vocab_size": 4, "bos_token_id": 1,
                        "eos_token_id": 2, "pad_token_id": 0,
                        "decoder": {"filename": "model.onnx", "session_options": {"provider_options": []}}},
              "search": {"max_length": 64, "do_sample": False}}
    (path / "genai_config.json").write_text(json.dumps(config, indent=2))
    (path / "tokenizer_config.json").write_text(json.dumps({"bos_token": "<s>", "eos_token": "</s>"}))
    (path / "tokenizer.json").write_text(json.dumps({"version": "1.0", "model": {"type": "BPE", "vocab": {}}}))
    return path
