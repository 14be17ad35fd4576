"""Host key checking against known_hosts: unknown keys refused unless accepted, changed keys always refused."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

from edgeprof.errors import ConfigError
from edgeprof.transport.sshlib import paramiko

ACCEPT_FLAG = "--accept-new-host-key"


class HostKeyRefused(paramiko.SSHException):
    """An unknown host key that the user did not opt in to accept; the message says how to."""


def fingerprint(key: paramiko.PKey) -> str:
    """The key's fingerprint as OpenSSH prints it: SHA256:<base64, no padding>."""
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


def known_hosts_name(hostname: str, port: int) -> str:
    """How known_hosts names a host: 'host' on port 22, '[host]:port' elsewhere."""
    return hostname if port == 22 else f"[{hostname}]:{port}"


def load_known_hosts(client: paramiko.SSHClient, known_hosts: Path) -> None:
    """Load known_hosts (plain, hashed and [host]:port entries) into the client; a missing file is empty."""
    if not known_hosts.is_file():
        return
    try:
        client.load_host_keys(str(known_hosts))
    except paramiko.hostkeys.InvalidHostKey as exc:
        raise ConfigError(f"known_hosts file {known_hosts} has a malformed line ({exc.line.strip()[:60]!r}): "
                          "fix or remove it") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read known_hosts file {known_hosts}: {exc}") from exc


def changed_key_message(name: str, key: paramiko.PKey, expected: paramiko.PKey, known_hosts: Path) -> str:
    """The refusal for a host whose key differs from the recorded one (never overridable by a flag)."""
    return (f"host key for {name} has changed (the server offers {key.get_name()} {fingerprint(key)}, "
            f"{known_hosts} has {expected.get_name()} {fingerprint(expected)}): possible man-in-the-middle "
            f"attack; if the device was reinstalled, remove its old line from {known_hosts} and connect again")


class HostKeyPolicy(paramiko.MissingHostKeyPolicy):
    """For a host not in known_hosts: refuse (default) or record the key (like OpenSSH's accept-new)."""

    def __init__(self, known_hosts: Path, accept_new: bool) -> None:
        self.known_hosts = known_hosts
        self.accept_new = accept_new

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey) -> None:
        # paramiko passes the known_hosts form of the name: 'host' or '[host]:port'
        if not self.accept_new:
            raise HostKeyRefused(
                f"unknown host key {key.get_name()} {fingerprint(key)} for {hostname}: it is not in "
                f"{self.known_hosts}; verify the fingerprint on the device (ssh-keygen -lf "
                f"/etc/ssh/ssh_host_*_key.pub) and rerun with {ACCEPT_FLAG} to record it"
            )
        client.get_host_keys().add(hostname, key.get_name(), key)
        self.known_hosts.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        with self.known_hosts.open("a+b") as fh:
            fh.seek(0, 2)
            if fh.tell() > 0:
                fh.seek(-1, 2)
                if fh.read(1) != b"\n":
                    fh.write(b"\n")
            fh.write(f"{hostname} {key.get_name()} {key.get_base64()}\n".encode())
