"""Values too large to serve: a server load, an offline batch or an NPZ header that would exhaust the device's
(or the host's) memory is refused as one line before anything runs, never mistaken for a memory verdict."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pytest

from tests.faults.test_bad_input_cli import one_error_line, run_cli
from tests.faults.test_inputs_and_store import FAST, FP32
from tests.support import store_rows


@pytest.mark.parametrize(("args", "needles"), [
    (["--scenario", "server", "--target-qps", "1e12"], ("--target-qps 1e+12", "queries per run")),
    (["--scenario", "offline", "--batch", "1,100000000"], ("--batch 100000000", "at most 4096")),
], ids=["target-qps-1e12", "batch-1e8"])
def test_a_scenario_too_large_for_memory_is_refused(tmp_path: Path, args: list[str], needles: tuple[str, ...]) -> None:
    store = tmp_path / "r.db"
    proc = run_cli("deploy", "-m", FP32, *FAST, *args, "--store", store)
    one_error_line(proc, 2, *needles)
    assert store_rows(store) == 0


def huge_npz(path: Path) -> Path:
    """An NPZ whose x.npy header declares a 2^46 x 2 float32 array (512 TiB) over 64 bytes of data."""
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f4", "fortran_order": False, "shape": (2**46, 2)})
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("x.npy", header.getvalue() + b"\0" * 64)
    return path


@pytest.mark.parametrize("command", [["dataset", "show"], ["deploy", "-m", str(FP32), *FAST, "--dataset"]],
                         ids=["dataset-show", "deploy"])
def test_an_npz_header_declaring_more_than_it_holds_is_refused(tmp_path: Path, command: list[str]) -> None:
    proc = run_cli(*command, huge_npz(tmp_path / "huge.npz"), *(["--store", tmp_path / "r.db"]
                                                                if command[0] == "deploy" else []))
    one_error_line(proc, 2, "huge.npz", "x.npy declares 70368744177664x2 float32", "but holds 64")
    assert store_rows(tmp_path / "r.db") == 0
