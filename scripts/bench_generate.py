#!/usr/bin/env python3
"""Does the harness time generation as a bare llama-cpp-python loop would? Prints TTFT and TPOT from both and their
ratios (goal: within 2%).

Each round runs `edgeprof deploy --device local` on a GGUF model (the agent in its own process: warm-up, then the
prompts by the stopping rule) and, in this process, a bare loop on the same model, threads, context size and
prompts: `Llama.generate` with greedy sampling, the first token and each later one timed with perf_counter_ns,
for as many prompts as the harness ran, in the same order. Rounds alternate; the figures are the medians of the
per-round p50s.

    .venv/bin/python scripts/bench_generate.py [--model M.gguf] [--rounds 3] [--threads 2] [--max-tokens 32]

The model defaults to the SmolLM2-135M GGUF that scripts/setup_generative.sh unpacks.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from edgeprof.agent.backends.llama import prompt_tokens  # noqa: E402
from edgeprof.agent.generation import PROMPT_CONTEXT  # noqa: E402
from edgeprof.agent.generation_texts import PROMPTS  # noqa: E402

CACHE = Path(os.environ.get("EDGEPROF_CACHE", Path.home() / ".cache" / "edgeprof"))
DEFAULT_MODEL = CACHE / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf"


def harness(model: Path, threads: int, max_tokens: int, seconds: float, store: Path) -> dict:
    """One deploy on the local device: the Result's generation section."""
    path = os.pathsep.join(filter(None, (str(REPO), os.environ.get("PYTHONPATH"))))
    proc = subprocess.run([sys.executable, "-m", "edgeprof", "deploy", "--json", "--model", str(model),
                           "--threads", str(threads), "--max-tokens", str(max_tokens), "--max-seconds", str(seconds),
                           "--power-seconds", "0", "--context", "128", "--store", str(store)],
                          capture_output=True, text=True, timeout=900, env={**os.environ, "PYTHONPATH": path})
    if not proc.stdout.strip():
        sys.exit(f"bench_generate: the deploy failed: {proc.stderr.strip()}")
    (result,) = json.loads(proc.stdout)
    if result["status"] != "ok":
        sys.exit(f"bench_generate: the deploy failed: {result['error']}")
    return result["generation"]


def bare(llm, prompts: list[list[int]], count: int, max_tokens: int) -> tuple[list[float], list[float]]:
    """TTFT and TPOT samples (ms) of `count` prompts in turn, greedy, each prompt prefilled in full."""
    eos, ttft, tpot = llm.token_eos(), [], []
    clock = time.perf_counter_ns
    for i in range(count):
        llm.reset()
        steps = llm.generate(prompts[i % len(prompts)], top_k=1, top_p=1.0, min_p=0.0, temp=0.0, repeat_penalty=1.0)
        t0 = clock()
        token = next(steps)
        t1 = clock()
        ttft.append((t1 - t0) / 1e6)
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
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=20.0, help="The harness's --max-seconds per round.")
    args = parser.parse_args()
    if not args.model.is_file():
        sys.exit(f"bench_generate: no model at {args.model} (run scripts/setup_generative.sh)")
    import llama_cpp

    llm = llama_cpp.Llama(model_path=str(args.model), n_ctx=PROMPT_CONTEXT, n_threads=args.threads,
                          n_threads_batch=args.threads, seed=0, verbose=False)
    prompts = [prompt_tokens(llm, p)[0] for p in PROMPTS]  # in the chat template, as the agent sends them
    bare(llm, prompts, len(prompts), args.max_tokens)  # warm-up, as the harness does its own
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for round_ in range(args.rounds):
            gen = harness(args.model, args.threads, args.max_tokens, args.seconds, Path(tmp) / "r.db")
            ttft, tpot = bare(llm, prompts, gen["prompts_run"], args.max_tokens)
            row = {"prompts": gen["prompts_run"], "h_ttft": gen["ttft"]["p50_ms"], "b_ttft": float(np.median(ttft)),
                   "h_tpot": gen["tpot"]["p50_ms"], "b_tpot": float(np.median(tpot))}
            rows.append(row)
            print(f"round {round_ + 1}: {row['prompts']} prompts; TTFT p50 harness {row['h_ttft']:.2f} ms, bare "
                  f"{row['b_ttft']:.2f} ms; TPOT p50 harness {row['h_tpot']:.3f} ms, bare {row['b_tpot']:.3f} ms",
                  flush=True)
    med = {key: statistics.median(r[key] for r in rows) for key in rows[0]}
    print(f"model {args.model.name}, {args.threads} threads, {args.max_tokens} tokens per prompt, "
          f"{args.rounds} rounds (medians of the per-round p50s)")
    print(f"TTFT p50: harness {med['h_ttft']:.2f} ms, bare loop {med['b_ttft']:.2f} ms, "
          f"ratio {med['h_ttft'] / med['b_ttft']:.3f}")
    print(f"TPOT p50: harness {med['h_tpot']:.3f} ms, bare loop {med['b_tpot']:.3f} ms, "
          f"ratio {med['h_tpot'] / med['b_tpot']:.3f}")


if __name__ == "__main__":
    main()
