"""What the judge decided, as data: statuses, the recommendation with its reasons, and the report model.

edgeprof.verdicts is the only code that produces these; every renderer (terminal tables, HTML, Markdown, JUnit,
plots) draws them and imports no judging code. Stdlib only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any

Doc = dict[str, Any]


class Status(str, Enum):
    """A verdict's status (stored as its value), and the two an overall summary adds (`error`, `no constraints`)."""

    PASS = "pass"
    FAIL = "fail"
    INCONCLUSIVE = "inconclusive"
    NOT_MEASURED = "not measured"
    INFORMATIONAL = "informational"
    ERROR = "error"
    NO_CONSTRAINTS = "no constraints"

    def __str__(self) -> str:
        return self.value

    def failing(self, *, strict: bool = False) -> bool:
        """Whether this status fails a gate: `fail`, and `inconclusive` too when `strict`. The one strict rule."""
        return self is Status.FAIL or (strict and self is Status.INCONCLUSIVE)

    @classmethod
    def of(cls, value: Any) -> "Status | None":
        """The Status a stored verdict row names, None for a value this version does not know (shown as stored)."""
        try:
            return cls(value)
        except ValueError:
            return None


WORST_FIRST = (Status.FAIL, Status.INCONCLUSIVE, Status.PASS, Status.INFORMATIONAL, Status.NOT_MEASURED)


def overall(result: Doc) -> Status:
    """A Result's worst verdict status (a failed run is `error`, none at all `no constraints`)."""
    if result.get("status") == "failed":
        return Status.ERROR
    statuses = {Status.of(v.get("status")) for v in result.get("verdicts") or []}
    return next((s for s in WORST_FIRST if s in statuses), Status.NO_CONSTRAINTS)


@dataclass(frozen=True)
class Reason:
    """Why a candidate was not chosen: `kind` (constraint, run, accuracy, latency, energy, size, tie) and one line
    of text; `verdict` the blocking verdict row for a constraint, `p_value` the test behind an accuracy reason."""

    kind: str
    text: str
    verdict: Doc | None = None
    p_value: float | None = None


@dataclass
class Recommendation:
    """The pick for one device x model (None: no candidate meets every constraint), the Pareto fronts, and each
    candidate not chosen with its reason; `candidates` are every Result it chose among."""

    device: str
    model: str
    best: Doc | None
    front: list[Doc] = field(default_factory=list)
    energy_front: list[Doc] = field(default_factory=list)
    rejected: list[tuple[Doc, Reason]] = field(default_factory=list)
    candidates: list[Doc] = field(default_factory=list)


@dataclass
class Report:
    """Everything a renderer draws: the judged Results (their stored verdict rows) and the recommendation per
    (device, model)."""

    results: list[Doc]
    recommendations: dict[tuple[str, str], Recommendation] = field(default_factory=dict)

    def recommendation(self, device: str, model: str) -> Recommendation | None:
        """The recommendation for one device x model, None where none was decided."""
        return self.recommendations.get((device, model))

