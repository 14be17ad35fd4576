"""A model folder (ONNX Runtime GenAI) put together on the device: its files arrive as blobs, each named by its
sha256; the folder holds a link to each under the name the model's files use for it (genai_config.json names
model.onnx, model.onnx names model.onnx.data)."""

from __future__ import annotations

import os
import shutil

from .spec import PARTIAL_PREFIX, AgentFailure, ErrorKind, SentFile, Stage


def assemble(path: str, files: tuple[SentFile, ...]) -> None:
    """Make `path` a folder of links, one per file under its `name`, to the blob it arrived as; a folder that
    already holds exactly these links is kept (the device lock keeps other runs out meanwhile)."""
    wanted = {str(part.name): os.path.abspath(part.path) for part in files}
    if _links(path) == wanted:
        return
    parent, base = os.path.split(os.path.abspath(path))
    partial = os.path.join(parent, PARTIAL_PREFIX + base)
    try:
        os.makedirs(parent, exist_ok=True)
        _remove(partial)
        os.mkdir(partial)
        for name, target in wanted.items():
            os.symlink(target, os.path.join(partial, name))
        _remove(path)
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


def _remove(path: str) -> None:
    """Remove a file, link or folder at `path` (a link is removed, never followed), if there is one."""
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    elif os.path.lexists(path):
        os.remove(path)
