"""Numbers in profiles, the environment and CLI options: NaN, infinity, zero where zero means nothing and values
past what a clock can wait are refused before anything runs, as one line naming the setting (exit 2)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.faults.test_bad_input_cli import one_error_line, run_cli
from tests.faults.test_inputs_and_store import FAST, FP32
from tests.support import store_rows

LOCAL = """description = "this machine (tests)"
kind = "local"
[runtime]
threads = 1
[power]
method = "estimate"
idle_w = 2.0
max_w = 6.0
"""
SSH = """description = "an SSH board (tests)"
kind = "ssh"
[hardware]
cpu = "a53"
arch = "aarch64"
cores = 4
max_clock_ghz = 1.5
ram_mb = 1024
peak_gflops = 0.0
[connection]
host = "127.0.0.1"
[power]
method = "estimate"
idle_w = 2.0
max_w = 6.0
"""


def profile(tmp: Path, base: str, old: str, new: str) -> dict[str, str]:
    """A profile 'odd' from `base` with the line `old` replaced by `new` (TOML); the environment that finds it."""
    assert old in base
    (tmp / "profiles").mkdir(exist_ok=True)
    (tmp / "profiles" / "odd.toml").write_text(base.replace(old, new))
    return {"EDGEPROF_DEVICE_PATH": str(tmp / "profiles")}


PROFILE_CASES = [
    ("idle-w-nan", LOCAL, "idle_w = 2.0", "idle_w = nan", ("'power.idle_w'", "finite", "nan")),
    ("max-w-inf", LOCAL, "max_w = 6.0", "max_w = inf", ("'power.max_w'", "finite", "inf")),
    ("hardware-usd-nan", LOCAL, "max_w = 6.0", "max_w = 6.0\n[cost]\nhardware_usd = nan", ("'cost.hardware_usd'",)),
    ("lifetime-zero", LOCAL, "max_w = 6.0", "max_w = 6.0\n[cost]\nlifetime_hours = 0", ("'cost.lifetime_hours'",
                                                                                        "above zero")),
    ("io-timeout-nan", SSH, 'host = "127.0.0.1"', 'host = "127.0.0.1"\nio_timeout_s = nan',
     ("'connection.io_timeout_s'", "finite")),
    ("io-timeout-zero", SSH, 'host = "127.0.0.1"', 'host = "127.0.0.1"\nio_timeout_s = 0',
     ("'connection.io_timeout_s'", "above zero")),
    ("connect-timeout-inf", SSH, 'host = "127.0.0.1"', 'host = "127.0.0.1"\nconnect_timeout_s = inf',
     ("'connection.connect_timeout_s'", "finite")),
    ("connect-timeout-zero", SSH, 'host = "127.0.0.1"', 'host = "127.0.0.1"\nconnect_timeout_s = 0',
     ("'connection.connect_timeout_s'", "above zero")),
    ("connect-timeout-1e12", SSH, 'host = "127.0.0.1"', 'host = "127.0.0.1"\nconnect_timeout_s = 1e12',
     ("'connection.connect_timeout_s'", "at most 86400")),
    ("sample-hz-zero", LOCAL, "max_w = 6.0", "max_w = 6.0\nsample_hz = 0.0", ("'power.sample_hz'", "above zero")),
]


@pytest.mark.parametrize(("base", "old", "new", "needles"), [c[1:] for c in PROFILE_CASES],
                         ids=[c[0] for c in PROFILE_CASES])
def test_a_profile_number_that_is_not_usable_is_refused(tmp_path: Path, base: str, old: str, new: str,
                                                        needles: tuple[str, ...]) -> None:
    env = profile(tmp_path, base, old, new)
    store = tmp_path / "r.db"
    proc = run_cli("deploy", "-d", "odd", "-m", FP32, *FAST, "--json", "--store", store, env=env)
    one_error_line(proc, 2, "odd.toml", *needles)
    assert proc.stdout == "" and store_rows(store) == 0
    shown = run_cli("devices", "show", "odd", env=env)
    one_error_line(shown, 2, *needles)


def test_deploy_json_with_costs_is_valid_json(tmp_path: Path) -> None:
    env = profile(tmp_path, LOCAL, "max_w = 6.0", "max_w = 6.0\n[cost]\nhardware_usd = 35.0\nlifetime_hours = 100")
    proc = run_cli("deploy", "-d", "odd", "-m", FP32, *FAST, "--json", "--store", tmp_path / "r.db", env=env)
    assert proc.returncode == 0, proc.stderr
    json.loads(proc.stdout, parse_constant=lambda name: pytest.fail(f"{name} in --json output"))


@pytest.mark.parametrize("value", ["nan", "inf", "1e12"])
def test_the_store_timeout_must_be_a_finite_number_of_seconds(tmp_path: Path, value: str) -> None:
    proc = run_cli("runs", "list", "--store", tmp_path / "r.db", env={"EDGEPROF_STORE_TIMEOUT": value})
    one_error_line(proc, 2, "$EDGEPROF_STORE_TIMEOUT")


CLI_CASES = [
    ("max-seconds-nan", ["deploy", "-m", str(FP32), "--max-seconds", "nan"], ("--max-seconds", "not a finite")),
    ("min-seconds-nan", ["deploy", "-m", str(FP32), "--min-seconds", "nan"], ("--min-seconds", "not a finite")),
    ("precision-inf", ["deploy", "-m", str(FP32), "--precision", "inf"], ("--precision", "not a finite")),
    ("power-seconds-1e12", ["deploy", "-m", str(FP32), "--power-seconds", "1e12"],
     ("--power-seconds", "more than a day")),
    ("lab-wait-inf", ["deploy", "-m", str(FP32), "--lab-wait", "inf"], ("--lab-wait", "not a finite")),
    ("target-qps-nan", ["deploy", "-m", str(FP32), "--scenario", "server", "--target-qps", "nan"], ("--target-qps",)),
    ("max-ratio-nan", ["check", "--max-ratio", "nan"], ("--max-ratio", "not a finite")),
    ("alpha-nan", ["compare", "a", "b", "--alpha", "nan"], ("--alpha", "not a finite")),
]


@pytest.mark.parametrize(("args", "needles"), [c[1:] for c in CLI_CASES], ids=[c[0] for c in CLI_CASES])
def test_a_numeric_option_must_be_finite(tmp_path: Path, args: list[str], needles: tuple[str, ...]) -> None:
    store = tmp_path / "r.db"
    proc = run_cli(*args, "--store", store)
    one_error_line(proc, 2, *needles)
    assert store_rows(store) == 0
