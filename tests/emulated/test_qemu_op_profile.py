"""The TFLite op profile on the emulated board (aarch64 ai-edge-litert under QEMU, marker `emulated`): LiteRT's C API
through ctypes on another architecture, both kernels' rows, and `explain` naming the fallback it sees there.

Run by scripts/emulated_stage.sh, which builds or reuses the image (EDGEPROF_CACHE) and boots the VM first.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.emulated.test_qemu_pi4 import FAST, edgeprof, qemu_pi4  # noqa: F401 (qemu_pi4 is a fixture)
from tests.support import DIGITS

pytestmark = pytest.mark.emulated


def test_tflite_op_profile_on_the_emulated_board(qemu_pi4: str, tmp_path: Path) -> None:  # noqa: F811
    store = tmp_path / "r.db"
    runs = []
    for model in ("digits-fp32.tflite", "digits-int8-static.tflite"):
        proc = edgeprof("deploy", "--device", qemu_pi4, "--model", DIGITS / model, *FAST, "--op-profile", "--store",
                        store, "--json")
        assert proc.returncode == 0, proc.stderr[-2000:]
        (result,) = json.loads(proc.stdout)
        profile = result["op_profile"]
        assert profile["method"] == "sensor:litert-profiler" and "unmatched_partitions" not in profile, profile
        assert {r["provider"] for r in profile["by_node"]} == {"xnnpack", "builtin"}
        assert all(r["node"] == f"{r['op']}_{r['index']}" for r in profile["by_node"])
        runs.append(result["run_id"])
    proc = edgeprof("explain", *runs, "--store", store, "--json")
    assert proc.returncode == 0, proc.stderr[-2000:]
    (explanation,) = json.loads(proc.stdout)
    softmax = next(o for o in explanation["operators"] if o["op"] == "SOFTMAX")
    assert softmax["cause"] == "1 node fell back from xnnpack to builtin"
