"""The idle + load energy windows: arithmetic on steady sources, fallbacks, failures and secrets."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from edgeprof.agent.probes._power_sources import Estimate
from edgeprof.agent.probes.power import energy_section, measure_energy
from tests.probes.conftest import BIN, power_spec

SECRET = "SECRET-TOKEN-123"


def _sleeper(seconds: float):
    calls = []

    def run_once() -> None:
        calls.append(1)
        time.sleep(seconds)

    return run_once, calls


def test_energy_section_arithmetic() -> None:
    section = energy_section("sensor:x", idle=[2.0, 2.0], load=[5.0, 7.0], rails={"VDD_IN": [5.0, 7.0]},
                             window_s=2.0, inferences=400)
    assert section["avg_w"] == 6.0 and section["idle_w"] == 2.0 and section["peak_w"] == 7.0
    assert section["energy_mj_per_inference"] == pytest.approx(6.0 * 2.0 / 400 * 1000)  # 30 mJ
    assert section["net_energy_mj_per_inference"] == pytest.approx(4.0 * 2.0 / 400 * 1000)  # 20 mJ
    assert section["net_status"] == "ok" and section["net_reason"] is None
    assert section["inferences_per_joule"] == pytest.approx(400 / 12.0)
    assert section["sample_hz"] == 1.0 and section["samples"] == 2
    assert section["rails"] == {"VDD_IN": 6.0}
    no_idle = energy_section("sensor:x", [], [5.0], {}, 1.0, 10)
    assert no_idle["net_energy_mj_per_inference"] is None and no_idle["net_status"] is None


def test_busy_host_estimate_at_its_maximum_is_indistinguishable_not_a_number() -> None:
    """The field report: idle and load both pinned at max_w = 6.4 W by a busy host gave -1.9e-16 mJ."""
    resolution = Estimate(2.0, 6.4).resolution_w
    pinned = [6.4, 6.3999999999999995, 6.4, 6.4]
    section = energy_section("estimate:utilisation", idle=pinned, load=[6.3999999999999995] * 10, rails={},
                             window_s=0.5, inferences=4730, resolution_w=resolution)
    assert resolution == pytest.approx(0.044)
    assert section["net_energy_mj_per_inference"] is None and section["net_status"] == "indistinguishable"
    assert "6.4 W is not above idle 6.4 W by more than the resolution 0.044 W" in section["net_reason"]
    assert section["energy_mj_per_inference"] > 0 and section["resolution_w"] == resolution


@pytest.mark.parametrize("idle, load, told_apart", [
    ([3.0] * 20, [3.03] * 20, False),  # within the estimate's 0.044 W resolution
    ([3.0] * 20, [3.1] * 20, True),  # steady and above it
    ([2.0, 4.0] * 10, [2.2, 4.2] * 10, False),  # above the resolution, but inside the noise of the two means
    ([2.0, 2.1] * 50, [4.0, 4.1] * 50, True),
    ([5.0] * 10, [4.0] * 10, False),  # load below idle: never a negative energy
])
def test_net_energy_needs_load_above_idle_by_more_than_resolution_and_noise(idle: list[float], load: list[float],
                                                                           told_apart: bool) -> None:
    section = energy_section("estimate:utilisation", idle, load, {}, 1.0, 100, Estimate(2.0, 6.4).resolution_w)
    net = section["net_energy_mj_per_inference"]
    assert (net is not None) == told_apart and section["net_status"] == ("ok" if told_apart else "indistinguishable")
    assert net is None or net > 0


def test_steady_5w_meter_gives_energy_per_inference() -> None:
    run_once, calls = _sleeper(0.01)
    progress: list[tuple[int, int | None]] = []
    spec = power_spec(method="command", command=str(BIN / "meter-5w"), seconds=1.0, idle_seconds=0.3)
    section = measure_energy(run_once, spec, lambda done, total: progress.append((done, total)))
    assert section["method"] == "sensor:command"
    assert section["avg_w"] == 5.0 and section["idle_w"] == 5.0 and section["peak_w"] == 5.0
    assert section["inferences"] == len(calls) and section["window_s"] >= 1.0
    per_inference_s = section["window_s"] / section["inferences"]
    assert 0.010 <= per_inference_s < 0.03  # each run sleeps 10 ms
    assert section["energy_mj_per_inference"] == pytest.approx(5.0 * per_inference_s * 1000)
    assert section["net_energy_mj_per_inference"] is None  # a steady meter: the load draws nothing above idle
    assert section["net_status"] == "indistinguishable" and "5 W is not above idle 5 W" in section["net_reason"]
    assert section["inferences_per_joule"] == pytest.approx(1000 / section["energy_mj_per_inference"])
    assert section["samples"] >= 5 and "fallback_reason" not in section
    assert progress[-1] == (1300, 1300) and all(total == 1300 for _, total in progress)
    assert [done for done, _ in progress] == sorted(done for done, _ in progress)


def test_load_raises_power_above_idle_on_a_sysfs_sensor(tree) -> None:
    root = tree("hwmon")
    node = root / "sys/class/hwmon/hwmon0/power1_input"
    (root / "sys/class/hwmon/hwmon2").rename(root / "meter-removed")

    staged = root / "staged"
    staged.write_text("7000000\n")

    def run_once() -> None:
        if staged.exists():  # the board draws 7 W once it infers (swapped in whole, as sysfs reads are)
            os.replace(staged, node)
        time.sleep(0.005)

    section = measure_energy(run_once, power_spec(method="hwmon", sysfs_root=str(root), sample_hz=40), lambda *_: None)
    assert section["method"] == "sensor:hwmon"
    assert section["idle_w"] == pytest.approx(2.5) and section["avg_w"] == pytest.approx(7.0)
    assert section["rails"] == {"ina219/VBUS": pytest.approx(7.0)}
    per_inference_ms = section["window_s"] / section["inferences"] * 1000
    assert section["net_energy_mj_per_inference"] == pytest.approx(4.5 * per_inference_ms)
    assert section["sample_hz"] >= 0.7 * 40  # a fixed schedule keeps up with a cheap sensor


def test_estimate_on_this_machine() -> None:
    def busy() -> None:
        deadline = time.perf_counter() + 0.002
        while time.perf_counter() < deadline:
            pass

    section = measure_energy(busy, power_spec(method="estimate", idle_w=2.0, max_w=6.0), lambda *_: None)
    assert section["method"] == "estimate:utilisation"
    for key in ("idle_w", "avg_w", "peak_w"):
        assert 2.0 <= section[key] <= 6.0
    assert section["energy_mj_per_inference"] > 0 and section["rails"] == {}
    net = section["net_energy_mj_per_inference"]
    assert (net is None) == (section["net_status"] == "indistinguishable") and (net is None or net > 0)


def test_missing_sensor_falls_back_to_the_estimate_with_a_reason(tmp_path: Path) -> None:
    run_once, _ = _sleeper(0.001)
    spec = power_spec(method="jetson-ina3221", sysfs_root=str(tmp_path), idle_w=2.0, max_w=6.0, seconds=0.3)
    section = measure_energy(run_once, spec, lambda *_: None)
    assert section["method"] == "estimate:utilisation"
    assert section["fallback_reason"].startswith("jetson-ina3221: no INA3221 channels")


def test_pi4_without_pmic_falls_back_and_pi5_measures() -> None:
    run_once, _ = _sleeper(0.001)
    pi4 = measure_energy(run_once, power_spec(method="pi5-pmic", vcgencmd=str(BIN / "vcgencmd-pi4"), idle_w=2.7,
                                              max_w=6.4, seconds=0.3, idle_seconds=0.1), lambda *_: None)
    assert pi4["method"] == "estimate:utilisation" and "pmic_read_adc" in pi4["fallback_reason"]
    pi5 = measure_energy(run_once, power_spec(method="pi5-pmic", vcgencmd=str(BIN / "vcgencmd-pi5"), seconds=0.3,
                                              idle_seconds=0.1, pi5_correction=True), lambda *_: None)
    assert pi5["method"] == "sensor:pi5-pmic+correction" and "VDD_CORE" in pi5["rails"]


def test_missing_sensor_without_estimate_figures_is_not_measured(tmp_path: Path) -> None:
    run_once, calls = _sleeper(0.001)
    section = measure_energy(run_once, power_spec(method="rapl", sysfs_root=str(tmp_path)), lambda *_: None)
    assert section == {"method": "none", "reason": "no RAPL domains under /sys/class/powercap"}
    assert calls == []  # no inference window without a source


def test_method_none_or_empty_window_is_no_section() -> None:
    run_once, calls = _sleeper(0.001)
    assert measure_energy(run_once, power_spec(method="none"), lambda *_: None) is None
    empty = power_spec(method="estimate", idle_w=1, max_w=2, seconds=0)
    assert measure_energy(run_once, empty, lambda *_: None) is None
    assert calls == []


@pytest.mark.parametrize("fallback", [False, True])
def test_failing_command_with_a_token_does_not_leak_it(fallback: bool) -> None:
    run_once, _ = _sleeper(0.001)
    figures = {"idle_w": 2.0, "max_w": 6.0} if fallback else {}
    spec = power_spec(method="command", command=f"sh -c 'exit 7' --token={SECRET}", seconds=0.2, **figures)
    section = measure_energy(run_once, spec, lambda *_: None)
    assert SECRET not in json.dumps(section)
    if fallback:
        assert section["method"] == "estimate:utilisation"
        assert section["fallback_reason"] == "command: power command failed (exit 7)"
    else:
        assert section == {"method": "none", "reason": "power command failed (exit 7)"}


def test_meter_failing_mid_window_reports_not_measured(tmp_path: Path) -> None:
    counter = tmp_path / "reads"
    counter.write_text("0")
    # answers 5 W for its first three reads (open, idle priming, one idle sample), then fails part-way
    script = (f"n=$(cat {counter}); echo $((n+1)) > {counter}; "
              f"if [ $n -lt 3 ]; then echo 5.0; else exit 4; fi")
    run_once, _ = _sleeper(0.001)
    spec = power_spec(method="command", command=f"sh -c '{script}' {SECRET}", seconds=0.5, idle_seconds=0.3)
    section = measure_energy(run_once, spec, lambda *_: None)
    assert section == {"method": "none", "reason": "power command failed (exit 4)"}


def test_transient_read_failures_are_skipped_and_counted(tmp_path: Path) -> None:
    counter = tmp_path / "reads"
    counter.write_text("0")
    script = (f"n=$(cat {counter}); echo $((n+1)) > {counter}; "  # every third read fails, never two in a row
              f"if [ $((n % 3)) -eq 2 ]; then exit 5; else echo 5.0; fi")
    run_once, _ = _sleeper(0.001)
    spec = power_spec(method="command", command=f"sh -c '{script}'", seconds=0.5, idle_seconds=0.2)
    section = measure_energy(run_once, spec, lambda *_: None)
    assert section["method"] == "sensor:command" and section["avg_w"] == 5.0
    reads = int(counter.read_text())
    assert section["read_errors"] == reads // 3 > 0
