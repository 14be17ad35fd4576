"""TFLite variants from an fp32 .tflite with ai-edge-quantizer (no TensorFlow needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from edgeprof.artifacts import ModelArtifact
from edgeprof.convert import VariantResult, describe, load_calibration, tool_versions, variant_path
from edgeprof.errors import ConfigError

RECIPES = {
    "int8-dynamic": "dynamic_wi8_afp32",
    "int8-weight-only": "weight_only_wi8_afp32",
    "int8-static": "static_wi8_ai8",
}
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


def make_tflite_variant(source: ModelArtifact, variant: str, out_dir: Path, calibration: Path | None, *,
                        qoperator: bool = False) -> VariantResult:
    """Write one TFLite variant with an ai-edge-quantizer recipe; ConfigError with one line on failure."""
    if qoperator:
        raise ConfigError("--qoperator applies to ONNX models only")
    try:
        from ai_edge_quantizer import quantizer, recipe
    except ImportError as exc:
        raise ConfigError("TFLite variants need ai-edge-quantizer: pip install 'edgeprof[quantize-tflite]'") from exc
    target = variant_path(source, variant, out_dir)
    recipe_name = RECIPES[variant]
    parameters: dict[str, Any] = {"recipe": recipe_name}
    try:
        qt = quantizer.Quantizer(str(source.path), getattr(recipe, recipe_name)())
        result = None
        if qt.need_calibration:
            data = _calibration_data(source, calibration)
            parameters["calibration_samples"] = len(next(iter(data.values())))
            result = qt.calibrate(data)
        qt.quantize(result, enable_progress_report=False).export_model(str(target), overwrite=True)
    except ConfigError:
        raise
    except Exception as exc:  # the quantizer raises ValueError/RuntimeError with its reason
        raise ConfigError(f"{source.path}: {variant} conversion failed: {' '.join(str(exc).split())[:300]}") from exc
    return describe(target, source, variant, f"ai-edge-quantizer {recipe_name}", parameters,
                    tool_versions("ai-edge-quantizer", "ai-edge-litert"))
