"""Everything one Result measured, as (what, text) rows: the per-Result part of the full HTML and Markdown report."""

from __future__ import annotations

from typing import Any

from edgeprof.report.figures import figure_text, fmt, latency_text, method_tag
from edgeprof.result import Result
from edgeprof.units import duration, size

MEMORY_PHASES = (("baseline", "baseline_rss_mb"), ("after import", "after_import_rss_mb"),
                 ("after load", "after_load_rss_mb"), ("after first", "after_first_rss_mb"),
                 ("peak", "peak_rss_mb"))


def _method(section: dict[str, Any]) -> str:
    """'(estimate:utilisation — an estimate, not a measurement)', '(emulated:qemu-tcg — emulated)', '(measured)'."""
    method = str(section.get("method") or "none")
    note = {" (est)": " — an estimate, not a measurement", " (emu)": " — emulated, not a real board"}
    return f"({method}{note.get(method_tag(method), '')})"


def _not_measured(section: dict[str, Any]) -> str | None:
    """'not measured: <reason>' for a missing section or one with method none, else None."""
    if not section:
        return "not measured in this run"
    if section.get("method") == "none":
        return f"not measured: {section.get('reason') or 'no source on this device'}"
    return None


def latency_rows(result: dict[str, Any]) -> list[tuple[str, str]]:
    """Load, first inference, p50/p95/p99 with their CIs, samples and why sampling stopped."""
    latency = Result(result).latency
    missing = _not_measured(latency)
    if missing:
        return [("latency", missing)]
    confidence = (latency.get("ci") or {}).get("confidence")
    level = f" ({confidence:.0%} CI)" if confidence else ""
    compile_ms = latency.get("compile_ms")
    return [
        ("load, first", f"load {duration(latency.get('load_ms'))}, first inference {duration(latency.get('first_ms'))}"
         + (f", compile {duration(compile_ms)}" if compile_ms is not None else "")),
        ("latency" + level, ", ".join(f"{p} {latency_text(latency, p)}" for p in ("p50", "p95", "p99"))
         + f", mean {duration(latency.get('mean_ms'))} {_method(latency)}"),
        ("samples", f"{latency.get('samples', '-')} timed, stopped by {latency.get('stop_reason') or '-'}"
         + (" (raw samples truncated)" if latency.get("samples_truncated") else "")),
    ]


def memory_rows(result: dict[str, Any]) -> list[tuple[str, str]]:
    """RSS at each phase and its peak."""
    memory = Result(result).memory
    missing = _not_measured(memory)
    if missing:
        return [("memory", missing)]
    phases = [f"{name} {size(memory[key])}" for name, key in MEMORY_PHASES if memory.get(key) is not None]
    return [("memory (RSS)", " → ".join(phases) + f"; model adds {size(memory.get('model_delta_mb'))} "
             f"{_method(memory)}")]


def accuracy_rows(result: dict[str, Any]) -> list[tuple[str, str]]:
    """Top-1/top-5 on the dataset and the agreement, SQNR and drop against the fp32 reference (or why those mean
    nothing)."""
    accuracy = Result(result).accuracy
    if not accuracy:
        return [("accuracy", "not measured in this run")]
    rows = []
    if accuracy.get("top1") is not None:
        rows.append(("accuracy", f"top-1 {fmt(accuracy['top1'])}, top-5 {fmt(accuracy.get('top5'))} on "
                     f"{accuracy.get('samples', '-')} samples {_method(accuracy)}"))
    reference = accuracy.get("reference") or {}
    if reference.get("meaningful") is False:
        rows.append(("vs reference", f"not meaningful: {reference.get('reason') or '-'}"))
    elif reference:
        rows.append(("vs reference", f"agreement {fmt(reference.get('agreement_top1'))}, SQNR "
                     f"{fmt(reference.get('sqnr_db'))} dB, accuracy drop {fmt(reference.get('accuracy_drop'))}"))
    return rows or [("accuracy", "no dataset and no reference")]


def net_energy_text(power: dict[str, Any]) -> str:
    """The energy above idle per inference, or what the power section says instead of a number."""
    if power.get("net_status") == "indistinguishable":
        return f"indistinguishable from idle ({power.get('net_reason')})"
    return f"{fmt(power.get('net_energy_mj_per_inference'))} mJ"


def energy_rows(result: dict[str, Any]) -> list[tuple[str, str]]:
    """Energy per inference (whole board and above idle), watts, and the method that gave them."""
    power = Result(result).power
    missing = _not_measured(power)
    if missing:
        return [("energy", missing)]
    return [("energy", f"{fmt(power.get('energy_mj_per_inference'))} mJ/inference, above idle "
             f"{net_energy_text(power)}; {fmt(power.get('avg_w'))} W average, {fmt(power.get('idle_w'))} W idle, "
             f"{fmt(power.get('peak_w'))} W peak over {fmt(power.get('window_s'))} s "
             + (f"({power['samples']} samples) " if power.get("samples") else "") + _method(power)
             + (f" on an emulated device ({power['emulated']})" if power.get("emulated") else ""))]


