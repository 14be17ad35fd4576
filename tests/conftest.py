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


@pytest.fixture()
def loopback_device(tmp_path: Path, sshd: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> str:
    """The name of a device profile (on EDGEPROF_DEVICE_PATH) that reaches the loopback sshd, host key trusted."""
    profiles = tmp_path / "profiles"
    write_loopback_profile(profiles, sshd, known_hosts=trust_loopback_host(tmp_path / "known_hosts", sshd))
    monkeypatch.setenv("EDGEPROF_DEVICE_PATH", str(profiles))
    return "loop"
