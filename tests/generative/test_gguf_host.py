"""GGUF models without llama.cpp: detection by magic, the generation options' bad input, a device without the
runtime, greedy-answer agreement, the new constraint names and which sibling a variant's agreement is measured
against. Runs in the default stage."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

from edgeprof.agent.generation import agreement
from edgeprof.artifacts import MANIFEST, load_artifact, reference_for
from edgeprof.constraints import parse_constraint
from edgeprof.doctor import runtime_summary
from edgeprof.errors import ConfigError
from edgeprof.plan import Request, make_plan
from tests.agent.conftest import run_agent, spec_for
from tests.agent.test_runtime_missing import numpy_only  # noqa: F401 - the fixture

GGUF_HEAD = b"GGUF" + (3).to_bytes(4, "little") + bytes(16)  # magic, version 3, no tensors, no metadata


def fake_gguf(path: Path, body: bytes = b"") -> Path:
    path.write_bytes(GGUF_HEAD + body)
    return path


def variants_with_manifest(folder: Path, variants: tuple[str, ...], source: Path) -> dict[str, Path]:
    """GGUF files `m-<variant>.gguf` in `folder` (each its own bytes), recorded in its manifest as quantize records
    them: model `m`, the variant, sha256, and the source they were made from."""
    folder.mkdir(parents=True, exist_ok=True)
    made = {v: fake_gguf(folder / f"m-{v}.gguf", v.encode()) for v in variants}
    source_sha = load_artifact(source).sha256
    entries = [{"path": path.name, "model": "m", "variant": v, "format": "gguf", "sha256": load_artifact(path).sha256,
                "source_sha256": source_sha, "source_path": f"../{source.name}", "method": f"llama.cpp quantize {v}"}
               for v, path in made.items()]
    (folder / MANIFEST).write_text(json.dumps({"models": entries}))
    return made


def edgeprof(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "edgeprof", *map(str, args)], capture_output=True, text=True,
                          timeout=120)


def test_gguf_is_detected_by_its_magic_and_needs_its_extension(tmp_path: Path) -> None:
    artifact = load_artifact(fake_gguf(tmp_path / "tiny-q8_0.gguf"))
    assert (artifact.format, artifact.name, artifact.variant) == ("gguf", "tiny", "q8_0")
    assert artifact.inputs == [] and artifact.outputs == []
    with pytest.raises(ConfigError, match=r"the file is GGUF but its name ends in '\.onnx'"):
        load_artifact(fake_gguf(tmp_path / "tiny.onnx"))


@pytest.mark.parametrize(("content", "message"), [
    ("", "holds no prompts"),
    ('{"prompt": "hi"}\nnot json\n', "line 2: not JSON"),
    ('{"text": "hi"}\n', 'line 1: needs a non-empty string "prompt"'),
])
def test_bad_prompts_file_is_one_line_exit_2(tmp_path: Path, content: str, message: str) -> None:
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text(content)
    proc = edgeprof("deploy", "--model", fake_gguf(tmp_path / "m.gguf"), "--prompts", prompts)
    assert proc.returncode == 2, proc.stderr
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith("edgeprof: error: prompts file") and message in line


def test_empty_perplexity_text_is_one_line_exit_2(tmp_path: Path) -> None:
    empty = tmp_path / "text.txt"
    empty.write_text("  \n")
    proc = edgeprof("deploy", "--model", fake_gguf(tmp_path / "m.gguf"), "--perplexity-text", empty)
    assert proc.returncode == 2 and proc.stderr.strip() == f"edgeprof: error: perplexity text {empty} is empty"


def test_bad_context_list_is_one_line_exit_2(tmp_path: Path) -> None:
    proc = edgeprof("deploy", "--model", fake_gguf(tmp_path / "m.gguf"), "--context", "128,lots")
    assert proc.returncode == 2
    assert proc.stderr.strip() == ("edgeprof: error: --context must be positive token counts like 128,512,2048, "
                                   "got '128,lots'")


def test_device_without_llama_cpp_says_what_to_install(numpy_only: Path, tmp_path: Path) -> None:  # noqa: F811
    run = run_agent(spec_for(fake_gguf(tmp_path / "m.gguf")), python=[sys.executable, "-S"],
                    env={"PYTHONPATH": str(numpy_only), "PATH": "/usr/bin:/bin"})
    assert run.code == 1 and run.final["event"] == "error", run.final
    assert (run.final["kind"], run.final["stage"]) == ("runtime_missing", "load")
    assert "pip install llama-cpp-python" in run.final["message"]


def test_agreement_counts_matching_positions_up_to_the_first_difference() -> None:
    found = agreement([[1, 2, 3, 4], [5, 6], [7, 8]], [[1, 2, 9, 4], [5, 6], [8, 8]])
    assert found["token_agreement"] == pytest.approx((2 / 4 + 1 + 0) / 3)
    assert found["exact_match"] == pytest.approx(1 / 3) and found["meaningful"] and found["reason"] is None


@pytest.mark.parametrize(("reference", "reason"), [
    ([[4, 5], [4, 5], [4, 5]], "the same answer to all 3 prompts"),
    ([[7, 7, 7]], "repeat one token"),
])
def test_agreement_with_a_degenerate_reference_is_meaningless(reference: list[list[int]], reason: str) -> None:
    found = agreement([[4, 5]] * len(reference), reference)
    assert not found["meaningful"] and reason in found["reason"]


@pytest.mark.parametrize("metric", ["generation.ttft_p95_ms", "generation.tpot_p95_ms",
                                    "generation.decode_tokens_per_s", "generation.energy_mj_per_token",
                                    "generation.perplexity"])
def test_generation_metrics_are_constrainable(metric: str) -> None:
    op = ">=" if metric.endswith("per_s") else "<="
    assert parse_constraint(f"{metric}{op}5").metric == metric


def test_doctor_lists_the_generative_runtimes_with_versions_or_the_install_command() -> None:
    proc = edgeprof("doctor", "--json")
    runtimes = json.loads(proc.stdout)["facts"]["runtimes"]
    for dist in ("llama-cpp-python", "onnxruntime-genai", "onnxruntime"):
        assert runtimes[dist] == _installed(dist)
    assert runtime_summary({"onnxruntime": "1.32.0", "llama-cpp-python": "0.3.36", "onnxruntime-genai": None}) == (
        "onnxruntime 1.32.0, llama-cpp-python 0.3.36; not installed (pip install NAME): onnxruntime-genai")
    assert runtime_summary({"llama-cpp-python": None}) == "not installed (pip install NAME): llama-cpp-python"


def _installed(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def test_a_gguf_variants_reference_is_its_sibling_one_precision_up(tmp_path: Path) -> None:
    source = fake_gguf(tmp_path / "m.gguf", b"source")
    made = variants_with_manifest(tmp_path / "variants", ("f16", "q8_0", "q4_0", "q4_k_m"), source)
    resolved = {v: reference_for(load_artifact(path)) for v, path in made.items()}
    assert resolved == {"f16": source.resolve(), "q8_0": made["f16"].resolve(), "q4_0": made["q8_0"].resolve(),
                        "q4_k_m": made["q8_0"].resolve()}
    plan = make_plan(Request(models=[made["q4_0"]]))  # what deploy ships beside the variant
    (shipped,) = plan.references.values()
    assert (shipped.path.resolve(), shipped.variant) == (made["q8_0"].resolve(), "q8_0")
    assert make_plan(Request(models=[made["q4_0"]], with_reference=False)).references == {}
    # without its sibling on disk as recorded, a variant is compared with its source
    alone = variants_with_manifest(tmp_path / "alone", ("q8_0", "q4_0"), source)
    assert reference_for(load_artifact(alone["q8_0"])) == source.resolve()  # no f16 sibling
    alone["q8_0"].write_bytes(GGUF_HEAD + b"changed since")  # not the file the manifest records
    assert reference_for(load_artifact(alone["q4_0"])) == source.resolve()
