"""A command line that measures (deploy, sweep, watch) turned into a plan: the device profiles, the checked models
with their references and input settings, the project file, the checked constraints and the one DeployOptions
they all build. Everything is checked here, on the host, before anything reaches a device; the CLI only parses
arguments into a `Request` and hands the `Plan` to the pipeline."""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from edgeprof.accelerators import configurations
from edgeprof.agent.spec import (
    SCENARIOS,
    TIMING_INPUTS,
    GenerationSettings,
    InputSettings,
    LatencyBudget,
    PowerSettings,
    ScenarioSettings,
    integer_input,
)
from edgeprof.artifacts import (
    ModelArtifact,
    Reference,
    ReferenceOutputs,
    check_dataset,
    load_artifact,
    printable,
    read_npz,
    reference_for,
)
from edgeprof.constraints import parse_constraint
from edgeprof.deploy import DeployOptions
from edgeprof.devices import LAB_WAIT_S, DeviceProfile, check_threads, load_profile, with_overrides
from edgeprof.errors import ConfigError
from edgeprof.fleet import labgrid_tags, read_devices_file
from edgeprof.model_inputs import ModelInputs, parse_input_range, parse_input_shape, resolve_inputs
from edgeprof.project import ProjectFile, load_project
from edgeprof.prompts import generation_settings

SECRET_OPTIONS = ("--identity",)
REDACTED = "<redacted>"


@dataclass(frozen=True)
class Request:
    """The values of a measuring command line as typed, unchecked; a command leaves at their defaults the
    options it does not take."""

    models: Sequence[Path]
    devices: Sequence[str] = ()  # none: local
    devices_from: str | None = None
    host: str | None = None
    port: int | None = None
    user: str | None = None
    identity: str | None = None
    dataset: Path | None = None
    timing_inputs: str = InputSettings.timing
    allow_nan: bool = False
    input_shapes: Sequence[str] = ()
    input_ranges: Sequence[str] = ()
    with_reference: bool = True
    constraints: Sequence[str] = ()
    project: Path | None = None
    threads: int | None = None
    min_runs: int | None = None  # None: LatencyBudget's, capped by max_runs
    max_runs: int = LatencyBudget.max_runs
    min_seconds: float | None = None  # None: LatencyBudget's, capped by max_seconds
    max_seconds: float = LatencyBudget.max_seconds
    precision: float = LatencyBudget.target_rel_halfwidth
    power_seconds: float = PowerSettings.seconds
    cooldown_to: float | None = None
    op_profile: bool = False
    seed: int = 0
    scenario: str = ScenarioSettings.name
    batch: str | None = None
    sweep_threads: str | None = None
    target_qps: float | None = None
    find_max_qps: bool = False
    p99_bound: float | None = None
    scenario_seconds: float = ScenarioSettings.seconds
    accept_new_host_key: bool = False
    strict_device: bool = False
    lab_wait: float = LAB_WAIT_S
    ep: Sequence[str] = ()
    delegate: Sequence[str] = ()
    prompts: Path | None = None  # GGUF models: JSON lines of prompts (None: the shipped set)
    context: str | None = None  # GGUF models: '128,512,2048', context depths whose memory is measured
    max_tokens: int = GenerationSettings.max_tokens
    perplexity_text: Path | None = None  # GGUF models: the text perplexity is measured on (None: shipped)


@dataclass(frozen=True)
class Settings:
    """A Request with everything but its models checked: the profiles, the project file, the latency budget and
    the scenario."""

    request: Request
    profiles: list[DeviceProfile]
    project: ProjectFile | None
    latency: LatencyBudget
    scenario: ScenarioSettings


@dataclass(frozen=True)
class Plan:
    """What pipeline.deploy_judge_store measures: every artifact on every profile, each variant with its reference
    (by sha256: its fp32 source, or the source framework's outputs), judged with the project file and the command
    line's constraints (each parses)."""

    profiles: list[DeviceProfile]
    artifacts: list[ModelArtifact]
    references: dict[str, Reference]
    options: DeployOptions
    project: ProjectFile | None
    constraints: list[str]


def recorded_command(argv: Sequence[str]) -> str:
    """The command line as the store records it: the value of each SECRET_OPTIONS option (a key's path) as
    REDACTED, undecodable bytes of file names as backslash escapes."""
    shown: list[str] = []
    hide_next = False
    for arg in argv:
        name = arg.partition("=")[0]
        if hide_next:
            shown.append(REDACTED)
        elif name in SECRET_OPTIONS and "=" in arg:
            shown.append(f"{name}={REDACTED}")
        else:
            shown.append(printable(arg))
        hide_next = not hide_next and arg in SECRET_OPTIONS
    return shlex.join(["edgeprof", *shown])


