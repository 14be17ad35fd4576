"""Who can build an image here: root directly, anyone else in a user namespace, else one line of what is missing.

The checks read this machine's real /proc/sys, /etc/subuid and PATH; the image itself is never rebuilt here (the
emulated stage's test runs a rootless build as far as the recipe's first steps).
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import sys
import sysconfig
import tempfile
import threading
from pathlib import Path

import pytest

from edgeprof.emulate import buildhost
from edgeprof.emulate.image import image_for
from edgeprof.emulate.recipe import RECIPES
from tests.emulated.support import CLI

NOBODY = 65534
BUILD_USER = "EDGEPROF_TEST_BUILD_USER"  # a user with subordinate ids, made by scripts/emulated_stage.sh
ROOT = Path(__file__).resolve().parents[2]


def sysctl_tree(tmp_path: Path, files: dict[str, str]) -> Path:
    """A /proc/sys-like tree with these files (relative path -> contents)."""
    for rel, text in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    return tmp_path


def as_user_argv(uid: int, gid: int, code: str) -> tuple[list[str], dict[str, str]]:
    """The command and environment that run Python code as another user with this checkout and the venv's
    packages (the venv's own python may sit in a directory that user cannot enter, so the system's python3 of
    the same version runs it)."""
    python = shutil.which(f"python{sys.version_info.major}.{sys.version_info.minor}", path="/usr/bin:/usr/local/bin")
    if os.geteuid() != 0 or shutil.which("setpriv") is None or python is None:
        pytest.skip("needs root, setpriv and a system python of this version to become another user")
    env = {"PATH": os.environ["PATH"], "HOME": "/nonexistent", "EDGEPROF_CACHE": "/tmp/edgeprof-nobody-cache",
           "PYTHONPATH": f"{ROOT}:{sysconfig.get_paths()['purelib']}"}
    return ["setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups", python, "-c", code], env


def as_nobody(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run Python code as uid 65534 (see as_user_argv)."""
    argv, env = as_user_argv(NOBODY, NOBODY, code)
    return subprocess.run([*argv, *args], capture_output=True, text=True, timeout=120, env=env, cwd="/")


def test_root_builds_directly_with_nothing_missing() -> None:
    if os.geteuid() != 0:
        pytest.skip("this process is not root")
    route = buildhost.build_route()
    assert route == buildhost.BuildRoute((), ())
    assert not route.rootless


def test_this_machine_as_nobody_names_exactly_what_it_lacks() -> None:
    """The real checks, as a user without root: each missing piece is named iff this machine lacks it."""
    proc = as_nobody("from edgeprof.emulate.buildhost import build_route; r = build_route(); "
                     "print(' '.join(r.prefix)); print('\\n'.join(r.missing))")
    assert proc.returncode == 0, proc.stderr
    prefix, *missing = proc.stdout.strip().splitlines()
    assert prefix.startswith("unshare --map-root-user --map-users=")
    text = "\n".join(missing)
    assert ("package uidmap" in text) == (shutil.which("newuidmap") is None or shutil.which("newgidmap") is None)
    subids = "".join(Path(f).read_text() for f in ("/etc/subuid", "/etc/subgid") if Path(f).exists())
    assert ("subordinate id range of 65536 for nobody" in text) == (subids.count("nobody:") < 2)
    binfmt = Path("/proc/sys/fs/binfmt_misc/qemu-aarch64")
    assert ("binfmt_misc for aarch64" in text) == (not binfmt.exists() or "F" not in binfmt.read_text())
    userns = subprocess.run(["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", "unshare",
                             "--user", "--map-root-user", "true"], capture_output=True, timeout=30)
    assert ("user namespaces" in text) == (userns.returncode != 0)


def test_the_build_command_as_nobody_refuses_with_one_line_when_something_is_missing() -> None:
    proc = as_nobody("import sys; from edgeprof.cli import main; import edgeprof.cli.emulate_cmds; "
                     "sys.argv = ['edgeprof', 'emulate', 'build', 'qemu-pi4']; main()")
    route = as_nobody("from edgeprof.emulate.buildhost import build_route; print(len(build_route().missing))")
    if route.stdout.strip() == "0":
        pytest.skip("this machine lets nobody build without root")
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("edgeprof: error: building an image without root needs: ")
    assert lines[0].endswith("(or run `edgeprof emulate build` as root)")


def test_binfmt_needs_an_enabled_aarch64_entry_with_the_f_flag(tmp_path: Path) -> None:
    entry = "fs/binfmt_misc/qemu-aarch64"
    assert "no qemu-aarch64 entry" in buildhost.binfmt_missing(sysctl_tree(tmp_path / "none", {}))
    disabled = sysctl_tree(tmp_path / "off", {entry: "disabled\ninterpreter /usr/libexec/qemu-binfmt/a\nflags: PF\n"})
    assert "is disabled" in buildhost.binfmt_missing(disabled)
    no_f = sysctl_tree(tmp_path / "nof", {entry: "enabled\ninterpreter /usr/bin/qemu-aarch64\nflags: P\n"})
    assert "with the F flag (qemu-aarch64 has flags 'P'" in buildhost.binfmt_missing(no_f)
    good = sysctl_tree(tmp_path / "ok", {entry: "enabled\ninterpreter /usr/libexec/qemu-binfmt/a\nflags: PF\n"})
    assert buildhost.binfmt_missing(good) is None


