"""One measured model read back by every command that shows it: each figure reads the same everywhere, in the units
of edgeprof/units.py. quantize's sizes are deploy's; deploy's latency and memory are check's, history's, JUnit's,
Markdown's, the report's and recommend's; watch's p95 is history's for the run it stored; explain's are history's;
a p-value is never 'p = 0'; `runs list` piped keeps every run id whole."""

from __future__ import annotations

import html
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
DIGITS = REPO / "models" / "digits"
FAST = ["--max-seconds", "1", "--power-seconds", "0.5"]
DURATION = re.compile(r"^[0-9.]+ (ns|µs|ms|s)$")
SIZE = re.compile(r"^[0-9.]+ (B|kB|MB|GB)$")


def edgeprof(cwd: Path, *args: str, columns: str | None = "250") -> str:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("COLUMNS", None)
    if columns:
        env["COLUMNS"] = columns
    done = subprocess.run([sys.executable, "-m", "edgeprof", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, (args, done.stdout[-2000:], done.stderr[-2000:])
    return done.stdout


def tables(text: str) -> list[list[dict[str, str]]]:
    """The rich tables of a command's output, each as its rows keyed by the column titles."""
    found: list[list[dict[str, str]]] = []
    header: list[str] = []
    for line in text.splitlines():
        if line.startswith("┃"):
            header = [cell.strip() for cell in line.strip("┃").split("┃")]
            found.append([])
        elif line.startswith("│") and header:
            found[-1].append(dict(zip(header, (cell.strip() for cell in line.strip("│").split("│")))))
    return found


def row(table: list[dict[str, str]], **match: str) -> dict[str, str]:
    (hit,) = [r for r in table if all(r.get(k) == v for k, v in match.items())]
    return hit


def head(cell: str) -> str:
    """A figure without its interval: '192 µs [162–206]' -> '192 µs'."""
    return cell.replace("\\", "").split(" [")[0]


@pytest.fixture(scope="module")
def outputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """fp16 made by quantize, deployed beside the shipped fp32 (one run), then fp32 watched once (a second run);
    every command that reads them, run on the store."""
    work = tmp_path_factory.mktemp("units")
    store = ["--store", str(work / "results.db")]
    out: dict[str, Any] = {"quantize": edgeprof(work, "quantize", str(DIGITS / "digits-fp32.onnx"), "--variants",
                                                "fp16", "--out", "variants")}
    out["deploy"] = edgeprof(work, "deploy", "--model", "variants/digits-fp16.onnx", "--model",
                             str(DIGITS / "digits-fp32.onnx"), "--dataset", str(DIGITS / "test.npz"), *FAST, *store)
    out["watch"] = edgeprof(work, "watch", "--model", str(DIGITS / "digits-fp32.onnx"), "--dataset",
                            str(DIGITS / "test.npz"), "--every", "1s", "--runs", "1", "--max-seconds", "1", *store)
    listed = edgeprof(work, "runs", "list", *store, columns=None)  # piped, no COLUMNS: a pipe's own width
    out["runs"] = re.findall(r"\b\d{8}T\d{6}Z-[0-9a-f]{6}\b", listed)
    out["runs list"] = listed
    deploy_run, watch_run = sorted(out["runs"])
    out["ids"] = (deploy_run, watch_run)
    out["check"] = edgeprof(work, "check", "--run", deploy_run, "--junit", "check.xml", "--markdown", "check.md",
                            *store)
    out["junit"], out["markdown"] = (work / "check.xml").read_text(), (work / "check.md").read_text()
    tight = ["--run", deploy_run, "--model", "digits-fp32", "--constraint", "latency.p95_ms<=0.001", "--constraint",
             "memory.peak_rss_mb<=1"]  # latency fails or, without an interval, is inconclusive; memory fails
    failed = subprocess.run([sys.executable, "-m", "edgeprof", "check", *tight, "--junit", "failed.xml", "--markdown",
                             "failed.md", *store], cwd=work, env={**os.environ, "PYTHONPATH": str(REPO)},
                            capture_output=True, text=True, timeout=120)
    assert failed.returncode == 1, failed.stderr
    out["failed junit"], out["failed markdown"] = (work / "failed.xml").read_text(), (work / "failed.md").read_text()
    out["history"] = edgeprof(work, "history", *store)
    out["recommend"] = edgeprof(work, "recommend", *store)
    out["compare"] = edgeprof(work, "compare", deploy_run, watch_run, *store)
    out["explain"] = edgeprof(work, "explain", deploy_run, watch_run, "--model", "digits-fp32", *store)
    edgeprof(work, "report", "--run", deploy_run, "--out", "report.html", *store)
    out["report"] = html.unescape(re.sub(r"<[^>]+>", " ", (work / "report.html").read_text()))
    return out


def test_sizes_read_the_same_in_quantize_deploy_and_the_reports(outputs: dict[str, Any]) -> None:
    made = row(tables(outputs["quantize"])[0], variant="fp16")["size"]
    figures = tables(outputs["deploy"])[0]
    fp16, fp32 = row(figures, variant="fp16 onnx"), row(figures, variant="fp32 onnx")
    assert SIZE.match(made) and made.endswith(" kB") and fp16["size"] == made
    assert SIZE.match(fp32["size"]) and fp32["size"] != made
    memory = fp32["peak mem"]
    assert SIZE.match(memory) and memory.endswith(" MB")
    verdicts = tables(outputs["deploy"])[1]
    limit = row(verdicts, model="digits fp32 onnx", constraint="memory.peak_rss_mb")
    assert (limit["value"], limit["bound"]) == (memory, "<= 512 MB")
    assert f"memory.peak_rss_mb = {memory} (pass, bound &lt;= 512 MB)" in outputs["junit"]
    assert f"| {memory} |" in outputs["markdown"] and f"| {made} |" in outputs["markdown"]
    assert f'message="fail: value {memory}, bound &lt;= 1.00 MB, method measured"' in outputs["failed junit"]
    assert f"`memory.peak_rss_mb <= 1.00 MB`: **FAIL** (value {memory}, measured)" in outputs["failed markdown"]
    assert row(tables(outputs["check"])[0], variant="fp32 onnx")["peak mem"] == memory
    assert f"{memory} " in outputs["report"] and f"{made} " in outputs["report"]


def test_latencies_read_the_same_in_every_command(outputs: dict[str, Any]) -> None:
    deploy_run, watch_run = outputs["ids"]
    figures = row(tables(outputs["deploy"])[0], variant="fp32 onnx")
    p50, p95 = figures["p50"], head(figures["p95"])
    assert DURATION.match(p50) and DURATION.match(p95)
    assert row(tables(outputs["check"])[0], variant="fp32 onnx")["p95"] == figures["p95"]
    history = tables(outputs["history"])[0]
    deployed = row(history, **{"run (time UTC)": deploy_run, "model": "digits-fp32 onnx"})
    assert (deployed["p50"], head(deployed["p95"])) == (p50, p95)  # history's p95 has its interval on a wide terminal
    verdict = row(tables(outputs["deploy"])[1], model="digits fp32 onnx", constraint="latency.p95_ms")
    assert (verdict["value"], verdict["bound"]) == (p95, "<= 50.0 ms")
    assert f"latency.p95_ms = {p95} (" in outputs["junit"]
    assert re.search(rf'message="(fail|inconclusive): value {p95}, bound &lt;= 1.00 µs, method measured',
                     outputs["failed junit"])
    assert re.search(rf"`latency.p95_ms <= 1.00 µs`: \*\*(FAIL|INCONCLUSIVE)\*\* \(value {p95}, measured\)",
                     outputs["failed markdown"])
    markdown = next(line for line in outputs["markdown"].splitlines() if line.startswith("| digits | fp32 onnx |"))
    assert [head(cell.strip()) for cell in markdown.split("|")[3:5]] == [p50, p95]
    assert f"p50 {p50}" in outputs["report"] and figures["p95"] in outputs["report"]

    watched = row(history, **{"run (time UTC)": watch_run, "model": "digits-fp32 onnx"})
    watched_p95 = head(watched["p95"])
    assert re.search(rf"run {watch_run}: local / digits fp32 onnx: \w+, p95 {watched_p95}\b", outputs["watch"])
    assert f"p50 {p50} -> {watched['p50']}, p95 {p95} -> {watched_p95}" in outputs["explain"]
    latest = {"fp32 onnx": watched_p95,  # recommend weighs the latest Result of each variant
              "fp16 onnx": head(row(history, **{"run (time UTC)": deploy_run, "model": "digits-fp16 onnx"})["p95"])}
    picked = re.search(r"recommended (fp\d\d onnx) \(p95 ([^,\[]+?)(?: \[|,)", outputs["recommend"])
    assert picked and picked.group(2) == latest[picked.group(1)], outputs["recommend"]


def test_p_values_and_piped_run_ids_read_whole(outputs: dict[str, Any]) -> None:
    (compared,) = tables(outputs["compare"])[0]
    shown = compared["p-value"]
    assert shown == "p < 0.001" or (shown.startswith("p = ") and float(shown.removeprefix("p = ")) >= 0.001), shown
    assert f"Mann-Whitney U {shown} " in outputs["explain"]
    assert not re.search(r"\bp = 0(\.0*)?(?![.\d])", outputs["compare"] + outputs["explain"])
    assert sorted(set(outputs["runs"])) == sorted(outputs["ids"]) and "…" not in outputs["runs list"]
    assert all(line.count("│") == 8 for line in outputs["runs list"].splitlines() if line.startswith("│ 2"))
