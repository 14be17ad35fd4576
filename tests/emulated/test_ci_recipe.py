"""docs/ci.md's GitHub Actions job, run verbatim on the cached image: a push to main, then a pull request gated on it.

Marker `emulated`: it boots qemu-pi4-icount twice (about 18 minutes on 2 busy cores). The job gets its own HOME, results store and VM
directory; only the built image is shared (linked) with the emulated stage's cache.
"""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from edgeprof.emulate import vm
from edgeprof.emulate.image import image_for
from edgeprof.emulate.paths import images_dir
from edgeprof.emulate.recipe import RECIPES
from tests.emulated.ci_doc import Outcome, run_steps, runner_env, runner_home, user_repo, workflow_steps
from tests.support import DIGITS

pytestmark = pytest.mark.emulated

BOARD = "qemu-pi4-icount"


def log(outcomes: list[Outcome]) -> str:
    return "\n".join(f"--- {o.step.name}: exit {o.code} ({o.seconds:.0f} s)\n{o.output[-3000:]}" for o in outcomes)


def test_the_documented_job_gates_a_pull_request_against_main(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    image = image_for(RECIPES["qemu-pi4"])
    if not image.complete():
        pytest.fail("no qemu-pi4 image in EDGEPROF_CACHE: run scripts/emulated_stage.sh (or `edgeprof emulate build`)")
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
        tagged = subprocess.run([sys.executable, "-m", "edgeprof", "runs", "list", "--json"], cwd=repo,
                                env={**os.environ, "PYTHONPATH": pr_env["PYTHONPATH"]}, capture_output=True,
                                text=True, timeout=120)
        assert tagged.returncode == 0, tagged.stderr
        assert tagged.stdout.count('"main"') == 1  # the pull request's run was not tagged main
    finally:
        vm.down(BOARD)
