"""One readable line per load-scenario figure of a Result (offline throughput, server runs, max QPS)."""

from __future__ import annotations

from typing import Any

from edgeprof.report.figures import fmt
from edgeprof.result import Result
from edgeprof.units import duration


def scenario_lines(results: list[dict[str, Any]]) -> list[str]:
    """Lines for the results that ran the offline or server scenario (none for single-stream)."""
    lines: list[str] = []
    for result in results:
        section = result.get("scenario") or {}
        if section.get("name") not in ("offline", "server"):
            continue
        view = Result(result)
        who = f"{view.device} {view.model_label}"
        method = "" if section.get("method") == "measured" else f" [{section.get('method')}]"
        lines += [f"{who}: {text}{method}" for text in _texts(section)]
    return lines


def _texts(section: dict[str, Any]) -> list[str]:
    if section["name"] == "offline":
        best = section["best"]
        threads = best["threads"] if best["threads"] is not None else "default"
        fixed = f" (batch fixed at {section['batches'][0]} by the model)" if section["batch_dim"] == "fixed" else ""
        return [f"offline {fmt(best['inferences_per_s'])} inferences/s at batch {best['batch']}, "
                f"threads {threads}{fixed}"]
    texts = []
    run = section.get("run")
    if run:
        why = f" ({'; '.join(run['invalid_reasons'])})" if run["invalid_reasons"] else ""
        texts.append(f"server at {fmt(run['target_qps'])} QPS: {run['result']}{why}, p50 {duration(run['p50_ms'])}, "
                     f"p99 {duration(run['p99_ms'])}, {run['queries']} queries")
    search = section.get("max_qps_search")
    if search:
        found = (f"{fmt(search['max_qps'])} QPS" if search["max_qps"] else "no rate met it")
        texts.append(f"max QPS with p99 <= {duration(search['p99_bound_ms'])}: {found} "
                     f"({len(search['tried'])} runs, {search['stop_reason']}, {search['seconds']:.1f} s)")
    return texts
