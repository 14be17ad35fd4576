"""A built image as one file, so a team builds once: a tar of its files plus their SHA-256 sums, checked on import."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import tarfile
from pathlib import Path

from edgeprof.emulate.image import FILES, Image, built_image, image_for
from edgeprof.emulate.paths import images_dir
from edgeprof.emulate.recipe import Recipe, recipe_for
from edgeprof.errors import ConfigError

MANIFEST = "manifest.json"
SUMS = "SHA256SUMS"  # `sha256sum -c` reads it too
MEMBERS = (*FILES, MANIFEST)
PRIVATE = 0o600  # the file holds the image's client key
CHUNK = 1 << 20


def export_image(recipe: Recipe, out: Path) -> Image:
    """Write the recipe's built image to out (atomically, mode 600); a missing image is a ConfigError."""
    image = built_image(recipe)
    write_export(image, out)
    return image


def write_export(image: Image, out: Path) -> None:
    """Write an image directory's files and their sums to out, atomically, mode 600."""
    partial = out.with_name(f".{out.name}.partial")
    sums = []
    try:
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE)
        with os.fdopen(fd, "wb") as raw, tarfile.open(fileobj=raw, mode="w") as tar:
            for name in MEMBERS:
                sums.append(f"{_add(tar, image.dir / name, name)}  {name}\n")
            _add_bytes(tar, SUMS, "".join(sums).encode())
        partial.replace(out)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise ConfigError(f"cannot write {out}: {exc.strerror or exc}") from exc


def import_image(src: Path) -> tuple[Image, bool]:
    """Unpack an exported image into the cache after checking every file's sum and its recipe's key.

    Returns the image and whether the cache already had it (then it is kept as it is). Any mismatch, a truncated
    or foreign file, or an image this edgeprof's recipe would not build is a ConfigError and leaves the cache as
    it was.
    """
    staging = images_dir() / f".import-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        got, declared = _unpack(src, staging)
        _verify(src, got, declared)
        image = _image_of(staging / MANIFEST, src)
        cached = image.complete()
        if not cached:
            (staging / SUMS).unlink()
            shutil.rmtree(image.dir, ignore_errors=True)
            staging.rename(image.dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return image, cached


def _unpack(src: Path, dest: Path) -> tuple[dict[str, str], dict[str, str]]:
    """Extract the known members (regular files only) hashing them; returns (sums seen, sums declared)."""
    got: dict[str, str] = {}
    try:
        with tarfile.open(src, mode="r:") as tar:
            for member in tar:
                if member.name not in (*MEMBERS, SUMS) or not member.isfile() or member.name in got:
                    raise ConfigError(f"{src} is not an edgeprof image export: unexpected member '{member.name}'")
                got[member.name] = _extract(tar, member, dest / member.name)
    except FileNotFoundError as exc:
        raise ConfigError(f"no such file: {src}") from exc
    except (tarfile.TarError, EOFError) as exc:
        raise ConfigError(f"{src} is not a complete edgeprof image export ({exc})") from exc
    except OSError as exc:
        raise ConfigError(f"cannot read {src}: {exc.strerror or exc}") from exc
    if SUMS not in got:
        raise ConfigError(f"{src} is not a complete edgeprof image export: no {SUMS}")
    declared = {}
    for line in (dest / SUMS).read_text(errors="replace").splitlines():
        digest, _, name = line.partition("  ")
        declared[name] = digest
    return got, declared


def _verify(src: Path, got: dict[str, str], declared: dict[str, str]) -> None:
    """Every member there, each with its declared sum; the first difference is the error."""
    for name in MEMBERS:
        if name not in got:
            raise ConfigError(f"{src} is not a complete edgeprof image export: no {name}")
        if declared.get(name) != got[name]:
            raise ConfigError(f"{src}: checksum mismatch for {name} (declared {declared.get(name, 'nothing')}, "
                              f"file has {got[name]}): the export is corrupt, export it again")


def _image_of(manifest: Path, src: Path) -> Image:
    """The cache entry an export's manifest names, if this edgeprof's recipe of that name has its key."""
    try:
        data = json.loads(manifest.read_text())
        name, key = str(data["recipe"]), str(data["key"])
    except (ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"{src}: its {MANIFEST} names no recipe and key") from exc
    image = image_for(recipe_for(name))
    if key != image.key:
        raise ConfigError(f"{src} holds the {name} image of key {key}, this edgeprof builds key {image.key} "
                          f"(another recipe or edgeprof version): build it, or export it from a matching edgeprof")
    return image


def _add(tar: tarfile.TarFile, path: Path, name: str) -> str:
    """Add one file under name (mode kept, owner dropped); return its SHA-256, read in the same pass."""
    info = tar.gettarinfo(str(path), arcname=name)
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        tar.addfile(info, _Hashing(f, digest))
    return digest.hexdigest()


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    tar.addfile(info, io.BytesIO(data))


def _extract(tar: tarfile.TarFile, member: tarfile.TarInfo, out: Path) -> str:
    """Copy one member to out with its mode (never setuid, never group/other-writable); return its SHA-256."""
    src = tar.extractfile(member)
    assert src is not None  # a regular file
    digest = hashlib.sha256()
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, member.mode & 0o755)
    with os.fdopen(fd, "wb") as f:
        while chunk := src.read(CHUNK):
            digest.update(chunk)
            f.write(chunk)
    return digest.hexdigest()


class _Hashing(io.RawIOBase):
    """A file wrapper that hashes what tarfile reads from it."""

    def __init__(self, f: io.BufferedReader, digest: "hashlib._Hash") -> None:
        self._f, self._digest = f, digest

    def read(self, size: int = -1) -> bytes:
        data = self._f.read(size)
        self._digest.update(data)
        return data
