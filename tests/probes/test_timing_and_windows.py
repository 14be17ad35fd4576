"""Stage times the agent returns in `timing`, and the adaptive power window's stopping rule."""

from __future__ import annotations

import time

from edgeprof.agent.probes.power import Window, measure_energy
from edgeprof.agent.run import TimedClock
from edgeprof.deploy import timing_section
from tests.probes.conftest import BIN, power_spec


def test_timed_clock_keeps_seconds_per_stage_and_sums_the_measuring_ones() -> None:
    started = time.perf_counter()
    clock = TimedClock(60)
    clock.enter("lock")
    time.sleep(0.02)
    clock.enter("load")
    time.sleep(0.03)
    clock.stop()
    section = clock.section(started, wait_s=0.25)
    assert section["stages"]["lock"] >= 0.02 and section["stages"]["load"] >= 0.03
    assert section["measure_s"] == section["stages"]["load"] and section["other_s"] >= 0.02
    timing = timing_section({"connect": 0.1, "upload": 0.2, "agent": 1.0}, section)
    assert timing["stages"]["agent_start"] == 1.0 - section["measure_s"] - 0.25  # the wait for the spec is not start
    assert timing["agent_wait_s"] == 0.25 and timing["stages"]["store"] is None


def test_window_stops_once_precise_but_never_before_its_shortest() -> None:
    window = Window(3.0, 0.5, 0.02, estimate=False)
    steady = [5.0] * 10
    assert not window.done(0.4, steady) and window.done(0.5, steady)
    assert not window.done(1.0, [1.0, 9.0] * 5) and window.done(3.0, [1.0, 9.0] * 5)
    assert Window(1.0, None, 0.02, estimate=True).shortest == 1.0  # no minimum: a fixed window


def test_adaptive_load_window_on_a_steady_meter_ends_early() -> None:
    spec = power_spec(method="command", command=str(BIN / "meter-5w"), seconds=3.0, idle_seconds=1.0,
                      min_seconds=0.3)
    section = measure_energy(lambda: time.sleep(0.005), spec, lambda *_: None)
    assert section["avg_w"] == 5.0 and section["window_s"] < 3.0
