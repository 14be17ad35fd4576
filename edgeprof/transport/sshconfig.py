"""Where an SSH device really is: ssh_config lookup (the profile's extra file, then the user's) and identity keys."""

from __future__ import annotations

import getpass
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgeprof.devices import Connection
from edgeprof.errors import ConfigError
from edgeprof.transport.sshlib import paramiko

USER_CONFIG_ENV = "EDGEPROF_SSH_CONFIG"


def user_ssh_config() -> Path:
    """The user's ssh_config: $EDGEPROF_SSH_CONFIG when set, else ~/.ssh/config."""
    return Path(os.environ.get(USER_CONFIG_ENV) or "~/.ssh/config").expanduser()


def resolve_ssh_config(connection: Connection) -> dict[str, Any]:
    """Host, port, user and identity files after ssh_config, with OpenSSH's precedence.

    The profile's values win; then the profile's extra ssh_config file; then the user's ssh_config (first
    value obtained wins, as in OpenSSH; IdentityFile lines add up). Returns the keys hostname, port, user,
    identity (existing files only: OpenSSH skips a missing IdentityFile too; an explicit identity_file that is
    missing is a ConfigError), proxycommand (its %h, %p, %r expanded) and proxyjump (None when not set, or `none`).
    """
    files: list[Path] = []
    if connection.ssh_config:
        extra = Path(connection.ssh_config).expanduser()
        if not extra.is_file():
            raise ConfigError(f"connection.ssh_config: {extra} does not exist")
        files.append(extra)
    if user_ssh_config().is_file():
        files.append(user_ssh_config())
    user = connection.user
    if user and not (user.isprintable() and user.split() == [user]):  # it is written into the lookup below
        raise ConfigError(f"user {user!r}: a user name has no spaces or control characters")
    given = "".join(f"  {key} {value}\n" for key, value in (("Port", connection.port), ("User", connection.user))
                    if value)
    options = _lookup(files, connection.host, f"Host *\n{given}" if given else "")
    try:
        port = connection.port or int(options.get("port", 22))
    except ValueError as exc:
        raise ConfigError(f"ssh_config ({', '.join(map(str, files))}): bad Port for {connection.host}") from exc
    if connection.identity_file:
        explicit = Path(connection.identity_file).expanduser()
        if not explicit.is_file():
            raise ConfigError(f"connection.identity_file: {explicit} does not exist")
        identity = [str(explicit)]
    else:
        identity = [str(Path(p).expanduser()) for p in options.get("identityfile", [])]
        identity = [p for p in identity if Path(p).is_file()]
    proxies = {key: options[key] for key in ("proxycommand", "proxyjump")
               if options.get(key) and options[key].lower() != "none"}
    if len(proxies) > 1:
        raise ConfigError(f"ssh_config ({', '.join(map(str, files))}): both ProxyCommand and ProxyJump for "
                          f"{connection.host}; keep one")
    return {
        "hostname": options.get("hostname", connection.host),
        "port": port,
        "user": connection.user or options.get("user") or getpass.getuser(),
        "identity": identity,
        "proxycommand": proxies.get("proxycommand"),
        "proxyjump": proxies.get("proxyjump"),
    }


def _lookup(files: list[Path], host: str, first: str = "") -> dict[str, Any]:
    """One ssh_config lookup over `first` (the profile's own values, which win and expand ProxyCommand's %p and
    %r) and the files read in order (as if they were one file)."""
    try:
        text = "\n".join([first, *(path.read_text() for path in files)])
        return dict(paramiko.SSHConfig.from_text(text).lookup(host))
    except (OSError, UnicodeDecodeError, paramiko.SSHException, ImportError, ValueError) as exc:
        raise ConfigError(f"cannot use ssh_config {', '.join(map(str, files))}: {exc}") from exc


@dataclass(frozen=True)
class Identities:
    """The identity files paramiko can use, and those that need a passphrase (usable only via ssh-agent)."""

    usable: list[str]
    encrypted: list[str]


def load_identities(paths: list[str]) -> Identities:
    """Check each identity file before connecting, so a bad key is named instead of failing obscurely."""
    usable: list[str] = []
    encrypted: list[str] = []
    for path in paths:
        try:
            paramiko.PKey.from_path(path)
        except (paramiko.PasswordRequiredException, TypeError):  # cryptography: TypeError "...password..."
            encrypted.append(path)
            continue
        except (paramiko.SSHException, paramiko.pkey.UnknownKeyType, ValueError, OSError) as exc:
            raise ConfigError(f"identity file {path} is not a private key edgeprof can read: {exc}") from exc
        usable.append(path)
    return Identities(usable, encrypted)
