"""A language model's (GGUF) Results in every host command: tables, Markdown and HTML reports, recommend, compare,
history, explain, the baseline gate, figures and trends draw TTFT/TPOT with their intervals, tokens/s, energy per
token and perplexity. The Results are built by result.build_result with the agent's own summaries
(tests/report/factory.make_gguf_result) and judged by the real judge; the commands run on a real SQLite store."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from typer.testing import CliRunner

import edgeprof.cli.check_cmds  # noqa: F401  (registers the commands)
import edgeprof.cli.plot_cmds  # noqa: F401
from edgeprof.cli import command_app
from edgeprof.compare import compare_runs, history_rows
from edgeprof.constraints import GENERATIVE, metric_interval, parse_constraint
from edgeprof.explain import explain_runs
from edgeprof.pipeline import baseline_gate
from edgeprof.report.explanation import explanation_json, moved_line, verdict_lines
from edgeprof.report.figures import fmt, key_figures
from edgeprof.report.history import comparison_table, history_table, regression_line
from edgeprof.report.markdown import to_markdown
from edgeprof.report.plots import device_comparison_figure, generation_figure
from edgeprof.report.recommendation import describe, recommendation_json
from edgeprof.report.table import render_verdicts
from edgeprof.report.trend import trend_figure
from edgeprof.store.sqlite import SQLiteStore
from edgeprof.units import duration, duration_range
from edgeprof.verdicts import judge, recommend
from tests.report.factory import make_gguf_result, make_result

app = command_app()
runner = CliRunner()
TTFT_P95, TPOT_P95 = "generation.ttft_p95_ms", "generation.tpot_p95_ms"


def variants(run_id: str = "20261207T031500Z-4b5c6d", created: str = "2026-12-07T03:15:00Z",
             **changed: dict[str, Any]) -> list[dict[str, Any]]:
    """One run of four GGUF variants on a pi5: q8_0 slow per token, q4_0 fast, q4_k_m fast but with a clearly
    higher perplexity, q4_1 fast per token but slow to its first (held to a TTFT budget it misses); `changed`
    overrides a variant's arguments."""
    spec = {"q8_0": {"tpot_ms": 40.0, "perplexity": 20.0, "size_mb": 145.0, "seed": 1},
            "q4_0": {"tpot_ms": 30.0, "perplexity": 21.0, "size_mb": 90.0, "seed": 2},
            "q4_k_m": {"tpot_ms": 31.0, "perplexity": 30.0, "size_mb": 95.0, "seed": 3, "meaningful": False},
            "q4_1": {"tpot_ms": 30.2, "ttft_ms": 600.0, "perplexity": 21.5, "size_mb": 95.0, "seed": 4,
                     "budgets": ("generation.ttft_p95_ms<=500",)}}
    return [make_gguf_result("pi5", variant, run_id=run_id, created=created, **{**kwargs, **changed.get(variant, {})})
            for variant, kwargs in spec.items()]


def plain(renderable: Any, width: int = 220) -> str:
    console = Console(width=width, record=True, color_system=None)
    console.print(renderable)
    return console.export_text()


def test_tables_and_markdown_show_ttft_tpot_with_intervals_tokens_energy_and_perplexity() -> None:
    results = variants()
    console = Console(width=250, record=True, color_system=None)
    render_verdicts(results, console)
    text = console.export_text()
    q4 = results[1]
    for name in ("TTFT p50", "TTFT p95", "TPOT p50", "TPOT p95", "tokens/s", "mJ/token", "perplexity"):
        assert name in text
    ttft = q4["generation"]["ttft"]
    assert duration_range(ttft["p95_ms"], *ttft["ci"]["p95"]) in text  # the p95 with its interval
    assert "21.0 [20.0, 22.0]" in text and "120 (est)" in text  # perplexity and its interval; estimated energy
    decode = fmt(q4["generation"]["decode_tokens_per_s"])
    assert "TPOT p50 " in text and f"decode {decode} (" in text  # the generation lines under the tables
    markdown = to_markdown(results)
    header = next(line for line in markdown.splitlines() if line.startswith("| model"))
    assert header == ("| model | variant | TTFT p50 | TTFT p95 | TPOT p50 | TPOT p95 | tokens/s | mJ/token "
                      "| perplexity | agreement | peak mem | size | verdict |")
    row = next(line for line in markdown.splitlines() if line.startswith("| smollm | q4_0"))
    assert duration(q4["generation"]["tpot"]["p95_ms"]) in row and f"| {decode} |" in row and "\\[20.0, 22.0\\]" in row


def test_agreement_against_a_reference_whose_answers_do_not_vary_reads_meaningless() -> None:
    degenerate = make_gguf_result("pi5", "q4_k_m", meaningful=False,
                                  budgets=("generation.agreement>=0.5", "generation.perplexity<=40"))
    assert key_figures(degenerate)["agreement"] == "0.800 (meaningless)"
    assert key_figures(make_gguf_result("pi5", "q4_0"))["agreement"] == "0.800"
    agreement = next(v for v in degenerate["verdicts"] if v["constraint"] == "generation.agreement")
    assert agreement["status"] == "informational" and "(would be pass)" in agreement["detail"]


