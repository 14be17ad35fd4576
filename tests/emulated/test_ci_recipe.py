"""docs/ci.md's GitHub Actions and GitLab CI jobs, run verbatim on the cached image: a push to main, then a pull
(merge) request gated on it.

Marker `emulated`: each job boots qemu-pi4-icount twice (on 2 cores at load average 6-10: the GitHub workflow
610 s, the GitLab job 383 s, as it deploys two variants to GitHub's three). A job gets its own HOME, results
store and VM directory; only the built image is shared (linked) with the emulated stage's cache.
"""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from edgeprof.emulate import vm
from edgeprof.emulate.image import Image, image_for
from edgeprof.emulate.paths import images_dir
from edgeprof.emulate.recipe import RECIPES
from tests.emulated.ci_doc import Outcome, run_steps, runner_env, runner_home, user_repo, workflow_steps
from tests.emulated.gitlab_job import JobRun, gitlab_job, job_env, run_job, seed_cache
from tests.support import DIGITS, REPO

pytestmark = pytest.mark.emulated

BOARD = "qemu-pi4-icount"
GIT = ("git", "-c", "user.name=ci", "-c", "user.email=ci@example.invalid", "-c", "init.defaultBranch=main")
# GitLab's predefined variables for a pipeline of a push to main and of a merge request into it (in a merge
# request pipeline CI_COMMIT_BRANCH is not set)
GITLAB_PUSH = {"CI": "true", "GITLAB_CI": "true", "CI_DEFAULT_BRANCH": "main", "CI_PIPELINE_SOURCE": "push",
               "CI_COMMIT_BRANCH": "main", "CI_COMMIT_REF_NAME": "main", "CI_JOB_NAME": "edge"}
GITLAB_MR = {"CI": "true", "GITLAB_CI": "true", "CI_DEFAULT_BRANCH": "main",
             "CI_PIPELINE_SOURCE": "merge_request_event", "CI_COMMIT_REF_NAME": "faster-int8",
             "CI_MERGE_REQUEST_IID": "7", "CI_MERGE_REQUEST_SOURCE_BRANCH_NAME": "faster-int8",
             "CI_MERGE_REQUEST_TARGET_BRANCH_NAME": "main", "CI_JOB_NAME": "edge"}


def log(outcomes: list[Outcome]) -> str:
    return "\n".join(f"--- {o.step.name}: exit {o.code} ({o.seconds:.0f} s)\n{o.output[-3000:]}" for o in outcomes)


def cached_image() -> Image:
    image = image_for(RECIPES["qemu-pi4"])
    if not image.complete():
        pytest.fail("no qemu-pi4 image in EDGEPROF_CACHE: run scripts/emulated_stage.sh (or `edgeprof emulate build`)")
    return image


