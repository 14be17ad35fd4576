"""The device's metadata and the conditions that skew latency (a busy CPU, a power-saving governor, the power
mode)."""

from __future__ import annotations

import os
import platform
import re
import shutil
import subprocess
import sys
import time
from typing import Any

SKEWING_GOVERNORS = ("ondemand", "powersave", "conservative", "schedutil")
BUSY_LOAD_PER_CORE = 0.5
BUSY_CPU_PERCENT = 30.0  # other processes' share of all cores while the agent itself sits idle


def dist_version(dist: str) -> str | None:
    """The installed version of a distribution, None if absent (nothing is imported)."""
    from importlib import metadata  # ~45 ms to import: only where no imported package names its version

    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def module_version(package: str, dist: str) -> str | None:
    """The version of an imported top-level package (its `__version__`), else of its installed distribution."""
    version = getattr(sys.modules.get(package), "__version__", None)
    return version if isinstance(version, str) else dist_version(dist)


def read_text(root: str, path: str) -> str | None:
    try:
        with open(os.path.join(root, path.lstrip("/")), "rb") as fh:
            return fh.read().decode(errors="replace").replace("\x00", "").strip()
    except OSError:
        return None


def cpu_model(root: str = "/") -> str:
    """The CPU's model name from /proc/cpuinfo (x86 'model name', ARM 'Model'/'CPU part'), else the machine."""
    text = read_text(root, "/proc/cpuinfo") or ""
    for key in ("model name", "Model", "Hardware", "CPU part"):
        for line in text.splitlines():
            if line.split(":")[0].strip() == key:
                return line.split(":", 1)[1].strip()
    return platform.machine()


def cpufreq(root: str = "/") -> dict[str, Any]:
    """cpu0's governor and current/max frequency in MHz (None where the kernel has no cpufreq)."""
    base = "/sys/devices/system/cpu/cpu0/cpufreq/"
    cur = read_text(root, base + "scaling_cur_freq")
    top = read_text(root, base + "cpuinfo_max_freq")
    return {
        "governor": read_text(root, base + "scaling_governor"),
        "freq_mhz": {"cur": int(cur) / 1000 if cur else None, "max": int(top) / 1000 if top else None},
    }


NVPMODEL_CONF = "/etc/nvpmodel.conf"
NVPMODEL_STATUS = "/var/lib/nvpmodel/status"


def power_mode(root: str = "/", nvpmodel: str = "nvpmodel") -> str | None:
    """A Jetson's nvpmodel power mode ('MAXN', '15W'); None where the board has none (no /etc/nvpmodel.conf).
    `nvpmodel -q` where the tool is installed, else the mode id in /var/lib/nvpmodel/status named
    from the conf's POWER_MODEL lines ('mode 2' when it is not there)."""
    conf = read_text(root, NVPMODEL_CONF)
    if conf is None:
        return None
    tool = shutil.which(nvpmodel)
    if tool:
        try:
            out = subprocess.run([tool, "-q"], capture_output=True, text=True, timeout=5).stdout
        except (OSError, subprocess.SubprocessError):
            out = ""
        for line in out.splitlines():
            if "Power Mode:" in line:
                return line.split(":", 1)[1].strip()
    current = re.search(r"pmode:\s*(\d+)", read_text(root, NVPMODEL_STATUS) or "")
    if current is None:
        return None
    names = dict(re.findall(r"<\s*POWER_MODEL\s+ID=(\d+)\s+NAME=([^\s>]+)", conf))
    return names.get(str(int(current.group(1))), f"mode {int(current.group(1))}")


def _cpu_times(root: str) -> tuple[int, int] | None:
    """(busy, total) jiffies over all cores from /proc/stat."""
    text = read_text(root, "/proc/stat") or ""
    fields = text.splitlines()[0].split() if text.startswith("cpu ") else []
    if len(fields) < 6:
        return None
    ticks = [int(x) for x in fields[1:9]]  # user nice system idle iowait irq softirq steal
    idle = ticks[3] + ticks[4]
    return sum(ticks) - idle, sum(ticks)


def cpu_busy_percent(root: str = "/", interval_s: float = 0.1) -> float | None:
    """How busy all cores are right now (percent), from two /proc/stat readings; None without /proc/stat."""
    first = _cpu_times(root)
    time.sleep(interval_s)
    second = _cpu_times(root)
    if first is None or second is None:
        return None
    total = second[1] - first[1]
    return 100.0 * (second[0] - first[0]) / total if total > 0 else 0.0


def _own_ticks() -> float:
    """This process's CPU time (all threads, user + system) in /proc/stat ticks."""
    spent = os.times()
    return (spent.user + spent.system) * os.sysconf("SC_CLK_TCK")


# /proc/stat and this process's CPU time when the agent started (it imports this module first): the busy figure
# covers the agent's own start-up, less what the agent itself used, so no fixed sleep is needed.
_STARTED = (_cpu_times("/"), _own_ticks())


def others_busy_percent() -> float | None:
    """Other processes' share of all cores since the agent started (percent), without sleeping; None without
    /proc/stat or when no clock tick elapsed."""
    first, own = _STARTED
    second = _cpu_times("/")
    if first is None or second is None or second[1] <= first[1]:
        return None
    others = second[0] - first[0] - (_own_ticks() - own)
    return max(0.0, min(100.0, 100.0 * others / (second[1] - first[1])))


def system_section(root: str = "/", interval_s: float | None = None) -> tuple[dict[str, Any], list[str]]:
    """The `system` section of the Result and the warnings about conditions that skew latency; the busy figure
    is read over `interval_s` of sleep when given (or for another root), else since the agent started."""
    freq = cpufreq(root)
    cores = os.cpu_count() or 1
    try:
        load = list(os.getloadavg())
    except OSError:
        load = None
    warnings: list[str] = []
    if freq["governor"] in SKEWING_GOVERNORS:
        warnings.append(f"CPU governor is '{freq['governor']}': frequency scaling skews latency "
                        "(set 'performance' for stable figures)")
    busy_percent = others_busy_percent() if interval_s is None and root == "/" else cpu_busy_percent(root, interval_s or 0)
    signs = []
    if load and load[0] > BUSY_LOAD_PER_CORE * cores:
        signs.append(f"load average {load[0]:.2f} on {cores} cores")
    if busy_percent is not None and busy_percent > BUSY_CPU_PERCENT:
        signs.append(f"CPU {busy_percent:.0f}% busy before the run")
    busy = f"the device is busy: {', '.join(signs)}" if signs else None
    if busy:
        warnings.append(busy + ": other processes compete for the CPU")
    section = {
        "board": read_text(root, "/proc/device-tree/model"),
        "cpu_model": cpu_model(root),
        "cpu_count": cores,
        "machine": platform.machine(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "numpy": module_version("numpy", "numpy"),
        "governor": freq["governor"],
        "freq_mhz": freq["freq_mhz"],
        "power_mode": power_mode(root),
        "loadavg": load,
        "cpu_busy_percent": busy_percent,
        "busy_warning": busy,
    }
    return section, warnings
