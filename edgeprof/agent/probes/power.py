"""Power and energy per inference: real sensors where the board has them, a labelled estimate where not.

Each source discovers its own nodes under an injectable sysfs root (so tests run the real parsing on fixture
trees) and reports watts; `measure_energy` runs an idle window, then a load window of inferences while a
sampler thread reads the source.
"""

from __future__ import annotations

import glob
import os
import re
import shlex
import subprocess
import threading
import time
from typing import Any, Callable

TOTAL_RAILS = ("VDD_IN", "POM_5V_IN")
PI5_GAIN, PI5_OFFSET_W = 1.1327, 0.6444
_PMIC_LINE = re.compile(r"^\s*(\S+)_([AV])\s+(?:current|volt)\(\d+\)=([-\d.]+)[AV]\s*$")


class SensorMissing(Exception):
    """The requested sensor is not on this device."""


def _read_number(path: str) -> float:
    with open(path) as fh:
        return float(fh.read().strip())


class PowerSource:
    """Something that reports board power in watts (`read`) and, where known, per rail."""

    method = "none"

    def read(self) -> tuple[float, dict[str, float]]:
        """(total watts, {rail: watts})."""
        raise NotImplementedError


class JetsonIna3221(PowerSource):
    """JetPack 5+: INA3221 hwmon channels in{N}_label / in{N}_input (mV) / curr{N}_input (mA)."""

    method = "sensor:jetson-ina3221"

    def __init__(self, root: str) -> None:
        self.channels: list[tuple[str, str, str]] = []
        pattern = os.path.join(root, "sys/bus/i2c/drivers/ina3221/*/hwmon/hwmon*/in*_label")
        for label_path in sorted(glob.glob(pattern)):
            with open(label_path) as fh:
                label = fh.read().strip()
            if label in ("NC", "") or "sum of shunt" in label.lower():
                continue
            base = label_path[: -len("_label")]
            index = base.rsplit("in", 1)[1]
            current = os.path.join(os.path.dirname(base), f"curr{index}_input")
            if os.path.exists(base + "_input") and os.path.exists(current):
                self.channels.append((label, base + "_input", current))
        if not self.channels:
            raise SensorMissing("no INA3221 channels under /sys/bus/i2c/drivers/ina3221")

    def read(self) -> tuple[float, dict[str, float]]:
        rails = {label: _read_number(mv) * _read_number(ma) / 1e6 for label, mv, ma in self.channels}
        return _total(rails), rails


class JetsonIio(PowerSource):
    """JetPack 4: ina3221x iio nodes rail_name_{N} and in_power{N}_input (mW)."""

    method = "sensor:jetson-iio"

    def __init__(self, root: str) -> None:
        self.channels: list[tuple[str, str]] = []
        pattern = os.path.join(root, "sys/bus/i2c/drivers/ina3221x/*/iio:device*/rail_name_*")
        for name_path in sorted(glob.glob(pattern)):
            with open(name_path) as fh:
                label = fh.read().strip()
            power = os.path.join(os.path.dirname(name_path), f"in_power{name_path.rsplit('_', 1)[1]}_input")
            if label and os.path.exists(power):
                self.channels.append((label, power))
        if not self.channels:
            raise SensorMissing("no ina3221x iio rails under /sys/bus/i2c/drivers/ina3221x")

    def read(self) -> tuple[float, dict[str, float]]:
        rails = {label: _read_number(mw) / 1000 for label, mw in self.channels}
        return _total(rails), rails


def _total(rails: dict[str, float]) -> float:
    for name in TOTAL_RAILS:
        if name in rails:
            return rails[name]
    return sum(rails.values())


def parse_pmic(text: str) -> dict[str, float]:
    """`vcgencmd pmic_read_adc` output into {rail: watts}, pairing each RAIL_A current with its RAIL_V volts."""
    amps: dict[str, float] = {}
    volts: dict[str, float] = {}
    for line in text.splitlines():
        match = _PMIC_LINE.match(line)
        if match:
            rail, unit, value = match.groups()
            (amps if unit == "A" else volts)[rail] = float(value)
    return {rail: amps[rail] * volts[rail] for rail in sorted(amps) if rail in volts}


