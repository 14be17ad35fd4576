"""The typer application every command module registers on, and the options they share."""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from edgeprof.artifacts import printable
from edgeprof.devices import LONGEST_WAIT_S

app = typer.Typer(
    name="edgeprof",
    help="Edge-device inference profiler: convert, deploy over SSH, probe, judge, compare.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    add_completion=False,
)
devices_app = typer.Typer(help="List and inspect device profiles.", no_args_is_help=True)
runs_app = typer.Typer(help="Browse the results store.", no_args_is_help=True)
app.add_typer(devices_app, name="devices")
app.add_typer(runs_app, name="runs")

DEFAULT_STORE = Path(".edgeprof") / "results.db"

StoreOption = Annotated[
    Optional[str],
    typer.Option("--store", metavar="PATH|URL",
                 help="Results store: a SQLite path or postgresql://user@host:port/db. "
                      "Default: $EDGEPROF_STORE or .edgeprof/results.db."),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON on stdout only.")]
ConstraintOption = Annotated[
    list[str], typer.Option("--constraint", "-c", help="Extra constraint, e.g. 'latency.p95_ms<=50' (repeatable).")
]
ProjectOption = Annotated[Optional[Path], typer.Option("--project", help="Project file (default ./edgeprof.toml).")]
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
    typer.Option("--model", "-m", metavar="MODEL", help="Only these models: name, name-variant or file stem (repeatable)."),
]


def console(*, stderr: bool = False, markup: bool = True) -> Console:
    """A rich console; at least 140 columns wide when output is not a terminal (CI logs, pipes). On stderr a
    printed line is never wrapped (soft wrap): notes and errors stay one line each. `markup=False` for a command
    that prints text from files and models (a description or an array key `[/bold]` is text, not markup)."""
    probe = Console(stderr=stderr, soft_wrap=stderr, markup=markup)
    return probe if probe.is_terminal else Console(stderr=stderr, width=max(probe.width, 140), soft_wrap=stderr,
                                                   markup=markup)


def error_line(message: str, *, internal: bool = False) -> None:
    """Write `edgeprof: error: MESSAGE` to stderr as exactly one line, whatever the terminal's width."""
    flat = " ".join(printable(message).split())
    sys.stderr.write(f"edgeprof: {'internal error' if internal else 'error'}: {flat}\n")
    sys.stderr.flush()


def warning_line(message: Warning | str, *_: object, **__: object) -> None:
    """`warnings.showwarning` for the CLI: a library's warning (Pillow's DecompressionBombWarning, say) as one
    `edgeprof: warning: MESSAGE` line instead of Python's two lines of file, line number and source."""
    sys.stderr.write(f"edgeprof: warning: {' '.join(printable(str(message)).split())}\n")
    sys.stderr.flush()


def store_path(option: str | None) -> str:
    """The results store to use (a SQLite path or a postgresql:// URL): the --store flag, else $EDGEPROF_STORE,
    else .edgeprof/results.db."""
    if option is not None:
        return option
    return os.environ.get("EDGEPROF_STORE") or str(DEFAULT_STORE)


@app.callback()
def _global_options(
    debug: Annotated[bool, typer.Option("--debug", help="Show full tracebacks on errors.")] = False,
) -> None:
    """Edge-device inference profiler."""
    if debug:
        os.environ["EDGEPROF_DEBUG"] = "1"
