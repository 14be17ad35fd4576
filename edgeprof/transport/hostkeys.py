"""Host key checking against known_hosts: unknown keys refused unless accepted, changed keys always refused."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import paramiko


class HostKeyRefused(paramiko.SSHException):
    """An unknown host key that the user did not opt in to accept; the message says how to."""


def fingerprint(key: paramiko.PKey) -> str:
    """The key's fingerprint as OpenSSH prints it: SHA256:<base64, no padding>."""
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


def known_hosts_name(hostname: str, port: int) -> str:
    """How known_hosts names a host: 'host' on port 22, '[host]:port' elsewhere."""
    return hostname if port == 22 else f"[{hostname}]:{port}"


class HostKeyPolicy(paramiko.MissingHostKeyPolicy):
    """For a host not in known_hosts: refuse (default) or record the key (like OpenSSH's accept-new)."""

    def __init__(self, known_hosts: Path, accept_new: bool) -> None:
        self.known_hosts = known_hosts
        self.accept_new = accept_new

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey) -> None:
        if not self.accept_new:
            raise HostKeyRefused(
                f"unknown host key {key.get_name()} {fingerprint(key)} for {hostname}: it is not in "
                f"{self.known_hosts}; verify the fingerprint on the device (ssh-keygen -lf "
                "/etc/ssh/ssh_host_*_key.pub) and rerun with --accept-new-host-key to record it"
            )
        client.get_host_keys().add(hostname, key.get_name(), key)
        self.known_hosts.parent.mkdir(parents=True, exist_ok=True)
        with self.known_hosts.open("a") as fh:
            fh.write(f"{hostname} {key.get_name()} {key.get_base64()}\n")
