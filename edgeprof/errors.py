"""The error types the CLI turns into one line on stderr and an exit code."""

from __future__ import annotations

EXIT_OK = 0
EXIT_CONSTRAINT_FAILED = 1
EXIT_USAGE = 2
EXIT_DEVICE = 3
EXIT_INTERRUPTED = 130


def one_line(text: object, limit: int = 300) -> str:
    """Text (an exception's, say) on one line, at most `limit` characters: third-party messages span lines."""
    return " ".join(str(text).split())[:limit]


class EdgeprofError(Exception):
    """Base of every error edgeprof reports to the user as one line."""

    exit_code = EXIT_DEVICE

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class ConfigError(EdgeprofError):
    """Bad usage or configuration: a malformed profile, an unknown name, a bad flag value (exit 2)."""

    exit_code = EXIT_USAGE


class DeviceError(EdgeprofError):
    """The device could not be reached or used: network, SSH, host key, disk (exit 3)."""

    exit_code = EXIT_DEVICE


class StoreError(EdgeprofError):
    """The results store could not be opened, checked or written (exit 2: a store is configuration)."""

    exit_code = EXIT_USAGE


class Interrupted(EdgeprofError):
    """Ctrl-C: the running agents were stopped and nothing was stored (exit 130)."""

    exit_code = EXIT_INTERRUPTED
