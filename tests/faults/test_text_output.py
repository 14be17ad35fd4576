"""Text from files and models printed as text: rich markup in an NPZ key, a class name or a profile description
prints as written; labels of any dtype give valid JSON; a TOML file that is not UTF-8 (or is a folder) is one
line naming it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

from tests.faults.test_bad_input_cli import one_error_line, run_cli
from tests.faults.test_inputs_and_store import FAST, FP32


def test_dataset_show_prints_markup_in_keys_and_class_names_as_text(tmp_path: Path) -> None:
    path = tmp_path / "d.npz"
    np.savez(path, **{"[/bold]": np.zeros((3, 2), np.float32)}, y=np.array([0, 1, 1]),
             class_names=np.array(["[/red]", "[bold]b"]))
    proc = run_cli("dataset", "show", path)
    assert proc.returncode == 0, proc.stderr
    assert "[/bold]" in proc.stdout and "[/red]" in proc.stdout and "[bold]b" in proc.stdout


@pytest.mark.parametrize(("labels", "shown"), [
    (np.array([1 + 2j, 3j, 1 + 2j]), ["3j", "(1+2j)"]),
    (np.array(["2020-01-01", "2021-01-01", "2021-01-01"], dtype="datetime64[D]"), ["2020-01-01", "2021-01-01"]),
], ids=["complex", "datetime"])
def test_dataset_show_json_takes_labels_of_any_dtype(tmp_path: Path, labels: np.ndarray, shown: list[str]) -> None:
    path = tmp_path / "d.npz"
    np.savez(path, x=np.zeros((3, 2), np.float32), y=labels)
    proc = run_cli("dataset", "show", "--json", path)
    assert proc.returncode == 0, proc.stderr
    assert [c["label"] for c in json.loads(proc.stdout)["labels"]["classes"]] == shown


def profiles(tmp: Path, text: bytes) -> dict[str, str]:
    (tmp / "profiles").mkdir()
    (tmp / "profiles" / "odd.toml").write_bytes(text)
    return {"EDGEPROF_DEVICE_PATH": str(tmp / "profiles")}


def test_devices_list_and_show_print_markup_in_a_description_as_text(tmp_path: Path) -> None:
    env = profiles(tmp_path, b'description = "[/bold] board [red]x"\nkind = "local"\n[power]\nmethod = "none"\n')
    for command in (["devices", "list"], ["devices", "show", "odd"]):
        proc = run_cli(*command, env={**env, "COLUMNS": "200"})
        assert proc.returncode == 0, proc.stderr
        assert "[/bold] board [red]x" in proc.stdout


def test_a_profile_that_is_not_utf8_is_one_line(tmp_path: Path) -> None:
    env = profiles(tmp_path, b'description = "caf\xe9"\nkind = "local"\n[power]\nmethod = "none"\n')
    for command in (["devices", "list"], ["devices", "show", "odd"], ["deploy", "-d", "odd", "-m", str(FP32), *FAST]):
        proc = run_cli(*command, *(["--store", tmp_path / "r.db"] if command[0] == "deploy" else []), env=env)
        one_error_line(proc, 2, "odd.toml", "not UTF-8", "0xe9 at offset 18")


@pytest.mark.parametrize(("make", "needles"), [
    (lambda p: p.write_bytes(b'[constraints]\n"latency.p95_ms" = "<= 5\xff0"\n'), ("not UTF-8", "0xff")),
    (lambda p: p.mkdir(), ("is a directory",)),
], ids=["not-utf8", "folder"])
def test_a_project_file_that_cannot_be_read_is_one_line(tmp_path: Path, make: Callable[[Path], object],
                                                        needles: tuple[str, ...]) -> None:
    make(tmp_path / "edgeprof.toml")
    proc = run_cli("deploy", "-m", FP32, *FAST, "--project", tmp_path / "edgeprof.toml", "--store", tmp_path / "r.db")
    one_error_line(proc, 2, "edgeprof.toml", *needles)
