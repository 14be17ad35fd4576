"""The `edgeprof` command line: typer commands that parse, call and render."""

from __future__ import annotations

import os
import sys
import traceback

from typer.exceptions import Abort, TyperException

from edgeprof.cli import (  # noqa: F401  (each module registers its commands on the app)
    check_cmds,
    clean_cmd,
    dataset_cmds,
    deploy_cmds,
    devices_cmds,
    emulate_cmds,
    plot_cmds,
    quantize_cmd,
    runs_cmds,
    store_cmds,
    watch_cmd,
)
from edgeprof.cli.app import app, error_line
from edgeprof.errors import EXIT_DEVICE, EXIT_INTERRUPTED, EXIT_USAGE, EdgeprofError


def _usage_message(exc: TyperException) -> str:
    """A usage error of the parser (typer's vendored click) as one sentence naming the command and its help."""
    ctx = getattr(exc, "ctx", None)
    where = ctx.command_path if ctx is not None else "edgeprof"
    return f"{where}: {exc.format_message()} (see '{where} --help')"


def main() -> None:
    """Run the CLI: every failure becomes one line on stderr and an exit code."""
    try:
        code = app(standalone_mode=False, prog_name="edgeprof")
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
        error_line(str(exc))
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        print("edgeprof: interrupted", file=sys.stderr)
        sys.exit(EXIT_INTERRUPTED)
    except Exception as exc:  # a bug: still one line unless --debug
        if os.environ.get("EDGEPROF_DEBUG"):
            traceback.print_exc()
        error_line(f"{type(exc).__name__}: {exc} (rerun with --debug)", internal=True)
        sys.exit(EXIT_DEVICE)
    sys.exit(code if isinstance(code, int) else 0)
