"""Helpers the tests share: repository paths and loopback device profiles."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
from pathlib import Path

import pytest

from edgeprof.devices import detect_host_hardware

REPO = Path(__file__).resolve().parent.parent
HOST = detect_host_hardware()
DIGITS = REPO / "models" / "digits"


def default_sigint() -> None:
    """`preexec_fn` of a CLI the test will Ctrl-C: SIGINT at its default disposition in the child, whatever the
    runner's (a background job inherits SIGINT ignored, and a Python started so never raises KeyboardInterrupt)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def sshd_env() -> dict[str, str]:
    """The loopback sshd's settings, written by scripts/sshd_loopback.sh (started by scripts/test.sh)."""
    run_dir = os.environ.get("EDGEPROF_TEST_SSHD_DIR")
    env_file = Path(run_dir) / "env" if run_dir else None
    if env_file is None or not env_file.is_file():
        if os.environ.get("CI"):
            pytest.fail("the loopback sshd is not running: run the tests through scripts/test.sh")
        pytest.skip("no loopback sshd (run the tests through scripts/test.sh)")
    values: dict[str, str] = {}
    for line in env_file.read_text().splitlines():
        key, sep, value = line.removeprefix("export ").partition("=")
        if sep:
            values[key.strip()] = value.strip().strip("'\"")
    return values


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then let go)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pg_url() -> str:
    """The loopback PostgreSQL server's URL, from scripts/pg_loopback.sh (started by scripts/test.sh)."""
    return _started("EDGEPROF_TEST_PG_URL", "loopback PostgreSQL server")


def lab_coordinator() -> str:
    """The loopback labgrid coordinator's address, from scripts/labgrid_loopback.sh (started by scripts/test.sh)."""
    return _started("LG_COORDINATOR", "loopback labgrid coordinator")


def _started(variable: str, what: str) -> str:
    """The value scripts/test.sh exported for a loopback service: skip without it, fail under CI."""
    value = os.environ.get(variable)
    if not value:
        if os.environ.get("CI"):
            pytest.fail(f"the {what} is not running: run the tests through scripts/test.sh")
        pytest.skip(f"no {what} (run the tests through scripts/test.sh)")
    return value


def write_loopback_profile(directory: Path, sshd: dict[str, str], *, name: str = "loop",
                           known_hosts: Path | None = None, port: int | None = None, python: Path | str | None = None,
                           description: str = "loopback OpenSSH server (tests)", lab: str | None = None) -> Path:
    """A device profile that reaches the loopback sshd, with its host key in `known_hosts` (if given).

    The device's Python is `python` (default: this checkout's .venv); `lab` is a `[lab]` table's body (TOML)."""
    directory.mkdir(parents=True, exist_ok=True)
    port = port or int(sshd["EDGEPROF_TEST_SSH_PORT"])
    lines = [
        f'description = "{description}"',
        'kind = "ssh"',
        "[hardware]",
        'cpu = "host"', f'arch = "{HOST.arch}"', f"cores = {HOST.cores}", "max_clock_ghz = 0.0",
        f"ram_mb = {HOST.ram_mb}", "peak_gflops = 0.0",  # the board this profile reaches: no mismatch warning
        "[connection]",
        'host = "127.0.0.1"',
        f"port = {port}",
        f'user = "{sshd["EDGEPROF_TEST_SSH_USER"]}"',
        f'identity_file = "{sshd["EDGEPROF_TEST_SSH_KEY"]}"',
        f'python = "{python or REPO / ".venv" / "bin" / "python"}"',
        f'work_dir = "{directory / "remote-work"}"',
        "connect_timeout_s = 5.0",
    ]
    if known_hosts is not None:
        lines.append(f'known_hosts = "{known_hosts}"')
    lines += [
        "[runtime]", "threads = 1",
        "[power]", 'method = "estimate"', "idle_w = 2.0", "max_w = 6.0",
        "[constraints]", '"latency.p95_ms" = "<= 1000"', '"memory.peak_rss_mb" = "<= 4096"',
    ]
    if lab is not None:
        lines += ["[lab]", lab]
    path = directory / f"{name}.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def write_intel_edge_profile(directory: Path, sshd: dict[str, str], python: Path, *, name: str = "intel-edge",
                             known_hosts: Path | None = None) -> Path:
    """The "Intel edge box": the loopback sshd, with `python` (.venv-openvino: onnxruntime-openvino) as its Python."""
    return write_loopback_profile(directory, sshd, name=name, known_hosts=known_hosts, python=python,
                                  description="Intel edge box: loopback OpenSSH, onnxruntime-openvino (tests)")


OPENVINO_PYTHON = REPO / ".venv-openvino" / "bin" / "python"
OPENVINO_CHECK = "import onnxruntime as o; assert 'OpenVINOExecutionProvider' in o.get_available_providers()"


def openvino_python() -> Path:
    """.venv-openvino's Python (made by scripts/setup.sh with EDGEPROF_WITH_OPENVINO=1, as scripts/test.sh does).

    Skips when it is missing or lacks the OpenVINO execution provider; fails instead when CI is set."""
    reason = None
    if not OPENVINO_PYTHON.is_file():
        reason = f"no {OPENVINO_PYTHON.parent.parent.name} (EDGEPROF_WITH_OPENVINO=1 bash scripts/setup.sh makes it)"
    else:
        check = subprocess.run([str(OPENVINO_PYTHON), "-c", OPENVINO_CHECK], capture_output=True, text=True,
                               timeout=120)
        if check.returncode != 0:
            last = (check.stderr.strip().splitlines() or ["no output"])[-1]
            reason = f"{OPENVINO_PYTHON} has no OpenVINOExecutionProvider: {last}"
    if reason is not None:
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    return OPENVINO_PYTHON


def trust_loopback_host(known_hosts: Path, sshd: dict[str, str]) -> Path:
    """Record the loopback sshd's host key, the way `ssh` would after a first connection."""
    key_type, key_b64 = Path(sshd["EDGEPROF_TEST_SSH_HOSTKEY_PUB"]).read_text().split()[:2]
    known_hosts.write_text(f"[127.0.0.1]:{sshd['EDGEPROF_TEST_SSH_PORT']} {key_type} {key_b64}\n")
    return known_hosts


def store_rows(path: Path) -> int:
    """How many Results a store holds (0 when the file does not exist)."""
    from edgeprof.store.sqlite import SQLiteStore as ResultStore

    if not path.exists():
        return 0
    with ResultStore(path, create=False) as db:
        return len(db.query())
