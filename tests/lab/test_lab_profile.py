"""The `[lab]` profile table and the `labgrid:` devices source: validation only, no coordinator."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from edgeprof.devices import LabConfig, load_profile_file
from edgeprof.errors import ConfigError
from edgeprof.fleet import labgrid_tags

BASE = """description = "a lab board"
kind = "{kind}"
[hardware]
cpu = "a72"
arch = "aarch64"
cores = 4
max_clock_ghz = 1.5
ram_mb = 4096
peak_gflops = 10.0
[power]
method = "estimate"
idle_w = 2.0
max_w = 6.0
"""


def profile(tmp_path: Path, lab: str, kind: str = "ssh", connection: str = "") -> Path:
    path = tmp_path / "board.toml"
    path.write_text(BASE.format(kind=kind) + connection + "[lab]\n" + lab + "\n")
    return path


def test_a_place_needs_no_connection_host(tmp_path: Path) -> None:
    loaded = load_profile_file(profile(tmp_path, 'place = "pi4-01"\ncoordinator = "lab:20408"',
                                       connection='[connection]\nuser = "pi"\n'))
    assert loaded.lab == LabConfig(place="pi4-01", coordinator="lab:20408")
    assert loaded.connection is not None and loaded.connection.user == "pi"


def test_tags(tmp_path: Path) -> None:
    assert load_profile_file(profile(tmp_path, 'tags = {board = "pi4"}')).lab == LabConfig(tags={"board": "pi4"})


@pytest.mark.parametrize(("lab", "kind", "message"), [
    ('place = "a"\ntags = {board = "pi4"}', "ssh", "exactly one of 'lab.place' and 'lab.tags'"),
    ('coordinator = "lab:20408"', "ssh", "exactly one of"),
    ('tags = {board = 4}', "ssh", "'lab.tags' must be a non-empty table of strings"),
    ('place = "a"', "local", "needs kind 'ssh'"),
    ('plaec = "a"', "ssh", "unknown key 'lab.plaec' (did you mean 'place'?)"),
])
def test_bad_lab_tables_name_the_key(tmp_path: Path, lab: str, kind: str, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_profile_file(profile(tmp_path, lab, kind=kind))


def test_the_coordinator_comes_from_the_profile_or_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LG_COORDINATOR", "env:1")
    assert LabConfig(place="a").address() == "env:1"
    assert LabConfig(place="a", coordinator="prof:2").address() == "prof:2"
    monkeypatch.delenv("LG_COORDINATOR")
    with pytest.raises(ConfigError, match="LG_COORDINATOR"):
        LabConfig(place="a").address()


def test_devices_source() -> None:
    assert labgrid_tags("inventory.ini:pis") is None
    assert labgrid_tags("labgrid:board=pi4,slot=1") == {"board": "pi4", "slot": "1"}
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        labgrid_tags("labgrid:pi4")
