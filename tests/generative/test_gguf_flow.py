"""GGUF models through every host command with real llama.cpp and SmolLM2-135M: `sweep` quantises and measures
each variant (one table), each variant's agreement is measured against its higher-precision sibling, `recommend`
chooses by the generation figures, and compare, explain, history, report and plot show them. One sweep and one
deploy serve every test of the module (short budgets: two prompts, 16 tokens, a short perplexity passage)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from edgeprof.constraints import METRICS, above
from edgeprof.store.sqlite import SQLiteStore

pytestmark = pytest.mark.generative

FAST = ["--max-seconds", "1.5", "--power-seconds", "0.2", "--max-tokens", "16", "--context", "32"]
WIDTH = "250"  # the terminal the commands draw for: every column of the generation table fits


def edgeprof(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "edgeprof", *map(str, args)], capture_output=True, text=True,
                          timeout=600, env={**os.environ, "COLUMNS": WIDTH})


@pytest.fixture(scope="module")
def flow(smollm: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """`sweep --variants q8_0,q4_0` of SmolLM2 on the local device, then a second run of its q4_0 alone (`deploy`),
    both into one store: what each command reads."""
    tmp = tmp_path_factory.mktemp("flow")
    prompts = tmp / "prompts.jsonl"
    prompts.write_text('{"prompt": "What is the capital of France?"}\n"Name three colours."\n')
    passage = tmp / "passage.txt"
    passage.write_text("The river flows past the old mill, and in spring the water rises over the stones. " * 3)
    store, out = tmp / "r.db", tmp / "variants"
    gen = [*FAST, "--prompts", prompts, "--perplexity-text", passage, "--store", store]
    swept = edgeprof("sweep", smollm, "--variants", "q8_0,q4_0", "--device", "local", "--out", out, *gen)
    assert swept.returncode == 0, swept.stderr
    again = edgeprof("deploy", "--model", out / f"{smollm.stem}-q4_0.gguf", *gen)
    assert again.returncode == 0, again.stderr
    with SQLiteStore(store, create=False) as db:
        first, second = reversed(db.list_runs())
        runs = [db.load_run(first.run_id), db.load_run(second.run_id)]
    return {"store": store, "sweep": swept, "runs": runs, "ids": [first.run_id, second.run_id], "tmp": tmp}


def command(flow: dict[str, Any], *args: str | Path) -> subprocess.CompletedProcess[str]:
    proc = edgeprof(*args, "--store", flow["store"])
    assert proc.returncode == 0, proc.stderr
    return proc


def test_sweep_measures_the_source_and_each_variant_and_prints_one_table(flow: dict[str, Any]) -> None:
    results = {r["model"]["variant"]: r for r in flow["runs"][0]}
    assert list(results) == ["original", "q8_0", "q4_0"]
    for result in results.values():
        assert result["status"] == "ok" and result["model"]["format"] == "gguf", result["error"]
        gen = result["generation"]
        assert gen["tpot"]["samples_ms"] and len(gen["ttft"]["samples_ms"]) == gen["prompts_run"]
        low, high = gen["quality"]["perplexity_ci95"]
        assert low < gen["quality"]["perplexity"] < high
        assert [v["constraint"] for v in result["verdicts"]] == ["memory.peak_rss_mb"]  # the profile's that apply
    stdout = flow["sweep"].stdout
    headers = [line for line in stdout.splitlines() if line.startswith("┃") and "TTFT p95" in line]
    assert len(headers) == 1 and "TPOT p95" in headers[0] and "tokens/s" in headers[0]
    rows = [line.split("│") for line in stdout.splitlines() if line.startswith("│ gguf")]
    assert [row[2].strip() for row in rows] == ["original", "q8_0", "q4_0"]  # format | precision | accel | ...
    assert "against each variant's sibling one precision up" in " ".join(stdout.split())
    assert "local / SmolLM2-135M-Instruct.Q4_1: recommended " in stdout


def test_each_variants_agreement_is_measured_against_its_sibling_one_precision_up(flow: dict[str, Any]) -> None:
    quality = {r["model"]["variant"]: r["generation"]["quality"] for r in flow["runs"][0]}
    assert quality["original"]["reference"] is None
    # the same text and file give the same perplexity: each reference is known by its own
    q4_reference, q8_reference = quality["q4_0"]["reference"], quality["q8_0"]["reference"]
    assert q4_reference["reference_perplexity"] == pytest.approx(quality["q8_0"]["perplexity"], rel=1e-4)
    assert q4_reference["reference_perplexity"] != pytest.approx(quality["original"]["perplexity"], rel=1e-4)
    assert q8_reference["reference_perplexity"] == pytest.approx(quality["original"]["perplexity"], rel=1e-4)
    assert 0 <= q4_reference["token_agreement"] <= 1 and q4_reference["prompts"] == 2


def test_recommend_chooses_by_perplexity_then_speed_where_the_data_supports_it(flow: dict[str, Any]) -> None:
    (rec,) = json.loads(command(flow, "recommend", "--json").stdout)
    by_label = {f"{r['model']['name']}-{r['model']['variant']} gguf": r for r in flow["runs"][1] + flow["runs"][0]}
    best = by_label[rec["best"]["model"]]  # the latest Result of each variant: q4_0 from the second run
    assert rec["best"]["figures"]["generation.perplexity"] == best["generation"]["quality"]["perplexity"]
    for rejected in rec["rejected"]:
        loser = by_label[rejected["model"]]
        assert "perplexity" in rejected["why"], rejected
        if rejected["reason"] == "perplexity":
            assert above(loser, best, "generation.perplexity") or rejected["why"].startswith("perplexity not")
        elif rejected["reason"] == "latency":  # only where the intervals part
            named = rejected["why"].split(": ", 1)[1]  # 'TPOT p95 41.0 ms vs 30.2 ms'
            (metric,) = [m for m in ("generation.tpot_p95_ms", "generation.ttft_p95_ms")
                         if named.startswith(METRICS[m].label + " ")]
            assert above(loser, best, metric)
        else:
            assert rejected["reason"] in ("energy", "size", "tie"), rejected
    text = command(flow, "recommend").stdout
    assert "Pareto front, perplexity vs TPOT p95" in text


def test_compare_explain_history_report_and_plot_show_the_generation(flow: dict[str, Any]) -> None:
    first, second = flow["ids"]
    (compared,) = json.loads(command(flow, "compare", first, second, "--json").stdout)
    assert compared["model"] == "SmolLM2-135M-Instruct.Q4_1-q4_0 gguf"
    assert set(compared["tests"]) == {"TTFT", "TPOT"} and compared["tests"]["TPOT"]["n_b"] > 1
    assert compared["ratios"]["generation.tpot_p95_ms"] > 0 and compared["ratios"]["generation.perplexity"] == \
        pytest.approx(1.0, rel=1e-4)
    assert "TPOT p95" in command(flow, "compare", first, second).stdout
    explained = command(flow, "explain", first, second).stdout
    assert "TTFT p50 " in explained and "TPOT p50 " in explained and "moved" in explained
    rows = json.loads(command(flow, "history", "--json").stdout)
    assert len(rows) == 4 and all(row["figures"]["generation.tpot_p50_ms"] for row in rows)
    tmp = flow["tmp"]
    command(flow, "report", "--out", tmp / "report.html")
    html = (tmp / "report.html").read_text()
    assert "<th>TTFT p95</th>" in html and "<td>TPOT</td>" in html and 'id="fig-generation-local"' in html
    command(flow, "plot", "--out", tmp / "figures")
    assert (tmp / "figures" / "generation-local.png").stat().st_size > 0
