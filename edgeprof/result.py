"""The Result: one model variant measured on one device. Stored and sent as a JSON dict; read through `Result`.

The dict (`Result.doc`) stays the stored and serialised form. `Result` is a view over it that names its parts and
is the one place a Result is named: `label` ('pi4 / digits int8-static onnx') and the labels derived from it.
Imports nothing from edgeprof but errors, so every layer may use it.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import PurePath
from typing import Any, Callable

from edgeprof.errors import ConfigError

RESULT_SCHEMA_VERSION = 1


def utc_now() -> str:
    """The current time as an ISO 8601 UTC string with a Z suffix."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _v0_to_v1(doc: dict[str, Any]) -> dict[str, Any]:
    """Documents from before versioning (no schema_version) have the v1 layout: only the version is added."""
    return {**doc, "schema_version": 1}


MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {0: _v0_to_v1}


def migrate(doc: dict[str, Any], *, source: str = "Result") -> dict[str, Any]:
    """The document at RESULT_SCHEMA_VERSION: older ones migrated step by step (absent counts as 0); ConfigError
    naming both versions for one newer than this edgeprof understands."""
    version = doc.get("schema_version", 0)
    if not isinstance(version, int) or isinstance(version, bool) or version < 0:
        raise ConfigError(f"{source}: schema_version {version!r} is not a version number")
    if version > RESULT_SCHEMA_VERSION:
        raise ConfigError(f"{source}: Result schema_version {version} is newer than this edgeprof understands "
                          f"({RESULT_SCHEMA_VERSION}): upgrade edgeprof")
    while version < RESULT_SCHEMA_VERSION:
        doc = MIGRATIONS[version](doc)
        version = doc["schema_version"]
    return doc


class Result:
    """A view over one Result document: its identity, its sections, and its labels."""

    __slots__ = ("doc",)

    def __init__(self, doc: dict[str, Any]) -> None:
        self.doc = doc

    @classmethod
    def from_doc(cls, doc: dict[str, Any], *, source: str = "Result") -> "Result":
        """A Result over `doc` brought to the current schema (see `migrate`)."""
        return cls(migrate(doc, source=source))

    @classmethod
    def load(cls, text: str, *, source: str = "Result") -> "Result":
        """A Result from its JSON text, schema checked; ConfigError for text that is not a JSON object."""
        try:
            doc = json.loads(text)
        except ValueError as exc:
            raise ConfigError(f"{source}: not a JSON Result: {exc}") from exc
        if not isinstance(doc, dict):
            raise ConfigError(f"{source}: not a JSON Result (a {type(doc).__name__}, not an object)")
        return cls.from_doc(doc, source=source)

    def section(self, name: str) -> dict[str, Any]:
        """One section of the document ('latency', 'power', ...), {} where it is missing or null."""
        return self.doc.get(name) or {}

    # identity

    @property
    def device(self) -> str:
        return str(self.doc.get("device", "?"))

    @property
    def model(self) -> dict[str, Any]:
        return self.section("model")

    @property
    def name(self) -> str:
        """The model's name, e.g. 'digits'."""
        return str(self.model.get("name", "?"))

    @property
    def variant(self) -> str:
        return str(self.model.get("variant", "?"))

    @property
    def format(self) -> str:
        return str(self.model.get("format", "?"))

    @property
    def status(self) -> str:
        return str(self.doc.get("status", "ok"))

    @property
    def ok(self) -> bool:
        """False for a run that failed (it has an `error` and no figures)."""
        return self.status != "failed"

    @property
    def run_id(self) -> str | None:
        return self.doc.get("run_id")

    @property
    def created(self) -> str | None:
        return self.doc.get("created")

    @property
    def key(self) -> tuple[str, str, str, str]:
        """(device, model, variant, format): what one Result measures; a later run of the same key supersedes it."""
        return self.device, self.name, self.variant, self.format

    # sections

    @property
    def error(self) -> dict[str, Any]:
        return self.section("error")

    @property
    def latency(self) -> dict[str, Any]:
        return self.section("latency")

    @property
    def memory(self) -> dict[str, Any]:
        return self.section("memory")

    @property
    def power(self) -> dict[str, Any]:
        return self.section("power")

    @property
    def accuracy(self) -> dict[str, Any]:
        return self.section("accuracy")

    @property
    def runtime(self) -> dict[str, Any]:
        return self.section("runtime")

    @property
    def device_info(self) -> dict[str, Any]:
        return self.section("device_info")

    @property
    def verdicts(self) -> list[dict[str, Any]]:
        return list(self.doc.get("verdicts") or [])

    # labels: the canonical one and its parts

    @property
    def variant_label(self) -> str:
        """The variant with its file format ('int8-static onnx'): ONNX and TFLite files of one variant coexist."""
        return f"{self.variant} {self.format}"

    @property
    def model_label(self) -> str:
        """The model and its variant label, 'digits int8-static onnx'."""
        return f"{self.name} {self.variant_label}"

    @property
    def label(self) -> str:
        """The canonical label, 'pi4 / digits int8-static onnx'."""
        return f"{self.device} / {self.model_label}"

    @property
    def ref(self) -> str:
        """'digits-int8-static': how --model, project files, `runs list` and JUnit class names refer to it."""
        return f"{self.name}-{self.variant}"

    @property
    def ref_label(self) -> str:
        """The ref with the file format, 'digits-int8-static onnx': the `model` field of JSON output."""
        return f"{self.ref} {self.format}"

    @property
    def names(self) -> list[str]:
        """Every name --model and a project file may use for this model: name, ref and the file's stem."""
        names = [self.name, self.ref]
        if self.model.get("path"):
            names.append(PurePath(self.model["path"]).stem)
        return list(dict.fromkeys(names))
