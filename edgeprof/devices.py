"""Device profiles: load and validate `device_profiles/*.toml` plus user overrides."""

from __future__ import annotations

import difflib
import math
import os
import platform
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised only on Python 3.10
    import tomli as tomllib

from edgeprof.accelerators import parse_accelerators
from edgeprof.agent.spec import EMULATION_MODES, POWER_METHODS, Accelerator
from edgeprof.errors import ConfigError
from edgeprof.paths import package_path
from edgeprof.units import size

BUILTIN_DIR = package_path("device_profiles")
USER_DIR = Path("~/.config/edgeprof/devices")
KINDS = ("local", "ssh")


@dataclass(frozen=True)
class Hardware:
    """What the board is: the facts reports and estimates use."""

    cpu: str
    arch: str
    cores: int
    max_clock_ghz: float
    ram_mb: int
    peak_gflops: float

    def differences(self, board: dict[str, Any]) -> list[str]:
        """How the board reached (the agent's `--board` facts) differs from this description: its arch, its core
        count, its total RAM outside RAM_TOLERANCE of ram_mb. The CPU model is named, not compared: /proc/cpuinfo
        names an ARM CPU by its board or part number, not as profiles do."""
        found = []
        if board.get("machine") and board["machine"] != self.arch:
            found.append("arch")
        if board.get("cpu_count") and board["cpu_count"] != self.cores:
            found.append("cores")
        ram = board.get("mem_total_mb")
        low, high = RAM_TOLERANCE
        if ram and self.ram_mb and not low * self.ram_mb <= ram <= high * self.ram_mb:
            found.append("RAM")
        return found

    def text(self) -> str:
        return f"{self.arch}, {self.cores} cores, {self.cpu}, {size(self.ram_mb)} RAM"


RAM_TOLERANCE = (0.75, 1.1)  # a board's total RAM is this share of its nominal size (the firmware and GPU keep some)


def board_text(board: dict[str, Any]) -> str:
    """The board reached, as Hardware.text writes a profile's."""
    ram = board.get("mem_total_mb")
    return (f"{board.get('machine')}, {board.get('cpu_count')} cores, {board.get('cpu_model')}, "
            + (f"{size(ram)} RAM" if ram else "RAM unknown"))


def board_mismatch(profile: "DeviceProfile", board: dict[str, Any]) -> str | None:
    """One line naming the board reached and the profile's board when they differ (arch, cores or RAM)."""
    differences = profile.hardware.differences(board)
    if not differences:
        return None
    return (f"device '{profile.name}': the board reached differs in {', '.join(differences)} from the profile: "
            f"reached {board_text(board)}; profile {profile.name}: {profile.hardware.text()}")


@dataclass(frozen=True)
class Connection:
    """How to reach an SSH device; None fields fall back to ssh_config, then OpenSSH's defaults."""

    host: str
    port: int | None = None
    user: str | None = None
    identity_file: str | None = None
    python: str = "python3"
    work_dir: str = "~/.edgeprof"
    connect_timeout_s: float = 10.0
    ssh_config: str | None = None
    known_hosts: str | None = None
    io_timeout_s: float = 120.0  # the longest silence on an open link (SFTP read/write, a stalled send, agent output)
    max_cache_mb: int | None = None  # blobs beyond this are evicted after a deploy, oldest first, never those in use


@dataclass(frozen=True)
class PowerConfig:
    """How power is read on the device, or the figures an estimate is built from."""

    method: str = "estimate"
    idle_w: float | None = None
    max_w: float | None = None
    command: str | None = None
    pi5_correction: bool = False
    sample_hz: float = 20.0


@dataclass(frozen=True)
class CostConfig:
    """The figures behind cost per million inferences."""

    hardware_usd: float = 0.0
    lifetime_hours: float = 26280.0
    energy_usd_per_kwh: float = 0.0


LAB_WAIT_S = 60.0  # how long a labgrid place someone else holds is waited for by default (`--lab-wait`)


@dataclass(frozen=True)
class LabConfig:
    """A profile's `[lab]` table: one place by name, or any idle place whose tags include these."""

    place: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    coordinator: str | None = None

    def address(self) -> str:
        """The coordinator: the profile's, else `LG_COORDINATOR`."""
        address = self.coordinator or os.environ.get("LG_COORDINATOR")
        if not address:
            raise ConfigError("a [lab] profile needs a coordinator: set [lab] coordinator or LG_COORDINATOR")
        return address

    def describe(self) -> str:
        return self.place or ", ".join(f"{k}={v}" for k, v in self.tags.items())


