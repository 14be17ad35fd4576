"""The Result: one model variant measured on one device. Stored and sent as a JSON dict; read through `Result`.

The dict (`Result.doc`) stays the stored and serialised form. `build_result` is the one place such a dict is put
together, and `stamp_stored`/`unstamp_stored` the one place saving writes into it. `Result` is a view over it that
names its parts and is the one place a Result is named: `label` ('pi4 / digits int8-static onnx') and the labels
derived from it, which add the accelerator (' @openvino') when it is not the runtime's default, or when `viewer`
shows a mixed set. Imports nothing from edgeprof but errors, proportions and the agent's contract (agent/spec.py),
all standard library only, so every layer may use it.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from pathlib import PurePath
from typing import Any, Callable, Iterable

from edgeprof import __version__
from edgeprof.agent.spec import (
    DEFAULT_ACCELERATOR,
    GENERATION_SECTIONS,
    GENERATIVE_FORMATS,
    RESULT_SECTIONS,
    ErrorKind,
)
from edgeprof.errors import ConfigError
from edgeprof.proportions import unpack_correct, wilson

RESULT_SCHEMA_VERSION = 1
_MB = re.compile(r"(\d+(?:\.\d+)?)\s*MB")


def utc_now() -> str:
    """The current time as an ISO 8601 UTC string with a Z suffix."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def ref_label(name: str, variant: str, file_format: str, accelerator_tag: str = "") -> str:
    """'digits-int8-static onnx @openvino': how a model file is named where its format matters (`Result.ref_label`,
    and deploy's progress and warning lines before there is a Result)."""
    return f"{name}-{variant} {file_format}{accelerator_tag}"


def build_result(*, device_info: dict[str, Any], model: dict[str, Any], agent: dict[str, Any] | None,
                 error: dict[str, Any] | None, timing: dict[str, Any], transfer: dict[str, Any],
                 lab: dict[str, Any] | None = None) -> dict[str, Any]:
    """A new Result document (docs/result-schema.md): the device (its profile's `summary()`) and model from the host,
    the agent's sections (`agent`, its `timing` already folded into `timing`; None for a run that failed, whose
    `error` says why: every section null), no run id until it is stored and no verdicts until it is judged. `lab`
    (the labgrid place it ran in) is kept as given: releasing the place may still mark it."""
    doc: dict[str, Any] = {
        "schema_version": RESULT_SCHEMA_VERSION,
        "run_id": None,
        "created": utc_now(),
        "status": "failed" if error else "ok",
        "error": error,
        "device": device_info["name"],
        "device_info": device_info,
        "host": {"edgeprof": __version__},
        "model": model,
        **{section: None for section in (*RESULT_SECTIONS, *GENERATION_SECTIONS)},  # null where not measured
        "warnings": [],
        **(agent or {}),
        "timing": timing,
        "transfer": transfer,
        "verdicts": [],
    }
    if lab:
        doc["lab"] = lab
    return doc


def stamp_stored(doc: dict[str, Any], run_id: str, store_s: float | None) -> None:
    """What saving writes into a Result: its run id and, with `store_s`, the seconds it spent in the store so far
    (`timing.stages.store`)."""
    doc["run_id"] = run_id
    if store_s is not None and isinstance(doc.get("timing"), dict):
        doc["timing"]["stages"]["store"] = store_s


