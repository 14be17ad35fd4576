"""Where edgeprof's files are: its cache under $EDGEPROF_CACHE."""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_CACHE = "~/.cache/edgeprof"


def cache_dir() -> Path:
    """The cache root: $EDGEPROF_CACHE when set, else ~/.cache/edgeprof."""
    return Path(os.environ.get("EDGEPROF_CACHE") or DEFAULT_CACHE).expanduser()
