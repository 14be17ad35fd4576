"""GGUF variants through llama.cpp's own quantize (llama_cpp.llama_model_quantize in llama-cpp-python)."""

from __future__ import annotations

import ctypes
import os
from pathlib import Path
from typing import Any

from edgeprof.artifacts import ModelArtifact
from edgeprof.convert.variants import VariantResult, describe, quiet_converter, tool_versions, variant_path
from edgeprof.errors import ConfigError

FILE_TYPES = {"q8_0": "LLAMA_FTYPE_MOSTLY_Q8_0", "q4_0": "LLAMA_FTYPE_MOSTLY_Q4_0",
              "q4_k_m": "LLAMA_FTYPE_MOSTLY_Q4_K_M"}


def make_gguf_variant(source: ModelArtifact, variant: str, out_dir: Path, _calibration: Path | None, *,
                      qoperator: bool = False) -> VariantResult:
    """Write one GGUF variant into out_dir (quantize's staging folder) with llama.cpp's quantize (an already
    quantised source is requantised: its rounding carries over); ConfigError with one line when llama-cpp-python is
    absent or the quantize fails."""
    try:
        import llama_cpp
    except ImportError:
        raise ConfigError("GGUF variants need llama-cpp-python on this host (pip install llama-cpp-python)") from None
    target = variant_path(source, variant, out_dir)
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = getattr(llama_cpp, FILE_TYPES[variant])
    params.allow_requantize = True
    params.nthread = os.cpu_count() or 1
    with quiet_converter():
        status = llama_cpp.llama_model_quantize(str(source.path).encode(), str(target).encode(), ctypes.byref(params))
    if status != 0 or not target.is_file():
        raise ConfigError(f"{source.path}: {variant} quantization failed (llama.cpp quantize returned {status})")
    parameters: dict[str, Any] = {"ftype": FILE_TYPES[variant], "allow_requantize": True}
    return describe(target, source, variant, f"llama.cpp quantize {variant}", parameters,
                    tool_versions("llama-cpp-python"))