@dataclass(frozen=True)
class DeviceProfile:
    """One device kind, as described by its TOML file (and any per-run overrides)."""

    name: str
    source: Path
    description: str
    kind: str
    hardware: Hardware
    power: PowerConfig
    connection: Connection | None = None
    threads: int | None = None
    memory_limit_mb: int | None = None
    providers: tuple[Accelerator, ...] | None = None  # ONNX Runtime's execution providers, in order
    delegates: tuple[Accelerator, ...] | None = None  # TFLite delegates, in order
    emulation: str | None = None
    emulation_calibrated: bool = False
    constraints: dict[str, str] = field(default_factory=dict)
    cost: CostConfig | None = None
    lab: LabConfig | None = None  # a labgrid place to acquire; its NetworkService gives host, user and port

    def summary(self) -> dict[str, Any]:
        """The profile facts copied into every Result (`device_info`)."""
        hw = self.hardware
        return {
            "name": self.name,
            "description": self.description,
            "emulated": self.emulation,
            "hardware": {
                "cpu": hw.cpu,
                "arch": hw.arch,
                "cores": hw.cores,
                "max_clock_ghz": hw.max_clock_ghz,
                "ram_mb": hw.ram_mb,
                "peak_gflops": hw.peak_gflops,
            },
        }


# ---------------------------------------------------------------- validation

_TYPES: dict[type, tuple[type, ...]] = {str: (str,), int: (int,), float: (int, float), bool: (bool,), dict: (dict,),
                                        list: (list,)}
_TYPE_NAMES = {str: "a string", int: "an integer", float: "a number", bool: "true or false", dict: "a table",
               list: "a list of strings"}


def _check_table(data: Any, spec: dict[str, tuple[type, bool]], where: str, src: Path) -> dict[str, Any]:
    """Validate one TOML table against {key: (type, required)}; return the typed values."""
    if not isinstance(data, dict):
        raise ConfigError(f"{src}: [{where}] must be a table")
    unknown = sorted(set(data) - set(spec))
    if unknown:
        key = unknown[0]
        hint = difflib.get_close_matches(key, list(spec), n=1)
        raise ConfigError(
            f"{src}: unknown key {_key(where, key)}"
            + (f" (did you mean '{hint[0]}'?)" if hint else f" (valid keys: {', '.join(spec)})")
        )
    out: dict[str, Any] = {}
    for key, (typ, required) in spec.items():
        if key not in data:
            if required:
                raise ConfigError(f"{src}: missing required key {_key(where, key)}")
            continue
        value = data[key]
        if (isinstance(value, bool) and typ is not bool) or not isinstance(value, _TYPES[typ]):
            raise ConfigError(f"{src}: {_key(where, key)} must be {_TYPE_NAMES[typ]}, got {value!r}")
        if typ in (int, float):
            check_number(value, f"{src}: {_key(where, key)}", positive=key in _POSITIVE,
                         at_most=LONGEST_WAIT_S if key.endswith("_timeout_s") else None)
        out[key] = float(value) if typ is float else value
    return out


# Keys whose zero means nothing usable: a timeout that fires at once, no cores, a sampler that never samples.
_POSITIVE = frozenset({"cores", "ram_mb", "connect_timeout_s", "io_timeout_s", "sample_hz", "lifetime_hours",
                       "threads", "memory_limit_mb"})
LONGEST_WAIT_S = 86400.0  # a timeout or wait beyond a day is a typo, and beyond ~3e8 s the clocks overflow


def check_number(value: float, where: str, *, positive: bool = False, at_most: float | None = None) -> None:
    """ConfigError unless `value` is a finite number, not negative (above zero when `positive`) and at most
    `at_most`: NaN slips past every comparison (a NaN timeout is no timeout), infinity overflows the clocks."""
    if not math.isfinite(value):
        raise ConfigError(f"{where} must be a finite number, got {value!r}")
    if value < 0 or (positive and value == 0):
        raise ConfigError(f"{where} must be {'above zero' if positive else 'zero or more'}, got {value!r}")
    if at_most is not None and value > at_most:
        raise ConfigError(f"{where} must be at most {at_most:g}, got {value!r}")


