"""The typed Result view: its labels, the schema check and the v0 -> v1 migration, also on loading from the store."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from edgeprof.agent.spec import RESULT_SECTIONS
from edgeprof.errors import EXIT_USAGE, ConfigError
from edgeprof.result import (
    RESULT_SCHEMA_VERSION,
    Result,
    build_result,
    migrate,
    mixes_accelerators,
    stamp_stored,
    unstamp_stored,
    viewer,
)
from edgeprof.store.sqlite import SQLiteStore as ResultStore


def doc(**extra: Any) -> dict[str, Any]:
    return {"schema_version": 1, "device": "pi4", "status": "ok", "model": {
        "name": "digits", "variant": "int8-static", "format": "onnx", "path": "models/digits/digits-int8-static.onnx"},
        **extra}


def test_labels_come_from_one_place() -> None:
    view = Result(doc())
    assert view.label == "pi4 / digits int8-static onnx"
    assert view.model_label == "digits int8-static onnx"
    assert view.variant_label == "int8-static onnx"
    assert view.ref == "digits-int8-static" and view.ref_label == "digits-int8-static onnx"
    assert view.names == ["digits", "digits-int8-static"]
    assert view.key == ("pi4", "digits", "int8-static", "onnx")
    assert Result(doc(model={"name": "m", "variant": "fp32", "path": "x/other.onnx"})).names == ["m", "m-fp32", "other"]


def test_sections_and_status() -> None:
    failed = Result(doc(status="failed", error={"kind": "crashed"}, latency=None))
    assert not failed.ok and failed.error == {"kind": "crashed"} and failed.latency == {}
    assert Result(doc(latency={"p95_ms": 3.0})).latency["p95_ms"] == 3.0
    assert Result({}).ok and Result({}).label == "? / ? ? ?"


def test_absent_version_is_v0_and_migrates_to_v1() -> None:
    old = doc()
    del old["schema_version"]
    migrated = Result.from_doc(old)
    assert migrated.doc["schema_version"] == RESULT_SCHEMA_VERSION == 1
    assert migrated.doc["model"] == old["model"] and "schema_version" not in old  # the input is left alone
    assert migrate(doc(schema_version=0))["schema_version"] == 1


def test_newer_or_bad_version_is_a_config_error_naming_both() -> None:
    with pytest.raises(ConfigError, match=r"schema_version 2 is newer than this edgeprof understands \(1\)") as err:
        Result.from_doc(doc(schema_version=RESULT_SCHEMA_VERSION + 1))
    assert err.value.exit_code == EXIT_USAGE
    with pytest.raises(ConfigError, match="not a version number"):
        Result.from_doc(doc(schema_version="one"))
    with pytest.raises(ConfigError, match="not a JSON Result"):
        Result.load("[1, 2]")


def _store_with_doc(path: Path, stored: dict[str, Any]) -> str:
    with ResultStore(path) as db:
        run_id = db.save_run([doc()], command="test")
    with sqlite3.connect(path) as raw:
        raw.execute("UPDATE results SET doc = ? WHERE run_id = ?", (json.dumps(stored), run_id))
    return run_id


def test_store_migrates_old_and_refuses_newer_results(tmp_path: Path) -> None:
    old = doc()
    del old["schema_version"]
    run_id = _store_with_doc(tmp_path / "old.db", old)
    with ResultStore(tmp_path / "old.db", create=False) as db:
        assert [r["schema_version"] for r in db.load_run(run_id)] == [1]
        assert [r["schema_version"] for r in db.query()] == [1]
    run_id = _store_with_doc(tmp_path / "new.db", doc(schema_version=9))
    with ResultStore(tmp_path / "new.db", create=False) as db, pytest.raises(ConfigError, match="9 is newer"):
        db.load_run(run_id)


def test_labels_name_an_accelerator_other_than_the_default() -> None:
    openvino = Result(doc(runtime={"requested": ["openvino", "cpu"]}))
    assert openvino.accelerator == "openvino,cpu" and not openvino.default_accelerator
    assert openvino.label == "pi4 / digits int8-static onnx @openvino,cpu"
    assert openvino.variant_label == "int8-static onnx @openvino,cpu"
    assert openvino.configuration == ("pi4", "digits", "int8-static", "onnx", "openvino,cpu")
    cpu, old = Result(doc(runtime={"requested": ["cpu"]})), Result(doc())
    assert cpu.default_accelerator and cpu.label == "pi4 / digits int8-static onnx"
    assert old.accelerator is None and old.default_accelerator and old.configuration == cpu.configuration
    tflite = doc(runtime={"requested": ["xnnpack"]})
    tflite["model"]["format"] = "tflite"
    assert Result(tflite).default_accelerator and Result(tflite).variant_label == "int8-static tflite"
    tflite["runtime"]["requested"] = ["none"]
    assert Result(tflite).variant_label == "int8-static tflite @none"


def test_a_set_that_mixes_accelerators_names_every_one() -> None:
    cpu, openvino = doc(runtime={"requested": ["cpu"]}), doc(runtime={"requested": ["openvino"]})
    assert not mixes_accelerators([cpu, doc()]) and mixes_accelerators([cpu, openvino])
    view = viewer([cpu, openvino])
    assert [view(d).model_label for d in (cpu, openvino)] == ["digits int8-static onnx @cpu",
                                                               "digits int8-static onnx @openvino"]
    assert viewer([cpu])(cpu).model_label == "digits int8-static onnx"
    tflite = doc(runtime={"requested": ["xnnpack"]})
    tflite["model"]["format"] = "tflite"
    assert not mixes_accelerators([cpu, tflite])  # each on its runtime's default


def built(**changes: Any) -> dict[str, Any]:
    fields: dict[str, Any] = dict(device_info={"name": "pi4", "emulated": None},
                                  model={"name": "digits", "variant": "fp32", "format": "onnx"},
                                  agent=None, error=None, timing={"stages": {"store": None}}, transfer={})
    return build_result(**{**fields, **changes})


def test_a_failed_run_is_built_with_every_agent_section_null() -> None:
    error = {"kind": "killed", "message": "the agent was killed", "stage": None}
    failed = built(error=error)
    assert [failed[s] for s in RESULT_SECTIONS] == [None] * (len(RESULT_SECTIONS) - 1) + [[]]
    assert (failed["status"], failed["error"], failed["device"], failed["run_id"], failed["verdicts"]) == \
        ("failed", error, "pi4", None, [])
    assert failed["schema_version"] == RESULT_SCHEMA_VERSION and "lab" not in failed


def test_a_measured_run_keeps_the_agent_sections_and_its_lab() -> None:
    lab = {"place": "pi4-01", "coordinator": "lab:20408"}
    measured = built(agent={"latency": {"p95_ms": 1.0}, "warnings": ["busy"]}, lab=lab)
    assert measured["status"] == "ok" and Result(measured).latency == {"p95_ms": 1.0}
    assert measured["warnings"] == ["busy"] and measured["power"] is None
    lab["released"] = False  # releasing the place after the run marks the same section
    assert measured["lab"]["released"] is False


def test_storing_stamps_the_run_id_and_store_seconds_and_a_failed_save_takes_them_back() -> None:
    result = built()
    stamp_stored(result, "20261129T031500Z-3f2a9c", 0.25)
    assert (result["run_id"], result["timing"]["stages"]["store"]) == ("20261129T031500Z-3f2a9c", 0.25)
    unstamp_stored(result, timed=True)
    assert "run_id" not in result and result["timing"]["stages"]["store"] is None
