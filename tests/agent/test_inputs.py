"""Seeded inputs: the same seed gives the same data; every dtype gets values a model would accept."""

from __future__ import annotations

import numpy as np
import pytest

from edgeprof.agent.backends import TensorInfo
from edgeprof.agent.inputs import make_feeds
from edgeprof.agent.spec import AgentFailure

INPUTS = [
    TensorInfo("image", [None, 3, 8, 8], "float32"),
    TensorInfo("ids", [1, 5], "int64"),
    TensorInfo("mask", [1, 5], "bool"),
    TensorInfo("temperature", [], "float16"),
    TensorInfo("q", [1, 16], "uint8", (0.02, 128)),
]


def test_same_seed_same_data_other_seed_other_data() -> None:
    warnings: list[str] = []
    a, described = make_feeds(INPUTS, {"image": [2, 3, 8, 8]}, 3, warnings.append)
    b, _ = make_feeds(INPUTS, {"image": [2, 3, 8, 8]}, 3, warnings.append)
    c, _ = make_feeds(INPUTS, {"image": [2, 3, 8, 8]}, 4, warnings.append)
    assert all(np.array_equal(a[k], b[k]) for k in a) and not np.array_equal(a["image"], c["image"])
    assert warnings == []  # every dynamic dim was given
    assert [d["shape"] for d in described] == [[2, 3, 8, 8], [1, 5], [1, 5], [], [1, 16]]


def test_each_dtype_gets_plausible_values() -> None:
    feeds, _ = make_feeds(INPUTS, {}, 0, lambda m: None)
    assert feeds["image"].shape == (1, 3, 8, 8) and feeds["image"].dtype == np.float32
    assert feeds["ids"].dtype == np.int64 and feeds["ids"].min() >= 0
    assert feeds["mask"].dtype == np.bool_
    assert feeds["temperature"].shape == () and feeds["temperature"].dtype == np.float16
    q = feeds["q"]
    assert q.dtype == np.uint8 and abs(float(q.mean()) - 128) < 30  # N(0,1)/0.02 + 128, clipped to uint8


def test_a_dynamic_dim_defaults_to_one_with_a_warning() -> None:
    warnings: list[str] = []
    feeds, _ = make_feeds(INPUTS[:1], {}, 0, warnings.append)
    assert feeds["image"].shape == (1, 3, 8, 8) and "image" in warnings[0]


@pytest.mark.parametrize(("given", "text"), [
    ({"image": [1, 4, 8, 8]}, "conflicts with the model's fixed shape"),
    ({"image": [1, 3, 8]}, "rank 4"),
    ({"label": [1]}, "unknown inputs ['label']"),
])
def test_bad_input_shapes_are_input_errors(given: dict[str, list[int]], text: str) -> None:
    with pytest.raises(AgentFailure) as failure:
        make_feeds(INPUTS, given, 0, lambda m: None)
    assert failure.value.kind == "input" and text in failure.value.message
