"""The state of one VM on disk (vms/<name>/state.json) and whether its QEMU process still lives."""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from edgeprof.emulate.paths import emulate_dir, vm_dir

QEMU_BINARY = "qemu-system-aarch64"


@dataclass(frozen=True)
class VmState:
    """A started VM: what `status` lists and `down` stops."""

    name: str
    image: str
    mode: str  # "qemu-tcg" or "qemu-icount"
    pid: int
    port: int
    started_at: float  # time.time() at boot

    @property
    def dir(self) -> Path:
        return vm_dir(self.name)

    def uptime_s(self) -> float:
        """Seconds since the VM was started."""
        return max(0.0, time.time() - self.started_at)


def save(state: VmState) -> None:
    """Record a started VM."""
    state.dir.mkdir(parents=True, exist_ok=True)
    tmp = state.dir / "state.json.tmp"
    tmp.write_text(json.dumps(asdict(state), indent=2) + "\n")
    tmp.replace(state.dir / "state.json")


def load(name: str) -> VmState | None:
    """The recorded state of a VM, or None (never started, or its record is unreadable)."""
    try:
        data = json.loads((vm_dir(name) / "state.json").read_text())
        return VmState(**data)
    except (OSError, ValueError, TypeError):
        return None


def names() -> list[str]:
    """Every VM with a directory (running, stale, or half started)."""
    root = emulate_dir() / "vms"
    return sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []


def qemu_alive(pid: int) -> bool:
    """True when pid is a live QEMU process (not a dead PID, not a PID reused by something else)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        status = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    zombie = status.rsplit(")", 1)[-1].split()[0] == "Z"
    return not zombie and os.path.basename(cmdline.split(b"\0", 1)[0].decode(errors="replace")) == QEMU_BINARY


def read_pidfile(path: Path) -> int | None:
    """The PID QEMU wrote with -pidfile, or None."""
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None
