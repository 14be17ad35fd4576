"""Shared test set-up: every test runs with a private HOME, so no user's ~/.ssh or ~/.cache is touched."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import sshd_env, trust_loopback_host, write_loopback_profile


@pytest.fixture(autouse=True, scope="session")
def private_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A fresh HOME for the whole session (known_hosts, caches, user profiles all land there)."""
    home = tmp_path_factory.mktemp("home")
    saved = {key: os.environ.get(key) for key in ("HOME", "EDGEPROF_DEVICE_PATH", "EDGEPROF_STORE")}
    os.environ["HOME"] = str(home)
    os.environ.pop("EDGEPROF_DEVICE_PATH", None)
    os.environ.pop("EDGEPROF_STORE", None)
    yield home
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="session")
def sshd() -> dict[str, str]:
    """The running loopback OpenSSH server: port, client key, host public key, user."""
    return sshd_env()


def write_loopback_profile(directory: Path, sshd: dict[str, str], *, name: str = "loop",
                           known_hosts: Path | None = None, port: int | None = None) -> Path:
    """A device profile that reaches the loopback sshd, with its host key in `known_hosts` (if given)."""
    directory.mkdir(parents=True, exist_ok=True)
    port = port or int(sshd["EDGEPROF_TEST_SSH_PORT"])
    lines = [
        'description = "loopback OpenSSH server (tests)"',
        'kind = "ssh"',
        "[hardware]",
        'cpu = "host"', 'arch = "x86_64"', "cores = 2", "max_clock_ghz = 0.0", "ram_mb = 1024", "peak_gflops = 0.0",
        "[connection]",
        'host = "127.0.0.1"',
        f"port = {port}",
        f'user = "{sshd["EDGEPROF_TEST_SSH_USER"]}"',
        f'identity_file = "{sshd["EDGEPROF_TEST_SSH_KEY"]}"',
        f'python = "{REPO / ".venv" / "bin" / "python"}"',
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
    path = directory / f"{name}.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def trust_loopback_host(known_hosts: Path, sshd: dict[str, str]) -> Path:
    """Record the loopback sshd's host key, the way `ssh` would after a first connection."""
    key_type, key_b64 = Path(sshd["EDGEPROF_TEST_SSH_HOSTKEY_PUB"]).read_text().split()[:2]
    known_hosts.write_text(f"[127.0.0.1]:{sshd['EDGEPROF_TEST_SSH_PORT']} {key_type} {key_b64}\n")
    return known_hosts


@pytest.fixture()
def loopback_device(tmp_path: Path, sshd: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> str:
    """The name of a device profile (on EDGEPROF_DEVICE_PATH) that reaches the loopback sshd, host key trusted."""
    profiles = tmp_path / "profiles"
    write_loopback_profile(profiles, sshd, known_hosts=trust_loopback_host(tmp_path / "known_hosts", sshd))
    monkeypatch.setenv("EDGEPROF_DEVICE_PATH", str(profiles))
    return "loop"
