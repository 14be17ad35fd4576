"""Why a place could not be acquired, each reason its own line (exit 3): a place someone holds is waited for
(tests/lab/test_places.py); an unknown place, a coordinator that is not there, a board held through another place
and a session the coordinator no longer knows are not, and are never reported as "held". Against the loopback
coordinator and exporter of scripts/labgrid_loopback.sh."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from edgeprof.devices import LabConfig
from edgeprof.lab import CoordinatorError, session
from tests.lab.test_places import FP32, OTHER, QUICK, cli, holders, lab_client
from tests.support import closed_port, lab_coordinator, store_rows, trust_loopback_host, write_loopback_profile

pytestmark = [pytest.mark.ssh, pytest.mark.lab]
WAIT = "30"  # long enough that waiting on any of these would show


@pytest.fixture
def coordinator() -> str:
    return lab_coordinator()


@pytest.fixture
def profiles(tmp_path: Path, sshd: dict[str, str], coordinator: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "profiles"
    known = trust_loopback_host(tmp_path / "known_hosts", sshd)
    write_loopback_profile(directory, sshd, name="by-name", known_hosts=known, lab='place = "loop-01"')
    write_loopback_profile(directory, sshd, name="no-such", known_hosts=known, lab='place = "no-such-place"')
    monkeypatch.setenv("EDGEPROF_DEVICE_PATH", str(directory))
    return directory


def deploy_error(device: str, tmp_path: Path, env: dict[str, str] | None = None) -> tuple[str, float]:
    """Deploy (waiting up to WAIT s for a held place): its one stderr line and how long it took; exit 3, nothing
    stored."""
    start = time.monotonic()
    proc = cli("deploy", "--device", device, "--model", FP32, "--store", tmp_path / "r.db", "--lab-wait", WAIT,
               *QUICK, env=env)
    took = time.monotonic() - start
    assert proc.returncode == 3, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert store_rows(tmp_path / "r.db") == 0
    return lines[0], took


def test_an_unknown_place_is_named_at_once(profiles: Path, coordinator: str, tmp_path: Path) -> None:
    line, took = deploy_error("no-such", tmp_path)
    assert line == (f"edgeprof: error: labgrid coordinator {coordinator}: no place 'no-such-place' "
                    "(places: loop-01, loop-02)")
    assert took < float(WAIT)


def test_a_coordinator_that_is_not_running(profiles: Path, tmp_path: Path) -> None:
    address = f"127.0.0.1:{closed_port()}"
    line, took = deploy_error("by-name", tmp_path, env={"LG_COORDINATOR": address})
    assert line.startswith(f"edgeprof: error: labgrid coordinator {address}: cannot connect (")
    assert "Connection refused" in line and "held" not in line  # labgrid's own log line is in it, not beside it
    assert took < float(WAIT)


def test_a_board_held_through_another_place_is_not_a_held_place(profiles: Path, coordinator: str,
                                                                tmp_path: Path) -> None:
    """A second place ('twin') on loop-01's NetworkService, acquired by another user: loop-01 itself is free, but
    the coordinator cannot give it its resource."""
    lab_client("twin", "create")
    try:
        lab_client("twin", "add-match", "loopback/loop-01/NetworkService")
        lab_client("twin", "acquire")
        line, took = deploy_error("by-name", tmp_path)
        lab_client("twin", "release")
    finally:
        lab_client("twin", "delete")
    assert line == ("edgeprof: error: labgrid place loop-01: cannot acquire (Failed to acquire resources for place "
                    "loop-01): loopback/loop-01/NetworkService/NetworkService is held through place 'twin'")
    assert OTHER["LG_USERNAME"] not in line
    assert took < float(WAIT)
    assert holders(coordinator) == {"loop-01": None, "loop-02": None}


def test_a_session_the_coordinator_no_longer_knows(coordinator: str) -> None:
    """The session's update stream ends (as when the coordinator restarts): acquiring says so at once, and the
    coordinator's own answer to the request is reported the same way."""
    with session(coordinator) as lab:
        lab._run(lab.session.stop)  # the coordinator drops this client's session with its stream
        start = time.monotonic()
        with pytest.raises(CoordinatorError, match=r"this client's session has ended \(its update stream closed\)"):
            lab.acquire(LabConfig(place="loop-01"), float(WAIT), lambda: None)
        assert time.monotonic() - start < float(WAIT)
        with pytest.raises(CoordinatorError, match=r"session has ended \(Peer .* does not have a valid session\)"):
            lab._try_acquire("loop-01")
    assert holders(coordinator)["loop-01"] is None



def test_a_place_that_cannot_be_released_keeps_what_was_measured(profiles: Path, coordinator: str,
                                                                 capfd: pytest.CaptureFixture[str]) -> None:
    """The coordinator drops the session while the board is in use: leaving the place does not raise (the
    measurements made inside are kept); the lab section and one stderr line say the place is still held."""
    from edgeprof import lab
    from edgeprof.devices import load_profile

    try:
        with lab.reached(load_profile("by-name"), 5.0) as (_device, section):
            held, _users = lab._OPEN[coordinator]
            held._run(held.session.stop)
        assert section == {"place": "loop-01", "coordinator": coordinator, "released": False}
        lines = [line for line in capfd.readouterr().err.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith(f"edgeprof: warning: labgrid place loop-01 on {coordinator} "
                                                       "was not released (")
        assert lines[0].endswith(f"release it with: labgrid-client -x {coordinator} -p loop-01 release")
    finally:
        lab_client("loop-01", "release", "--kick")
    assert holders(coordinator)["loop-01"] is None
