"""Fixtures for the accelerator tests: the "Intel edge box", a loopback-SSH device whose Python has OpenVINO."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import openvino_python, trust_loopback_host, write_intel_edge_profile


@pytest.fixture(scope="session")
def openvino_py() -> Path:
    """.venv-openvino's Python, with OpenVINOExecutionProvider; skips (fails in CI) when setup.sh has not made it."""
    return openvino_python()


@pytest.fixture()
def intel_edge_profile(tmp_path: Path, sshd: dict[str, str], openvino_py: Path,
                       monkeypatch: pytest.MonkeyPatch) -> Path:
    """The "Intel edge box" profile file (on EDGEPROF_DEVICE_PATH, host key trusted), named intel-edge."""
    profiles = tmp_path / "profiles"
    known_hosts = trust_loopback_host(tmp_path / "known_hosts", sshd)
    monkeypatch.setenv("EDGEPROF_DEVICE_PATH", str(profiles))
    return write_intel_edge_profile(profiles, sshd, openvino_py, known_hosts=known_hosts)
