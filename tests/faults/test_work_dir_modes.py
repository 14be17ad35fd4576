"""The device's work dir: an existing one keeps its mode, one that is a file is named as such, and a symbolic link
at <work_dir>/device.lock is never followed (its target is not truncated)."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import DIGITS

FP32 = str(DIGITS / "digits-fp32.onnx")
FAST = ["--min-runs", "10", "--max-runs", "30", "--min-seconds", "0", "--max-seconds", "0.2", "--power-seconds", "0"]


def edgeprof(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "edgeprof", *args], capture_output=True, text=True, timeout=180,
                          cwd=cwd)


@pytest.fixture(autouse=True)
def private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("EDGEPROF_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.mark.ssh
def test_an_existing_remote_work_dir_keeps_its_mode(tmp_path: Path, loopback_device: str) -> None:
    work = tmp_path / "profiles" / "remote-work"
    work.mkdir()
    work.chmod(0o1777)
    proc = edgeprof("deploy", "--device", loopback_device, "--model", FP32, *FAST, "--store", str(tmp_path / "r.db"),
                    cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert stat.S_IMODE(work.stat().st_mode) == 0o1777
    assert stat.S_IMODE((work / "blobs").stat().st_mode) == 0o700


@pytest.mark.ssh
def test_a_remote_work_dir_that_is_a_file_is_named_so(tmp_path: Path, loopback_device: str) -> None:
    work = tmp_path / "profiles" / "remote-work"
    work.write_text("not a folder")
    work.chmod(0o644)
    proc = edgeprof("deploy", "--device", loopback_device, "--model", FP32, *FAST, "--store", str(tmp_path / "r.db"),
                    cwd=tmp_path)
    assert proc.returncode == 3
    (line,) = [x for x in proc.stderr.splitlines() if x.startswith("edgeprof: error:")]
    assert f"{work} is a file, not a directory" in line and "No such file" not in proc.stderr
    assert stat.S_IMODE(work.stat().st_mode) == 0o644 and work.read_text() == "not a folder"


def test_a_local_work_dir_keeps_its_mode_or_is_named_a_file(tmp_path: Path, private_cache: Path) -> None:
    work = private_cache / "local"
    work.parent.mkdir()
    work.write_text("not a folder")
    proc = edgeprof("deploy", "--model", FP32, *FAST, "--store", str(tmp_path / "r.db"), cwd=tmp_path)
    assert proc.returncode == 3 and f"{work} is a file, not a directory" in proc.stderr
    work.unlink()
    work.mkdir(mode=0o755)
    work.chmod(0o1777)
    proc = edgeprof("deploy", "--model", FP32, *FAST, "--store", str(tmp_path / "r.db"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert stat.S_IMODE(work.stat().st_mode) == 0o1777


def test_a_symlink_at_the_device_lock_is_not_followed(tmp_path: Path, private_cache: Path) -> None:
    victim = tmp_path / "precious.txt"
    victim.write_text("keep me")
    work = private_cache / "local"
    work.mkdir(parents=True)
    (work / "device.lock").symlink_to(victim)
    proc = edgeprof("deploy", "--model", FP32, *FAST, "--json", "--store", str(tmp_path / "r.db"), cwd=tmp_path)
    assert victim.read_text() == "keep me" and (work / "device.lock").is_symlink()
    assert proc.returncode == 3, proc.stderr
    (result,) = json.loads(proc.stdout)
    assert result["error"]["kind"] == "integrity" and "device.lock is a symbolic link" in result["error"]["message"]
