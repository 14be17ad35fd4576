"""The built wheel works on its own: installed into a fresh venv and run away from the checkout.

The wheel is built (with build isolation, as `pip wheel .` does) from a copy of what it packages, links kept
(edgeprof/docs and edgeprof/sample are links to the repository's docs/ and models/digits/), so the checkout gets
no build/ leftovers. The fresh venv borrows this venv's site-packages for the dependencies
through a .pth line (whose directory's own .pth files, the editable install among them, are not run), so
the checkout is never importable there.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path

import pytest

from edgeprof.emulate.image import image_for
from edgeprof.emulate.recipe import recipe_for

REPO = Path(__file__).resolve().parents[2]
SOURCES = ("pyproject.toml", "README.md", "LICENSE", "edgeprof", "docs", "models/digits")
MODEL = REPO / "models" / "digits" / "digits-fp32.onnx"
FAST = ["--min-runs", "20", "--max-runs", "300", "--min-seconds", "0.2", "--max-seconds", "1", "--power-seconds", "0.5"]
SHIPPED = {"local", "pi4", "pi5", "jetson-nano", "jetson-orin-nano", "intel-edge", "qemu-pi4", "qemu-pi4-icount"}


@dataclass(frozen=True)
class Installed:
    """A fresh venv holding only the wheel, and a scratch directory outside the checkout to run it from."""

    venv: Path
    work: Path
    env: dict[str, str]

    def run(self, *argv: str, timeout: float = 60, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        """Run a command of the venv's bin/ (edgeprof, python) in the scratch directory (or `cwd`)."""
        return subprocess.run([str(self.venv / "bin" / argv[0]), *argv[1:]], cwd=cwd or self.work, env=self.env,
                              capture_output=True, text=True, timeout=timeout)


def _pip(*argv: str) -> None:
    done = subprocess.run([sys.executable, "-m", "pip", "--disable-pip-version-check", *argv],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    root = tmp_path_factory.mktemp("wheel")
    src = root / "src"
    src.mkdir()
    for name in SOURCES:
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, src / name, symlinks=True, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(REPO / name, src / name)
    _pip("wheel", "--no-deps", "-q", "-w", str(root / "dist"), str(src))
    (wheel,) = (root / "dist").glob("edgeprof-*.whl")

    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=60)
    python = venv / "bin" / "python"
    _pip("--python", str(python), "install", "--no-deps", "-q", str(wheel))
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    deps = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (Path(purelib) / "outer-venv-deps.pth").write_text("".join(f"{d}\n" for d in sorted(deps)))

    work = root / "work"
    (work / "home").mkdir(parents=True)
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "EDGEPROF_CACHE", "EDGEPROF_DEVICE_PATH", "EDGEPROF_STORE")}
    env["HOME"] = str(work / "home")  # no user profiles, a fresh cache
    return Installed(venv, work, env)


def test_the_package_and_its_data_come_from_the_venv(installed: Installed) -> None:
    probe = ("import json, importlib.metadata as m, edgeprof, edgeprof.devices as d, edgeprof.emulate.recipe as r,"
             " edgeprof.emulate.image as i;"
             "print(json.dumps([edgeprof.__file__, str(d.BUILTIN_DIR), str(r.SCRIPT),"
             " i.image_for(r.recipe_for('qemu-pi4')).key, m.metadata('edgeprof')['License-Expression']]))")
    done = installed.run("python", "-c", probe)
    assert done.returncode == 0, done.stderr
    module, profiles, script, key, license_ = json.loads(done.stdout)
    assert license_ == "MIT"
    for path in (module, profiles, script):
        assert Path(path).is_relative_to(installed.venv), path
    assert Path(script).read_bytes() == (REPO / "edgeprof" / "emulate" / "build_qemu_image.sh").read_bytes()
    assert key == image_for(recipe_for("qemu-pi4")).key  # the same image cache key as the checkout's


