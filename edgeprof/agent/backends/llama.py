"""llama.cpp (through llama-cpp-python) for GGUF language models: imported only when a GGUF model is run."""

from __future__ import annotations

import os
import time
from typing import Any

import numpy as np

from ..probes.system import dist_version
from .base import Backend, Decoder, TextRuntime, import_runtime, load_failure

DISTRIBUTION = "llama-cpp-python"
INSTALL = "pip install llama-cpp-python"


class LlamaBackend(Backend):
    """GGUF models through llama.cpp, on the CPU."""

    name = "llama.cpp"
    formats = ("gguf",)

    def import_module(self) -> tuple[Any, str]:
        return import_runtime((("llama_cpp", DISTRIBUTION),), f"llama.cpp is not installed ({INSTALL})")

    def open(self, path: str, threads: int | None, accel: dict[str, Any] | None, *, op_profile: bool = False,
             trace_placement: bool = False, n_ctx: int = 512, logits_all: bool = False, seed: int = 0) -> TextRuntime:
        module, _ = self.import_module()
        return LlamaRuntime(module, path, threads, n_ctx=n_ctx, logits_all=logits_all, seed=seed)

    def installed(self) -> dict[str, str | None]:
        return {DISTRIBUTION: dist_version(DISTRIBUTION)}


class LlamaDecoder(Decoder):
    """llama.cpp's greedy sampler on one prompt (no repeat penalty, no top-p or min-p cut)."""

    def __init__(self, llm: Any, tokens: list[int]) -> None:
        llm.reset()  # no KV-cache prefix reuse between prompts: every prompt is prefilled in full
        self._gen = llm.generate(tokens, top_k=1, top_p=1.0, min_p=0.0, temp=0.0, repeat_penalty=1.0)

    def __call__(self) -> None:
        self.token = next(self._gen)

    def close(self) -> None:
        self._gen.close()


class LlamaRuntime(TextRuntime):
    """One llama.cpp model and context."""

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
        self.n_ctx = self.llm.n_ctx()
        self.bos = self.llm.token_bos()
        self.eos = frozenset({self.llm.token_eos()})

    def prompt_tokens(self, text: str) -> tuple[list[int], str]:
        llm = self.llm
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

    def tokenize(self, text: str, bos: bool) -> list[int]:
        return self.llm.tokenize(text.encode(), add_bos=bos, special=False)

    def detokenize(self, tokens: list[int]) -> str:
        return self.llm.detokenize(tokens).decode("utf-8", "replace")

    def decoder(self, tokens: list[int]) -> Decoder:
        return LlamaDecoder(self.llm, tokens)

    def prefill(self, tokens: list[int]) -> None:
        self.llm.reset()
        self.llm.eval(tokens)

    def extend(self, tokens: list[int]) -> None:
        self.llm.eval(tokens)

    def logits(self, tokens: list[int]) -> np.ndarray:
        """Needs a runtime opened with `logits_all` (llama.cpp keeps only the last position's otherwise)."""
        self.prefill(tokens)
        return np.asarray(self.llm.scores[:len(tokens)], dtype=np.float64)


BACKEND = LlamaBackend()