@pytest.mark.parametrize(("rel", "value", "named"), [
    ("user/max_user_namespaces", "0", "user.max_user_namespaces is 0"),
    ("kernel/unprivileged_userns_clone", "0", "kernel.unprivileged_userns_clone is 0"),
    ("kernel/apparmor_restrict_unprivileged_userns", "1", "kernel.apparmor_restrict_unprivileged_userns is 1"),
])
def test_a_sysctl_that_forbids_user_namespaces_is_named(tmp_path: Path, rel: str, value: str, named: str) -> None:
    tree = sysctl_tree(tmp_path, {"user/max_user_namespaces": "1000\n", rel: f"{value}\n"})
    assert buildhost.userns_missing(tree) == f"user namespaces ({named})"


def test_a_subid_range_must_be_the_users_and_large_enough(tmp_path: Path) -> None:
    subuid = tmp_path / "subuid"
    subuid.write_text("alice:100000:65536\nbob:165536:1000\n1002:300000:70000\n")
    assert buildhost.subid_start("alice", 1000, subuid) == 100000
    assert buildhost.subid_start("carol", 1002, subuid) == 300000  # by uid
    assert buildhost.subid_start("bob", 1001, subuid) is None  # too few ids
    assert buildhost.subid_start("alice", 1000, tmp_path / "absent") is None
    assert buildhost.subid_missing("alice", [100000, 100000]) is None
    assert "for bob in /etc/subgid (usermod" in buildhost.subid_missing("bob", [165536, None])


def route_as(uid: int, gid: int) -> tuple[str, str]:
    """The build route as that user sees it: its prefix, and what it lacks ('' when nothing)."""
    argv, env = as_user_argv(uid, gid, "from edgeprof.emulate.buildhost import build_route; r = build_route(); "
                                       "print(' '.join(r.prefix)); print('; '.join(r.missing))")
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=120, env=env, cwd="/")
    assert proc.returncode == 0, proc.stderr
    prefix, missing = proc.stdout.split("\n")[:2]
    return prefix, missing


def check_namespace(user: pwd.struct_passwd, prefix: str, request: pytest.FixtureRequest) -> None:
    """In the route's namespace the user is root; a file it makes is the user's outside, and one it gives to a
    guest's uid 100 is owned outside by the subordinate id for 100 (its range's first id + 99)."""
    work = Path(tempfile.mkdtemp(prefix="edgeprof-userns-"))  # pytest's tmp_path is closed to other users
    request.addfinalizer(lambda: shutil.rmtree(work, ignore_errors=True))
    work.chmod(0o777)
    script = f"id -u; touch {work}/mine; touch {work}/guest; chown 100:100 {work}/guest"
    proc = subprocess.run(["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--clear-groups",
                           *prefix.split(), "/bin/sh", "-c", script], capture_output=True, text=True, timeout=60,
                          cwd="/")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "0"
    assert (work / "mine").stat().st_uid == user.pw_uid
    first = buildhost.subid_start(user.pw_name, user.pw_uid, buildhost.SUBID_FILES[0])
    assert first is not None and (work / "guest").stat().st_uid == first + 99


def test_the_namespace_makes_the_builder_root_and_its_files_the_users(request: pytest.FixtureRequest) -> None:
    """Where this machine lets nobody build, the real namespace (the emulated stage checks it for a user it
    makes, below)."""
    prefix, missing = route_as(NOBODY, NOBODY)
    if missing:
        pytest.skip("this machine does not let nobody build without root (see the test above for why)")
    check_namespace(pwd.getpwuid(NOBODY), prefix, request)


@pytest.mark.emulated
def test_a_user_without_root_passes_the_recipes_host_check_in_its_namespace(request: pytest.FixtureRequest) -> None:
    """The rootless route for real, as far as it is cheap: `edgeprof emulate build` as a user with subordinate ids
    (scripts/emulated_stage.sh makes one and names it in $EDGEPROF_TEST_BUILD_USER) runs the recipe in its
    namespace, where the host check passes (root there, the tools, arm64 binaries through binfmt_misc) and the
    keys are made, the user's own outside; the build is stopped as its wheels step starts (the rest is ~12 min)."""
    name = os.environ.get(BUILD_USER)
    if not name:
        pytest.fail(f"${BUILD_USER} names no user: run scripts/emulated_stage.sh, which makes one")
    user = pwd.getpwnam(name)
    prefix, missing = route_as(user.pw_uid, user.pw_gid)
    assert not missing, f"{name} cannot build without root here: {missing}"
    check_namespace(user, prefix, request)
    work = Path(tempfile.mkdtemp(prefix="edgeprof-rootless-"))  # pytest's tmp_path is closed to other users
    request.addfinalizer(lambda: shutil.rmtree(work, ignore_errors=True))
    os.chown(work, user.pw_uid, user.pw_gid)
    argv, env = as_user_argv(user.pw_uid, user.pw_gid, CLI)
    env.update(HOME=str(work), EDGEPROF_CACHE=str(work / "cache"))
    proc = subprocess.Popen([*argv, "emulate", "build", "qemu-pi4"], env=env, cwd="/", stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    stop = threading.Timer(180, os.killpg, (proc.pid, signal.SIGKILL))  # a bound, should the host step hang
    stop.start()
    lines: list[str] = []
    try:
        assert proc.stderr is not None
        for line in proc.stderr:
            lines.append(line)
            if "] wheels: " in line:
                break
    finally:
        stop.cancel()
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    logs = list((work / "cache" / "images").glob("*.log"))
    output = "".join(lines) + "".join(log.read_text() for log in logs)
    assert "] wheels: " in lines[-1], output
    assert [ln.split("] ", 1)[1].split(":")[0] for ln in lines if ln.startswith("[")] == ["host", "keys", "wheels"]
    (partial,) = (work / "cache" / "images").glob("qemu-pi4-*.partial")
    assert partial.name == f"{image_for(RECIPES['qemu-pi4']).dir.name}.partial"  # the key root builds too
    assert (partial / "id_ed25519").stat().st_uid == user.pw_uid  # root in the namespace is the user outside