def test_a_classifiers_constraints_do_not_judge_a_language_model_nor_the_reverse() -> None:
    profile = [parse_constraint(t) for t in ("latency.p95_ms<=50", "accuracy.top1>=0.95", "memory.peak_rss_mb<=512",
                                             "generation.perplexity<=40")]
    gguf, onnx = make_gguf_result("pi5", "q4_0", budgets=()), make_result("pi5", "fp32", budgets=())
    assert [v["constraint"] for v in judge(gguf, profile)] == ["memory.peak_rss_mb", "generation.perplexity"]
    assert [v["constraint"] for v in judge(onnx, profile)] == ["latency.p95_ms", "accuracy.top1", "memory.peak_rss_mb"]


def test_recommend_weighs_perplexity_then_tpot_and_ttft_only_where_the_intervals_part() -> None:
    results = variants()
    (rec,) = recommend(results)
    assert rec.best is results[1]  # q4_0
    reasons = {r["model"]["variant"]: (why.kind, why.text) for r, why in rec.rejected}
    q8, q4 = (results[0]["generation"]["tpot"]["p95_ms"], results[1]["generation"]["tpot"]["p95_ms"])
    assert reasons == {
        "q8_0": ("latency", f"slower at equal perplexity: TPOT p95 {duration(q8)} vs {duration(q4)}"),
        "q4_k_m": ("perplexity", "higher perplexity: 30.0 vs 20.0, 95% intervals do not overlap"),
        "q4_1": ("constraint", f"fails generation.ttft_p95_ms <= 500 ms (value "
                               f"{duration(results[3]['generation']['ttft']['p95_ms'])})")}
    lines = describe(rec)
    assert lines[0].startswith("pi5 / smollm: recommended q4_0 gguf (TPOT p95 ")
    assert "perplexity 21.0 [20.0, 22.0]" in lines[0]
    assert "Pareto front, perplexity vs TPOT p95: q4_0 gguf, q8_0 gguf" in lines
    best = recommendation_json(rec)["best"]
    assert best["figures"]["generation.tpot_p95_ms"] == q4 and best["figures"]["generation.perplexity"] == 21.0


def test_recommend_calls_close_variants_equal_where_their_intervals_overlap() -> None:
    close = [make_gguf_result("pi5", "q8_0", tpot_ms=30.0, perplexity=20.0, perplexity_halfwidth=3.0, size_mb=145,
                              seed=1, power_method=None),
             make_gguf_result("pi5", "q4_0", tpot_ms=30.3, perplexity=22.0, perplexity_halfwidth=3.0, size_mb=90,
                              seed=2, power_method=None)]
    assert not close[0]["generation"]["tpot"]["ci"]["p95"][0] > close[1]["generation"]["tpot"]["ci"]["p95"][1]
    (rec,) = recommend(close)
    ((_, why),) = rec.rejected
    assert why.kind in ("size", "tie") and "perplexity" in why.text  # neither less perplexed nor slower


def slower_run() -> list[dict[str, Any]]:
    """A later run: q8_0 decodes 20% slower, q4_0 loads slower and its RSS grows more at depth."""
    return variants(run_id="20261208T031500Z-aaaaaa", created="2026-12-08T03:15:00Z",
                    q8_0={"tpot_ms": 48.0, "seed": 11}, q4_0={"load_ms": 500.0, "growth_mb": 40.0, "seed": 12},
                    q4_k_m={"seed": 13}, q4_1={"seed": 14})


def test_compare_tests_ttft_and_tpot_samples_and_the_gate_fails_a_tpot_slowdown() -> None:
    before, after = variants(), slower_run()
    comparisons = compare_runs(before, after)
    q8 = comparisons[0]
    assert set(q8.ratios) == set(GENERATIVE.tracked) and q8.tests["TPOT"].verdict == "slower"
    assert q8.tests["TTFT"].verdict == "no significant change" and q8.apart[TPOT_P95] is True
    assert q8.ratios[TPOT_P95] == pytest.approx(after[0]["generation"]["tpot"]["p95_ms"]
                                                / before[0]["generation"]["tpot"]["p95_ms"])
    text = plain(comparison_table("B / A", comparisons, 220))
    assert "TPOT p95" in text and f"x{q8.ratios[TPOT_P95]:.3f}*" in text and "TPOT median" in text
    gate = baseline_gate(before, after, alpha=0.01)
    assert gate.regressions == [q8]
    assert "median TPOT x1.2" in regression_line(q8, 1.1)


def test_history_rows_and_table_carry_the_generation_figures() -> None:
    results = variants() + slower_run()
    rows = history_rows(results)
    assert rows[0]["workload"] == "generative" and set(rows[0]["figures"]) == set(GENERATIVE.tracked)
    assert rows[0]["intervals"][TPOT_P95] == list(metric_interval(results[0], TPOT_P95))
    text = plain(history_table(rows, 260), 260)
    assert "TTFT p95" in text and "perplexity" in text and "RSS growth" in text
    assert duration_range(results[4]["generation"]["tpot"]["p95_ms"],
                          *results[4]["generation"]["tpot"]["ci"]["p95"]) in text


