"""Helpers shared by the emulation tests."""

from __future__ import annotations

import subprocess
import sys

CLI = "import sys; from edgeprof.cli import main; import edgeprof.cli.emulate_cmds; sys.argv[0] = 'edgeprof'; main()"


def edgeprof(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """Run the edgeprof command line (with the emulate commands registered) in a fresh process."""
    return subprocess.run([sys.executable, "-c", CLI, *args], capture_output=True, text=True, timeout=timeout)
