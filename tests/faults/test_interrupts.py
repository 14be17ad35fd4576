"""Ctrl-C (or SIGTERM) in the commands that run no agent (quantize, dataset build): exit 130 with 'edgeprof:
interrupted' on stderr, and no variant left behind without its manifest entry."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from tests.faults.test_deploy_faults import MOBILENET, start_cli, wait_for
from tests.faults.test_network_faults import finish, one_error_line


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_stopping_quantize_leaves_no_unrecorded_variant(tmp_path: Path, stop: int) -> None:
    out = tmp_path / "variants"
    proc = start_cli("quantize", MOBILENET, "--variants", "fp16,int8-dynamic", "--out", out)
    wait_for(lambda: (out / "mobilenetv2-fp16.onnx").exists(), 120, "the fp16 variant")
    proc.send_signal(stop)
    code, err, _ = finish(proc, 60)
    if code == 0:  # it finished first: every variant it wrote is recorded
        assert (out / "manifest.json").is_file()
        return
    assert code == 130, err
    one_error_line(err, "interrupted")
    assert not (out / "manifest.json").exists() and not list(out.glob("*.onnx"))


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
