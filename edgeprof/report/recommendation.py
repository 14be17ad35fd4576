"""A recommendation (edgeprof.decisions) as plain lines and as JSON: the pick with its figures, the fronts, and
the judge's reason for every variant not chosen."""

from __future__ import annotations

from typing import Any

from rich.text import Text

from edgeprof.constraints import METRICS, Workload, metric_value, value_at, workload_of
from edgeprof.decisions import Recommendation
from edgeprof.report.figures import figure_text
from edgeprof.result import Result, viewer


def _weighed(workload: Workload) -> tuple[str, ...]:
    """The metrics a recommendation weighs, as it names them: speed, quality, energy."""
    return (*workload.speed, workload.quality, workload.energy)


def _figures(result: dict[str, Any]) -> str:
    workload = workload_of(result)
    cost = value_at(result, "cost.usd_per_million")
    return (", ".join(f"{METRICS[name].label} {figure_text(result, name, interval=name in workload.intervals)}"
                      for name in _weighed(workload))
            + (f", ${cost:.4g} per million" if cost is not None else ""))


def describe(rec: Recommendation) -> list[str]:
    """The recommendation as plain lines: the pick with its figures, the fronts, and why each other lost."""
    view = viewer(rec.candidates)
    group = f"{rec.device} / {rec.model}"
    lines = [f"{group}: recommended {view(rec.best).variant_label} ({_figures(rec.best)})" if rec.best
             else f"{group}: no variant meets every constraint"]
    workload = workload_of(rec.candidates[0]) if rec.candidates else None
    if rec.front and workload:
        lines.append(f"Pareto front, {workload.quality_noun} vs {METRICS[workload.speed[0]].label}: "
                     + ", ".join(view(r).variant_label for r in rec.front))
    if rec.energy_front and workload:
        lines.append(f"Pareto front, {workload.quality_noun} vs energy: "
                     + ", ".join(view(r).variant_label for r in rec.energy_front))
    lines += [f"not {view(result).variant_label}: {reason.text}" for result, reason in rec.rejected]
    return lines


def recommendation_text(rec: Recommendation) -> Text:
    """The recommendation for the terminal (recommend, sweep, demo): `describe`'s lines, the pick in bold, the rest
    indented under it."""
    first, *rest = describe(rec)
    return Text("\n").join([Text(first, style="bold"), *(Text("  " + line) for line in rest)])


def recommendation_json(rec: Recommendation) -> dict[str, Any]:
    """The recommendation for `recommend --json`: the pick, the fronts, and each other candidate with its reason
    (and the blocking verdict where a constraint ruled it out)."""
    def ref(r: dict[str, Any] | None) -> dict[str, Any] | None:
        if r is None:
            return None
        view = Result(r)
        ci = view.top1_interval
        return {"model": view.ref_label, "run_id": r.get("run_id"),
                "top1": view.accuracy.get("top1"), "top1_ci95": list(ci) if ci else None,
                "cost_usd_per_million": (r.get("cost") or {}).get("usd_per_million"),
                "figures": {name: metric_value(r, name) for name in _weighed(workload_of(r))}}
    return {"device": rec.device, "model": rec.model, "best": ref(rec.best),
            "front": [ref(r) for r in rec.front], "energy_front": [ref(r) for r in rec.energy_front],
            "rejected": [{**(ref(r) or {}), "reason": reason.kind, "why": reason.text, "p_value": reason.p_value,
                          "verdict": reason.verdict} for r, reason in rec.rejected]}
