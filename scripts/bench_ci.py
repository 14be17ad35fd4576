#!/usr/bin/env python3
"""Wall time of docs/ci.md's GitHub Actions job, split into install, image, boot, deploy and report, and print it.

Warm (a cache hit) is measured: the job's `run:` steps as written there (tests/emulated/ci_doc.py), in a fresh
runner HOME and checkout, as a push to main. The `actions/cache` restore is stood in for by `edgeprof emulate
import` of the exported image (the same ~290 MB unpacked into an empty cache; the download is the CI's own).
Cold (a miss) is the warm job with the restore replaced by a build, whose time is not measured here: it is the
one the cached image recorded when it was built (its manifest's `build_s`), since a rebuild takes ~20 minutes on
2 busy cores.

Needs the built qemu-pi4 image ($EDGEPROF_CACHE, default ~/.cache/edgeprof) and what scripts/emulated_stage.sh
installs. Usage: .venv/bin/python scripts/bench_ci.py
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from edgeprof.emulate.image import built_image  # noqa: E402
from edgeprof.emulate.recipe import RECIPES  # noqa: E402
from tests.emulated.ci_doc import run_steps, runner_env, user_repo, workflow_steps  # noqa: E402
from tests.support import DIGITS  # noqa: E402

# the doc's step names, by phase; a renamed step fails here rather than being counted nowhere
PHASES = {
    "Install edgeprof and QEMU": "install",
    "Image cache key": "image",
    "Build the board image": "image",
    "Boot the board": "boot",
    "Deploy the model variants": "deploy",
    "Gate the pull request": "report",
    "Report": "report",
    "Power the board off": "report",
}
ORDER = ("install", "image", "boot", "deploy", "report")


def edgeprof(*args: str, env: dict[str, str]) -> None:
    proc = subprocess.run([sys.executable, "-m", "edgeprof", *args], env=env, capture_output=True, text=True,
                          timeout=900)
    if proc.returncode != 0:
        sys.exit(f"bench_ci: edgeprof {' '.join(args)} failed: {proc.stderr.strip()[-500:]}")


def machine() -> str:
    cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if ln.startswith("model name")), platform.processor())
    return f"{cpu}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start"


def main() -> None:
    image = built_image(RECIPES["qemu-pi4"])
    build_s = float(json.loads(image.path("manifest.json").read_text())["build_s"])
    steps = workflow_steps()
    unknown = [s.name for s in steps if s.name not in PHASES]
    if unknown:
        sys.exit(f"bench_ci: docs/ci.md has steps this bench does not place in a phase: {unknown}")
    print(f"machine: {machine()}")
    with tempfile.TemporaryDirectory(prefix="edgeprof-bench-ci-") as tmp:
        work = Path(tmp)
        exported = work / "qemu-pi4.image"
        edgeprof("emulate", "export", "qemu-pi4", "--out", str(exported), env=dict(os.environ))
        home = work / "home"
        home.mkdir()
        repo = user_repo(work / "repo", DIGITS)
        env = runner_env(home, work, "push", "refs/heads/main", Path(sys.executable).parent)
        started = time.monotonic()
        edgeprof("emulate", "import", str(exported), env=env)
        restore_s = time.monotonic() - started
        try:
            outcomes = run_steps(steps, repo, env)
        finally:
            subprocess.run([sys.executable, "-m", "edgeprof", "emulate", "down", "qemu-pi4", "--icount"], env=env,
                           capture_output=True, timeout=120)
    failed = [f"{o.step.name} (exit {o.code}): {o.output.strip()[-300:]}" for o in outcomes if o.code != 0]
    if failed:
        sys.exit("bench_ci: the documented job failed: " + " | ".join(failed))
    warm = dict.fromkeys(ORDER, 0.0)
    for o in outcomes:
        warm[PHASES[o.step.name]] += o.seconds
    warm["image"] += restore_s
    cold = {**warm, "image": warm["image"] - restore_s + build_s}
    print(f"image build (cold): {build_s:.0f} s, recorded by the cached image's build "
          f"({image.dir.name}, built {json.loads(image.path('manifest.json').read_text())['built_at']})")
    print(f"image restore (warm): `edgeprof emulate import` {restore_s:.1f} s in place of actions/cache")
    print(f"{'phase':<8} {'warm s':>8} {'cold s':>8}")
    for phase in ORDER:
        print(f"{phase:<8} {warm[phase]:8.0f} {cold[phase]:8.0f}")
    print(f"{'total':<8} {sum(warm.values()):8.0f} {sum(cold.values()):8.0f}")
    for o in outcomes:
        print(f"  step {o.step.name!r}: {o.seconds:.1f} s")


if __name__ == "__main__":
    main()
