"""The facts `edgeprof doctor` reports about a device (`python agent.pyz --doctor`)."""

from __future__ import annotations

import os
import platform
import shutil
from typing import Any

from .backends import backends
from .probes._power_sources import SensorMissing, open_source
from .probes.memory import mem_available_mb
from .probes.system import cpu_model, cpufreq, dist_version, read_text
from .spec import PowerSettings


def board_facts() -> dict[str, Any]:
    """What the board is (`python agent.pyz --board`): arch, cores, CPU model and total RAM, which the host
    compares with the device profile's [hardware]."""
    try:
        ram_mb: float | None = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**20
    except (ValueError, OSError, AttributeError):  # not a POSIX system that reports it
        ram_mb = None
    return {"machine": platform.machine(), "cpu_count": os.cpu_count(), "cpu_model": cpu_model(),
            "mem_total_mb": ram_mb}


SENSOR_METHODS = ("jetson-ina3221", "jetson-iio", "pi5-pmic", "hwmon", "rapl")


def power_sensors() -> dict[str, str | None]:
    """Each power method that reads a sensor: None where it finds one to read here, else why not."""
    found: dict[str, str | None] = {}
    for method in SENSOR_METHODS:
        try:
            open_source(PowerSettings(method=method))
            found[method] = None
        except (SensorMissing, OSError, ValueError) as exc:
            found[method] = str(exc) or type(exc).__name__
    return found


def doctor_facts(work_dir: str) -> dict[str, Any]:
    """What `edgeprof doctor` reports: Python, numpy, psutil, runtimes and the accelerators they offer, memory,
    disk, governor."""
    try:
        import psutil  # noqa: F401

        has_psutil = True
    except ImportError:
        has_psutil = False
    try:
        disk_free = shutil.disk_usage(work_dir).free / 2**20
    except OSError:
        disk_free = None
    return {
        "python": platform.python_version(),
        "numpy": dist_version("numpy"),
        "psutil": has_psutil,
        "runtimes": {dist: version for backend in backends() for dist, version in backend.installed().items()},
        "accelerators": [found for backend in backends() for found in backend.accelerators()],
        **board_facts(),
        "board": read_text("/", "/proc/device-tree/model"),
        "kernel": platform.release(),
        "governor": cpufreq()["governor"],
        "mem_available_mb": mem_available_mb(),
        "disk_free_mb": disk_free,
        "power_sensors": power_sensors(),
    }
