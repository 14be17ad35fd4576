"""What every transport must do the same way: literal argv, streaming, stdin EOF, kill, cached verified uploads."""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import sys
import time
from pathlib import Path

import pytest

from edgeprof.errors import ConfigError, DeviceError
from edgeprof.transport import Transport

PY = sys.executable


def _alive(token: str) -> bool:
    """Whether a process with `token` in its command line runs on this machine (the loopback 'device')."""
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if token.encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
                return True
        except OSError:
            continue
    return False


def _blob(tmp_path: Path, size: int = 300_000) -> tuple[Path, str]:
    path = tmp_path / "model.onnx"
    path.write_bytes(secrets.token_bytes(size))
    return path, hashlib.sha256(path.read_bytes()).hexdigest()


def test_argv_arrives_literally_and_nothing_is_injected(any_transport: Transport, tmp_path: Path) -> None:
    marker = tmp_path / f"pwned-{secrets.token_hex(4)}"
    args = ["two words", "it's", 'say "hi"', f"x; touch {marker}", f"$(touch {marker})", f"`touch {marker}`",
            "*", "$HOME", "a\\nb", "", "-c"]
    result = any_transport.run([PY, "-c", "import json,sys; print(json.dumps(sys.argv[1:]))", *args], timeout=30)
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == args
    assert not marker.exists()


def test_exit_code_and_stderr_come_back(any_transport: Transport) -> None:
    result = any_transport.run([PY, "-c", "import sys; sys.stderr.write('bad thing\\n'); sys.exit(7)"], timeout=30)
    assert (result.exit_code, result.stdout, result.stderr) == (7, "", "bad thing\n")


def test_a_signal_death_is_reported_as_minus_the_signal(any_transport: Transport) -> None:
    proc = any_transport.start([PY, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGKILL)"])
    assert proc.wait(10) == -9
    proc.kill()


def test_run_gives_the_command_no_stdin(any_transport: Transport) -> None:
    result = any_transport.run([PY, "-c", "import sys; print(repr(sys.stdin.read()))"], timeout=30)
    assert result.stdout.strip() == "''"


def test_run_timeout_kills_the_command(any_transport: Transport) -> None:
    token = f"sleeper-{secrets.token_hex(4)}"
    started = time.monotonic()
    with pytest.raises(DeviceError, match="timed out after 1 s"):
        any_transport.run([PY, "-c", f"import time; time.sleep(60)  # {token}"], timeout=1)
    assert time.monotonic() - started < 10
    deadline = time.monotonic() + 5
    while _alive(token) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(token)


def test_start_streams_lines_and_stdin_eof_ends_the_process(any_transport: Transport) -> None:
    echo = ("import sys\nprint('ready', flush=True)\n"
            "for line in sys.stdin: print(line.strip().upper(), flush=True)\n"
            "sys.stderr.write('bye\\n')")
    with any_transport.start([PY, "-u", "-c", echo]) as proc:
        lines = proc.lines()
        assert next(lines) == "ready"  # arrived before we sent anything: streamed, not buffered to the end
        proc.write_line("hello there")
        assert next(lines) == "HELLO THERE"
        proc.close_stdin()
        assert list(lines) == []
        assert proc.wait(10) == 0
        assert proc.stderr_text() == "bye\n"


def test_kill_stops_a_process_that_ignores_eof(any_transport: Transport) -> None:
    token = f"stubborn-{secrets.token_hex(4)}"
    proc = any_transport.start([PY, "-c", f"import time; print('up', flush=True); time.sleep(60)  # {token}"])
    assert next(proc.lines()) == "up"
    assert _alive(token)
    proc.kill()
    deadline = time.monotonic() + 5
    while _alive(token) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(token)


def test_put_file_uploads_once_then_reuses_the_verified_blob(any_transport: Transport, tmp_path: Path) -> None:
    local, digest = _blob(tmp_path)
    first = any_transport.put_file(local, digest, ".onnx")
    assert first.bytes_sent == local.stat().st_size
    assert first.remote_path == f"{any_transport.work_dir}/blobs/{digest}.onnx"
    assert Path(first.remote_path).read_bytes() == local.read_bytes()
    assert oct(Path(any_transport.work_dir).stat().st_mode & 0o777) == "0o700"
    second = any_transport.put_file(local, digest, ".onnx")
    assert second == type(first)(first.remote_path, 0)


def test_a_corrupted_blob_is_not_reused(any_transport: Transport, tmp_path: Path) -> None:
    local, digest = _blob(tmp_path)
    remote = Path(any_transport.put_file(local, digest).remote_path)
    remote.write_bytes(b"bit rot" + local.read_bytes()[7:])
    again = any_transport.put_file(local, digest)
    assert again.bytes_sent == local.stat().st_size
    assert remote.read_bytes() == local.read_bytes()


def test_a_hash_mismatch_keeps_nothing(any_transport: Transport, tmp_path: Path) -> None:
    local, _ = _blob(tmp_path)
    wrong = hashlib.sha256(b"something else").hexdigest()
    with pytest.raises(DeviceError, match="model.onnx"):
        any_transport.put_file(local, wrong)
    assert os.listdir(Path(any_transport.work_dir) / "blobs") == []


@pytest.mark.parametrize("relative", ["../outside", "blobs/../../x", "/etc/passwd", "a//b", "./x", "x/.."])
def test_remote_paths_stay_inside_the_work_dir(any_transport: Transport, relative: str) -> None:
    with pytest.raises(ConfigError, match="inside the work dir"):
        any_transport.remote_path(relative)


def test_blob_names_must_be_hashes(any_transport: Transport) -> None:
    with pytest.raises(ConfigError, match="unsafe"):
        any_transport.blob_path("../../etc/passwd")
    with pytest.raises(ConfigError, match="unsafe"):
        any_transport.blob_path("a" * 64, "/../x")
