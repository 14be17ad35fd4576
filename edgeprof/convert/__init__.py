"""Host-side model variants: fp16 and int8 (dynamic, static) from an fp32 ONNX or TFLite model; q8_0, q4_0 and
q4_k_m of a GGUF model."""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import fields
from pathlib import Path
from typing import Any

from edgeprof.artifacts import MANIFEST, identity, load_artifact, read_manifest
from edgeprof.convert.variants import (
    Placed,
    VariantFailed,
    VariantResult,
    check_variant_runs,
    place,
    remove_model,
    stops_held,
    variant_path,
)
from edgeprof.errors import ConfigError
from edgeprof.paths import write_whole

ONNX_VARIANTS = ("fp16", "int8-dynamic", "int8-static")
TFLITE_VARIANTS = ("fp16", "int8-dynamic", "int8-weight-only", "int8-static")
GGUF_VARIANTS = ("q8_0", "q4_0", "q4_k_m")
GENAI_VARIANTS = ("int4",)


def quantize(source: Path, variants: list[str], out_dir: Path, calibration: Path | None, *,
             qoperator: bool = False, force: bool = False) -> list[VariantResult]:
    """Write each variant of an fp32 model into out_dir, check that each loads and runs, and record those that do
    in out_dir/manifest.json; VariantFailed (exit 1) naming the first that does not (its file removed).
    A file quantize did not write as it is now is never replaced unless `force` (ConfigError first).
    The variants are written and checked in a staging folder inside out_dir, then moved into place and recorded
    in one step (`commit`): an error, Ctrl-C or SIGTERM leaves no partial variant and none without its entry."""
    artifact = load_artifact(source)
    if artifact.variant not in ("fp32", "original"):
        raise ConfigError(f"{source}: already the {artifact.variant} variant of {artifact.name}; "
                          "quantize its fp32 source")
    supported = {"onnx": ONNX_VARIANTS, "tflite": TFLITE_VARIANTS, "gguf": GGUF_VARIANTS,
                 "genai": GENAI_VARIANTS}[artifact.format]
    unknown = [v for v in variants if v not in supported]
    if unknown:
        raise ConfigError(f"variant {unknown[0]!r} is not available for {artifact.format.upper()} models "
                          f"(choose from {', '.join(supported)})")
    if not force:
        names = ["int8-static-qop" if qoperator and v == "int8-static" and artifact.format == "onnx" else v
                 for v in variants]
        refuse_foreign([variant_path(artifact, name, out_dir) for name in names], out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"--out: cannot create {out_dir}: {exc.strerror}") from exc
    if not os.access(out_dir, os.W_OK):
        raise ConfigError(f"--out: cannot write into {out_dir} (read-only or permission denied)")
    if artifact.format == "onnx":
        from edgeprof.convert.onnx_variants import make_onnx_variant as make
    elif artifact.format == "gguf":
        from edgeprof.convert.gguf_variants import make_gguf_variant as make
    elif artifact.format == "genai":
        from edgeprof.convert.genai_variants import make_genai_variant as make
    else:
        from edgeprof.convert.tflite_variants import make_tflite_variant as make
    working, failures = [], []
    with tempfile.TemporaryDirectory(dir=out_dir, prefix=".quantize-") as staging:
        made = [make(artifact, variant, Path(staging), calibration, qoperator=qoperator) for variant in variants]
        for result in made:
            try:
                check_variant_runs(result)
                working.append(result)
            except VariantFailed as exc:
                failures.append(exc)
        working = commit(out_dir, working)
    if failures:
        kept = f"; recorded {', '.join(r.variant for r in working)}" if working else ""
        raise VariantFailed(f"{failures[0]}{kept}")
    return working


QUANTIZE_KEYS = frozenset(f.name for f in fields(VariantResult))


def refuse_foreign(targets: list[Path], out_dir: Path, keys: frozenset[str] = QUANTIZE_KEYS,
                   writer: str = "quantize") -> None:
    """ConfigError naming the first target that exists and that `writer` did not write as it is now: its manifest
    entry holds its identity (load_artifact's sha256: an ONNX model's covers its external data) and only the keys
    `writer` writes (an entry with more, say accuracy or intended_use, was curated by hand and would be lost)."""
    entries = {entry.get("path"): entry for entry in _manifest(out_dir).get("models", [])}
    for target in targets:
        entry = entries.get(target.name)
        if not target.exists():
            continue
        ours = entry is not None and set(entry) <= keys and entry.get("sha256") == identity(target)
        if not ours:
            raise ConfigError(f"{target} exists and {writer} did not write it as it is: not overwritten "
                              "(--out DIR writes the variants elsewhere, --force replaces it)")


def _manifest(out_dir: Path) -> dict[str, Any]:
    """The manifest in `out_dir` (artifacts.read_manifest checks it), an empty one where there is none."""
    path = out_dir / MANIFEST
    return read_manifest(path) if path.is_file() else {"models": []}


def commit(out_dir: Path, staged: list[Placed]) -> list[Placed]:
    """Models written and checked in a staging folder inside out_dir, moved into out_dir (`place`) and recorded
    in its manifest as one step that SIGINT and SIGTERM wait for; when the manifest cannot be written, the models
    moved are removed again (ConfigError). The models at their new paths."""
    placed: list[Placed] = []
    if not staged:
        return placed
    with stops_held():
        try:
            for result in staged:
                placed.append(place(result, out_dir))
            record(out_dir, placed)
        except BaseException:
            for result in placed:
                remove_model(result.path, result.external_data)
            raise
    return placed


def record(out_dir: Path, results: list[VariantResult]) -> Path:
    """Add (or replace) the variants' entries in out_dir/manifest.json (rewritten whole: `paths.write_whole`)."""
    manifest = out_dir / MANIFEST
    data = _manifest(out_dir)
    fresh = {r.path.resolve().relative_to(out_dir.resolve()).as_posix(): r.manifest_entry(out_dir) for r in results}
    data["models"] = [e for e in data.get("models", []) if e.get("path") not in fresh] + list(fresh.values())
    data["models"].sort(key=lambda e: e["path"])
    try:
        write_whole(manifest, (json.dumps(data, indent=2, sort_keys=True) + "\n").encode())
    except OSError as exc:
        raise ConfigError(f"--out: cannot write {manifest}: {exc.strerror}") from exc
    return manifest
