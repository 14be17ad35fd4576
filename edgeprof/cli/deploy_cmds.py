"""`edgeprof deploy` and `edgeprof doctor`: the commands that reach devices."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path
from typing import Annotated, Optional, Sequence

import typer

from edgeprof.accelerators import configurations
from edgeprof.agent.spec import (
    SCENARIOS,
    TIMING_INPUTS,
    ErrorKind,
    InputSettings,
    LatencyBudget,
    PowerSettings,
    ScenarioSettings,
)
from edgeprof.artifacts import ModelArtifact, check_dataset, load_artifact, printable, reference_for
from edgeprof.cli.app import (
    ConstraintOption,
    DelegateOption,
    EpOption,
    JsonOption,
    LabWaitOption,
    ProjectOption,
    StoreOption,
    StrictOption,
    app,
    console,
    error_line,
    store_path,
)
from edgeprof.cli.progress import AgentProgress
from edgeprof.constraints import parse_constraint
from edgeprof.deploy import DeployOptions
from edgeprof.devices import LAB_WAIT_S, DeviceProfile, check_threads, load_profile, with_overrides
from edgeprof.doctor import diagnose
from edgeprof.errors import ConfigError
from edgeprof.fleet import labgrid_tags, read_devices_file
from edgeprof.model_inputs import ModelInputs, parse_input_range, parse_input_shape, resolve_inputs
from edgeprof.pipeline import deploy_judge_store
from edgeprof.project import ProjectFile, load_project
from edgeprof.report.scenario_summary import scenario_lines
from edgeprof.report.table import render_verdicts
from edgeprof.result import Result

ACCELERATOR_ERRORS = (ErrorKind.ACCELERATOR_MISSING, ErrorKind.ACCELERATOR_OPTIONS)
SECRET_OPTIONS = ("--identity",)
REDACTED = "<redacted>"
DeviceOption = Annotated[
    list[str], typer.Option("--device", "-d", help="Device profile name (repeatable). Default: local.")
]
HostOption = Annotated[Optional[str], typer.Option("--host", help="Override the profile's host.")]
PortOption = Annotated[Optional[int], typer.Option("--port", help="Override the profile's SSH port.")]
UserOption = Annotated[Optional[str], typer.Option("--user", help="Override the profile's SSH user.")]
IdentityOption = Annotated[Optional[str], typer.Option("--identity", help="Override the SSH identity file.")]
AcceptNewOption = Annotated[
    bool,
    typer.Option("--accept-new-host-key", help="Record an unknown host key (a changed key is always refused)."),
]
TimingInputsOption = Annotated[
    str, typer.Option("--timing-inputs", metavar="|".join(TIMING_INPUTS),
                      help="What the timed runs are fed: seeded random values, or the --dataset samples.")
]
InputRangeOption = Annotated[
    list[str], typer.Option("--input-range", metavar="[MODEL:]NAME=LO:HI",
                            help="Values of an integer input, inclusive (repeatable; default: read from the model).")
]
DatasetOption = Annotated[
    Optional[Path], typer.Option("--dataset", help="Labelled NPZ: one array per input (or x) and y.")
]
ThreadsOption = Annotated[Optional[int], typer.Option("--threads", min=1, help="Intra-op threads.")]
MaxSecondsOption = Annotated[float, typer.Option("--max-seconds", min=0.01, help="Longest latency phase per run (s).")]
PrecisionOption = Annotated[
    float, typer.Option("--precision", min=0.0, help="Stop once the p95 CI half-width <= this fraction of p95.")
]
PowerSecondsOption = Annotated[float, typer.Option("--power-seconds", min=0, help="Longest energy window (s).")]
InputShapeOption = Annotated[
    list[str], typer.Option("--input-shape", metavar="[MODEL:]NAME=SHAPE",
                            help="Dynamic dims: input=1x3x224x224, per model with MODEL: (repeatable).")
]
AllowNanOption = Annotated[bool, typer.Option("--allow-nan", help="Accept NaN and inf values in --dataset inputs.")]


def recorded_command(argv: list[str]) -> str:
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


def check_thread_counts(profiles: list[DeviceProfile], threads: int | None,
                        sweep_threads: tuple[int, ...] | None) -> None:
    """--threads and every --sweep-threads count within each device's bound (devices.check_threads)."""
    for profile in profiles:
        if threads is not None:
            check_threads(threads, profile, "--threads")
        for count in sweep_threads or ():
            check_threads(count, profile, "--sweep-threads")


