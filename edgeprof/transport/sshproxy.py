"""How ssh_config reaches a device through something else, as OpenSSH does: ProxyCommand (a local command, run by
/bin/sh, whose stdin and stdout are the link) and ProxyJump (one jump host, whose direct-tcpip channel is the link;
SSHTransport opens it)."""

from __future__ import annotations

import socket
import subprocess
import tempfile
from dataclasses import dataclass

from edgeprof.errors import ConfigError

KILL_WAIT_S = 1.0


@dataclass(frozen=True)
class Jump:
    """ProxyJump's [user@]host[:port]."""

    user: str | None
    host: str
    port: int | None


def parse_jump(spec: str) -> Jump:
    """The jump host of a ProxyJump value; ConfigError for a chain of several, or a port that is no number."""
    if "," in spec:
        raise ConfigError(f"ssh_config ProxyJump {spec}: a chain of jump hosts is not supported (use one)")
    user, _, rest = spec.removeprefix("ssh://").rpartition("@")
    if rest.startswith("["):  # [::1]:2222
        host, _, port = rest[1:].partition("]")
        port = port.removeprefix(":")
    else:
        host, _, port = rest.partition(":")
    if not host or (port and not (port.isascii() and port.isdigit() and 0 < int(port) < 65536)):
        raise ConfigError(f"ssh_config ProxyJump {spec}: not [user@]host[:port]")
    return Jump(user or None, host, int(port) if port else None)


class ProxyCommandLink:
    """A ProxyCommand running, its stdin and stdout one end of a socket pair: `socket` is the other end."""

    def __init__(self, command: str) -> None:
        self.command = command
        ours, theirs = socket.socketpair()
        self._stderr = tempfile.TemporaryFile()
        try:
            self.process = subprocess.Popen(["/bin/sh", "-c", command], stdin=theirs, stdout=theirs,
                                            stderr=self._stderr, start_new_session=True)
        except OSError as exc:
            ours.close()
            self._stderr.close()
            raise ConfigError(f"ssh_config ProxyCommand {command!r} cannot start: {exc.strerror}") from exc
        finally:
            theirs.close()
        self.socket = ours

    def ended(self) -> str | None:
        """Why the command ended, if it has ('exited with status 1: <its last stderr line>'); None while it runs."""
        try:
            status = self.process.wait(timeout=0.2)
        except subprocess.TimeoutExpired:
            return None
        self._stderr.seek(0)
        lines = self._stderr.read().decode("utf-8", "replace").strip().splitlines()
        return f"exited with status {status}" + (f": {lines[-1]}" if lines else "")

    def close(self) -> None:
        """Stop the command (SIGTERM, then SIGKILL) and let go of its files."""
        self.socket.close()
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=KILL_WAIT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._stderr.close()
