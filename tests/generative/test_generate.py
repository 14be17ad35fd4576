"""Real generation with llama.cpp and SmolLM2-135M: deploy on the local device and over the loopback sshd, the
verdicts on the generation metrics, a q8_0 variant from llama.cpp's quantize, and the agent's imports for a GGUF run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from edgeprof.artifacts import load_artifact
from edgeprof.store.sqlite import SQLiteStore
from tests.agent.conftest import spec_for
from tests.agent.test_isolation import STDLIB_PROBES, agent_imports, bare_site

pytestmark = pytest.mark.generative

OPTIONAL_PROBES = {"django"}  # diskcache (a llama-cpp-python requirement) tries it and goes on without it
FAST = ["--min-seconds", "0.2", "--max-seconds", "3", "--power-seconds", "0.5", "--max-tokens", "8",
        "--context", "64,256"]


def edgeprof(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "edgeprof", *map(str, args)], capture_output=True, text=True,
                          timeout=600)


def deploy_json(*args: str | Path) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    proc = edgeprof("deploy", "--json", *FAST, *args)
    assert proc.stdout.strip(), proc.stderr
    (result,) = json.loads(proc.stdout)
    return proc, result


@pytest.fixture(scope="session")
def q8_0(smollm: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The q8_0 variant of SmolLM2, made by llama.cpp's quantize and recorded in the manifest."""
    out = tmp_path_factory.mktemp("variants")
    proc = edgeprof("quantize", smollm, "--variants", "q8_0", "--out", out)
    assert proc.returncode == 0, proc.stderr
    return out / f"{smollm.stem}-q8_0.gguf"


def check_generation(result: dict[str, Any], prompts: int, text: str, max_tokens: int = 8, *, fmt: str = "gguf",
                     runtime: str = "llama.cpp") -> dict[str, Any]:
    """What every generation Result holds, consistent with itself."""
    assert result["status"] == "ok", result["error"]
    assert result["model"]["format"] == fmt and result["runtime"]["name"] == runtime
    gen = result["generation"]
    assert gen["method"] == "measured" and gen["load_ms"] > 0 and gen["prompts"]["count"] == prompts
    assert gen["stop_reason"] in ("precision", "max_runs", "max_seconds") and gen["prompts_run"] >= 1
    for name in ("ttft", "tpot", "e2e"):
        figures = gen[name]
        assert 0 < figures["p50_ms"] <= figures["p95_ms"] <= figures["p99_ms"], name
    assert gen["ttft"]["ci"]["confidence"] == 0.95
    assert gen["tokens_decoded"] <= gen["prompts_run"] * max_tokens
    assert gen["decode_tokens_per_s"] == pytest.approx(1000 / gen["tpot"]["mean_ms"], rel=1e-6)
    assert gen["prefill_tokens_per_s"] > 0
    assert [row["tokens"] for row in gen["context"]] == [64, 256]
    assert all(row["rss_mb"] > 0 and row["prefill_ms"] > 0 and row["decode_ms"] > 0 for row in gen["context"])
    assert 1 < gen["quality"]["perplexity"] < 1000 and gen["quality"]["text"] == text
    assert gen["sample_output"]
    assert result["memory"]["peak_rss_mb"] > result["memory"]["baseline_rss_mb"]
    return gen


def test_generation_on_the_local_device_judged_and_stored(smollm: Path, tmp_path: Path) -> None:
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text('{"prompt": "What is the capital of France?"}\n"Count from one to five."\n')
    passage = tmp_path / "passage.txt"
    passage.write_text("The river flows past the old mill, and in spring the water rises over the stones. " * 4)
    store = tmp_path / "r.db"
    proc, result = deploy_json("--model", smollm, "--prompts", prompts, "--perplexity-text", passage, "--store", store,
                               "-c", "generation.ttft_p95_ms<=60000", "-c", "generation.tpot_p95_ms<=0.001",
                               "-c", "generation.decode_tokens_per_s>=1e9", "-c", "generation.perplexity<=1000",
                               "-c", "generation.energy_mj_per_token<=1000000")
    assert proc.returncode == 1, (proc.stderr, result["error"])  # the decode speed no model reaches
    gen = check_generation(result, prompts=2, text="spec")
    assert gen["quality"]["perplexity_tokens"] < 256 and gen["prompts"]["format"] == "chat template"
    assert gen["prompts"]["source"] == "spec" and gen["quality"]["reference"] is None
    verdicts = {v["constraint"]: v for v in result["verdicts"]}
    assert verdicts["generation.decode_tokens_per_s"]["status"] == "fail"
    # a p95 is decided only by its interval (distribution-free: ~60 samples at least), as latency's is
    for name, section, decided in (("generation.tpot_p95_ms", "tpot", "fail"),
                                   ("generation.ttft_p95_ms", "ttft", "pass")):
        verdict, ci = verdicts[name], gen[section]["ci"]["p95"]
        assert verdict["value"] == gen[section]["p95_ms"] and verdict["method"] == "measured"
        assert (verdict["status"], verdict["detail"]) == ((decided, "") if ci else
                                                          ("inconclusive", "too few samples for a confidence interval"))
    assert verdicts["generation.perplexity"]["status"] == "pass"
    energy = verdicts["generation.energy_mj_per_token"]
    power = result["power"] or {"method": "none"}
    assert energy["method"] == power["method"]
    assert energy["status"] == ("not measured" if power["method"] == "none" else "pass")
    with SQLiteStore(store, create=False) as db:
        (run,) = db.list_runs()
        assert db.load_run(run.run_id)[0]["generation"]["ttft"] == gen["ttft"]
    table = edgeprof("deploy", *FAST, "--model", smollm, "--prompts", prompts, "--store", store)
    assert table.returncode == 0, table.stderr
    assert "TTFT p50" in table.stdout and "TPOT p50" in table.stdout and "decode" in table.stdout


