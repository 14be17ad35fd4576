"""Which variant, on which accelerator, to ship: the best accuracy that meets every constraint, the Pareto fronts, and why others lost."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

from edgeprof.constraints import OPERATORS, Constraint, judge, value_at
from edgeprof.result import Result


@dataclass
class Recommendation:
    """The pick for one device x model, its Pareto fronts and each rejected (variant, accelerator) candidate with the
    verdict against it; `candidates` are all it chose among."""

    device: str
    model: str
    best: dict[str, Any] | None
    front: list[dict[str, Any]]
    energy_front: list[dict[str, Any]] = field(default_factory=list)
    rejected: list[tuple[dict[str, Any], dict[str, Any]]] = field(default_factory=list)
    candidates: list[dict[str, Any]] = field(default_factory=list)


def _figure(result: dict[str, Any], path: str) -> float | None:
    value = value_at(result, path)
    return float(value) if value is not None else None


def latest_variants(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The last Result per device x model x variant x format x accelerator (input oldest to newest), in first-seen
    order."""
    latest: dict[tuple[str | None, ...], dict[str, Any]] = {}
    for result in results:
        latest[Result(result).configuration] = result
    return list(latest.values())


def feasible(verdict: dict[str, Any]) -> bool:
    """A verdict that lets a variant through: a pass, or informational (emulated) figures that would pass."""
    if verdict["status"] == "pass":
        return True
    return (verdict["status"] == "informational" and verdict.get("value") is not None
            and OPERATORS[verdict["op"]](verdict["value"], verdict["bound"]))


def _blocker(result: dict[str, Any], verdicts: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The verdict that rules a variant out (a failed run first), or None when it meets every constraint."""
    if not Result(result).ok:
        error = Result(result).error
        failing = [v for v in verdicts if v["status"] == "fail"]
        return failing[0] if failing else {"constraint": "run", "op": "", "bound": None, "value": None,
                                           "status": "fail", "method": "-", "detail": f"run failed: "
                                           f"{error.get('kind')}: {error.get('message')}", "source": "-"}
    order = {"fail": 0, "inconclusive": 1, "not measured": 2, "informational": 3}
    blocking = sorted((v for v in verdicts if not feasible(v)), key=lambda v: order.get(v["status"], 4))
    return blocking[0] if blocking else None


def pareto_front(results: list[dict[str, Any]], cost_path: str) -> list[dict[str, Any]]:
    """Results no other beats on both higher top-1 accuracy and lower `cost_path` (sorted by that cost)."""
    points = [(r, _figure(r, "accuracy.top1"), _figure(r, cost_path)) for r in results]
    points = [(r, -math.inf if a is None else a, c) for r, a, c in points if c is not None]
    front = [r for r, a, c in points
             if not any(a2 >= a and c2 <= c and (a2 > a or c2 < c) for _, a2, c2 in points)]
    return sorted(front, key=lambda r: _figure(r, cost_path) or 0.0)


def _rank(result: dict[str, Any]) -> tuple[float, float, float]:
    """Sort key, best first: higher accuracy, then lower p95, then lower energy."""
    def low(path: str) -> float:
        value = _figure(result, path)
        return math.inf if value is None else value
    accuracy = _figure(result, "accuracy.top1")
    return (-(accuracy if accuracy is not None else -math.inf), low("latency.p95_ms"),
            low("power.energy_mj_per_inference"))


def recommend(results: list[dict[str, Any]],
              constraints_for: Callable[[dict[str, Any]], list[Constraint]]) -> list[Recommendation]:
    """One Recommendation per device x model over the latest Result of each (variant, accelerator) candidate."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for result in latest_variants(results):
        view = Result(result)
        groups.setdefault((view.device, view.name), []).append(result)
    recommendations = []
    for (device, model), rows in groups.items():
        passing, rejected = [], []
        for result in rows:
            blocker = _blocker(result, judge(result, constraints_for(result)))
            if blocker is None:
                passing.append(result)
            else:
                rejected.append((result, blocker))
        measured = [r for r in rows if Result(r).ok]
        recommendations.append(Recommendation(
            device=device, model=model, best=min(passing, key=_rank) if passing else None,
            front=pareto_front(measured, "latency.p95_ms"),
            energy_front=pareto_front(measured, "power.energy_mj_per_inference"), rejected=rejected,
            candidates=rows))
    return recommendations


def recommendations(results: list[dict[str, Any]]) -> dict[tuple[str, str], Recommendation]:
    """The recommendation per (device, model), judged with each Result's stored constraints (as reports do)."""
    def constraints_for(result: dict[str, Any]) -> list[Constraint]:
        return [Constraint(v["constraint"], v["op"], float(v["bound"]), v.get("source") or "stored verdict")
                for v in Result(result).verdicts if v.get("bound") is not None]

    return {(rec.device, rec.model): rec for rec in recommend(results, constraints_for)}
