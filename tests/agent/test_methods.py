"""Every measured section says how it was measured: emulated timings are labelled, memory comes from the kernel."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from tests.agent.conftest import spec_for


def test_emulated_runs_label_their_timings(agent: Callable[..., Any], models: dict[str, Path]) -> None:
    result = agent(spec_for(models["mlp"], emulation="qemu-tcg")).result
    assert result["latency"]["method"] == "emulated:qemu-tcg"


def test_memory_section_figures_hang_together(agent: Callable[..., Any], models: dict[str, Path]) -> None:
    memory = agent(spec_for(models["mlp"])).result["memory"]
    assert memory["method"] == "measured"
    assert memory["model_file_mb"] == models["mlp"].stat().st_size / 2**20
    assert memory["baseline_rss_mb"] <= memory["after_import_rss_mb"]  # importing the runtime costs memory
    assert memory["runtime_import_mb"] == memory["after_import_rss_mb"] - memory["baseline_rss_mb"]
    assert memory["peak_rss_mb"] >= max(memory["after_load_rss_mb"], memory["after_first_rss_mb"])
    assert memory["mem_available_before_mb"] > 0 and memory["mem_available_after_mb"] > 0
