"""`watch`'s clock and policy: durations (30s, 5m, 1h, 1d), ticks at start + k * every by monotonic time, the loop
that runs one profiling run per tick until the bound, an alert, too many unreachable ticks or Ctrl-C, and what
each run is held to (the verdicts, the baseline gate, the baseline 'auto' adopts)."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from edgeprof.decisions import Status
from edgeprof.errors import (
    EXIT_CONSTRAINT_FAILED,
    EXIT_DEVICE,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    ConfigError,
    Interrupted,
)
from edgeprof.pipeline import Deployed, Doc, Gate, baseline_gate, deploy_judge_store, stored_run
from edgeprof.plan import Plan
from edgeprof.store import StoreTarget

UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)([smhd])")
DEFAULT_MAX_FAILURES = 3
LONGEST_DAYS = 366  # a longer interval or bound is a typo, and past ~1e8 days the clock's sleep overflows
AUTO = "auto"  # --baseline auto: the watch's first stored run without a failure


def parse_duration(text: str, option: str) -> float:
    """'30s', '5m', '1h', '1d' (or '1.5h') in seconds, at most LONGEST_DAYS; ConfigError naming `option` for
    anything else."""
    match = _DURATION.fullmatch(text.strip())
    if match is None or float(match[1]) <= 0:
        raise ConfigError(f"{option} {text!r}: expected a positive duration such as 30s, 5m, 1h or 1d")
    seconds = float(match[1]) * UNITS[match[2]]
    if seconds > LONGEST_DAYS * UNITS["d"]:
        raise ConfigError(f"{option} {text!r}: at most {LONGEST_DAYS}d")
    return seconds


@dataclass(frozen=True)
class Schedule:
    """Tick k is due `every` * k seconds after the start; it ends after `runs` runs or at the first tick due at or
    after `duration` seconds (neither: never)."""

    every: float
    runs: int | None = None
    duration: float | None = None


@dataclass(frozen=True)
class Tick:
    """One run of the schedule: its tick index k, its number (1-based) and how many ticks before it were skipped
    because the previous run overran them."""

    index: int
    number: int
    skipped: int


def ticks(schedule: Schedule) -> Iterator[Tick]:
    """Each tick when it is due, sleeping in between (Ctrl-C interrupts the sleep). A run that overruns the
    interval is followed at once by the latest tick already due; the ticks passed over are counted as skipped."""
    start = time.monotonic()
    number, due = 0, 0
    while schedule.runs is None or number < schedule.runs:
        latest = int((time.monotonic() - start) // schedule.every)
        index = max(due, latest)
        if schedule.duration is not None and index * schedule.every >= schedule.duration:
            return
        wait = start + index * schedule.every - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        number += 1
        yield Tick(index, number, index - due)
        due = index + 1


@dataclass
class Summary:
    """What a watch did: the runs stored, ticks skipped, failed ticks (exit 3: a device not reached or a run that
    failed on it), and how it ended."""

    runs: list[str] = field(default_factory=list)
    skipped: int = 0
    failed: int = 0
    exit_code: int = EXIT_OK
    ended: str = "bound reached"


def watch(schedule: Schedule, run: Callable[[Tick], tuple[str | None, int]], *,
          max_failures: int = DEFAULT_MAX_FAILURES) -> Summary:
    """Call `run` at every tick; it profiles once and returns (the stored run id or None, its exit code).

    Exit 1 (an alert: a failed verdict, a regression or an accuracy drop) and 2 (the store refused the run, which
    is spooled) end the watch at once; 3 (a device unreachable or failed) is retried at the next tick and ends the
    watch after `max_failures` ticks in a row, or when the last tick failed. Ctrl-C ends it with 130: a run in
    progress is stopped on the device and not stored, every earlier run stays stored.
    """
    summary, failures = Summary(), 0
    try:
        for tick in ticks(schedule):
            summary.skipped += tick.skipped
            run_id, code = run(tick)
            if run_id is not None:
                summary.runs.append(run_id)
            failures = failures + 1 if code == EXIT_DEVICE else 0
            summary.failed += code == EXIT_DEVICE
            summary.exit_code = code
            if code in (EXIT_CONSTRAINT_FAILED, EXIT_USAGE):
                summary.ended = "alert" if code == EXIT_CONSTRAINT_FAILED else "the store refused a run"
                return summary
            if failures >= max_failures:
                summary.ended = f"{failures} failed ticks in a row"
                return summary
    except Interrupted:
        summary.exit_code, summary.ended = EXIT_INTERRUPTED, "interrupted during a run: its agents were stopped, " \
                                                             "it was not stored"
    except KeyboardInterrupt:
        summary.exit_code, summary.ended = EXIT_INTERRUPTED, "interrupted"
    return summary


@dataclass(frozen=True)
class Profiled:
    """One run of a watch: the deploy, its baseline gate and its exit code (1: an alert)."""

    deployed: Deployed
    gate: Gate
    exit_code: int

    @property
    def alert(self) -> bool:
        return self.exit_code == EXIT_CONSTRAINT_FAILED


@dataclass
class Policy:
    """What every run of a watch measures (`plan`, stored in `store` with `command` recorded) and is held to: its
    verdicts (`strict`: inconclusive ones fail too) and the baseline gate against `baseline` (a run or tag, AUTO:
    this watch's first stored run without a failure, None: no gate)."""

    plan: Plan
    store: StoreTarget
    command: str
    baseline: str | None
    strict: bool
    max_ratio: float
    max_drop: float
    alpha: float
    base: list[Doc] | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        if self.baseline not in (None, AUTO):
            self.base = stored_run(self.store, self.baseline)

    def profile(self, on_event: Callable[[str, str, dict[str, Any]], None]) -> Profiled:
        """Deploy, judge and store once, gate the run against the baseline, and with AUTO adopt it as the baseline
        when it is the first stored one without a failure."""
        deployed = deploy_judge_store(self.plan, self.store, command=self.command, on_event=on_event)
        gate = baseline_gate(self.base, deployed.results, max_ratio=self.max_ratio, max_drop=self.max_drop,
                             alpha=self.alpha)
        if self.baseline == AUTO and self.base is None and deployed.run_id and not deployed.failures:
            self.base = deployed.results
        return Profiled(deployed, gate, gate.exit_code(deployed.exit_code(strict=self.strict)))

    def failing(self, result: Doc) -> list[dict[str, Any]]:
        """The verdicts that fail one Result, by the one strict rule (decisions.Status.failing)."""
        return [v for v in result.get("verdicts") or []
                if (status := Status.of(v.get("status"))) is not None and status.failing(strict=self.strict)]
