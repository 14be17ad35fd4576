"""What every variant maker shares: the VariantResult (a manifest entry), calibration data, tool versions,
quiet third-party converters, and where a variant is written."""

from __future__ import annotations

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

from edgeprof.artifacts import ModelArtifact, sha256_file
from edgeprof.errors import ConfigError


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


def describe(path: Path, source: ModelArtifact, variant: str, method: str, parameters: dict[str, Any],
             tools: dict[str, str]) -> VariantResult:
    """A VariantResult for a variant of `source` just written to `path`."""
    return VariantResult(path, source.name, variant, path.suffix[1:], sha256_file(path), path.stat().st_size,
                         source.sha256, str(source.path), method, parameters, tools)


def variant_path(source: ModelArtifact, variant: str, out_dir: Path) -> Path:
    """Where a variant goes: <out>/<name>-<variant>.<format>."""
    return out_dir / f"{source.name}-{variant}.{source.format}"