def parse_int_list(text: str | None, option: str) -> tuple[int, ...] | None:
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


def scenario_options(name: str, batch: str | None, sweep_threads: str | None, target_qps: float | None,
                     find_max_qps: bool, p99_bound: float | None, seconds: float) -> ScenarioSettings:
    """The --scenario options, checked together."""
    if name not in SCENARIOS:
        raise ConfigError(f"--scenario {name!r}: expected {', '.join(SCENARIOS[:-1])} or {SCENARIOS[-1]}")
    if name != "offline" and (batch or sweep_threads):
        raise ConfigError("--batch and --sweep-threads apply to --scenario offline")
    if name != "server" and (target_qps or find_max_qps):
        raise ConfigError("--target-qps and --find-max-qps apply to --scenario server")
    if name == "server" and not target_qps and not find_max_qps:
        raise ConfigError("--scenario server needs --target-qps QPS or --find-max-qps --p99-bound MS")
    if find_max_qps and p99_bound is None:
        raise ConfigError("--find-max-qps needs --p99-bound MS")
    return ScenarioSettings(name=name, batches=parse_int_list(batch, "--batch") or (1,),
                            threads=parse_int_list(sweep_threads, "--sweep-threads"), seconds=seconds,
                            target_qps=target_qps, find_max_qps=find_max_qps, p99_bound_ms=p99_bound,
                            search_point_seconds=seconds)


def named_profiles(
    names: list[str], host: str | None, port: int | None, user: str | None, identity: str | None
) -> list[DeviceProfile]:
    """The profiles of these device names, with --host/--port/--user/--identity applied (only to one device)."""
    if len(names) > 1 and any((host, port, user, identity)):
        raise ConfigError("--host/--port/--user/--identity apply to a single --device")
    return [with_overrides(load_profile(n), host=host, port=port, user=user, identity=identity) for n in names]


def _fleet_profiles(device: list[str], devices_from: str | None, host: str | None, port: int | None,
                    user: str | None, identity: str | None) -> list[DeviceProfile]:
    """The --device profiles plus --devices-from's; `labgrid:KEY=VALUE,...` makes one profile per matching place
    from the one --device given as the template (edgeprof.lab.place_profiles)."""
    tags = labgrid_tags(devices_from) if devices_from else None
    if tags is None:
        names = list(dict.fromkeys([*device, *(read_devices_file(devices_from) if devices_from else [])]))
        return named_profiles(names or ["local"], host, port, user, identity)
    if len(device) != 1:
        raise ConfigError(f"--devices-from {devices_from} needs one --device: the profile each place runs with")
    from edgeprof.lab import place_profiles  # asyncio, threads, then labgrid: only for a labgrid source

    return place_profiles(named_profiles(device, host, port, user, identity)[0], tags)


def check_timing_inputs(timing: str, dataset: Path | None) -> None:
    """--timing-inputs is random, or dataset with a --dataset."""
    if timing not in TIMING_INPUTS:
        raise ConfigError(f"--timing-inputs {timing!r}: expected {' or '.join(TIMING_INPUTS)}")
    if timing == "dataset" and dataset is None:
        raise ConfigError("--timing-inputs dataset needs --dataset FILE")