def _key(where: str, key: str) -> str:
    return f"'{where}.{key}'" if where else f"'{key}'"


def _choice(value: str | None, choices: tuple[str, ...], key: str, src: Path) -> None:
    if value is not None and value not in choices:
        raise ConfigError(f"{src}: '{key}' must be one of {', '.join(choices)}, got {value!r}")


_TOP = {
    "description": (str, True),
    "kind": (str, True),
    "emulation": (str, False),
    "emulation_calibrated": (bool, False),
    "hardware": (dict, False),
    "connection": (dict, False),
    "runtime": (dict, False),
    "power": (dict, True),
    "constraints": (dict, False),
    "cost": (dict, False),
    "lab": (dict, False),
}
_HARDWARE = {
    "cpu": (str, True),
    "arch": (str, True),
    "cores": (int, True),
    "max_clock_ghz": (float, True),
    "ram_mb": (int, True),
    "peak_gflops": (float, True),
}
_CONNECTION = {
    "host": (str, True),
    "port": (int, False),
    "user": (str, False),
    "identity_file": (str, False),
    "python": (str, False),
    "work_dir": (str, False),
    "connect_timeout_s": (float, False),
    "ssh_config": (str, False),
    "known_hosts": (str, False),
    "io_timeout_s": (float, False),
    "max_cache_mb": (int, False),
}
_RUNTIME = {"threads": (int, False), "memory_limit_mb": (int, False), "providers": (list, False),
            "delegates": (list, False)}
_POWER = {
    "method": (str, True),
    "idle_w": (float, False),
    "max_w": (float, False),
    "command": (str, False),
    "pi5_correction": (bool, False),
    "sample_hz": (float, False),
}
_LAB = {"place": (str, False), "tags": (dict, False), "coordinator": (str, False)}
_COST = {"hardware_usd": (float, False), "lifetime_hours": (float, False), "energy_usd_per_kwh": (float, False)}


def parse_profile(name: str, data: dict[str, Any], src: Path) -> DeviceProfile:
    """Validate the TOML data of one profile; every error names the file and the key."""
    top = _check_table(data, _TOP, "", src)
    _choice(top["kind"], KINDS, "kind", src)
    _choice(top.get("emulation"), EMULATION_MODES, "emulation", src)
    if "hardware" in top:
        hardware = Hardware(**_check_table(top["hardware"], _HARDWARE, "hardware", src))
    elif top["kind"] == "local":
        hardware = detect_host_hardware()
    else:
        raise ConfigError(f"{src}: missing required table '[hardware]'")
    power = PowerConfig(**_check_table(top["power"], _POWER, "power", src))
    _choice(power.method, POWER_METHODS, "power.method", src)
    if power.method == "estimate" and (power.idle_w is None or power.max_w is None):
        raise ConfigError(f"{src}: power.method 'estimate' needs 'power.idle_w' and 'power.max_w'")
    if power.method == "command" and not power.command:
        raise ConfigError(f"{src}: power.method 'command' needs 'power.command'")
    lab = _parse_lab(top["lab"], top["kind"], src) if "lab" in top else None
    connection = None
    if "connection" in top:
        spec = {**_CONNECTION, "host": (str, lab is None)}  # a place's NetworkService gives the host
        connection = Connection(**{"host": "", **_check_table(top["connection"], spec, "connection", src)})
        if connection.port is not None:
            check_port(connection.port, f"{src}: 'connection.port'")
    elif lab is not None:
        connection = Connection(host="")
    elif top["kind"] == "ssh":
        raise ConfigError(f"{src}: missing required table '[connection]' for kind 'ssh'")
    runtime = _check_table(top.get("runtime", {}), _RUNTIME, "runtime", src)
    cost = CostConfig(**_check_table(top["cost"], _COST, "cost", src)) if "cost" in top else None
    constraints = _parse_constraints(top.get("constraints", {}), src)
    return DeviceProfile(
        name=name,
        source=src,
        description=top["description"],
        kind=top["kind"],
        hardware=hardware,
        power=power,
        connection=connection,
        threads=runtime.get("threads"),
        memory_limit_mb=runtime.get("memory_limit_mb"),
        providers=_accelerators(runtime.get("providers"), "runtime.providers", src),
        delegates=_accelerators(runtime.get("delegates"), "runtime.delegates", src),
        emulation=top.get("emulation"),
        emulation_calibrated=top.get("emulation_calibrated", False),
        constraints=constraints,
        cost=cost,
        lab=lab,
    )


