"""The emulated board for real: qemu-pi4 booted under QEMU, reached over SSH like a Pi (marker `emulated`).

Run by scripts/emulated_stage.sh, which builds or reuses the image (EDGEPROF_CACHE) and boots the VM first.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from edgeprof.devices import load_profile
from edgeprof.emulate import vm
from edgeprof.emulate.image import image_for
from edgeprof.emulate.paths import emulate_dir, relocated
from edgeprof.emulate.recipe import RECIPES
from edgeprof.errors import DeviceError
from edgeprof.transport import open_transport
from tests.support import DIGITS

pytestmark = pytest.mark.emulated

HERE = Path(__file__).resolve().parent
FAST = ["--min-runs", "10", "--max-seconds", "2", "--power-seconds", "0"]
VARIANTS = ["digits-fp32.onnx", "digits-int8-static.onnx", "digits-int8-dynamic.onnx", "digits-int8-static.tflite"]


def boot(name: str) -> tuple[str, bool]:
    """Boot a device's VM unless it runs; make `--device name` resolve with a relocated cache too."""
    if not image_for(RECIPES["qemu-pi4"]).complete():
        pytest.fail("no qemu-pi4 image in EDGEPROF_CACHE: run scripts/emulated_stage.sh (or `edgeprof emulate build`)")
    _, already = vm.up(name)
    if relocated():
        vm.write_profile_override(load_profile(name))
        os.environ["EDGEPROF_DEVICE_PATH"] = str(emulate_dir() / "devices")
    return name, already


@pytest.fixture(scope="session")
def qemu_pi4() -> Iterator[str]:
    name, already = boot("qemu-pi4")
    yield name
    if not already:
        vm.down(name)


def edgeprof(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "edgeprof", *map(str, args)], capture_output=True, text=True,
                          timeout=900)


def deploy(device: str, models: list[str], store: Path) -> list[dict]:
    proc = edgeprof("deploy", "--device", device, *[a for m in models for a in ("--model", DIGITS / m)],
                    "--dataset", DIGITS / "test.npz", *FAST, "--store", store, "--json")
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_ssh_reaches_the_guest_with_host_key_checking(qemu_pi4: str, tmp_path: Path) -> None:
    profile = load_profile(qemu_pi4)
    with open_transport(qemu_pi4, profile.kind, profile.connection) as transport:
        assert transport.run(["uname", "-m"], timeout=60).stdout.strip() == "aarch64"
    assert profile.connection is not None and profile.connection.known_hosts is not None
    recorded = Path(profile.connection.known_hosts).expanduser().read_text().split()
    wrong = tmp_path / "known_hosts"  # the right host, another key: must be refused
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "k")], check=True)
    kind, blob = (tmp_path / "k.pub").read_text().split()[:2]
    wrong.write_text(f"{recorded[0]} {kind} {blob}\n")
    with pytest.raises(DeviceError, match="host key .* has changed"):
        open_transport(qemu_pi4, profile.kind, profile.connection, known_hosts=wrong).connect()


def test_guest_runtimes_give_the_host_outputs(qemu_pi4: str) -> None:
    models = [DIGITS / "digits-fp32.onnx", DIGITS / "digits-int8-static.onnx", DIGITS / "digits-int8-static.tflite"]
    files = [HERE / "model_outputs.py", DIGITS / "test.npz", *models]
    host = subprocess.run([sys.executable, *map(str, files[:2]), "32", *map(str, models)], capture_output=True,
                          text=True, check=True).stdout
    profile = load_profile(qemu_pi4)
    with open_transport(qemu_pi4, profile.kind, profile.connection) as transport:
        remote = [transport.put_file(f, sha256(f), f.suffix).remote_path for f in files]
        proc = transport.run(["python3", remote[0], remote[1], "32", *remote[2:]], timeout=300)
    assert proc.exit_code == 0, proc.stderr[-2000:]
    ours, theirs = json.loads(host), json.loads(proc.stdout.strip().splitlines()[-1])
    for model, remote_path in zip(models, remote[2:]):
        want, got = np.array(ours[model.name]), np.array(theirs[remote_path.rsplit("/", 1)[-1]])
        assert got.shape == want.shape == (32, 10)
        assert np.array_equal(got.argmax(1), want.argmax(1)), model.name
        assert np.allclose(got, want, rtol=1e-4, atol=1e-5), (model.name, float(np.abs(got - want).max()))


def test_deploy_digits_variants_matches_host_accuracy_with_emulated_labels(qemu_pi4: str, tmp_path: Path) -> None:
    emulated = deploy(qemu_pi4, VARIANTS, tmp_path / "r.db")
    host = deploy("local", VARIANTS, tmp_path / "host.db")
    assert [r["model"]["variant"] for r in emulated] == [r["model"]["variant"] for r in host]
    for ours, theirs in zip(emulated, host):
        assert ours["status"] == "ok" and ours["device_info"]["emulated"] == "qemu-tcg"
        assert ours["system"]["machine"] == "aarch64"
        assert ours["latency"]["method"] == "emulated:qemu-tcg"
        assert abs(ours["accuracy"]["top1"] - theirs["accuracy"]["top1"]) <= 1 / 360 + 1e-9, ours["model"]
        verdicts = {v["constraint"]: v for v in ours["verdicts"]}
        assert verdicts["latency.p95_ms"]["status"] == "informational"
        assert verdicts["memory.peak_rss_mb"]["status"] == "pass"
        assert verdicts["accuracy.top1"]["status"] == "pass"


def test_icount_timing_repeats_between_runs(qemu_pi4: str, tmp_path: Path) -> None:
    name, already = boot("qemu-pi4-icount")
    try:
        runs = [deploy(name, ["digits-int8-static.onnx"], tmp_path / "r.db")[0]["latency"] for _ in range(2)]
    finally:
        if not already:
            vm.down(name)
    assert {r["method"] for r in runs} == {"emulated:qemu-icount"}
    first, second = (r["p50_ms"] for r in runs)
    assert abs(first - second) <= 0.02 * first, runs
