"""One measurement run on the device: the probes in order, each phase timed and each figure labelled."""

from __future__ import annotations

import functools
import hashlib
import os
import time
from typing import Any

from . import lock
from .folders import assemble
from .inputs import cycling, dataset_feeds, make_feeds  # numpy: imported while the host still pushes the model
from .probes import latency as lat
from .probes.memory import MemoryProbe
from .probes.system import system_section
from .probes.thermal import ThermalProbe, wait_for_cooldown
from .protocol import StageClock, emit, progress, warn
from .spec import (
    FOLDER_FORMATS,
    GENERATIVE_FORMATS,
    MEASURING,
    AgentFailure,
    ErrorKind,
    Event,
    ModelFile,
    RunSpec,
    Stage,
    folder_sha256,
)


def _verify(path: str, sha256: str | None, what: str) -> None:
    """The file on the device is the file the host sent (a truncated upload must never be measured)."""
    if not os.path.isfile(path):
        raise AgentFailure(ErrorKind.INTEGRITY, f"{what} {path} is not on the device", Stage.LOAD)
    if sha256:
        digest = hashlib.sha256()
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
        if digest.hexdigest() != sha256:
            raise AgentFailure(ErrorKind.INTEGRITY, f"{what} {path} does not match its sha256 (corrupted upload)",
                               Stage.LOAD)


def _verify_model(model: ModelFile, what: str) -> None:
    """The model file and each of its external data files (`external_data`) are the files the host sent; a model
    folder's files are, together they are the model the host identified, and the folder is put together."""
    if model.format not in FOLDER_FORMATS:
        _verify(model.path, model.sha256, what)
    for part in model.external_data:
        _verify(part.path, part.sha256, f"{what}'s file {part.name}" if part.name else f"{what}'s external data file")
    if model.format not in FOLDER_FORMATS:
        return
    if not model.external_data:  # a folder already on the device
        if not os.path.isdir(model.path):
            raise AgentFailure(ErrorKind.INTEGRITY, f"{what} {model.path} is not a folder on the device", Stage.LOAD)
        return
    if model.sha256 and folder_sha256([(str(p.name), str(p.sha256)) for p in model.external_data]) != model.sha256:
        raise AgentFailure(ErrorKind.INTEGRITY, f"{what}'s files do not make up the model the host sent (their "
                           "names and sha256s do not give its identity)", Stage.LOAD)
    assemble(model.path, model.external_data)


def model_files(model: ModelFile) -> list[str]:
    """The files of the model on the device: the model file (or a folder's files) and its external data."""
    if model.format in FOLDER_FORMATS and not model.external_data and os.path.isdir(model.path):
        return [os.path.join(model.path, name) for name in sorted(os.listdir(model.path))]
    return [model.path, *(part.path for part in model.external_data)]


class TimedClock(StageClock):
    """A StageClock that also keeps the seconds spent in each stage (perf_counter at each enter and stop)."""

    def __init__(self, stage_limit_s: float) -> None:
        super().__init__(stage_limit_s)
        self.seconds: dict[str, float] = {}
        self._since: float | None = None

    def enter(self, stage: str, limit_s: float | None = None) -> None:
        self._close()
        super().enter(stage, limit_s)
        self._since = time.perf_counter()

    def stop(self) -> None:
        self._close()
        super().stop()

    def _close(self) -> None:
        if self._since is not None:
            self.seconds[self.stage] = self.seconds.get(self.stage, 0.0) + time.perf_counter() - self._since
            self._since = None

    def section(self, started: float, wait_s: float) -> dict[str, Any]:
        """The agent's part of the Result's `timing`: seconds per stage, their measuring sum, the seconds since
        `started` (perf_counter) not spent in a measuring stage, and `wait_s`, those it waited for its spec."""
        measure_s = sum(self.seconds.get(stage, 0.0) for stage in MEASURING)
        return {"stages": dict(self.seconds), "measure_s": measure_s,
                "other_s": time.perf_counter() - started - measure_s, "wait_s": wait_s}


def measure(spec: RunSpec, wait_s: float = 0.0) -> dict[str, Any]:
    """Run every probe the spec asks for and return the agent's part of the Result (`wait_s`: the seconds the
    agent, started, waited for the spec while the host pushed the model)."""
    warnings: list[str] = []

    def note(message: str) -> None:
        warnings.append(message)
        warn(message)

    started = time.perf_counter()
    clock = TimedClock(spec.timeouts.stage_s)
    model = spec.model
    memory = MemoryProbe(model_files(model))
    held = lock.acquire(spec.lock, note)
    try:
        section = _measure(spec, model, memory, clock, note, warnings)
        section["timing"] = clock.section(started, wait_s)
        return section
    finally:
        clock.stop()
        lock.release(held)


