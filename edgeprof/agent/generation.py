"""A generative model's run: load once, warm up, then prompts with greedy decoding and a fixed output length,
timed to the first token (TTFT) and per output token (TPOT); memory by context depth, energy per token, quality.

The runtime is the backend's `TextRuntime` (llama.cpp for GGUF files, ONNX Runtime GenAI for model folders). The
phases reuse the classifier's machinery: `probes.latency.steady_state` samples TTFT (its timed call is the prompt's
prefill and first token; the rest of the answer is decoded, each token timed, between its samples) and stops by its
rule; `probes.power.measure_energy` times decode steps, so its energy per call is energy per token."""

from __future__ import annotations

import math
import time
from typing import Any, Callable

import numpy as np

from . import stats
from .backends import backend_for
from .backends.base import Decoder, TextRuntime, accel_settings
from .generation_texts import PERPLEXITY_TEXT, PROMPTS
from .probes import latency as lat
from .probes.memory import MemoryProbe, rss_mb
from .protocol import progress
from .spec import AgentFailure, ErrorKind, GenerationSettings, LatencyBudget, RunSpec, Stage

PROMPT_CONTEXT = 1024  # the context the prompts run in when no measured depth asks for more
SAMPLE_CHARS = 200  # how much of the first prompt's answer the Result keeps
UNTRAINED_SHARE = 0.5  # a perplexity above this share of the vocabulary's size is about that of guessing uniformly
Z95 = 1.959964  # the standard normal's 97.5% quantile: perplexity's interval over the per-token log-likelihoods


class TokenStream:
    """Decode steps without end, for warm-up and the power window: a prompt's answer, restarted when the runtime
    ends it or near the context's end."""

    def __init__(self, runtime: TextRuntime, tokens: list[int]) -> None:
        self.runtime, self.tokens = runtime, tokens
        self.gen = self._start()

    def _start(self) -> Decoder:
        gen = self.runtime.decoder(self.tokens)
        gen()  # the prefill: every later call is one decode step
        self.used = len(self.tokens) + 1
        return gen

    def __call__(self) -> None:
        if self.gen.done or self.used >= self.runtime.n_ctx - 2:
            self.gen.close()
            self.gen = self._start()
        self.gen()
        self.used += 1


def check_settings(settings: GenerationSettings) -> None:
    """The generation settings the agent can honour (AgentFailure 'spec' otherwise)."""
    prompts = settings.prompts
    if prompts is not None and (not prompts or not all(isinstance(p, str) and p for p in prompts)):
        raise AgentFailure(ErrorKind.SPEC, "generation.prompts must be a non-empty list of non-empty strings")
    for key in ("max_tokens", "perplexity_tokens"):
        value = getattr(settings, key)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise AgentFailure(ErrorKind.SPEC, f"generation.{key} must be a positive integer, got {value!r}")
    if not all(isinstance(c, int) and not isinstance(c, bool) and c > 0 for c in settings.contexts):
        raise AgentFailure(ErrorKind.SPEC,
                           f"generation.contexts must be a list of positive integers, got {list(settings.contexts)!r}")


