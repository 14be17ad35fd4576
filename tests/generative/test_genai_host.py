"""ONNX Runtime GenAI model folders without onnxruntime-genai: detection by genai_config.json, an identity that
covers every file, a missing file named in one line before anything is sent, and the agent putting a sent folder
together on the device (then saying what to install where the runtime is absent). Runs in the default stage."""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
from pathlib import Path
from typing import Callable

import pytest

from edgeprof.agent.spec import folder_sha256
from edgeprof.artifacts import load_artifact
from edgeprof.errors import ConfigError
from tests.agent.conftest import run_agent, spec_for
from tests.agent.test_runtime_missing import numpy_only  # noqa: F401 - the fixture
from tests.faults.test_bad_input_cli import one_error_line, run_cli
from tests.generative.genai_folder import genai_folder

FILES = ["genai_config.json", "model.onnx", "model.onnx.data", "tokenizer.json", "tokenizer_config.json"]


@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    return genai_folder(tmp_path / "tiny-llama-fp32")


def test_a_genai_folder_is_one_model_whose_identity_covers_every_file(folder: Path) -> None:
    artifact = load_artifact(folder)
    assert (artifact.format, artifact.name, artifact.variant) == ("genai", "tiny-llama", "fp32")
    assert artifact.inputs == [] and artifact.outputs == [] and artifact.device_copy is None
    assert [d.location for d in artifact.data_files] == FILES
    assert artifact.size_bytes == sum((folder / name).stat().st_size for name in FILES)
    digests = [(name, hashlib.sha256((folder / name).read_bytes()).hexdigest()) for name in FILES]
    assert artifact.sha256 == folder_sha256(digests)
    seen = {artifact.sha256}
    with (folder / "tokenizer.json").open("a") as fh:  # one byte of a tokenizer file
        fh.write(" ")
    seen.add(load_artifact(folder).sha256)
    (folder / "README.md").write_text("notes\n")  # a file more: it is sent too
    seen.add(load_artifact(folder).sha256)
    (folder / "README.md").rename(folder / "NOTES.md")  # the same bytes under another name
    seen.add(load_artifact(folder).sha256)
    assert len(seen) == 4


def _without(name: str) -> Callable[[Path], None]:
    return lambda folder: (folder / name).unlink()


def _naming(decoder: str) -> Callable[[Path], None]:
    def change(folder: Path) -> None:
        config = folder / "genai_config.json"
        config.write_text(config.read_text().replace('"model.onnx"', f'"{decoder}"'))
    return change


@pytest.mark.parametrize(("change", "needles"), [
    (_without("model.onnx.data"), ("has no file model.onnx.data", "model.onnx keeps initializer 'w' in it")),
    (_without("model.onnx"), ("has no file model.onnx", "genai_config.json names it")),
    (_naming("decoder.onnx"), ("has no file decoder.onnx", "genai_config.json names it")),
    (_naming("../decoder.onnx"), ("not an ONNX Runtime GenAI config", "'../decoder.onnx', outside its folder")),
    (_without("tokenizer_config.json"), ("has no file tokenizer_config.json", "reads the tokenizer from it")),
    (_without("genai_config.json"), ("is a directory without genai_config.json",)),
], ids=["external-data", "decoder", "renamed-decoder", "outside", "tokenizer", "config"])
def test_a_missing_file_is_one_line_before_anything_is_sent(folder: Path, tmp_path: Path,
                                                             change: Callable[[Path], None],
                                                             needles: tuple[str, ...]) -> None:
    change(folder)
    with pytest.raises(ConfigError):
        load_artifact(folder)
    cache = tmp_path / "cache"  # the local device's work dir is <cache>/local
    proc = run_cli("deploy", "-m", folder, "--store", tmp_path / "r.db", env={"EDGEPROF_CACHE": str(cache)})
    one_error_line(proc, 2, str(folder), *needles)
    assert not (cache / "local").exists() and not (tmp_path / "r.db").exists()  # nothing sent, nothing stored


def _sent(folder: Path, blobs: Path) -> list[dict[str, str]]:
    """The folder's files as the host sends them: blobs named by their sha256, each with its name in the folder."""
    blobs.mkdir()
    parts = []
    for entry in sorted(folder.iterdir()):
        digest = hashlib.sha256(entry.read_bytes()).hexdigest()
        shutil.copyfile(entry, blobs / f"{digest}.data")
        parts.append({"path": str(blobs / f"{digest}.data"), "sha256": digest, "name": entry.name})
    return parts


def _folder_spec(path: Path, parts: list[dict[str, str]], sha256: str) -> dict[str, object]:
    spec = spec_for(Path(__file__))
    spec["model"] = {"path": str(path), "format": "genai", "sha256": sha256, "external_data": parts}
    return spec


def test_the_agent_puts_a_sent_folder_together_then_names_what_to_install(
        folder: Path, tmp_path: Path, numpy_only: Path) -> None:  # noqa: F811
    parts = _sent(folder, tmp_path / "blobs")
    target = tmp_path / "compiled" / "model-0123456789abcdef"
    identity = folder_sha256([(p["name"], p["sha256"]) for p in parts])
    run = run_agent(_folder_spec(target, parts, identity), python=[sys.executable, "-S"],
                    env={"PYTHONPATH": str(numpy_only), "PATH": "/usr/bin:/bin"})
    assert run.code == 1 and run.final["event"] == "error", run.final
    assert (run.final["kind"], run.final["stage"]) == ("runtime_missing", "load")
    assert "pip install onnxruntime-genai" in run.final["message"]
    assert sorted(os.listdir(target)) == FILES
    for part in parts:
        link = target / part["name"]
        assert link.is_symlink() and os.readlink(link) == part["path"]
        assert link.read_bytes() == (folder / part["name"]).read_bytes()


@pytest.mark.parametrize(("tamper", "message"), [
    (lambda parts: parts[1].update(name="decoder.onnx"), "do not make up the model the host sent"),
    (lambda parts: parts[2].update(sha256="0" * 64), "does not match its sha256"),
], ids=["renamed", "corrupted"])
def test_a_folder_whose_files_differ_from_what_the_host_sent_is_refused(
        folder: Path, tmp_path: Path, tamper: Callable[[list[dict[str, str]]], None], message: str) -> None:
    parts = _sent(folder, tmp_path / "blobs")
    identity = folder_sha256([(p["name"], p["sha256"]) for p in parts])
    tamper(parts)
    target = tmp_path / "compiled" / "model-0123456789abcdef"
    run = run_agent(_folder_spec(target, parts, identity))
    assert (run.final["event"], run.final["kind"]) == ("error", "integrity"), run.final
    assert message in run.final["message"] and not target.exists()


def test_the_agent_replaces_only_a_folder_of_links_it_made(folder: Path, tmp_path: Path) -> None:
    parts = _sent(folder, tmp_path / "blobs")
    target = tmp_path / "compiled" / "model-0123456789abcdef"
    target.mkdir(parents=True)
    (target / "notes.txt").write_text("someone's file\n")
    run = run_agent(_folder_spec(target, parts, folder_sha256([(p["name"], p["sha256"]) for p in parts])))
    assert (run.final["event"], run.final["kind"]) == ("error", "model_load"), run.final
    assert "not removed" in run.final["message"]
    assert os.listdir(target) == ["notes.txt"] and (target / "notes.txt").read_text() == "someone's file\n"