class Pi5Pmic(PowerSource):
    """Raspberry Pi 5 PMIC rails via vcgencmd; optionally the published linear correction to board input."""

    def __init__(self, vcgencmd: str, correction: bool) -> None:
        self.vcgencmd = vcgencmd
        self.correction = correction
        self.method = "sensor:pi5-pmic+correction" if correction else "sensor:pi5-pmic"
        try:
            self.read()
        except (OSError, subprocess.SubprocessError, ValueError) as exc:
            raise SensorMissing(f"vcgencmd pmic_read_adc is not available ({type(exc).__name__})") from exc

    def read(self) -> tuple[float, dict[str, float]]:
        out = subprocess.run([self.vcgencmd, "pmic_read_adc"], capture_output=True, text=True, timeout=5, check=True)
        rails = parse_pmic(out.stdout)
        if not rails:
            raise ValueError("no rails in pmic_read_adc output")
        total = sum(rails.values())
        return (PI5_GAIN * total + PI5_OFFSET_W if self.correction else total), rails


class Hwmon(PowerSource):
    """Generic Linux hwmon power*_input nodes (microwatts)."""

    method = "sensor:hwmon"

    def __init__(self, root: str) -> None:
        self.nodes = sorted(glob.glob(os.path.join(root, "sys/class/hwmon/hwmon*/power*_input")))
        if not self.nodes:
            raise SensorMissing("no hwmon power*_input nodes")

    def read(self) -> tuple[float, dict[str, float]]:
        rails = {os.path.relpath(n, os.path.dirname(os.path.dirname(n))): _read_number(n) / 1e6 for n in self.nodes}
        return sum(rails.values()), rails


class Rapl(PowerSource):
    """x86 RAPL package energy counters (microjoules), differenced over time, wrap-around handled."""

    method = "sensor:rapl"

    def __init__(self, root: str) -> None:
        self.domains = [d for d in sorted(glob.glob(os.path.join(root, "sys/class/powercap/intel-rapl:*")))
                        if re.fullmatch(r"intel-rapl:\d+", os.path.basename(d))]
        try:
            self._last = [(_read_number(f"{d}/energy_uj"), time.monotonic()) for d in self.domains]
            self._range = [_read_number(f"{d}/max_energy_range_uj") for d in self.domains]
        except OSError as exc:
            raise SensorMissing(f"RAPL counters are not readable ({exc.strerror})") from exc
        if not self.domains:
            raise SensorMissing("no RAPL domains under /sys/class/powercap")

    def read(self) -> tuple[float, dict[str, float]]:
        rails: dict[str, float] = {}
        for i, domain in enumerate(self.domains):
            energy, now = _read_number(f"{domain}/energy_uj"), time.monotonic()
            last_energy, last_time = self._last[i]
            delta = energy - last_energy
            if delta < 0:  # the counter wrapped
                delta += self._range[i]
            self._last[i] = (energy, now)
            rails[os.path.basename(domain)] = delta / 1e6 / max(now - last_time, 1e-6)
        return sum(rails.values()), rails


