"""Energy per inference: an idle baseline, then a load window of inferences while a thread samples power.

The sources (real sensors, an external meter, or a labelled utilisation estimate) live in `_power_sources`;
this module only schedules the windows and does the arithmetic.
"""

from __future__ import annotations

import subprocess
import threading
import time
from typing import Any, Callable

from ..spec import PowerSettings
from ._power_sources import Estimate, PowerSource, SensorMissing, open_source

PROGRESS_EVERY_S = 0.25
CHECK_EVERY_S = 0.05  # how often an adaptive window looks at its precision
MIN_SAMPLES = 5  # an adaptive window never judges precision on fewer samples
MAX_FAILED_READS = 3
_SOURCE_ERRORS = (SensorMissing, OSError, ValueError, subprocess.SubprocessError)


def _describe(exc: BaseException) -> str:
    """One line for a failed read; the exception text only when it is ours (never a command line)."""
    return str(exc) if isinstance(exc, SensorMissing) else f"power sensor read failed ({type(exc).__name__})"


class Sampler:
    """Reads a source on a fixed schedule in its own thread (no drift: a slow read does not delay the next)."""

    def __init__(self, source: PowerSource, hz: float) -> None:
        self.source, self.period = source, 1.0 / max(hz, 0.1)
        self.watts: list[float] = []
        self.rails: dict[str, list[float]] = {}
        self.error: str | None = None
        self.read_errors = 0
        self._failed_in_row = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="power-sampler", daemon=True)

    def _read(self) -> tuple[float, dict[str, float]] | None:
        """One reading, or None when it failed; MAX_FAILED_READS failures in a row end sampling with `error`."""
        try:
            reading = self.source.read()
        except _SOURCE_ERRORS as exc:  # a transient I2C/ADC glitch is skipped, a dead sensor is not
            self.read_errors += 1
            self._failed_in_row += 1
            if self._failed_in_row >= MAX_FAILED_READS:
                self.error = _describe(exc)
            return None
        self._failed_in_row = 0
        return reading

    def _loop(self) -> None:
        next_at = time.monotonic()
        while not self.error:
            next_at = max(next_at + self.period, time.monotonic())  # fell behind: skip, never burst
            if self._stop.wait(next_at - time.monotonic()):
                return
            reading = self._read()
            if reading is not None:
                self.watts.append(reading[0])
                for rail, watts in reading[1].items():
                    self.rails.setdefault(rail, []).append(watts)

    def __enter__(self) -> "Sampler":
        self._read()  # prime difference-based sources (RAPL, CPU times) so sample 1 covers one period
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=15)


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


class Window:
    """When a sampling window may end: after `longest` seconds, or (adaptive: `shortest` set) once it ran
    `shortest` seconds and the 95% CI half-width of the mean watts is within `ci_target` of the mean. An
    estimate from CPU utilisation ends at `shortest`: more samples do not make the model behind it truer."""

    def __init__(self, longest: float, shortest: float | None, ci_target: float, estimate: bool) -> None:
        self.longest = longest
        self.shortest = longest if shortest is None else min(shortest, longest)
        self.ci_target, self.estimate = ci_target, estimate

    def done(self, elapsed: float, watts: list[float]) -> bool:
        if elapsed >= self.longest:
            return True
        if elapsed < self.shortest:
            return False
        return self.estimate or (len(watts) >= MIN_SAMPLES and _precise(watts, self.ci_target))


def _precise(watts: list[float], target: float) -> bool:
    """Whether the 95% CI half-width of the mean of `watts` is within `target` times the mean."""
    n, mean = len(watts), sum(watts) / len(watts)
    var = sum((w - mean) ** 2 for w in watts) / (n - 1)
    return 1.96 * (var / n) ** 0.5 <= target * abs(mean)


def _spread(values: list[float]) -> float:
    """The variance of the mean of `values` (0 for fewer than two)."""
    n = len(values)
    if n < 2:
        return 0.0
    mean = sum(values) / n
    return sum((v - mean) ** 2 for v in values) / (n - 1) / n


def _net(idle: list[float], load: list[float], resolution_w: float) -> tuple[float | None, str | None]:
    """(load minus idle watts, None), or (None, why) when the two cannot be told apart: the load mean is not above
    the idle mean by more than the source's resolution and the 95% CI half-width of their difference."""
    idle_w, avg_w = _mean(idle), _mean(load)
    if idle_w is None or avg_w is None:
        return None, None
    noise = 1.96 * (_spread(idle) + _spread(load)) ** 0.5
    if avg_w - idle_w > max(resolution_w, noise):
        return avg_w - idle_w, None
    return None, (f"load {avg_w:.3g} W is not above idle {idle_w:.3g} W by more than the resolution "
                  f"{resolution_w:.2g} W and the noise {noise:.2g} W: the model's own power cannot be told apart "
                  "from the baseline")


