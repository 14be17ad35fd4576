"""ONNX Runtime GenAI for model folders (genai_config.json, the ONNX decoder and its tokenizer files): imported
only when such a model is run."""

from __future__ import annotations

import json
import os
import time
from typing import Any

import numpy as np

from ..probes.system import dist_version
from ..spec import AgentFailure, ErrorKind, Stage
from .base import Backend, Decoder, TextRuntime, import_runtime, load_failure, one_line

DISTRIBUTION = "onnxruntime-genai"
INSTALL = "pip install onnxruntime-genai"
CONFIG = "genai_config.json"
NO_TEMPLATE = "Empty chat template"  # what the tokenizer raises for a model folder without a chat template


class GenAIBackend(Backend):
    """Model folders built for ONNX Runtime GenAI, on the execution providers their genai_config.json names."""

    name = "onnxruntime-genai"
    formats = ("genai",)

    def import_module(self) -> tuple[Any, str]:
        # a failure other than its absence is told (it loads onnxruntime's library when imported)
        return import_runtime((("onnxruntime_genai", DISTRIBUTION),), f"onnxruntime-genai is not installed ({INSTALL})")

    def open(self, path: str, threads: int | None, accel: dict[str, Any] | None, *, op_profile: bool = False,
             trace_placement: bool = False, n_ctx: int = 512, logits_all: bool = False, seed: int = 0) -> TextRuntime:
        module, _ = self.import_module()
        return GenAIRuntime(module, path, threads, n_ctx=n_ctx, seed=seed)

    def installed(self) -> dict[str, str | None]:
        return {DISTRIBUTION: dist_version(DISTRIBUTION)}


class GenAIDecoder(Decoder):
    """Greedy search on one prompt with the runtime's one generator, rewound to an empty sequence first."""

    def __init__(self, generator: Any, tokens: list[int]) -> None:
        generator.rewind_to(0)
        self._generator = generator
        self._tokens: list[int] | None = tokens

    def __call__(self) -> None:
        generator = self._generator
        if self._tokens is not None:  # the first call: the prompt's prefill, then its first token
            generator.append_tokens(self._tokens)
            self._tokens = None
        generator.generate_next_token()
        self.token = int(generator.get_next_tokens()[0])
        self.done = generator.is_done()


class GenAIRuntime(TextRuntime):
    """One GenAI model, its tokenizer and one generator of `n_ctx` tokens (at most the model's context_length)."""

    def __init__(self, og: Any, path: str, threads: int | None, *, n_ctx: int, seed: int) -> None:
        self.name = "onnxruntime-genai"
        self.version = og.__version__
        count = threads or os.cpu_count() or 1
        self.threads = {"intra_op": count, "inter_op": 1}
        self.inputs, self.outputs = [], []
        facts = _config(path)
        self.n_ctx = min(n_ctx, facts.get("context_length") or n_ctx)
        self.providers = facts["providers"]
        started = time.perf_counter()
        try:
            config = og.Config(path)
            config.overlay(json.dumps({"model": {"decoder": {"session_options": {
                "intra_op_num_threads": count, "inter_op_num_threads": 1}}}}))
            self.model = og.Model(config)
            self.tokenizer = og.Tokenizer(self.model)
            params = og.GeneratorParams(self.model)
            params.set_search_options(max_length=self.n_ctx, do_sample=False, num_beams=1, min_length=0,
                                      repetition_penalty=1.0, random_seed=seed)
            self.generator = og.Generator(self.model, params)
        except RuntimeError as exc:  # what onnxruntime-genai raises for a folder or file it cannot use
            raise load_failure("onnxruntime-genai", exc) from exc
        self.load_ms = (time.perf_counter() - started) * 1000
        bos = int(self.tokenizer.bos_token_id)
        self.bos = bos if bos >= 0 else None
        self.eos = frozenset(int(t) for t in self.tokenizer.eos_token_ids)

    def prompt_tokens(self, text: str) -> tuple[list[int], str]:
        messages = json.dumps([{"role": "user", "content": text}])
        try:
            prompt = self.tokenizer.apply_chat_template(messages, add_generation_prompt=True)
        except RuntimeError as exc:
            if NO_TEMPLATE not in str(exc):
                raise AgentFailure(ErrorKind.MODEL_LOAD, f"the model's chat template cannot be applied: "
                                   f"{one_line(exc)}", Stage.LOAD) from exc
            return self.tokenize(text, bos=True), "raw"
        return self._encode(prompt), "chat template"

    def tokenize(self, text: str, bos: bool) -> list[int]:
        tokens = self._encode(text)
        if bos and self.bos is not None and tokens[:1] != [self.bos]:
            tokens.insert(0, self.bos)
        return tokens

    def _encode(self, text: str) -> list[int]:
        return [int(t) for t in self.tokenizer.encode(text)]

    def detokenize(self, tokens: list[int]) -> str:
        return str(self.tokenizer.decode(np.asarray(tokens, dtype=np.int32)))

    def decoder(self, tokens: list[int]) -> Decoder:
        return GenAIDecoder(self.generator, tokens)

    def prefill(self, tokens: list[int]) -> None:
        self.generator.rewind_to(0)
        self.generator.append_tokens(tokens)

    def extend(self, tokens: list[int]) -> None:
        self.generator.append_tokens(tokens)

    def logits(self, tokens: list[int]) -> np.ndarray:
        self.prefill(tokens)
        return np.asarray(self.generator.get_output("logits"), dtype=np.float64)[0, :len(tokens)]

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "providers": self.providers}


def _config(path: str) -> dict[str, Any]:
    """What the folder's genai_config.json says of the model: its context length and the execution providers its
    decoder runs on (none named: the CPU)."""
    try:
        with open(os.path.join(path, CONFIG), encoding="utf-8") as fh:
            model = json.load(fh)["model"]
        options = model["decoder"].get("session_options", {}).get("provider_options", [])
        providers = [name for entry in options for name in entry] or ["cpu"]
        return {"context_length": model.get("context_length"), "providers": providers}
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise AgentFailure(ErrorKind.MODEL_LOAD, f"onnxruntime-genai cannot load the model: {path}/{CONFIG} is "
                           f"not a GenAI model's config ({one_line(exc)})", Stage.LOAD) from exc


BACKEND = GenAIBackend()
