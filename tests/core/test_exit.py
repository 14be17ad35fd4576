"""`edgeprof.cli.run` ends the process without the interpreter's teardown, yet loses nothing: stdout and stderr
flushed, atexit handlers run, exit codes kept, and a still-running non-daemon thread waited for."""

from __future__ import annotations

import subprocess
import sys


def _run(prologue: str, *argv: str) -> subprocess.CompletedProcess[str]:
    code = f"import atexit, sys, threading, time\n{prologue}\nsys.argv = ['edgeprof', *{list(argv)!r}]\n" \
           "from edgeprof.cli import run\nrun()\nprint('NOT REACHED')"
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)


def test_output_flushed_atexit_handlers_run_and_the_code_kept() -> None:
    done = _run("atexit.register(lambda: print('HANDLER RAN'))\nsys.stdout.write('x' * 200_000)", "--help")
    assert done.returncode == 0 and done.stdout.startswith("x" * 200_000) and "Usage: edgeprof" in done.stdout
    assert done.stdout.rstrip().endswith("HANDLER RAN") and "NOT REACHED" not in done.stdout
    bad = _run("", "runs", "list", "--store", "/nonexistent/results.db")
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "no results store" in bad.stderr


def test_a_running_non_daemon_thread_is_waited_for() -> None:
    done = _run("threading.Thread(target=lambda: (time.sleep(0.5), print('THREAD DONE', flush=True))).start()",
                "--help")
    assert done.returncode == 0 and "THREAD DONE" in done.stdout