def test_explain_names_what_moved_for_a_generative_run() -> None:
    before, after = variants(), slower_run()
    after[1]["generation"]["context"] = after[1]["generation"]["context"][:1]  # measured at 64 tokens only
    explained = {e.comparison.model: e for e in explain_runs(before, after)}
    q8, q4 = explained["smollm-q8_0 gguf"], explained["smollm-q4_0 gguf"]
    assert {m.metric for m in q8.moved} >= {"generation.tpot_p50_ms", "generation.tpot_p95_ms"}
    assert verdict_lines(q8)[1].startswith("TPOT p50 ") and "slower" in verdict_lines(q8)[1]
    assert {m.metric for m in q4.moved} == {"generation.load_ms"}
    assert moved_line(q4) == "moved (A -> B): load 350 ms -> 500 ms (x1.429)"
    assert q4.differences[0].factor.name == "context depths (tokens)"
    assert explanation_json(q4)["moved"][0]["metric"] == "generation.load_ms"


def test_generation_figure_and_device_comparison_draw_a_language_model() -> None:
    results = variants()
    fig = generation_figure(results)
    assert [ax.get_ylabel() for ax in fig.axes] == ["time to first token\n(ms)", "time per output token\n(ms)",
                                                   "decode (tokens/s)", "perplexity", "energy per token (mJ)"]
    ttft_axis = fig.axes[0]
    assert any(line.get_label() == "_budget" for line in ttft_axis.collections + ttft_axis.lines) or \
        any(abs(seg[0][1] - 100.0) < 1e-9 for c in ttft_axis.collections for seg in c.get_segments())
    across = device_comparison_figure(results)
    assert [ax.get_ylabel() for ax in across.axes][:3] == ["TPOT p95 per token\n(ms)", "peak memory (MB RSS)",
                                                          "energy per token (mJ)"]


def test_the_trend_draws_ttft_tpot_perplexity_and_energy_per_token() -> None:
    runs = [variants(run_id=f"2026120{day}T031500Z-aaaaa{day}", created=f"2026-12-0{day}T03:15:00Z",
                     q4_0={"seed": 20 + day, "tpot_ms": 30.0 if day < 6 else 40.0})[1] for day in range(1, 10)]
    fig = trend_figure(runs)
    assert [ax.get_ylabel() for ax in fig.axes] == ["TTFT (ms)", "TPOT (ms)", "perplexity", "energy (mJ/token)"]
    labels = [line.get_label() for line in fig.axes[1].get_lines() if not line.get_label().startswith("_")]
    assert labels == ["pi5 / smollm q4_0 gguf TPOT p50", "pi5 / smollm q4_0 gguf TPOT p95"]


@pytest.fixture()
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, list[str]]:
    """A real SQLite store with two runs of the four variants; the working directory has no project file."""
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "results.db"
    with SQLiteStore(path) as db:
        ids = [db.save_run(run, command="edgeprof sweep smollm.gguf (test)") for run in (variants(), slower_run())]
    return path, ids


def test_the_commands_on_a_store_of_gguf_runs(store: tuple[Path, list[str]], tmp_path: Path) -> None:
    path, (first, second) = store

    def invoke(*args: str) -> Any:
        out = runner.invoke(app, [*args, "--store", str(path)])
        assert out.exit_code == 0, out.output
        return out

    (rec,) = json.loads(invoke("recommend", "--json").stdout)  # judged again: the pi5 profile's memory bound only
    assert rec["best"]["model"] == "smollm-q4_0 gguf"
    why = {r["model"]: (r["reason"], r["why"]) for r in rec["rejected"]}
    assert why["smollm-q4_k_m gguf"][0] == "perplexity" and why["smollm-q8_0 gguf"][0] == "latency"
    assert why["smollm-q4_1 gguf"][1].startswith("slower at equal perplexity: TTFT p95 ")
    rows = json.loads(invoke("history", "--model", "smollm-q8_0", "--json").stdout)
    assert [row["figures"][TPOT_P95] is not None for row in rows] == [True, True]
    compared = json.loads(invoke("compare", first, second, "--json").stdout)
    assert compared[0]["tests"]["TPOT"]["verdict"] == "slower" and compared[0]["apart"][TPOT_P95] is True
    explained = json.loads(invoke("explain", first, second, "--model", "smollm-q4_0", "--json").stdout)
    assert [m["metric"] for m in explained[0]["moved"]] == ["generation.load_ms", "generation.context_growth_mb"]
    invoke("report", "--out", str(tmp_path / "r.html"))
    html = (tmp_path / "r.html").read_text()
    assert "<th>TTFT p95</th>" in html and "<td>TPOT</td>" in html and 'id="fig-generation-pi5"' in html
    invoke("report", "--out", str(tmp_path / "r.md"))
    markdown = (tmp_path / "r.md").read_text()
    assert "| TTFT | p50 " in markdown and (tmp_path / "r-generation-pi5.png").is_file()
    written = invoke("plot", "--out", str(tmp_path / "figures")).output
    assert "generation-pi5.png" in written and (tmp_path / "figures" / "generation-pi5.png").is_file()
