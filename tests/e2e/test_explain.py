"""`explain`, `history` and `compare` on real deploys to the local device, stored in a real SQLite store, plus
hand-edited copies of those Result documents (another runtime version, governor, threads, device)."""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from edgeprof.store.sqlite import SQLiteStore
from tests.support import DIGITS

FAST = ["--min-runs", "20", "--max-runs", "300", "--min-seconds", "0.2", "--max-seconds", "1", "--power-seconds", "0.5"]
FP32, INT8 = DIGITS / "digits-fp32.onnx", DIGITS / "digits-int8-dynamic.onnx"


def edgeprof(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "edgeprof", *map(str, args)], capture_output=True, text=True,
                          timeout=300)


def copy_as(source: Path, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(source, path)
    return path


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Three real deploys: fp32 and int8 copies both named digits.onnx in one deploy (x1/, x2/), then the fp32
    copy alone as a/digits.onnx, then the int8 copy alone as b/digits.onnx (same label, another file)."""
    tmp = tmp_path_factory.mktemp("explain")
    store = tmp / "r.db"
    deploys = [[copy_as(FP32, tmp / "x1" / "digits.onnx"), copy_as(INT8, tmp / "x2" / "digits.onnx")],
               [copy_as(FP32, tmp / "a" / "digits.onnx")], [copy_as(INT8, tmp / "b" / "digits.onnx")]]
    runs = []
    for models in deploys:
        proc = edgeprof("deploy", "--device", "local", *[a for m in models for a in ("--model", m)], *FAST,
                        "--store", store, "--json")
        assert proc.returncode == 0, proc.stderr
        runs.append(json.loads(proc.stdout)[0]["run_id"])
    return {"store": store, "runs": runs, "tmp": tmp}


def store_edited(store: Path, run_id: str, edit: Any) -> str:
    """Store a copy of a run's Results, each changed by `edit`, as a new run; its id."""
    with SQLiteStore(store) as db:
        docs = [copy.deepcopy(d) for d in db.load_run(run_id)]
        for doc in docs:
            edit(doc)
        return db.save_run(docs, command="edited copy (test)")


def test_two_files_with_one_name_are_stored_apart_and_a_run_matches_itself(stored: dict[str, Any]) -> None:
    store, (both, _, _) = stored["store"], stored["runs"]
    with SQLiteStore(store, create=False) as db:
        names = [(d["model"]["name"], d["model"]["variant"]) for d in db.load_run(both)]
    assert names == [("x1/digits", "original"), ("x2/digits", "original")]
    same = json.loads(edgeprof("compare", both, both, "--store", store, "--json").stdout)
    assert [(c["model"], c["latency"]["verdict"], c["same_file"]) for c in same] == [
        ("x1/digits-original onnx", "no significant change", True),
        ("x2/digits-original onnx", "no significant change", True)]
    assert {c["latency"]["median_ratio"] for c in same} == {1.0}


def test_a_run_stored_before_names_were_told_apart_still_matches_itself(stored: dict[str, Any]) -> None:
    store, both = stored["store"], stored["runs"][0]

    def old_name(doc: dict[str, Any]) -> None:  # as stored before: both files 'digits original onnx'
        doc["model"]["name"] = "digits"

    old = store_edited(store, both, old_name)
    same = json.loads(edgeprof("compare", old, old, "--store", store, "--json").stdout)
    assert [(c["latency"]["verdict"], c["latency"]["median_ratio"], c["same_file"]) for c in same] == [
        ("no significant change", 1.0, True)] * 2
    table = edgeprof("compare", old, old, "--store", store).stdout
    assert "faster" not in table and "slower" not in table


def test_history_flags_another_file_under_the_same_name(stored: dict[str, Any]) -> None:
    store, (_, fp32, int8) = stored["store"], stored["runs"]
    rows = json.loads(edgeprof("history", "--model", "digits-original", "--store", store, "--json").stdout)
    by_run = {(r["run_id"], r["model"]): r for r in rows}
    old, new = by_run[(fp32, "digits-original onnx")], by_run[(int8, "digits-original onnx")]
    assert not old["file_changed"] and new["file_changed"] and new["previous_sha"] == old["sha"] != new["sha"]
    assert (new["scenario"], new["threads"], new["accelerator"]) == ("single-stream", 1, "cpu")
    table = edgeprof("history", "--store", store)
    assert table.returncode == 0 and f"{new['sha']} !" in table.stdout
    assert f"note: ! digits-original onnx in run {int8} is a different file (sha {old['sha']} -> {new['sha']})" \
        in table.stderr
    compared = json.loads(edgeprof("compare", fp32, int8, "--store", store, "--json").stdout)
    assert [c["same_file"] for c in compared] == [False]


def test_explain_ranks_the_other_model_file_first(stored: dict[str, Any]) -> None:
    store, (_, fp32, int8) = stored["store"], stored["runs"]
    (explained,) = json.loads(edgeprof("explain", fp32, int8, "--store", store, "--json").stdout)
    first = explained["differences"][0]
    assert (first["factor"], first["likelihood"]) == ("model file (sha256)", "likely")
    assert explained["latency"]["verdict"] in ("faster", "slower", "no significant change", "below the minimum effect")
    assert -1.0 <= explained["latency"]["effect_size"] <= 1.0 and explained["latency"]["n_a"] >= 20
    text = edgeprof("explain", fp32, int8, "--store", store)
    assert text.returncode == 0 and "most likely: model file (sha256), model size" in text.stdout
    assert re.search(r"Mann-Whitney U p [=<] ", text.stdout) and "Cliff's delta" in text.stdout


def test_explain_ranks_edited_environment_differences(stored: dict[str, Any]) -> None:
    store, fp32 = stored["store"], stored["runs"][1]

    def slower_elsewhere(doc: dict[str, Any]) -> None:
        doc["runtime"]["version"] = "1.31.0"
        doc["system"]["governor"] = "powersave"
        doc["runtime"]["threads"]["intra_op"] = 4
        doc["latency"]["samples_ms"] = [x * 1.5 for x in doc["latency"]["samples_ms"]]
        for key in ("p50_ms", "p95_ms"):
            doc["latency"][key] *= 1.5

    edited = store_edited(store, fp32, slower_elsewhere)
    (explained,) = json.loads(edgeprof("explain", fp32, edited, "--store", store, "--json").stdout)
    assert [d["factor"] for d in explained["differences"]] == ["intra-op threads", "runtime version", "CPU governor"]
    assert [d["likelihood"] for d in explained["differences"]] == ["likely", "possible", "possible"]
    latency = explained["latency"]
    assert latency["verdict"] == "slower" and latency["median_ratio"] == pytest.approx(1.5, rel=1e-6)
    assert latency["p_value"] < 1e-6 and latency["effect"] in ("medium", "large")
    assert explained["ratios"]["latency.p95_ms"] == pytest.approx(1.5)
    assert "model file (sha256)" in [same["factor"] for same in explained["same"]]


def test_explain_sets_two_boards_side_by_side(stored: dict[str, Any]) -> None:
    store, fp32 = stored["store"], stored["runs"][1]

    def on_a_pi(doc: dict[str, Any]) -> None:
        doc["device"] = "pi4"
        doc["system"].update(board="Raspberry Pi 4 Model B Rev 1.4", cpu_model="Cortex-A72", power_mode=None)

    pi = store_edited(store, fp32, on_a_pi)
    shared = json.loads(edgeprof("compare", fp32, pi, "--store", store, "--json").stdout)
    assert shared == []  # not the same configuration: compare pairs nothing
    (explained,) = json.loads(edgeprof("explain", fp32, pi, "--store", store, "--json").stdout)
    assert [d["factor"] for d in explained["differences"]][:3] == ["device", "board", "CPU model"]


def test_explain_bad_input_is_one_line(stored: dict[str, Any]) -> None:
    store, (both, fp32, _) = stored["store"], stored["runs"]
    for args, needle in ((["nosuchrun", fp32], "no run or tag 'nosuchrun'"),
                         ([fp32, fp32, "--device", "pi9"], "no results for the chosen --device/--model"),
                         ([both, fp32, "--model", "x1/digits"], "no results for the chosen --device/--model")):
        proc = edgeprof("explain", *args, "--store", store)
        assert proc.returncode == 2 and needle in proc.stderr, proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr


def test_history_plot_writes_the_trend_figure(stored: dict[str, Any]) -> None:
    store, tmp = stored["store"], stored["tmp"]
    out = edgeprof("history", "--store", store, "--plot", tmp / "trend.png")
    assert out.returncode == 0, out.stderr
    assert (tmp / "trend.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    bad = edgeprof("history", "--store", store, "--plot", tmp / "trend.txt")
    assert bad.returncode == 2 and "name a .png, .svg or .pdf file" in bad.stderr


def test_docs_list_every_factor_of_the_rule_table() -> None:
    from edgeprof.explain import FACTORS
    from tests.support import REPO

    table = (REPO / "docs" / "explain.md").read_text()
    rows = {line.split(" | ")[0].lstrip("| ") for line in table.splitlines() if line.startswith("| ")}
    assert [f.name for f in FACTORS if f.name not in rows] == []


def test_distinct_labels_use_as_many_folders_as_tell_the_files_apart(tmp_path: Path) -> None:
    from edgeprof.artifacts import load_artifact
    from edgeprof.pipeline import distinct_labels

    paths = [copy_as(FP32, tmp_path / "a" / "m" / "digits.onnx"), copy_as(INT8, tmp_path / "b" / "m" / "digits.onnx"),
             copy_as(FP32, tmp_path / "c" / "digits-fp32.onnx")]
    artifacts = [load_artifact(p) for p in paths]
    assert [(a.name, a.variant) for a in distinct_labels(artifacts)] == [
        ("a/m/digits", "original"), ("b/m/digits", "original"), ("digits", "fp32")]
    assert distinct_labels([artifacts[0], artifacts[0]]) == [artifacts[0], artifacts[0]]  # one file twice: unchanged