def checked_artifacts(models: list[Path], dataset: Path | None, with_reference: bool, *, timing: str,
                      shapes: Sequence[str] = (), ranges: Sequence[str] = (), allow_nan: bool = False) -> tuple[
    list[ModelArtifact], dict[str, ModelArtifact], dict[str, ModelInputs]
]:
    """Check every model, its input options and the dataset against it on the host before anything reaches a
    device: the models, their references, and each model's input shapes and ranges by path."""
    artifacts = [load_artifact(m) for m in models]
    inputs = resolve_inputs(artifacts, [parse_input_shape(s) for s in shapes],
                            [parse_input_range(r) for r in ranges], timing=timing)
    if dataset is not None:
        for artifact in artifacts:
            check_dataset(artifact, dataset, ranges=inputs[str(artifact.path)].ranges, allow_nan=allow_nan)
    references: dict[str, ModelArtifact] = {}
    if with_reference:
        for artifact in artifacts:
            source = reference_for(artifact)
            if source is not None:
                references[artifact.sha256] = load_artifact(source)
    return artifacts, references, inputs


@app.command("deploy")
def deploy(
    model: Annotated[list[Path], typer.Option("--model", "-m", help="ONNX or TFLite model file (repeatable).")],
    device: DeviceOption = [],  # noqa: B006 - typer reads the default
    devices_from: Annotated[
        Optional[str], typer.Option("--devices-from", metavar="FILE[:GROUP]|labgrid:K=V",
                                    help="Device names: one per line, an INI inventory's group, or labgrid places.")
    ] = None,
    jobs: Annotated[
        Optional[int], typer.Option("--jobs", "-j", min=1, help="Devices at a time (default: all).")
    ] = None,
    lab_wait: LabWaitOption = LAB_WAIT_S,
    dataset: DatasetOption = None,
    timing_inputs: TimingInputsOption = InputSettings.timing,
    allow_nan: AllowNanOption = False,
    threads: ThreadsOption = None,
    input_shape: InputShapeOption = [],  # noqa: B006
    input_range: InputRangeOption = [],  # noqa: B006
    constraint: ConstraintOption = [],  # noqa: B006
    project: ProjectOption = None,
    strict: StrictOption = False,
    min_runs: Annotated[
        Optional[int], typer.Option("--min-runs", min=1, help=f"Default {LatencyBudget.min_runs} (capped by --max-runs).")
    ] = None,
    max_runs: Annotated[int, typer.Option("--max-runs", min=1)] = LatencyBudget.max_runs,
    min_seconds: Annotated[
        Optional[float],
        typer.Option("--min-seconds", min=0, help=f"Default {LatencyBudget.min_seconds} (capped by --max-seconds)."),
    ] = None,
    max_seconds: MaxSecondsOption = LatencyBudget.max_seconds,
    precision: PrecisionOption = LatencyBudget.target_rel_halfwidth,
    power_seconds: PowerSecondsOption = PowerSettings.seconds,
    cooldown_to: Annotated[
        Optional[float], typer.Option("--cooldown-to", help="Wait (bounded) until the device is this cool (C).")
    ] = None,
    op_profile: Annotated[bool, typer.Option("--op-profile", help="Per-operator profile (ONNX Runtime).")] = False,
    no_reference: Annotated[
        bool, typer.Option("--no-reference", help="Do not compare a variant with its fp32 source.")
    ] = False,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    scenario: Annotated[
        str, typer.Option("--scenario", metavar="|".join(SCENARIOS), help="Load scenario.")
    ] = ScenarioSettings.name,
    batch: Annotated[Optional[str], typer.Option("--batch", metavar="1,4,8", help="Offline batch sizes.")] = None,
    sweep_threads: Annotated[
        Optional[str], typer.Option("--sweep-threads", metavar="1,2,4", help="Offline thread counts.")
    ] = None,
    target_qps: Annotated[
        Optional[float], typer.Option("--target-qps", min=0.001, help="Server: Poisson arrivals at this rate.")
    ] = None,
    find_max_qps: Annotated[
        bool, typer.Option("--find-max-qps", help="Server: search the highest QPS meeting --p99-bound.")
    ] = False,
    p99_bound: Annotated[Optional[float], typer.Option("--p99-bound", metavar="MS", min=0.001)] = None,
    scenario_seconds: Annotated[
        float, typer.Option("--scenario-seconds", min=0.01, help="Per offline point / server run.")
    ] = ScenarioSettings.seconds,
    host: HostOption = None,
    port: PortOption = None,
    user: UserOption = None,
    identity: IdentityOption = None,
    accept_new_host_key: AcceptNewOption = False,
    ep: EpOption = [],  # noqa: B006
    delegate: DelegateOption = [],  # noqa: B006
    store: StoreOption = None,
    as_json: JsonOption = False,
) -> None:
    """Push each model to each device, measure it there, judge it against the constraints, store it."""
    min_runs = min(LatencyBudget.min_runs, max_runs) if min_runs is None else min_runs
    min_seconds = min(LatencyBudget.min_seconds, max_seconds) if min_seconds is None else min_seconds
    if min_runs > max_runs or min_seconds > max_seconds:
        raise ConfigError("--min-runs/--min-seconds must not exceed --max-runs/--max-seconds")
    check_timing_inputs(timing_inputs, dataset)
    profiles = _fleet_profiles(device, devices_from, host, port, user, identity)
    scenario_opts = scenario_options(scenario, batch, sweep_threads, target_qps, find_max_qps, p99_bound,
                                     scenario_seconds)
    check_thread_counts(profiles, threads, scenario_opts.threads)
    project_file = load_project(project)
    for text in constraint:
        parse_constraint(text)
    artifacts, references, inputs = checked_artifacts(model, dataset, not no_reference, timing=timing_inputs,
                                               shapes=input_shape, ranges=input_range, allow_nan=allow_nan)
    options = DeployOptions(
        dataset=dataset,
        threads=threads,
        model_inputs=inputs,
        timing_inputs=timing_inputs,
        latency=LatencyBudget(
            min_runs=min_runs,
            max_runs=max_runs,
            min_seconds=min_seconds,
            max_seconds=max_seconds,
            target_rel_halfwidth=precision,
        ),
        power_seconds=power_seconds,
        cooldown_to_c=cooldown_to,
        op_profile=op_profile,
        seed=seed,
        accept_new_host_key=accept_new_host_key,
        lab_wait_s=lab_wait,
        scenario=scenario_opts,
        providers=configurations(ep, "--ep"),
        delegates=configurations(delegate, "--delegate"),
    )
    raise typer.Exit(measure_judge_store(profiles, artifacts, references, options, project_file, constraint,
                                         store, as_json=as_json, strict=strict, jobs=jobs))


