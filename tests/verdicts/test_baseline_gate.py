"""The baseline gate `check --baseline` and `watch` share: top-1 drops beside latency regressions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

from typer.testing import CliRunner

import edgeprof.cli.check_cmds  # noqa: F401  (registers the commands)
from edgeprof.cli import command_app
from edgeprof.compare import DEFAULT_ALPHA
from edgeprof.pipeline import baseline_gate
from edgeprof.store.sqlite import SQLiteStore
from tests.verdicts.factory import make, with_samples

app = command_app()  # every command registered

runner = CliRunner()


def run_of(top1: float, seed: int) -> list[dict[str, Any]]:
    return [with_samples(make(accuracy__top1=top1), 10.0, seed)]


def test_check_fails_on_an_accuracy_drop_against_the_baseline(
        store_file: Callable[[list[list[dict[str, Any]]]], Path]) -> None:
    store = store_file([run_of(0.97, 1), run_of(0.95, 2)])
    baseline = [row.run_id for row in SQLiteStore(store, create=False).list_runs()][1]
    args = ["check", "--store", str(store), "--baseline", baseline]
    dropped = runner.invoke(app, args)
    assert dropped.exit_code == 1, dropped.output
    assert "accuracy drop: local / digits fp32 onnx top-1 0.97 -> 0.95 (-0.02 > --max-drop 0.01)" in dropped.output
    report = json.loads(runner.invoke(app, [*args, "--json"]).stdout)
    assert [c["model"] for c in report["accuracy_drops"]] == ["digits-fp32 onnx"] and report["regressions"] == []
    assert runner.invoke(app, [*args, "--max-drop", "0.05"]).exit_code == 0


def test_the_gate_without_a_baseline_or_accuracy_passes() -> None:
    assert baseline_gate(None, run_of(0.5, 1), alpha=DEFAULT_ALPHA).exit_code(0) == 0
    unmeasured = [make(accuracy=None)]
    gate = baseline_gate(unmeasured, [make(accuracy=None)], alpha=DEFAULT_ALPHA)
    assert len(gate.comparisons or []) == 1 and not gate.drops and gate.exit_code(3) == 3