def _measure(spec: RunSpec, model: ModelFile, memory: MemoryProbe, clock: TimedClock,
             note: Any, warnings: list[str]) -> dict[str, Any]:
    system, system_warnings = system_section()
    for message in system_warnings:
        note(message)
    thermal = ThermalProbe(spec.thermal)
    wait_for_cooldown(spec.thermal, note)
    thermal.before()

    clock.enter(Stage.LOAD, spec.timeouts.load_s)
    _verify_model(model, "the model")
    dataset = spec.dataset
    if dataset:
        _verify(dataset.path, dataset.sha256, "the dataset")
    if model.format in GENERATIVE_FORMATS:  # a language model: its own phases (agent/generation.py)
        from .generation import measure_generation

        if spec.reference_model:
            _verify_model(spec.reference_model, "the reference model")

        sections = measure_generation(spec, memory, clock, note, _guarded)
        clock.stop()
        return {**sections, "system": system, "thermal": _thermal_after(thermal, note), "warnings": warnings}
    from .backends import backend_for
    from .backends.base import accel_settings

    backend = backend_for(model.format)
    backend.import_module()  # importing the runtime is not loading the model: keep it out of load_ms
    memory.mark("after_import")
    accel = accel_settings(spec)
    runtime = backend.open(model.path, spec.threads, accel, trace_placement=True)
    memory.mark("after_load")
    progress(Stage.LOAD, 1, 1)

    clock.enter(Stage.INPUTS)
    if spec.inputs.timing == "dataset":  # every batch built now: the timed runs only bind the next one
        batches, inputs = dataset_feeds(dataset.path, runtime.inputs, spec.input_shapes, note)
    else:
        generated, inputs = make_feeds(runtime.inputs, spec.input_shapes, spec.seed, note,
                                       spec.inputs.ranges, spec.inputs.undeclared_shapes)
        batches = [generated]
    feeds = batches[0]  # what the first run, copy_ms, the scenario, power and op profile phases are fed
    _guarded(lambda: runtime.prepare(feeds), Stage.INPUTS)()

    run_once = functools.partial(runtime.run, feeds)  # no Python frame of our own inside the timed call

    clock.enter(Stage.FIRST)
    first_ms = lat.time_call(_guarded(run_once, Stage.FIRST))
    memory.mark("after_first")
    placement = runtime.placement()  # read from the first inference; the runs timed next are not traced
    if placement and placement["unavailable"]:
        note(f"not on the device, fell back past: {', '.join(placement['unavailable'])}")
    progress(Stage.FIRST, 1, 1)

    budget = spec.latency
    method = f"emulated:{spec.emulation}" if spec.emulation else "measured"
    clock.enter(Stage.WARMUP)
    # the guards wrap whole phases, not each call: a try block per call would be timed with the model
    timed = runtime.timed(feeds)  # inputs bound once: the bare call, copies timed apart as copy_ms
    advance = cycling(runtime, batches)  # dataset timing: the next batch bound between timed calls
    warmup = _guarded(lambda: lat.warm_up(timed, budget, lambda d, t: progress(Stage.WARMUP, d, t), advance),
                      Stage.WARMUP)()
    if not warmup["stable"]:
        note(f"latency did not settle within {warmup['runs']} warm-up runs")
    clock.enter(Stage.LATENCY, budget.max_seconds * 2 + spec.timeouts.stage_s)
    calls = lat.calls_per_sample(timed, budget)
    pace_ms = (warmup["pace_ms"] or 0.0) * calls  # the warm-up's pace plans the samples max_seconds allows
    samples, reason, pilot = _guarded(lambda: lat.steady_state(timed, budget,
                                                               lambda d, t: progress(Stage.LATENCY, d, t),
                                                               calls, advance, pace_ms), Stage.LATENCY)()
    latency = lat.latency_section(samples, reason, budget, load_ms=runtime.load_ms, first_ms=first_ms,
                                  warmup=warmup, method=method, calls_per_sample=calls, pilot=pilot,
                                  copy_ms=_guarded(lambda: lat.copy_ms(runtime.copies(feeds)), Stage.LATENCY)())
    latency["compile_ms"] = (runtime.compile or {}).get("ms")
    if latency["drift"] and latency["drift"]["flag"]:
        note(f"latency drifted {latency['drift']['ratio']:.2f}x from the first to the last decile")
    progress(Stage.LATENCY, len(samples), len(samples))
    scenario: dict[str, Any] = {"name": "single-stream"}
    if spec.scenario.name != "single-stream":
        from .scenarios import run_scenario

        clock.enter(Stage.SCENARIO, spec.scenario.search_seconds * 2 + spec.timeouts.stage_s)
        scenario = _guarded(lambda: run_scenario(spec, feeds, run_once, latency["mean_ms"], note), Stage.SCENARIO)()

    clock.enter(Stage.POWER, spec.power.seconds + spec.power.idle_seconds + spec.timeouts.stage_s)
    from .probes.power import measure_energy

    power = measure_energy(run_once, spec.power, lambda d, t: progress(Stage.POWER, d, t))
    if power is not None and spec.emulation:
        power["emulated"] = spec.emulation
    # The peak belongs to the model under test: read it before the op profile and the accuracy phase load
    # second sessions (a profiled copy, the fp32 reference).
    memory_section = memory.section()

    op_profile = None
    if spec.op_profile:
        clock.enter(Stage.OP_PROFILE)
        op_profile = _op_profile(backend, model, spec.threads, accel, feeds, note)

    accuracy = None
    if spec.dataset or spec.reference_model:
        clock.enter(Stage.ACCURACY)
        accuracy = _accuracy(spec, runtime)
        compared = accuracy.get("reference") or {}
        if compared.get("meaningful") is False:
            note(compared["reason"])

    clock.stop()
    thermal_section = _thermal_after(thermal, note)
    return {
        "runtime": runtime.describe(),
        "system": system,
        "inputs": inputs,
        "latency": latency,
        "memory": memory_section,
        "power": power,
        "thermal": thermal_section,
        "accuracy": accuracy,
        "op_profile": op_profile,
        "placement": placement,
        "scenario": scenario,
        "warnings": warnings,
    }