class Command(PowerSource):
    """An external meter: a command that prints watts. Its text may hold a token: it never appears in output."""

    method = "sensor:command"

    def __init__(self, command: str) -> None:
        self.argv = shlex.split(command)
        self.read()

    def read(self) -> tuple[float, dict[str, float]]:
        try:
            out = subprocess.run(self.argv, capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise SensorMissing(f"the power command could not run ({type(exc).__name__})") from None
        if out.returncode != 0:
            raise SensorMissing(f"the power command failed (exit {out.returncode})")
        try:
            return float(out.stdout.strip().split()[0].rstrip("Ww")), {}
        except (ValueError, IndexError):
            raise SensorMissing("the power command did not print a number of watts") from None


class CpuTimes:
    """System-wide CPU utilisation between successive calls, from /proc/stat (psutil when /proc is absent)."""

    def __init__(self) -> None:
        self._last = self._times()

    @staticmethod
    def _times() -> tuple[float, float]:
        try:
            with open("/proc/stat") as fh:
                fields = [float(x) for x in fh.readline().split()[1:]]
            idle = fields[3] + (fields[4] if len(fields) > 4 else 0.0)
            return sum(fields), idle
        except (OSError, ValueError, IndexError):
            import psutil

            t = psutil.cpu_times()
            return sum(t), t.idle

    def utilisation(self) -> float:
        """The busy fraction since the last call, 0..1."""
        total, idle = self._times()
        last_total, last_idle = self._last
        self._last = (total, idle)
        span = total - last_total
        return min(max(1.0 - (idle - last_idle) / span, 0.0), 1.0) if span > 0 else 0.0


class Estimate(PowerSource):
    """idle_w + (max_w - idle_w) x CPU utilisation: a model of the board, never a measurement."""

    method = "estimate:utilisation"

    def __init__(self, idle_w: float, max_w: float) -> None:
        self.idle_w, self.max_w = idle_w, max_w
        self._cpu = CpuTimes()

    def read(self) -> tuple[float, dict[str, float]]:
        return self.idle_w + (self.max_w - self.idle_w) * self._cpu.utilisation(), {}


def open_source(spec: dict[str, Any]) -> PowerSource:
    """The source the spec asks for; SensorMissing if it is not on this device."""
    method, root = spec["method"], spec.get("sysfs_root") or "/"
    if method == "jetson-ina3221":
        return JetsonIna3221(root)
    if method == "jetson-iio":
        return JetsonIio(root)
    if method == "pi5-pmic":
        return Pi5Pmic(spec.get("vcgencmd") or "vcgencmd", bool(spec.get("pi5_correction")))
    if method == "hwmon":
        return Hwmon(root)
    if method == "rapl":
        return Rapl(root)
    if method == "command":
        if not spec.get("command"):
            raise SensorMissing("power method 'command' needs a command")
        return Command(spec["command"])
    if method == "estimate":
        if spec.get("idle_w") is None or spec.get("max_w") is None:
            raise SensorMissing("the estimate needs idle_w and max_w")
        return Estimate(float(spec["idle_w"]), float(spec["max_w"]))
    raise SensorMissing(f"unknown power method {method!r}")


class Sampler:
    """Reads a source at a fixed rate in its own thread."""

    def __init__(self, source: PowerSource, hz: float) -> None:
        self.source, self.period = source, 1.0 / max(hz, 0.1)
        self.watts: list[float] = []
        self.rails: dict[str, list[float]] = {}
        self.error: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="power-sampler", daemon=True)

    def _loop(self) -> None:
        while not self._stop.wait(self.period):
            try:
                total, rails = self.source.read()
            except (OSError, ValueError, SensorMissing, subprocess.SubprocessError) as exc:
                self.error = str(exc) if isinstance(exc, SensorMissing) else type(exc).__name__
                return
            self.watts.append(total)
            for rail, watts in rails.items():
                self.rails.setdefault(rail, []).append(watts)

    def __enter__(self) -> "Sampler":
        self.source.read()  # prime counters (RAPL, CPU times) so the first sample covers one period
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def measure_energy(run_once: Callable[[], Any], spec: dict[str, Any],
                   emit_progress: Callable[[int, int | None], None]) -> dict[str, Any] | None:
    """Idle baseline, then a load window of inferences with power sampled; the `power` section (or None)."""
    if spec["method"] == "none" or float(spec.get("seconds") or 0) <= 0:
        return None
    fallback_reason = None
    try:
        source = open_source(spec)
    except (SensorMissing, OSError) as exc:
        if spec.get("idle_w") is None or spec.get("max_w") is None or spec["method"] == "estimate":
            return {"method": "none", "reason": str(exc)}
        fallback_reason = f"{spec['method']}: {exc}"
        source = Estimate(float(spec["idle_w"]), float(spec["max_w"]))
    hz = float(spec.get("sample_hz") or 20)
    with Sampler(source, hz) as idle:
        time.sleep(float(spec.get("idle_seconds") or 0))
    with Sampler(source, hz) as load:
        start = time.perf_counter()
        deadline = start + float(spec["seconds"])
        count = 0
        while time.perf_counter() < deadline:
            run_once()
            count += 1
            if count % 100 == 0:
                emit_progress(int((time.perf_counter() - start) * 1000), int(float(spec["seconds"]) * 1000))
        window = time.perf_counter() - start
    if load.error or not load.watts:
        return {"method": "none", "reason": load.error or "no power samples in the load window"}
    avg_w = _mean(load.watts) or 0.0
    idle_w = _mean(idle.watts)
    joules = avg_w * window
    section: dict[str, Any] = {
        "method": source.method,
        "idle_w": idle_w,
        "avg_w": avg_w,
        "peak_w": max(load.watts),
        "energy_mj_per_inference": joules / count * 1000 if count else None,
        "net_energy_mj_per_inference": (avg_w - idle_w) * window / count * 1000 if count and idle_w is not None
        else None,
        "inferences_per_joule": count / joules if joules > 0 else None,
        "window_s": window,
        "inferences": count,
        "sample_hz": len(load.watts) / window if window > 0 else None,
        "samples": len(load.watts),
        "rails": {rail: _mean(values) for rail, values in load.rails.items()},
    }
    if fallback_reason:
        section["fallback_reason"] = fallback_reason
    return section
