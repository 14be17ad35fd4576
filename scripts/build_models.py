#!/usr/bin/env python3
"""Rebuild models/ reproducibly: the digits CNN and a MobileNetV2-class shape classifier, both trained here.

Needs TensorFlow (Keras -> TFLite) on top of edgeprof's own dependencies; run it in a separate build venv:

    python3 -m venv /tmp/buildvenv
    /tmp/buildvenv/bin/pip install tensorflow-cpu==2.21.0 scikit-learn 'numpy<2.5' && /tmp/buildvenv/bin/pip install -e .
    /tmp/buildvenv/bin/python scripts/build_models.py                      # both models
    nice -n 10 /tmp/buildvenv/bin/python scripts/build_models.py --model mobilenetv2   # one (about 15 min on 2 cores)
    .venv/bin/python scripts/build_models.py --manifest-only    # refresh the manifests only (no TensorFlow)

Each Keras model is written as TFLite by TensorFlow's converter and as ONNX by `keras_to_onnx` below (the same
trained weights, checked to give the same outputs), then edgeprof's own `quantize` makes the ONNX variants.
Nothing is downloaded: the digits come with scikit-learn, the shapes are drawn by `scripts/shapes.py`.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
SEED = 0


# ---------------------------------------------------------------- Keras -> ONNX (the layers these models use)

def keras_to_onnx(model: Any, path: Path, opset: int = 17) -> None:
    """Write a Keras functional model (NHWC) as an ONNX graph (NCHW inside, NHWC input like the original)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    nodes: list[Any] = []
    inits: list[Any] = []
    names: dict[int, str] = {}  # id(KerasTensor) -> ONNX tensor name (NCHW layout inside the graph)

    def init(name: str, array: np.ndarray) -> str:
        inits.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def src(tensor: Any) -> str:
        return names[id(tensor)]

    (inp,) = model.inputs
    input_name = "input"
    nodes.append(helper.make_node("Transpose", [input_name], ["input_nchw"], perm=[0, 3, 1, 2]))
    names[id(inp)] = "input_nchw"
    spatial = True  # layout of the running tensor: NCHW while 4-D
    for layer in model.layers:
        kind = type(layer).__name__
        if kind == "InputLayer":
            continue
        ins = layer.input if isinstance(layer.input, list) else [layer.input]
        out = f"{layer.name}_out"
        x = src(ins[0])
        if kind in ("Conv2D", "DepthwiseConv2D"):
            weights = layer.get_weights()
            kernel = weights[0]
            if kind == "Conv2D":
                w = kernel.transpose(3, 2, 0, 1)  # (kh, kw, in, out) -> (out, in, kh, kw)
                group = 1
            else:
                w = kernel.transpose(2, 3, 0, 1).reshape(-1, 1, kernel.shape[0], kernel.shape[1])
                group = kernel.shape[2]
            bias = weights[1] if layer.use_bias else np.zeros(w.shape[0], np.float32)
            kh, kw = kernel.shape[:2]
            stride = layer.strides
            pads = [0, 0, 0, 0]
            if layer.padding == "same":  # TensorFlow's: the odd pixel of padding goes after (bottom, right)
                (top, bottom), (left, right) = (_same_pads(size, k, s) for size, k, s in
                                                zip(ins[0].shape[1:3], (kh, kw), stride))
                pads = [top, left, bottom, right]
            nodes.append(helper.make_node("Conv", [x, init(f"{layer.name}_w", w), init(f"{layer.name}_b", bias)],
                                          [out], strides=list(stride), pads=pads, group=group,
                                          kernel_shape=[kh, kw]))
            out = _activation(nodes, layer, out)
        elif kind == "BatchNormalization":
            gamma, beta, mean, var = layer.get_weights()
            scale = gamma / np.sqrt(var + layer.epsilon)
            shift = beta - mean * scale
            shape = (1, -1, 1, 1) if spatial else (1, -1)
            nodes.append(helper.make_node("Mul", [x, init(f"{layer.name}_s", scale.reshape(shape))], [out + "_m"]))
            nodes.append(helper.make_node("Add", [out + "_m", init(f"{layer.name}_t", shift.reshape(shape))], [out]))
        elif kind == "ReLU" and layer.max_value is None:
            nodes.append(helper.make_node("Relu", [x], [out]))
        elif kind == "ReLU":
            nodes.append(helper.make_node("Clip", [x, init(f"{layer.name}_min", np.array(0.0, np.float32)),
                                                   init(f"{layer.name}_max", np.array(float(layer.max_value),
                                                                                        np.float32))], [out]))
        elif kind == "Activation":
            out = _activation(nodes, layer, x, name=out)
        elif kind == "MaxPooling2D":
            nodes.append(helper.make_node("MaxPool", [x], [out], kernel_shape=list(layer.pool_size),
                                          strides=list(layer.strides)))
        elif kind == "ZeroPadding2D":
            (top, bottom), (left, right) = layer.padding
            nodes.append(helper.make_node("Pad", [x, init(f"{layer.name}_p", np.array(
                [0, 0, top, left, 0, 0, bottom, right], np.int64))], [out]))
        elif kind == "Add":
            nodes.append(helper.make_node("Add", [src(t) for t in ins], [out]))
        elif kind == "GlobalAveragePooling2D":
            nodes.append(helper.make_node("GlobalAveragePool", [x], [out + "_g"]))
            nodes.append(helper.make_node("Flatten", [out + "_g"], [out]))
            spatial = False
        elif kind == "Flatten":
            nodes.append(helper.make_node("Transpose", [x], [out + "_nhwc"], perm=[0, 2, 3, 1]))
            nodes.append(helper.make_node("Flatten", [out + "_nhwc"], [out]))
            spatial = False
        elif kind == "Dense":
            kernel, bias = layer.get_weights()
            nodes.append(helper.make_node("Gemm", [x, init(f"{layer.name}_w", kernel), init(f"{layer.name}_b", bias)],
                                          [out]))
            out = _activation(nodes, layer, out)
        elif kind == "Dropout":
            nodes.append(helper.make_node("Identity", [x], [out]))
        else:
            raise SystemExit(f"keras_to_onnx: layer type {kind} is not handled")
        names[id(layer.output)] = out
    final = src(model.outputs[0])
    nodes.append(helper.make_node("Identity", [final], ["output"]))
    _, h, w, c = inp.shape
    graph = helper.make_graph(
        nodes, model.name,
        [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, ["batch", h, w, c])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["batch", model.outputs[0].shape[-1]])],
        inits)
    onnx_model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                                   producer_name="edgeprof scripts/build_models.py")
    onnx_model.ir_version = 8
    onnx.checker.check_model(onnx_model)
    onnx.save(onnx_model, str(path))


