"""The device-side cache edgeprof keeps under the work dir (blobs, partial uploads, compiled engines): clean it,
cap it, over a transport already open. Everything runs on the device as one Python snippet, under the device lock,
inside the work dir only; reaching the device for `clean` is edgeprof.clean's."""

from __future__ import annotations

import json
from dataclasses import dataclass

from edgeprof.agent.spec import BLOB_DIR, CACHE_DIR, LOCK_FILE, PARTIAL_PREFIX
from edgeprof.errors import DeviceError
from edgeprof.transport.base import Transport
from edgeprof.units import file_size

# sys.argv[1] = {"work_dir", "layout": {"blob_dir", "cache_dir", "lock_file", "partial_prefix"} (agent/spec.py),
# "keep": [paths], "limit": bytes or null (null: clean), "all": bool, "stale_s"}.
# Never follows a symlink and touches only the blob and compiled folders' entries (never a path in keep).
_CACHE_SNIPPET = r"""
import fcntl, json, os, shutil, stat, sys, time
a = json.loads(sys.argv[1]); w = a["work_dir"]; keep = set(a["keep"]); names = a["layout"]
try:
    lock = os.open(os.path.join(w, names["lock_file"]), os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK, 0o600)
    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
except OSError:
    print(json.dumps({"busy": True})); sys.exit(0)
out = {"files": 0, "bytes": 0, "kept": 0}
def tree(p):
    st = os.lstat(p)
    if not stat.S_ISDIR(st.st_mode):
        return st.st_size
    return sum(tree(os.path.join(p, n)) for n in os.listdir(p))
def drop(p, size):
    if os.path.isdir(p) and not os.path.islink(p):
        shutil.rmtree(p)
    else:
        os.remove(p)
    out["files"] += 1; out["bytes"] += size
blobs = os.path.join(w, names["blob_dir"])
entries = []
for n in (os.listdir(blobs) if os.path.isdir(blobs) else []):
    p = os.path.join(blobs, n); st = os.lstat(p)
    if stat.S_ISREG(st.st_mode):
        entries.append((st.st_mtime, n, p, st.st_size))
now = time.time()
if a["limit"] is None:
    for m, n, p, size in entries:
        young_partial = n.startswith(names["partial_prefix"]) and now - m < a["stale_s"] and not a["all"]
        if p in keep or young_partial:
            out["kept"] += size
        else:
            drop(p, size)
    compiled = os.path.join(w, names["cache_dir"])
    if os.path.isdir(compiled) and not os.path.islink(compiled):
        for n in os.listdir(compiled):
            p = os.path.join(compiled, n)
            if p not in keep:
                drop(p, tree(p))
else:
    total = sum(e[3] for e in entries)
    for m, n, p, size in sorted(entries):
        if total <= a["limit"]:
            break
        if p not in keep and not n.startswith(names["partial_prefix"]):
            drop(p, size); total -= size
    out["kept"] = total
print(json.dumps(out))
"""
STALE_PARTIAL_S = 15 * 60  # `clean` leaves younger partial uploads alone (another host may be writing them)


@dataclass(frozen=True)
class Freed:
    """What a clean or an eviction removed, and what stayed."""

    files: int
    bytes: int
    kept_bytes: int

    def text(self) -> str:
        return f"freed {file_size(self.bytes)} in {self.files} files ({file_size(self.kept_bytes)} kept)"


def _run_snippet(transport: Transport, python: str, **args: object) -> Freed | None:
    """The snippet's answer; None when the device is busy (another run holds its lock)."""
    layout = {"blob_dir": BLOB_DIR, "cache_dir": CACHE_DIR, "lock_file": LOCK_FILE, "partial_prefix": PARTIAL_PREFIX}
    done = transport.run([python, "-c", _CACHE_SNIPPET,
                          json.dumps({"work_dir": transport.work_dir, "layout": layout, **args})], timeout=300)
    answer = done.answer()
    if answer is None:
        raise DeviceError(f"device '{transport.device}': cannot clean the work dir ({done.failure()})")
    if answer.get("busy"):
        return None
    return Freed(int(answer["files"]), int(answer["bytes"]), int(answer["kept"]))


def evict_blobs(transport: Transport, python: str, limit_bytes: int, keep: set[str]) -> Freed:
    """Remove the least recently used blobs until at most `limit_bytes` remain; `keep` (paths) and partial
    uploads stay. A busy device (another run holds the lock) is left alone."""
    freed = _run_snippet(transport, python, keep=sorted(keep), limit=limit_bytes, all=False, stale_s=STALE_PARTIAL_S)
    return freed or Freed(0, 0, 0)


def clean_cache(transport: Transport, python: str, keep: set[str], *, everything: bool) -> Freed | None:
    """Remove every blob, stale partial upload (with `everything`, young ones too) and compiled cache but `keep`
    (paths); None when the device is busy (another run holds its lock) and nothing was removed."""
    return _run_snippet(transport, python, keep=sorted(keep), limit=None, all=everything, stale_s=STALE_PARTIAL_S)
