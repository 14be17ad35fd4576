"""A recommendation (edgeprof.recommend) as plain lines: the pick with its figures, the fronts, the rejections."""

from __future__ import annotations

from typing import Any

from edgeprof.constraints import value_at
from edgeprof.recommend import Recommendation
from edgeprof.report.figures import key_figures, verdict_bound, verdict_value
from edgeprof.result import viewer


def describe(rec: Recommendation) -> list[str]:
    """The recommendation as plain lines: the pick with its figures, the fronts, and why each other lost."""
    def figures(result: dict[str, Any]) -> str:
        shown = key_figures(result)
        cost = value_at(result, "cost.usd_per_million")
        return (f"p95 {shown['p95']}, top-1 {shown['top-1']}, {shown['mJ/inf']} mJ/inf"
                + (f", ${cost:.4g} per million" if cost is not None else ""))

    view = viewer(rec.candidates)
    group = f"{rec.device} / {rec.model}"
    lines = [f"{group}: recommended {view(rec.best).variant_label} ({figures(rec.best)})" if rec.best
             else f"{group}: no variant meets every constraint"]
    if rec.front:
        lines.append("Pareto front, accuracy vs p95: " + ", ".join(view(r).variant_label for r in rec.front))
    if rec.energy_front:
        lines.append("Pareto front, accuracy vs energy: "
                     + ", ".join(view(r).variant_label for r in rec.energy_front))
    for result, verdict in rec.rejected:
        bound = f" (needs {verdict_bound(verdict)})" if verdict.get("bound") is not None else ""
        lines.append(f"rejected {view(result).variant_label}: {verdict['constraint']} {verdict['status']}, value "
                     f"{verdict_value(verdict)}{bound}"
                     + (f": {verdict['detail']}" if verdict.get("detail") else ""))
    return lines
