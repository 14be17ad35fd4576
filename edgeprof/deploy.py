"""Orchestration: push the agent, model and data to a device, run the agent, collect one Result per model."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from edgeprof import __version__
from edgeprof.agent_bundle import build_agent
from edgeprof.artifacts import ModelArtifact
from edgeprof.devices import DeviceProfile
from edgeprof.errors import DeviceError
from edgeprof.results import RESULT_SCHEMA_VERSION, utc_now
from edgeprof.transport import Transport, open_transport

# Event callback: (device, model label, event dict from the agent).
EventSink = Callable[[str, str, dict[str, Any]], None]

FINAL_EVENTS = ("result", "error")
LOCK_FILE = "device.lock"


@dataclass(frozen=True)
class LatencyBudget:
    """The stopping rule of the steady-state latency phase."""

    min_runs: int = 50
    max_runs: int = 5000
    min_seconds: float = 1.0
    max_seconds: float = 20.0
    target_rel_halfwidth: float = 0.02
    confidence: float = 0.95
    warmup_min: int = 5
    warmup_max: int = 200
    keep_samples: int = 5000


@dataclass(frozen=True)
class DeployOptions:
    """Everything about a deploy that is not the device or the model."""

    dataset: Path | None = None
    threads: int | None = None
    input_shapes: dict[str, list[int]] = field(default_factory=dict)
    latency: LatencyBudget = LatencyBudget()
    power_seconds: float = 3.0
    idle_seconds: float = 1.0
    cooldown_to_c: float | None = None
    op_profile: bool = False
    with_reference: bool = True
    seed: int = 0
    accept_new_host_key: bool = False
    lock_wait_s: float = 60.0
    load_timeout_s: float = 300.0
    stage_timeout_s: float = 600.0


@dataclass
class _Pushed:
    """What one model needs on the device, after upload."""

    remote: dict[str, Any]
    bytes_sent: int = 0
    files_sent: int = 0
    files_cached: int = 0

    def add(self, bytes_sent: int) -> None:
        self.bytes_sent += bytes_sent
        if bytes_sent:
            self.files_sent += 1
        else:
            self.files_cached += 1


def build_run_spec(
    profile: DeviceProfile,
    model: dict[str, Any],
    options: DeployOptions,
    *,
    dataset: dict[str, Any] | None,
    reference: dict[str, Any] | None,
    lock_path: str | None = None,
) -> dict[str, Any]:
    """The RunSpec for one model on one device (docs/agent-protocol.md); the agent never sees the profile."""
    power = profile.power
    lat = options.latency
    return {
        "spec_version": 1,
        "model": model,
        "reference_model": reference,
        "dataset": dataset,
        "threads": options.threads if options.threads is not None else profile.threads,
        "input_shapes": options.input_shapes,
        "seed": options.seed,
        "latency": {
            "min_runs": lat.min_runs,
            "max_runs": lat.max_runs,
            "min_seconds": lat.min_seconds,
            "max_seconds": lat.max_seconds,
            "target_rel_halfwidth": lat.target_rel_halfwidth,
            "confidence": lat.confidence,
            "warmup_min": lat.warmup_min,
            "warmup_max": lat.warmup_max,
            "keep_samples": lat.keep_samples,
        },
        "memory": {"enabled": True},
        "power": {
            "method": power.method,
            "idle_w": power.idle_w,
            "max_w": power.max_w,
            "seconds": options.power_seconds,
            "idle_seconds": options.idle_seconds,
            "sample_hz": power.sample_hz,
            "command": power.command,
            "sysfs_root": "/",
            "vcgencmd": "vcgencmd",
            "pi5_correction": power.pi5_correction,
        },
        "thermal": {
            "sysfs_root": "/",
            "vcgencmd": "vcgencmd",
            "cooldown_to_c": options.cooldown_to_c,
            "cooldown_max_s": 120,
        },
        "emulation": profile.emulation,
        "op_profile": options.op_profile,
        "timeouts": {"load_s": options.load_timeout_s, "stage_s": options.stage_timeout_s},
        "lock": {"path": lock_path, "wait_s": options.lock_wait_s} if lock_path else None,
    }


def deploy_device(
    profile: DeviceProfile,
    artifacts: list[ModelArtifact],
    options: DeployOptions,
    on_event: EventSink,
    *,
    references: dict[str, ModelArtifact] | None = None,
) -> list[dict[str, Any]]:
    """Run every model on one device; one Result per model (failed runs included, with their error).

    A failure to reach or use the device raises DeviceError: nothing of that device is returned.
    """
    references = references or {}
    agent = build_agent()
    connection = profile.connection
    transport = open_transport(
        profile.name, profile.kind, connection, accept_new_host_key=options.accept_new_host_key
    )
    results: list[dict[str, Any]] = []
    try:
        transport.connect()
        agent_upload = transport.put_file(agent.path, agent.sha256, ".pyz")
        dataset_remote, dataset_sent = _push_dataset(transport, options.dataset)
        for index, artifact in enumerate(artifacts):
            pushed = _Pushed(remote=_push_model(transport, artifact))
            pushed.add(pushed.remote.pop("_bytes_sent"))
            if index == 0:  # the agent and the dataset travel once, with the first model
                pushed.add(agent_upload.bytes_sent)
                if dataset_remote:
                    pushed.add(dataset_sent)
            reference = references.get(artifact.sha256)
            reference_remote = None
            if reference is not None:
                reference_remote = _push_model(transport, reference)
                pushed.add(reference_remote.pop("_bytes_sent"))
            spec = build_run_spec(profile, pushed.remote, options, dataset=dataset_remote, reference=reference_remote,
                                  lock_path=transport.remote_path(LOCK_FILE))
            python = connection.python if connection else _local_python()
            agent_section, error = _run_agent(transport, [python, agent_upload.remote_path], spec,
                                              lambda ev, a=artifact: on_event(profile.name, f"{a.name}-{a.variant}", ev))
            results.append(_assemble(profile, artifact, agent_section, error, pushed))
    finally:
        transport.close()
    return results


def _local_python() -> str:
    import sys

    return sys.executable


def _push_model(transport: Transport, artifact: ModelArtifact) -> dict[str, Any]:
    upload = transport.put_file(artifact.path, artifact.sha256, f".{artifact.format}")
    return {
        "path": upload.remote_path,
        "format": artifact.format,
        "sha256": artifact.sha256,
        "_bytes_sent": upload.bytes_sent,
    }


def _push_dataset(transport: Transport, dataset: Path | None) -> tuple[dict[str, Any] | None, int]:
    if dataset is None:
        return None, 0
    from edgeprof.artifacts import sha256_file

    digest = sha256_file(dataset)
    upload = transport.put_file(dataset, digest, ".npz")
    return {"path": upload.remote_path, "sha256": digest}, upload.bytes_sent


def _run_agent(
    transport: Transport, argv: list[str], spec: dict[str, Any], on_event: Callable[[dict[str, Any]], None]
) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """Start the agent, feed it the spec, stream its events; return (result section, error)."""
    final: dict[str, Any] | None = None
    with transport.start(argv) as proc:
        proc.write_line(json.dumps(spec))
        for line in proc.lines():
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                continue  # not a protocol line (e.g. a runtime printing to stdout); the agent keeps stdout clean
            on_event(event)
            if event.get("event") in FINAL_EVENTS:
                final = event
                break
        proc.close_stdin()
        code = proc.wait(timeout=30)
        if final is None:
            return None, _died(code, proc.stderr_text())
    if final["event"] == "error":
        return None, {"kind": final.get("kind", "internal"), "message": final.get("message", ""),
                      "stage": final.get("stage")}
    return final["result"], None


def _died(code: int | None, stderr: str) -> dict[str, Any]:
    """The error of an agent that ended without a final line (killed, crashed, out of memory)."""
    tail = stderr.strip().splitlines()[-1] if stderr.strip() else ""
    if code in (-9, 137):
        return {"kind": "killed", "message": "the agent was killed (SIGKILL: most likely the out-of-memory killer)",
                "stage": None}
    if code is not None and (code < 0 or code > 128):
        return {"kind": "crashed", "message": f"the agent died with exit status {code}" + (f": {tail}" if tail else ""),
                "stage": None}
    return {"kind": "internal", "message": f"the agent exited ({code}) without a result" + (f": {tail}" if tail else ""),
            "stage": None}


def _assemble(
    profile: DeviceProfile,
    artifact: ModelArtifact,
    agent_section: dict[str, Any] | None,
    error: dict[str, Any] | None,
    pushed: _Pushed,
) -> dict[str, Any]:
    """The whole Result: identity and transfer from the host, measured sections from the agent."""
    result: dict[str, Any] = {
        "schema_version": RESULT_SCHEMA_VERSION,
        "run_id": None,
        "created": utc_now(),
        "status": "failed" if error else "ok",
        "error": error,
        "device": profile.name,
        "device_info": profile.summary(),
        "host": {"edgeprof": __version__},
        "model": {
            "path": str(artifact.path),
            "name": artifact.name,
            "variant": artifact.variant,
            "format": artifact.format,
            "sha256": artifact.sha256,
            "size_bytes": artifact.size_bytes,
        },
        "runtime": None,
        "system": None,
        "inputs": None,
        "latency": None,
        "memory": None,
        "power": None,
        "thermal": None,
        "accuracy": None,
        "op_profile": None,
        "warnings": [],
    }
    if agent_section:
        result.update(agent_section)
    result["transfer"] = {
        "bytes_sent": pushed.bytes_sent,
        "files_sent": pushed.files_sent,
        "files_cached": pushed.files_cached,
    }
    result["verdicts"] = []
    return result


def run_deploy(
    profiles: list[DeviceProfile],
    artifacts: list[ModelArtifact],
    options: DeployOptions,
    on_event: EventSink,
    *,
    references: dict[str, ModelArtifact] | None = None,
    jobs: int | None = None,
) -> tuple[list[dict[str, Any]], dict[str, DeviceError]]:
    """Deploy to the devices concurrently (`jobs` at a time, default all); one failing does not stop the others.

    Results come back in the order of `profiles`; failures map a device name to its error.
    """
    outcomes: dict[str, list[dict[str, Any]] | DeviceError] = {}

    def one(profile: DeviceProfile) -> None:
        try:
            outcomes[profile.name] = deploy_device(profile, artifacts, options, on_event, references=references)
        except DeviceError as exc:
            outcomes[profile.name] = exc

    with ThreadPoolExecutor(max_workers=jobs or len(profiles) or 1) as pool:
        for future in [pool.submit(one, p) for p in profiles]:
            future.result()
    results: list[dict[str, Any]] = []
    failures: dict[str, DeviceError] = {}
    for profile in profiles:
        outcome = outcomes[profile.name]
        if isinstance(outcome, DeviceError):
            failures[profile.name] = outcome
        else:
            results += outcome
    return results, failures
