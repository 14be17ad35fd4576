"""Start, stop and list emulated boards: daemonised qemu-system-aarch64 on a free loopback port."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from edgeprof.devices import DeviceProfile, load_profile
from edgeprof.emulate import access, state
from edgeprof.emulate.image import Image, built_image
from edgeprof.emulate.paths import emulate_dir, images_dir, known_hosts_path, relocated, vm_dir
from edgeprof.emulate.recipe import ICOUNT_SUFFIX, recipe_for
from edgeprof.emulate.state import QEMU_BINARY, VmState
from edgeprof.errors import ConfigError, DeviceError

KERNEL_CMDLINE = "root=/dev/vda rw console=ttyAMA0 net.ifnames=0 quiet"
PROFILE_CACHE_PREFIX = "~/.cache/edgeprof/emulate/"


@dataclass(frozen=True)
class Machine:
    """What QEMU emulates for one profile."""

    cpu: str  # QEMU -cpu name, e.g. cortex-a72
    cores: int
    mem_mb: int
    icount: bool


@dataclass(frozen=True)
class VmStatus:
    """One VM as `status` sees it: running, or stale (dead PID) and cleaned up."""

    name: str
    state: VmState | None
    running: bool


def machine_for(profile: DeviceProfile) -> Machine:
    """The emulated machine of a profile: its CPU, cores and RAM; icount when its emulation says so."""
    if profile.emulation is None:
        raise ConfigError(f"device '{profile.name}' is not emulated ({profile.source} has no 'emulation')")
    hw = profile.hardware
    return Machine(hw.cpu.lower(), hw.cores, hw.ram_mb, profile.emulation == "qemu-icount")


def qemu_argv(image: Image, machine: Machine, port: int, run_dir: Path) -> list[str]:
    """The QEMU command line (an argv list, never a shell string) booting image's kernel on run_dir's overlay."""
    accel = "tcg,tb-size=256" if machine.icount else "tcg,thread=multi,tb-size=256"
    argv = [
        QEMU_BINARY, "-M", "virt", "-cpu", machine.cpu, "-smp", str(machine.cores), "-m", str(machine.mem_mb),
        "-accel", accel,
        "-kernel", str(image.path("vmlinuz")), "-initrd", str(image.path("initrd.img")),
        "-append", KERNEL_CMDLINE,
        "-drive", f"file={run_dir / 'overlay.qcow2'},if=virtio,format=qcow2",
        "-netdev", f"user,id=net0,hostfwd=tcp:{access.LOOPBACK}:{port}-:22",
        "-device", "virtio-net-pci,netdev=net0", "-device", "virtio-rng-pci",
        "-display", "none", "-monitor", "none", "-serial", f"file:{run_dir / 'serial.log'}",
        "-daemonize", "-pidfile", str(run_dir / "qemu.pid"),
    ]
    if machine.icount:
        argv += ["-icount", "shift=0"]
    return argv


def overlay_argv(image: Image, run_dir: Path) -> list[str]:
    """qemu-img command for the throw-away copy-on-write overlay over the image's root disk."""
    return ["qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", str(image.path("rootfs.qcow2")),
            str(run_dir / "overlay.qcow2")]


def free_port() -> int:
    """A loopback TCP port nobody listens on now (the kernel's choice)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((access.LOOPBACK, 0))
        return int(sock.getsockname()[1])


def device_name(name: str, icount: bool) -> str:
    """The profile to boot: NAME, or its `-icount` twin when --icount is given."""
    return name if not icount or name.endswith(ICOUNT_SUFFIX) else name + ICOUNT_SUFFIX


def up(name: str, *, timeout_s: float = 180.0) -> tuple[VmState, bool]:
    """Boot the device's VM in the background and wait for SSH; returns its state and whether it was running."""
    profile = load_profile(name)
    machine = machine_for(profile)
    current = state.load(name)
    if current and state.qemu_alive(current.pid):
        return current, True
    cleanup(name)
    image = built_image(recipe_for(name))
    run_dir = vm_dir(name)
    run_dir.mkdir(parents=True)
    _run(overlay_argv(image, run_dir), "create the overlay disk")
    port = _start_qemu(image, machine, run_dir)
    pid = state.read_pidfile(run_dir / "qemu.pid")
    if pid is None:
        cleanup(name)
        raise DeviceError(f"QEMU for '{name}' started but wrote no PID file")
    vm = VmState(name, image.dir.name, profile.emulation or "", pid, port, time.time())
    state.save(vm)
    access.add_vm(name, port, image.path("id_ed25519"), image.host_key_line())
    if relocated():
        write_profile_override(profile)
    try:
        wait_for_ssh(vm, timeout_s)
    except DeviceError:
        down(name)
        raise
    return vm, False