def _thermal_after(thermal: ThermalProbe, note: Any) -> dict[str, Any]:
    """The thermal section at the end of the measuring stages, with a warning when the device throttles now."""
    section = thermal.after()
    if section.get("throttled") and section["throttled"].get("now"):
        note(f"the device is throttling now: {', '.join(section['throttled']['now'])}")
    return section


def _op_profile(backend: Any, model: ModelFile, threads: int | None, accel: dict[str, Any],
                feeds: dict[str, Any], note: Any) -> dict[str, Any] | None:
    """Per-operator times from a separate profiled session, after every timed phase; None, with the reason in a
    warning, where the runtime has no profiler."""
    from .backends.base import ProfileUnavailable

    def profile() -> dict[str, Any] | None:
        try:
            return backend.profile_ops(model.path, threads, accel, feeds)
        except ProfileUnavailable as exc:
            note(f"no per-operator profile for this {model.format} model: {exc}")
            return None

    return _guarded(profile, Stage.OP_PROFILE)()


def _accuracy(spec: RunSpec, runtime: Any) -> dict[str, Any]:
    from .accuracy import evaluate
    from .backends import open_runtime

    reference = None
    ref, outputs = spec.reference_model, spec.reference_outputs
    if ref:
        _verify_model(ref, "the reference model")
        reference = open_runtime(ref.path, ref.format, spec.threads)
    if outputs:
        _verify(outputs.path, outputs.sha256, "the reference outputs")
    dataset = spec.dataset  # verified at load
    try:
        return evaluate(runtime, dataset.path if dataset else None, reference,
                        lambda d, t: progress(Stage.ACCURACY, d, t), seed=spec.seed, ranges=spec.inputs.ranges,
                        dataset_sha256=dataset.sha256 if dataset else None,
                        outputs_path=outputs.path if outputs else None)
    except ValueError as exc:
        raise AgentFailure(ErrorKind.INPUT, str(exc), Stage.ACCURACY) from exc


ALLOCATION_FAILURES = ("Failed to allocate memory", "bad_alloc", "Cannot allocate memory", "out of memory")


def _guarded(fn: Any, stage: str) -> Any:
    """Runtime exceptions during inference become an `inference` failure naming the stage (`memory` when the
    runtime could not allocate)."""

    def call() -> Any:
        try:
            return fn()
        except MemoryError as exc:
            raise AgentFailure(ErrorKind.MEMORY, "out of memory (MemoryError)", stage) from exc
        except Exception as exc:  # the runtimes raise their own types
            from .backends.base import one_line

            text = one_line(exc)
            kind = ErrorKind.MEMORY if any(marker in text for marker in ALLOCATION_FAILURES) else ErrorKind.INFERENCE
            raise AgentFailure(kind, text, stage) from exc

    return call


def emit_result(section: dict[str, Any]) -> None:
    """The final line of a successful run."""
    emit(Event.RESULT, result=section)
