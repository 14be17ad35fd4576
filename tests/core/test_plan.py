"""A measuring command line turned into a plan (edgeprof.plan): what deploy, sweep and watch share, checked on the
host before anything reaches a device; and which verdicts a watch's alert names (edgeprof.watch.Policy)."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgeprof.agent.spec import LatencyBudget, ScenarioSettings
from edgeprof.errors import ConfigError
from edgeprof.plan import REDACTED, Request, checked_settings, make_plan, recorded_command
from edgeprof.watch import Policy
from tests.support import DIGITS


def test_a_request_left_at_its_defaults_plans_the_runspec_defaults() -> None:
    plan = make_plan(Request(models=[DIGITS / "digits-fp32.onnx"]))
    assert [p.name for p in plan.profiles] == ["local"]
    assert plan.options.latency == LatencyBudget() and plan.options.scenario == ScenarioSettings()
    assert [a.variant for a in plan.artifacts] == ["fp32"] and plan.references == {}


def test_an_unset_minimum_is_capped_by_its_maximum_and_a_set_one_is_checked() -> None:
    latency = checked_settings(Request(models=[], max_seconds=0.3, max_runs=20)).latency
    assert (latency.min_seconds, latency.max_seconds, latency.min_runs, latency.max_runs) == (0.3, 0.3, 20, 20)
    with pytest.raises(ConfigError, match="--min-runs/--min-seconds must not exceed"):
        checked_settings(Request(models=[], min_runs=30, max_runs=20))


def test_a_variant_is_planned_with_its_fp32_source_unless_told_not_to() -> None:
    int8 = DIGITS / "digits-int8-static.onnx"
    plan = make_plan(Request(models=[int8]))
    (reference,) = plan.references.values()
    assert list(plan.references) == [plan.artifacts[0].sha256] and reference.variant == "fp32"
    assert make_plan(Request(models=[int8], with_reference=False)).references == {}


def test_settings_are_checked_before_any_model_is_read(tmp_path: Path) -> None:
    missing = [tmp_path / "missing.onnx"]
    with pytest.raises(ConfigError, match="unknown metric 'bogus'"):
        make_plan(Request(models=missing, constraints=["bogus<=1"]))
    with pytest.raises(ConfigError, match="--scenario server needs --target-qps"):
        make_plan(Request(models=missing, scenario="server"))
    with pytest.raises(ConfigError, match="does not exist"):
        make_plan(Request(models=missing, constraints=["latency.p95_ms<=5"]))


def test_the_recorded_command_hides_the_identity_file() -> None:
    line = recorded_command(["deploy", "--identity", "/home/me/.ssh/key", "--identity=/k2", "-m", "a b.onnx"])
    assert line == f"edgeprof deploy --identity '{REDACTED}' '--identity={REDACTED}' -m 'a b.onnx'"


@pytest.mark.parametrize("strict, named", [(False, ["fail"]), (True, ["fail", "inconclusive"])])
def test_the_alert_names_the_verdicts_the_exit_code_fails(strict: bool, named: list[str], tmp_path: Path) -> None:
    plan = make_plan(Request(models=[DIGITS / "digits-fp32.onnx"]))
    policy = Policy(plan, str(tmp_path / "r.db"), "edgeprof watch", baseline=None, strict=strict, max_ratio=1.1,
                    max_drop=0.01, alpha=0.01)
    verdicts = [{"constraint": f"latency.p{n}_ms", "status": status}
                for n, status in ((50, "pass"), (95, "fail"), (99, "inconclusive"), (90, "informational"))]
    assert [v["status"] for v in policy.failing({"verdicts": verdicts})] == named