def unstamp_stored(doc: dict[str, Any], timed: bool) -> None:
    """Undo `stamp_stored` after a save that failed (`timed`: it had set the store seconds)."""
    doc.pop("run_id", None)
    if timed and isinstance(doc.get("timing"), dict):
        doc["timing"]["stages"]["store"] = None


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

    __slots__ = ("doc", "explicit_accelerator")

    def __init__(self, doc: dict[str, Any], *, explicit_accelerator: bool = False) -> None:
        """`explicit_accelerator`: labels name the accelerator even when it is the default (see `viewer`)."""
        self.doc = doc
        self.explicit_accelerator = explicit_accelerator

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
    def accelerator(self) -> str | None:
        """The accelerator list as typed ('openvino,cpu', 'xnnpack', 'none'); None for Results from before it was
        kept."""
        requested = self.runtime.get("requested")
        return ",".join(requested) if requested else None

    @property
    def generative(self) -> bool:
        """True for a language model (GENERATIVE_FORMATS: GGUF, a GenAI folder): its figures are a generation's (the
        `generation` section), not inferences'."""
        return self.format in GENERATIVE_FORMATS

    @property
    def default_accelerator(self) -> bool:
        """True when the accelerator is the runtime's default (ONNX 'cpu', TFLite 'xnnpack') or unknown."""
        return self.accelerator in (None, DEFAULT_ACCELERATOR.get(self.format))

    @property
    def accelerator_run(self) -> str | None:
        """The accelerator the model ran with: as typed, else (an older Result) the runtime's default ('cpu',
        'xnnpack'); None for a format without one (GGUF)."""
        return DEFAULT_ACCELERATOR.get(self.format) if self.accelerator is None else self.accelerator

    @property
    def key(self) -> tuple[str, str, str, str]:
        """(device, model, variant, format): the model file measured on one device."""
        return self.device, self.name, self.variant, self.format

    @property
    def configuration(self) -> tuple[str, str, str, str, str | None]:
        """`key` and the accelerator: what one Result measures; a later run of the same configuration supersedes
        it. An unknown accelerator (an older Result) counts as the default."""
        return *self.key, self.accelerator_run

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
    def generation(self) -> dict[str, Any]:
        return self.section("generation")

    @property
    def runtime(self) -> dict[str, Any]:
        return self.section("runtime")

    @property
    def device_info(self) -> dict[str, Any]:
        return self.section("device_info")

    @property
    def verdicts(self) -> list[dict[str, Any]]:
        return list(self.doc.get("verdicts") or [])

    @property
    def top1_interval(self) -> tuple[float, float] | None:
        """The 95% Wilson interval of top-1 accuracy over the samples scored, None without labelled accuracy."""
        top1, samples = self.accuracy.get("top1"), self.accuracy.get("samples")
        if top1 is None or not samples:
            return None
        return wilson(round(float(top1) * int(samples)), int(samples))

    @property
    def correct(self) -> list[bool] | None:
        """Which samples top-1 got right (the agent's `accuracy.correct`), None where not recorded."""
        packed, samples = self.accuracy.get("correct"), self.accuracy.get("samples")
        return unpack_correct(packed, int(samples)) if packed and samples else None

    @property
    def oom_detail(self) -> str | None:
        """'killed: out of memory at ~N MB' for a run that died of memory exhaustion, else None."""
        kind = self.error.get("kind")
        text = f"{self.error.get('memory_hint', '')} {self.error.get('message', '')}"
        if kind != ErrorKind.MEMORY and not (kind == ErrorKind.KILLED and "out of memory" in text):
            return None
        size = _MB.search(text)
        return "killed: out of memory" + (f" at ~{size.group(1)} MB" if size else "")

    # labels: the canonical one and its parts

    @property
    def accelerator_tag(self) -> str:
        """' @openvino' where labels name the accelerator (not the default, or `explicit_accelerator`), else ''."""
        shown = self.accelerator is not None and (self.explicit_accelerator or not self.default_accelerator)
        return f" @{self.accelerator}" if shown else ""

    @property
    def variant_label(self) -> str:
        """The variant with its file format and accelerator tag ('int8-static onnx @openvino')."""
        return f"{self.variant} {self.format}{self.accelerator_tag}"

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
        """The ref with the file format and accelerator tag, 'digits-int8-static onnx': the `model` field of JSON
        output."""
        return ref_label(self.name, self.variant, self.format, self.accelerator_tag)

    @property
    def names(self) -> list[str]:
        """Every name --model and a project file may use for this model (model_names)."""
        return model_names(self.name, self.variant, self.model.get("path"))


def model_names(name: str, variant: str, path: str | None) -> list[str]:
    """Every name --model and a project file may use for a model: its name, its ref (name-variant) and the file's
    stem."""
    names = [name, f"{name}-{variant}"]
    if path:
        names.append(PurePath(path).stem)
    return list(dict.fromkeys(names))


def mixes_accelerators(results: Iterable[dict[str, Any]]) -> bool:
    """True when two of the Results of one file format ran on different accelerators (unknown counts as default)."""
    keys = {Result(r).configuration for r in results}
    return len({k[3:] for k in keys}) > len({k[3] for k in keys})


def viewer(results: Iterable[dict[str, Any]]) -> Callable[[dict[str, Any]], Result]:
    """How a renderer views each Result of a set it shows: where the set mixes accelerators every label names its
    accelerator, the default too ('digits fp32 onnx @cpu' beside 'digits fp32 onnx @openvino')."""
    explicit = mixes_accelerators(list(results))
    return lambda doc: Result(doc, explicit_accelerator=explicit)