def measure_generation(spec: RunSpec, memory: MemoryProbe, clock: Any, note: Callable[[str], None],
                       guarded: Callable[[Callable[[], Any], str], Callable[[], Any]]) -> dict[str, Any]:
    """The Result's sections of a generative model's run (`clock` is already in the load stage; `guarded` turns a
    runtime's exceptions during a phase into an AgentFailure naming it)."""
    settings = spec.generation
    check_settings(settings)
    prompts = settings.prompts or list(PROMPTS)
    max_tokens, budget = settings.max_tokens, spec.latency
    backend = backend_for(spec.model.format)
    backend.import_module()
    memory.mark("after_import")
    accel = accel_settings(spec)
    n_ctx = max(PROMPT_CONTEXT, max(settings.contexts or (0,)) + 1)
    runtime = backend.open(spec.model.path, spec.threads, accel, n_ctx=n_ctx, seed=spec.seed)
    memory.mark("after_load")
    formatted = [runtime.prompt_tokens(p) for p in prompts]
    encoded = [tokens for tokens, _ in formatted]
    for index, tokens in enumerate(encoded):
        if len(tokens) + max_tokens > runtime.n_ctx:
            raise AgentFailure(ErrorKind.INPUT, f"prompt {index + 1} has {len(tokens)} tokens: with {max_tokens} to generate "
                               f"it does not fit the context of {runtime.n_ctx}", Stage.LOAD)
    too_deep = [depth for depth in settings.contexts if depth >= runtime.n_ctx]
    if too_deep:
        raise AgentFailure(ErrorKind.INPUT, f"context depth {max(too_deep)} does not fit the model's context of "
                           f"{runtime.n_ctx} tokens", Stage.LOAD)
    progress(Stage.LOAD, 1, 1)

    clock.enter(Stage.FIRST)
    first = guarded(lambda: _answer(runtime, encoded[0], max_tokens, settings.stop_at_end), Stage.FIRST)()
    memory.mark("after_first")
    progress(Stage.FIRST, 1, 1)

    clock.enter(Stage.WARMUP)
    stream = TokenStream(runtime, encoded[0])
    warmup = guarded(lambda: lat.warm_up(stream, budget, lambda d, t: progress(Stage.WARMUP, d, t)), Stage.WARMUP)()
    stream.gen.close()
    if not warmup["stable"]:
        note(f"decoding did not settle within {warmup['runs']} warm-up tokens")

    clock.enter(Stage.LATENCY, budget.max_seconds * 2 + spec.timeouts.stage_s)
    prompts_run = PromptCycle(runtime, encoded, max_tokens, settings.stop_at_end)
    ttft, reason, pilot = guarded(lambda: lat.steady_state(prompts_run.current, budget,
                                                           lambda d, t: progress(Stage.LATENCY, d, t),
                                                           advance=prompts_run.advance), Stage.LATENCY)()
    prompts_run.finish()
    ttft = ttft[:len(prompts_run.e2e_ms)]  # the samples whose answers were decoded in full

    clock.enter(Stage.CONTEXT)
    depths = guarded(lambda: _context_depths(runtime, settings.contexts, memory), Stage.CONTEXT)()

    clock.enter(Stage.POWER, spec.power.seconds + spec.power.idle_seconds + spec.timeouts.stage_s)
    from .probes.power import measure_energy, measures

    power = None
    if measures(spec.power):  # else no decode step is timed: the stream's prefill would be wasted
        stream = TokenStream(runtime, encoded[0])
        power = guarded(lambda: measure_energy(stream, spec.power, lambda d, t: progress(Stage.POWER, d, t)),
                        Stage.POWER)()
        stream.gen.close()
    if power is not None and spec.emulation:
        power["emulated"] = spec.emulation
    memory_section = memory.section()  # the peak of the model under test, before the quality phase loads others

    clock.enter(Stage.ACCURACY)
    quality = guarded(lambda: _quality(spec, backend, accel, runtime, encoded, settings), Stage.ACCURACY)()
    if quality["untrained"]:
        note(quality["untrained"])
    compared = quality.get("reference") or {}
    if compared.get("meaningful") is False:
        note(compared["reason"])

    method = f"emulated:{spec.emulation}" if spec.emulation else "measured"
    section = _section(method, runtime.load_ms, first, warmup, ttft, reason, pilot, prompts_run, budget)
    answer = runtime.detokenize(first["tokens"])[:SAMPLE_CHARS]
    source = "spec" if settings.prompts else "shipped"
    section.update(context=depths, quality=quality, sample_output=answer,
                   prompts={"count": len(prompts), "source": source, "format": formatted[0][1],
                            "tokens": [len(t) for t in encoded]})
    energy = (power or {}).get("energy_mj_per_inference")
    section["energy"] = {"method": (power or {}).get("method", "none"), "mj_per_token": energy,
                         "net_mj_per_token": (power or {}).get("net_energy_mj_per_inference"),
                         "tokens_per_joule": 1000.0 / energy if energy else None}
    return {"runtime": runtime.describe(), "memory": memory_section, "power": power, "generation": section}


class PromptCycle:
    """The prompts in turn for `steady_state`: `current` is the timed call (prefill and first token); `advance`
    decodes the rest of that answer, each token timed, and readies the next prompt outside the timed window."""

    def __init__(self, runtime: TextRuntime, encoded: list[list[int]], max_tokens: int, stop_at_end: bool) -> None:
        self.runtime, self.encoded, self.max_tokens, self.stop_at_end = runtime, encoded, max_tokens, stop_at_end
        self.index = 0
        self.tpot_ms: list[float] = []
        self.e2e_ms: list[float] = []
        self.prefill_tokens = 0
        self.decoded = 0
        self.current = runtime.decoder(encoded[0])

    def advance(self) -> Callable[[], None]:
        gen, clock = self.current, time.perf_counter_ns
        start = clock()
        produced = 1
        while produced < self.max_tokens and not _ended(gen, self.runtime, self.stop_at_end):
            t0 = clock()
            gen()
            self.tpot_ms.append((clock() - t0) / 1e6)
            produced += 1
        decode_ms = (clock() - start) / 1e6
        self.e2e_ms.append(decode_ms)  # the TTFT is added when the run's samples come back
        self.prefill_tokens += len(self.encoded[self.index % len(self.encoded)])
        self.decoded += produced
        gen.close()
        self.index += 1
        self.current = self.runtime.decoder(self.encoded[self.index % len(self.encoded)])
        return self.current

    def finish(self) -> None:
        self.current.close()