def stored_runs(cwd: Path) -> str:
    """`edgeprof runs list --json` of the results store in cwd."""
    proc = subprocess.run([sys.executable, "-m", "edgeprof", "runs", "list", "--json"], cwd=cwd,
                          env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_the_documented_job_gates_a_pull_request_against_main(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    image = cached_image()
    home = runner_home(tmp_path / "home", images_dir())
    repo = user_repo(tmp_path / "repo", DIGITS)
    steps = workflow_steps()
    python_bin = Path(sys.executable).parent
    monkeypatch.setenv("EDGEPROF_CACHE", str(home / ".cache" / "edgeprof"))  # where the job's VM lives
    try:
        (tmp_path / "push").mkdir()
        push_env = runner_env(home, tmp_path / "push", "push", "refs/heads/main", python_bin)
        pushed = run_steps(steps, repo, push_env)
        assert [o.code for o in pushed] == [0] * len(steps), log(pushed)

        key_line = Path(push_env["GITHUB_OUTPUT"]).read_text()
        assert key_line == f"key={image.dir.name}\n"
        suites = ET.parse(repo / "edgeprof-junit.xml").getroot()
        cases = suites.findall(".//testcase")
        assert len(cases) >= 3 and not suites.findall(".//failure") and not suites.findall(".//error")
        summary = Path(push_env["GITHUB_STEP_SUMMARY"]).read_text()
        assert summary.strip() and summary.strip() == (repo / "edgeprof-check.md").read_text().strip()
        assert (repo / "edgeprof-report.html").read_text().lstrip().lower().startswith("<!doctype html")
        assert not vm.status(), "the board was not powered off"

        (tmp_path / "pr").mkdir()
        pr_env = runner_env(home, tmp_path / "pr", "pull_request", "refs/pull/7/merge", python_bin)
        gated = run_steps(steps, repo, pr_env)
        assert [o.code for o in gated] == [0] * len(steps), log(gated)
        gate = next(o for o in gated if o.step.name == "Gate the pull request")
        assert "against baseline main" in gate.output, gate.output
        assert Path(pr_env["GITHUB_STEP_SUMMARY"]).read_text()
        assert not vm.status(), "the board was not powered off"
        assert stored_runs(repo).count('"main"') == 1  # the pull request's run was not tagged main
    finally:
        vm.down(BOARD)


def gitlab_log(run: JobRun) -> str:
    return log([o for o in (run.script, run.after_script) if o is not None])


def git(*args: str, cwd: Path) -> str:
    return subprocess.run([*GIT, *args], cwd=cwd, capture_output=True, text=True, check=True, timeout=120).stdout


def test_the_documented_gitlab_job_gates_a_merge_request_against_main(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Each pipeline gets a fresh clone of the user's repository; only the runner's cache carries the image and
    the results store from the push's job to the merge request's."""
    image = cached_image()
    job = gitlab_job()
    origin = user_repo(tmp_path / "origin", DIGITS)
    (origin / "requirements-edge.txt").write_text(f"edgeprof=={importlib.metadata.version('edgeprof')}\n")
    git("init", "-q", cwd=origin)
    git("add", ".", cwd=origin)
    git("commit", "-q", "-m", "models", cwd=origin)
    python_bin = Path(sys.executable).parent
    cache_root = tmp_path / "runner-cache"

    def pipeline(name: str, predefined: dict[str, str]) -> tuple[JobRun, Path]:
        project = tmp_path / name / "project"
        git("clone", "-q", str(origin), str(project), cwd=tmp_path)
        (tmp_path / name / "home").mkdir()
        env = job_env(job, {**predefined, "CI_PROJECT_DIR": str(project),
                            "CI_COMMIT_SHA": git("rev-parse", "HEAD", cwd=project).strip()},
                      tmp_path / name / "home", python_bin)
        if name == "push":  # the image a past job cached, linked rather than copied
            assert seed_cache(job, project, env, cache_root, ".edgeprof-cache/images",
                              images_dir()).startswith("edgeprof-image-")
        monkeypatch.setenv("EDGEPROF_CACHE", env["EDGEPROF_CACHE"])  # where the job's VM lives
        try:
            (tmp_path / name / "scripts").mkdir()
            run = run_job(job, project, env, cache_root, tmp_path / name / "scripts")
        finally:
            vm.down(BOARD)
        assert run.passed and run.after_script is not None and run.after_script.code == 0, gitlab_log(run)
        assert not run.missing_artifacts, run.missing_artifacts
        assert image.dir.name in run.script.output.splitlines()  # `edgeprof emulate key` printed the image's key
        assert f"{image.name}: cache hit" in run.script.output  # the cached image, not a build
        suites = ET.parse(project / "edgeprof-junit.xml").getroot()
        assert len(suites.findall(".//testcase")) >= 2 and not suites.findall(".//failure")
        assert (project / "edgeprof-check.md").read_text().strip()
        assert (project / "edgeprof-report.html").read_text().lstrip().lower().startswith("<!doctype html")
        assert "powered off" in run.after_script.output and not vm.status()
        return run, project

    pushed, _ = pipeline("push", GITLAB_PUSH)
    assert "edgeprof-results-main" in pushed.saved and "edgeprof-results-main" not in pushed.restored
    assert "against baseline" not in pushed.script.output  # main had no tagged run yet

    gated, project = pipeline("merge-request", GITLAB_MR)
    assert set(pushed.saved) <= set(gated.restored)  # the image and main's results store, by the same keys
    assert "against baseline main" in gated.script.output, gitlab_log(gated)
    runs = stored_runs(project)
    assert runs.count('"run_id"') == 2 and runs.count('"main"') == 1  # the merge request's run was not tagged