def energy_section(method: str, idle: list[float], load: list[float], rails: dict[str, list[float]],
                   window_s: float, inferences: int, resolution_w: float = 0.0) -> dict[str, Any]:
    """The `power` section from idle and load samples (watts), the load window length and its inference count.
    The net energy (above idle) is never negative: where idle and load cannot be told apart (`_net`) it is None
    with `net_status` "indistinguishable" and a `net_reason`."""
    avg_w = _mean(load) or 0.0
    joules = avg_w * window_s
    per_inference = window_s / inferences * 1000 if inferences else None  # ms of window per inference
    net_w, why = _net(idle, load, resolution_w)
    status = None if net_w is None and why is None else "indistinguishable" if why else "ok"
    return {
        "method": method,
        "idle_w": _mean(idle),
        "avg_w": avg_w,
        "peak_w": max(load) if load else None,
        "energy_mj_per_inference": avg_w * per_inference if per_inference else None,
        "net_energy_mj_per_inference": net_w * per_inference if per_inference and net_w is not None else None,
        "net_status": status,
        "net_reason": why,
        "resolution_w": resolution_w,
        "inferences_per_joule": inferences / joules if joules > 0 else None,
        "window_s": window_s,
        "inferences": inferences,
        "sample_hz": len(load) / window_s if window_s > 0 else None,
        "samples": len(load),
        "rails": {rail: _mean(values) for rail, values in rails.items()},
    }


def _choose_source(spec: PowerSettings) -> tuple[PowerSource | None, str | None]:
    """(source, fallback reason) or (None, why there is no power figure)."""
    try:
        return open_source(spec), None
    except _SOURCE_ERRORS as exc:
        reason = _describe(exc)
    if spec.method == "estimate" or spec.idle_w is None or spec.max_w is None:
        return None, reason
    return Estimate(float(spec.idle_w), float(spec.max_w)), f"{spec.method}: {reason}"


def measures(spec: PowerSettings) -> bool:
    """Whether `measure_energy` runs any window: not for method "none" or a zero-length window (it returns None)."""
    return spec.method != "none" and float(spec.seconds or 0) > 0


def measure_energy(run_once: Callable[[], Any], spec: PowerSettings,
                   emit_progress: Callable[[int, int | None], None]) -> dict[str, Any] | None:
    """Idle baseline, then `seconds` of back-to-back `run_once` with power sampled: the `power` section. With
    `min_seconds` set each window is adaptive (`Window`): `idle_seconds` and `seconds` are then the longest.

    None for method "none" (or a zero-length window); a section with method "none" and a reason when the
    sensor is absent or fails and no estimate can stand in. Progress is reported in ms of the two windows.
    """
    if not measures(spec):
        return None
    seconds, idle_seconds = float(spec.seconds or 0), float(spec.idle_seconds or 0)
    source, reason = _choose_source(spec)
    if source is None:
        return {"method": "none", "reason": reason}
    hz = float(spec.sample_hz or 20)
    total_ms = int((idle_seconds + seconds) * 1000)
    shortest, target = spec.min_seconds, float(spec.ci_target or 0.02)
    estimate = isinstance(source, Estimate)
    with Sampler(source, hz) as idle:
        window, start = Window(idle_seconds, shortest, target, estimate), time.perf_counter()
        while not window.done(elapsed := time.perf_counter() - start, idle.watts) and not idle.error:
            time.sleep(min(window.longest - elapsed, PROGRESS_EVERY_S if shortest is None else CHECK_EVERY_S))
            emit_progress(int((time.perf_counter() - start) * 1000), total_ms)
    if idle.error:
        return {"method": "none", "reason": idle.error}
    with Sampler(source, hz) as load:
        window, count = Window(seconds, shortest, target, estimate), 0
        start = last_report = last_check = time.perf_counter()
        while (now := time.perf_counter()) - start < seconds and not load.error:
            if now - last_check >= CHECK_EVERY_S:
                last_check = now
                if window.done(now - start, load.watts):
                    break
            if now - last_report >= PROGRESS_EVERY_S:
                emit_progress(int((idle_seconds + now - start) * 1000), total_ms)
                last_report = now
            run_once()
            count += 1
        window_s = time.perf_counter() - start
    if load.error or not load.watts:
        return {"method": "none", "reason": load.error or "no power samples in the load window"}
    emit_progress(total_ms, total_ms)
    section = energy_section(source.method, idle.watts, load.watts, load.rails, window_s, count,
                             source.resolution_w)
    if reason:
        section["fallback_reason"] = reason
    if idle.read_errors + load.read_errors:
        section["read_errors"] = idle.read_errors + load.read_errors
    return section
