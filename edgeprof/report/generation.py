"""The lines a terminal shows under the tables for a generative model: TTFT, TPOT, throughput, quality, energy."""

from __future__ import annotations

from typing import Any

from edgeprof.report.figures import fmt, latency_text, method_tag


def generation_lines(result: dict[str, Any]) -> list[str]:
    """TTFT and TPOT (p50, p95 with its interval), prefill and decode tokens/s, perplexity, reference agreement and
    energy per token of a Result with a `generation` section (none otherwise)."""
    gen = result.get("generation")
    if not gen:
        return []
    tag = method_tag(gen.get("method"))
    lines = [f"{name} p50 {latency_text(gen[key] or {}, 'p50', interval=False)}, "
             f"p95 {latency_text(gen[key] or {}, 'p95')}{tag}" for name, key in (("TTFT", "ttft"), ("TPOT", "tpot"))]
    lines.append(f"prefill {fmt(gen.get('prefill_tokens_per_s'))} tokens/s, "
                 f"decode {fmt(gen.get('decode_tokens_per_s'))} tokens/s{tag} ({gen.get('prompts_run')} prompts, "
                 f"{gen.get('tokens_decoded')} tokens, stopped by {gen.get('stop_reason')})")
    quality = gen.get("quality") or {}
    reference = quality.get("reference") or {}
    text = f"perplexity {fmt(quality.get('perplexity'))} ({quality.get('text')} text)"
    if reference:
        agreement = fmt(reference.get("token_agreement"))
        text += (f"; agreement with the reference {agreement}" if reference.get("meaningful")
                 else f"; agreement {agreement} means nothing: {reference.get('reason')}")
    lines.append(text)
    energy = gen.get("energy") or {}
    if energy.get("mj_per_token") is not None:
        lines.append(f"energy {fmt(energy['mj_per_token'])} mJ/token, {fmt(energy.get('tokens_per_joule'))} tokens/J"
                     f"{method_tag(energy.get('method'))}")
    return lines
