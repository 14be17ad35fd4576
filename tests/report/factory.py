"""Hand-built Result documents (docs/result-schema.md) with seeded raw samples, judged by the real constraints code."""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np

from edgeprof.agent.spec import ErrorKind, Stage
from edgeprof.constraints import parse_constraint
from edgeprof.result import build_result
from edgeprof.verdicts import judge

BUDGETS = ("latency.p95_ms<=20", "accuracy.top1>=0.85", "memory.peak_rss_mb<=300", "power.energy_mj<=40")
VARIANTS = {"fp32": (14.0, 0.93, 180.0), "fp16": (11.0, 0.925, 120.0), "int8-static": (6.0, 0.90, 80.0),
            "int8-dynamic": (8.0, 0.84, 90.0)}


def make_result(device: str, variant: str, *, model: str = "mobilenet", median_ms: float = 10.0,
                top1: float | None = 0.9,
                peak_mb: float = 100.0, power_method: str | None = "sensor:jetson-ina3221", emulated: str | None = None,
                seed: int = 0, n: int = 400, thermal: bool = True, budgets: tuple[str, ...] = BUDGETS,
                run_id: str = "20261129T031500Z-3f2a9c") -> dict[str, Any]:
    """One complete, judged Result: lognormal latencies around `median_ms` in run order, power from `power_method`."""
    rng = np.random.default_rng(seed)
    samples = median_ms * rng.lognormal(0.0, 0.12, n)
    pct = {q: float(np.percentile(samples, q)) for q in (50, 90, 95, 99)}
    ci = {f"p{q}": [v * 0.97, v * 1.03] for q, v in pct.items()}
    ci["confidence"] = 0.95
    power = None
    if power_method:
        avg_w = 4.0 + median_ms / 10
        power = {"method": power_method, "idle_w": 2.5, "avg_w": avg_w, "peak_w": avg_w * 1.2,
                 "energy_mj_per_inference": avg_w * median_ms, "net_energy_mj_per_inference": (avg_w - 2.5) * median_ms,
                 "inferences_per_joule": 1000 / (avg_w * median_ms), "window_s": 3.0, "inferences": 300,
                 "sample_hz": 20, "rails": {}}
    path = f"models/{model}/{model}-{variant}.onnx"
    device_info = {"name": device, "description": f"{device} board", "emulated": emulated,
                   "hardware": {"cpu": "Cortex-A72", "cores": 4, "max_clock_ghz": 1.5, "ram_mb": 4096,
                                "peak_gflops": 24.0}}
    identity = {"path": path, "name": model, "variant": variant, "format": "onnx",
                "sha256": hashlib.sha256(path.encode()).hexdigest(), "size_bytes": 1_000_000}
    measured: dict[str, Any] = {
        "runtime": {"name": "onnxruntime", "version": "1.32.0", "threads": {"intra_op": 4, "inter_op": 1},
                    "providers": ["CPUExecutionProvider"]},
        "system": {"board": device, "cpu_model": "Cortex-A72", "cpu_count": 4, "kernel": "6.6.31", "python": "3.11.2",
                   "numpy": "2.4.6", "governor": "performance", "freq_mhz": {"cur": 1500, "max": 1500},
                   "loadavg": [0.1, 0.1, 0.1], "busy_warning": None},
        "inputs": [{"name": "input", "shape": [1, 3, 224, 224], "dtype": "float32", "source": "random"}],
        "latency": {"method": f"emulated:{emulated}" if emulated else "measured", "load_ms": 30.0, "first_ms": 20.0,
                    "warmup": {"runs": 20, "stable": True, "ms": 200.0}, "samples": n, "stop_reason": "precision",
                    "p50_ms": pct[50], "p90_ms": pct[90], "p95_ms": pct[95], "p99_ms": pct[99],
                    "max_ms": float(samples.max()), "mean_ms": float(samples.mean()), "std_ms": float(samples.std()),
                    "min_ms": float(samples.min()), "ci": ci, "throughput_ips": 1000 / float(samples.mean()),
                    "drift": {"first_decile_ms": pct[50], "last_decile_ms": pct[50], "ratio": 1.0, "flag": False},
                    "samples_ms": [round(float(x), 6) for x in samples], "samples_truncated": False},
        "memory": {"method": "measured", "baseline_rss_mb": 30.0, "after_load_rss_mb": peak_mb - 5,
                   "after_first_rss_mb": peak_mb - 1, "peak_rss_mb": peak_mb, "model_delta_mb": peak_mb - 30},
        "power": power,
        "thermal": ({"method": "sensor:thermal_zone", "before_c": {"cpu-thermal": 45.0 + seed % 3},
                     "after_c": {"cpu-thermal": 52.0}, "max_c": 53.5, "throttled": None} if thermal
                    else {"method": "none", "reason": "no thermal zones on this device"}),
        "accuracy": ({"method": "measured", "samples": 360, "top1": top1, "top5": 0.99} if top1 is not None
                     else None),
        "warnings": [],
    }
    result = build_result(device_info=device_info, model=identity, agent=measured, error=None,
                          timing={"stages": {}}, transfer={"bytes_sent": 0, "files_sent": 0, "files_cached": 2})
    result.update(run_id=run_id, created="2026-11-29T03:15:00Z")
    result["verdicts"] = judge(result, [parse_constraint(text, source="tests") for text in budgets])
    return result