def measure_judge_store(
    profiles: list[DeviceProfile],
    artifacts: list[ModelArtifact],
    references: dict[str, ModelArtifact],
    options: DeployOptions,
    project_file: ProjectFile | None,
    constraint: list[str],
    store: Path | None,
    *,
    as_json: bool,
    strict: bool,
    jobs: int | None = None,
) -> int:
    """Deploy, judge and store (edgeprof.pipeline.deploy_judge_store) with progress on stderr; render; the exit
    code: 3 if a device failed, else 1 on a failed constraint, else 0."""
    err = console(stderr=True)
    with AgentProgress(err, quiet=as_json) as progress:
        deployed = deploy_judge_store(profiles, artifacts, references, options, project_file, constraint,
                                      store_path(store), command=recorded_command(sys.argv[1:]),
                                      on_event=progress.on_event, jobs=jobs)
    if as_json:
        print(json.dumps(deployed.results, indent=2))
    else:
        render_verdicts(deployed.results, console())
        for line in scenario_lines(deployed.results):
            console().print(line, markup=False, highlight=False)
        if deployed.run_id:
            err.print(f"stored run {deployed.run_id} in {store_path(store)}")
    if deployed.store_error:  # the store refused the run after measuring: shown above, kept in the spool
        error_line(deployed.store_error)
    for failure in deployed.failures.values():
        error_line(str(failure))
    for result in deployed.results:  # an accelerator the device lacks is the run's configuration, said in one line
        error = result.get("error") or {}
        if error.get("kind") in ACCELERATOR_ERRORS:
            error_line(f"{Result(result).label}: {error['message']}")
    return deployed.exit_code(strict=strict)