def named_profiles(
    names: Sequence[str], host: str | None, port: int | None, user: str | None, identity: str | None
) -> list[DeviceProfile]:
    """The profiles of these device names, with --host/--port/--user/--identity applied (only to one device)."""
    if len(names) > 1 and any((host, port, user, identity)):
        raise ConfigError("--host/--port/--user/--identity apply to a single --device")
    return [with_overrides(load_profile(n), host=host, port=port, user=user, identity=identity) for n in names]


def _fleet_profiles(request: Request) -> list[DeviceProfile]:
    """The --device profiles plus --devices-from's; `labgrid:KEY=VALUE,...` makes one profile per matching place
    from the one --device given as the template (edgeprof.lab.place_profiles)."""
    device, devices_from = list(request.devices), request.devices_from
    overrides = (request.host, request.port, request.user, request.identity)
    tags = labgrid_tags(devices_from) if devices_from else None
    if tags is None:
        names = list(dict.fromkeys([*device, *(read_devices_file(devices_from) if devices_from else [])]))
        return named_profiles(names or ["local"], *overrides)
    if len(device) != 1:
        raise ConfigError(f"--devices-from {devices_from} needs one --device: the profile each place runs with")
    from edgeprof.lab import place_profiles  # asyncio, threads, then labgrid: only for a labgrid source

    return place_profiles(named_profiles(device, *overrides)[0], tags)


def _latency_budget(request: Request) -> LatencyBudget:
    """--min-runs/--max-runs/--min-seconds/--max-seconds/--precision; an unset minimum is the default, capped by
    its maximum."""
    min_runs = min(LatencyBudget.min_runs, request.max_runs) if request.min_runs is None else request.min_runs
    min_seconds = (min(LatencyBudget.min_seconds, request.max_seconds) if request.min_seconds is None
                   else request.min_seconds)
    if min_runs > request.max_runs or min_seconds > request.max_seconds:
        raise ConfigError("--min-runs/--min-seconds must not exceed --max-runs/--max-seconds")
    return LatencyBudget(min_runs=min_runs, max_runs=request.max_runs, min_seconds=min_seconds,
                         max_seconds=request.max_seconds, target_rel_halfwidth=request.precision)


def _check_timing_inputs(timing: str, dataset: Path | None) -> None:
    """--timing-inputs is random, or dataset with a --dataset."""
    if timing not in TIMING_INPUTS:
        raise ConfigError(f"--timing-inputs {timing!r}: expected {' or '.join(TIMING_INPUTS)}")
    if timing == "dataset" and dataset is None:
        raise ConfigError("--timing-inputs dataset needs --dataset FILE")


def _int_list(text: str | None, option: str) -> tuple[int, ...] | None:
    """'1,4,8' into (1, 4, 8); ConfigError naming the option unless every item is a positive integer."""
    if text is None:
        return None
    try:
        values = tuple(int(v) for v in text.split(","))
    except ValueError:
        values = ()
    if not values or any(v <= 0 for v in values):
        raise ConfigError(f"{option} {text!r}: expected positive integers such as 1,4,8")
    return values


MAX_BATCH = 4096  # offline batch size: beyond it one batch of a small image model outgrows an edge board's memory
MAX_QUERIES = 10_000_000  # arrivals in one server run (QPS x seconds): 80 MB of schedule on the device


def _scenario(request: Request) -> ScenarioSettings:
    """The --scenario options, checked together."""
    name, batch, sweep_threads = request.scenario, request.batch, request.sweep_threads
    if name not in SCENARIOS:
        raise ConfigError(f"--scenario {name!r}: expected {', '.join(SCENARIOS[:-1])} or {SCENARIOS[-1]}")
    if name != "offline" and (batch or sweep_threads):
        raise ConfigError("--batch and --sweep-threads apply to --scenario offline")
    if name != "server" and (request.target_qps or request.find_max_qps):
        raise ConfigError("--target-qps and --find-max-qps apply to --scenario server")
    if name == "server" and not request.target_qps and not request.find_max_qps:
        raise ConfigError("--scenario server needs --target-qps QPS or --find-max-qps --p99-bound MS")
    if request.find_max_qps and request.p99_bound is None:
        raise ConfigError("--find-max-qps needs --p99-bound MS")
    batches = _int_list(batch, "--batch") or (1,)
    if max(batches) > MAX_BATCH:
        raise ConfigError(f"--batch {max(batches)}: at most {MAX_BATCH} (each batch is built in the device's memory)")
    if request.target_qps and request.target_qps * request.scenario_seconds > MAX_QUERIES:
        raise ConfigError(f"--target-qps {request.target_qps:g} over --scenario-seconds {request.scenario_seconds:g}: "
                          f"at most {MAX_QUERIES:,} queries per run (each arrival is scheduled in the device's memory)")
    return ScenarioSettings(name=name, batches=batches,
                            threads=_int_list(sweep_threads, "--sweep-threads"), seconds=request.scenario_seconds,
                            target_qps=request.target_qps, find_max_qps=request.find_max_qps,
                            p99_bound_ms=request.p99_bound, search_point_seconds=request.scenario_seconds)


