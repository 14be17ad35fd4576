"""The `edgeprof` command line: typer commands that parse, call and render."""

from __future__ import annotations

import os
import sys
import traceback

from edgeprof.cli import (  # noqa: F401  (each module registers its commands on the app)
    check_cmds,
    clean_cmd,
    deploy_cmds,
    devices_cmds,
    emulate_cmds,
    plot_cmds,
    quantize_cmd,
    runs_cmds,
    store_cmds,
)
from edgeprof.cli.app import app
from edgeprof.errors import EXIT_DEVICE, EXIT_INTERRUPTED, EdgeprofError


def main() -> None:
    """Run the CLI: every failure becomes one line on stderr and an exit code."""
    try:
        app()
    except EdgeprofError as exc:
        if os.environ.get("EDGEPROF_DEBUG"):
            traceback.print_exc()
        print(f"edgeprof: error: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        print("edgeprof: interrupted", file=sys.stderr)
        sys.exit(EXIT_INTERRUPTED)
    except Exception as exc:  # a bug: still one line unless --debug
        if os.environ.get("EDGEPROF_DEBUG"):
            traceback.print_exc()
        print(f"edgeprof: internal error: {type(exc).__name__}: {exc} (rerun with --debug)", file=sys.stderr)
        sys.exit(EXIT_DEVICE)