def _parse_lab(table: Any, kind: str, src: Path) -> LabConfig:
    """`[lab]`: `place = "pi4-01"` or `tags = {board = "pi4"}` (not both), optional `coordinator = "host:port"`."""
    values = _check_table(table, _LAB, "lab", src)
    if kind != "ssh":
        raise ConfigError(f"{src}: [lab] needs kind 'ssh' (the place is reached over SSH)")
    if ("place" in values) == ("tags" in values):
        raise ConfigError(f"{src}: [lab] needs exactly one of 'lab.place' and 'lab.tags'")
    tags = values.get("tags", {})
    if "tags" in values and (not tags or not all(isinstance(v, str) for v in tags.values())):
        raise ConfigError(f"{src}: 'lab.tags' must be a non-empty table of strings, like {{board = \"pi4\"}}")
    return LabConfig(place=values.get("place"), tags=tags, coordinator=values.get("coordinator"))


def _accelerators(entries: list[Any] | None, key: str, src: Path) -> tuple[Accelerator, ...] | None:
    """A [runtime] list such as ["tensorrt:trt_fp16_enable=1", "cuda", "cpu"]: one ordered configuration."""
    if entries is None:
        return None
    if not entries or not all(isinstance(e, str) for e in entries):
        raise ConfigError(f"{src}: '{key}' must be a non-empty list of strings like \"openvino:device_type=CPU\"")
    return tuple(a for entry in entries for a in parse_accelerators(entry, f"{src}: '{key}'"))


def detect_host_hardware() -> Hardware:
    """The hardware facts of this machine, for the `local` profile (peak GFLOP/s unknown: 0)."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        khz = int(Path("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq").read_text())
    except (OSError, ValueError):
        khz = 0
    ram_mb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2**20
    return Hardware(
        cpu=cpu,
        arch=platform.machine(),
        cores=os.cpu_count() or 1,
        max_clock_ghz=round(khz / 1e6, 2),
        ram_mb=int(ram_mb),
        peak_gflops=0.0,
    )


def _parse_constraints(table: dict[str, Any], src: Path) -> dict[str, str]:
    """Constraint values are 'OP NUMBER' strings; the metric and bound are checked by edgeprof.constraints."""
    from edgeprof.constraints import parse_constraint

    out: dict[str, str] = {}
    for metric, value in table.items():
        where = f"{src} [constraints] {metric}"
        if not isinstance(value, str):
            raise ConfigError(f"{src}: 'constraints.{metric}' must be a string like \"<= 100\", got {value!r}")
        parse_constraint(f"{metric}{value}", source=where)
        out[metric] = value
    return out


# ---------------------------------------------------------------- lookup


def search_path() -> list[Path]:
    """Profile directories, lowest precedence first: built-in, user config, then $EDGEPROF_DEVICE_PATH."""
    dirs = [BUILTIN_DIR, USER_DIR.expanduser()]
    extra = os.environ.get("EDGEPROF_DEVICE_PATH", "")
    dirs += [Path(p).expanduser() for p in extra.split(os.pathsep) if p]
    return dirs


def profile_files() -> dict[str, Path]:
    """Every visible profile name and the file that defines it last (later directories win)."""
    found: dict[str, Path] = {}
    for directory in search_path():
        if directory.is_dir():
            for path in sorted(directory.glob("*.toml")):
                found[path.stem] = path
    return found


def read_toml(path: Path) -> dict[str, Any]:
    """A TOML file's tables (a profile, edgeprof.toml); ConfigError naming the file when it is a directory or
    not a regular file (a FIFO would block the read), cannot be read, is not UTF-8 or is not TOML."""
    try:
        if path.is_dir():
            raise ConfigError(f"{path}: is a directory, not a TOML file")
        if path.exists() and not path.is_file():
            raise ConfigError(f"{path}: not a regular file")
        return tomllib.loads(path.read_bytes().decode("utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset {exc.start})") \
            from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: malformed TOML: {exc}") from exc


def load_profile_file(path: Path) -> DeviceProfile:
    """Load one profile file (and the profile it `extends`); its name is the file's stem."""
    return parse_profile(path.stem, _with_base(read_toml(path), path, (path.stem,)), path)