def _check_thread_counts(profiles: list[DeviceProfile], threads: int | None,
                         sweep_threads: tuple[int, ...] | None) -> None:
    """--threads and every --sweep-threads count within each device's bound (devices.check_threads)."""
    for profile in profiles:
        if threads is not None:
            check_threads(threads, profile, "--threads")
        for count in sweep_threads or ():
            check_threads(count, profile, "--sweep-threads")


def checked_settings(request: Request) -> Settings:
    """Everything of the request but its models, checked in the order a user meets them: the latency budget,
    --timing-inputs, the devices, the scenario, thread counts, the project file, then each --constraint."""
    latency = _latency_budget(request)
    _check_timing_inputs(request.timing_inputs, request.dataset)
    profiles = _fleet_profiles(request)
    scenario = _scenario(request)
    _check_thread_counts(profiles, request.threads, scenario.threads)
    project = load_project(request.project)
    for text in request.constraints:
        parse_constraint(text)
    return Settings(request, profiles, project, latency, scenario)


def dataset_ranges(artifact: ModelArtifact, arrays: dict[str, Any]) -> dict[str, list[int]]:
    """The lowest and highest value the dataset holds for each of the model's integer inputs (its array by name,
    plain name or `x`): what the timed runs' random values are drawn within when neither --input-range nor the
    model bounds the input."""
    from edgeprof.agent.inputs import dataset_key  # numpy: only with a --dataset

    found = {}
    for spec in artifact.inputs:
        key = dataset_key(spec.name, list(arrays), len(artifact.inputs))
        if key is not None and integer_input(spec) and arrays[key].size and arrays[key].dtype.kind in "iub":
            found[spec.name] = [int(arrays[key].min()), int(arrays[key].max())]
    return found


def _checked_artifacts(models: Sequence[Path], request: Request, outputs: ReferenceOutputs | None) -> tuple[
    list[ModelArtifact], dict[str, Reference], dict[str, ModelInputs]
]:
    """Every model, its input options and the dataset checked against it: the models, their references (unless
    --no-reference: `outputs` for every model where given, else each variant's fp32 source), and each model's input
    shapes and ranges by path."""
    artifacts = [load_artifact(m) for m in models]
    observed = None
    if request.dataset is not None:
        arrays = read_npz(request.dataset, "dataset")
        observed = {str(a.path): dataset_ranges(a, arrays) for a in artifacts}
    inputs = resolve_inputs(artifacts, [parse_input_shape(s) for s in request.input_shapes],
                            [parse_input_range(r) for r in request.input_ranges], timing=request.timing_inputs,
                            observed=observed)
    if request.dataset is not None:
        for artifact in artifacts:
            check_dataset(artifact, request.dataset, ranges=inputs[str(artifact.path)].ranges,
                          allow_nan=request.allow_nan)
    references: dict[str, Reference] = {}
    if request.with_reference and outputs is not None:
        references = {artifact.sha256: outputs for artifact in artifacts}
    elif request.with_reference:
        for artifact in artifacts:
            source = reference_for(artifact)
            if source is not None:
                references[artifact.sha256] = load_artifact(source)
    return artifacts, references, inputs


def plan_models(settings: Settings, models: Sequence[Path], outputs: ReferenceOutputs | None = None) -> Plan:
    """The plan that measures these model files with the checked settings (sweep's are the variants it made),
    each compared with `outputs` where given (the source's, on the dataset); the models, their input options and
    --ep/--delegate are checked here."""
    request = settings.request
    artifacts, references, inputs = _checked_artifacts(models, request, outputs)
    options = DeployOptions(
        dataset=request.dataset,
        threads=request.threads,
        model_inputs=inputs,
        timing_inputs=request.timing_inputs,
        latency=settings.latency,
        power_seconds=request.power_seconds,
        cooldown_to_c=request.cooldown_to,
        op_profile=request.op_profile,
        seed=request.seed,
        accept_new_host_key=request.accept_new_host_key,
        strict_device=request.strict_device,
        lab_wait_s=request.lab_wait,
        scenario=settings.scenario,
        providers=configurations(list(request.ep), "--ep"),
        delegates=configurations(list(request.delegate), "--delegate"),
        generation=generation_settings(request.prompts, request.context, request.max_tokens, request.perplexity_text),
    )
    return Plan(settings.profiles, artifacts, references, options, settings.project, list(request.constraints))


def make_plan(request: Request) -> Plan:
    """The request checked whole (checked_settings, then its models: plan_models)."""
    return plan_models(checked_settings(request), request.models)
