"""`check`, `recommend`, `history`, `compare` and `runs tag` through typer's CliRunner on a real SQLite store."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any, Callable

import pytest
from typer.testing import CliRunner

import edgeprof.cli.check_cmds  # noqa: F401  (registers the commands)
from edgeprof.cli import command_app
from edgeprof.errors import ConfigError
from edgeprof.store.sqlite import SQLiteStore as ResultStore
from tests.verdicts.factory import make, with_samples

app = command_app()  # every command registered

runner = CliRunner()
Build = Callable[[list[list[dict[str, Any]]]], Path]


@pytest.fixture(autouse=True)
def no_project_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)


def invoke(store: Path, *args: str, env: dict[str, str] | None = None) -> Any:
    return runner.invoke(app, [*args, "--store", str(store)], env=env)


def run_of(median: float, seed: int, **more: Any) -> list[dict[str, Any]]:
    """One run on the `local` device (profile: p95 <= 50, peak <= 512, top-1 >= 0.95): fp32 and int8."""
    fp32, int8 = make(**more), make(variant="int8", **more)
    return [with_samples(fp32, median, seed), with_samples(int8, median * 0.6, seed + 1)]


def test_check_passes_and_writes_junit_markdown_and_step_summary(store_file: Build, tmp_path: Path) -> None:
    store = store_file([run_of(10.0, 1)])
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n")
    out = invoke(store, "check", "--latest", "--junit", str(tmp_path / "j.xml"), "--markdown",
                 str(tmp_path / "s.md"), env={"GITHUB_STEP_SUMMARY": str(summary)})
    assert out.exit_code == 0, out.output
    assert "PASS" in out.output
    root = ET.parse(tmp_path / "j.xml").getroot()
    assert (root.get("tests"), root.get("failures")) == ("6", "0")
    assert "### local" in (tmp_path / "s.md").read_text()
    assert summary.read_text().startswith("earlier step\n## edgeprof verdicts")


def test_check_rejudges_with_current_constraints(store_file: Build) -> None:
    store = store_file([run_of(10.0, 1)])
    out = invoke(store, "check", "--constraint", "latency.p95_ms<=5", "--json")
    assert out.exit_code == 1
    report = json.loads(out.stdout)
    statuses = {(r["model"], v["constraint"]): v["status"] for r in report["results"] for v in r["verdicts"]}
    assert statuses[("digits-fp32 onnx", "latency.p95_ms")] == "fail"
    assert statuses[("digits-fp32 onnx", "memory.peak_rss_mb")] == "pass"
    only_int8 = invoke(store, "check", "--model", "digits-int8", "--constraint", "accuracy.top1>=0.9", "--json")
    assert only_int8.exit_code == 0 and [r["model"] for r in json.loads(only_int8.stdout)["results"]] == ["digits-int8 onnx"]


def test_check_project_file_and_strict(store_file: Build, tmp_path: Path) -> None:
    store = store_file([run_of(10.0, 1)])
    (tmp_path / "edgeprof.toml").write_text('[constraints.local."digits-fp32"]\n"latency.p95_ms" = "<= 12.1"\n')
    loose = invoke(store, "check")
    assert loose.exit_code == 0 and "INCONCLUSIVE" in loose.output
    assert invoke(store, "check", "--strict").exit_code == 1


def test_missing_profile_judges_with_cli_only(store_file: Build) -> None:
    store = store_file([[make(device="ghost")]])
    out = invoke(store, "check", "--constraint", "memory.peak_rss_mb<=50", "--json")
    assert out.exit_code == 1
    assert "no device profile 'ghost'" in out.stderr
    (result,) = json.loads(out.stdout)["results"]
    assert [v["constraint"] for v in result["verdicts"]] == ["memory.peak_rss_mb"]


def test_failed_runs_exit_codes(store_file: Build) -> None:
    crashed = make(status="failed", error={"kind": "crashed", "message": "segfault"}, latency=None, memory=None)
    assert invoke(store_file([[make(), crashed]]), "check").exit_code == 3


def test_failed_oom_run_is_a_constraint_failure(store_file: Build) -> None:
    oom = make(status="failed", error={"kind": "memory", "message": "out of memory at the 256 MB limit: bad_alloc"},
               latency=None, memory=None)
    out = invoke(store_file([[oom]]), "check", "--json")
    assert out.exit_code == 1
    verdicts = {v["constraint"]: v for v in json.loads(out.stdout)["results"][0]["verdicts"]}
    assert verdicts["memory.peak_rss_mb"]["detail"] == "killed: out of memory at ~256 MB"


def test_baseline_regression_gate(store_file: Build) -> None:
    store = store_file([run_of(10.0, 1), run_of(12.0, 3)])
    runs = [row.run_id for row in ResultStore(store, create=False).list_runs()]
    tagged = invoke(store, "runs", "tag", runs[1], "baseline")
    assert tagged.exit_code == 0 and "as baseline" in tagged.output
    gated = invoke(store, "check", "--baseline", "baseline")
    assert gated.exit_code == 1 and "regression" in gated.output and "slower" in gated.output
    assert invoke(store, "check", "--baseline", "baseline", "--max-ratio", "1.5").exit_code == 0
    same = invoke(store, "check", "--run", "baseline", "--baseline", "baseline", "--json")
    assert same.exit_code == 0 and json.loads(same.stdout)["regressions"] == []


def test_baseline_without_shared_variants_says_so(store_file: Build) -> None:
    store = store_file([[make(device="pi5")], run_of(10.0, 1)])
    baseline = ResultStore(store, create=False).list_runs()[1].run_id
    out = invoke(store, "check", "--baseline", baseline)
    assert isinstance(out.exception, ConfigError) and out.stdout == ""  # exit 2: a gate that compares nothing
    message = str(out.exception)
    assert message.startswith(f"--baseline {baseline}: run {baseline} holds pi5 / digits fp32 onnx, none of it ")
    assert message.endswith("the gate would compare nothing")


def test_compare_and_history(store_file: Build) -> None:
    store = store_file([run_of(10.0, 1), run_of(10.0, 5), run_of(12.0, 3)])
    first, second, third = reversed([row.run_id for row in ResultStore(store, create=False).list_runs()])
    out = invoke(store, "compare", first, third, "--json")
    assert out.exit_code == 0
    assert [c["latency"]["verdict"] for c in json.loads(out.stdout)] == ["slower", "slower"]
    same = json.loads(invoke(store, "compare", first, second, "--json").stdout)
    assert [c["latency"]["verdict"] for c in same] == ["no significant change"] * 2
    table = invoke(store, "compare", first, third)
    assert table.exit_code == 0 and "slower" in table.output and "digits-int8" in table.output
    history = json.loads(invoke(store, "history", "--model", "digits-fp32", "--json").stdout)
    assert [row["run_id"] for row in history] == [first, second, third]
    assert invoke(store, "history", "--limit", "2").exit_code == 0


def test_compare_names_a_significant_change_below_the_minimum_effect(store_file: Build) -> None:
    store = store_file([[with_samples(make(), 10.0, seed=1)], [with_samples(make(), 10.2, seed=5, n=4000)]])
    first, second = reversed([row.run_id for row in ResultStore(store, create=False).list_runs()])
    (compared,) = json.loads(invoke(store, "compare", first, second, "--json").stdout)
    assert compared["latency"]["verdict"] == "below the minimum effect" and compared["latency"]["p_value"] < 0.01
    table = invoke(store, "compare", first, second)
    assert "significant, below the 5% minimum effect" in " ".join(table.output.split())
    assert "no significant change" not in table.output


def test_recommend_command(store_file: Build) -> None:
    slow = make(variant="fp32", latency__p95_ms=80.0, latency__ci={"confidence": 0.95, "p95": [79.0, 81.0]})
    good = make(variant="int8")
    low = make(variant="int4", accuracy__top1=0.90)
    store = store_file([[slow, good, low]])
    out = invoke(store, "recommend")
    assert out.exit_code == 0
    assert "local / digits: recommended int8 onnx" in out.output
    assert "not fp32 onnx: fails latency.p95_ms <= 50.0 ms (value 80.0 ms)" in out.output
    assert "not int4 onnx: fails accuracy.top1 >= 0.95 (value 0.900)" in out.output
    (rec,) = json.loads(invoke(store, "recommend", "--json").stdout)
    assert rec["best"]["model"] == "digits-int8 onnx" and rec["best"]["top1_ci95"] == pytest.approx([0.946, 0.983], abs=1e-3)
    assert [(r["model"], r["reason"], r["verdict"]["constraint"]) for r in rec["rejected"]] == [
        ("digits-fp32 onnx", "constraint", "latency.p95_ms"), ("digits-int4 onnx", "constraint", "accuracy.top1")]
    strict = json.loads(invoke(store, "recommend", "--constraint", "accuracy.top1>=0.99", "--json").stdout)
    assert strict[0]["best"] is None


def test_recommend_shows_cost_from_the_profile(store_file: Build) -> None:
    store = store_file([[make(device="pi5")]])
    out = invoke(store, "recommend", "--device", "pi5")
    assert out.exit_code == 0 and "pi5 / digits: recommended fp32" in out.output and "per million" in out.output
    (rec,) = json.loads(invoke(store, "recommend", "--json", "--constraint", "cost.usd_per_million<=0.0001").stdout)
    assert rec["best"] is None and rec["rejected"][0]["verdict"]["constraint"] == "cost.usd_per_million"


@pytest.mark.parametrize("args, fragment", [
    (["check", "--run", "x", "--latest"], "exclude each other"),
    (["check", "--run", "nope"], "no run or tag 'nope'"),
    (["check", "--device", "pi9"], "no results for the chosen"),
    (["check", "--constraint", "latency.p95<=3"], "did you mean"),
    (["runs", "tag", "latest", "latest"], "not allowed"),
    (["recommend", "--model", "resnet"], "no stored results"),
])
def test_usage_errors_are_config_errors(store_file: Build, args: list[str], fragment: str) -> None:
    out = invoke(store_file([run_of(10.0, 1)]), *args)
    assert isinstance(out.exception, ConfigError) and fragment in str(out.exception)
