"""Temperatures (sysfs thermal zones), Raspberry Pi throttling (vcgencmd get_throttled) and cool-down waits."""

from __future__ import annotations

import glob
import os
import subprocess
import threading
import time
from typing import Any, Callable

from ..spec import ThermalSettings

SAMPLE_S = 0.5
COOLDOWN_POLL_S = 1.0
THROTTLE_BITS = {0: "under-voltage", 1: "frequency capped", 2: "throttled", 3: "soft temperature limit"}


def read_zones(root: str) -> dict[str, float]:
    """{zone type: degrees C} for every readable thermal zone (duplicate types get a _N suffix)."""
    temps: dict[str, float] = {}
    for zone in sorted(glob.glob(os.path.join(root, "sys/class/thermal/thermal_zone*"))):
        try:
            with open(os.path.join(zone, "type")) as fh:
                kind = fh.read().strip()
            with open(os.path.join(zone, "temp")) as fh:
                milli = float(fh.read().strip())
        except (OSError, ValueError):
            continue
        name = kind if kind not in temps else f"{kind}_{os.path.basename(zone)[len('thermal_zone'):]}"
        temps[name] = milli / 1000.0
    return temps


def decode_throttled(raw: int) -> dict[str, Any]:
    """vcgencmd get_throttled bits: 0-3 happening now, 16-19 have happened since boot."""
    return {
        "raw": hex(raw),
        "now": [name for bit, name in THROTTLE_BITS.items() if raw & (1 << bit)],
        "occurred": [name for bit, name in THROTTLE_BITS.items() if raw & (1 << (bit + 16))],
    }


def read_throttled(vcgencmd: str) -> dict[str, Any] | None:
    """The Pi's throttle state, or None where vcgencmd is absent or says nothing useful."""
    try:
        out = subprocess.run([vcgencmd, "get_throttled"], capture_output=True, text=True, timeout=5).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    if "=" not in out:
        return None
    try:
        return decode_throttled(int(out.strip().split("=", 1)[1], 16))
    except ValueError:
        return None


def read_cpufreq(root: str) -> dict[str, dict[str, Any]]:
    """Per cpufreq policy: governor and current/max kHz."""
    policies: dict[str, dict[str, Any]] = {}
    for policy in sorted(glob.glob(os.path.join(root, "sys/devices/system/cpu/cpufreq/policy*"))):
        values: dict[str, Any] = {}
        for key, name in (("governor", "scaling_governor"), ("cur_khz", "scaling_cur_freq"),
                          ("max_khz", "cpuinfo_max_freq")):
            try:
                with open(os.path.join(policy, name)) as fh:
                    text = fh.read().strip()
                values[key] = text if key == "governor" else int(text)
            except (OSError, ValueError):
                values[key] = None
        policies[os.path.basename(policy)] = values
    return policies


class ThermalProbe:
    """Temperatures before and after the run, and the maximum in between (sampled at 2 Hz)."""

    def __init__(self, spec: ThermalSettings) -> None:
        self.root = spec.sysfs_root or "/"
        self.vcgencmd = spec.vcgencmd or "vcgencmd"
        self._before: dict[str, float] = {}
        self._freq_before: dict[str, dict[str, Any]] = {}
        self._max: float | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _sample(self) -> None:
        while not self._stop.wait(SAMPLE_S):
            self._update_max(read_zones(self.root))

    def _update_max(self, temps: dict[str, float]) -> None:
        if temps:
            hottest = max(temps.values())
            self._max = hottest if self._max is None else max(self._max, hottest)

    def before(self) -> None:
        """Record the starting temperatures and start the sampler (only if there are zones to read)."""
        self._before = read_zones(self.root)
        self._freq_before = read_cpufreq(self.root)
        self._update_max(self._before)
        if self._before:
            self._thread = threading.Thread(target=self._sample, name="thermal", daemon=True)
            self._thread.start()

    def after(self) -> dict[str, Any]:
        """The `thermal` section of the Result."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
        after = read_zones(self.root)
        self._update_max(after)
        freq_after = read_cpufreq(self.root)
        section: dict[str, Any] = {
            "method": "sensor:thermal_zone" if self._before or after else "none",
            "before_c": self._before,
            "after_c": after,
            "max_c": self._max,
            "throttled": read_throttled(self.vcgencmd),
            "cpufreq_before": self._freq_before,
            "cpufreq_after": freq_after,
        }
        if section["method"] == "none":
            section["reason"] = "no thermal zones on this device"
        return section


def wait_for_cooldown(spec: ThermalSettings, emit_warning: Callable[[str], None]) -> float | None:
    """Wait (at most cooldown_max_s) until the hottest zone is at or below cooldown_to_c; the temperature reached."""
    target = spec.cooldown_to_c
    if target is None:
        return None
    root = spec.sysfs_root or "/"
    deadline = time.monotonic() + float(spec.cooldown_max_s)
    while True:
        temps = read_zones(root)
        if not temps:
            emit_warning("--cooldown-to ignored: the device has no thermal zones")
            return None
        hottest = max(temps.values())
        if hottest <= target:
            return hottest
        left = deadline - time.monotonic()
        if left <= 0:
            emit_warning(f"still {hottest:.1f} C after waiting {spec.cooldown_max_s} s to cool to {target} C")
            return hottest
        time.sleep(min(COOLDOWN_POLL_S, left))