def _ended(gen: Decoder, runtime: TextRuntime, stop_at_end: bool) -> bool:
    """Whether an answer is over before `max_tokens`: the runtime ended it, or it ended with an end-of-sequence token
    and `stop_at_end`."""
    return gen.done or (stop_at_end and gen.token in runtime.eos)


def _answer(runtime: TextRuntime, tokens: list[int], max_tokens: int, stop_at_end: bool) -> dict[str, Any]:
    """One prompt's greedy answer, with its TTFT and total ms (the first, cold run; the reference's answers)."""
    gen = runtime.decoder(tokens)
    start = time.perf_counter_ns()
    gen()
    ttft_ms = (time.perf_counter_ns() - start) / 1e6
    out = [gen.token]
    while len(out) < max_tokens and not _ended(gen, runtime, stop_at_end):
        gen()
        out.append(gen.token)
    gen.close()
    return {"ttft_ms": ttft_ms, "ms": (time.perf_counter_ns() - start) / 1e6, "tokens": out}


def _section(method: str, load_ms: float, first: dict[str, Any], warmup: dict[str, Any], ttft: np.ndarray,
             reason: str, pilot: int, run: PromptCycle, budget: LatencyBudget) -> dict[str, Any]:
    """TTFT (after the stopping rule's `pilot` prompts), TPOT and end-to-end distributions with their
    intervals, and prefill and decode throughput."""
    confidence = budget.confidence
    tpot = np.asarray(run.tpot_ms, dtype=np.float64)
    e2e = ttft + np.asarray(run.e2e_ms, dtype=np.float64)
    ttft_s = float(ttft.sum()) / 1000
    decode_s = float(tpot.sum()) / 1000
    return {
        "method": method,
        "load_ms": load_ms,
        "first": {"ttft_ms": first["ttft_ms"], "ms": first["ms"], "tokens": len(first["tokens"])},
        "warmup": warmup,
        "prompts_run": int(len(ttft)),
        "tokens_decoded": run.decoded,
        "stop_reason": reason,
        "pilot_prompts": pilot,
        "ttft": timed_distribution(ttft, budget, pilot),
        "tpot": timed_distribution(tpot, budget),
        "e2e": stats.summarise(e2e, confidence) if len(e2e) else None,
        "prefill_tokens_per_s": run.prefill_tokens / ttft_s if ttft_s > 0 else None,
        "decode_tokens_per_s": len(tpot) / decode_s if decode_s > 0 else None,
    }


def timed_distribution(samples_ms: np.ndarray, budget: LatencyBudget, pilot: int = 0) -> dict[str, Any] | None:
    """Percentiles, intervals and moments of one timed distribution from its samples after the stopping rule's
    `pilot`, with every raw sample as `latency` keeps them (the first `keep_samples`), so runs can be tested against
    each other."""
    if len(samples_ms) <= pilot:
        return None
    return {**stats.summarise(samples_ms[pilot:], budget.confidence), "samples": int(len(samples_ms)),
            **stats.raw_samples(samples_ms, budget.keep_samples)}


