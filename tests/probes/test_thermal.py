"""Thermal zones, Raspberry Pi throttle bits, cpufreq policies and the bounded cool-down wait."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from edgeprof.agent.probes.thermal import (
    ThermalProbe,
    decode_throttled,
    read_cpufreq,
    read_throttled,
    read_zones,
    wait_for_cooldown,
)
from edgeprof.agent.spec import ThermalSettings
from tests.probes.conftest import BIN, FIXTURES

PI = FIXTURES / "pi-thermal"


def test_zones_by_type_duplicates_suffixed_unreadable_skipped() -> None:
    assert read_zones(str(PI)) == {"cpu-thermal": 45.25, "gpu-thermal": 41.0, "cpu-thermal_2": 47.0}


def test_cpufreq_policies() -> None:
    assert read_cpufreq(str(PI)) == {
        "policy0": {"governor": "ondemand", "cur_khz": 1500000, "max_khz": 2400000},
        "policy4": {"governor": "performance", "cur_khz": 1800000, "max_khz": 1800000},
    }


@pytest.mark.parametrize("raw, now, occurred", [
    (0x0, [], []),
    (0x50005, ["under-voltage", "throttled"], ["under-voltage", "throttled"]),
    (0x80000, [], ["soft temperature limit"]),
    (0xF000F, ["under-voltage", "frequency capped", "throttled", "soft temperature limit"],
     ["under-voltage", "frequency capped", "throttled", "soft temperature limit"]),
    (0x2, ["frequency capped"], []),
])
def test_throttle_bits(raw: int, now: list[str], occurred: list[str]) -> None:
    assert decode_throttled(raw) == {"raw": hex(raw), "now": now, "occurred": occurred}


def test_throttled_through_fake_vcgencmd_and_null_without_it() -> None:
    assert read_throttled(str(BIN / "vcgencmd-pi5"))["raw"] == "0x50005"
    assert read_throttled(str(BIN / "vcgencmd-pi4")) == {"raw": "0x0", "now": [], "occurred": []}
    assert read_throttled("/nonexistent/vcgencmd") is None
    assert read_throttled(str(BIN / "meter-5w")) is None  # answers, but not with throttled=...


def _set_temp(root: Path, zone: int, celsius: float) -> None:
    (root / f"sys/class/thermal/thermal_zone{zone}/temp").write_text(f"{int(celsius * 1000)}\n")


def test_probe_before_after_and_max_over_the_run(tree) -> None:
    root = tree("pi-thermal")
    freq = root / "sys/devices/system/cpu/cpufreq/policy0/scaling_cur_freq"
    probe = ThermalProbe(ThermalSettings(sysfs_root=str(root), vcgencmd=str(BIN / "vcgencmd-pi5")))
    probe.before()
    _set_temp(root, 0, 71.5)  # a hot spell during the run that has passed by the end
    freq.write_text("600000\n")  # and the frequency it cost
    time.sleep(1.2)  # over two 2 Hz samples
    _set_temp(root, 0, 52.0)
    section = probe.after()
    assert section["method"] == "sensor:thermal_zone"
    assert section["before_c"]["cpu-thermal"] == 45.25 and section["after_c"]["cpu-thermal"] == 52.0
    assert section["max_c"] == 71.5
    assert section["throttled"]["now"] == ["under-voltage", "throttled"]
    assert section["cpufreq_before"]["policy0"]["cur_khz"] == 1500000
    assert section["cpufreq_after"]["policy0"]["cur_khz"] == 600000


def test_probe_without_zones_or_vcgencmd_says_why(tmp_path: Path) -> None:
    probe = ThermalProbe(ThermalSettings(sysfs_root=str(tmp_path), vcgencmd="/nonexistent/vcgencmd"))
    probe.before()
    section = probe.after()
    assert section["method"] == "none" and section["reason"] == "no thermal zones on this device"
    assert section["max_c"] is None and section["throttled"] is None and section["before_c"] == {}


def test_cooldown_waits_until_cool_enough(tree) -> None:
    root = tree("pi-thermal")
    for zone in (0, 1, 2):
        _set_temp(root, zone, 60.0)
    cooler = threading.Timer(0.3, lambda: [_set_temp(root, zone, 40.0) for zone in (0, 1, 2)])
    cooler.start()
    warnings: list[str] = []
    start = time.monotonic()
    reached = wait_for_cooldown(ThermalSettings(sysfs_root=str(root), cooldown_to_c=45.0, cooldown_max_s=30),
                                warnings.append)
    cooler.join()
    assert reached == 40.0 and warnings == [] and time.monotonic() - start < 10


def test_cooldown_bound_expires_with_a_warning(tree) -> None:
    root = tree("pi-thermal")
    warnings: list[str] = []
    start = time.monotonic()
    reached = wait_for_cooldown(ThermalSettings(sysfs_root=str(root), cooldown_to_c=30.0, cooldown_max_s=0.3),
                                warnings.append)
    assert reached == 47.0 and time.monotonic() - start < 1.0
    assert warnings == ["still 47.0 C after waiting 0.3 s to cool to 30.0 C"]


def test_cooldown_unset_or_without_zones(tmp_path: Path) -> None:
    warnings: list[str] = []
    assert wait_for_cooldown(ThermalSettings(sysfs_root=str(PI), cooldown_to_c=None), warnings.append) is None
    assert warnings == []
    assert wait_for_cooldown(ThermalSettings(sysfs_root=str(tmp_path), cooldown_to_c=40.0), warnings.append) is None
    assert warnings == ["--cooldown-to ignored: the device has no thermal zones"]


def test_power_mode_from_nvpmodel_where_the_board_has_one(tmp_path: Path) -> None:
    from edgeprof.agent.probes.system import power_mode, system_section

    orin = str(FIXTURES / "jetson-orin-nano")
    assert power_mode(orin, nvpmodel="no-such-nvpmodel") == "7W"  # mode 1 in the status file, named by the conf
    assert power_mode(orin, nvpmodel=str(BIN / "nvpmodel-orin")) == "MAXN_SUPER"  # `nvpmodel -q` wins
    assert power_mode(str(PI)) is None  # no /etc/nvpmodel.conf: no power mode
    assert system_section(orin, interval_s=0.0)[0]["power_mode"] == "7W"
