"""Each power source parses the real node layout / tool output and degrades with one clear line."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from edgeprof.agent.probes._power_sources import (
    PI5_GAIN,
    PI5_OFFSET_W,
    Command,
    Estimate,
    Hwmon,
    JetsonIio,
    JetsonIna3221,
    Pi5Pmic,
    Rapl,
    SensorMissing,
    cpu_times,
    open_source,
    parse_pmic,
)
from tests.probes.conftest import BIN, FIXTURES, power_spec

# (amps, volts) of the rails in fixtures/bin/vcgencmd-pi5 that have both; EXT5V and BATT have volts only.
PI5_RAILS = {
    "3V7_WL_SW": (0.00390372, 3.71170800), "3V3_SYS": (0.05172414, 3.29425800), "1V8_SYS": (0.18248690, 1.79743400),
    "DDR_VDD2": (0.02049453, 1.11317500), "DDR_VDDQ": (0.0, 0.60463740), "1V1_SYS": (0.18052510, 1.10670200),
    "0V8_SYS": (0.33084750, 0.80060400), "VDD_CORE": (1.11625000, 0.89999000), "3V3_DAC": (0.00048840, 3.30403800),
    "3V3_ADC": (0.00012210, 3.30403800), "0V8_AON": (0.00500000, 0.80060400), "HDMI": (0.02283270, 5.14732000),
}
PI5_SUM_W = sum(a * v for a, v in PI5_RAILS.values())


def test_ina3221_reads_labelled_rails_and_takes_vdd_in_as_total() -> None:
    total, rails = JetsonIna3221(str(FIXTURES / "jetson-orin-nano")).read()
    assert rails == pytest.approx({"VDD_IN": 5.072 * 1.216, "VDD_CPU_GPU_CV": 5.064 * 0.280, "VDD_SOC": 5.068 * 0.456})
    assert total == pytest.approx(5.072 * 1.216)  # the input rail, not the sum (the others are inside it)


def test_ina3221_without_an_input_rail_sums_the_rails(tree) -> None:
    root = tree("jetson-orin-nano")
    hwmon = next(root.glob("sys/bus/i2c/drivers/ina3221/*/hwmon/hwmon*"))
    (hwmon / "in1_label").write_text("VDD_GPU\n")
    total, rails = JetsonIna3221(str(root)).read()
    assert set(rails) == {"VDD_GPU", "VDD_CPU_GPU_CV", "VDD_SOC"}
    assert total == pytest.approx(sum(rails.values()))


def test_iio_rails_in_milliwatts() -> None:
    source = open_source(power_spec(method="jetson-iio", sysfs_root=str(FIXTURES / "jetson-nano")))
    total, rails = source.read()
    assert source.method == "sensor:jetson-iio"
    assert rails == pytest.approx({"POM_5V_IN": 1.976, "POM_5V_GPU": 0.0, "POM_5V_CPU": 0.362})
    assert total == pytest.approx(1.976)


@pytest.mark.parametrize("cls", [JetsonIna3221, JetsonIio, Hwmon, Rapl])
def test_sysfs_sources_missing_on_an_empty_root(cls: type, tmp_path: Path) -> None:
    with pytest.raises(SensorMissing, match="^no "):
        cls(str(tmp_path))


def test_pmic_output_pairs_currents_with_volts() -> None:
    text = Path(BIN / "vcgencmd-pi5").read_text()
    rails = parse_pmic(text)
    assert rails == pytest.approx({rail: a * v for rail, (a, v) in PI5_RAILS.items()})
    assert "EXT5V" not in rails and "BATT" not in rails


@pytest.mark.parametrize("correction", [False, True])
def test_pi5_pmic_through_the_fake_vcgencmd(correction: bool) -> None:
    source = Pi5Pmic(str(BIN / "vcgencmd-pi5"), correction)
    total, rails = source.read()
    assert len(rails) == len(PI5_RAILS)
    if correction:
        assert source.method == "sensor:pi5-pmic+correction"
        assert total == pytest.approx(PI5_GAIN * PI5_SUM_W + PI5_OFFSET_W)
    else:
        assert source.method == "sensor:pi5-pmic"
        assert total == pytest.approx(PI5_SUM_W)


@pytest.mark.parametrize("tool", [str(BIN / "vcgencmd-pi4"), "/nonexistent/vcgencmd"])
def test_pi5_pmic_missing_on_a_pi4_or_without_vcgencmd(tool: str) -> None:
    with pytest.raises(SensorMissing, match="pmic_read_adc"):
        Pi5Pmic(tool, False)


def test_hwmon_names_rails_by_chip_and_label_and_uses_average_nodes() -> None:
    total, rails = Hwmon(str(FIXTURES / "hwmon")).read()
    assert rails == pytest.approx({"ina219/VBUS": 2.5, "power_meter/power1": 3.0})
    assert total == pytest.approx(5.5)


def _write(path: Path, value: int) -> None:
    path.write_text(f"{value}\n")


def test_rapl_power_from_counter_deltas_top_level_domains_psys_is_total(tree) -> None:
    root = tree("rapl")
    cap = root / "sys/class/powercap"
    start = time.monotonic()
    source = Rapl(str(root))
    primed = time.monotonic()
    assert set(source.domains) == {"package-0", "psys"}  # intel-rapl:0:0 (core) is inside package-0
    time.sleep(0.1)
    _write(cap / "intel-rapl:0/energy_uj", 1_000_000 + 200_000)
    _write(cap / "intel-rapl:1/energy_uj", 3_000_000 + 500_000)
    before_read = time.monotonic()
    total, rails = source.read()
    after_read = time.monotonic()
    # the source's own interval lies between these bounds, so its watts must too
    assert 0.2 / (after_read - start) <= rails["package-0"] <= 0.2 / (before_read - primed)
    assert 0.5 / (after_read - start) <= rails["psys"] <= 0.5 / (before_read - primed)
    assert total == rails["psys"]


def test_rapl_counter_wrap_around(tree) -> None:
    root = tree("rapl")
    cap = root / "sys/class/powercap"
    (cap / "intel-rapl:1").rename(root / "psys-removed")
    _write(cap / "intel-rapl:0/max_energy_range_uj", 1_000_000)
    _write(cap / "intel-rapl:0/energy_uj", 900_000)
    start = time.monotonic()
    source = Rapl(str(root))
    primed = time.monotonic()
    time.sleep(0.1)
    _write(cap / "intel-rapl:0/energy_uj", 50_000)  # wrapped: 100_000 to the top, then 50_000
    before_read = time.monotonic()
    total, _ = source.read()
    after_read = time.monotonic()
    assert 0.15 / (after_read - start) <= total <= 0.15 / (before_read - primed)


@pytest.mark.parametrize("printed", ["5.0", "5.0 W", "5.0W", "  4.2w", "7", "1.5e1 W\nignored second line"])
def test_command_meter_output_formats(printed: str) -> None:
    expected = float(printed.split()[0].rstrip("Ww"))
    total, rails = Command(f"printf '{printed}\\n'").read()
    assert total == expected and rails == {}


@pytest.mark.parametrize("printed", ["", "abc", "5.0 mW", "watts: 5"])
def test_command_meter_that_prints_no_watts(printed: str) -> None:
    with pytest.raises(SensorMissing, match="^power command did not print a number of watts$"):
        Command(f"printf '{printed}'")


@pytest.mark.parametrize("command, message", [
    ("sh -c 'exit 3' --token=SECRET-TOKEN-123", "^power command failed \\(exit 3\\)$"),
    ("/nonexistent/meter --token SECRET-TOKEN-123", "^power command could not run \\(FileNotFoundError\\)$"),
    ("meter --token 'SECRET-TOKEN-123", "^the power command cannot be parsed"),
])
def test_command_errors_never_carry_the_command_text(command: str, message: str) -> None:
    with pytest.raises(SensorMissing, match=message) as failure:
        Command(command)
    assert "SECRET" not in str(failure.value)
    error = failure.value  # no chained exception (which would print the argv) rides along
    assert error.__cause__ is None and (error.__context__ is None or error.__suppress_context__)


def test_estimate_is_within_idle_and_max_and_labelled() -> None:
    source = Estimate(2.0, 6.0)
    values = []
    for _ in range(5):
        deadline = time.perf_counter() + 0.02
        while time.perf_counter() < deadline:
            pass
        values.append(source.read()[0])
    assert source.method == "estimate:utilisation"
    assert all(2.0 <= w <= 6.0 for w in values)
    assert max(values) > 2.0  # a busy loop on one of the cores shows up


def test_cpu_times_without_psutil_reads_proc_stat(monkeypatch: pytest.MonkeyPatch) -> None:
    with_psutil = cpu_times()
    monkeypatch.setitem(sys.modules, "psutil", None)  # `import psutil` now raises ImportError
    total, idle = cpu_times()
    with open("/proc/stat") as fh:
        fields = [float(x) for x in fh.readline().split()[1:]]
    assert total == pytest.approx(sum(fields[:8]), abs=50)  # guest/guest_nice are inside user/nice
    assert idle == pytest.approx(fields[3] + fields[4], abs=50)
    # psutil reports seconds, /proc/stat clock ticks; both give the same busy fraction
    assert 1 - with_psutil[1] / with_psutil[0] == pytest.approx(1 - idle / total, abs=0.02)


def test_open_source_rejects_unknown_and_incomplete_specs() -> None:
    with pytest.raises(SensorMissing, match="unknown power method 'bogus'"):
        open_source(power_spec(method="bogus"))
    with pytest.raises(SensorMissing, match="needs a command"):
        open_source(power_spec(method="command"))
    with pytest.raises(SensorMissing, match="needs idle_w and max_w"):
        open_source(power_spec(method="estimate", idle_w=2.0))
