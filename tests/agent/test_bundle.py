"""The agent zipapp is deterministic, named by its content, cached, and holds only the agent's sources."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from edgeprof import agent_bundle


def test_same_source_same_bytes_and_name(tmp_path: Path) -> None:
    first = agent_bundle.build_agent(tmp_path / "a")
    second = agent_bundle.build_agent(tmp_path / "b")
    assert first.sha256 == second.sha256 and first.path.read_bytes() == second.path.read_bytes()
    assert first.path.name == f"agent-{first.sha256[:16]}.pyz" and first.size == first.path.stat().st_size


def test_a_cached_bundle_is_not_rewritten(tmp_path: Path) -> None:
    bundle = agent_bundle.build_agent(tmp_path)
    stamp = bundle.path.stat().st_mtime_ns
    assert agent_bundle.build_agent(tmp_path).path.stat().st_mtime_ns == stamp
    assert [p.name for p in tmp_path.iterdir()] == [bundle.path.name]  # no temporary files left behind


def test_threads_building_at_once_leave_one_whole_bundle(tmp_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(8) as pool:
        built = list(pool.map(lambda _: agent_bundle.build_agent(tmp_path), range(8)))
    assert len({b.sha256 for b in built}) == 1 and [p.name for p in tmp_path.iterdir()] == [built[0].path.name]
    assert hashlib.sha256(built[0].path.read_bytes()).hexdigest() == built[0].sha256


def test_entries_are_sources_only_with_fixed_stamps(tmp_path: Path) -> None:
    with zipfile.ZipFile(agent_bundle.build_agent(tmp_path).path) as archive:
        infos = archive.infolist()
    names = [i.filename for i in infos]
    assert names[0] == "__main__.py" and names[1:] == sorted(names[1:])
    assert all(n.endswith(".py") and "__pycache__" not in n for n in names)
    assert f"{agent_bundle.PACKAGE}/probes/latency.py" in names and f"{agent_bundle.PACKAGE}/__main__.py" in names
    assert {i.date_time for i in infos} == {(1980, 1, 1, 0, 0, 0)}


def test_a_source_change_changes_the_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    copy = tmp_path / "agent"
    shutil.copytree(agent_bundle.AGENT_SOURCE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(agent_bundle, "AGENT_SOURCE", copy)
    before = agent_bundle.build_agent(tmp_path / "cache")
    (copy / "probes" / "__pycache__").mkdir(exist_ok=True)
    (copy / "probes" / "__pycache__" / "latency.cpython-311.pyc").write_bytes(b"compiled")
    assert agent_bundle.build_agent(tmp_path / "cache").sha256 == before.sha256  # caches never count
    (copy / "stats.py").write_text((copy / "stats.py").read_text() + "\n# changed\n")
    after = agent_bundle.build_agent(tmp_path / "cache")
    assert after.sha256 != before.sha256 and after.path != before.path


def _doctor(bundle: agent_bundle.AgentBundle, *options: str, env: dict[str, str] | None = None) -> dict:
    import json

    run = subprocess.run([sys.executable, str(bundle.path), *options, "--doctor"], capture_output=True, text=True,
                         timeout=60, env=env)
    assert run.returncode == 0, run.stderr
    facts = json.loads(run.stdout)
    return {key: facts[key] for key in ("python", "machine", "numpy")}


def test_unpacked_once_so_that_python_caches_its_bytecode(tmp_path: Path) -> None:
    bundle = agent_bundle.build_agent(tmp_path / "cache")
    into = tmp_path / "compiled" / bundle.unpacked_name
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    assert _doctor(bundle, agent_bundle.UNPACK_OPTION, str(into), env=env) == _doctor(bundle)
    assert (into / agent_bundle.PACKAGE / "probes" / "system.py").is_file()
    assert list((into / agent_bundle.PACKAGE / "__pycache__").glob("__main__.*.pyc"))  # imported from there
    assert not [p for p in into.parent.iterdir() if p != into]  # no partial unpacking left behind
    stamp = (into / agent_bundle.PACKAGE / "run.py").stat().st_mtime_ns
    _doctor(bundle, agent_bundle.UNPACK_OPTION, str(into))
    assert (into / agent_bundle.PACKAGE / "run.py").stat().st_mtime_ns == stamp  # not unpacked again


def test_a_folder_that_cannot_be_written_runs_from_the_zip(tmp_path: Path) -> None:
    bundle = agent_bundle.build_agent(tmp_path / "cache")
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    assert _doctor(bundle, agent_bundle.UNPACK_OPTION, str(blocked / "agent")) == _doctor(bundle)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file", "cache"]  # no partial unpacking left behind


def test_a_blob_whose_bytes_no_longer_match_its_name_refuses_to_run(tmp_path: Path) -> None:
    import json

    bundle = agent_bundle.build_agent(tmp_path / "cache")
    blob = tmp_path / "blobs" / f"{bundle.sha256}.pyz"
    blob.parent.mkdir()
    data = bytearray(bundle.path.read_bytes())
    blob.write_bytes(data)
    assert _doctor(bundle) == _doctor(agent_bundle.AgentBundle(blob, bundle.sha256, bundle.size))  # intact: runs
    data[len(data) // 2] ^= 0xFF  # one byte flipped, same size: what a size check lets through
    blob.write_bytes(data)
    into = tmp_path / "compiled" / bundle.unpacked_name
    run = subprocess.run([sys.executable, str(blob), agent_bundle.UNPACK_OPTION, str(into)], input="{}\n",
                         capture_output=True, text=True, timeout=60)
    events = [json.loads(line) for line in run.stdout.splitlines()]
    assert run.returncode == 1 and [e["event"] for e in events] == ["hello", "error"], run.stderr
    assert events[1]["kind"] == "integrity" and "does not match its sha256" in events[1]["message"]
    assert not into.exists()  # nothing of it was unpacked


def _old_pythons() -> list[str]:
    """Pythons older than 3.8 that actually run here (pyenv shims of uninstalled versions do not)."""
    candidates = [found for found in map(shutil.which, ("python3.7", "python3.6", "python2.7")) if found] + [
        str(p) for p in sorted(Path(os.environ.get("PYENV_ROOT", "~/.pyenv")).expanduser().glob(
            "versions/[23].[0-7].*/bin/python"))]
    return [c for c in candidates if subprocess.run([c, "-c", "pass"], capture_output=True).returncode == 0]


OLD_PYTHONS = _old_pythons()


@pytest.mark.skipif(not OLD_PYTHONS, reason="no Python older than 3.8 on this machine")
def test_a_too_old_python_gets_one_clear_line(tmp_path: Path) -> None:
    import json

    bundle = agent_bundle.build_agent(tmp_path)
    old = OLD_PYTHONS[0]
    run = subprocess.run([old, str(bundle.path)], input="{}\n", capture_output=True, text=True, timeout=60)
    events = [json.loads(line) for line in run.stdout.splitlines()]
    assert run.returncode == 1 and [e["event"] for e in events] == ["hello", "error"]
    assert events[1]["kind"] == "runtime_missing" and "is too old for the edgeprof agent (needs 3.8" in events[1]["message"]
    doctor = subprocess.run([old, str(bundle.path), "--doctor"], capture_output=True, text=True, timeout=60)
    assert "too old" in json.loads(doctor.stdout)["error"] and json.loads(doctor.stdout)["python"].startswith(("2", "3"))