def _filler(runtime: TextRuntime, count: int) -> list[int]:
    """`count` tokens of the shipped passage, repeated as needed, after the BOS token (where the model has one)."""
    head = [] if runtime.bos is None else [runtime.bos]
    text = runtime.tokenize(PERPLEXITY_TEXT, bos=False)
    return (head + text * (count // len(text) + 1))[:count]


def _context_depths(runtime: TextRuntime, depths: list[int], memory: MemoryProbe) -> list[dict[str, Any]]:
    """RSS after the context is filled to each depth (its growth over the RSS after load), the prefill to it and
    one decode step there."""
    base = memory.marks.get("after_load")
    rows = []
    for done, depth in enumerate(sorted(set(depths)), 1):
        tokens = _filler(runtime, depth)
        start = time.perf_counter_ns()
        runtime.prefill(tokens)
        prefill_ms = (time.perf_counter_ns() - start) / 1e6
        start = time.perf_counter_ns()
        runtime.extend([tokens[-1]])
        decode_ms = (time.perf_counter_ns() - start) / 1e6
        rss = rss_mb()
        rows.append({"tokens": depth, "rss_mb": rss, "growth_mb": rss - base if rss is not None and base else None,
                     "prefill_ms": prefill_ms, "decode_ms": decode_ms})
        progress(Stage.CONTEXT, done, len(depths))
    return rows


def _quality(spec: RunSpec, backend: Any, accel: dict[str, Any], runtime: TextRuntime, encoded: list[list[int]],
             settings: GenerationSettings) -> dict[str, Any]:
    """Perplexity on the text (the shipped one by default), whether it is about that of a uniform guess over the
    vocabulary (untrained weights), and, with a reference model, greedy-output agreement."""
    text = settings.perplexity_text or PERPLEXITY_TEXT
    quality: dict[str, Any] = {"text": "spec" if settings.perplexity_text else "shipped",
                               **_perplexity(spec, backend, accel, spec.model.path, text,
                                             settings.perplexity_tokens)}
    perplexity, vocabulary = quality["perplexity"], quality.pop("vocabulary")
    quality["untrained"] = None
    if perplexity is not None and perplexity >= UNTRAINED_SHARE * vocabulary:
        quality["untrained"] = (f"perplexity {perplexity:.0f} is about that of guessing uniformly among the model's "
                                f"{vocabulary} tokens: its weights look untrained (random), so its perplexity and "
                                "answers say nothing of its quality")
    ref = spec.reference_model
    if not ref:
        quality["reference"] = None
        return quality
    ours = [_answer(runtime, t, settings.max_tokens, settings.stop_at_end)["tokens"] for t in encoded]
    reference = backend.open(ref.path, spec.threads, accel, n_ctx=PROMPT_CONTEXT, seed=spec.seed)
    theirs = [_answer(reference, t, settings.max_tokens, settings.stop_at_end)["tokens"] for t in encoded]
    compared = _perplexity(spec, backend, accel, ref.path, text, settings.perplexity_tokens, prefix="reference_")
    del compared["vocabulary"]
    quality["reference"] = {**agreement(ours, theirs), **compared}
    return quality


def _perplexity(spec: RunSpec, backend: Any, accel: dict[str, Any], path: str, text: str, cap: int,
                prefix: str = "") -> dict[str, Any]:
    """exp of the mean negative log-likelihood of each token of `text` (at most `cap`) given those before it, from
    one batch with every position's logits (a second context of the model, freed after), its 95% interval (exp of
    the mean's normal interval over the per-token log-likelihoods), and the vocabulary's size (a uniform guess's
    perplexity)."""
    runtime = backend.open(path, spec.threads, accel, n_ctx=cap, logits_all=True, seed=spec.seed)
    tokens = runtime.tokenize(text, bos=True)[:cap]
    found: dict[str, Any] = {"perplexity": None, "perplexity_tokens": len(tokens), "perplexity_ci95": None}
    vocabulary = None
    if len(tokens) >= 2:
        logits = runtime.logits(tokens)[:-1]
        top = logits.max(axis=1, keepdims=True)
        log_norm = np.log(np.exp(logits - top).sum(axis=1)) + top[:, 0]
        nll = log_norm - logits[np.arange(len(tokens) - 1), tokens[1:]]
        mean = float(np.mean(nll))
        found["perplexity"], vocabulary = math.exp(mean), int(logits.shape[1])
        if len(nll) > 1:
            half = Z95 * float(np.std(nll, ddof=1)) / math.sqrt(len(nll))
            found["perplexity_ci95"] = [math.exp(mean - half), math.exp(mean + half)]
    return {**{f"{prefix}{key}": value for key, value in found.items()}, "vocabulary": vocabulary}


def agreement(ours: list[list[int]], theirs: list[list[int]]) -> dict[str, Any]:
    """How far the greedy answers agree with the reference's: per prompt, the share of positions that match up to
    the first difference (after it the two continue from different text); meaningless when the reference's own
    answers do not depend on the prompt (all the same) or repeat one token."""
    shares = []
    for a, b in zip(ours, theirs):
        same = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
        shares.append(same / max(len(a), len(b), 1))
    distinct_answers = len({tuple(t) for t in theirs})
    distinct_tokens = len({tok for t in theirs for tok in t})
    reason = None
    if len(theirs) > 1 and distinct_answers == 1:
        reason = f"the reference gives the same answer to all {len(theirs)} prompts: agreement with it means nothing"
    elif distinct_tokens <= 1:
        reason = "the reference's answers repeat one token: agreement with it means nothing"
    return {"token_agreement": float(np.mean(shares)) if shares else None,
            "exact_match": sum(a == b for a, b in zip(ours, theirs)) / len(ours) if ours else None,
            "prompts": len(ours), "meaningful": reason is None, "reason": reason}
