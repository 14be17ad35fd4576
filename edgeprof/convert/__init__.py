"""Host-side model variants: fp16 and int8 (dynamic, static) from an fp32 ONNX or TFLite model."""

from __future__ import annotations

import json
import logging
import os
import platform
import warnings
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from edgeprof.artifacts import MANIFEST, ModelArtifact, load_artifact, sha256_file
from edgeprof.errors import ConfigError

ONNX_VARIANTS = ("fp16", "int8-dynamic", "int8-static")
TFLITE_VARIANTS = ("fp16", "int8-dynamic", "int8-weight-only", "int8-static")


@dataclass(frozen=True)
class VariantResult:
    """One variant written to disk, with what made it (the manifest entry)."""

    path: Path
    model: str
    variant: str
    format: str
    sha256: str
    size_bytes: int
    source_sha256: str
    source_path: str
    method: str
    parameters: dict[str, Any] = field(default_factory=dict)
    tools: dict[str, str] = field(default_factory=dict)

    def manifest_entry(self, base: Path) -> dict[str, Any]:
        """The entry as stored in manifest.json (paths relative to the manifest's folder)."""
        entry = asdict(self)
        entry["path"] = self.path.resolve().relative_to(base.resolve()).as_posix()
        entry["source_path"] = os.path.relpath(Path(self.source_path).resolve(), base.resolve())
        return entry


@contextmanager
def quiet_converter() -> Iterator[None]:
    """Keep the converters' advice off the CLI: root-logger warnings ('consider pre-processing', 'overwriting')
    and UserWarnings (LiteRT's 'preserve all tensors' during calibration). Failures still raise."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            yield
    finally:
        root.setLevel(level)


def tool_versions(*dists: str) -> dict[str, str]:
    """Versions of the tools that made a file (absent ones are left out)."""
    found = {"python": platform.python_version()}
    for dist in dists:
        try:
            found[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return found


def load_calibration(path: Path | None, variant: str) -> dict[str, np.ndarray]:
    """The calibration NPZ's arrays (one per input, or `x`); ConfigError when static int8 has none."""
    if path is None:
        raise ConfigError(f"variant {variant} needs calibration data: pass --calibration NPZ "
                          "(one array per model input, or x)")
    if not path.is_file():
        raise ConfigError(f"calibration file {path} does not exist")
    try:
        with np.load(path, allow_pickle=False) as data:
            return {key: data[key] for key in data.files if key != "y"}
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: not a readable NPZ file ({exc})") from exc


def quantize(source: Path, variants: list[str], out_dir: Path, calibration: Path | None, *,
             qoperator: bool = False) -> list[VariantResult]:
    """Write each variant of an fp32 model into out_dir and record them in out_dir/manifest.json."""
    artifact = load_artifact(source)
    if artifact.variant not in ("fp32", "original"):
        raise ConfigError(f"{source}: already the {artifact.variant} variant of {artifact.name}; "
                          "quantize its fp32 source")
    supported = ONNX_VARIANTS if artifact.format == "onnx" else TFLITE_VARIANTS
    unknown = [v for v in variants if v not in supported]
    if unknown:
        raise ConfigError(f"variant {unknown[0]!r} is not available for {artifact.format.upper()} models "
                          f"(choose from {', '.join(supported)})")
    out_dir.mkdir(parents=True, exist_ok=True)
    if artifact.format == "onnx":
        from edgeprof.convert.onnx_variants import make_onnx_variant as make
    else:
        from edgeprof.convert.tflite_variants import make_tflite_variant as make
    results = [make(artifact, variant, out_dir, calibration, qoperator=qoperator) for variant in variants]
    record(out_dir, results)
    return results


def record(out_dir: Path, results: list[VariantResult]) -> Path:
    """Add (or replace) the variants' entries in out_dir/manifest.json."""
    manifest = out_dir / MANIFEST
    data = json.loads(manifest.read_text()) if manifest.is_file() else {"models": []}
    fresh = {r.path.resolve().relative_to(out_dir.resolve()).as_posix(): r.manifest_entry(out_dir) for r in results}
    data["models"] = [e for e in data.get("models", []) if e.get("path") not in fresh] + list(fresh.values())
    data["models"].sort(key=lambda e: e["path"])
    manifest.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    return manifest


def describe(path: Path, source: ModelArtifact, variant: str, method: str, parameters: dict[str, Any],
             tools: dict[str, str]) -> VariantResult:
    """A VariantResult for a variant of `source` just written to `path`."""
    return VariantResult(path, source.name, variant, path.suffix[1:], sha256_file(path), path.stat().st_size,
                         source.sha256, str(source.path), method, parameters, tools)


def variant_path(source: ModelArtifact, variant: str, out_dir: Path) -> Path:
    """Where a variant goes: <out>/<name>-<variant>.<format>."""
    return out_dir / f"{source.name}-{variant}.{source.format}"
