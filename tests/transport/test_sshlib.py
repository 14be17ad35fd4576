"""paramiko comes through edgeprof.transport.sshlib: invoke is imported on first use, and `Match exec` still works."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def _python(code: str) -> str:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          timeout=60).stdout.strip()


def test_the_ssh_transport_does_not_import_invoke() -> None:
    loaded = _python("import sys, edgeprof.transport.ssh, edgeprof.emulate.vm\n"
                     "print(sorted(m for m in sys.modules if m.split('.')[0] == 'invoke'))")
    assert loaded == "['invoke']"  # the stand-in only: no invoke.* submodule was imported


def test_match_exec_runs_through_the_real_invoke(tmp_path: Path) -> None:
    config = tmp_path / "ssh_config"
    config.write_text('Match exec "true"\n  User matched\nMatch exec "false"\n  Port 2222\nHost *\n  Port 22\n')
    found = _python("from edgeprof.transport.sshlib import paramiko\nimport sys\n"
                    f"found = paramiko.SSHConfig.from_path({str(config)!r}).lookup('board')\n"
                    "print(found['user'], found['port'], type(sys.modules['invoke']).__name__)")
    assert found == "matched 22 module"  # the real invoke replaced the stand-in when paramiko ran the command
