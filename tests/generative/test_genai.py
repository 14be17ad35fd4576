"""Real generation with ONNX Runtime GenAI on the tiny random-weight Llama the stage builds with the GenAI model
builder: deploy a model folder on the local device and over the loopback sshd (its files sent once, put together on
the device), the verdicts on the generation metrics, an int4 variant made offline from the fp32 folder, and the
agent's imports for a GenAI run. The weights are random: the perplexity is about the vocabulary's size and the
Result says so; the timings and the flow are what is tested."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edgeprof.artifacts import load_artifact
from edgeprof.store.sqlite import SQLiteStore
from tests.generative.test_generate import FAST, check_generation, deploy_json, edgeprof, foreign_imports

pytestmark = pytest.mark.generative

FILES = ["chat_template.jinja", "genai_config.json", "model.onnx", "model.onnx.data", "tokenizer.json",
         "tokenizer_config.json"]
UNTRAINED = "its weights look untrained (random), so its perplexity and answers say nothing of its quality"


@pytest.fixture(scope="session")
def int4(tiny_genai: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The int4 variant of the tiny model, made by `edgeprof quantize` from its fp32 folder and recorded in the
    manifest."""
    out = tmp_path_factory.mktemp("genai-variants")
    proc = edgeprof("quantize", tiny_genai, "--variants", "int4", "--out", out)
    assert proc.returncode == 0, proc.stderr
    return out / "tiny-llama-int4"


def check_genai(result: dict[str, object], folder: Path, prompts: int, text: str) -> dict[str, object]:
    """A GenAI folder's Result: the generation section, the model's files and the untrained-weights note."""
    gen = check_generation(result, prompts=prompts, text=text, fmt="genai", runtime="onnxruntime-genai")
    model = result["model"]
    assert [f["location"] for f in model["files"]] == FILES and model["sha256"] == load_artifact(folder).sha256
    assert model["size_bytes"] == sum((folder / name).stat().st_size for name in FILES)
    assert result["runtime"]["providers"] == ["cpu"] and result["runtime"]["n_ctx"] >= 1024
    assert gen["prompts"]["format"] == "chat template"
    quality = gen["quality"]
    assert quality["perplexity"] > 256 and UNTRAINED in quality["untrained"]  # a 512-token vocabulary
    assert any(UNTRAINED in w for w in result["warnings"])
    return gen


def test_generation_of_a_genai_folder_on_the_local_device_judged_and_stored(tiny_genai: Path,
                                                                           tmp_path: Path) -> None:
    store = tmp_path / "r.db"
    proc, result = deploy_json("--model", tiny_genai, "--store", store, "-c", "generation.ttft_p95_ms<=60000",
                               "-c", "generation.decode_tokens_per_s>=1e9", "-c", "generation.perplexity<=100")
    assert proc.returncode == 1, (proc.stderr, result["error"])  # the speed and perplexity it cannot reach
    gen = check_genai(result, tiny_genai, prompts=8, text="shipped")
    assert gen["quality"]["reference"] is None
    verdicts = {v["constraint"]: v for v in result["verdicts"]}
    assert verdicts["generation.decode_tokens_per_s"]["status"] == "fail"
    assert verdicts["generation.perplexity"]["status"] == "fail"
    assert verdicts["generation.perplexity"]["value"] == gen["quality"]["perplexity"]
    assert verdicts["generation.ttft_p95_ms"]["status"] in ("pass", "inconclusive")
    with SQLiteStore(store, create=False) as db:
        (run,) = db.list_runs()
        assert db.load_run(run.run_id)[0]["generation"]["tpot"] == gen["tpot"]
    table = edgeprof("deploy", *FAST, "--model", tiny_genai, "--store", store)
    assert table.returncode == 0, table.stderr
    assert "TTFT p50" in table.stdout and "onnxruntime-genai" in table.stdout and UNTRAINED in table.stderr


