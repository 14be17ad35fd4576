"""The project file `edgeprof.toml`: constraints for all devices, per device, and per device and model."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgeprof.constraints import Constraint, parse_constraint
from edgeprof.devices import read_toml
from edgeprof.errors import ConfigError

DEFAULT_FILE = Path("edgeprof.toml")


@dataclass(frozen=True)
class ProjectFile:
    """Constraint tables from the project file, least to most specific."""

    path: Path
    everywhere: dict[str, str]
    per_device: dict[str, dict[str, str]]
    per_model: dict[tuple[str, str], dict[str, str]]

    def constraints_for(self, device: str, model_names: list[str]) -> list[Constraint]:
        """The project's constraints for a device and model, most specific last (so it wins)."""
        tables = [("", self.everywhere), (f'."{device}"', self.per_device.get(device, {}))]
        tables += [(f'."{device}"."{label}"', self.per_model[(device, label)])
                   for label in model_names if (device, label) in self.per_model]
        return [parse_constraint(f"{metric}{value}", source=f"{self.path} [constraints{where}] {metric}")
                for where, table in tables for metric, value in table.items()]


def _metrics(table: dict[str, Any], where: str, path: Path) -> dict[str, str]:
    """One constraints table, every entry checked now so the error names the file and key."""
    for metric, value in table.items():
        if not isinstance(value, str):
            raise ConfigError(f"{path}: [constraints{where}] {metric} must be a string like \"<= 100\", got {value!r}")
        parse_constraint(f"{metric}{value}", source=f"{path} [constraints{where}] {metric}")
    return dict(table)


def load_project(path: Path | None) -> ProjectFile | None:
    """Read the project file (the given one must exist; ./edgeprof.toml is optional)."""
    target = path or DEFAULT_FILE
    if not target.exists():
        if path is not None:
            raise ConfigError(f"project file {path} does not exist")
        return None
    data = read_toml(target)
    unknown = sorted(set(data) - {"constraints"})
    if unknown:
        raise ConfigError(f"{target}: unknown key '{unknown[0]}' (a project file holds [constraints])")
    everywhere: dict[str, str] = {}
    per_device: dict[str, dict[str, str]] = {}
    per_model: dict[tuple[str, str], dict[str, str]] = {}
    for key, value in data.get("constraints", {}).items():
        if isinstance(value, str):
            everywhere.update(_metrics({key: value}, "", target))
            continue
        if not isinstance(value, dict):
            raise ConfigError(f"{target}: [constraints] {key} must be a string or a table")
        device_metrics = {k: v for k, v in value.items() if not isinstance(v, dict)}
        per_device[key] = _metrics(device_metrics, f'."{key}"', target)
        for model, table in value.items():
            if isinstance(table, dict):
                per_model[(key, model)] = _metrics(table, f'."{key}"."{model}"', target)
    return ProjectFile(target, everywhere, per_device, per_model)
