"""How this host can build an image: as root, or without root inside a user namespace; else what is missing.

Without root the unchanged recipe script runs under `unshare` in a user namespace where the builder is root
(uid 0 is the user itself, so the image's files are the user's) and the user's subordinate ids are uids 1-65535
(the guest's users and groups), with its own mount and PID namespaces: mmdebstrap's root mode, pip and mke2fs see
the same ownership as in a root build. The recipe (and so the image's cache key) is the same either way.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

SYSCTL = Path("/proc/sys")
SUBID_FILES = (Path("/etc/subuid"), Path("/etc/subgid"))
SUBID_COUNT = 65536  # the ids a Debian root's users and groups need (0, the builder, is the user itself)
# sysctl, the value that forbids unprivileged user namespaces
USERNS_SWITCHES = (("user/max_user_namespaces", "0"), ("kernel/unprivileged_userns_clone", "0"),
                   ("kernel/apparmor_restrict_unprivileged_userns", "1"))


@dataclass(frozen=True)
class BuildRoute:
    """What runs the recipe script: nothing in front as root, the user-namespace helper otherwise."""

    prefix: tuple[str, ...]
    missing: tuple[str, ...]  # what keeps this route from working; empty when it can build

    @property
    def rootless(self) -> bool:
        return bool(self.prefix)


def build_route() -> BuildRoute:
    """The route of this process on this host, with what it lacks."""
    if os.geteuid() == 0:
        return BuildRoute((), ())
    uid = os.geteuid()
    user = pwd.getpwuid(uid).pw_name
    starts = [subid_start(user, uid, path) for path in SUBID_FILES]
    missing = [m for m in (binfmt_missing(SYSCTL), userns_missing(SYSCTL), helpers_missing(),
                           subid_missing(user, starts)) if m]
    return BuildRoute(namespace_argv(*(start or 0 for start in starts)), tuple(missing))


def namespace_argv(first_uid: int, first_gid: int) -> tuple[str, ...]:
    """The user namespace a rootless build runs in: root is the user, 1-65535 its subordinate ids."""
    ids = SUBID_COUNT - 1
    # outer,inner,count: the form util-linux 2.38 reads (2.39 and later still accept it)
    return ("unshare", "--map-root-user", f"--map-users={first_uid},1,{ids}", f"--map-groups={first_gid},1,{ids}",
            "--mount", "--pid", "--fork", "--propagation", "unchanged")


def binfmt_missing(sysctl: Path) -> str | None:
    """What is wrong with aarch64 binfmt_misc (it must be enabled with the F flag to work inside the chroot)."""
    entry = sysctl / "fs" / "binfmt_misc" / "qemu-aarch64"
    try:
        lines = entry.read_text().splitlines()
    except OSError:
        return ("binfmt_misc for aarch64 (no qemu-aarch64 entry: root must install qemu-user-static and "
                "binfmt-support once)")
    flags = next((ln.split(":", 1)[1].strip() for ln in lines if ln.startswith("flags:")), "")
    if not lines or lines[0] != "enabled":
        return "binfmt_misc for aarch64 (the qemu-aarch64 entry is disabled: update-binfmts --enable qemu-aarch64)"
    if "F" not in flags:
        return f"binfmt_misc for aarch64 with the F flag (qemu-aarch64 has flags '{flags}': use qemu-user-static's)"
    return None


def userns_missing(sysctl: Path) -> str | None:
    """Why an unprivileged user namespace cannot be made: a sysctl that forbids it, or the kernel's refusal."""
    for name, forbidding in USERNS_SWITCHES:
        try:
            value = (sysctl / name).read_text().strip()
        except OSError:
            continue
        if value == forbidding:
            return f"user namespaces ({name.replace('/', '.')} is {value})"
    try:
        probe = subprocess.run(["unshare", "--user", "--map-root-user", "true"], capture_output=True, text=True,
                               timeout=10)
    except FileNotFoundError:
        return "unshare (package util-linux)"
    except subprocess.TimeoutExpired:
        return "user namespaces (unshare --user did not return within 10 s)"
    if probe.returncode != 0:
        detail = probe.stderr.strip().splitlines()
        return f"user namespaces (unshare --user: {detail[-1] if detail else f'exit status {probe.returncode}'})"
    return None


def helpers_missing() -> str | None:
    """The programs that make the namespace."""
    absent = [tool for tool in ("unshare", "newuidmap", "newgidmap") if shutil.which(tool) is None]
    packages = sorted({"util-linux" if tool == "unshare" else "uidmap" for tool in absent})
    return f"{', '.join(absent)} (package {', '.join(packages)})" if absent else None


def subid_missing(user: str, starts: list[int | None]) -> str | None:
    """Which of /etc/subuid and /etc/subgid (their starts, in SUBID_FILES order) gives the user no range."""
    lacking = [str(path) for path, start in zip(SUBID_FILES, starts) if start is None]
    if not lacking:
        return None
    return (f"a subordinate id range of {SUBID_COUNT} for {user} in {' and '.join(lacking)} "
            f"(usermod --add-subuids 100000-165535 --add-subgids 100000-165535 {user})")


def subid_start(user: str, uid: int, path: Path) -> int | None:
    """The first id of the user's first range of at least SUBID_COUNT ids in a subuid/subgid file, or None."""
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        owner, _, rest = line.partition(":")
        start, _, count = rest.partition(":")
        if owner in (user, str(uid)) and start.isdigit() and count.isdigit() and int(count) >= SUBID_COUNT:
            return int(start)
    return None


def refusal(route: BuildRoute) -> str:
    """The one line a build that cannot run prints."""
    return (f"building an image without root needs: {'; '.join(route.missing)} "
            f"(or run `edgeprof emulate build` as root)")