def load_profile(name: str) -> DeviceProfile:
    """Load a device profile by name: every file of that name merged key by key, lowest precedence first (a user's
    `pi4.toml` holding only `[connection] python = ...` changes that key of the shipped pi4); an unknown name
    suggests the nearest ones."""
    files = profile_files()
    if name not in files:
        raise ConfigError(f"unknown device '{name}' ({_near(name, files)})")
    return parse_profile(name, _layered(name, ()), files[name])


def _near(name: str, files: dict[str, Path]) -> str:
    near = difflib.get_close_matches(name, list(files), n=3)
    return f"did you mean {', '.join(near)}?" if near else f"known devices: {', '.join(sorted(files))}"


def _layered(name: str, chain: tuple[str, ...]) -> dict[str, Any]:
    """The TOML data of every file named `name` in the search path, merged in order (each after its `extends`)."""
    data: dict[str, Any] = {}
    for directory in search_path():
        path = directory / f"{name}.toml"
        if path.is_file():
            data = merge_tables(data, _with_base(read_toml(path), path, (*chain, name)))
    return data


def _with_base(data: dict[str, Any], src: Path, chain: tuple[str, ...]) -> dict[str, Any]:
    """A file's data over the profile its top-level `extends = "NAME"` names (itself merged by name)."""
    if "extends" not in data:
        return data
    base = data.pop("extends")
    if not isinstance(base, str):
        raise ConfigError(f"{src}: 'extends' must be a profile name like \"pi4\", got {base!r}")
    if base in chain:
        raise ConfigError(f"{src}: 'extends' = {base!r} goes round in a circle ({' -> '.join((*chain, base))})")
    files = profile_files()
    if base not in files:
        raise ConfigError(f"{src}: 'extends': unknown device '{base}' ({_near(base, files)})")
    return merge_tables(_layered(base, chain), data)


def merge_tables(low: dict[str, Any], high: dict[str, Any]) -> dict[str, Any]:
    """`high` over `low`, key by key: tables merge, every other value replaces."""
    out = dict(low)
    for key, value in high.items():
        both_tables = isinstance(value, dict) and isinstance(out.get(key), dict)
        out[key] = merge_tables(out[key], value) if both_tables else value
    return out


MAX_PORT = 65535
MAX_THREADS = 256
THREADS_PER_CORE = 4


def check_port(port: int, where: str) -> None:
    """ConfigError unless `port` is a TCP port, 1-65535 (a larger one would wrap, 0 would mean any)."""
    if not 1 <= port <= MAX_PORT:
        raise ConfigError(f"{where} {port}: not a TCP port (expected 1-{MAX_PORT})")


def check_threads(threads: int, profile: DeviceProfile, option: str) -> None:
    """ConfigError unless `threads` is at most THREADS_PER_CORE x the device's cores and at most MAX_THREADS:
    more only makes the runtime allocate thread pools for minutes."""
    limit = min(MAX_THREADS, THREADS_PER_CORE * max(profile.hardware.cores, 1))
    if threads > limit:
        raise ConfigError(f"{option} {threads}: too many for device '{profile.name}' with {profile.hardware.cores} "
                          f"cores (at most {limit}: {THREADS_PER_CORE}x its cores, never above {MAX_THREADS})")


def with_overrides(
    profile: DeviceProfile,
    *,
    host: str | None = None,
    port: int | None = None,
    user: str | None = None,
    identity: str | None = None,
) -> DeviceProfile:
    """Apply per-run connection overrides (--host --port --user --identity); a given --port must be a TCP port."""
    if port is not None:
        check_port(port, "--port")
    changes = {k: v for k, v in {"host": host, "port": port, "user": user, "identity_file": identity}.items() if v}
    if not changes:
        return profile
    if profile.kind != "ssh":
        raise ConfigError(f"device '{profile.name}' is local: --host/--port/--user/--identity do not apply")
    assert profile.connection is not None
    return replace(profile, connection=replace(profile.connection, **changes))