def _start_qemu(image: Image, machine: Machine, run_dir: Path, attempts: int = 3) -> int:
    """Start QEMU on a free port; another process taking the port in between costs a retry. Returns the port."""
    for _ in range(attempts - 1):
        port = free_port()
        try:
            _run(qemu_argv(image, machine, port, run_dir), "start QEMU")
            return port
        except DeviceError as exc:
            if "host forwarding" not in str(exc):
                raise
    port = free_port()
    _run(qemu_argv(image, machine, port, run_dir), "start QEMU")
    return port


def wait_for_ssh(vm: VmState, timeout_s: float) -> None:
    """Wait until the guest's sshd answers with its banner; a dead QEMU or the bound fails with the serial log."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not state.qemu_alive(vm.pid):
            raise DeviceError(f"QEMU for '{vm.name}' exited while booting: {serial_tail(vm.name)}")
        if _ssh_banner(vm.port):
            return
        time.sleep(1.0)
    raise DeviceError(f"'{vm.name}' did not answer SSH on port {vm.port} within {timeout_s:.0f} s: "
                      f"{serial_tail(vm.name)}")


def _ssh_banner(port: int) -> bool:
    """True when an SSH server answers on the port (QEMU's forwarder accepts before the guest listens)."""
    try:
        with socket.create_connection((access.LOOPBACK, port), timeout=2.0) as sock:
            sock.settimeout(5.0)
            return sock.recv(4).startswith(b"SSH-")
    except OSError:
        return False


def serial_tail(name: str, lines: int = 12) -> str:
    """The last lines of a VM's serial console, joined for a one-line error, with the log's path."""
    log = vm_dir(name) / "serial.log"
    try:
        tail = [ln.strip() for ln in log.read_text(errors="replace").splitlines() if ln.strip()][-lines:]
    except OSError:
        tail = []
    return f"serial log tail: {' | '.join(tail) or '(empty)'} (full log: {log})"


def down(name: str, *, timeout_s: float = 60.0) -> bool:
    """Power the VM off (ssh poweroff, then SIGTERM/SIGKILL after a bound) and remove it; False if it was not up."""
    vm = state.load(name)
    running = vm is not None and state.qemu_alive(vm.pid)
    if vm is not None and running:
        _poweroff(vm)
        if not _wait_exit(vm.pid, timeout_s):
            os.kill(vm.pid, signal.SIGTERM)
            if not _wait_exit(vm.pid, 10.0):
                os.kill(vm.pid, signal.SIGKILL)
                _wait_exit(vm.pid, 5.0)
    cleanup(name)
    return running


def status() -> list[VmStatus]:
    """Every known VM; stale ones (dead PID, no state) are cleaned up as they are found."""
    found = []
    for name in state.names():
        vm = state.load(name)
        running = vm is not None and state.qemu_alive(vm.pid)
        if not running:
            cleanup(name)
        found.append(VmStatus(name, vm, running))
    return found


def cleanup(name: str) -> None:
    """Remove a (stopped) VM's directory, overlay included, and its ssh_config and known_hosts entries."""
    shutil.rmtree(vm_dir(name), ignore_errors=True)
    access.remove_vm(name)


def write_profile_override(profile: DeviceProfile) -> Path:
    """With a relocated cache, a copy of the profile whose ssh_config/known_hosts paths point into it.

    Put the returned directory on EDGEPROF_DEVICE_PATH to use it.
    """
    text = profile.source.read_text().replace(PROFILE_CACHE_PREFIX, f"{emulate_dir()}/")
    out = emulate_dir() / "devices"
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{profile.name}.toml").write_text(text)
    return out


def _run(argv: list[str], what: str) -> None:
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    except FileNotFoundError as exc:
        raise DeviceError(f"cannot {what}: {argv[0]} is not installed (scripts/emulated_stage.sh installs it)") from exc
    except subprocess.TimeoutExpired as exc:
        raise DeviceError(f"cannot {what}: {argv[0]} did not return within 60 s") from exc
    if proc.returncode != 0:
        detail = (proc.stderr.strip() or proc.stdout.strip()).splitlines()
        raise DeviceError(f"cannot {what}: {detail[-1] if detail else f'exit status {proc.returncode}'}")


def _poweroff(vm: VmState) -> None:
    """Ask the guest to power off over SSH (host key checked); a guest that cannot be reached is left to signals."""
    from edgeprof.transport.sshlib import paramiko  # only here: CLI start-up stays light

    client = paramiko.SSHClient()
    try:
        client.load_host_keys(str(known_hosts_path()))
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
        client.connect(access.LOOPBACK, port=vm.port, username="root", key_filename=str(images_dir() / vm.image / "id_ed25519"),
                       timeout=10, banner_timeout=10, auth_timeout=10, allow_agent=False, look_for_keys=False)
        _, stdout, _ = client.exec_command("systemctl poweroff --no-block", timeout=20)
        stdout.channel.recv_exit_status()  # closing before the command ran would hang it up
    except (OSError, paramiko.SSHException):
        pass
    finally:
        client.close()


def _wait_exit(pid: int, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not state.qemu_alive(pid):
            return True
        time.sleep(0.5)
    return not state.qemu_alive(pid)
