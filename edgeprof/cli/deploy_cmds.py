"""`edgeprof deploy`, `sweep` and `doctor`: the commands that reach devices. What deploy and sweep measure is
planned by edgeprof.plan (and edgeprof.sweep); this module parses, calls and renders."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from edgeprof.agent.spec import (
    SCENARIOS,
    GenerationSettings,
    InputSettings,
    LatencyBudget,
    PowerSettings,
    ScenarioSettings,
)
from edgeprof.cli.app import app, console
from edgeprof.cli.deploying import measure_judge_store, print_recommendations
from edgeprof.cli.options import (
    AcceptNewOption,
    AllowNanOption,
    ConstraintOption,
    ContextOption,
    DatasetOption,
    DelegateOption,
    DeviceOption,
    EpOption,
    HostOption,
    IdentityOption,
    InputRangeOption,
    InputShapeOption,
    JsonOption,
    LabWaitOption,
    MaxSecondsOption,
    MaxTokensOption,
    PerplexityTextOption,
    PortOption,
    PowerSecondsOption,
    PrecisionOption,
    ProjectOption,
    PromptsOption,
    StoreOption,
    StrictDeviceOption,
    StrictOption,
    ThreadsOption,
    TimingInputsOption,
    UserOption,
    finite,
    seconds,
)
from edgeprof.devices import LAB_WAIT_S
from edgeprof.doctor import diagnose
from edgeprof.plan import Request, make_plan, named_profiles
from edgeprof.sweep import DEFAULT_FORMATS, DEFAULT_VARIANTS, SweepOptions, sweep_plan


@app.command("deploy")
def deploy(
    model: Annotated[list[Path], typer.Option("--model", "-m", metavar="PATH",
                                              help="ONNX, TFLite or GGUF model file, or ONNX Runtime GenAI model "
                                                   "folder (repeatable).")],
    device: DeviceOption = [],  # noqa: B006 - typer reads the default
    devices_from: Annotated[
        Optional[str], typer.Option("--devices-from", metavar="PATH[:GROUP]|labgrid:K=V",
                                    help="Device names: one per line, an INI inventory's group, or labgrid places.")
    ] = None,
    jobs: Annotated[
        Optional[int], typer.Option("--jobs", "-j", metavar="N", min=1, help="Devices at a time (default: all).")
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
        Optional[int], typer.Option("--min-runs", metavar="N", min=1,
                                    help=f"Default {LatencyBudget.min_runs} (capped by --max-runs).")
    ] = None,
    max_runs: Annotated[int, typer.Option("--max-runs", metavar="N", min=1,
                                          help="Most timed runs of the latency phase.")
                        ] = LatencyBudget.max_runs,
    min_seconds: Annotated[
        Optional[float],
        typer.Option("--min-seconds", metavar="SECONDS", min=0, callback=seconds,
                     help=f"Default {LatencyBudget.min_seconds} (capped by --max-seconds)."),
    ] = None,
    max_seconds: MaxSecondsOption = LatencyBudget.max_seconds,
    precision: PrecisionOption = LatencyBudget.target_rel_halfwidth,
    power_seconds: PowerSecondsOption = PowerSettings.seconds,
    cooldown_to: Annotated[
        Optional[float], typer.Option("--cooldown-to", metavar="CELSIUS", callback=finite,
                                      help="Wait (bounded) until the device is this cool (C).")
    ] = None,
    op_profile: Annotated[bool, typer.Option("--op-profile", help="Per-operator profile (ONNX Runtime; LiteRT 2.2+).")] = False,
    no_reference: Annotated[
        bool, typer.Option("--no-reference", help="Do not compare a variant with its fp32 source.")
    ] = False,
    seed: Annotated[int, typer.Option("--seed", metavar="N",
                                      help="Seed of the random timing inputs (the same seed, the same "
                                           "inputs).")] = 0,
    scenario: Annotated[
        str, typer.Option("--scenario", metavar="|".join(SCENARIOS), help="Load scenario.")
    ] = ScenarioSettings.name,
    batch: Annotated[Optional[str], typer.Option("--batch", metavar="N[,N...]",
                                                 help="Offline batch sizes, e.g. 1,4,8.")] = None,
    sweep_threads: Annotated[
        Optional[str], typer.Option("--sweep-threads", metavar="N[,N...]", help="Offline thread counts, e.g. 1,2,4.")
    ] = None,
    target_qps: Annotated[
        Optional[float], typer.Option("--target-qps", metavar="QPS", min=0.001, callback=finite,
                                      help="Server: Poisson arrivals at this rate.")
    ] = None,
    find_max_qps: Annotated[
        bool, typer.Option("--find-max-qps", help="Server: search the highest QPS meeting --p99-bound.")
    ] = False,
    p99_bound: Annotated[Optional[float], typer.Option(
        "--p99-bound", metavar="MS", min=0.001, callback=finite,
        help="Server: the p99 latency (ms) --find-max-qps must keep.")
    ] = None,
    scenario_seconds: Annotated[
        float, typer.Option("--scenario-seconds", metavar="SECONDS", min=0.01, callback=seconds,
                            help="Per offline point / server run.")
    ] = ScenarioSettings.seconds,
    prompts: PromptsOption = None,
    context: ContextOption = None,
    max_tokens: MaxTokensOption = GenerationSettings.max_tokens,
    perplexity_text: PerplexityTextOption = None,
    host: HostOption = None,
    port: PortOption = None,
    user: UserOption = None,
    identity: IdentityOption = None,
    accept_new_host_key: AcceptNewOption = False,
    strict_device: StrictDeviceOption = False,
    ep: EpOption = [],  # noqa: B006
    delegate: DelegateOption = [],  # noqa: B006
    store: StoreOption = None,
    as_json: JsonOption = False,
) -> None:
    """Push each model to each device, measure it there, judge it against the constraints, store it."""
    plan = make_plan(Request(
        models=model, devices=device, devices_from=devices_from, host=host, port=port, user=user, identity=identity,
        dataset=dataset, timing_inputs=timing_inputs, allow_nan=allow_nan, input_shapes=input_shape,
        input_ranges=input_range, with_reference=not no_reference, constraints=constraint, project=project,
        threads=threads, min_runs=min_runs, max_runs=max_runs,
        min_seconds=min_seconds, max_seconds=max_seconds, precision=precision, power_seconds=power_seconds,
        cooldown_to=cooldown_to, op_profile=op_profile, seed=seed, scenario=scenario, batch=batch,
        sweep_threads=sweep_threads, target_qps=target_qps, find_max_qps=find_max_qps, p99_bound=p99_bound,
        scenario_seconds=scenario_seconds, accept_new_host_key=accept_new_host_key, strict_device=strict_device,
        lab_wait=lab_wait, ep=ep, delegate=delegate, prompts=prompts, context=context, max_tokens=max_tokens,
        perplexity_text=perplexity_text))
    raise typer.Exit(measure_judge_store(plan, store, as_json=as_json, jobs=jobs).exit_code(strict=strict))


@app.command("doctor")
def doctor(
    device: Annotated[str, typer.Option("--device", "-d", metavar="DEVICE", help="Device profile name.")] = "local",
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
    model: Annotated[str, typer.Argument(
        metavar="MODEL",
        help="The fp32 model (ONNX, TFLite, GGUF), or the source to convert first: a torch.export .pt2, "
             "package.module:factory, .keras, .h5 or a SavedModel folder.")],
    device: DeviceOption = ["local"],  # noqa: B006
    variants: Annotated[
        Optional[str],
        typer.Option("--variants", metavar="VARIANT[,VARIANT...]",
                     help="Comma-separated variants to make and measure besides the fp32 model (always measured: fp32 "
                          f"may be named; default {DEFAULT_VARIANTS['onnx']}, GGUF {DEFAULT_VARIANTS['gguf']}).")
    ] = None,
    formats: Annotated[
        Optional[str], typer.Option("--formats", metavar="FORMAT[,FORMAT...]",
                                    help=f"A source: the formats it is converted into (default {DEFAULT_FORMATS}).")
    ] = None,
    dataset: DatasetOption = None,
    timing_inputs: TimingInputsOption = InputSettings.timing,
    allow_nan: AllowNanOption = False,
    input_shape: Annotated[list[str], typer.Option(
        "--input-shape", metavar="NAME=SHAPE", help="A source: an input's dims for the conversion (a factory needs "
                                                    "them); a file: its dynamic dims (repeatable).")] = [],  # noqa: B006
    input_range: InputRangeOption = [],  # noqa: B006
    calibration: Annotated[
        Optional[Path], typer.Option("--calibration", metavar="PATH", help="NPZ of calibration inputs (int8-static).")
    ] = None,
    out: Annotated[Optional[Path], typer.Option("--out", metavar="DIR", help="Where the variants go.")] = None,
    allow_pickle: Annotated[bool, typer.Option(
        "--allow-pickle", help="Load a pickled .pt/.pth module: this RUNS ANY CODE the file holds.")] = False,
    threads: ThreadsOption = None,
    max_seconds: MaxSecondsOption = LatencyBudget.max_seconds,
    power_seconds: PowerSecondsOption = PowerSettings.seconds,
    prompts: PromptsOption = None,
    context: ContextOption = None,
    max_tokens: MaxTokensOption = GenerationSettings.max_tokens,
    perplexity_text: PerplexityTextOption = None,
    constraint: ConstraintOption = [],  # noqa: B006
    project: ProjectOption = None,
    strict: StrictOption = False,
    host: HostOption = None,
    port: PortOption = None,
    user: UserOption = None,
    identity: IdentityOption = None,
    accept_new_host_key: AcceptNewOption = False,
    lab_wait: LabWaitOption = LAB_WAIT_S,
    ep: EpOption = [],  # noqa: B006
    delegate: DelegateOption = [],  # noqa: B006
    store: StoreOption = None,
    as_json: JsonOption = False,
) -> None:
    """Make a model's variants (a PyTorch or Keras source converted into each format first), deploy the model and
    every variant to every device; one table of format x precision x accelerator, each compared with the source."""
    request = Request(models=[], devices=device, host=host, port=port, user=user, identity=identity,
                      dataset=dataset, timing_inputs=timing_inputs, allow_nan=allow_nan, input_shapes=input_shape,
                      input_ranges=input_range, constraints=constraint, project=project, threads=threads,
                      max_seconds=max_seconds, power_seconds=power_seconds, accept_new_host_key=accept_new_host_key,
                      lab_wait=lab_wait, ep=ep, delegate=delegate, prompts=prompts, context=context,
                      max_tokens=max_tokens, perplexity_text=perplexity_text)
    chosen = None if variants is None else [v.strip() for v in variants.split(",") if v.strip()]
    sweep = sweep_plan(request, model, SweepOptions(chosen, formats, out, calibration, allow_pickle))
    for note in sweep.notes:
        console(stderr=True).print(note, markup=False, highlight=False)
    deployed = measure_judge_store(sweep.plan, store, as_json=as_json, compared=sweep.compared)
    if not as_json:
        console().print(f"variants in {sweep.out_dir} (manifest: {sweep.out_dir / 'manifest.json'})", markup=False,
                        highlight=False, soft_wrap=True)
        print_recommendations(deployed)
    raise typer.Exit(deployed.exit_code(strict=strict))
