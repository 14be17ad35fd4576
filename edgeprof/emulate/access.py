"""Make a running VM reachable by name: its `Host edgeprof-<name>` block and its known_hosts line."""

from __future__ import annotations

from pathlib import Path

from edgeprof.emulate.paths import known_hosts_path, ssh_config_path
from edgeprof.paths import write_whole

LOOPBACK = "127.0.0.1"


def ssh_alias(name: str) -> str:
    """The ssh_config host alias of an emulated device (what its profile's `host` names)."""
    return f"edgeprof-{name}"


def known_hosts_host(port: int) -> str:
    """How known_hosts names the VM: the forwarded loopback port."""
    return f"[{LOOPBACK}]:{port}"


def ssh_block(name: str, port: int, identity: Path) -> str:
    """The ssh_config block for one VM (usable by OpenSSH too: `ssh -F <ssh_config> edgeprof-<name>`)."""
    return (
        f"# edgeprof emulate: {name}\n"
        f"Host {ssh_alias(name)}\n"
        f"    HostName {LOOPBACK}\n"
        f"    Port {port}\n"
        f"    User root\n"
        f"    IdentityFile {identity}\n"
        f"    IdentitiesOnly yes\n"
        f"    UserKnownHostsFile {known_hosts_path()}\n"
        f"    StrictHostKeyChecking yes\n"
    )


def add_vm(name: str, port: int, identity: Path, host_key: str) -> None:
    """Write the VM's ssh_config block and known_hosts line, replacing any earlier ones of that name or port."""
    remove_vm(name)
    blocks = _blocks(ssh_config_path())
    blocks[name] = ssh_block(name, port, identity)
    write_whole(ssh_config_path(), "\n".join(blocks.values()).encode())
    lines = [ln for ln in _lines(known_hosts_path()) if ln.split(" ", 1)[0] != known_hosts_host(port)]
    lines.append(f"{known_hosts_host(port)} {host_key}  # {name}")
    write_whole(known_hosts_path(), "".join(f"{ln}\n" for ln in lines).encode())


def remove_vm(name: str) -> None:
    """Forget a VM: drop its ssh_config block and its known_hosts line."""
    blocks = _blocks(ssh_config_path())
    if blocks.pop(name, None) is not None:
        write_whole(ssh_config_path(), "\n".join(blocks.values()).encode())
    lines = _lines(known_hosts_path())
    kept = [ln for ln in lines if not ln.endswith(f"  # {name}")]
    if kept != lines:
        write_whole(known_hosts_path(), "".join(f"{ln}\n" for ln in kept).encode())


def _blocks(path: Path) -> dict[str, str]:
    """The ssh_config's blocks by VM name (each starts with its '# edgeprof emulate: <name>' line)."""
    blocks: dict[str, str] = {}
    current: str | None = None
    for line in _lines(path):
        if line.startswith("# edgeprof emulate: "):
            current = line.split(": ", 1)[1]
            blocks[current] = ""
        if current is not None and line:
            blocks[current] += line + "\n"
    return blocks


def _lines(path: Path) -> list[str]:
    try:
        return path.read_text().splitlines()
    except FileNotFoundError:
        return []


