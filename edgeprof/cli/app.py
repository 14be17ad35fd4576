"""The typer application every command module registers on, and how the commands write to the terminal (the
options they share are in `edgeprof.cli.options`)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from typing import Annotated, Any

import typer
from rich.console import Console
from typer import _click
from typer.core import TyperArgument, TyperCommand, TyperGroup
from typer.models import CommandInfo

from edgeprof.artifacts import printable

HELP_OPTIONS = {"-h", "--help"}


class StopEscaped(Exception):
    """A Ctrl-C or SIGTERM (a KeyboardInterrupt) that left a command: `main` says 'interrupted' for it. Typer would
    turn it into a bare exit 130, which `main` could not tell from a command that ended on the stop and said so
    itself (`watch` prints its summary and exits 130)."""


class _Commands(TyperGroup):
    """The app's group: every command runs inside its `invoke`, where a KeyboardInterrupt leaving the command
    becomes StopEscaped."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            raise StopEscaped() from None


app = typer.Typer(
    cls=_Commands,
    name="edgeprof",
    help="Edge-device inference profiler: convert, deploy over SSH, probe, judge, compare.",
    epilog="Example: edgeprof deploy --model model.onnx --dataset test.npz (then: edgeprof report --latest --out "
           "report.html). Each command's --help has an example of its own.",
    context_settings={"help_option_names": sorted(HELP_OPTIONS)},
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    add_completion=False,
)


class Command(TyperCommand):
    """A command whose usage line names each argument by its metavar, as its help does ('RUN_A', '[DEVICE]'),
    where typer would write '{run_a}'."""

    def collect_usage_pieces(self, ctx: _click.Context) -> list[str]:
        pieces = [self.options_metavar] if self.options_metavar else []
        for param in self.get_params(ctx):
            if isinstance(param, TyperArgument):
                name = param.make_metavar(ctx)
                pieces.append(name if param.required else f"[{name}]")
            else:
                pieces += param.get_usage_pieces(ctx)
        return pieces


def registered(group: typer.Typer, prefix: str = "") -> Iterator[tuple[str, CommandInfo]]:
    """Every command registered on `group` and its subgroups, recursively, with its name ('runs tag')."""
    for command in group.registered_commands:
        yield f"{prefix}{command.name or command.callback.__name__}", command  # type: ignore[union-attr]
    for sub in group.registered_groups:
        if sub.typer_instance is not None and sub.name:
            yield from registered(sub.typer_instance, f"{prefix}{sub.name} ")


devices_app = typer.Typer(help="List and inspect device profiles.", no_args_is_help=True)
runs_app = typer.Typer(help="Browse the results store.", no_args_is_help=True)
app.add_typer(devices_app, name="devices")
app.add_typer(runs_app, name="runs")


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


def _print_version(value: bool) -> None:
    if value:
        from edgeprof import __version__

        print(f"edgeprof {__version__}")
        raise typer.Exit()


@app.callback()
def _global_options(
    debug: Annotated[bool, typer.Option("--debug", help="Show full tracebacks on errors.")] = False,
    version: Annotated[bool, typer.Option("--version", is_eager=True, callback=_print_version,
                                          help="Print edgeprof's version and exit.")] = False,
) -> None:
    """Edge-device inference profiler."""
    if debug:
        os.environ["EDGEPROF_DEBUG"] = "1"
