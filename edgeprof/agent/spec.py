"""The host/agent contract (docs/agent-protocol.md): the RunSpec with its defaults and version, and every name
both sides share. The agent owns it and needs only the standard library; the host imports it. Nothing here is
written anywhere else."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass, field, fields
from typing import Any

SPEC_VERSION = 1
FORMATS = ("onnx", "tflite", "gguf", "genai")
GENERATIVE_FORMATS = ("gguf", "genai")  # language models: measured by agent/generation.py, not the latency phases
FOLDER_FORMATS = ("genai",)  # a model that is a folder of files (ONNX Runtime GenAI: genai_config.json and the files
# it names), sent file by file and put together again on the device
SCENARIOS = ("single-stream", "offline", "server")
POWER_METHODS = ("estimate", "jetson-ina3221", "jetson-iio", "pi5-pmic", "hwmon", "rapl", "command", "none")
EMULATION_MODES = ("qemu-tcg", "qemu-icount")
TIMING_INPUTS = ("random", "dataset")
# What runs on a device when the RunSpec names no provider or delegate, per model format.
DEFAULT_ACCELERATOR = {"onnx": "cpu", "tflite": "xnnpack"}


def _names(namespace: type) -> tuple[str, ...]:
    """The values of a class of names, in the order they are written."""
    return tuple(value for key, value in vars(namespace).items() if key.isupper())


class Stage:
    """The stages of a run, in the order the agent enters them: the `stage` of progress and error events and the
    keys of the Result's `timing.stages` the agent times."""

    START = "start"
    LOCK = "lock"
    LOAD = "load"
    INPUTS = "inputs"
    FIRST = "first"
    WARMUP = "warmup"
    LATENCY = "latency"
    SCENARIO = "scenario"
    POWER = "power"
    OP_PROFILE = "op_profile"
    ACCURACY = "accuracy"
    CONTEXT = "context"


STAGES = _names(Stage)
# The stages that measure the model (the agent's `measure_s` is their sum); the ones before them (lock, system facts,
# thermal) are overhead.
MEASURING = STAGES[STAGES.index(Stage.LOAD):]


class Event:
    """The `event` of each JSON line the agent writes."""

    HELLO = "hello"
    PROGRESS = "progress"
    WARNING = "warning"
    RESULT = "result"
    ERROR = "error"


EVENTS = _names(Event)
FINAL_EVENTS = (Event.RESULT, Event.ERROR)  # exactly one of them ends the stream


class ErrorKind:
    """The `kind` of an error: those the agent reports (ERROR_KINDS), then those only the host records for an agent
    that ended without a final line (HOST_ERROR_KINDS; it also records `memory` and `internal`)."""

    SPEC = "spec"
    BUSY = "busy"
    INTEGRITY = "integrity"
    RUNTIME_MISSING = "runtime_missing"
    MODEL_LOAD = "model_load"
    ACCELERATOR_MISSING = "accelerator_missing"
    ACCELERATOR_OPTIONS = "accelerator_options"
    INPUT = "input"
    INFERENCE = "inference"
    MEMORY = "memory"
    TIMEOUT = "timeout"
    INTERNAL = "internal"
    KILLED = "killed"
    CRASHED = "crashed"


HOST_ERROR_KINDS = (ErrorKind.KILLED, ErrorKind.CRASHED)
ERROR_KINDS = tuple(kind for kind in _names(ErrorKind) if kind not in HOST_ERROR_KINDS)

# The sections of the agent's `result` event, each a top-level section of the stored Result (docs/result-schema.md);
# `timing` travels with them and the host folds it into the Result's own `timing`.
RESULT_SECTIONS = ("runtime", "system", "inputs", "latency", "memory", "power", "thermal", "accuracy", "op_profile",
                   "placement", "scenario", "warnings")
GENERATION_SECTIONS = ("runtime", "system", "memory", "power", "thermal", "generation", "warnings")  # a generative
# model's (GENERATIVE_FORMATS)

# The one array of a reference outputs NPZ (RunSpec.reference_outputs): the source's first output for each sample of
# the dataset, in order, flattened (samples x values, float32), as the accuracy phase reads a model's first output.
REFERENCE_OUTPUTS_KEY = "outputs"

