#!/usr/bin/env python3
"""Does the harness time generation as a bare llama-cpp-python loop would? Prints TTFT and TPOT from both and their
ratios (goal: within 2%).

One process, one loaded model (the agent's llama.cpp backend), interleaved rounds. Harness: the agent's own path,
`probes.latency.steady_state` sampling TTFT over `generation.PromptCycle` (each prompt's prefill and first token
timed, the rest of its answer decoded token by token between samples). Bare loop: `Llama.generate` with greedy
sampling, the first token and each later one timed with perf_counter_ns. Both run the shipped prompts in the model's
chat template, each prefilled in full, the same tokens per prompt; the order alternates between rounds. The ratios
are the medians of the per-round p50 ratios (harness / bare).

    .venv/bin/python scripts/bench_generate.py [--model M.gguf] [--rounds 5] [--threads 1] [--max-tokens 16]

The model defaults to the SmolLM2-135M GGUF that scripts/setup_generative.sh unpacks.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from edgeprof.agent.backends.llama import BACKEND, LlamaRuntime  # noqa: E402
from edgeprof.agent.generation import PROMPT_CONTEXT, PromptCycle  # noqa: E402
from edgeprof.agent.generation_texts import PROMPTS  # noqa: E402
from edgeprof.agent.probes.latency import steady_state  # noqa: E402
from edgeprof.agent.spec import LatencyBudget  # noqa: E402

CACHE = Path(os.environ.get("EDGEPROF_CACHE", Path.home() / ".cache" / "edgeprof"))
DEFAULT_MODEL = CACHE / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf"


def harness(runtime: LlamaRuntime, prompts: list[list[int]], max_tokens: int) -> tuple[np.ndarray, list[float]]:
    """TTFT and TPOT samples (ms) as the agent takes them: every prompt once, by steady_state."""
    budget = LatencyBudget(min_runs=len(prompts), max_runs=len(prompts), min_seconds=0.0, max_seconds=1e9,
                           target_rel_halfwidth=0.0)
    cycle = PromptCycle(runtime, prompts, max_tokens, True)
    ttft, _, _ = steady_state(cycle.current, budget, lambda done, total: None, advance=cycle.advance)
    cycle.finish()
    return ttft, cycle.tpot_ms


def bare(runtime: LlamaRuntime, prompts: list[list[int]], max_tokens: int) -> tuple[list[float], list[float]]:
    """TTFT and TPOT samples (ms) of a plain loop: every prompt once, greedy, each prefilled in full."""
    llm = runtime.llm
    eos, ttft, tpot = llm.token_eos(), [], []
    clock = time.perf_counter_ns
    for tokens in prompts:
        llm.reset()
        steps = llm.generate(tokens, top_k=1, top_p=1.0, min_p=0.0, temp=0.0, repeat_penalty=1.0)
        t0 = clock()
        token = next(steps)
        ttft.append((clock() - t0) / 1e6)
        for _ in range(max_tokens - 1):
            if token == eos:
                break
            t0 = clock()
            token = next(steps)
            tpot.append((clock() - t0) / 1e6)
        steps.close()
    return ttft, tpot


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--max-tokens", type=int, default=16)
    args = parser.parse_args()
    if not args.model.is_file():
        sys.exit(f"bench_generate: no model at {args.model} (run scripts/setup_generative.sh)")
    runtime = BACKEND.open(str(args.model), args.threads, None, n_ctx=PROMPT_CONTEXT)
    prompts = [runtime.prompt_tokens(p)[0] for p in PROMPTS]
    bare(runtime, prompts, args.max_tokens)  # warm-up
    ratios: dict[str, list[float]] = {"ttft": [], "tpot": []}
    for round_ in range(args.rounds):
        order = (harness, bare) if round_ % 2 == 0 else (bare, harness)
        found = {fn.__name__: fn(runtime, prompts, args.max_tokens) for fn in order}
        p50 = {name: (float(np.median(t)), float(np.median(p))) for name, (t, p) in found.items()}
        ratios["ttft"].append(p50["harness"][0] / p50["bare"][0])
        ratios["tpot"].append(p50["harness"][1] / p50["bare"][1])
        print(f"round {round_ + 1}: TTFT p50 harness {p50['harness'][0]:.2f} ms, bare {p50['bare'][0]:.2f} ms; "
              f"TPOT p50 harness {p50['harness'][1]:.3f} ms, bare {p50['bare'][1]:.3f} ms", flush=True)
    print(f"model {args.model.name}, {args.threads} thread(s), {len(prompts)} prompts x {args.max_tokens} tokens per "
          f"round, {args.rounds} interleaved rounds")
    for name in ("ttft", "tpot"):
        values = ratios[name]
        print(f"{name.upper()} p50 harness / bare: {statistics.median(values):.3f} "
              f"(rounds {min(values):.3f}-{max(values):.3f})")


if __name__ == "__main__":
    main()
