"""labgrid places, end to end: the real CLI, the loopback coordinator and exporter (scripts/labgrid_loopback.sh),
the loopback sshd the places' NetworkServices point at, and a real agent run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from edgeprof.lab import session
from tests.support import (
    DIGITS,
    closed_port,
    default_sigint,
    lab_coordinator,
    store_rows,
    trust_loopback_host,
    write_loopback_profile,
)

pytestmark = [pytest.mark.ssh, pytest.mark.lab]
FP32 = DIGITS / "digits-fp32.onnx"
QUICK = ["--max-runs", "20", "--max-seconds", "1", "--power-seconds", "0", "--no-reference"]
LONG = ["--min-seconds", "60", "--max-seconds", "60", "--max-runs", "100000000", "--power-seconds", "0"]
OTHER = {"LG_USERNAME": "alice", "LG_HOSTNAME": "bench-7"}


@pytest.fixture
def coordinator() -> str:
    return lab_coordinator()


@pytest.fixture
def profiles(tmp_path: Path, sshd: dict[str, str], coordinator: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Profiles on EDGEPROF_DEVICE_PATH: `by-name` (place loop-01), `by-tags` (slot 2), `broken` (no Python)."""
    directory = tmp_path / "profiles"
    known = trust_loopback_host(tmp_path / "known_hosts", sshd)
    write_loopback_profile(directory, sshd, name="by-name", known_hosts=known, lab='place = "loop-01"')
    write_loopback_profile(directory, sshd, name="by-tags", known_hosts=known,
                           lab='tags = {board = "loop", slot = "2"}')
    write_loopback_profile(directory, sshd, name="broken", known_hosts=known, python="/nonexistent/python3",
                           lab='place = "loop-01"')
    monkeypatch.setenv("EDGEPROF_DEVICE_PATH", str(directory))
    return directory


def cli(*args: str | Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "edgeprof", *map(str, args)], capture_output=True, text=True,
                          timeout=120, env={**os.environ, **(env or {})})


def holders(coordinator: str) -> dict[str, str | None]:
    """Place name -> who holds it ('host/user'), as the coordinator says now."""
    with session(coordinator) as lab:
        return {name: place.acquired for name, place in lab.refresh().items()}


def lab_client(place: str, *command: str) -> None:
    """`labgrid-client -p PLACE acquire|release|...` as another user (alice on bench-7)."""
    subprocess.run([str(Path(sys.executable).parent / "labgrid-client"), "-p", place, *command], check=True,
                   capture_output=True, timeout=30, env={**os.environ, **OTHER})


@pytest.mark.parametrize(("device", "place"), [("by-name", "loop-01"), ("by-tags", "loop-02")])
def test_deploy_to_a_place_records_it_and_releases_it(profiles: Path, coordinator: str, tmp_path: Path,
                                                     device: str, place: str) -> None:
    proc = cli("deploy", "--device", device, "--model", FP32, "--store", tmp_path / "r.db", "--json", *QUICK)
    assert proc.returncode == 0, proc.stderr
    (result,) = json.loads(proc.stdout)
    assert result["error"] is None
    assert result["lab"] == {"place": place, "coordinator": coordinator}
    assert result["latency"]["p50_ms"] > 0
    assert holders(coordinator)[place] is None


def test_an_error_inside_the_place_still_releases_it(profiles: Path, coordinator: str, tmp_path: Path) -> None:
    proc = cli("deploy", "--device", "broken", "--model", FP32, "--store", tmp_path / "r.db", *QUICK)
    assert proc.returncode == 3, proc.stderr
    assert "Traceback" not in proc.stderr
    assert holders(coordinator)["loop-01"] is None


def test_ctrl_c_releases_the_place(profiles: Path, coordinator: str, tmp_path: Path) -> None:
    store = tmp_path / "r.db"
    proc = subprocess.Popen([sys.executable, "-m", "edgeprof", "deploy", "--device", "by-name", "--model", str(FP32),
                             "--store", str(store), *LONG], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=default_sigint)
    deadline = time.monotonic() + 60
    while holders(coordinator)["loop-01"] is None:
        assert proc.poll() is None and time.monotonic() < deadline, "the deploy never acquired loop-01"
        time.sleep(0.3)
    time.sleep(2.0)  # measuring by now
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert holders(coordinator)["loop-01"] is None
    assert store_rows(store) == 0


@pytest.mark.parametrize("command", ["deploy", "sweep", "doctor", "clean"])
def test_a_place_held_by_someone_else_waits_then_names_the_holder(profiles: Path, coordinator: str,
                                                                  tmp_path: Path, command: str) -> None:
    """Every command that uses a device acquires its place, with the same --lab-wait."""
    store = tmp_path / "r.db"
    args = {"deploy": ["--model", FP32, "--store", store, *QUICK],
            "sweep": [FP32, "--variants", "fp16", "--out", tmp_path / "variants", "--max-seconds", "1",
                      "--store", store],
            "doctor": [], "clean": []}[command]
    lab_client("loop-01", "acquire")
    try:
        start = time.monotonic()
        proc = cli(command, "--device", "by-name", "--lab-wait", "1.5", *args)
        waited = time.monotonic() - start
    finally:
        lab_client("loop-01", "release")
    assert proc.returncode == 3, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert "loop-01 is held (loop-01 by bench-7/alice); waited 1.5 s (--lab-wait)" in lines[0], lines[0]
    assert waited >= 1.5
    assert store_rows(store) == 0


def test_clean_reaches_the_device_through_its_place_and_releases_it(profiles: Path, coordinator: str,
                                                                   sshd: dict[str, str], tmp_path: Path) -> None:
    """The profile's own port is closed: only the place's NetworkService reaches the sshd."""
    write_loopback_profile(profiles, sshd, name="only-via-place", known_hosts=tmp_path / "known_hosts",
                           port=closed_port(), lab='place = "loop-01"')
    assert cli("deploy", "--device", "by-name", "--model", FP32, "--store", tmp_path / "r.db", *QUICK).returncode == 0
    blobs = profiles / "remote-work" / "blobs"
    assert any(p.suffix == ".onnx" for p in blobs.iterdir())
    proc = cli("clean", "--device", "only-via-place", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["files"] >= 1
    assert not any(p.suffix == ".onnx" for p in blobs.iterdir())
    assert holders(coordinator)["loop-01"] is None
    failed = cli("clean", "--device", "broken")  # no Python on the device: the clean fails, the place is released
    assert failed.returncode == 3 and "Traceback" not in failed.stderr, failed.stderr
    assert holders(coordinator)["loop-01"] is None


def test_devices_from_labgrid_runs_every_matching_place(profiles: Path, coordinator: str, tmp_path: Path) -> None:
    # Both places are the loopback sshd with one work dir, fresh here: the two deploys create it at once.
    proc = cli("deploy", "--devices-from", "labgrid:board=loop", "--device", "by-name", "--jobs", "2",
               "--model", FP32, "--store", tmp_path / "r.db", "--json", *QUICK)
    assert proc.returncode == 0, proc.stderr
    results = json.loads(proc.stdout)
    assert sorted(r["lab"]["place"] for r in results) == ["loop-01", "loop-02"]
    assert sorted(r["device"] for r in results) == ["loop-01", "loop-02"]
    assert all(r["error"] is None for r in results)
    assert holders(coordinator) == {"loop-01": None, "loop-02": None}


def test_doctor_runs_inside_the_place(profiles: Path, coordinator: str) -> None:
    proc = cli("doctor", "--device", "by-name")
    assert proc.returncode == 0, proc.stderr
    assert holders(coordinator)["loop-01"] is None
