"""Device profiles: the shipped ones load, and every malformed profile names its file and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgeprof.devices import load_profile, load_profile_file, profile_files, with_overrides
from edgeprof.errors import ConfigError

SHIPPED = ["local", "pi4", "pi5", "jetson-orin-nano", "jetson-nano", "intel-edge"]

VALID = """
description = "test board"
kind = "ssh"
[hardware]
cpu = "Cortex-A72"
arch = "aarch64"
cores = 4
max_clock_ghz = 1.5
ram_mb = 4096
peak_gflops = 24.0
[connection]
host = "board"
[power]
method = "estimate"
idle_w = 2.7
max_w = 6.4
[constraints]
"latency.p95_ms" = "<= 100"
"""


def write(tmp_path: Path, text: str, name: str = "board") -> Path:
    path = tmp_path / f"{name}.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_profiles_load(name: str) -> None:
    profile = load_profile(name)
    assert profile.name == name
    assert profile.hardware.cores >= 1
    assert profile.power.method
    if profile.kind == "ssh":
        assert profile.connection is not None and profile.connection.host


def test_public_figures() -> None:
    pi4 = load_profile("pi4")
    assert (pi4.hardware.cpu, pi4.hardware.cores, pi4.hardware.max_clock_ghz) == ("Cortex-A72", 4, 1.5)
    assert (pi4.power.method, pi4.power.idle_w, pi4.power.max_w) == ("estimate", 2.7, 6.4)
    pi5 = load_profile("pi5")
    assert (pi5.power.method, pi5.power.idle_w, pi5.power.max_w) == ("pi5-pmic", 3.3, 9.8)
    orin = load_profile("jetson-orin-nano")
    assert orin.hardware.cores == 6 and orin.power.method == "jetson-ina3221"


def test_local_detects_hardware() -> None:
    local = load_profile("local")
    assert local.kind == "local" and local.connection is None
    assert local.hardware.cores >= 1 and local.hardware.ram_mb > 0


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ('cores = 4', 'cores = "four"', "'hardware.cores' must be an integer"),
        ('cores = 4', 'cores = 4\ncache_kb = 3', "unknown key 'hardware.cache_kb'"),
        ('host = "board"', 'hostname = "board"', "unknown key 'connection.hostname' (did you mean 'host'?)"),
        ('kind = "ssh"', 'kind = "serial"', "'kind' must be one of local, ssh"),
        ('method = "estimate"', 'method = "guess"', "'power.method' must be one of"),
        ('idle_w = 2.7\n', '', "power.method 'estimate' needs 'power.idle_w'"),
        ('description = "test board"\n', '', "missing required key 'description'"),
        ('"latency.p95_ms" = "<= 100"', '"latency.p95_ms" = 100', "'constraints.latency.p95_ms' must be a string"),
        ('ram_mb = 4096', 'ram_mb = -1', "'hardware.ram_mb' must be above zero, got -1"),
        ('[connection]\nhost = "board"\n', '', "missing required table '[connection]'"),
        ('[power]', '[runtime]\nproviders = "cuda"\n[power]', "'runtime.providers' must be a list of strings"),
        ('[power]', '[runtime]\nproviders = [1]\n[power]', "'runtime.providers' must be a non-empty list"),
        ('[power]', '[runtime]\ndelegates = ["gpu:nope"]\n[power]', "'nope' is not a key=value option"),
    ],
)
def test_malformed_profile_names_file_and_key(tmp_path: Path, old: str, new: str, message: str) -> None:
    assert old in VALID
    path = write(tmp_path, VALID.replace(old, new, 1))
    with pytest.raises(ConfigError) as info:
        load_profile_file(path)
    assert str(path) in str(info.value)
    assert message in str(info.value)


def test_bad_constraint_names_file_and_key(tmp_path: Path) -> None:
    path = write(tmp_path, VALID.replace('"latency.p95_ms" = "<= 100"', '"latency.p97_ms" = "<= 100"'))
    with pytest.raises(ConfigError) as info:
        load_profile_file(path)
    assert str(path) in str(info.value) and "latency.p97_ms" in str(info.value)


def test_malformed_toml_names_file(tmp_path: Path) -> None:
    path = write(tmp_path, "description = \n")
    with pytest.raises(ConfigError, match="malformed TOML") as info:
        load_profile_file(path)
    assert str(path) in str(info.value)


def test_unknown_device_suggests_nearest() -> None:
    with pytest.raises(ConfigError, match="unknown device 'pi-4' \\(did you mean pi4"):
        load_profile("pi-4")


def test_user_directories_override_in_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    second.mkdir()
    write(first, VALID.replace("test board", "first"), "pi4")
    write(second, VALID.replace("test board", "second"), "pi4")
    monkeypatch.setenv("EDGEPROF_DEVICE_PATH", f"{first}:{second}")
    assert profile_files()["pi4"].parent == second
    assert load_profile("pi4").description == "second"


def test_connection_overrides() -> None:
    pi4 = with_overrides(load_profile("pi4"), host="10.0.0.7", port=2222, user="me", identity="~/.ssh/k")
    assert pi4.connection is not None
    assert (pi4.connection.host, pi4.connection.port, pi4.connection.user) == ("10.0.0.7", 2222, "me")
    assert pi4.connection.identity_file == "~/.ssh/k"
    with pytest.raises(ConfigError, match="is local"):
        with_overrides(load_profile("local"), host="x")


def test_jetson_profiles_default_to_tensorrt_then_cuda_then_cpu() -> None:
    for name in ("jetson-orin-nano", "jetson-nano"):
        assert [a.name for a in load_profile(name).providers or ()] == ["tensorrt", "cuda", "cpu"]
    edge = load_profile("intel-edge")
    assert [(a.name, a.options) for a in edge.providers or ()] == [("openvino", {"device_type": "CPU"}), ("cpu", {})]
    assert load_profile("pi4").providers is None and load_profile("pi4").delegates is None


def test_a_user_file_of_the_same_name_overrides_the_shipped_profile_key_by_key(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path, '[connection]\npython = "/home/me/venv/bin/python"\n[constraints]\n"latency.p95_ms" = "<= 20"\n',
          "pi4")
    monkeypatch.setenv("EDGEPROF_DEVICE_PATH", str(tmp_path))
    pi4 = load_profile("pi4")
    assert pi4.connection is not None
    assert (pi4.connection.host, pi4.connection.python) == ("pi4", "/home/me/venv/bin/python")
    assert pi4.constraints["latency.p95_ms"] == "<= 20" and pi4.constraints["accuracy.top1"] == ">= 0.95"
    assert pi4.hardware.cpu == "Cortex-A72" and pi4.source == tmp_path / "pi4.toml"


def test_extends_makes_a_new_profile_from_another(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path, 'extends = "pi5"\ndescription = "bench Pi 5"\n[connection]\nhost = "10.0.0.9"\n', "bench-pi5")
    write(tmp_path, '[connection]\nport = 2200\n', "pi5")
    monkeypatch.setenv("EDGEPROF_DEVICE_PATH", str(tmp_path))
    bench = load_profile("bench-pi5")
    assert bench.connection is not None and (bench.connection.host, bench.connection.port) == ("10.0.0.9", 2200)
    assert bench.description == "bench Pi 5" and bench.power.method == "pi5-pmic"
    assert load_profile_file(tmp_path / "bench-pi5.toml").hardware == bench.hardware


@pytest.mark.parametrize(("files", "message"), [
    ({"a": 'extends = "b"\n', "b": 'extends = "a"\n'}, "goes round in a circle \\(a -> b -> a\\)"),
    ({"a": 'extends = "pi-4"\n'}, "unknown device 'pi-4' \\(did you mean pi4"),
    ({"a": "extends = 4\n"}, "'extends' must be a profile name"),
])
def test_bad_extends_names_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, files: dict[str, str],
                                    message: str) -> None:
    for name, text in files.items():
        write(tmp_path, text, name)
    monkeypatch.setenv("EDGEPROF_DEVICE_PATH", str(tmp_path))
    with pytest.raises(ConfigError, match=message) as info:
        load_profile("a")
    assert str(tmp_path) in str(info.value)


def test_shipped_ssh_profiles_leave_the_user_to_ssh_config() -> None:
    for name in ("pi4", "pi5", "jetson-orin-nano", "jetson-nano", "intel-edge"):
        connection = load_profile(name).connection
        assert connection is not None and connection.user is None, name
