"""Power sources: each discovers its own sensor nodes and reads board watts (and per-rail watts where known).

Every sysfs path hangs off an injectable root and every external tool path is injectable, so tests run this
exact parsing on fixture trees and fake tools. A source that is not on the device raises `SensorMissing`.
"""

from __future__ import annotations

import glob
import os
import re
import shlex
import subprocess
import time

from ..spec import PowerSettings

TOTAL_RAILS = ("VDD_IN", "POM_5V_IN")
PI5_GAIN, PI5_OFFSET_W = 1.1327, 0.6444
_PMIC_LINE = re.compile(r"^\s*(\S+)_([AV])\s+(?:current|volt)\(\d+\)=([-+\d.eE]+)[AV]\s*$")
_WATTS = re.compile(r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*[wW]?\s*$")
ESTIMATE_RESOLUTION = 0.01  # the utilisation estimate resolves one percentage point of its idle-to-max range
_STAT_FIELDS = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal", "guest", "guest_nice")


class SensorMissing(Exception):
    """The requested sensor is not on this device, or stopped answering."""


def _read_number(path: str) -> float:
    with open(path) as fh:
        return float(fh.read().strip())


def _read_text(path: str, default: str = "") -> str:
    try:
        with open(path) as fh:
            return fh.read().strip()
    except OSError:
        return default


class PowerSource:
    """Something that reports board power in watts and, where known, watts per rail."""

    method = "none"
    resolution_w = 0.0  # the smallest difference in watts the source can report (0: as fine as its samples)

    def read(self) -> tuple[float, dict[str, float]]:
        """(total watts, {rail: watts})."""
        raise NotImplementedError


def _total(rails: dict[str, float]) -> float:
    """The board input rail when the sensor has one, else the sum of the rails."""
    for name in TOTAL_RAILS:
        if name in rails:
            return rails[name]
    return sum(rails.values())


class JetsonIna3221(PowerSource):
    """JetPack 5+: INA3221 hwmon channels in{N}_label, in{N}_input (mV) and curr{N}_input (mA)."""

    method = "sensor:jetson-ina3221"

    def __init__(self, root: str) -> None:
        self.channels: list[tuple[str, str, str]] = []
        pattern = os.path.join(root, "sys/bus/i2c/drivers/ina3221/*/hwmon/hwmon*/in*_label")
        for label_path in sorted(glob.glob(pattern)):
            label = _read_text(label_path)
            if label in ("NC", "") or "sum of shunt" in label.lower():
                continue
            folder, index = os.path.dirname(label_path), os.path.basename(label_path)[2:-len("_label")]
            volts, amps = os.path.join(folder, f"in{index}_input"), os.path.join(folder, f"curr{index}_input")
            if os.path.exists(volts) and os.path.exists(amps):
                self.channels.append((label, volts, amps))
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
            label = _read_text(name_path)
            power = os.path.join(os.path.dirname(name_path), f"in_power{name_path.rsplit('_', 1)[1]}_input")
            if label and label != "NC" and os.path.exists(power):
                self.channels.append((label, power))
        if not self.channels:
            raise SensorMissing("no ina3221x iio rails under /sys/bus/i2c/drivers/ina3221x")

    def read(self) -> tuple[float, dict[str, float]]:
        rails = {label: _read_number(mw) / 1000 for label, mw in self.channels}
        return _total(rails), rails


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
        self.read()

    def read(self) -> tuple[float, dict[str, float]]:
        try:
            out = subprocess.run([self.vcgencmd, "pmic_read_adc"], capture_output=True, text=True, timeout=5)
        except (OSError, subprocess.SubprocessError) as exc:
            raise SensorMissing(f"vcgencmd pmic_read_adc could not run ({type(exc).__name__})") from None
        rails = parse_pmic(out.stdout) if out.returncode == 0 else {}
        if not rails:
            raise SensorMissing(f"vcgencmd pmic_read_adc gave no rails (exit {out.returncode}): not a Pi 5?")
        total = sum(rails.values())
        return (PI5_GAIN * total + PI5_OFFSET_W if self.correction else total), rails


class Hwmon(PowerSource):
    """Generic Linux hwmon power{N}_input (else power{N}_average) nodes, microwatts, named by chip and label."""

    method = "sensor:hwmon"

    def __init__(self, root: str) -> None:
        self.nodes: dict[str, str] = {}
        for folder in sorted(glob.glob(os.path.join(root, "sys/class/hwmon/hwmon*"))):
            chip = _read_text(os.path.join(folder, "name"), os.path.basename(folder))
            indices = {re.sub(r"\D", "", os.path.basename(p).split("_")[0])
                       for p in glob.glob(os.path.join(folder, "power*_input")) +
                       glob.glob(os.path.join(folder, "power*_average"))}
            for index in sorted(indices, key=int):
                node = os.path.join(folder, f"power{index}_input")
                if not os.path.exists(node):
                    node = os.path.join(folder, f"power{index}_average")
                rail = f"{chip}/{_read_text(os.path.join(folder, f'power{index}_label'), f'power{index}')}"
                self.nodes[rail if rail not in self.nodes else f"{os.path.basename(folder)}/{rail}"] = node
        if not self.nodes:
            raise SensorMissing("no hwmon power*_input nodes under /sys/class/hwmon")

    def read(self) -> tuple[float, dict[str, float]]:
        rails = {rail: _read_number(node) / 1e6 for rail, node in self.nodes.items()}
        return sum(rails.values()), rails


class Rapl(PowerSource):
    """RAPL energy counters (microjoules) differenced over time, wrap-around handled.

    Top-level domains only (sub-domains are inside their package); when a `psys` (platform) domain exists it
    already contains the packages, so it alone is the total.
    """

    method = "sensor:rapl"

    def __init__(self, root: str) -> None:
        folders = [d for d in sorted(glob.glob(os.path.join(root, "sys/class/powercap/intel-rapl:*")))
                   if re.fullmatch(r"intel-rapl:\d+", os.path.basename(d))]
        if not folders:
            raise SensorMissing("no RAPL domains under /sys/class/powercap")
        self.domains = {_read_text(f"{d}/name", os.path.basename(d)): d for d in folders}
        try:
            self._range = {name: _read_number(f"{d}/max_energy_range_uj") for name, d in self.domains.items()}
            self._last = {name: self._sample(d) for name, d in self.domains.items()}
        except OSError as exc:
            raise SensorMissing(f"RAPL counters are not readable ({exc.strerror})") from None

    @staticmethod
    def _sample(domain: str) -> tuple[float, float]:
        return _read_number(f"{domain}/energy_uj"), time.monotonic()

    def read(self) -> tuple[float, dict[str, float]]:
        rails: dict[str, float] = {}
        for name, domain in self.domains.items():
            energy, now = self._sample(domain)
            last_energy, last_time = self._last[name]
            delta = energy - last_energy
            if delta < 0:  # the counter wrapped past max_energy_range_uj
                delta += self._range[name]
            self._last[name] = (energy, now)
            rails[name] = delta / 1e6 / max(now - last_time, 1e-6)
        return (rails["psys"] if "psys" in rails else sum(rails.values())), rails


class Command(PowerSource):
    """An external meter: a command (no shell) that prints watts. Its text may hold a token: never reported."""

    method = "sensor:command"

    def __init__(self, command: str) -> None:
        try:
            self.argv = shlex.split(command)
        except ValueError:
            raise SensorMissing("the power command cannot be parsed (unbalanced quotes)") from None
        if not self.argv:
            raise SensorMissing("the power command is empty")
        self.read()

    def read(self) -> tuple[float, dict[str, float]]:
        try:
            out = subprocess.run(self.argv, capture_output=True, text=True, timeout=10, stdin=subprocess.DEVNULL)
        except (OSError, subprocess.SubprocessError) as exc:
            raise SensorMissing(f"power command could not run ({type(exc).__name__})") from None
        if out.returncode != 0:
            raise SensorMissing(f"power command failed (exit {out.returncode})")
        match = _WATTS.match(out.stdout.strip().splitlines()[0] if out.stdout.strip() else "")
        if not match:
            raise SensorMissing("power command did not print a number of watts")
        return float(match.group(1)), {}


def cpu_times() -> tuple[float, float]:
    """(all, idle) CPU time since boot, system-wide: psutil when present, else /proc/stat; guest not counted twice."""
    try:
        import psutil
    except ImportError:
        with open("/proc/stat") as fh:
            times = dict(zip(_STAT_FIELDS, (float(x) for x in fh.readline().split()[1:])))
    else:
        times = psutil.cpu_times()._asdict()
    total = sum(value for key, value in times.items() if key not in ("guest", "guest_nice"))
    return total, times["idle"] + times.get("iowait", 0.0)


class Estimate(PowerSource):
    """idle_w + (max_w - idle_w) x system CPU utilisation since the last read: a model, never a measurement."""

    method = "estimate:utilisation"

    def __init__(self, idle_w: float, max_w: float) -> None:
        self.idle_w, self.max_w = idle_w, max_w
        self.resolution_w = abs(max_w - idle_w) * ESTIMATE_RESOLUTION
        self._last = cpu_times()

    def read(self) -> tuple[float, dict[str, float]]:
        total, idle = cpu_times()
        span = total - self._last[0]
        busy = 1.0 - (idle - self._last[1]) / span if span > 0 else 0.0
        self._last = (total, idle)
        return self.idle_w + (self.max_w - self.idle_w) * min(max(busy, 0.0), 1.0), {}


def open_source(spec: PowerSettings) -> PowerSource:
    """The source the RunSpec's power settings ask for; SensorMissing (one line, no command text) if it is not here."""
    method, root = spec.method, spec.sysfs_root or "/"
    if method == "estimate":
        if spec.idle_w is None or spec.max_w is None:
            raise SensorMissing("the estimate needs idle_w and max_w")
        return Estimate(float(spec.idle_w), float(spec.max_w))
    if method == "pi5-pmic":
        return Pi5Pmic(spec.vcgencmd or "vcgencmd", bool(spec.pi5_correction))
    if method == "command":
        if not spec.command:
            raise SensorMissing("power method 'command' needs a command")
        return Command(spec.command)
    sysfs = {"jetson-ina3221": JetsonIna3221, "jetson-iio": JetsonIio, "hwmon": Hwmon, "rapl": Rapl}
    if method not in sysfs:
        raise SensorMissing(f"unknown power method {method!r}")
    return sysfs[method](root)
