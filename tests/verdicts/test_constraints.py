"""Constraint parsing, precedence (profile < project < cli), every verdict state and exit codes."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgeprof.constraints import Constraint, parse_constraint, resolve_constraints
from edgeprof.cost import cost_per_million
from edgeprof.devices import CostConfig, load_profile
from edgeprof.errors import ConfigError
from edgeprof.pipeline import apply_verdicts
from edgeprof.project import load_project
from edgeprof.verdicts import exit_code, judge
from tests.verdicts.factory import make


def one(result: dict, text: str, **kw: bool) -> dict:
    (verdict,) = judge(result, [parse_constraint(text)], **kw)
    return verdict


@pytest.mark.parametrize("text, expected", [
    ("latency.p95_ms<=50", Constraint("latency.p95_ms", "<=", 50.0)),
    ("  accuracy.top1 >= 0.95 ", Constraint("accuracy.top1", ">=", 0.95)),
    ("throughput.min_ips>1e2", Constraint("throughput.min_ips", ">", 100.0)),
    ("cost.usd_per_million < 3.5", Constraint("cost.usd_per_million", "<", 3.5)),
])
def test_parse(text: str, expected: Constraint) -> None:
    assert parse_constraint(text) == expected


@pytest.mark.parametrize("text, fragment", [
    ("latency.p95<=50", "did you mean 'latency.p95_ms'"),
    ("latency.p95_ms=>50", "cannot parse"),
    ("latency.p95_ms==50", "cannot parse"),
    ("latency.p95_ms<=-1", "impossible bound"),
    ("accuracy.top1>=1.5", "impossible bound"),
    ("memory.peak_rss_mb<=lots", "cannot parse"),
])
def test_parse_errors(text: str, fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment) as info:
        parse_constraint(text, source="pi4.toml [constraints] x")
    assert str(info.value).startswith("pi4.toml [constraints] x")
    if "unknown" in str(info.value):
        assert "valid metrics: latency.p50_ms" in str(info.value)


def test_precedence_profile_project_cli(tmp_path: Path) -> None:
    project_path = tmp_path / "edgeprof.toml"
    project_path.write_text(
        '[constraints]\n"latency.p95_ms" = "<= 40"\n"power.avg_w" = "<= 5"\n'
        '[constraints.pi4]\n"latency.p95_ms" = "<= 30"\n'
        '[constraints.pi4."digits-int8"]\n"latency.p95_ms" = "<= 20"\n"accuracy.top1" = ">= 0.9"\n'
        '[constraints.pi5]\n"latency.p95_ms" = "<= 5"\n')
    project = load_project(project_path)
    profile = {"latency.p95_ms": "<= 100", "memory.peak_rss_mb": "<= 256", "accuracy.top1": ">= 0.95"}

    def bounds(device: str, labels: list[str], cli: list[str]) -> dict[str, tuple[float, str]]:
        found = resolve_constraints(device, labels, profile, "pi4.toml", project, cli)
        return {c.metric: (c.bound, c.source) for c in found}

    fp32 = bounds("pi4", ["digits", "digits-fp32"], [])
    assert fp32["latency.p95_ms"][0] == 30 and '[constraints."pi4"]' in fp32["latency.p95_ms"][1]
    assert fp32["memory.peak_rss_mb"] == (256, "pi4.toml [constraints] memory.peak_rss_mb")
    assert fp32["accuracy.top1"][0] == 0.95 and fp32["power.avg_w"][0] == 5
    int8 = bounds("pi4", ["digits", "digits-int8"], [])
    assert int8["latency.p95_ms"][0] == 20 and int8["accuracy.top1"][0] == 0.9
    assert bounds("other", ["digits-int8"], [])["latency.p95_ms"][0] == 40
    cli = bounds("pi4", ["digits-int8"], ["latency.p95_ms<=7"])
    assert cli["latency.p95_ms"] == (7, "--constraint")


@pytest.mark.parametrize("text, message", [
    ('[constraints.pi4."digits-int8"]\n"latency.p95" = "<= 20"\n',
     r'edgeprof.toml \[constraints\."pi4"\."digits-int8"\] latency.p95: unknown metric'),
    ('[constraints]\n"latency.p95_ms" = 20\n', "must be a string"),
    ('[constraints]\n"latency.p95_ms" = "<= -3"\n', r"edgeprof.toml \[constraints\] latency.p95_ms: impossible bound"),
    ('[limits]\n"latency.p95_ms" = "<= 3"\n', "unknown key 'limits'"),
    ('[constraints\n', "malformed TOML"),
])
def test_project_errors_name_file_and_key(tmp_path: Path, text: str, message: str) -> None:
    bad = tmp_path / "edgeprof.toml"
    bad.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_project(bad)


def test_project_file_is_optional_unless_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert load_project(None) is None
    with pytest.raises(ConfigError, match="does not exist"):
        load_project(tmp_path / "missing.toml")


def test_pass_fail_with_margin() -> None:
    ok = one(make(), "memory.peak_rss_mb<=128")
    assert (ok["status"], ok["value"], ok["margin"], ok["method"]) == ("pass", 100.0, 28.0, "measured")
    bad = one(make(), "accuracy.top1>=0.98")
    assert bad["status"] == "fail" and bad["margin"] == pytest.approx(-0.01)
    assert one(make(), "model.size_mb<=1")["status"] == "fail"
    assert one(make(), "accuracy.drop<=0.02")["status"] == "pass"


def test_latency_ci_decides_or_is_inconclusive() -> None:
    assert one(make(), "latency.p95_ms<=13")["status"] == "pass"
    assert one(make(), "latency.p95_ms<=11")["status"] == "fail"
    straddle = one(make(), "latency.p95_ms<=12.1")
    assert straddle["status"] == "inconclusive" and "straddles" in straddle["detail"]
    # upper half-width 0.2 against a gap of 0.1: n' = 800 * (0.2/0.1)^2 = 3200, i.e. 2400 more samples
    assert "about 2400 more samples" in straddle["detail"]
    no_ci = make(latency__ci={"confidence": 0.95})
    assert one(no_ci, "latency.p95_ms<=100")["status"] == "inconclusive"


def test_the_more_samples_hint_counts_the_samples_the_interval_came_from() -> None:
    """The stopping rule's pilot samples enter no interval: 1,000 samples after a pilot of 200 are the 800 the
    interval was drawn from, so the hint is the same as for 800 without a pilot."""
    piloted = one(make(latency__samples=1000, latency__pilot_samples=200), "latency.p95_ms<=12.1")
    assert "about 2400 more samples" in piloted["detail"]


def test_not_measured() -> None:
    verdict = one(make(power=None), "power.energy_mj<=10")
    assert verdict["status"] == "not measured" and verdict["value"] is None
    no_sensor = make(power={"method": "none", "reason": "no power sensor or estimate configured"})
    assert one(no_sensor, "power.avg_w<=5")["detail"] == "no power sensor or estimate configured"


def test_emulated_latency_is_informational_unless_calibrated() -> None:
    emulated = make(latency__method="emulated:qemu-tcg")
    verdict = one(emulated, "latency.p95_ms<=5")
    assert verdict["status"] == "informational" and "would be fail" in verdict["detail"]
    assert one(emulated, "latency.p95_ms<=5", calibrated_emulation=True)["status"] == "fail"
    assert one(emulated, "memory.peak_rss_mb<=50")["status"] == "fail"


def test_estimated_power_is_judged_and_says_so() -> None:
    verdict = one(make(power__method="estimate:utilisation"), "power.energy_mj<=10")
    assert verdict["status"] == "fail" and "estimate" in verdict["detail"]


@pytest.mark.parametrize("error, status, detail", [
    ({"kind": "memory", "message": "out of memory (MemoryError)", "memory_hint": " at ~256 MB (the device's memory "
      "limit)"}, "fail", "killed: out of memory at ~256 MB"),
    ({"kind": "killed", "message": "the agent was killed (SIGKILL: most likely out of memory at the 512 MB limit)"},
     "fail", "killed: out of memory at ~512 MB"),
    ({"kind": "memory", "message": "out of memory (MemoryError)"}, "fail", "killed: out of memory"),
    ({"kind": "runtime", "message": "bad model"}, "not measured", "run failed: runtime"),
])
def test_failed_runs(error: dict, status: str, detail: str) -> None:
    failed = make(status="failed", error=error, latency=None, memory=None)
    verdicts = judge(failed, [parse_constraint("memory.peak_rss_mb<=1000"), parse_constraint("latency.p95_ms<=1")])
    assert (verdicts[0]["status"], verdicts[0]["detail"]) == (status, detail)
    assert verdicts[0]["method"] == ("run error" if status == "fail" else "none")
    assert verdicts[1]["status"] == "not measured"
    failed["verdicts"] = verdicts
    assert exit_code([failed]) == (1 if status == "fail" else 3)


def test_exit_codes() -> None:
    def judged(*texts: str) -> dict:
        result = make()
        result["verdicts"] = judge(result, [parse_constraint(t) for t in texts])
        return result
    passing = judged("latency.p95_ms<=50", "power.avg_w<=5")
    assert exit_code([passing]) == 0
    assert exit_code([judged("thermal.max_c<=99"), judged("power.energy_mj<=1")]) == 1
    unsure = judged("latency.p95_ms<=12.1")
    assert exit_code([unsure]) == 0 and exit_code([unsure], strict=True) == 1
    unmeasured = make(thermal=None)
    unmeasured["verdicts"] = judge(unmeasured, [parse_constraint("thermal.max_c<=60")])
    assert exit_code([passing, unmeasured]) == 0
    crashed = make(status="failed", error={"kind": "crashed", "message": "segfault"})
    assert exit_code([judged("power.energy_mj<=1"), crashed]) == 3


def test_cost_per_million_and_its_constraint() -> None:
    cost = CostConfig(hardware_usd=60.0, lifetime_hours=26280, energy_usd_per_kwh=0.30)
    result = make()  # 100 inferences/s, 40 mJ each
    hardware = 60.0 / (26280 * 3600 * 100) * 1e6
    energy = 0.040 / 3.6e6 * 0.30 * 1e6
    assert cost_per_million(result, cost) == pytest.approx(hardware + energy)
    assert cost_per_million(result, CostConfig(hardware_usd=60.0, lifetime_hours=26280)) == pytest.approx(hardware)
    assert cost_per_million(make(power=None), CostConfig(hardware_usd=60.0)) is not None
    assert cost_per_million(make(latency=None), cost) is None
    assert cost_per_million(result, None) is None
    profile = load_profile("pi5")
    result["device"] = "pi5"
    hardware = profile.cost.hardware_usd / (profile.cost.lifetime_hours * 3600 * 100) * 1e6
    energy = 0.040 / 3.6e6 * profile.cost.energy_usd_per_kwh * 1e6
    verdicts = apply_verdicts(result, profile, None, ["cost.usd_per_million<=0.01"])
    assert result["cost"]["usd_per_million"] == pytest.approx(hardware + energy)
    assert result["cost"]["method"] == "derived:cost-model"
    assert {v["constraint"]: v["status"] for v in verdicts}["cost.usd_per_million"] == "pass"
    assert {v["constraint"] for v in verdicts} >= {"latency.p95_ms", "memory.peak_rss_mb", "accuracy.top1"}
    estimated = make(power__method="estimate:utilisation")
    apply_verdicts(estimated, None, None, ["cost.usd_per_million<=1"])
    assert estimated["cost"] == {"method": "none", "usd_per_million": None,
                                 "reason": "no [cost] table in the device profile"}
    assert estimated["verdicts"][0]["status"] == "not measured"


def test_agreement_over_constant_reference_outputs_is_informational() -> None:
    from edgeprof.constraints import parse_constraint
    from edgeprof.verdicts import judge_one

    result = {"status": "ok", "accuracy": {"method": "measured", "reference": {
        "agreement_top1": 1.0, "accuracy_drop": 0.0, "meaningful": False, "reason": "constant outputs"}}}
    row = judge_one(result, parse_constraint("accuracy.agreement>=0.99"))
    assert row["status"] == "informational" and row["detail"] == "constant outputs (would be pass)"


def test_inconclusive_hint_never_asks_for_more_than_the_budget() -> None:
    over = one(make(latency__max_runs=1000), "latency.p95_ms<=12.1")
    assert "raise --max-runs to 3200" in over["detail"]
    hopeless = one(make(latency__max_runs=1000), "latency.p95_ms<=12.0001")
    assert "cannot get narrower than" in hopeless["detail"] and "more samples" not in hopeless["detail"]