@pytest.mark.parametrize("argv", [("edgeprof",), ("python", "-m", "edgeprof")])
def test_devices_list_shows_the_shipped_profiles(installed: Installed, argv: tuple[str, ...]) -> None:
    done = installed.run(*argv, "devices", "list", "--json")
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    assert {row["name"] for row in rows} == SHIPPED
    assert all(Path(row["source"]).is_relative_to(installed.venv) for row in rows)


def test_deploy_to_local_from_outside_the_checkout(installed: Installed) -> None:
    store = installed.work / "results.db"
    done = installed.run("edgeprof", "deploy", "--device", "local", "--model", str(MODEL), "--store", str(store),
                         *FAST, "--json", timeout=120)
    assert done.returncode == 0, done.stderr
    (result,) = json.loads(done.stdout)
    assert result["status"] == "ok" and result["device"] == "local"
    assert store.is_file()


def test_emulate_reads_the_shipped_recipe(installed: Installed) -> None:
    """Without a built image, `emulate up` gets as far as hashing the recipe and says how to build it."""
    done = installed.run("edgeprof", "emulate", "up", "qemu-pi4")
    assert done.returncode == 2
    assert "no image for 'qemu-pi4'" in done.stderr and "edgeprof emulate build qemu-pi4" in done.stderr


def test_the_docs_and_the_sample_come_with_the_wheel(installed: Installed) -> None:
    probe = ("import json, edgeprof.manual as m, edgeprof.demo as d;"
             "print(json.dumps([{t.name: str(t.path) for t in m.topics()}, str(d.sample_dir())]))")
    done = installed.run("python", "-c", probe)
    assert done.returncode == 0, done.stderr
    topics, sample = json.loads(done.stdout)
    assert set(topics) == {path.stem for path in (REPO / "docs").glob("*.md")}
    for name, path in topics.items():
        assert Path(path).is_relative_to(installed.venv) and not Path(path).is_symlink(), path
        assert Path(path).read_bytes() == (REPO / "docs" / f"{name}.md").read_bytes()
    assert Path(sample).is_relative_to(installed.venv)
    shipped = sorted(p.name for p in (REPO / "models" / "digits").iterdir())
    assert sorted(p.name for p in Path(sample).iterdir()) == shipped
    assert all((Path(sample) / name).read_bytes() == (REPO / "models" / "digits" / name).read_bytes()
               for name in shipped)


def test_docs_prints_a_topic_from_the_wheel(installed: Installed) -> None:
    shown = installed.run("edgeprof", "docs", "verdicts")
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout == (REPO / "docs" / "verdicts.md").read_text()
    listed = installed.run("edgeprof", "docs")
    assert listed.returncode == 0 and "verdicts         Verdicts and recommendations" in listed.stdout


def test_demo_from_an_empty_folder_writes_only_there(installed: Installed) -> None:
    """The README's first command for a wheel user: from an empty folder, `edgeprof demo` profiles the shipped
    sample on this machine, says which variant to ship and what to run next, and writes only under ./.edgeprof;
    the next command it names reads what it stored."""
    folder = installed.work / "empty"
    folder.mkdir()
    done = installed.run("edgeprof", "demo", cwd=folder, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    for text in ("digits int8-static tflite", "local / digits: recommended", "report: .edgeprof/report.html",
                 "  the runs stored  edgeprof runs list\n", "edgeprof deploy --model model.onnx",
                 "edgeprof doctor --device pi4", "edgeprof docs"):
        assert text in done.stdout, text
    assert "profiling the shipped sample" in done.stderr and "stored run" in done.stderr
    written = sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))
    assert written == [".edgeprof", ".edgeprof/report.html", ".edgeprof/results.db"]
    assert "<html" in (folder / ".edgeprof" / "report.html").read_text()
    runs = installed.run("edgeprof", "runs", "list", "--json", cwd=folder)
    assert runs.returncode == 0, runs.stderr
    (run,) = json.loads(runs.stdout)
    assert (run["command"], run["n_results"], run["n_failed"]) == ("edgeprof demo", 4, 0)
