"""`edgeprof deploy --device local` with real inputs: an index input fed within its model's table, timing on the
dataset's samples, one --input-shape for an ONNX and a TFLite model, and every bad input option or dataset as
one line, exit 2, before anything runs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from onnx import TensorProto, helper

from tests.faults.test_bad_input_cli import one_error_line, run_cli
from tests.faults.test_inputs_and_store import FAST
from tests.models.onnx_graphs import gather_table, mixed_inputs, save
from tests.support import DIGITS, store_rows


def gather_data(tmp_path: Path, **changes: np.ndarray) -> tuple[Path, Path]:
    """The Gather model over a 5-row table and a valid dataset for it (20 samples, 12 classes)."""
    rng = np.random.default_rng(0)
    arrays = {"ids": rng.integers(0, 5, (20, 3)), "y": rng.integers(0, 12, 20), **changes}
    np.savez(tmp_path / "data.npz", **arrays)
    return gather_table(tmp_path / "gather.onnx"), tmp_path / "data.npz"


def deploy(tmp_path: Path, *args: str | Path) -> list[dict]:  # type: ignore[type-arg]
    """The Results of a deploy that ran (exit 0, or 1 where the local profile's accuracy bound fails)."""
    proc = run_cli("deploy", "--device", "local", *args, *FAST, "--store", tmp_path / "r.db", "--json")
    assert proc.returncode in (0, 1) and "error" not in proc.stderr, proc.stderr
    return json.loads(proc.stdout)


def test_an_index_input_is_fed_within_its_table_by_default(tmp_path: Path) -> None:
    model, data = gather_data(tmp_path)
    (result,) = deploy(tmp_path, "-m", model, "--dataset", data)  # was: exit 3, "idx=8 must be within [-5,4]"
    assert result["status"] == "ok"
    assert result["inputs"] == [{"name": "ids", "shape": [1, 3], "dtype": "int64", "source": "random(seed=0)",
                                 "range": [0, 4]}]


def test_a_dataset_that_holds_an_integer_input_bounds_its_random_values(tmp_path: Path) -> None:
    model = save(helper.make_graph(  # 'ids' is int64 with no table: its range is not in the model
        [helper.make_node("Cast", ["ids"], ["scores"], to=TensorProto.FLOAT)], "counts",
        [helper.make_tensor_value_info("ids", TensorProto.INT64, ["batch", 3])],
        [helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["batch", 3])]), tmp_path / "counts.onnx")
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "data.npz", ids=rng.integers(3, 40, (8, 3)), y=rng.integers(0, 3, 8))
    ids = np.load(tmp_path / "data.npz")["ids"]
    (result,) = deploy(tmp_path, "-m", model, "--dataset", tmp_path / "data.npz")  # was: "give it with --input-range"
    (fed,) = [i for i in result["inputs"] if i["name"] == "ids"]
    assert fed["source"].startswith("random") and fed["range"] == [int(ids.min()), int(ids.max())]


def test_timing_on_the_dataset_cycles_its_samples_in_batches(tmp_path: Path) -> None:
    model, data = gather_data(tmp_path)
    (result,) = deploy(tmp_path, "-m", model, "--dataset", data, "--timing-inputs", "dataset",
                       "--input-shape", "ids=2x3")
    assert result["status"] == "ok" and result["accuracy"]["samples"] == 20
    assert result["inputs"] == [{"name": "ids", "shape": [2, 3], "dtype": "int64", "source": "dataset",
                                 "samples": 20, "batches": 10, "range": None}]


def test_one_input_shape_serves_an_onnx_and_a_tflite_model(tmp_path: Path) -> None:
    results = deploy(tmp_path, "-m", DIGITS / "digits-fp32.onnx", "-m", DIGITS / "digits-fp32.tflite",
                     "--input-shape", "input=2x8x8x1", "--input-shape", "digits-fp32.tflite:input=3x8x8x1")
    assert [(r["status"], r["inputs"][0]["name"], r["inputs"][0]["shape"]) for r in results] == [
        ("ok", "input", [2, 8, 8, 1]), ("ok", "serving_default_input:0", [3, 8, 8, 1])]


def test_allow_nan_lets_a_dataset_with_nan_through(tmp_path: Path) -> None:
    images = np.load(DIGITS / "test.npz")["x"][:20].copy()
    images[3, 0, 0, 0] = np.nan
    np.savez(tmp_path / "nan.npz", x=images, y=np.zeros(20, np.int64))
    (result,) = deploy(tmp_path, "-m", DIGITS / "digits-fp32.onnx", "--dataset", tmp_path / "nan.npz", "--allow-nan")
    assert result["status"] == "ok" and result["accuracy"]["samples"] == 20


def nan_digits(tmp_path: Path) -> Path:
    np.savez(tmp_path / "nan.npz", x=np.full((4, 8, 8, 1), np.nan, np.float32), y=np.zeros(4, np.int64))
    return tmp_path / "nan.npz"


FP32 = str(DIGITS / "digits-fp32.onnx")
CASES = {
    "timing-dataset-without-dataset": (lambda t: ["-m", FP32, "--timing-inputs", "dataset"],
                                       ("--timing-inputs dataset needs --dataset FILE",)),
    "timing-unknown": (lambda t: ["-m", FP32, "--timing-inputs", "images"], ("--timing-inputs 'images'",)),
    "integer-input-without-range": (lambda t: ["-m", str(mixed_inputs(t / "mixed.onnx"))],
                                    ("input 'ids' takes int64 values", "--input-range ids=LO:HI")),
    "range-beyond-the-table": (lambda t: ["-m", str(gather_data(t)[0]), "--input-range", "ids=0:9"],
                               ("--input-range ids=0:9", "table of 5 rows")),
    "shape-of-no-input": (lambda t: ["-m", FP32, "--input-shape", "image=1x8x8x1"],
                          ("--input-shape image=1x8x8x1: no model has one input named 'image'",)),
    "nan-inputs": (lambda t: ["-m", FP32, "--dataset", str(nan_digits(t))], ("'x' holds NaN at sample 0",)),
    "float-labels": (lambda t: ["-m", str(gather_data(t, y=np.full(20, 0.5))[0]), "--dataset", str(t / "data.npz")],
                     ("'y' holds 0.5 at sample 0",)),
    "labels-out-of-range": (lambda t: ["-m", str(gather_data(t, y=np.full(20, 12))[0]), "--dataset",
                                       str(t / "data.npz")], ("'y' holds 12 at sample 0", "12 classes")),
    "float-data-for-an-index": (lambda t: ["-m", str(gather_data(t, ids=np.zeros((20, 3)))[0]), "--dataset",
                                           str(t / "data.npz")], ("'ids' has dtype float64",)),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_options_and_datasets_are_one_line_before_anything_runs(tmp_path: Path, case: str) -> None:
    make, needles = CASES[case]
    store = tmp_path / "r.db"
    proc = run_cli("deploy", "--device", "local", *make(tmp_path), *FAST, "--store", store)
    one_error_line(proc, 2, *needles)
    assert store_rows(store) == 0
