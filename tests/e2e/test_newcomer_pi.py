"""README's "Point it at a real Raspberry Pi", followed as a newcomer would, with the loopback sshd as the Pi:
an ~/.ssh/config entry gives the host, port, user and key; a one-key user profile points the shipped pi4 profile's
`python` at a venv on the device; doctor, then deploy."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import DIGITS, HOST, REPO

pytestmark = pytest.mark.ssh


def newcomer_home(tmp_path: Path, sshd: dict[str, str]) -> dict[str, str]:
    """A HOME holding only what README's Pi steps make: ~/.ssh/config and ~/.config/edgeprof/devices/pi4.toml."""
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True, mode=0o700)
    (home / ".ssh" / "config").write_text(
        f"Host pi4\n    HostName 127.0.0.1\n    Port {sshd['EDGEPROF_TEST_SSH_PORT']}\n"
        f"    User {sshd['EDGEPROF_TEST_SSH_USER']}\n    IdentityFile {sshd['EDGEPROF_TEST_SSH_KEY']}\n")
    profiles = home / ".config" / "edgeprof" / "devices"
    profiles.mkdir(parents=True)
    (profiles / "pi4.toml").write_text(
        f'[connection]\npython = "{REPO / ".venv" / "bin" / "python"}"\nwork_dir = "{tmp_path / "pi-work"}"\n')
    env = {k: v for k, v in os.environ.items() if k not in ("EDGEPROF_DEVICE_PATH", "EDGEPROF_SSH_CONFIG")}
    return {**env, "HOME": str(home), "EDGEPROF_STORE": str(tmp_path / "results.db")}


def edgeprof(env: dict[str, str], *args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "edgeprof", *map(str, args)], capture_output=True, text=True,
                          env=env, timeout=300)


def test_readme_pi_steps_reach_the_device_as_ssh_config_says(tmp_path: Path, sshd: dict[str, str]) -> None:
    env = newcomer_home(tmp_path, sshd)
    doctor = edgeprof(env, "doctor", "--device", "pi4", "--accept-new-host-key", "--json")
    report = json.loads(doctor.stdout)
    assert report["device"] == "pi4" and report["facts"]["numpy"]
    assert report["facts"]["work_dir"] == str(tmp_path / "pi-work")
    # this "Pi" is the test machine: doctor names both boards as a problem (exit 1)
    assert doctor.returncode == 1
    (mismatch,) = [p["problem"] for p in report["problems"] if "board reached" in p["problem"]]
    assert f"reached {HOST.arch}, {HOST.cores} cores" in mismatch and "profile pi4: aarch64, 4 cores" in mismatch
    deploy = edgeprof(env, "deploy", "--device", "pi4", "--model", DIGITS / "digits-fp32.onnx",
                      "--dataset", DIGITS / "test.npz", "--max-seconds", "0.5", "--json")
    assert deploy.returncode in (0, 1), deploy.stderr
    (result,) = json.loads(deploy.stdout)
    assert result["device"] == "pi4" and result["verdicts"]
    (warning,) = [w for w in result["warnings"] if "board reached" in w]
    assert "differs in arch" in warning and "profile pi4: aarch64" in warning


def test_the_board_is_asked_once_then_known_by_its_host_key(tmp_path: Path, sshd: dict[str, str]) -> None:
    """The board's facts are kept under its host key's SHA-256: a later deploy to that board starts no extra agent
    (shown by facts edited in the cache, which the next deploy's warning then names)."""
    env = {**newcomer_home(tmp_path, sshd), "EDGEPROF_CACHE": str(tmp_path / "cache")}
    args = ("deploy", "--device", "pi4", "--model", DIGITS / "digits-fp32.onnx", "--max-seconds", "0.3",
            "--power-seconds", "0", "--accept-new-host-key")
    assert edgeprof(env, *args).returncode in (0, 1)
    (known,) = (tmp_path / "cache" / "boards").glob("*.json")
    facts = json.loads(known.read_text())
    assert facts["machine"] == HOST.arch and facts["cpu_count"] == HOST.cores
    known.write_text(json.dumps({**facts, "cpu_count": 999}))
    again = edgeprof(env, *args)
    assert again.returncode in (0, 1) and f"reached {HOST.arch}, 999 cores" in again.stderr, again.stderr


def test_strict_device_refuses_another_board_before_running(tmp_path: Path, sshd: dict[str, str]) -> None:
    env = newcomer_home(tmp_path, sshd)
    proc = edgeprof(env, "deploy", "--device", "pi4", "--model", DIGITS / "digits-fp32.onnx", "--strict-device",
                    "--accept-new-host-key")
    assert proc.returncode == 3 and proc.stdout == ""
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith("edgeprof: error: device 'pi4': the board reached differs in arch")
    assert "--strict-device: nothing was run" in line
    assert edgeprof(env, "runs", "list", "--json").stdout.strip() in ("", "[]")


def test_clean_takes_the_connection_overrides_deploy_takes(tmp_path: Path, sshd: dict[str, str]) -> None:
    env = newcomer_home(tmp_path, sshd)
    wrong = edgeprof(env, "clean", "--device", "pi4", "--user", "nobody-here", "--accept-new-host-key")
    assert wrong.returncode == 3 and "nobody-here" in wrong.stderr
    assert len(wrong.stderr.strip().splitlines()) == 1
    right = edgeprof(env, "clean", "--device", "pi4", "--user", sshd["EDGEPROF_TEST_SSH_USER"],
                     "--accept-new-host-key", "--json")
    assert right.returncode == 0, right.stderr
    assert json.loads(right.stdout)["device"] == "pi4"
