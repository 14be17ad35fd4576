"""paramiko for all of edgeprof, with its `invoke` dependency loaded on first use instead of at import.

paramiko imports invoke (about 0.1 s of its 0.17 s import on a 2-core x86 host) only to run the command of an
ssh_config `Match exec` line. Importing paramiko through this module puts a stand-in for invoke in sys.modules
first: the real package is imported the first time any of its attributes is read, and serves every later read.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from typing import Any


class _OnFirstUse(types.ModuleType):
    """A module that imports the real one (replacing itself in sys.modules) when an attribute is first read."""

    def __getattr__(self, attribute: str) -> Any:
        if sys.modules.get(self.__name__) is self:
            del sys.modules[self.__name__]
        return getattr(importlib.import_module(self.__name__), attribute)


def _defer(name: str) -> None:
    """Stand in for the installed, not yet imported package `name` until it is used."""
    if name not in sys.modules and importlib.util.find_spec(name) is not None:
        sys.modules[name] = _OnFirstUse(name)


_defer("invoke")

import paramiko  # noqa: E402  (after the stand-in, on purpose)

__all__ = ["paramiko"]
