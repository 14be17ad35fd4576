"""Constraint metrics and their parsing: what `latency.p95_ms` means and where it is read in a Result, how
`metric op bound` is parsed, and which source wins. Judging a Result against them is edgeprof.verdicts's job."""

from __future__ import annotations

import difflib
import math
import operator
import re
from dataclasses import dataclass
from typing import Any, Callable, Protocol

from edgeprof.errors import ConfigError
from edgeprof.units import BYTES_PER_MB


@dataclass(frozen=True)
class Metric:
    """A constrainable figure: where it lives in the Result and what bounds make sense."""

    path: str
    unit: str
    percentile: str | None = None
    lo: float = 0.0
    hi: float = math.inf
    method_section: str | None = None


METRICS: dict[str, Metric] = {
    "latency.p50_ms": Metric("latency.p50_ms", "ms", "p50"),
    "latency.p90_ms": Metric("latency.p90_ms", "ms", "p90"),
    "latency.p95_ms": Metric("latency.p95_ms", "ms", "p95"),
    "latency.p99_ms": Metric("latency.p99_ms", "ms", "p99"),
    "latency.mean_ms": Metric("latency.mean_ms", "ms"),
    "throughput.min_ips": Metric("latency.throughput_ips", "inferences/s", method_section="latency"),
    "throughput.ips": Metric("latency.throughput_ips", "inferences/s", method_section="latency"),
    "throughput.min": Metric("latency.throughput_ips", "inferences/s", method_section="latency"),
    "memory.peak_rss_mb": Metric("memory.peak_rss_mb", "MB"),
    "model.size_mb": Metric("model.size_mb", "MB", method_section=""),
    "accuracy.top1": Metric("accuracy.top1", "", hi=1.0),
    "accuracy.top5": Metric("accuracy.top5", "", hi=1.0),
    "accuracy.f1_macro": Metric("accuracy.f1_macro", "", hi=1.0),
    "accuracy.drop": Metric("accuracy.reference.accuracy_drop", "", lo=-1.0, hi=1.0, method_section="accuracy"),
    "accuracy.agreement": Metric("accuracy.reference.agreement_top1", "", hi=1.0, method_section="accuracy"),
    "power.energy_mj": Metric("power.energy_mj_per_inference", "mJ"),
    "power.avg_w": Metric("power.avg_w", "W"),
    "thermal.max_c": Metric("thermal.max_c", "C", lo=-50.0, hi=150.0),
    "cost.usd_per_million": Metric("cost.usd_per_million", "USD"),
    "server.max_qps": Metric("scenario.max_qps", "QPS", method_section="scenario"),
    "scenario.offline_ips": Metric("scenario.offline_ips", "inferences/s", method_section="scenario"),
    "placement.fallback_nodes": Metric("placement.fallback_count", "nodes", method_section=""),
    "placement.accelerated_fraction": Metric("placement.accelerated_fraction", "", hi=1.0, method_section=""),
    "generation.ttft_p95_ms": Metric("generation.ttft.p95_ms", "ms", "p95", method_section="generation"),
    "generation.tpot_p95_ms": Metric("generation.tpot.p95_ms", "ms", "p95", method_section="generation"),
    "generation.decode_tokens_per_s": Metric("generation.decode_tokens_per_s", "tokens/s", method_section="generation"),
    "generation.energy_mj_per_token": Metric("generation.energy.mj_per_token", "mJ", method_section="power"),
    "generation.perplexity": Metric("generation.quality.perplexity", "", lo=1.0, method_section="generation"),
}
OPERATORS: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le, "<": operator.lt, ">=": operator.ge, ">": operator.gt,
}
_TEXT = re.compile(r"^\s*([A-Za-z0-9_.]+)\s*(<=|>=|<|>)\s*(-?[0-9.]+(?:[eE][-+]?\d+)?)\s*$")
# figures that depend on timing, so emulation makes them informational (a generation's perplexity does not)
TIMED = ("latency.", "cost.", "scenario.", "generation.ttft.", "generation.tpot.", "generation.decode_tokens_per_s")


@dataclass(frozen=True)
class Constraint:
    """`metric op bound`, and where it came from (named in errors and verdicts)."""

    metric: str
    op: str
    bound: float
    source: str = "--constraint"

    @property
    def text(self) -> str:
        return f"{self.metric} {self.op} {self.bound:g}"


class ProjectConstraints(Protocol):
    """What resolve_constraints needs of a project file (edgeprof.project.ProjectFile)."""

    def constraints_for(self, device: str, model_names: list[str]) -> list[Constraint]:
        """The project's constraints for a device and model, most specific last."""


def parse_constraint(text: str, *, source: str = "--constraint") -> Constraint:
    """Parse 'latency.p95_ms<=50'; ConfigError naming the source and listing the valid metrics."""
    match = _TEXT.match(text)
    if not match:
        raise ConfigError(f"{source}: cannot parse constraint {text!r}: expected METRIC OP NUMBER with OP one of "
                          f"{', '.join(OPERATORS)}, e.g. 'latency.p95_ms<=50'")
    metric, op, raw = match.groups()
    if metric not in METRICS:
        near = difflib.get_close_matches(metric, list(METRICS), n=1)
        raise ConfigError(f"{source}: unknown metric '{metric}'"
                          + (f" (did you mean '{near[0]}'?)" if near else "")
                          + f"; valid metrics: {', '.join(METRICS)}")
    bound = float(raw)
    if not math.isfinite(bound):
        raise ConfigError(f"{source}: bound {raw!r} for {metric} is not a finite number")
    spec = METRICS[metric]
    if not spec.lo <= bound <= spec.hi:
        raise ConfigError(f"{source}: impossible bound {bound:g} for {metric} (must lie in [{spec.lo:g}, {spec.hi:g}])")
    return Constraint(metric, op, bound, source)


def resolve_constraints(
    device: str,
    model_names: list[str],
    profile_constraints: dict[str, str],
    profile_source: str,
    project: ProjectConstraints | None,
    cli: list[str],
) -> list[Constraint]:
    """Constraints for one device x model; later sources win per metric: profile, project file, --constraint."""
    chosen: dict[str, Constraint] = {}
    for metric, value in profile_constraints.items():
        chosen[metric] = parse_constraint(f"{metric}{value}", source=f"{profile_source} [constraints] {metric}")
    if project is not None:
        for constraint in project.constraints_for(device, model_names):
            chosen[constraint.metric] = constraint
    for text in cli:
        constraint = parse_constraint(text)
        chosen[constraint.metric] = constraint
    return list(chosen.values())


def value_at(result: dict[str, Any], path: str) -> Any:
    """The value at a dotted path of the Result, None where any part is missing."""
    if path == "model.size_mb":
        size = (result.get("model") or {}).get("size_bytes")
        return size / BYTES_PER_MB if size is not None else None
    node: Any = result
    for part in path.split("."):
        if not isinstance(node, dict):
            return None
        node = node.get(part)
    return node