def test_quantized_variant_records_its_source_in_the_manifest(smollm: Path, q8_0: Path) -> None:
    artifact = load_artifact(q8_0)
    assert (artifact.format, artifact.variant) == ("gguf", "q8_0")
    entry = artifact.manifest
    assert entry["method"] == "llama.cpp quantize q8_0" and entry["parameters"]["ftype"] == "LLAMA_FTYPE_MOSTLY_Q8_0"
    assert entry["source_sha256"] == load_artifact(smollm).sha256 and "llama-cpp-python" in entry["tools"]
    assert q8_0.read_bytes()[:4] == b"GGUF" and q8_0.stat().st_size > smollm.stat().st_size  # 8 bits vs ~4.5


@pytest.mark.ssh
def test_generation_over_ssh_agrees_with_its_source(loopback_device: str, q8_0: Path) -> None:
    proc, result = deploy_json("--device", loopback_device, "--model", q8_0, "--store", q8_0.parent / "r.db")
    assert proc.returncode == 0, (proc.stderr, result["error"])
    assert result["device"] == "loop" and result["transfer"]["bytes_sent"] >= q8_0.stat().st_size
    gen = check_generation(result, prompts=8, text="shipped")
    assert gen["prompts"]["source"] == "shipped"
    reference = gen["quality"]["reference"]
    assert reference["prompts"] == 8 and reference["meaningful"] is True
    assert 0 <= reference["exact_match"] <= reference["token_agreement"] <= 1
    assert reference["reference_perplexity"] > 1
    assert gen["energy"]["method"].startswith("estimate") and gen["energy"]["mj_per_token"] > 0


def foreign_imports(spec: dict[str, Any], dists: tuple[str, ...], root: Path) -> tuple[set[str], list[str]]:
    """Run the agent on `spec` with only `dists` and what they require on its path (`root`, a bare_site): the
    top-level modules it imported, and those outside the stdlib and these distributions."""
    allowed = bare_site(root, dists)
    imported = agent_imports(spec, root, timeout=300)
    foreign = sorted(imported - set(sys.stdlib_module_names) - allowed - STDLIB_PROBES - OPTIONAL_PROBES
                     - {"edgeprof_agent", "__main__", ""})
    return imported, foreign


def test_agent_imports_only_llama_cpp_and_its_requirements_for_a_gguf_run(smollm: Path, tmp_path: Path) -> None:
    spec = spec_for(smollm, generation={"max_tokens": 4, "contexts": [32], "prompts": ["Hi"],
                                         "perplexity_tokens": 32})
    imported, foreign = foreign_imports(spec, ("numpy", "psutil", "llama-cpp-python"), tmp_path / "bare-site")
    assert not foreign, f"a GGUF run imported modules outside stdlib/numpy/psutil/llama_cpp: {foreign}"
    assert "llama_cpp" in imported and "onnxruntime" not in imported


def test_watch_runs_a_language_model_on_the_users_prompts(smollm: Path, tmp_path: Path) -> None:
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text('{"prompt": "Name a colour."}\n')
    store = tmp_path / "r.db"
    proc = edgeprof("watch", "--device", "local", "--model", smollm, "--every", "1s", "--runs", "1",
                    "--max-seconds", "3", "--power-seconds", "0", "--prompts", prompts,
                    "--max-tokens", "4", "--context", "64", "--store", store)
    assert proc.returncode in (0, 1), proc.stderr
    with SQLiteStore(store, create=False) as db:
        (run,) = db.list_runs()
        gen = db.load_run(run.run_id)[0]["generation"]
    assert gen["prompts"]["source"] == "spec" and gen["prompts"]["count"] == 1
    assert [row["tokens"] for row in gen["context"]] == [64]
