"""The emulation's host-side parts without a VM: cache keys, image cache, state, ssh_config, QEMU argv."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import paramiko
import pytest

from edgeprof.devices import Connection, load_profile, load_profile_file
from edgeprof.emulate import access, image, recipe, state, vm
from edgeprof.emulate.paths import known_hosts_path, ssh_config_path, vm_dir
from edgeprof.errors import ConfigError, DeviceError
from edgeprof.transport.sshconfig import resolve_ssh_config
from tests.emulated.support import edgeprof

PI4 = recipe.RECIPES["qemu-pi4"]


@pytest.fixture(autouse=True)
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private EDGEPROF_CACHE for every test."""
    monkeypatch.setenv("EDGEPROF_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def fake_built(img: image.Image) -> None:
    """Lay out the files of a finished build (contents do not matter to the cache check)."""
    img.dir.mkdir(parents=True)
    for name in image.FILES:
        (img.dir / name).write_text("ssh-ed25519 AAAAtest edgeprof-qemu-host\n")
    (img.dir / "manifest.json").write_text("{}")


# ------------------------------------------------------------------ recipe and cache key

def test_cache_key_is_stable_across_processes() -> None:
    code = ("from edgeprof.emulate.recipe import RECIPES, script_bytes; "
            "print(RECIPES['qemu-pi4'].cache_key(script_bytes()))")
    keys = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env={**os.environ, "PYTHONHASHSEED": seed}).stdout.strip() for seed in ("1", "2")}
    assert keys == {PI4.cache_key(recipe.script_bytes())}
    assert len(keys.pop()) == 16


@pytest.mark.parametrize("change", [
    {"suite": "trixie"}, {"wheels": ("numpy==2.4.5",) + PI4.wheels[1:]}, {"packages": PI4.packages + ("curl",)},
    {"python": "3.13"}, {"image_size": "2048M"}, {"initramfs_modules": ("ext4",)},
])
def test_every_recipe_field_changes_the_key(change: dict[str, object]) -> None:
    script = recipe.script_bytes()
    assert replace(PI4, **change).cache_key(script) != PI4.cache_key(script)  # type: ignore[arg-type]


def test_the_script_bytes_change_the_key() -> None:
    assert PI4.cache_key(b"echo a") != PI4.cache_key(b"echo b")


def test_recipe_env_matches_the_script_defaults() -> None:
    """Run by hand, the script builds the same image as `emulate build`: its defaults are the recipe's values."""
    text = recipe.SCRIPT.read_text()
    for key, value in PI4.env().items():
        assert f'{key}="${{{key}:-{value}}}"' in text, key


def test_icount_twin_boots_the_plain_image() -> None:
    assert recipe.recipe_for("qemu-pi4-icount") is PI4
    with pytest.raises(ConfigError, match="no emulated image for 'pi4'"):
        recipe.recipe_for("pi4")


# ------------------------------------------------------------------ image cache and build runner

def test_second_build_is_a_cache_hit_without_running_anything(cache: Path) -> None:
    fake_built(image.image_for(PI4))
    steps: list[str] = []
    started = time.monotonic()
    img, cached = image.build_image(PI4, lambda step, what: steps.append(step))
    assert cached and steps == [] and time.monotonic() - started < 1.0
    assert img.dir == cache / "images" / f"qemu-pi4-{PI4.cache_key(recipe.script_bytes())}"


def test_a_half_built_image_is_not_used(cache: Path) -> None:
    img = image.image_for(PI4)
    fake_built(img)
    (img.dir / "rootfs.qcow2").unlink()
    with pytest.raises(ConfigError, match="emulate build qemu-pi4"):
        image.built_image(PI4)


def recipe_script(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, body: str) -> None:
    """Point the build at a small recipe script (the runner, not mmdebstrap, is under test)."""
    script = tmp_path / "recipe.sh"
    script.write_text("set -eu\nstep() { echo \"==> STEP $1: $2\"; }\n" + body)
    monkeypatch.setattr(recipe, "SCRIPT", script)
    monkeypatch.setattr(image, "SCRIPT", script)


@pytest.mark.skipif(os.geteuid() != 0, reason="the build runs as root")
def test_failed_step_is_named_with_its_last_line_and_the_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    recipe_script(tmp_path, monkeypatch, 'step host "tools"\nstep wheels "download"\n'
                  'echo "ERROR: No matching distribution found for onnxruntime==9"\nexit 1\n')
    steps: list[str] = []
    with pytest.raises(DeviceError) as err:
        image.build_image(PI4, lambda step, what: steps.append(step))
    assert steps == ["host", "wheels"]
    message = str(err.value)
    assert "failed at step 'wheels'" in message and "onnxruntime==9" in message
    log = Path(message.rsplit("(log: ", 1)[1].rstrip(")"))
    assert "No matching distribution" in log.read_text()
    assert not image.image_for(PI4).complete()


