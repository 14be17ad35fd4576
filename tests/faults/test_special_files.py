"""A --devices-from file that is a FIFO, not UTF-8, or holds terminal control bytes is one line, exit 2, at once:
nothing blocks and no raw NUL or ESC reaches the terminal."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support import DIGITS


def deploy_from(devices: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "edgeprof", "deploy", "--devices-from", str(devices), "--model",
                           str(DIGITS / "digits-fp32.onnx"), "--store", str(cwd / "r.db")],
                          capture_output=True, text=True, timeout=60, cwd=cwd)


def test_a_fifo_devices_file_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "devices"
    os.mkfifo(fifo)
    started = time.monotonic()
    proc = deploy_from(fifo, tmp_path)
    assert proc.returncode == 2 and time.monotonic() - started < 30
    assert proc.stderr == f"edgeprof: error: devices file {fifo} is a FIFO, not a regular file\n"


@pytest.mark.parametrize(("content", "words"), [
    (b"pi-1\nbad\x1b[31mred\x00\n", "line 2: a control character in 'bad\\x1b[31mred\\x00'"),
    (b"[pis]\npi-\x07one\n", "line 2: a control character"),
    (b"pi-\xff\n", "is not UTF-8 text (byte 3)"),
])
def test_control_bytes_and_bad_utf8_in_a_devices_file_are_one_escaped_line(tmp_path: Path, content: bytes,
                                                                           words: str) -> None:
    devices = tmp_path / "devices"
    devices.write_bytes(content)
    proc = deploy_from(devices, tmp_path)
    assert proc.returncode == 2
    (line,) = proc.stderr.splitlines()
    assert words in line and line.isprintable()
    assert not (tmp_path / "r.db").exists()
