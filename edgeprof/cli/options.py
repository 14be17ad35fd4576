"""The command-line options more than one command takes, each written once, and what the --store option means.

Only typer is imported here (and `agent.spec` when TimingInputsOption is first asked for), so a command module
that takes these options loads nothing of another command."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

DEFAULT_STORE = Path(".edgeprof") / "results.db"

StoreOption = Annotated[
    Optional[str],
    typer.Option("--store", metavar="PATH|URL",
                 help="Results store: a SQLite path or postgresql://user@host:port/db. "
                      "Default: $EDGEPROF_STORE or .edgeprof/results.db."),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON on stdout only.")]
ConstraintOption = Annotated[
    list[str], typer.Option("--constraint", "-c", metavar="CONSTRAINT",
                            help="Extra constraint, e.g. 'latency.p95_ms<=50' (repeatable).")
]
ProjectOption = Annotated[Optional[Path], typer.Option("--project", metavar="PATH",
                                                       help="Project file (default ./edgeprof.toml).")]
StrictOption = Annotated[bool, typer.Option("--strict", help="Inconclusive verdicts fail.")]
EpOption = Annotated[list[str], typer.Option(
    "--ep", metavar="EP[:K=V,...][,EP...]",
    help="ONNX Runtime execution providers in order, e.g. tensorrt:trt_fp16_enable=1,cuda,cpu (a list ending in cpu "
         "falls back; repeat --ep to compare configurations).")]
DelegateOption = Annotated[list[str], typer.Option(
    "--delegate", metavar="NAME[:K=V,...]",
    help="TFLite delegate: xnnpack, none, gpu, edgetpu, armnn or a library path (end with ,none to fall back; "
         "repeat to compare).")]


def finite(value: float | None) -> float | None:
    """The callback of every float option: click reads 'nan' and 'inf' as numbers, and NaN passes any min=."""
    if value is not None and not math.isfinite(value):
        raise typer.BadParameter(f"{value} is not a finite number")
    return value


def seconds(value: float | None) -> float | None:
    """The callback of a float option in seconds: finite and at most a day (a longer wait overflows the clocks)."""
    from edgeprof.devices import LONGEST_WAIT_S

    if finite(value) is not None and value > LONGEST_WAIT_S:  # type: ignore[operator]
        raise typer.BadParameter(f"{value:g} s is more than a day ({LONGEST_WAIT_S:g} s)")
    return value


LabWaitOption = Annotated[float, typer.Option(
    "--lab-wait", min=0, metavar="SECONDS", callback=seconds,
    help="How long to wait for a labgrid place someone else holds (then exit 3 naming the holder).")]
DeviceFilter = Annotated[
    list[str], typer.Option("--device", "-d", metavar="DEVICE", help="Only these devices (repeatable).")
]
ModelFilter = Annotated[
    list[str],
    typer.Option("--model", "-m", metavar="MODEL",
                 help="Only these models: name, name-variant or file stem (repeatable)."),
]

# What the commands that reach a device share (deploy, sweep, watch, doctor, clean).
DeviceOption = Annotated[
    list[str], typer.Option("--device", "-d", metavar="DEVICE",
                            help="Device profile name (repeatable). Default: local.")
]
HostOption = Annotated[Optional[str], typer.Option("--host", metavar="HOST", help="Override the profile's host.")]
PortOption = Annotated[Optional[int], typer.Option("--port", metavar="PORT", help="Override the profile's SSH port.")]
UserOption = Annotated[Optional[str], typer.Option("--user", metavar="USER", help="Override the profile's SSH user.")]
IdentityOption = Annotated[Optional[str], typer.Option("--identity", metavar="PATH",
                                                       help="Override the SSH identity file.")]
AcceptNewOption = Annotated[
    bool,
    typer.Option("--accept-new-host-key", help="Record an unknown host key (a changed key is always refused)."),
]
StrictDeviceOption = Annotated[
    bool, typer.Option("--strict-device", help="Refuse (exit 3) a board whose arch, cores or RAM differ from the "
                                               "profile's [hardware], instead of warning.")]
InputRangeOption = Annotated[
    list[str], typer.Option("--input-range", metavar="[MODEL:]NAME=LO:HI",
                            help="Values of an integer input, inclusive (repeatable; default: read from the model).")
]
DatasetOption = Annotated[
    Optional[Path], typer.Option("--dataset", metavar="PATH", help="Labelled NPZ: one array per input (or x) and y.")
]
ThreadsOption = Annotated[Optional[int], typer.Option("--threads", metavar="N", min=1, help="Intra-op threads.")]
MaxSecondsOption = Annotated[float, typer.Option("--max-seconds", metavar="SECONDS", min=0.01, callback=seconds,
                                                 help="Longest latency phase per run (s).")]
PrecisionOption = Annotated[
    float, typer.Option("--precision", metavar="FRACTION", min=0.0, callback=finite,
                        help="Stop once the p95 CI half-width <= this fraction of p95.")
]
PowerSecondsOption = Annotated[float, typer.Option("--power-seconds", metavar="SECONDS", min=0, callback=seconds,
                                                   help="Longest energy window (s).")]
InputShapeOption = Annotated[
    list[str], typer.Option("--input-shape", metavar="[MODEL:]NAME=SHAPE",
                            help="Dynamic dims: input=1x3x224x224, per model with MODEL: (repeatable).")
]
AllowNanOption = Annotated[bool, typer.Option("--allow-nan", help="Accept NaN and inf values in --dataset inputs.")]

# A language model's generation (GGUF), for deploy and sweep.
PromptsOption = Annotated[
    Optional[Path],
    typer.Option("--prompts", metavar="PATH", help="GGUF: JSON lines of {\"prompt\": ...} (default: a shipped set)."),
]
ContextOption = Annotated[
    Optional[str],
    typer.Option("--context", metavar="N[,N...]",
                 help="GGUF: context depths whose memory is measured, e.g. 128,512,2048."),
]
MaxTokensOption = Annotated[
    int, typer.Option("--max-tokens", metavar="N", min=1, help="GGUF: tokens generated per prompt (greedy).")
]
PerplexityTextOption = Annotated[
    Optional[Path],
    typer.Option("--perplexity-text", metavar="PATH", help="GGUF: UTF-8 text for perplexity (default: shipped)."),
]

# The baseline gate's settings (check, watch) and the statistics of compare and explain.
AlphaOption = Annotated[float, typer.Option("--alpha", metavar="ALPHA", min=1e-9, max=0.5, callback=finite,
                                            help="Significance level of the test.")]
MaxRatioOption = Annotated[
    float, typer.Option("--max-ratio", metavar="RATIO", min=1.0, callback=finite,
                        help="With --baseline: fail on a significant median slow-down beyond this ratio.")
]
MaxDropOption = Annotated[
    float, typer.Option("--max-drop", metavar="FRACTION", min=0.0, callback=finite,
                        help="With --baseline: fail when top-1 accuracy falls by more than this (absolute: 0.01 = "
                             "one point).")
]


def __getattr__(name: str) -> Any:
    """TimingInputsOption, built when a command module imports it: its metavar lists agent.spec's TIMING_INPUTS,
    which the commands that do not measure (runs, store, quantize) need not import."""
    if name != "TimingInputsOption":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from edgeprof.agent.spec import TIMING_INPUTS

    return Annotated[str, typer.Option("--timing-inputs", metavar="|".join(TIMING_INPUTS),
                                       help="What the timed runs are fed: seeded random values, or the --dataset "
                                            "samples.")]


def store_path(option: str | None, folder: Path = DEFAULT_STORE.parent) -> str:
    """The results store to use (a SQLite path or a postgresql:// URL): the --store flag, else $EDGEPROF_STORE,
    else results.db in `folder` (.edgeprof)."""
    if option is not None:
        return option
    return os.environ.get("EDGEPROF_STORE") or str(folder / DEFAULT_STORE.name)
