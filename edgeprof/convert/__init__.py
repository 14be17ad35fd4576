"""Host-side model variants: fp16 and int8 (dynamic, static) from an fp32 ONNX or TFLite model."""

from __future__ import annotations

import json
import os
from pathlib import Path

from edgeprof.artifacts import MANIFEST, load_artifact, read_manifest
from edgeprof.convert.variants import VariantFailed, VariantResult, check_variant_runs
from edgeprof.errors import ConfigError

ONNX_VARIANTS = ("fp16", "int8-dynamic", "int8-static")
TFLITE_VARIANTS = ("fp16", "int8-dynamic", "int8-weight-only", "int8-static")


def quantize(source: Path, variants: list[str], out_dir: Path, calibration: Path | None, *,
             qoperator: bool = False) -> list[VariantResult]:
    """Write each variant of an fp32 model into out_dir, check that each loads and runs, and record those that do
    in out_dir/manifest.json; VariantFailed (exit 1) naming the first that does not (its file removed)."""
    artifact = load_artifact(source)
    if artifact.variant not in ("fp32", "original"):
        raise ConfigError(f"{source}: already the {artifact.variant} variant of {artifact.name}; "
                          "quantize its fp32 source")
    supported = ONNX_VARIANTS if artifact.format == "onnx" else TFLITE_VARIANTS
    unknown = [v for v in variants if v not in supported]
    if unknown:
        raise ConfigError(f"variant {unknown[0]!r} is not available for {artifact.format.upper()} models "
                          f"(choose from {', '.join(supported)})")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"--out: cannot create {out_dir}: {exc.strerror}") from exc
    if not os.access(out_dir, os.W_OK):
        raise ConfigError(f"--out: cannot write into {out_dir} (read-only or permission denied)")
    if artifact.format == "onnx":
        from edgeprof.convert.onnx_variants import make_onnx_variant as make
    else:
        from edgeprof.convert.tflite_variants import make_tflite_variant as make
    results = [make(artifact, variant, out_dir, calibration, qoperator=qoperator) for variant in variants]
    working, failures = [], []
    for result in results:
        try:
            check_variant_runs(result)
            working.append(result)
        except VariantFailed as exc:
            failures.append(exc)
    if working:
        record(out_dir, working)
    if failures:
        kept = f"; recorded {', '.join(r.variant for r in working)}" if working else ""
        raise VariantFailed(f"{failures[0]}{kept}")
    return working


def record(out_dir: Path, results: list[VariantResult]) -> Path:
    """Add (or replace) the variants' entries in out_dir/manifest.json."""
    manifest = out_dir / MANIFEST
    data = read_manifest(manifest) if manifest.exists() else {"models": []}
    fresh = {r.path.resolve().relative_to(out_dir.resolve()).as_posix(): r.manifest_entry(out_dir) for r in results}
    data["models"] = [e for e in data.get("models", []) if e.get("path") not in fresh] + list(fresh.values())
    data["models"].sort(key=lambda e: e["path"])
    try:
        manifest.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    except OSError as exc:
        raise ConfigError(f"--out: cannot write {manifest}: {exc.strerror}") from exc
    return manifest