def failed_result(device: str, variant: str, *, model: str = "mobilenet") -> dict[str, Any]:
    """A run that failed on the device: identity kept, measured sections null."""
    measured = make_result(device, variant, model=model)
    error = {"kind": ErrorKind.MODEL_LOAD, "message": "unsupported operator <QLinearFoo>", "stage": Stage.LOAD}
    result = build_result(device_info=measured["device_info"], model=measured["model"], agent=None, error=error,
                          timing=measured["timing"], transfer=measured["transfer"])
    result.update(run_id=measured["run_id"], created=measured["created"])
    return result


def small_set() -> list[dict[str, Any]]:
    """Three devices (one emulated, one with estimated power) x four variants, plus one failed run."""
    results = []
    devices = (("jetson-orin-nano", 1.0, "sensor:jetson-ina3221", None),
               ("pi4", 2.2, "estimate:utilisation", None),
               ("qemu-pi4", 9.0, None, "qemu-tcg"))
    for d, (device, scale, power, emulated) in enumerate(devices):
        for v, (variant, (ms, top1, mb)) in enumerate(VARIANTS.items()):
            results.append(make_result(device, variant, median_ms=ms * scale, top1=top1, peak_mb=mb,
                                       power_method=power, emulated=emulated, seed=10 * d + v,
                                       thermal=emulated is None))
    results.append(failed_result("pi4", "int4-weird"))
    return results


LONG_DEVICES = ("jetson-orin-nano-devkit-8gb", "raspberry-pi-5-8gb", "raspberry-pi-4-model-b-4gb",
                "jetson-nano-4gb-b01", "qemu-pi4-emulated-arm64", "local-x86-64-workstation")
LONG_VARIANTS = ("fp32", "fp16", "int8-dynamic", "int8-static", "int8-static-per-channel", "uint8-qdq-symmetric",
                 "int4-weight-only-group32", "pruned-50pct-int8-static")


def big_set() -> list[dict[str, Any]]:
    """6 devices x 8 variants with long names, for layout checks."""
    return [make_result(device, variant, model="mobilenet_v2_1.0_224", median_ms=3.0 + 2 * v + 5 * d,
                        top1=0.95 - 0.01 * v, peak_mb=60.0 + 20 * v,
                        power_method="estimate:utilisation" if d % 2 else "sensor:hwmon",
                        emulated="qemu-tcg" if device.startswith("qemu") else None, seed=100 + 8 * d + v, n=200)
            for d, device in enumerate(LONG_DEVICES) for v, variant in enumerate(LONG_VARIANTS)]


OPENVINO = "OpenVINOExecutionProvider"
CPU = "CPUExecutionProvider"