def test_int4_variant_is_made_offline_and_records_its_source(tiny_genai: Path, int4: Path) -> None:
    artifact = load_artifact(int4)
    assert (artifact.format, artifact.name, artifact.variant) == ("genai", "tiny-llama", "int4")
    entry = artifact.manifest
    assert entry["method"] == "onnxruntime MatMulNBitsQuantizer int4" and entry["source_sha256"] == \
        load_artifact(tiny_genai).sha256
    assert entry["parameters"] == {"bits": 4, "block_size": 32, "is_symmetric": True, "accuracy_level": 4,
                                   "op_types_to_quantize": ["MatMul"]}
    assert [f["location"] for f in entry["files"]] == FILES and "onnxruntime" in entry["tools"]
    assert b"MatMulNBits" in (int4 / "model.onnx").read_bytes()
    assert b"MatMulNBits" not in (tiny_genai / "model.onnx").read_bytes()
    assert artifact.size_bytes < 0.7 * load_artifact(tiny_genai).size_bytes
    for same in ("genai_config.json", "tokenizer.json", "tokenizer_config.json", "chat_template.jinja"):
        assert (int4 / same).read_bytes() == (tiny_genai / same).read_bytes()
    again = edgeprof("quantize", tiny_genai, "--variants", "int4", "--out", int4.parent, "--json")
    assert again.returncode == 0, again.stderr  # its own variant: replaced, the same bytes
    assert json.loads(again.stdout)[0]["sha256"] == artifact.sha256


def test_int4_is_the_model_builders_own_int4(tiny_genai: Path, int4: Path) -> None:
    """The same weights, scales and MatMulNBits settings as the builder's `-p int4 -e cpu` folder the stage built
    from the same Hugging Face folder (scripts/build_tiny_genai.py)."""
    import onnx
    from onnx import helper, numpy_helper

    def graph(folder: Path) -> tuple[dict[str, bytes], list[tuple[str, dict[str, object]]]]:
        model = onnx.load(str(folder / "model.onnx"))
        weights = {t.name: numpy_helper.to_array(t).tobytes() for t in model.graph.initializer}
        nodes = [(n.op_type, {a.name: helper.get_attribute_value(a) for a in n.attribute}) for n in model.graph.node]
        return weights, nodes

    builders = tiny_genai.parent / "builder" / "tiny-llama-int4"
    ours, theirs = graph(int4), graph(builders)
    assert ours[0] == theirs[0] and len(ours[0]) > 20
    matmuls = [attributes for op, attributes in ours[1] if op == "MatMulNBits"]
    assert len(matmuls) == 11 and matmuls == [attributes for op, attributes in theirs[1] if op == "MatMulNBits"]
    assert (int4 / "genai_config.json").read_bytes() == (builders / "genai_config.json").read_bytes()


@pytest.mark.ssh
def test_int4_over_ssh_is_sent_once_and_agrees_with_its_source(loopback_device: str, int4: Path) -> None:
    store = int4.parent / "r.db"
    proc, result = deploy_json("--device", loopback_device, "--model", int4, "--store", store)
    assert proc.returncode == 0, (proc.stderr, result["error"])
    gen = check_genai(result, int4, prompts=8, text="shipped")
    reference = gen["quality"]["reference"]
    assert reference["prompts"] == 8 and 0 <= reference["exact_match"] <= reference["token_agreement"] <= 1
    assert reference["reference_perplexity"] > 256
    assert result["transfer"]["bytes_sent"] >= result["model"]["size_bytes"]
    proc, again = deploy_json("--device", loopback_device, "--model", int4, "--store", store)
    assert proc.returncode == 0, (proc.stderr, again["error"])
    assert again["transfer"]["bytes_sent"] == 0 and again["transfer"]["files_sent"] == 0  # every file cached
    assert again["model"]["sha256"] == result["model"]["sha256"]


def test_agent_imports_only_onnxruntime_genai_and_its_requirements_for_a_genai_run(tiny_genai: Path,
                                                                                   tmp_path: Path) -> None:
    spec = {"spec_version": 1, "model": {"path": str(tiny_genai), "format": "genai"}, "threads": 1,
            "latency": {"min_runs": 3, "max_runs": 10, "min_seconds": 0.05, "max_seconds": 1, "warmup_min": 1,
                        "warmup_max": 5},
            "power": {"method": "none"},
            "generation": {"max_tokens": 4, "contexts": [32], "prompts": ["Hi"], "perplexity_tokens": 32}}
    imported, foreign = foreign_imports(spec, ("numpy", "psutil", "onnxruntime-genai"), tmp_path / "bare-site")
    assert not foreign, f"a GenAI run imported modules outside stdlib/numpy/psutil/onnxruntime_genai: {foreign}"
    assert "onnxruntime_genai" in imported and "llama_cpp" not in imported
