"""Orchestration: push the agent, model and data to a device, run the agent, collect one Result per model."""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

from edgeprof.accelerators import accelerator_text
from edgeprof.agent.spec import (
    CACHE_DIR,
    FINAL_EVENTS,
    FOLDER_FORMATS,
    GENERATIVE_FORMATS,
    LOCK_FILE,
    MODEL_FOLDER_PREFIX,
    Accelerator,
    ErrorKind,
    Event,
    GenerationSettings,
    InputSettings,
    LatencyBudget,
    LockSettings,
    ModelFile,
    PowerSettings,
    RunSpec,
    RuntimeSettings,
    ScenarioSettings,
    SentFile,
    Stage,
    ThermalSettings,
    Timeouts,
)
from edgeprof.agent_bundle import UNPACK_OPTION, AgentBundle, build_agent
from edgeprof.artifacts import DATA_SUFFIX, ModelArtifact, Reference, ReferenceOutputs, sha256_file
from edgeprof.devices import LAB_WAIT_S, DeviceProfile, board_mismatch
from edgeprof.errors import DeviceError, EdgeprofError, one_line
from edgeprof.lab import reached
from edgeprof.model_inputs import ModelInputs
from edgeprof.paths import cache_dir, write_whole
from edgeprof.result import build_result, ref_label
from edgeprof.transport import RemoteProcess, Transport, device_python, open_transport
from edgeprof.transport.cache import evict_blobs

# Event callback: (device, model label, event dict from the agent).
EventSink = Callable[[str, str, dict[str, Any]], None]

RECONNECTS = 2
RECONNECT_BACKOFF_S = 1.0
POWER_MIN_SECONDS = 0.5  # adaptive power windows: the shortest (10 samples at the default 20 Hz)
COMMAND_NOT_FOUND = 127  # the shell's exit status for a program it cannot find or run
BOARD_PROBE_TIMEOUT_S = 60.0  # `agent.pyz --board`: a Python start and /proc reads
STOP_DEADLINE_S = 3.5  # Ctrl-C: how long stopping the agents may take before the connections are cut


@dataclass(frozen=True)
class DeployOptions:
    """Everything about a deploy that is not the device or the model."""

    dataset: Path | None = None
    threads: int | None = None
    # each model's --input-shape/--input-range, by file path (model_inputs.resolve_inputs); absent: none given
    model_inputs: dict[str, ModelInputs] = field(default_factory=dict)
    timing_inputs: str = InputSettings.timing  # `--timing-inputs`: random, or the dataset's samples
    latency: LatencyBudget = LatencyBudget()
    power_seconds: float = PowerSettings.seconds
    idle_seconds: float = PowerSettings.idle_seconds
    power_min_seconds: float | None = POWER_MIN_SECONDS  # None: fixed power windows of the lengths above
    cooldown_to_c: float | None = None
    op_profile: bool = False
    with_reference: bool = True
    seed: int = 0
    accept_new_host_key: bool = False
    strict_device: bool = False  # a board that differs from its profile's [hardware] is refused, not warned about
    lock_wait_s: float = 60.0
    lab_wait_s: float = LAB_WAIT_S  # how long a held labgrid place is waited for (`--lab-wait`)
    timeouts: Timeouts = Timeouts()
    scenario: ScenarioSettings = ScenarioSettings()
    # Each entry is one configuration to measure (`--ep`, `--delegate`): an ordered list of providers or delegates.
    providers: tuple[tuple[Accelerator, ...], ...] = ()
    delegates: tuple[tuple[Accelerator, ...], ...] = ()
    generation: GenerationSettings = GenerationSettings()  # GGUF models: prompts, output length, context depths

    def configurations(self, profile: DeviceProfile, fmt: str) -> list[tuple[Accelerator, ...] | None]:
        """The accelerator lists a model of this format is measured with on this device: the command line's,
        else the profile's default, else the runtime's own default (None); a language model runs where its
        runtime puts it (None)."""
        if fmt in GENERATIVE_FORMATS:
            return [None]
        chosen, default = (self.providers, profile.providers) if fmt == "onnx" else (self.delegates, profile.delegates)
        return list(chosen) or [default]


