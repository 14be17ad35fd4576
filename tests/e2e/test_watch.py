"""`edgeprof watch`: the real CLI in a subprocess, the real agent on this machine, a real SQLite store."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from edgeprof.errors import ConfigError
from edgeprof.paths import cache_dir
from edgeprof.store.sqlite import SQLiteStore
from edgeprof.watch import Schedule, parse_duration, ticks
from tests.models.onnx_graphs import dynamic_length
from tests.support import DIGITS, REPO, default_sigint

FP32 = DIGITS / "digits-fp32.onnx"
MOBILENET = REPO / "models" / "mobilenetv2" / "mobilenetv2-fp32.onnx"
QUICK = ["--max-seconds", "0.5", "--power-seconds", "0"]


def watch(store: Path, *args: str | Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "edgeprof", "watch", "--store", str(store), *map(str, args)],
                          capture_output=True, text=True, timeout=120, env={**os.environ, **(env or {})})


def run_ids(store: Path) -> list[str]:
    with SQLiteStore(store, create=False) as db:
        return [row.run_id for row in reversed(db.list_runs(limit=None))]


def alerts(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("edgeprof: alert: ")]


def rewrite(store: Path, run_id: str, change) -> None:  # type: ignore[no-untyped-def]
    """Edit the stored Result documents of one run (the store is this test's own copy)."""
    with sqlite3.connect(store) as db:
        for row_id, doc in db.execute("SELECT id, doc FROM results WHERE run_id = ?", (run_id,)).fetchall():
            result = json.loads(doc)
            change(result)
            db.execute("UPDATE results SET doc = ? WHERE id = ?", (json.dumps(result), row_id))


def test_watch_stores_every_run_and_prints_a_line_each(tmp_path: Path) -> None:
    store = tmp_path / "r.db"
    out = watch(store, "--device", "local", "--model", FP32, "--every", "1s", "--runs", "3", *QUICK)
    assert out.returncode == 0, out.stderr
    stored = run_ids(store)
    assert len(stored) == 3
    lines = out.stdout.splitlines()
    assert [line.split()[1] for line in lines] == ["#1", "#2", "#3"]
    assert [line.split()[3].rstrip(":") for line in lines] == stored
    assert all("local / digits fp32 onnx: pass, p95 " in line for line in lines)
    assert "watch ended (bound reached): 3 runs stored" in out.stderr and "exit 0" in out.stderr
    assert not alerts(out.stderr) and "Traceback" not in out.stderr


def test_failed_verdict_alerts_and_exits_1_with_the_run_stored(tmp_path: Path) -> None:
    store = tmp_path / "r.db"
    out = watch(store, "--model", FP32, "--every", "1s", "--runs", "3", "--constraint", "latency.p95_ms<=0.000001",
                *QUICK)
    assert out.returncode == 1, out.stderr
    (alert,) = alerts(out.stderr)
    (run_id,) = run_ids(store)  # the failing run is stored, and the watch ended there
    assert f"run {run_id}:" in alert and "local / digits fp32 onnx latency.p95_ms <= 1.00 ns: fail (value " in alert
    assert "watch ended (alert)" in out.stderr


def test_regression_and_accuracy_drop_against_the_baseline(tmp_path: Path) -> None:
    store = tmp_path / "r.db"
    args = ["--model", FP32, "--dataset", DIGITS / "test.npz", "--every", "1s", *QUICK]
    assert watch(store, *args, "--runs", "1").returncode == 0
    (baseline,) = run_ids(store)

    def faster_and_more_accurate(result: dict) -> None:  # type: ignore[type-arg]
        latency = result["latency"]
        latency["samples_ms"] = [v / 10 for v in latency["samples_ms"]]
        latency.update(p50_ms=latency["p50_ms"] / 10, p95_ms=latency["p95_ms"] / 10)
        assert result["accuracy"]["top1"] < 0.99
        result["accuracy"]["top1"] = 1.0

    rewrite(store, baseline, faster_and_more_accurate)
    slower = watch(store, *args, "--runs", "3", "--baseline", baseline, "--max-drop", "1")
    assert slower.returncode == 1, slower.stderr
    (alert,) = alerts(slower.stderr)
    assert "regression: local / digits fp32 onnx median latency x" in alert and "> --max-ratio 1.1" in alert
    assert "vs baseline, slower, REGRESSION)" in slower.stdout
    dropped = watch(store, *args, "--runs", "3", "--baseline", baseline, "--max-ratio", "1000")
    assert dropped.returncode == 1, dropped.stderr
    (alert,) = alerts(dropped.stderr)
    assert "accuracy drop: local / digits fp32 onnx top-1 1 -> 0.9" in alert and "> --max-drop 0.01" in alert
    assert "ACCURACY DROP)" in dropped.stdout
    assert len(run_ids(store)) == 3  # the baseline and each watch's first, alerting, run


def test_a_warning_every_run_repeats_is_printed_once(tmp_path: Path) -> None:
    model = dynamic_length(tmp_path / "seq.onnx")
    out = watch(tmp_path / "r.db", "--model", model, "--every", "1s", "--runs", "3", *QUICK)
    assert out.returncode == 0, out.stderr
    assert len(out.stdout.splitlines()) == 3
    assert out.stderr.count("warning: input 'x' has dynamic dims") == 1, out.stderr


def test_baseline_auto_is_the_first_run(tmp_path: Path) -> None:
    store = tmp_path / "r.db"
    out = watch(store, "--model", FP32, "--every", "1s", "--runs", "2", "--baseline", "auto", "--max-ratio", "1000",
                *QUICK)
    assert out.returncode == 0, out.stderr
    first, second = out.stdout.splitlines()
    assert "vs baseline" not in first and "vs baseline" in second


def ended_by_its_summary(err: str) -> str:
    """The summary a stopped watch ends with: the last line on stderr, exit 130 in it, and no `edgeprof:` line
    (no 'edgeprof: interrupted' after it: the summary says so) and no traceback."""
    lines = err.splitlines()
    assert "Traceback" not in err and not [line for line in lines if line.startswith("edgeprof: ")], err
    assert lines[-1].endswith("; exit 130"), err
    return lines[-1]


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
def test_sigint_or_sigterm_during_the_sleep_ends_it_with_the_runs_stored(tmp_path: Path, stop: int) -> None:
    store = tmp_path / "r.db"
    proc = subprocess.Popen([sys.executable, "-m", "edgeprof", "watch", "--model", str(FP32), "--every", "1h",
                             "--store", str(store), *QUICK], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=default_sigint)
    assert proc.stdout is not None
    first = proc.stdout.readline()  # the first run is done: now it sleeps for an hour
    time.sleep(0.5)
    sent = time.monotonic()
    proc.send_signal(stop)
    rest, err = proc.communicate(timeout=30)
    assert time.monotonic() - sent < 5
    assert proc.returncode == 130, err
    assert "until interrupted" in err
    assert ended_by_its_summary(err).startswith("watch ended (interrupted): 1 run stored")
    assert not rest
    assert run_ids(store) == [first.split()[3].rstrip(":")]


def agents_under(work_dir: Path) -> list[int]:
    """PIDs of agent processes started from this work dir (the device is this machine)."""
    found = subprocess.run(["pgrep", "-f", f"{work_dir}/blobs/.*\\.pyz"], capture_output=True, text=True)
    return [int(pid) for pid in found.stdout.split()]


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
def test_sigint_or_sigterm_during_a_run_stops_the_agent_and_keeps_earlier_runs(tmp_path: Path, stop: int) -> None:
    store = tmp_path / "r.db"
    work_dir = (cache_dir() / "local").resolve()  # the local device's work dir (edgeprof.transport.local)
    assert watch(store, "--model", FP32, "--runs", "1", "--every", "1s", *QUICK).returncode == 0
    proc = subprocess.Popen([sys.executable, "-m", "edgeprof", "watch", "--model", str(MOBILENET), "--every", "1s",
                             "--max-seconds", "60", "--precision", "0", "--store", str(store)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, preexec_fn=default_sigint)
    deadline = time.monotonic() + 60
    while not agents_under(work_dir) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert agents_under(work_dir), "the agent did not start"
    time.sleep(1.0)
    proc.send_signal(stop)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert ended_by_its_summary(err).startswith(
        "watch ended (interrupted during a run: its agents were stopped, it was not stored): 0 runs stored")
    deadline = time.monotonic() + 10
    while agents_under(work_dir) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not agents_under(work_dir)
    assert len(run_ids(store)) == 1


def test_an_unreachable_device_is_retried_then_ends_the_watch_with_3(tmp_path: Path) -> None:
    profiles = tmp_path / "profiles"
    profiles.mkdir()
    (profiles / "gone.toml").write_text(
        'description = "a board that is not there"\nkind = "ssh"\n'
        '[hardware]\ncpu = "x"\narch = "x86_64"\ncores = 2\nmax_clock_ghz = 0.0\nram_mb = 1024\npeak_gflops = 0.0\n'
        '[connection]\nhost = "127.0.0.1"\nport = 9\nuser = "nobody"\nconnect_timeout_s = 2.0\n'
        '[power]\nmethod = "none"\n')
    store = tmp_path / "r.db"
    out = watch(store, "--device", "gone", "--model", FP32, "--every", "1s", "--runs", "5", "--max-failures", "2",
                env={"EDGEPROF_DEVICE_PATH": str(profiles)})
    assert out.returncode == 3, out.stderr
    lines = out.stdout.splitlines()  # a busy host may take over 1 s to refuse: the line then names the skipped tick
    assert len(lines) == 2 and all(line.endswith(": gone: failed (the error line says why)") for line in lines), out.stdout
    assert out.stderr.count("edgeprof: error: device 'gone'") == 2 and not alerts(out.stderr)
    assert "watch ended (2 failed ticks in a row): 0 runs stored" in out.stderr
    assert run_ids(store) == []


@pytest.mark.parametrize("args", [["--every", "5x"], ["--every", "0s"], ["--every", "1h", "--for", "soon"],
                                  ["--every", "-1m"]])
def test_bad_durations_are_one_line_exit_2(tmp_path: Path, args: list[str]) -> None:
    out = watch(tmp_path / "r.db", "--model", FP32, *args)
    assert out.returncode == 2
    assert out.stderr.count("\n") == 1 and out.stderr.startswith(f"edgeprof: error: {args[-2]} {args[-1]!r}: ")
    assert not (tmp_path / "r.db").exists()


def test_durations() -> None:
    assert [parse_duration(t, "--every") for t in ("30s", "5m", "1h", "1d", "1.5h")] == [30, 300, 3600, 86400, 5400]
    with pytest.raises(ConfigError, match="--for '1h30m'"):
        parse_duration("1h30m", "--for")


def test_ticks_keep_to_the_clock_and_report_skipped_ticks() -> None:
    start = time.monotonic()
    seen = []
    for tick in ticks(Schedule(every=0.5, runs=4)):
        seen.append((tick.index, tick.number, tick.skipped, time.monotonic() - start))
        if tick.number == 2:
            time.sleep(1.25)  # overruns ticks 2 and 3: tick 3 starts at once (1.75 s), tick 2 is skipped
    assert [s[:3] for s in seen] == [(0, 1, 0), (1, 2, 0), (3, 3, 1), (4, 4, 0)]
    assert all(0 <= at - due < 0.2 for (*_, at), due in zip(seen, [0.0, 0.5, 1.75, 2.0]))
    assert [t.index for t in ticks(Schedule(every=0.1, duration=0.35))] == [0, 1, 2, 3]


def test_watch_takes_deploys_input_options(tmp_path: Path) -> None:
    """--timing-inputs, --input-shape and --input-range mean what they mean on deploy: each run is timed on the
    dataset's samples, per model, and an integer range the model cannot take is refused before anything runs."""
    store = tmp_path / "r.db"
    out = watch(store, "--model", FP32, "--dataset", DIGITS / "test.npz", "--timing-inputs", "dataset",
                "--input-shape", "digits-fp32:input=1x8x8x1", "--every", "1s", "--runs", "1", *QUICK)
    assert out.returncode == 0, out.stderr
    (run_id,) = run_ids(store)
    with SQLiteStore(store, create=False) as db:
        (result,) = db.load_run(run_id)
    assert [entry["source"] for entry in result["inputs"]] == ["dataset"]
    bad = watch(tmp_path / "bad.db", "--model", FP32, "--input-range", "input=0:9", "--every", "1s", "--runs", "1")
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "--input-range" in bad.stderr, bad.stderr
    assert not (tmp_path / "bad.db").exists()
