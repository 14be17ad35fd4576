"""What every runtime backend provides: tensor facts, a loaded model that runs, and where its nodes ran."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import importlib
import json
import os
import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from ..probes.system import cpu_model
from ..spec import AgentFailure, ErrorKind, RunSpec, Stage


class ProfileUnavailable(Exception):
    """Why a backend gives no per-operator profile here (its runtime, version or delegate has no profiler)."""


@dataclass(frozen=True)
class TensorInfo:
    """One model input or output: shape (None for a dynamic dim), numpy dtype name, (scale, zero point)."""

    name: str
    shape: list[int | None]
    dtype: str
    quant: tuple[float, int] | None = None


class Runtime:
    """A loaded model ready to run: what it takes, what it returns, what ran it and where its nodes went."""

    name: str
    version: str
    threads: dict[str, Any]
    inputs: list[TensorInfo]
    outputs: list[TensorInfo]
    load_ms: float  # creating the session or interpreter, without any compile the backend timed apart
    compile: dict[str, Any] | None = None  # a compile timed apart: {ms, session_ms, cache, method}

    def run(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        """One inference."""
        raise NotImplementedError

    def prepare(self, feeds: dict[str, np.ndarray]) -> None:
        """Get ready for feeds of these shapes outside any timed call (TFLite resizes and reallocates)."""

    def timed(self, feeds: dict[str, np.ndarray]) -> Callable[[], Any]:
        """The bare call the latency phase times, inputs bound once (TFLite: `invoke` alone, tensors set now)."""
        return functools.partial(self.run, feeds)

    def copies(self, feeds: dict[str, np.ndarray]) -> Callable[[], Any] | None:
        """The input/output copies `timed` leaves out (timed apart as `latency.copy_ms`); None: nothing left out."""
        return None

    def op_profile(self) -> dict[str, Any] | None:
        """Per-operator times, where the runtime can tell (None otherwise)."""
        return None

    def placement(self) -> dict[str, Any] | None:
        """The `placement` section: which provider or delegate took each node (after one inference)."""
        return None

    def describe(self) -> dict[str, Any]:
        """The `runtime` section of the Result."""
        return {"name": self.name, "version": self.version, "threads": self.threads}


class Decoder:
    """One prompt's greedy answer in a fresh context, a token per call: the first call prefills the prompt and picks
    the first token, each later call decodes one more; `token` is the last picked, `done` whether the runtime ended
    the answer (ONNX Runtime GenAI stops at the end-of-sequence token; llama.cpp decodes on past it)."""

    token: int = -1
    done: bool = False

    def __call__(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        """Let go of the runtime's context (the next decoder starts afresh)."""


class TextRuntime(Runtime):
    """A generative model loaded for agent/generation.py: its tokenizer, greedy decoding in a context of `n_ctx`
    tokens, and the logits at every position. `bos` is the token a sequence starts with (None: the model has none),
    `eos` the tokens that end an answer."""

    n_ctx: int
    bos: int | None
    eos: frozenset[int]

    def prompt_tokens(self, text: str) -> tuple[list[int], str]:
        """A user message's tokens as a chat front end sends them, and how they were made: in the model's chat
        template (`chat template`), else the raw text after the BOS token (`raw`)."""
        raise NotImplementedError

    def tokenize(self, text: str, bos: bool) -> list[int]:
        """Plain text's tokens (no special tokens parsed), after the BOS token when `bos` and the model has one."""
        raise NotImplementedError

    def detokenize(self, tokens: list[int]) -> str:
        raise NotImplementedError

    def decoder(self, tokens: list[int]) -> Decoder:
        """A greedy decoder for this prompt, in a fresh context (no cache reused from an earlier prompt)."""
        raise NotImplementedError

    def prefill(self, tokens: list[int]) -> None:
        """Evaluate the tokens in a fresh context (the KV cache then holds them)."""
        raise NotImplementedError

    def extend(self, tokens: list[int]) -> None:
        """Evaluate more tokens after those in the context (one token: one decode step)."""
        raise NotImplementedError

    def logits(self, tokens: list[int]) -> np.ndarray:
        """The next-token logits at every position of the tokens, in a fresh context: (len(tokens), vocabulary)."""
        raise NotImplementedError

    def run(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        """One greedy step after the BOS token alone (a language model takes text, not feeds): the token picked."""
        decoder = self.decoder([self.bos] if self.bos is not None else self.tokenize("Hello", bos=False))
        decoder()
        decoder.close()
        return [np.array([decoder.token])]

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "n_ctx": self.n_ctx}


class Backend:
    """One runtime: the formats it opens, how it is imported, loaded and profiled, and what the device offers."""

    name: str
    formats: tuple[str, ...]

    def import_module(self) -> tuple[Any, str]:
        """Import the runtime (kept apart from load time): (module, distribution name)."""
        raise NotImplementedError

    def open(self, path: str, threads: int | None, accel: dict[str, Any] | None, *, op_profile: bool = False,
             trace_placement: bool = False) -> Runtime:
        """Load a model; `accel` is the RunSpec's `runtime` section (providers or delegates, cache dir)."""
        raise NotImplementedError

    def installed(self) -> dict[str, str | None]:
        """The backend's distributions on this device and their versions (None: absent); nothing is imported."""
        raise NotImplementedError

    def accelerators(self) -> list[dict[str, Any]]:
        """The providers or delegates this device offers (for `doctor`)."""
        return []

    def profile_ops(self, path: str, threads: int | None, accel: dict[str, Any] | None,
                    feeds: dict[str, np.ndarray], seconds: float = 1.0, max_runs: int = 200) -> dict[str, Any] | None:
        """Per-operator times from a separate profiled session (its own runs, never the timed ones)."""
        runtime = self.open(path, threads, accel, op_profile=True)
        deadline = time.perf_counter() + seconds
        runs = 0
        while runs < max_runs and (runs < 3 or time.perf_counter() < deadline):
            runtime.run(feeds)
            runs += 1
        profile = runtime.op_profile()
        if profile is not None:
            profile["note"] = "from a separate profiled session: the profiler slows every call, so read the shares"
        return profile


