"""Reaching a device: `local` (subprocess on this machine) and `ssh` (paramiko)."""

from __future__ import annotations

import sys
from pathlib import Path

from edgeprof.devices import Connection
from edgeprof.errors import ConfigError
from edgeprof.transport.base import CommandResult, RemoteProcess, Transport, Upload
from edgeprof.transport.local import LocalTransport

__all__ = ["CommandResult", "RemoteProcess", "Transport", "Upload", "device_python", "open_transport"]


def device_python(connection: Connection | None) -> str:
    """The Python that runs edgeprof's code on the device (a local device: this one)."""
    return connection.python if connection else sys.executable


def open_transport(
    device_name: str,
    kind: str,
    connection: Connection | None,
    *,
    accept_new_host_key: bool = False,
    known_hosts: Path | None = None,
) -> Transport:
    """The transport for a device profile's kind (not yet connected)."""
    if kind == "local":
        return LocalTransport(device_name, Path(connection.work_dir) if connection else None)
    if kind == "ssh":
        if connection is None:
            raise ConfigError(f"device '{device_name}' has kind 'ssh' but no [connection]")
        from edgeprof.transport.ssh import SSHTransport

        return SSHTransport(device_name, connection, accept_new_host_key=accept_new_host_key,
                            known_hosts=known_hosts)
    raise ConfigError(f"device '{device_name}': unknown kind {kind!r}")