@dataclass
class _Transfer:
    """What one model's uploads cost: bytes sent, files sent, files the device already had."""

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
    model: ModelFile,
    options: DeployOptions,
    *,
    dataset: SentFile | None,
    reference: ModelFile | None,
    reference_outputs: SentFile | None = None,
    accelerators: tuple[Accelerator, ...] | None = None,
    cache_dir: str | None = None,
    lock_path: str | None = None,
    inputs: ModelInputs = ModelInputs(),
) -> RunSpec:
    """The RunSpec for one model on one device (docs/agent-protocol.md); the agent never sees the profile."""
    power = profile.power
    return RunSpec(
        model=model,
        reference_model=reference,
        reference_outputs=reference_outputs,
        dataset=dataset,
        threads=options.threads if options.threads is not None else profile.threads,
        input_shapes=inputs.shapes,
        seed=options.seed,
        inputs=InputSettings(timing=options.timing_inputs, ranges=inputs.ranges,
                             undeclared_shapes=inputs.undeclared_shapes),
        latency=options.latency,
        power=PowerSettings(method=power.method, idle_w=power.idle_w, max_w=power.max_w,
                            seconds=options.power_seconds, idle_seconds=options.idle_seconds,
                            min_seconds=options.power_min_seconds,
                            sample_hz=power.sample_hz, command=power.command, pi5_correction=power.pi5_correction),
        thermal=ThermalSettings(cooldown_to_c=options.cooldown_to_c),
        timeouts=options.timeouts,
        scenario=options.scenario,
        runtime=RuntimeSettings(providers=accelerators if model.format == "onnx" else None,
                                delegates=accelerators if model.format == "tflite" else None, cache_dir=cache_dir),
        emulation=profile.emulation,
        op_profile=options.op_profile,
        lock=LockSettings(lock_path, options.lock_wait_s) if lock_path else None,
        generation=options.generation,
    )


class Cancellation:
    """Lets the main thread stop every agent and connection a deploy started (Ctrl-C): an agent gets EOF, then
    SIGTERM/SIGCONT, then SIGKILL to its process group (so the kernel releases its lock); then every connection
    is cut, so no upload or wait on the network outlives the Ctrl-C."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: set[RemoteProcess | Transport] = set()
        self.event = threading.Event()

    def track(self, item: RemoteProcess | Transport) -> None:
        with self._lock:
            self._running.add(item)
            cancelled = self.event.is_set()
        if cancelled:
            _stop([item])

    def untrack(self, item: RemoteProcess | Transport) -> None:
        with self._lock:
            self._running.discard(item)

    def cancel(self) -> None:
        """Stop everything running (bounded: STOP_DEADLINE_S); workers then see the event and stop."""
        with self._lock:
            self.event.set()
            running = list(self._running)
        _stop(running)

    def check(self) -> None:
        if self.event.is_set():
            raise Cancelled()


def _stop(items: list[RemoteProcess | Transport]) -> None:
    """Kill the processes (in parallel, for at most STOP_DEADLINE_S), then cut the connections."""
    killers = [threading.Thread(target=p.kill, daemon=True) for p in items if isinstance(p, RemoteProcess)]
    for killer in killers:
        killer.start()
    deadline = time.monotonic() + STOP_DEADLINE_S
    for killer in killers:
        killer.join(max(0.0, deadline - time.monotonic()))
    for item in items:
        if isinstance(item, Transport):
            item.abort()


class Cancelled(Exception):
    """The deploy was interrupted; nothing of it is stored."""


class ConnectionDropped(DeviceError):
    """The link to the device went away while the agent ran."""


@dataclass(frozen=True)
class Shipment:
    """What every device receives besides the models, prepared once per deploy: the agent and the dataset's hash."""

    agent: AgentBundle
    dataset_sha256: str | None

    @classmethod
    def prepare(cls, options: DeployOptions) -> "Shipment":
        """Build the agent zipapp and hash the dataset (once, however many devices and reconnects follow)."""
        return cls(build_agent(), sha256_file(options.dataset) if options.dataset is not None else None)