def thermal_rows(result: dict[str, Any]) -> list[tuple[str, str]]:
    """Hottest zone before and after, the maximum, and throttling now or during the run."""
    thermal = Result(result).section("thermal")
    missing = _not_measured(thermal)
    if missing:
        return [("thermal", missing)]
    hottest = {when: max((thermal.get(key) or {}).values(), default=None)
               for when, key in (("before", "before_c"), ("after", "after_c"))}
    throttled = thermal.get("throttled") or {}
    now, occurred = throttled.get("now") or [], throttled.get("occurred") or []
    state = ("throttling now: " + ", ".join(now) if now else "throttled during the run: " + ", ".join(occurred)
             if occurred else "no throttling" if throttled else "throttling not readable")
    return [("thermal", f"hottest {fmt(hottest['before'])} °C before, {fmt(hottest['after'])} °C after, max "
             f"{fmt(thermal.get('max_c'))} °C; {state} {_method(thermal)}")]


def runtime_rows(result: dict[str, Any]) -> list[tuple[str, str]]:
    """The runtime with its version and threads, the providers or delegates asked for and those that ran."""
    runtime = Result(result).runtime
    threads = ", ".join(f"{k}={v}" for k, v in (runtime.get("threads") or {}).items()) or "-"
    ran = runtime.get("providers") or runtime.get("delegates") or []
    return [("runtime", f"{runtime.get('name', '-')} {runtime.get('version', '')}".strip() + f", threads {threads}"),
            ("provider", (f"asked {', '.join(runtime['requested'])}; " if runtime.get("requested") else "")
             + "ran " + (", ".join(str(p) for p in ran) or "-"))]


def _percentiles(distribution: dict[str, Any]) -> str:
    """'p50 61.2 ms [58.0–64.1], p95 141 ms [120–151], p99 160 ms': one timed distribution with its intervals."""
    return ", ".join(f"{p} {latency_text(distribution, p)}" for p in ("p50", "p95", "p99"))


def generation_rows(result: dict[str, Any]) -> list[tuple[str, str]]:
    """A language model's generation: load and the cold first answer, TTFT and TPOT with their intervals, tokens/s,
    RSS by context depth, perplexity with its interval, agreement with the reference (or why it means nothing) and
    energy per token; each row reads as one line too ('TTFT p50 ...', generation_lines)."""
    gen = Result(result).generation
    missing = _not_measured(gen)
    if missing:
        return [("generation", missing)]
    first = gen.get("first") or {}
    ttft, tpot = gen.get("ttft") or {}, gen.get("tpot") or {}
    rows = [("load", f"{duration(gen.get('load_ms'))}; the first answer cold: TTFT {duration(first.get('ttft_ms'))}, "
                     f"{first.get('tokens', '-')} tokens in {duration(first.get('ms'))}"),
            ("TTFT", f"{_percentiles(ttft)} {_method(gen)}"),
            ("TPOT", f"{_percentiles(tpot)} over {tpot.get('samples', '-')} tokens"),
            ("tokens/s", f"prefill {fmt(gen.get('prefill_tokens_per_s'))}, decode {fmt(gen.get('decode_tokens_per_s'))}"
                         f" ({gen.get('prompts_run')} prompts, {gen.get('tokens_decoded')} tokens, stopped by "
                         f"{gen.get('stop_reason')})")]
    depths = gen.get("context") or []
    if depths:
        rows.append(("context", "; ".join(f"{row['tokens']} tokens: RSS {size(row.get('rss_mb'))} "
                                          f"(+{size(row.get('growth_mb'))}), prefill {duration(row.get('prefill_ms'))}, "
                                          f"decode {duration(row.get('decode_ms'))}" for row in depths)))
    quality = gen.get("quality") or {}
    rows.append(("perplexity", f"{figure_text(result, 'generation.perplexity')} on the {quality.get('text')} text "
                               f"({quality.get('perplexity_tokens', '-')} tokens)"))
    reference = quality.get("reference") or {}
    if reference:
        agreement = figure_text(result, "generation.agreement", interval=False)
        rows.append(("agreement", f"{agreement} with the reference (exact match {fmt(reference.get('exact_match'))} "
                                  f"over {reference.get('prompts')} prompts; its perplexity "
                                  f"{fmt(reference.get('reference_perplexity'))})" if reference.get("meaningful")
                     else f"{agreement}: {reference.get('reason')}"))
    energy = gen.get("energy") or {}
    rows.append(("energy", f"{fmt(energy['mj_per_token'])} mJ/token, {fmt(energy.get('tokens_per_joule'))} tokens/J "
                           f"{_method(energy)}" if energy.get("mj_per_token") is not None
                 else _not_measured(Result(result).power) or "not measured in this run"))
    return rows


def result_rows(result: dict[str, Any]) -> list[tuple[str, str]]:
    """Every measured fact of one Result in reading order (a language model's generation in place of latency,
    accuracy and energy per inference); a failed run: its error."""
    view = Result(result)
    if not view.ok:
        error = view.error
        return [("run failed", f"{error.get('kind')}: {error.get('message')} (stage {error.get('stage') or '-'})")]
    if view.generative:
        return generation_rows(result) + memory_rows(result) + thermal_rows(result) + runtime_rows(result)
    return (latency_rows(result) + memory_rows(result) + accuracy_rows(result) + energy_rows(result)
            + thermal_rows(result) + runtime_rows(result))
