"""Ctrl-C (or SIGTERM) in the commands that run no agent (quantize, dataset build): exit 130 with 'edgeprof:
interrupted' on stderr, and no variant left behind half-written or without its manifest entry."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import onnx
import pytest

from edgeprof.artifacts import load_artifact
from tests.faults.test_deploy_faults import MOBILENET, start_cli, wait_for
from tests.faults.test_network_faults import finish, one_error_line
from tests.support import DIGITS, default_sigint

# The CLI (argv[4:]) with an audit hook that sends its main thread a real signal (argv[3]) the Nth time (argv[2]) it
# opens a file whose path matches the regular expression argv[1] for writing (or removes one), then waits (1 s at most) for the
# CLI's handler to raise, so that nothing more is written first. onnx writes a model's external data one tensor per
# open: at the second such open one tensor of the variant is written and the next is not.
STOP_IN_A_WRITE = """
import os, re, signal, sys, threading, time
pattern, nth, stop = re.compile(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
writes = []

def hook(event, args):
    written = event == "open" and any(flag in str(args[1]) for flag in "wax+")
    if not (written or event == "os.remove"):
        return
    path = os.readlink(f"/proc/self/fd/{args[0]}") if isinstance(args[0], int) else os.fsdecode(args[0])
    if pattern.match(os.path.realpath(path)):
        writes.append(path)
        if len(writes) == nth:
            signal.pthread_kill(threading.main_thread().ident, stop)
            for _ in range(100):
                time.sleep(0.01)

sys.addaudithook(hook)
sys.argv = ["edgeprof", *sys.argv[4:]]
from edgeprof.cli import run
run()
"""


def quantize_stopped_in_a_write(tmp_path: Path, written: str, nth: int, stop: int) -> tuple[Path, int, str]:
    """(the variants folder, exit code, stderr) of quantize (fp16, int8-dynamic) of a model that keeps every weight
    in external data (so do its variants), stopped at the nth write of a file `written` (a regular expression
    of its path below the variants folder)."""
    source = tmp_path / "digits-fp32.onnx"
    onnx.save_model(onnx.load(str(DIGITS / "digits-fp32.onnx")), str(source), save_as_external_data=True,
                    location="digits-fp32.onnx.data", size_threshold=0)
    out = tmp_path / "variants"
    proc = subprocess.Popen([sys.executable, "-c", STOP_IN_A_WRITE, re.escape(f"{out.resolve()}/") + written,
                             str(nth), str(int(stop)), "quantize", str(source), "--variants", "fp16,int8-dynamic",
                             "--out", str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=default_sigint)
    code, err, _ = finish(proc, 120)
    return out, code, err


def only_recorded_variants(out: Path) -> set[str]:
    """The variants in `out`, each recorded in its manifest with the identity it has, with their external data
    files, and nothing else there."""
    manifest = out / "manifest.json"
    entries = json.loads(manifest.read_text())["models"] if manifest.exists() else []
    data = {d["location"] for e in entries for d in e.get("external_data", [])}
    recorded = {e["path"] for e in entries}
    assert {p.name for p in out.iterdir()} == recorded | data | ({manifest.name} if entries else set())
    assert all(load_artifact(out / e["path"]).sha256 == e["sha256"] for e in entries)
    return recorded


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_stopping_quantize_leaves_no_unrecorded_variant(tmp_path: Path, stop: int) -> None:
    out = tmp_path / "variants"
    proc = start_cli("quantize", MOBILENET, "--variants", "fp16,int8-dynamic", "--out", out)
    wait_for(lambda: list(out.rglob("mobilenetv2-fp16.onnx")), 120, "the fp16 variant")  # int8-dynamic is next
    proc.send_signal(stop)
    code, err, _ = finish(proc, 60)
    recorded = only_recorded_variants(out)
    if code == 0:  # it finished first: every variant it wrote is recorded
        assert recorded == {"mobilenetv2-fp16.onnx", "mobilenetv2-int8-dynamic.onnx"}
        return
    assert code == 130, err
    one_error_line(err, "interrupted")


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_a_stop_inside_a_variants_write_leaves_no_part_of_it(tmp_path: Path, stop: int) -> None:
    out, code, err = quantize_stopped_in_a_write(tmp_path, ".*", 2, stop)  # the fp16 variant's second tensor
    assert code == 130, err
    one_error_line(err, "interrupted")
    assert not only_recorded_variants(out)  # nothing at all: no part of a variant, no staging folder, no manifest


def test_a_stop_while_the_variants_are_recorded_waits_for_the_record(tmp_path: Path) -> None:
    """Variants are moved into place and recorded as one step: a Ctrl-C in the middle of it (at the first file
    written straight into the folder: its manifest) is answered after it, every variant whole and recorded."""
    out, code, err = quantize_stopped_in_a_write(tmp_path, "[^/]*$", 1, signal.SIGINT)
    assert code == 130, err
    one_error_line(err, "interrupted")
    assert only_recorded_variants(out) == {"digits-fp16.onnx", "digits-int8-dynamic.onnx"}


def test_quantize_writes_nothing_beside_its_source(tmp_path: Path) -> None:
    """onnxruntime's quantizers, given a model's path, write a shape-inferred copy beside it (`<name>-inferred.onnx`,
    from onnx's C++) and delete it when they are done with it: a stop before that (here when Python is about to
    delete it) left it among the user's files. quantize hands them the loaded model instead, so nothing is written
    into the source's folder."""
    source = tmp_path / "digits-fp32.onnx"
    source.write_bytes((DIGITS / "digits-fp32.onnx").read_bytes())
    out = tmp_path / "variants"
    proc = subprocess.Popen([sys.executable, "-c", STOP_IN_A_WRITE, re.escape(f"{tmp_path.resolve()}/") + "[^/]*$",
                             "1", str(int(signal.SIGINT)), "quantize", str(source), "--variants",
                             "int8-dynamic,int8-static", "--calibration", str(DIGITS / "test.npz"), "--out", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=default_sigint)
    code, err, _ = finish(proc, 120)
    assert code == 0, err
    assert {p.name for p in tmp_path.iterdir()} == {source.name, out.name}


def test_ctrl_c_during_dataset_build_says_interrupted(tmp_path: Path) -> None:
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    for label in ("a", "b"):
        (tmp_path / "images" / label).mkdir(parents=True)
        for n in range(200):  # noise: every image takes its time to decode
            Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(
                tmp_path / "images" / label / f"{n}.png")
    proc = start_cli("dataset", "build", tmp_path / "images", "-o", tmp_path / "d.npz", "--resize", "32x32")
    maps = Path(f"/proc/{proc.pid}/maps")
    deadline = time.monotonic() + 60
    while "_imaging" not in maps.read_text():  # Pillow is loaded: the images are being decoded
        assert proc.poll() is None and time.monotonic() < deadline, "dataset build never started decoding"
        time.sleep(0.01)
    proc.send_signal(signal.SIGINT)
    code, err, _ = finish(proc, 60)
    assert code == 130, err
    one_error_line(err, "interrupted")
    assert not (tmp_path / "d.npz").exists()
