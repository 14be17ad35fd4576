"""The protocol owns stdout: noise from native code or stray prints lands on stderr, never in the JSON lines."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

NOISY = """
import os
from edgeprof.agent.protocol import claim_stdout, emit
claim_stdout()
os.write(1, b"INFO: native library chatter on fd 1\\n")
print("a stray print")
emit("hello", agent_version="test", python="3", pid=os.getpid())
os.write(1, b"more chatter\\n")
emit("result", result={"ok": True})
"""


def test_native_and_python_stdout_noise_goes_to_stderr() -> None:
    proc = subprocess.run([sys.executable, "-c", NOISY], capture_output=True, text=True, timeout=60, cwd=REPO)
    lines = proc.stdout.splitlines()
    assert [json.loads(line)["event"] for line in lines] == ["hello", "result"], proc.stdout
    assert "native library chatter" in proc.stderr and "a stray print" in proc.stderr and "more chatter" in proc.stderr