def on_accelerator(result: dict[str, Any], requested: list[str], *, compile_ms: float | None = None,
                   cache: str = "miss") -> dict[str, Any]:
    """`result` as run with `requested` (ONNX names, e.g. ['openvino', 'cpu']): runtime, placement and op profile
    as the agent writes them; an accelerator other than cpu places 11 of 12 nodes, Hardmax falling back to CPU."""
    accelerated = requested[0] != "cpu"
    active = [OPENVINO, CPU] if accelerated else [CPU]
    nodes = [{"node": f"conv_{i}", "op": "Conv", "ran_on": active[0]} for i in range(11)]
    nodes.append({"node": "odd_hardmax", "op": "Hardmax", "ran_on": CPU})
    by = [{"name": OPENVINO, "nodes": 11, "ms": 0.97, "share": 0.97},
          {"name": CPU, "nodes": 1, "ms": 0.03, "share": 0.03}] if accelerated else \
        [{"name": CPU, "nodes": 12, "ms": 1.0, "share": 1.0}]
    fallback = [n for n in nodes if accelerated and n["ran_on"] == CPU]
    compiled = {"ms": compile_ms, "session_ms": compile_ms + 5, "cache": cache, "cache_key": "k" * 24,
                "method": "measured"} if compile_ms is not None else None
    result = {**result, "runtime": {**result["runtime"], "providers": active, "requested": requested,
                                    "compile": compiled}}
    result["latency"] = {**result["latency"], "compile_ms": compile_ms}
    result["placement"] = {"method": "onnxruntime graph assignment", "requested": requested, "active": active,
                           "unavailable": [], "by_accelerator": by, "nodes": 12, "fallback_count": len(fallback),
                           "fallback_nodes": fallback, "accelerated_fraction": 0.97 if accelerated else 0.0,
                           "fraction_basis": "time"}
    ops = [("Conv", 0.5), ("Gemm", 0.2), ("MaxPool", 0.1), ("Relu", 0.08), ("Softmax", 0.07), ("Hardmax", 0.05)]
    result["op_profile"] = {"method": "sensor:onnxruntime-profiler", "runs": 100,
                            "by_op_type": [{"op": op, "ms_per_run": share, "share": share} for op, share in ops],
                            "by_node": [{"node": f"{op.lower()}_0", "op": op,
                                         "provider": CPU if op == "Hardmax" else active[0],
                                         "ms_per_run": share, "share": share} for op, share in ops],
                            "note": "test"}
    return result


GGUF_BUDGETS = ("generation.ttft_p95_ms<=2000", "generation.tpot_p95_ms<=100", "generation.perplexity<=40")