def profile_section(method: str, runs: int, by_type: dict[str, float],
                    by_node: dict[str, dict[str, Any]], top: int = 10) -> dict[str, Any]:
    """The `op_profile` section: every op type and the `top` nodes by time, each with its time per run and share
    of the operators' total (all types are kept, so two profiles compare type by type); `by_type` maps op type to
    µs over all runs, `by_node` node name to {op, provider, us, ...} (keys past these three are kept in the row)."""
    total = sum(by_type.values()) or 1.0
    runs = max(runs, 1)
    nodes = sorted(by_node.items(), key=lambda kv: -kv[1]["us"])[:top]
    return {
        "method": method,
        "runs": runs,
        "by_op_type": [{"op": op, "ms_per_run": us / runs / 1000, "share": us / total}
                       for op, us in sorted(by_type.items(), key=lambda kv: -kv[1])],
        "by_node": [{"node": node, **{k: v for k, v in row.items() if k != "us"},
                     "ms_per_run": row["us"] / runs / 1000, "share": row["us"] / total} for node, row in nodes],
    }


def accel_settings(spec: RunSpec) -> dict[str, Any]:
    """The RunSpec's `runtime` section for the model under test, with the model's sha256 (part of cache keys)."""
    return {**dataclasses.asdict(spec.runtime), "model_sha256": spec.model.sha256}


def one_line(exc: BaseException) -> str:
    """An exception's text on one line, at most 400 characters."""
    text = " ".join(str(exc).split())
    return text[:400] or type(exc).__name__


def import_runtime(candidates: tuple[tuple[str, str], ...], missing: str) -> tuple[Any, str]:
    """The first (module, distribution) of `candidates` that imports; else a runtime_missing failure saying
    "`missing` on the device" (what is absent and the install command), with the first import error that is not
    the module's own absence (a library it loads, its runtime's, is missing or broken)."""
    details: list[str] = []
    for module_name, dist in candidates:
        try:
            return importlib.import_module(module_name), dist
        except ImportError as exc:
            absent = isinstance(exc, ModuleNotFoundError) and exc.name is not None and \
                f"{module_name}.".startswith(f"{exc.name}.")
            if not absent:
                details.append(one_line(exc))
    detail = f": {details[0]}" if details else ""
    raise AgentFailure(ErrorKind.RUNTIME_MISSING, f"{missing} on the device{detail}", Stage.LOAD)


def load_failure(runtime: str, exc: BaseException) -> AgentFailure:
    """The error of a model the runtime cannot load."""
    return AgentFailure(ErrorKind.MODEL_LOAD, f"{runtime} cannot load the model: {one_line(exc)}", Stage.LOAD)


def missing_accelerator(kind: str, wanted: str, offered: list[str], fallback: str) -> AgentFailure:
    """A provider or delegate the device does not have: one line naming what it does have."""
    return AgentFailure(ErrorKind.ACCELERATOR_MISSING, f"the device has no {kind} '{wanted}' "
                        f"(it has: {', '.join(offered) or 'none'}); end the list with '...,{fallback}' to fall "
                        "back instead", Stage.LOAD)


def cache_key(model_sha256: str | None, accelerator: dict[str, Any], runtime_version: str) -> str:
    """The key of a compiled engine or blob: model, provider and options, runtime version, and hardware."""
    facts = {"model": model_sha256, "accelerator": accelerator, "runtime": runtime_version,
             "hardware": [cpu_model(), os.uname().machine]}
    return hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest()[:24]


def placement_section(method: str, requested: list[str], active: list[str], unavailable: list[str],
                      nodes: list[dict[str, Any]], fallback_name: str,
                      ms_by: dict[str, float] | None = None) -> dict[str, Any]:
    """Placement from per-node records {node, op, ran_on}: nodes (and time, where `ms_by` gives it per provider or
    delegate) on each, and the nodes that fell back to `fallback_name` (the plain CPU kernels) while an
    accelerator was asked for. The accelerated fraction is of time when the runtime tells it, else of nodes."""
    by: dict[str, dict[str, Any]] = {}
    for node in nodes:
        by.setdefault(node["ran_on"], {"name": node["ran_on"], "nodes": 0})["nodes"] += 1
    total_ms = sum((ms_by or {}).values())
    for entry in by.values():
        entry["ms"] = ms_by.get(entry["name"], 0.0) if ms_by else None
        entry["share"] = entry["ms"] / total_ms if total_ms else None
    accelerated = [name for name in active if name != fallback_name]
    fallback = [n for n in nodes if accelerated and n["ran_on"] == fallback_name]
    if total_ms:
        fraction = sum(e["ms"] for e in by.values() if e["name"] != fallback_name) / total_ms
    else:
        fraction = sum(1 for n in nodes if n["ran_on"] != fallback_name) / len(nodes) if nodes else None
    return {
        "method": method,
        "requested": requested,
        "active": active,
        "unavailable": unavailable,
        "by_accelerator": sorted(by.values(), key=lambda e: -e["nodes"]),
        "nodes": len(nodes),
        "fallback_count": len(fallback),
        "fallback_nodes": fallback,
        "accelerated_fraction": fraction,
        "fraction_basis": "time" if total_ms else "nodes",
    }
