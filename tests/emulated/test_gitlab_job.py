"""The GitLab runner of tests/emulated/gitlab_job.py without a board: docs/ci.md's job as read, its cache keys, and
how a job's scripts, caches and artifacts go, on small jobs of plain shell commands in a real git checkout."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.emulated.gitlab_job import gitlab_job, job_env, run_job

GIT = ("git", "-c", "user.name=ci", "-c", "user.email=ci@example.invalid", "-c", "init.defaultBranch=main")
PREDEFINED = {"CI_DEFAULT_BRANCH": "main", "CI_COMMIT_BRANCH": "main"}
TINY = """\
## GitLab CI

```yaml
tiny:
  timeout: 2m
  variables:
    OUT: "$CI_PROJECT_DIR/out"
  cache:
    - key:
        prefix: pins
        files: [pins.txt]
      paths: [kept]
    - key: store-$CI_DEFAULT_BRANCH
      paths: [store]
  before_script:
    - mkdir -p "$OUT" kept store
  script:
    - echo run >> store/log
    - cat store/log > "$OUT/seen"
    - test "$FAIL" != yes
    - echo after-fail > "$OUT/late"
  after_script:
    - echo "$CI_JOB_STATUS" > "$OUT/status"
  artifacts:
    when: always
    reports:
      junit: out/seen
    paths: [out/late]
```
"""


def git(*args: str, cwd: Path) -> None:
    subprocess.run([*GIT, *args], cwd=cwd, capture_output=True, check=True, timeout=60)


def checkout(tmp_path: Path, doc: str) -> Path:
    """A git repository with the doc and pins.txt, committed."""
    repo = tmp_path / "origin"
    repo.mkdir()
    (repo / "ci.md").write_text(doc)
    (repo / "pins.txt").write_text("edgeprof==0.1.0\n")
    git("init", "-q", cwd=repo)
    git("add", ".", cwd=repo)
    git("commit", "-q", "-m", "pins", cwd=repo)
    return repo


def clone(origin: Path, dest: Path) -> Path:
    git("clone", "-q", str(origin), str(dest), cwd=origin.parent)
    return dest


def test_the_docs_gitlab_job_is_read_with_every_keyword() -> None:
    job = gitlab_job()
    assert job.name == "edge" and job.timeout_s == 3600
    assert [c.paths for c in job.caches] == [(".edgeprof-cache/images",), (".edgeprof",)]
    assert job.caches[0].files == ("requirements-edge.txt",)
    assert "edgeprof check --junit edgeprof-junit.xml" in job.script
    assert "edgeprof emulate down qemu-pi4 --icount" in job.after_script
    assert set(job.artifacts) == {"edgeprof-junit.xml", "edgeprof-check.md", "edgeprof-report.html"}
    assert job.artifacts_always


def test_a_keyword_the_runner_does_not_carry_out_is_refused(tmp_path: Path) -> None:
    doc = tmp_path / "ci.md"
    doc.write_text(TINY.replace("  timeout: 2m\n", "  timeout: 2m\n  rules:\n    - when: always\n"))
    with pytest.raises(ValueError, match=r"does not know \['rules'\]"):
        gitlab_job(doc)


def test_a_variable_the_environment_lacks_is_refused(tmp_path: Path) -> None:
    job = gitlab_job(checkout(tmp_path, TINY) / "ci.md")
    with pytest.raises(ValueError, match="CI_PROJECT_DIR"):
        job_env(job, PREDEFINED, tmp_path, Path(sys.executable).parent)


def test_a_job_saves_its_caches_by_key_and_the_next_restores_them(tmp_path: Path) -> None:
    origin = checkout(tmp_path, TINY)
    job = gitlab_job(origin / "ci.md")
    cache_root = tmp_path / "cache"

    def pipeline(name: str, fail: str = "no"):
        project = clone(origin, tmp_path / name / "project")
        (tmp_path / name / "scripts").mkdir()
        env = job_env(job, {**PREDEFINED, "CI_PROJECT_DIR": str(project), "FAIL": fail}, tmp_path / name,
                      Path(sys.executable).parent)
        return run_job(job, project, env, cache_root, tmp_path / name / "scripts"), project

    first, project = pipeline("first")
    assert first.passed and first.restored == () and first.missing_artifacts == ()
    pins_key, store_key = first.saved
    assert pins_key.startswith("pins-") and store_key == "store-main"
    assert (project / "out" / "status").read_text() == "success\n"

    second, project = pipeline("second")
    assert second.restored == first.saved and (project / "out" / "seen").read_text() == "run\nrun\n"

    (origin / "pins.txt").write_text("edgeprof==0.2.0\n")
    git("commit", "-q", "-am", "new pins", cwd=origin)
    failed, project = pipeline("failed", fail="yes")
    assert not failed.passed and failed.restored == (store_key,)  # a new pin, a new image cache key
    assert not (project / "out" / "late").exists() and failed.missing_artifacts == ("out/late",)
    assert (project / "out" / "status").read_text() == "failed\n"  # after_script ran, and knew
    assert failed.saved == () and (cache_root / store_key / "store" / "log").read_text() == "run\nrun\n"
