"""int4 of an ONNX Runtime GenAI model folder, offline from its fp32 folder: ONNX Runtime's MatMulNBits weight-only
quantizer on each ONNX file the folder's genai_config.json names, with the settings the GenAI model builder uses for
`--precision int4 --execution_provider cpu` (blocks of 32, symmetric, accuracy level 4: the same quantizer it runs
after writing the fp32 graph); every other file (config, tokenizer) is copied as it is."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from edgeprof.artifacts import GENAI_CONFIG, ModelArtifact, genai_files
from edgeprof.convert.variants import (
    VariantResult,
    describe,
    quiet_converter,
    tool_versions,
    variant_path,
)
from edgeprof.errors import ConfigError, one_line
from edgeprof.onnx_wire import external_locations

INT4: dict[str, Any] = {"bits": 4, "block_size": 32, "is_symmetric": True, "accuracy_level": 4,
                        "op_types_to_quantize": ("MatMul",)}


def make_genai_variant(source: ModelArtifact, variant: str, out_dir: Path, _calibration: Path | None, *,
                       qoperator: bool = False) -> VariantResult:
    """Write the int4 folder into out_dir (quantize's staging folder, which is removed however it ends);
    ConfigError with one line when the quantizer is not on this host."""
    try:
        import onnx
        from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer
    except ImportError as exc:
        raise ConfigError(f"int4 variants of a GenAI folder need onnxruntime's MatMulNBits quantizer on this host "
                          f"({one_line(exc)}; pip install onnxruntime onnx onnx-ir)") from None
    target = variant_path(source, variant, out_dir)
    target.mkdir()
    graphs = set(genai_files(source.path / GENAI_CONFIG))
    external = {d.location: set(external_locations(d.path.read_bytes()).values())
                for d in source.data_files if d.location in graphs}
    replaced = set().union(*external.values())  # the fp32 weights: each quantised graph writes its own
    for data in source.data_files:
        if data.location in graphs:
            with quiet_converter():
                quantizer = MatMulNBitsQuantizer(onnx.load(str(data.path)), **INT4)
                quantizer.process()
                quantizer.model.save_model_to_file(str(target / data.location),
                                                   use_external_data_format=bool(external[data.location]))
        elif data.location not in replaced:
            shutil.copyfile(data.path, target / data.location)
    parameters = {**INT4, "op_types_to_quantize": list(INT4["op_types_to_quantize"])}
    return describe(target, source, variant, "onnxruntime MatMulNBitsQuantizer int4", parameters,
                    tool_versions("onnxruntime", "onnx", "onnx-ir", "onnxruntime-genai"))
