"""A manifest.json is data, not a path: a model name that leads out of --out, or a manifest of the wrong shape, is
one line and exit 2, and nothing is written anywhere; quantize and plot into a read-only folder are one line too."""

from __future__ import annotations

import hashlib
import json
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from edgeprof.store import open_store
from tests.support import DIGITS
from tests.verdicts.factory import make

FP32 = DIGITS / "digits-fp32.onnx"
DIGEST = hashlib.sha256(FP32.read_bytes()).hexdigest()


def edgeprof(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "edgeprof", *map(str, args)], capture_output=True, text=True,
                          timeout=180, cwd=cwd)


def model_with_manifest(folder: Path, manifest: bytes) -> Path:
    folder.mkdir(parents=True)
    model = folder / "digits-fp32.onnx"
    shutil.copyfile(FP32, model)
    (folder / "manifest.json").write_bytes(manifest)
    return model


def entry(**fields: object) -> bytes:
    fitting = {"path": "digits-fp32.onnx", "sha256": DIGEST, "variant": "fp32", **fields}
    return json.dumps({"models": [fitting]}).encode()


def files_under(folder: Path) -> set[Path]:
    return {p for p in folder.rglob("*") if p.is_file()}


@pytest.mark.parametrize("name", ["../../escaped", "/ABSOLUTE/escaped", "..", "a\\b", "x\x1b[31m"])
def test_a_model_name_that_leads_out_of_out_is_refused(tmp_path: Path, name: str) -> None:
    name = name.replace("/ABSOLUTE", str(tmp_path))
    model = model_with_manifest(tmp_path / "src" / "m", entry(model=name))
    before = files_under(tmp_path)
    sweep = ["sweep", model, "--variants", "int8-dynamic", "--out", tmp_path / "src" / "m" / "out", "--store",
             tmp_path / "r.db"]  # the same naming as quantize: tried once
    for command in (["quantize", model, "--variants", "int8-dynamic", "--out", tmp_path / "src" / "m" / "out"],
                    *([sweep] if name.startswith("../") else [])):
        proc = edgeprof(*command, cwd=tmp_path)
        assert proc.returncode == 2, proc.stderr
        (line,) = proc.stderr.splitlines()
        assert line.startswith("edgeprof: error:") and "is not a plain name" in line and "\x1b" not in line
    assert files_under(tmp_path) == before


@pytest.mark.parametrize(("manifest", "words"), [
    (b'{"models": 5}', "not a valid edgeprof manifest"),
    (b'[1, 2]', "not a valid edgeprof manifest"),
    (b'{"models": [5]}', "not a valid edgeprof manifest"),
    (entry(variant=["fp32", "int8"]), "variant ['fp32', 'int8'] is not a plain name"),
    (entry(model={"a": 1}), "is not a plain name"),
    (b'{"models": [{"model": "\xff\xfe"}]}', "not a valid edgeprof manifest"),
])
def test_a_manifest_of_the_wrong_shape_is_one_line(tmp_path: Path, manifest: bytes, words: str) -> None:
    model = model_with_manifest(tmp_path / "m", manifest)
    for command in (["quantize", model, "--variants", "fp16", "--out", tmp_path / "out"],
                    ["deploy", "--model", model, "--store", tmp_path / "r.db"]):
        proc = edgeprof(*command, cwd=tmp_path)
        assert proc.returncode == 2, proc.stderr
        (line,) = proc.stderr.splitlines()
        assert line.startswith("edgeprof: error:") and words in line
    assert not (tmp_path / "out").exists() and not (tmp_path / "r.db").exists()


def read_only(folder: Path, *args: str | Path) -> subprocess.CompletedProcess[str]:
    """`edgeprof ARGS` with `folder` mounted read-only, in a private user and mount namespace."""
    if not shutil.which("unshare") or subprocess.run(["unshare", "-rm", "true"], capture_output=True,
                                                      timeout=30).returncode != 0:
        pytest.skip("no user namespaces here (unshare -rm): a read-only mount cannot be made")
    where = shlex.quote(str(folder))
    command = (f"mount --bind {where} {where} && mount -o remount,bind,ro {where} && exec "
               + shlex.join([sys.executable, "-m", "edgeprof", *map(str, args)]))
    return subprocess.run(["unshare", "-rm", "sh", "-c", command], capture_output=True, text=True, timeout=180)


def test_quantize_and_plot_into_a_read_only_folder_are_one_line(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    (folder / "existing").mkdir(parents=True)
    store = tmp_path / "r.db"
    with open_store(store) as db:
        db.save_run([make()], command="test")
    for args, words in ((["quantize", FP32, "--variants", "fp16", "--out", folder / "new"], "cannot create"),
                        (["quantize", FP32, "--variants", "fp16", "--out", folder / "existing"], "cannot write"),
                        (["plot", "--store", store, "--out", folder / "existing"], "cannot write")):
        proc = read_only(folder, *args)
        assert proc.returncode == 2, proc.stderr
        (line,) = proc.stderr.splitlines()
        assert line.startswith("edgeprof: error: --out:") and words in line
