"""Memory: RSS at each phase, the peak the kernel recorded, and the system's available memory."""

from __future__ import annotations

import os
import resource
import sys
from typing import Any

MB = 1024 * 1024


def _status_kb(field: str) -> float | None:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return float(line.split()[1])
    except OSError:
        return None
    return None


def rss_mb() -> float | None:
    """Resident set size now, in MB."""
    kb = _status_kb("VmRSS")
    if kb is not None:
        return kb / 1024
    try:
        import psutil

        return psutil.Process().memory_info().rss / MB
    except ImportError:
        return None


def peak_rss_mb() -> float:
    """The peak RSS of this process so far: the kernel's VmHWM, else getrusage's ru_maxrss.

    VmHWM belongs to this process's own address space. ru_maxrss does not: Linux carries it across fork and
    exec, so an agent started by a large parent (the local transport, under the CLI) would report the parent's
    RSS as its own peak. It is only the fallback where /proc is absent.
    """
    hwm = _status_kb("VmHWM")
    if hwm is not None:
        return hwm / 1024
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return maxrss / MB if sys.platform == "darwin" else maxrss / 1024


def mem_available_mb() -> float | None:
    """The system's MemAvailable, in MB."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return float(line.split()[1]) / 1024
    except OSError:
        return None
    return None


class MemoryProbe:
    """Marks RSS at named phases; `section()` builds the `memory` section of the Result."""

    def __init__(self, model_files: list[str]) -> None:
        self.marks: dict[str, float | None] = {"baseline": rss_mb()}
        self.available_before = mem_available_mb()
        sizes = [os.path.getsize(path) for path in model_files if os.path.isfile(path)]
        self.model_file_mb = sum(sizes) / MB if sizes else None

    def mark(self, phase: str) -> None:
        """Record RSS after a phase (after_import, after_load, after_first)."""
        self.marks[phase] = rss_mb()

    def section(self) -> dict[str, Any]:
        """Baseline, after load, after first inference, peak, deltas and MemAvailable before/after."""
        base = self.marks.get("baseline")
        imported = self.marks.get("after_import")
        load = self.marks.get("after_load")
        first = self.marks.get("after_first")
        return {
            "method": "measured",
            "baseline_rss_mb": base,
            "after_import_rss_mb": imported,
            "after_load_rss_mb": load,
            "after_first_rss_mb": first,
            "peak_rss_mb": peak_rss_mb(),
            "runtime_import_mb": imported - base if imported is not None and base is not None else None,
            "model_delta_mb": load - (imported or base) if load is not None and base is not None else None,
            "arena_mb": first - load if first is not None and load is not None else None,
            "mem_available_before_mb": self.available_before,
            "mem_available_after_mb": mem_available_mb(),
            "model_file_mb": self.model_file_mb,
        }