def _same_pads(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """Padding before and after one spatial axis for TensorFlow's 'same' convolution."""
    total = max(kernel - (size % stride or stride), 0)
    return total // 2, total - total // 2


def _activation(nodes: list[Any], layer: Any, x: str, name: str | None = None) -> str:
    from onnx import helper

    act = getattr(layer, "activation", None)
    act_name = getattr(act, "__name__", "linear")
    if act_name == "linear":
        return x
    out = name or f"{layer.name}_{act_name}"
    op = {"relu": "Relu", "softmax": "Softmax", "sigmoid": "Sigmoid"}.get(act_name)
    if op is None:
        raise SystemExit(f"keras_to_onnx: activation {act_name} is not handled")
    nodes.append(helper.make_node(op, [x], [out]))
    return out


# ---------------------------------------------------------------- TFLite

def to_tflite(model: Any, path: Path, variant: str, calibration: np.ndarray | None = None) -> dict[str, Any]:
    """One TFLite variant by TensorFlow's converter; returns the method parameters."""
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    params: dict[str, Any] = {}
    if variant == "fp16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif variant == "int8-dynamic":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        # per-tensor dense layers: tflite-runtime 2.14 cannot run per-channel dynamic FULLY_CONNECTED
        converter._experimental_disable_per_channel_quantization_for_dense_layers = True
        params["per_tensor_dense"] = True
    elif variant == "int8-static":
        assert calibration is not None
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = lambda: ([calibration[i:i + 1]] for i in range(len(calibration)))
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
        params.update(io="int8 (quantised input and output)", calibration_samples=len(calibration))
    path.write_bytes(converter.convert())
    return params


# ---------------------------------------------------------------- models

def train_digits() -> tuple[Any, dict[str, np.ndarray]]:
    """A small CNN on scikit-learn's bundled 8x8 digits (seeded split and training)."""
    import keras
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    keras.utils.set_random_seed(SEED)
    digits = load_digits()
    x = (digits.images / 16.0).astype(np.float32)[..., None]  # NHWC, values in [0, 1]
    y = digits.target.astype(np.int64)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.2, random_state=SEED, stratify=y)
    inputs = keras.Input((8, 8, 1), name="input")
    h = keras.layers.Conv2D(16, 3, padding="same", activation="relu", name="conv1")(inputs)
    h = keras.layers.MaxPooling2D(2, name="pool1")(h)
    h = keras.layers.Conv2D(32, 3, padding="same", activation="relu", name="conv2")(h)
    h = keras.layers.MaxPooling2D(2, name="pool2")(h)
    h = keras.layers.Flatten(name="flatten")(h)
    outputs = keras.layers.Dense(10, activation="softmax", name="probs")(h)
    model = keras.Model(inputs, outputs, name="digits")
    model.compile(optimizer=keras.optimizers.Adam(0.003), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    model.fit(x_train, y_train, epochs=40, batch_size=32, verbose=0, shuffle=True)
    data = {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}
    return model, data


def mobilenet() -> Any:
    """MobileNetV2 (width 0.35, 96x96 RGB, 10 classes) with seeded initial weights, before training."""
    import keras

    keras.utils.set_random_seed(SEED)
    return keras.applications.MobileNetV2(input_shape=(96, 96, 3), alpha=0.35, weights=None, classes=10,
                                          classifier_activation="softmax", name="mobilenetv2")


SHAPES_TRAIN, SHAPES_EPOCHS = 3000, 14  # fresh training images per epoch, epochs
SHAPES_TEST, SHAPES_IMAGES = 200, 10  # held-out test samples, held-out PNGs per class
SHAPES_TRAIN_SEED = 1000  # epoch e trains on make(SHAPES_TRAIN, SHAPES_TRAIN_SEED + e)


def shapes(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """`n` seeded shape images (scripts/shapes.py) scaled to [0, 1] (float32 NHWC), and their labels."""
    from scripts.shapes import make

    images, labels = make(n, seed)
    return (images / np.float32(255)).astype(np.float32), labels


def train_mobilenet() -> Any:
    """MobileNetV2 trained on the shapes (seeded; Adam with cosine decay), on fresh images every epoch.

    Keras's MobileNetV2 keeps BatchNormalization's moving statistics with momentum 0.999, which a few thousand steps
    do not settle; 0.9 does. Momentum is a training setting only: the inference graph is the same."""
    import keras

    model = mobilenet()
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = 0.9
    steps = SHAPES_EPOCHS * -(-SHAPES_TRAIN // 32)
    model.compile(optimizer=keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(0.003, steps)),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    for epoch in range(SHAPES_EPOCHS):
        x, y = shapes(SHAPES_TRAIN, SHAPES_TRAIN_SEED + epoch)
        history = model.fit(x, y, batch_size=32, verbose=0, shuffle=True).history
        print(f"mobilenetv2 epoch {epoch + 1}/{SHAPES_EPOCHS}: loss {history['loss'][0]:.4f}, "
              f"accuracy on its fresh images {history['accuracy'][0]:.4f}", flush=True)
    return model


def write_images(folder: Path, images: np.ndarray, labels: np.ndarray) -> None:
    """The images as folder/<class name>/NNN.png (replacing what was there): an image folder `dataset build` reads;
    and the class names in the model's label order, one a line, in folder/../classes.txt (`--classes FILE`)."""
    import shutil

    from PIL import Image

    from scripts.shapes import CLASSES

    shutil.rmtree(folder, ignore_errors=True)
    for label, name in enumerate(CLASSES):
        (folder / name).mkdir(parents=True)
        for number, image in enumerate(images[labels == label]):
            Image.fromarray(image).save(folder / name / f"{number:03d}.png", optimize=True)
    (folder.parent / "classes.txt").write_text("".join(f"{name}\n" for name in CLASSES))


# ---------------------------------------------------------------- checks and manifest

LAYOUT = "NHWC (batch, height, width, channels) in both formats"
INTENDED_USE = {
    "digits": "accuracy and latency: a real 10-class classifier with a labelled held-out split (test.npz)",
    "mobilenetv2": "accuracy and latency: MobileNetV2-class compute (width 0.35, 96x96) trained on 10 procedural "
                   "shape classes (scripts/shapes.py), with a labelled held-out split (test.npz) and images/",
}
PREPROCESSING = {
    "digits": "grey, 8x8, scale 1/16 (scikit-learn's 0-16 digits), NHWC",
    "mobilenetv2": "RGB, 96x96, scale 1/255, NHWC",
}


def describe_manifest(folder: Path, test: Path) -> None:
    """Add what a reader needs without loading each file: signature, layout, preprocessing, intended use, accuracy.

    Accuracy is measured here on the host through edgeprof's own agent code (top-1 on the labelled `test`)."""
    import json
    from dataclasses import asdict

    from edgeprof.agent.accuracy import evaluate
    from edgeprof.agent.backends import open_runtime
    from edgeprof.artifacts import load_artifact

    manifest = folder / "manifest.json"
    data = json.loads(manifest.read_text())
    for entry in data["models"]:
        artifact = load_artifact(folder / entry["path"])
        entry["inputs"] = [asdict(t) for t in artifact.inputs]
        entry["outputs"] = [asdict(t) for t in artifact.outputs]
        entry["layout"] = LAYOUT
        entry["intended_use"] = INTENDED_USE[entry["model"]]
        entry["preprocessing"] = PREPROCESSING[entry["model"]]
        runtime = open_runtime(str(artifact.path), artifact.format, 1)
        section = evaluate(runtime, str(test), None, lambda done, total: None)
        entry["accuracy"] = {"method": "measured on the host", "dataset": test.name, "samples": section["samples"],
                             "batch": section["batch"], "top1": round(section["top1"], 4),
                             "f1_macro": round(section["f1_macro"], 4),
                             "runtime": f"{runtime.name} {runtime.version}"}
    manifest.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


def run_onnx(path: Path, x: np.ndarray) -> np.ndarray:
    """Outputs of an ONNX model on x (one batch), float32, by ONNX Runtime: to check the export against Keras."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x})[0]


def report(folders: list[Path]) -> None:
    """What was built: each file's size and its host-measured accuracy, as the manifests record them."""
    import json

    print(f"{'file':48} {'size':>10}  accuracy")
    for folder in folders:
        for entry in json.loads((folder / "manifest.json").read_text())["models"]:
            accuracy = entry["accuracy"]
            accuracy = (f"top-1 {accuracy['top1']:.4f} on {accuracy['samples']} held-out samples "
                        f"({accuracy['runtime']}, batch {accuracy['batch']})")
            print(f"{folder.name + '/' + entry['path']:48} {entry['size_bytes']:>10}  {accuracy}")
    total = sum(p.stat().st_size for folder in folders for p in folder.rglob("*") if p.is_file())
    print(f"total: {total / 1e6:.2f} MB")


def build_digits(digits_dir: Path, tools: dict[str, str]) -> None:
    """models/digits: the trained CNN in fp32, fp16, int8-dynamic and int8-static, ONNX and TFLite, with its data."""
    from edgeprof.artifacts import load_artifact, sha256_file
    from edgeprof.convert import quantize, record
    from edgeprof.convert.variants import VariantResult

    digits_dir.mkdir(parents=True, exist_ok=True)
    model, data = train_digits()
    np.savez_compressed(digits_dir / "test.npz", x=data["x_test"], y=data["y_test"])
    rng = np.random.default_rng(SEED)
    calibration = data["x_train"][rng.choice(len(data["x_train"]), 200, replace=False)]
    np.savez_compressed(digits_dir / "calibration.npz", x=calibration)
    built: list[VariantResult] = []
    fp32_onnx = digits_dir / "digits-fp32.onnx"
    keras_to_onnx(model, fp32_onnx)
    keras_out = model.predict(data["x_test"], verbose=0)
    assert np.abs(run_onnx(fp32_onnx, data["x_test"]) - keras_out).max() < 1e-4, "ONNX export differs from Keras"
    fp32_tflite = digits_dir / "digits-fp32.tflite"
    to_tflite(model, fp32_tflite, "fp32")
    for path, method in ((fp32_onnx, "keras_to_onnx (scripts/build_models.py)"), (fp32_tflite, "TFLiteConverter")):
        art = load_artifact(path)
        built.append(VariantResult(path, "digits", "fp32", art.format, art.sha256, art.size_bytes, art.sha256,
                                   str(path), method, {"layout": "NHWC input [batch, 8, 8, 1], values in [0, 1]"},
                                   tools))
    record(digits_dir, built)
    for variant in ("fp16", "int8-dynamic", "int8-static"):
        path = digits_dir / f"digits-{variant}.tflite"
        params = to_tflite(model, path, variant, calibration)
        art = load_artifact(path)
        built.append(VariantResult(path, "digits", variant, "tflite", art.sha256, art.size_bytes,
                                   sha256_file(fp32_tflite), str(fp32_tflite), f"TFLiteConverter {variant}",
                                   params, tools))
    record(digits_dir, built)
    quantize(fp32_onnx, ["fp16", "int8-dynamic", "int8-static"], digits_dir, digits_dir / "calibration.npz")


def build_mobilenet(mobile_dir: Path, tools: dict[str, str]) -> None:
    """models/mobilenetv2: the shape classifier in fp32 and int8-static, ONNX and TFLite, with its data and images."""
    from edgeprof.artifacts import load_artifact, sha256_file
    from edgeprof.convert import quantize, record
    from edgeprof.convert.variants import VariantResult
    from scripts.shapes import CLASSES, make

    mobile_dir.mkdir(parents=True, exist_ok=True)
    net = train_mobilenet()
    x_test, y_test = shapes(SHAPES_TEST, SEED + 1)
    np.savez_compressed(mobile_dir / "test.npz", x=x_test, y=y_test)
    write_images(mobile_dir / "images", *make(SHAPES_IMAGES * len(CLASSES), SEED + 2))
    mobile_cal = shapes(64, SEED + 3)[0]  # the training distribution, images of their own
    np.savez_compressed(mobile_dir / "calibration.npz", x=mobile_cal)
    mobile_onnx = mobile_dir / "mobilenetv2-fp32.onnx"
    keras_to_onnx(net, mobile_onnx)
    diff = np.abs(run_onnx(mobile_onnx, x_test) - net.predict(x_test, verbose=0)).max()
    assert diff < 1e-3, f"ONNX export differs from Keras by {diff}"  # 50-odd layers of float32 rounding
    mobile_tflite = mobile_dir / "mobilenetv2-fp32.tflite"
    to_tflite(net, mobile_tflite, "fp32")
    note = {"layout": "NHWC input [batch, 96, 96, 3], RGB values in [0, 1]",
            "training": f"scripts/shapes.py, {SHAPES_EPOCHS} epochs of {SHAPES_TRAIN} fresh images "
                        f"(seeds {SHAPES_TRAIN_SEED}+epoch)"}
    mobile: list[VariantResult] = []
    for path, method in ((mobile_onnx, "keras_to_onnx (scripts/build_models.py)"), (mobile_tflite, "TFLiteConverter")):
        art = load_artifact(path)
        mobile.append(VariantResult(path, "mobilenetv2", "fp32", art.format, art.sha256, art.size_bytes, art.sha256,
                                    str(path), method, note, tools))
    record(mobile_dir, mobile)
    mobile_int8 = mobile_dir / "mobilenetv2-int8-static.tflite"
    params = to_tflite(net, mobile_int8, "int8-static", mobile_cal)
    art = load_artifact(mobile_int8)
    mobile.append(VariantResult(mobile_int8, "mobilenetv2", "int8-static", "tflite", art.sha256, art.size_bytes,
                                sha256_file(mobile_tflite), str(mobile_tflite), "TFLiteConverter int8-static",
                                {**params, **note}, tools))
    record(mobile_dir, mobile)
    quantize(mobile_onnx, ["int8-static"], mobile_dir, mobile_dir / "calibration.npz")


BUILDERS = {"digits": build_digits, "mobilenetv2": build_mobilenet}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "models")
    parser.add_argument("--model", choices=sorted(BUILDERS), action="append",
                        help="rebuild only this model (repeatable; default: every model)")
    parser.add_argument("--manifest-only", action="store_true",
                        help="only refresh the manifests' signatures, accuracy and intended use (no TensorFlow)")
    args = parser.parse_args()
    folders = [args.out / name for name in (args.model or sorted(BUILDERS))]
    if not args.manifest_only:
        import tensorflow as tf

        from edgeprof.convert.variants import tool_versions

        tools = tool_versions("tensorflow-cpu", "keras", "onnx", "scikit-learn", "numpy")
        tf.config.experimental.enable_op_determinism()
        for folder in folders:
            BUILDERS[folder.name](folder, tools)
    for folder in folders:
        describe_manifest(folder, folder / "test.npz")
    report(folders)


if __name__ == "__main__":
    main()
