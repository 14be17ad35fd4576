"""Where the emulation keeps its files: everything under $EDGEPROF_CACHE (default ~/.cache/edgeprof)."""

from __future__ import annotations

from pathlib import Path

from edgeprof.paths import DEFAULT_CACHE, cache_dir


def images_dir() -> Path:
    """Built images, one directory per recipe and cache key."""
    return cache_dir() / "images"


def emulate_dir() -> Path:
    """Running VMs, the ssh_config and the known_hosts the emulated profiles name."""
    return cache_dir() / "emulate"


def vm_dir(name: str) -> Path:
    """One VM's state, overlay disk, serial log and QMP socket."""
    return emulate_dir() / "vms" / name


def ssh_config_path() -> Path:
    """The ssh_config with one `Host edgeprof-<name>` block per running VM."""
    return emulate_dir() / "ssh_config"


def known_hosts_path() -> Path:
    """edgeprof's own known_hosts for the emulated devices (host-key checking stays on)."""
    return emulate_dir() / "known_hosts"


def relocated() -> bool:
    """True when $EDGEPROF_CACHE moves the cache away from the path the shipped profiles name."""
    return cache_dir() != Path(DEFAULT_CACHE).expanduser()
