"""The CI jobs of docs/ci.md, read from the doc's YAML, and runners for their scripts as they are written there.

Used by tests/emulated/test_ci_recipe.py (the doc cannot rot) and scripts/bench_ci.py (the doc's timings).
GitHub Actions: only `run:` steps run here; `uses:` steps (checkout, setup-python, cache, upload) are the
runner's. The cache step does not run, so `steps.cache.outputs.cache-hit` is empty, as on a miss: the build step
runs, and `edgeprof emulate build` itself finds the image in the cache. The GitLab CI job is in gitlab_job.py.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "ci.md"
SECTION = "## GitHub Actions"
ALWAYS = "always()"
ON_CACHE_MISS = "steps.cache.outputs.cache-hit != 'true'"
MODELS = ("digits-fp32.onnx", "digits-int8-static.onnx", "digits-int8-static.tflite", "test.npz")
# variables of the job's environment that would point it at this project's own cache, store or profiles
PROJECT_VARS = ("EDGEPROF_CACHE", "EDGEPROF_DEVICE_PATH", "EDGEPROF_STORE")


@dataclass(frozen=True)
class Step:
    """One `run:` step of the job."""

    name: str
    run: str
    condition: str | None  # its `if:`


@dataclass(frozen=True)
class Outcome:
    """How a step went: its exit status (None: skipped, as after a failure), its time and its output."""

    step: Step
    code: int | None
    seconds: float
    output: str


def doc_yaml(section: str, doc: Path = DOC) -> dict:
    """The first YAML block under a section heading of the doc, parsed."""
    text = doc.read_text()
    block = re.search(r"```yaml\n(.*?)```", text[text.index(section):], re.S)
    if block is None:
        raise ValueError(f"{doc}: no yaml block under '{section}'")
    return yaml.safe_load(block.group(1))


def workflow_steps(doc: Path = DOC) -> list[Step]:
    """The `run:` steps of the job in the doc's GitHub Actions section, in order."""
    (job,) = doc_yaml(SECTION, doc)["jobs"].values()
    return [Step(s.get("name", s["run"].split("\n", 1)[0]), s["run"], s.get("if")) for s in job["steps"]
            if "run" in s]


def runs(step: Step, failed: bool) -> bool:
    """Whether a runner runs the step, given whether an earlier one failed (the job's conditions only)."""
    if step.condition is None or step.condition == ON_CACHE_MISS:
        return not failed
    if ALWAYS in step.condition:
        return True
    raise ValueError(f"step '{step.name}': the runner here does not know `if: {step.condition}`")


def user_repo(repo: Path, models: Path) -> Path:
    """A user's checkout as the workflow expects it: the model variants and the dataset under models/."""
    (repo / "models").mkdir(parents=True, exist_ok=True)
    for name in MODELS:
        shutil.copy(models / name, repo / "models" / name)
    return repo


def runner_home(home: Path, images: Path) -> Path:
    """A runner's HOME whose image cache holds the built images (linked, never copied or changed)."""
    cache = home / ".cache" / "edgeprof"
    cache.mkdir(parents=True, exist_ok=True)
    if not (cache / "images").exists():
        (cache / "images").symlink_to(images, target_is_directory=True)
    return home


def runner_env(home: Path, work: Path, event: str, ref: str, python_bin: Path) -> dict[str, str]:
    """The job's environment: a hosted runner's GITHUB_* files and variables, edgeprof and python on PATH."""
    env = {k: v for k, v in os.environ.items() if k not in PROJECT_VARS}
    for name in ("GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY"):
        (work / name).touch()
        env[name] = str(work / name)
    env.update(HOME=str(home), CI="true", GITHUB_ACTIONS="true", GITHUB_EVENT_NAME=event, GITHUB_REF=ref,
               PATH=f"{python_bin}{os.pathsep}{os.environ['PATH']}", PYTHONPATH=str(ROOT))
    return env


def run_script(step: Step, shell: tuple[str, ...], script: Path, cwd: Path, env: dict[str, str],
               timeout_s: float) -> Outcome:
    """Run one step's text as a script file with the runner's shell; its status, time and output."""
    script.write_text(step.run)
    started = time.monotonic()
    proc = subprocess.run([*shell, str(script)], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout_s)
    return Outcome(step, proc.returncode, time.monotonic() - started, proc.stdout + proc.stderr)


def run_steps(steps: list[Step], cwd: Path, env: dict[str, str], timeout_s: float = 900) -> list[Outcome]:
    """Run the steps one by one like a runner (`bash -e` per step); a failure skips the rest but `always()`."""
    outcomes: list[Outcome] = []
    failed = False
    for i, step in enumerate(steps):
        if not runs(step, failed):
            outcomes.append(Outcome(step, None, 0.0, ""))
            continue
        script = Path(env["GITHUB_STEP_SUMMARY"]).with_name(f"step-{i}.sh")
        outcomes.append(run_script(step, ("bash", "-e"), script, cwd, env, timeout_s))
        failed = failed or outcomes[-1].code != 0
    return outcomes
