"""Where edgeprof's files are: its cache under $EDGEPROF_CACHE and the data shipped inside the package."""

from __future__ import annotations

import os
import threading
from importlib.resources import files
from pathlib import Path

from edgeprof.errors import ConfigError

DEFAULT_CACHE = "~/.cache/edgeprof"


def cache_dir() -> Path:
    """The cache root: $EDGEPROF_CACHE when set, else ~/.cache/edgeprof."""
    return Path(os.environ.get("EDGEPROF_CACHE") or DEFAULT_CACHE).expanduser()


def write_whole(path: Path, data: bytes) -> None:
    """Put `data` at `path` whole: each writer (thread or process) writes a temporary file of its own beside it and
    renames it into place, so a reader never sees half a file, and removes it again when the write fails or is
    interrupted (Ctrl-C, SIGTERM). The one way a file goes into the cache, and a manifest is rewritten."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}-{threading.get_ident()}.tmp")
    try:
        partial.write_bytes(data)
        partial.replace(path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def package_path(name: str) -> Path:
    """A file or directory shipped inside the edgeprof package ("device_profiles", "emulate/build_qemu_image.sh").

    Callers need a real path (profiles are named in messages, the recipe is run by /bin/sh), so edgeprof
    must be installed as files, as pip installs every wheel, not imported from an archive.
    """
    resource = files("edgeprof").joinpath(name)
    if not isinstance(resource, Path):
        raise ConfigError(f"edgeprof's {name} is inside an archive ({resource}): install edgeprof with pip")
    return resource
