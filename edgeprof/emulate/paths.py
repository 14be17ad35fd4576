"""Where the emulation keeps its files: everything under $EDGEPROF_CACHE (default ~/.cache/edgeprof)."""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_CACHE = "~/.cache/edgeprof"


def cache_root() -> Path:
    """The cache root: $EDGEPROF_CACHE when set, else ~/.cache/edgeprof."""
    return Path(os.environ.get("EDGEPROF_CACHE") or DEFAULT_CACHE).expanduser()


def images_dir() -> Path:
    """Built images, one directory per recipe and cache key."""
    return cache_root() / "images"


def emulate_dir() -> Path:
    """Running VMs, the ssh_config and the known_hosts the emulated profiles name."""
    return cache_root() / "emulate"


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
    return cache_root() != Path(DEFAULT_CACHE).expanduser()
