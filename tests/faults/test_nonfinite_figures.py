"""A NaN or infinity in one figure (a reference compared on NaN inputs, a numpy NaN anywhere in a section) never
loses the other measurements: the agent writes it as null and the Result's warnings say where."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from tests.faults.test_bad_input_cli import run_cli
from tests.faults.test_inputs_and_store import FAST
from tests.support import DIGITS, REPO, store_rows


def test_allow_nan_measures_an_int8_model_against_its_fp32_reference(tmp_path: Path) -> None:
    test = np.load(DIGITS / "test.npz")
    x = test["x"][:20].copy()
    x[0, 0, 0, 0] = np.nan
    np.savez(tmp_path / "nan.npz", x=x, y=test["y"][:20])
    store = tmp_path / "r.db"
    proc = run_cli("deploy", "-m", DIGITS / "digits-int8-static.onnx", "--dataset", tmp_path / "nan.npz",
                   "--allow-nan", *FAST, "--json", "--store", store)
    assert proc.returncode == 0, proc.stderr
    (result,) = json.loads(proc.stdout)
    assert result["status"] == "ok" and result["latency"]["p95_ms"] > 0
    assert result["accuracy"]["samples"] == 20 and result["accuracy"]["reference"]["max_abs_diff"] is None
    (note,) = [w for w in result["warnings"] if w.startswith("not a finite number")]
    assert "accuracy.reference.max_abs_diff" in note
    assert store_rows(store) == 1
    table = run_cli("runs", "show", "latest", "--store", store)
    assert table.returncode == 0 and "Traceback" not in table.stderr, table.stderr


def test_the_agent_writes_numpy_nan_and_inf_as_null_and_names_them() -> None:
    code = (
        "import numpy as np; from edgeprof.agent.protocol import emit; "
        "emit('result', result={'latency': {'p95_ms': np.float32('nan'), 'samples_ms': [1.0, float('inf'), "
        "float('-inf')], 'mean_ms': np.float64(2.5)}, 'warnings': []}); "
        "emit('progress', stage='latency', done=np.float64('nan'), total=None)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    result, progress = (json.loads(line) for line in proc.stdout.splitlines())
    latency = result["result"]["latency"]
    assert latency == {"p95_ms": None, "samples_ms": [1.0, None, None], "mean_ms": 2.5}
    assert result["result"]["warnings"] == ["not a finite number, recorded as null: latency.p95_ms, "
                                            "latency.samples_ms[]"]
    assert progress["done"] is None
