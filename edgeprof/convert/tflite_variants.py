"""TFLite variants from an fp32 .tflite with ai-edge-quantizer (no TensorFlow needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from edgeprof.artifacts import ModelArtifact
from edgeprof.convert.variants import (
    VariantResult,
    describe,
    load_calibration,
    quiet_converter,
    tool_versions,
    variant_path,
)
from edgeprof.errors import ConfigError, one_line

RECIPES = {
    "int8-dynamic": "dynamic_wi8_afp32",
    "int8-weight-only": "weight_only_wi8_afp32",
    "int8-static": "static_wi8_ai8",
}
FP16_METHOD = "float_casting"  # fp16 weights, dequantised to float before each op (weight-only)
CALIBRATION_SAMPLES = 200


def _calibration_data(source: ModelArtifact, calibration: Path | None) -> dict[str, list[dict[str, np.ndarray]]]:
    """{signature: [one feed per sample]} for the model's first signature, from the calibration NPZ."""
    from ai_edge_litert.interpreter import Interpreter

    arrays = load_calibration(calibration, "int8-static")
    interpreter = Interpreter(model_path=str(source.path))
    signatures = interpreter.get_signature_list()
    if not signatures:
        raise ConfigError(f"{source.path}: static int8 needs a model with a signature (export it with one)")
    key, signature = next(iter(signatures.items()))
    names = signature["inputs"]
    if len(names) == 1 and names[0] not in arrays and "x" in arrays:
        arrays = {names[0]: arrays["x"]}
    missing = [n for n in names if n not in arrays]
    if missing:
        raise ConfigError(f"calibration data has no array for signature input(s) {missing} (keys: {sorted(arrays)})")
    count = min(len(arrays[n]) for n in names)
    return {key: [{n: arrays[n][i:i + 1].astype(np.float32) for n in names}
                  for i in range(min(count, CALIBRATION_SAMPLES))]}


def _io_types(path: Path) -> str:
    """'float32 in, float32 out' or e.g. 'int8 in, int8 out' (full integer): what the written model takes."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path))
    kinds = [sorted({np.dtype(d["dtype"]).name for d in details})
             for details in (interpreter.get_input_details(), interpreter.get_output_details())]
    return f"{'/'.join(kinds[0])} in, {'/'.join(kinds[1])} out"


def _quantizer(source: ModelArtifact, variant: str) -> tuple[Any, str]:
    """An ai-edge-quantizer Quantizer set up for the variant, and the method's name."""
    from ai_edge_quantizer import algorithm_manager, qtyping, quantizer, recipe

    if variant == "fp16":
        qt = quantizer.Quantizer(str(source.path))
        qt.add_weight_only_config(regex=".*", operation_name=qtyping.TFLOperationName.ALL_SUPPORTED, num_bits=16,
                                  algorithm_key=algorithm_manager.AlgorithmName.FLOAT_CASTING)
        return qt, FP16_METHOD
    return quantizer.Quantizer(str(source.path), getattr(recipe, RECIPES[variant])()), RECIPES[variant]


def _convert(source: ModelArtifact, variant: str, target: Path, calibration: Path | None) -> dict[str, Any]:
    """Quantize (calibrating first when the recipe needs it) and export; returns the method's parameters."""
    qt, method = _quantizer(source, variant)
    parameters: dict[str, Any] = {"recipe": method}
    result = None
    if qt.need_calibration:
        data = _calibration_data(source, calibration)
        parameters["calibration_samples"] = len(next(iter(data.values())))
        result = qt.calibrate(data)
    qt.quantize(result, enable_progress_report=False).export_model(str(target), overwrite=True)
    target.chmod(0o644)  # the exporter leaves it executable
    parameters["io"] = _io_types(target)
    return parameters


def make_tflite_variant(source: ModelArtifact, variant: str, out_dir: Path, calibration: Path | None, *,
                        qoperator: bool = False) -> VariantResult:
    """Write one TFLite variant with ai-edge-quantizer; ConfigError with one line on failure."""
    if qoperator:
        raise ConfigError("--qoperator applies to ONNX models only")
    try:
        import ai_edge_quantizer  # noqa: F401
    except ImportError as exc:
        raise ConfigError("TFLite variants need ai-edge-quantizer: pip install ai-edge-quantizer") from exc
    target = variant_path(source, variant, out_dir)
    try:
        with quiet_converter():
            parameters = _convert(source, variant, target, calibration)
    except ConfigError:
        raise
    except Exception as exc:  # the quantizer raises ValueError/RuntimeError with its reason
        raise ConfigError(f"{source.path}: {variant} conversion failed: {one_line(exc)}") from exc
    return describe(target, source, variant, f"ai-edge-quantizer {parameters['recipe']}", parameters,
                    tool_versions("ai-edge-quantizer", "ai-edge-litert"))
