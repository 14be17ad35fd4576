"""One generation on the emulated board: SmolLM2-135M through llama.cpp built for aarch64, deployed over SSH.

PyPI has no aarch64 wheel of llama-cpp-python and building it under TCG takes hours, so `scripts/setup_generative.sh
--board` cross-compiles it on the host; scripts/emulated_stage.sh passes the folder of the board's wheels
(EDGEPROF_TEST_BOARD_WHEELS) and the GGUF (EDGEPROF_TEST_GGUF). The wheels go into a virtualenv on the running board
(with the system site packages: the image's numpy), which the board's throw-away overlay drops at power-off: the
image, and so its cache key, stays as it is, and the other tests see the board's Python as built."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from edgeprof.devices import load_profile
from edgeprof.transport import open_transport
from tests.emulated.test_qemu_pi4 import qemu_pi4, sha256  # noqa: F401 (the fixture)

pytestmark = pytest.mark.emulated

VENV = "~/edgeprof-llama"
# Run by the board's python3: a virtualenv without pip (Debian leaves ensurepip out) whose site-packages the wheels
# are unpacked into (none of them has scripts or data to install); prints the virtualenv's interpreter.
INSTALL = """
import os, sys, venv, zipfile
root = os.path.expanduser(sys.argv[1])
venv.EnvBuilder(system_site_packages=True, clear=True, symlinks=True).create(root)
site = os.path.join(root, "lib", "python%d.%d" % sys.version_info[:2], "site-packages")
for wheel in sys.argv[2:]:
    with zipfile.ZipFile(wheel) as z:
        z.extractall(site)
print(os.path.join(root, "bin", "python3"))
"""
# The bounded run: one short prompt, 4 tokens, one timed answer, one context depth, a one-sentence perplexity text.
# One thread: ggml's threads wait for each other by spinning, which on vCPUs that share two busy host cores made
# a token take 17.0 s with the profile's 4 threads against 3.7 s with one (p50; TCG, host load average ~10).
SETTINGS = ["--threads", "1", "--max-tokens", "4", "--max-runs", "1", "--max-seconds", "5", "--context", "8",
            "--power-seconds", "0"]
PASSAGE = "The sun rises in the east and sets in the west."


@pytest.fixture(scope="module")
def board_env(qemu_pi4: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:  # noqa: F811
    """The environment whose `--device qemu-pi4` runs the agent with the board's llama.cpp virtualenv."""
    folder = os.environ.get("EDGEPROF_TEST_BOARD_WHEELS", "")
    wheels = sorted(Path(folder).glob("*.whl")) if folder else []
    if not any(w.name.startswith("llama_cpp_python-") for w in wheels):
        pytest.fail("no aarch64 llama-cpp-python: run these tests through scripts/emulated_stage.sh "
                    "(scripts/setup_generative.sh --board)")
    profile = load_profile(qemu_pi4)
    with open_transport(qemu_pi4, profile.kind, profile.connection) as transport:
        remote = [transport.put_file(w, sha256(w), ".whl").remote_path for w in wheels]
        proc = transport.run(["python3", "-c", INSTALL, VENV, *remote], timeout=300)
    assert proc.exit_code == 0, proc.stderr[-2000:]
    profiles = tmp_path_factory.mktemp("profiles")  # the shipped profile, its interpreter changed (key by key)
    (profiles / f"{qemu_pi4}.toml").write_text(f'[connection]\npython = "{proc.stdout.split()[-1]}"\n')
    path = os.pathsep.join(filter(None, [os.environ.get("EDGEPROF_DEVICE_PATH"), str(profiles)]))
    return {**os.environ, "EDGEPROF_DEVICE_PATH": path}


def test_one_generation_on_the_board_is_measured_and_marked_emulated(
        qemu_pi4: str, board_env: dict[str, str], tmp_path: Path) -> None:  # noqa: F811
    model = Path(os.environ.get("EDGEPROF_TEST_GGUF", ""))
    if not model.is_file():
        pytest.fail("no SmolLM2 GGUF: run these tests through scripts/emulated_stage.sh")
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text('{"prompt": "Name a colour."}\n')
    passage = tmp_path / "passage.txt"
    passage.write_text(PASSAGE)
    proc = subprocess.run([sys.executable, "-m", "edgeprof", "deploy", "--device", qemu_pi4, "--model", str(model),
                           "--prompts", str(prompts), "--perplexity-text", str(passage), *SETTINGS,
                           "-c", "generation.tpot_p95_ms<=1", "--store", str(tmp_path / "r.db"), "--json"],
                          capture_output=True, text=True, timeout=1500, env=board_env)
    assert proc.returncode == 0, proc.stderr[-2000:]  # the TPOT no board reaches is only informational here
    (result,) = json.loads(proc.stdout)
    assert result["status"] == "ok", result["error"]
    assert result["system"]["machine"] == "aarch64" and result["device_info"]["emulated"] == "qemu-tcg"
    assert result["runtime"]["name"] == "llama.cpp" and result["model"]["format"] == "gguf"
    gen = result["generation"]
    assert gen["method"] == "emulated:qemu-tcg" and gen["prompts"]["source"] == "spec"
    assert gen["prompts_run"] == 1 and gen["stop_reason"] == "max_runs" and result["runtime"]["threads"]["batch"] == 1
    assert 1 <= gen["first"]["tokens"] <= 4 and 1 <= gen["tokens_decoded"] <= 4 and gen["sample_output"]
    for name in ("ttft", "tpot", "e2e"):  # TPOT: each token of the timed answer after its first
        assert gen[name] and 0 < gen[name]["p50_ms"] <= gen[name]["p95_ms"], name
    assert [row["tokens"] for row in gen["context"]] == [8] and gen["context"][0]["rss_mb"] > 0
    quality = gen["quality"]
    assert quality["text"] == "spec" and quality["perplexity_tokens"] >= 10
    assert 1 < quality["perplexity"] < 100  # plain English to a working model; broken ARM kernels give thousands
    (verdict,) = [v for v in result["verdicts"] if v["constraint"] == "generation.tpot_p95_ms"]
    assert verdict["status"] == "informational" and verdict["method"] == "emulated:qemu-tcg"
