"""A fleet deploy over real SSH: several loopback device profiles (each its own work dir, so its own device lock),
one of them unreachable, named through --devices-from."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.e2e.test_deploy import FAST, FP32, edgeprof
from tests.support import closed_port, store_rows, trust_loopback_host, write_loopback_profile


@pytest.fixture()
def fleet(tmp_path: Path, sshd: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Three loopback devices that answer and one ('gone') at a closed loopback port."""
    known_hosts = trust_loopback_host(tmp_path / "known_hosts", sshd)
    dirs = []
    for name in ("pi-a", "pi-b", "pi-c", "gone"):
        directory = tmp_path / name
        write_loopback_profile(directory, sshd, name=name, known_hosts=known_hosts,
                               port=closed_port() if name == "gone" else None)
        dirs.append(str(directory))
    monkeypatch.setenv("EDGEPROF_DEVICE_PATH", os.pathsep.join(dirs))
    return ["pi-a", "pi-b", "pi-c", "gone"]


@pytest.mark.ssh
def test_fleet_from_an_inventory_group_with_one_device_down(fleet: list[str], tmp_path: Path) -> None:
    inventory = tmp_path / "inventory.ini"
    inventory.write_text("[lab]\n" + "\n".join(f"{n} ansible_host=127.0.0.1" for n in fleet)
                         + "\n[other]\nnot-a-profile\n")
    store = tmp_path / "r.db"
    proc = edgeprof("deploy", "--json", *FAST, "--devices-from", f"{inventory}:lab", "--model", FP32,
                    "--no-reference", "--store", store)
    assert proc.returncode == 3, proc.stderr
    results = json.loads(proc.stdout)
    assert [r["device"] for r in results] == ["pi-a", "pi-b", "pi-c"]  # in the order given, the failure left out
    assert all(r["status"] == "ok" and r["latency"]["samples"] > 0 for r in results)
    assert all(r["transfer"]["bytes_sent"] > 0 for r in results)  # each device its own work dir
    errors = [line for line in proc.stderr.splitlines() if line.startswith("edgeprof: error:")]
    assert len(errors) == 1 and "gone" in errors[0] and "Traceback" not in proc.stderr
    assert store_rows(store) == 3


@pytest.mark.ssh
def test_fleet_from_a_plain_list_one_at_a_time_with_a_scenario(fleet: list[str], tmp_path: Path) -> None:
    devices = tmp_path / "devices.txt"
    devices.write_text("# two of the lab\npi-a\npi-b\n")
    proc = edgeprof("deploy", "--json", *FAST, "--devices-from", devices, "--jobs", "1", "--model", FP32,
                    "--scenario", "offline", "--batch", "1,4", "--scenario-seconds", "0.1",
                    "-c", "scenario.offline_ips>=1", "--store", tmp_path / "r.db")
    assert proc.returncode == 0, proc.stderr
    results = json.loads(proc.stdout)
    assert [r["device"] for r in results] == ["pi-a", "pi-b"]
    for result in results:
        assert result["scenario"]["name"] == "offline"
        assert [p["batch"] for p in result["scenario"]["points"]] == [1, 4]
        verdict = next(v for v in result["verdicts"] if v["constraint"] == "scenario.offline_ips")
        assert verdict["status"] == "pass" and verdict["value"] == result["scenario"]["offline_ips"]