@app.command("doctor")
def doctor(
    device: Annotated[str, typer.Option("--device", "-d", help="Device profile name.")] = "local",
    host: HostOption = None,
    port: PortOption = None,
    user: UserOption = None,
    identity: IdentityOption = None,
    accept_new_host_key: AcceptNewOption = False,
    lab_wait: LabWaitOption = LAB_WAIT_S,
    as_json: JsonOption = False,
) -> None:
    """Connect to a device and report what it has: Python, runtimes, memory, disk, governor; each problem with its fix."""
    (profile,) = named_profiles([device], host, port, user, identity)
    report = diagnose(profile, accept_new_host_key=accept_new_host_key, lab_wait_s=lab_wait)
    if as_json:
        print(json.dumps(report.as_dict(), indent=2))
    else:
        report.render(console())
    raise typer.Exit(1 if report.problems else 0)


@app.command("sweep")
def sweep(
    model: Annotated[Path, typer.Argument(help="The fp32 source model (ONNX or TFLite).")],
    device: DeviceOption = ["local"],  # noqa: B006
    variants: Annotated[
        str, typer.Option("--variants", help="Comma-separated variants to make and measure besides the source.")
    ] = "fp16,int8-dynamic,int8-static",
    dataset: DatasetOption = None,
    timing_inputs: TimingInputsOption = InputSettings.timing,
    allow_nan: AllowNanOption = False,
    input_range: InputRangeOption = [],  # noqa: B006
    calibration: Annotated[
        Optional[Path], typer.Option("--calibration", help="NPZ of calibration inputs (int8-static).")
    ] = None,
    out: Annotated[Optional[Path], typer.Option("--out", help="Where the variants go.")] = None,
    threads: ThreadsOption = None,
    max_seconds: MaxSecondsOption = LatencyBudget.max_seconds,
    constraint: ConstraintOption = [],  # noqa: B006
    project: ProjectOption = None,
    strict: StrictOption = False,
    accept_new_host_key: AcceptNewOption = False,
    lab_wait: LabWaitOption = LAB_WAIT_S,
    ep: EpOption = [],  # noqa: B006
    delegate: DelegateOption = [],  # noqa: B006
    store: StoreOption = None,
    as_json: JsonOption = False,
) -> None:
    """Quantize a model into variants, deploy every variant (and the source) to every device, compare them."""
    from edgeprof.convert import quantize

    check_timing_inputs(timing_inputs, dataset)
    profiles = named_profiles(device, None, None, None, None)
    check_thread_counts(profiles, threads, None)
    project_file = load_project(project)
    for text in constraint:
        parse_constraint(text)
    source = load_artifact(model)
    out_dir = out or Path(".edgeprof") / "variants" / source.name
    made = quantize(model, [v.strip() for v in variants.split(",") if v.strip()], out_dir, calibration)
    artifacts, references, inputs = checked_artifacts([model, *(v.path for v in made)], dataset, True,
                                               timing=timing_inputs, ranges=input_range, allow_nan=allow_nan)
    options = DeployOptions(dataset=dataset, threads=threads, model_inputs=inputs, timing_inputs=timing_inputs,
                            accept_new_host_key=accept_new_host_key, lab_wait_s=lab_wait,
                            latency=LatencyBudget(max_seconds=max_seconds,
                                                  min_seconds=min(LatencyBudget.min_seconds, max_seconds)),
                            providers=configurations(ep, "--ep"), delegates=configurations(delegate, "--delegate"))
    raise typer.Exit(measure_judge_store(profiles, artifacts, references, options, project_file, constraint, store,
                                         as_json=as_json, strict=strict))
