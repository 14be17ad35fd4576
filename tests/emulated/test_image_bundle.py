"""The image as a CI citizen: its cache key on stdout, and export/import as one checksummed file."""

from __future__ import annotations

import json
import os
import re
import stat
import tarfile
from pathlib import Path

import pytest

from edgeprof.emulate import bundle, image, recipe
from tests.emulated.support import edgeprof

PI4 = recipe.RECIPES["qemu-pi4"]


@pytest.fixture(autouse=True)
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private EDGEPROF_CACHE for every test."""
    monkeypatch.setenv("EDGEPROF_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def built(img: image.Image) -> dict[str, bytes]:
    """A finished image's files with distinct random contents and a real manifest; returns what was written."""
    img.dir.mkdir(parents=True)
    files = {name: os.urandom(4096 + i) for i, name in enumerate(image.FILES)}
    files["manifest.json"] = json.dumps({"recipe": img.name, "key": img.key}).encode()
    for name, data in files.items():
        (img.dir / name).write_bytes(data)
    (img.dir / "id_ed25519").chmod(0o600)
    return files


def move_cache(monkeypatch: pytest.MonkeyPatch, to: Path) -> image.Image:
    """Point EDGEPROF_CACHE elsewhere (another machine's empty cache); the image as it would be there."""
    monkeypatch.setenv("EDGEPROF_CACHE", str(to))
    return image.image_for(PI4)


def one_error_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("edgeprof: error: "), stderr
    return lines[0]


def test_key_prints_the_cache_entry_name_of_the_recipe() -> None:
    proc = edgeprof("emulate", "key", "qemu-pi4")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == f"{image.image_for(PI4).dir.name}\n"
    assert re.fullmatch(r"qemu-pi4-[0-9a-f]{16}\n", proc.stdout)
    assert edgeprof("emulate", "key", "qemu-pi4-icount").stdout == proc.stdout  # the twin boots the same image


def test_key_of_an_unknown_board_is_a_usage_error() -> None:
    proc = edgeprof("emulate", "key", "qemu-nope")
    assert proc.returncode == 2
    assert "no emulated image for 'qemu-nope'" in one_error_line(proc.stderr)


def test_export_then_import_on_an_empty_cache_gives_the_same_files(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    files = built(image.image_for(PI4))
    out = tmp_path / "qemu-pi4.image"
    proc = edgeprof("emulate", "export", "qemu-pi4", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert stat.S_IMODE(out.stat().st_mode) == 0o600  # it holds the client key
    assert not list(tmp_path.glob(".*partial"))

    there = move_cache(monkeypatch, tmp_path / "elsewhere")
    proc = edgeprof("emulate", "import", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "imported" in proc.stderr
    assert there.complete()
    assert {p.name: p.read_bytes() for p in there.dir.iterdir()} == files
    assert stat.S_IMODE(there.path("id_ed25519").stat().st_mode) == 0o600

    again = edgeprof("emulate", "import", str(out))
    assert again.returncode == 0 and "already in the cache" in again.stderr
    assert sorted(p.name for p in there.dir.parent.iterdir()) == [there.dir.name]  # no staging left


def test_export_without_a_built_image_says_how_to_build_it(tmp_path: Path) -> None:
    proc = edgeprof("emulate", "export", "--out", str(tmp_path / "x.image"))
    assert proc.returncode == 2
    assert "emulate build qemu-pi4" in one_error_line(proc.stderr)
    assert not list(tmp_path.glob("*x.image*"))


def exported(tmp_path: Path) -> Path:
    built(image.image_for(PI4))
    out = tmp_path / "qemu-pi4.image"
    bundle.export_image(PI4, out)
    return out


def refused(src: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    """Import src into an empty cache: it must fail with one line, exit 2, and leave no image behind."""
    there = move_cache(monkeypatch, tmp_path / "elsewhere")
    proc = edgeprof("emulate", "import", str(src))
    assert proc.returncode == 2, proc.stderr
    assert not there.dir.parent.exists() or not list(there.dir.parent.iterdir())
    return one_error_line(proc.stderr)


def test_a_flipped_byte_is_a_checksum_mismatch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = exported(tmp_path)
    data = bytearray(out.read_bytes())
    with tarfile.open(out) as tar:
        member = tar.getmember("rootfs.qcow2")
    data[member.offset_data + 100] ^= 0xFF
    out.write_bytes(bytes(data))
    assert "checksum mismatch for rootfs.qcow2" in refused(out, monkeypatch, tmp_path)


def test_a_truncated_export_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = exported(tmp_path)
    out.write_bytes(out.read_bytes()[:6000])
    assert "not a complete edgeprof image export" in refused(out, monkeypatch, tmp_path)


def test_a_foreign_member_is_refused_before_anything_is_written_outside(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    evil = tmp_path / "evil.tar"
    payload = tmp_path / "payload"
    payload.write_text("x")
    with tarfile.open(evil, "w") as tar:
        tar.add(payload, arcname="../../escaped")
    assert "unexpected member '../../escaped'" in refused(evil, monkeypatch, tmp_path)
    assert not (tmp_path / "escaped").exists()


def test_an_image_of_another_recipe_key_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    other = image.Image(PI4.name, "0123456789abcdef", image.image_for(PI4).dir.with_name("qemu-pi4-0123456789abcdef"))
    built(other)
    out = tmp_path / "old.image"
    bundle.write_export(other, out)  # what an export from another edgeprof version looks like
    line = refused(out, monkeypatch, tmp_path)
    assert f"key 0123456789abcdef, this edgeprof builds key {image.image_for(PI4).key}" in line
