"""A model folder (ONNX Runtime GenAI) put together on the device: its files arrive as blobs, each named by its
sha256; the folder holds a link to each under the name the model's files use for it (genai_config.json names
model.onnx, model.onnx names model.onnx.data)."""

from __future__ import annotations

import os
import shutil

from .spec import PARTIAL_PREFIX, AgentFailure, ErrorKind, SentFile, Stage


def assemble(path: str, files: tuple[SentFile, ...]) -> None:
    """Make `path` a folder of links, one per file under its `name`, to the blob it arrived as; a folder that
    already holds exactly these links is kept (the device lock keeps other runs out meanwhile). Only a folder of
    links is ever replaced: anything else at `path` is refused, never removed."""
    wanted = {str(part.name): os.path.abspath(part.path) for part in files}
    if _links(path) == wanted:
        return
    parent, base = os.path.split(os.path.abspath(path))
    partial = os.path.join(parent, PARTIAL_PREFIX + base)
    try:
        os.makedirs(parent, exist_ok=True)
        _clear(partial)
        os.mkdir(partial)
        for name, target in wanted.items():
            os.symlink(target, os.path.join(partial, name))
        _clear(path)
        os.rename(partial, path)
    except OSError as exc:
        raise AgentFailure(ErrorKind.MODEL_LOAD, f"cannot put the model folder together at {path}: "
                           f"{exc.strerror or exc}", Stage.LOAD) from exc


def _links(path: str) -> dict[str, str] | None:
    """The folder's links by name and where each points; None when it is not a folder of links only."""
    if os.path.islink(path) or not os.path.isdir(path):
        return None
    found = {}
    for name in os.listdir(path):
        entry = os.path.join(path, name)
        if not os.path.islink(entry):
            return None
        found[name] = os.readlink(entry)
    return found


def _clear(path: str) -> None:
    """Remove the folder of links at `path`, if there is one; AgentFailure for anything else there."""
    if not os.path.lexists(path):
        return
    if _links(path) is None:
        raise AgentFailure(ErrorKind.MODEL_LOAD, f"cannot put the model folder together at {path}: something "
                           "other than a folder of links edgeprof made is there (not removed)", Stage.LOAD)
    shutil.rmtree(path)
