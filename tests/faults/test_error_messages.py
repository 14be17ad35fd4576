"""Clear lines where a library's words or a raw warning came through: a watch interval past what the clock can
sleep, an identity that is a folder, a remote work dir that cannot be made, Pillow's decompression-bomb warning,
and no blank line from the progress display before an error."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.faults.test_bad_input_cli import one_error_line, run_cli
from tests.faults.test_deploy_faults import start_cli
from tests.faults.test_inputs_and_store import FAST, FP32
from tests.faults.test_network_faults import finish, proxied_device
from tests.faults.test_network_faults import one_error_line as only_line
from tests.support import store_rows
from tests.tcp_proxy import TcpProxy
from tests.transport.tmpfs import small_tmpfs


def test_a_watch_interval_beyond_a_year_is_refused_before_the_first_run(tmp_path: Path) -> None:
    store = tmp_path / "r.db"
    proc = run_cli("watch", "-m", FP32, "--every", "999999999999d", "--max-seconds", "0.3", "--power-seconds", "0",
                   "--store", store)
    one_error_line(proc, 2, "--every '999999999999d'", "at most 366d")
    assert store_rows(store) == 0


@pytest.mark.ssh
def test_an_identity_that_is_a_folder_says_so(tmp_path: Path, loopback_device: str) -> None:
    proc = run_cli("deploy", "-d", loopback_device, "--identity", tmp_path, "-m", FP32, *FAST,
                   "--store", tmp_path / "r.db")
    one_error_line(proc, 2, f"{tmp_path} is a directory, not a key file")


@pytest.mark.ssh
def test_a_work_dir_on_a_read_only_file_system_says_so(tmp_path: Path, sshd: dict[str, str],
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    with small_tmpfs(tmp_path / "ro", "ro,size=1m") as read_only:
        proxy = TcpProxy(int(sshd["EDGEPROF_TEST_SSH_PORT"]))
        proxied_device(tmp_path, sshd, proxy, monkeypatch, work_dir=str(read_only / "work"))
        code, err, _ = finish(start_cli("deploy", "-d", "net", "-m", FP32, "--store", tmp_path / "r.db"), 60)
        proxy.close()
    assert code == 3, err
    only_line(err, "device 'net'", "cannot create work dir", f"mkdir {read_only}/work refused",
              f"is {read_only} read-only or not writable")


def test_pillows_decompression_bomb_warning_is_one_line(tmp_path: Path) -> None:
    from PIL import Image

    for name, size in (("big", (9500, 9500)), ("small", (8, 8))):  # 90.25 Mpx: past Pillow's 89.5 Mpx warning
        (tmp_path / "images" / name).mkdir(parents=True)
        Image.new("L", size).save(tmp_path / "images" / name / f"{name}.png")
    proc = run_cli("dataset", "build", tmp_path / "images", "-o", tmp_path / "d.npz", "--resize", "8x8",
                   "--color", "gray")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.splitlines() == ["edgeprof: warning: Image size (90250000 pixels) exceeds limit of 89478485 "
                                        "pixels, could be decompression bomb DOS attack."]


def test_no_blank_line_before_an_error_raised_while_deploying(tmp_path: Path) -> None:
    (tmp_path / "store").mkdir()  # a folder where the SQLite file should be
    proc = run_cli("deploy", "-m", FP32, *FAST, "--store", tmp_path / "store")
    assert proc.returncode != 0
    assert proc.stderr.startswith("edgeprof: error: "), proc.stderr
