"""Which operator types moved between two op profiles, and the fallback named as the cause (compare.op_changes)."""

from __future__ import annotations

import copy
from typing import Any

from edgeprof.compare import op_changes
from tests.report.factory import make_result, on_accelerator

CPU, OPENVINO = "CPUExecutionProvider", "OpenVINOExecutionProvider"


def accelerated() -> dict[str, Any]:
    """An OpenVINO run whose Hardmax node fell back to the CPU."""
    return on_accelerator(make_result("nuc", "fp32"), ["openvino", "cpu"])


def test_the_largest_changes_first_with_their_share() -> None:
    a, b = accelerated(), accelerated()
    for row in b["op_profile"]["by_op_type"]:
        row["ms_per_run"] *= {"Conv": 2.0, "Gemm": 0.5}.get(row["op"], 1.0)
    changes = op_changes(a, b)
    assert changes is not None
    assert [(c.op, round(c.delta_ms, 6), round(c.share, 6)) for c in changes] == [("Conv", 0.5, round(5 / 6, 6)),
                                                                                ("Gemm", -0.1, round(1 / 6, 6))]
    assert all(c.cause is None for c in changes)


def test_a_node_that_fell_back_is_named_as_the_cause() -> None:
    a, b = accelerated(), accelerated()
    conv = {"node": "conv_3", "op": "Conv", "ran_on": CPU}
    b["placement"]["fallback_nodes"].append(conv)
    next(r for r in b["op_profile"]["by_op_type"] if r["op"] == "Conv")["ms_per_run"] = 0.9
    (change,) = op_changes(a, b) or []
    assert change.op == "Conv" and change.fell_back == 1
    assert change.cause == f"1 node fell back from {OPENVINO} to {CPU}"
    # the reverse: the node moved back onto the accelerator, even if its time barely changed
    back = op_changes(b, a) or []
    assert back[0].cause == f"1 node moved from {CPU} onto {OPENVINO}" and back[0].fell_back == 0


def test_a_cpu_only_run_has_no_fallback_to_blame() -> None:
    cpu_only = on_accelerator(make_result("nuc", "fp32"), ["cpu"])
    changes = op_changes(cpu_only, accelerated())
    assert changes == []  # same op times; Hardmax ran on the CPU in both


def test_only_two_profiles_of_one_method_are_compared() -> None:
    a = accelerated()
    assert op_changes(a, make_result("nuc", "fp32")) is None  # no op profile in B
    other = copy.deepcopy(a)
    other["op_profile"]["method"] = "sensor:litert-profiler"
    assert op_changes(a, other) is None
