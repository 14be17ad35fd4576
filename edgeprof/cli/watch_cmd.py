"""`edgeprof watch`: deploy -> judge -> store on a schedule, one line per run, an alert line on a regression. The
schedule and what each run is held to are edgeprof.watch's; this module parses, calls and renders."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.text import Text

from edgeprof.agent.spec import GenerationSettings, InputSettings, LatencyBudget, PowerSettings
from edgeprof.cli.app import app, console, error_line
from edgeprof.cli.options import (
    AcceptNewOption,
    AllowNanOption,
    AlphaOption,
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
    MaxDropOption,
    MaxRatioOption,
    MaxSecondsOption,
    MaxTokensOption,
    PerplexityTextOption,
    PortOption,
    PowerSecondsOption,
    PrecisionOption,
    ProjectOption,
    PromptsOption,
    StoreOption,
    StrictOption,
    ThreadsOption,
    TimingInputsOption,
    UserOption,
    store_path,
)
from edgeprof.cli.progress import AgentProgress
from edgeprof.compare import DEFAULT_ALPHA
from edgeprof.pipeline import DEFAULT_MAX_DROP, DEFAULT_MAX_RATIO, Gate, top1_drop
from edgeprof.plan import Request, make_plan, recorded_command
from edgeprof.report.figures import overall, speed_text, verdict_bound, verdict_value
from edgeprof.report.history import accuracy_drop_line, gate_change, regression_line
from edgeprof.result import Result, utc_now
from edgeprof.store.location import redact
from edgeprof.watch import (
    DEFAULT_MAX_FAILURES,
    Policy,
    Profiled,
    Schedule,
    Summary,
    Tick,
    parse_duration,
    watch,
)


def _plain(markup: str) -> str:
    return Text.from_markup(markup).plain


def _change(result: dict[str, Any], gate: Gate) -> str:
    """' (p95 x1.02 vs baseline, no significant change)' for a Result the gate compared, naming a regression or
    an accuracy drop it found; else ''."""
    for c in gate.comparisons or []:
        if c.b is result:
            found = [what for what, hits in (("REGRESSION", gate.regressions), ("ACCURACY DROP", gate.drops))
                     if c in hits]
            return " (" + ", ".join([gate_change(c), *found]) + ")"
    return ""


def run_line(started: str, tick: Tick, profiled: Profiled) -> str:
    """One run: when it started, which run, and per Result its verdict, p95 and change against the baseline."""
    deployed, run_id = profiled.deployed, profiled.deployed.run_id
    parts = [f"{Result(r).label}: {overall(r)}, {speed_text(r)}{_change(r, profiled.gate)}" for r in deployed.results]
    parts += [f"{name}: failed (the error line says why)" for name in deployed.failures]
    skipped = f" ({tick.skipped} tick{'s' * (tick.skipped > 1)} skipped: the run before overran)" if tick.skipped else ""
    return f"{started} #{tick.number} run {run_id or '(none stored)'}{skipped}: {'; '.join(parts) or 'no results'}"


def alert_line(profiled: Profiled, policy: Policy) -> str:
    """`edgeprof: alert: ...`: every failing verdict (Policy.failing), regression and accuracy drop of one run, on
    one line."""
    deployed, gate = profiled.deployed, profiled.gate
    what = [f"{Result(r).label} {v['constraint']} {verdict_bound(v)}: {v['status']} (value {verdict_value(v)})"
            for r in deployed.results for v in policy.failing(r)]
    what += [_plain(regression_line(c, policy.max_ratio)) for c in gate.regressions]
    what += [_plain(accuracy_drop_line(c, top1_drop(c) or 0.0, policy.max_drop)) for c in gate.drops]
    return " ".join(f"edgeprof: alert: run {deployed.run_id or '(none stored)'}: {'; '.join(what)}".split())


def summary_line(summary: Summary, store: str) -> str:
    """How the watch ended: runs stored (first and last id), skipped and failed ticks, the exit code."""
    runs = f"{len(summary.runs)} run{'s' * (len(summary.runs) != 1)} stored in {redact(store)}"
    if summary.runs:
        runs += f" ({summary.runs[0]}" + (f" .. {summary.runs[-1]})" if len(summary.runs) > 1 else ")")
    return (f"watch ended ({summary.ended}): {runs}; {summary.skipped} tick(s) skipped, "
            f"{summary.failed} failed (a device not reached or a run that failed on it); exit {summary.exit_code}")


@app.command("watch")
def watch_cmd(
    model: Annotated[list[Path], typer.Option("--model", "-m", metavar="PATH",
                                              help="ONNX or TFLite model file (repeatable).")],
    every: Annotated[str, typer.Option("--every", metavar="DURATION", help="Interval: 30s, 5m, 1h, 1d.")],
    device: DeviceOption = [],  # noqa: B006 - typer reads the default
    for_: Annotated[
        Optional[str], typer.Option("--for", metavar="DURATION", help="Stop starting runs after this long.")
    ] = None,
    runs: Annotated[Optional[int], typer.Option("--runs", metavar="N", min=1,
                                                help="Stop after this many runs.")] = None,
    dataset: DatasetOption = None,
    timing_inputs: TimingInputsOption = InputSettings.timing,
    allow_nan: AllowNanOption = False,
    input_shape: InputShapeOption = [],  # noqa: B006
    input_range: InputRangeOption = [],  # noqa: B006
    baseline: Annotated[
        Optional[str], typer.Option("--baseline", metavar="RUN|auto",
                                    help="Run or tag every run is gated against; 'auto': this watch's first run.")
    ] = None,
    max_ratio: MaxRatioOption = DEFAULT_MAX_RATIO,
    max_drop: MaxDropOption = DEFAULT_MAX_DROP,
    alpha: AlphaOption = DEFAULT_ALPHA,
    max_failures: Annotated[
        int, typer.Option("--max-failures", metavar="N", min=1,
                          help="End (exit 3) after this many failed ticks in a row (a device not reached or a run that failed on it).")
    ] = DEFAULT_MAX_FAILURES,
    threads: ThreadsOption = None,
    max_seconds: MaxSecondsOption = LatencyBudget.max_seconds,
    precision: PrecisionOption = LatencyBudget.target_rel_halfwidth,
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
    ep: EpOption = [],  # noqa: B006
    delegate: DelegateOption = [],  # noqa: B006
    store: StoreOption = None,
) -> None:
    """Profile on a schedule (deploy -> judge -> store every --every), one line per run.

    Ticks are due every --every from the start by the monotonic clock; a run that overruns is followed at once
    and the ticks it passed over are reported. Ends after --runs runs or --for (whichever comes first); with
    neither it runs until interrupted (Ctrl-C: a summary, exit 130, the run in progress stopped on the device,
    every earlier run stored). Exit 1 with an `edgeprof: alert:` line at the first failed verdict, latency
    regression or accuracy drop against --baseline; 2 for bad usage or a store that refuses a run; 3 when the
    device is not reached or its run fails for --max-failures ticks in a row or at the last tick (a failed tick is
    retried at the next one). See edgeprof docs monitoring.
    """
    schedule = Schedule(parse_duration(every, "--every"), runs,
                        parse_duration(for_, "--for") if for_ is not None else None)
    plan = make_plan(Request(
        models=model, devices=device, host=host, port=port, user=user, identity=identity, dataset=dataset,
        timing_inputs=timing_inputs, allow_nan=allow_nan,
        input_shapes=input_shape, input_ranges=input_range, constraints=constraint, project=project, threads=threads,
        max_seconds=max_seconds, precision=precision, power_seconds=power_seconds,
        accept_new_host_key=accept_new_host_key, ep=ep, delegate=delegate, prompts=prompts, context=context,
        max_tokens=max_tokens, perplexity_text=perplexity_text))
    target = store_path(store)
    policy = Policy(plan, target, recorded_command(sys.argv[1:]), baseline=baseline, strict=strict,
                    max_ratio=max_ratio, max_drop=max_drop, alpha=alpha)
    out, err = console(), console(stderr=True)
    warned: set[str] = set()  # a warning that every tick repeats (dynamic dims, say) is printed at its first

    def run(tick: Tick) -> tuple[str | None, int]:
        started = utc_now()
        with AgentProgress(err, seen=warned) as progress:
            profiled = policy.profile(progress.on_event)
        out.print(run_line(started, tick, profiled), markup=False, highlight=False, soft_wrap=True)
        for failure in profiled.deployed.failures.values():
            error_line(str(failure))
        if profiled.deployed.store_error:
            error_line(profiled.deployed.store_error)
        if profiled.alert:
            sys.stderr.write(alert_line(profiled, policy) + "\n")
        return profiled.deployed.run_id, profiled.exit_code

    if schedule.runs is None and schedule.duration is None:
        err.print(f"watching every {every} until interrupted (Ctrl-C)", highlight=False)
    summary = watch(schedule, run, max_failures=max_failures)
    err.print(summary_line(summary, target), markup=False, highlight=False)
    raise typer.Exit(summary.exit_code)

