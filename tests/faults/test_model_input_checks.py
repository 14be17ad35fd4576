"""Model inputs the host checks before anything runs (one line, exit 2): a dataset for a model with no inputs or
for input types a dataset cannot feed, a value range its dtype cannot hold, a corrupt node behind an integer
input; and an input that declares no dims is fed a scalar (with a warning where the model leaves its shape out, not
for a declared scalar), or the shape given."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from edgeprof.store.sqlite import SQLiteStore
from tests.faults.test_bad_input_cli import one_error_line, run_cli
from tests.faults.test_inputs_and_store import FAST
from tests.models.onnx_graphs import save
from tests.support import store_rows


def no_inputs(path: Path) -> Path:
    constant = helper.make_node("Constant", [], ["y"], value=helper.make_tensor("v", TensorProto.FLOAT, [1, 2],
                                                                                 [1.0, 2.0]))
    return save(helper.make_graph([constant], "noin", [], [helper.make_tensor_value_info("y", TensorProto.FLOAT,
                                                                                          [1, 2])]), path)


def cast_from(path: Path, elem: int) -> Path:
    """x [1, 4] of type `elem` cast to float."""
    node = helper.make_node("Cast", ["x"], ["y"], to=TensorProto.FLOAT)
    x = helper.make_tensor_value_info("x", elem, [1, 4])
    return save(helper.make_graph([node], "cast", [x], [helper.make_tensor_value_info("y", TensorProto.FLOAT,
                                                                                      [1, 4])]), path)


def shapeless(path: Path) -> Path:
    """x -> Identity -> y, neither with a shape (the checker wants one; ONNX Runtime loads it)."""
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "noshape",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, None)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path.write_bytes(model.SerializeToString())
    return path


def declared_scalar(path: Path) -> Path:
    """x -> Identity -> y, both declared scalars (a shape of no dims)."""
    return save(helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "scalar",
                                  [helper.make_tensor_value_info("x", TensorProto.FLOAT, [])],
                                  [helper.make_tensor_value_info("y", TensorProto.FLOAT, [])]), path)


def string_input(path: Path) -> Path:
    node = helper.make_node("Identity", ["x"], ["y"])
    return save(helper.make_graph([node], "st", [helper.make_tensor_value_info("x", TensorProto.STRING, [1, 4])],
                                  [helper.make_tensor_value_info("y", TensorProto.STRING, [1, 4])]), path)


def corrupt_gather(path: Path) -> Path:
    """An int64 input indexing a table through a Gather whose op_type field claims 127 bytes: the inputs and
    outputs read fine, the graph does not parse."""
    table = numpy_helper.from_array(np.ones((5, 4), np.float32), "table")
    graph = helper.make_graph([helper.make_node("Gather", ["table", "ids"], ["y"])], "g",
                              [helper.make_tensor_value_info("ids", TensorProto.INT64, [1, 3])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 4])], [table])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path.write_bytes(model.SerializeToString().replace(b"\x22\x06Gather", b"\x22\x7fGather", 1))
    return path


def dataset(path: Path, x: np.ndarray) -> Path:
    np.savez(path, x=x)
    return path


Case = Callable[[Path], list[object]]
CASES: list[tuple[str, Case, tuple[str, ...]]] = [
    ("no-inputs", lambda t: ["-m", no_inputs(t / "noin.onnx"), "--dataset",
                             dataset(t / "d.npz", np.ones((3, 2), np.float32))],
     ("has no inputs", "without --dataset")),
    ("bfloat16", lambda t: ["-m", cast_from(t / "bf.onnx", TensorProto.BFLOAT16), "--dataset",
                            dataset(t / "d.npz", np.ones((3, 4), np.float32))], ("bfloat16 has no numpy dtype",)),
    ("string-input-int-data", lambda t: ["-m", string_input(t / "st.onnx"), "--dataset",
                                         dataset(t / "d.npz", np.ones((3, 4), np.int64))], ("takes strings",)),
    ("uint8-range-wraps", lambda t: ["-m", cast_from(t / "u8.onnx", TensorProto.UINT8), "--input-range",
                                     "x=-300:300"], ("x=-300:300", "uint8, which holds 0:255")),
    ("int64-range-overflows", lambda t: ["-m", cast_from(t / "i64.onnx", TensorProto.INT64), "--input-range",
                                         f"x=0:{2**64}"], ("int64, which holds",)),
    ("corrupt-node", lambda t: ["-m", corrupt_gather(t / "g.onnx")], ("g.onnx", "corrupt ONNX model")),
]


@pytest.mark.parametrize(("make", "needles"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_an_input_the_model_cannot_take_is_refused_on_the_host(tmp_path: Path, make: Case,
                                                               needles: tuple[str, ...]) -> None:
    store = tmp_path / "r.db"
    proc = run_cli("deploy", *make(tmp_path), *FAST, "--store", store)
    one_error_line(proc, 2, *needles)
    assert store_rows(store) == 0


def test_an_input_without_a_declared_shape_is_fed_a_scalar_with_a_warning_or_the_shape_given(tmp_path: Path) -> None:
    """One deploy of three models whose input x ONNX Runtime reports as []: one that leaves x's shape out (fed a
    scalar, warned about), one that declares x a scalar (fed one, no warning), and one that leaves it out with
    --input-shape given (a shape of any rank, no warning)."""
    models = [shapeless(tmp_path / "noshape.onnx"), declared_scalar(tmp_path / "scalar.onnx"),
              shapeless(tmp_path / "given.onnx")]
    proc = run_cli("deploy", "--device", "local", *(a for m in models for a in ("-m", m)),
                   "--input-shape", "given:x=1x10", *FAST, "--store", tmp_path / "r.db")
    assert proc.returncode == 0, proc.stderr
    warned = [line for line in proc.stderr.splitlines() if "warning: input 'x'" in line]
    assert warned == ["local noshape-original onnx: warning: input 'x' has no declared shape: feeding a scalar "
                      "(set its shape with --input-shape x=...)"], proc.stderr
    with SQLiteStore(tmp_path / "r.db", create=False) as db:
        fed = {doc["model"]["path"].rsplit("/", 1)[-1]: doc["inputs"][0]["shape"] for doc in db.query()}
    assert fed == {"noshape.onnx": [], "scalar.onnx": [], "given.onnx": [1, 10]}