class DeviceSession:
    """One connection to a device, with the agent and the dataset already on it; reconnects on demand."""

    def __init__(self, profile: DeviceProfile, options: DeployOptions, shipment: Shipment,
                 cancel: Cancellation | None = None, lab: dict[str, Any] | None = None) -> None:
        self.profile = profile
        self.lab = lab  # the labgrid place the device is reached through (the Results' `lab`), None without one
        self.options = options
        self.shipment = shipment
        self.cancel = cancel or Cancellation()
        self.transport: Transport | None = None
        self.agent_path = ""
        self.dataset: SentFile | None = None
        self.setup_files: list[int] = []
        self.setup_s = {"connect": 0.0, "upload": 0.0}  # travels with the first model, like setup_files
        self.in_use: set[str] = set()  # remote paths of the blobs this deploy uses (never evicted by it)

    def open(self) -> None:
        """Connect (the transport retries transient failures with backoff) and push the agent and dataset."""
        self.close()
        self.transport = open_transport(self.profile.name, self.profile.kind, self.profile.connection,
                                        accept_new_host_key=self.options.accept_new_host_key)
        self.cancel.track(self.transport)
        started = time.perf_counter()
        try:
            self.transport.connect()
        except DeviceError as exc:
            if self.profile.emulation and not exc.hint:
                exc.hint = f"is the emulated board running? `edgeprof emulate up {self.profile.name}`"
            raise
        connected = time.perf_counter()
        agent = self.shipment.agent
        upload = self.transport.put_file(agent.path, agent.sha256, ".pyz", verified_on_use=True)
        self.agent_path = upload.remote_path
        self.in_use.add(upload.remote_path)
        self.setup_files = [upload.bytes_sent]
        digest = self.shipment.dataset_sha256
        if self.options.dataset is not None and digest is not None:
            data = self.transport.put_file(self.options.dataset, digest, ".npz", verified_on_use=True)
            self.dataset = SentFile(data.remote_path, digest)
            self.in_use.add(data.remote_path)
            self.setup_files.append(data.bytes_sent)
        self.setup_s = {"connect": connected - started, "upload": time.perf_counter() - connected}

    def alive(self) -> bool:
        """Whether the device still answers a trivial command (whatever its exit status: the link works)."""
        try:
            return self.transport is not None and self.transport.run(["true"], timeout=15) is not None
        except DeviceError:
            return False

    @property
    def python(self) -> str:
        return device_python(self.profile.connection)

    def argv(self) -> list[str]:
        """The agent command, its package unpacked once into the device's compiled cache (so that Python caches its
        bytecode); under a memory limit (profile [runtime] memory_limit_mb) it runs inside prlimit."""
        assert self.transport is not None
        unpack_to = self.transport.remote_path(f"{CACHE_DIR}/{self.shipment.agent.unpacked_name}")
        command = [self.python, self.agent_path, UNPACK_OPTION, unpack_to]
        if self.profile.memory_limit_mb:
            command = ["prlimit", f"--as={self.profile.memory_limit_mb * 2**20}", "--", *command]
        return command

    def close(self) -> None:
        if self.transport is not None:
            self.cancel.untrack(self.transport)
            self.transport.close()
            self.transport = None