def make_gguf_result(device: str, variant: str, *, model: str = "smollm", ttft_ms: float = 300.0,
                     tpot_ms: float = 30.0, perplexity: float = 20.0, perplexity_halfwidth: float = 1.0,
                     size_mb: float = 100.0, peak_mb: float = 200.0, power_method: str | None = "estimate:utilisation",
                     agreement: float | None = 0.8, meaningful: bool = True, load_ms: float = 350.0,
                     growth_mb: float = 10.0, seed: int = 0, prompts: int = 120, tokens: int = 16,
                     budgets: tuple[str, ...] = GGUF_BUDGETS, run_id: str = "20261207T031500Z-4b5c6d",
                     created: str = "2026-12-07T03:15:00Z") -> dict[str, Any]:
    """One complete, judged Result of a GGUF language model: lognormal TTFT and TPOT samples around the medians
    given, summarised by the agent's own code (generation.timed_distribution), perplexity with its interval,
    agreement with a reference (meaningless when `meaningful` is False), energy per token from `power_method`."""
    from edgeprof.agent.generation import timed_distribution
    from edgeprof.agent.spec import LatencyBudget

    rng = np.random.default_rng(seed)
    ttft = ttft_ms * rng.lognormal(0.0, 0.1, prompts)
    tpot = tpot_ms * rng.lognormal(0.0, 0.1, prompts * (tokens - 1))
    budget = LatencyBudget()
    energy = tpot_ms * 4.0 if power_method else None  # ~4 W while decoding
    reference = None if agreement is None else {
        "token_agreement": agreement, "exact_match": agreement / 2, "prompts": 8, "meaningful": meaningful,
        "reason": None if meaningful else "the reference gives the same answer to all 8 prompts: agreement with it "
                                          "means nothing",
        "reference_perplexity": perplexity * 0.95, "reference_perplexity_tokens": 230,
        "reference_perplexity_ci95": [perplexity * 0.95 - perplexity_halfwidth,
                                      perplexity * 0.95 + perplexity_halfwidth]}
    generation = {
        "method": "measured", "load_ms": load_ms,
        "first": {"ttft_ms": ttft_ms * 1.5, "ms": ttft_ms * 1.5 + 15 * tpot_ms, "tokens": tokens},
        "warmup": {"runs": 20, "stable": True, "ms": 20 * tpot_ms}, "prompts_run": prompts,
        "tokens_decoded": prompts * tokens, "stop_reason": "precision",
        "ttft": timed_distribution(ttft, budget), "tpot": timed_distribution(tpot, budget),
        "e2e": None, "prefill_tokens_per_s": 60 * 1000 / ttft_ms, "decode_tokens_per_s": 1000 / float(tpot.mean()),
        "context": [{"tokens": 64, "rss_mb": peak_mb - 5, "growth_mb": growth_mb / 4, "prefill_ms": 80.0,
                     "decode_ms": tpot_ms},
                    {"tokens": 256, "rss_mb": peak_mb, "growth_mb": growth_mb, "prefill_ms": 320.0,
                     "decode_ms": tpot_ms * 1.1}],
        "quality": {"text": "shipped", "perplexity": perplexity, "perplexity_tokens": 230,
                    "perplexity_ci95": [perplexity - perplexity_halfwidth, perplexity + perplexity_halfwidth],
                    "reference": reference},
        "sample_output": "A battery is a device that stores electrical energy",
        "prompts": {"count": 8, "source": "shipped", "format": "chat template", "tokens": [35, 41, 43, 56]},
        "energy": {"method": power_method or "none", "mj_per_token": energy,
                   "net_mj_per_token": energy / 2 if energy else None,
                   "tokens_per_joule": 1000 / energy if energy else None},
    }
    power = ({"method": power_method, "idle_w": 2.5, "avg_w": 4.0, "energy_mj_per_inference": energy,
              "net_energy_mj_per_inference": energy / 2, "window_s": 1.0, "inferences": 30} if power_method
             else {"method": "none", "reason": "no power source on this device"})
    path = f"models/{model}/{model}-{variant}.gguf"
    device_info = {"name": device, "description": f"{device} board", "emulated": None,
                   "hardware": {"cpu": "Cortex-A76", "cores": 4, "ram_mb": 8192}}
    identity = {"path": path, "name": model, "variant": variant, "format": "gguf",
                "sha256": hashlib.sha256(path.encode()).hexdigest(), "size_bytes": int(size_mb * 1e6)}
    measured: dict[str, Any] = {
        "runtime": {"name": "llama.cpp", "version": "0.3.36", "threads": {"intra_op": 4}},
        "system": {"board": device, "cpu_model": "Cortex-A76", "cpu_count": 4, "kernel": "6.6.31",
                   "python": "3.11.2", "numpy": "2.4.6", "governor": "performance"},
        "memory": {"method": "measured", "baseline_rss_mb": 30.0, "after_load_rss_mb": peak_mb - 20,
                   "peak_rss_mb": peak_mb, "model_delta_mb": peak_mb - 30},
        "power": power, "thermal": {"method": "none", "reason": "no thermal zones on this device"},
        "generation": generation, "warnings": [],
    }
    result = build_result(device_info=device_info, model=identity, agent=measured, error=None,
                          timing={"stages": {}}, transfer={"bytes_sent": 0, "files_sent": 0, "files_cached": 2})
    result.update(run_id=run_id, created=created)
    result["verdicts"] = judge(result, [parse_constraint(text, source="tests") for text in budgets])
    return result
