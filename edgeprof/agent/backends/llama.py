"""llama.cpp (through llama-cpp-python) for GGUF language models: imported only when a GGUF model is run."""

from __future__ import annotations

import os
import time
from typing import Any

import numpy as np

from ..probes.system import dist_version
from .base import Backend, Runtime, import_runtime, load_failure

DISTRIBUTION = "llama-cpp-python"
INSTALL = "pip install llama-cpp-python"


class LlamaBackend(Backend):
    """GGUF models through llama.cpp, on the CPU."""

    name = "llama.cpp"
    formats = ("gguf",)

    def import_module(self) -> tuple[Any, str]:
        return import_runtime((("llama_cpp", DISTRIBUTION),), f"llama.cpp is not installed ({INSTALL})")

    def open(self, path: str, threads: int | None, accel: dict[str, Any] | None, *, op_profile: bool = False,
             trace_placement: bool = False, n_ctx: int = 512, logits_all: bool = False, seed: int = 0) -> Runtime:
        module, _ = self.import_module()
        return LlamaRuntime(module, path, threads, n_ctx=n_ctx, logits_all=logits_all, seed=seed)

    def installed(self) -> dict[str, str | None]:
        return {DISTRIBUTION: dist_version(DISTRIBUTION), "onnxruntime-genai": dist_version("onnxruntime-genai")}


def prompt_tokens(llm: Any, text: str) -> tuple[list[int], str]:
    """A user message's tokens as a chat front end sends them: in the model's chat template when its GGUF has one
    (`chat template`), else the raw text after BOS (`raw`)."""
    template = llm.metadata.get("tokenizer.chat_template")
    if not template:
        return llm.tokenize(text.encode(), add_bos=True, special=True), "raw"
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    def special(token: int) -> str:
        return llm.detokenize([token], special=True).decode("utf-8", "replace")

    formatter = Jinja2ChatFormatter(template=template, eos_token=special(llm.token_eos()),
                                    bos_token=special(llm.token_bos()))
    prompt = formatter(messages=[{"role": "user", "content": text}]).prompt
    return llm.tokenize(prompt.encode(), add_bos=False, special=True), "chat template"


class LlamaRuntime(Runtime):
    """One llama.cpp model and context; `llm` is the llama_cpp.Llama the generation probe drives."""

    def __init__(self, module: Any, path: str, threads: int | None, *, n_ctx: int, logits_all: bool,
                 seed: int) -> None:
        self.name = "llama.cpp"
        self.version = module.__version__
        count = threads or os.cpu_count() or 1
        self.threads = {"intra_op": count, "batch": count}
        self.inputs, self.outputs = [], []
        started = time.perf_counter()
        try:
            self.llm = module.Llama(model_path=path, n_ctx=n_ctx, n_threads=count, n_threads_batch=count,
                                    seed=seed, logits_all=logits_all, verbose=False)
        except (ValueError, RuntimeError) as exc:  # llama-cpp-python raises ValueError for a file it cannot load
            raise load_failure("llama.cpp", exc) from exc
        self.load_ms = (time.perf_counter() - started) * 1000

    def run(self, feeds: dict[str, Any]) -> list[Any]:
        """One greedy step after the BOS token alone (a GGUF model takes text, not feeds): the token it chose."""
        self.llm.reset()
        steps = self.llm.generate([self.llm.token_bos()], top_k=1, temp=0.0)
        token = next(steps)
        steps.close()
        return [np.array([token])]

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "n_ctx": self.llm.n_ctx()}


BACKEND = LlamaBackend()
