"""--devices-from: plain lists and Ansible-style INI inventory groups."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgeprof.errors import ConfigError
from edgeprof.fleet import read_devices_file

INVENTORY = """\
# the lab
bastion ansible_host=10.0.0.1

[pis]
pi4-a ansible_host=10.0.0.11 ansible_user=pi
pi4-b   # the one by the window
; disabled: pi3-old

[jetsons]
orin-1 ansible_host=10.0.0.21

[edge:children]
pis
jetsons

[pis:vars]
ansible_user=pi
"""


@pytest.fixture
def inventory(tmp_path: Path) -> Path:
    path = tmp_path / "inventory.ini"
    path.write_text(INVENTORY)
    return path


def test_plain_list_with_comments_and_duplicates(tmp_path: Path) -> None:
    path = tmp_path / "devices.txt"
    path.write_text("# fleet\npi4-a\n\n  pi4-b  # spare\npi4-a\nlocal\n")
    assert read_devices_file(path) == ["pi4-a", "pi4-b", "local"]


def test_inventory_group(inventory: Path) -> None:
    assert read_devices_file(f"{inventory}:pis") == ["pi4-a", "pi4-b"]
    assert read_devices_file(f"{inventory}:jetsons") == ["orin-1"]


def test_inventory_children_and_all(inventory: Path) -> None:
    assert read_devices_file(f"{inventory}:edge") == ["pi4-a", "pi4-b", "orin-1"]
    assert read_devices_file(f"{inventory}:all") == ["bastion", "pi4-a", "pi4-b", "orin-1"]


def test_inventory_without_a_group_names_the_groups(inventory: Path) -> None:
    with pytest.raises(ConfigError, match=r"name one as .*:GROUP \(groups: edge, jetsons, pis\)"):
        read_devices_file(inventory)


def test_unknown_group(inventory: Path) -> None:
    with pytest.raises(ConfigError, match=r"no group \[robots\] \(groups: edge, jetsons, pis\)"):
        read_devices_file(f"{inventory}:robots")


def test_cyclic_children(tmp_path: Path) -> None:
    path = tmp_path / "loop.ini"
    path.write_text("[a:children]\nb\n[b:children]\na\n")
    with pytest.raises(ConfigError, match="contains itself"):
        read_devices_file(f"{path}:a")


def test_missing_and_empty_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="devices file .*nope.txt does not exist"):
        read_devices_file(tmp_path / "nope.txt")
    empty = tmp_path / "empty.txt"
    empty.write_text("# nothing yet\n")
    with pytest.raises(ConfigError, match="no device names"):
        read_devices_file(empty)
