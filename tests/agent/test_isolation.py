"""The agent stays tiny: it runs with only the stdlib, numpy, psutil and one runtime on the path."""

from __future__ import annotations

import re
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest

from tests.agent.conftest import run_agent, spec_for
from tests.agent.tflite_models import add_relu

ALLOWED_DIRECT = {"numpy", "psutil", "onnxruntime", "ai-edge-litert"}
# Optional imports that are tried and fail (importtime lists them too): the stdlib's Jython probe in
# copy/pickle, and LiteRT's probe for its optional Intel NPU SDK.
STDLIB_PROBES = {"org", "ai_edge_litert_sdk_intel"}


def _requirements(dist: str, seen: set[str]) -> set[str]:
    """The distribution and everything it requires, recursively (markers for extras skipped)."""
    name = dist.lower().replace("_", "-")
    if name in seen:
        return seen
    try:
        meta = metadata.distribution(name)
    except metadata.PackageNotFoundError:
        return seen
    seen.add(name)
    for requirement in meta.requires or []:
        if "extra ==" in requirement:
            continue
        _requirements(re.split(r"[ ;<>=!~\[(]", requirement, maxsplit=1)[0], seen)
    return seen


def _top_level(dist: str) -> set[str]:
    """The importable top-level names a distribution installs."""
    files = metadata.distribution(dist).files or []
    names = set()
    for file in files:
        first = file.parts[0]
        if first.endswith((".dist-info", ".data")) or first == "..":
            continue
        names.add(first[:-3] if first.endswith(".py") else first)
    return names


def bare_site(root: Path, dists: tuple[str, ...] | set[str]) -> set[str]:
    """Fill `root` with links to `dists` and what they require, nothing else (each a package folder or a single
    module such as typing_extensions.py): the top-level module names it holds."""
    root.mkdir(exist_ok=True)
    found: set[str] = set()
    for dist in dists:
        _requirements(dist, found)
    modules: set[str] = set()
    for dist in found:
        location = Path(str(metadata.distribution(dist).locate_file("")))
        for name in _top_level(dist):
            source = next((location / n for n in (name, f"{name}.py") if (location / n).exists()), None)
            if source is not None and not (root / source.name).exists():
                (root / source.name).symlink_to(source)
                modules.add(name.split(".")[0])
    assert "edgeprof" not in modules
    return modules


def agent_imports(spec: dict[str, Any], root: Path, timeout: float = 120) -> set[str]:
    """The top-level modules the agent imports running `spec` under `python -S -X importtime` with only `root` on its
    path (a bare_site)."""
    run = run_agent(spec, python=[sys.executable, "-S", "-X", "importtime"],
                    env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"}, timeout=timeout)
    assert run.final["event"] == "result", run.final
    imported = {line.split("|")[-1].strip().split(".")[0] for line in run.stderr.splitlines()
                if line.startswith("import time:")}
    imported.discard("imported package")
    return imported


@pytest.fixture(scope="module")
def bare_path(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, set[str]]:
    """A directory holding only the allowed packages and what they need (symlinks), and their module names."""
    root = tmp_path_factory.mktemp("bare-site")
    modules = bare_site(root, ALLOWED_DIRECT)
    assert "paramiko" not in modules and "scipy" not in modules
    return root, modules


@pytest.mark.parametrize("fmt", ["onnx", "tflite"])
def test_agent_imports_only_stdlib_numpy_psutil_and_the_runtime(
    bare_path: tuple[Path, set[str]], models: dict[str, Path], tmp_path: Path, fmt: str
) -> None:
    root, allowed = bare_path
    model, runtime = (models["mlp"], "onnxruntime") if fmt == "onnx" else (add_relu(tmp_path / "m.tflite"), "ai_edge_litert")
    spec = spec_for(model, power={"method": "estimate", "idle_w": 1.0, "max_w": 2.0, "seconds": 0.2,
                                          "idle_seconds": 0.1})
    imported = agent_imports(spec, root)
    foreign = sorted(imported - set(sys.stdlib_module_names) - allowed - STDLIB_PROBES - {"edgeprof_agent", "__main__", ""})
    assert not foreign, f"the agent imported modules outside stdlib/numpy/psutil/runtime: {foreign}"
    assert "numpy" in imported and runtime in imported


def test_agent_source_never_imports_edgeprof_host_modules() -> None:
    agent_dir = Path(__file__).resolve().parents[2] / "edgeprof" / "agent"
    for path in agent_dir.rglob("*.py"):
        text = path.read_text()
        assert not re.search(r"^\s*(from|import)\s+edgeprof\b", text, re.MULTILINE), path