@pytest.mark.skipif(os.geteuid() != 0, reason="the build runs as root")
def test_successful_build_is_moved_into_the_cache_with_a_manifest(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    files = " ".join(image.FILES)
    recipe_script(tmp_path, monkeypatch, f'step host "tools"\ncd "$1"\nfor f in {files}; do echo x > $f; done\n'
                  'echo "numpy-2.whl onnxruntime-1.whl" > wheels.txt\n[ "$SUITE" = bookworm ]\nstep done "ok"\n')
    img, cached = image.build_image(PI4, lambda step, what: None)
    assert not cached and img.complete()
    manifest = json.loads((img.dir / "manifest.json").read_text())
    assert manifest["key"] == img.key and manifest["wheels"] == ["numpy-2.whl", "onnxruntime-1.whl"]
    assert not img.dir.with_name(img.dir.name + ".partial").exists()


# ------------------------------------------------------------------ ssh_config and known_hosts

def test_ssh_config_block_resolves_through_the_ssh_transport(tmp_path: Path) -> None:
    key = tmp_path / "id_ed25519"
    key.write_text("key")
    access.add_vm("qemu-pi4", 40001, key, "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFDr06TrjqOOISUYaUuBbs7tPo7IQ+1Ksvnl2Ptrn9Lp")
    conn = Connection(host="edgeprof-qemu-pi4", ssh_config=str(ssh_config_path()), known_hosts=str(known_hosts_path()))
    settings = resolve_ssh_config(conn)
    assert settings == {"hostname": "127.0.0.1", "port": 40001, "user": "root", "identity": [str(key)],
                        "proxycommand": None, "proxyjump": None}
    keys = paramiko.HostKeys(str(known_hosts_path()))
    assert keys.lookup("[127.0.0.1]:40001")["ssh-ed25519"].get_name() == "ssh-ed25519"


def test_two_vms_then_one_removed(tmp_path: Path) -> None:
    host_key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFDr06TrjqOOISUYaUuBbs7tPo7IQ+1Ksvnl2Ptrn9Lp"
    access.add_vm("qemu-pi4", 40001, tmp_path / "k", host_key)
    access.add_vm("qemu-pi4-icount", 40002, tmp_path / "k", host_key)
    access.add_vm("qemu-pi4", 40003, tmp_path / "k", host_key)  # restarted on a new port: replaced, not added
    config = paramiko.SSHConfig.from_path(str(ssh_config_path()))
    assert config.lookup("edgeprof-qemu-pi4")["port"] == "40003"
    assert config.lookup("edgeprof-qemu-pi4-icount")["port"] == "40002"
    assert len(known_hosts_path().read_text().splitlines()) == 2
    access.remove_vm("qemu-pi4")
    assert "edgeprof-qemu-pi4\n" not in ssh_config_path().read_text()
    assert config.lookup("edgeprof-qemu-pi4-icount")["port"] == "40002"
    assert [ln.split()[0] for ln in known_hosts_path().read_text().splitlines()] == ["[127.0.0.1]:40002"]


def test_relocated_cache_gets_a_profile_whose_paths_point_into_it(cache: Path) -> None:
    out = vm.write_profile_override(load_profile("qemu-pi4"))
    profile = load_profile_file(out / "qemu-pi4.toml")
    assert profile.connection is not None and profile.emulation == "qemu-tcg"
    assert profile.connection.ssh_config == str(cache / "emulate" / "ssh_config")
    assert profile.connection.known_hosts == str(cache / "emulate" / "known_hosts")


# ------------------------------------------------------------------ machine, QEMU command line, port

def test_profiles_give_the_machine() -> None:
    assert vm.machine_for(load_profile("qemu-pi4")) == vm.Machine("cortex-a72", 4, 2048, False)
    assert vm.machine_for(load_profile("qemu-pi4-icount")) == vm.Machine("cortex-a72", 4, 2048, True)
    with pytest.raises(ConfigError, match="'pi4' is not emulated"):
        vm.machine_for(load_profile("pi4"))
    assert vm.device_name("qemu-pi4", True) == vm.device_name("qemu-pi4-icount", True) == "qemu-pi4-icount"
    assert vm.device_name("qemu-pi4", False) == "qemu-pi4"


def test_qemu_argv_is_a_list_with_the_forwarded_port(tmp_path: Path) -> None:
    img = image.Image("qemu-pi4", "k", tmp_path / "img")
    argv = vm.qemu_argv(img, vm.Machine("cortex-a72", 4, 2048, False), 40123, tmp_path / "run")
    assert all(isinstance(a, str) for a in argv) and argv[0] == "qemu-system-aarch64"
    assert argv[argv.index("-netdev") + 1] == "user,id=net0,hostfwd=tcp:127.0.0.1:40123-:22"
    assert argv[argv.index("-append") + 1] == vm.KERNEL_CMDLINE  # one element: no shell word splitting
    assert argv[argv.index("-accel") + 1] == "tcg,thread=multi,tb-size=256" and "-icount" not in argv
    assert argv[argv.index("-smp") + 1] == "4" and argv[argv.index("-m") + 1] == "2048"
    assert "-daemonize" in argv and argv[argv.index("-pidfile") + 1] == str(tmp_path / "run" / "qemu.pid")
    icount = vm.qemu_argv(img, vm.Machine("cortex-a72", 4, 2048, True), 40123, tmp_path / "run")
    assert icount[icount.index("-icount") + 1] == "shift=0" and "thread=multi" not in " ".join(icount)


def test_free_port_can_be_bound() -> None:
    port = vm.free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


# ------------------------------------------------------------------ state and stale VMs

def dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def test_state_round_trip_and_liveness() -> None:
    vm_state = state.VmState("qemu-pi4", "qemu-pi4-k", "qemu-tcg", os.getpid(), 40001, time.time() - 5)
    state.save(vm_state)
    assert state.load("qemu-pi4") == vm_state and state.names() == ["qemu-pi4"]
    assert 5 <= vm_state.uptime_s() < 60
    assert not state.qemu_alive(os.getpid())  # alive, but not QEMU: a reused PID is not our VM
    assert not state.qemu_alive(dead_pid())


def test_status_cleans_a_stale_vm_and_down_reports_it_was_not_running(tmp_path: Path) -> None:
    state.save(state.VmState("qemu-pi4", "qemu-pi4-k", "qemu-tcg", dead_pid(), 40001, time.time()))
    (vm_dir("qemu-pi4") / "overlay.qcow2").write_text("x")
    access.add_vm("qemu-pi4", 40001, tmp_path / "k", "ssh-ed25519 AAAA")
    [found] = vm.status()
    assert found.name == "qemu-pi4" and not found.running
    assert not vm_dir("qemu-pi4").exists() and "qemu-pi4" not in ssh_config_path().read_text()
    assert vm.status() == [] and vm.down("qemu-pi4") is False


@pytest.mark.skipif(shutil.which("qemu-system-aarch64") is None, reason="QEMU not installed")
def test_a_real_qemu_process_is_running_until_killed() -> None:
    proc = subprocess.Popen(["qemu-system-aarch64", "-M", "virt", "-display", "none", "-S", "-monitor", "none",
                             "-serial", "none"])
    try:
        deadline = time.monotonic() + 10
        while not state.qemu_alive(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        state.save(state.VmState("qemu-pi4", "qemu-pi4-k", "qemu-tcg", proc.pid, 40001, time.time()))
        [found] = vm.status()
        assert found.running
    finally:
        proc.kill()
        proc.wait()
    assert not state.qemu_alive(proc.pid)
    assert [s.running for s in vm.status()] == [False]


def test_wait_for_ssh_fails_with_the_serial_log_when_qemu_is_gone() -> None:
    vm_state = state.VmState("qemu-pi4", "qemu-pi4-k", "qemu-tcg", dead_pid(), vm.free_port(), time.time())
    state.save(vm_state)
    (vm_dir("qemu-pi4") / "serial.log").write_text("Booting Linux\nKernel panic - not syncing: VFS\n")
    with pytest.raises(DeviceError, match="exited while booting: serial log tail: .*Kernel panic"):
        vm.wait_for_ssh(vm_state, 5)


# ------------------------------------------------------------------ command line

def test_cli_status_json_and_missing_image(cache: Path) -> None:
    pid = dead_pid()
    state.save(state.VmState("qemu-pi4", "qemu-pi4-k", "qemu-tcg", pid, 40001, time.time()))
    proc = edgeprof("emulate", "status", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == [{"name": "qemu-pi4", "state": "stale (cleaned up)", "mode": "qemu-tcg",
                                        "port": 40001, "pid": pid, "uptime_s": None}]
    proc = edgeprof("emulate", "up", "qemu-pi4")
    assert proc.returncode == 2 and proc.stderr.strip().endswith("run `edgeprof emulate build qemu-pi4`")
    proc = edgeprof("emulate", "up", "pi4")
    assert proc.returncode == 2 and "'pi4' is not emulated" in proc.stderr


@pytest.mark.skipif(shutil.which("qemu-system-aarch64") is None, reason="QEMU not installed")
def test_a_port_taken_before_qemu_binds_it_costs_a_retry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    img = image.Image("qemu-pi4", "k", tmp_path / "img")
    fake_built(img)  # no real kernel: the guest never boots, but QEMU starts
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(run_dir / "overlay.qcow2"), "1M"], check=True)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        ports = [busy.getsockname()[1], vm.free_port()]
        second = ports[1]
        monkeypatch.setattr(vm, "free_port", lambda: ports.pop(0))
        try:
            assert vm._start_qemu(img, vm.Machine("cortex-a72", 1, 128, False), run_dir, attempts=2) == second
        finally:
            pid = state.read_pidfile(run_dir / "qemu.pid")
            if pid is not None:
                os.kill(pid, 15)
    assert ports == [] and pid is not None
