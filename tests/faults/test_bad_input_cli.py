"""Bad input and CLI usage: each case ends in one line on stderr
(`edgeprof: error: ...`), the documented exit code, no traceback, nothing stored, in bounded time."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

from tests.faults.test_inputs_and_store import FAST, FP32
from tests.models.onnx_graphs import save
from tests.support import DIGITS, store_rows, write_loopback_profile

NO_SSHD = {"EDGEPROF_TEST_SSH_PORT": "22", "EDGEPROF_TEST_SSH_USER": "nobody", "EDGEPROF_TEST_SSH_KEY": "/absent"}


def run_cli(*args: str | Path | bytes, env: dict[str, str] | None = None,
            stderr_file: Path | None = None) -> subprocess.CompletedProcess[str]:
    """The real CLI in a subprocess (bytes arguments pass undecodable file names through); stderr to a file
    when `stderr_file` is given, read back into the result."""
    environment = {**os.environ, **(env or {})}
    command = [sys.executable, "-m", "edgeprof", *(a if isinstance(a, bytes) else str(a) for a in args)]
    if stderr_file is None:
        return subprocess.run(command, capture_output=True, text=True, timeout=120, env=environment)
    with stderr_file.open("w") as err:
        proc = subprocess.run(command, stdout=subprocess.PIPE, stderr=err, text=True, timeout=120, env=environment)
    return subprocess.CompletedProcess(proc.args, proc.returncode, proc.stdout, stderr_file.read_text())


def one_error_line(proc: subprocess.CompletedProcess[str], code: int, *needles: str) -> str:
    """Assert the run ended with exit `code` and exactly one `edgeprof: error:` line holding every needle."""
    assert proc.returncode == code, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("edgeprof: error: ")]
    assert len(errors) == 1 and errors[0] == lines[-1], proc.stderr
    for needle in needles:
        assert needle in errors[0], (needle, errors[0])
    return errors[0]


def bad_profile(tmp: Path) -> list[str]:
    """A device 'wrapped' whose profile says port = 99999."""
    write_loopback_profile(tmp / "profiles", NO_SSHD, name="wrapped", port=99999)
    return ["deploy", "--device", "wrapped", "--model", str(FP32)]


def directory(tmp: Path) -> Path:
    (tmp / "m.onnx").mkdir()
    return tmp / "m.onnx"


def fifo(tmp: Path) -> Path:
    os.mkfifo(tmp / "m.onnx")
    return tmp / "m.onnx"


def symlink_loop(tmp: Path) -> Path:
    (tmp / "m.onnx").symlink_to(tmp / "n.onnx")
    (tmp / "n.onnx").symlink_to(tmp / "m.onnx")
    return tmp / "m.onnx"


def empty_npz(tmp: Path) -> Path:
    np.savez(tmp / "d.npz", x=np.zeros((0, 8, 8, 1), np.float32), y=np.zeros(0, np.int64))
    return tmp / "d.npz"


def text_npz(tmp: Path) -> Path:
    (tmp / "d.npz").write_text("label,pixel\n1,0.5\n")
    return tmp / "d.npz"


Case = Callable[[Path], list[str]]
CASES: list[tuple[str, Case, int, tuple[str, ...]]] = [
    ("profile-port-99999", bad_profile, 2, ("'connection.port' 99999", "1-65535")),
    ("port-120777", lambda t: ["deploy", "-d", "pi4", "--port", "120777", "-m", str(FP32)], 2, ("--port 120777",)),
    ("port-negative", lambda t: ["deploy", "-d", "pi4", "--port", "-5", "-m", str(FP32)], 2, ("--port -5",)),
    ("port-0", lambda t: ["deploy", "-d", "pi4", "--port", "0", "-m", str(FP32)], 2, ("--port 0",)),
    ("model-directory", lambda t: ["deploy", "-m", str(directory(t))], 2, ("is a directory",)),
    ("model-fifo", lambda t: ["deploy", "-m", str(fifo(t))], 2, ("is a FIFO",)),
    ("model-symlink-loop", lambda t: ["deploy", "-m", str(symlink_loop(t))], 2, ("symbolic link loop",)),
    ("dataset-directory", lambda t: ["deploy", "-m", str(FP32), "--dataset", str(directory(t))], 2,
     ("dataset", "is a directory")),
    ("dataset-fifo", lambda t: ["deploy", "-m", str(FP32), "--dataset", str(fifo(t))], 2, ("dataset", "FIFO")),
    ("threads-100000", lambda t: ["deploy", "-m", str(FP32), "--threads", "100000"], 2,
     ("--threads 100000", "device 'local'")),
    ("npz-no-samples", lambda t: ["deploy", "-m", str(FP32), "--dataset", str(empty_npz(t))], 2, ("0 samples",)),
    ("npz-is-text", lambda t: ["deploy", "-m", str(FP32), "--dataset", str(text_npz(t))], 2, ("not an NPZ file",)),
    ("bound-1e999", lambda t: ["deploy", "-m", str(FP32), "-c", "latency.p95_ms<=1e999"], 2, ("not a finite",)),
    ("usage-error", lambda t: ["check", "--strict", "true"], 2, ("edgeprof check", "(true)")),
]


@pytest.mark.parametrize(("make", "code", "needles"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_before_anything_runs(tmp_path: Path, make: Case, code: int,
                                                    needles: tuple[str, ...]) -> None:
    store = tmp_path / "r.db"
    args = make(tmp_path)
    proc = run_cli(*args, "--store", store, *(FAST if args[0] == "deploy" else []), stderr_file=tmp_path / "stderr.txt",
                   env={"COLUMNS": "40", "EDGEPROF_DEVICE_PATH": str(tmp_path / "profiles")})
    one_error_line(proc, code, *needles)
    assert store_rows(store) == 0


def test_an_undecodable_model_name_is_measured_and_stored(tmp_path: Path) -> None:
    model = os.fsencode(tmp_path) + b"/digits-\xff-fp32.onnx"
    shutil.copy(FP32, model)
    store = tmp_path / "r.db"
    proc = run_cli("deploy", "--model", model, *FAST, "--json", "--store", store)
    assert proc.returncode == 0, proc.stderr
    (result,) = json.loads(proc.stdout)
    assert result["model"]["path"].endswith("/digits-\\xff-fp32.onnx") and result["model"]["name"] == "digits-\\xff"
    shown = run_cli("runs", "show", "latest", "--json", "--store", store)
    assert shown.returncode == 0 and "digits-\\\\xff-fp32.onnx" in shown.stdout
    with sqlite3.connect(store) as db:
        (command,) = db.execute("SELECT command FROM runs").fetchone()
    assert "digits-\\xff-fp32.onnx" in command


@pytest.mark.parametrize(("constraints", "code"), [("", 3), ('"memory.peak_rss_mb" = "<= 512"', 1)],
                         ids=["no-memory-constraint", "memory-constraint"])
def test_a_run_that_runs_out_of_memory_never_exits_0(tmp_path: Path, constraints: str, code: int) -> None:
    local = (DIGITS.parent.parent / "device_profiles" / "local.toml").read_text()
    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "bare.toml").write_text(local.split("[constraints]")[0] + f"[constraints]\n{constraints}\n")
    env = {"EDGEPROF_DEVICE_PATH": str(tmp_path / "profiles")}
    store = tmp_path / "r.db"
    huge = ["-d", "bare", "--input-shape", "input=100000000x8x8x1", "--store", store, *FAST]
    for extra in ([], ["--json"]):
        proc = run_cli("deploy", "--model", FP32, *huge, *extra, env=env)
        assert proc.returncode == code and "Traceback" not in proc.stderr, proc.stderr
    assert store_rows(store) == 2
    checked = run_cli("check", "--store", store, env=env)
    assert checked.returncode == code, checked.stderr


def test_quantize_refuses_a_variant_that_does_not_load(tmp_path: Path) -> None:
    from onnx import TensorProto, helper

    tensor = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, 4]) for n in ("a", "b", "y", "z")]
    graph = helper.make_graph([helper.make_node("Add", ["a", "b"], ["y"]), helper.make_node("Mul", ["y", "a"], ["z"])],
                              "twoin", tensor[:2], tensor[2:])
    source = save(graph, tmp_path / "twoin-fp32.onnx")  # y is an output and feeds z: fp16 casts clash
    proc = run_cli("quantize", source, "--variants", "fp16,int8-dynamic", "--out", tmp_path / "v")
    one_error_line(proc, 1, "fp16 variant of twoin", "recorded int8-dynamic")
    assert not (tmp_path / "v" / "twoin-fp16.onnx").exists()
    manifest = json.loads((tmp_path / "v" / "manifest.json").read_text())
    assert [e["variant"] for e in manifest["models"]] == ["int8-dynamic"]


def test_quantize_tflite_prints_only_its_own_output(tmp_path: Path) -> None:
    source = DIGITS / "digits-fp32.tflite"
    proc = run_cli("quantize", source, "--variants", "fp16,int8-dynamic", "--out", tmp_path / "j", "--json")
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    assert [e["variant"] for e in json.loads(proc.stdout)] == ["fp16", "int8-dynamic"]
    table = run_cli("quantize", source, "--variants", "fp16", "--out", tmp_path / "t")
    assert table.returncode == 0 and table.stderr == "", table.stderr
    lines = table.stdout.splitlines()
    assert lines[0].strip().startswith("Variants of digits-fp32.tflite") and "XNNPACK" not in table.stdout
    assert all(line.strip()[:1] in "┏┃┡│└" for line in lines[1:]), table.stdout


@pytest.mark.ssh
def test_the_identity_path_is_not_stored(tmp_path: Path, loopback_device: str, sshd: dict[str, str]) -> None:
    key = sshd["EDGEPROF_TEST_SSH_KEY"]
    store = tmp_path / "r.db"
    proc = run_cli("deploy", "-d", loopback_device, "--identity", key, "-m", FP32, *FAST, "--store", store)
    assert proc.returncode == 0, proc.stderr
    with sqlite3.connect(store) as db:
        (command,) = db.execute("SELECT command FROM runs").fetchone()
    assert "--identity '<redacted>'" in command and key not in command
    assert key not in store.read_bytes().decode(errors="replace")
