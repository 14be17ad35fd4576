"""ONNX variants with onnxruntime.quantization and onnxconverter-common."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from edgeprof.artifacts import ModelArtifact, TensorSpec
from edgeprof.convert.variants import (
    VariantResult,
    describe,
    external_data_location,
    load_calibration,
    quiet_converter,
    tool_versions,
    variant_path,
)
from edgeprof.errors import ConfigError, one_line

TOOLS = ("onnx", "onnxruntime", "onnxconverter-common")


class NpzReader:
    """A CalibrationDataReader over calibration arrays in the inputs' dtypes, one sample per call (batch 1)."""

    def __init__(self, arrays: dict[str, np.ndarray], inputs: list[TensorSpec]) -> None:
        if len(inputs) == 1 and inputs[0].name not in arrays and "x" in arrays:
            arrays = {inputs[0].name: arrays["x"]}
        missing = [spec.name for spec in inputs if spec.name not in arrays]
        if missing:
            raise ConfigError(f"calibration data has no array for input(s) {missing} (keys: {sorted(arrays)})")
        self._arrays = {spec.name: arrays[spec.name].astype(spec.dtype, copy=False) for spec in inputs}
        self._count = min(len(a) for a in self._arrays.values())
        self._i = 0

    @property
    def samples(self) -> int:
        """How many calibration samples the reader yields."""
        return self._count

    def get_next(self) -> dict[str, np.ndarray] | None:
        if self._i >= self._count:
            return None
        sample = {name: a[self._i:self._i + 1] for name, a in self._arrays.items()}
        self._i += 1
        return sample

    def rewind(self) -> None:
        self._i = 0


def make_onnx_variant(source: ModelArtifact, variant: str, out_dir: Path, calibration: Path | None, *,
                      qoperator: bool = False) -> VariantResult:
    """Write one ONNX variant of an fp32 model; ConfigError with one line when the converter fails."""
    name = "int8-static-qop" if qoperator and variant == "int8-static" else variant
    target = variant_path(source, name, out_dir)
    try:
        with quiet_converter():
            parameters = _CONVERTERS[variant](source, target, calibration, qoperator)
    except ConfigError:
        raise
    except Exception as exc:  # the converters raise anything from ValueError to protobuf errors
        raise ConfigError(f"{source.path}: {variant} conversion failed: {one_line(exc)}") from exc
    method = "onnxconverter-common float16" if variant == "fp16" else f"onnxruntime.quantization {variant}"
    return describe(target, source, name, method, parameters, tool_versions(*TOOLS))


def _fp16(source: ModelArtifact, target: Path, _calibration: Path | None, _qop: bool) -> dict[str, Any]:
    import onnx
    from onnxconverter_common import float16

    model = float16.convert_float_to_float16(onnx.load(str(source.path)), keep_io_types=True)
    location = external_data_location(target, source)
    onnx.save(model, str(target), save_as_external_data=location is not None, location=location)
    return {"keep_io_types": True}


def _dynamic(source: ModelArtifact, target: Path, _calibration: Path | None, _qop: bool) -> dict[str, Any]:
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # the loaded model, not its path: given a path, the quantizer writes a shape-inferred copy beside the source
    quantize_dynamic(onnx.load(str(source.path)), str(target), weight_type=QuantType.QUInt8,
                     use_external_data_format=external_data_location(target, source) is not None)
    return {"weight_type": "QUInt8", "note": "u8 weights: s8 dynamic kernels are much slower on x86"}


def _static(source: ModelArtifact, target: Path, calibration: Path | None, qoperator: bool) -> dict[str, Any]:
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    reader = NpzReader(load_calibration(calibration, "int8-static"), source.inputs)
    with tempfile.TemporaryDirectory() as tmp:
        prepared = Path(tmp) / "prepared.onnx"
        quant_pre_process(str(source.path), str(prepared), skip_symbolic_shape=True,
                          save_as_external_data=bool(source.data_files))
        quant_format = QuantFormat.QOperator if qoperator else QuantFormat.QDQ
        activation = QuantType.QUInt8 if qoperator else QuantType.QInt8
        quantize_static(str(prepared), str(target), reader, quant_format=quant_format, per_channel=True,
                        activation_type=activation, weight_type=QuantType.QInt8,
                        calibrate_method=CalibrationMethod.MinMax,
                        use_external_data_format=external_data_location(target, source) is not None)
    return {"format": "QOperator" if qoperator else "QDQ", "per_channel": True,
            "activation_type": activation.name, "weight_type": "QInt8", "calibration": "MinMax",
            "calibration_samples": reader.samples}


_CONVERTERS = {"fp16": _fp16, "int8-dynamic": _dynamic, "int8-static": _static}