def deploy_device(
    profile: DeviceProfile,
    artifacts: list[ModelArtifact],
    options: DeployOptions,
    on_event: EventSink,
    *,
    references: dict[str, Reference] | None = None,
    cancel: Cancellation | None = None,
    shipment: Shipment | None = None,
    finished: list[dict[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """Run every model on one device; one Result per model (failed runs included, with their error).

    A failure to reach or use the device raises DeviceError (after bounded reconnects if the link drops
    mid-run); each Result is appended to `finished` (when given) as soon as it is measured, so that the caller
    keeps the models done before the failure. A profile with `[lab]` runs inside its labgrid place
    (edgeprof.lab.reached: acquired first, released however the deploy ends); its Results record the place.
    """
    cancel = cancel or Cancellation()
    results = [] if finished is None else finished
    with reached(profile, options.lab_wait_s, cancel.check) as (device, lab):
        _deploy_reached(device, artifacts, options, on_event, references or {}, cancel, shipment, lab,
                        results.append)
    return results


def _deploy_reached(profile: DeviceProfile, artifacts: list[ModelArtifact], options: DeployOptions,
                    on_event: EventSink, references: dict[str, Reference], cancel: Cancellation,
                    shipment: Shipment | None, lab: dict[str, Any] | None,
                    keep: Callable[[dict[str, Any]], None]) -> None:
    session = DeviceSession(profile, options, shipment or Shipment.prepare(options), cancel, lab)
    try:
        session.open()
        board_warning = _check_board(session)
        if board_warning:  # every Result of this board carries it
            on_event(profile.name, "board", {"event": Event.WARNING, "message": board_warning})
            keep = _warned(keep, board_warning)
        work = [(artifact, accel) for artifact in artifacts for accel in options.configurations(profile, artifact.format)]
        for index, (artifact, accel) in enumerate(work):
            label = ref_label(artifact.name, artifact.variant, artifact.format,
                              f" @{accelerator_text(accel)}" if accel else "")
            for attempt in range(RECONNECTS + 1):
                cancel.check()
                try:
                    keep(_measure_model(session, artifact, accel, references.get(artifact.sha256), index,
                                        lambda ev, lb=label: on_event(profile.name, lb, ev), cancel))
                    break
                except ConnectionDropped as exc:
                    cancel.check()
                    if attempt == RECONNECTS:
                        raise DeviceError(f"device '{profile.name}': {exc.message} "
                                          f"({RECONNECTS + 1} attempts)") from exc
                    on_event(profile.name, label, {"event": Event.WARNING, "message": f"{exc.message}: reconnecting"})
                    time.sleep(RECONNECT_BACKOFF_S * 2**attempt)
                    session.open()
        _enforce_cache_cap(session, on_event)
    finally:
        session.close()


def _warned(keep: Callable[[dict[str, Any]], None], warning: str) -> Callable[[dict[str, Any]], None]:
    """`keep`, each Result given `warning` as its first warning."""
    return lambda result: keep({**result, "warnings": [warning, *result["warnings"]]})


def _board_facts(session: DeviceSession) -> dict[str, Any] | None:
    """The board's facts (`agent.pyz --board`), asked once per board: kept in the cache under the SHA-256 of its
    host key, which names that machine (an agent start saved on every later deploy: seconds on a small board)."""
    assert session.transport is not None
    key = getattr(session.transport, "host_key_sha256", None)
    known = cache_dir() / "boards" / f"{key}.json" if key else None
    if known is not None and known.is_file():
        try:
            return dict(json.loads(known.read_text()))
        except (OSError, ValueError, TypeError):
            pass  # unreadable: ask the board again
    board = session.transport.run([*session.argv(), "--board"], timeout=BOARD_PROBE_TIMEOUT_S).answer()
    if board is not None and known is not None:
        write_whole(known, json.dumps(board).encode())
    return board


def _check_board(session: DeviceSession) -> str | None:
    """Compare the SSH board reached with the profile's [hardware] (a mistyped address records one board's figures
    under another's name): the warning every Result of it carries, or with strict_device a DeviceError before
    anything runs. An agent that cannot answer is left to the run, which reports why."""
    if session.profile.kind != "ssh" or session.transport is None:
        return None
    board = _board_facts(session)
    if board is None:
        return None
    message = board_mismatch(session.profile, board)
    if message and session.options.strict_device:
        raise DeviceError(f"{message}; --strict-device: nothing was run")
    return message


def _measure_model(session: DeviceSession, artifact: ModelArtifact, accel: tuple[Accelerator, ...] | None,
                   reference: Reference | None, index: int, on_event: Callable[[dict[str, Any]], None],
                   cancel: Cancellation) -> dict[str, Any]:
    """Run the agent on one model with these accelerators, pushing the model (and its reference: a model, or the
    source's outputs) while the agent starts; assemble its Result."""
    transport = session.transport
    assert transport is not None
    transfer = _Transfer()
    setup = dict(session.setup_s) if index == 0 else {"connect": 0.0, "upload": 0.0}
    if index == 0:  # the agent and the dataset travel once, with the first model
        for sent in session.setup_files:
            transfer.add(sent)
    pushed_s = 0.0

    def push_and_spec() -> RunSpec:
        nonlocal pushed_s
        started = time.perf_counter()
        remote = _push_model(transport, artifact, transfer, session.in_use)
        reference_remote = outputs_remote = None
        if isinstance(reference, ModelArtifact):
            reference_remote = _push_model(transport, reference, transfer, session.in_use)
        elif isinstance(reference, ReferenceOutputs):
            outputs_remote = _push_outputs(transport, reference, transfer, session.in_use)
        spec = build_run_spec(session.profile, remote, session.options, dataset=session.dataset,
                              reference=reference_remote, reference_outputs=outputs_remote, accelerators=accel,
                              cache_dir=transport.remote_path(CACHE_DIR), lock_path=transport.remote_path(LOCK_FILE),
                              inputs=session.options.model_inputs.get(str(artifact.path), ModelInputs()))
        pushed_s = time.perf_counter() - started
        return spec

    started = time.perf_counter()
    agent_section, error = _run_agent(session, push_and_spec, on_event, cancel)
    host_s = {"connect": setup["connect"], "upload": setup["upload"] + pushed_s, "agent": time.perf_counter() - started}
    agent_timing = agent_section.pop("timing", None) if agent_section else None
    files_key = "files" if artifact.format in FOLDER_FORMATS else "external_data"
    model = {"path": str(artifact.path), "name": artifact.name, "variant": artifact.variant,
             "format": artifact.format, "sha256": artifact.sha256, "size_bytes": artifact.size_bytes,
             **({files_key: [d.describe() for d in artifact.data_files]} if artifact.data_files else {})}
    return build_result(device_info=session.profile.summary(), model=model, agent=agent_section, error=error,
                        timing=timing_section(host_s, agent_timing), transfer=asdict(transfer), lab=session.lab)


def _enforce_cache_cap(session: DeviceSession, on_event: EventSink) -> None:
    """After a deploy: evict the oldest blobs beyond the profile's connection.max_cache_mb (never those in use)."""
    cap = session.profile.connection.max_cache_mb if session.profile.connection else None
    if cap is None or session.transport is None:
        return
    freed = evict_blobs(session.transport, session.python, cap * 2**20, session.in_use)
    if freed.files:
        on_event(session.profile.name, "cache",
                 {"event": Event.WARNING, "message": f"cache cap {cap} MB: {freed.text()}"})


def _push_model(transport: Transport, artifact: ModelArtifact, transfer: _Transfer, in_use: set[str]) -> ModelFile:
    """Upload a model and its external data files (each a no-op when the device has it: blobs/<sha256>.data beside
    the model's blob, where the device copy names them) and return its RunSpec entry; their remote paths join
    `in_use`. A model folder is its files alone, each sent as such a blob and named for the agent, which puts the
    folder together under its cache dir. The agent checks every file's sha256 before it loads the model."""
    folder = artifact.format in FOLDER_FORMATS
    parts = []
    for data in artifact.data_files:
        upload = transport.put_file(data.path, data.sha256, DATA_SUFFIX, verified_on_use=True)
        transfer.add(upload.bytes_sent)
        parts.append(SentFile(upload.remote_path, data.sha256, data.location if folder else None))
    if folder:
        in_use.update(part.path for part in parts)
        path = transport.remote_path(f"{CACHE_DIR}/{MODEL_FOLDER_PREFIX}{artifact.sha256[:16]}")
        return ModelFile(path, artifact.format, artifact.sha256, tuple(parts))
    upload = transport.put_file(artifact.upload_path, artifact.sha256, f".{artifact.format}", verified_on_use=True)
    transfer.add(upload.bytes_sent)
    in_use.update([upload.remote_path, *(part.path for part in parts)])
    return ModelFile(upload.remote_path, artifact.format, artifact.sha256, tuple(parts))


def _push_outputs(transport: Transport, outputs: ReferenceOutputs, transfer: _Transfer,
                  in_use: set[str]) -> SentFile:
    """Upload a reference outputs NPZ (a no-op when the device has it, like the dataset) and return its RunSpec
    entry; its remote path joins `in_use`."""
    upload = transport.put_file(outputs.path, outputs.sha256, ".npz", verified_on_use=True)
    transfer.add(upload.bytes_sent)
    in_use.add(upload.remote_path)
    return SentFile(upload.remote_path, outputs.sha256)


def _run_agent(
    session: DeviceSession, spec_for: Callable[[], RunSpec], on_event: Callable[[dict[str, Any]], None],
    cancel: Cancellation
) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """Start the agent and, while it starts (Python, numpy and its own modules: seconds on a small board), call
    `spec_for` (which pushes the model); feed it the spec, stream its events; return (result section, error).

    An agent that ends without a final line on a link that no longer answers is a dropped connection; one that
    `spec_for` fails under sees its stdin close and ends.
    """
    assert session.transport is not None
    final: dict[str, Any] | None = None
    stage = Stage.START
    with session.transport.start(session.argv()) as proc:
        cancel.track(proc)
        try:
            proc.write_line(spec_for().to_json())
            for line in proc.lines():
                try:
                    event = json.loads(line)
                except json.JSONDecodeError:
                    continue  # not a protocol line; the agent itself keeps stdout clean
                if not isinstance(event, dict):
                    continue  # a login banner's `1` or `"hi"` parses as JSON too
                on_event(event)
                stage = event.get("stage") or stage
                if event.get("event") in FINAL_EVENTS:
                    final = event
                    break
            proc.close_stdin()
            code = proc.wait(timeout=30)
        finally:
            cancel.untrack(proc)
        cancel.check()
        if final is None:
            stderr = proc.stderr_text()
            if not session.alive():
                raise ConnectionDropped(f"the connection dropped during stage '{stage}'")
            if code == COMMAND_NOT_FOUND:
                tail = (stderr.strip().splitlines() or ["exit status 127"])[-1]
                raise DeviceError(f"device '{session.profile.name}': cannot start the agent ({tail}); set "
                                  "connection.python in the device profile")
            return None, _died(code, stderr, session.profile.memory_limit_mb)
    if final["event"] == Event.ERROR:
        error = {"kind": final.get("kind", ErrorKind.INTERNAL), "message": final.get("message", ""),
                 "stage": final.get("stage")}
        if error["kind"] == ErrorKind.MEMORY and session.profile.memory_limit_mb:
            error["memory_hint"] = f" at ~{session.profile.memory_limit_mb} MB (the device's memory limit)"
        return None, error
    return final["result"], None


def _died(code: int | None, stderr: str, memory_limit_mb: int | None) -> dict[str, Any]:
    """The error of an agent that ended without a final line (killed, crashed, out of memory)."""
    tail = stderr.strip().splitlines()[-1] if stderr.strip() else ""
    if code in (-9, 137):
        limit = f" at the {memory_limit_mb} MB limit" if memory_limit_mb else ""
        return {"kind": ErrorKind.KILLED,
                "message": f"the agent was killed (SIGKILL: most likely out of memory{limit})", "stage": None}
    if memory_limit_mb and ("bad_alloc" in stderr or "MemoryError" in stderr or "Cannot allocate" in stderr):
        return {"kind": ErrorKind.MEMORY, "message": f"out of memory at the {memory_limit_mb} MB limit: {tail}",
                "stage": None}
    if code is not None and (code < 0 or code > 128):
        return {"kind": ErrorKind.CRASHED,
                "message": f"the agent died with exit status {code}" + (f": {tail}" if tail else ""), "stage": None}
    return {"kind": ErrorKind.INTERNAL,
            "message": f"the agent exited ({code}) without a result" + (f": {tail}" if tail else ""), "stage": None}


def timing_section(host_s: dict[str, float], agent: dict[str, Any] | None) -> dict[str, Any]:
    """Seconds per stage of one model's deploy (docs/result-schema.md `timing`): connect and upload timed here,
    `agent_start` the agent's wall time on the host less its measuring stages and its wait for the spec (the model
    still uploading), the measuring stages from the agent, `store` left None for the caller that saves the Result."""
    stages: dict[str, float | None] = {"connect": host_s["connect"], "upload": host_s["upload"]}
    measure_s = agent["measure_s"] if agent else 0.0
    wait_s = agent.get("wait_s", 0.0) if agent else None
    stages["agent_start"] = host_s["agent"] - measure_s - (wait_s or 0.0) if agent else None
    stages.update((agent or {}).get("stages", {}))
    stages["store"] = None
    return {"stages": stages, "measure_s": measure_s, "agent_s": host_s["agent"],
            "agent_other_s": agent["other_s"] if agent else None, "agent_wait_s": wait_s}


def run_deploy(
    profiles: list[DeviceProfile],
    artifacts: list[ModelArtifact],
    options: DeployOptions,
    on_event: EventSink,
    *,
    references: dict[str, Reference] | None = None,
    jobs: int | None = None,
) -> tuple[list[dict[str, Any]], dict[str, EdgeprofError]]:
    """Deploy to the devices concurrently (`jobs` at a time, default all); one failing does not stop the others.

    Results come back in the order of `profiles`; failures map a device name to its error, and the Results that
    device finished before it failed are kept. On Ctrl-C every running agent is stopped before KeyboardInterrupt
    propagates, and nothing is returned.
    """
    finished: dict[str, list[dict[str, Any]]] = {p.name: [] for p in profiles}
    failed: dict[str, EdgeprofError] = {}
    cancel = Cancellation()
    shipment = Shipment.prepare(options)

    def one(profile: DeviceProfile) -> None:
        try:
            deploy_device(profile, artifacts, options, on_event, references=references, cancel=cancel,
                          shipment=shipment, finished=finished[profile.name])
        except DeviceError as exc:
            failed[profile.name] = exc
        except EdgeprofError as exc:  # a model file gone before its upload, say: that device's error alone
            failed[profile.name] = type(exc)(f"device '{profile.name}': {exc.message}", hint=exc.hint)
        except Cancelled:
            pass
        except Exception as exc:  # a bug met on one device must not lose what the others measured
            failed[profile.name] = DeviceError(f"device '{profile.name}': internal error: "
                                               f"{type(exc).__name__}: {one_line(exc)}")

    pool = ThreadPoolExecutor(max_workers=jobs or len(profiles) or 1)
    try:
        for future in [pool.submit(one, p) for p in profiles]:
            future.result()
    except KeyboardInterrupt:
        cancel.cancel()
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown()
    return [result for profile in profiles for result in finished[profile.name]], failed
