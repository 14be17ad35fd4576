"""Bad input and the results store: quoting everywhere, clear lines before anything runs, serialised writers."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from edgeprof.store.sqlite import SQLiteStore as ResultStore
from tests.support import DIGITS, REPO, store_rows, trust_loopback_host, write_loopback_profile

FP32 = DIGITS / "digits-fp32.onnx"
FAST = ["--min-runs", "10", "--max-runs", "50", "--min-seconds", "0", "--max-seconds", "0.3", "--power-seconds", "0"]


def edgeprof(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "edgeprof", *map(str, args)], capture_output=True, text=True,
                          timeout=180)


@pytest.mark.ssh
def test_shell_metacharacters_in_paths_and_work_dir_do_nothing(tmp_path: Path, sshd: dict[str, str],
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    token = f"pwned-{tmp_path.name}"
    marker = tmp_path / token
    nasty_dir = tmp_path / f"models $(touch {token}) 'q\" ; touch {token}"
    nasty_dir.mkdir()
    model = nasty_dir / "digits-fp32.onnx"
    model.write_bytes(FP32.read_bytes())
    profiles = tmp_path / "profiles"
    profile = write_loopback_profile(profiles, sshd, known_hosts=trust_loopback_host(tmp_path / "kh", sshd))
    work = tmp_path / f"work dir; touch {marker}"
    profile.write_text(profile.read_text().replace(f'work_dir = "{profiles / "remote-work"}"',
                                                   f'work_dir = "{work}"'))
    monkeypatch.setenv("EDGEPROF_DEVICE_PATH", str(profiles))
    proc = edgeprof("deploy", "--device", "loop", "--model", model, *FAST, "--store", tmp_path / "r.db")
    assert proc.returncode == 0, proc.stderr
    for place in (tmp_path, Path.cwd(), Path.home(), Path("/root"), Path("/")):
        assert not (place / token).exists()
    assert not marker.exists()
    assert (work / "blobs").is_dir() and oct((work).stat().st_mode)[-3:] == "700"


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p.write_bytes(b""), "not an ONNX, TFLite or GGUF model"),
        (lambda p: p.write_bytes(b"hello world, not a model"), "not an ONNX, TFLite or GGUF model"),
        (lambda p: p.write_bytes(FP32.read_bytes()[: FP32.stat().st_size // 2]), "truncated or corrupt ONNX"),
    ],
)
def test_bad_model_files_are_refused_on_the_host(tmp_path: Path, make, message: str) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "model.onnx"
    make(bad)
    proc = edgeprof("deploy", "--model", bad, "--store", tmp_path / "r.db")
    assert proc.returncode == 2
    assert message in proc.stderr and str(bad) in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_wrong_format_for_its_extension(tmp_path: Path) -> None:
    disguised = tmp_path / "model.tflite"
    disguised.write_bytes(FP32.read_bytes())
    proc = edgeprof("deploy", "--model", disguised, "--store", tmp_path / "r.db")
    assert proc.returncode == 2 and "the file is ONNX" in proc.stderr


def test_dataset_that_does_not_match_the_model(tmp_path: Path) -> None:
    bad = tmp_path / "bad.npz"
    np.savez(bad, x=np.zeros((10, 3, 3), np.float32), y=np.zeros(10, np.int64))
    proc = edgeprof("deploy", "--model", FP32, "--dataset", bad, "--store", tmp_path / "r.db")
    assert proc.returncode == 2
    assert "'x' has shape [10, 3, 3]" in proc.stderr and "Traceback" not in proc.stderr
    assert store_rows(tmp_path / "r.db") == 0


def test_unusable_store_fails_before_measuring(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    proc = edgeprof("deploy", "--model", FP32, *FAST, "--store", blocker / "r.db")
    assert proc.returncode == 2  # a store is configuration
    assert "cannot open results store" in proc.stderr and "Traceback" not in proc.stderr


def test_concurrent_writers_are_serialised(tmp_path: Path) -> None:
    path = tmp_path / "r.db"
    ResultStore(path).close()
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            with ResultStore(path) as db:
                for i in range(20):
                    db.save_run([{"device": f"d{n}", "model": {"name": "m", "variant": str(i), "path": "m.onnx"},
                                  "payload": "x" * 2000}], command=f"writer {n}")
        except BaseException as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    with ResultStore(path) as db:
        assert len(db.list_runs(limit=1000)) == 80 and len(db.query()) == 80


def test_secrets_in_a_power_command_never_reach_results_or_errors(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "tok_9f8e7d6c5b4a"
    profiles = tmp_path / "profiles"
    profiles.mkdir()
    local = (REPO / "device_profiles" / "local.toml").read_text()
    local = local.replace('method = "rapl"', f'method = "command"\ncommand = "/bin/false --token {secret}"\n'
                                              "idle_w = 1.0\nmax_w = 2.0")
    (profiles / "metered.toml").write_text(local)
    monkeypatch.setenv("EDGEPROF_DEVICE_PATH", str(profiles))
    proc = edgeprof("deploy", "--device", "metered", "--model", FP32, *FAST[:-2], "--power-seconds", "0.3",
                    "--json", "--store", tmp_path / "r.db")
    assert proc.returncode in (0, 1), proc.stderr
    (result,) = json.loads(proc.stdout)
    assert result["power"]["method"] == "estimate:utilisation" and result["power"]["fallback_reason"]
    assert secret not in proc.stdout and secret not in proc.stderr
    assert secret not in (tmp_path / "r.db").read_bytes().decode(errors="replace")
