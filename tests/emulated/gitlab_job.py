"""The GitLab CI job of docs/ci.md, and a runner that runs it as a GitLab runner would, its scripts verbatim.

Used by tests/emulated/test_ci_recipe.py. What the runner does here as GitLab does: the job's `variables:`
expanded against the predefined ones the caller sets (CI_PROJECT_DIR, CI_COMMIT_BRANCH...); each `cache:` key
worked out (a `files:` key from the last commits that changed those files, the way GitLab keys it; the digest is
this runner's own) and restored into the project directory before the job, saved from it after a job that
passed; `before_script` and `script` in one `bash -eo pipefail` shell, stopping at the first failing command;
`after_script` in a fresh shell whatever happened, under GitLab's 5-minute bound, its failure not failing the
job; and the `artifacts:` the job declares looked for. What it does not: `image:` (the job runs on this host,
as root, as it would in the Debian container) and GitLab's archive format for caches (a directory per key; a
symbolic link is kept as one, so a cached image can be linked in rather than copied).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from string import Template

from tests.emulated.ci_doc import ALWAYS, DOC, PROJECT_VARS, ROOT, Outcome, Step, doc_yaml, run_script

SECTION = "## GitLab CI"
# the job keywords this runner carries out (or, for `image`, stands in for); any other fails rather than being
# silently ignored
KEYWORDS = {"image", "timeout", "variables", "cache", "before_script", "script", "after_script", "artifacts"}
SHELL = ("bash", "-eo", "pipefail")
AFTER_SCRIPT_TIMEOUT_S = 300.0
DEFAULT_TIMEOUT_S = 3600.0
DURATION_UNITS = {"h": 3600, "m": 60, "s": 1}


@dataclass(frozen=True)
class Cache:
    """One `cache:` entry: its key (with `files:`, the key's prefix), the files that key it, and its paths."""

    key: str
    files: tuple[str, ...]
    paths: tuple[str, ...]


@dataclass(frozen=True)
class Job:
    """The job's keywords this runner uses."""

    name: str
    variables: dict[str, str]
    caches: tuple[Cache, ...]
    script: str  # before_script then script, one command a line
    after_script: str
    artifacts: tuple[str, ...]  # `artifacts: paths` and `reports: junit`
    artifacts_always: bool  # `artifacts: when: always`
    timeout_s: float


@dataclass(frozen=True)
class JobRun:
    """How the job went: its script and after_script, the cache keys restored and saved, missing artifacts."""

    script: Outcome
    after_script: Outcome | None
    restored: tuple[str, ...]
    saved: tuple[str, ...]
    missing_artifacts: tuple[str, ...]

    @property
    def passed(self) -> bool:
        return self.script.code == 0


def gitlab_job(doc: Path = DOC) -> Job:
    """The one job in the doc's GitLab CI section."""
    jobs = doc_yaml(SECTION, doc)
    ((name, spec),) = ((k, v) for k, v in jobs.items() if isinstance(v, dict) and "script" in v)
    unknown = sorted(set(spec) - KEYWORDS)
    if unknown:
        raise ValueError(f"job '{name}': the runner here does not know {unknown}")
    artifacts = spec.get("artifacts", {})
    return Job(
        name=name,
        variables={k: str(v) for k, v in spec.get("variables", {}).items()},
        caches=tuple(_cache(c) for c in _as_list(spec.get("cache", []))),
        script="\n".join([*spec.get("before_script", []), *spec["script"]]),
        after_script="\n".join(spec.get("after_script", [])),
        artifacts=(*artifacts.get("paths", []), *_as_list(artifacts.get("reports", {}).get("junit", []))),
        artifacts_always=artifacts.get("when") == "always",
        timeout_s=duration_s(spec["timeout"]) if "timeout" in spec else DEFAULT_TIMEOUT_S,
    )


def _as_list(value: object) -> list:
    return value if isinstance(value, list) else [value]


def _cache(spec: dict) -> Cache:
    unknown = sorted(set(spec) - {"key", "paths"})
    if unknown:
        raise ValueError(f"cache {spec}: the runner here does not know {unknown}")
    key = spec["key"]
    if isinstance(key, dict):
        return Cache(key.get("prefix", ""), tuple(key["files"]), tuple(spec["paths"]))
    return Cache(str(key), (), tuple(spec["paths"]))


def duration_s(text: str) -> float:
    """A GitLab duration such as `1h` or `1h 30m`, in seconds."""
    parts = re.findall(r"(\d+)\s*([hms])", text)
    if not parts or re.sub(r"\d+\s*[hms]", "", text).strip():
        raise ValueError(f"timeout '{text}': the runner here reads only h/m/s durations")
    return float(sum(int(n) * DURATION_UNITS[unit] for n, unit in parts))


def expand(value: str, env: dict[str, str]) -> str:
    """A value with $NAME and ${NAME} replaced from env, as GitLab expands `variables:` and cache keys."""
    try:
        return Template(value).substitute(env)
    except KeyError as exc:
        raise ValueError(f"'{value}' names {exc}, which this job's environment does not set") from None


def job_env(job: Job, predefined: dict[str, str], home: Path, python_bin: Path) -> dict[str, str]:
    """The job's environment: a fresh HOME, python and edgeprof on PATH, the predefined variables, then the
    job's `variables:` expanded against them."""
    env = {k: v for k, v in os.environ.items() if k not in PROJECT_VARS}
    env.update(HOME=str(home), PATH=f"{python_bin}{os.pathsep}{os.environ['PATH']}", PYTHONPATH=str(ROOT),
               **predefined)
    for name, value in job.variables.items():
        env[name] = expand(value, env)
    return env


def cache_key(cache: Cache, project: Path, env: dict[str, str]) -> str:
    """The key a cache is stored under in this project at its checked-out commit."""
    if not cache.files:
        return expand(cache.key, env)
    commits = [subprocess.run(["git", "log", "-1", "--format=%H", "--", f], cwd=project, capture_output=True,
                              text=True, check=True, timeout=60).stdout.strip() for f in cache.files]
    if not any(commits):
        return "default"  # GitLab's key when no commit changed the files
    digest = hashlib.sha1(" ".join(commits).encode()).hexdigest()
    return f"{cache.key}-{digest}" if cache.key else digest


def seed_cache(job: Job, project: Path, env: dict[str, str], cache_root: Path, path: str, target: Path) -> str:
    """Put a link to target in the runner's cache as the job's cached `path` (as a past job would have left it);
    the key it went under."""
    (cache,) = (c for c in job.caches if path in c.paths)
    key = cache_key(cache, project, env)
    link = cache_root / key / path
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(target, target_is_directory=True)
    return key


def _restore(stored: Path, project: Path) -> bool:
    if not stored.is_dir():
        return False
    shutil.copytree(stored, project, symlinks=True, dirs_exist_ok=True)
    return True


def _save(cache: Cache, project: Path, stored: Path) -> None:
    for path in cache.paths:
        src, dst = project / path, stored / path
        if not (src.exists() or src.is_symlink()):
            continue  # GitLab warns and caches the rest
        if dst.is_symlink() or dst.is_file():
            dst.unlink()
        elif dst.exists():
            shutil.rmtree(dst)
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_symlink():
            dst.symlink_to(os.readlink(src))
        elif src.is_dir():
            shutil.copytree(src, dst, symlinks=True)
        else:
            shutil.copy2(src, dst)


def run_job(job: Job, project: Path, env: dict[str, str], cache_root: Path, work: Path) -> JobRun:
    """Run the job in a fresh checkout (project) as a GitLab runner would; scripts are written under work."""
    keys = [cache_key(c, project, env) for c in job.caches]
    restored = tuple(k for k in keys if _restore(cache_root / k, project))
    script = run_script(Step("script", job.script, None), SHELL, work / "script.sh", project, env, job.timeout_s)
    after = None
    if job.after_script:
        status = "success" if script.code == 0 else "failed"
        after = run_script(Step("after_script", job.after_script, ALWAYS), SHELL, work / "after_script.sh",
                           project, {**env, "CI_JOB_STATUS": status}, AFTER_SCRIPT_TIMEOUT_S)
    saved: tuple[str, ...] = ()
    if script.code == 0:
        for cache, key in zip(job.caches, keys):
            _save(cache, project, cache_root / key)
        saved = tuple(keys)
    collected = job.artifacts_always or script.code == 0
    missing = tuple(p for p in job.artifacts if collected and not any(project.glob(p)))
    return JobRun(script, after, restored, saved, missing)
