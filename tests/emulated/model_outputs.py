"""Run models on the first N samples of an NPZ and print their outputs as JSON (runs on the host and in the guest).

usage: python3 model_outputs.py DATA.npz N MODEL [MODEL...]   (stdlib, numpy and the runtimes only)
"""

from __future__ import annotations

import json
import sys

import numpy as np


def onnx_outputs(path: str, x: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return np.concatenate([session.run(None, {name: x[i:i + 1]})[0] for i in range(len(x))])


def tflite_outputs(path: str, x: np.ndarray) -> np.ndarray:
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=path, num_threads=1)
    interpreter.allocate_tensors()
    inp, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    rows = []
    for i in range(len(x)):
        sample = x[i:i + 1]
        scale, zero = inp["quantization"]
        if inp["dtype"] != np.float32:
            sample = np.clip(np.round(sample / scale + zero), -128, 127).astype(inp["dtype"])
        interpreter.set_tensor(inp["index"], sample)
        interpreter.invoke()
        y = interpreter.get_tensor(out["index"]).astype(np.float32)
        oscale, ozero = out["quantization"]
        rows.append((y - ozero) * oscale if out["dtype"] != np.float32 else y)
    return np.concatenate(rows)


def main() -> None:
    data, count, models = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
    x = np.load(data)["x"][:count].astype(np.float32)
    results = {}
    for path in models:
        y = tflite_outputs(path, x) if path.endswith(".tflite") else onnx_outputs(path, x)
        results[path.rsplit("/", 1)[-1]] = y.tolist()
    print(json.dumps(results))


if __name__ == "__main__":
    main()
