"""`edgeprof doctor`: what a device has, and what to fix before profiling on it."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.markup import escape

from edgeprof.agent_bundle import build_agent
from edgeprof.devices import LAB_WAIT_S, DeviceProfile, board_mismatch
from edgeprof.errors import DeviceError
from edgeprof.lab import reached
from edgeprof.transport import open_transport
from edgeprof.units import size

MIN_PYTHON = (3, 8)
MIN_FREE_MB = 200
MIN_DISK_MB = 500
SKEWING_GOVERNORS = ("ondemand", "powersave", "conservative", "schedutil")


@dataclass
class DoctorReport:
    """The device's facts and the problems found, each with the fix to apply."""

    device: str
    facts: dict[str, Any]
    problems: list[tuple[str, str]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """JSON form: facts plus problems as {problem, fix}."""
        return {
            "device": self.device,
            "facts": self.facts,
            "problems": [{"problem": p, "fix": f} for p, f in self.problems],
        }

    def render(self, console: Console) -> None:
        """Print the facts, then each problem and its fix."""
        console.print(f"[bold]{escape(self.device)}[/bold]")
        for key, value in self.facts.items():
            label = key.removesuffix("_mb").replace("_", " ")
            console.print(f"  {label}: {escape(fact_text(key, value))}", highlight=False)
        if not self.problems:
            console.print("[green]no problems found[/green]")
        for problem, fix in self.problems:
            console.print(f"[red]problem:[/red] {escape(problem)}\n  [bold]fix:[/bold] {escape(fix)}")


def fact_text(key: str, value: Any) -> str:
    """One fact as a person reads it: no Python reprs (dicts, None, True, 23244.11328125)."""
    if key == "accelerators":
        return accelerator_summary(value)
    if key == "runtimes":
        return runtime_summary(value)
    if key == "power_sensors":
        readable = [method for method, missing in value.items() if missing is None]
        return ", ".join(readable) or "none readable here"
    if key.endswith("_mb") and isinstance(value, (int, float)):
        return size(value)
    if value is None:
        return "unknown"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def runtime_summary(runtimes: dict[str, str | None]) -> str:
    """'onnxruntime 1.32.0, llama-cpp-python 0.3.36; not installed (pip install NAME): onnxruntime-genai': each
    runtime distribution the agent knows, with its version or as one to install."""
    found = ", ".join(f"{dist} {version}" for dist, version in runtimes.items() if version)
    missing = ", ".join(dist for dist, version in runtimes.items() if not version)
    return "; ".join(filter(None, (found, f"not installed (pip install NAME): {missing}" if missing else ""))) or "none"


def accelerator_summary(found: list[dict[str, Any]]) -> str:
    """'onnxruntime 1.32.0: CPUExecutionProvider, ...; ai-edge-litert 2.3.0: xnnpack' from the agent's list."""
    by_runtime: dict[str, list[str]] = {}
    for entry in found:
        by_runtime.setdefault(f"{entry['runtime']} {entry['version']}", []).append(entry["name"])
    return "; ".join(f"{runtime}: {', '.join(names)}" for runtime, names in by_runtime.items()) or "none"


def missing_defaults(profile: DeviceProfile, facts: dict[str, Any]) -> list[tuple[str, str]]:
    """The profile's default providers and delegates the device does not offer (a fallback at the end is fine)."""
    offered = {name for entry in facts.get("accelerators") or [] for name in [entry["name"], *entry.get("aliases", [])]}
    problems = []
    for key, chosen, fallback in (("providers", profile.providers, "cpu"), ("delegates", profile.delegates, "none")):
        names = [a.name for a in chosen or ()]
        missing = [n for n in names if n not in offered and n not in ("cpu", "none", "builtin")]
        if missing:
            falls_back = names[-1] == fallback
            problems.append((f"the profile's [runtime] {key} name {', '.join(missing)}, which the device does not "
                             "offer" + (" (the list falls back, so runs go on without them)" if falls_back else ""),
                             f"install the runtime build that has them, or change [runtime] {key}"))
    return problems


def power_problem(profile: DeviceProfile, facts: dict[str, Any]) -> list[tuple[str, str]]:
    """The profile's power method when its sensor has nothing to read on the device."""
    missing = (facts.get("power_sensors") or {}).get(profile.power.method)
    if missing is None:
        return []
    return [(f"the profile's power method '{profile.power.method}' has nothing to read here ({missing}): energy "
             "figures would be missing", "set [power] method = \"estimate\" with idle_w and max_w (labelled as an "
             "estimate), or a method this board has")]


def find_problems(facts: dict[str, Any], python: str) -> list[tuple[str, str]]:
    """Each thing on the device that would stop or skew a measurement, with the fix."""
    problems: list[tuple[str, str]] = []
    version = tuple(int(p) for p in str(facts.get("python", "0.0")).split(".")[:2])
    if version < MIN_PYTHON:
        problems.append((f"Python {facts.get('python')} is too old (need >= 3.8)", "install python3 >= 3.8 and set "
                         "[connection] python in the device profile"))
    if not facts.get("numpy"):
        problems.append(("numpy is not installed", f"{python} -m pip install numpy"))
    runtimes = facts.get("runtimes") or {}
    if not any(runtimes.values()):
        problems.append(("no inference runtime (onnxruntime, ai-edge-litert, tflite-runtime) is installed",
                         f"{python} -m pip install onnxruntime ai-edge-litert"))
    governor = facts.get("governor")
    if governor in SKEWING_GOVERNORS:
        problems.append((f"CPU governor is '{governor}': latency will be skewed by frequency scaling",
                         "echo performance | sudo tee /sys/devices/system/cpu/cpu*/cpufreq/scaling_governor"))
    free_mb = facts.get("mem_available_mb")
    if free_mb is not None and free_mb < MIN_FREE_MB:
        problems.append((f"only {size(free_mb)} of memory available", "stop other processes on the device"))
    disk_mb = facts.get("disk_free_mb")
    if disk_mb is not None and disk_mb < MIN_DISK_MB:
        problems.append((f"only {size(disk_mb)} free in the work dir", "free disk space or change [connection] work_dir"))
    return problems


def diagnose(profile: DeviceProfile, *, accept_new_host_key: bool = False,
             lab_wait_s: float = LAB_WAIT_S) -> DoctorReport:
    """Connect, run the agent's --doctor probe, and judge what it found (inside the profile's labgrid place)."""
    with reached(profile, lab_wait_s) as (device, _):
        return _diagnose(device, accept_new_host_key)


def _diagnose(profile: DeviceProfile, accept_new_host_key: bool) -> DoctorReport:
    python = profile.connection.python if profile.connection else None
    transport = open_transport(profile.name, profile.kind, profile.connection, accept_new_host_key=accept_new_host_key)
    try:
        transport.connect()
        if python is None:
            import sys

            python = sys.executable
        check = transport.run([python, "-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])"], timeout=30)
        if check.exit_code != 0:
            return DoctorReport(profile.name, {"python": None},
                                [(f"'{python}' does not run on the device: {check.stderr.strip()[:200]}",
                                  "install python3 (apt install python3) or set [connection] python")])
        agent = build_agent()
        upload = transport.put_file(agent.path, agent.sha256, ".pyz")
        probe = transport.run([python, upload.remote_path, "--doctor"], timeout=120)
        try:
            facts = json.loads(probe.stdout)
        except json.JSONDecodeError as exc:
            raise DeviceError(f"device '{profile.name}': the doctor probe failed: "
                              f"{(probe.stderr.strip().splitlines() or ['no output'])[-1]}") from exc
    finally:
        transport.close()
    facts["work_dir"] = transport.work_dir
    problems = find_problems(facts, python) + missing_defaults(profile, facts) + power_problem(profile, facts)
    mismatch = board_mismatch(profile, facts)
    if mismatch:
        problems.append((mismatch, "check the address (the profile's host, ~/.ssh/config), or describe this board "
                                   "in a profile of its own (`extends`, edgeprof docs device-profiles)"))
    return DoctorReport(profile.name, facts, problems)
