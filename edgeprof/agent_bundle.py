"""Build the agent zipapp: one deterministic file from edgeprof/agent/, named by its content hash."""

from __future__ import annotations

import hashlib
import io
import zipfile
from dataclasses import dataclass
from pathlib import Path

from edgeprof.agent.spec import ErrorKind, Event
from edgeprof.paths import cache_dir, write_whole

AGENT_SOURCE = Path(__file__).resolve().parent / "agent"
PACKAGE = "edgeprof_agent"
UNPACK_OPTION = "--unpack-to"
# The zipapp's entry runs first on any Python: a too-old one gets one clear line, not a SyntaxError traceback, and
# so does an agent blob whose bytes no longer match the sha256 it is named by (a same-size corrupted upload, which
# the host's size check reuses). `--unpack-to DIR` (first): the package is unpacked into DIR once, and imported
# from there, so Python caches its bytecode (it compiles a zipapp's modules at every start: ~0.08 s); where DIR
# cannot be written it runs from the zip.
_ENTRY = f"""import json
import os
import sys


def _refuse(kind, message, agent_version=None):
    version = "%d.%d.%d" % tuple(sys.version_info[:3])
    if sys.argv[1:] == ["--doctor"]:
        print(json.dumps({{"python": version, "error": message}}))
    else:
        print(json.dumps({{"event": {Event.HELLO!r}, "agent_version": agent_version, "python": version,
                          "pid": os.getpid()}}))
        print(json.dumps({{"event": {Event.ERROR!r}, "kind": kind, "message": message, "stage": None}}))
    sys.exit(1)


def _corrupted(archive):
    digest = os.path.basename(archive).split(".")[0]
    if len(digest) != 64:  # not a blob named by its sha256 (the host's own copy, say)
        return False
    import hashlib

    with open(archive, "rb") as fh:
        return hashlib.sha256(fh.read()).hexdigest() != digest


def _unpacked(into):
    if os.path.isdir(into):
        return into
    import shutil
    import zipfile

    partial = "%s.%d.tmp" % (into, os.getpid())
    try:
        with zipfile.ZipFile(sys.argv[0]) as bundle:
            bundle.extractall(partial, [n for n in bundle.namelist() if n.startswith("{PACKAGE}/")])
        os.rename(partial, into)
    except OSError:  # read-only, full, or another agent unpacked it first
        shutil.rmtree(partial, ignore_errors=True)
    return into if os.path.isdir(into) else None


unpack_to = None
if sys.argv[1:2] == ["{UNPACK_OPTION}"]:
    unpack_to = sys.argv[2]
    del sys.argv[1:3]
if _corrupted(sys.argv[0]):
    _refuse({ErrorKind.INTEGRITY!r}, "the agent %s does not match its sha256 (a corrupted upload: "
            "`edgeprof clean --device D --all` removes it, the next deploy sends it again)" % sys.argv[0])
if unpack_to and _unpacked(unpack_to):
    sys.path.insert(0, unpack_to)

from {PACKAGE} import AGENT_VERSION, MIN_PYTHON

if sys.version_info[:2] < MIN_PYTHON:
    _refuse({ErrorKind.RUNTIME_MISSING!r}, "Python %d.%d.%d is too old for the edgeprof agent (needs %d.%d or newer)"
            % (tuple(sys.version_info[:3]) + MIN_PYTHON), AGENT_VERSION)

from {PACKAGE}.__main__ import main

main()
"""
_EPOCH = (1980, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class AgentBundle:
    """The built zipapp."""

    path: Path
    sha256: str
    size: int

    @property
    def unpacked_name(self) -> str:
        """The folder (under the device's compiled cache) its package is unpacked into by `--unpack-to`."""
        return f"agent-{self.sha256[:16]}"


def agent_sources() -> list[Path]:
    """The agent's source files, sorted (no caches, no compiled files)."""
    return sorted(p for p in AGENT_SOURCE.rglob("*.py") if "__pycache__" not in p.parts)


def zipapp_bytes() -> bytes:
    """The zipapp's bytes: fixed timestamps and order, so the same source always gives the same hash."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in [("__main__.py", _ENTRY.encode())] + [
            (f"{PACKAGE}/{p.relative_to(AGENT_SOURCE).as_posix()}", p.read_bytes()) for p in agent_sources()
        ]:
            info = zipfile.ZipInfo(name, date_time=_EPOCH)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
    return b"#!/usr/bin/env python3\n" + buffer.getvalue()


def build_agent(cache: Path | None = None) -> AgentBundle:
    """The agent zipapp, built once per content into the cache (default ~/.cache/edgeprof/agent/)."""
    data = zipapp_bytes()
    digest = hashlib.sha256(data).hexdigest()
    directory = cache or cache_dir() / "agent"
    path = directory / f"agent-{digest[:16]}.pyz"
    if not path.exists():
        write_whole(path, data)
    return AgentBundle(path, digest, len(data))
