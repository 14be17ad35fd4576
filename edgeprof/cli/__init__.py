"""The `edgeprof` command line: typer commands that parse, call and render."""

from __future__ import annotations

import atexit
import importlib
import os
import signal
import sys
import threading
import traceback
import warnings
from typing import NoReturn, Sequence

import typer
from typer.exceptions import Abort, TyperException

from edgeprof.cli.app import HELP_OPTIONS, Command, StopEscaped, app, error_line, registered, warning_line
from edgeprof.cli.examples import add_examples
from edgeprof.errors import EXIT_DEVICE, EXIT_INTERRUPTED, EXIT_USAGE, EdgeprofError

# The module (under edgeprof.cli) that registers each top-level command or group on the app, in `--help` order.
COMMANDS = {
    "demo": "demo_cmd",
    "docs": "docs_cmd",
    "check": "check_cmds", "recommend": "check_cmds", "history": "check_cmds", "compare": "check_cmds",
    "explain": "check_cmds",
    "deploy": "deploy_cmds", "doctor": "deploy_cmds", "sweep": "deploy_cmds",
    "clean": "clean_cmd",
    "plot": "plot_cmds", "report": "plot_cmds",
    "quantize": "quantize_cmd",
    "convert": "convert_cmd",
    "watch": "watch_cmd",
    "devices": "devices_cmds",
    "runs": "runs_cmds",
    "dataset": "dataset_cmds",
    "emulate": "emulate_cmds",
    "store": "store_cmds",
}


def command_app(argv: Sequence[str] | None = None) -> typer.Typer:
    """The app with the commands `argv` (the arguments after `edgeprof`) invokes registered: only the module of the
    command named, so that `edgeprof runs list` does not import what `deploy` needs; every module when `argv` is
    None or names no known command, or asks for help before naming one."""
    name = next((arg for arg in argv or () if not arg.startswith("-")), None)
    asks_help = argv is not None and name is not None and bool(
        HELP_OPTIONS & set(argv[: list(argv).index(name)]))
    modules = [COMMANDS[name]] if name in COMMANDS and not asks_help else dict.fromkeys(COMMANDS.values())
    for module in modules:
        importlib.import_module(f"edgeprof.cli.{module}")
    for _, command in registered(app):
        command.cls = Command
    add_examples(app)
    return app


def _usage_message(exc: TyperException) -> str:
    """A usage error of the parser (typer's vendored click) as one sentence naming the command and its help."""
    ctx = getattr(exc, "ctx", None)
    where = ctx.command_path if ctx is not None else "edgeprof"
    command = where.removeprefix("edgeprof").strip()
    return f"{command + ': ' if command else ''}{exc.format_message()} (see '{where} --help')"


_STOPS: list[int] = []  # the SIGINTs and SIGTERMs this process received


def _stop(signum: int, frame: object) -> None:
    """Ctrl-C, and a service manager's SIGTERM alike: a KeyboardInterrupt (every command cleans up on it: agents
    stopped, partial files removed), counted; main says 'interrupted' for one that leaves a command (StopEscaped),
    not for a command that ends on it with a line of its own (watch's summary, exit 130)."""
    _STOPS.append(signum)
    raise KeyboardInterrupt


def main() -> None:
    """Run the CLI: every failure becomes one line on stderr and an exit code, every warning one line."""
    warnings.showwarning = warning_line
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:  # not where SIGINT is ignored
        signal.signal(signal.SIGINT, _stop)
    if signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _stop)
    try:
        code = command_app(sys.argv[1:])(standalone_mode=False, prog_name="edgeprof")
    except TyperException as exc:  # bad usage: one line, exit 2 (`edgeprof` alone: the help)
        if type(exc).__name__ == "NoArgsIsHelpError":
            exc.show()  # type: ignore[attr-defined]
        else:
            error_line(_usage_message(exc))
        sys.exit(EXIT_USAGE if getattr(exc, "ctx", None) is not None else exc.exit_code)
    except Abort:
        print("edgeprof: interrupted", file=sys.stderr)
        sys.exit(EXIT_INTERRUPTED)
    except EdgeprofError as exc:
        if os.environ.get("EDGEPROF_DEBUG"):
            traceback.print_exc()
        if _STOPS and exc.exit_code != EXIT_INTERRUPTED:  # a library that met the KeyboardInterrupt and failed
            print("edgeprof: interrupted", file=sys.stderr)
            sys.exit(EXIT_INTERRUPTED)
        error_line(str(exc))
        sys.exit(exc.exit_code)
    except (KeyboardInterrupt, StopEscaped):
        print("edgeprof: interrupted", file=sys.stderr)
        sys.exit(EXIT_INTERRUPTED)
    except Exception as exc:  # a bug: still one line unless --debug
        if os.environ.get("EDGEPROF_DEBUG"):
            traceback.print_exc()
        error_line(f"{type(exc).__name__}: {exc} (rerun with --debug)", internal=True)
        sys.exit(EXIT_DEVICE)
    sys.exit(code if isinstance(code, int) else 0)


def run() -> NoReturn:
    """The `edgeprof` program: main(), then an exit that skips the interpreter's teardown (freeing every module of
    paramiko, onnx and numpy takes up to 0.1 s): stdout and stderr flushed and the atexit handlers run first, and a
    normal exit instead while another non-daemon thread still runs or a stream cannot be flushed."""
    try:
        main()
        code: object = 0
    except SystemExit as done:
        code = done.code
    if not isinstance(code, int) or any(
            thread.is_alive() and not thread.daemon for thread in threading.enumerate()
            if thread is not threading.main_thread()):
        sys.exit(code)
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):
        sys.exit(code)
    atexit._run_exitfuncs()
    os._exit(code)