# The device's work dir (a profile's connection.work_dir): the host uploads into BLOB_DIR, each upload written under
# PARTIAL_PREFIX and renamed into place; the agent keeps compiled engines, its unpacked self and the model folders
# it puts together (MODEL_FOLDER_PREFIX + the model's sha256[:16]: links to the blobs under the files' own names) in
# CACHE_DIR and holds LOCK_FILE while it measures; `edgeprof clean` touches nothing else.
BLOB_DIR = "blobs"
CACHE_DIR = "compiled"
LOCK_FILE = "device.lock"
PARTIAL_PREFIX = ".tmp-"
MODEL_FOLDER_PREFIX = "model-"


class AgentFailure(Exception):
    """A failure reported to the host as one `error` event: kind, message, stage."""

    def __init__(self, kind: str, message: str, stage: str | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.stage = stage


@dataclass(frozen=True)
class LatencyBudget:
    """The stopping rule of the warm-up and steady-state latency phases."""

    min_runs: int = 50
    max_runs: int = 5000
    min_seconds: float = 0.5
    max_seconds: float = 20.0
    target_rel_halfwidth: float = 0.02
    confidence: float = 0.95
    warmup_min: int = 5
    warmup_max: int = 200
    keep_samples: int = 5000


@dataclass(frozen=True)
class PowerSettings:
    """How the power phase reads (or estimates) watts, and for how long."""

    method: str = "none"
    idle_w: float | None = None
    max_w: float | None = None
    seconds: float = 3.0  # the load window; with min_seconds set, its longest
    idle_seconds: float = 1.0  # the idle window; with min_seconds set, its longest
    min_seconds: float | None = None  # None: fixed windows; else each stops after this once the mean is precise
    ci_target: float = 0.02  # precise: the 95% CI half-width of the mean power within this fraction of it
    sample_hz: float = 20
    command: str | None = None
    sysfs_root: str = "/"
    vcgencmd: str = "vcgencmd"
    pi5_correction: bool = False


@dataclass(frozen=True)
class ThermalSettings:
    """Where the thermal probe reads, and an optional cool-down before measuring."""

    sysfs_root: str = "/"
    vcgencmd: str = "vcgencmd"
    cooldown_to_c: float | None = None
    cooldown_max_s: float = 120


@dataclass(frozen=True)
class Timeouts:
    """Per-stage watchdog limits in seconds."""

    load_s: float = 300.0
    stage_s: float = 600.0


@dataclass(frozen=True)
class ScenarioSettings:
    """The load scenario after the single-stream latency phase (docs/result-schema.md, `scenario`)."""

    name: str = "single-stream"
    batches: tuple[int, ...] = (1,)
    threads: tuple[int, ...] | None = None
    seconds: float = 2.0
    target_qps: float | None = None
    find_max_qps: bool = False
    p99_bound_ms: float | None = None
    min_duration_s: float = 1.0
    search_point_seconds: float = 2.0
    search_seconds: float = 60.0


@dataclass(frozen=True)
class InputSettings:
    """What the timed runs are fed: seeded random values (`random`), or the dataset's samples in batches
    (`dataset`, which needs the RunSpec's dataset); `ranges` maps each integer input to its inclusive [lo, hi];
    `undeclared_shapes` names the inputs whose shape the model does not declare at all (the runtime reports [] for
    them as for a scalar): one without an `input_shapes` entry is fed a scalar, with a warning."""

    timing: str = "random"
    ranges: dict[str, list[int]] = field(default_factory=dict)
    undeclared_shapes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Accelerator:
    """One execution provider (ONNX Runtime) or delegate (TFLite) by name, with its options."""

    name: str
    options: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RuntimeSettings:
    """Where the model runs: an ordered list of providers or delegates (None: the runtime's default, CPU for
    ONNX Runtime and XNNPACK for LiteRT), a list ending in `cpu`/`none` falls back instead of failing, and the
    directory on the device that caches compiled engines and blobs."""

    providers: tuple[Accelerator, ...] | None = None
    delegates: tuple[Accelerator, ...] | None = None
    cache_dir: str | None = None


@dataclass(frozen=True)
class GenerationSettings:
    """How a generative (GGUF) model is run: the prompts (None: the agent's shipped set), tokens generated per
    prompt (greedy, seeded; fewer only when the model ends its answer and `stop_at_end`), the context depths whose
    memory is measured, and the text perplexity is computed on (None: the shipped one) with its token cap."""

    prompts: tuple[str, ...] | None = None
    max_tokens: int = 32
    stop_at_end: bool = True
    contexts: tuple[int, ...] = (128, 512, 2048)
    perplexity_text: str | None = None
    perplexity_tokens: int = 256


@dataclass(frozen=True)
class SentFile:
    """A file the host sent besides the model (the dataset or the reference outputs, an NPZ; an ONNX model's
    external data file; a file of a model folder, with its `name` there): its path on the device and its sha256
    (checked there when given)."""

    path: str
    sha256: str | None = None
    name: str | None = None


@dataclass(frozen=True)
class ModelFile:
    """A model on the device: its path, its format (one of FORMATS), its sha256 (checked there when given) and the
    external data files it names (ONNX), each checked like it. A model folder (FOLDER_FORMATS) sent file by file
    has every file in `external_data`, each with its `name`: the agent puts them together at `path` (a folder), and
    its sha256 is `folder_sha256` of them; a folder already on the device has a `path` and no files."""

    path: str
    format: str
    sha256: str | None = None
    external_data: tuple[SentFile, ...] = ()


def folder_sha256(files: list[tuple[str, str]]) -> str:
    """The identity of a model folder: the sha256 of its files' (name, sha256) pairs in name order, so that every
    byte of every file, and every name, counts."""
    listing = "".join(f"{name}\0{digest}\n" for name, digest in sorted(files))
    return hashlib.sha256(listing.encode("utf-8", "surrogateescape")).hexdigest()


def plain_file_name(value: object) -> bool:
    """Whether `value` can name a file inside a folder: a non-empty string with no separator, control character,
    or the name of a folder (`.`, `..`)."""
    return isinstance(value, str) and value not in ("", ".", "..") and not any(
        c in "/\\" or ord(c) < 32 or ord(c) == 127 for c in value)


@dataclass(frozen=True)
class LockSettings:
    """The device lock: the file the agent holds an flock on while it measures, and how long it waits for it."""

    path: str
    wait_s: float = 0.0


@dataclass(frozen=True)
class RunSpec:
    """One measurement the host asks of the agent: the model, what to measure and how long (one JSON line)."""

    model: ModelFile
    reference_model: ModelFile | None = None
    # the source framework's outputs on the dataset's samples (REFERENCE_OUTPUTS_KEY), for a source no device runs
    reference_outputs: SentFile | None = None
    dataset: SentFile | None = None
    threads: int | None = None
    input_shapes: dict[str, list[int]] = field(default_factory=dict)
    seed: int = 0
    inputs: InputSettings = InputSettings()
    latency: LatencyBudget = LatencyBudget()
    power: PowerSettings = PowerSettings()
    thermal: ThermalSettings = ThermalSettings()
    timeouts: Timeouts = Timeouts()
    scenario: ScenarioSettings = ScenarioSettings()
    runtime: RuntimeSettings = RuntimeSettings()
    emulation: str | None = None
    op_profile: bool = False
    lock: LockSettings | None = None
    generation: GenerationSettings = GenerationSettings()
    spec_version: int = SPEC_VERSION

    def to_json(self) -> str:
        """The RunSpec as the one line the agent reads on stdin."""
        return json.dumps(asdict(self))


def defaults(section: Any) -> dict[str, Any]:
    """A settings dataclass's defaults as the JSON-shaped dict the agent works with (tuples become lists)."""
    return json.loads(json.dumps(asdict(section())))


_SECTIONS = {f.name: type(f.default) for f in fields(RunSpec) if hasattr(f.default, "__dataclass_fields__")}
_FILES = {"model": ModelFile, "reference_model": ModelFile, "reference_outputs": SentFile, "dataset": SentFile,
          "lock": LockSettings}


def parse_spec(line: str) -> RunSpec:
    """Parse one JSON line into a complete, typed RunSpec; AgentFailure(kind='spec') when it is malformed."""
    try:
        spec = json.loads(line)
    except json.JSONDecodeError as exc:
        raise AgentFailure(ErrorKind.SPEC, f"the RunSpec is not JSON: {exc}") from exc
    if not isinstance(spec, dict):
        raise AgentFailure(ErrorKind.SPEC, "the RunSpec must be a JSON object")
    if spec.get("spec_version") != SPEC_VERSION:
        raise AgentFailure(ErrorKind.SPEC, f"unsupported spec_version {spec.get('spec_version')!r} "
                           f"(agent speaks {SPEC_VERSION})")
    if not isinstance(spec.get("model"), dict):
        raise AgentFailure(ErrorKind.SPEC, "the RunSpec needs a 'model' object")
    _check_keys(spec, RunSpec, "")
    for name, kind in _FILES.items():
        _check_file(name, spec.get(name), kind)
    _check_reference(spec)
    for name, section in _SECTIONS.items():
        given = spec.get(name) or {}
        if not isinstance(given, dict):
            raise AgentFailure(ErrorKind.SPEC, f"{name} must be an object, got {given!r}")
        _check_keys(given, section, f"{name}.")
        spec[name] = {**defaults(section), **given}
    for f in fields(RunSpec):
        if f.name not in _SECTIONS and f.name not in spec:
            spec[f.name] = f.default_factory() if callable(f.default_factory) else f.default
    threads = spec["threads"]
    if threads is not None and (not isinstance(threads, int) or threads < 1):
        raise AgentFailure(ErrorKind.SPEC, f"threads must be a positive integer, got {threads!r}")
    _check_latency(spec["latency"])
    _check_input_shapes(spec["input_shapes"])
    _check_inputs(spec["inputs"], spec["dataset"])
    _check_scenario(spec["scenario"])
    _check_runtime(spec["runtime"])
    if not isinstance(spec["seed"], int) or isinstance(spec["seed"], bool):
        raise AgentFailure(ErrorKind.SPEC, f"seed must be an integer, got {spec['seed']!r}")
    return _typed(spec)


def _check_file(name: str, given: Any, kind: type) -> None:
    """A file the run reads (or the lock's) is null or an object with a path, only the keys of `kind`, and for a
    model a format of FORMATS."""
    if given is None:
        return
    if not isinstance(given, dict) or not isinstance(given.get("path"), str) or not given["path"]:
        raise AgentFailure(ErrorKind.SPEC, f"{name} must be an object with a path, got {given!r}")
    _check_keys(given, kind, f"{name}.")
    if kind is ModelFile and given.get("format") not in FORMATS:
        raise AgentFailure(ErrorKind.SPEC, f"{name} needs a path and a format of {_choices(FORMATS, 'or')}")
    if kind is ModelFile:
        parts = given.get("external_data", [])
        if not isinstance(parts, list):
            raise AgentFailure(ErrorKind.SPEC, f"{name}.external_data must be a list, got {parts!r}")
        for part in parts:
            _check_file(f"{name}.external_data", part, SentFile)
        named = [part.get("name") for part in parts]
        if given["format"] in FOLDER_FORMATS and parts and not all(plain_file_name(n) for n in named):
            raise AgentFailure(ErrorKind.SPEC, f"{name}.external_data: each file of a {given['format']} model folder "
                               "needs a plain file name (no folders, '..' or control characters)")
        if len(set(named)) < len(named) and any(named):
            raise AgentFailure(ErrorKind.SPEC, f"{name}.external_data names a file twice")
    if kind is LockSettings and not _number(given.get("wait_s", 0)):
        raise AgentFailure(ErrorKind.SPEC, f"lock.wait_s must be a number, got {given['wait_s']!r}")


def _check_reference(spec: dict[str, Any]) -> None:
    """reference_outputs are outputs on the dataset's samples: they need a dataset, and stand in for a reference
    model (one reference at most)."""
    if spec.get("reference_outputs") is None:
        return
    if spec.get("reference_model") is not None:
        raise AgentFailure(ErrorKind.SPEC, "reference_model and reference_outputs: give one reference at most")
    if spec.get("dataset") is None:
        raise AgentFailure(ErrorKind.SPEC, "reference_outputs needs a dataset: they are outputs on its samples")


def _check_keys(given: dict[str, Any], section: Any, prefix: str) -> None:
    """Every key names a field of the section: a misspelt setting is refused, never silently ignored."""
    unknown = sorted(set(given) - {f.name for f in fields(section)})
    if unknown:
        raise AgentFailure(ErrorKind.SPEC, f"unknown RunSpec key {prefix}{unknown[0]}")


def _typed(spec: dict[str, Any]) -> RunSpec:
    """The checked RunSpec dict as the dataclasses (JSON lists become the tuples they are declared as)."""
    scenario, runtime = spec["scenario"], spec["runtime"]
    spec["scenario"] = {**scenario, "batches": tuple(scenario["batches"]),
                        "threads": None if scenario["threads"] is None else tuple(scenario["threads"])}
    spec["runtime"] = {**runtime, **{key: None if runtime[key] is None else
                                     tuple(Accelerator(a["name"], dict(a.get("options", {}))) for a in runtime[key])
                                     for key in ("providers", "delegates")}}
    spec["inputs"] = {**spec["inputs"], "undeclared_shapes": tuple(spec["inputs"]["undeclared_shapes"])}
    generation = spec["generation"]
    spec["generation"] = {**generation, "contexts": tuple(generation["contexts"]),
                          "prompts": None if generation["prompts"] is None else tuple(generation["prompts"])}
    for name in ("model", "reference_model"):
        if spec[name] is not None:
            spec[name] = {**spec[name], "external_data": tuple(SentFile(**part) for part in
                                                               spec[name].get("external_data", ()))}
    sections = {name: section(**spec[name]) for name, section in _SECTIONS.items()}
    files = {name: None if spec[name] is None else kind(**spec[name]) for name, kind in _FILES.items()}
    return RunSpec(**{**spec, **sections, **files})


def _choices(names: tuple[str, ...], last: str) -> str:
    """'a', 'b' or 'c'."""
    quoted = [f"'{n}'" for n in names]
    return ", ".join(quoted[:-1]) + f" {last} {quoted[-1]}" if len(quoted) > 1 else quoted[0]


def _number(value: Any, integer: bool = False) -> bool:
    kinds = (int,) if integer else (int, float)
    return isinstance(value, kinds) and not isinstance(value, bool)


def _check_latency(latency: dict[str, Any]) -> None:
    """Budgets the sampler can honour: positive counts and times, min <= max, a confidence in (0, 1)."""
    for key in ("min_runs", "max_runs", "warmup_min", "warmup_max", "keep_samples"):
        if not _number(latency[key], integer=True) or latency[key] < 0:
            raise AgentFailure(ErrorKind.SPEC, f"latency.{key} must be a non-negative integer, got {latency[key]!r}")
    for key in ("min_seconds", "max_seconds", "target_rel_halfwidth"):
        if not _number(latency[key]) or latency[key] < 0:
            raise AgentFailure(ErrorKind.SPEC, f"latency.{key} must be a non-negative number, got {latency[key]!r}")
    if latency["max_runs"] < 1 or latency["max_seconds"] <= 0:
        raise AgentFailure(ErrorKind.SPEC, "latency.max_runs and latency.max_seconds must be above zero")
    for low, high in (("min_runs", "max_runs"), ("min_seconds", "max_seconds"), ("warmup_min", "warmup_max")):
        if latency[low] > latency[high]:
            raise AgentFailure(ErrorKind.SPEC,
                               f"latency.{low} ({latency[low]}) is above latency.{high} ({latency[high]})")
    if not _number(latency["confidence"]) or not 0 < latency["confidence"] < 1:
        raise AgentFailure(ErrorKind.SPEC, f"latency.confidence must be between 0 and 1, got {latency['confidence']!r}")


def _check_input_shapes(shapes: Any) -> None:
    """input_shapes maps input names to lists of positive dims."""
    if not isinstance(shapes, dict):
        raise AgentFailure(ErrorKind.SPEC, f"input_shapes must be an object of name -> dims, got {shapes!r}")
    for name, dims in shapes.items():
        if not isinstance(dims, list) or not all(_number(d, integer=True) and d > 0 for d in dims):
            raise AgentFailure(ErrorKind.SPEC, f"input_shapes.{name} must be a list of positive integers, got {dims!r}")


def _check_inputs(inputs: dict[str, Any], dataset: Any) -> None:
    """A known timing source (`dataset` only with a dataset), ranges of name -> [lo, hi] integers, lo <= hi, and a
    list of names for the undeclared shapes."""
    if inputs["timing"] not in TIMING_INPUTS:
        raise AgentFailure(ErrorKind.SPEC,
                           f"inputs.timing must be {_choices(TIMING_INPUTS, 'or')}, got {inputs['timing']!r}")
    if inputs["timing"] == "dataset" and not dataset:
        raise AgentFailure(ErrorKind.SPEC, "inputs.timing 'dataset' needs a dataset")
    ranges = inputs["ranges"]
    if not isinstance(ranges, dict):
        raise AgentFailure(ErrorKind.SPEC, f"inputs.ranges must be an object of name -> [lo, hi], got {ranges!r}")
    for name, bounds in ranges.items():
        if (not isinstance(bounds, list) or len(bounds) != 2 or not all(_number(b, integer=True) for b in bounds)
                or bounds[0] > bounds[1]):
            raise AgentFailure(ErrorKind.SPEC,
                               f"inputs.ranges.{name} must be [lo, hi] integers with lo <= hi, got {bounds!r}")
    undeclared = inputs["undeclared_shapes"]
    if not isinstance(undeclared, list) or not all(isinstance(name, str) for name in undeclared):
        raise AgentFailure(ErrorKind.SPEC,
                           f"inputs.undeclared_shapes must be a list of input names, got {undeclared!r}")


def _check_scenario(scenario: dict[str, Any]) -> None:
    """A known scenario with the settings it needs: positive batches/threads/times, a QPS or a bounded search."""
    name = scenario["name"]
    if name not in SCENARIOS:
        raise AgentFailure(ErrorKind.SPEC, f"scenario.name must be {', '.join(SCENARIOS[:-1])} or {SCENARIOS[-1]}, "
                           f"got {name!r}")
    for key in ("batches", "threads"):
        values = scenario[key]
        if values is not None and (not isinstance(values, list) or not values
                                   or not all(_number(v, integer=True) and v > 0 for v in values)):
            raise AgentFailure(ErrorKind.SPEC, f"scenario.{key} must be a list of positive integers, got {values!r}")
    for key in ("seconds", "min_duration_s", "search_point_seconds", "search_seconds"):
        if not _number(scenario[key]) or scenario[key] <= 0:
            raise AgentFailure(ErrorKind.SPEC, f"scenario.{key} must be a positive number, got {scenario[key]!r}")
    for key in ("target_qps", "p99_bound_ms"):
        if scenario[key] is not None and (not _number(scenario[key]) or scenario[key] <= 0):
            raise AgentFailure(ErrorKind.SPEC, f"scenario.{key} must be a positive number, got {scenario[key]!r}")
    if name == "server" and not scenario["target_qps"] and not scenario["find_max_qps"]:
        raise AgentFailure(ErrorKind.SPEC, "the server scenario needs scenario.target_qps or scenario.find_max_qps")
    if scenario["find_max_qps"] and scenario["p99_bound_ms"] is None:
        raise AgentFailure(ErrorKind.SPEC, "scenario.find_max_qps needs scenario.p99_bound_ms")


def _check_runtime(runtime: dict[str, Any]) -> None:
    """Providers and delegates are lists of {name, options} with string options."""
    for key in ("providers", "delegates"):
        chosen = runtime[key]
        if chosen is None:
            continue
        if not isinstance(chosen, list) or not chosen or not all(
                isinstance(c, dict) and isinstance(c.get("name"), str) and c["name"]
                and isinstance(c.get("options", {}), dict) for c in chosen):
            raise AgentFailure(ErrorKind.SPEC,
                               f"runtime.{key} must be a non-empty list of {{name, options}}, got {chosen!r}")


# ---------------------------------------------------------------- model input names and kinds (host and agent)

_SIGNATURE_NAME = re.compile(r"^serving_default_(.+?)(:\d+)?$")


def plain_name(name: str) -> str:
    """The name a user types for an input: TFLite's `serving_default_NAME:0` is `NAME`; others are unchanged."""
    found = _SIGNATURE_NAME.match(name)
    return found.group(1) if found else name


def resolve_name(given: str, names: list[str]) -> str | None:
    """The model input `given` means: that exact name, else the one input whose plain name it is (None when no
    input or more than one has it)."""
    if given in names:
        return given
    matches = [name for name in names if plain_name(name) == given]
    return matches[0] if len(matches) == 1 else None


def integer_input(info: Any) -> bool:
    """Whether an input (the agent's TensorInfo or the host's TensorSpec: a numpy dtype name and a quant) takes
    plain integers, not quantised, not bool: random values need a range for it."""
    return str(info.dtype).startswith(("int", "uint")) and info.quant is None
